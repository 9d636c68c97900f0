//! The collector goes away and comes back: nothing recorded meanwhile is lost, nothing queues,
//! and the dead-man's external ping keeps flowing and says what is wrong.
//!
//! - Ten minutes down in simulated time (tokio's paused clock, which the SDK reads through its
//!   `Clock` seam, so the export interval, the dead-man cadence and the ping body's ages all move
//!   with it): the collector's port refuses connections, the application records every second, the
//!   periodic exports and each beat's export fail; when the port answers again the next export
//!   carries every count, and the failures, in band.
//! - Memory across a long simulated outage: live heap bytes do not grow with its length (a
//!   cumulative pipeline sends totals, so a failed export leaves nothing behind).
//! - A real outage of the real collector (rotel) in wall-clock time: killed, restarted on the
//!   same ports, every count arrives, over OTLP/HTTP and OTLP/gRPC.
//!
//! Every wait is bounded; no assertion is about how long something took.
#![cfg(all(feature = "http-proto", feature = "grpc"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod counting_alloc;
mod deadman_http;
mod faults;
mod support;

use faults::{Front, Mode, Sim};
use heartbeat::{ExportFailure, Heartbeat, HeartbeatBuilder, Outcome, PingConfig, Protocol, Retry};
use heartbeat_testkit::clock::TokioClock;
use std::time::Duration;
use support::{Rotel, Sink, TEST_LIMIT, TestResult, WAIT_LIMIT, bounded, rotel_or_skip};

/// The memory test reads a process-wide allocation count: the tests of this binary take turns
/// (under `cargo test` they would otherwise share the process at once).
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const OUTCOMES: &str = "heartbeat.outcomes";
const SDK_EXPORTS: &str = "heartbeat.sdk.exports";
const SEND: (&str, &str) = ("heartbeat.outcome", "message.send");

/// Exports every 10 s with quick retries; timeouts far longer than a simulation step.
fn builder(endpoint: &str) -> HeartbeatBuilder {
    Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_service_name("outage-test")
        .with_endpoint(endpoint)
        .with_protocol(Protocol::HttpProtobuf)
        .with_export_interval(Duration::from_secs(10))
        .with_timeout(Duration::from_secs(30))
        .with_export_timeout(Duration::from_secs(60))
        .with_retry(Retry {
            max_retries: 2,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            max_jitter: Duration::ZERO,
        })
}

/// Records for `seconds` of simulated time, once a second: successes, a failure, and a
/// per-tenant success cycling over `tenants` tenants. Returns the number of events.
async fn record_for(sim: &Sim, send: &Outcome, seconds: u64, tenants: u64) -> i64 {
    record_while(sim, send, seconds, tenants, || true).await
}

/// [`record_for`], each step settled when `settled` says so.
async fn record_while(
    sim: &Sim,
    send: &Outcome,
    seconds: u64,
    tenants: u64,
    settled: impl Fn() -> bool,
) -> i64 {
    let mut events = 0;
    for s in 0..seconds {
        for _ in 0..5 {
            send.success();
        }
        send.failure_with("timeout");
        send.success_for(&format!("tenant-{}", s % tenants.max(1)));
        events += 7;
        sim.step_until(Duration::from_secs(1), &settled).await;
    }
    events
}

/// A `key=value` field of a ping body's health summary.
fn field(body: &str, key: &str) -> Option<u64> {
    body.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

#[tokio::test(start_paused = true)]
async fn a_ten_minute_outage_loses_no_count_and_the_dead_man_keeps_reporting_it() -> TestResult {
    let _turn = TURN.lock().await;
    let sim = Sim::start();
    let sink = Sink::start().await?;
    let channel = deadman_http::Server::ok().await;
    let front = Front::start(Mode::Forward(sink.addr())).await;
    let hb = builder(&front.http_url())
        .with_clock(TokioClock::starting_at(Duration::from_secs(1_763_700_000)))
        .install()?;
    let send = hb
        .outcome("message.send")
        .with_reasons(["timeout"])
        .build()?;
    let beat = hb
        .deadman("api")
        .with_cadence(Duration::from_secs(10))
        .with_jitter(Duration::ZERO)
        .with_ping(PingConfig::new(channel.url("/ping"))?.with_retries(0))
        .start()?;

    // Each beat's ping is answered before time moves on.
    let pinged = || {
        let h = beat.health();
        h.pings_ok + h.pings_failed + h.pings_skipped >= h.beats
    };
    // A minute with the collector up.
    let mut events = record_while(&sim, &send, 60, 20, pinged).await;
    assert!(hb.export_health().exports_ok >= 6);
    assert_eq!(hb.export_health().exports_failed, 0);

    // Ten minutes down: nothing listens on the collector's port.
    front.set(Mode::Refuse).await;
    let pings_before = channel.requests().len();
    events += record_while(&sim, &send, 600, 20, pinged).await;
    let health = hb.export_health();
    assert!(
        health.exports_failed >= 60,
        "every export of the outage failed: {health:?}"
    );
    assert_eq!(health.last_failure, Some(ExportFailure::Connect));

    // The dead man's ping went on over its own channel, and said so.
    let pings: Vec<_> = channel.requests().split_off(pings_before);
    assert!(pings.len() >= 58, "a ping per beat: {}", pings.len());
    let last = &pings.last().unwrap().body;
    assert!(
        field(last, "exports_failed").unwrap() >= 55,
        "the ping reports the export failures: {last}"
    );
    assert!(
        field(last, "last_export_age_s").unwrap() >= 590,
        "and how long since the last good export: {last}"
    );
    assert_eq!(beat.health().pings_failed, 0);
    assert_eq!(beat.health().pings_skipped, 0);

    // Back up: the next periodic export carries every count recorded during the outage.
    front.set(Mode::Forward(sink.addr())).await;
    let ok_before = hb.export_health().exports_ok;
    events += record_while(&sim, &send, 15, 20, pinged).await;
    assert!(hb.export_health().exports_ok > ok_before);
    hb.flush().await?;
    assert_eq!(
        sink.sum_total(OUTCOMES, &[SEND]),
        Some(events),
        "{}",
        sink.describe()
    );
    // The failures arrived in band, by reason.
    let connect = sink
        .sum_total(
            SDK_EXPORTS,
            &[
                ("heartbeat.result", "failure"),
                ("heartbeat.reason", "connect"),
            ],
        )
        .unwrap();
    assert!(connect >= 60, "{connect}");
    eprintln!(
        "ten-minute outage: {events} events recorded, all delivered; {} exports failed \
         (connect: {connect}); {} pings during the outage, last: {last}",
        hb.export_health().exports_failed,
        pings.len(),
    );
    beat.stop().await?;
    hb.shutdown().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_long_outage_holds_no_memory() -> TestResult {
    let _turn = TURN.lock().await;
    let sim = Sim::start();
    let sink = Sink::start().await?;
    let front = Front::start(Mode::Forward(sink.addr())).await;
    let hb = builder(&front.http_url())
        .with_clock(TokioClock::starting_at(Duration::from_secs(1_763_700_000)))
        .install()?;
    let send = hb
        .outcome("message.send")
        .with_reasons(["timeout"])
        .build()?;
    // 50 tenants: each export body is a few kilobytes, so a queue would show.
    record_for(&sim, &send, 60, 50).await;
    hb.flush().await?;
    let body = sink.requests().last().unwrap().raw_body.len();

    front.set(Mode::Refuse).await;
    record_for(&sim, &send, 120, 50).await; // warm: the outage's steady state
    let failed_at_start = hb.export_health().exports_failed;
    let live_at_start = counting_alloc::live_bytes();
    record_for(&sim, &send, 1800, 50).await; // 30 more minutes down
    let live_at_end = counting_alloc::live_bytes();
    let failed = hb.export_health().exports_failed - failed_at_start;
    let growth = live_at_end - live_at_start;
    let queued_would_be = i64::try_from(body).unwrap() * i64::try_from(failed).unwrap();
    eprintln!(
        "outage memory: {failed} failed exports of ~{body} B each over 30 simulated minutes; \
         live heap {live_at_start} B -> {live_at_end} B (growth {growth} B; a queue would hold \
         ~{queued_would_be} B)"
    );
    assert!(failed >= 180, "{failed}");
    assert!(
        growth < 64 * 1024,
        "the live heap grew by {growth} B during the outage"
    );
    assert!(growth * 20 < queued_would_be);
    front.set(Mode::Forward(sink.addr())).await;
    hb.flush().await?;
    Ok(())
}

/// Kills the real collector, records, restarts it on the same ports: every count arrives.
async fn real_outage(protocol: Protocol, test: &str) -> TestResult {
    let Some(bin) = rotel_or_skip(test) else {
        return Ok(());
    };
    let _turn = TURN.lock().await;
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let rotel = Rotel::start(&bin, &sink).await?;
        let (grpc, http) = (rotel.grpc_addr(), rotel.http_addr());
        let endpoint = match protocol {
            Protocol::Grpc => rotel.grpc_endpoint(),
            _ => rotel.http_endpoint(),
        };
        let (hb, driver) = builder(&endpoint)
            .with_protocol(protocol)
            .with_export_interval(Duration::from_millis(200))
            .with_export_timeout(Duration::from_secs(2))
            .build()?;
        tokio::spawn(driver);
        let send = hb.outcome("message.send").build()?;
        let total = |s: &Sink| s.sum_total(OUTCOMES, &[SEND, ("heartbeat.result", "success")]);

        for _ in 0..100 {
            send.success();
        }
        sink.wait_until("the first 100", WAIT_LIMIT, |s| total(s) == Some(100))
            .await?;

        rotel.stop(); // SIGKILL: the collector is gone
        for _ in 0..250 {
            send.success();
        }
        assert!(hb.flush().await.is_err(), "nothing is listening");
        let during = hb.export_health();
        assert!(during.exports_failed + during.exports_timed_out >= 1);

        let rotel = Rotel::builder(&bin).ports(grpc, http).start(&sink).await?;
        for _ in 0..50 {
            send.success();
        }
        sink.wait_until("all 400 after the restart", WAIT_LIMIT, |s| {
            total(s) == Some(400)
        })
        .await?;
        hb.shutdown().await?;
        drop(rotel);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_collector_killed_and_restarted_over_http_loses_nothing() -> TestResult {
    real_outage(Protocol::HttpProtobuf, "real_outage_http").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_collector_killed_and_restarted_over_grpc_loses_nothing() -> TestResult {
    real_outage(Protocol::Grpc, "real_outage_grpc").await
}
