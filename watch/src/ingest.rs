//! From a decoded OTLP request to the points the store keeps: validation point by point.
//!
//! A request is never refused for one bad point: each point that cannot be judged (an absurd
//! timestamp, a missing or non-finite value, an unknown metric kind) is rejected alone and
//! counted in the OTLP `partial_success`, with a message naming the metric and the problem.
//! Unknown fields are ignored, as the OTLP specification requires of receivers, so that newer
//! emitters keep working. Histograms, exponential histograms and summaries are accepted and not
//! stored: no Heartbeat rule reads them.

use std::fmt::Write as _;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, metric, number_data_point};

/// How far ahead of the watch's clock a point's time may be (emitter clock skew).
pub(crate) const MAX_FUTURE_MS: i64 = 10 * 60 * 1000;
/// How far behind the watch's clock a point's time may be.
pub(crate) const MAX_AGE_MS: i64 = 7 * 24 * 3600 * 1000;
/// At most this many distinct problems are spelled out in a partial-success message.
const MAX_MESSAGES: usize = 4;

/// The kind of a stored metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A monotonic sum with cumulative temporality: the store turns it into increases.
    Cumulative,
    /// A monotonic sum with delta temporality: each point is an increase.
    Delta,
    /// A gauge, or a non-monotonic sum: the last value counts.
    Gauge,
}

/// One accepted point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) start_ns: u64,
    pub(crate) time_ns: u64,
    pub(crate) value: f64,
}

/// The accepted points of one metric.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricPoints {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) points: Vec<Point>,
}

/// The accepted points of one resource (one emitting process).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourcePoints {
    pub(crate) service: String,
    pub(crate) instance: String,
    pub(crate) version: Option<String>,
    pub(crate) metrics: Vec<MetricPoints>,
}

/// A validated request: what to store, and what was rejected and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Batch {
    pub(crate) resources: Vec<ResourcePoints>,
    pub(crate) accepted: u64,
    pub(crate) rejected: u64,
    pub(crate) ignored: u64,
    pub(crate) messages: Vec<String>,
}

impl Batch {
    /// The partial-success message: empty when nothing was rejected.
    pub(crate) fn message(&self) -> String {
        if self.rejected == 0 {
            return String::new();
        }
        let mut out = format!("{} data point(s) rejected: ", self.rejected);
        out.push_str(&self.messages.join("; "));
        out
    }

    fn reject(&mut self, count: u64, message: impl FnOnce() -> String) {
        self.rejected += count;
        if self.messages.len() < MAX_MESSAGES {
            let message = message();
            if !self.messages.contains(&message) {
                self.messages.push(message);
            }
        }
    }

    /// Rejects every point of this batch (for example when the store is full), with `why`.
    pub(crate) fn reject_all(&mut self, why: &str) {
        let count = self.accepted;
        self.accepted = 0;
        self.resources.clear();
        self.reject(count, || why.to_owned());
    }
}

/// Validates a decoded request against the watch's clock `now_ms`.
pub(crate) fn validate(request: ExportMetricsServiceRequest, now_ms: i64) -> Batch {
    let mut batch = Batch::default();
    let now_ns = i128::from(now_ms) * 1_000_000;
    let earliest = now_ns - i128::from(MAX_AGE_MS) * 1_000_000;
    let latest = now_ns + i128::from(MAX_FUTURE_MS) * 1_000_000;
    for rm in request.resource_metrics {
        let mut service = None;
        let mut instance = None;
        let mut version = None;
        if let Some(resource) = rm.resource {
            for kv in resource.attributes {
                match kv.key.as_str() {
                    "service.name" => service = Some(value_string(kv.value)),
                    "service.instance.id" => instance = Some(value_string(kv.value)),
                    "service.version" => version = Some(value_string(kv.value)),
                    _ => {}
                }
            }
        }
        let mut resource = ResourcePoints {
            service: service.unwrap_or_else(|| "unknown_service".to_owned()),
            instance: instance.unwrap_or_default(),
            version,
            metrics: Vec::new(),
        };
        for sm in rm.scope_metrics {
            for m in sm.metrics {
                let name = m.name;
                let (kind, points) = match m.data {
                    Some(metric::Data::Sum(sum)) => {
                        let kind = if !sum.is_monotonic {
                            Kind::Gauge
                        } else if sum.aggregation_temporality
                            == AggregationTemporality::Delta as i32
                        {
                            Kind::Delta
                        } else if sum.aggregation_temporality
                            == AggregationTemporality::Cumulative as i32
                        {
                            Kind::Cumulative
                        } else {
                            let n = u64::try_from(sum.data_points.len()).unwrap_or(u64::MAX);
                            let t = sum.aggregation_temporality;
                            batch.reject(n.max(1), || {
                                format!("metric {name:?}: unknown aggregation temporality {t}")
                            });
                            continue;
                        };
                        (kind, sum.data_points)
                    }
                    Some(metric::Data::Gauge(gauge)) => (Kind::Gauge, gauge.data_points),
                    Some(metric::Data::Histogram(h)) => {
                        batch.ignored += u64::try_from(h.data_points.len()).unwrap_or(0);
                        continue;
                    }
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        batch.ignored += u64::try_from(h.data_points.len()).unwrap_or(0);
                        continue;
                    }
                    Some(metric::Data::Summary(s)) => {
                        batch.ignored += u64::try_from(s.data_points.len()).unwrap_or(0);
                        continue;
                    }
                    None => {
                        batch.reject(1, || {
                            format!(
                                "metric {name:?}: unknown or missing metric kind (expected sum, gauge, histogram, exponential histogram or summary)"
                            )
                        });
                        continue;
                    }
                };
                if name.is_empty() {
                    let n = u64::try_from(points.len()).unwrap_or(u64::MAX);
                    batch.reject(n.max(1), || "a metric without a name".to_owned());
                    continue;
                }
                let mut out = Vec::with_capacity(points.len());
                for p in points {
                    // FLAG_NO_RECORDED_VALUE: a staleness marker, not a measurement.
                    if p.flags & 1 == 1 {
                        batch.ignored += 1;
                        continue;
                    }
                    let value = match p.value {
                        Some(number_data_point::Value::AsInt(v)) => v as f64,
                        Some(number_data_point::Value::AsDouble(v)) => v,
                        None => {
                            batch.reject(1, || {
                                format!("metric {name:?}: a data point without a value")
                            });
                            continue;
                        }
                    };
                    if !value.is_finite() {
                        batch.reject(1, || {
                            format!("metric {name:?}: value {value} is not finite")
                        });
                        continue;
                    }
                    if kind != Kind::Gauge && value < 0.0 {
                        batch.reject(1, || {
                            format!("metric {name:?}: negative value {value} for a monotonic sum")
                        });
                        continue;
                    }
                    let t = i128::from(p.time_unix_nano);
                    if t < earliest || t > latest {
                        let what = if p.time_unix_nano == 0 {
                            "is missing (0)".to_owned()
                        } else if t > latest {
                            "is more than 10 minutes ahead of the watch's clock".to_owned()
                        } else {
                            "is more than 7 days old".to_owned()
                        };
                        let tn = p.time_unix_nano;
                        batch.reject(1, || {
                            format!("metric {name:?}: absurd timestamp: time_unix_nano {tn} {what}")
                        });
                        continue;
                    }
                    if p.start_time_unix_nano > p.time_unix_nano {
                        let (s, tn) = (p.start_time_unix_nano, p.time_unix_nano);
                        batch.reject(1, || {
                            format!(
                                "metric {name:?}: absurd timestamp: start_time_unix_nano {s} is after time_unix_nano {tn}"
                            )
                        });
                        continue;
                    }
                    out.push(Point {
                        attrs: p.attributes.into_iter().map(attribute).collect(),
                        start_ns: p.start_time_unix_nano,
                        time_ns: p.time_unix_nano,
                        value,
                    });
                }
                if out.is_empty() {
                    continue;
                }
                batch.accepted += u64::try_from(out.len()).unwrap_or(u64::MAX);
                resource.metrics.push(MetricPoints {
                    name,
                    kind,
                    points: out,
                });
            }
        }
        if !resource.metrics.is_empty() {
            batch.resources.push(resource);
        }
    }
    batch
}

fn attribute(kv: KeyValue) -> (String, String) {
    (kv.key, value_string(kv.value))
}

/// An attribute value as text: strings as they are, scalars formatted, lists and maps as
/// compact JSON-like text (Heartbeat's own attributes are all strings).
pub(crate) fn value_string(value: Option<AnyValue>) -> String {
    let mut out = String::new();
    write_value(&mut out, value.and_then(|v| v.value).as_ref());
    out
}

fn write_value(out: &mut String, value: Option<&any_value::Value>) {
    match value {
        None => {}
        Some(any_value::Value::StringValue(s)) => out.push_str(s),
        Some(any_value::Value::BoolValue(b)) => {
            let _ = write!(out, "{b}");
        }
        Some(any_value::Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(any_value::Value::DoubleValue(d)) => {
            let _ = write!(out, "{d}");
        }
        Some(any_value::Value::BytesValue(b)) => {
            for byte in b {
                let _ = write!(out, "{byte:02x}");
            }
        }
        Some(any_value::Value::StringValueStrindex(i)) => {
            let _ = write!(out, "#{i}");
        }
        Some(any_value::Value::ArrayValue(a)) => {
            out.push('[');
            for (i, v) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, v.value.as_ref());
            }
            out.push(']');
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            out.push('{');
            for (i, v) in kv.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&v.key);
                out.push('=');
                write_value(out, v.value.as_ref().and_then(|v| v.value.as_ref()));
            }
            out.push('}');
        }
    }
}

impl Batch {
    /// Adds a message about rejected points, keeping the first few distinct ones.
    pub(crate) fn add_message(&mut self, message: String) {
        if self.messages.len() < MAX_MESSAGES && !self.messages.contains(&message) {
            self.messages.push(message);
        }
    }
}
