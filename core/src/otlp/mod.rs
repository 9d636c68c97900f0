//! OTLP metrics without dependencies: a small data model ([`Batch`]), a [`Collector`] that fills
//! it from a [`Registry`](crate::Registry) with cumulative or loss-free delta temporality, and
//! hand-written encoders for OTLP/protobuf ([`encode_protobuf`]) and OTLP/JSON ([`encode_json`]).
//!
//! The collector also has a fast form, [`Collector::encode_protobuf_into`], the path of the
//! native pipeline: it builds no batch of the outcome series, but encodes each series'
//! attributes once, when it first sees the series, and then writes cached bytes, times and
//! values into a reused buffer, with no heap allocation once its buffers have grown (the same
//! bytes as `encode_protobuf` of the batch). The browser build, where prost and serde would not
//! fit the size budget, uses batches and `encode_json`, and links none of the fast form. The
//! encoders produce an `ExportMetricsServiceRequest`
//! (`opentelemetry/proto/collector/metrics/v1/metrics_service.proto`) with one resource and
//! one instrumentation scope. See [`Collector`] for an example, and docs/benchmarks.md for what
//! each form costs.

mod cache;
mod collector;
mod json;
mod proto;

pub use collector::{Collector, Encoded};
pub use json::encode_json;
pub use proto::encode_protobuf;

use crate::semconv::SCOPE_NAME;
use std::time::Duration;

/// Whether the points of a sum count from a fixed start or since the previous report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregationTemporality {
    /// Each point counts what happened in its own window; windows of one series do not overlap
    /// (OTLP `AGGREGATION_TEMPORALITY_DELTA`, 1).
    Delta,
    /// Each point counts everything since a fixed start time (OTLP
    /// `AGGREGATION_TEMPORALITY_CUMULATIVE`, 2).
    Cumulative,
}

impl AggregationTemporality {
    /// The OTLP `AggregationTemporality` enum value.
    pub fn to_otlp(self) -> u8 {
        match self {
            Self::Delta => 1,
            Self::Cumulative => 2,
        }
    }
}

/// What a [`Metric`] is, and so how its points are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricKind {
    /// A monotonic sum (a counter) with integer points.
    Sum(AggregationTemporality),
}

/// One number at one series: its attributes, its time window and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DataPoint {
    /// The series' attributes, in the order they are encoded. Together with the metric name
    /// they identify the series.
    pub attributes: Vec<(String, String)>,
    /// The start of the window, in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// The end of the window, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// The value, encoded as `asInt` (an `sfixed64`; values above `i64::MAX` are sent as
    /// `i64::MAX`).
    pub value: u64,
}

/// One metric: its identity and its points.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metric {
    /// The metric name, such as `heartbeat.outcomes`.
    pub name: String,
    /// A human-readable description.
    pub description: String,
    /// The UCUM unit, such as `{outcome}`.
    pub unit: String,
    /// The kind of metric (a monotonic sum) and its temporality.
    pub kind: MetricKind,
    /// The points, one per series.
    pub points: Vec<DataPoint>,
}

/// One export: resource attributes, the instrumentation scope, and metrics.
///
/// A batch also carries a reporting window (its temporality, start and end time) that
/// [`Batch::push_sum`] stamps on every point it adds, so adding a series of any sum metric is
/// one call. Batches from a delta [`Collector`] also carry, invisibly, the counts that
/// [`Collector::ack`] commits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Batch {
    /// Resource attributes, such as `service.name`.
    pub resource: Vec<(String, String)>,
    /// The instrumentation scope name (`heartbeat`).
    pub scope_name: String,
    /// The instrumentation scope version (this crate's version).
    pub scope_version: String,
    /// The temporality of sums created by [`Batch::push_sum`].
    pub temporality: AggregationTemporality,
    /// The window start stamped by [`Batch::push_sum`], in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// The window end stamped by [`Batch::push_sum`], in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// The metrics, each with at least one point when built by a [`Collector`].
    pub metrics: Vec<Metric>,
    pub(crate) commit: Option<collector::Commit>,
}

impl Batch {
    /// An empty batch for the window `start..end`, with scope `heartbeat` and this crate's
    /// version, and no resource attributes.
    pub fn new(temporality: AggregationTemporality, start: Duration, end: Duration) -> Self {
        Self {
            resource: Vec::new(),
            scope_name: SCOPE_NAME.into(),
            scope_version: env!("CARGO_PKG_VERSION").into(),
            temporality,
            start_time_unix_nano: unix_nanos(start),
            time_unix_nano: unix_nanos(end),
            metrics: Vec::new(),
            commit: None,
        }
    }

    /// Adds a point for one series of a monotonic sum, stamped with the batch's window.
    ///
    /// The metric is created (with this unit, description and the batch's temporality) the
    /// first time its name is pushed; later points of the same name join it.
    pub fn push_sum(
        &mut self,
        name: &str,
        unit: &str,
        description: &str,
        attributes: Vec<(String, String)>,
        value: u64,
    ) {
        let i = match self.metrics.iter().position(|m| m.name == name) {
            Some(i) => i,
            None => {
                self.metrics.push(Metric {
                    name: name.into(),
                    description: description.into(),
                    unit: unit.into(),
                    kind: MetricKind::Sum(self.temporality),
                    points: Vec::new(),
                });
                self.metrics.len() - 1
            }
        };
        self.metrics[i].points.push(DataPoint {
            attributes,
            start_time_unix_nano: self.start_time_unix_nano,
            time_unix_nano: self.time_unix_nano,
            value,
        });
    }

    /// The number of points over all metrics.
    pub fn point_count(&self) -> usize {
        self.metrics.iter().map(|m| m.points.len()).sum()
    }

    /// Whether the batch has no points (nothing worth sending).
    pub fn is_empty(&self) -> bool {
        self.point_count() == 0
    }
}

/// Nanoseconds since the Unix epoch, saturating (in the year 2554).
pub(crate) fn unix_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The largest value `asInt` (an `sfixed64`) can carry.
const MAX_AS_INT: u64 = u64::MAX >> 1;

/// A point's value as sent on the wire.
fn as_int(value: u64) -> u64 {
    value.min(MAX_AS_INT)
}
