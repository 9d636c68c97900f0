// End to end, as a user would run it: a page on one local origin imports the built package from
// a plain <script type="module">, records outcomes and beats, and a collector on another local
// origin (CORS) must receive exactly those counts; then through a hidden page and a navigation
// away, an offline spell, a cut network and a 503 with Retry-After, nothing may be lost or
// counted twice. It also measures which unload transport delivers (docs/browser.md) and writes
// test-results/unload-transport.json. Run after wasm/build.sh:
//   node --test wasm/npm/test/e2e.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { launch, servers, until, PACKAGE_ROOT } from './browser.mjs';

let browser;
let env;
const measured = {};

before(async () => {
  env = await servers();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await env?.close();
  mkdirSync(`${PACKAGE_ROOT}/test-results`, { recursive: true });
  writeFileSync(`${PACKAGE_ROOT}/test-results/unload-transport.json`, JSON.stringify({ chromium: browser?.version(), ...measured }, null, 2) + '\n');
  console.log('unload transport measurement:', JSON.stringify(measured));
});

const outcome = (name, result, extra = {}) => ({ 'heartbeat.outcome': name, 'heartbeat.result': result, ...extra });

/** A fresh page of the e2e site, with a Heartbeat client started by `options` (endpoint added). */
async function open(options, context) {
  const ctx = context || (await browser.newContext());
  const page = await ctx.newPage();
  await page.goto(`${env.site.url}/test/e2e.html`);
  await page.waitForFunction(() => window.ready === true);
  await page.evaluate(async (o) => {
    window.hb = await window.heartbeat.init({ ...o, onError: (e) => window.errors.push(e.code) });
  }, { endpoint: env.rx.url, ...options });
  return { page, ctx };
}

/** Hides the page the way a tab switch does (headless Chromium's tabs never become hidden). */
async function hide(page) {
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
}

test('the collector receives exactly the outcomes and beats the page recorded', async () => {
  const { page, ctx } = await open({ serviceName: 'e2e-counts', exportIntervalMs: 200 });
  const beats = await page.evaluate(async () => {
    const send = hb.outcome('message.send', { attributes: { surface: 'web_messenger' }, reasons: ['timeout'] });
    for (let i = 0; i < 25; i++) send.success();
    for (let i = 0; i < 3; i++) send.failure('timeout');
    send.failure();
    const acme = send.tenant('acme');
    for (let i = 0; i < 4; i++) acme.success();
    const beat = hb.heartbeat('web-messenger', { cadenceMs: 100 });
    await new Promise((resolve) => {
      const t = setInterval(() => beat.count >= 3 && (clearInterval(t), resolve()), 20);
    });
    beat.stop();
    return beat.count;
  });
  const rx = env.rx;
  const surface = { surface: 'web_messenger' };
  const want = () =>
    rx.value('heartbeat.outcomes', outcome('message.send', 'success', surface)) === 25 &&
    rx.total('heartbeat.beats', { 'heartbeat.emitter': 'web-messenger' }) === beats;
  assert.ok(await until(want), 'the counts arrive');
  assert.equal(await page.evaluate(() => hb.flush()), true);
  assert.equal(rx.value('heartbeat.outcomes', outcome('message.send', 'success', surface)), 25);
  assert.equal(rx.value('heartbeat.outcomes', outcome('message.send', 'failure', { ...surface, 'heartbeat.reason': 'timeout' })), 3);
  assert.equal(rx.value('heartbeat.outcomes', outcome('message.send', 'failure', { ...surface, 'heartbeat.reason': 'unspecified' })), 1);
  assert.equal(rx.value('heartbeat.outcomes', outcome('message.send', 'success', { ...surface, 'heartbeat.tenant': 'acme' })), 4);
  assert.equal(rx.total('heartbeat.beats', { 'heartbeat.emitter': 'web-messenger' }), beats);
  const sent = rx.requests.filter((r) => r.resource['service.name'] === 'e2e-counts');
  assert.ok(sent.length > 0 && sent.every((r) => r.temporalities.every((t) => t === 1)), 'delta');
  assert.ok(sent.every((r) => r.contentType === 'application/json' && r.resource['telemetry.sdk.language'] === 'webjs'));
  assert.ok(rx.preflights > 0, 'a cross-origin JSON POST is preflighted');
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  await ctx.close();
});

test('with hashTenants the collector sees the native hash of a tenant id, never the id', async () => {
  // The vector the native SDK's tests check its own hash against (computed with OpenSSL).
  const vectors = JSON.parse(readFileSync(new URL('../../../core/tests/data/tenant_hash_vectors.json', import.meta.url), 'utf8')).vectors;
  const { wire } = vectors.find((v) => v.salt === 'e2e-salt' && v.tenant === 'acme');
  const { page, ctx } = await open({ serviceName: 'e2e-hashed', exportIntervalMs: 86400000, hashTenants: { salt: 'e2e-salt' } });
  await page.evaluate(async () => {
    const send = hb.outcome('hashed.send');
    for (let i = 0; i < 3; i++) send.tenant('acme').success();
    send.tenant('').success(); // invalid: _overflow, as without hashing
    await hb.flush();
  });
  const rx = env.rx;
  assert.ok(await until(() => rx.value('heartbeat.outcomes', outcome('hashed.send', 'success', { 'heartbeat.tenant': wire })) === 3), 'the hashed series arrives');
  assert.equal(rx.value('heartbeat.outcomes', outcome('hashed.send', 'success', { 'heartbeat.tenant': '_overflow' })), 1);
  const tenants = rx.series().filter((s) => s.attrs['heartbeat.outcome'] === 'hashed.send').map((s) => s.attrs['heartbeat.tenant']);
  assert.deepEqual(tenants.filter((t) => t !== undefined).sort(), ['_overflow', wire]);
  assert.ok(!rx.series().some((s) => Object.values(s.attrs).includes('acme') && s.attrs['heartbeat.outcome'] === 'hashed.send'), 'the raw id never arrives');
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  await ctx.close();
});

test('a hidden page flushes, and the final counts arrive after navigating away', async () => {
  const { page, ctx } = await open({ serviceName: 'e2e-unload', exportIntervalMs: 86400000 });
  const rx = env.rx;
  const series = outcome('unload.send', 'success');
  await page.evaluate(() => {
    window.send = hb.outcome('unload.send');
    for (let i = 0; i < 5; i++) send.success();
  });
  await hide(page);
  assert.ok(await until(() => rx.value('heartbeat.outcomes', series) === 5), 'the hidden flush delivers');
  await page.evaluate(() => {
    for (let i = 0; i < 3; i++) send.success(); // recorded while hidden
  });
  await page.goto(`${env.site.url}/test/e2e.html`); // pagehide: the final flush
  assert.ok(await until(() => rx.value('heartbeat.outcomes', series) === 8), 'the final flush delivers');
  assert.equal(rx.value('heartbeat.outcomes', series), 8);
  await ctx.close();
});

// Which transport survives the page going away, on a navigation and on a tab close, with a
// cookie set for the collector's host to see which one sends credentials. The package sends
// with a keepalive fetch; for sendBeacon, the page's fetch is replaced before init().
for (const transport of ['fetch', 'beacon']) {
  for (const leave of ['navigate', 'close']) {
    test(`unload transport ${transport}: delivery on ${leave} is measured`, async () => {
      const ctx = await browser.newContext();
      await ctx.addCookies([{ name: 'host_session', value: 'x', domain: '127.0.0.1', path: '/' }]);
      if (transport === 'beacon') {
        // The same final batch at the same moment, posted with sendBeacon instead: a fetch
        // stand-in that beacons the body and answers 200, so the package takes it as delivered.
        await ctx.addInitScript(() => {
          const fetch = window.fetch;
          window.fetch = async (url, init) => {
            if (init?.method !== 'POST') return fetch(url, init); // the .wasm itself
            if (!navigator.sendBeacon(url, new Blob([init.body], { type: 'application/json' }))) throw new TypeError('beacon refused');
            return new Response('{}', { status: 200 });
          };
        });
      }
      const name = `unload.${transport}.${leave}`;
      const { page } = await open({ serviceName: 'e2e-transport', exportIntervalMs: 86400000 }, ctx);
      await page.evaluate((n) => {
        const o = hb.outcome(n);
        for (let i = 0; i < 7; i++) o.success();
      }, name);
      const before = env.rx.requests.length;
      if (leave === 'navigate') await page.goto('about:blank');
      else await page.close({ runBeforeUnload: false });
      const series = outcome(name, 'success');
      const delivered = await until(() => env.rx.value('heartbeat.outcomes', series) === 7, 10000);
      const requests = env.rx.requests.slice(before).filter((r) => r.resource && r.resource['service.name'] === 'e2e-transport');
      measured[`${transport}/${leave}`] = {
        delivered,
        value: env.rx.value('heartbeat.outcomes', series),
        requests: requests.length,
        cookieSent: requests.some((r) => r.cookie),
      };
      await ctx.close();
      // Exactly once either way; and the package's own transport delivers, without credentials.
      assert.ok(env.rx.value('heartbeat.outcomes', series) <= 7);
      if (transport === 'fetch') {
        assert.equal(delivered, true, 'fetch keepalive delivers the final batch');
        assert.equal(measured[`${transport}/${leave}`].cookieSent, false);
      }
    });
  }
}

test('through the back/forward cache: counts before and after arrive exactly once, beats resume', async () => {
  const { page, ctx } = await open({ serviceName: 'e2e-bfcache', exportIntervalMs: 86400000 });
  const rx = env.rx;
  const series = outcome('bfcache.send', 'success');
  await page.evaluate(() => {
    window.send = hb.outcome('bfcache.send');
    window.beat = hb.heartbeat('bfcache', { cadenceMs: 100 });
    window.marker = 'still here';
    for (let i = 0; i < 3; i++) send.success();
  });
  await page.goto(`${env.site.url}/test/e2e.html?next`); // pagehide: the final flush
  assert.ok(await until(() => rx.value('heartbeat.outcomes', series) === 3));
  // A page restored from the cache fires no load event: wait for the navigation to commit.
  await page.goBack({ waitUntil: 'commit' });
  await page.waitForFunction(() => document.readyState === 'complete');
  const restored = await page.evaluate(() => window.marker === 'still here');
  measured.bfcache = { restoredFromCache: restored };
  assert.equal(restored, true, 'the page with Heartbeat running is eligible for the back/forward cache');
  // The same client, back from the cache: it records, beats again and delivers, once.
  const before = await page.evaluate(() => beat.count);
  await page.waitForFunction((n) => beat.count > n, before);
  await page.evaluate(async () => {
    for (let i = 0; i < 2; i++) send.success();
    await hb.flush();
  });
  assert.equal(rx.value('heartbeat.outcomes', series), 5);
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  await ctx.close();
});

test('offline: nothing is sent, nothing is lost, and the counts arrive once back online', async () => {
  const { page, ctx } = await open({ serviceName: 'e2e-offline', exportIntervalMs: 200 });
  const rx = env.rx;
  const series = outcome('offline.send', 'success');
  await page.evaluate(() => {
    window.send = hb.outcome('offline.send');
    send.success();
  });
  assert.ok(await until(() => rx.value('heartbeat.outcomes', series) === 1));
  await ctx.setOffline(true);
  await page.evaluate(async () => {
    for (let i = 0; i < 6; i++) send.success();
    await new Promise((r) => setTimeout(r, 1000)); // five export intervals while offline
    for (let i = 0; i < 2; i++) send.success();
  });
  assert.equal(rx.value('heartbeat.outcomes', series), 1, 'nothing arrives while offline');
  await ctx.setOffline(false);
  assert.ok(await until(() => rx.value('heartbeat.outcomes', series) === 9), 'everything arrives on reconnect');
  assert.equal(await page.evaluate(() => hb.flush()), true);
  assert.equal(rx.value('heartbeat.outcomes', series), 9, 'and only once');
  await ctx.close();
});

test('a cut network and a 503 with Retry-After lose nothing and count nothing twice', async () => {
  const { page, ctx } = await open({ serviceName: 'e2e-faults', exportIntervalMs: 200 });
  const rx = env.rx;
  const series = outcome('faults.send', 'success');
  await page.route(`${rx.url}/**`, (route) => route.abort('connectionfailed'));
  await page.evaluate(() => {
    window.send = hb.outcome('faults.send');
    for (let i = 0; i < 5; i++) send.success();
  });
  assert.ok(await until(() => page.evaluate(() => window.errors.includes('export_failed'))), 'the cut is noticed');
  assert.equal(rx.value('heartbeat.outcomes', series), 0);
  await page.unroute(`${rx.url}/**`);
  assert.ok(await until(() => rx.value('heartbeat.outcomes', series) === 5), 'the counts arrive after the cut');
  rx.fail(2, 503, '1');
  await page.evaluate(() => {
    for (let i = 0; i < 4; i++) send.success();
  });
  assert.ok(await until(() => rx.pendingFaults() === 0 && rx.value('heartbeat.outcomes', series) === 9), 'and after the 503s');
  assert.equal(await page.evaluate(() => hb.flush()), true);
  assert.equal(rx.value('heartbeat.outcomes', series), 9);
  await ctx.close();
});

test('bad input reaches the page as errors through the promise and the callback, never as throws', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const thrown = [];
  page.on('pageerror', (e) => thrown.push(e.message));
  await page.goto(`${env.site.url}/test/e2e.html`);
  await page.waitForFunction(() => window.ready === true);
  const result = await page.evaluate(async (endpoint) => {
    const seen = [];
    const rejected = [];
    for (const options of [undefined, {}, { endpoint: 'not a url', serviceName: 'x' }, { endpoint, serviceName: 42 }, { endpoint, serviceName: 'x', hashTenants: { salt: '' } }]) {
      // init() never rejects: a disabled client, whose error says why.
      const off = await window.heartbeat.init(options);
      rejected.push(off.enabled === false && off.error.code);
    }
    const hb = await window.heartbeat.init({ endpoint, serviceName: 'e2e-bad', exportIntervalMs: 86400000, onError: (e) => seen.push(e.code) });
    hb.outcome(42).success();
    hb.outcome('ok', { reasons: 'timeout' }).success();
    hb.outcome('1bad').failure();
    hb.outcome('ok').failure(7);
    hb.heartbeat('web', { cadenceMs: 'often' });
    await hb.flush();
    return { rejected, seen };
  }, env.rx.url);
  assert.deepEqual(result.rejected, ['invalid_options', 'invalid_options', 'invalid_options', 'invalid_options', 'invalid_options']);
  assert.deepEqual(result.seen, ['invalid_outcome', 'invalid_outcome', 'invalid_outcome', 'invalid_argument', 'invalid_heartbeat']);
  assert.equal(env.rx.total('heartbeat.outcomes', { 'heartbeat.outcome': '1bad' }), 0);
  assert.equal(env.rx.value('heartbeat.outcomes', outcome('ok', 'failure', { 'heartbeat.reason': 'other' })), 1);
  assert.deepEqual(thrown, []);
  await ctx.close();
});

const site = (path) => `${env.site.url}/${path}`;

test('reload while offline: the unsent counts wait in localStorage and arrive once, on the next visit', async () => {
  const { page, ctx } = await open({ serviceName: 'e2e-reload-offline', exportIntervalMs: 200 });
  const rx = env.rx;
  const series = outcome('reload.send', 'success');
  const failed = outcome('reload.send', 'failure', { 'heartbeat.reason': 'timeout' });
  await page.evaluate(() => {
    window.send = hb.outcome('reload.send', { reasons: ['timeout'] });
    send.success();
  });
  assert.ok(await until(() => rx.value('heartbeat.outcomes', series) === 1), 'online, the first count arrives');
  await ctx.setOffline(true);
  // The emulated network goes down at once; the page learns it (navigator.onLine, the offline
  // event) a moment later. The scenario is a page that knows it is offline when it is left.
  await page.waitForFunction(() => navigator.onLine === false);
  await page.evaluate(() => {
    for (let i = 0; i < 6; i++) send.success();
    for (let i = 0; i < 2; i++) send.failure('timeout');
  });
  // Reloading offline, the page served from the browser's side (as a service worker or the
  // HTTP cache would): the old page is left (pagehide) while offline.
  const html = readFileSync(`${PACKAGE_ROOT}/test/e2e.html`, 'utf8');
  const js = readFileSync(`${PACKAGE_ROOT}/dist/index.js`, 'utf8');
  await page.route('**/test/e2e.html', (route) => route.fulfill({ contentType: 'text/html', body: html }));
  await page.route('**/dist/index.js', (route) => route.fulfill({ contentType: 'text/javascript', body: js }));
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  assert.equal(await page.evaluate(() => navigator.onLine), false, 'reloaded offline');
  assert.equal(JSON.parse(await page.evaluate(() => localStorage.getItem('heartbeat.unsent'))).length, 1, 'one batch waits in localStorage');
  assert.equal(rx.value('heartbeat.outcomes', series), 1, 'nothing arrives while offline');
  await page.unrouteAll();
  await ctx.setOffline(false);
  // The next page load of the same origin, back online, sends what the last one left, once.
  await page.goto(`${env.site.url}/test/e2e.html`);
  await page.waitForFunction(() => window.ready === true);
  await page.evaluate(async (o) => {
    window.hb = await window.heartbeat.init({ ...o, onError: (e) => window.errors.push(e.code) });
    await hb.flush();
  }, { endpoint: rx.url, serviceName: 'e2e-reload-offline', exportIntervalMs: 86400000 });
  assert.equal(rx.value('heartbeat.outcomes', series), 7, 'everything arrives');
  assert.equal(rx.value('heartbeat.outcomes', failed), 2);
  assert.equal(await page.evaluate(() => localStorage.getItem('heartbeat.unsent')), '[]', 'the buffer is empty');
  // Another visit, and a second tab: nothing is sent twice.
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  const other = await ctx.newPage();
  for (const p of [page, other]) {
    if (p === other) await p.goto(`${env.site.url}/test/e2e.html`);
    await p.waitForFunction(() => window.ready === true);
    await p.evaluate(async (o) => {
      const hb = await window.heartbeat.init(o);
      await hb.flush();
    }, { endpoint: rx.url, serviceName: 'e2e-reload-offline', exportIntervalMs: 86400000 });
  }
  assert.equal(rx.value('heartbeat.outcomes', series), 7, 'and nothing twice');
  assert.equal(rx.value('heartbeat.outcomes', failed), 2);
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  await ctx.close();
});

test('fail(reason), recover() and stop() reach the collector as the native status gauge', async () => {
  const { page, ctx } = await open({ serviceName: 'e2e-status', exportIntervalMs: 86400000 });
  const rx = env.rx;
  const status = (reason) => rx.gauge('heartbeat.emitter.status', reason ? { 'heartbeat.emitter': 'e2e-status', 'heartbeat.reason': reason } : { 'heartbeat.emitter': 'e2e-status' });
  await page.evaluate(async () => {
    window.beat = hb.heartbeat('e2e-status', { cadenceMs: 100 });
    await hb.flush();
  });
  assert.equal(status(), 0, 'beating');
  await page.evaluate(async () => {
    beat.fail('socket_closed');
    await hb.flush();
  });
  assert.equal(status('socket_closed'), 1, 'failing, with its reason');
  const held = await page.evaluate(async () => {
    const n = beat.count;
    await new Promise((r) => setTimeout(r, 350));
    return beat.count - n;
  });
  assert.equal(held, 0, 'no beat while failing');
  await page.evaluate(async () => {
    beat.recover();
    beat.stop();
    await hb.flush();
  });
  assert.equal(status(), 2, 'stopped on purpose');
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  await ctx.close();
});

/** A page of the site under `csp`, written into test-results/ (a meta CSP, as a host page may set). */
function cspPage(name, csp) {
  mkdirSync(`${PACKAGE_ROOT}/test-results/csp`, { recursive: true });
  writeFileSync(
    `${PACKAGE_ROOT}/test-results/csp/${name}.html`,
    `<!doctype html><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${csp}">
<script type="module">import * as heartbeat from '/dist/index.js'; window.heartbeat = heartbeat; window.ready = true;</script>`,
  );
  return site(`test-results/csp/${name}.html`);
}

test("a CSP that blocks compiling WebAssembly is named: script-src 'wasm-unsafe-eval'; init resolves, disabled", async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(cspPage('no-wasm-eval', "default-src 'self'; script-src 'self' 'unsafe-inline'; connect-src *"));
  await page.waitForFunction(() => window.ready === true);
  const r = await page.evaluate(async (endpoint) => {
    const seen = [];
    const hb = await window.heartbeat.init({ endpoint, serviceName: 'e2e-csp', onError: (e) => seen.push(e.message) });
    return { enabled: hb.enabled, code: hb.error?.code, seen };
  }, env.rx.url);
  assert.equal(r.enabled, false);
  assert.equal(r.code, 'load_failed');
  assert.equal(r.seen.length, 1);
  assert.match(r.seen[0], /Content-Security-Policy blocks it: allow it in script-src 'wasm-unsafe-eval'/);
  await ctx.close();
});

test('a CSP whose connect-src leaves out the origin of the .wasm is named; init resolves, disabled', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(cspPage('wasm-elsewhere', "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; connect-src 'self'"));
  await page.waitForFunction(() => window.ready === true);
  const r = await page.evaluate(async (endpoint) => {
    const seen = [];
    const hb = await window.heartbeat.init({ endpoint, serviceName: 'e2e-csp', wasm: `${endpoint}/heartbeat_wasm_bg.wasm`, onError: (e) => seen.push(e.message) });
    return { enabled: hb.enabled, code: hb.error?.code, seen };
  }, env.rx.url);
  assert.equal(r.enabled, false);
  assert.equal(r.code, 'load_failed');
  assert.match(r.seen[0], /Content-Security-Policy blocks it: allow it in connect-src$/);
  await ctx.close();
});

test('a CSP whose connect-src leaves out the collector is named in the export error', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(cspPage('no-collector', "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; connect-src 'self'"));
  await page.waitForFunction(() => window.ready === true);
  const r = await page.evaluate(async (endpoint) => {
    const seen = [];
    const hb = await window.heartbeat.init({ endpoint, serviceName: 'e2e-csp', exportIntervalMs: 86400000, onError: (e) => seen.push([e.code, e.message]) });
    hb.outcome('csp.send').success();
    return { enabled: hb.enabled, flushed: await hb.flush(), seen };
  }, env.rx.url);
  assert.equal(r.enabled, true);
  assert.equal(r.flushed, false);
  assert.equal(r.seen[0][0], 'export_failed');
  assert.match(r.seen[0][1], new RegExp(`the page's Content-Security-Policy blocks it, allow ${env.rx.url.replace(/[.]/g, '[.]')} in connect-src`));
  assert.equal(env.rx.total('heartbeat.outcomes', { 'heartbeat.outcome': 'csp.send' }), 0);
  await ctx.close();
});
