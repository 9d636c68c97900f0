//! The in-memory series store: every series the receiver accepted, keyed by
//! `(service.name, service.instance.id, metric, attributes)`, with its recent points and the
//! increases not yet read by the judge.
//!
//! Cumulative sums become increases here: the first point of a series counts from zero when the
//! series is new for a process the watch already knew or that started after the watch did (a
//! tenant's first event, a restart), and from its own value otherwise (a process that ran
//! before the watch: what it counted earlier is not this window's); a lower value or a new start
//! time is a reset, counted from zero; a point not newer than the last one is a duplicate.
//! Delta sums add up as they come. Gauges keep their last value.

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::RandomState;

use heartbeat::semconv::{
    ATTR_EMITTER, ATTR_OUTCOME, ATTR_REASON, ATTR_RESULT, ATTR_TENANT, METRIC_BEATS,
    METRIC_EMITTER_STATUS, METRIC_OUTCOMES,
};

use crate::ingest::{Batch, Kind, Point};

/// Recent points kept per series.
pub(crate) const RING: usize = 8;
/// Instances remembered per service (the most recently seen).
const MAX_INSTANCES: usize = 64;
/// Versions remembered per service.
const MAX_VERSIONS: usize = 16;

/// What a series is, read once from its metric name and attributes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Role {
    /// `heartbeat.outcomes`.
    Outcome {
        outcome: Box<str>,
        success: bool,
        reason: Option<Box<str>>,
        tenant: Option<Box<str>>,
    },
    /// `heartbeat.beats`.
    Beats { emitter: Box<str> },
    /// `heartbeat.emitter.status`.
    Status {
        emitter: Box<str>,
        reason: Option<Box<str>>,
    },
    /// Anything else: stored, shown, not judged.
    Other,
}

/// One recent point: when it arrived, its value and the increase it carried.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Recent {
    pub(crate) recv_ms: i64,
    pub(crate) value: f64,
    pub(crate) increase: f64,
}

/// What arrived for a series since the judge last read it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Pending {
    /// Sum of increases (sums) since the last read.
    pub(crate) increase: f64,
    /// Points received.
    pub(crate) points: u32,
    /// The largest increase carried by one cumulative point. (A delta point carrying 2 is two
    /// beats in one export, not a loss: delta losses show as `gaps`.)
    pub(crate) max_jump: f64,
    /// Delta points that do not start where the series' previous point ended: the intervals
    /// between were exported and never arrived.
    pub(crate) gaps: u32,
    /// Resets seen (a lower value or a new start time).
    pub(crate) resets: u32,
    /// When the latest point that carried an increase arrived (ms since the epoch).
    pub(crate) last_increase_ms: i64,
}

/// One series.
#[derive(Debug)]
pub(crate) struct Series {
    pub(crate) service: Arc<str>,
    pub(crate) instance: Arc<str>,
    pub(crate) metric: Arc<str>,
    /// Attributes sorted by key.
    pub(crate) attrs: Box<[(Box<str>, Box<str>)]>,
    pub(crate) kind: Kind,
    pub(crate) role: Role,
    /// Bumped when the slot is reused for another series.
    pub(crate) generation: u32,
    pub(crate) last_start_ns: u64,
    pub(crate) last_time_ns: u64,
    pub(crate) last_value: f64,
    pub(crate) last_recv_ms: i64,
    pub(crate) pending: Pending,
    ring: [Recent; RING],
    ring_len: u8,
    ring_head: u8,
    live: bool,
}

impl Series {
    /// Fixed attributes: those outside the reserved `heartbeat.` namespace.
    pub(crate) fn fixed_attrs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attrs
            .iter()
            .filter(|(k, _)| !k.starts_with(heartbeat::semconv::RESERVED_PREFIX))
            .map(|(k, v)| (&**k, &**v))
    }

    /// The value of attribute `key`.
    pub(crate) fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| &*self.attrs[i].1)
    }

    /// Recent points, oldest first.
    pub(crate) fn recent(&self) -> impl Iterator<Item = &Recent> {
        let len = usize::from(self.ring_len);
        let head = usize::from(self.ring_head);
        (0..len).map(move |i| &self.ring[(head + RING - len + i) % RING])
    }

    fn push_recent(&mut self, r: Recent) {
        let head = usize::from(self.ring_head);
        self.ring[head] = r;
        self.ring_head = u8::try_from((head + 1) % RING).unwrap_or(0);
        if usize::from(self.ring_len) < RING {
            self.ring_len += 1;
        }
    }

    /// Bytes this series holds, including its heap allocations (not the index entry).
    pub(crate) fn heap_bytes(&self) -> usize {
        let attrs: usize = self.attrs.iter().map(|(k, v)| k.len() + v.len()).sum();
        let role = match &self.role {
            Role::Outcome {
                outcome,
                reason,
                tenant,
                ..
            } => {
                outcome.len()
                    + reason.as_ref().map_or(0, |r| r.len())
                    + tenant.as_ref().map_or(0, |t| t.len())
            }
            Role::Beats { emitter } => emitter.len(),
            Role::Status { emitter, reason } => {
                emitter.len() + reason.as_ref().map_or(0, |r| r.len())
            }
            Role::Other => 0,
        };
        std::mem::size_of::<Self>()
            + self.attrs.len() * std::mem::size_of::<(Box<str>, Box<str>)>()
            + attrs
            + role
    }
}

/// What the store knows of one process (`service.instance.id`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Instance {
    pub(crate) id: Arc<str>,
    pub(crate) first_seen_ms: i64,
    pub(crate) last_seen_ms: i64,
    pub(crate) version: Option<Box<str>>,
    /// When its latest exports arrived (distinct times, oldest first): what the process still
    /// sends over time tells a dead process from a dead emitter in a live one.
    pub(crate) recent_recv: std::collections::VecDeque<i64>,
}

/// Export arrival times remembered per instance.
const RECENT_EXPORTS: usize = 8;

/// What the store knows of one service: its processes and its deploys.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Service {
    pub(crate) instances: Vec<Instance>,
    /// `(version, first seen)`, in the order they appeared.
    pub(crate) versions: Vec<(Box<str>, i64)>,
    pub(crate) last_seen_ms: i64,
}

/// The series store.
#[derive(Debug)]
pub(crate) struct Store {
    index: HashMap<Box<str>, u32, RandomState>,
    series: Vec<Series>,
    free: Vec<u32>,
    dirty: Vec<u32>,
    pub(crate) services: HashMap<Arc<str>, Service, RandomState>,
    strings: HashMap<Box<str>, Arc<str>, RandomState>,
    key: String,
    max_series: usize,
    watch_start_ns: u64,
    live: usize,
    pub(crate) points_stored: u64,
}

impl Store {
    /// An empty store holding at most `max_series` series; `now_ms` is when the watch started.
    pub(crate) fn new(max_series: usize, now_ms: i64) -> Self {
        Self {
            index: HashMap::default(),
            series: Vec::new(),
            free: Vec::new(),
            dirty: Vec::new(),
            services: HashMap::default(),
            strings: HashMap::default(),
            key: String::with_capacity(256),
            max_series,
            watch_start_ns: u64::try_from(now_ms).unwrap_or(0).saturating_mul(1_000_000),
            live: 0,
            points_stored: 0,
        }
    }

    /// Live series.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Bytes held by live series (structs and their heap), the index and the strings.
    pub(crate) fn approx_bytes(&self) -> usize {
        let series: usize = self.series.iter().map(Series::heap_bytes).sum();
        let index: usize = self
            .index
            .keys()
            .map(|k| k.len() + std::mem::size_of::<(Box<str>, u32)>() + 1)
            .sum();
        series + index
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(Box::from(s), Arc::clone(&a));
        a
    }

    /// Stores a validated batch received at `now_ms`. Points that would create a series past the
    /// limit are rejected in `batch`.
    pub(crate) fn ingest(&mut self, batch: &mut Batch, now_ms: i64) {
        let mut over_limit = 0u64;
        for resource in &batch.resources {
            let service = self.intern(&resource.service);
            let instance = self.intern(&resource.instance);
            let known_instance = self.note_instance(&service, &instance, resource, now_ms);
            for metric in &resource.metrics {
                let name = self.intern(&metric.name);
                for point in &metric.points {
                    match self.slot(&service, &instance, &name, metric.kind, point) {
                        Some(id) => {
                            self.apply(id, metric.kind, point, now_ms, known_instance);
                        }
                        None => over_limit += 1,
                    }
                }
            }
        }
        if over_limit > 0 {
            batch.rejected += over_limit;
            batch.accepted = batch.accepted.saturating_sub(over_limit);
            let limit = self.max_series;
            batch.add_message(format!(
                "the watch tracks at most {limit} series; points of new series are refused until old ones expire"
            ));
        }
        self.points_stored += batch.accepted;
    }

    /// Records the resource's instance and version; `true` if the instance was seen before.
    fn note_instance(
        &mut self,
        service: &Arc<str>,
        instance: &Arc<str>,
        resource: &crate::ingest::ResourcePoints,
        now_ms: i64,
    ) -> bool {
        let entry = self.services.entry(Arc::clone(service)).or_default();
        entry.last_seen_ms = now_ms;
        // A deploy is a new process with another version (or a process changing its own), not
        // an old process's last exports arriving after its successor's first ones.
        let own = entry
            .instances
            .iter()
            .find(|i| i.id == *instance)
            .map(|i| i.version.as_deref());
        let changed = |v: &str| match own {
            Some(old) => old != Some(v),
            None => true,
        };
        if let Some(v) = &resource.version
            && changed(v)
            && entry.versions.last().is_none_or(|(last, _)| **last != **v)
        {
            if entry.versions.len() >= MAX_VERSIONS {
                entry.versions.remove(0);
            }
            entry.versions.push((Box::from(v.as_str()), now_ms));
        }
        if let Some(i) = entry.instances.iter_mut().find(|i| i.id == *instance) {
            let known = i.last_seen_ms < now_ms || i.first_seen_ms < now_ms;
            i.last_seen_ms = now_ms;
            if i.recent_recv.back() != Some(&now_ms) {
                if i.recent_recv.len() >= RECENT_EXPORTS {
                    i.recent_recv.pop_front();
                }
                i.recent_recv.push_back(now_ms);
            }
            if let Some(v) = &resource.version {
                i.version = Some(Box::from(v.as_str()));
            }
            return known;
        }
        if entry.instances.len() >= MAX_INSTANCES
            && let Some(oldest) = entry
                .instances
                .iter()
                .enumerate()
                .min_by_key(|(_, i)| i.last_seen_ms)
                .map(|(n, _)| n)
        {
            entry.instances.swap_remove(oldest);
        }
        entry.instances.push(Instance {
            id: Arc::clone(instance),
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
            version: resource.version.as_deref().map(Box::from),
            recent_recv: std::collections::VecDeque::from([now_ms]),
        });
        false
    }

    /// The slot of the point's series, created if new; `None` past the series limit.
    fn slot(
        &mut self,
        service: &Arc<str>,
        instance: &Arc<str>,
        metric: &Arc<str>,
        kind: Kind,
        point: &Point,
    ) -> Option<u32> {
        let mut order: Vec<usize> = (0..point.attrs.len()).collect();
        order.sort_unstable_by(|a, b| point.attrs[*a].0.cmp(&point.attrs[*b].0));
        order.dedup_by(|a, b| point.attrs[*a].0 == point.attrs[*b].0);
        self.key.clear();
        for part in [&**service, &**instance, &**metric] {
            self.key.push_str(part);
            self.key.push('\u{1f}');
        }
        for &i in &order {
            let (k, v) = &point.attrs[i];
            self.key.push_str(k);
            self.key.push('\u{1e}');
            self.key.push_str(v);
            self.key.push('\u{1f}');
        }
        if let Some(&id) = self.index.get(self.key.as_str()) {
            return Some(id);
        }
        if self.live >= self.max_series {
            return None;
        }
        let attrs: Box<[(Box<str>, Box<str>)]> = order
            .iter()
            .map(|&i| {
                let (k, v) = &point.attrs[i];
                (Box::from(k.as_str()), Box::from(v.as_str()))
            })
            .collect();
        let role = role_of(metric, &attrs);
        let series = Series {
            service: Arc::clone(service),
            instance: Arc::clone(instance),
            metric: Arc::clone(metric),
            attrs,
            kind,
            role,
            generation: 0,
            last_start_ns: 0,
            last_time_ns: 0,
            last_value: 0.0,
            last_recv_ms: 0,
            pending: Pending::default(),
            ring: [Recent::default(); RING],
            ring_len: 0,
            ring_head: 0,
            live: true,
        };
        let id = if let Some(id) = self.free.pop() {
            let slot = &mut self.series[usize::try_from(id).ok()?];
            let generation = slot.generation.wrapping_add(1);
            *slot = series;
            slot.generation = generation;
            id
        } else {
            self.series.push(series);
            u32::try_from(self.series.len() - 1).ok()?
        };
        self.index.insert(Box::from(self.key.as_str()), id);
        self.live += 1;
        Some(id)
    }

    fn apply(&mut self, id: u32, kind: Kind, point: &Point, now_ms: i64, known_instance: bool) {
        let watch_start_ns = self.watch_start_ns;
        let Some(s) = self
            .series
            .get_mut(usize::try_from(id).unwrap_or(usize::MAX))
        else {
            return;
        };
        let first = s.last_time_ns == 0;
        if !first && point.time_ns <= s.last_time_ns && point.start_ns == s.last_start_ns {
            return; // a duplicate or out-of-order point: already counted
        }
        let mut reset = false;
        let gap = kind == Kind::Delta && !first && point.start_ns > s.last_time_ns;
        let increase = match kind {
            Kind::Gauge => 0.0,
            Kind::Delta => point.value,
            Kind::Cumulative if first => {
                if known_instance || point.start_ns >= watch_start_ns {
                    point.value
                } else {
                    0.0
                }
            }
            Kind::Cumulative => {
                if point.start_ns != s.last_start_ns || point.value < s.last_value {
                    reset = true;
                    point.value
                } else {
                    point.value - s.last_value
                }
            }
        };
        s.kind = kind;
        s.last_start_ns = point.start_ns;
        s.last_time_ns = point.time_ns;
        s.last_value = point.value;
        s.last_recv_ms = now_ms;
        if s.pending.points == 0 {
            self.dirty.push(id);
        }
        s.pending.points += 1;
        s.pending.increase += increase;
        if increase > 0.0 {
            s.pending.last_increase_ms = now_ms;
        }
        if kind == Kind::Cumulative && increase > s.pending.max_jump {
            s.pending.max_jump = increase;
        }
        if gap {
            s.pending.gaps += 1;
        }
        if reset {
            s.pending.resets += 1;
        }
        s.push_recent(Recent {
            recv_ms: now_ms,
            value: point.value,
            increase,
        });
    }

    /// Hands every series with new points to `f` and clears what it had pending.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(u32, &Series, Pending)) {
        let dirty = std::mem::take(&mut self.dirty);
        for &id in &dirty {
            if let Some(s) = self
                .series
                .get_mut(usize::try_from(id).unwrap_or(usize::MAX))
            {
                let pending = std::mem::take(&mut s.pending);
                if s.live {
                    f(id, s, pending);
                }
            }
        }
        let mut dirty = dirty;
        dirty.clear();
        self.dirty = dirty;
    }

    /// The `heartbeat.outcome` names live series carry (of one service, or all), sorted.
    pub(crate) fn outcomes_of(&self, service: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = self
            .series
            .iter()
            .filter(|s| s.live && service.is_none_or(|svc| &*s.service == svc))
            .filter_map(|s| match &s.role {
                Role::Outcome { outcome, .. } => Some(outcome.to_string()),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The `heartbeat.emitter` names of a service's live beat series, sorted.
    pub(crate) fn emitters_of(&self, service: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .series
            .iter()
            .filter(|s| s.live && &*s.service == service)
            .filter_map(|s| match &s.role {
                Role::Beats { emitter } => Some(emitter.to_string()),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Forgets series that received nothing since `before_ms`; returns how many.
    pub(crate) fn expire(&mut self, before_ms: i64) -> usize {
        let mut removed = 0;
        for (i, s) in self.series.iter_mut().enumerate() {
            if s.live && s.last_recv_ms < before_ms && s.pending.points == 0 {
                s.live = false;
                self.key.clear();
                for part in [&*s.service, &*s.instance, &*s.metric] {
                    self.key.push_str(part);
                    self.key.push('\u{1f}');
                }
                for (k, v) in s.attrs.iter() {
                    self.key.push_str(k);
                    self.key.push('\u{1e}');
                    self.key.push_str(v);
                    self.key.push('\u{1f}');
                }
                self.index.remove(self.key.as_str());
                s.attrs = Box::new([]);
                self.free.push(u32::try_from(i).unwrap_or(u32::MAX));
                removed += 1;
            }
        }
        self.live -= removed;
        removed
    }
}

fn role_of(metric: &str, attrs: &[(Box<str>, Box<str>)]) -> Role {
    let get = |key: &str| {
        attrs
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .map(|i| attrs[i].1.clone())
    };
    match metric {
        METRIC_OUTCOMES => match get(ATTR_OUTCOME) {
            Some(outcome) => Role::Outcome {
                outcome,
                success: get(ATTR_RESULT).as_deref() != Some("failure"),
                reason: get(ATTR_REASON),
                tenant: get(ATTR_TENANT),
            },
            None => Role::Other,
        },
        METRIC_BEATS => Role::Beats {
            emitter: get(ATTR_EMITTER).unwrap_or_default(),
        },
        METRIC_EMITTER_STATUS => Role::Status {
            emitter: get(ATTR_EMITTER).unwrap_or_default(),
            reason: get(ATTR_REASON),
        },
        _ => Role::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{MetricPoints, ResourcePoints};

    const NS: u64 = 1_000_000;

    fn batch(instance: &str, kind: Kind, points: Vec<(u64, u64, f64)>) -> Batch {
        Batch {
            accepted: points.len() as u64,
            resources: vec![ResourcePoints {
                service: "svc".into(),
                instance: instance.into(),
                version: Some("1.0".into()),
                metrics: vec![MetricPoints {
                    name: "heartbeat.beats".into(),
                    kind,
                    points: points
                        .into_iter()
                        .map(|(start_ms, time_ms, value)| Point {
                            attrs: vec![("heartbeat.emitter".into(), "api".into())],
                            start_ns: start_ms * NS,
                            time_ns: time_ms * NS,
                            value,
                        })
                        .collect(),
                }],
            }],
            ..Batch::default()
        }
    }

    fn drained(store: &mut Store) -> Vec<Pending> {
        let mut out = Vec::new();
        store.drain(|_, _, p| out.push(p));
        out
    }

    #[test]
    fn cumulative_points_become_increases_and_resets_count_from_zero() {
        let mut store = Store::new(10, 1000);
        store.ingest(
            &mut batch("a", Kind::Cumulative, vec![(1000, 2000, 3.0)]),
            2000,
        );
        store.ingest(
            &mut batch("a", Kind::Cumulative, vec![(1000, 3000, 5.0)]),
            3000,
        );
        // A lower value: a reset, counted from zero.
        store.ingest(
            &mut batch("a", Kind::Cumulative, vec![(1000, 4000, 1.0)]),
            4000,
        );
        // A new start time: a restart, counted from zero.
        store.ingest(
            &mut batch("a", Kind::Cumulative, vec![(3500, 5000, 2.0)]),
            5000,
        );
        let p = drained(&mut store);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].increase, 3.0 + 2.0 + 1.0 + 2.0);
        assert_eq!((p[0].points, p[0].resets), (4, 2));
        assert_eq!(p[0].max_jump, 3.0);
    }

    #[test]
    fn a_process_older_than_the_watch_counts_its_first_point_as_zero() {
        let mut store = Store::new(10, 10_000);
        store.ingest(
            &mut batch("a", Kind::Cumulative, vec![(1000, 11_000, 500.0)]),
            11_000,
        );
        store.ingest(
            &mut batch("a", Kind::Cumulative, vec![(1000, 12_000, 502.0)]),
            12_000,
        );
        assert_eq!(drained(&mut store)[0].increase, 2.0);
    }

    #[test]
    fn duplicates_are_not_counted_twice() {
        let mut store = Store::new(10, 0);
        for _ in 0..3 {
            store.ingest(
                &mut batch("a", Kind::Cumulative, vec![(0, 2000, 4.0)]),
                2000,
            );
        }
        let p = drained(&mut store);
        assert_eq!((p[0].increase, p[0].points), (4.0, 1));
    }

    #[test]
    fn delta_points_add_up_and_the_ring_keeps_the_latest() {
        let mut store = Store::new(10, 0);
        for t in 1..=10u64 {
            store.ingest(
                &mut batch("a", Kind::Delta, vec![(t * 1000 - 1000, t * 1000, 1.0)]),
                t as i64 * 1000,
            );
        }
        assert_eq!(drained(&mut store)[0].increase, 10.0);
        let mut recent = Vec::new();
        store.drain(|_, _, _| {});
        for (k, s) in store.index.iter() {
            let _ = k;
            recent = store.series[*s as usize]
                .recent()
                .map(|r| r.recv_ms)
                .collect();
        }
        assert_eq!(recent, (3..=10).map(|t| t * 1000).collect::<Vec<i64>>());
    }

    #[test]
    fn a_delta_point_of_two_is_not_a_jump_and_a_broken_chain_is_a_gap() {
        let mut store = Store::new(10, 0);
        store.ingest(&mut batch("a", Kind::Delta, vec![(0, 1000, 2.0)]), 1000);
        store.ingest(&mut batch("a", Kind::Delta, vec![(1000, 2000, 2.0)]), 2000);
        let p = drained(&mut store);
        assert_eq!((p[0].increase, p[0].max_jump, p[0].gaps), (4.0, 0.0, 0));
        // The interval 2000..3000 never arrived.
        store.ingest(&mut batch("a", Kind::Delta, vec![(3000, 4000, 1.0)]), 4000);
        let p = drained(&mut store);
        assert_eq!((p[0].increase, p[0].gaps), (1.0, 1));
    }

    #[test]
    fn the_series_limit_rejects_new_series_by_name() {
        let mut store = Store::new(1, 0);
        store.ingest(
            &mut batch("a", Kind::Cumulative, vec![(0, 1000, 1.0)]),
            1000,
        );
        let mut b = batch("b", Kind::Cumulative, vec![(0, 1000, 1.0)]);
        store.ingest(&mut b, 1000);
        assert_eq!((b.accepted, b.rejected), (0, 1));
        assert!(
            b.message().contains("the watch tracks at most 1 series"),
            "{}",
            b.message()
        );
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn idle_series_expire_and_their_slot_is_reused() {
        let mut store = Store::new(10, 0);
        store.ingest(
            &mut batch("a", Kind::Cumulative, vec![(0, 1000, 1.0)]),
            1000,
        );
        drained(&mut store);
        assert_eq!(store.expire(5000), 1);
        assert_eq!(store.len(), 0);
        store.ingest(
            &mut batch("b", Kind::Cumulative, vec![(0, 6000, 1.0)]),
            6000,
        );
        assert_eq!(store.series.len(), 1, "slot reused");
        assert_eq!(store.series[0].generation, 1);
    }

    #[test]
    fn an_old_process_exporting_after_its_successor_is_not_a_rollback() {
        let mut store = Store::new(10, 0);
        store.ingest(
            &mut batch("a", Kind::Cumulative, vec![(0, 1000, 1.0)]),
            1000,
        );
        let mut b = batch("b", Kind::Cumulative, vec![(0, 2000, 1.0)]);
        b.resources[0].version = Some("2.0".into());
        store.ingest(&mut b, 2000);
        // a's final export, after b started: still 1.0, not a deploy back to 1.0.
        store.ingest(
            &mut batch("a", Kind::Cumulative, vec![(0, 2500, 2.0)]),
            2500,
        );
        let versions: Vec<&str> = store.services["svc"]
            .versions
            .iter()
            .map(|(v, _)| &**v)
            .collect();
        assert_eq!(versions, ["1.0", "2.0"]);
    }

    #[test]
    fn versions_are_remembered_in_order() {
        let mut store = Store::new(10, 0);
        store.ingest(
            &mut batch("a", Kind::Cumulative, vec![(0, 1000, 1.0)]),
            1000,
        );
        let mut b = batch("b", Kind::Cumulative, vec![(0, 2000, 1.0)]);
        b.resources[0].version = Some("2.0".into());
        store.ingest(&mut b, 2000);
        let svc = &store.services["svc"];
        let versions: Vec<(&str, i64)> = svc.versions.iter().map(|(v, t)| (&**v, *t)).collect();
        assert_eq!(versions, [("1.0", 1000), ("2.0", 2000)]);
        assert_eq!(svc.instances.len(), 2);
    }
}
