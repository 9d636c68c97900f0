//! # heartbeat-wasm
//!
//! The browser surface of Heartbeat: outcome counters and a visible-page heartbeat for web
//! messengers and other code that runs inside someone else's page, shipped as the npm package
//! built from `wasm/npm/`. This crate is the WebAssembly half; the JavaScript half (`wasm/npm/src/`)
//! owns everything that touches the page: timers, `fetch`/`sendBeacon`, `visibilitychange` and
//! `pagehide`, retries and the error callback.
//!
//! The state lives here, and the browser sends exactly what the native SDK sends
//! (`docs/semantic-conventions.md`):
//!
//! - outcomes are counted with the native `Registry`'s semantics (validation and its messages,
//!   reserved reasons, tenant drill-down and the overflow series), on one thread without its
//!   thread-local shards, locks and hash maps, which would more than double the module; unit
//!   tests check both against each other, input for input;
//! - tenant ids are hashed, when the page asks (`hashTenants`), by the core's
//!   [`heartbeat_core::TenantHasher`] itself, so a browser and a native service send the same value
//!   for the same salt and id;
//! - the core's [`heartbeat_core::Collector`] (standalone, in delta temporality) turns the counts
//!   into batches and commits a batch's counts only when [`Sdk::ack`] says the collector
//!   accepted it, so nothing is lost while the browser is offline, and the buffer is bounded
//!   by the number of series;
//! - the core's [`heartbeat_core::encode_json`] writes the OTLP/JSON body, and this crate adds
//!   the `heartbeat.emitter.status` gauge to it (each page heartbeat's state: beating, failing
//!   with a reason, stopped), as the native dead-man emitter exports it.
//!
//! ```
//! use heartbeat_wasm::Sdk;
//!
//! let mut sdk = Sdk::new(0);
//! sdk.resource("service.name", "web-messenger");
//! sdk.outcome("message.send");
//! sdk.part("", "timeout"); // a failure reason
//! let send = sdk.declare(0);
//! assert!(send >= 0, "{}", sdk.error());
//! sdk.success(send as u32);
//!
//! let body = sdk.collect(false).expect("the first batch declares every series");
//! assert!(body.contains(r#""asInt":"1""#));
//! assert!(sdk.ack(sdk.seq())); // the collector answered 2xx: commit the delta
//! assert_eq!(sdk.collect(false), None); // nothing new: nothing to send
//! ```
//!
//! The JavaScript API, its options and its guarantees are documented in `wasm/npm/README.md`
//! and `docs/browser.md`. Supported Rust: 1.88 and later.
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(target_arch = "wasm32")]
mod abi;
mod clock;
mod emitters;
mod outcomes;
mod sdk;

/// The allocator of the browser build: a small free list that coalesces neighbours, instead of
/// std's dlmalloc (about 8 KB of code).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
#[allow(unsafe_code)]
// SAFETY: `wasm32-unknown-unknown` without the `atomics` feature has one thread, so the
// allocator is never entered concurrently (a lock would only cost bytes).
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

pub use crate::sdk::{Sdk, VERSION};
