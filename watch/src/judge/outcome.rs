//! Outcome rules: the success ratio below a floor, the success rate below a floor, a negative
//! anomaly against the seasonal baseline, and no data (`on_no_data`, a breach by default); and,
//! when one fires, the drill-down (which tenants and attribute values carry the drop) and the
//! deploys just before it.
//!
//! No data is a window without any event (or fewer than `min_expected_per_minute`): no series
//! ever matched, the counts stopped increasing, or every emitter of the service is gone. With
//! `on_no_data = "breach"` it is a bad window classified `no_data`, so a total outage pages
//! and counts as SLA downtime, and an alert firing when the data stops is not resolved by the
//! silence: it becomes `no_data`. In `quiet_hours` such a window is good.
//!
//! Drill-down: every tenant (`heartbeat.tenant`) and every value of a fixed attribute (such as
//! `surface`) keeps its usual successes and failures per window, an exponentially weighted
//! average over good windows only (so an outage is never learned as normal). In a bad window
//! each value's part of the drop is its missing successes plus its excess failures against
//! that usual; its share of the drop is compared with its usual share of the traffic, and the
//! values whose share of the drop is at least 10 % and 1.5 times their share of the traffic are
//! named. Before any good window, failures stand in for the drop.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use heartbeat::semconv::{ATTR_OUTCOME, ATTR_TENANT, METRIC_OUTCOMES};

use super::anomaly::{self, Expected};
use super::{DimView, Name, RuleState, SignalNow, resolve_alert};
use crate::alert::{Alert, AlertKind, AlertStatus, Classification, Contributor, Deploy};
use crate::clock::{human, ms, rfc3339};
use crate::rulefile::OnNoData;
use crate::rulefile::OutcomeRule;
use crate::state::{HistoryRow, TickReport, WindowRow};
use crate::store::{Pending, Role, Series, Store};

/// Weight of the newest good window in the usual per-value counts.
const EWMA: f64 = 0.3;
/// Smallest share of the drop a named contributor carries.
const MIN_SHARE: f64 = 0.10;
/// How much more than its share of the traffic a named contributor carries.
const OVER_SHARE: f64 = 1.5;
/// Contributors named per alert and attribute, at most.
const MAX_CONTRIBUTORS: usize = 8;
/// Attribute values tracked per rule; values past it are not drilled into.
const MAX_DIMS: usize = 20_000;
/// Drill-down values kept in the history per closed window (the console's split charts): the
/// history stays bounded however many tenants a rule has.
pub(crate) const HISTORY_DIMS: usize = 24;

#[derive(Debug, Clone, Default)]
struct Dim {
    key: Name,
    value: Box<str>,
    succ: f64,
    fail: f64,
    usual_succ: f64,
    usual_fail: f64,
    usual_windows: u32,
    last_succ: f64,
    last_fail: f64,
}

/// The state of one outcome rule.
#[derive(Debug)]
pub(crate) struct OutcomeState {
    pub(crate) rule: OutcomeRule,
    window_ms: i64,
    win_start: i64,
    partial: bool,
    succ: f64,
    fail: f64,
    reasons: HashMap<Box<str>, f64>,
    dims: Vec<Dim>,
    dim_index: HashMap<(Name, Box<str>), u32>,
    keys: HashMap<Box<str>, Name>,
    services: Vec<Name>,
    pub(crate) history: BTreeMap<i64, (f64, f64)>,
    streak_bad: u32,
    streak_good: u32,
    bad_since: Option<i64>,
    judged: bool,
    warming_anomaly: bool,
    last: (f64, f64),
    /// When the last closed window started, and whether it was the partial first one (counted,
    /// shown, not judged).
    last_start_ms: Option<i64>,
    last_partial: bool,
    pub(crate) firing: Option<Alert>,
    /// A series ever matched the rule.
    seen: bool,
    /// When a point of a matching series last arrived, and from which instances recently.
    last_point_ms: Option<i64>,
    /// When an event (an increase) last arrived.
    last_event_ms: Option<i64>,
    instances: Vec<(Name, i64)>,
    /// The last judged window had no data.
    no_data: bool,
}

impl OutcomeState {
    pub(crate) fn new(rule: OutcomeRule, now_ms: i64) -> Self {
        let window_ms = ms(rule.window).max(1);
        let win_start = now_ms.div_euclid(window_ms) * window_ms;
        Self {
            rule,
            window_ms,
            win_start,
            partial: win_start < now_ms,
            succ: 0.0,
            fail: 0.0,
            reasons: HashMap::new(),
            dims: Vec::new(),
            dim_index: HashMap::new(),
            keys: HashMap::new(),
            services: Vec::new(),
            history: BTreeMap::new(),
            streak_bad: 0,
            streak_good: 0,
            bad_since: None,
            judged: false,
            warming_anomaly: false,
            last: (0.0, 0.0),
            last_start_ms: None,
            last_partial: false,
            firing: None,
            seen: false,
            last_point_ms: None,
            last_event_ms: None,
            instances: Vec::new(),
            no_data: false,
        }
    }

    /// Where the rule stands, for the SLA ledger.
    pub(crate) fn signal_now(&self, now_ms: i64) -> SignalNow {
        SignalNow {
            firing_since: self.firing.as_ref().map(|a| a.since_ms),
            judged: self.judged,
            fresh: self
                .last_point_ms
                .is_some_and(|t| t > now_ms - self.window_ms),
        }
    }

    pub(crate) fn restore_firing(&mut self, alert: Alert) {
        self.streak_bad = self.rule.fire_after;
        self.bad_since = Some(alert.since_ms);
        self.firing = Some(alert);
    }

    pub(crate) fn matches(&self, series: &Series, outcome: &str) -> bool {
        self.rule.outcome == outcome
            && self
                .rule
                .service
                .as_deref()
                .is_none_or(|s| s == &*series.service)
            && self
                .rule
                .filters
                .iter()
                .all(|(k, v)| series.attr(k) == Some(v.as_str()))
    }

    /// The drill-down values a series feeds: its tenant and its fixed attributes outside the
    /// rule's filters.
    pub(crate) fn dims_of(&mut self, series: &Series) -> Box<[u32]> {
        let mut out = Vec::new();
        let tenant = match &series.role {
            Role::Outcome { tenant, .. } => tenant.as_deref(),
            _ => None,
        };
        let pairs = tenant.map(|t| (ATTR_TENANT, t)).into_iter().chain(
            series
                .fixed_attrs()
                .filter(|(k, _)| !self.rule.filters.contains_key(*k)),
        );
        for (k, v) in pairs {
            let key = match self.keys.get(k) {
                Some(key) => Arc::clone(key),
                None => {
                    let key: Name = Arc::from(k);
                    self.keys.insert(Box::from(k), Arc::clone(&key));
                    key
                }
            };
            let id = match self.dim_index.get(&(Arc::clone(&key), Box::from(v))) {
                Some(&id) => id,
                None if self.dims.len() < MAX_DIMS => {
                    let id = u32::try_from(self.dims.len()).unwrap_or(u32::MAX);
                    self.dims.push(Dim {
                        key: Arc::clone(&key),
                        value: Box::from(v),
                        ..Dim::default()
                    });
                    self.dim_index.insert((key, Box::from(v)), id);
                    id
                }
                None => continue,
            };
            out.push(id);
        }
        if !self.services.contains(&series.service) && self.services.len() < 64 {
            self.services.push(Arc::clone(&series.service));
        }
        out.into_boxed_slice()
    }

    /// Takes in new points of a matching outcome series.
    pub(crate) fn observe(
        &mut self,
        series: &Series,
        pending: &Pending,
        dims: &[u32],
        now_ms: i64,
    ) {
        let Role::Outcome {
            success, reason, ..
        } = &series.role
        else {
            return;
        };
        self.seen = true;
        let at = series.last_recv_ms.min(now_ms);
        self.last_point_ms = self.last_point_ms.max(Some(at));
        match self
            .instances
            .iter_mut()
            .find(|(i, _)| *i == series.instance)
        {
            Some(entry) => entry.1 = entry.1.max(at),
            None => {
                if self.instances.len() >= 16
                    && let Some(oldest) = self
                        .instances
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, (_, t))| *t)
                        .map(|(n, _)| n)
                {
                    self.instances.swap_remove(oldest);
                }
                self.instances.push((Arc::clone(&series.instance), at));
            }
        }
        let n = pending.increase;
        if n == 0.0 {
            return;
        }
        self.last_event_ms = self.last_event_ms.max(Some(at));
        if *success {
            self.succ += n;
        } else {
            self.fail += n;
            let reason = reason.as_deref().unwrap_or("unspecified");
            match self.reasons.get_mut(reason) {
                Some(c) => *c += n,
                None => {
                    if self.reasons.len() < 256 {
                        self.reasons.insert(Box::from(reason), n);
                    }
                }
            }
        }
        for &d in dims {
            if let Some(dim) = self.dims.get_mut(usize::try_from(d).unwrap_or(usize::MAX)) {
                if *success {
                    dim.succ += n;
                } else {
                    dim.fail += n;
                }
            }
        }
    }

    pub(crate) fn close_windows(
        &mut self,
        index: usize,
        store: &Store,
        now_ms: i64,
        report: &mut TickReport,
    ) {
        while now_ms >= self.win_start + self.window_ms {
            // Computed once per window: the judgement and the history's band both use it.
            let expected = self.expected();
            let band = self.band(expected);
            if self.partial {
                // Not judged (not fully observed), but shown: totals and drill-down of one
                // window always agree.
                self.last = (self.succ, self.fail);
            } else {
                self.judge_window(index, store, now_ms, expected, report);
            }
            self.last_start_ms = Some(self.win_start);
            self.last_partial = self.partial;
            if !self.partial {
                // A partial window's count is not a rate: the charts start at the first whole one.
                self.history_rows(band, report);
            }
            self.partial = false;
            self.reset_window();
            self.win_start += self.window_ms;
        }
    }

    /// The anomaly band of `expected`, `(expected, low, high)`: the median of past seasons, the
    /// drop threshold, and the mirror of the threshold above the median.
    fn band(&self, expected: Option<Expected>) -> Option<(f64, f64, f64)> {
        let (a, e) = (self.rule.anomaly?, expected?);
        let low = e.threshold(a.sensitivity);
        Some((e.median, low, e.median + (e.median - low)))
    }

    /// The window in progress as history rows: the rule's total, then the drill-down values
    /// that matter most (the most failures, then the most events), at most [`HISTORY_DIMS`].
    fn history_rows(&self, band: Option<(f64, f64, f64)>, report: &mut TickReport) {
        report.history.push(HistoryRow {
            rule: self.rule.name.clone(),
            key: String::new(),
            value: String::new(),
            start_ms: self.win_start,
            successes: self.succ,
            failures: self.fail,
            band,
        });
        let mut active: Vec<&Dim> = self.dims.iter().filter(|d| d.succ + d.fail > 0.0).collect();
        if active.len() > HISTORY_DIMS {
            // Half the room to the most failures, the rest to the most events.
            active.sort_by(|a, b| b.fail.total_cmp(&a.fail));
            let (worst, rest) = active.split_at_mut(HISTORY_DIMS / 2);
            rest.sort_by(|a, b| (b.succ + b.fail).total_cmp(&(a.succ + a.fail)));
            let keep = worst.len() + (HISTORY_DIMS - worst.len()).min(rest.len());
            active.truncate(keep);
        }
        for d in active {
            report.history.push(HistoryRow {
                rule: self.rule.name.clone(),
                key: d.key.to_string(),
                value: d.value.to_string(),
                start_ms: self.win_start,
                successes: d.succ,
                failures: d.fail,
                band: None,
            });
        }
    }

    fn reset_window(&mut self) {
        self.succ = 0.0;
        self.fail = 0.0;
        self.reasons.clear();
        for d in &mut self.dims {
            d.last_succ = d.succ;
            d.last_fail = d.fail;
            d.succ = 0.0;
            d.fail = 0.0;
        }
    }

    fn expected(&self) -> Option<Expected> {
        let a = self.rule.anomaly?;
        anomaly::expected(
            |t| self.history.get(&t).map(|v| v.0),
            self.win_start,
            self.window_ms,
            ms(a.season).max(self.window_ms),
            a.seasons(),
        )
    }

    fn judge_window(
        &mut self,
        index: usize,
        store: &Store,
        now_ms: i64,
        expected: Option<Expected>,
        report: &mut TickReport,
    ) {
        self.judged = true;
        let (s, f) = (self.succ, self.fail);
        self.last = (s, f);
        let minutes = self.window_ms as f64 / 60_000.0;
        let mut conditions: Vec<(Classification, String)> = Vec::new();
        let no_data = s + f == 0.0
            || self
                .rule
                .min_expected_per_minute
                .is_some_and(|m| (s + f) / minutes < m);
        let quiet =
            self.rule.quiet_hours.iter().any(|q| {
                q.contains(self.win_start) || q.contains(self.win_start + self.window_ms - 1)
            });
        self.no_data = no_data;
        if no_data {
            match (self.rule.on_no_data, quiet) {
                (_, true) | (OnNoData::Ok, _) => {}
                (OnNoData::Keep, false) => {
                    report.windows.push(WindowRow {
                        rule: index,
                        start_ms: self.win_start,
                        successes: s,
                        failures: f,
                    });
                    return;
                }
                (OnNoData::Breach, false) => {
                    conditions.push((Classification::NoData, self.no_data_text(store, now_ms)));
                }
            }
        }
        let judge_data = !no_data || self.rule.on_no_data == OnNoData::Breach && !quiet;
        if let Some(floor) = self.rule.min_success_ratio
            && s + f > 0.0
            && s / (s + f) < floor
        {
            conditions.push((
                Classification::SuccessRatio,
                format!(
                    "success ratio {:.3} below {floor} ({s} successes, {f} failures in {})",
                    s / (s + f),
                    human(self.window_ms)
                ),
            ));
        }
        if let Some(floor) = self.rule.min_rate_per_minute
            && judge_data
            && s / minutes < floor
        {
            conditions.push((
                Classification::SuccessRate,
                format!(
                    "{:.1} successes per minute, below {floor} ({s} in {})",
                    s / minutes,
                    human(self.window_ms)
                ),
            ));
        }
        self.warming_anomaly = self.rule.anomaly.is_some() && expected.is_none();
        if let (Some(e), Some(a)) = (expected, self.rule.anomaly)
            && judge_data
            && e.is_drop(s, a.sensitivity)
        {
            conditions.push((
                Classification::Anomaly,
                format!(
                    "{s} successes, below the seasonal baseline: expected {:.0} (spread {:.1}, {} past seasons), threshold {:.0}",
                    e.median,
                    e.spread,
                    e.seasons,
                    e.threshold(a.sensitivity)
                ),
            ));
        }
        report.windows.push(WindowRow {
            rule: index,
            start_ms: self.win_start,
            successes: s,
            failures: f,
        });
        self.history.insert(self.win_start, (s, f));
        if let Some(a) = self.rule.anomaly {
            let keep = ms(a.season) * i64::from(anomaly::MAX_SEASONS.max(a.seasons()) + 1);
            let cutoff = self.win_start - keep;
            while self
                .history
                .first_key_value()
                .is_some_and(|(&t, _)| t < cutoff)
            {
                self.history.pop_first();
            }
        } else {
            while self.history.len() > 64 {
                self.history.pop_first();
            }
        }
        if conditions.is_empty() {
            self.streak_good += 1;
            self.streak_bad = 0;
            self.bad_since = None;
            self.learn();
            if self.streak_good >= self.rule.resolve_after
                && let Some(alert) = resolve_alert(&mut self.firing, now_ms, None)
            {
                report.events.push(alert);
            }
        } else {
            self.streak_bad += 1;
            self.streak_good = 0;
            let since = *self.bad_since.get_or_insert(self.win_start);
            if self.firing.is_none() && self.streak_bad >= self.rule.fire_after {
                let alert = self.diagnose(conditions, expected, since, store);
                self.firing = Some(alert.clone());
                report.events.push(alert);
            } else if let Some(alert) = &mut self.firing
                && conditions
                    .first()
                    .is_some_and(|c| c.0 == Classification::NoData)
                && alert.classification != Classification::NoData
            {
                // The data stopped while the alert was firing: silence does not resolve it.
                let was = alert.classification;
                alert.classification = Classification::NoData;
                alert.details.push(format!(
                    "{} (the alert fired as {was}; silence does not resolve it)",
                    conditions.first().map_or("", |c| c.1.as_str())
                ));
                if !alert.conditions.iter().any(|c| c == "no_data") {
                    alert.conditions.push("no_data".to_owned());
                }
                report.updates.push(alert.clone());
            }
        }
    }

    /// What "no data" means right now, for the alert: nothing ever matched, the counts froze,
    /// or nothing arrives at all.
    fn no_data_text(&self, store: &Store, now_ms: i64) -> String {
        let rule = &self.rule;
        let (s, f) = (self.succ, self.fail);
        let window = human(self.window_ms);
        let head = if s + f == 0.0 {
            format!("no data: no {} event in {window}", rule.outcome)
        } else {
            format!(
                "no data: {} event(s) in {window}, fewer than the {} per minute expected",
                s + f,
                rule.min_expected_per_minute.unwrap_or(0.0)
            )
        };
        if !self.seen {
            let mut filters: Vec<String> = rule
                .filters
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            if let Some(service) = &rule.service {
                filters.insert(0, format!("service.name={service:?}"));
            }
            let seen = store.outcomes_of(rule.service.as_deref());
            let known = if seen.is_empty() {
                match &rule.service {
                    Some(svc) if store.services.contains_key(svc.as_str()) => {
                        format!("; {svc} sends no outcome at all")
                    }
                    Some(svc) => format!("; nothing ever received from {svc}"),
                    None => "; no outcome at all has arrived".to_owned(),
                }
            } else {
                format!("; outcomes seen: {}", seen.join(", "))
            };
            return format!(
                "{head}: no series has ever matched heartbeat.outcome={:?}{}{} (is the rule right?)",
                rule.outcome,
                if filters.is_empty() {
                    String::new()
                } else {
                    format!(" with {}", filters.join(", "))
                },
                known
            );
        }
        let last_event = self
            .last_event_ms
            .map_or("no event since the watch started".to_owned(), |t| {
                format!("last event {} ago ({})", human(now_ms - t), rfc3339(t))
            });
        let recent: Vec<String> = self
            .instances
            .iter()
            .filter(|(_, t)| *t > now_ms - self.window_ms)
            .map(|(i, _)| i.to_string())
            .collect();
        if recent.is_empty() {
            let last = self.last_point_ms.unwrap_or(now_ms);
            let from: Vec<String> = self.instances.iter().map(|(i, _)| i.to_string()).collect();
            format!(
                "{head}; {last_event}; nothing arrives from its emitters any more: the last point came {} ago ({}) from {}",
                human(now_ms - last),
                rfc3339(last),
                from.join(", ")
            )
        } else {
            format!(
                "{head}; {last_event}; points still arrive from {} with frozen counts: the process runs but the code path is not reached",
                recent.join(", ")
            )
        }
    }

    /// Folds a good window into the usual per-value counts.
    fn learn(&mut self) {
        for d in &mut self.dims {
            if d.usual_windows == 0 {
                d.usual_succ = d.succ;
                d.usual_fail = d.fail;
            } else {
                d.usual_succ += EWMA * (d.succ - d.usual_succ);
                d.usual_fail += EWMA * (d.fail - d.usual_fail);
            }
            d.usual_windows = d.usual_windows.saturating_add(1);
        }
    }

    fn contributors(&self) -> (Vec<Contributor>, Vec<Contributor>, bool) {
        // Per key: the part of the drop and the traffic of each value.
        let mut by_key: HashMap<&str, Vec<(usize, f64, f64)>> = HashMap::new();
        for (i, d) in self.dims.iter().enumerate() {
            let (impact, traffic) = if d.usual_windows > 0 {
                (
                    (d.usual_succ - d.succ).max(0.0) + (d.fail - d.usual_fail).max(0.0),
                    d.usual_succ + d.usual_fail,
                )
            } else {
                (d.fail, d.succ + d.fail)
            };
            by_key.entry(&d.key).or_default().push((i, impact, traffic));
        }
        let (mut tenants, mut attributes) = (Vec::new(), Vec::new());
        let mut spread = false;
        for (key, values) in by_key {
            let total_impact: f64 = values.iter().map(|v| v.1).sum();
            let total_traffic: f64 = values.iter().map(|v| v.2).sum();
            if total_impact <= 0.0 {
                continue;
            }
            let mut named: Vec<Contributor> = values
                .iter()
                .filter_map(|&(i, impact, traffic)| {
                    let share = impact / total_impact;
                    let traffic_share = if total_traffic > 0.0 {
                        traffic / total_traffic
                    } else {
                        0.0
                    };
                    if share < MIN_SHARE || share < OVER_SHARE * traffic_share {
                        return None;
                    }
                    let d = &self.dims[i];
                    let ratio = |s: f64, f: f64| (s + f > 0.0).then(|| s / (s + f));
                    Some(Contributor {
                        key: key.to_owned(),
                        value: d.value.to_string(),
                        share_of_drop: share,
                        share_of_traffic: traffic_share,
                        success_ratio: ratio(d.succ, d.fail),
                        usual_success_ratio: if d.usual_windows > 0 {
                            ratio(d.usual_succ, d.usual_fail)
                        } else {
                            None
                        },
                    })
                })
                .collect();
            if named.is_empty() {
                spread = true;
                continue;
            }
            named.sort_by(|a, b| b.share_of_drop.total_cmp(&a.share_of_drop));
            named.truncate(MAX_CONTRIBUTORS);
            if key == ATTR_TENANT {
                tenants = named;
            } else {
                attributes.extend(named);
            }
        }
        attributes.sort_by(|a, b| b.share_of_drop.total_cmp(&a.share_of_drop));
        (tenants, attributes, spread)
    }

    fn deploys(&self, store: &Store, since_ms: i64) -> Vec<Deploy> {
        let lookback = (10 * self.window_ms).max(15 * 60_000);
        let mut out = Vec::new();
        let services: Vec<&str> = match &self.rule.service {
            Some(s) => vec![s.as_str()],
            None => self.services.iter().map(|s| &**s).collect(),
        };
        for name in services {
            let Some(service) = store.services.get(name) else {
                continue;
            };
            for pair in service.versions.windows(2) {
                let (from, to) = (&pair[0], &pair[1]);
                if to.1 >= since_ms - lookback && to.1 <= since_ms + self.window_ms {
                    out.push(Deploy {
                        service: name.to_owned(),
                        from: from.0.to_string(),
                        to: to.0.to_string(),
                        at_ms: to.1,
                        before_start_ms: since_ms - to.1,
                    });
                }
            }
        }
        out
    }

    fn diagnose(
        &self,
        conditions: Vec<(Classification, String)>,
        expected: Option<Expected>,
        since_ms: i64,
        store: &Store,
    ) -> Alert {
        let rule = &self.rule;
        let classification = conditions
            .first()
            .map_or(Classification::SuccessRatio, |c| c.0);
        let mut selector = format!("{ATTR_OUTCOME}=\"{}\"", rule.outcome);
        if let Some(s) = &rule.service {
            selector.push_str(&format!(",service.name=\"{s}\""));
        }
        for (k, v) in &rule.filters {
            selector.push_str(&format!(",{k}=\"{v}\""));
        }
        let signal = format!("{METRIC_OUTCOMES}{{{selector}}}");
        let (tenants, attributes, spread) = self.contributors();
        let deploys = self.deploys(store, since_ms);
        let mut details: Vec<String> = conditions.iter().map(|c| c.1.clone()).collect();
        if let Some(e) = expected {
            details.push(format!(
                "seasonal baseline for this window: {:.0} successes",
                e.median
            ));
        }
        let mut reasons: Vec<(&str, f64)> = self.reasons.iter().map(|(r, c)| (&**r, *c)).collect();
        reasons.sort_by(|a, b| b.1.total_cmp(&a.1));
        if !reasons.is_empty() && self.fail > 0.0 {
            let top: Vec<String> = reasons
                .iter()
                .take(3)
                .map(|(r, c)| format!("{r} {:.0}%", c / self.fail * 100.0))
                .collect();
            details.push(format!("failure reasons: {}", top.join(", ")));
        }
        if spread && tenants.is_empty() {
            details.push(
                "the drop is spread across tenants in proportion to their traffic".to_owned(),
            );
        }
        let mut actions = Vec::new();
        for d in &deploys {
            let when = if d.before_start_ms >= 0 {
                format!("{} before the drop", human(d.before_start_ms))
            } else {
                format!("{} after the drop began", human(-d.before_start_ms))
            };
            actions.push(format!(
                "deploy of {} {} -> {} {when}; roll back to {}",
                d.service, d.from, d.to, d.from
            ));
        }
        if !attributes.is_empty() {
            let list: Vec<String> = attributes
                .iter()
                .take(3)
                .map(|a| {
                    format!(
                        "{}={} ({:.0}% of the drop)",
                        a.key,
                        a.value,
                        a.share_of_drop * 100.0
                    )
                })
                .collect();
            actions.push(format!("look at what serves {}", list.join(", ")));
        }
        if !tenants.is_empty() {
            let list: Vec<&str> = tenants.iter().take(5).map(|t| t.value.as_str()).collect();
            actions.push(format!(
                "tenants {} carry the drop: check their configuration, quotas and recent changes; tell their account owners",
                list.join(", ")
            ));
        }
        if let Some((reason, _)) = reasons.first() {
            actions.push(format!("start from the top failure reason: {reason}"));
        }
        if classification == Classification::NoData {
            actions.insert(
                0,
                if self.seen {
                    format!(
                        "check that the services sending {} are running and reach this watch; then whether the code path that records it is still reached (a stuck queue, a disabled feature, a routing change)",
                        rule.outcome
                    )
                } else {
                    "check the rule's outcome name and where filter against what is sent (heartbeat-watch check --rules FILE)".to_owned()
                },
            );
        }
        actions.push("open an incident and page the responder".to_owned());
        let mut summary = format!("{} is dropping", rule.outcome);
        if let Some(c) = conditions.first() {
            summary = format!("{}: {}", rule.outcome, c.1);
        }
        if let Some(a) = attributes.first() {
            summary.push_str(&format!("; mostly {}={}", a.key, a.value));
        }
        if !tenants.is_empty() {
            let list: Vec<&str> = tenants.iter().take(3).map(|t| t.value.as_str()).collect();
            summary.push_str(&format!("; tenants {}", list.join(", ")));
        }
        if let Some(d) = deploys.last() {
            summary.push_str(&format!("; after deploy {} -> {}", d.from, d.to));
        }
        Alert {
            id: format!("{}@{since_ms}", rule.name),
            rule: rule.name.clone(),
            kind: AlertKind::Outcome,
            status: AlertStatus::Firing,
            severity: rule.severity.as_str().to_owned(),
            service: rule.service.clone(),
            signal,
            since_ms,
            since: rfc3339(since_ms),
            resolved_ms: None,
            classification,
            conditions: conditions
                .into_iter()
                .map(|c| c.0.as_str().to_owned())
                .collect(),
            summary,
            details,
            tenants,
            attributes,
            deploys,
            actions,
            runbook_url: rule.runbook_url.clone(),
            sop: rule.sop.clone(),
            actions_taken: Vec::new(),
            incident: None,
            delivery: Vec::new(),
        }
    }

    pub(crate) fn view(&self) -> super::OutcomeView {
        let state = if self.firing.is_some() {
            RuleState::Firing
        } else if !self.judged {
            RuleState::Warming
        } else if self.no_data || !self.seen {
            RuleState::NoData
        } else if self.streak_bad > 0 {
            RuleState::Pending
        } else if self.warming_anomaly
            && self.rule.min_success_ratio.is_none()
            && self.rule.min_rate_per_minute.is_none()
        {
            RuleState::Warming
        } else {
            RuleState::Ok
        };
        let (s, f) = self.last;
        let by_attribute = dim_views(&self.dims, |d| (d.last_succ, d.last_fail));
        let partial = super::PartialView {
            start_ms: self.win_start,
            successes: self.succ,
            failures: self.fail,
            by_attribute: dim_views(&self.dims, |d| (d.succ, d.fail)),
        };
        super::OutcomeView {
            rule: self.rule.name.clone(),
            outcome: self.rule.outcome.clone(),
            window_ms: self.window_ms,
            successes: s,
            failures: f,
            rate_per_minute: s / (self.window_ms as f64 / 60_000.0),
            success_ratio: (s + f > 0.0).then(|| s / (s + f)),
            state,
            by_attribute,
            seen: self.seen,
            last_point_ms: self.last_point_ms,
            classification: self.firing.as_ref().map(|a| a.classification),
            window_start_ms: self.last_start_ms,
            last_window_partial: self.last_partial,
            partial,
        }
    }
}

/// The drill-down of one window, tenants first, then by volume; `counts` picks the window.
fn dim_views(dims: &[Dim], counts: impl Fn(&Dim) -> (f64, f64)) -> Vec<DimView> {
    let mut out: Vec<DimView> = dims
        .iter()
        .filter_map(|d| {
            let (s, f) = counts(d);
            (s + f > 0.0).then(|| DimView {
                key: d.key.to_string(),
                value: d.value.to_string(),
                successes: s,
                failures: f,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (a.key != ATTR_TENANT)
            .cmp(&(b.key != ATTR_TENANT))
            .reverse()
            .then((b.successes + b.failures).total_cmp(&(a.successes + a.failures)))
    });
    out
}
