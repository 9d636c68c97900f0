// The browser package's page heartbeat judged by the real watch (issue 15): a page in headless
// Chromium loads @heartbeat/web from wasm/npm/dist (built by wasm/build.sh) with a plain
// <script type="module">, beats to `heartbeat-watch serve` on another origin (CORS through the
// watch's `cors_origins`), and then, as a widget would:
//   1. `fail("socket_closed")`: the watch pages, classified `failing` with that reason, and the
//      SLA's current slot is down; the time from the call to the page is measured and compared
//      with the bound the rule file promises;
//   2. `recover()`: the alert resolves;
//   3. `stop()`: the rule says `stopped`, and nothing pages during `stop_grace`;
//   4. past `stop_grace` with nothing beating: it pages `stopped_not_restarted`.
// Run by scripts/test-console.sh, or after a build of the watch and of the package:
//   node --test --test-concurrency=1 watch/console-tests/browser-emitter.test.mjs
// The figures are printed and written to target/browser-emitter.json.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStatic } from '../../wasm/npm/tools/otlp-receiver.mjs';
import { ROOT, SHOTS, freePort, http, launch, sleep, spawnWatch, until } from './lib.mjs';

const DIST = join(ROOT, 'wasm/npm/dist');
const TICK_MS = 1000; // rule files take whole seconds
const WINDOW_MS = 3000;
const EXPORT_MS = 200;
const CADENCE_MS = 100;
const MIN_BEATS = 10; // 30 beats in a good window at a 100 ms cadence
const STOP_GRACE_MS = 4000;
// Measurement slack on the bounds: the HTTP round trips, the test's 50 ms polling, a busy CI machine.
const SLACK_MS = 500;
const SERVICE = 'web-widget';
const EMITTER = 'page';
const RULE = 'widget-page';

let dir;
let watch;
let site;
let browser;
let page;
let base;
const pageErrors = [];
const figures = {};

/** The page's origin (the package's own static server): `/` imports the package from `/dist/`. */
function startSite() {
  const html = `<!doctype html><meta charset="utf-8"><title>widget</title>
<script type="module">import * as heartbeat from '/dist/index.js'; window.heartbeat = heartbeat; window.ready = true;</script>`;
  return startStatic(join(ROOT, 'wasm/npm'), {
    '/': (req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html),
    '/favicon.ico': (req, res) => res.writeHead(204).end(),
  });
}

const state = async () => (await http(`${base}/api/state`)).json;
const rule = async () => (await state())?.deadman?.find((d) => d.rule === RULE);
const alerts = async () => (await http(`${base}/api/alerts`)).json;
/** The rule's alert in /api/alerts that is open, if any. */
async function openAlert() {
  const a = await alerts();
  return (a?.open || []).find((x) => x.rule === RULE && x.status === 'firing') || null;
}

before(async () => {
  assert.ok(existsSync(join(DIST, 'index.js')), `${DIST}/index.js is missing: build the package first (wasm/build.sh)`);
  dir = mkdtempSync(join(tmpdir(), 'hb-browser-emitter-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  site = await startSite();
  const origin = site.url;
  const [port, grpcPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${port}`;
  const rules = join(dir, 'rules.toml');
  writeFileSync(
    rules,
    `[watch]
listen = "127.0.0.1:${port}"
grpc_listen = "127.0.0.1:${grpcPort}"
tick = "${TICK_MS / 1000}s"
database = ${JSON.stringify(join(dir, 'watch.db'))}
cors_origins = [${JSON.stringify(origin)}]

[[deadman]]
name = "${RULE}"
service = "${SERVICE}"
emitter = "${EMITTER}"
window = "${WINDOW_MS / 1000}s"
min_beats = ${MIN_BEATS}
fire_after = 1
resolve_after = 1
stop_grace = "${STOP_GRACE_MS / 1000}s"

[[sla]]
name = "widget"
signals = ["${RULE}"]
objective = 0.999
`,
  );
  watch = spawnWatch(['serve', '--rules', rules, '--quiet']);
  const up = await until(async () => watch.exited || (await http(`${base}/api/state`).catch(() => null))?.status === 200, 60000, 100);
  assert.equal(up, true, `the watch did not start: ${watch.exited}\n${watch.output()}`);
  browser = await launch();
  const ctx = await browser.newContext();
  page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && !/favicon/.test(m.text()) && pageErrors.push(m.text()));
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 30000 });
  const enabled = await page.evaluate(
    async (o) => {
      window.errors = [];
      window.hb = await window.heartbeat.init({ ...o, onError: (e) => window.errors.push(`${e.code}: ${e.message}`) });
      window.beat = window.hb.heartbeat(o.emitter, { cadenceMs: o.cadenceMs });
      return window.hb.enabled;
    },
    { endpoint: base, serviceName: SERVICE, exportIntervalMs: EXPORT_MS, emitter: EMITTER, cadenceMs: CADENCE_MS },
  );
  assert.equal(enabled, true, 'the client starts');
});

after(async () => {
  await browser?.close();
  await watch?.stop();
  await site?.close();
  mkdirSync(join(ROOT, 'target'), { recursive: true });
  writeFileSync(join(ROOT, 'target/browser-emitter.json'), `${JSON.stringify(figures, null, 2)}\n`);
  console.log('# browser emitter figures:', JSON.stringify(figures));
});

test('a page heartbeat judged by the watch: beating, fail(reason) pages as failing, recover resolves, stop is quiet, then pages past its grace', async () => {
  // Beating: a whole good window judged.
  const ok = await until(async () => {
    const r = await rule();
    return r?.state === 'ok' && r.status === 0 ? r : null;
  }, 30000, 100);
  assert.ok(ok, `the page's beats make the rule ok: ${JSON.stringify(await rule())}\n${watch.output()}`);
  figures.beatsPerWindowWhileBeating = ok.beats;
  assert.ok(ok.beats >= MIN_BEATS, `${ok.beats} beats in a window`);
  assert.equal(await openAlert(), null, 'no alert while beating');

  // fail(reason): beats are held and the status says why.
  const failAt = Date.now();
  await page.evaluate(() => window.beat.fail('socket_closed'));
  const paged = await until(openAlert, 30000, 50);
  figures.failToPageMs = Date.now() - failAt;
  // The bound the rule file promises: the beats of the last good export leave the window after
  // `window` at most (fewer than min_beats remain sooner), the judge runs every tick, and the
  // page exports every EXPORT_MS; SLACK_MS for measuring.
  figures.failToPageBoundMs = WINDOW_MS + TICK_MS + EXPORT_MS + SLACK_MS;
  assert.ok(paged, `fail() pages: ${JSON.stringify(await rule())}`);
  assert.equal(paged.classification, 'failing', JSON.stringify(paged));
  assert.match(paged.summary, /failing its health gate \(socket_closed\)/, paged.summary);
  assert.ok(figures.failToPageMs <= figures.failToPageBoundMs, `paged ${figures.failToPageMs} ms after fail(), bound ${figures.failToPageBoundMs} ms`);
  const failing = await rule();
  assert.equal(failing.status, 1, 'status 1: failing');
  assert.equal(failing.classification, 'failing');
  const sla = (await state()).sla.find((s) => s.name === 'widget');
  assert.equal(sla.down_now, true, `the SLA's slot is down while it fails: ${JSON.stringify(sla)}`);
  await page.screenshot({ path: join(SHOTS, 'browser-emitter-failing.png') });

  // recover(): beating again; the alert resolves.
  const recoverAt = Date.now();
  await page.evaluate(() => window.beat.recover());
  const resolved = await until(async () => {
    const r = await rule();
    return r?.state === 'ok' && r.status === 0 && !(await openAlert()) ? r : null;
  }, 30000, 50);
  figures.recoverToResolvedMs = Date.now() - recoverAt;
  assert.ok(resolved, `recover() resolves: ${JSON.stringify(await rule())}`);
  const closed = (await state()).recent_alerts.find((x) => x.rule === RULE);
  assert.ok(closed, 'the resolved alert is among the recent ones');
  assert.equal(closed.classification, 'failing');
  assert.notEqual(closed.status, 'firing');

  // stop(): stopped on purpose, quiet for stop_grace.
  const stopAt = Date.now();
  await page.evaluate(() => window.beat.stop());
  const stopped = await until(async () => {
    const r = await rule();
    return r?.state === 'stopped' && r.status === 2 ? r : null;
  }, 10000, 50);
  figures.stopToStoppedMs = Date.now() - stopAt;
  assert.ok(stopped, `stop() makes the rule stopped: ${JSON.stringify(await rule())}`);
  // Through most of the grace, nothing pages.
  while (Date.now() - stopAt < STOP_GRACE_MS - 1000) {
    assert.equal(await openAlert(), null, `no page ${Date.now() - stopAt} ms into the stop's grace`);
    assert.equal((await rule()).state, 'stopped');
    await sleep(200);
  }

  // Past the grace with nothing beating: the stop was not followed by a start.
  const late = await until(openAlert, 15000, 50);
  figures.stopToPageMs = Date.now() - stopAt;
  figures.stopToPageBoundMs = STOP_GRACE_MS + TICK_MS + EXPORT_MS + SLACK_MS;
  assert.ok(late, `a stop with no successor pages past stop_grace: ${JSON.stringify(await rule())}`);
  assert.equal(late.classification, 'stopped_not_restarted', JSON.stringify(late));
  assert.ok(figures.stopToPageMs >= STOP_GRACE_MS - EXPORT_MS - TICK_MS, `paged ${figures.stopToPageMs} ms after stop(), inside the ${STOP_GRACE_MS} ms grace`);
  assert.ok(figures.stopToPageMs <= figures.stopToPageBoundMs, `paged ${figures.stopToPageMs} ms after stop(), bound ${figures.stopToPageBoundMs} ms`);
  assert.deepEqual(await page.evaluate(() => window.errors), [], 'the page reported no error');
  assert.deepEqual(pageErrors, []);
});
