//! What is registered on the pipeline's OpenTelemetry meter (the `metrics` bridge, gauges, an
//! application's own instruments): collected by a [`ManualReader`] at each export and sent in
//! the same request as the core's batch, as a second `ResourceMetrics` with the same resource.
//!
//! The OpenTelemetry SDK aggregates only these; the outcome series never pass through it.

use super::sender::Encoding;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A [`ManualReader`] the driver keeps a handle to while the provider owns it too.
#[derive(Debug, Clone)]
pub(crate) struct SharedReader(pub(crate) Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// The meter's instruments now, as an OTLP request; `None` when none has a point.
pub(crate) fn collect(reader: &ManualReader) -> Option<ExportMetricsServiceRequest> {
    let mut rm = ResourceMetrics::default();
    reader.collect(&mut rm).ok()?;
    if rm.scope_metrics().all(|s| s.metrics().next().is_none()) {
        return None;
    }
    Some(ExportMetricsServiceRequest::from(&rm))
}

/// Appends `extra`'s resource metrics to `body`, a request encoded by the core.
///
/// Protobuf: two encoded messages concatenated are one message whose repeated fields hold
/// both's entries. JSON: `extra`'s `resourceMetrics` entries join the body's array.
pub(crate) fn append(body: &mut Vec<u8>, extra: &ExportMetricsServiceRequest, encoding: Encoding) {
    match encoding {
        Encoding::Protobuf => {
            use prost::Message as _;
            // Encoding into a Vec cannot run out of room.
            let _ = extra.encode(body);
        }
        Encoding::Json => append_json(body, extra),
    }
}

#[cfg(feature = "http-json")]
fn append_json(body: &mut Vec<u8>, extra: &ExportMetricsServiceRequest) {
    // The core's request ends with the close of its `resourceMetrics` array and of the request.
    const END: &[u8] = b"]}";
    let Ok(serde_json::Value::Object(mut request)) = serde_json::to_value(extra) else {
        return;
    };
    let Some(serde_json::Value::Array(entries)) = request.remove("resourceMetrics") else {
        return;
    };
    if entries.is_empty() || !body.ends_with(END) {
        return;
    }
    body.truncate(body.len() - END.len());
    for entry in &entries {
        body.push(b',');
        // Serializing a `Value` to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *body, entry);
    }
    body.extend_from_slice(END);
}

#[cfg(not(feature = "http-json"))]
fn append_json(_: &mut Vec<u8>, _: &ExportMetricsServiceRequest) {}

#[cfg(test)]
mod tests {
    use super::*;
    use heartbeat_core::otlp::{AggregationTemporality, Batch, encode_json, encode_protobuf};
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::SdkMeterProvider;

    fn sdk_request() -> ExportMetricsServiceRequest {
        let reader = Arc::new(ManualReader::builder().build());
        let provider = SdkMeterProvider::builder()
            .with_reader(SharedReader(Arc::clone(&reader)))
            .build();
        provider
            .meter("test")
            .f64_gauge("queue.depth")
            .build()
            .record(3.5, &[]);
        collect(&reader).expect("a gauge point")
    }

    fn batch() -> Batch {
        let mut b = Batch::new(
            AggregationTemporality::Cumulative,
            Duration::from_secs(1),
            Duration::from_secs(2),
        );
        b.push_sum("heartbeat.beats", "{beat}", "", vec![], 4);
        b
    }

    fn names(request: &ExportMetricsServiceRequest) -> Vec<String> {
        request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| m.name.clone())
            .collect()
    }

    #[test]
    fn protobuf_bodies_carry_both_parts() {
        use prost::Message as _;
        let mut body = encode_protobuf(&batch());
        append(&mut body, &sdk_request(), Encoding::Protobuf);
        let request = ExportMetricsServiceRequest::decode(body.as_slice()).unwrap();
        assert_eq!(request.resource_metrics.len(), 2);
        assert_eq!(names(&request), ["heartbeat.beats", "queue.depth"]);
    }

    #[cfg(feature = "http-json")]
    #[test]
    fn json_bodies_carry_both_parts() {
        let mut body = encode_json(&batch()).into_bytes();
        append(&mut body, &sdk_request(), Encoding::Json);
        let request: ExportMetricsServiceRequest = serde_json::from_slice(&body).unwrap();
        assert_eq!(names(&request), ["heartbeat.beats", "queue.depth"]);
    }

    #[test]
    fn an_empty_meter_adds_nothing() {
        let reader = Arc::new(ManualReader::builder().build());
        let _provider = SdkMeterProvider::builder()
            .with_reader(SharedReader(Arc::clone(&reader)))
            .build();
        assert!(collect(&reader).is_none());
    }
}
