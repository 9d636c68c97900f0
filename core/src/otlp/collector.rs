//! The collector: a registry's counts as a [`Batch`], cumulative or loss-free delta.

use super::cache::{SeriesCache, Window};
use super::{AggregationTemporality, Batch, MetricKind, unix_nanos};
use crate::clock::Clock;
use crate::registry::Registry;
use crate::semconv::{
    ATTR_OUTCOME, ATTR_REASON, ATTR_RESULT, ATTR_TENANT, DESCRIPTION_OUTCOMES, METRIC_OUTCOMES,
    UNIT_OUTCOMES,
};
use crate::text::push_decimal;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// What acknowledging a delta batch commits: the cumulative value of every series whose delta
/// the batch carries (a zero delta has nothing to commit), and the end of its window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Commit {
    collector: u64,
    time: u64,
    values: Vec<(String, u64)>,
}

/// Turns a [`Registry`] into [`Batch`]es of `heartbeat.outcomes` (see [`crate::semconv`]).
///
/// With [`AggregationTemporality::Cumulative`], every point counts from [`Registry::start_time`] to now.
///
/// With [`AggregationTemporality::Delta`] the collector loses nothing while sends fail. It remembers, per
/// series, the cumulative value of the last *acknowledged* batch, and the end of that batch's
/// window. A new batch carries, for each series, the current value minus the acknowledged one,
/// over the window from the last acknowledged end (the registry's start before the first
/// acknowledgement) to now. Building a batch commits nothing: call [`Collector::ack`] after
/// the receiver accepted it. A batch that was never acknowledged is simply superseded: the
/// next batch carries its counts again, over the longer window. This is an offline buffer
/// bounded by the number of series, not by time.
///
/// Delta batches always carry the series without a tenant (the success and every failure
/// reason of each declared outcome, at zero when nothing happened), so a receiver sees
/// "zero successes" rather than silence, and the first batch lists every declared series.
/// Series with a `heartbeat.tenant` attribute are left out of a batch while their delta is
/// zero.
///
/// ```
/// use heartbeat_core::{AggregationTemporality, Collector, Registry, encode_protobuf};
/// # fn post(_body: &[u8]) -> bool { true }
///
/// let registry = Registry::new();
/// let send = registry.outcome("message.send").build()?;
/// send.success();
///
/// let mut collector = Collector::new(&registry, AggregationTemporality::Delta)
///     .with_resource_attribute("service.name", "web-messenger");
/// let batch = collector.collect();
/// if post(&encode_protobuf(&batch)) {
///     collector.ack(&batch); // only now is the delta committed
/// } // else the next batch carries these counts again
/// # Ok::<(), heartbeat_core::OutcomeError>(())
/// ```
///
/// # Acknowledgement contract
/// - [`Collector::ack`] commits exactly the cumulative values carried by that batch, per
///   series, keeping the larger of those and the already committed ones. Acknowledging a batch
///   twice, or an older batch after a newer one, changes nothing, so nothing is subtracted twice.
/// - Keep at most one batch in flight: build the next batch once the previous send succeeded
///   (and was acknowledged) or failed. Two batches built before either is acknowledged cover the
///   same counts; if both reach the receiver, it counts them twice.
/// - Batches of another collector are ignored.
#[derive(Debug)]
pub struct Collector {
    /// Where the outcome series come from (a registry, or nothing for a standalone collector)
    /// and what [`Collector::encode_protobuf_into`] keeps between collections. A trait object,
    /// so that a standalone collector that only builds batches (the browser build) links neither
    /// registry nor cache code.
    source: Option<Box<dyn Source>>,
    clock: Arc<dyn Clock>,
    start: Duration,
    temporality: AggregationTemporality,
    resource: Vec<(String, String)>,
    id: u64,
    /// Acknowledged cumulative values, sorted by series key (a small `Vec` is less code than
    /// a map in the browser build).
    acked: Vec<(String, u64)>,
    acked_time: u64,
}

impl Collector {
    /// A collector of `registry` with the given temporality and no resource attributes.
    pub fn new(registry: &Registry, temporality: AggregationTemporality) -> Self {
        let mut collector = Self::standalone(Arc::clone(registry.clock()), temporality);
        collector.start = registry.start_time();
        collector.acked_time = unix_nanos(collector.start);
        collector.source = Some(Box::new(SeriesCache::new(Some(registry.clone()))));
        collector
    }

    /// A collector that reads no registry: every series comes from the `extra` of
    /// [`Collector::collect_with`], as cumulative values since the collector was created
    /// (`clock`'s now). Delta batches and acknowledgements work as with a registry.
    ///
    /// This is for emitters that keep their own counts, such as the browser build, which sends
    /// exactly what the native SDK sends while carrying none of its multi-threaded machinery.
    pub fn standalone(clock: Arc<dyn Clock>, temporality: AggregationTemporality) -> Self {
        let start = clock.now_unix();
        Self {
            source: None,
            clock,
            start,
            temporality,
            resource: Vec::new(),
            id: NEXT_ID.fetch_add(1, Relaxed),
            acked: Vec::new(),
            acked_time: unix_nanos(start),
        }
    }

    /// Adds a resource attribute to every batch, such as `("service.name", "checkout")`.
    pub fn with_resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// The temporality of the batches.
    pub fn temporality(&self) -> AggregationTemporality {
        self.temporality
    }

    /// A batch of every outcome series. Commits nothing; see [`Collector::ack`].
    pub fn collect(&self) -> Batch {
        self.collect_with(|_| {})
    }

    /// Like [`Collector::collect`], letting `extra` add series of other sums (such as a beat
    /// counter) with [`Batch::push_sum`]. `extra` pushes *cumulative* values since the registry
    /// started (for a [standalone](Collector::standalone) collector: since it was created); a
    /// delta collector turns them into deltas like the outcome series.
    pub fn collect_with(&self, extra: impl FnOnce(&mut Batch)) -> Batch {
        let now = self.clock.now_unix().max(self.start);
        let mut batch = Batch::new(AggregationTemporality::Cumulative, self.start, now);
        batch.resource.clone_from(&self.resource);
        if let Some(source) = &self.source {
            source.push_to(&mut batch);
        }
        extra(&mut batch);
        if self.temporality == AggregationTemporality::Delta {
            self.rewrite_as_delta(&mut batch);
        }
        batch
    }

    /// Rewrites a cumulative batch as the delta since the last acknowledged batch.
    fn rewrite_as_delta(&self, batch: &mut Batch) {
        let start = self.acked_time;
        let end = batch.time_unix_nano.max(start);
        let mut values = Vec::with_capacity(batch.point_count());
        for metric in &mut batch.metrics {
            match metric.kind {
                MetricKind::Sum(_) => metric.kind = MetricKind::Sum(AggregationTemporality::Delta),
            }
            let name = &metric.name;
            metric.points.retain_mut(|p| {
                let key = series_key(name, p.start_time_unix_nano, &p.attributes);
                let cumulative = p.value;
                p.value = cumulative.saturating_sub(self.acked_value(&key));
                p.start_time_unix_nano = start;
                p.time_unix_nano = end;
                if p.value > 0 {
                    values.push((key, cumulative));
                }
                p.value > 0 || !p.attributes.iter().any(|(k, _)| k == ATTR_TENANT)
            });
        }
        batch.metrics.retain(|m| !m.points.is_empty());
        batch.temporality = AggregationTemporality::Delta;
        batch.start_time_unix_nano = start;
        batch.time_unix_nano = end;
        batch.commit = Some(Commit {
            collector: self.id,
            time: end,
            values,
        });
    }

    /// The acknowledged cumulative value of a series (0 if none).
    fn acked_value(&self, key: &str) -> u64 {
        match self.acked.binary_search_by(|(k, _)| (**k).cmp(key)) {
            Ok(i) => self.acked[i].1,
            Err(_) => 0,
        }
    }

    /// Commits a delta batch after the receiver accepted it: its counts will not be sent again,
    /// and the next window starts where this batch's ended.
    ///
    /// Returns whether anything was committed: `false` for a cumulative batch, a batch of
    /// another collector, a batch acknowledged before, or a batch older than one already
    /// acknowledged. See the acknowledgement contract on [`Collector`].
    pub fn ack(&mut self, batch: &Batch) -> bool {
        let Some(commit) = &batch.commit else {
            return false;
        };
        if commit.collector != self.id {
            return false;
        }
        let mut advanced = commit.time > self.acked_time;
        self.acked_time = self.acked_time.max(commit.time);
        for (key, value) in &commit.values {
            match self.acked.binary_search_by(|(k, _)| k.cmp(key)) {
                Ok(i) if self.acked[i].1 >= *value => {}
                Ok(i) => {
                    self.acked[i].1 = *value;
                    advanced = true;
                }
                Err(i) => {
                    self.acked.insert(i, (key.clone(), *value));
                    advanced = true;
                }
            }
        }
        advanced
    }

    /// The fast form of `encode_protobuf(&collector.collect_with(extra))`: collects every
    /// series and appends the same `ExportMetricsServiceRequest` bytes to `out`, without
    /// building a [`Batch`] of the outcome series.
    ///
    /// Each series' attribute block (outcome, fixed attributes, result, reason, tenant: all but
    /// its times and value) is encoded once, the first time this collector sees the series, and
    /// kept; a collection writes those bytes with the window's times and the values. Once the
    /// collector's buffers have grown to the number of series (after the first collection, when
    /// no series is added), a collection makes no heap allocation but what `extra` makes, and
    /// none in `out` if the caller reuses it (this appends: clear it first).
    ///
    /// `extra` pushes other sums as in [`Collector::collect_with`] (cumulative values; a delta
    /// collector turns them into deltas). What is kept grows with every series ever seen, as the
    /// acknowledged values of a delta collector do.
    ///
    /// A delta collection commits nothing: pass the returned [`Encoded`] to
    /// [`Collector::ack_encoded`] after the receiver accepted it. The acknowledgement contract on
    /// [`Collector`] applies, with one difference: only the latest encoding can be
    /// acknowledged (an older one is superseded: the latest carries its counts again). The
    /// acknowledged values of this form are kept apart from those of [`Collector::ack`]: use
    /// one form per delta collector.
    ///
    /// ```
    /// use heartbeat_core::{AggregationTemporality, Collector, Registry};
    /// # fn post(_body: &[u8]) -> bool { true }
    ///
    /// let registry = Registry::new();
    /// let send = registry.outcome("message.send").build()?;
    /// let mut collector = Collector::new(&registry, AggregationTemporality::Delta);
    /// let mut body = Vec::new();
    /// send.success();
    /// let encoded = collector.encode_protobuf_into(|_| {}, &mut body);
    /// if post(&body) {
    ///     collector.ack_encoded(&encoded); // only now is the delta committed
    /// } // else the next encoding carries these counts again
    /// body.clear(); // the next collection reuses the buffer
    /// # Ok::<(), heartbeat_core::OutcomeError>(())
    /// ```
    pub fn encode_protobuf_into(
        &mut self,
        extra: impl FnOnce(&mut Batch),
        out: &mut Vec<u8>,
    ) -> Encoded {
        let now = unix_nanos(self.clock.now_unix().max(self.start));
        let delta = self.temporality == AggregationTemporality::Delta;
        let window = if delta {
            Window {
                delta,
                start: self.acked_time,
                end: now.max(self.acked_time),
            }
        } else {
            Window {
                delta,
                start: unix_nanos(self.start),
                end: now,
            }
        };
        let cache = self
            .source
            .get_or_insert_with(|| Box::new(SeriesCache::new(None)))
            .cache();
        let (generation, points) = cache.encode(&self.resource, window, extra, out);
        Encoded {
            collector: self.id,
            generation,
            delta,
            time: window.end,
            points,
        }
    }

    /// Commits a delta encoding of [`Collector::encode_protobuf_into`] after the receiver
    /// accepted it: its counts will not be sent again, and the next window starts where its
    /// window ended.
    ///
    /// Returns whether anything was committed: `false` for a cumulative encoding, one of another
    /// collector, one acknowledged before, or one older than the latest encoding.
    pub fn ack_encoded(&mut self, encoded: &Encoded) -> bool {
        if !encoded.delta || encoded.collector != self.id {
            return false;
        }
        let Some(source) = &mut self.source else {
            return false;
        };
        let Some(grew) = source.cache().ack(encoded.generation) else {
            return false;
        };
        let advanced = grew || encoded.time > self.acked_time;
        self.acked_time = self.acked_time.max(encoded.time);
        advanced
    }
}

/// What [`Collector::encode_protobuf_into`] wrote: how many points, and what
/// [`Collector::ack_encoded`] commits once the receiver accepted them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "acknowledge it with Collector::ack_encoded once the receiver accepted the request"]
pub struct Encoded {
    collector: u64,
    generation: u64,
    delta: bool,
    time: u64,
    points: usize,
}

impl Encoded {
    /// The number of points written (over all metrics).
    pub fn point_count(&self) -> usize {
        self.points
    }

    /// Whether no point was written (nothing worth sending).
    pub fn is_empty(&self) -> bool {
        self.points == 0
    }
}

/// What a [`Collector`] reads its outcome series from, and keeps for its fast form.
trait Source: fmt::Debug + Send + Sync {
    /// Pushes every series with its cumulative value.
    fn push_to(&self, batch: &mut Batch);
    /// The series cache of [`Collector::encode_protobuf_into`].
    fn cache(&mut self) -> &mut SeriesCache;
}

impl Source for SeriesCache {
    fn push_to(&self, batch: &mut Batch) {
        let Some(registry) = self.registry() else {
            return;
        };
        registry.collect(|s| {
            let mut attributes = Vec::with_capacity(4 + s.attributes().count());
            attributes.push((ATTR_OUTCOME.into(), s.outcome().into()));
            attributes.extend(s.attributes().map(|(k, v)| (k.into(), v.into())));
            attributes.push((ATTR_RESULT.into(), s.result().as_str().into()));
            if let Some(reason) = s.reason() {
                attributes.push((ATTR_REASON.into(), reason.into()));
            }
            if let Some(tenant) = s.tenant() {
                attributes.push((ATTR_TENANT.into(), tenant.into()));
            }
            batch.push_sum(
                METRIC_OUTCOMES,
                UNIT_OUTCOMES,
                DESCRIPTION_OUTCOMES,
                attributes,
                s.value(),
            );
            // A series that started after the registry (a promoted tenant) counts from its start.
            if let Some(start) = s.start_time() {
                let points = batch
                    .metrics
                    .iter_mut()
                    .rev()
                    .find(|m| m.name == METRIC_OUTCOMES);
                if let Some(point) = points.and_then(|m| m.points.last_mut()) {
                    point.start_time_unix_nano = unix_nanos(start);
                }
            }
        });
    }

    fn cache(&mut self) -> &mut SeriesCache {
        self
    }
}

/// An unambiguous key for a series: its start (which tells apart a tenant promoted again from
/// 0 from its earlier series), then each of the metric name, attribute keys and values,
/// prefixed by its length.
fn series_key(metric: &str, start: u64, attributes: &[(String, String)]) -> String {
    let mut key = String::with_capacity(64);
    push_decimal(&mut key, start);
    key.push(':');
    let parts = attributes
        .iter()
        .flat_map(|(k, v)| [k.as_str(), v.as_str()]);
    for part in std::iter::once(metric).chain(parts) {
        push_decimal(&mut key, part.len() as u64);
        key.push(':');
        key.push_str(part);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn beats(batch: &Batch) -> Vec<(u64, u64, u64)> {
        batch
            .metrics
            .iter()
            .flat_map(|m| &m.points)
            .map(|p| (p.start_time_unix_nano, p.time_unix_nano, p.value))
            .collect()
    }

    #[test]
    fn a_standalone_collector_turns_pushed_cumulative_values_into_acknowledged_deltas() {
        let clock = ManualClock::starting_at(Duration::from_secs(100));
        let mut c = Collector::standalone(Arc::new(clock.clone()), AggregationTemporality::Delta);
        let push = |total: u64| {
            move |b: &mut Batch| {
                b.push_sum("heartbeat.beats", "{beat}", "", vec![], total);
            }
        };
        let s = |secs: u64| secs * 1_000_000_000;
        clock.advance(Duration::from_secs(10));
        let first = c.collect_with(push(3));
        assert_eq!(beats(&first), [(s(100), s(110), 3)]);
        assert!(c.ack(&first));
        clock.advance(Duration::from_secs(10));
        let lost = c.collect_with(push(5)); // never acknowledged: offline
        assert_eq!(beats(&lost), [(s(110), s(120), 2)]);
        clock.advance(Duration::from_secs(10));
        let next = c.collect_with(push(6));
        assert_eq!(beats(&next), [(s(110), s(130), 3)]);
        assert!(c.ack(&next));
        assert!(!c.ack(&lost), "an older batch commits nothing");
        assert_eq!(
            c.collect().point_count(),
            0,
            "no source: nothing but what is pushed"
        );
    }
}
