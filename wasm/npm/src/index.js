// @heartbeat/web: outcome counters and a visible-page heartbeat for browsers and web messengers.
//
// The counting, the delta collector and the OTLP/JSON encoder run in WebAssembly (the Rust
// `heartbeat-wasm` crate over the sdk's core). This file owns what touches the page: options,
// timers, fetch/sendBeacon, page lifecycle events, retries, and the rule that nothing ever
// throws into the host page. See README.md and docs/browser.md.
import initWasm, { Sdk, version as wasmVersion } from './heartbeat_wasm.js';

const DEFAULT_INTERVAL_MS = 10000;
const DEFAULT_CADENCE_MS = 10000;
const MIN_INTERVAL_MS = 100;
const MAX_INTERVAL_MS = 86400000;
const REQUEST_TIMEOUT_MS = 10000;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 60000;
const RETRY_AFTER_MAX_MS = 3600000;
// Chromium refuses a keepalive body over 64 KiB (in total for the page): keep well below.
const KEEPALIVE_MAX_BYTES = 60000;

/** An error Heartbeat reports: through the promise init() returns, or the onError callback. */
export class HeartbeatError extends Error {
  constructor(code, message, cause) {
    super(message);
    this.name = 'HeartbeatError';
    this.code = code;
    if (cause !== undefined) this.cause = cause;
  }
}

let loading;

function load(source) {
  if (!loading) {
    loading = initWasm(source === undefined ? undefined : { module_or_path: source }).catch((e) => {
      loading = undefined;
      throw e;
    });
  }
  return loading;
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const kind = (v) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);
const quote = (v) => JSON.stringify(String(v).length > 64 ? String(v).slice(0, 64) + '...' : String(v));

function bad(code, message) {
  return new HeartbeatError(code, message);
}

/** Checks an object of string values; returns its entries. */
function stringMap(value, what, code) {
  if (value === undefined) return [];
  if (!isObject(value)) throw bad(code, `${what} must be an object of strings, got ${kind(value)}`);
  const entries = Object.entries(value);
  for (const [k, v] of entries) {
    if (k === '') throw bad(code, `${what}: a key is empty`);
    if (typeof v !== 'string') throw bad(code, `${what}.${k} must be a string, got ${kind(v)}`);
  }
  return entries;
}

function integer(value, what, min, max, fallback, code) {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw bad(code, `${what} must be an integer from ${min} to ${max}, got ${typeof value === 'number' ? value : kind(value)}`);
  }
  return value;
}

/** The signal URL: `/v1/metrics` is appended unless the URL has a path (as the native SDK does). */
function endpointUrl(endpoint) {
  if (endpoint === undefined) throw bad('invalid_options', 'options.endpoint is missing: give the OTLP/HTTP collector URL, e.g. "https://otel.example.com:4318"');
  if (typeof endpoint !== 'string') throw bad('invalid_options', `options.endpoint must be a string URL, got ${kind(endpoint)}`);
  let url;
  try {
    url = new URL(endpoint);
  } catch {
    throw bad('invalid_options', `options.endpoint ${quote(endpoint)} is not a URL: give an absolute http(s) URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw bad('invalid_options', `options.endpoint ${quote(endpoint)} must be an http: or https: URL`);
  }
  if (url.username || url.password) throw bad('invalid_options', 'options.endpoint must not carry credentials: use options.headers');
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1/metrics';
  return url.href;
}

function parse(o) {
  if (!isObject(o)) throw bad('invalid_options', `init() takes an options object, got ${kind(o)}`);
  const endpoint = endpointUrl(o.endpoint);
  if (typeof o.serviceName !== 'string' || o.serviceName === '') {
    throw bad('invalid_options', `options.serviceName must be a non-empty string, got ${o.serviceName === '' ? 'an empty string' : kind(o.serviceName)}`);
  }
  if (o.serviceVersion !== undefined && typeof o.serviceVersion !== 'string') {
    throw bad('invalid_options', `options.serviceVersion must be a string, got ${kind(o.serviceVersion)}`);
  }
  const headers = stringMap(o.headers, 'options.headers', 'invalid_options');
  const attributes = stringMap(o.attributes, 'options.attributes', 'invalid_options');
  if (o.onError !== undefined && typeof o.onError !== 'function') {
    throw bad('invalid_options', `options.onError must be a function, got ${kind(o.onError)}`);
  }
  const transport = o.transport === undefined ? 'fetch' : o.transport;
  if (transport !== 'fetch' && transport !== 'beacon') {
    throw bad('invalid_options', `options.transport must be "fetch" or "beacon", got ${quote(transport)}`);
  }
  return {
    endpoint,
    serviceName: o.serviceName,
    serviceVersion: o.serviceVersion,
    headers,
    attributes,
    interval: integer(o.exportIntervalMs, 'options.exportIntervalMs', MIN_INTERVAL_MS, MAX_INTERVAL_MS, DEFAULT_INTERVAL_MS, 'invalid_options'),
    tenantLimit: integer(o.tenantLimit, 'options.tenantLimit', 1, 1000000, 0, 'invalid_options'),
    transport,
    onError: o.onError,
    debug: o.debug === true,
    wasm: o.wasm,
  };
}

function instanceId() {
  const bytes = new Uint8Array(16);
  const c = globalThis.crypto;
  if (c && c.getRandomValues) c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = (Math.random() * 256) | 0;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Milliseconds to wait from a Retry-After value (seconds or an HTTP date), or undefined. */
export function retryAfterMs(value, now = Date.now()) {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const v = value.trim();
  let ms;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    const at = Date.parse(v);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(ms, 0), RETRY_AFTER_MAX_MS);
}

const doc = () => (typeof document === 'undefined' ? undefined : document);
const visible = () => {
  const d = doc();
  return !d || d.visibilityState !== 'hidden';
};
const online = () => typeof navigator === 'undefined' || navigator.onLine !== false;

/**
 * Loads the WebAssembly module and starts Heartbeat.
 *
 * Resolves to a Heartbeat client; rejects with a HeartbeatError (and calls options.onError)
 * when the options are missing or malformed or the module cannot load. Never throws.
 */
export async function init(options) {
  const onError = isObject(options) && typeof options.onError === 'function' ? options.onError : undefined;
  try {
    const config = parse(options);
    try {
      await load(config.wasm);
    } catch (e) {
      throw new HeartbeatError('load_failed', `could not load the Heartbeat WebAssembly module: ${e && e.message ? e.message : e}`, e);
    }
    return new Heartbeat(config);
  } catch (e) {
    const err = e instanceof HeartbeatError ? e : new HeartbeatError('internal', String(e), e);
    if (onError) {
      try {
        onError(err);
      } catch {
        // The callback's own errors stay out of the host page too.
      }
    }
    if (isObject(options) && options.debug === true) console.warn('[heartbeat]', err);
    throw err;
  }
}

/** A Heartbeat client: declare outcomes, start heartbeats, flush and shut down. */
export class Heartbeat {
  constructor(c) {
    this.c = c;
    this.s = new Sdk(c.tenantLimit);
    this.outcomes = new Map();
    this.beats = new Set();
    this.seq = undefined; // the batch in flight
    this.sending = undefined; // its promise
    this.again = false; // send once more when the one in flight ends (the page was hidden)
    this.failures = 0;
    this.retryAt = 0;
    const s = this.s;
    const resource = [
      ['service.name', c.serviceName],
      ['service.instance.id', instanceId()],
      ['telemetry.sdk.name', 'heartbeat'],
      ['telemetry.sdk.language', 'webjs'],
      ['telemetry.sdk.version', wasmVersion()],
    ];
    if (c.serviceVersion !== undefined) resource.push(['service.version', c.serviceVersion]);
    for (const [k, v] of resource.concat(c.attributes)) s.resource(k, v);
    this.timer = setInterval(() => this.guard(() => this.send(false)), c.interval);
    this.listeners = [];
    const d = doc();
    if (d && typeof addEventListener === 'function') {
      this.listen(d, 'visibilitychange', () => this.onVisibility());
      this.listen(globalThis, 'pagehide', () => this.onPageHide());
      this.listen(globalThis, 'pageshow', () => this.onVisibility());
      this.listen(globalThis, 'online', () => this.send(false));
    }
  }

  /** Whether this client still records (false after shutdown() or an internal failure). */
  get enabled() {
    return this.s !== null;
  }

  listen(target, type, f) {
    const h = () => this.guard(f);
    target.addEventListener(type, h);
    this.listeners.push(() => target.removeEventListener(type, h));
  }

  /** Runs f; any exception is reported, never thrown. */
  guard(f) {
    try {
      return f();
    } catch (e) {
      this.fail(e);
    }
  }

  /** Reports an error through onError and the debug console. */
  report(err) {
    if (this.c.debug) console.warn('[heartbeat]', err);
    const f = this.c.onError;
    if (f) {
      try {
        f(err);
      } catch {
        // ignored: never throw into the page
      }
    }
  }

  /** An unexpected exception: report it, and stop recording if the module itself failed. */
  fail(e) {
    if (e instanceof HeartbeatError) return this.report(e);
    if (e instanceof WebAssembly.RuntimeError) {
      this.stopAll();
      this.s = null;
    }
    this.report(new HeartbeatError('internal', `Heartbeat failed: ${e && e.message ? e.message : e}`, e));
  }

  debug(...args) {
    if (this.c.debug) console.debug('[heartbeat]', ...args);
  }

  /**
   * Declares an outcome: name, fixed attributes and failure reasons. Returns its handle; on bad
   * input reports a HeartbeatError and returns a handle that records nothing.
   */
  outcome(name, options) {
    return this.guard(() => {
      const s = this.s;
      if (s === null) return new Outcome(this, -1);
      if (typeof name !== 'string') {
        throw bad('invalid_outcome', `outcome(name): the name must be a string, got ${kind(name)}`);
      }
      if (options !== undefined && !isObject(options)) {
        throw bad('invalid_outcome', `outcome(${quote(name)}, options): options must be an object, got ${kind(options)}`);
      }
      const o = options || {};
      const attributes = stringMap(o.attributes, `outcome(${quote(name)}) attributes`, 'invalid_outcome');
      const reasons = o.reasons === undefined ? [] : o.reasons;
      if (!Array.isArray(reasons) || reasons.some((r) => typeof r !== 'string')) {
        throw bad('invalid_outcome', `outcome(${quote(name)}) reasons must be an array of strings`);
      }
      const limit = integer(o.tenantLimit, `outcome(${quote(name)}) tenantLimit`, 1, 1000000, 0, 'invalid_outcome');
      const key = JSON.stringify([name, attributes, reasons, limit]);
      let i = this.outcomes.get(key);
      if (i === undefined) {
        s.outcome(name);
        for (const [k, v] of attributes) s.attribute(k, v);
        for (const r of reasons) s.reason(r);
        i = s.declare(limit);
        if (i < 0) throw bad('invalid_outcome', s.error());
        this.outcomes.set(key, i);
      }
      return new Outcome(this, i);
    }) || new Outcome(this, -1);
  }

  /**
   * Starts a heartbeat: one beat per cadence while the page is visible and `usable()` (if
   * given) returns true; paused while hidden or in the back/forward cache. Returns its handle;
   * on bad input reports a HeartbeatError and returns a handle that beats nothing.
   */
  heartbeat(name, options) {
    return this.guard(() => {
      const n = name === undefined ? 'browser' : name;
      if (typeof n !== 'string') throw bad('invalid_heartbeat', `heartbeat(name): the name must be a string, got ${kind(n)}`);
      if (options !== undefined && !isObject(options)) {
        throw bad('invalid_heartbeat', `heartbeat(${quote(n)}, options): options must be an object, got ${kind(options)}`);
      }
      const o = options || {};
      const cadence = integer(o.cadenceMs, `heartbeat(${quote(n)}) cadenceMs`, 100, 86400000, DEFAULT_CADENCE_MS, 'invalid_heartbeat');
      if (o.usable !== undefined && typeof o.usable !== 'function') {
        throw bad('invalid_heartbeat', `heartbeat(${quote(n)}) usable must be a function returning a boolean, got ${kind(o.usable)}`);
      }
      if (this.s === null) return new Beat(this, -1, cadence, undefined);
      const i = this.s.emitter(n);
      if (i < 0) throw bad('invalid_heartbeat', this.s.error());
      const beat = new Beat(this, i, cadence, o.usable);
      this.beats.add(beat);
      beat.arm();
      return beat;
    }) || new Beat(this, -1, 0, undefined);
  }

  onVisibility() {
    const shown = visible();
    for (const b of this.beats) {
      if (shown) b.arm();
      else b.pause();
    }
    if (!shown) this.hide(false);
  }

  onPageHide() {
    for (const b of this.beats) b.pause();
    this.hide(true);
  }

  /**
   * The page is hidden (`final`: or being left). Sends what is unsent now, with a transport
   * that survives the page. On pagehide, a batch still in flight is taken as delivered so
   * that the final one does not count it again.
   */
  hide(final) {
    const s = this.s;
    if (s === null) return;
    if (this.seq !== undefined) {
      if (!final) {
        this.again = true;
        return;
      }
      s.ack(this.seq);
      this.seq = undefined;
    }
    if (!online()) return;
    if (this.c.transport === 'beacon' && this.c.headers.length === 0 && this.beacon(s)) return;
    this.send(false, true);
  }

  /** Sends with navigator.sendBeacon: fire and forget, so a queued beacon counts as delivered. */
  beacon(s) {
    if (typeof navigator === 'undefined' || typeof navigator.sendBeacon !== 'function') return false;
    const body = s.collect(false);
    if (body === undefined) return true;
    const seq = s.seq();
    let queued = false;
    try {
      queued = navigator.sendBeacon(this.c.endpoint, new Blob([body], { type: 'application/json' }));
    } catch (e) {
      this.debug('sendBeacon threw', e);
    }
    if (queued) s.ack(seq);
    else s.forget(seq);
    this.debug('beacon', queued ? 'queued' : 'refused', body.length, 'bytes');
    return queued;
  }

  /**
   * Builds and posts the next batch unless one is in flight, the collector asked us to wait,
   * or the browser is offline (nothing is lost: the next batch carries the counts).
   * Resolves to true when a batch was accepted or there was nothing to send.
   */
  send(force, now = false) {
    const s = this.s;
    if (s === null) return Promise.resolve(false);
    if (this.sending) return this.sending;
    if (!now && (Date.now() < this.retryAt || !online())) return Promise.resolve(false);
    const body = s.collect(force);
    if (body === undefined) return Promise.resolve(true);
    const seq = s.seq();
    this.seq = seq;
    const p = this.post(body).then(
      (res) => this.settle(seq, res),
      (e) => this.settle(seq, undefined, e),
    );
    this.sending = p;
    return p;
  }

  async post(body) {
    const headers = { 'Content-Type': 'application/json' };
    for (const [k, v] of this.c.headers) headers[k] = v;
    const init = { method: 'POST', body, headers, credentials: 'omit', mode: 'cors', keepalive: body.length <= KEEPALIVE_MAX_BYTES };
    const abort = typeof AbortController === 'function' ? new AbortController() : undefined;
    let t;
    if (abort) {
      init.signal = abort.signal;
      t = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    }
    try {
      return await fetch(this.c.endpoint, init);
    } finally {
      clearTimeout(t);
    }
  }

  settle(seq, res, error) {
    this.sending = undefined;
    if (this.seq === seq) this.seq = undefined;
    const s = this.s;
    if (s === null) return false;
    let ok = false;
    if (res && res.ok) {
      s.ack(seq);
      this.failures = 0;
      this.retryAt = 0;
      ok = true;
      this.debug('export accepted', res.status);
    } else if (res && !retryable(res.status)) {
      // OTLP: other 4xx answers must not be retried; commit the batch so it is not resent forever.
      s.ack(seq);
      this.report(new HeartbeatError('export_rejected', `the collector refused a batch with HTTP ${res.status}; its counts are dropped (not retryable)`));
    } else {
      s.forget(seq);
      this.failures++;
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (this.failures - 1)) * (0.5 + Math.random() / 2);
      const after = res ? retryAfterMs(res.headers.get('Retry-After')) : undefined;
      const wait = after === undefined ? backoff : after;
      this.retryAt = Date.now() + wait;
      const why = res ? `HTTP ${res.status}` : `a network error (${error && error.message ? error.message : error})`;
      this.report(new HeartbeatError('export_failed', `export failed with ${why}; retrying in ${Math.round(wait)} ms, nothing is lost`, error));
    }
    if (this.again) {
      this.again = false;
      if (!visible()) this.guard(() => this.hide(false));
    }
    return ok;
  }

  /** Sends everything recorded so far. Resolves to true once the collector accepted it. */
  async flush() {
    try {
      if (this.sending) await this.sending;
      return await this.send(false, true);
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  stopAll() {
    for (const b of this.beats) b.stop();
    clearInterval(this.timer);
    for (const off of this.listeners.splice(0)) off();
  }

  /** Stops every heartbeat and timer, sends what is unsent, and releases the module's memory. */
  async shutdown() {
    if (this.s === null) return false;
    this.stopAll();
    const ok = await this.flush();
    const s = this.s;
    this.s = null;
    if (s) this.guard(() => s.free());
    return ok;
  }
}

const retryable = (status) => status === 429 || status === 502 || status === 503 || status === 504;

/** A declared outcome: record each customer job as a success or a failure. */
export class Outcome {
  constructor(hb, i) {
    this.h = hb;
    this.i = i;
  }

  /** Records one success. */
  success() {
    const s = this.h.s;
    if (s !== null && this.i >= 0) {
      try {
        s.success(this.i);
      } catch (e) {
        this.h.fail(e);
      }
    }
  }

  /** Records one failure, with a reason from the declared set (others count as "other"). */
  failure(reason) {
    this.record(undefined, reason);
  }

  /** This outcome for one customer (tenant): the drill-down series. */
  tenant(id) {
    return new TenantOutcome(this, id);
  }

  record(tenant, reason) {
    const h = this.h;
    const s = h.s;
    if (s === null || this.i < 0) return;
    try {
      let r = ''; // "unspecified"
      if (typeof reason === 'string') r = reason;
      else if (reason !== undefined) {
        r = 'other';
        h.report(bad('invalid_argument', `failure(reason): the reason must be a string, got ${kind(reason)}; counted as "other"`));
      }
      if (tenant === undefined) s.failure(this.i, r);
      else s.failure_for(this.i, tenantId(h, tenant), r);
    } catch (e) {
      h.fail(e);
    }
  }
}

/** A tenant id as recorded: a non-string is reported and counted in the overflow series. */
function tenantId(h, t) {
  if (typeof t === 'string') return t;
  h.report(bad('invalid_argument', `tenant(id): the id must be a string, got ${kind(t)}; counted in the "_overflow" series`));
  return '';
}

/** One customer's view of an outcome. */
export class TenantOutcome {
  constructor(outcome, id) {
    this.o = outcome;
    this.t = id;
  }

  /** Records one success for this tenant. */
  success() {
    const o = this.o;
    const h = o.h;
    const s = h.s;
    if (s === null || o.i < 0) return;
    try {
      s.success_for(o.i, tenantId(h, this.t));
    } catch (e) {
      h.fail(e);
    }
  }

  /** Records one failure for this tenant, with an optional reason. */
  failure(reason) {
    this.o.record(this.t, reason);
  }
}

/** A running heartbeat. */
export class Beat {
  constructor(hb, i, cadence, usable) {
    this.h = hb;
    this.i = i;
    this.cadence = cadence;
    this.usable = usable;
    this.origin = typeof performance !== 'undefined' ? performance.now() : Date.now();
    this.n = 0; // the next tick: due at origin + n × cadence
    this.timer = undefined;
    this.paused = false;
    this.running = i >= 0;
  }

  /** Beats counted so far. */
  get count() {
    const s = this.h.s;
    return s === null || this.i < 0 ? 0 : s.beats(this.i);
  }

  now() {
    return typeof performance !== 'undefined' ? performance.now() : Date.now();
  }

  /** Schedules the next tick on the cadence grid, if running and visible. */
  arm() {
    if (!this.running || this.timer !== undefined) return;
    if (!visible()) {
      this.paused = true;
      return;
    }
    const now = this.now();
    // After a pause, resume at the next tick of the grid: never a burst of missed beats.
    if (this.paused) this.n = Math.max(this.n, Math.ceil((now - this.origin) / this.cadence));
    this.paused = false;
    const due = this.origin + this.n * this.cadence;
    this.timer = setTimeout(() => this.h.guard(() => this.tick()), Math.max(0, due - now));
  }

  pause() {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.paused = true;
  }

  tick() {
    this.timer = undefined;
    const s = this.h.s;
    if (!this.running || s === null) return;
    const now = this.now();
    this.n = Math.max(this.n, Math.floor((now - this.origin) / this.cadence)) + 1;
    if (visible() && this.isUsable()) s.beat(this.i);
    this.arm();
  }

  isUsable() {
    if (!this.usable) return true;
    try {
      return this.usable() === true;
    } catch (e) {
      this.h.report(new HeartbeatError('gate_failed', `heartbeat usable() threw: ${e && e.message ? e.message : e}; no beat`, e));
      return false;
    }
  }

  /** Stops beating; the count so far is still reported. */
  stop() {
    if (!this.running) return;
    this.running = false;
    this.pause();
    this.h.beats.delete(this);
    const s = this.h.s;
    if (s !== null) this.h.guard(() => s.stop(this.i));
  }
}
