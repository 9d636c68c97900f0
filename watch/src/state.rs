//! The judge's state as rows: what one tick changes ([`TickReport`]: alert events, closed
//! windows, ledger slots, beats and statuses) and what a restart loads ([`Persisted`]). The
//! judge makes them, the database stores and loads them, the report reads the ledger's
//! [`SlotState`]s; this module is below all three and imports none of them.

use serde::{Deserialize, Serialize};

use crate::alert::Alert;

/// What a ledger slot says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// A signal was firing.
    Down,
    /// The watch could not judge it (warming, or no data at all, or not running).
    Unknown,
    /// Judged, with data, and nothing fired.
    Up,
}

impl SlotState {
    /// The database encoding: 0 down, 1 unknown, 2 up.
    pub(crate) fn code(self) -> i64 {
        match self {
            Self::Down => 0,
            Self::Unknown => 1,
            Self::Up => 2,
        }
    }

    pub(crate) fn from_code(code: i64) -> Self {
        match code {
            0 => Self::Down,
            2 => Self::Up,
            _ => Self::Unknown,
        }
    }

    /// Down always wins; otherwise the newer judgement stands.
    pub(crate) fn merge(self, newer: Self) -> Self {
        if self == Self::Down || newer == Self::Down {
            Self::Down
        } else {
            newer
        }
    }
}

/// A ledger row: one slot (a minute) of one SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LedgerRow {
    pub(crate) sla: usize,
    pub(crate) slot_ms: i64,
    pub(crate) state: SlotState,
}

/// The latest `heartbeat.emitter.status` of one emitter of a dead-man rule, as persisted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatusRow {
    pub(crate) emitter: String,
    pub(crate) instance: String,
    pub(crate) recv_ms: i64,
    pub(crate) value: f64,
    pub(crate) reason: Option<String>,
}

/// A closed outcome window, the anomaly baseline's history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WindowRow {
    pub(crate) rule: usize,
    pub(crate) start_ms: i64,
    pub(crate) successes: f64,
    pub(crate) failures: f64,
}

/// One closed window of a rule for the console's charts (`history` table): the rule's total
/// (`key` and `value` empty), one drill-down value (`key` = `heartbeat.tenant` or a surface
/// attribute), or one emitter's beats (`key` = `heartbeat.emitter`, beats in `successes`).
/// Written for every closed window, the partial first one and empty ones included.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistoryRow {
    /// The rule's name.
    pub(crate) rule: String,
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) start_ms: i64,
    pub(crate) successes: f64,
    pub(crate) failures: f64,
    /// The anomaly band for the window's successes, `(expected, low, high)`: totals only.
    pub(crate) band: Option<(f64, f64, f64)>,
}

/// A service's version change, for the console's deploy markers (`deploys` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeployRow {
    pub(crate) service: String,
    pub(crate) at_ms: i64,
    pub(crate) version: String,
    pub(crate) previous: Option<String>,
}

/// The last beat seen from an emitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmitterSeen {
    /// `service.name`.
    pub service: String,
    /// `heartbeat.emitter`.
    pub emitter: String,
    /// `service.instance.id` of the last beat.
    pub instance: String,
    /// When the last beat point arrived (ms since the epoch).
    pub last_seen_ms: i64,
    /// The beat count it carried.
    pub last_value: f64,
}

/// What one tick changed, for the database and the alert hooks.
#[derive(Debug, Default)]
pub(crate) struct TickReport {
    pub(crate) events: Vec<Alert>,
    pub(crate) ledger: Vec<LedgerRow>,
    pub(crate) windows: Vec<WindowRow>,
    pub(crate) emitters: Vec<EmitterSeen>,
    /// Firing alerts whose diagnosis changed (an alert that became `no_data`, an action's
    /// result): saved, not sent.
    pub(crate) updates: Vec<Alert>,
    /// Each event with the sinks it is routed to: the outbox rows of this tick.
    pub(crate) outbox: Vec<(Alert, Vec<String>)>,
    /// `(dead-man rule, status, true to save or false to delete)`.
    pub(crate) statuses: Vec<(usize, StatusRow, bool)>,
    /// Closed windows for the console's history.
    pub(crate) history: Vec<HistoryRow>,
    /// Version changes seen since the last tick.
    pub(crate) deploys: Vec<DeployRow>,
}

/// What a previous run left: loaded at start.
#[derive(Debug, Default)]
pub(crate) struct Persisted {
    pub(crate) open_alerts: Vec<Alert>,
    /// `(rule, window start, successes, failures)`.
    pub(crate) windows: Vec<(String, i64, f64, f64)>,
    /// `(sla, slot start, state)` of the current month.
    pub(crate) ledger: Vec<(String, i64, SlotState)>,
    pub(crate) emitters: Vec<EmitterSeen>,
    /// `(dead-man rule, latest status of one emitter)`.
    pub(crate) statuses: Vec<(String, StatusRow)>,
}
