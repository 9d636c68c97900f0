//! The point model: every number data point of a request, flattened with its resource, scope,
//! metric and attributes; series identity; totals over cumulative and delta sums.
//!
//! This module reads `opentelemetry-proto` requests only; [`crate::points()`] applies it to what a
//! [`crate::Receiver`] recorded.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{Metric, NumberDataPoint, metric, number_data_point};

use crate::otlp::render;

/// The kind of a metric's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A sum.
    Sum {
        /// `isMonotonic`.
        monotonic: bool,
        /// `aggregationTemporality` (1 delta, 2 cumulative).
        temporality: i32,
    },
    /// A gauge.
    Gauge,
    /// A histogram, summary or anything else.
    Other,
}

/// A number point's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointValue {
    /// `asInt`.
    Int(i64),
    /// `asDouble`.
    Double(f64),
    /// Neither.
    Missing,
}

impl PointValue {
    /// The value as an integer, if it is one.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            PointValue::Int(v) => Some(v),
            _ => None,
        }
    }
}

/// One number data point with everything around it.
#[derive(Debug, Clone)]
pub struct Point {
    /// The request it came in.
    pub seq: usize,
    /// When that request arrived.
    pub at: Duration,
    /// Whether that request was accepted.
    pub accepted: bool,
    /// Resource attributes.
    pub resource: BTreeMap<String, String>,
    /// Instrumentation scope name.
    pub scope: String,
    /// Metric name.
    pub metric: String,
    /// Metric unit.
    pub unit: String,
    /// Sum, gauge or other.
    pub kind: Kind,
    /// Point attributes.
    pub attributes: BTreeMap<String, String>,
    /// `startTimeUnixNano`.
    pub start: u64,
    /// `timeUnixNano`.
    pub time: u64,
    /// The value.
    pub value: PointValue,
}

impl Point {
    /// The series: resource, scope, metric and attributes (not the start time).
    pub fn series(&self) -> String {
        format!(
            "{:?}|{}|{}|{:?}",
            self.resource, self.scope, self.metric, self.attributes
        )
    }

    /// Whether it is a delta sum.
    pub fn is_delta(&self) -> bool {
        matches!(self.kind, Kind::Sum { temporality: 1, .. })
    }
}

fn map(attrs: &[KeyValue]) -> BTreeMap<String, String> {
    attrs
        .iter()
        .map(|kv| (kv.key.clone(), render(kv.value.as_ref())))
        .collect()
}

/// One number data point of a request, with the resource, scope and metric around it.
#[derive(Debug, Clone, Copy)]
pub struct NumberPoint<'a> {
    /// Resource attributes.
    pub resource: &'a [KeyValue],
    /// Instrumentation scope name.
    pub scope: &'a str,
    /// The metric.
    pub metric: &'a Metric,
    /// Sum or gauge.
    pub kind: Kind,
    /// The point.
    pub point: &'a NumberDataPoint,
}

/// Every number data point of `request` (of sums and gauges), in order.
pub fn number_points(
    request: &ExportMetricsServiceRequest,
) -> impl Iterator<Item = NumberPoint<'_>> {
    request.resource_metrics.iter().flat_map(|rm| {
        let resource = rm.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        rm.scope_metrics.iter().flat_map(move |sm| {
            let scope = sm.scope.as_ref().map_or("", |s| s.name.as_str());
            sm.metrics.iter().flat_map(move |metric| {
                let (kind, points): (Kind, &[NumberDataPoint]) = match &metric.data {
                    Some(metric::Data::Sum(s)) => (
                        Kind::Sum {
                            monotonic: s.is_monotonic,
                            temporality: s.aggregation_temporality,
                        },
                        &s.data_points,
                    ),
                    Some(metric::Data::Gauge(g)) => (Kind::Gauge, &g.data_points),
                    _ => (Kind::Other, &[]),
                };
                points.iter().map(move |point| NumberPoint {
                    resource,
                    scope,
                    metric,
                    kind,
                    point,
                })
            })
        })
    })
}

/// The number points of one request (request fields `seq`, `at`, `accepted` left at zero).
pub fn points_of(request: &ExportMetricsServiceRequest) -> Vec<Point> {
    number_points(request)
        .map(|n| Point {
            seq: 0,
            at: Duration::ZERO,
            accepted: false,
            resource: map(n.resource),
            scope: n.scope.to_owned(),
            metric: n.metric.name.clone(),
            unit: n.metric.unit.clone(),
            kind: n.kind,
            attributes: map(&n.point.attributes),
            start: n.point.start_time_unix_nano,
            time: n.point.time_unix_nano,
            value: match n.point.value {
                Some(number_data_point::Value::AsInt(v)) => PointValue::Int(v),
                Some(number_data_point::Value::AsDouble(v)) => PointValue::Double(v),
                None => PointValue::Missing,
            },
        })
        .collect()
}

/// Whether `attributes` has every pair of `has` and none of the keys in `lacks`.
pub fn has(attributes: &BTreeMap<String, String>, has: &[(&str, &str)], lacks: &[&str]) -> bool {
    has.iter()
        .all(|(k, v)| attributes.get(*k).is_some_and(|x| x == v))
        && lacks.iter().all(|k| !attributes.contains_key(*k))
}

/// The total of integer sum `metric` over the accepted points whose attributes have `has` and
/// lack `lacks`: for cumulative series the latest point of each (series, start time), for delta
/// series every distinct point (a retried point counts once).
pub fn total(points: &[Point], metric: &str, filter: &[(&str, &str)], lacks: &[&str]) -> i64 {
    let mut latest: HashMap<(String, u64), (u64, i64)> = HashMap::new();
    let mut deltas: HashMap<(String, u64, u64), i64> = HashMap::new();
    for p in points {
        if !p.accepted || p.metric != metric || !has(&p.attributes, filter, lacks) {
            continue;
        }
        let Some(v) = p.value.as_i64() else { continue };
        if p.is_delta() {
            deltas.insert((p.series(), p.start, p.time), v);
        } else {
            let slot = latest.entry((p.series(), p.start)).or_insert((p.time, v));
            if p.time >= slot.0 {
                *slot = (p.time, v);
            }
        }
    }
    latest.values().map(|(_, v)| v).sum::<i64>() + deltas.values().sum::<i64>()
}

/// When the total of `metric` (as [`total`]) first reached each value `1..=n`: the arrival
/// times of counted events, such as beats.
pub fn arrivals(points: &[Point], metric: &str, filter: &[(&str, &str)]) -> Vec<Duration> {
    let mut out: Vec<Duration> = Vec::new();
    let mut seqs: Vec<usize> = points
        .iter()
        .filter(|p| p.accepted && p.metric == metric)
        .map(|p| p.seq)
        .collect();
    seqs.dedup();
    for seq in seqs {
        let upto: Vec<Point> = points.iter().filter(|p| p.seq <= seq).cloned().collect();
        let at = upto.last().map(|p| p.at).unwrap_or_default();
        let reached = total(&upto, metric, filter, &[]);
        while (out.len() as i64) < reached {
            out.push(at);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(seq: usize, value: i64, start: u64, time: u64, temporality: i32) -> Point {
        Point {
            seq,
            at: Duration::from_millis(seq as u64 * 100),
            accepted: true,
            resource: BTreeMap::from([("service.name".to_owned(), "s".to_owned())]),
            scope: "heartbeat".to_owned(),
            metric: "heartbeat.beats".to_owned(),
            unit: "{beat}".to_owned(),
            kind: Kind::Sum {
                monotonic: true,
                temporality,
            },
            attributes: BTreeMap::new(),
            start,
            time,
            value: PointValue::Int(value),
        }
    }

    #[test]
    fn cumulative_totals_take_the_latest_point_of_each_start_time() {
        let points = vec![
            point(0, 3, 1, 10, 2),
            point(1, 5, 1, 20, 2),
            point(2, 2, 7, 30, 2), // a restart: a new start time
        ];
        assert_eq!(total(&points, "heartbeat.beats", &[], &[]), 7);
    }

    #[test]
    fn delta_totals_count_a_retried_point_once() {
        let points = vec![
            point(0, 3, 1, 10, 1),
            point(1, 3, 1, 10, 1),
            point(2, 4, 10, 20, 1),
        ];
        assert_eq!(total(&points, "heartbeat.beats", &[], &[]), 7);
    }

    #[test]
    fn arrivals_give_the_time_each_count_was_first_seen() {
        let points = vec![point(0, 1, 1, 10, 2), point(1, 3, 1, 20, 2)];
        assert_eq!(
            arrivals(&points, "heartbeat.beats", &[]),
            vec![
                Duration::ZERO,
                Duration::from_millis(100),
                Duration::from_millis(100)
            ]
        );
    }
}
