//! Credentials never reach logs: with a `log` logger and a `tracing` subscriber capturing every
//! record at TRACE level (as an application with verbose logging would), exports over OTLP/HTTP,
//! OTLP/gRPC and HTTPS, failing and succeeding, and pings to a failing channel leave no header
//! value, URL credential, query or ping token in any record. The records are the SDK's own
//! `tracing` events (a failed export at target `heartbeat::export`, a failed ping at
//! `heartbeat::deadman`, both WARN; the SDK writes nothing through `log`) and those of its
//! dependencies (hyper, h2, tonic, rustls) as configured by it; the test checks that both kinds
//! were captured.
//!
//! One test in its own binary: the logger and the subscriber are process-wide.
#![cfg(all(feature = "grpc", feature = "http-proto", feature = "tls"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod deadman_http;
mod faults;
mod support;

use faults::{Front, Mode, Pki};
use heartbeat::{Heartbeat, HeartbeatBuilder, PingConfig, Protocol, Retry};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;
use support::{Reply, Sink, TEST_LIMIT, TestResult, bounded};

const SECRETS: &[&str] = &[
    "hbSecretHeader7f3a",
    "hbSecretEnvHeader55d1",
    "hbSecretUser19c2",
    "hbSecretPass0b8e",
    "hbSecretQuery4e6f",
    "hbSecretPingUuid9a7d",
];

/// Everything captured, one line per record or span.
static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());
static LOG_RECORDS: AtomicU64 = AtomicU64::new(0);
static TRACING_RECORDS: AtomicU64 = AtomicU64::new(0);

fn keep(line: String) {
    CAPTURED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(line);
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        LOG_RECORDS.fetch_add(1, SeqCst);
        keep(format!(
            "log {} {}: {}",
            record.level(),
            record.target(),
            record.args()
        ));
    }
    fn flush(&self) {}
}

/// Every field of a span or event, as `name=value` (values through `Debug`).
struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

struct Subscriber {
    next_span: AtomicU64,
}

impl tracing::Subscriber for Subscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut fields);
        TRACING_RECORDS.fetch_add(1, SeqCst);
        keep(fields.0);
        tracing::span::Id::from_u64(self.next_span.fetch_add(1, SeqCst))
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut fields = Fields("record".to_owned());
        values.record(&mut fields);
        keep(fields.0);
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(format!("event {}", event.metadata().target()));
        event.record(&mut fields);
        TRACING_RECORDS.fetch_add(1, SeqCst);
        keep(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn loaded(endpoint_host: &str, scheme: &str) -> HeartbeatBuilder {
    Heartbeat::builder()
        .with_environment([(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-env-key=hbSecretEnvHeader55d1",
        )])
        .with_service_name("logs-test")
        .with_endpoint(format!(
            "{scheme}://hbSecretUser19c2:hbSecretPass0b8e@{endpoint_host}/v1/metrics?token=hbSecretQuery4e6f"
        ))
        .with_header("authorization", "Bearer hbSecretHeader7f3a")
        .with_export_interval(Duration::from_secs(3600))
        .with_export_timeout(Duration::from_secs(3))
        .with_retry(Retry::DISABLED)
}

async fn export_once(builder: HeartbeatBuilder) -> TestResult {
    let (hb, driver) = builder.build()?;
    tokio::spawn(driver);
    hb.outcome("message.send").build()?.success();
    let _ = hb.flush().await; // success or failure: both are logged by someone
    let _ = hb.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_reaches_a_log_record_or_a_tracing_event_at_trace_level() -> TestResult {
    log::set_boxed_logger(Box::new(Logger)).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    tracing::subscriber::set_global_default(Subscriber {
        next_span: AtomicU64::new(1),
    })
    .unwrap();

    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let host = sink.addr().to_string();
        // OTLP/HTTP accepted, then refused.
        export_once(loaded(&host, "http")).await?;
        sink.fail_next(1, Reply::bad_request());
        export_once(loaded(&host, "http")).await?;
        // OTLP/gRPC to an HTTP/1.1 server (h2 fails), and to nothing at all.
        export_once(loaded(&host, "http").with_protocol(Protocol::Grpc)).await?;
        let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        export_once(loaded(&closed.to_string(), "http").with_protocol(Protocol::Grpc)).await?;
        // HTTPS and gRPC over TLS whose certificate does not verify (rustls logs the alert).
        let rogue = Pki::new("rogue CA");
        let front = Front::start(Mode::Tls(
            rogue.server_config(&["127.0.0.1"], &[b"h2"]),
            sink.addr(),
        ))
        .await;
        let tls_host = front.addr().to_string();
        export_once(loaded(&tls_host, "https")).await?;
        export_once(loaded(&tls_host, "https").with_protocol(Protocol::Grpc)).await?;

        // Pings with the token in the path, to a failing channel.
        let channel = deadman_http::Server::scripted(|_, _| deadman_http::Reply::Status(503)).await;
        let hb = loaded(&host, "http").install()?;
        let beat = hb
            .deadman("api")
            .with_cadence(Duration::from_millis(100))
            .with_ping(PingConfig::new(channel.url("/hbSecretPingUuid9a7d"))?.with_retries(1))
            .start()?;
        deadman_http::eventually("two failed pings", || async {
            (beat.health().pings_failed >= 2).then_some(())
        })
        .await;
        let _ = beat.stop().await;
        let _ = hb.shutdown().await;
        Ok(())
    })
    .await?;

    let captured = CAPTURED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    // The capture works: the dependencies did log (rustls through `log`, h2 through `tracing`).
    assert!(LOG_RECORDS.load(SeqCst) > 0, "no log record captured");
    assert!(
        TRACING_RECORDS.load(SeqCst) > 0,
        "no tracing event captured"
    );
    // The SDK's own events are in the capture: the refused and failed exports, the failed pings.
    for target in ["heartbeat::export", "heartbeat::deadman"] {
        let prefix = format!("event {target} ");
        assert!(
            captured.iter().any(|line| line.starts_with(&prefix)),
            "no tracing event of target {target} captured (the SDK reports export and ping \
             failures there)"
        );
    }
    for line in &captured {
        for secret in SECRETS {
            assert!(!line.contains(secret), "a record shows {secret:?}: {line}");
        }
    }
    eprintln!(
        "{} log records and {} tracing spans/events, none with a credential",
        LOG_RECORDS.load(SeqCst),
        TRACING_RECORDS.load(SeqCst)
    );
    Ok(())
}
