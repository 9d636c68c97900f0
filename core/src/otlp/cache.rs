//! The fast form of a collection: every series' attribute block (outcome, fixed attributes,
//! result, reason, tenant: everything but its times and value) is encoded to protobuf once, the
//! first time the series is seen, and kept. A collection then reads the counts and writes cached
//! bytes, times and values into the caller's buffer: the same bytes as
//! [`encode_protobuf`](super::encode_protobuf) of the [`Batch`] the collector would build.
//!
//! A block is kept in two parts: the attributes before the tenant, encoded once per outcome and
//! result/reason and shared by every tenant's series of it, and the tenant's attribute, shared
//! by the series of one tenant row that are first seen together. 100,000 series of 10 outcomes
//! keep about 100 of the first and 10,000 of the second, not 100,000 blocks.
//!
//! What a collection costs besides the registry walk: for each series one comparison with the
//! series seen at the same position by the previous collection (a hash lookup when they differ),
//! and two copies. Once the buffers it keeps have grown to the number of series, a collection
//! allocates nothing (unless `extra` does).

use super::proto::{Encoder, field_len, key_value, put_len_header, varint_len};
use super::{Batch, as_int, unix_nanos};
use crate::registry::{Registry, Series, SeriesId, WalkBuffers};
use crate::semconv::{
    ATTR_OUTCOME, ATTR_REASON, ATTR_RESULT, ATTR_TENANT, DESCRIPTION_OUTCOMES, METRIC_OUTCOMES,
    UNIT_OUTCOMES,
};
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

/// No entry (the end of a hash chain, or a metric not seen yet).
const NONE: u32 = u32::MAX;

/// The bytes of a `NumberDataPoint` besides its attributes: `start_time_unix_nano` (2),
/// `time_unix_nano` (3) and `as_int` (6), each a one-byte tag and 8 bytes.
const POINT_FIXED: usize = 27;

/// Who a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// A series of the registry; its tenant, if any, is the entry's `tenant` part of its block.
    Outcome(SeriesId),
    /// A sum pushed by `extra`, in this metric slot; its attributes are its whole block.
    Extra(u32),
}

/// A run of bytes of [`Table::blocks`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    at: usize,
    len: usize,
}

impl Span {
    fn get(self, blocks: &[u8]) -> &[u8] {
        &blocks[self.at..self.at + self.len]
    }
}

/// One series seen so far.
#[derive(Debug)]
struct Entry {
    key: Key,
    /// Its attributes but the tenant: a run of `NumberDataPoint.attributes`, shared with every
    /// series of the same outcome and result/reason.
    shared: Span,
    /// Its `heartbeat.tenant` attribute, for a registry series with a tenant (else empty), and
    /// the length of the tenant's value, which ends it.
    tenant: Span,
    tenant_value_len: usize,
    /// Whether it has a `heartbeat.tenant` attribute: left out of a delta batch at zero.
    has_tenant: bool,
    metric: u32,
    /// The start of a registry series that started after the registry (in nanoseconds since
    /// the Unix epoch; 0 for the others, which start with the registry, at or after 0).
    start: u64,
    /// The acknowledged cumulative value (delta).
    acked: u64,
    /// The next entry whose identity has the same hash.
    next: u32,
}

impl Entry {
    /// The bytes of its attributes.
    fn len(&self) -> usize {
        self.shared.len + self.tenant.len
    }
}

/// One metric seen so far, and its points in the current collection.
#[derive(Debug)]
struct MetricSlot {
    name: Box<str>,
    unit: Box<str>,
    description: Box<str>,
    /// `Metric.name`, `.description` and `.unit`, encoded.
    header: Vec<u8>,
    /// This collection's points: entry and value on the wire.
    points: Vec<(u32, u64)>,
    /// The encoded length of `points` (each a `Sum.data_points` field).
    points_len: usize,
    /// The collection that last used it.
    generation: u64,
}

/// What a collector keeps between fast collections.
pub(super) struct SeriesCache {
    registry: Option<Registry>,
    walk: WalkBuffers,
    table: Table,
    /// `extra`'s batch.
    extra: Batch,
    /// The resource the frame was encoded for, and the frame: `ResourceMetrics.resource` and
    /// `ScopeMetrics.scope`, encoded.
    resource: Option<Vec<(String, String)>>,
    resource_field: Vec<u8>,
    scope_field: Vec<u8>,
}

/// Everything but the registry walk, so that the walk's callback can borrow it.
struct Table {
    hasher: foldhash::fast::RandomState,
    blocks: Vec<u8>,
    /// The shared part of each registry outcome's result/reason.
    shared: HashMap<SeriesId, Span, foldhash::fast::RandomState>,
    entries: Vec<Entry>,
    /// The first entry of each identity hash (the others are chained through `Entry::next`).
    index: HashMap<u64, u32, foldhash::fast::RandomState>,
    /// The entries the previous collection visited, in order: the guess for this one.
    order: Vec<u32>,
    /// How many series this collection visited so far.
    cursor: usize,
    metrics: Vec<MetricSlot>,
    /// The metric slots this collection visited, in the order first visited.
    metric_order: Vec<u32>,
    /// What acknowledging this collection commits: entry and cumulative value.
    commit: Vec<(u32, u64)>,
    /// The current collection (counts from 1), and whether it is a delta one.
    generation: u64,
    delta: bool,
    /// An encoding of `extra`'s attributes, to find its entry.
    scratch: Vec<u8>,
}

impl fmt::Debug for SeriesCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeriesCache")
            .field("registry", &self.registry)
            .field("series", &self.table.entries.len())
            .field("block_bytes", &self.table.blocks.len())
            .finish_non_exhaustive()
    }
}

/// The reporting window and the temporality of one fast collection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub(super) delta: bool,
    pub(super) start: u64,
    pub(super) end: u64,
}

impl SeriesCache {
    pub(super) fn new(registry: Option<Registry>) -> Self {
        Self {
            registry,
            walk: WalkBuffers::default(),
            table: Table {
                hasher: foldhash::fast::RandomState::default(),
                blocks: Vec::new(),
                shared: HashMap::default(),
                entries: Vec::new(),
                index: HashMap::default(),
                order: Vec::new(),
                cursor: 0,
                metrics: Vec::new(),
                metric_order: Vec::new(),
                commit: Vec::new(),
                generation: 0,
                delta: false,
                scratch: Vec::new(),
            },
            extra: Batch::new(
                super::AggregationTemporality::Cumulative,
                std::time::Duration::ZERO,
                std::time::Duration::ZERO,
            ),
            resource: None,
            resource_field: Vec::new(),
            scope_field: Vec::new(),
        }
    }

    pub(super) fn registry(&self) -> Option<&Registry> {
        self.registry.as_ref()
    }

    /// Collects every series (the registry's, then `extra`'s) and appends the request to `out`.
    /// Returns the collection's generation (for [`SeriesCache::ack`]) and its point count.
    pub(super) fn encode(
        &mut self,
        resource: &[(String, String)],
        window: Window,
        extra: impl FnOnce(&mut Batch),
        out: &mut Vec<u8>,
    ) -> (u64, usize) {
        let t = &mut self.table;
        t.generation += 1;
        t.delta = window.delta;
        t.cursor = 0;
        t.metric_order.clear();
        t.commit.clear();
        if let Some(registry) = &self.registry {
            let mut metric = NONE;
            registry.walk(&mut self.walk, |s, id| {
                if metric == NONE {
                    metric = t.metric_slot(METRIC_OUTCOMES, UNIT_OUTCOMES, DESCRIPTION_OUTCOMES);
                }
                t.visit_outcome(s, id, metric);
            });
        }
        self.extra.metrics.clear();
        extra(&mut self.extra);
        for m in &self.extra.metrics {
            let metric = t.metric_slot(&m.name, &m.unit, &m.description);
            for p in &m.points {
                t.visit_extra(metric, &p.attributes, p.value);
            }
        }
        t.order.truncate(t.cursor);
        if self.resource.as_deref() != Some(resource) {
            self.frame(resource);
        }
        let points = self.write(window, out);
        (self.table.generation, points)
    }

    /// Encodes the parts of the request that do not change between collections.
    fn frame(&mut self, resource: &[(String, String)]) {
        let mut e = Encoder(Vec::new());
        // ResourceMetrics.resource: Resource { attributes = 1 }
        e.message(1, |e| {
            for (k, v) in resource {
                e.key_value(1, k, v);
            }
        });
        self.resource_field = std::mem::take(&mut e.0);
        // ScopeMetrics.scope: InstrumentationScope { name = 1, version = 2 }
        e.message(1, |e| {
            e.string(1, &self.extra.scope_name);
            e.string(2, &self.extra.scope_version);
        });
        self.scope_field = e.0;
        self.resource = Some(resource.to_vec());
    }

    /// Appends the `ExportMetricsServiceRequest` of the points collected: the lengths of the
    /// nested messages first (known from the blocks' lengths), then every byte once.
    fn write(&self, window: Window, out: &mut Vec<u8>) -> usize {
        let t = &self.table;
        let metrics = || {
            t.metric_order
                .iter()
                .map(|&m| &t.metrics[m as usize])
                .filter(|m| !m.points.is_empty())
        };
        // Sum { data_points = 1, aggregation_temporality = 2, is_monotonic = 3 }: the points,
        // then 4 bytes.
        let sum_len = |m: &MetricSlot| m.points_len + 4;
        let metric_len = |m: &MetricSlot| m.header.len() + field_len(7, sum_len(m));
        let scope_metrics = self.scope_field.len()
            + metrics()
                .map(|m| field_len(2, metric_len(m)))
                .sum::<usize>();
        let resource_metrics = self.resource_field.len() + field_len(2, scope_metrics);
        out.reserve(field_len(1, resource_metrics));
        // ExportMetricsServiceRequest.resource_metrics (1): ResourceMetrics { resource = 1,
        // scope_metrics = 2 }; ScopeMetrics { scope = 1, metrics = 2 }.
        put_len_header(out, 1, resource_metrics);
        out.extend_from_slice(&self.resource_field);
        put_len_header(out, 2, scope_metrics);
        out.extend_from_slice(&self.scope_field);
        // The point's fields before `as_int`'s 8 bytes: start (2) and end (3) as fixed64.
        let mut fixed = [0u8; POINT_FIXED];
        fixed[0] = 2 << 3 | 1;
        fixed[1..9].copy_from_slice(&window.start.to_le_bytes());
        fixed[9] = 3 << 3 | 1;
        fixed[10..18].copy_from_slice(&window.end.to_le_bytes());
        fixed[18] = 6 << 3 | 1;
        let temporality = if window.delta { 1 } else { 2 };

        let mut points = 0;
        for m in metrics() {
            put_len_header(out, 2, metric_len(m));
            out.extend_from_slice(&m.header);
            put_len_header(out, 7, sum_len(m));
            for &(e, value) in &m.points {
                let entry = &t.entries[e as usize];
                // Sum.data_points (1): the header, the fixed fields, then the cached block.
                let mut head = [0u8; 12 + POINT_FIXED];
                let body = POINT_FIXED + entry.len();
                let mut n = 1;
                head[0] = 1 << 3 | 2;
                let mut v = body as u64;
                while v >= 0x80 {
                    head[n] = v as u8 | 0x80;
                    v >>= 7;
                    n += 1;
                }
                head[n] = v as u8;
                n += 1;
                head[n..n + 19].copy_from_slice(&fixed[..19]);
                head[n + 19..n + 27].copy_from_slice(&value.to_le_bytes());
                if entry.start != 0 && !window.delta {
                    head[n + 1..n + 9].copy_from_slice(&entry.start.to_le_bytes());
                }
                out.extend_from_slice(&head[..n + 27]);
                out.extend_from_slice(entry.shared.get(&t.blocks));
                out.extend_from_slice(entry.tenant.get(&t.blocks));
            }
            out.extend_from_slice(&[2 << 3, temporality, 3 << 3, 1]);
            points += m.points.len();
        }
        points
    }

    /// Commits the cumulative values of collection `generation` if it is the latest one.
    /// Returns whether any value grew.
    pub(super) fn ack(&mut self, generation: u64) -> Option<bool> {
        let t = &mut self.table;
        if generation != t.generation || !t.delta {
            return None;
        }
        let mut advanced = false;
        for &(e, value) in &t.commit {
            let entry = &mut t.entries[e as usize];
            if value > entry.acked {
                entry.acked = value;
                advanced = true;
            }
        }
        Some(advanced)
    }
}

impl Table {
    /// The slot of a metric, created (its header encoded) when first seen, and added to this
    /// collection's order when first visited in it.
    fn metric_slot(&mut self, name: &str, unit: &str, description: &str) -> u32 {
        let i = match self.metrics.iter().position(|m| *m.name == *name) {
            Some(i) => i,
            None => {
                self.metrics.push(MetricSlot {
                    name: name.into(),
                    unit: "".into(),
                    description: "".into(),
                    header: Vec::new(),
                    points: Vec::new(),
                    points_len: 0,
                    generation: 0,
                });
                self.metrics.len() - 1
            }
        };
        let m = &mut self.metrics[i];
        let slot = u32::try_from(i).unwrap_or(NONE);
        if m.generation != self.generation {
            m.generation = self.generation;
            m.points.clear();
            m.points_len = 0;
            self.metric_order.push(slot);
            // The first push of a batch decides the unit and description.
            if m.header.is_empty() || *m.unit != *unit || *m.description != *description {
                m.unit = unit.into();
                m.description = description.into();
                let mut e = Encoder(std::mem::take(&mut m.header));
                e.0.clear();
                // Metric { name = 1, description = 2, unit = 3 }
                e.string(1, name);
                e.string(2, description);
                e.string(3, unit);
                m.header = e.0;
            }
        }
        slot
    }

    /// Takes the next position of this collection's order: the entry found or created.
    fn advance(&mut self, e: u32) {
        match self.order.get_mut(self.cursor) {
            Some(slot) => *slot = e,
            None => self.order.push(e),
        }
        self.cursor += 1;
    }

    /// The entry with identity hash `hash` that `is` accepts.
    fn lookup(&self, hash: u64, is: impl Fn(&Entry) -> bool) -> Option<u32> {
        let mut i = self.index.get(&hash).copied().unwrap_or(NONE);
        while i != NONE {
            let entry = &self.entries[i as usize];
            if is(entry) {
                return Some(i);
            }
            i = entry.next;
        }
        None
    }

    fn insert(&mut self, hash: u64, mut entry: Entry) -> u32 {
        let e = u32::try_from(self.entries.len()).unwrap_or(NONE);
        entry.next = self.index.insert(hash, e).unwrap_or(NONE);
        self.entries.push(entry);
        e
    }

    /// Whether `entry` is the registry series `id` with `tenant`.
    fn is_outcome(blocks: &[u8], entry: &Entry, id: SeriesId, tenant: Option<&str>) -> bool {
        entry.key == Key::Outcome(id)
            && match tenant {
                None => !entry.has_tenant,
                Some(tenant) => {
                    let kv = entry.tenant.get(blocks);
                    entry.tenant_value_len == tenant.len() && kv.ends_with(tenant.as_bytes())
                }
            }
    }

    fn visit_outcome(&mut self, s: &Series<'_>, id: SeriesId, metric: u32) {
        let tenant = s.tenant();
        let guess = self
            .order
            .get(self.cursor)
            .copied()
            .filter(|&e| Self::is_outcome(&self.blocks, &self.entries[e as usize], id, tenant));
        let e = match guess {
            Some(e) => e,
            None => {
                let hash = self.hasher.hash_one((0u8, id, tenant));
                let blocks = &self.blocks;
                match self.lookup(hash, |entry| Self::is_outcome(blocks, entry, id, tenant)) {
                    Some(e) => e,
                    None => self.insert_outcome(hash, s, id, metric),
                }
            }
        };
        self.advance(e);
        let start = s.start_time().map_or(0, unix_nanos);
        let entry = &mut self.entries[e as usize];
        if entry.start != start {
            // A new series with the same attributes (a tenant displaced, forgotten and promoted
            // again counts from 0 from a new start): nothing of it was acknowledged yet.
            entry.start = start;
            entry.acked = 0;
        }
        self.pick(e, s.value());
    }

    /// Adds a registry series: its shared part (encoded if it is the first series of its
    /// outcome and result/reason), then its tenant's attribute (shared with the series created
    /// just before if that one has the same tenant), in the order of `Source::push_to`.
    fn insert_outcome(&mut self, hash: u64, s: &Series<'_>, id: SeriesId, metric: u32) -> u32 {
        let b = &mut self.blocks;
        let shared = *self.shared.entry(id).or_insert_with(|| {
            let at = b.len();
            key_value(b, 7, ATTR_OUTCOME, s.outcome());
            for (k, v) in s.attributes() {
                key_value(b, 7, k, v);
            }
            key_value(b, 7, ATTR_RESULT, s.result().as_str());
            if let Some(reason) = s.reason() {
                key_value(b, 7, ATTR_REASON, reason);
            }
            Span {
                at,
                len: b.len() - at,
            }
        });
        let (tenant, tenant_value_len) = match s.tenant() {
            None => (Span::default(), 0),
            Some(value) => {
                let last = self.entries.last().filter(|last| {
                    last.has_tenant
                        && last.tenant_value_len == value.len()
                        && last.tenant.get(b).ends_with(value.as_bytes())
                });
                match last {
                    Some(last) => (last.tenant, value.len()),
                    None => {
                        let at = b.len();
                        key_value(b, 7, ATTR_TENANT, value);
                        let len = b.len() - at;
                        (Span { at, len }, value.len())
                    }
                }
            }
        };
        let entry = Entry {
            key: Key::Outcome(id),
            shared,
            tenant,
            tenant_value_len,
            has_tenant: s.tenant().is_some(),
            metric,
            start: 0,
            acked: 0,
            next: NONE,
        };
        self.insert(hash, entry)
    }

    fn visit_extra(&mut self, metric: u32, attributes: &[(String, String)], value: u64) {
        self.scratch.clear();
        for (k, v) in attributes {
            key_value(&mut self.scratch, 7, k, v);
        }
        let is = |blocks: &[u8], entry: &Entry, scratch: &[u8]| {
            entry.key == Key::Extra(metric) && entry.shared.get(blocks) == scratch
        };
        let guess = self
            .order
            .get(self.cursor)
            .copied()
            .filter(|&e| is(&self.blocks, &self.entries[e as usize], &self.scratch));
        let e = match guess {
            Some(e) => e,
            None => {
                let hash = self.hasher.hash_one((1u8, metric, &self.scratch));
                let (blocks, scratch) = (&self.blocks, &self.scratch);
                match self.lookup(hash, |entry| is(blocks, entry, scratch)) {
                    Some(e) => e,
                    None => {
                        let at = self.blocks.len();
                        self.blocks.extend_from_slice(&self.scratch);
                        let entry = Entry {
                            key: Key::Extra(metric),
                            shared: Span {
                                at,
                                len: self.scratch.len(),
                            },
                            tenant: Span::default(),
                            tenant_value_len: 0,
                            has_tenant: attributes.iter().any(|(k, _)| k == ATTR_TENANT),
                            metric,
                            start: 0,
                            acked: 0,
                            next: NONE,
                        };
                        self.insert(hash, entry)
                    }
                }
            }
        };
        self.advance(e);
        self.pick(e, value);
    }

    /// Adds series `e` at `cumulative` to this collection: its delta since the acknowledged
    /// value for a delta collection, left out at zero if it has a tenant.
    fn pick(&mut self, e: u32, cumulative: u64) {
        let entry = &self.entries[e as usize];
        let value = if self.delta {
            let delta = cumulative.saturating_sub(entry.acked);
            if delta > 0 {
                self.commit.push((e, cumulative));
            } else if entry.has_tenant {
                return;
            }
            delta
        } else {
            cumulative
        };
        let m = &mut self.metrics[entry.metric as usize];
        m.points.push((e, as_int(value)));
        let body = POINT_FIXED + entry.len();
        m.points_len += 1 + varint_len(body as u64) + body;
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AggregationTemporality, Collector, encode_protobuf};
    use crate::clock::ManualClock;
    use crate::registry::Registry;
    use proptest::prelude::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// One step of a run: something recorded, time passing, or an export.
    #[derive(Debug, Clone)]
    enum Step {
        Success {
            outcome: usize,
            tenant: Option<usize>,
        },
        Failure {
            outcome: usize,
            tenant: Option<usize>,
            reason: usize,
        },
        Advance(u64),
        /// Exports; the receiver accepts it or not.
        Export {
            accepted: bool,
        },
        /// Another sum pushed by `extra`, grows by this much.
        Beat(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        let tenant = proptest::option::of(0usize..5);
        prop_oneof![
            (0usize..2, tenant.clone())
                .prop_map(|(outcome, tenant)| Step::Success { outcome, tenant }),
            (0usize..2, tenant, 0usize..7).prop_map(|(outcome, tenant, reason)| Step::Failure {
                outcome,
                tenant,
                reason
            }),
            (1u64..5).prop_map(Step::Advance),
            any::<bool>().prop_map(|accepted| Step::Export { accepted }),
            (0u64..3).prop_map(Step::Beat),
        ]
    }

    const TENANTS: [&str; 5] = ["acme", "globex", "initech", "bad\ntenant", "umbrella"];
    const REASONS: [&str; 7] = [
        "timeout",
        "rejected",
        "other",
        "nope!",
        "unspecified",
        "quota",
        "",
    ];

    /// Runs `steps` through two collectors of one registry, the batch form and the fast form,
    /// and checks that every export is the same bytes, and the same acknowledgements.
    fn same_bytes(temporality: AggregationTemporality, steps: &[Step]) {
        let clock = ManualClock::starting_at(Duration::from_secs(1_700_000_000));
        let registry = Registry::builder()
            .with_clock(Arc::new(clock.clone()))
            .with_tenant_limit(3)
            .build();
        let outcomes = [
            registry
                .outcome("message.send")
                .with_attribute("surface", "web")
                .with_reasons(["timeout", "rejected"])
                .build()
                .unwrap(),
            registry.outcome("reply.deliver").build().unwrap(),
        ];
        let with_resource = |c: Collector| {
            c.with_resource_attribute("service.name", "checkout")
                .with_resource_attribute("service.instance.id", "i-1")
        };
        let mut slow = with_resource(Collector::new(&registry, temporality));
        let mut fast = with_resource(Collector::new(&registry, temporality));
        let mut beats = 0;
        let mut body = Vec::new();
        for s in steps.iter().chain([&Step::Export { accepted: true }]) {
            match *s {
                Step::Success { outcome, tenant } => match tenant {
                    Some(t) => outcomes[outcome].success_for(TENANTS[t]),
                    None => outcomes[outcome].success(),
                },
                Step::Failure {
                    outcome,
                    tenant,
                    reason,
                } => match tenant {
                    Some(t) => outcomes[outcome].failure_for_with(TENANTS[t], REASONS[reason]),
                    None => outcomes[outcome].failure_with(REASONS[reason]),
                },
                Step::Advance(secs) => clock.advance(Duration::from_secs(secs)),
                Step::Beat(n) => beats += n,
                Step::Export { accepted } => {
                    let extra = |b: &mut super::Batch| {
                        b.push_sum("heartbeat.beats", "{beat}", "Beats", vec![], beats);
                        if beats > 2 {
                            let attrs = vec![("heartbeat.tenant".into(), "t".into())];
                            b.push_sum("heartbeat.beats", "{beat}", "", attrs, beats - 2);
                        }
                    };
                    let batch = slow.collect_with(extra);
                    let want = encode_protobuf(&batch);
                    body.clear();
                    let encoded = fast.encode_protobuf_into(extra, &mut body);
                    assert_eq!(body, want, "after {steps:?}");
                    assert_eq!(encoded.point_count(), batch.point_count());
                    if accepted {
                        assert_eq!(fast.ack_encoded(&encoded), slow.ack(&batch));
                        assert!(!fast.ack_encoded(&encoded), "acknowledged twice");
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn the_fast_form_writes_the_bytes_of_the_batch_form(
            delta in any::<bool>(),
            steps in proptest::collection::vec(step(), 0..60),
        ) {
            let temporality = if delta {
                AggregationTemporality::Delta
            } else {
                AggregationTemporality::Cumulative
            };
            same_bytes(temporality, &steps);
        }
    }

    #[test]
    fn a_promoted_tenant_counts_from_its_promotion_in_both_forms() {
        let clock = ManualClock::starting_at(Duration::from_secs(1_000));
        let registry = Registry::builder()
            .with_clock(Arc::new(clock.clone()))
            .with_tenant_limit(1)
            .build();
        let send = registry.outcome("message.send").build().unwrap();
        let mut fast = Collector::new(&registry, AggregationTemporality::Cumulative);
        let slow = Collector::new(&registry, AggregationTemporality::Cumulative);
        let mut body = Vec::new();
        let mut export = || {
            clock.advance(Duration::from_secs(1));
            let batch = slow.collect();
            body.clear();
            let _ = fast.encode_protobuf_into(|_| {}, &mut body);
            assert_eq!(body, encode_protobuf(&batch));
            batch
        };
        send.success_for("acme");
        export();
        for _ in 0..10 {
            send.success_for("bigco"); // past the limit: in _overflow, a candidate
        }
        export(); // promotes bigco at 1002 s
        send.success_for("bigco");
        let batch = export();
        let bigco: Vec<_> = batch.metrics[0]
            .points
            .iter()
            .filter(|p| p.attributes.iter().any(|(_, v)| v == "bigco"))
            .map(|p| (p.start_time_unix_nano, p.value))
            .collect();
        assert_eq!(bigco, [(1_002_000_000_000, 1)]);
        let acme_start = batch.metrics[0].points[0].start_time_unix_nano;
        assert_eq!(
            acme_start, 1_000_000_000_000,
            "the others start with the registry"
        );
    }

    #[test]
    fn a_tenant_promoted_again_from_zero_is_a_new_series_for_a_delta_collector() {
        let clock = ManualClock::starting_at(Duration::from_secs(1_000));
        let registry = Registry::builder()
            .with_clock(Arc::new(clock.clone()))
            .with_tenant_limit(1)
            .build();
        let send = registry.outcome("message.send").build().unwrap();
        let mut fast = Collector::new(&registry, AggregationTemporality::Delta);
        let mut slow = Collector::new(&registry, AggregationTemporality::Delta);
        let mut body = Vec::new();
        let mut export = |tenant: &str, times: usize| {
            for _ in 0..times {
                send.success_for(tenant);
            }
            clock.advance(Duration::from_secs(1));
            body.clear();
            let encoded = fast.encode_protobuf_into(|_| {}, &mut body);
            let batch = slow.collect();
            assert_eq!(body, encode_protobuf(&batch), "both forms");
            assert_eq!(fast.ack_encoded(&encoded), slow.ack(&batch));
            let mut starts = Vec::new();
            registry.collect(|s| {
                if s.tenant() == Some("b") {
                    starts.push(s.start_time());
                }
            });
            (body.clone(), starts)
        };
        export("a", 1); // a admitted
        export("b", 10); // b promoted (a new series from 0), a displaced
        let (body, first) = export("b", 2);
        assert_eq!(sent(&body, "b"), Some(2));
        export("c", 10); // c promoted, b displaced (remembered)
        export("d", 10); // d promoted, c displaced: b forgotten (one tenant remembered)
        export("b", 10); // b promoted again: a new series from 0
        let (body, second) = export("b", 1);
        assert_ne!(first, second, "a new series, with a new start");
        assert_eq!(
            sent(&body, "b"),
            Some(1),
            "its own count, not less its old series'"
        );
    }

    /// The fields of a protobuf message: number, and the bytes of a length-delimited field or
    /// the value of a varint or fixed64 one (as little-endian bytes).
    fn fields(mut m: &[u8]) -> Vec<(u64, Vec<u8>)> {
        fn varint(m: &mut &[u8]) -> u64 {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let b = m[0];
                *m = &m[1..];
                v |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    return v;
                }
            }
        }
        let mut out = Vec::new();
        while !m.is_empty() {
            let tag = varint(&mut m);
            let body = match tag & 7 {
                0 => varint(&mut m).to_le_bytes().to_vec(),
                1 => {
                    let (v, rest) = m.split_at(8);
                    m = rest;
                    v.to_vec()
                }
                2 => {
                    let len = usize::try_from(varint(&mut m)).unwrap();
                    let (v, rest) = m.split_at(len);
                    m = rest;
                    v.to_vec()
                }
                t => panic!("wire type {t}"),
            };
            out.push((tag >> 3, body));
        }
        out
    }

    fn field(m: &[u8], number: u64) -> Vec<Vec<u8>> {
        fields(m)
            .into_iter()
            .filter(|f| f.0 == number)
            .map(|f| f.1)
            .collect()
    }

    /// The `asInt` of the success point of `tenant` in a request, if it has one.
    fn sent(body: &[u8], tenant: &str) -> Option<u64> {
        let mut found = None;
        for rm in field(body, 1) {
            for sm in field(&rm, 2) {
                for metric in field(&sm, 2) {
                    for sum in field(&metric, 7) {
                        for point in field(&sum, 1) {
                            let attributes: Vec<(Vec<u8>, Vec<u8>)> = field(&point, 7)
                                .iter()
                                .map(|kv| {
                                    (field(kv, 1).remove(0), field(&field(kv, 2)[0], 1).remove(0))
                                })
                                .collect();
                            let has = |k: &str, v: &str| {
                                attributes.contains(&(k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                            };
                            if has("heartbeat.tenant", tenant) && has("heartbeat.result", "success")
                            {
                                let value = field(&point, 6).remove(0);
                                found = Some(u64::from_le_bytes(value.try_into().unwrap()));
                            }
                        }
                    }
                }
            }
        }
        found
    }

    #[test]
    fn only_the_latest_encoding_can_be_acknowledged() {
        let clock = ManualClock::starting_at(Duration::from_secs(100));
        let registry = Registry::builder()
            .with_clock(Arc::new(clock.clone()))
            .build();
        let send = registry.outcome("message.send").build().unwrap();
        let mut c = Collector::new(&registry, AggregationTemporality::Delta);
        let mut other = Collector::new(&registry, AggregationTemporality::Delta);
        let mut body = Vec::new();
        send.success();
        let older = c.encode_protobuf_into(|_| {}, &mut body);
        let newer = c.encode_protobuf_into(|_| {}, &mut body);
        assert!(!c.ack_encoded(&older), "superseded by the newer encoding");
        assert!(!other.ack_encoded(&newer), "another collector's");
        assert!(c.ack_encoded(&newer));
        assert!(!c.ack_encoded(&newer), "acknowledged before");
        let mut cumulative = Collector::new(&registry, AggregationTemporality::Cumulative);
        let encoded = cumulative.encode_protobuf_into(|_| {}, &mut body);
        assert!(!cumulative.ack_encoded(&encoded));
    }

    #[test]
    fn a_standalone_collector_encodes_what_extra_pushes() {
        let clock = ManualClock::starting_at(Duration::from_secs(100));
        let mut slow =
            Collector::standalone(Arc::new(clock.clone()), AggregationTemporality::Delta);
        let mut fast =
            Collector::standalone(Arc::new(clock.clone()), AggregationTemporality::Delta);
        let mut body = Vec::new();
        for total in [3, 5, 5, 9] {
            clock.advance(Duration::from_secs(10));
            let push =
                |b: &mut super::Batch| b.push_sum("heartbeat.beats", "{beat}", "", vec![], total);
            let batch = slow.collect_with(push);
            body.clear();
            let encoded = fast.encode_protobuf_into(push, &mut body);
            assert_eq!(body, encode_protobuf(&batch));
            assert_eq!(fast.ack_encoded(&encoded), slow.ack(&batch));
        }
    }
}
