// The JavaScript half under node: options, bad input, what is sent, retries and the offline
// buffer, with `fetch` replaced by a scripted collector. Run after wasm/build.sh:
//   node --test wasm/npm/test/unit.test.mjs
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { init, HeartbeatError, retryAfterMs } from '../dist/index.js';
import { until } from './browser.mjs';

const wasm = readFileSync(new URL('../dist/heartbeat_wasm_bg.wasm', import.meta.url));
const ENDPOINT = 'http://127.0.0.1:4318';

/** A scripted collector in place of fetch: sums delta points per series. */
const collector = {
  calls: [],
  script: [], // responses to give, first in first out; then 200
  totals: new Map(),
  gauges: new Map(),
};

function key(metric, attrs) {
  return metric + JSON.stringify(Object.keys(attrs).sort().map((k) => [k, attrs[k]]));
}

function total(metric, attrs) {
  return collector.totals.get(key(metric, attrs)) || 0;
}

globalThis.fetch = async (url, init) => {
  collector.calls.push({ url, init });
  const next = collector.script.shift();
  if (next === 'network') throw new TypeError('Failed to fetch');
  if (next) return new Response('{}', { status: next.status, headers: next.headers });
  const body = JSON.parse(init.body);
  for (const rm of body.resourceMetrics) {
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        if (m.gauge) {
          // heartbeat.emitter.status: the last value counts.
          for (const p of m.gauge.dataPoints) {
            const attrs = Object.fromEntries(p.attributes.map((a) => [a.key, a.value.stringValue]));
            collector.gauges.set(key(m.name, attrs), Number(p.asInt));
          }
          continue;
        }
        assert.equal(m.sum.aggregationTemporality, 1, 'delta');
        for (const p of m.sum.dataPoints) {
          const attrs = Object.fromEntries(p.attributes.map((a) => [a.key, a.value.stringValue]));
          const k = key(m.name, attrs);
          collector.totals.set(k, (collector.totals.get(k) || 0) + Number(p.asInt));
        }
      }
    }
  }
  return new Response('{}', { status: 200 });
};

const clients = [];

afterEach(async () => {
  for (const hb of clients.splice(0)) await hb.shutdown();
});

beforeEach(() => {
  collector.calls.length = 0;
  collector.script.length = 0;
  collector.totals.clear();
  collector.gauges.clear();
});

const outcomeAttrs = (name, result, extra = {}) => ({ 'heartbeat.outcome': name, 'heartbeat.result': result, ...extra });

async function start(extra = {}) {
  const errors = [];
  const hb = await init({ endpoint: ENDPOINT, serviceName: 'web-test', wasm, exportIntervalMs: 86400000, onError: (e) => errors.push(e), ...extra });
  clients.push(hb);
  return { hb, errors };
}

/**
 * init() never rejects: on bad options or a module that cannot load it resolves to a disabled
 * client, whose `error` is the HeartbeatError also given to onError (once).
 */
async function refused(options, code, pattern) {
  const seen = [];
  const opts = options && typeof options === 'object' ? { ...options, onError: (e) => seen.push(e) } : options;
  const hb = await init(opts);
  assert.equal(hb.enabled, false, 'a disabled client');
  const e = hb.error;
  assert.ok(e instanceof HeartbeatError);
  assert.equal(e.code, code);
  assert.match(e.message, pattern);
  if (opts && typeof opts === 'object') assert.deepEqual(seen, [e], 'onError is called once with it');
  // Every call on it is a silent no-op.
  const o = hb.outcome('x');
  o.success();
  o.tenant('t').failure('r');
  hb.heartbeat('b').stop();
  assert.equal(await hb.flush(), false);
  assert.equal(await hb.shutdown(), false);
}

test('init refuses a missing options object with a clear error', async () => {
  await refused(undefined, 'invalid_options', /init\(\) options must be an object, got undefined/);
  await refused('http://x', 'invalid_options', /got string/);
});

test('init refuses a missing or non-URL endpoint', async () => {
  await refused({ serviceName: 's', wasm }, 'invalid_options', /options\.endpoint must be the collector URL as a string.*got undefined/);
  await refused({ endpoint: 42, serviceName: 's', wasm }, 'invalid_options', /options\.endpoint must be the collector URL as a string.*got number/);
  await refused({ endpoint: 'not a url', serviceName: 's', wasm }, 'invalid_options', /"not a url" is not a URL/);
  await refused({ endpoint: 'ftp://host/x', serviceName: 's', wasm }, 'invalid_options', /must be an http: or https: URL/);
});

test('init refuses a missing service name and malformed maps and numbers', async () => {
  await refused({ endpoint: ENDPOINT, wasm }, 'invalid_options', /serviceName must be a non-empty string, got undefined/);
  await refused({ endpoint: ENDPOINT, serviceName: 's', headers: { a: 1 }, wasm }, 'invalid_options', /options\.headers\["a"\] must be a string with a non-empty key, got number/);
  await refused({ endpoint: ENDPOINT, serviceName: 's', attributes: [], wasm }, 'invalid_options', /options\.attributes must be an object of strings, got an array/);
  await refused({ endpoint: ENDPOINT, serviceName: 's', exportIntervalMs: 5, wasm }, 'invalid_options', /exportIntervalMs must be an integer from 100/);
});

test('init reports a module that cannot load, and resolves to a disabled client', async () => {
  // Runs before any test loads the module (node:test keeps file order): a bad source fails.
  await refused({ endpoint: ENDPOINT, serviceName: 's', wasm: new Uint8Array([0, 97, 115, 109, 9]) }, 'load_failed', /could not load the Heartbeat WebAssembly module/);
});

test('init refuses an onError that is not a function', async () => {
  const hb = await init({ endpoint: ENDPOINT, serviceName: 's', wasm, onError: 'no' });
  assert.equal(hb.enabled, false);
  assert.match(hb.error.message, /options\.onError must be a function, got string/);
});

test('the endpoint gets /v1/metrics unless it has a path', async () => {
  const { hb } = await start();
  assert.equal(hb.c.url, 'http://127.0.0.1:4318/v1/metrics');
  await hb.shutdown();
  const { hb: hb2 } = await start({ endpoint: 'https://otel.example.com/custom/ingest' });
  assert.equal(hb2.c.url, 'https://otel.example.com/custom/ingest');
  await hb2.shutdown();
});

test('successes, failures with reasons and tenants arrive as exact counts', async () => {
  const { hb, errors } = await start();
  const send = hb.outcome('message.send', { attributes: { surface: 'web_messenger' }, reasons: ['timeout'] });
  for (let i = 0; i < 5; i++) send.success();
  send.failure('timeout');
  send.failure();
  send.failure('not_declared');
  send.tenant('acme').success();
  send.tenant('acme').failure('timeout');
  assert.equal(await hb.flush(), true);
  const surface = { surface: 'web_messenger' };
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'success', surface)), 5);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'failure', { ...surface, 'heartbeat.reason': 'timeout' })), 1);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'failure', { ...surface, 'heartbeat.reason': 'unspecified' })), 1);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'failure', { ...surface, 'heartbeat.reason': 'other' })), 1);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'success', { ...surface, 'heartbeat.tenant': 'acme' })), 1);
  assert.equal(total('heartbeat.sdk.inputs.corrected', { 'heartbeat.reason': 'undeclared_reason' }), 1);
  assert.deepEqual(errors, []);
  await hb.shutdown();
});

// The tenant-hashing vectors the native SDK is tested against (computed with OpenSSL).
const VECTORS = JSON.parse(readFileSync(new URL('../../../core/tests/data/tenant_hash_vectors.json', import.meta.url), 'utf8')).vectors;

test('with hashTenants, tenants arrive as the native hashes and the raw ids are never sent', async () => {
  assert.ok(VECTORS.length >= 10);
  for (const { salt, tenant, wire } of VECTORS) {
    collector.calls.length = 0;
    collector.totals.clear();
    const { hb, errors } = await start({ hashTenants: { salt } });
    const send = hb.outcome('message.send', { reasons: ['timeout'] });
    send.tenant(tenant).success();
    send.tenant(tenant).failure('timeout');
    send.tenant('a\nb').success(); // invalid: _overflow, as without hashing
    assert.equal(await hb.flush(), true);
    assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'success', { 'heartbeat.tenant': wire })), 1, tenant);
    assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'failure', { 'heartbeat.reason': 'timeout', 'heartbeat.tenant': wire })), 1);
    assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'success', { 'heartbeat.tenant': '_overflow' })), 1);
    for (const { init: req } of collector.calls) {
      assert.ok(!req.body.includes(JSON.stringify(tenant)), `the raw id ${JSON.stringify(tenant).slice(0, 20)} is on the wire`);
    }
    assert.deepEqual(errors, []);
    await hb.shutdown();
  }
});

test('a bad hashTenants option disables init with the native message, never the salt', async () => {
  const base = { endpoint: ENDPOINT, serviceName: 's', wasm };
  await refused({ ...base, hashTenants: { salt: '' } }, 'invalid_options', /^invalid tenant hashing salt "": it is empty; allowed: 1 to 255 bytes of UTF-8$/);
  const long = 'secret'.repeat(50);
  await refused({ ...base, hashTenants: { salt: long } }, 'invalid_options', /^invalid tenant hashing salt \(not shown\): it is longer than 255 bytes/);
  assert.ok(!(await init({ ...base, hashTenants: { salt: long } })).error.message.includes('secret'));
  await refused({ ...base, hashTenants: 'salt' }, 'invalid_options', /options\.hashTenants must be \{ salt: string \}, got string/);
  await refused({ ...base, hashTenants: { salt: 42 } }, 'invalid_options', /options\.hashTenants must be \{ salt: string \}, got object/);
  await refused({ ...base, hashTenants: null }, 'invalid_options', /options\.hashTenants must be \{ salt: string \}, got null/);
});

test('requests are JSON POSTs without credentials, with the configured headers', async () => {
  const { hb } = await start({ headers: { 'X-Ingest-Key': 'k1' } });
  hb.outcome('message.send').success();
  await hb.flush();
  const { url, init: req } = collector.calls[0];
  assert.equal(url, 'http://127.0.0.1:4318/v1/metrics');
  assert.equal(req.method, 'POST');
  assert.equal(req.credentials, 'omit');
  assert.equal(req.keepalive, true);
  assert.equal(req.headers['Content-Type'], 'application/json');
  assert.equal(req.headers['X-Ingest-Key'], 'k1');
  const resource = Object.fromEntries(JSON.parse(req.body).resourceMetrics[0].resource.attributes.map((a) => [a.key, a.value.stringValue]));
  assert.equal(resource['service.name'], 'web-test');
  assert.equal(resource['telemetry.sdk.language'], 'webjs');
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  assert.equal(resource['telemetry.sdk.version'], pkg.version, 'the build writes the version in');
  assert.match(resource['service.instance.id'], /^[0-9a-f]{32}$/);
  await hb.shutdown();
});

test('an idle page sends nothing after the first batch', async () => {
  const { hb } = await start();
  hb.outcome('message.send');
  assert.equal(await hb.flush(), true); // declares every series at zero
  assert.equal(collector.calls.length, 1);
  assert.equal(await hb.flush(), true);
  assert.equal(collector.calls.length, 1);
  await hb.shutdown();
});

test('a non-string outcome name is reported and records nothing', async () => {
  const { hb, errors } = await start();
  const o = hb.outcome(42);
  o.success();
  o.failure('x');
  o.tenant('acme').success();
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'invalid_outcome');
  assert.match(errors[0].message, /outcome\(name\) name must be a string, got number/);
  await hb.flush();
  assert.equal(collector.totals.size > 0, true);
  for (const k of collector.totals.keys()) assert.doesNotMatch(k, /42/);
  assert.equal([...collector.totals.values()].reduce((a, b) => a + b, 0), 0);
  await hb.shutdown();
});

test('an invalid outcome name gets the core validation message', async () => {
  const { hb, errors } = await start();
  hb.outcome('1bad').success();
  hb.outcome('ok', { reasons: ['Not Snake'] });
  hb.outcome('ok', { attributes: { 'heartbeat.x': 'v' } });
  assert.deepEqual(
    errors.map((e) => e.code),
    ['invalid_outcome', 'invalid_outcome', 'invalid_outcome'],
  );
  assert.match(errors[0].message, /invalid outcome name "1bad": it must start with an ASCII letter/);
  assert.match(errors[1].message, /invalid failure reason "Not Snake"/);
  assert.match(errors[2].message, /attribute key "heartbeat.x" is reserved/);
  await hb.shutdown();
});

test('a non-string reason or tenant is reported and still counted, never thrown', async () => {
  const { hb, errors } = await start();
  const send = hb.outcome('message.send');
  send.failure(404);
  send.tenant({ id: 1 }).success();
  await hb.flush();
  assert.deepEqual(errors.map((e) => e.code), ['invalid_argument', 'invalid_argument']);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'failure', { 'heartbeat.reason': 'other' })), 1);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'success', { 'heartbeat.tenant': '_overflow' })), 1);
  await hb.shutdown();
});

test('a failed export loses nothing: the next batch carries the counts once', async () => {
  const { hb, errors } = await start();
  const send = hb.outcome('message.send');
  send.success();
  collector.script.push('network', { status: 502 });
  assert.equal(await hb.flush(), false);
  send.success();
  assert.equal(await hb.flush(), false);
  send.success();
  assert.equal(await hb.flush(), true);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'success')), 3);
  assert.deepEqual(errors.map((e) => e.code), ['export_failed', 'export_failed']);
  await hb.shutdown();
});

test('429 and 503 honour Retry-After before the next regular export', async () => {
  const { hb } = await start();
  hb.outcome('message.send').success();
  collector.script.push({ status: 503, headers: { 'Retry-After': '120' } });
  const before = Date.now();
  await hb.flush();
  assert.ok(hb.retryAt >= before + 120000, 'waits at least the Retry-After');
  assert.equal(await hb.send(false), false, 'the regular export holds back');
  assert.equal(collector.calls.length, 1);
  collector.script.push({ status: 429, headers: { 'Retry-After': '7' } });
  await hb.flush(); // an explicit flush goes through
  assert.ok(hb.retryAt >= before + 7000 && hb.retryAt < before + 120000);
  assert.equal(await hb.flush(), true);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'success')), 1);
  await hb.shutdown();
});

test('Retry-After parses seconds and HTTP dates, and nothing else', () => {
  assert.equal(retryAfterMs('3'), 3000);
  assert.equal(retryAfterMs('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')), 10000);
  assert.equal(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 08:00:00 GMT')), 0);
  assert.equal(retryAfterMs('soon'), undefined);
  assert.equal(retryAfterMs(null), undefined);
  assert.equal(retryAfterMs('999999999'), 3600000);
});

test('a non-retryable answer is reported and the batch dropped, not resent forever', async () => {
  const { hb, errors } = await start();
  const send = hb.outcome('message.send');
  send.success();
  collector.script.push({ status: 400 });
  await hb.flush();
  assert.equal(errors[0].code, 'export_rejected');
  send.success();
  assert.equal(await hb.flush(), true);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'success')), 1);
  await hb.shutdown();
});

test('heartbeats beat while visible and stop with their count reported', async () => {
  const { hb, errors } = await start();
  const beat = hb.heartbeat('messenger', { cadenceMs: 100 });
  while (beat.count < 3) await new Promise((r) => setTimeout(r, 20));
  beat.stop();
  const count = beat.count;
  await hb.flush();
  assert.equal(total('heartbeat.beats', { 'heartbeat.emitter': 'messenger' }), count);
  assert.deepEqual(errors, []);
  await hb.shutdown();
});

/** Waits until f() is true; fails after 10 s (a bound on a hang, not a timing check). */
const eventually = async (f) => assert.ok(await until(f, 10000, 10), `still false after 10 s: ${f}`);

test('each beat and each change of state goes out at once, whatever the export interval', async () => {
  // The export interval is a day (start()): without flush(), only the beats send anything.
  const { hb, errors } = await start();
  const send = hb.outcome('message.send');
  send.success();
  const beat = hb.heartbeat('messenger', { cadenceMs: 100 });
  const beats = () => total('heartbeat.beats', { 'heartbeat.emitter': 'messenger' });
  await eventually(() => beats() >= 3);
  assert.equal(collector.calls.length, beats(), 'one request per beat');
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'success')), 1, 'the counts ride with the beats');
  beat.fail('socket_closed');
  await eventually(() => status('messenger', 'socket_closed') === 1);
  const held = beats();
  beat.recover();
  await eventually(() => status('messenger') === 0 && beats() > held);
  beat.stop();
  await eventually(() => status('messenger') === 2);
  assert.equal(beats(), beat.count);
  assert.deepEqual(errors, []);
});

test('a module that traps while a change of state is sent is reported, never thrown', async () => {
  const { hb, errors } = await start();
  const beat = hb.heartbeat('trapping', { cadenceMs: 86400000 });
  await eventually(() => collector.calls.length === 1); // the first beat, at once
  // The module traps on its next collect, as an out-of-bounds access or an abort would.
  hb.s.collect = () => {
    throw new WebAssembly.RuntimeError('unreachable');
  };
  assert.doesNotThrow(() => beat.fail('socket_closed'));
  assert.deepEqual(errors.map((e) => e.code), ['internal']);
  assert.match(errors[0].message, /unreachable/);
  assert.equal(hb.enabled, false, 'a trapped module records nothing more');
  assert.doesNotThrow(() => beat.recover());
  assert.doesNotThrow(() => beat.stop());
});

test('a beat that comes while a batch is in flight follows it as soon as it lands', async () => {
  const { hb } = await start();
  const beat = hb.heartbeat('slow', { cadenceMs: 100 });
  const beats = () => total('heartbeat.beats', { 'heartbeat.emitter': 'slow' });
  // The collector answers the first request after three cadences.
  const real = globalThis.fetch;
  let release;
  globalThis.fetch = (url, init) => {
    globalThis.fetch = real;
    return new Promise((r) => (release = r)).then(() => real(url, init));
  };
  try {
    await eventually(() => beat.count >= 3);
    assert.equal(beats(), 0, 'the first batch is still in flight');
  } finally {
    globalThis.fetch = real;
    release?.();
  }
  const counted = beat.count;
  await eventually(() => beats() >= counted);
  beat.stop();
});

test('a heartbeat that is not usable does not beat, and a throwing gate is reported', async () => {
  const { hb, errors } = await start();
  let calls = 0;
  const beat = hb.heartbeat('gated', {
    cadenceMs: 100,
    usable: () => {
      calls++;
      if (calls === 1) throw new Error('boom');
      return false;
    },
  });
  while (calls < 3) await new Promise((r) => setTimeout(r, 20));
  beat.stop();
  assert.equal(beat.count, 0);
  assert.equal(errors[0].code, 'gate_failed');
  await hb.shutdown();
});

test('a heartbeat name runs once, and bad heartbeat options are reported', async () => {
  const { hb, errors } = await start();
  const a = hb.heartbeat('web', { cadenceMs: 60000 });
  hb.heartbeat('web');
  hb.heartbeat(7);
  hb.heartbeat('x', { cadenceMs: 1 });
  hb.heartbeat('y', { usable: true });
  assert.deepEqual(errors.map((e) => e.code), Array(4).fill('invalid_heartbeat'));
  assert.match(errors[0].message, /a heartbeat named "web" is running; stop it first/);
  a.stop();
  await hb.shutdown();
});

test('after shutdown every call is a silent no-op', async () => {
  const { hb, errors } = await start();
  const send = hb.outcome('message.send');
  send.success();
  assert.equal(await hb.shutdown(), true);
  assert.equal(hb.enabled, false);
  send.success();
  send.failure('x');
  hb.outcome('later').success();
  hb.heartbeat('later').stop();
  assert.equal(await hb.flush(), false);
  assert.equal(await hb.shutdown(), false);
  assert.deepEqual(errors, []);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'success')), 1);
});

test('an onError callback that throws does not reach the page', async () => {
  const { hb } = await start({
    onError: () => {
      throw new Error('callback bug');
    },
  });
  hb.outcome(null).success();
  await hb.shutdown();
});

const status = (emitter, reason) => collector.gauges.get(key('heartbeat.emitter.status', reason ? { 'heartbeat.emitter': emitter, 'heartbeat.reason': reason } : { 'heartbeat.emitter': emitter }));

test('fail(reason), recover() and stop() reach the collector as the native status gauge', async () => {
  const { hb, errors } = await start();
  const beat = hb.heartbeat('messenger', { cadenceMs: 60000 });
  assert.equal(await hb.flush(), true);
  assert.equal(status('messenger'), 0, 'beating');
  beat.fail('socket_closed');
  assert.equal(await hb.flush(), true, 'a new status alone is sent');
  assert.equal(status('messenger', 'socket_closed'), 1);
  beat.recover();
  await hb.flush();
  assert.equal(status('messenger'), 0);
  beat.fail();
  await hb.flush();
  assert.equal(status('messenger', 'gate_failed'), 1, 'the default reason');
  beat.fail('Not Snake');
  beat.fail(42);
  await hb.flush();
  assert.equal(status('messenger', 'other'), 1, 'a bad reason is sent as other');
  assert.deepEqual(errors.map((e) => e.code), ['invalid_argument', 'invalid_argument']);
  assert.match(errors[0].message, /fail\(reason\) reason must be snake_case.*got "Not Snake"/);
  beat.stop();
  beat.fail('late'); // stopped stays stopped
  await hb.flush();
  assert.equal(status('messenger'), 2, 'stopped on purpose');
  assert.equal(errors.length, 2);
  await hb.shutdown();
});

test('a heartbeat whose usable() says no reports gate_failed and holds its beats until it says yes', async () => {
  const { hb, errors } = await start();
  let usable = false;
  let calls = 0;
  const beat = hb.heartbeat('gated', { cadenceMs: 100, usable: () => (calls++, usable) });
  while (calls < 2) await new Promise((r) => setTimeout(r, 20));
  await hb.flush();
  assert.equal(status('gated', 'gate_failed'), 1);
  assert.equal(beat.count, 0);
  usable = true;
  while (beat.count < 1) await new Promise((r) => setTimeout(r, 20));
  beat.stop();
  await hb.flush();
  assert.equal(status('gated'), 2);
  assert.equal(total('heartbeat.beats', { 'heartbeat.emitter': 'gated' }), beat.count);
  assert.deepEqual(errors, []);
  await hb.shutdown();
});

test('record(ok, reason) and observe(promise, reason) count exactly, and observe hands the promise back', async () => {
  const { hb, errors } = await start();
  const send = hb.outcome('message.send', { reasons: ['timeout', 'rejected'] });
  send.record(true);
  send.record(false, 'timeout');
  send.tenant('acme').record(false);
  assert.equal(await send.observe(Promise.resolve(7)), 7);
  assert.equal(await send.observe(42), 42, 'a plain value is a success');
  const boom = new Error('boom');
  await assert.rejects(send.observe(Promise.reject(boom), 'rejected'), (e) => e === boom);
  await assert.rejects(send.observe(Promise.reject(boom)), (e) => e === boom);
  await assert.rejects(send.observe(Promise.reject(boom), (e) => (e.message === 'boom' ? 'timeout' : 'x')), (e) => e === boom);
  await assert.rejects(
    send.tenant('acme').observe(Promise.reject(boom), () => {
      throw new Error('reason bug');
    }),
    (e) => e === boom,
  );
  assert.equal(await hb.flush(), true);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'success')), 3);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'failure', { 'heartbeat.reason': 'timeout' })), 2);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'failure', { 'heartbeat.reason': 'rejected' })), 1);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'failure', { 'heartbeat.reason': 'unspecified' })), 1);
  assert.equal(total('heartbeat.outcomes', outcomeAttrs('message.send', 'failure', { 'heartbeat.reason': 'unspecified', 'heartbeat.tenant': 'acme' })), 2);
  assert.deepEqual(errors.map((e) => e.code), ['invalid_argument']);
  assert.match(errors[0].message, /observe\(\) reason callback threw: reason bug/);
  await hb.shutdown();
});

test('batches left in the offline buffer are sent once by the next client of the same collector', async () => {
  const items = new Map();
  globalThis.localStorage = { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, String(v)) };
  try {
    // What a page left behind: a stored batch for this collector, one for another collector,
    // and one claimed a moment ago by another tab.
    const { hb: first } = await start({ serviceName: 'left-behind' });
    first.outcome('stored.send').success();
    const body = first.s.collect(false);
    await first.shutdown();
    const url = `${ENDPOINT}/v1/metrics`;
    items.set('heartbeat.unsent', JSON.stringify([
      { u: url, b: body, t: 0, i: 'a' },
      { u: 'http://elsewhere.example/v1/metrics', b: body, t: 0, i: 'b' },
      { u: url, b: body, t: Date.now(), i: 'c' },
    ]));
    collector.totals.clear();
    const { hb } = await start();
    assert.equal(await hb.flush(), true);
    assert.equal(total('heartbeat.outcomes', outcomeAttrs('stored.send', 'success')), 1, 'sent once');
    assert.deepEqual(JSON.parse(items.get('heartbeat.unsent')).map((e) => e.i), ['b', 'c'], 'removed once accepted; the others stay');
    const { hb: again } = await start();
    assert.equal(await again.flush(), true);
    assert.equal(total('heartbeat.outcomes', outcomeAttrs('stored.send', 'success')), 1, 'and never twice');
    // A retryable failure keeps the batch (unclaimed) for later.
    items.set('heartbeat.unsent', JSON.stringify([{ u: url, b: body, t: 0, i: 'd' }]));
    collector.script.push({ status: 503 }, { status: 503 });
    const { hb: third, errors } = await start();
    assert.equal(await third.flush(), false);
    assert.deepEqual(errors.map((e) => e.code), ['export_failed', 'export_failed']);
    assert.deepEqual(JSON.parse(items.get('heartbeat.unsent')).map((e) => [e.i, e.t]), [['d', 0]]);
  } finally {
    delete globalThis.localStorage;
  }
});
