//! Collecting and encoding 100,000 series: 10 outcomes x 1,000 tenants x 10 results/reasons
//! (success and 9 failure reasons), every one non-zero, plus the 100 series without a tenant.
//!
//! Besides criterion's times (the core collector's fast form, its batch form, and prost's
//! encoding of the same request built once from the official types), it prints, from a counting
//! global allocator: the heap allocations of each collection after the first (and fails if there
//! is any), the heap the collector keeps, and the peak heap of a first and of a later collection.
//!
//! Run: `cargo bench -p heartbeat-sdk --bench collect_100k`. Results: docs/benchmarks.md.

// A `#[global_allocator]` must `unsafe impl GlobalAlloc`; the unsafe code is confined to that
// impl, which forwards every call unchanged to `System`.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// `criterion_group!` and `criterion_main!` generate undocumented public functions.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use heartbeat::{
    Registry,
    otlp::{AggregationTemporality, Collector, encode_protobuf},
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message as _;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

const OUTCOMES: usize = 10;
const TENANTS: usize = 1_000;
/// With the 4 reserved reasons: 9 failure reasons, 10 results/reasons with success.
const REASONS: [&str; 5] = ["timeout", "rejected", "unavailable", "invalid", "quota"];
const RESERVED: [&str; 4] = ["unspecified", "abandoned", "panicked", "other"];

/// Heap allocations (and reallocations) made on counting threads.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Heap bytes live in the whole process, and the most seen since the last reset.
static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // `const` and without `Drop`: reading it never allocates, so the allocator may use it.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

struct CountingAllocator;

impl CountingAllocator {
    fn grow(&self, bytes: usize) {
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Relaxed);
        }
        let live = LIVE.fetch_add(bytes as u64, Relaxed) + bytes as u64;
        PEAK.fetch_max(live, Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments; counting touches only
// atomics and a const thread-local, none of which allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.grow(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.grow(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.grow(new_size);
        LIVE.fetch_sub(layout.size() as u64, Relaxed);
        // SAFETY: `ptr` and `layout` came from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Relaxed);
        // SAFETY: `ptr` and `layout` came from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// What `f` did to the heap: allocations on this thread, the peak of live bytes above the
/// start, and live bytes at the end above the start.
struct HeapUse {
    allocations: u64,
    peak: u64,
    kept: i64,
}

fn heap_use<T>(f: impl FnOnce() -> T) -> (T, HeapUse) {
    let start = LIVE.load(Relaxed);
    PEAK.store(start, Relaxed);
    let allocations = ALLOCATIONS.load(Relaxed);
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    let used = HeapUse {
        allocations: ALLOCATIONS.load(Relaxed) - allocations,
        peak: PEAK.load(Relaxed) - start,
        kept: LIVE.load(Relaxed) as i64 - start as i64,
    };
    (out, used)
}

fn mib(bytes: impl Into<f64>) -> f64 {
    bytes.into() / (1024.0 * 1024.0)
}

/// The registry: every series of every tenant recorded once (so each is sent).
fn registry() -> Registry {
    let registry = Registry::new();
    for o in 0..OUTCOMES {
        let outcome = registry
            .outcome(format!("job.{o}"))
            .with_attribute("surface", "web")
            .with_reasons(REASONS)
            .build()
            .unwrap();
        outcome.success();
        for t in 0..TENANTS {
            let tenant = outcome.tenant(&format!("tenant-{t:04}"));
            tenant.success();
            for reason in RESERVED.iter().chain(&REASONS) {
                tenant.failure_with(reason);
            }
        }
    }
    registry
}

fn collect_encode_100k_series(c: &mut Criterion) {
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        eprintln!("load average at start: {}", load.trim());
    }
    let registry = registry();
    let mut series = 0;
    registry.collect(|_| series += 1);
    assert_eq!(
        series,
        OUTCOMES * (1 + RESERVED.len() + REASONS.len()) * (TENANTS + 1)
    );

    let new_collector = || {
        Collector::new(&registry, AggregationTemporality::Cumulative)
            .with_resource_attribute("service.name", "bench")
    };
    let (mut collector, created) = heap_use(new_collector);
    let mut body = Vec::new();
    let started = Instant::now();
    let (encoded, first) = heap_use(|| collector.encode_protobuf_into(|_| {}, &mut body));
    let first_time = started.elapsed();
    assert_eq!(encoded.point_count(), series);
    let request_bytes = body.len();
    let mut later = Vec::new();
    for _ in 0..3 {
        body.clear();
        let started = Instant::now();
        let (_, used) = heap_use(|| collector.encode_protobuf_into(|_| {}, &mut body));
        later.push((started.elapsed(), used));
    }
    eprintln!(
        "{series} series, request {request_bytes} bytes ({:.1} MiB)",
        mib(request_bytes as f64)
    );
    eprintln!(
        "first collection: {:.1} ms, {} allocations, peak heap +{:.1} MiB, kept by the collector \
         {:.1} MiB (besides the {:.1} MiB request)",
        first_time.as_secs_f64() * 1e3,
        first.allocations,
        mib(first.peak as f64),
        mib((first.kept + created.kept) as f64 - request_bytes as f64),
        mib(request_bytes as f64),
    );
    for (time, used) in &later {
        eprintln!(
            "later collection: {:.1} ms, {} allocations, peak heap +{} bytes",
            time.as_secs_f64() * 1e3,
            used.allocations,
            used.peak
        );
        assert_eq!(
            used.allocations, 0,
            "a collection after the first allocated on the heap"
        );
    }

    // A delta collector whose every export is acknowledged allocates nothing either.
    let mut delta = Collector::new(&registry, AggregationTemporality::Delta);
    let mut delta_body = Vec::new();
    let first = delta.encode_protobuf_into(|_| {}, &mut delta_body);
    assert_eq!(first.point_count(), series);
    assert!(delta.ack_encoded(&first));
    for _ in 0..3 {
        delta_body.clear();
        let (encoded, used) = heap_use(|| delta.encode_protobuf_into(|_| {}, &mut delta_body));
        assert_eq!(used.allocations, 0, "a delta collection allocated");
        assert_eq!(
            encoded.point_count(),
            series / (TENANTS + 1),
            "base series only"
        );
        delta.ack_encoded(&encoded);
    }

    let mut g = c.benchmark_group("collect_encode_100k_series");
    g.bench_function("heartbeat_core_encode_protobuf_into", |b| {
        b.iter(|| {
            body.clear();
            black_box(
                collector
                    .encode_protobuf_into(|_| {}, &mut body)
                    .point_count(),
            );
        })
    });

    let batch_form = new_collector();
    g.bench_function("heartbeat_core_collector_encode_protobuf", |b| {
        b.iter(|| black_box(encode_protobuf(&batch_form.collect())))
    });

    let request = ExportMetricsServiceRequest::decode(&body[..]).unwrap();
    let mut buffer = Vec::new();
    request.encode(&mut buffer).unwrap();
    g.bench_function("prost_encode_prebuilt_request", |b| {
        b.iter(|| {
            buffer.clear();
            black_box(&request).encode(&mut buffer).unwrap();
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(10)
}

criterion_group! {
    name = benches;
    config = config();
    targets = collect_encode_100k_series
}
criterion_main!(benches);
