//! The fuzz targets' committed corpus (`watch/fuzz/corpus/TARGET/`), replayed through the same
//! functions the targets call (`heartbeat_watch::fuzz::fuzz_*`) on stable Rust: every seed and
//! every input that once broke the watch (`regression-*`) keeps the watch's promises. The SDK's
//! seeds are also accepted whole, so the fuzzer starts from bodies that reach the store and the
//! judge.
//!
//! `HEARTBEAT_WRITE_SEEDS=1 cargo test -p heartbeat-watch --test reliability_fuzz_corpus` writes
//! the generated seeds again: bodies from the SDK's core encoders and from its real export
//! pipeline (OTLP/HTTP protobuf and JSON with gzip, captured on 127.0.0.1), hand-built edge
//! cases, and rule files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod reliability_support;
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use heartbeat::otlp::{AggregationTemporality, encode_json, encode_protobuf};
use heartbeat_watch::fuzz::{
    Encoding, NOW_MS, fuzz_otlp_gzip, fuzz_otlp_json, fuzz_otlp_protobuf, fuzz_rule_file, receive,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, KeyValueList, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality as Temporality, ExponentialHistogram, ExponentialHistogramDataPoint,
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, Sum, Summary, SummaryDataPoint,
    metric, number_data_point,
};
use prost::Message;
use reliability_support::{Event, TENANTS, collect_with_beats, export_through_the_pipeline};
use support::{Payload, point};

type Target = fn(&[u8]) -> Result<(), String>;

const TARGETS: [(&str, Target); 4] = [
    ("otlp_protobuf", fuzz_otlp_protobuf),
    ("otlp_json", fuzz_otlp_json),
    ("otlp_gzip", fuzz_otlp_gzip),
    ("rule_file", fuzz_rule_file),
];

/// scripts/fuzz.sh runs libFuzzer with `-max_len=4096`: longer seeds would be cut.
const MAX_SEED: usize = 4096;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(corpus(target))
        .unwrap_or_else(|e| panic!("{}: {e}", corpus(target).display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_seed_and_regression_input_keeps_the_watch_s_promises() {
    for (target, run) in TARGETS {
        let seeds = seeds(target);
        assert!(seeds.len() >= 4, "{target}: only {} seeds", seeds.len());
        for (name, data) in seeds {
            assert!(
                data.len() <= MAX_SEED,
                "{target}/{name}: {} bytes",
                data.len()
            );
            if let Err(broken) = run(&data) {
                panic!("{target}/{name}: {broken}");
            }
        }
    }
}

#[test]
fn the_sdk_seeds_are_accepted_whole() {
    for (target, encoding, gzip) in [
        ("otlp_protobuf", Encoding::Protobuf, false),
        ("otlp_json", Encoding::Json, false),
    ] {
        let mut checked = 0;
        for (name, data) in seeds(target) {
            if !name.starts_with("sdk-") {
                continue;
            }
            let received = receive(&data, encoding, gzip, usize::MAX, NOW_MS)
                .unwrap_or_else(|r| panic!("{target}/{name}: {r:?}"));
            assert_eq!(
                received.rejected, 0,
                "{target}/{name}: {}",
                received.message
            );
            assert!(!received.points.is_empty(), "{target}/{name}");
            checked += 1;
        }
        assert!(checked >= 3, "{target}: {checked} SDK seeds");
    }
    for (name, data) in seeds("otlp_gzip") {
        if name.starts_with("sdk-") {
            let received = receive(&data[1..], Encoding::Protobuf, true, usize::MAX, NOW_MS)
                .unwrap_or_else(|r| panic!("otlp_gzip/{name}: {r:?}"));
            assert_eq!(received.rejected, 0, "otlp_gzip/{name}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing the seeds (HEARTBEAT_WRITE_SEEDS=1)
// ---------------------------------------------------------------------------------------------

fn write(target: &str, name: &str, data: &[u8]) {
    assert!(
        data.len() <= MAX_SEED,
        "{target}/{name}: {} bytes is over {MAX_SEED}",
        data.len()
    );
    let dir = corpus(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn events() -> Vec<Event> {
    (0..23)
        .map(|i| Event {
            outcome: 0,
            tenant: (i % 3 != 0).then_some(i % 2),
            failure: (i % 5 == 0).then_some(0),
        })
        .collect()
}

/// Batches from the SDK's core (one outcome without fixed attributes, so that the JSON fits
/// the seed size): cumulative with beats, and two delta batches (the second after an
/// acknowledgement).
fn core_batches() -> Vec<(&'static str, heartbeat::otlp::Batch)> {
    let clock = heartbeat::clock::ManualClock::starting_at(std::time::Duration::from_millis(
        u64::try_from(NOW_MS - 120_000).unwrap(),
    ));
    let registry = heartbeat::Registry::builder()
        .with_clock(std::sync::Arc::new(clock.clone()))
        .build();
    let send = registry.outcome("message.send").build().unwrap();
    let record = |events: &[Event]| {
        for e in events {
            match (e.tenant, e.failure) {
                (None, None) => send.success(),
                (None, Some(_)) => send.failure_with("timeout"),
                (Some(t), None) => send.success_for(TENANTS[t]),
                (Some(t), Some(_)) => send.failure_for_with(TENANTS[t], "timeout"),
            }
        }
    };
    let collector = |temporality| {
        heartbeat::otlp::Collector::new(&registry, temporality)
            .with_resource_attribute("service.name", "messenger-api")
            .with_resource_attribute("service.instance.id", "i-1")
    };
    record(&events());
    clock.advance(std::time::Duration::from_secs(60));
    let cumulative = collect_with_beats(&collector(AggregationTemporality::Cumulative), 12);
    let mut delta = collector(AggregationTemporality::Delta);
    let first = delta.collect();
    delta.ack(&first);
    record(&events()[..7]);
    clock.advance(std::time::Duration::from_secs(30));
    let second = delta.collect();
    vec![
        ("sdk-cumulative", cumulative),
        ("sdk-delta-first", first),
        ("sdk-delta-second", second),
    ]
}

/// Moves every point's times so that the latest lands 30 s before the fuzz targets' clock.
fn shift_to_fuzz_clock(request: &mut ExportMetricsServiceRequest) {
    let mut latest = 0u64;
    let mut visit = |f: &mut dyn FnMut(&mut u64, &mut u64)| {
        for rm in &mut request.resource_metrics {
            for sm in &mut rm.scope_metrics {
                for m in &mut sm.metrics {
                    let points = match &mut m.data {
                        Some(metric::Data::Sum(s)) => &mut s.data_points,
                        Some(metric::Data::Gauge(g)) => &mut g.data_points,
                        _ => continue,
                    };
                    for p in points {
                        f(&mut p.start_time_unix_nano, &mut p.time_unix_nano);
                    }
                }
            }
        }
    };
    visit(&mut |_, t| latest = latest.max(*t));
    let target = u64::try_from(NOW_MS - 30_000).unwrap() * 1_000_000;
    visit(&mut |s, t| {
        *s = (*s + target).saturating_sub(latest);
        *t = (*t + target).saturating_sub(latest);
    });
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn number(time_ms: i64, value: number_data_point::Value) -> NumberDataPoint {
    NumberDataPoint {
        time_unix_nano: u64::try_from(time_ms).unwrap() * 1_000_000,
        start_time_unix_nano: u64::try_from(time_ms - 60_000).unwrap() * 1_000_000,
        value: Some(value),
        ..Default::default()
    }
}

/// Hand-built bodies: every metric kind, every reason to reject a point, odd attribute values.
fn edge_requests() -> Vec<(&'static str, ExportMetricsServiceRequest)> {
    let t = NOW_MS - 10_000;
    let ns = |ms: i64| u64::try_from(ms).unwrap() * 1_000_000;
    let kinds = Payload::new("messenger-api", "i-2", Some("2.0.0"))
        .gauge("queue.depth", &[("queue", "a")], t, 7)
        .metric(Metric {
            name: "updown".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![number(t, number_data_point::Value::AsDouble(-2.5))],
                aggregation_temporality: Temporality::Cumulative as i32,
                is_monotonic: false,
            })),
            ..Default::default()
        })
        .metric(Metric {
            name: "latency".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: ns(t),
                    count: 3,
                    bucket_counts: vec![1, 2],
                    explicit_bounds: vec![0.5],
                    ..Default::default()
                }],
                aggregation_temporality: Temporality::Delta as i32,
            })),
            ..Default::default()
        })
        .metric(Metric {
            name: "latency.exp".into(),
            data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    time_unix_nano: ns(t),
                    count: 1,
                    scale: 3,
                    ..Default::default()
                }],
                aggregation_temporality: Temporality::Cumulative as i32,
            })),
            ..Default::default()
        })
        .metric(Metric {
            name: "summary".into(),
            data: Some(metric::Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    time_unix_nano: ns(t),
                    count: 2,
                    sum: 1.0,
                    ..Default::default()
                }],
            })),
            ..Default::default()
        })
        .metric(Metric {
            name: "heartbeat.outcomes".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![number(t, number_data_point::Value::AsInt(5))],
                aggregation_temporality: Temporality::Delta as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        })
        .request();
    let mut stale = number(t, number_data_point::Value::AsInt(1));
    stale.flags = 1;
    let rejected = Payload::new("messenger-api", "i-3", None)
        .sum("heartbeat.beats", &[], 0, 0, 1)
        .sum(
            "heartbeat.beats",
            &[("when", "future")],
            t,
            NOW_MS + 3_600_000,
            1,
        )
        .sum(
            "heartbeat.beats",
            &[("when", "old")],
            0,
            NOW_MS - 30 * 86_400_000,
            1,
        )
        .sum("heartbeat.beats", &[("when", "start-after")], t + 1, t, 1)
        .sum("heartbeat.beats", &[("value", "negative")], t - 1, t, -4)
        .metric(Metric {
            name: "no.kind".into(),
            data: None,
            ..Default::default()
        })
        .metric(Metric {
            name: String::new(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![point(&[], t, t, 1)],
            })),
            ..Default::default()
        })
        .metric(Metric {
            name: "odd.temporality".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![point(&[], t - 1, t, 1)],
                aggregation_temporality: 7,
                is_monotonic: true,
            })),
            ..Default::default()
        })
        .metric(Metric {
            name: "values".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![
                    number(t, number_data_point::Value::AsDouble(f64::NAN)),
                    number(t, number_data_point::Value::AsDouble(f64::INFINITY)),
                    NumberDataPoint {
                        time_unix_nano: ns(t),
                        ..Default::default()
                    },
                    stale,
                ],
            })),
            ..Default::default()
        })
        .request();
    let mut attributes = Payload::new("messenger-api", "i-4", None)
        .sum(
            "heartbeat.beats",
            &[("heartbeat.emitter", "api")],
            t - 1,
            t,
            3,
        )
        .request();
    let mut nested = AnyValue {
        value: Some(any_value::Value::StringValue("leaf".into())),
    };
    for _ in 0..8 {
        nested = AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "k".into(),
                    value: Some(nested),
                    ..Default::default()
                }],
            })),
        };
    }
    if let Some(metric::Data::Sum(s)) =
        &mut attributes.resource_metrics[0].scope_metrics[0].metrics[0].data
    {
        let p = &mut s.data_points[0];
        p.attributes.extend([
            kv("bool", any_value::Value::BoolValue(true)),
            kv("int", any_value::Value::IntValue(-9)),
            kv("double", any_value::Value::DoubleValue(0.25)),
            kv("bytes", any_value::Value::BytesValue(vec![0, 255])),
            kv("strindex", any_value::Value::StringValueStrindex(3)),
            kv(
                "array",
                any_value::Value::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
                    values: vec![AnyValue {
                        value: Some(any_value::Value::IntValue(1)),
                    }],
                }),
            ),
            KeyValue {
                key: "nested".into(),
                value: Some(nested),
                ..Default::default()
            },
            KeyValue {
                key: "missing".into(),
                value: None,
                ..Default::default()
            },
        ]);
    }
    vec![
        ("edge-kinds", kinds),
        ("edge-rejected", rejected),
        ("edge-attributes", attributes),
        ("edge-empty", ExportMetricsServiceRequest::default()),
    ]
}

/// JSON bodies only JSON can carry (64-bit integers as strings and as numbers, unknown fields),
/// one nested 40 levels deep (within serde_json's limit), and one that is not JSON.
fn json_only(time_ms: i64) -> Vec<(&'static str, String)> {
    let t = time_ms * 1_000_000;
    let open = r#"{"arrayValue":{"values":["#.repeat(40);
    let close = "]}}".repeat(40);
    vec![
        (
            "edge-integers",
            format!(
                r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"messenger-api"}}}}]}},"scopeMetrics":[{{"metrics":[{{"name":"heartbeat.beats","sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{{"timeUnixNano":"{t}","asInt":"41"}},{{"timeUnixNano":{t},"asInt":42,"attributes":[{{"key":"b","value":{{"stringValue":"x"}}}}]}}]}}}}]}}]}}]}}"#
            ),
        ),
        (
            "edge-unknown-fields",
            format!(
                r#"{{"future":{{"x":[1,2]}},"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"heartbeat.beats","newThing":true,"sum":{{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[{{"timeUnixNano":"{t}","asDouble":1.5,"unknown":"?"}}]}}}}]}}]}}]}}"#
            ),
        ),
        (
            "edge-deep",
            format!(
                r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"heartbeat.beats","sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{{"attributes":[{{"key":"deep","value":{open}{{"stringValue":"leaf"}}{close}}}],"timeUnixNano":"{t}","asInt":"1"}}]}}}}]}}]}}]}}"#
            ),
        ),
        ("edge-not-json", "{\"resourceMetrics\":[{".to_owned()),
    ]
}

fn rule_files() -> Vec<(&'static str, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("examples/rules.toml")).unwrap();
    let schema = std::fs::read_to_string(root.join("RULEFILE-SCHEMA.md")).unwrap();
    let mut blocks = schema.split("```toml\n").skip(1).map(|b| {
        b.split("```")
            .next()
            .unwrap()
            .lines()
            .map(|l| l.split(" # ").next().unwrap().trim_end())
            .collect::<Vec<_>>()
            .join("\n")
    });
    let schema_main = blocks.next().unwrap();
    let schema_generate = blocks.next().unwrap();
    vec![
        ("example", example),
        ("schema", schema_main),
        ("generate", schema_generate),
        ("empty", String::new()),
        (
            "deadman",
            "[watch]\ntick = \"5s\"\n[[deadman]]\nname = \"a\"\nservice = \"s\"\nwindow = \"1m\"\nmin_beats = 3\nfire_after = 2\nseverity = \"ticket\"\n".to_owned(),
        ),
        (
            "bad-key",
            "[[deadman]]\nname = \"x\"\nservice = \"s\"\nwindw = \"1m\"\n".to_owned(),
        ),
        (
            "bad-window",
            "[watch]\ntick = \"7s\"\n[[outcome]]\nname = \"o\"\noutcome = \"o.x\"\nwindow = \"1m\"\nmin_rate_per_minute = 1\n".to_owned(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_the_seeds_when_asked() {
    if std::env::var_os("HEARTBEAT_WRITE_SEEDS").is_none() {
        println!("SKIPPED write_the_seeds_when_asked: HEARTBEAT_WRITE_SEEDS is not set");
        return;
    }
    for (name, batch) in core_batches() {
        let protobuf = encode_protobuf(&batch);
        write("otlp_protobuf", &format!("{name}.pb"), &protobuf);
        write(
            "otlp_json",
            &format!("{name}.json"),
            encode_json(&batch).as_bytes(),
        );
        let mut with_mode = vec![0];
        with_mode.extend_from_slice(&gzip(&protobuf));
        write("otlp_gzip", &format!("{name}.gz"), &with_mode);
    }
    // The real pipeline: the core's encoders and the SDK's gzip, as sent. The raw
    // bodies carry today's times (rejected as old by the targets' clock); `-shifted` copies are
    // moved to the targets' clock and re-encoded with the same prost messages.
    let events = events();
    for (protocol, target, ext) in [
        (heartbeat::Protocol::HttpProtobuf, "otlp_protobuf", "pb"),
        (heartbeat::Protocol::HttpJson, "otlp_json", "json"),
    ] {
        let captured = export_through_the_pipeline(protocol, &events).await;
        let body = &captured.last().unwrap().body;
        let mut with_mode = vec![0];
        with_mode.extend_from_slice(body);
        write("otlp_gzip", &format!("pipeline-{ext}.gz"), &with_mode);
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut inflated)
            .unwrap();
        let (raw, shifted) = match protocol {
            heartbeat::Protocol::HttpProtobuf => {
                let mut request = ExportMetricsServiceRequest::decode(&inflated[..]).unwrap();
                shift_to_fuzz_clock(&mut request);
                (inflated, request.encode_to_vec())
            }
            _ => {
                // Pretty-printed, and over the seed size: two points per metric, compact.
                let mut request: ExportMetricsServiceRequest =
                    serde_json::from_slice(&inflated).unwrap();
                for rm in &mut request.resource_metrics {
                    for sm in &mut rm.scope_metrics {
                        for m in &mut sm.metrics {
                            match &mut m.data {
                                Some(metric::Data::Sum(s)) => s.data_points.truncate(2),
                                Some(metric::Data::Gauge(g)) => g.data_points.truncate(2),
                                _ => {}
                            }
                        }
                    }
                }
                let raw = serde_json::to_vec(&request).unwrap();
                shift_to_fuzz_clock(&mut request);
                (raw, serde_json::to_vec(&request).unwrap())
            }
        };
        write(target, &format!("pipeline.{ext}"), &raw);
        write(target, &format!("sdk-pipeline-shifted.{ext}"), &shifted);
    }
    for (name, request) in edge_requests() {
        write(
            "otlp_protobuf",
            &format!("{name}.pb"),
            &request.encode_to_vec(),
        );
        if name != "edge-rejected" {
            // serde_json cannot write NaN: the JSON copies skip that body.
            write(
                "otlp_json",
                &format!("{name}.json"),
                &serde_json::to_vec(&request).unwrap(),
            );
        }
    }
    for (name, body) in json_only(NOW_MS - 5_000) {
        write("otlp_json", &format!("{name}.json"), body.as_bytes());
    }
    // The gzip target's other modes: a round trip (odd first byte), one against a tiny limit,
    // a bomb, a poisoned tail, a truncated member.
    let small = encode_protobuf(&core_batches()[1].1);
    let mut round_trip = vec![1];
    round_trip.extend_from_slice(&small);
    write("otlp_gzip", "round-trip", &round_trip);
    let mut tiny_limit = vec![3 | (40 << 2)];
    tiny_limit.extend_from_slice(&small);
    write("otlp_gzip", "round-trip-tiny-limit", &tiny_limit);
    let mut bomb = vec![0];
    bomb.extend_from_slice(&gzip(&vec![0; 1 << 20]));
    write("otlp_gzip", "bomb", &bomb);
    let mut truncated = vec![0];
    let whole = gzip(&small);
    truncated.extend_from_slice(&whole[..whole.len() / 2]);
    write("otlp_gzip", "truncated", &truncated);
    for (name, text) in rule_files() {
        write("rule_file", &format!("{name}.toml"), text.as_bytes());
    }
    for (name, words) in numbered_rule_files() {
        let mut data = vec![0];
        for w in words {
            data.extend_from_slice(&w.to_le_bytes());
        }
        write("rule_file", name, &data);
    }
}

/// Words of the rule-file target's numbered form (`heartbeat_watch::fuzz::numbered_rule_file`):
/// the top two bits of an integer choose small (0), a multiple of the one before (1, by the
/// low bits mod 16 plus 1), up to 400 days (2) or any below 2^62 (3); floats are raw bits.
fn numbered_rule_files() -> Vec<(&'static str, Vec<u64>)> {
    let small = |v: u64| v;
    let times = |factor: u64| (1 << 62) | (factor - 1);
    let floats = [3.0f64, 0.95, 10.0, 0.999].map(f64::to_bits);
    let mut valid = vec![
        small(10), // tick 10s
        times(6),  // dead-man window 60s
        times(5),  // outcome window 300s
        times(12), // season 3600s
        times(3),  // min_history 10800s
        small(5),  // min_beats
        small(2),  // fire_after
        small(1),  // resolve_after
    ];
    valid.extend(floats);
    // A tick of 2^52 s: the judge's window arithmetic near the end of i64 milliseconds.
    let mut extreme = vec![
        (3 << 62) | (1 << 52),
        times(1),
        times(1),
        times(2),
        times(1),
        small(1),
        small(1),
        small(1),
    ];
    extreme.extend([3.0f64, 0.5, 1.0, 0.99].map(f64::to_bits));
    vec![("numbered-valid", valid), ("numbered-extreme", extreme)]
}

#[test]
fn the_numbered_rule_file_seed_is_a_valid_rule_file() {
    let data = std::fs::read(corpus("rule_file").join("numbered-valid")).unwrap();
    let text = heartbeat_watch::fuzz::numbered_rule_file(&data[1..]);
    if let Err(e) = text.parse::<heartbeat_watch::RuleFile>() {
        panic!("{e}\n{text}");
    }
}
