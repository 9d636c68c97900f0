//! The OTLP receiver against real clients on 127.0.0.1: the SDK over HTTP/protobuf, HTTP/JSON
//! and gRPC, hand-built bodies, and every kind of bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use heartbeat::{Compression, Heartbeat, Protocol};
use heartbeat_watch::{Database, RuleFile, Watch};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, KeyValueList, any_value};
use opentelemetry_proto::tonic::metrics::v1::Metric;
use prost::Message;
use support::{Payload, T0, bounded, client, manual_watch, post};

const RULES: &str = r#"
[watch]
tick = "1s"
max_body_bytes = 4096
cors_origins = ["https://app.example.com"]

[[deadman]]
name = "api-pipeline"
service = "messenger-api"
emitter = "api"
window = "10s"
min_beats = 1
"#;

/// `google.rpc.Status` as the receiver sends it.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

async fn real_time_watch(rules: &str) -> Watch {
    let rules: RuleFile = rules.parse().unwrap();
    Watch::builder(rules)
        .with_database(Database::InMemory)
        .with_listen("127.0.0.1:0".parse().unwrap())
        .with_grpc_listen(Some("127.0.0.1:0".parse().unwrap()))
        .with_auto_tick(false)
        .start()
        .await
        .unwrap()
}

async fn sdk_round_trip(protocol: Protocol, grpc: bool) {
    let watch =
        real_time_watch(&RULES.replace("max_body_bytes = 4096", "max_body_bytes = 4194304")).await;
    let endpoint = if grpc {
        format!("http://{}", watch.grpc_addr().unwrap())
    } else {
        format!("http://{}", watch.http_addr())
    };
    let hb = Heartbeat::builder()
        .with_environment(std::iter::empty::<(String, String)>())
        .with_service_name("messenger-api")
        .with_service_version("1.4.2")
        .with_endpoint(endpoint)
        .with_protocol(protocol)
        .with_compression(Compression::Gzip)
        .install()
        .unwrap();
    let send = hb
        .outcome("message.send")
        .with_attribute("surface", "web_messenger")
        .build()
        .unwrap();
    for _ in 0..7 {
        send.success_for("acme");
    }
    send.failure_with("timeout");
    hb.shutdown().await.unwrap();
    let (accepted, rejected) = watch.points();
    assert!(accepted >= 7, "accepted {accepted}");
    assert_eq!(rejected, 0);
    watch.tick().await;
    let snapshot = watch.snapshot();
    assert!(snapshot.series >= 7, "{} series", snapshot.series);
    watch.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_exports_over_http_protobuf_with_gzip() {
    bounded(sdk_round_trip(Protocol::HttpProtobuf, false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_exports_over_http_json_with_gzip() {
    bounded(sdk_round_trip(Protocol::HttpJson, false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_exports_over_grpc_with_gzip() {
    bounded(sdk_round_trip(Protocol::Grpc, true)).await;
}

fn beats(value: i64, time_ms: i64) -> Payload {
    Payload::new("messenger-api", "i-1", Some("1.4.2")).sum(
        "heartbeat.beats",
        &[("heartbeat.emitter", "api")],
        T0 - 60_000,
        time_ms,
        value,
    )
}

async fn post_raw(watch: &Watch, headers: &[(&str, &str)], body: Vec<u8>) -> reqwest::Response {
    let mut req = client().post(format!("http://{}/v1/metrics", watch.http_addr()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(body).send().await.unwrap()
}

#[tokio::test]
async fn json_accepts_64_bit_integers_as_strings_and_as_numbers() {
    bounded(async {
        let (watch, _clock) = manual_watch(RULES).await;
        let t = (T0 * 1_000_000).to_string();
        let body = format!(
            r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"messenger-api"}}}}]}},
            "scopeMetrics":[{{"metrics":[
              {{"name":"heartbeat.beats","sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[
                {{"attributes":[{{"key":"heartbeat.emitter","value":{{"stringValue":"api"}}}}],"timeUnixNano":"{t}","asInt":"41"}},
                {{"attributes":[{{"key":"heartbeat.emitter","value":{{"stringValue":"b"}}}}],"timeUnixNano":{t},"asInt":42}}]}}}}]}}]}}]}}"#
        );
        let r = post_raw(&watch, &[("content-type", "application/json")], body.into_bytes()).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        let text = r.text().await.unwrap();
        assert!(!text.contains("partialSuccess\":{\"rejected"), "{text}");
        assert_eq!(watch.points(), (2, 0));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn unknown_json_fields_are_ignored_as_otlp_requires() {
    bounded(async {
        let (watch, _clock) = manual_watch(RULES).await;
        let t = (T0 * 1_000_000).to_string();
        let body = format!(
            r#"{{"futureField":{{"x":1}},"resourceMetrics":[{{"resource":{{"attributes":[]}},"scopeMetrics":[{{"metrics":[
              {{"name":"heartbeat.beats","newThing":true,"sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[
                {{"timeUnixNano":"{t}","asInt":"1","unknownPointField":"?"}}]}}}}]}}]}}]}}"#
        );
        let r = post_raw(&watch, &[("content-type", "application/json")], body.into_bytes()).await;
        assert_eq!(r.status(), 200);
        assert_eq!(watch.points(), (1, 0));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn gzip_bodies_are_decompressed() {
    bounded(async {
        let (watch, _clock) = manual_watch(RULES).await;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&beats(1, T0).protobuf()).unwrap();
        let body = gz.finish().unwrap();
        let r = post_raw(
            &watch,
            &[
                ("content-type", "application/x-protobuf"),
                ("content-encoding", "gzip"),
            ],
            body,
        )
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(watch.points(), (1, 0));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn chunked_bodies_are_read_whole() {
    bounded(async {
        let (watch, _clock) = manual_watch(RULES).await;
        let body = beats(3, T0).protobuf();
        let addr = watch.http_addr();
        let answer = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut req = format!(
                "POST /v1/metrics HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            )
            .into_bytes();
            for chunk in body.chunks(7) {
                req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                req.extend_from_slice(chunk);
                req.extend_from_slice(b"\r\n");
            }
            req.extend_from_slice(b"0\r\n\r\n");
            s.write_all(&req).unwrap();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
        .await
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert_eq!(watch.points(), (1, 0));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn absurd_timestamps_are_rejected_point_by_point_with_a_partial_success() {
    bounded(async {
        let (watch, _clock) = manual_watch(RULES).await;
        let body = beats(1, T0)
            .sum("heartbeat.beats", &[("heartbeat.emitter", "zero")], 0, 0, 1)
            .sum(
                "heartbeat.beats",
                &[("heartbeat.emitter", "future")],
                T0,
                T0 + 3_600_000,
                1,
            )
            .sum(
                "heartbeat.beats",
                &[("heartbeat.emitter", "old")],
                0,
                T0 - 30 * 86_400_000,
                1,
            )
            .protobuf();
        let r = post_raw(&watch, &[("content-type", "application/x-protobuf")], body).await;
        assert_eq!(r.status(), 200);
        let response = ExportMetricsServiceResponse::decode(r.bytes().await.unwrap()).unwrap();
        let partial = response.partial_success.unwrap();
        assert_eq!(partial.rejected_data_points, 3);
        let m = partial.error_message;
        assert!(m.starts_with("3 data point(s) rejected: "), "{m}");
        assert!(
            m.contains("absurd timestamp: time_unix_nano 0 is missing (0)"),
            "{m}"
        );
        assert!(
            m.contains("is more than 10 minutes ahead of the watch's clock"),
            "{m}"
        );
        assert!(m.contains("is more than 7 days old"), "{m}");
        assert_eq!(watch.points(), (1, 3));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_unknown_metric_kind_is_rejected_by_name() {
    bounded(async {
        let (watch, _clock) = manual_watch(RULES).await;
        let body = beats(1, T0)
            .metric(Metric {
                name: "from.the.future".into(),
                data: None,
                ..Default::default()
            })
            .protobuf();
        let r = post_raw(&watch, &[("content-type", "application/x-protobuf")], body).await;
        assert_eq!(r.status(), 200);
        let partial = ExportMetricsServiceResponse::decode(r.bytes().await.unwrap())
            .unwrap()
            .partial_success
            .unwrap();
        assert_eq!(partial.rejected_data_points, 1);
        assert!(
            partial
                .error_message
                .contains("metric \"from.the.future\": unknown or missing metric kind"),
            "{}",
            partial.error_message
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn garbage_is_a_400_with_a_status_body_naming_the_problem() {
    bounded(async {
        let (watch, _clock) = manual_watch(RULES).await;
        let r = post_raw(
            &watch,
            &[("content-type", "application/x-protobuf")],
            b"\xff\xff\xff\xff garbage".to_vec(),
        )
        .await;
        assert_eq!(r.status(), 400);
        let status = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
        assert_eq!(status.code, 3);
        assert!(
            status.message.starts_with("invalid OTLP protobuf body: "),
            "{}",
            status.message
        );

        let r = post_raw(
            &watch,
            &[("content-type", "application/json")],
            b"{not json".to_vec(),
        )
        .await;
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(body["code"], 3);
        let m = body["message"].as_str().unwrap();
        assert!(
            m.starts_with("invalid OTLP JSON body: key must be a string at line 1"),
            "{m}"
        );

        let r = post_raw(
            &watch,
            &[
                ("content-type", "application/x-protobuf"),
                ("content-encoding", "gzip"),
            ],
            b"not gzip".to_vec(),
        )
        .await;
        assert_eq!(r.status(), 400);
        let status = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
        assert!(
            status.message.contains("not valid gzip"),
            "{}",
            status.message
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_wrong_content_type_or_encoding_is_a_415() {
    bounded(async {
        let (watch, _clock) = manual_watch(RULES).await;
        let r = post_raw(&watch, &[("content-type", "text/plain")], b"hello".to_vec()).await;
        assert_eq!(r.status(), 415);
        let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(
            body["message"],
            "unsupported content type \"text/plain\": OTLP/HTTP takes application/x-protobuf or application/json"
        );
        let r = post_raw(
            &watch,
            &[("content-type", "application/x-protobuf"), ("content-encoding", "br")],
            beats(1, T0).protobuf(),
        )
        .await;
        assert_eq!(r.status(), 415);
        let status = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
        assert_eq!(status.message, "unsupported content-encoding \"br\": use gzip or none");
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_oversized_body_is_a_413_before_or_after_decompression() {
    bounded(async {
        let (watch, _clock) = manual_watch(RULES).await;
        let r = post_raw(
            &watch,
            &[("content-type", "application/x-protobuf")],
            vec![0u8; 10_000],
        )
        .await;
        assert_eq!(r.status(), 413);
        let status = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
        assert_eq!(
            status.message,
            "the body is larger than the watch's limit of 4096 bytes (max_body_bytes)"
        );
        // A small gzip bomb: 1 MB of zeros compresses to about 1 KB.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 1 << 20]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 4096);
        let r = post_raw(
            &watch,
            &[
                ("content-type", "application/x-protobuf"),
                ("content-encoding", "gzip"),
            ],
            bomb,
        )
        .await;
        assert_eq!(r.status(), 413);
        let status = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
        assert!(
            status
                .message
                .starts_with("the decompressed body is larger"),
            "{}",
            status.message
        );
        watch.shutdown().await;
    })
    .await;
}

fn nested_value(depth: usize) -> AnyValue {
    let mut v = AnyValue {
        value: Some(any_value::Value::StringValue("leaf".into())),
    };
    for _ in 0..depth {
        v = AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "k".into(),
                    value: Some(v),
                    ..Default::default()
                }],
            })),
        };
    }
    v
}

#[tokio::test]
async fn deeply_nested_payloads_are_a_400() {
    bounded(async {
        let rules = RULES.replace("max_body_bytes = 4096", "max_body_bytes = 1048576");
        let (watch, _clock) = manual_watch(&rules).await;
        let mut request = beats(1, T0).request();
        let point = &mut request.resource_metrics[0].scope_metrics[0].metrics[0];
        if let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(s)) = &mut point.data {
            s.data_points[0].attributes.push(KeyValue {
                key: "deep".into(),
                value: Some(nested_value(200)),
                ..Default::default()
            });
        }
        let r = post_raw(
            &watch,
            &[("content-type", "application/x-protobuf")],
            request.encode_to_vec(),
        )
        .await;
        assert_eq!(r.status(), 400);
        let status = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
        assert!(status.message.contains("recursion limit"), "{}", status.message);

        let t = (T0 * 1_000_000).to_string();
        let open = r#"{"kvlistValue":{"values":[{"key":"k","value":"#.repeat(300);
        let close = "}]}}".repeat(300);
        let body = format!(
            r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"heartbeat.beats","sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[
              {{"attributes":[{{"key":"deep","value":{open}{{"stringValue":"leaf"}}{close}}}],"timeUnixNano":"{t}","asInt":"1"}}]}}}}]}}]}}]}}"#
        );
        let r = post_raw(&watch, &[("content-type", "application/json")], body.into_bytes()).await;
        assert_eq!(r.status(), 400);
        let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert!(body["message"].as_str().unwrap().contains("recursion limit exceeded"), "{body}");
        assert_eq!(watch.points(), (0, 0));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_full_ingest_queue_is_a_429_with_retry_after() {
    bounded(async {
        let rules: RuleFile = RULES.parse().unwrap();
        let watch = Watch::builder(rules)
            .with_database(Database::InMemory)
            .with_listen("127.0.0.1:0".parse().unwrap())
            .with_grpc_listen(Some("127.0.0.1:0".parse().unwrap()))
            .with_auto_tick(false)
            .with_queue_capacity(0)
            .start()
            .await
            .unwrap();
        let r = post_raw(
            &watch,
            &[("content-type", "application/x-protobuf")],
            beats(1, T0).protobuf(),
        )
        .await;
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "1");
        let status = RpcStatus::decode(r.bytes().await.unwrap()).unwrap();
        assert_eq!(status.code, 14);
        assert!(
            status.message.contains("ingest queue is full"),
            "{}",
            status.message
        );
        let mut grpc =
            MetricsServiceClient::connect(format!("http://{}", watch.grpc_addr().unwrap()))
                .await
                .unwrap();
        let err = grpc.export(beats(1, T0).request()).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable);
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn cors_preflight_and_requests_follow_the_origin_allowlist() {
    bounded(async {
        let (watch, _clock) = manual_watch(RULES).await;
        let url = format!("http://{}/v1/metrics", watch.http_addr());
        let r = client()
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(
            r.headers()["access-control-allow-origin"],
            "https://app.example.com"
        );
        assert_eq!(r.headers()["access-control-allow-methods"], "POST, OPTIONS");
        assert_eq!(r.headers()["access-control-allow-headers"], "content-type");

        let r = client()
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.headers().get("access-control-allow-origin").is_none());

        let r = client()
            .post(&url)
            .header("origin", "https://app.example.com")
            .header("content-type", "application/x-protobuf")
            .body(beats(1, T0).protobuf())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["access-control-allow-origin"],
            "https://app.example.com"
        );

        let r = client()
            .post(&url)
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-protobuf")
            .body(beats(2, T0).protobuf())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(
            body["message"],
            "origin \"https://evil.example\" is not in the watch's cors_origins allowlist"
        );
        assert_eq!(watch.points(), (1, 0));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn bad_input_loses_nothing_already_stored() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        assert_eq!(post(&watch, beats(1, T0 + 500).protobuf()).await, 200);
        for bad in [b"garbage".to_vec(), vec![0xff; 64]] {
            assert_eq!(post(&watch, bad).await, 400);
        }
        let r = post_raw(
            &watch,
            &[("content-type", "application/json")],
            b"[".to_vec(),
        )
        .await;
        assert_eq!(r.status(), 400);
        clock.advance(Duration::from_secs(1));
        assert_eq!(post(&watch, beats(2, T0 + 1500).protobuf()).await, 200);
        clock.set_ms(T0 + 10_000);
        watch.tick().await;
        let s = watch.snapshot();
        assert_eq!(s.series, 1);
        assert_eq!(s.points_stored, 2);
        assert_eq!(
            s.deadman[0].beats, 1.0,
            "the second point's increase over the first"
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_bearer_token_is_required_when_configured() {
    bounded(async {
        let rules: RuleFile = RULES.parse().unwrap();
        let watch = Watch::builder(rules)
            .with_clock(Arc::new(heartbeat_watch::ManualClock::at_ms(T0)))
            .with_database(Database::InMemory)
            .with_listen("127.0.0.1:0".parse().unwrap())
            .with_grpc_listen(None)
            .with_auto_tick(false)
            .with_token(Some("s3cret".into()))
            .start()
            .await
            .unwrap();
        let r = post_raw(
            &watch,
            &[("content-type", "application/x-protobuf")],
            beats(1, T0).protobuf(),
        )
        .await;
        assert_eq!(r.status(), 401);
        let r = post_raw(
            &watch,
            &[
                ("content-type", "application/x-protobuf"),
                ("authorization", "Bearer s3cret"),
            ],
            beats(1, T0).protobuf(),
        )
        .await;
        assert_eq!(r.status(), 200);
        watch.shutdown().await;
    })
    .await;
}

/// The OpenTelemetry Python SDK's reference exporters (HTTP/protobuf and gRPC) as third-party
/// emitters. Needs `HEARTBEAT_PYTHON` (set by scripts/test.sh); skipped without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opentelemetry_python_exporters_are_understood() {
    let Ok(python) = std::env::var("HEARTBEAT_PYTHON") else {
        println!(
            "SKIPPED the_opentelemetry_python_exporters_are_understood: HEARTBEAT_PYTHON is not set"
        );
        return;
    };
    bounded(async {
        let watch = real_time_watch(&RULES.replace("max_body_bytes = 4096", "max_body_bytes = 4194304")).await;
        let script = r#"
import sys
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
if sys.argv[1] == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    exporter = OTLPMetricExporter(endpoint=sys.argv[2], insecure=True)
else:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    exporter = OTLPMetricExporter(endpoint=sys.argv[2])
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=600000)
resource = Resource.create({"service.name": "py-svc", "service.instance.id": sys.argv[1]})
provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = provider.get_meter("heartbeat")
meter.create_counter("heartbeat.outcomes").add(3, {"heartbeat.outcome": "message.send", "heartbeat.result": "success"})
meter.create_histogram("latency").record(1.5)
provider.force_flush()
provider.shutdown()
"#;
        let targets = [
            ("http", format!("http://{}/v1/metrics", watch.http_addr())),
            ("grpc", format!("http://{}", watch.grpc_addr().unwrap())),
        ];
        for (kind, endpoint) in targets {
            let out = tokio::process::Command::new(&python)
                .args(["-c", script, kind, &endpoint])
                .kill_on_drop(true)
                .output()
                .await
                .unwrap();
            assert!(out.status.success(), "{kind}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let (accepted, rejected) = watch.points();
        assert!(accepted >= 2, "{accepted}");
        assert_eq!(rejected, 0);
        // One counter series per exporter (flush and shutdown both export it); histograms ignored.
        assert_eq!(watch.snapshot().series, 2);
        watch.shutdown().await;
    })
    .await;
}
