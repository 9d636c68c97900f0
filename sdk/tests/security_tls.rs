//! TLS for OTLP and pings: certificates are verified by default (against the system's roots, or
//! only the CA the application gives, in code or through `OTEL_EXPORTER_OTLP_*CERTIFICATE`); a
//! certificate that does not verify fails the export or ping visibly (`ExportHealth`,
//! `heartbeat.sdk.exports` / `heartbeat.sdk.pings` with reason `tls`) and never blocks the
//! application. The collector and channel sit behind a local TLS front whose certificates are made
//! in the test by a throwaway CA (rcgen).
#![cfg(all(feature = "tls", feature = "http-proto", feature = "grpc"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod deadman_http;
mod faults;
mod support;

use faults::{Front, Mode, Pki};
use heartbeat::{
    BuildError, ExportError, ExportFailure, Heartbeat, HeartbeatBuilder, PingConfig, Protocol,
    Retry,
};
use std::time::Duration;
use support::{Rotel, Sink, TEST_LIMIT, TestResult, WAIT_LIMIT, bounded, rotel_or_skip};

const OUTCOMES: &str = "heartbeat.outcomes";
const SDK_EXPORTS: &str = "heartbeat.sdk.exports";
const SDK_PINGS: &str = "heartbeat.sdk.pings";
const LOOPBACK: &[&str] = &["127.0.0.1"];

/// A pipeline isolated from the process environment that exports only when flushed, once per
/// flush (no retries), within 5 s.
fn builder(endpoint: &str) -> HeartbeatBuilder {
    Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_service_name("tls-test")
        .with_endpoint(endpoint)
        .with_protocol(Protocol::HttpProtobuf)
        .with_export_interval(Duration::from_secs(3600))
        .with_export_timeout(Duration::from_secs(5))
        .with_retry(Retry::DISABLED)
}

fn successes(sink: &Sink) -> Option<i64> {
    sink.sum_total(OUTCOMES, &[("heartbeat.result", "success")])
}

fn failures_by(sink: &Sink, reason: &str) -> Option<i64> {
    sink.sum_total(
        SDK_EXPORTS,
        &[
            ("heartbeat.result", "failure"),
            ("heartbeat.reason", reason),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_export_verified_with_the_given_ca_delivers_exact_totals() -> TestResult {
    bounded(TEST_LIMIT, async {
        let pki = Pki::new("heartbeat test CA");
        let sink = Sink::start().await?;
        let front = Front::start(Mode::Tls(pki.server_config(LOOPBACK, &[]), sink.addr())).await;
        let (hb, driver) = builder(&front.https_url())
            .with_ca_certificate_pem(pki.ca_pem())
            .build()?;
        tokio::spawn(driver);
        let send = hb.outcome("message.send").build()?;
        for _ in 0..7 {
            send.success();
        }
        hb.flush().await?;
        assert_eq!(successes(&sink), Some(7), "{}", sink.describe());
        assert_eq!(hb.export_health().last_failure, None);
        hb.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_not_trusted_by_default() -> TestResult {
    bounded(TEST_LIMIT, async {
        let pki = Pki::new("private CA");
        let sink = Sink::start().await?;
        let front = Front::start(Mode::Tls(pki.server_config(LOOPBACK, &[]), sink.addr())).await;
        // No CA given: the system's roots, which do not include a CA made a moment ago.
        let (hb, driver) = builder(&front.https_url()).build()?;
        tokio::spawn(driver);
        hb.outcome("message.send").build()?.success();
        let err = hb.flush().await.unwrap_err();
        assert!(matches!(err, ExportError::Failed(_)), "{err:?}");
        assert_eq!(hb.export_health().last_failure, Some(ExportFailure::Tls));
        assert_eq!(sink.request_count(), 0, "nothing reached the collector");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_that_fails_verification_is_visible_and_the_fixed_one_delivers_everything()
-> TestResult {
    bounded(TEST_LIMIT, async {
        let trusted = Pki::new("trusted CA");
        let rogue = Pki::new("rogue CA");
        let sink = Sink::start().await?;
        let front = Front::start(Mode::Tls(rogue.server_config(LOOPBACK, &[]), sink.addr())).await;
        let (hb, driver) = builder(&front.https_url())
            .with_ca_certificate_pem(trusted.ca_pem())
            .build()?;
        tokio::spawn(driver);
        let send = hb.outcome("message.send").build()?;
        for _ in 0..5 {
            send.success();
        }
        let err = hb.flush().await.unwrap_err();
        assert!(matches!(err, ExportError::Failed(_)), "{err:?}");
        let health = hb.export_health();
        assert_eq!(health.exports_failed, 1);
        assert_eq!(health.last_failure, Some(ExportFailure::Tls));
        // The application kept recording while the export failed.
        for _ in 0..3 {
            send.success();
        }

        // The collector's certificate is fixed (same port): the next export carries every count
        // and, in band, the failure and its reason.
        front
            .set(Mode::Tls(trusted.server_config(LOOPBACK, &[]), sink.addr()))
            .await;
        hb.flush().await?;
        assert_eq!(successes(&sink), Some(8), "{}", sink.describe());
        assert_eq!(failures_by(&sink, "tls"), Some(1));
        assert_eq!(failures_by(&sink, "connect"), Some(0));
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_host_name_is_refused() -> TestResult {
    bounded(TEST_LIMIT, async {
        let pki = Pki::new("test CA");
        let sink = Sink::start().await?;
        // Signed by the trusted CA, but for another name than the one dialled.
        let config = pki.server_config(&["collector.example.internal"], &[]);
        let front = Front::start(Mode::Tls(config, sink.addr())).await;
        let (hb, driver) = builder(&front.https_url())
            .with_ca_certificate_pem(pki.ca_pem())
            .build()?;
        tokio::spawn(driver);
        assert!(hb.flush().await.is_err());
        assert_eq!(hb.export_health().last_failure, Some(ExportFailure::Tls));
        assert_eq!(sink.request_count(), 0);
        Ok(())
    })
    .await
}

fn temp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "heartbeat-security-tls-{}-{name}",
        std::process::id()
    ));
    std::fs::write(&path, contents).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_variables_name_a_pem_file_and_the_metrics_one_wins() -> TestResult {
    bounded(TEST_LIMIT, async {
        let pki = Pki::new("env CA");
        let sink = Sink::start().await?;
        let front = Front::start(Mode::Tls(pki.server_config(LOOPBACK, &[]), sink.addr())).await;
        let ca = temp_file("env-ca.pem", pki.ca_pem().as_bytes());
        let (hb, driver) = builder(&front.https_url())
            .with_environment([
                (
                    "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
                    ca.display().to_string(),
                ),
                // Never read: the signal-specific variable is set.
                (
                    "OTEL_EXPORTER_OTLP_CERTIFICATE",
                    "/nonexistent/ca.pem".to_owned(),
                ),
            ])
            .build()?;
        tokio::spawn(driver);
        hb.outcome("message.send").build()?.success();
        hb.flush().await?;
        assert_eq!(successes(&sink), Some(1));
        let _ = std::fs::remove_file(ca);
        Ok(())
    })
    .await
}

#[test]
fn an_unreadable_certificate_file_is_an_error_naming_the_variable_and_the_path() {
    let err = Heartbeat::builder()
        .with_environment([("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")])
        .build()
        .unwrap_err();
    assert!(
        matches!(
            &err,
            BuildError::InvalidCertificate { var: Some("OTEL_EXPORTER_OTLP_CERTIFICATE"), path: Some(p), .. }
                if p == "/nonexistent/ca.pem"
        ),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(
        shown.starts_with(
            "cannot use the CA certificate file \"/nonexistent/ca.pem\" named by OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read it"
        ),
        "{shown}"
    );
}

#[test]
fn a_file_without_a_certificate_is_refused_at_build() {
    let junk = temp_file("junk.pem", b"-----BEGIN NOTHING-----\nnope\n");
    let err = Heartbeat::builder()
        .with_environment([(
            "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
            junk.display().to_string(),
        )])
        .build()
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE"),
        "{shown}"
    );
    assert!(shown.contains(&junk.display().to_string()), "{shown}");
    let _ = std::fs::remove_file(junk);

    let err = Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_ca_certificate_pem("not a certificate")
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot use the CA certificate given to with_ca_certificate_pem: it holds no PEM CERTIFICATE block"
    );
}

async fn grpc_over_tls(with_ca: bool) -> TestResult {
    let Some(bin) = rotel_or_skip("grpc_over_tls") else {
        return Ok(());
    };
    bounded(TEST_LIMIT, async {
        let pki = Pki::new("grpc CA");
        let sink = Sink::start().await?;
        let rotel = Rotel::start(&bin, &sink).await?;
        let config = pki.server_config(LOOPBACK, &[b"h2"]);
        let front = Front::start(Mode::Tls(config, rotel.grpc_addr())).await;
        let mut b = builder(&front.https_url()).with_protocol(Protocol::Grpc);
        if with_ca {
            b = b.with_ca_certificate_pem(pki.ca_pem());
        }
        let (hb, driver) = b.build()?;
        tokio::spawn(driver);
        let send = hb.outcome("message.send").build()?;
        for _ in 0..4 {
            send.success();
        }
        if with_ca {
            hb.flush().await?;
            sink.wait_until("the counts through TLS and rotel", WAIT_LIMIT, |s| {
                successes(s) == Some(4)
            })
            .await?;
        } else {
            assert!(hb.flush().await.is_err());
            assert_eq!(hb.export_health().last_failure, Some(ExportFailure::Tls));
        }
        drop(rotel);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_with_the_given_ca_reaches_the_real_collector() -> TestResult {
    grpc_over_tls(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_without_the_ca_fails_as_tls() -> TestResult {
    grpc_over_tls(false).await
}

/// A pipeline over plain HTTP to `sink` whose dead-man emitter `api` pings through `front`.
async fn pinging(sink: &Sink, ping: PingConfig) -> (Heartbeat, heartbeat::Deadman) {
    let hb = builder(&sink.endpoint()).install().unwrap();
    let beat = hb
        .deadman("api")
        .with_cadence(Duration::from_millis(100))
        .with_ping(ping.with_timeout(Duration::from_secs(2)).with_retries(0))
        .start()
        .unwrap();
    (hb, beat)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_ping_verified_with_the_given_ca_is_delivered() -> TestResult {
    bounded(TEST_LIMIT, async {
        let pki = Pki::new("channel CA");
        let channel = deadman_http::Server::ok().await;
        let front = Front::start(Mode::Tls(pki.server_config(LOOPBACK, &[]), channel.addr)).await;
        let sink = Sink::start().await?;
        let ping = PingConfig::new(format!("{}/ping/secret-uuid", front.https_url()))?
            .with_ca_certificate_pem(pki.ca_pem())?;
        let (hb, beat) = pinging(&sink, ping).await;
        deadman_http::eventually("a ping through TLS", || async {
            (beat.health().pings_ok >= 2).then_some(())
        })
        .await;
        let request = &channel.requests()[0];
        assert_eq!(request.path, "/ping/secret-uuid");
        assert!(
            request
                .body
                .contains("heartbeat emitter=api status=beating")
        );
        beat.stop().await?;
        hb.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_ping_that_fails_verification_is_counted_as_tls_and_beats_go_on() -> TestResult {
    bounded(TEST_LIMIT, async {
        let pki = Pki::new("unknown channel CA");
        let channel = deadman_http::Server::ok().await;
        let front = Front::start(Mode::Tls(pki.server_config(LOOPBACK, &[]), channel.addr)).await;
        let sink = Sink::start().await?;
        // No CA: the system's roots do not trust the channel's certificate.
        let ping = PingConfig::new(format!("{}/ping/secret-uuid", front.https_url()))?;
        let (hb, beat) = pinging(&sink, ping).await;
        let api_tls = [
            ("heartbeat.emitter", "api"),
            ("heartbeat.result", "failure"),
            ("heartbeat.reason", "tls"),
        ];
        sink.wait_until("pings failing as tls, exported in band", WAIT_LIMIT, |s| {
            s.sum_total(SDK_PINGS, &api_tls).unwrap_or(0) >= 2
        })
        .await?;
        let health = beat.health();
        assert!(health.beats >= 2, "the emitter kept beating: {health:?}");
        assert_eq!(health.pings_ok, 0);
        assert!(channel.requests().is_empty(), "nothing got past TLS");
        beat.stop().await.ok();
        hb.shutdown().await?;
        Ok(())
    })
    .await
}

#[test]
fn a_bad_ping_ca_is_refused_without_showing_it() {
    let err = PingConfig::new("https://hc-ping.com/uuid")
        .unwrap()
        .with_ca_certificate_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid CA certificate for pings: a certificate in it is not a valid X.509 CA certificate"
    );
}
