//! The rule file: one TOML file that the watch's judge and the rule generators both read.
//! The contract is `watch/RULEFILE-SCHEMA.md`; this module is its one parser.
//!
//! | module | what |
//! |---|---|
//! | `duration` | durations as rule files write them, parsed and written back |
//! | `fields` | field deserializers and checks, each refusal naming the value |
//! | `error` | [`RuleFileError`] and the [`Location`] it names |
//! | `model` | the public types, each table's raw form and the checks across its keys |
//! | `validate` | loading: TOML to the model, then the checks across rules |
//!
//! Each imports only from the ones above it in this table.

mod duration;
mod error;
mod fields;
mod model;
mod validate;

#[cfg(test)]
mod tests;

pub use self::duration::{DisplayDuration, parse_duration};
pub use self::error::{Location, RuleFileError};
pub(crate) use self::model::MAX_HISTORY_SEASONS;
pub use self::model::{
    Action, ActionKind, AlertSink, AlertmanagerSettings, Anomaly, CloudWatchSettings,
    DEFAULT_MAX_DELIVERY_AGE, DEFAULT_RESEND_INTERVAL, DEFAULT_STOP_GRACE, DatadogSettings,
    DeadmanRule, GenerateSettings, GrafanaSettings, MIN_SAMPLES_PER_WINDOW, OnNoData, OutcomeRule,
    PrometheusSettings, QuietHours, Route, RuleFile, SelfHeartbeat, Severity, SinkTarget, Sla,
    StatusPage, WatchSettings, WebhookFormat,
};
