// The WebAssembly module's loader and its one class, by hand instead of wasm-bindgen's
// generated glue (which, with its shims in the module, was 2.6 KB of the 19.8 KB package,
// gzipped; docs/benchmarks.md). The module's side of the contract is wasm/src/abi.rs: plain
// exports over numbers, strings written into the page's input buffer as UTF-8, strings
// returned as a length and `hb_out`'s address.

let w; // the module's exports, once loaded
const enc = new TextEncoder();
const dec = new TextDecoder();
// The module's memory as bytes, renewed when it grew: its old buffer is then detached, and
// reads as length 0 (cheaper to test than reading `memory.buffer` on every call).
let mem;
const bytes = () => (mem?.byteLength ? mem : (mem = new Uint8Array(w.memory.buffer)));
const pages = globalThis.FinalizationRegistry && new FinalizationRegistry((p) => w.hb_free(p));

/**
 * Loads the module once, from `src` (a URL or path, a Request, a Response, bytes or a compiled
 * WebAssembly.Module), by default the .wasm beside this file. Rejects with the cause.
 */
export default async function load(src = new URL('heartbeat_wasm_bg.wasm', import.meta.url)) {
  if (typeof src === 'string' || src instanceof URL || (typeof Request === 'function' && src instanceof Request)) src = fetch(src);
  src = await src;
  if (typeof Response === 'function' && src instanceof Response) {
    if (!src.ok) throw new Error(`failed to fetch Wasm: ${src.status} ${src.statusText} fetching '${src.url}'`);
    src = await src.arrayBuffer();
  }
  const r = await WebAssembly.instantiate(src, {});
  w = (r.instance || r).exports;
}

/** The state of one init() in the module (see wasm/src/sdk.rs for each method). */
export class Sdk {
  constructor(tenantLimit) {
    this.p = w.hb_new(tenantLimit, Date.now());
    pages?.register(this, this.p, this);
  }

  /**
   * Writes `s` into the page's input buffer as UTF-8, `at` bytes in (after the strings of the
   * same call before it), and returns its length in bytes: ASCII by a plain loop (far faster
   * than `encodeInto` for short strings), the rest from the first other character by
   * `encodeInto`.
   */
  put_(s, at = 0) {
    const cap = at + s.length * 3;
    const start = w.hb_buf(this.p, cap); // keeps the bytes before `at`
    const m = bytes();
    let i = 0;
    let n = start + at;
    for (let c; i < s.length && (c = s.charCodeAt(i)) < 128; i++) m[n++] = c;
    if (i < s.length) n += enc.encodeInto(s.slice(i), m.subarray(n, start + cap)).written;
    return n - start - at;
  }

  /** The string the last call returned, if its length `n` is not negative. */
  out_(n) {
    if (n < 0) return undefined;
    const at = w.hb_out(this.p);
    return dec.decode(bytes().subarray(at, at + n));
  }

  resource(k, v) {
    const n = this.put_(k);
    return !!w.hb_resource(this.p, n, this.put_(v, n));
  }

  outcome(name) {
    w.hb_outcome(this.p, this.put_(name));
  }

  part(k, v) {
    const n = this.put_(k);
    w.hb_part(this.p, n, this.put_(v, n));
  }

  declare(tenantLimit) {
    return w.hb_declare(this.p, tenantLimit);
  }

  success(i) {
    w.hb_success(this.p, i);
  }

  failure(i, reason) {
    w.hb_failure(this.p, i, this.put_(reason));
  }

  tenant(i, tenant, failed, reason) {
    const n = this.put_(tenant);
    w.hb_tenant(this.p, i, n, this.put_(reason, n), failed);
  }

  emitter(name) {
    return w.hb_emitter(this.p, this.put_(name));
  }

  beat(i, stop) {
    return !!w.hb_beat(this.p, i, stop);
  }

  fail(i, reason) {
    return !!w.hb_fail(this.p, i, this.put_(reason));
  }

  collect(force) {
    return this.out_(w.hb_collect(this.p, force, Date.now()));
  }

  seq() {
    return w.hb_seq(this.p) >>> 0;
  }

  settle(seq, delivered) {
    return !!w.hb_settle(this.p, seq, delivered);
  }

  error() {
    return this.out_(w.hb_error(this.p));
  }

  /** Frees the module's state; the object must not be used again. */
  free() {
    pages?.unregister(this);
    w.hb_free(this.p);
    this.p = 0;
  }
}
