//! Builders and readers for the `opentelemetry-proto` metric types: hand-made export requests,
//! attribute lookups, values as text.

use std::time::{SystemTime, UNIX_EPOCH};

pub use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
pub use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value,
};
pub use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric,
    number_data_point,
};
pub use opentelemetry_proto::tonic::resource::v1::Resource;

/// A string attribute.
pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// String attributes from `(key, value)` pairs.
pub fn attributes(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
    pairs.iter().map(|(k, v)| kv(k, v)).collect()
}

/// An attribute value as text: strings as they are, other scalars through `Display`,
/// composite values through `Debug`. Absent values render as the empty string.
pub fn render(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
    }
}

/// The rendered value of attribute `key`, if present.
pub fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|a| a.key == key)
        .map(|a| render(a.value.as_ref()))
}

/// Whether every `(key, value)` of `filter` is present in `attrs` (rendered with [`render`]).
pub fn matches(attrs: &[KeyValue], filter: &[(&str, &str)]) -> bool {
    filter
        .iter()
        .all(|(k, v)| attr(attrs, k).as_deref() == Some(*v))
}

/// Nanoseconds since the Unix epoch, for data point timestamps.
pub fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// One integer data point with string attributes.
pub fn int_point(attrs: &[(&str, &str)], value: i64, start: u64, time: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attributes(attrs),
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(number_data_point::Value::AsInt(value)),
        ..Default::default()
    }
}

/// An export request holding one monotonic sum named `name` under one resource and one scope.
pub fn sum_request(
    resource: &[(&str, &str)],
    name: &str,
    temporality: AggregationTemporality,
    points: Vec<NumberDataPoint>,
) -> ExportMetricsServiceRequest {
    let metric = Metric {
        name: name.to_owned(),
        unit: "{outcome}".to_owned(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: attributes(resource),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "heartbeat-harness".to_owned(),
                    ..Default::default()
                }),
                metrics: vec![metric],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
