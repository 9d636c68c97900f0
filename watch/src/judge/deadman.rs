//! Dead-man rules, judged at every tick over a sliding window: fewer than `min_beats` beats
//! received in the last `window` is the condition; it must hold for `(fire_after - 1)` windows
//! to fire (Prometheus' `for:`), and stay clear for `(resolve_after - 1)` windows to resolve
//! (`keep_firing_for:`). `max_silence`, when set, pages as soon as no beat has arrived for that
//! long, at the exact deadline. An emitter whose latest status is 2 (stopped on purpose) does
//! not page for `stop_grace`; past it, with no beating successor, it pages as
//! `stopped_not_restarted`.
//!
//! When it fires, the alert says which of these it is:
//! - **failing**: the emitter reports status 1, with its reason;
//! - **restart**: a new `service.instance.id` (or a counter reset) appeared in the bad period;
//! - **lossy pipeline**: points arrived but the counter jumped by more than one between them,
//!   or recent windows showed such jumps and now nothing arrives;
//! - **never seen**: no beat of the rule's emitter ever arrived (the rule may be wrong);
//! - **dead emitter**: the counter froze while the process keeps exporting, over time;
//! - **process down**: nothing arrives from the process any more (at most one frozen point
//!   after its last beat, which a periodic exporter leaves behind when it is killed).

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Name, RuleState, resolve_alert};
use crate::alert::{Alert, AlertKind, AlertStatus, Classification};
use crate::clock::{human, ms, rfc3339};
use crate::rulefile::DeadmanRule;
use crate::state::{EmitterSeen, HistoryRow, StatusRow, TickReport};
use crate::store::{Pending, Role, Series, Store};

/// Windows of history kept for the diagnosis.
const KEEP_WINDOWS: i64 = 8;
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
    instance: Name,
    recv_ms: i64,
    time_ns: u64,
    value: f64,
    reason: Option<Box<str>>,
    /// A stop whose grace ran out (it paged): no longer keeps the rule quiet.
    expired: bool,
}

impl Status {
    fn row(&self) -> StatusRow {
        StatusRow {
            emitter: self.emitter.to_string(),
            instance: self.instance.to_string(),
            recv_ms: self.recv_ms,
            value: self.value,
            reason: self.reason.as_deref().map(str::to_owned),
        }
    }
}

/// One tick's worth of what arrived for a rule.
#[derive(Debug, Clone, Default, PartialEq)]
struct Slice {
    at_ms: i64,
    w: BeatWindow,
}

/// The state of one dead-man rule.
#[derive(Debug)]
pub(crate) struct DeadmanState {
    pub(crate) rule: DeadmanRule,
    window_ms: i64,
    tick_ms: i64,
    started_ms: i64,
    slices: VecDeque<Slice>,
    bad_since: Option<i64>,
    good_since: Option<i64>,
    statuses: Vec<Status>,
    last_instance: Option<Name>,
    instances: Vec<Name>,
    /// When the last point that carried a beat arrived.
    pub(crate) last_beat_ms: Option<i64>,
    /// Which process sent it.
    last_beat_instance: Option<Name>,
    last_value: f64,
    recent_values: Vec<f64>,
    last_beats: f64,
    /// A beat series of this rule was ever seen (or restored from the database).
    seen: bool,
    /// When a point of the rule's series last arrived.
    last_point_ms: Option<i64>,
    judged: bool,
    pub(crate) firing: Option<Alert>,
    /// Beats per emitter in the aligned window in progress, for the console's timeline.
    bucket_start_ms: i64,
    bucket: Vec<(Box<str>, f64)>,
    /// The window in progress began before the watch started: not a whole count, not written.
    bucket_partial: bool,
}

/// Emitters per dead-man rule kept in the console's timeline.
const HISTORY_EMITTERS: usize = 64;

impl DeadmanState {
    pub(crate) fn new(rule: DeadmanRule, now_ms: i64, tick_ms: i64) -> Self {
        let window_ms = ms(rule.window).max(1);
        Self {
            rule,
            window_ms,
            tick_ms: tick_ms.max(1),
            started_ms: now_ms,
            slices: VecDeque::new(),
            bad_since: None,
            good_since: None,
            statuses: Vec::new(),
            last_instance: None,
            instances: Vec::new(),
            last_beat_ms: None,
            last_beat_instance: None,
            last_value: 0.0,
            recent_values: Vec::new(),
            last_beats: 0.0,
            seen: false,
            last_point_ms: None,
            judged: false,
            firing: None,
            bucket_start_ms: now_ms.div_euclid(window_ms) * window_ms,
            bucket: Vec::new(),
            bucket_partial: now_ms.rem_euclid(window_ms) != 0,
        }
    }

    /// Closes the aligned windows that ended: one history row per emitter seen (0 for one that
    /// went silent), so the timeline shows the silence.
    fn close_buckets(&mut self, now_ms: i64, report: &mut TickReport) {
        while now_ms >= self.bucket_start_ms + self.window_ms {
            let skip = std::mem::take(&mut self.bucket_partial);
            for (emitter, beats) in &mut self.bucket {
                if skip {
                    *beats = 0.0;
                    continue;
                }
                report.history.push(HistoryRow {
                    rule: self.rule.name.clone(),
                    key: heartbeat::semconv::ATTR_EMITTER.to_owned(),
                    value: emitter.to_string(),
                    start_ms: self.bucket_start_ms,
                    successes: *beats,
                    failures: 0.0,
                    band: None,
                });
                *beats = 0.0;
            }
            self.bucket_start_ms += self.window_ms;
            if self.bucket_start_ms + self.window_ms <= now_ms - KEEP_WINDOWS * self.window_ms {
                // Far behind (a long pause): skip to the window before now.
                self.bucket_start_ms =
                    (now_ms - self.window_ms).div_euclid(self.window_ms) * self.window_ms;
            }
        }
    }

    /// Where the rule stands, for the SLA ledger.
    pub(crate) fn signal_now(&self, now_ms: i64) -> super::SignalNow {
        super::SignalNow {
            firing_since: self.firing.as_ref().map(|a| a.since_ms),
            judged: self.judged || self.stopped(),
            fresh: self
                .last_point_ms
                .is_some_and(|t| t > now_ms - self.window_ms)
                || self.stopped(),
        }
    }

    pub(crate) fn matches(&self, service: &str, emitter: &str) -> bool {
        self.rule.service == service && self.rule.emitter.as_deref().is_none_or(|e| e == emitter)
    }

    pub(crate) fn restore_firing(&mut self, alert: Alert) {
        self.bad_since = Some(alert.since_ms);
        self.firing = Some(alert);
    }

    /// A beat seen by a previous run of the watch.
    pub(crate) fn restore_seen(&mut self, seen: &EmitterSeen) {
        self.seen = true;
        self.last_beat_ms = self.last_beat_ms.max(Some(seen.last_seen_ms));
        self.last_value = seen.last_value;
    }

    /// A status persisted by a previous run (a graceful stop survives a restart).
    pub(crate) fn restore_status(&mut self, row: &StatusRow) {
        self.statuses.push(Status {
            emitter: Box::from(row.emitter.as_str()),
            instance: Arc::from(row.instance.as_str()),
            recv_ms: row.recv_ms,
            time_ns: 0,
            value: row.value,
            reason: row.reason.as_deref().map(Box::from),
            expired: false,
        });
    }

    /// When `max_silence` runs out, if it is set and the rule is not firing: the judge loop
    /// wakes then rather than at the next tick.
    pub(crate) fn deadline(&self) -> Option<i64> {
        let silence = ms(self.rule.max_silence?);
        if self.firing.is_some() || self.stopped() {
            return None;
        }
        Some(self.silence_ref() + silence)
    }

    /// Silence is counted from the last beat, but never from before the watch started: beats
    /// sent while it was down were not lost by the emitter.
    fn silence_ref(&self) -> i64 {
        self.last_beat_ms
            .unwrap_or(self.started_ms)
            .max(self.started_ms)
    }

    /// Takes in new points of a matching beat or status series.
    pub(crate) fn observe(
        &mut self,
        series: &Series,
        pending: &Pending,
        now_ms: i64,
        report: &mut TickReport,
        index: usize,
    ) -> Option<EmitterSeen> {
        self.last_point_ms = self.last_point_ms.max(Some(series.last_recv_ms));
        match &series.role {
            Role::Beats { emitter } => {
                self.seen = true;
                if let Some(b) = self.bucket.iter_mut().find(|b| *b.0 == **emitter) {
                    b.1 += pending.increase;
                } else if self.bucket.len() < HISTORY_EMITTERS {
                    self.bucket.push((emitter.clone(), pending.increase));
                }
                let mut w = BeatWindow {
                    start_ms: now_ms,
                    beats: pending.increase,
                    points: pending.points,
                    max_jump: pending.max_jump,
                    gaps: pending.gaps,
                    resets: pending.resets,
                    restarts: Vec::new(),
                };
                // A restart is an instance never seen before, after another one: replicas
                // beating side by side are not restarts.
                if !self.instances.contains(&series.instance) {
                    if let Some(last) = &self.last_instance {
                        w.restarts
                            .push((Arc::clone(last), Arc::clone(&series.instance)));
                    }
                    if self.instances.len() >= MAX_INSTANCES {
                        self.instances.remove(0);
                    }
                    self.instances.push(Arc::clone(&series.instance));
                }
                self.last_instance = Some(Arc::clone(&series.instance));
                let at_ms = if pending.increase > 0.0 {
                    pending
                        .last_increase_ms
                        .max(series.last_recv_ms.min(now_ms))
                } else {
                    series.last_recv_ms
                };
                if pending.increase > 0.0 {
                    self.last_beat_ms = self.last_beat_ms.max(Some(pending.last_increase_ms));
                    self.last_beat_instance = Some(Arc::clone(&series.instance));
                    // A beat after a stop is a beating successor (or the emitter started
                    // again): the stop no longer holds, whether or not the beater reports a
                    // status of its own.
                    let beat_at = pending.last_increase_ms;
                    let (ended, kept): (Vec<Status>, Vec<Status>) =
                        std::mem::take(&mut self.statuses)
                            .into_iter()
                            .partition(|s| s.value == 2.0 && s.recv_ms < beat_at);
                    self.statuses = kept;
                    for s in ended {
                        report.statuses.push((index, s.row(), false));
                    }
                }
                self.last_value = series.last_value;
                // The counts since the last beat when the count froze, else the latest ones.
                let recent: Vec<_> = series.recent().collect();
                let last_rise = recent.iter().rposition(|r| r.increase > 0.0);
                self.recent_values = match last_rise {
                    Some(i) if recent.len() - i > 2 => {
                        recent[i + 1..].iter().map(|r| r.value).collect()
                    }
                    _ => recent.iter().map(|r| r.value).collect(),
                };
                self.slices.push_back(Slice { at_ms, w });
                Some(EmitterSeen {
                    service: series.service.to_string(),
                    emitter: emitter.to_string(),
                    instance: series.instance.to_string(),
                    last_seen_ms: self.last_beat_ms.unwrap_or(now_ms),
                    last_value: series.last_value,
                })
            }
            Role::Status { emitter, reason } => {
                let mut status = Status {
                    emitter: emitter.clone(),
                    instance: Arc::clone(&series.instance),
                    recv_ms: series.last_recv_ms,
                    time_ns: series.last_time_ns,
                    value: series.last_value,
                    reason: reason.clone(),
                    expired: false,
                };
                let changed = match self.statuses.iter_mut().find(|s| s.emitter == *emitter) {
                    Some(s) => {
                        if (status.recv_ms, status.time_ns) >= (s.recv_ms, s.time_ns) {
                            let changed = s.value != status.value || s.instance != status.instance;
                            if changed {
                                s.recv_ms = status.recv_ms;
                            } else {
                                // The same state again: its start and expiry stand.
                                status.recv_ms = s.recv_ms;
                                status.expired = s.expired;
                            }
                            *s = status;
                            changed
                        } else {
                            false
                        }
                    }
                    None => {
                        self.statuses.push(status);
                        true
                    }
                };
                if changed && let Some(s) = self.statuses.iter().find(|s| s.emitter == *emitter) {
                    report.statuses.push((index, s.row(), true));
                }
                None
            }
            _ => None,
        }
    }

    /// Every known emitter's latest status is "stopped on purpose", within its grace.
    fn stopped(&self) -> bool {
        let mut live = self.statuses.iter().filter(|s| !s.expired).peekable();
        live.peek().is_some() && live.all(|s| s.value == 2.0)
    }

    fn failing(&self) -> Option<&Status> {
        self.statuses.iter().find(|s| s.value == 1.0)
    }

    /// What arrived in `(from, to]`, summed.
    fn sum(&self, from: i64, to: i64) -> BeatWindow {
        let mut out = BeatWindow {
            start_ms: from,
            ..BeatWindow::default()
        };
        for s in self
            .slices
            .iter()
            .filter(|s| s.at_ms > from && s.at_ms <= to)
        {
            out.beats += s.w.beats;
            out.points += s.w.points;
            out.max_jump = out.max_jump.max(s.w.max_jump);
            out.gaps += s.w.gaps;
            out.resets += s.w.resets;
            out.restarts.extend(s.w.restarts.iter().cloned());
        }
        out
    }

    /// One evaluation at `now_ms`.
    pub(crate) fn judge(
        &mut self,
        index: usize,
        store: &Store,
        now_ms: i64,
        report: &mut TickReport,
    ) {
        self.close_buckets(now_ms, report);
        let keep_from = now_ms - KEEP_WINDOWS * self.window_ms;
        while self.slices.front().is_some_and(|s| s.at_ms <= keep_from) {
            self.slices.pop_front();
        }
        let window = self.sum(now_ms - self.window_ms, now_ms);
        self.last_beats = window.beats;
        // Old statuses are forgotten: a failing status once its windows are past, a stop a
        // day after its grace ran out.
        let stale_failing = now_ms - KEEP_WINDOWS * self.window_ms;
        let stale_stop = now_ms - ms(self.rule.stop_grace) - 86_400_000;
        let mut kept = Vec::with_capacity(self.statuses.len());
        for s in self.statuses.drain(..) {
            let stale = if s.value == 2.0 {
                s.recv_ms < stale_stop
            } else {
                s.recv_ms < stale_failing
            };
            if stale {
                report.statuses.push((index, s.row(), false));
            } else {
                kept.push(s);
            }
        }
        self.statuses = kept;
        if self.stopped() {
            let stop_ms = self
                .statuses
                .iter()
                .filter(|s| !s.expired)
                .map(|s| s.recv_ms)
                .max()
                .unwrap_or(now_ms);
            let grace = ms(self.rule.stop_grace);
            if now_ms - stop_ms < grace {
                self.bad_since = None;
                self.good_since = None;
                let note =
                    "the emitter was stopped on purpose (heartbeat.emitter.status = 2)".to_owned();
                if let Some(alert) = resolve_alert(&mut self.firing, now_ms, Some(note)) {
                    report.events.push(alert);
                }
                return;
            }
            // Past the grace, nothing took over: page, then judge beats as usual (the stop
            // statuses are forgotten, so a successor's beats resolve it).
            if self.firing.is_none() {
                let alert = self.stopped_not_restarted(store, stop_ms, now_ms);
                self.bad_since = Some(alert.since_ms);
                self.firing = Some(alert.clone());
                report.events.push(alert);
            }
            for s in &mut self.statuses {
                s.expired = true;
            }
            self.good_since = None;
            return;
        }
        let warm = now_ms < self.started_ms + self.window_ms;
        let silent = self
            .rule
            .max_silence
            .is_some_and(|s| now_ms - self.silence_ref() >= ms(s));
        if warm && !silent {
            // The first window after a start is not fully observed: neither good nor bad.
            return;
        }
        let few = !warm && window.beats < f64::from(self.rule.min_beats);
        if !warm {
            self.judged = true;
        }
        if few || silent {
            self.good_since = None;
            let since = *self.bad_since.get_or_insert(now_ms);
            let hold = self.window_ms * i64::from(self.rule.fire_after.saturating_sub(1));
            if self.firing.is_none() && (silent || now_ms - since >= hold) {
                let alert = self.diagnose(store, now_ms, silent);
                self.firing = Some(alert.clone());
                report.events.push(alert);
            }
        } else {
            self.bad_since = None;
            let good = *self.good_since.get_or_insert(now_ms);
            let hold = self.window_ms * i64::from(self.rule.resolve_after.saturating_sub(1));
            if self.firing.is_some()
                && now_ms - good >= hold
                && let Some(alert) = resolve_alert(&mut self.firing, now_ms, window.recovery_note())
            {
                report.events.push(alert);
            }
        }
    }

    /// Where a silence began, on the tick grid (so that two watches fed the same beats agree).
    fn since(&self, now_ms: i64) -> i64 {
        match self.last_beat_ms {
            Some(t) if t >= self.started_ms => {
                (t.div_euclid(self.tick_ms) + i64::from(t.rem_euclid(self.tick_ms) != 0))
                    * self.tick_ms
            }
            _ => self.bad_since.unwrap_or(now_ms).min(now_ms),
        }
    }

    fn stopped_not_restarted(&self, store: &Store, stop_ms: i64, now_ms: i64) -> Alert {
        let rule = &self.rule;
        let subject = self.subject();
        let stopped: Vec<String> = self
            .statuses
            .iter()
            .map(|s| {
                let version = store
                    .services
                    .get(rule.service.as_str())
                    .and_then(|svc| svc.instances.iter().find(|i| i.id == s.instance))
                    .and_then(|i| i.version.as_deref())
                    .map_or(String::new(), |v| format!(" version {v}"));
                format!("{} (instance {}{version})", s.emitter, s.instance)
            })
            .collect();
        let version = self.statuses.first().and_then(|s| {
            store
                .services
                .get(rule.service.as_str())
                .and_then(|svc| svc.instances.iter().find(|i| i.id == s.instance))
                .and_then(|i| i.version.as_deref().map(str::to_owned))
        });
        let since_ms = stop_ms;
        let mut summary = format!(
            "{subject} was stopped on purpose {} ago and nothing took over",
            human(now_ms - stop_ms)
        );
        if let Some(v) = &version {
            summary.push_str(&format!(" (version {v} stopped)"));
        }
        let details = vec![
            format!("stopped: {}", stopped.join(", ")),
            format!(
                "stopped at {}; no beat since; stop_grace {}",
                rfc3339(stop_ms),
                human(ms(rule.stop_grace))
            ),
        ];
        let mut actions = vec![
            "check the deploy or the scheduler: the new version never started, or crashed before its first beat".to_owned(),
        ];
        if let Some(v) = version {
            actions.push(format!("if the new version cannot start, bring {v} back"));
        }
        actions
            .push("if the service was retired on purpose, remove or silence this rule".to_owned());
        self.alert(
            Classification::StoppedNotRestarted,
            since_ms,
            summary,
            details,
            actions,
        )
    }

    fn subject(&self) -> String {
        match &self.rule.emitter {
            Some(e) => format!("emitter {e:?} of {}", self.rule.service),
            None => format!("service {} (all its emitters)", self.rule.service),
        }
    }

    fn alert(
        &self,
        classification: Classification,
        since_ms: i64,
        summary: String,
        details: Vec<String>,
        actions: Vec<String>,
    ) -> Alert {
        let rule = &self.rule;
        let signal = match &rule.emitter {
            Some(e) => format!(
                "{}{{service.name=\"{}\",{}=\"{e}\"}}",
                heartbeat::semconv::METRIC_BEATS,
                rule.service,
                heartbeat::semconv::ATTR_EMITTER
            ),
            None => format!(
                "{}{{service.name=\"{}\"}}",
                heartbeat::semconv::METRIC_BEATS,
                rule.service
            ),
        };
        let mut conditions = vec![format!(
            "fewer than {} beats per {}",
            rule.min_beats,
            human(self.window_ms)
        )];
        if let Some(s) = rule.max_silence {
            conditions.push(format!("no beat for {}", human(ms(s))));
        }
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
            conditions,
            summary,
            details,
            tenants: Vec::new(),
            attributes: Vec::new(),
            deploys: Vec::new(),
            actions,
            runbook_url: rule.runbook_url.clone(),
            sop: rule.sop.clone(),
            actions_taken: Vec::new(),
            incident: None,
            delivery: Vec::new(),
        }
    }

    /// Whether the process that sent the last beat still exports, over time: at least three
    /// exports after its last beat, the latest in the second half of the silence. A killed
    /// process leaves at most the one frozen point of a periodic exporter behind.
    fn process_alive(&self, store: &Store, now_ms: i64) -> Option<(Name, usize)> {
        let last_beat = self.last_beat_ms?;
        let service = store.services.get(self.rule.service.as_str())?;
        // The process that sent the last beat: another process of the service exporting on
        // (a replica, a sidecar) says nothing about this one.
        service
            .instances
            .iter()
            .filter(|i| {
                self.last_beat_instance
                    .as_ref()
                    .is_none_or(|last| *last == i.id)
            })
            .find_map(|i| {
                let after = i.recent_recv.iter().filter(|&&t| t > last_beat).count();
                let recent = i.last_seen_ms >= last_beat + (now_ms - last_beat) / 2;
                (after >= 3 && recent).then(|| (Arc::clone(&i.id), after))
            })
    }

    fn diagnose(&self, store: &Store, now_ms: i64, silent: bool) -> Alert {
        let rule = &self.rule;
        let since_ms = self.since(now_ms);
        let from = since_ms.min(self.bad_since.unwrap_or(now_ms)) - self.window_ms;
        let bad = self.sum(from, now_ms);
        let before = self.sum(from - KEEP_WINDOWS * self.window_ms, from);
        let (beats, points, max_jump, gaps) = (bad.beats, bad.points, bad.max_jump, bad.gaps);
        let restarts = &bad.restarts;
        let resets = bad.resets;
        let service_seen = store
            .services
            .get(rule.service.as_str())
            .map(|s| s.last_seen_ms);
        let subject = self.subject();
        let mut details = vec![format!(
            "{} beat(s) in the last {}, fewer than {}",
            self.last_beats,
            human(self.window_ms),
            rule.min_beats
        )];
        if silent && let Some(s) = rule.max_silence {
            details[0] = format!(
                "no beat for {} (max_silence {})",
                human(now_ms - self.silence_ref()),
                human(ms(s))
            );
        }
        if let Some(t) = self.last_beat_ms {
            let who = self
                .last_beat_instance
                .as_ref()
                .map_or(String::new(), |i| format!(" from instance {i}"));
            details.push(format!(
                "last beat received {} ago ({}){who}",
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
            || (beats == 0.0 && before.points > 0 && before.lost_exports())
        {
            details.push(if gaps > 0 {
                format!(
                    "{points} point(s) received carrying {beats} beat(s); {gaps} of them did not start where the one before ended: the exports between never arrived"
                )
            } else if points > 0 {
                format!(
                    "{points} point(s) received carrying {beats} beat(s); the counter jumped by up to {} between received points",
                    max_jump.max(2.0)
                )
            } else {
                "before the silence, beats arrived in bursts: exports were being lost".to_owned()
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
        } else if !self.seen {
            let emitters = store.emitters_of(&rule.service);
            details.push(match (service_seen, emitters.is_empty()) {
                (Some(_), false) => format!(
                    "{} sends beats of other emitters: {}",
                    rule.service,
                    emitters.join(", ")
                ),
                (Some(_), true) => format!("{} exports, but no beats at all", rule.service),
                (None, _) => format!("nothing ever received from {}", rule.service),
            });
            (
                Classification::NeverSeen,
                format!("{subject} has never been seen: no beat of it ever arrived (is the rule right?)"),
                vec![
                    "check the rule's service and emitter names against what the service sends (heartbeat-watch check --rules FILE)".to_owned(),
                    format!("check that {} runs a dead-man emitter and exports to this watch", rule.service),
                ],
            )
        } else if let Some((instance, exports)) = self.process_alive(store, now_ms) {
            details.push(if points > 0 {
                format!(
                    "{points} point(s) received with a frozen count ({}); instance {instance} sent {exports} export(s) since its last beat",
                    self.last_value
                )
            } else {
                format!(
                    "instance {instance} of {} still exports other metrics ({exports} export(s) since its last beat), without beats",
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
                Classification::ProcessDown,
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
        self.alert(classification, since_ms, summary, details, actions)
    }

    pub(crate) fn view(&self, now_ms: i64) -> super::DeadmanView {
        let state = if self.firing.is_some() {
            RuleState::Firing
        } else if self.stopped() {
            RuleState::Stopped
        } else if !self.seen && self.judged {
            RuleState::NoData
        } else if !self.judged {
            RuleState::Warming
        } else if self.bad_since.is_some() {
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
            classification: self.firing.as_ref().map(|a| a.classification),
            seen: self.seen,
        }
    }
}
