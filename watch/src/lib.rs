//! # heartbeat-watch
//!
//! The receiving end of Heartbeat for a single machine: an OTLP receiver (HTTP/protobuf,
//! HTTP/JSON and gRPC), a rate watchdog for dead-man heartbeats, negative-anomaly detection on
//! outcome metrics, per-tenant drill-down, an SLA ledger and alert hooks; and, for fleets that
//! outgrow one machine, generated rules for the engines they already run.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use heartbeat_watch::{RuleFile, Watch};
//!
//! let rules: RuleFile = r#"
//! [[deadman]]
//! name = "api-pipeline"
//! service = "messenger-api"
//! emitter = "api"
//! window = "1m"
//! min_beats = 5
//! "#
//! .parse()?;
//! let watch = Watch::builder(rules).start().await?; // 127.0.0.1:4318 and :4317
//! println!("OTLP/HTTP at http://{}/v1/metrics", watch.http_addr());
//! // ... the judge runs every tick; alerts go to the rule file's [[alert]] sinks ...
//! watch.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The one-command tour of the whole system: `cargo run --release -p heartbeat-watch -- demo`.
//!
//! | feature | default | what it turns on |
//! |---|---|---|
//! | `demo` | yes | the `demo` module: the simulated fleet of `heartbeat-watch demo`, built on the SDK. Without it the library and the binary are the watch alone |
//!
//! | module of the data flow | what |
//! |---|---|
//! | receiver | OTLP/HTTP (protobuf, JSON, gzip, CORS) and OTLP/gRPC; point-by-point validation |
//! | store | series keyed by service, instance, metric and attributes; cumulative to increases |
//! | judge | dead-man and outcome rules, seasonal anomaly, drill-down, deploys, SLA ledger |
//! | alert | diagnosed [`Alert`]s to webhooks (generic, Alertmanager) and command hooks |
//! | db | SQLite state: alert history, baselines, ledger, last beat and status per emitter |
//! | selfwatch | the watch's own health, its self-heartbeat to an external channel |
//! | check | `heartbeat-watch check`: what each rule will match, detection figures, warnings |
//!
//! The design, the anomaly method and its measured error rates: `docs/watch.md`.
//!
//! Supported Rust: 1.88 and later.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod alert;
mod check;
mod clock;
mod console;
mod db;
#[cfg(feature = "demo")]
pub mod demo;
mod faults;
mod generate;
mod ingest;
mod judge;
mod receiver;
mod report;
mod rulefile;
mod selfwatch;
mod service;
mod state;
mod store;
mod view;

pub use crate::alert::{
    ActionRun, Alert, AlertKind, AlertStatus, Classification, Contributor, DeliveryError, Deploy,
    Dispatcher, IncidentRef, SinkDelivery, SinkError,
};
pub use crate::check::check;
pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::db::DbError;
pub use crate::faults::TEST_HOOKS_ENV;
pub use crate::generate::{
    Engine, GenerateError, Series, SeriesCheck, UnknownEngine, check_prometheus, check_series,
    generate,
};
pub use crate::judge::{DeadmanView, DimView, OutcomeView, RuleState, SlaView, Snapshot};
pub use crate::report::{Downtime, Month, MonthError, SlaMonth, SlaReport};
pub use crate::rulefile::{
    Action, ActionKind, AlertSink, AlertmanagerSettings, Anomaly, CloudWatchSettings,
    DEFAULT_MAX_DELIVERY_AGE, DEFAULT_RESEND_INTERVAL, DEFAULT_STOP_GRACE, DatadogSettings,
    DeadmanRule, DisplayDuration, GenerateSettings, GrafanaSettings, Location,
    MIN_SAMPLES_PER_WINDOW, OnNoData, OutcomeRule, PrometheusSettings, QuietHours, Route, RuleFile,
    RuleFileError, SelfHeartbeat, Severity, SinkTarget, Sla, StatusPage, WatchSettings,
    WebhookFormat, parse_duration,
};
pub use crate::selfwatch::SelfBeatError;
pub use crate::service::{
    DEFAULT_MAX_SERIES, DEFAULT_QUEUE_CAPACITY, Database, SERIES_IDLE_EXPIRY, StartError, ViewMode,
    Watch, WatchBuilder, report_from_file,
};
pub use crate::state::{EmitterSeen, SlotState};

/// The receiver's decoding and validation and the rule-file parser, for the fuzz targets
/// (`watch/fuzz`) and property tests. Not a stable API.
#[doc(hidden)]
pub mod fuzz;

/// Ingest and judge without a server, for benchmarks: the receiver's decode, validation and
/// store, and the judge's tick, driven by hand. Not a stable API.
#[doc(hidden)]
pub mod bench;
