// @heartbeat/web: outcome counters and a visible-page heartbeat for browsers and web messengers.
//
// The counting, the delta collector and the OTLP/JSON encoder run in WebAssembly (the Rust
// `heartbeat-wasm` crate over the sdk's core). This file owns what touches the page: options,
// timers, fetch, page lifecycle events, retries, the offline buffer in localStorage, and the
// rule that nothing ever throws into the host page (init() included: it resolves to a disabled
// client). See README.md and docs/browser.md.
//
// Size matters (docs/benchmarks.md): members that end with `_` are internal, and the build
// (wasm/build.sh) shortens them when it minifies.
import load, { Sdk } from './wasm.js';

// The package version (the workspace's), written in by the build (wasm/build.sh).
const VERSION = typeof __HEARTBEAT_VERSION__ === 'string' ? __HEARTBEAT_VERSION__ : 'dev';

const MIN_INTERVAL_MS = 100;
const MAX_MS = 86400000;
const REQUEST_TIMEOUT_MS = 10000;
const BACKOFF_MAX_MS = 60000;
const RETRY_AFTER_MAX_MS = 3600000;
// Chromium refuses keepalive bodies over 64 KiB (in total for the page): stay below.
const KEEPALIVE_MAX_BYTES = 60000;
// The offline buffer: unsent batches a page could not deliver when it was hidden or left, kept
// in localStorage for the next page load of this origin, at most this many characters in all
// (the oldest batch is dropped first, and reported).
const STORE_KEY = 'heartbeat.unsent';
const STORE_MAX_CHARS = 262144;
// A page sending a stored batch claims it for this long (another tab leaves it alone).
const CLAIM_MS = 30000;

/** The one error type Heartbeat reports (through init()'s promise or onError); never thrown. */
export class HeartbeatError extends Error {
  constructor(code, message, cause) {
    super(message);
    this.name = 'HeartbeatError';
    this.code = code;
    if (cause !== undefined) this.cause = cause;
  }
}

let loading;

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const kind = (v) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);
const quote = (v) => JSON.stringify(String(v).slice(0, 64));
const text = (e) => (e && e.message) || String(e);
const now = () => performance.now();
const doc = () => globalThis.document;
const visible = () => doc()?.visibilityState !== 'hidden';
const online = () => globalThis.navigator?.onLine !== false;
const tick = () => new Promise((r) => setTimeout(r));

/** The offline buffer's entries ({ u: url, b: body, t: claimed at, i: id }); throws if storage is unusable. */
const stored = () => {
  const list = JSON.parse(localStorage.getItem(STORE_KEY));
  return Array.isArray(list) ? list.filter((e) => typeof e?.b === 'string') : [];
};
const save = (list) => localStorage.setItem(STORE_KEY, JSON.stringify(list));
/** Changes the stored entry `id` (f returns false to remove it); never throws. */
const update = (id, f) => {
  try {
    const list = stored();
    const i = list.findIndex((e) => e.i === id);
    if (i >= 0 && f(list[i]) === false) list.splice(i, 1);
    save(list);
  } catch {
    // Storage went away: the entry stays as it was.
  }
};

/** Which directive of the page's Content-Security-Policy blocked a load or an export, if one did. */
const blocked = (e, seen) =>
  seen.has('connect-src')
    ? 'connect-src'
    : seen.has('script-src') || /wasm-unsafe-eval|unsafe-eval|Content Security Policy/i.test(text(e))
      ? "script-src 'wasm-unsafe-eval'"
      : undefined;

/** Watches `securitypolicyviolation` events, keeping the directives of those that `mine(event)` accepts. */
function spy(mine) {
  const seen = new Set();
  const d = doc();
  const f = (e) => mine(e) && seen.add(/^script-src/.test(e.effectiveDirective) ? 'script-src' : e.effectiveDirective);
  d?.addEventListener('securitypolicyviolation', f);
  return [seen, () => d?.removeEventListener('securitypolicyviolation', f)];
}

const originOf = (u) => new URL(u).origin;

/** A HeartbeatError for a value that is not what `what` must be. */
const must = (code, what, wanted, got) => new HeartbeatError(code, `${what} must be ${wanted}, got ${got}`);
const check = (ok, code, what, wanted, value) => {
  if (!ok) throw must(code, what, wanted, kind(value));
};

/** The entries of an optional object of strings. */
function strings(value, what, code) {
  if (value === undefined) return [];
  check(isObject(value), code, what, 'an object of strings', value);
  const entries = Object.entries(value);
  for (const [k, v] of entries) check(k !== '' && typeof v === 'string', code, `${what}[${quote(k)}]`, 'a string with a non-empty key', v);
  return entries;
}

function integer(value, what, min, max, fallback, code) {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw must(code, what, `an integer from ${min} to ${max}`, typeof value === 'number' ? value : kind(value));
  }
  return value;
}

function parse(o) {
  const C = 'invalid_options';
  check(isObject(o), C, 'init() options', 'an object', o);
  const e = o.endpoint;
  check(typeof e === 'string', C, 'options.endpoint', 'the collector URL as a string, e.g. "https://otel.example.com:4318"', e);
  let url;
  try {
    url = new URL(e);
  } catch {
    throw new HeartbeatError(C, `options.endpoint ${quote(e)} is not a URL: give an absolute http(s) URL`);
  }
  if (!/^https?:$/.test(url.protocol) || url.username || url.password) {
    throw new HeartbeatError(C, `options.endpoint ${quote(e)} must be an http: or https: URL without credentials (use options.headers)`);
  }
  // `/v1/metrics` is appended unless the URL has a path, as the native SDK does.
  if (url.pathname === '/') url.pathname = '/v1/metrics';
  check(typeof o.serviceName === 'string' && o.serviceName !== '', C, 'options.serviceName', 'a non-empty string', o.serviceName);
  check(o.serviceVersion === undefined || typeof o.serviceVersion === 'string', C, 'options.serviceVersion', 'a string', o.serviceVersion);
  check(o.onError === undefined || typeof o.onError === 'function', C, 'options.onError', 'a function', o.onError);
  const h = o.hashTenants;
  check(h === undefined || typeof h?.salt === 'string', C, 'options.hashTenants', '{ salt: string }', h);
  return {
    url: url.href,
    name: o.serviceName,
    version: o.serviceVersion,
    headers: strings(o.headers, 'options.headers', C),
    attributes: strings(o.attributes, 'options.attributes', C),
    interval: integer(o.exportIntervalMs, 'options.exportIntervalMs', MIN_INTERVAL_MS, MAX_MS, 10000, C),
    tenantLimit: integer(o.tenantLimit, 'options.tenantLimit', 1, 1e6, 0, C),
    salt: h?.salt,
    onError: o.onError,
    debug: o.debug === true,
    wasm: o.wasm,
  };
}

/** Milliseconds to wait for a Retry-After value (delay seconds or an HTTP date), or undefined. */
export function retryAfterMs(value, at = Date.now()) {
  const v = typeof value === 'string' ? value.trim() : '';
  const ms = /^\d+$/.test(v) ? v * 1000 : Date.parse(v) - at;
  return Number.isNaN(ms) ? undefined : Math.min(Math.max(ms, 0), RETRY_AFTER_MAX_MS);
}

/** Calls the user's callback and logs in debug mode; neither may throw into the page. */
function tell(c, err) {
  if (c?.debug === true) console.error('[heartbeat]', err);
  try {
    if (typeof c?.onError === 'function') c.onError(err);
  } catch {
    // The callback's own errors stay out of the host page too.
  }
}

/**
 * Loads the WebAssembly module and starts Heartbeat. Never rejects: when the options are
 * missing or malformed or the module cannot load, it reports a HeartbeatError to
 * options.onError and resolves to a disabled client (`enabled` false, every call a no-op).
 */
export async function init(options) {
  try {
    const c = parse(options);
    // A CSP block shows as a bare "Failed to fetch" or CompileError: the page's violation
    // event names the directive.
    const [seen, off] = spy((e) => /wasm|eval/.test(e.blockedURI)); // the .wasm's URL, or "wasm-eval"
    try {
      loading ||= load(c.wasm);
      await loading;
    } catch (e) {
      loading = undefined;
      await tick(); // the violation event follows the failure
      const d = blocked(e, seen);
      throw new HeartbeatError('load_failed', `could not load the Heartbeat WebAssembly module: ${d ? `the page's Content-Security-Policy blocks it: allow it in ${d}` : text(e)}`, e);
    } finally {
      off();
    }
    return new Heartbeat(c);
  } catch (e) {
    const err = e instanceof HeartbeatError ? e : new HeartbeatError('internal', text(e), e);
    tell(options, err);
    const off = Object.create(Heartbeat.prototype);
    off.s = null;
    off.error = err;
    off.c = isObject(options) ? options : {};
    off.beats_ = new Set();
    return off;
  }
}

const retryable = (status) => status === 429 || status === 502 || status === 503 || status === 504;

/** A started Heartbeat client: declare outcomes, start heartbeats, flush and shut down. */
export class Heartbeat {
  constructor(c) {
    this.c = c;
    this.s = new Sdk(c.tenantLimit);
    this.declared_ = new Map();
    this.beats_ = new Set();
    this.seq_ = undefined; // the batch in flight
    this.sending_ = undefined; // its promise
    this.again_ = false; // the page was hidden while it flew: send again when it lands
    this.soon__ = false; // a beat came while it flew: send when it lands
    this.failures_ = 0;
    this.retryAt = 0;
    this.off_ = [];
    const id = crypto.getRandomValues(new Uint8Array(16)).reduce((s, b) => s + (b | 256).toString(16).slice(1), '');
    const resource = [
      ['service.name', c.name],
      ['service.instance.id', id],
      ['telemetry.sdk.name', 'heartbeat'],
      ['telemetry.sdk.language', 'webjs'],
      ['telemetry.sdk.version', VERSION],
    ];
    if (c.version !== undefined) resource.push(['service.version', c.version]);
    // The empty key sets the tenant-hashing salt; the module checks it as the native SDK does
    // (on a refusal, the finalizer frees the module's state).
    if (c.salt !== undefined) resource.push(['', c.salt]);
    // One value per key: the named options win over the same key in options.attributes.
    for (const [k, v] of new Map(c.attributes.concat(resource))) {
      if (!this.s.resource(k, v)) throw new HeartbeatError('invalid_options', this.s.error());
    }
    const every = () => this.guard_(() => this.send(false) && this.drain_());
    this.every_ = () => {
      clearInterval(this.timer_);
      this.timer_ = setInterval(every, c.interval);
    };
    this.every_();
    this.off_.push(() => clearInterval(this.timer_));
    const origin = originOf(c.url);
    const [seen, off] = spy((e) => e.effectiveDirective === 'connect-src' && e.blockedURI.startsWith(origin));
    this.csp_ = seen;
    this.off_.push(off);
    if (doc()) {
      this.on_(doc(), 'visibilitychange', () => this.shown_());
      this.on_(globalThis, 'pageshow', () => this.shown_());
      this.on_(globalThis, 'pagehide', () => this.hide_(true));
      this.on_(globalThis, 'online', () => this.send(false) && this.drain_());
    }
    this.drain_();
  }

  /** False after shutdown() or an internal failure: every call then records nothing. */
  get enabled() {
    return this.s !== null;
  }

  on_(target, type, f) {
    const h = () => this.guard_(f);
    target.addEventListener(type, h);
    this.off_.push(() => target.removeEventListener(type, h));
  }

  /** Runs f; an exception is reported, never thrown. */
  guard_(f) {
    try {
      return f();
    } catch (e) {
      this.fail_(e);
    }
  }

  /** Reports an error; a failure of the module itself stops recording. */
  fail_(e) {
    if (!(e instanceof HeartbeatError)) {
      if (e instanceof WebAssembly.RuntimeError) this.close_();
      e = new HeartbeatError('internal', `Heartbeat failed: ${text(e)}`, e);
    }
    tell(this.c, e);
  }

  /**
   * Declares an outcome: name, fixed attributes and failure reasons. On bad input, reports a
   * HeartbeatError and returns a handle that records nothing.
   */
  outcome(name, options) {
    const i = this.guard_(() => {
      const s = this.s;
      const C = 'invalid_outcome';
      const what = `outcome(${typeof name === 'string' ? quote(name) : 'name'})`;
      check(typeof name === 'string', C, `${what} name`, 'a string', name);
      check(options === undefined || isObject(options), C, `${what} options`, 'an object', options);
      const o = options || {};
      const attributes = strings(o.attributes, `${what} attributes`, C);
      const reasons = o.reasons ?? [];
      check(Array.isArray(reasons) && reasons.every((r) => typeof r === 'string'), C, `${what} reasons`, 'an array of strings', reasons);
      const limit = integer(o.tenantLimit, `${what} tenantLimit`, 1, 1e6, 0, C);
      if (s === null) return -1;
      const key = JSON.stringify([name, attributes, reasons, limit]);
      let i = this.declared_.get(key);
      if (i === undefined) {
        s.outcome(name);
        for (const [k, v] of attributes) s.part(k, v);
        for (const r of reasons) s.part('', r);
        i = s.declare(limit);
        if (i < 0) throw new HeartbeatError(C, s.error());
        this.declared_.set(key, i);
      }
      return i;
    });
    return new Outcome(this, i ?? -1);
  }

  /**
   * Starts a heartbeat: one beat per cadence while the page is visible and `usable()` (if
   * given) returns true; paused while hidden or in the back/forward cache. On bad input,
   * reports a HeartbeatError and returns a handle that beats nothing.
   */
  heartbeat(name = 'browser', options) {
    return (
      this.guard_(() => {
        const C = 'invalid_heartbeat';
        const what = `heartbeat(${typeof name === 'string' ? quote(name) : 'name'})`;
        check(typeof name === 'string', C, `${what} name`, 'a string', name);
        check(options === undefined || isObject(options), C, `${what} options`, 'an object', options);
        const o = options || {};
        const cadence = integer(o.cadenceMs, `${what} cadenceMs`, 100, MAX_MS, 10000, C);
        check(o.usable === undefined || typeof o.usable === 'function', C, `${what} usable`, 'a function returning a boolean', o.usable);
        if (this.s === null) return undefined;
        const i = this.s.emitter(name);
        if (i < 0) throw new HeartbeatError(C, this.s.error());
        const beat = new Beat(this, i, cadence, o.usable);
        this.beats_.add(beat);
        beat.arm_();
        return beat;
      }) || new Beat(this, -1)
    );
  }

  shown_() {
    const shown = visible();
    for (const b of this.beats_) shown ? b.arm_() : b.pause_();
    shown ? this.drain_() : this.hide_(false);
  }

  /**
   * The page is hidden (`final`: or being left): send what is unsent now with a keepalive
   * fetch, which outlives the page and, unlike sendBeacon, sends no cookies, takes headers and
   * is acknowledged (docs/browser.md). On pagehide, a batch still in flight is taken as
   * delivered, so that the final batch does not carry its counts a second time.
   */
  hide_(final) {
    const s = this.s;
    if (s === null) return;
    if (final) {
      for (const b of this.beats_) b.pause_();
      // A stored batch being sent is taken as delivered too: it is no longer stored.
      if (this.claim_ !== undefined) update(this.claim_, () => false);
      this.claim_ = undefined;
    }
    if (this.seq_ !== undefined) {
      if (!final) {
        this.again_ = true;
        return;
      }
      s.settle(this.seq_, true);
      this.seq_ = undefined;
    }
    // Offline, or the collector failing: the counts go to the offline buffer, for the next
    // page load (or this page, back online) to send.
    if (!online() || this.failures_ > 0) return this.stash_();
    this.send(false, true);
  }

  /**
   * Moves what is unsent into the offline buffer (localStorage): committed here, so that this
   * page, should it live on, does not send the counts a second time.
   */
  stash_() {
    const s = this.s;
    const body = s.collect(false);
    if (body === undefined) return;
    const seq = s.seq();
    let dropped = 0;
    try {
      const list = stored();
      list.push({ u: this.c.url, b: body, t: 0, i: `${Date.now()}-${Math.random()}` });
      let size = list.reduce((n, e) => n + e.b.length, 0);
      while (size > STORE_MAX_CHARS && list.length > 0) size -= (dropped = list.shift().b.length);
      save(list);
      s.settle(seq, true);
    } catch (e) {
      s.settle(seq, false);
      return tell(this.c, new HeartbeatError('export_failed', `could not keep unsent counts in localStorage (${text(e)}); they are lost if the page closes`, e));
    }
    if (dropped) tell(this.c, new HeartbeatError('export_rejected', `the offline buffer is full (${STORE_MAX_CHARS} characters): its oldest batch is dropped`));
  }

  /**
   * Sends the offline buffer's batches for this collector, one at a time, each claimed so
   * another tab leaves it alone and removed once the collector accepted (or refused) it.
   * Resolves when the buffer holds none left to send now.
   */
  drain_() {
    if (this.draining_ || this.s === null || !online() || Date.now() < this.retryAt) return this.draining_;
    let entry;
    try {
      const list = stored();
      const at = Date.now();
      entry = list.find((e) => e.u === this.c.url && !(at - e.t < CLAIM_MS));
      if (!entry) return;
      entry.t = at;
      save(list);
    } catch {
      return;
    }
    const id = (this.claim_ = entry.i);
    return (this.draining_ = this.post_(entry.b).then(
      (res) => this.guard_(() => {
        this.draining_ = undefined;
        if (this.claim_ !== id) return;
        this.claim_ = undefined;
        const done = this.answer_(res) !== undefined;
        update(id, (e) => (done ? false : void (e.t = 0)));
        return done && this.drain_();
      }),
    ));
  }

  /**
   * Posts the next batch unless one is in flight, the collector asked to wait, or the browser
   * is offline (nothing is lost: the next batch carries the counts). Resolves to true when the
   * batch was accepted or there was nothing to send.
   */
  send(force, now = false) {
    const s = this.s;
    if (s === null) return Promise.resolve(false);
    if (this.sending_) return this.sending_;
    if (!now && (Date.now() < this.retryAt || !online())) return Promise.resolve(false);
    const body = s.collect(force);
    if (body === undefined) return Promise.resolve(true);
    const seq = (this.seq_ = s.seq());
    const p = this.post_(body).then((res) => this.guard_(() => this.settle_(seq, res)));
    return (this.sending_ = p);
  }

  /**
   * POSTs one batch; resolves to the Response, or to the Error of a request that failed
   * (after a turn of the event loop, for a CSP violation event to name the directive).
   */
  post_(body) {
    const abort = new AbortController();
    const t = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    return fetch(this.c.url, {
      method: 'POST',
      body,
      headers: Object.fromEntries([['Content-Type', 'application/json'], ...this.c.headers]),
      credentials: 'omit',
      mode: 'cors',
      keepalive: body.length <= KEEPALIVE_MAX_BYTES,
      signal: abort.signal,
    })
      .catch((e) => tick().then(() => (e instanceof Error ? e : new Error(text(e)))))
      .finally(() => clearTimeout(t));
  }

  /**
   * Reads the collector's answer: true (accepted), false (refused, not retryable: drop the
   * batch) or undefined (retry later, after the backoff it sets); reports the failures.
   */
  answer_(res) {
    if (res.ok) {
      this.failures_ = this.retryAt = 0;
      return true;
    }
    if (res.status && !retryable(res.status)) {
      // OTLP: other answers must not be retried; commit the batch so it is not resent forever.
      tell(this.c, new HeartbeatError('export_rejected', `the collector refused a batch with HTTP ${res.status}; its counts are dropped (not retryable)`));
      return false;
    }
    const backoff = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** this.failures_++) * (0.5 + Math.random() / 2);
    const wait = retryAfterMs(res.headers?.get('Retry-After')) ?? backoff;
    this.retryAt = Date.now() + wait;
    const csp = this.csp_.size ? `: the page's Content-Security-Policy blocks it, allow ${originOf(this.c.url)} in connect-src` : '';
    const why = res.status ? `HTTP ${res.status}` : `a network error (${text(res)}${csp})`;
    tell(this.c, new HeartbeatError('export_failed', `export failed with ${why}; retrying in ${Math.round(wait)} ms, nothing is lost`, res.status ? undefined : res));
  }

  settle_(seq, res) {
    this.sending_ = undefined;
    if (this.seq_ === seq) this.seq_ = undefined;
    const s = this.s;
    if (s === null) return false;
    const ok = this.answer_(res);
    // Accepted or refused: commit (a refused batch is not resent forever); else the next
    // batch carries its counts again.
    s.settle(seq, ok !== undefined);
    if (ok) this.drain_();
    if (this.soon__) {
      this.soon__ = false;
      this.soon_();
    }
    if (this.again_) {
      this.again_ = false;
      if (!visible()) this.guard_(() => this.hide_(false));
    }
    return ok === true;
  }

  /**
   * A beat, or a heartbeat's change of state, goes out at once, as the native dead-man sends it
   * (HB-045: a 10 s heartbeat behind a 60 s export interval would otherwise be detected late),
   * or as soon as the batch in flight lands. The export interval restarts from that batch, so a
   * cadence equal to the interval still makes one request per interval.
   */
  soon_() {
    if (this.sending_) return void (this.soon__ = true);
    // Called from fail(), recover() and stop() too: nothing may throw into the page.
    this.guard_(() => this.send(false) && this.sending_ && this.every_());
  }

  /** Sends everything recorded so far (and the offline buffer); resolves to true once the collector accepted it. */
  async flush() {
    try {
      await this.sending_;
      const ok = (await this.send(false, true)) === true;
      await this.drain_();
      return ok;
    } catch (e) {
      this.fail_(e);
      return false;
    }
  }

  close_() {
    // Recording ends first: a module that trapped is not called again while the beats stop.
    const s = this.s;
    this.s = null;
    for (const b of this.beats_) b.stop();
    for (const off of this.off_.splice(0)) off();
    return s;
  }

  /** Stops heartbeats, timers and listeners, sends what is unsent, and frees the module's memory. */
  async shutdown() {
    if (this.s === null) return false;
    for (const b of this.beats_) b.stop();
    const ok = await this.flush();
    this.guard_(() => this.close_()?.free());
    return ok;
  }
}

/** A declared outcome: record each customer job as a success or a failure. */
export class Outcome {
  constructor(h, i) {
    this.h_ = h;
    this.i_ = i;
  }

  /** Records one success. */
  success() {
    const s = this.h_.s;
    if (s !== null && this.i_ >= 0) {
      try {
        s.success(this.i_);
      } catch (e) {
        this.h_.fail_(e);
      }
    }
  }

  /** Records one failure, with a reason from the declared set (others count as "other"). */
  failure(reason) {
    this.record_(true, reason);
  }

  /** Records a success when `ok` is true, else a failure with `reason`. */
  record(ok, reason) {
    ok ? this.success() : this.failure(reason);
  }

  /**
   * Records the outcome of a promise (resolved: success; rejected: failure with `reason`, or
   * `reason(error)`) and returns a promise that settles as it does.
   */
  observe(promise, reason) {
    return observe(this, promise, reason);
  }

  /** This outcome for one customer (tenant): the drill-down series. */
  tenant(id) {
    return new TenantOutcome(this, id);
  }

  record_(failed, reason, tenant, tenanted) {
    const h = this.h_;
    const s = h.s;
    if (s === null || this.i_ < 0) return;
    try {
      let r = reason ?? ''; // "" is "unspecified"
      if (typeof r !== 'string') {
        r = 'other';
        tell(h.c, must('invalid_argument', 'failure(reason) reason', 'a string (counted as "other")', kind(reason)));
      }
      if (!tenanted) return s.failure(this.i_, r);
      let t = tenant;
      if (typeof t !== 'string') {
        t = '';
        tell(h.c, must('invalid_argument', 'tenant(id) id', 'a string (counted in "_overflow")', kind(tenant)));
      }
      s.tenant(this.i_, t, failed, r);
    } catch (e) {
      h.fail_(e);
    }
  }
}

/** One customer's view of an outcome. */
export class TenantOutcome {
  constructor(o, id) {
    this.o_ = o;
    this.t_ = id;
  }

  /** Records one success for this tenant. */
  success() {
    this.o_.record_(false, undefined, this.t_, true);
  }

  /** Records one failure for this tenant, with an optional reason. */
  failure(reason) {
    this.o_.record_(true, reason, this.t_, true);
  }

  /** Records a success when `ok` is true, else a failure with `reason`. */
  record(ok, reason) {
    ok ? this.success() : this.failure(reason);
  }

  /** As Outcome.observe, for this tenant. */
  observe(promise, reason) {
    return observe(this, promise, reason);
  }
}

/** Outcome.observe: `o` records; the host's promise is handed back untouched. */
function observe(o, promise, reason) {
  const p = Promise.resolve(promise);
  p.then(
    () => o.success(),
    (e) => {
      let r = reason;
      if (typeof r === 'function') {
        try {
          r = r(e);
        } catch (err) {
          r = undefined;
          tell(o.h_?.c ?? o.o_.h_.c, new HeartbeatError('invalid_argument', `observe() reason callback threw: ${text(err)}; counted as "unspecified"`, err));
        }
      }
      o.failure(r);
    },
  );
  return p;
}

/** A running heartbeat (`heartbeat.beats`). */
export class Beat {
  constructor(h, i, cadence, usable) {
    this.h_ = h;
    this.i_ = i;
    this.cadence_ = cadence;
    this.usable_ = usable;
    this.origin_ = now();
    this.n_ = 0; // the next tick, due at origin + n × cadence
    this.timer_ = undefined;
    this.paused_ = false;
    this.running_ = i >= 0;
    this.count_ = 0;
    this.failed_ = undefined; // the reason given to fail()
    this.gate_ = ''; // 'gate_failed' while usable() says no
  }

  /**
   * Reports this heartbeat failing (`heartbeat.emitter.status` 1 with `reason`, snake_case,
   * default `gate_failed`): beats are held until recover().
   */
  fail(reason = 'gate_failed') {
    if (typeof reason !== 'string') {
      tell(this.h_.c, must('invalid_argument', 'fail(reason) reason', 'a snake_case string (sent as "other")', kind(reason)));
      reason = 'other';
    }
    this.failed_ = reason;
    this.status_();
    if (this.running_) this.h_.soon_();
  }

  /** Ends a fail(): the heartbeat beats again (status 0) while the page is usable. */
  recover() {
    this.failed_ = undefined;
    this.status_();
    if (this.running_) this.h_.soon_();
  }

  /** Tells the module this heartbeat's state. */
  status_() {
    const s = this.h_.s;
    const r = this.failed_ ?? this.gate_;
    if (this.running_ && s !== null && !this.h_.guard_(() => s.fail(this.i_, r)) && r) {
      tell(this.h_.c, must('invalid_argument', 'fail(reason) reason', 'snake_case, 1 to 63 bytes (sent as "other")', quote(r)));
    }
  }

  /** Beats this handle counted. */
  get count() {
    return this.count_;
  }

  /** Schedules the next tick on the cadence grid, while running and visible. */
  arm_() {
    if (!this.running_ || this.timer_ !== undefined) return;
    if (!visible()) return void (this.paused_ = true);
    const t = now();
    // After a pause, resume at the next tick of the grid: never a burst of missed beats.
    if (this.paused_) this.n_ = Math.max(this.n_, Math.ceil((t - this.origin_) / this.cadence_));
    this.paused_ = false;
    const due = this.origin_ + this.n_ * this.cadence_;
    this.timer_ = setTimeout(() => this.h_.guard_(() => this.tick_()), Math.max(0, due - t));
  }

  pause_() {
    clearTimeout(this.timer_);
    this.timer_ = undefined;
    this.paused_ = true;
  }

  tick_() {
    this.timer_ = undefined;
    const s = this.h_.s;
    if (!this.running_ || s === null) return;
    // A late timer (a busy or throttled page) fires once and skips the ticks it missed.
    this.n_ = Math.max(this.n_, Math.floor((now() - this.origin_) / this.cadence_)) + 1;
    if (visible()) {
      // The native gate: a page that is not usable reports `gate_failed` and holds its beats.
      const usable = this.usable__();
      const gate = usable ? '' : 'gate_failed';
      const changed = gate !== this.gate_;
      if (changed) {
        this.gate_ = gate;
        this.status_();
      }
      if (usable && s.beat(this.i_, false)) this.count_++;
      if (usable || changed) this.h_.soon_();
    }
    this.arm_();
  }

  usable__() {
    try {
      return !this.usable_ || this.usable_() === true;
    } catch (e) {
      tell(this.h_.c, new HeartbeatError('gate_failed', `heartbeat usable() threw: ${text(e)}; no beat`, e));
      return false;
    }
  }

  /** Stops beating: the count so far is still reported, and the status is 2 (stopped on purpose). */
  stop() {
    if (!this.running_) return;
    this.running_ = false;
    this.pause_();
    this.h_.beats_.delete(this);
    const s = this.h_.s;
    if (s !== null) this.h_.guard_(() => s.beat(this.i_, true));
    this.h_.soon_();
  }
}
