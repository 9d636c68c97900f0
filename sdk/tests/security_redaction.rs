//! Credentials never leave through what the SDK shows: auth headers (from code or
//! `OTEL_EXPORTER_OTLP_HEADERS`), endpoint credentials and query strings, and ping-URL tokens never
//! appear in the `Debug` output of the builder, `Heartbeat`, `Deadman`, `DeadmanBuilder` or
//! `PingConfig`, nor in any error's message (`BuildError`, `ExportError`, `StopError`,
//! `InvalidPingUrl`). Every secret is a distinctive marker, so a test fails only on a real leak.
//! (Logs: `security_logs.rs`.)
#![cfg(all(feature = "grpc", feature = "http-proto"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod deadman_http;
mod support;

use heartbeat::{BuildError, Heartbeat, HeartbeatBuilder, PingConfig, Protocol, Retry};
use std::time::Duration;
use support::{Reply, Sink, TEST_LIMIT, TestResult, bounded};

/// Every marker a test plants; none may be shown anywhere.
const SECRETS: &[&str] = &[
    "hbSecretHeader7f3a",
    "hbSecretEnvHeader55d1",
    "hbSecretUser19c2",
    "hbSecretPass0b8e",
    "hbSecretQuery4e6f",
    "hbSecretPingUuid9a7d",
    "hbSecretPingKey3c1b",
];

#[track_caller]
fn assert_clean(what: &str, shown: &str) {
    for secret in SECRETS {
        assert!(
            !shown.contains(secret),
            "{what} shows the secret {secret:?}: {shown}"
        );
    }
}

fn isolated() -> HeartbeatBuilder {
    Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_service_name("redaction-test")
        .with_export_interval(Duration::from_secs(3600))
        .with_export_timeout(Duration::from_secs(3))
        .with_retry(Retry::DISABLED)
}

/// A builder holding every kind of OTLP credential, pointed at `host`.
fn loaded(host: &str) -> HeartbeatBuilder {
    isolated()
        .with_environment([(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-env-key=hbSecretEnvHeader55d1",
        )])
        .with_endpoint(format!(
            "http://hbSecretUser19c2:hbSecretPass0b8e@{host}/v1/metrics?token=hbSecretQuery4e6f"
        ))
        .with_header("authorization", "Bearer hbSecretHeader7f3a")
}

#[test]
fn the_builder_debug_names_headers_but_never_shows_values_or_url_credentials() {
    let builder = loaded("collector.example:4318").with_ca_certificate_pem("pem");
    let shown = format!("{builder:?}");
    assert_clean("HeartbeatBuilder Debug", &shown);
    assert!(shown.contains("authorization"), "{shown}");
    assert!(
        shown.contains("http://***@collector.example:4318/v1/metrics?***"),
        "{shown}"
    );
    assert_clean("HeartbeatBuilder alternate Debug", &format!("{builder:#?}"));
}

#[tokio::test]
async fn heartbeat_deadman_and_ping_config_debug_never_show_credentials() -> TestResult {
    let sink = Sink::start().await?;
    let hb = loaded(&sink.addr().to_string()).install()?;
    assert_clean("Heartbeat Debug", &format!("{hb:?} {hb:#?}"));

    let ping = PingConfig::new("https://hbSecretUser19c2@hc-ping.com/hbSecretPingUuid9a7d")?
        .with_fail_url("https://cronitor.link/p/hbSecretPingKey3c1b/job?state=fail")?
        .with_stop_url("https://hc-ping.com/hbSecretPingUuid9a7d/pause?k=hbSecretQuery4e6f")?;
    assert_clean("PingConfig Debug", &format!("{ping:?} {ping:#?}"));

    let builder = hb
        .deadman("api")
        .with_cadence(Duration::from_secs(3600))
        .with_ping(ping);
    assert_clean("DeadmanBuilder Debug", &format!("{builder:?}"));
    let beat = builder.start()?;
    assert_clean("Deadman Debug", &format!("{beat:?} {beat:#?}"));
    drop(beat);
    Ok(())
}

#[test]
fn a_malformed_headers_variable_is_shown_without_its_values() {
    for value in [
        // A value that is not percent-encoding.
        "authorization=Bearer%zzhbSecretEnvHeader55d1,x=1",
        // `name: value` pasted in, with no `=` at all.
        "Authorization: Bearer hbSecretEnvHeader55d1",
        // `name: value` where the value ends in base64 padding: it splits at the `=`.
        "api-key: hbSecretEnvHeader55d1==",
        // A name with white space in it.
        "x-key hbSecretEnvHeader55d1=1",
    ] {
        let err = isolated()
            .with_environment([("OTEL_EXPORTER_OTLP_HEADERS", value)])
            .build()
            .unwrap_err();
        assert_clean(&format!("the error for {value:?}"), &err.to_string());
        assert_clean("its Debug", &format!("{err:?}"));
    }
}

#[test]
fn a_bad_header_in_code_is_named_without_its_value() {
    let err = isolated()
        .with_header(
            "authorization",
            "Bearer hbSecretHeader7f3a\r\nx-injected: 1",
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value of header \"authorization\": header values are visible ASCII, spaces and tabs (the value is not shown)"
    );
    let err = isolated()
        .with_header("Authorization: Bearer hbSecretHeader7f3a", "")
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid header name \"Authorization***\": header names are visible ASCII without ':'"
    );
}

#[test]
fn a_bad_endpoint_is_shown_without_credentials_or_query() {
    let bad = "https://hbSecretUser19c2:hbSecretPass0b8e@host:99999/v1?token=hbSecretQuery4e6f";
    let err = isolated().with_endpoint(bad).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid endpoint \"https://***@host:99999/v1?***\": its port is not a number from 0 to 65535"
    );
    for var in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ] {
        let err = isolated()
            .with_environment([(var, bad)])
            .build()
            .unwrap_err();
        assert!(matches!(err, BuildError::InvalidEnv { .. }), "{err:?}");
        assert_clean(var, &format!("{err} {err:?}"));
    }
}

#[test]
fn an_endpoint_the_exporter_refuses_is_shown_redacted_by_either_transport() {
    // Passes the SDK's own checks (scheme, host, port) but is not a valid URI: the refusal comes
    // from the transport, whose message quotes the endpoint.
    let bad = "http://hbSecretUser19c2:hbSecretPass0b8e@host:4318/v 1?token=hbSecretQuery4e6f";
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let err = isolated()
            .with_protocol(protocol)
            .with_endpoint(bad)
            .build()
            .unwrap_err();
        assert_clean(
            &format!("{protocol} build error"),
            &format!("{err} {err:?}"),
        );
    }
}

async fn failing_export(protocol: Protocol, reply: Option<Reply>) -> TestResult {
    let sink = Sink::start().await?;
    if let Some(reply) = reply {
        sink.fail_next(10, reply);
    }
    let (hb, driver) = loaded(&sink.addr().to_string())
        .with_protocol(protocol)
        .build()?;
    tokio::spawn(driver);
    hb.outcome("message.send").build()?.success();
    let err = hb.flush().await.unwrap_err();
    assert_clean(
        &format!("{protocol} export error"),
        &format!("{err} {err:?}"),
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_errors_never_show_credentials() -> TestResult {
    bounded(TEST_LIMIT, async {
        // Refused by the collector, and spoken to in the wrong protocol.
        failing_export(Protocol::HttpProtobuf, Some(Reply::bad_request())).await?;
        failing_export(Protocol::HttpJson, Some(Reply::throttled(0))).await?;
        failing_export(Protocol::Grpc, None).await?;
        // Nothing listening at all.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
            let (hb, driver) = loaded(&closed.to_string())
                .with_protocol(protocol)
                .build()?;
            tokio::spawn(driver);
            let err = hb.flush().await.unwrap_err();
            assert_clean("export error", &format!("{err} {err:?}"));
            let err = hb.shutdown().await.unwrap_err();
            assert_clean("shutdown error", &format!("{err} {err:?}"));
        }
        Ok(())
    })
    .await
}

#[test]
fn invalid_ping_urls_are_shown_without_their_token() {
    for url in [
        "ftp://hc-ping.com/hbSecretPingUuid9a7d",
        "https://hc-ping.com:99999/hbSecretPingUuid9a7d",
        "https://hbSecretUser19c2:hbSecretPass0b8e@/hbSecretPingUuid9a7d",
        "https://ho st/hbSecretPingUuid9a7d",
        "https://[::1/hbSecretPingUuid9a7d?k=hbSecretQuery4e6f",
        "http://hc-ping.com:/hbSecretPingUuid9a7d?k=hbSecretQuery4e6f",
        "hc-ping.com/hbSecretPingUuid9a7d",
    ] {
        let err = PingConfig::new(url).unwrap_err();
        assert_clean(&format!("the error for {url:?}"), &format!("{err} {err:?}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_stop_ping_is_reported_without_the_token() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let hb = isolated().with_endpoint(sink.endpoint()).install()?;
        let channel = deadman_http::Server::scripted(|_, _| deadman_http::Reply::Status(503)).await;
        let ping = PingConfig::new(channel.url("/hbSecretPingUuid9a7d"))?
            .with_stop_url(channel.url("/hbSecretPingUuid9a7d/stop?k=hbSecretPingKey3c1b"))?
            .with_retries(0);
        let beat = hb
            .deadman("api")
            .with_cadence(Duration::from_millis(100))
            .with_ping(ping)
            .start()?;
        let err = beat.stop().await.unwrap_err();
        assert_eq!(err.to_string(), "the stop ping was not delivered: http_5xx");
        assert_clean("StopError", &format!("{err:?}"));
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_values_arrive_exactly_as_given_percent_signs_included() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let (hb, driver) = isolated()
            .with_environment([("OTEL_EXPORTER_OTLP_HEADERS", "x-env=a%252Fb")])
            .with_endpoint(sink.endpoint())
            .with_header("x-signature", "sha=ab%2Fcd%")
            .build()?;
        tokio::spawn(driver);
        hb.flush().await?;
        let request = &sink.requests()[0];
        assert_eq!(request.header("x-signature"), Some("sha=ab%2Fcd%"));
        // Percent-decoded once, as the OpenTelemetry specification says: %25 is a literal %.
        assert_eq!(request.header("x-env"), Some("a%2Fb"));
        Ok(())
    })
    .await
}

/// `hbSecretUser19c2:hbSecretPass0b8e`, base64.
const BASIC: &str = "Basic aGJTZWNyZXRVc2VyMTljMjpoYlNlY3JldFBhc3MwYjhl";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_credentials_travel_as_basic_authorization_never_in_the_host_header() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let (hb, driver) = isolated()
            .with_endpoint(format!(
                "http://hbSecretUser19c2:hbSecretPass0b8e@{}",
                sink.addr()
            ))
            .build()?;
        tokio::spawn(driver);
        hb.flush().await?;
        let request = &sink.requests()[0];
        assert_eq!(request.header("authorization"), Some(BASIC));
        assert_eq!(
            request.header("host"),
            Some(sink.addr().to_string().as_str())
        );

        // Pings too (the sink records the ping, and answers 404 to it).
        let ping = PingConfig::new(format!(
            "http://hbSecretUser19c2:hbSecretPass0b8e@{}/ping",
            sink.addr()
        ))?
        .with_retries(0);
        let beat = hb
            .deadman("api")
            .with_cadence(Duration::from_millis(100))
            .with_ping(ping)
            .start()?;
        sink.wait_until("a ping", support::WAIT_LIMIT, |s| {
            s.requests().iter().any(|r| r.path == "/ping")
        })
        .await?;
        let ping = sink
            .requests()
            .into_iter()
            .find(|r| r.path == "/ping")
            .unwrap();
        assert_eq!(ping.header("authorization"), Some(BASIC));
        assert_eq!(ping.header("host"), Some(sink.addr().to_string().as_str()));
        drop(beat);
        Ok(())
    })
    .await
}
