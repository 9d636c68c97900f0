//! Alerts and their diagnosis, and the hooks that deliver them.
//!
//! An [`Alert`] carries what the watch knows when it fires: the signal and how it was judged,
//! since when, the classification (for a dead-man rule: a dead emitter, a lossy pipeline, a
//! restart or a failing gate), the tenants and attribute values that carry an outcome drop, the
//! deploys shortly before it, and suggested first actions.

pub(crate) mod actions;
mod deliver;
pub(crate) mod formats;
pub(crate) mod https;

pub use actions::{ActionRun, IncidentRef};
pub(crate) use deliver::{Attempt, by_alert};
pub use deliver::{DeliveryError, Dispatcher, SinkDelivery, SinkError};

use serde::{Deserialize, Serialize};

/// Which kind of rule raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A `[[deadman]]` rule: too few beats.
    Deadman,
    /// An `[[outcome]]` rule: too few successes.
    Outcome,
    /// The watch about itself: an alert event it could not deliver.
    Watch,
}

/// Whether an alert is firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// The condition holds.
    Firing,
    /// The condition held and no longer does.
    Resolved,
}

/// What the watch concluded about the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// The emitter stopped beating while its process still exports, over time: its task died
    /// or its handle was dropped.
    DeadEmitter,
    /// Nothing arrives from the process any more: it was killed, crashed, or its host or
    /// pipeline is down.
    ProcessDown,
    /// No beat of the rule's emitter ever arrived: the rule may name the wrong service or
    /// emitter, or the emitter was never started.
    NeverSeen,
    /// The emitter was stopped on purpose and no beating successor appeared within the rule's
    /// `stop_grace`: a deploy whose new version never started.
    StoppedNotRestarted,
    /// An outcome rule's window had no data (no event, no series, or every emitter gone):
    /// `on_no_data = "breach"`.
    NoData,
    /// Beats are counted by the emitter but exports are lost or delayed: the counter jumps by
    /// more than one between the points received, or missing beats arrive in bulk.
    LossyPipeline,
    /// The process restarted (a new `service.instance.id` or start time).
    Restart,
    /// The emitter's health gate fails (`heartbeat.emitter.status = 1`), with its reason.
    Failing,
    /// The success ratio is below its floor.
    SuccessRatio,
    /// The success rate is below its floor.
    SuccessRate,
    /// Successes are below the seasonal baseline.
    Anomaly,
    /// An alert event could not be delivered to a sink within its `max_delivery_age`.
    DeliveryGivenUp,
}

impl Classification {
    /// The snake_case name used in JSON and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeadEmitter => "dead_emitter",
            Self::ProcessDown => "process_down",
            Self::NeverSeen => "never_seen",
            Self::StoppedNotRestarted => "stopped_not_restarted",
            Self::NoData => "no_data",
            Self::LossyPipeline => "lossy_pipeline",
            Self::Restart => "restart",
            Self::Failing => "failing",
            Self::SuccessRatio => "success_ratio",
            Self::SuccessRate => "success_rate",
            Self::Anomaly => "anomaly",
            Self::DeliveryGivenUp => "delivery_given_up",
        }
    }
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tenant or an attribute value that carries part of an outcome drop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contributor {
    /// The attribute: `heartbeat.tenant`, or a fixed attribute such as `surface`.
    pub key: String,
    /// Its value: the tenant id, or for example `web_messenger`.
    pub value: String,
    /// Its share of the drop (missing successes plus excess failures), in `[0, 1]`.
    pub share_of_drop: f64,
    /// Its share of the traffic in good windows (or in this window, before any), in `[0, 1]`.
    pub share_of_traffic: f64,
    /// Its success ratio in the window.
    pub success_ratio: Option<f64>,
    /// Its usual success ratio (good windows), if known.
    pub usual_success_ratio: Option<f64>,
}

/// A change of `service.version` seen shortly before an alert's start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deploy {
    /// The `service.name`.
    pub service: String,
    /// The version before.
    pub from: String,
    /// The version after.
    pub to: String,
    /// When the new version was first seen (ms since the epoch).
    pub at_ms: i64,
    /// How long before the alert's start (ms; negative if just after it).
    pub before_start_ms: i64,
}

/// One alert, firing or resolved, with its diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable id: the rule name and the start in ms, `message-send@1763700060000`.
    pub id: String,
    /// The rule name (`heartbeat_rule` label).
    pub rule: String,
    /// Dead-man or outcome.
    pub kind: AlertKind,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// `page` or `ticket`.
    pub severity: String,
    /// The `service.name` the rule watches, if it names one.
    pub service: Option<String>,
    /// The watched signal, for example `heartbeat.outcomes{heartbeat.outcome="message.send"}`.
    pub signal: String,
    /// The start of the first bad window (ms since the epoch).
    pub since_ms: i64,
    /// `since_ms` as RFC 3339.
    pub since: String,
    /// When it resolved (ms since the epoch).
    pub resolved_ms: Option<i64>,
    /// What the watch concluded.
    pub classification: Classification,
    /// Every condition that held in the last bad window.
    pub conditions: Vec<String>,
    /// One line for a pager.
    pub summary: String,
    /// Facts behind the classification.
    pub details: Vec<String>,
    /// Tenants carrying an outcome drop, largest share first.
    pub tenants: Vec<Contributor>,
    /// Fixed-attribute values (such as `surface`) carrying an outcome drop, largest share first.
    pub attributes: Vec<Contributor>,
    /// Deploys shortly before the start.
    pub deploys: Vec<Deploy>,
    /// Suggested first actions.
    pub actions: Vec<String>,
    /// The rule's runbook link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook_url: Option<String>,
    /// The rule's standard operating procedure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sop: Option<String>,
    /// What `[[action]]`s did for this alert: rollbacks run, incidents opened, and why an
    /// action was skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions_taken: Vec<ActionRun>,
    /// The incident opened for it, if an incident action did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentRef>,
    /// Per-sink delivery state (filled in `/api/alerts`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivery: Vec<SinkDelivery>,
}

/// A `ticket` alert of the watch about itself, fired and resolved at once: an event to note.
pub(crate) fn internal_alert(
    id: &str,
    now_ms: i64,
    summary: String,
    details: Vec<String>,
) -> Alert {
    Alert {
        id: format!("heartbeat-watch-{id}"),
        rule: "heartbeat-watch".to_owned(),
        kind: AlertKind::Watch,
        status: AlertStatus::Firing,
        severity: "ticket".to_owned(),
        service: Some("heartbeat-watch".to_owned()),
        signal: "heartbeat-watch delivery".to_owned(),
        since_ms: now_ms,
        since: crate::clock::rfc3339(now_ms),
        resolved_ms: None,
        classification: Classification::DeliveryGivenUp,
        conditions: vec!["delivery_given_up".to_owned()],
        summary,
        details,
        tenants: Vec::new(),
        attributes: Vec::new(),
        deploys: Vec::new(),
        actions: vec![
            "check the sink: its URL, credential and reachability; the watch kept retrying until max_delivery_age".to_owned(),
        ],
        runbook_url: None,
        sop: None,
        actions_taken: Vec::new(),
        incident: None,
        delivery: Vec::new(),
    }
}

impl Alert {
    /// The alert as the generic webhook JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
