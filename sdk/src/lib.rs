//! # Heartbeat
//!
//! Outcome ("heartbeat") metrics for Rust services: count the customer jobs your service exists
//! for (message sent, reply delivered, AI answer produced) as success and failure, at the cost
//! of a thread-local store, and export them over OTLP to any OpenTelemetry pipeline; and a
//! dead-man's switch that beats while the service is healthy, so its silence pages.
//!
//! ```toml
//! [dependencies]
//! heartbeat-sdk = "0.1" # the package; the library is `heartbeat`
//! ```
//!
//! ```no_run
//! # #[cfg(feature = "export")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let hb = heartbeat::Heartbeat::builder()
//!     .with_service_name("messenger-api")
//!     .with_endpoint("http://127.0.0.1:4318")
//!     .install()?; // spawns the export driver on the current tokio runtime
//!
//! let send = hb
//!     .outcome("message.send")
//!     .with_attribute("surface", "web_messenger")
//!     .with_reasons(["timeout", "rejected"])
//!     .build()?;
//!
//! send.success(); // the hot path: no lock, no allocation, no shared cache line
//! send.failure_with("timeout");
//! send.success_for("acme"); // per-tenant drill-down, bounded by a cardinality limit
//!
//! hb.shutdown().await?; // flushes within its deadline
//! # Ok(()) }
//! ```
//!
//! ## The dead-man switch
//!
//! [`Heartbeat::deadman`] starts an emitter that beats on a cadence while a health gate says the
//! service is usable: the beats travel the OTLP pipeline (and, with [`PingConfig`], straight to
//! an external channel such as healthchecks.io), and the watch pages when they stop. A crash, a
//! hung runtime or a dead network is silence; a planned stop says so, so a deploy does not page.
//!
//! ```no_run
//! # #[cfg(feature = "export")]
//! # async fn run(hb: heartbeat::Heartbeat) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//!
//! let beat = hb
//!     .deadman("api")
//!     .with_cadence(Duration::from_secs(10))
//!     .with_gate(|| true) // beat only while minimally healthy (a `bool` or a `Result`)
//!     .with_ping(heartbeat::PingConfig::new("https://hc-ping.com/your-uuid")?)
//!     .start()?;
//! // ... on a planned stop:
//! beat.stop().await?;
//! # Ok(()) }
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `grpc` | yes | OTLP/gRPC export (tonic) |
//! | `http-proto` | yes | OTLP/HTTP with protobuf bodies |
//! | `http-json` | yes | OTLP/HTTP with JSON bodies |
//! | `gzip` | yes | gzip compression |
//! | `tls` | yes | `https://` for OTLP and pings: rustls (ring), certificates verified against the system's roots or your CA |
//! | `export` | (by the above) | the [`Heartbeat`] pipeline on tokio and the [`Deadman`] emitter: the core collector and encoders, this crate's transports; `opentelemetry_sdk` for what is registered on its meter and for attaching to an application's `SdkMeterProvider` |
//! | `metrics` | no | a `metrics::Recorder` bridge ([`MetricsRecorder`]) for `counter!`/`gauge!`/`histogram!` |
//! | `tower` | no | [`layer::HeartbeatLayer`]: one outcome per request of any tower stack (HTTP status or gRPC status; tonic) |
//! | `axum` | no | with `tower`: axum's `MatchedPath` (the route template) names each request's outcome |
//! | `macros` | no | [`macro@outcome`] on functions returning `Result`, `#[derive(OutcomeReason)]`, [`set_global`] (builds for `wasm32` too, with [`set_global_registry`]) |
//! | `testing` | no | [`clock::ManualClock`] and other test doubles |
//!
//! With default features off, only the runtime-free core ([`Registry`], [`Outcome`],
//! [`clock::Clock`], [`otlp`]) is built; it compiles for `wasm32-unknown-unknown`. On docs.rs,
//! each item that needs a feature says which.
//!
//! ## What is where
//!
//! The root holds what an application calls: the pipeline and its builder, outcomes and their
//! tenants, the dead-man emitter, the errors, export health, the macros and the layer. One
//! module down: [`otlp`] (the collector and encoders, for custom transports and tests),
//! [`limits`] (lengths, cadences, default timeouts), [`tenant`] (the tenant bound and hashing),
//! [`clock`], [`env`](mod@env) (the environment variables read), [`semconv`] (every metric and
//! attribute name) and [`tuning`] (the watchdog's detection calculator).
//!
//! ## What the SDK tells you
//!
//! A failed export (target `heartbeat::export`: the URL with credentials and query hidden, the
//! reason, the cause), a failed dead-man ping (`heartbeat::deadman`: the channel's origin only)
//! and an unrecognised `OTEL_SDK_DISABLED` (`heartbeat::config`) are `tracing` events at WARN:
//! nothing is printed unless your subscriber listens. [`Heartbeat::export_health`] counts the
//! same failures. In debug builds, a failure reason that was not declared prints a warning to
//! stderr once per outcome and reason (it is counted as `other`).
//!
//! The wire contract (names, units, attributes) is in [`semconv`] and
//! `docs/semantic-conventions.md`. Supported Rust: 1.88 and later.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(feature = "export")]
mod deadman;
#[cfg(feature = "export")]
mod export;
#[cfg(feature = "macros")]
mod global;
#[cfg(feature = "tower")]
pub mod layer;
#[cfg(feature = "macros")]
mod macro_support;
#[cfg(feature = "metrics")]
mod metrics_bridge;
#[cfg(feature = "macros")]
mod reason;
pub use heartbeat_core::semconv;

/// The watchdog tuning calculator: detection latency and false pages for a cadence, a window,
/// a threshold, a hold and a loss rate, or for a `max_silence` (see `docs/alerting.md`).
pub mod tuning {
    pub use heartbeat_core::tuning::{
        Detection, Silence, TuningError, detection, detection_with_hold, recommend_max_silence,
        silence,
    };
}

/// The environment variables the builder reads: the standard `OTEL_*` ones and
/// [`HEARTBEAT_TENANT_HASH_SALT`](env::HEARTBEAT_TENANT_HASH_SALT).
#[cfg(feature = "export")]
pub mod env {
    pub use crate::export::env::{
        HEARTBEAT_TENANT_HASH_SALT, OTEL_EXPORTER_OTLP_CERTIFICATE, OTEL_EXPORTER_OTLP_COMPRESSION,
        OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS,
        OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE, OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_METRICS_HEADERS,
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE,
        OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, OTEL_EXPORTER_OTLP_PROTOCOL,
        OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_METRIC_EXPORT_INTERVAL, OTEL_METRIC_EXPORT_TIMEOUT,
        OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED, OTEL_SERVICE_NAME,
    };
}

// The root: what an application calls. Encoder internals, limits, clocks and tenant hashing
// are one module down (`otlp`, `limits`, `clock`, `tenant`).

#[cfg(feature = "export")]
pub use crate::export::{
    Driver, ExportFailure, ExportHealth, Heartbeat,
    config::{Compression, HeartbeatBuilder, Protocol, Retry, Temporality},
    error::{BuildError, ExportError, InstallError},
};
#[cfg(feature = "metrics")]
pub use crate::metrics_bridge::MetricsRecorder;

#[cfg(all(feature = "macros", feature = "export"))]
pub use crate::global::set_global;
#[cfg(feature = "macros")]
pub use crate::global::{SetGlobalError, set_global_registry};
#[cfg(feature = "macros")]
pub use crate::reason::OutcomeReason;
/// `#[heartbeat::outcome]`: counts a function returning `Result` as an outcome (feature
/// `macros`); see [`macro@outcome`]. `#[derive(OutcomeReason)]`: an error enum's variant
/// names (snake case) as its failure reasons.
#[cfg(feature = "macros")]
pub use heartbeat_macros::{OutcomeReason, outcome};

/// What the macros expand to. Not an API.
#[cfg(feature = "macros")]
#[doc(hidden)]
pub mod __private {
    pub use crate::macro_support::*;
}

#[cfg(feature = "export")]
pub use crate::deadman::beat::{EmitterStatus, FailReason};
#[cfg(feature = "export")]
pub use crate::deadman::{
    Deadman, DeadmanBuilder, DeadmanError, DeadmanHealth, GateOutput, InvalidCertificate,
    InvalidPingUrl, PingConfig, StopError,
};

pub use heartbeat_core::RegistryHealth;
pub use heartbeat_core::outcome::{Outcome, OutcomeGuard, OutcomeResult, TenantOutcome};
pub use heartbeat_core::registry::{OutcomeBuilder, Registry, RegistryBuilder};
pub use heartbeat_core::validate::OutcomeError;

/// The clock every timestamp and window goes through: [`SystemClock`](clock::SystemClock) in
/// production, [`ManualClock`](clock::ManualClock) (feature `testing`) or your own
/// [`Clock`](clock::Clock) in tests.
pub mod clock {
    #[cfg(any(test, feature = "testing"))]
    pub use heartbeat_core::clock::ManualClock;
    pub use heartbeat_core::clock::{Clock, SystemClock};
}

/// Per-tenant drill-down: the bound on distinct tenants per outcome, the series that counts the
/// rest, and the keyed hash that replaces tenant ids before they leave the process (see
/// `HeartbeatBuilder::with_tenant_hashing`).
pub mod tenant {
    pub use heartbeat_core::semconv::OVERFLOW_TENANT;
    pub use heartbeat_core::tenant::DEFAULT_TENANT_LIMIT;
    pub use heartbeat_core::tenant_hash::{
        MAX_SALT_LEN, TENANT_HASH_PREFIX, TenantHashError, TenantHasher,
    };
}

/// Limits and defaults: the lengths of names and reasons, the number of reasons, the dead-man
/// cadences, the export interval and timeouts.
pub mod limits {
    #[cfg(feature = "export")]
    pub use crate::deadman::beat::{DEFAULT_CADENCE, MAX_CADENCE, MIN_CADENCE};
    #[cfg(feature = "export")]
    pub use crate::export::config::{
        DEFAULT_EXPORT_INTERVAL, DEFAULT_EXPORT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
    };
    pub use heartbeat_core::validate::{MAX_NAME_LEN, MAX_REASON_LEN, MAX_REASONS};
}

/// The OTLP encoding the pipeline runs on: the [`Collector`](otlp::Collector) that turns a
/// [`Registry`] into a [`Batch`](otlp::Batch) of points, and the protobuf and
/// JSON encoders. An application that exports through `Heartbeat` (feature `export`) never
/// names these; a custom transport, a test or a benchmark may.
pub mod otlp {
    pub use heartbeat_core::otlp::{
        AggregationTemporality, Batch, Collector, DataPoint, Encoded, Metric, MetricKind,
        encode_json, encode_protobuf,
    };
    pub use heartbeat_core::registry::Series;
}

/// The README's examples, compiled as doctests so they cannot rot.
/// Its layer and macro example needs the features `axum` and `macros` (the test command runs the
/// doctests with every feature). `in_workspace` (build.rs): the README is the repository's, not
/// in the published package.
#[cfg(all(
    doctest,
    in_workspace,
    feature = "export",
    feature = "axum",
    feature = "macros"
))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
