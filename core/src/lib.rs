//! # heartbeat-core
//!
//! The runtime-free core of Heartbeat, shared by the native SDK (crate `heartbeat-sdk`, library
//! `heartbeat`) and the
//! browser build (`heartbeat-wasm`): outcomes and their hot-path counters, the [`Registry`],
//! per-tenant drill-down and tenant hashing, validation, the semantic conventions, the clock, the
//! OTLP [`Collector`] and the OTLP/protobuf and OTLP/JSON encoders. No async runtime, no I/O; it
//! compiles for `wasm32-unknown-unknown`.
//!
//! Most users depend on `heartbeat-sdk` (native) or `@heartbeat/web` (browsers), which re-export
//! what they need from here. See `docs/architecture.md` for the crates and their direction.
//!
//! ## Features
//!
//! | feature | default | what it turns on |
//! |---|---|---|
//! | `testing` | no | test doubles: `clock::ManualClock`, a clock your test moves by hand |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod clock;
mod counter;
mod health;
pub mod otlp;
pub mod outcome;
pub mod redact;
pub mod registry;
pub mod semconv;
pub mod tenant;
pub mod tenant_hash;
pub mod text;
pub mod tuning;
pub mod validate;

#[cfg(any(test, feature = "testing"))]
pub use crate::clock::ManualClock;
pub use crate::clock::{Clock, SystemClock};
pub use crate::health::RegistryHealth;
pub use crate::otlp::{
    AggregationTemporality, Batch, Collector, DataPoint, Encoded, Metric, MetricKind, encode_json,
    encode_protobuf,
};
pub use crate::outcome::{
    Outcome, OutcomeGuard, OutcomeResult, REASON_ABANDONED, REASON_OTHER, REASON_PANICKED,
    REASON_UNSPECIFIED, TenantOutcome,
};
pub use crate::registry::{OutcomeBuilder, Registry, RegistryBuilder, Series};
pub use crate::semconv::OVERFLOW_TENANT;
pub use crate::tenant::DEFAULT_TENANT_LIMIT;
pub use crate::tenant_hash::{MAX_SALT_LEN, TENANT_HASH_PREFIX, TenantHashError, TenantHasher};
pub use crate::validate::{MAX_NAME_LEN, MAX_REASON_LEN, MAX_REASONS, OutcomeError, Problem};
