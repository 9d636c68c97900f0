// The `wasm-chromium` target of the Heartbeat conformance suite: the npm package @heartbeat/web
// (wasm/npm/dist) in a page of headless Debian Chromium driven by playwright-core (from
// wasm/npm/node_modules), speaking the emitter protocol of docs/conformance.md on standard input
// and output. The page is served from 127.0.0.1 (another origin than the collector, so CORS
// applies); `hide`/`show` switch its visibility as a tab switch does; `kill` crashes the renderer
// (closing the page would flush: a crash is the page's SIGKILL).
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { hello, options } from './driver-core.js';

const npm = new URL('../../wasm/npm/', import.meta.url);
const require = createRequire(new URL('package.json', npm));
const { chromium } = require('playwright-core');
const version = JSON.parse(readFileSync(new URL('package.json', npm))).version;

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const PAGE = `<!doctype html><meta charset="utf-8"><title>conformance</title>
<script type="module">
import { init } from '/dist/index.js';
import { driver } from '/driver-core.js';
const visibility = (state) => {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => state === 'hidden' });
  document.dispatchEvent(new Event('visibilitychange'));
};
window.start = async (o) => {
  window.errors = [];
  window.hb = await init({ ...o, onError: (e) => window.errors.push(e.code + ': ' + e.message) });
  window.handle = driver(window.hb, { hide: () => visibility('hidden'), show: () => visibility('visible') });
  return true;
};
window.ready = true;
</script>`;

const files = {
  '/': ['text/html', () => PAGE],
  '/dist/index.js': ['text/javascript', () => readFileSync(new URL('dist/index.js', npm))],
  '/dist/heartbeat_wasm_bg.wasm': ['application/wasm', () => readFileSync(new URL('dist/heartbeat_wasm_bg.wasm', npm))],
  '/driver-core.js': ['text/javascript', () => readFileSync(new URL('driver-core.js', import.meta.url))],
};
const site = createServer((req, res) => {
  const file = files[new URL(req.url, 'http://x').pathname];
  if (!file) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': file[0], 'cache-control': 'no-store' }).end(file[1]());
});
await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));

const say = (value) => process.stdout.write(JSON.stringify(value) + '\n');

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60000 });
const page = await browser.newPage();
page.on('console', (m) => console.error(`[page] ${m.text()}`));
await page.goto(`http://127.0.0.1:${site.address().port}/`);
await page.waitForFunction(() => window.ready === true);
await page.evaluate((o) => window.start(o), options(process.env));
say(hello(`@heartbeat/web ${version} (WASM) in Chromium ${browser.version()}`, { visibility: true, kill: 'command' }));

/** Crashes the renderer (the answer never comes: the page is gone), then ends the process. */
async function crash() {
  const cdp = await page.context().newCDPSession(page);
  cdp.send('Page.crash').catch(() => {});
  await new Promise((resolve) => setTimeout(resolve, 50));
}

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
  if (cmd.cmd === 'kill') {
    await crash();
    process.exit(137);
  }
  let reply;
  try {
    reply = await page.evaluate((c) => window.handle(c), cmd);
  } catch (e) {
    reply = { ok: false, error: `the page failed: ${e.message}` };
  }
  if (cmd.cmd === 'shutdown') {
    await browser.close().catch(() => {});
    say(reply);
    process.exit(0);
  }
  say(reply);
}
await page.evaluate(() => window.hb.shutdown()).catch(() => {});
await browser.close().catch(() => {});
process.exit(0);
