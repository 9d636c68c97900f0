// Serves the web-messenger example on 127.0.0.1, with a local OTLP/HTTP collector on another
// port (so the browser does real CORS) that prints what arrives.
//
//   ./wasm/build.sh && node examples/web-messenger/serve.mjs     then open the printed URL
//   node examples/web-messenger/serve.mjs --check                headless: send, check, exit
//
// --check loads the page in headless Chromium (under the page's strict CSP), sends messages,
// and exits 0 once the collector has counted every one of them (bounded: 60 s).
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startReceiver } from '../../wasm/npm/tools/otlp-receiver.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '../../wasm/npm/dist');
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

const rx = await startReceiver();
const site = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/favicon.ico') return res.writeHead(204).end();
  const [dir, rel] = url.pathname.startsWith('/heartbeat/')
    ? [dist, url.pathname.slice('/heartbeat/'.length)]
    : [here, url.pathname === '/' ? 'index.html' : url.pathname.slice(1)];
  const file = path.normalize(path.join(dir, rel));
  if (!file.startsWith(dir) || file.endsWith('.mjs')) return res.writeHead(404).end();
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
const page = `http://127.0.0.1:${site.address().port}/?collector=${encodeURIComponent(rx.url)}`;

const sends = (result, reason) => rx.total('heartbeat.outcomes', { 'heartbeat.outcome': 'message.send', 'heartbeat.result': result, ...(reason ? { 'heartbeat.reason': reason } : {}) });
const summary = () =>
  `message.send: ${sends('success')} ok, ${sends('failure', 'timeout')} timeout, ${sends('failure', 'rejected')} rejected; ` +
  `heartbeat.beats: ${rx.total('heartbeat.beats', { 'heartbeat.emitter': 'web-messenger' })}`;

async function shutdown(code) {
  await rx.close();
  site.closeAllConnections();
  site.close();
  process.exit(code);
}

if (process.argv.includes('--check')) {
  const { launch } = await import('../../wasm/npm/test/browser.mjs');
  const timer = setTimeout(() => {
    console.error(`check: timed out; collector saw ${summary()}`);
    shutdown(1);
  }, 60000);
  const browser = await launch();
  try {
    const tab = await browser.newPage();
    const problems = [];
    tab.on('pageerror', (e) => problems.push(e.message));
    tab.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    await tab.goto(page);
    await tab.waitForFunction(() => window.messenger?.hb?.enabled === true);
    for (let i = 0; i < 10; i++) {
      await tab.evaluate((n) => window.messenger.send(`hello ${n}`), i);
      await tab.waitForFunction((n) => window.messenger.stats.sent + window.messenger.stats.failed > n, i);
    }
    const local = await tab.evaluate(() => window.messenger.stats);
    await tab.evaluate(() => window.messenger.hb.flush());
    const arrived = () => sends('success') + sends('failure') === local.sent + local.failed;
    while (!arrived()) await new Promise((r) => setTimeout(r, 50));
    console.log(`check: page sent ${local.sent} and failed ${local.failed}; collector: ${summary()}`);
    if (problems.length || sends('success') !== local.sent) throw new Error(`mismatch or page errors: ${problems.join('; ')}`);
    clearTimeout(timer);
    await browser.close();
    await shutdown(0);
  } catch (e) {
    console.error(`check: ${e.message}`);
    await browser.close();
    await shutdown(1);
  }
} else {
  console.log(`web messenger: ${page}`);
  console.log(`collector:     ${rx.url}/v1/metrics (Ctrl-C to stop)`);
  let last = '';
  setInterval(() => {
    const now = summary();
    if (now !== last) console.log((last = now));
  }, 1000);
  process.on('SIGINT', () => shutdown(0));
}
