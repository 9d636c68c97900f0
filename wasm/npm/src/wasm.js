// The WebAssembly module's loader and its one class, by hand instead of wasm-bindgen's
// generated glue (a fifth of the package, gzipped; docs/benchmarks.md). The module's side of
// the contract is wasm/src/abi.rs: plain exports over numbers, strings written into the
// page's input buffer as UTF-8, strings returned as a length and `hb_out`'s address.

let w; // the module's exports, once loaded
const enc = new TextEncoder();
const dec = new TextDecoder();
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

  /** Writes the strings into the page's input buffer; returns their lengths in bytes. */
  put_(...strings) {
    const cap = strings.reduce((n, s) => n + s.length * 3, 0);
    const at = w.hb_buf(this.p, cap);
    let n = 0;
    return strings.map((s) => {
      const { written } = enc.encodeInto(s, new Uint8Array(w.memory.buffer, at + n, cap - n));
      n += written;
      return written;
    });
  }

  /** The string the last call returned, if its length `n` is not negative. */
  out_(n) {
    return n < 0 ? undefined : dec.decode(new Uint8Array(w.memory.buffer, w.hb_out(this.p), n));
  }

  resource(k, v) {
    return !!w.hb_resource(this.p, ...this.put_(k, v));
  }

  outcome(name) {
    w.hb_outcome(this.p, ...this.put_(name));
  }

  part(k, v) {
    w.hb_part(this.p, ...this.put_(k, v));
  }

  declare(tenantLimit) {
    return w.hb_declare(this.p, tenantLimit);
  }

  success(i) {
    w.hb_success(this.p, i);
  }

  failure(i, reason) {
    w.hb_failure(this.p, i, ...this.put_(reason));
  }

  tenant(i, tenant, failed, reason) {
    w.hb_tenant(this.p, i, ...this.put_(tenant, reason), failed);
  }

  emitter(name) {
    return w.hb_emitter(this.p, ...this.put_(name));
  }

  beat(i, stop) {
    return !!w.hb_beat(this.p, i, stop);
  }

  fail(i, reason) {
    return !!w.hb_fail(this.p, i, ...this.put_(reason));
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
