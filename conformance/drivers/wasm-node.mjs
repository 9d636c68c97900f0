// The `wasm-node` target of the Heartbeat conformance suite: the npm package @heartbeat/web
// (wasm/npm/dist, built by wasm/build.sh) under node, speaking the emitter protocol of
// docs/conformance.md on standard input and output.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { driver, hello, options } from './driver-core.js';

const dist = new URL('../../wasm/npm/dist/', import.meta.url);
const { init } = await import(new URL('index.js', dist));
const wasm = readFileSync(new URL('heartbeat_wasm_bg.wasm', dist));
const version = JSON.parse(readFileSync(new URL('../package.json', dist))).version;

const say = (value) => process.stdout.write(JSON.stringify(value) + '\n');

const hb = await init({
  ...options(process.env),
  wasm,
  onError: (e) => console.error(`[heartbeat] ${e.code}: ${e.message}`),
});
const handle = driver(hb, null);
say(hello(`@heartbeat/web ${version} (WASM) under node ${process.version}`, { stall: true, memory: true }));

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    say({ ok: false, error: `not JSON: ${e.message}` });
    continue;
  }
  say(await handle(cmd));
  if (cmd.cmd === 'shutdown') process.exit(0);
}
await hb.shutdown();
process.exit(0);
