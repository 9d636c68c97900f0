//! Collector faults, one per test: a collector that accepts and never answers, one that answers
//! 503 or 429 with a long `Retry-After` for many exports, one that resets every connection, and a
//! host name that does not resolve (TLS that fails verification: `security_tls.rs`). Each is
//!
//! - **handled**: flush and shutdown return by their deadline with the error the fault explains;
//! - **visible**: `ExportHealth` counts it with its reason (`last_failure`), and once the
//!   collector is healthy again `heartbeat.sdk.exports` carries the failures by reason, in band;
//! - **not blocking**: the application records while the export is stuck (an export that held a
//!   lock the hot path needs would deadlock the test, which is bounded), and every count recorded
//!   during the fault arrives once it clears;
//! - **not in the dead man's way**: pings keep flowing while exports hang.
//!
//! No assertion is about a duration: deadlines are proven by returning at all within the bound.
#![cfg(all(feature = "http-proto", feature = "grpc"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod deadman_http;
mod faults;
mod support;

use faults::{Front, Mode};
use heartbeat::{
    ExportError, ExportFailure, Heartbeat, HeartbeatBuilder, PingConfig, Protocol, Retry,
};
use std::time::Duration;
use support::{Reply, Rotel, Sink, TEST_LIMIT, TestResult, WAIT_LIMIT, bounded, rotel_or_skip};

const OUTCOMES: &str = "heartbeat.outcomes";
const SDK_EXPORTS: &str = "heartbeat.sdk.exports";
const DEADLINE: Duration = Duration::from_millis(500);

fn builder(endpoint: &str, protocol: Protocol) -> HeartbeatBuilder {
    Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_service_name("faults-test")
        .with_endpoint(endpoint)
        .with_protocol(protocol)
        .with_export_interval(Duration::from_secs(3600))
        .with_timeout(Duration::from_secs(10))
        .with_export_timeout(DEADLINE)
        .with_retry(Retry::RECOMMENDED)
}

fn failures(sink: &Sink, reason: &str) -> i64 {
    sink.sum_total(
        SDK_EXPORTS,
        &[
            ("heartbeat.result", "failure"),
            ("heartbeat.reason", reason),
        ],
    )
    .unwrap_or(0)
}

/// Starts a flush, records `n` successes while it is in flight, and returns its result. If the
/// export held anything the hot path needs, this would hang (and the bounded test fail).
async fn record_during_flush(
    hb: &Heartbeat,
    send: &heartbeat::Outcome,
    n: usize,
) -> Result<(), ExportError> {
    let flushing = {
        let hb = hb.clone();
        tokio::spawn(async move { hb.flush().await })
    };
    for _ in 0..n {
        send.success();
    }
    flushing.await.unwrap_or(Err(ExportError::AlreadyShutdown))
}

/// The common script: a fault from the start, exports fail with `expect`, the application keeps
/// recording; the fault clears (`heal`), and the next export carries everything.
async fn fault_then_recovery(
    protocol: Protocol,
    fault: Mode,
    expect: ExportFailure,
    reason: &str,
) -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        // gRPC needs a gRPC collector behind the front: rotel, forwarding to the sink.
        let rotel = match protocol {
            Protocol::Grpc => match rotel_or_skip("fault_then_recovery over gRPC") {
                Some(bin) => Some(Rotel::start(&bin, &sink).await?),
                None => return Ok(()),
            },
            _ => None,
        };
        let backend = rotel.as_ref().map_or(sink.addr(), Rotel::grpc_addr);
        let front = Front::start(fault).await;
        // A hang is cut by the deadline; other faults fail after the retries, well within 5 s.
        let deadline = match expect {
            ExportFailure::Timeout => DEADLINE,
            _ => Duration::from_secs(5),
        };
        let (hb, driver) = builder(&front.http_url(), protocol)
            .with_export_timeout(deadline)
            .build()?;
        tokio::spawn(driver);
        let send = hb.outcome("message.send").build()?;

        let mut recorded = 0;
        for _ in 0..3 {
            let err = record_during_flush(&hb, &send, 1000).await.unwrap_err();
            recorded += 1000;
            match expect {
                ExportFailure::Timeout => assert_eq!(err, ExportError::Timeout(DEADLINE)),
                _ => assert!(matches!(err, ExportError::Failed(_)), "{err:?}"),
            }
        }
        let health = hb.export_health();
        assert_eq!(health.last_failure, Some(expect), "{health:?}");
        assert_eq!(health.exports_ok, 0);

        front.set(Mode::Forward(backend)).await;
        // A gRPC channel reconnects with a backoff: flush until an export gets through.
        let mut delivered = false;
        for _ in 0..50 {
            if hb.flush().await.is_ok() {
                delivered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            delivered,
            "no export after recovery: {:?}",
            hb.export_health()
        );
        let total = |s: &Sink| s.sum_total(OUTCOMES, &[("heartbeat.result", "success")]);
        sink.wait_until("every count, and the failures by reason", WAIT_LIMIT, |s| {
            total(s) == Some(recorded) && failures(s, reason) >= 3
        })
        .await?;
        hb.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_times_out_by_the_deadline_over_http() -> TestResult {
    fault_then_recovery(
        Protocol::HttpProtobuf,
        Mode::Hang,
        ExportFailure::Timeout,
        "timeout",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_times_out_by_the_deadline_over_grpc() -> TestResult {
    fault_then_recovery(
        Protocol::Grpc,
        Mode::Hang,
        ExportFailure::Timeout,
        "timeout",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_resetting_connections_fails_as_connect_over_http() -> TestResult {
    fault_then_recovery(
        Protocol::HttpProtobuf,
        Mode::Reset,
        ExportFailure::Connect,
        "connect",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_resetting_connections_fails_over_grpc() -> TestResult {
    fault_then_recovery(
        Protocol::Grpc,
        Mode::Reset,
        ExportFailure::Connect,
        "connect",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_fails_as_connect_over_grpc() -> TestResult {
    fault_then_recovery(
        Protocol::Grpc,
        Mode::Refuse,
        ExportFailure::Connect,
        "connect",
    )
    .await
}

/// A collector that sheds load for many exports with a `Retry-After` longer than the export's
/// budget: each export gives up at once (waiting would only hold the next one up), is counted by
/// status, and the totals arrive once it accepts again.
async fn shedding(reply: Reply, expect: ExportFailure, reason: &str) -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        sink.fail_next(5, reply);
        let (hb, driver) = builder(&sink.endpoint(), Protocol::HttpProtobuf).build()?;
        tokio::spawn(driver);
        let send = hb.outcome("message.send").build()?;
        let mut recorded = 0;
        while sink.scripted_left() > 0 {
            let result = record_during_flush(&hb, &send, 1000).await;
            recorded += 1000;
            assert!(result.is_err(), "still shedding");
        }
        let health = hb.export_health();
        assert_eq!(health.last_failure, Some(expect), "{health:?}");
        assert_eq!(health.exports_failed, 5, "{health:?}");
        hb.flush().await?;
        assert_eq!(
            sink.sum_total(OUTCOMES, &[("heartbeat.result", "success")]),
            Some(recorded)
        );
        assert_eq!(failures(&sink, reason), 5);
        assert_eq!(
            sink.request_count(),
            6,
            "no retry storm: one request per export"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_answering_503_with_a_long_retry_after_is_counted_as_http_5xx() -> TestResult {
    shedding(Reply::unavailable(120), ExportFailure::Http5xx, "http_5xx").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_answering_429_with_a_long_retry_after_is_counted_as_http_4xx() -> TestResult {
    shedding(Reply::throttled(600), ExportFailure::Http4xx, "http_4xx").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_does_not_resolve_fails_as_dns_for_exports_and_pings() -> TestResult {
    bounded(TEST_LIMIT, async {
        // `.invalid` never resolves (RFC 2606).
        for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
            let (hb, driver) = builder("http://heartbeat-nonexistent.invalid:4318", protocol)
                .with_export_timeout(Duration::from_secs(5))
                .build()?;
            tokio::spawn(driver);
            let send = hb.outcome("message.send").build()?;
            let err = record_during_flush(&hb, &send, 1000).await.unwrap_err();
            let health = hb.export_health();
            // A resolver that answers NXDOMAIN gives `dns`; one that does not answer at all,
            // the deadline.
            assert!(
                matches!(
                    health.last_failure,
                    Some(ExportFailure::Dns | ExportFailure::Timeout)
                ),
                "{protocol}: {err:?} {health:?}"
            );
            eprintln!("{protocol}: {err} ({health:?})");
            hb.shutdown().await.ok();
        }

        // A ping channel that does not resolve: counted as dns, exported in band.
        let sink = Sink::start().await?;
        let hb = builder(&sink.endpoint(), Protocol::HttpProtobuf)
            .with_export_timeout(Duration::from_secs(5))
            .install()?;
        let beat = hb
            .deadman("api")
            .with_cadence(Duration::from_millis(100))
            .with_ping(
                PingConfig::new("http://heartbeat-nonexistent.invalid/ping")?.with_retries(0),
            )
            .start()?;
        let dns = [
            ("heartbeat.emitter", "api"),
            ("heartbeat.result", "failure"),
            ("heartbeat.reason", "dns"),
        ];
        sink.wait_until("pings failing as dns, in band", WAIT_LIMIT, |s| {
            s.sum_total("heartbeat.sdk.pings", &dns).unwrap_or(0) >= 1
        })
        .await?;
        assert!(beat.health().beats >= 1);
        drop(beat);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_keep_flowing_and_report_it_while_every_export_hangs() -> TestResult {
    bounded(TEST_LIMIT, async {
        let front = Front::start(Mode::Hang).await;
        let channel = deadman_http::Server::ok().await;
        let hb = builder(&front.http_url(), Protocol::HttpProtobuf).install()?;
        let beat = hb
            .deadman("api")
            .with_cadence(Duration::from_millis(100))
            .with_ping(PingConfig::new(channel.url("/ping"))?)
            .start()?;
        let body = deadman_http::eventually("a ping reporting timed-out exports", || async {
            channel
                .requests()
                .into_iter()
                .map(|r| r.body)
                .find(|b| !b.contains("exports_timed_out=0 "))
        })
        .await;
        assert!(body.contains("exports_ok=0 "), "{body}");
        assert!(beat.health().pings_ok >= 2);
        // Stopping on purpose returns too: the stopped status cannot be exported, and says so.
        let stopped = beat.stop().await;
        assert!(
            matches!(
                stopped,
                Err(heartbeat::StopError::Export(ExportError::Timeout(_)))
            ),
            "{stopped:?}"
        );
        assert!(hb.shutdown().await.is_err());
        Ok(())
    })
    .await
}
