//! The export pipeline as a user runs it: `Heartbeat::builder()...build()` exporting over
//! OTLP/HTTP (protobuf, JSON, gzip) to a local sink, over gRPC and HTTP through the real
//! collector (rotel), checked by the official decoders, under scripted faults.
#![cfg(all(
    feature = "grpc",
    feature = "http-proto",
    feature = "http-json",
    feature = "gzip"
))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use heartbeat::{
    BuildError, Compression, ExportError, Heartbeat, HeartbeatBuilder, InstallError, Protocol,
    Retry, Temporality,
};
use std::time::Duration;
use support::otlp::attr;
use support::{Reply, Rotel, Sink, TEST_LIMIT, TestResult, WAIT_LIMIT, bounded, rotel_or_skip};

const OUTCOMES: &str = "heartbeat.outcomes";

/// A builder isolated from the process environment, exporting only when asked (flush).
fn builder(endpoint: &str, protocol: Protocol) -> HeartbeatBuilder {
    Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_service_name("export-test")
        .with_service_version("2.0.0")
        .with_endpoint(endpoint)
        .with_protocol(protocol)
        .with_export_interval(Duration::from_secs(3600))
        .with_export_timeout(Duration::from_secs(10))
        .with_retry(Retry {
            max_retries: 3,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            max_jitter: Duration::from_millis(10),
        })
}

/// Records a known mix on two threads: 300 successes, 7 timeouts, 2 unspecified failures,
/// 5 successes for tenant acme, 1 rejected for tenant globex.
fn record_mix(hb: &Heartbeat) {
    let send = hb
        .outcome("message.send")
        .with_attribute("surface", "web_messenger")
        .with_reasons(["timeout", "rejected"])
        .build()
        .unwrap();
    std::thread::scope(|s| {
        for _ in 0..2 {
            let send = send.clone();
            s.spawn(move || {
                for _ in 0..150 {
                    send.success();
                }
            });
        }
    });
    for _ in 0..7 {
        send.failure_with("timeout");
    }
    send.failure();
    send.record(false);
    for _ in 0..5 {
        send.success_for("acme");
    }
    send.tenant("globex").failure_with("rejected");
}

fn check_mix(total: impl Fn(&[(&str, &str)]) -> Option<i64>) {
    let o = ("heartbeat.outcome", "message.send");
    let plain_success = total(&[o, ("heartbeat.result", "success")]).unwrap();
    assert_eq!(plain_success, 305, "300 plain + 5 for acme");
    assert_eq!(
        total(&[
            o,
            ("heartbeat.result", "success"),
            ("heartbeat.tenant", "acme")
        ]),
        Some(5)
    );
    assert_eq!(total(&[o, ("heartbeat.reason", "timeout")]), Some(7));
    assert_eq!(total(&[o, ("heartbeat.reason", "unspecified")]), Some(2));
    assert_eq!(
        total(&[
            o,
            ("heartbeat.reason", "rejected"),
            ("heartbeat.tenant", "globex")
        ]),
        Some(1)
    );
    // Declared but never recorded: present, at zero.
    assert_eq!(total(&[o, ("heartbeat.reason", "abandoned")]), Some(0));
    assert_eq!(total(&[o, ("surface", "web_messenger")]), Some(315));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_delivers_exact_totals_and_the_resource() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let (hb, driver) = builder(&sink.endpoint(), Protocol::HttpProtobuf).build()?;
        tokio::spawn(driver);
        record_mix(&hb);
        hb.flush().await?;

        check_mix(|f| sink.sum_total(OUTCOMES, f));
        let request = &sink.requests()[0];
        assert_eq!(request.path, "/v1/metrics");
        assert_eq!(request.content_type(), Some("application/x-protobuf"));
        let resource = sink.last_resource_attributes().unwrap();
        assert_eq!(
            attr(&resource, "service.name").as_deref(),
            Some("export-test")
        );
        assert_eq!(attr(&resource, "service.version").as_deref(), Some("2.0.0"));
        assert_eq!(
            attr(&resource, "service.instance.id").map(|s| s.len()),
            Some(32)
        );
        let point = &sink.sum_points(OUTCOMES)[0];
        assert!(point.monotonic);
        assert_eq!(point.scope, "heartbeat");
        hb.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_outcomes_are_exported_at_zero_before_anything_happens() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let (hb, driver) = builder(&sink.endpoint(), Protocol::HttpProtobuf).build()?;
        tokio::spawn(driver);
        let _reply = hb
            .outcome("reply.deliver")
            .with_reasons(["bounced"])
            .build()?;
        hb.flush().await?;
        let points = sink.sum_points(OUTCOMES);
        // success + unspecified, abandoned, panicked, other + bounced
        assert_eq!(points.len(), 6, "{points:?}");
        assert!(points.iter().all(|p| p.value == Ok(0)));
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_is_valid_otlp_for_the_official_python_decoder() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let (hb, driver) = builder(&sink.endpoint(), Protocol::HttpJson).build()?;
        tokio::spawn(driver);
        record_mix(&hb);
        hb.flush().await?;
        check_mix(|f| sink.sum_total(OUTCOMES, f));
        let request = &sink.requests()[0];
        assert_eq!(request.content_type(), Some("application/json"));

        let Some(python) = std::env::var_os("HEARTBEAT_PYTHON") else {
            eprintln!("SKIPPED the official-decoder half: HEARTBEAT_PYTHON is not set (scripts/test.sh sets it)");
            return Ok(());
        };
        let body = request.body.clone()?;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/validate_otlp.py");
        let mut child = std::process::Command::new(python)
            .args([script, "--format", "json", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), &body)?;
        drop(child.stdin.take());
        let out = child.wait_with_output()?;
        assert!(
            out.status.success(),
            "the official decoder refused our JSON: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let metric = &report["metrics"][OUTCOMES];
        assert_eq!(metric["total"], 315, "{report}");
        assert_eq!(metric["unit"], "{outcome}");
        assert_eq!(metric["monotonic"], true);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_compression_is_applied() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let (hb, driver) = builder(&sink.endpoint(), Protocol::HttpProtobuf)
            .with_compression(Compression::Gzip)
            .with_header("x-api-key", "secret-key")
            .build()?;
        tokio::spawn(driver);
        record_mix(&hb);
        hb.flush().await?;
        let request = &sink.requests()[0];
        assert_eq!(request.content_encoding(), Some("gzip"));
        assert_eq!(request.header("x-api-key"), Some("secret-key"));
        check_mix(|f| sink.sum_total(OUTCOMES, f));
        Ok(())
    })
    .await
}

/// OTLP/gRPC straight to the test kit's receiver: the unary `Export` call carrying the core's
/// encoding, gzip-compressed (`grpc-encoding: gzip`) when configured, with exact totals and the
/// configured metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_sends_the_export_call_with_gzip_when_configured() -> TestResult {
    use heartbeat_testkit::{GRPC_PATH, Receiver, ReceiverOptions, Transport, points, total};
    bounded(TEST_LIMIT, async {
        for compression in [Compression::None, Compression::Gzip] {
            let receiver = Receiver::start(ReceiverOptions {
                otlp_paths_only: true,
                ..ReceiverOptions::default()
            })
            .await?;
            let (hb, driver) = builder(&receiver.endpoint(), Protocol::Grpc)
                .with_compression(compression)
                .with_header("x-api-key", "secret-key")
                .build()?;
            tokio::spawn(driver);
            record_mix(&hb);
            hb.flush().await?;
            let requests = receiver.requests();
            let request = requests.first().expect("one export");
            assert_eq!(request.transport, Transport::Grpc);
            assert_eq!(request.path, GRPC_PATH);
            assert_eq!(request.compressed, compression == Compression::Gzip);
            assert!(
                request
                    .headers
                    .iter()
                    .any(|(k, v)| k == "x-api-key" && v == "secret-key")
            );
            assert!(request.request.is_some(), "{:?}", request.problem);
            let points = points(&requests);
            check_mix(|f| Some(total(&points, OUTCOMES, f, &[])));
            hb.shutdown().await?;
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_with_retry_after_is_retried_and_nothing_is_lost() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        sink.fail_next(2, Reply::unavailable(1));
        let (hb, driver) = builder(&sink.endpoint(), Protocol::HttpProtobuf).build()?;
        tokio::spawn(driver);
        record_mix(&hb);
        hb.flush().await?;
        assert_eq!(sink.request_count(), 3, "two refused, the third accepted");
        check_mix(|f| sink.sum_total(OUTCOMES, f));
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_not_retried_and_the_next_export_carries_the_totals() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        sink.fail_next(1, Reply::bad_request());
        let (hb, driver) = builder(&sink.endpoint(), Protocol::HttpProtobuf).build()?;
        tokio::spawn(driver);
        record_mix(&hb);
        let err = hb.flush().await.unwrap_err();
        assert!(matches!(err, ExportError::Failed(_)), "{err:?}");
        assert_eq!(sink.request_count(), 1, "400 is not retryable");
        assert_eq!(hb.export_health().exports_failed, 1);

        hb.flush().await?;
        check_mix(|f| sink.sum_total(OUTCOMES, f));
        assert_eq!(hb.export_health().exports_ok, 1);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_by_its_deadline_when_the_collector_never_answers() -> TestResult {
    bounded(TEST_LIMIT, async {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let hold = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let (hb, driver) = builder(&format!("http://{addr}"), Protocol::HttpProtobuf)
            .with_timeout(Duration::from_secs(30))
            .with_export_timeout(Duration::from_millis(300))
            .build()?;
        tokio::spawn(driver);
        record_mix(&hb);
        let err = hb.shutdown().await.unwrap_err();
        assert_eq!(err, ExportError::Timeout(Duration::from_millis(300)));
        assert_eq!(err.to_string(), "OTLP export did not finish within 300ms");
        hold.abort();
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_temporality_reports_changes_that_add_up() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let (hb, driver) = builder(&sink.endpoint(), Protocol::HttpProtobuf)
            .with_temporality(Temporality::Delta)
            .build()?;
        tokio::spawn(driver);
        let send = hb.outcome("message.send").build()?;
        for _ in 0..10 {
            send.success();
        }
        hb.flush().await?;
        for _ in 0..4 {
            send.success();
        }
        hb.flush().await?;
        let points: Vec<_> = sink
            .sum_points(OUTCOMES)
            .into_iter()
            .filter(|p| attr(&p.attributes, "heartbeat.result").as_deref() == Some("success"))
            .collect();
        assert!(
            points
                .iter()
                .all(|p| p.temporality == support::otlp::AggregationTemporality::Delta)
        );
        let values: Vec<i64> = points.iter().map(|p| p.value.unwrap()).collect();
        assert_eq!(values, vec![10, 4]);
        assert_eq!(
            points[1].start_time_unix_nano, points[0].time_unix_nano,
            "delta points chain"
        );
        Ok(())
    })
    .await
}

/// A delta export the collector refuses loses nothing: nothing is committed until an export is
/// accepted, so the next one carries the refused counts again, over the window from the end of
/// the last accepted one (protobuf through the core's fast form, JSON through a batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_delta_export_loses_nothing() -> TestResult {
    bounded(TEST_LIMIT, async {
        for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
            let sink = Sink::start().await?;
            let (hb, driver) = builder(&sink.endpoint(), protocol)
                .with_temporality(Temporality::Delta)
                .with_retry(Retry::DISABLED)
                .build()?;
            tokio::spawn(driver);
            let send = hb.outcome("message.send").build()?;
            for _ in 0..10 {
                send.success();
            }
            hb.flush().await?;
            sink.fail_next(2, Reply::bad_request());
            for _ in 0..4 {
                send.success();
            }
            let refused = hb.flush().await.unwrap_err();
            assert!(matches!(refused, ExportError::Failed(_)), "{refused:?}");
            for _ in 0..3 {
                send.success();
            }
            let refused = hb.flush().await.unwrap_err();
            assert!(matches!(refused, ExportError::Failed(_)), "{refused:?}");
            hb.flush().await?;
            let points: Vec<_> = sink
                .sum_points(OUTCOMES)
                .into_iter()
                .filter(|p| attr(&p.attributes, "heartbeat.result").as_deref() == Some("success"))
                .collect();
            let values: Vec<i64> = points.iter().map(|p| p.value.unwrap()).collect();
            assert_eq!(values, vec![10, 7], "{protocol}");
            assert_eq!(
                points[1].start_time_unix_nano, points[0].time_unix_nano,
                "{protocol}: the window starts where the last accepted one ended"
            );
            hb.shutdown().await?;
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_overflow_keeps_outcome_result_and_reason_and_totals_stay_exact() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let (hb, driver) = builder(&sink.endpoint(), Protocol::HttpProtobuf)
            .with_tenant_limit(3)
            .build()?;
        tokio::spawn(driver);
        let send = hb
            .outcome("message.send")
            .with_reasons(["timeout"])
            .build()?;
        for t in 0..10 {
            for _ in 0..=t {
                send.success_for(&format!("tenant-{t}"));
            }
            send.failure_for_with(&format!("tenant-{t}"), "timeout");
        }
        hb.flush().await?;
        let o = ("heartbeat.outcome", "message.send");
        let total = |f: &[(&str, &str)]| sink.sum_total(OUTCOMES, f);
        assert_eq!(total(&[o]), Some(55 + 10), "every event counted once");
        assert_eq!(
            total(&[
                o,
                ("heartbeat.tenant", "tenant-2"),
                ("heartbeat.result", "success")
            ]),
            Some(3)
        );
        assert_eq!(
            total(&[
                o,
                ("heartbeat.tenant", "_overflow"),
                ("heartbeat.result", "success")
            ]),
            Some(55 - 6)
        );
        assert_eq!(
            total(&[
                o,
                ("heartbeat.tenant", "_overflow"),
                ("heartbeat.reason", "timeout")
            ]),
            Some(7)
        );
        assert_eq!(
            total(&[o, ("heartbeat.tenant", "tenant-9")]),
            None,
            "past the limit"
        );
        // tenants 3..=9 overflow: 49 successes and 7 failures.
        assert_eq!(hb.registry().health().overflowed_tenants, 49 + 7);
        Ok(())
    })
    .await
}

/// With tenant hashing on, the drill-down carries the hashed ids and the raw ids are nowhere in
/// what is sent, in either body format; totals, invalid ids and `_overflow` are as without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_tenants_never_put_the_raw_id_on_the_wire() -> TestResult {
    // From core/tests/data/tenant_hash_vectors.json (computed with OpenSSL, not with the SDK).
    const ACME: &str = "h-6614d812eeab4e05";
    const GLOBEX: &str = "h-3d220ee51154278b";
    bounded(TEST_LIMIT, async {
        for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
            let sink = Sink::start().await?;
            let (hb, driver) = builder(&sink.endpoint(), protocol)
                .with_tenant_hashing("s3cret-salt")
                .build()?;
            tokio::spawn(driver);
            record_mix(&hb);
            let reply = hb.outcome("reply.deliver").build()?;
            reply.success_for("acme\n"); // invalid: counted in _overflow, as without hashing
            hb.flush().await?;

            // The mix arrives exactly, with the hashed ids in place of the raw ones.
            check_mix(|f| {
                let f: Vec<(&str, &str)> = f
                    .iter()
                    .map(|&(k, v)| match (k, v) {
                        ("heartbeat.tenant", "acme") => (k, ACME),
                        ("heartbeat.tenant", "globex") => (k, GLOBEX),
                        kv => kv,
                    })
                    .collect();
                sink.sum_total(OUTCOMES, &f)
            });
            let tenant = |t: &str| sink.sum_total(OUTCOMES, &[("heartbeat.tenant", t)]);
            assert_eq!(tenant("_overflow"), Some(1), "{protocol}");
            assert_eq!(tenant("acme"), None, "{protocol}");
            assert_eq!(hb.registry().health().invalid_tenants, 1);

            let requests = sink.requests();
            assert!(!requests.is_empty());
            for request in &requests {
                let body = request.body.clone()?;
                let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
                assert!(has(ACME.as_bytes()), "{protocol}: the hashed id is sent");
                for raw in [&b"acme"[..], b"globex"] {
                    assert!(!has(raw), "{protocol}: a raw tenant id is on the wire");
                }
            }
            hb.shutdown().await?;
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_configures_the_pipeline() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let (hb, driver) = Heartbeat::builder()
            .with_environment([
                ("OTEL_SERVICE_NAME", "from-env".to_owned()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint()),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_owned()),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "authorization=Bearer%20t0k".to_owned(),
                ),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment=test".to_owned(),
                ),
                ("OTEL_METRIC_EXPORT_INTERVAL", "3600000".to_owned()),
            ])
            .build()?;
        tokio::spawn(driver);
        hb.outcome("message.send").build()?.success();
        hb.flush().await?;
        let request = &sink.requests()[0];
        assert_eq!(request.content_type(), Some("application/json"));
        assert_eq!(request.header("authorization"), Some("Bearer t0k"));
        let resource = sink.last_resource_attributes().unwrap();
        assert_eq!(attr(&resource, "service.name").as_deref(), Some("from-env"));
        assert_eq!(
            attr(&resource, "deployment.environment").as_deref(),
            Some("test")
        );
        assert_eq!(
            sink.sum_total(OUTCOMES, &[("heartbeat.result", "success")]),
            Some(1)
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_disabled_sdk_records_nothing_and_exports_nothing() -> TestResult {
    let sink = Sink::start().await?;
    let (hb, driver) = Heartbeat::builder()
        .with_environment([("OTEL_SDK_DISABLED", "true")])
        .with_endpoint(sink.endpoint())
        .build()?;
    driver.await; // finishes at once
    assert!(!hb.is_enabled());
    let send = hb.outcome("message.send").build()?;
    assert!(send.is_noop());
    send.success();
    assert!(hb.outcome("not valid").build().is_err(), "still validated");
    hb.flush().await?;
    hb.shutdown().await?;
    assert_eq!(sink.request_count(), 0);
    Ok(())
}

#[test]
fn install_outside_a_tokio_runtime_is_an_error_that_says_what_to_do() {
    let err = Heartbeat::builder().install().unwrap_err();
    assert_eq!(err, InstallError::NoRuntime);
    assert!(
        err.to_string()
            .contains("use build() and spawn the returned driver")
    );
}

#[test]
fn a_bad_environment_value_fails_the_build_naming_it() {
    let err = Heartbeat::builder()
        .with_environment([("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "ten")])
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        BuildError::InvalidEnv {
            var: "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
            value: "ten".into(),
            expected: "a positive whole number of milliseconds"
        }
    );
}

#[tokio::test]
async fn flush_without_a_running_driver_says_so() -> TestResult {
    let sink = Sink::start().await?;
    let (hb, _driver) = builder(&sink.endpoint(), Protocol::HttpProtobuf)
        .with_export_timeout(Duration::from_millis(200))
        .build()?;
    assert_eq!(hb.flush().await, Err(ExportError::DriverNotRunning));
    Ok(())
}

async fn through_rotel(protocol: Protocol, test: &str) -> TestResult {
    let Some(bin) = rotel_or_skip(test) else {
        return Ok(());
    };
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let rotel = Rotel::start(&bin, &sink).await?;
        let endpoint = match protocol {
            Protocol::Grpc => rotel.grpc_endpoint(),
            _ => rotel.http_endpoint(),
        };
        let (hb, driver) = builder(&endpoint, protocol).build()?;
        tokio::spawn(driver);
        record_mix(&hb);
        hb.flush().await?;
        sink.wait_until("the mix through rotel", WAIT_LIMIT, |s| {
            s.sum_total(OUTCOMES, &[("surface", "web_messenger")]) == Some(315)
        })
        .await?;
        check_mix(|f| sink.sum_total(OUTCOMES, f));
        hb.shutdown().await?;
        rotel.stop();
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_through_the_real_collector_delivers_exact_totals() -> TestResult {
    through_rotel(Protocol::Grpc, "grpc_through_the_real_collector").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_through_the_real_collector_delivers_exact_totals() -> TestResult {
    through_rotel(
        Protocol::HttpProtobuf,
        "http_protobuf_through_the_real_collector",
    )
    .await
}
