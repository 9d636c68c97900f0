//! The module's exports: [`Sdk`] as plain functions over numbers, for the hand-written loader
//! of the npm package (`wasm/npm/src/wasm.js`), instead of `wasm-bindgen`'s class and glue.
//!
//! Why by hand: `wasm-bindgen`'s generated JavaScript (string passing, a class with a
//! finalizer, its loader) and its shims in the module (reference counting, borrow flags,
//! `malloc`/`realloc` exports, multi-value returns) were about 2.6 KB of the 19.8 KB package,
//! gzipped (docs/benchmarks.md). The contract with the loader is small:
//!
//! - `hb_new` returns the address of a [`Page`], the only handle; `hb_free` drops it. The
//!   loader never calls with an address it freed (a null one traps).
//! - Strings in: the loader asks `hb_buf(page, capacity)` for the page's input buffer (its
//!   address; a larger capacity keeps the bytes already written), writes each argument there
//!   as UTF-8 (ASCII by hand, the rest with `TextEncoder.encodeInto`: always valid UTF-8), one
//!   after the other, and passes their byte lengths.
//! - Strings out: an export that produces one (the body of a batch, an error message) keeps
//!   it in the page and returns its length in bytes (`-1`: none); `hb_out(page)` gives its
//!   address.
//! - Flags in: `0` is false, any other number true.
//! - Time in: `Date.now()` as milliseconds to `hb_new` and `hb_collect` (see
//!   [`crate::clock`]), so the module imports nothing.
//!
//! Compiled for `wasm32` only; the crate's Rust API ([`Sdk`]) is the same on every target.
#![allow(unsafe_code)]

use crate::clock::set_now;
use crate::sdk::Sdk;
use core::arch::wasm32::unreachable;

/// One `init()`'s state, and the buffers it shares with the loader.
pub(crate) struct Page {
    sdk: Sdk,
    /// Where the loader writes string arguments.
    input: Vec<u8>,
    /// The last string returned.
    out: String,
}

/// The page at `p`: a trap for a null address (the loader's use after `hb_free`).
fn page<'a>(p: *mut Page) -> &'a mut Page {
    // SAFETY: `p` is null or an address `hb_new` returned and `hb_free` has not freed (the
    // loader's contract). The module runs on one thread and calls nothing back, so no other
    // reference to the page is alive while an export runs.
    match unsafe { p.as_mut() } {
        Some(page) => page,
        None => unreachable(),
    }
}

/// The `n`-th string argument: the lengths in `lens` lie one after the other in `input`.
fn arg<'a>(input: &'a [u8], lens: &[usize], n: usize) -> &'a str {
    let start: usize = lens[..n].iter().sum();
    let bytes = input.get(start..start + lens[n]).unwrap_or_default();
    // SAFETY: the loader writes each argument as UTF-8: ASCII characters as their bytes, from
    // the first other one on with `TextEncoder.encodeInto`, which writes UTF-8 only (a lone
    // surrogate as U+FFFD) and whole characters only, into a buffer of three bytes per UTF-16
    // unit (room for all), and passes the number of bytes written.
    unsafe { core::str::from_utf8_unchecked(bytes) }
}

/// Keeps `s` for `hb_out` and returns its length.
fn give(page: &mut Page, s: String) -> i32 {
    page.out = s;
    i32::try_from(page.out.len()).unwrap_or(-1)
}

/// [`Sdk::new`] at `now_ms` (`Date.now()`).
#[unsafe(no_mangle)]
extern "C" fn hb_new(tenant_limit: u32, now_ms: f64) -> *mut Page {
    set_now(now_ms);
    Box::into_raw(Box::new(Page {
        sdk: Sdk::new(tenant_limit),
        input: Vec::new(),
        out: String::new(),
    }))
}

/// Drops the page at `p` (null: nothing).
#[unsafe(no_mangle)]
extern "C" fn hb_free(p: *mut Page) {
    if !p.is_null() {
        // SAFETY: `p` came from `Box::into_raw` in `hb_new`, and the loader frees it once.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// The page's input buffer, `capacity` bytes long, for the next call's strings (the bytes below
/// `capacity` that it held are kept).
#[unsafe(no_mangle)]
extern "C" fn hb_buf(p: *mut Page, capacity: usize) -> *mut u8 {
    let input = &mut page(p).input;
    input.resize(capacity, 0);
    input.as_mut_ptr()
}

/// The address of the last string returned.
#[unsafe(no_mangle)]
extern "C" fn hb_out(p: *mut Page) -> *const u8 {
    page(p).out.as_ptr()
}

/// [`Sdk::resource`] with the strings `key`, `value`.
#[unsafe(no_mangle)]
extern "C" fn hb_resource(p: *mut Page, key: usize, value: usize) -> bool {
    let Page { sdk, input, .. } = page(p);
    let l = [key, value];
    sdk.resource(arg(input, &l, 0), arg(input, &l, 1))
}

/// [`Sdk::outcome`] with the string `name`.
#[unsafe(no_mangle)]
extern "C" fn hb_outcome(p: *mut Page, name: usize) {
    let Page { sdk, input, .. } = page(p);
    sdk.outcome(arg(input, &[name], 0));
}

/// [`Sdk::part`] with the strings `key`, `value`.
#[unsafe(no_mangle)]
extern "C" fn hb_part(p: *mut Page, key: usize, value: usize) {
    let Page { sdk, input, .. } = page(p);
    let l = [key, value];
    sdk.part(arg(input, &l, 0), arg(input, &l, 1));
}

/// [`Sdk::declare`].
#[unsafe(no_mangle)]
extern "C" fn hb_declare(p: *mut Page, tenant_limit: u32) -> i32 {
    page(p).sdk.declare(tenant_limit)
}

/// [`Sdk::success`].
#[unsafe(no_mangle)]
extern "C" fn hb_success(p: *mut Page, i: u32) {
    page(p).sdk.success(i);
}

/// [`Sdk::failure`] with the string `reason`.
#[unsafe(no_mangle)]
extern "C" fn hb_failure(p: *mut Page, i: u32, reason: usize) {
    let Page { sdk, input, .. } = page(p);
    sdk.failure(i, arg(input, &[reason], 0));
}

/// [`Sdk::tenant`] with the strings `tenant`, `reason`.
#[unsafe(no_mangle)]
extern "C" fn hb_tenant(p: *mut Page, i: u32, tenant: usize, reason: usize, failed: u32) {
    let Page { sdk, input, .. } = page(p);
    let l = [tenant, reason];
    sdk.tenant(i, arg(input, &l, 0), failed != 0, arg(input, &l, 1));
}

/// [`Sdk::emitter`] with the string `name`.
#[unsafe(no_mangle)]
extern "C" fn hb_emitter(p: *mut Page, name: usize) -> i32 {
    let Page { sdk, input, .. } = page(p);
    sdk.emitter(arg(input, &[name], 0))
}

/// [`Sdk::beat`].
#[unsafe(no_mangle)]
extern "C" fn hb_beat(p: *mut Page, i: u32, stop: u32) -> bool {
    page(p).sdk.beat(i, stop != 0)
}

/// [`Sdk::fail`] with the string `reason`.
#[unsafe(no_mangle)]
extern "C" fn hb_fail(p: *mut Page, i: u32, reason: usize) -> bool {
    let Page { sdk, input, .. } = page(p);
    sdk.fail(i, arg(input, &[reason], 0))
}

/// [`Sdk::collect`] at `now_ms` (`Date.now()`): the body's length (`hb_out`), or `-1`.
#[unsafe(no_mangle)]
extern "C" fn hb_collect(p: *mut Page, force: u32, now_ms: f64) -> i32 {
    set_now(now_ms);
    let page = page(p);
    match page.sdk.collect(force != 0) {
        Some(body) => give(page, body),
        None => -1,
    }
}

/// [`Sdk::seq`].
#[unsafe(no_mangle)]
extern "C" fn hb_seq(p: *mut Page) -> u32 {
    page(p).sdk.seq()
}

/// [`Sdk::settle`].
#[unsafe(no_mangle)]
extern "C" fn hb_settle(p: *mut Page, seq: u32, delivered: u32) -> bool {
    page(p).sdk.settle(seq, delivered != 0)
}

/// [`Sdk::error`]: the message's length (`hb_out`).
#[unsafe(no_mangle)]
extern "C" fn hb_error(p: *mut Page) -> i32 {
    let page = page(p);
    let e = page.sdk.error();
    give(page, e)
}
