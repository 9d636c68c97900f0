//! Dead-man rules: fewer than `min_beats` beats in a window is a missed window; `fire_after`
//! missed windows in a row fire, `resolve_after` good ones resolve; an emitter whose latest
//! status is 2 (stopped on purpose) does not page.
//!
//! When it fires, the alert says which of these it is:
//! - **failing**: the emitter reports status 1, with its reason;
//! - **restart**: a new `service.instance.id` (or a counter reset) appeared in the bad windows;
//! - **lossy pipeline**: points arrived but the counter jumped by more than one between them,
//!   or recent windows showed such jumps and now nothing arrives;
//! - **dead emitter**: the counter froze while the process still exports, or nothing at all
//!   arrives from the service.

use std::sync::Arc;

use super::{EmitterSeen, Name, RuleState, TickReport, resolve_alert};
use crate::alert::{Alert, AlertKind, AlertStatus, Classification};
use crate::clock::{human, ms, rfc3339};
use crate::rulefile::DeadmanRule;
use crate::store::{Pending, Role, Series, Store};

/// Bad windows remembered for the diagnosis.
const KEEP_WINDOWS: usize = 8;
/// Instances remembered per rule, to tell a new one (a restart) from a known replica.
const MAX_INSTANCES: usize = 64;

/// What one window saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct BeatWindow {
    start_ms: i64,
    beats: f64,
    points: u32,
    max_jump: f64,
    /// Delta intervals that never arrived (see `Pending::gaps`).
    gaps: u32,
    resets: u32,
    restarts: Vec<(Name, Name)>,
}

impl BeatWindow {
    /// The window shows exports that never arrived: a cumulative count that jumped by 2 or
    /// more between received points, or a delta point that does not start where the one before
    /// ended.
    fn lost_exports(&self) -> bool {
        self.max_jump >= 2.0 || self.gaps > 0
    }

    /// What a good window that resolves an alert says about the exports it saw lost.
    fn recovery_note(&self) -> Option<String> {
        if self.gaps > 0 {
            Some(format!(
                "beats arrived again, after {} export(s) that never arrived: the pipeline lost exports",
                self.gaps
            ))
        } else {
            (self.max_jump >= 2.0).then(|| {
                format!(
                    "beats arrived again, {} at once in one export: the pipeline delayed or lost exports",
                    self.max_jump
                )
            })
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Status {
    emitter: Box<str>,
    recv_ms: i64,
    time_ns: u64,
    value: f64,
    reason: Option<Box<str>>,
}

/// The state of one dead-man rule.
#[derive(Debug)]
pub(crate) struct DeadmanState {
    pub(crate) rule: DeadmanRule,
    window_ms: i64,
    win_start: i64,
    partial: bool,
    acc: BeatWindow,
    streak_bad: u32,
    streak_good: u32,
    bad: Vec<BeatWindow>,
    jumpy_windows: u32,
    statuses: Vec<Status>,
    last_instance: Option<Name>,
    instances: Vec<Name>,
    pub(crate) last_beat_ms: Option<i64>,
    last_value: f64,
    recent_values: Vec<f64>,
    last_beats: f64,
    judged: bool,
    pub(crate) firing: Option<Alert>,
}

impl DeadmanState {
    pub(crate) fn new(rule: DeadmanRule, now_ms: i64) -> Self {
        let window_ms = ms(rule.window).max(1);
        let win_start = now_ms.div_euclid(window_ms) * window_ms;
        Self {
            rule,
            window_ms,
            win_start,
            partial: win_start < now_ms,
            acc: BeatWindow {
                start_ms: win_start,
                ..BeatWindow::default()
            },
            streak_bad: 0,
            streak_good: 0,
            bad: Vec::new(),
            jumpy_windows: 0,
            statuses: Vec::new(),
            last_instance: None,
            instances: Vec::new(),
            last_beat_ms: None,
            last_value: 0.0,
            recent_values: Vec::new(),
            last_beats: 0.0,
            judged: false,
            firing: None,
        }
    }

    pub(crate) fn matches(&self, service: &str, emitter: &str) -> bool {
        self.rule.service == service && self.rule.emitter.as_deref().is_none_or(|e| e == emitter)
    }

    pub(crate) fn restore_firing(&mut self, alert: Alert) {
        self.streak_bad = self.rule.fire_after;
        self.firing = Some(alert);
    }

    /// Takes in new points of a matching beat or status series.
    pub(crate) fn observe(
        &mut self,
        series: &Series,
        pending: &Pending,
        now_ms: i64,
    ) -> Option<EmitterSeen> {
        match &series.role {
            Role::Beats { emitter } => {
                let acc = &mut self.acc;
                acc.beats += pending.increase;
                acc.points += pending.points;
                acc.max_jump = acc.max_jump.max(pending.max_jump);
                acc.gaps += pending.gaps;
                acc.resets += pending.resets;
                // A restart is an instance never seen before, after another one: replicas
                // beating side by side are not restarts.
                if !self.instances.contains(&series.instance) {
                    if let Some(last) = &self.last_instance {
                        acc.restarts
                            .push((Arc::clone(last), Arc::clone(&series.instance)));
                    }
                    if self.instances.len() >= MAX_INSTANCES {
                        self.instances.remove(0);
                    }
                    self.instances.push(Arc::clone(&series.instance));
                }
                self.last_instance = Some(Arc::clone(&series.instance));
                if pending.increase > 0.0 {
                    self.last_beat_ms = Some(now_ms);
                }
                self.last_value = series.last_value;
                self.recent_values = series.recent().map(|r| r.value).collect();
                Some(EmitterSeen {
                    service: series.service.to_string(),
                    emitter: emitter.to_string(),
                    instance: series.instance.to_string(),
                    last_seen_ms: now_ms,
                    last_value: series.last_value,
                })
            }
            Role::Status { emitter, reason } => {
                let status = Status {
                    emitter: emitter.clone(),
                    recv_ms: series.last_recv_ms,
                    time_ns: series.last_time_ns,
                    value: series.last_value,
                    reason: reason.clone(),
                };
                match self.statuses.iter_mut().find(|s| s.emitter == *emitter) {
                    Some(s) => {
                        if (status.recv_ms, status.time_ns) >= (s.recv_ms, s.time_ns) {
                            *s = status;
                        }
                    }
                    None => self.statuses.push(status),
                }
                None
            }
            _ => None,
        }
    }

    /// Every known emitter's latest status is "stopped on purpose".
    fn stopped(&self) -> bool {
        !self.statuses.is_empty() && self.statuses.iter().all(|s| s.value == 2.0)
    }

    fn failing(&self) -> Option<&Status> {
        self.statuses.iter().find(|s| s.value == 1.0)
    }

    pub(crate) fn close_windows(
        &mut self,
        _index: usize,
        store: &Store,
        now_ms: i64,
        report: &mut TickReport,
    ) {
        while now_ms >= self.win_start + self.window_ms {
            let acc = std::mem::take(&mut self.acc);
            if !self.partial {
                self.judge_window(acc, store, now_ms, report);
            }
            self.partial = false;
            self.win_start += self.window_ms;
            self.acc.start_ms = self.win_start;
        }
    }

    fn judge_window(&mut self, w: BeatWindow, store: &Store, now_ms: i64, report: &mut TickReport) {
        let jumpy = w.points > 0 && w.lost_exports();
        self.judge_beats(w, store, now_ms, report);
        // Updated after the diagnosis, which looks at the windows before this one.
        self.jumpy_windows = if jumpy {
            (self.jumpy_windows + 1).min(KEEP_WINDOWS as u32)
        } else {
            self.jumpy_windows.saturating_sub(1)
        };
    }

    fn judge_beats(&mut self, w: BeatWindow, store: &Store, now_ms: i64, report: &mut TickReport) {
        self.judged = true;
        self.last_beats = w.beats;
        if self.stopped() {
            self.streak_bad = 0;
            self.bad.clear();
            let note =
                "the emitter was stopped on purpose (heartbeat.emitter.status = 2)".to_owned();
            if let Some(alert) = resolve_alert(&mut self.firing, now_ms, Some(note)) {
                report.events.push(alert);
            }
            return;
        }
        if w.beats < f64::from(self.rule.min_beats) {
            self.streak_bad += 1;
            self.streak_good = 0;
            if self.bad.len() >= KEEP_WINDOWS {
                self.bad.remove(0);
            }
            self.bad.push(w);
            if self.firing.is_none() && self.streak_bad >= self.rule.fire_after {
                let alert = self.diagnose(store, now_ms);
                self.firing = Some(alert.clone());
                report.events.push(alert);
            }
        } else {
            self.streak_good += 1;
            self.streak_bad = 0;
            self.bad.clear();
            if self.streak_good >= self.rule.resolve_after
                && self.firing.is_some()
                && let Some(alert) = resolve_alert(&mut self.firing, now_ms, w.recovery_note())
            {
                report.events.push(alert);
            }
        }
    }

    fn subject(&self) -> String {
        match &self.rule.emitter {
            Some(e) => format!("emitter {e:?} of {}", self.rule.service),
            None => format!("service {} (all its emitters)", self.rule.service),
        }
    }

    fn diagnose(&self, store: &Store, now_ms: i64) -> Alert {
        let rule = &self.rule;
        let since_ms = self.bad.first().map_or(self.win_start, |w| w.start_ms);
        let beats: f64 = self.bad.iter().map(|w| w.beats).sum();
        let points: u32 = self.bad.iter().map(|w| w.points).sum();
        let max_jump = self.bad.iter().map(|w| w.max_jump).fold(0.0, f64::max);
        let gaps: u32 = self.bad.iter().map(|w| w.gaps).sum();
        let restarts: Vec<&(Name, Name)> = self.bad.iter().flat_map(|w| &w.restarts).collect();
        let resets: u32 = self.bad.iter().map(|w| w.resets).sum();
        let service_seen = store
            .services
            .get(rule.service.as_str())
            .map(|s| s.last_seen_ms);
        let subject = self.subject();
        let windows = self.bad.len();
        let mut details = vec![format!(
            "{beats} beat(s) in the last {windows} window(s) of {}, fewer than {} per window",
            human(self.window_ms),
            rule.min_beats
        )];
        if let Some(t) = self.last_beat_ms {
            details.push(format!(
                "last beat received {} ago ({})",
                human(now_ms - t),
                rfc3339(t)
            ));
        } else {
            details.push("no beat received since the watch started".to_owned());
        }
        if !self.recent_values.is_empty() {
            let values: Vec<String> = self.recent_values.iter().map(|v| v.to_string()).collect();
            details.push(format!("last beat counts received: {}", values.join(", ")));
        }
        let (classification, summary, actions) = if let Some(f) = self.failing() {
            let reason = f.reason.as_deref().unwrap_or("unspecified");
            (
                Classification::Failing,
                format!("{subject} is failing its health gate ({reason}): beats are held"),
                vec![
                    format!(
                        "the service says why: {reason}; check what its gate checks (database, queue, downstream)"
                    ),
                    "page the service's owner".to_owned(),
                ],
            )
        } else if let Some((from, to)) = restarts.last() {
            details.push(format!("service.instance.id changed {from} -> {to}"));
            (
                Classification::Restart,
                format!("{subject} restarted (new instance {to}) and has not beaten enough since"),
                vec![
                    "check for a crash loop or an OOM kill (restart count, exit codes, kernel log)"
                        .to_owned(),
                    "if a deploy is rolling out, check that it completes".to_owned(),
                ],
            )
        } else if resets > 0 {
            details.push(format!(
                "the beat counter reset {resets} time(s) (a new start time)"
            ));
            (
                Classification::Restart,
                format!("{subject} restarted (its counter reset) and has not beaten enough since"),
                vec![
                    "check for a crash loop or an OOM kill (restart count, exit codes, kernel log)"
                        .to_owned(),
                ],
            )
        } else if (points > 0 && (max_jump >= 2.0 || gaps > 0))
            || (points == 0 && self.jumpy_windows > 0)
        {
            details.push(if gaps > 0 {
                format!(
                    "{points} point(s) received carrying {beats} beat(s); {gaps} of them did not start where the one before ended: the exports between never arrived"
                )
            } else {
                format!(
                    "{points} point(s) received carrying {beats} beat(s); the counter jumped by up to {} between received points",
                    max_jump.max(2.0)
                )
            });
            (
                Classification::LossyPipeline,
                format!("beats of {subject} are counted but arrive late or not at all: the pipeline loses exports"),
                vec![
                    "check the collector between the service and the watch: queue size, dropped points, restarts".to_owned(),
                    "check the service's export errors (heartbeat.sdk.exports with heartbeat.result=failure)".to_owned(),
                    "check the network path and the watch's 429 answers".to_owned(),
                ],
            )
        } else if points > 0 || service_seen.is_some_and(|t| t >= since_ms) {
            details.push(if points > 0 {
                format!(
                    "{points} point(s) received with a frozen count ({})",
                    self.last_value
                )
            } else {
                format!(
                    "{} still exports other metrics, without beats",
                    rule.service
                )
            });
            (
                Classification::DeadEmitter,
                format!("{subject} stopped beating while its process still exports: the emitter is dead"),
                vec![
                    "the beat task died or its handle was dropped: check the service's logs for a panic or an error path".to_owned(),
                    "restart the service if its work is stuck".to_owned(),
                ],
            )
        } else {
            details.push(match service_seen {
                Some(t) => format!(
                    "nothing at all received from {} since {}",
                    rule.service,
                    rfc3339(t)
                ),
                None => format!("nothing ever received from {}", rule.service),
            });
            (
                Classification::DeadEmitter,
                format!(
                    "{subject} is silent: nothing arrives from the service (process or pipeline down)"
                ),
                vec![
                    format!(
                        "check that {} is running (crash, OOM kill, stuck deploy) and its host is up",
                        rule.service
                    ),
                    "then check the pipeline: collector, network, the watch's address".to_owned(),
                ],
            )
        };
        let signal = match &rule.emitter {
            Some(e) => format!(
                "heartbeat.beats{{service.name=\"{}\",heartbeat.emitter=\"{e}\"}}",
                rule.service
            ),
            None => format!("heartbeat.beats{{service.name=\"{}\"}}", rule.service),
        };
        Alert {
            id: format!("{}@{since_ms}", rule.name),
            rule: rule.name.clone(),
            kind: AlertKind::Deadman,
            status: AlertStatus::Firing,
            severity: rule.severity.as_str().to_owned(),
            service: Some(rule.service.clone()),
            signal,
            since_ms,
            since: rfc3339(since_ms),
            resolved_ms: None,
            classification,
            conditions: vec![format!(
                "fewer than {} beats per {}",
                rule.min_beats,
                human(self.window_ms)
            )],
            summary,
            details,
            tenants: Vec::new(),
            attributes: Vec::new(),
            deploys: Vec::new(),
            actions,
        }
    }

    pub(crate) fn view(&self, now_ms: i64) -> super::DeadmanView {
        let state = if self.firing.is_some() {
            RuleState::Firing
        } else if self.stopped() {
            RuleState::Stopped
        } else if !self.judged {
            RuleState::Warming
        } else if self.streak_bad > 0 {
            RuleState::Pending
        } else {
            RuleState::Ok
        };
        let latest = self.statuses.iter().max_by_key(|s| (s.recv_ms, s.time_ns));
        let status = latest.map(|s| s.value as i64);
        let status_age_ms = latest.map(|s| now_ms - s.recv_ms);
        super::DeadmanView {
            rule: self.rule.name.clone(),
            service: self.rule.service.clone(),
            emitter: self.rule.emitter.clone(),
            beats: self.last_beats,
            min_beats: self.rule.min_beats,
            state,
            status,
            last_beat_age_ms: self.last_beat_ms.map(|t| now_ms - t),
            status_age_ms,
            window_ms: self.window_ms,
        }
    }
}
