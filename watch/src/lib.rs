//! # heartbeat-watch
//!
//! The receiving end of Heartbeat for a single machine: an OTLP receiver (HTTP/protobuf,
//! HTTP/JSON and gRPC), a rate watchdog for dead-man heartbeats, negative-anomaly detection on
//! outcome metrics, per-tenant drill-down, an SLA ledger and alert hooks; and, for fleets that
//! outgrow one machine, generated rules for the engines they already run.
//!
//! Supported Rust: 1.88 and later.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod rulefile;

pub use rulefile::{
    AlertSink, AlertmanagerSettings, Anomaly, CloudWatchSettings, DatadogSettings, DeadmanRule,
    DisplayDuration, GenerateSettings, Location, OutcomeRule, PrometheusSettings, RuleFile,
    RuleFileError, Severity, SinkTarget, Sla, WatchSettings, WebhookFormat, parse_duration,
};
