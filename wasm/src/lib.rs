//! # heartbeat-wasm
//!
//! The browser surface of Heartbeat: outcome counters and a visible-page heartbeat for web
//! messengers and other code that runs inside someone else's page, shipped as the npm package
//! built from `wasm/npm/`. This crate is the WebAssembly half; the JavaScript half (`wasm/npm/src/`)
//! owns everything that touches the page: timers, `fetch`/`sendBeacon`, `visibilitychange` and
//! `pagehide`, retries and the error callback.
//!
//! The state lives here and reuses the sdk's runtime-free core unchanged, so the browser sends
//! exactly what the native SDK sends (`docs/semantic-conventions.md`):
//!
//! - [`heartbeat::Registry`] and [`heartbeat::Outcome`] count outcomes, with the same
//!   validation, reasons, tenant drill-down and overflow series as on the server;
//! - [`heartbeat::Collector`] in delta temporality turns them into batches and commits a
//!   batch's counts only when [`Sdk::ack`] says the collector accepted it, so nothing is lost
//!   while the browser is offline, and the buffer is bounded by the number of series;
//! - [`heartbeat::encode_json`] writes the OTLP/JSON body.
//!
//! ```
//! use heartbeat_wasm::Sdk;
//!
//! let mut sdk = Sdk::new(0);
//! sdk.resource("service.name", "web-messenger");
//! sdk.outcome("message.send");
//! sdk.reason("timeout");
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

mod emitters;
mod sdk;

pub use crate::sdk::{DESCRIPTION_BEATS, DESCRIPTION_INPUTS_CORRECTED, Sdk, version};
