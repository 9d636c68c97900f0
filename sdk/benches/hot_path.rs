//! Hot-path benchmarks: each group puts Heartbeat's path beside its anchors in one run, so the
//! numbers to read are the ratios, not the absolute times.
//!
//! Anchors: a raw `AtomicU64`, the OpenTelemetry SDK 0.33 (`Counter::add` with attributes and
//! the experimental bound counter), and a `metrics` 0.24 counter handle backed by an
//! `AtomicU64` (what `metrics-util`'s atomic storage and the Prometheus exporter hand out).
//!
//! Groups:
//! - `single_thread`: one increment on a resolved handle.
//! - `two_threads_same_outcome`: two threads increment the same counter; time per increment of
//!   the aggregate (wall time over both threads' increments).
//! - `tenant_path`: one increment for a dynamic tenant out of 300 admitted ones.
//! - `collect_encode_100_series`: collecting 100 series and encoding an OTLP/protobuf
//!   `ExportMetricsServiceRequest`: the core collector's batch form and fast form, prost's
//!   encoding of the same request built once from the official types, and the OpenTelemetry
//!   SDK's collect-and-encode path. 100,000 series: `benches/collect_100k.rs`.
//!
//! Run: `cargo bench -p heartbeat-sdk --bench hot_path`. Results and caveats: docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// `criterion_group!` and `criterion_main!` generate undocumented public functions.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use heartbeat::{
    Outcome, Registry,
    otlp::{AggregationTemporality, Batch, Collector, encode_protobuf},
};
use metrics::{Key, KeyName, Metadata, SharedString, Unit};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, MeterProvider as _};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality,
};
use prost::Message as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier, Weak};
use std::time::{Duration, Instant};

const OUTCOME: &str = "message.send";
const TENANTS: usize = 300;

/// The attributes our `success` series carries, as OpenTelemetry key-values.
fn success_attributes() -> [KeyValue; 3] {
    [
        KeyValue::new("heartbeat.outcome", OUTCOME),
        KeyValue::new("surface", "web_messenger"),
        KeyValue::new("heartbeat.result", "success"),
    ]
}

fn our_outcome(registry: &Registry) -> Outcome {
    registry
        .outcome(OUTCOME)
        .with_attribute("surface", "web_messenger")
        .with_reasons(["timeout"])
        .build()
        .unwrap()
}

/// A meter provider with a manual reader (nothing exports in the background).
fn otel_provider() -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .build()
}

fn otel_counter(provider: &SdkMeterProvider) -> Counter<u64> {
    provider
        .meter("bench")
        .u64_counter("heartbeat.outcomes")
        .build()
}

/// A `metrics` recorder whose counters are `Arc<AtomicU64>`: the crate's reference handle.
#[derive(Debug, Default)]
struct AtomicRecorder;

impl metrics::Recorder for AtomicRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(Arc::new(AtomicU64::new(0)))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

fn metrics_counter() -> metrics::Counter {
    metrics::with_local_recorder(&AtomicRecorder, || {
        metrics::counter!("heartbeat.outcomes", "heartbeat.outcome" => OUTCOME,
            "surface" => "web_messenger", "heartbeat.result" => "success")
    })
}

fn single_thread(c: &mut Criterion) {
    // Other work on the machine skews every group; say how busy it was.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        eprintln!("load average at start: {}", load.trim());
    }
    let mut g = c.benchmark_group("single_thread");

    let atomic = AtomicU64::new(0);
    g.bench_function("raw_atomic_fetch_add", |b| {
        b.iter(|| black_box(&atomic).fetch_add(1, Relaxed))
    });

    let registry = Registry::new();
    let send = our_outcome(&registry);
    send.success(); // this thread's cell
    g.bench_function("heartbeat_outcome_success", |b| {
        b.iter(|| black_box(&send).success())
    });

    let provider = otel_provider();
    let counter = otel_counter(&provider);
    let attrs = success_attributes();
    counter.add(1, &attrs);
    g.bench_function("otel_counter_add_3_attrs", |b| {
        b.iter(|| black_box(&counter).add(1, black_box(&attrs)))
    });

    let bound = counter.bind(&attrs);
    bound.add(1);
    g.bench_function("otel_bound_counter_add", |b| {
        b.iter(|| black_box(&bound).add(1))
    });

    let handle = metrics_counter();
    g.bench_function("metrics_counter_increment", |b| {
        b.iter(|| black_box(&handle).increment(1))
    });
    g.finish();
}

/// Two threads, each with its own clone of `handle`, record `iters` times each after a warm-up
/// record and a barrier. Returns the wall time from the first start to the last end, halved:
/// criterion divides it by `iters`, giving the time per increment of the aggregate.
fn race<H: Clone + Send + Sync>(iters: u64, handle: &H, record: impl Fn(&H) + Sync) -> Duration {
    let barrier = Barrier::new(2);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (h, barrier, record) = (handle.clone(), &barrier, &record);
                s.spawn(move || {
                    record(&h); // warm-up: a thread's first record may allocate its cell
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        record(black_box(&h));
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let start = spans.iter().map(|s| s.0).min().unwrap();
    let end = spans.iter().map(|s| s.1).max().unwrap();
    let last_start = spans.iter().map(|s| s.0).max().unwrap();
    let first_end = spans.iter().map(|s| s.1).min().unwrap();
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    SPANS_WALL_NS.fetch_add(nanos(end - start), Relaxed);
    SPANS_OVERLAP_NS.fetch_add(
        nanos(first_end.saturating_duration_since(last_start)),
        Relaxed,
    );
    (end - start) / 2
}

/// Wall time of every [`race`], and the part of it when both threads' loops were under way.
static SPANS_WALL_NS: AtomicU64 = AtomicU64::new(0);
static SPANS_OVERLAP_NS: AtomicU64 = AtomicU64::new(0);

/// Prints how much the two threads' loops overlapped in `bench`: near 100% unless the threads
/// were kept apart (started late, or descheduled while the other ran to its end). Overlapping
/// spans do not prove the threads ran at the same instant; a loaded machine time-slices them.
fn report_overlap(bench: &str) {
    let wall = SPANS_WALL_NS.swap(0, Relaxed);
    let overlap = SPANS_OVERLAP_NS.swap(0, Relaxed);
    if wall == 0 {
        return; // filtered out
    }
    eprintln!(
        "{bench}: the two threads' loops overlapped for {}% of the wall time",
        overlap * 100 / wall
    );
}

fn two_threads_same_outcome(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_threads_same_outcome");

    let atomic = Arc::new(AtomicU64::new(0));
    g.bench_function("shared_atomic_fetch_add", |b| {
        b.iter_custom(|iters| {
            race(iters, &atomic, |a| {
                a.fetch_add(1, Relaxed);
            })
        })
    });
    report_overlap("shared_atomic_fetch_add");

    let registry = Registry::new();
    let send = our_outcome(&registry);
    g.bench_function("heartbeat_outcome_success", |b| {
        b.iter_custom(|iters| race(iters, &send, Outcome::success))
    });
    report_overlap("heartbeat_outcome_success");

    let provider = otel_provider();
    let counter = otel_counter(&provider);
    let attrs = success_attributes();
    g.bench_function("otel_counter_add_3_attrs", |b| {
        b.iter_custom(|iters| race(iters, &counter, |c| c.add(1, &attrs)))
    });
    report_overlap("otel_counter_add_3_attrs");

    let bound = counter.bind(&attrs);
    g.bench_function("otel_bound_counter_add", |b| {
        b.iter_custom(|iters| race(iters, &bound, |c| c.add(1)))
    });
    report_overlap("otel_bound_counter_add");

    let handle = metrics_counter();
    g.bench_function("metrics_counter_increment", |b| {
        b.iter_custom(|iters| race(iters, &handle, |c| c.increment(1)))
    });
    report_overlap("metrics_counter_increment");
    g.finish();
}

fn tenant_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("tenant_path");
    let tenants: Vec<String> = (0..TENANTS).map(|i| format!("tenant-{i}")).collect();

    let registry = Registry::new();
    let send = our_outcome(&registry);
    for t in &tenants {
        send.success_for(t); // admits every tenant
    }
    let mut i = 0;
    g.bench_function("heartbeat_success_for", |b| {
        b.iter(|| {
            i = (i + 1) % TENANTS;
            black_box(&send).success_for(black_box(&tenants[i]));
        })
    });

    let resolved: Vec<_> = tenants.iter().map(|t| send.tenant(t)).collect();
    g.bench_function("heartbeat_resolved_tenant_success", |b| {
        b.iter(|| {
            i = (i + 1) % TENANTS;
            black_box(&resolved[i]).success();
        })
    });

    let provider = otel_provider();
    let counter = otel_counter(&provider);
    let attribute_sets: Vec<[KeyValue; 3]> = tenants
        .iter()
        .map(|t| {
            [
                KeyValue::new("heartbeat.outcome", OUTCOME),
                KeyValue::new("heartbeat.result", "success"),
                KeyValue::new("heartbeat.tenant", t.clone()),
            ]
        })
        .collect();
    for attrs in &attribute_sets {
        counter.add(1, attrs); // every series exists before measuring
    }
    g.bench_function("otel_counter_add_3_attrs", |b| {
        b.iter(|| {
            i = (i + 1) % TENANTS;
            black_box(&counter).add(1, black_box(&attribute_sets[i]));
        })
    });

    // What a request handler that only has the tenant as a `&str` pays: the key-values are
    // built (and the tenant copied into an owned string) on every call.
    g.bench_function("otel_counter_add_3_attrs_built_per_call", |b| {
        b.iter(|| {
            i = (i + 1) % TENANTS;
            let tenant: &str = black_box(&tenants[i]);
            black_box(&counter).add(
                1,
                &[
                    KeyValue::new("heartbeat.outcome", OUTCOME),
                    KeyValue::new("heartbeat.result", "success"),
                    KeyValue::new("heartbeat.tenant", tenant.to_owned()),
                ],
            );
        })
    });
    g.finish();
}

/// A [`ManualReader`] the benchmark keeps while the provider owns it too.
#[derive(Debug, Clone)]
struct SharedReader(Arc<ManualReader>);

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

/// A provider with `service.name` whose manual reader the caller can collect from.
fn otel_collectable_provider() -> (SdkMeterProvider, Arc<ManualReader>) {
    let reader = Arc::new(ManualReader::builder().build());
    let provider = SdkMeterProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_attributes([KeyValue::new("service.name", "bench")])
                .build(),
        )
        .with_reader(SharedReader(Arc::clone(&reader)))
        .build();
    (provider, reader)
}

/// The OpenTelemetry SDK's export path: collect, convert to the OTLP message, prost-encode.
fn otel_collect_encode(reader: &ManualReader) -> Vec<u8> {
    let mut rm = ResourceMetrics::default();
    reader.collect(&mut rm).unwrap();
    ExportMetricsServiceRequest::from(&rm).encode_to_vec()
}

fn point_count(body: &[u8]) -> usize {
    let req = ExportMetricsServiceRequest::decode(body).unwrap();
    let mut points = 0;
    for rm in &req.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                if let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(sum)) =
                    &m.data
                {
                    points += sum.data_points.len();
                }
            }
        }
    }
    points
}

/// 10 outcomes, each with success and 9 failure reasons (4 reserved, 5 declared): 100 series.
fn declare_100_series(declare: impl Fn(String) -> Outcome) {
    for n in 0..10u64 {
        let outcome = declare(format!("job.{n}"));
        for _ in 0..n + 1 {
            outcome.success();
            outcome.failure_with("timeout");
        }
    }
}

const REASONS: [&str; 5] = ["timeout", "rejected", "unavailable", "invalid", "quota"];

fn collect_encode_100_series(c: &mut Criterion) {
    let mut g = c.benchmark_group("collect_encode_100_series");

    let registry = Registry::new();
    declare_100_series(|name| {
        registry
            .outcome(name)
            .with_attribute("surface", "web")
            .with_reasons(REASONS)
            .build()
            .unwrap()
    });
    let mut series = Vec::new();
    registry.collect(|s| {
        let mut attrs = vec![KeyValue::new("heartbeat.outcome", s.outcome().to_owned())];
        attrs.extend(
            s.attributes()
                .map(|(k, v)| KeyValue::new(k.to_owned(), v.to_owned())),
        );
        attrs.push(KeyValue::new("heartbeat.result", s.result().as_str()));
        if let Some(reason) = s.reason() {
            attrs.push(KeyValue::new("heartbeat.reason", reason.to_owned()));
        }
        series.push((attrs, s.value()));
    });
    assert_eq!(series.len(), 100);

    g.bench_function("heartbeat_registry_collect_only", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            registry.collect(|s| sum = sum.wrapping_add(s.value()));
            black_box(sum)
        })
    });

    let collector = Collector::new(&registry, AggregationTemporality::Cumulative)
        .with_resource_attribute("service.name", "bench");
    let ours = encode_protobuf(&collector.collect());
    assert_eq!(point_count(&ours), 100);
    g.bench_function("heartbeat_core_collector_encode_protobuf", |b| {
        b.iter(|| black_box(encode_protobuf(&collector.collect())))
    });

    // The fast form: attribute blocks encoded once, into a reused buffer.
    let mut fast = Collector::new(&registry, AggregationTemporality::Cumulative)
        .with_resource_attribute("service.name", "bench");
    let mut body = Vec::new();
    let encoded = fast.encode_protobuf_into(|_| {}, &mut body);
    assert_eq!(encoded.point_count(), 100);
    assert_eq!(
        body.len(),
        ours.len(),
        "the same request, bigger by no byte"
    );
    g.bench_function("heartbeat_core_encode_protobuf_into", |b| {
        b.iter(|| {
            body.clear();
            black_box(fast.encode_protobuf_into(|_| {}, &mut body).point_count());
        })
    });

    // What the native pipeline adds at each export: its own health as 11 more sums
    // (`heartbeat.sdk.inputs_corrected` by 3 reasons, `heartbeat.sdk.exports` by 8 results),
    // pushed as owned strings into a batch.
    let mut with_health = Collector::new(&registry, AggregationTemporality::Cumulative)
        .with_resource_attribute("service.name", "bench");
    let health = |b: &mut Batch| {
        let attr = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        for reason in ["invalid_tenant", "tenant_overflow", "undeclared_reason"] {
            let attributes = vec![attr("heartbeat.reason", reason)];
            b.push_sum(
                "heartbeat.sdk.inputs_corrected",
                "{event}",
                "",
                attributes,
                0,
            );
        }
        b.push_sum(
            "heartbeat.sdk.exports",
            "{export}",
            "",
            vec![attr("heartbeat.result", "success")],
            7,
        );
        for reason in [
            "timeout", "dns", "connect", "tls", "http_4xx", "http_5xx", "error",
        ] {
            let attributes = vec![
                attr("heartbeat.result", "failure"),
                attr("heartbeat.reason", reason),
            ];
            b.push_sum("heartbeat.sdk.exports", "{export}", "", attributes, 0);
        }
    };
    body.clear();
    let encoded = with_health.encode_protobuf_into(health, &mut body);
    assert_eq!(encoded.point_count(), 111);
    g.bench_function(
        "heartbeat_core_encode_protobuf_into_with_11_health_sums",
        |b| {
            b.iter(|| {
                body.clear();
                black_box(
                    with_health
                        .encode_protobuf_into(health, &mut body)
                        .point_count(),
                );
            })
        },
    );

    // prost's own encoding of the same request, built once from the official types: the
    // floor of any path that builds those types (building them is not timed here).
    let request = ExportMetricsServiceRequest::decode(&ours[..]).unwrap();
    let mut buffer = Vec::new();
    request.encode(&mut buffer).unwrap();
    assert_eq!(point_count(&buffer), 100);
    g.bench_function("prost_encode_prebuilt_request", |b| {
        b.iter(|| {
            buffer.clear();
            black_box(&request).encode(&mut buffer).unwrap();
        })
    });

    // The same 100 series (same attributes and values) on an OpenTelemetry SDK counter.
    let (provider, reader) = otel_collectable_provider();
    let counter = provider
        .meter("heartbeat")
        .u64_counter("heartbeat.outcomes")
        .build();
    for (attrs, value) in &series {
        counter.add(*value, attrs);
    }
    let theirs = otel_collect_encode(&reader);
    assert_eq!(point_count(&theirs), 100);
    eprintln!(
        "request bytes: heartbeat core {}, OpenTelemetry SDK {}",
        ours.len(),
        theirs.len()
    );
    g.bench_function("otel_sdk_collect_transform_prost", |b| {
        b.iter(|| black_box(otel_collect_encode(&reader)))
    });

    attached_to_app_provider(&mut g);
    g.finish();
}

/// Heartbeat attached to an application's `SdkMeterProvider` (`with_meter_provider`): the
/// registry read by an observable counter of the OpenTelemetry SDK, then the SDK's own export
/// path. (Heartbeat's own pipeline is the core collector's fast form above.)
#[cfg(feature = "export")]
fn attached_to_app_provider(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    let (provider, reader) = otel_collectable_provider();
    let (hb, _driver) = heartbeat::Heartbeat::builder()
        .with_meter_provider(provider)
        .build()
        .unwrap();
    declare_100_series(|name| {
        hb.outcome(name)
            .with_attribute("surface", "web")
            .with_reasons(REASONS)
            .build()
            .unwrap()
    });
    // It also reports its own health (a few more series) besides the 100.
    let points = point_count(&otel_collect_encode(&reader));
    assert!(points >= 100, "{points} points");
    eprintln!("attached to an application's provider: {points} points");
    g.bench_function("heartbeat_attached_to_app_provider_via_otel_sdk", |b| {
        b.iter(|| black_box(otel_collect_encode(&reader)))
    });
}

#[cfg(not(feature = "export"))]
fn attached_to_app_provider(
    _: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(25)
}

criterion_group! {
    name = benches;
    config = config();
    targets = single_thread, two_threads_same_outcome, tenant_path, collect_encode_100_series
}
criterion_main!(benches);
