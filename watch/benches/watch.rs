//! The watch's figures, in one run (docs/benchmarks.md, "Watch"):
//!
//! - **ingest**: OTLP/HTTP protobuf bodies exactly as the `heartbeat` SDK encodes them (its
//!   registry, collector and encoder, 2,000 outcome points a body), taken through the receiver's
//!   path in process: prost decode alone, decode + validation, and decode + validation +
//!   storing (the whole path but the socket); beside them the same request as OTLP/JSON, and
//!   the whole path over HTTP to a running watch on 127.0.0.1.
//! - **judge**: one tick over 10,000 series that all received a point since the last tick.
//! - **memory per tracked series**: printed before the groups, measured from the process's
//!   resident set and from the store's own count.

// `criterion_group!` generates an undocumented function; a benchmark may stop on a broken setup.
#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use heartbeat::{
    Registry,
    clock::ManualClock,
    otlp::{AggregationTemporality, Collector, encode_json, encode_protobuf},
};
use heartbeat_watch::bench::Ingestor;
use heartbeat_watch::{Database, RuleFile, Watch};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;

/// 2026-11-02T00:00:00Z.
const T0_MS: u64 = 1_793_577_600_000;
const TENANTS: usize = 200;
const REASONS: [&str; 2] = ["timeout", "rejected"];

const RULES: &str = r#"
[watch]
tick = "1s"
# One client sending as fast as it can: the per-source rate limit would measure itself.
rate_limit_per_source = 0

[[deadman]]
name = "api"
service = "messenger-api"
emitter = "api"
window = "10s"
min_beats = 5

[[outcome]]
name = "send-web"
outcome = "message.send"
where = { surface = "web_messenger" }
window = "10s"
min_success_ratio = 0.95

[[outcome]]
name = "send"
outcome = "message.send"
window = "10s"
min_success_ratio = 0.95
min_rate_per_minute = 1.0
"#;

/// An SDK registry with `tenants` tenants on two surfaces, each with successes and failures.
struct Fleet {
    clock: ManualClock,
    outcomes: Vec<heartbeat::Outcome>,
    collector: Collector,
    tenants: Vec<String>,
}

impl Fleet {
    fn new(service: &str, tenants: usize) -> Self {
        let clock = ManualClock::starting_at(Duration::from_millis(T0_MS));
        let registry = Registry::builder()
            .with_clock(Arc::new(clock.clone()))
            .with_tenant_limit(tenants)
            .build();
        let outcomes = ["web_messenger", "mobile_messenger"]
            .iter()
            .map(|surface| {
                registry
                    .outcome("message.send")
                    .with_attribute("surface", *surface)
                    .with_reasons(REASONS)
                    .build()
                    .expect("outcome")
            })
            .collect();
        let collector = Collector::new(&registry, AggregationTemporality::Cumulative)
            .with_resource_attribute("service.name", service)
            .with_resource_attribute("service.instance.id", format!("{service}-1"))
            .with_resource_attribute("service.version", "1.4.2");
        let tenants = (0..tenants).map(|i| format!("tenant-{i:04}")).collect();
        Self {
            clock,
            outcomes,
            collector,
            tenants,
        }
    }

    /// One second of traffic, then the body the SDK would export.
    fn next(&self) -> (Vec<u8>, usize, i64) {
        self.clock.advance(Duration::from_secs(1));
        for o in &self.outcomes {
            for t in &self.tenants {
                o.success_for(t);
                o.failure_for_with(t, REASONS[t.len() % 2]);
            }
        }
        let batch = self.collector.collect();
        let now_ms = i64::try_from(batch.time_unix_nano / 1_000_000).expect("ms");
        (encode_protobuf(&batch), batch.point_count(), now_ms)
    }

    fn next_json(&self) -> Vec<u8> {
        self.clock.advance(Duration::from_secs(1));
        encode_json(&self.collector.collect()).into_bytes()
    }
}

fn rules() -> RuleFile {
    RULES.parse().expect("rules")
}

fn ingest(c: &mut Criterion) {
    let fleet = Fleet::new("messenger-api", TENANTS);
    let bodies: Vec<(Vec<u8>, usize, i64)> = (0..32).map(|_| fleet.next()).collect();
    let points: usize = bodies.iter().map(|b| b.1).sum();
    let json = fleet.next_json();
    let json_points = bodies[0].1;
    let mut g = c.benchmark_group("watch/ingest");
    g.throughput(Throughput::Elements(points as u64));
    g.bench_function("prost decode only", |b| {
        b.iter(|| {
            for (body, _, _) in &bodies {
                black_box(ExportMetricsServiceRequest::decode(&body[..]).expect("decode"));
            }
        })
    });
    g.bench_function(
        "decode + validate + store (receiver path, in process)",
        |b| {
            b.iter_batched(
                || Ingestor::new(&rules(), bodies[0].2),
                |mut ingestor| {
                    for (body, _, now) in &bodies {
                        black_box(ingestor.ingest_protobuf(body, *now).expect("ingest"));
                    }
                    ingestor
                },
                BatchSize::LargeInput,
            )
        },
    );
    g.throughput(Throughput::Elements(json_points as u64));
    g.bench_function("OTLP/JSON decode only (serde, one body)", |b| {
        b.iter(|| {
            black_box(serde_json::from_slice::<ExportMetricsServiceRequest>(&json).expect("json"))
        })
    });
    g.finish();

    // The whole path over HTTP: a watch on 127.0.0.1, one keep-alive client, bodies from the SDK.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let watch = rt.block_on(async {
        Watch::builder(rules())
            .with_database(Database::InMemory)
            .with_listen("127.0.0.1:0".parse().expect("addr"))
            .with_grpc_listen(None)
            .with_auto_tick(false)
            .start()
            .await
            .expect("watch")
    });
    let url = format!("http://{}/v1/metrics", watch.http_addr());
    let client = reqwest::Client::new();
    let real = Fleet::new("messenger-api-http", TENANTS);
    let (_, per_body, _) = real.next();
    let mut g = c.benchmark_group("watch/ingest-http");
    g.throughput(Throughput::Elements(per_body as u64));
    g.sample_size(20);
    g.bench_function("SDK body -> POST /v1/metrics -> stored (1 client)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // The SDK's body at the real time (the watch validates against its clock).
                real.clock.set_unix(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .expect("time"),
                );
                let (body, _, _) = real.next();
                let start = Instant::now();
                let status = rt.block_on(
                    client
                        .post(&url)
                        .header("content-type", "application/x-protobuf")
                        .body(body)
                        .send(),
                );
                total += start.elapsed();
                assert_eq!(status.expect("post").status(), 200);
            }
            total
        })
    });
    g.finish();
    let (accepted, rejected) = watch.points();
    assert_eq!(rejected, 0, "{accepted} accepted");
    rt.block_on(watch.shutdown());
}

fn judge(c: &mut Criterion) {
    // 1,250 tenants x 2 surfaces x (success + 2 declared + 4 reserved reasons... only those
    // recorded appear): 10,000 series that all move every tick.
    let fleet = Fleet::new("messenger-api", 2500);
    let (first, _, now) = fleet.next();
    let mut ingestor = Ingestor::new(&rules(), now);
    ingestor.ingest_protobuf(&first, now).expect("ingest");
    let series = ingestor.series();
    let mut g = c.benchmark_group("watch/judge");
    g.throughput(Throughput::Elements(series as u64));
    g.bench_function(
        format!("one tick over {series} series with new points"),
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (body, _, now) = fleet.next();
                    ingestor.ingest_protobuf(&body, now).expect("ingest");
                    let start = Instant::now();
                    black_box(ingestor.tick(now + 1));
                    total += start.elapsed();
                }
                total
            })
        },
    );
    g.finish();
}

/// Resident set size in bytes (Linux), from /proc/self/statm.
fn rss() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn memory() {
    let fleet = Fleet::new("memory", 12_500);
    let (body, _, now) = fleet.next();
    let before = rss();
    let mut ingestor = Ingestor::new(&rules(), now);
    ingestor.ingest_protobuf(&body, now).expect("ingest");
    ingestor.tick(now + 1);
    let after = rss();
    let series = ingestor.series();
    drop(body);
    let own = ingestor.store_bytes() as f64 / series as f64;
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "watch/memory: {series} series; resident set grew {:.0} bytes per series; the store counts {own:.0} bytes per series",
            (a.saturating_sub(b)) as f64 / series as f64
        ),
        _ => println!("watch/memory: {series} series; the store counts {own:.0} bytes per series"),
    }
    black_box(ingestor);
}

criterion_group!(benches, ingest, judge);

fn main() {
    memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
