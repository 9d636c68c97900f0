//! The clock jumps: the wall clock backwards (NTP, a VM restored from a snapshot) or forwards,
//! and monotonic time forwards (a suspended laptop, a stalled process). Nothing panics, no window
//! ends before it starts, no age goes negative, and the dead-man schedule recovers: one beat for
//! a long stall (with the skipped ticks counted), then its cadence again.
//!
//! Time is a `ManualClock` (feature `testing`), moved by hand.
#![cfg(all(feature = "testing", feature = "http-proto"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod deadman_http;
mod support;

use deadman_http::eventually;
use heartbeat::{
    Heartbeat, PingConfig, Registry,
    clock::ManualClock,
    otlp::{AggregationTemporality, Collector, encode_protobuf},
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric;
use prost::Message;
use std::sync::Arc;
use std::time::Duration;
use support::{Sink, TEST_LIMIT, TestResult, bounded};

const T0: Duration = Duration::from_secs(1_763_700_000);
const DAY: Duration = Duration::from_secs(86_400);
const CADENCE: Duration = Duration::from_millis(100);

/// Every point's window, decoded from the core's protobuf encoding of `batch`.
fn windows(batch: &heartbeat::otlp::Batch) -> Vec<(u64, u64)> {
    let request = ExportMetricsServiceRequest::decode(encode_protobuf(batch).as_slice()).unwrap();
    let mut out = Vec::new();
    for m in request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        if let Some(metric::Data::Sum(sum)) = &m.data {
            for p in &sum.data_points {
                out.push((p.start_time_unix_nano, p.time_unix_nano));
            }
        }
    }
    out
}

#[track_caller]
fn assert_ordered(windows: &[(u64, u64)]) {
    assert!(!windows.is_empty());
    for (start, end) in windows {
        assert!(
            start <= end,
            "a window ends before it starts: {start} > {end}"
        );
    }
}

#[test]
fn a_wall_clock_jump_never_makes_a_window_end_before_it_starts() {
    let clock = ManualClock::starting_at(T0);
    let registry = Registry::builder()
        .with_clock(Arc::new(clock.clone()))
        .build();
    let send = registry.outcome("message.send").build().unwrap();
    let cumulative = Collector::new(&registry, AggregationTemporality::Cumulative);
    let mut delta = Collector::new(&registry, AggregationTemporality::Delta);

    send.success();
    clock.advance(Duration::from_secs(10));
    assert_ordered(&windows(&cumulative.collect()));
    let batch = delta.collect();
    assert_ordered(&windows(&batch));
    assert!(delta.ack(&batch));

    // A day back: before the registry started, and before the last delta window ended.
    clock.set_unix(T0 - DAY);
    send.success();
    assert_ordered(&windows(&cumulative.collect()));
    let batch = delta.collect();
    assert_ordered(&windows(&batch));
    delta.ack(&batch);

    // To the epoch, and far ahead: still no panic, still ordered, nothing lost.
    clock.set_unix(Duration::ZERO);
    send.success();
    assert_ordered(&windows(&cumulative.collect()));
    clock.set_unix(T0 + 365 * DAY);
    send.success();
    let batch = cumulative.collect();
    assert_ordered(&windows(&batch));
    let total: u64 = batch
        .metrics
        .iter()
        .flat_map(|m| &m.points)
        .map(|p| p.value)
        .sum();
    assert_eq!(total, 4);
}

/// A field of a ping body's summary, which must parse as a non-negative integer (or `none`).
fn field(body: &str, key: &str) -> Option<u64> {
    let value = body
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))?;
    if value == "none" {
        return None;
    }
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{key}={value} is not a count: {body}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_man_beats_through_wall_clock_jumps_and_reports_sane_ages() -> TestResult {
    bounded(TEST_LIMIT, async {
        let clock = ManualClock::starting_at(T0);
        let sink = Sink::start().await?;
        let channel = deadman_http::Server::ok().await;
        let hb = Heartbeat::builder()
            .with_environment(Vec::<(String, String)>::new())
            .with_endpoint(sink.endpoint())
            .with_export_interval(Duration::from_secs(3600))
            .with_clock(Arc::new(clock.clone()))
            .install()?;
        let beat = hb
            .deadman("api")
            .with_cadence(CADENCE)
            .with_jitter(Duration::ZERO)
            .with_ping(PingConfig::new(channel.url("/ping"))?)
            .start()?;
        // Beat n has happened and its ping is answered: a ping still in flight at the next
        // beat would be skipped (pings never pile up), which is not what this test is about.
        let beats_reach = |n: u64| {
            let beat = &beat;
            async move {
                eventually("the next beat and its ping", || async {
                    let h = beat.health();
                    (h.beats >= n && h.pings_ok + h.pings_failed + h.pings_skipped >= h.beats)
                        .then_some(())
                })
                .await;
            }
        };
        beats_reach(1).await;
        hb.flush().await?; // a last successful export, at T0

        for jump in [T0 - DAY, Duration::ZERO, T0 + 365 * DAY, T0] {
            clock.set_unix(jump);
            let before = beat.health().beats;
            clock.advance(CADENCE);
            beats_reach(before + 1).await;
            hb.flush().await?;
        }
        eventually("the pings of every beat", || async {
            (channel.requests().len() >= 5).then_some(())
        })
        .await;
        for request in channel.requests() {
            field(&request.body, "last_export_age_s");
            field(&request.body, "since").unwrap();
        }
        let health = hb.export_health();
        assert_eq!(health.exports_failed, 0, "{health:?}");
        let pings = beat.health();
        assert_eq!(
            (pings.pings_failed, pings.pings_skipped),
            (0, 0),
            "{pings:?}"
        );
        beat.stop().await?;
        hb.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_stall_gives_one_beat_not_a_burst_and_the_cadence_resumes() -> TestResult {
    bounded(TEST_LIMIT, async {
        let clock = ManualClock::starting_at(T0);
        let sink = Sink::start().await?;
        let hb = Heartbeat::builder()
            .with_environment(Vec::<(String, String)>::new())
            .with_endpoint(sink.endpoint())
            .with_export_interval(Duration::from_secs(3600))
            .with_clock(Arc::new(clock.clone()))
            .install()?;
        let beat = hb
            .deadman("api")
            .with_cadence(CADENCE)
            .with_jitter(Duration::ZERO)
            .start()?;
        eventually("the first beat", || async {
            (beat.health().beats == 1).then_some(())
        })
        .await;

        // An hour passes at once (36,000 ticks).
        clock.advance(Duration::from_secs(3600));
        eventually("one beat for the stall", || async {
            (beat.health().beats >= 2).then_some(())
        })
        .await;
        // The next tick is a cadence away on the (manual) clock: no catch-up burst can follow.
        let health = beat.health();
        assert_eq!(health.beats, 2, "{health:?}");
        assert_eq!(health.ticks_skipped, 35_999, "{health:?}");

        clock.advance(CADENCE);
        eventually("the cadence again", || async {
            (beat.health().beats == 3).then_some(())
        })
        .await;
        assert_eq!(beat.health().ticks_skipped, 35_999);
        beat.stop().await?;
        hb.shutdown().await?;
        Ok(())
    })
    .await
}
