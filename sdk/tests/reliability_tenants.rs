//! A million distinct tenant ids against the default limit of 1,000 tenants per outcome: memory
//! stays flat once the table is full (live heap bytes, counted by a global allocator), the number
//! of series stays at the bound, and the totals stay exact (the sum over every series, tenants and
//! overflow, equals the number of events) in the registry, in the core's OTLP encoding decoded by
//! the official types, and through the export pipeline to a collector.
//!
//! The tests share the process-wide allocation count, so they take turns.
#![cfg(feature = "http-proto")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod counting_alloc;
mod support;

use heartbeat::{
    Heartbeat, Outcome, Protocol, Registry,
    otlp::{AggregationTemporality, Collector, encode_protobuf},
    tenant::{DEFAULT_TENANT_LIMIT, OVERFLOW_TENANT},
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message;
use std::fmt::Write as _;
use std::time::Duration;
use support::{Sink, TEST_LIMIT, TestResult, bounded};

const TENANTS: u64 = 1_000_000;

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Records one event for each tenant id in `range`: every tenth a failure, the rest successes.
fn record(send: &Outcome, range: std::ops::Range<u64>) {
    let mut tenant = String::with_capacity(24);
    for i in range {
        tenant.clear();
        let _ = write!(tenant, "tenant-{i}");
        if i % 10 == 0 {
            send.failure_for_with(&tenant, "timeout");
        } else {
            send.success_for(&tenant);
        }
    }
}

#[test]
fn a_million_tenants_keep_memory_flat_at_the_limit_and_every_total_exact() {
    let _turn = TURN.blocking_lock();
    let registry = Registry::new();
    let before = counting_alloc::live_bytes();
    let send = registry
        .outcome("message.send")
        .with_reasons(["timeout"])
        .build()
        .unwrap();
    record(&send, 0..10_000);
    let at_limit = counting_alloc::live_bytes();
    record(&send, 10_000..TENANTS);
    let at_million = counting_alloc::live_bytes();
    let growth = at_million - at_limit;
    eprintln!(
        "tenants: live heap {before} B before, {at_limit} B at 10,000 tenants (table full: \
         {} B for {DEFAULT_TENANT_LIMIT} tenants), {at_million} B at {TENANTS} (growth {growth} B)",
        at_limit - before
    );
    assert!(
        growth < 16 * 1024,
        "memory grew by {growth} B past the tenant limit"
    );

    // Series: each admitted tenant and the overflow row, each with success and each failure
    // reason it recorded; totals: every event exactly once.
    let mut series = 0u64;
    let mut sum = 0u64;
    let mut tenants = std::collections::BTreeSet::new();
    registry.collect(|s| {
        series += 1;
        sum += s.value();
        if let Some(t) = s.tenant() {
            tenants.insert(t.to_owned());
        }
    });
    assert_eq!(
        sum, TENANTS,
        "the sum over all series is the number of events"
    );
    assert_eq!(
        tenants.len(),
        DEFAULT_TENANT_LIMIT + 1,
        "the limit, plus the overflow row"
    );
    assert!(tenants.contains(OVERFLOW_TENANT));
    let reasons = 5 + 1; // four reserved, one declared, and success
    let bound = u64::try_from((DEFAULT_TENANT_LIMIT + 2) * reasons).unwrap();
    assert!(series <= bound, "{series} series, bound {bound}");
    let health = registry.health();
    assert_eq!(
        health.overflowed_tenants,
        TENANTS - u64::try_from(DEFAULT_TENANT_LIMIT).unwrap()
    );

    // The core's OTLP encoding, decoded by the official types: the same total.
    let batch = Collector::new(&registry, AggregationTemporality::Cumulative).collect();
    let request = ExportMetricsServiceRequest::decode(encode_protobuf(&batch).as_slice()).unwrap();
    let mut decoded = 0i64;
    let mut points = 0u64;
    for m in request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        let Some(metric::Data::Sum(sum)) = &m.data else {
            continue;
        };
        for p in &sum.data_points {
            points += 1;
            if let Some(number_data_point::Value::AsInt(v)) = p.value {
                decoded += v;
            }
        }
    }
    assert_eq!(decoded, i64::try_from(TENANTS).unwrap());
    assert_eq!(points, series);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_tenants_through_the_pipeline_arrive_as_exact_totals() -> TestResult {
    let _turn = TURN.lock().await;
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let (hb, driver) = Heartbeat::builder()
            .with_environment(Vec::<(String, String)>::new())
            .with_service_name("tenants-test")
            .with_endpoint(sink.endpoint())
            .with_protocol(Protocol::HttpProtobuf)
            .with_export_interval(Duration::from_secs(3600))
            .build()?;
        tokio::spawn(driver);
        let send = hb
            .outcome("message.send")
            .with_reasons(["timeout"])
            .build()?;
        // From two threads at once, as a server would.
        let halves = [0..TENANTS / 2, TENANTS / 2..TENANTS];
        std::thread::scope(|scope| {
            for half in halves {
                let send = send.clone();
                scope.spawn(move || record(&send, half));
            }
        });
        hb.flush().await?;
        let o = ("heartbeat.outcome", "message.send");
        assert_eq!(
            sink.sum_total("heartbeat.outcomes", &[o]),
            Some(i64::try_from(TENANTS).unwrap())
        );
        assert_eq!(
            sink.sum_total("heartbeat.outcomes", &[o, ("heartbeat.reason", "timeout")]),
            Some(i64::try_from(TENANTS / 10).unwrap())
        );
        let points = sink.sum_points("heartbeat.outcomes").len();
        assert!(
            points <= (DEFAULT_TENANT_LIMIT + 2) * 6,
            "{points} series exported"
        );
        hb.shutdown().await?;
        Ok(())
    })
    .await
}
