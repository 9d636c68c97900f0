//! The judge: every tick it reads what the store received, closes the windows that ended, and
//! decides which rules fire and resolve, with a diagnosis for each alert; it keeps the SLA
//! ledger. It takes the time as an argument, so tests move hours of windows in microseconds.
//!
//! Outcome windows are tumbling and aligned to the epoch (a 1-minute window runs from one whole
//! minute to the next), so "fire after N bad windows" means N whole windows; the window that
//! was running when the watch started is not judged: it was not fully observed. Dead-man rules
//! are judged over a sliding window at every tick, and at the exact `max_silence` deadline.

mod anomaly;
mod deadman;
mod outcome;
mod sla;

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertStatus};
use crate::rulefile::RuleFile;
use crate::state::{Persisted, TickReport};
use crate::store::{Role, Store};

pub(crate) use deadman::DeadmanState;
pub(crate) use outcome::OutcomeState;
pub(crate) use sla::{Signal, SignalNow, SlaState};

/// Alerts kept for the view and the API after they changed state.
const RECENT_ALERTS: usize = 50;

/// Which rules a series feeds, resolved once per series.
#[derive(Debug, Clone, Default)]
struct Matched {
    generation: u32,
    resolved: bool,
    /// `(rule index, dimension ids)`: dead-man rules for beats and status, outcome rules for
    /// outcomes.
    rules: Box<[(u16, Box<[u32]>)]>,
}

/// The judge.
#[derive(Debug)]
pub(crate) struct Judge {
    pub(crate) tick_ms: i64,
    pub(crate) deadman: Vec<DeadmanState>,
    pub(crate) outcome: Vec<OutcomeState>,
    pub(crate) sla: Vec<SlaState>,
    matches: Vec<Matched>,
    pub(crate) recent: VecDeque<Alert>,
    pub(crate) last_tick_ms: i64,
    /// Per service, when the newest version change already reported started.
    deploys_seen: std::collections::HashMap<Arc<str>, i64>,
}

impl Judge {
    /// A judge for `rules`, started at `now_ms`, with SLA ledger slots of `slot_ms`.
    pub(crate) fn new(rules: &RuleFile, now_ms: i64, slot_ms: i64) -> Self {
        let tick_ms = crate::clock::ms(rules.watch.tick).max(1);
        let deadman = rules
            .deadman
            .iter()
            .map(|r| DeadmanState::new(r.clone(), now_ms, tick_ms))
            .collect();
        let outcome = rules
            .outcome
            .iter()
            .map(|r| OutcomeState::new(r.clone(), now_ms))
            .collect();
        let sla = rules
            .sla
            .iter()
            .map(|s| {
                let signals = s
                    .signals
                    .iter()
                    .filter_map(|name| {
                        rules
                            .outcome
                            .iter()
                            .position(|r| &r.name == name)
                            .map(Signal::Outcome)
                            .or_else(|| {
                                rules
                                    .deadman
                                    .iter()
                                    .position(|r| &r.name == name)
                                    .map(Signal::Deadman)
                            })
                    })
                    .collect();
                SlaState::new(s.clone(), signals, slot_ms)
            })
            .collect();
        Self {
            tick_ms,
            deadman,
            outcome,
            sla,
            matches: Vec::new(),
            recent: VecDeque::new(),
            last_tick_ms: now_ms,
            deploys_seen: std::collections::HashMap::new(),
        }
    }

    /// Brings back what a previous run persisted: open alerts, outcome history, ledger slots.
    pub(crate) fn restore(&mut self, state: Persisted) {
        for alert in state.open_alerts {
            if let Some(d) = self.deadman.iter_mut().find(|d| d.rule.name == alert.rule) {
                d.restore_firing(alert);
            } else if let Some(o) = self.outcome.iter_mut().find(|o| o.rule.name == alert.rule) {
                o.restore_firing(alert);
            }
        }
        for (rule, start, s, f) in state.windows {
            if let Some(o) = self.outcome.iter_mut().find(|o| o.rule.name == rule) {
                o.history.insert(start, (s, f));
            }
        }
        for (sla, slot, state) in state.ledger {
            if let Some(s) = self.sla.iter_mut().find(|s| s.def.name == sla) {
                s.restore(slot, state);
            }
        }
        for seen in state.emitters {
            for d in &mut self.deadman {
                if d.matches(&seen.service, &seen.emitter) {
                    d.restore_seen(&seen);
                }
            }
        }
        for (rule, row) in state.statuses {
            if let Some(d) = self.deadman.iter_mut().find(|d| d.rule.name == rule) {
                d.restore_status(&row);
            }
        }
    }

    /// One evaluation at `now_ms`: read new points, close ended windows, fire and resolve,
    /// record the SLA slot.
    pub(crate) fn tick(&mut self, store: &mut Store, now_ms: i64) -> TickReport {
        let mut report = TickReport::default();
        self.read(store, now_ms, &mut report);
        for (i, d) in self.deadman.iter_mut().enumerate() {
            d.judge(i, store, now_ms, &mut report);
        }
        for (i, o) in self.outcome.iter_mut().enumerate() {
            o.close_windows(i, store, now_ms, &mut report);
        }
        let (deadman, outcome) = (&self.deadman, &self.outcome);
        let signal = |s: Signal| {
            match s {
                Signal::Outcome(i) => outcome.get(i).map(|o| o.signal_now(now_ms)),
                Signal::Deadman(i) => deadman.get(i).map(|d| d.signal_now(now_ms)),
            }
            .unwrap_or_default()
        };
        for (i, s) in self.sla.iter_mut().enumerate() {
            s.record(i, signal, now_ms, &mut report);
        }
        self.deploys(store, &mut report);
        for alert in &report.events {
            if self.recent.len() >= RECENT_ALERTS {
                self.recent.pop_front();
            }
            self.recent.push_back(alert.clone());
        }
        self.last_tick_ms = now_ms;
        report
    }

    /// Version changes not reported yet, for the console's deploy markers.
    fn deploys(&mut self, store: &Store, report: &mut TickReport) {
        for (name, service) in &store.services {
            let seen = self.deploys_seen.get(name).copied();
            let newest = service.versions.last().map(|v| v.1);
            if newest.is_none() || newest == seen {
                continue;
            }
            for pair in service.versions.windows(2) {
                let (from, to) = (&pair[0], &pair[1]);
                if seen.is_none_or(|t| to.1 > t) {
                    report.deploys.push(crate::state::DeployRow {
                        service: name.to_string(),
                        at_ms: to.1,
                        version: to.0.to_string(),
                        previous: Some(from.0.to_string()),
                    });
                }
            }
            if let Some(t) = newest {
                self.deploys_seen.insert(Arc::clone(name), t);
            }
        }
    }

    /// The earliest `max_silence` deadline of a dead-man rule: the judge loop wakes then.
    pub(crate) fn next_deadline(&self) -> Option<i64> {
        self.deadman.iter().filter_map(DeadmanState::deadline).min()
    }

    fn read(&mut self, store: &mut Store, now_ms: i64, report: &mut TickReport) {
        let Self {
            deadman,
            outcome,
            matches,
            ..
        } = self;
        store.drain(|id, series, pending| {
            let slot = usize::try_from(id).unwrap_or(usize::MAX);
            if matches.len() <= slot {
                matches.resize(slot + 1, Matched::default());
            }
            let m = &mut matches[slot];
            if !m.resolved || m.generation != series.generation {
                *m = resolve(series, deadman, outcome);
            }
            for (rule, dims) in m.rules.iter() {
                let rule = usize::from(*rule);
                match &series.role {
                    Role::Beats { .. } | Role::Status { .. } => {
                        if let Some(d) = deadman.get_mut(rule)
                            && let Some(seen) = d.observe(series, &pending, now_ms, report, rule)
                        {
                            report.emitters.push(seen);
                        }
                    }
                    Role::Outcome { .. } => {
                        if let Some(o) = outcome.get_mut(rule) {
                            o.observe(series, &pending, dims, now_ms);
                        }
                    }
                    Role::Other => {}
                }
            }
        });
    }

    /// Applies `f` to the alert `id` wherever the judge holds it (firing, or among the recent
    /// events); the firing version, if any, else the latest recent one, after the change.
    pub(crate) fn amend(&mut self, id: &str, f: impl Fn(&mut Alert)) -> Option<Alert> {
        let mut out = None;
        for a in self
            .deadman
            .iter_mut()
            .filter_map(|d| d.firing.as_mut())
            .chain(self.outcome.iter_mut().filter_map(|o| o.firing.as_mut()))
            .filter(|a| a.id == id)
        {
            f(a);
            out = Some(a.clone());
        }
        for a in self.recent.iter_mut().filter(|a| a.id == id) {
            f(a);
            if out.is_none() || a.status == AlertStatus::Resolved {
                out = Some(a.clone());
            }
        }
        out
    }

    /// Alerts currently firing.
    pub(crate) fn open_alerts(&self) -> Vec<Alert> {
        self.deadman
            .iter()
            .filter_map(|d| d.firing.clone())
            .chain(self.outcome.iter().filter_map(|o| o.firing.clone()))
            .collect()
    }

    /// What the live view and `GET /api/state` show.
    pub(crate) fn snapshot(&self, store: &Store, now_ms: i64) -> Snapshot {
        Snapshot {
            now_ms,
            tick_ms: self.tick_ms,
            series: store.len(),
            points_stored: store.points_stored,
            outcomes: self.outcome.iter().map(OutcomeState::view).collect(),
            deadman: self.deadman.iter().map(|d| d.view(now_ms)).collect(),
            open_alerts: self.open_alerts(),
            recent_alerts: self.recent.iter().rev().cloned().collect(),
            sla: self.sla.iter().map(|s| s.view(now_ms)).collect(),
        }
    }
}

fn resolve(
    series: &crate::store::Series,
    deadman: &mut [DeadmanState],
    outcome: &mut [OutcomeState],
) -> Matched {
    let mut rules = Vec::new();
    match &series.role {
        Role::Beats { emitter } | Role::Status { emitter, .. } => {
            for (i, d) in deadman.iter().enumerate() {
                if d.matches(&series.service, emitter) {
                    rules.push((u16::try_from(i).unwrap_or(u16::MAX), Box::default()));
                }
            }
        }
        Role::Outcome { outcome: name, .. } => {
            for (i, o) in outcome.iter_mut().enumerate() {
                if o.matches(series, name) {
                    let dims = o.dims_of(series);
                    rules.push((u16::try_from(i).unwrap_or(u16::MAX), dims));
                }
            }
        }
        Role::Other => {}
    }
    Matched {
        generation: series.generation,
        resolved: true,
        rules: rules.into_boxed_slice(),
    }
}

/// The state of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleState {
    /// Not judged yet: the first window is still open, or the history is too short.
    Warming,
    /// The last window was good.
    Ok,
    /// Bad windows, not yet enough to fire.
    Pending,
    /// Firing.
    Firing,
    /// The emitter was stopped on purpose (`heartbeat.emitter.status = 2`): no page for its
    /// `stop_grace`.
    Stopped,
    /// Judged, and nothing arrived: no series ever matched the rule, or (outcome rules) the
    /// last window had no data. Never shown as ok.
    NoData,
}

/// Successes and failures of one attribute value in the last closed window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DimView {
    /// `heartbeat.tenant` or a fixed attribute such as `surface`.
    pub key: String,
    /// The value.
    pub value: String,
    /// Successes in the window.
    pub successes: f64,
    /// Failures in the window.
    pub failures: f64,
}

/// An outcome rule in the live view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeView {
    /// Rule name.
    pub rule: String,
    /// `heartbeat.outcome`.
    pub outcome: String,
    /// Window length (ms).
    pub window_ms: i64,
    /// Successes in the last closed window.
    pub successes: f64,
    /// Failures in the last closed window.
    pub failures: f64,
    /// Successes per minute in the last closed window.
    pub rate_per_minute: f64,
    /// Success ratio in the last closed window, if anything happened.
    pub success_ratio: Option<f64>,
    /// The rule's state.
    pub state: RuleState,
    /// Per surface (fixed attributes) and tenant, largest first.
    pub by_attribute: Vec<DimView>,
    /// Whether any series ever matched the rule (a rule that never matched may name an
    /// outcome or a `where` value that is never sent).
    pub seen: bool,
    /// When a point of the rule's series last arrived (ms since the epoch).
    pub last_point_ms: Option<i64>,
    /// The firing alert's classification.
    pub classification: Option<crate::alert::Classification>,
    /// When the last closed window (the counts above) started.
    #[serde(default)]
    pub window_start_ms: Option<i64>,
    /// The last closed window was the one running when the watch started: counted and shown,
    /// not judged.
    #[serde(default)]
    pub last_window_partial: bool,
    /// The window in progress: what has arrived so far.
    #[serde(default)]
    pub partial: PartialView,
}

/// The window in progress of an outcome rule, counts so far (totals and drill-down agree).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartialView {
    /// When the window started (ms since the epoch).
    pub start_ms: i64,
    /// Successes so far.
    pub successes: f64,
    /// Failures so far.
    pub failures: f64,
    /// Per surface and tenant so far, tenants first.
    pub by_attribute: Vec<DimView>,
}

/// A dead-man rule in the live view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadmanView {
    /// Rule name.
    pub rule: String,
    /// `service.name`.
    pub service: String,
    /// `heartbeat.emitter`, or `None` for every emitter of the service.
    pub emitter: Option<String>,
    /// Beats in the last closed window.
    pub beats: f64,
    /// Fewest beats of a good window.
    pub min_beats: u32,
    /// The rule's state.
    pub state: RuleState,
    /// Latest `heartbeat.emitter.status` (0 beating, 1 failing, 2 stopped).
    pub status: Option<i64>,
    /// How long ago the last beat arrived (ms).
    pub last_beat_age_ms: Option<i64>,
    /// How long ago the latest status arrived (ms).
    pub status_age_ms: Option<i64>,
    /// Window length (ms).
    pub window_ms: i64,
    /// The firing alert's classification (`process_down`, `dead_emitter`, ...).
    pub classification: Option<crate::alert::Classification>,
    /// Whether a beat of the rule's emitter was ever seen.
    pub seen: bool,
}

/// An SLA so far this month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaView {
    /// SLA name.
    pub name: String,
    /// Monthly objective.
    pub objective: f64,
    /// Ledger slot length (ms): a minute, or less in the demo's compressed time.
    pub slot_ms: i64,
    /// Slots recorded this month (up, down or unknown).
    pub observed: u64,
    /// Slots down this month.
    pub down: u64,
    /// Slots unknown this month: recorded unknown, or not recorded (the watch was not
    /// running) since the first recorded one.
    pub unknown: u64,
    /// Slots up this month.
    pub up: u64,
    /// The strict availability, unknown counted as down: `up / (up + down + unknown)`. The
    /// objective is judged on it.
    pub availability: f64,
    /// The lenient availability, unknown left out: `up / (up + down)`, if any slot is known.
    pub availability_known: Option<f64>,
    /// Whether the strict availability meets the objective.
    pub met: bool,
    /// Whether the current slot is down.
    pub down_now: bool,
    /// Whether the current slot is unknown.
    pub unknown_now: bool,
}

/// Everything the live view shows, also served as JSON at `GET /api/state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When (ms since the epoch).
    pub now_ms: i64,
    /// Evaluation interval (ms).
    pub tick_ms: i64,
    /// Series tracked.
    pub series: usize,
    /// Points stored since start.
    pub points_stored: u64,
    /// Outcome rules.
    pub outcomes: Vec<OutcomeView>,
    /// Dead-man rules.
    pub deadman: Vec<DeadmanView>,
    /// Alerts firing now.
    pub open_alerts: Vec<Alert>,
    /// Alerts that changed state recently, newest first.
    pub recent_alerts: Vec<Alert>,
    /// SLAs so far this month.
    pub sla: Vec<SlaView>,
}

/// Fires or resolves `firing` for a rule: the shared bookkeeping of both rule kinds.
pub(crate) fn resolve_alert(
    firing: &mut Option<Alert>,
    now_ms: i64,
    note: Option<String>,
) -> Option<Alert> {
    let mut alert = firing.take()?;
    alert.status = AlertStatus::Resolved;
    alert.resolved_ms = Some(now_ms);
    if let Some(note) = note {
        alert.details.push(note);
    }
    Some(alert)
}

/// Interned strings shared by rule states.
pub(crate) type Name = Arc<str>;
