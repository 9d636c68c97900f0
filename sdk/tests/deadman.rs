//! The dead-man emitter end to end, in process: OTLP/JSON to a local sink, pings to a local
//! channel that injects 5xx and timeouts. Every wait is bounded; no assertion is about a duration.
#![cfg(feature = "http-json")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod deadman_http;

use deadman_http::{Reply, Server, eventually};
use heartbeat::semconv::{ATTR_EMITTER, ATTR_REASON, METRIC_BEATS, METRIC_EMITTER_STATUS};
use heartbeat::{
    DeadmanError, EmitterStatus, FailReason, Heartbeat, PingConfig, Protocol, StopError,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

const FAST: Duration = Duration::from_millis(100);

/// A pipeline exporting OTLP/JSON to `sink`, with the default 60 s interval and no environment.
fn pipeline(sink: &Server) -> Heartbeat {
    Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_service_name("deadman-test")
        .with_endpoint(sink.url(""))
        .with_protocol(Protocol::HttpJson)
        .with_export_timeout(Duration::from_secs(5))
        .install()
        .unwrap()
}

fn beats_of(sink: &Server, name: &str) -> f64 {
    sink.last(METRIC_BEATS, &[(ATTR_EMITTER, name)])
        .map_or(0.0, |p| p.value)
}

fn pings(server: &Server, path: &str) -> Vec<deadman_http::Request> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beats_leave_at_their_cadence_not_at_the_export_interval() {
    let sink = Server::ok().await;
    let hb = pipeline(&sink);
    let beat = hb.deadman("api").with_cadence(FAST).start().unwrap();
    // The export interval is 60 s: three exported beats can only come from beat-triggered exports.
    eventually("three beats exported", || async {
        (beats_of(&sink, "api") >= 3.0).then_some(())
    })
    .await;
    let exported = sink.points();
    let values: Vec<f64> = exported
        .iter()
        .filter(|p| p.metric == METRIC_BEATS)
        .map(|p| p.value)
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "monotonic: {values:?}"
    );
    assert!(beat.health().beats >= 3);
    beat.stop().await.unwrap();
    hb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_exports_the_stopped_status_and_sends_the_stop_ping() {
    let sink = Server::ok().await;
    let channel = Server::ok().await;
    let hb = pipeline(&sink);
    let ping = PingConfig::new(channel.url("/uuid"))
        .unwrap()
        .with_stop_url(channel.url("/uuid/stop"))
        .unwrap();
    let beat = hb
        .deadman("api")
        .with_cadence(FAST)
        .with_ping(ping)
        .start()
        .unwrap();
    eventually("a beat ping", || async {
        (!pings(&channel, "/uuid").is_empty()).then_some(())
    })
    .await;
    beat.stop().await.unwrap();
    // stop() returns after both: the stop ping and the export carrying status 2.
    let stop = pings(&channel, "/uuid/stop");
    assert_eq!(stop.len(), 1);
    assert!(
        stop[0]
            .body
            .starts_with("heartbeat emitter=api status=stopped"),
        "{}",
        stop[0].body
    );
    let status = sink
        .last(METRIC_EMITTER_STATUS, &[(ATTR_EMITTER, "api")])
        .unwrap();
    assert_eq!(status.value, 2.0);
    // Nothing is sent after the stop ping.
    let all = channel.requests();
    assert_eq!(all.last().unwrap().path, "/uuid/stop");
    hb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_gate_sends_the_fail_signal_holds_beats_and_resumes_on_recovery() {
    let sink = Server::ok().await;
    let channel = Server::ok().await;
    let hb = pipeline(&sink);
    let healthy = Arc::new(AtomicBool::new(true));
    let checks = Arc::new(AtomicUsize::new(0));
    let (h, c) = (Arc::clone(&healthy), Arc::clone(&checks));
    let beat = hb
        .deadman("worker")
        .with_cadence(FAST)
        .with_gate(move || {
            c.fetch_add(1, SeqCst);
            if h.load(SeqCst) {
                Ok(())
            } else {
                Err("queue consumer disconnected")
            }
        })
        .with_ping(PingConfig::new(channel.url("/hc")).unwrap())
        .start()
        .unwrap();
    eventually("a beat", || async {
        (beat.health().beats >= 1).then_some(())
    })
    .await;

    healthy.store(false, SeqCst);
    let fail = eventually("the fail ping", || async {
        pings(&channel, "/hc/fail").into_iter().next()
    })
    .await;
    assert!(
        fail.body
            .contains("status=failing reason=gate_failed detail=\"queue consumer disconnected\""),
        "{}",
        fail.body
    );
    assert_eq!(beat.status().reason(), Some(FailReason::GateFailed));
    let held = beat.health().beats;
    // Three more gate checks while failing: no beat, no second fail ping.
    let seen = checks.load(SeqCst);
    eventually("three more checks", || async {
        (checks.load(SeqCst) >= seen + 3).then_some(())
    })
    .await;
    assert_eq!(beat.health().beats, held);
    assert_eq!(pings(&channel, "/hc/fail").len(), 1);
    let status = eventually("the failing status exported", || async {
        sink.last(METRIC_EMITTER_STATUS, &[(ATTR_EMITTER, "worker")])
            .filter(|p| p.value == 1.0)
    })
    .await;
    assert_eq!(status.attrs[ATTR_REASON], "gate_failed");

    healthy.store(true, SeqCst);
    eventually("a beat after recovery", || async {
        (beat.health().beats > held).then_some(())
    })
    .await;
    assert_eq!(beat.status(), EmitterStatus::Beating);
    // Order on the channel: beats, one fail, beats again.
    let paths: Vec<String> = channel.requests().into_iter().map(|r| r.path).collect();
    let fail_at = paths.iter().position(|p| p == "/hc/fail").unwrap();
    assert!(paths[..fail_at].iter().all(|p| p == "/hc"));
    eventually("a beat ping after recovery", || async {
        let paths: Vec<String> = channel.requests().into_iter().map(|r| r.path).collect();
        (paths.len() > fail_at + 1).then_some(())
    })
    .await;
    let paths: Vec<String> = channel.requests().into_iter().map(|r| r.path).collect();
    assert!(paths[fail_at + 1..].iter().all(|p| p == "/hc"), "{paths:?}");
    beat.stop().await.unwrap();
    hb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_or_hanging_gate_is_a_recorded_failure() {
    let sink = Server::ok().await;
    let hb = pipeline(&sink);
    let panics = hb
        .deadman("panics")
        .with_cadence(FAST)
        .with_gate(|| -> bool { panic!("gate bug") })
        .start()
        .unwrap();
    let hangs = hb
        .deadman("hangs")
        .with_cadence(FAST)
        .with_gate_timeout(Duration::from_millis(20))
        .with_async_gate(std::future::pending::<bool>)
        .start()
        .unwrap();
    eventually("both failing", || async {
        (panics.status().reason() == Some(FailReason::GatePanicked)
            && hangs.status().reason() == Some(FailReason::GateTimeout))
        .then_some(())
    })
    .await;
    match panics.status() {
        EmitterStatus::Failing { detail, .. } => {
            assert_eq!(detail, "the health gate panicked: gate bug")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(panics.health().beats, 0);
    assert_eq!(hangs.health().beats, 0);
    hb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_gate_fails_without_recent_successes_and_recovers_with_one() {
    let sink = Server::ok().await;
    let hb = pipeline(&sink);
    let send = hb.outcome("message.send").build().unwrap();
    let beat = hb
        .deadman("api")
        .with_cadence(FAST)
        .with_outcome_gate(&send, Duration::from_millis(300))
        .start()
        .unwrap();
    eventually("no recent success", || async {
        (beat.status().reason() == Some(FailReason::NoRecentSuccess)).then_some(())
    })
    .await;
    let held = beat.health().beats;
    send.success_for("acme"); // a tenant's success counts too
    eventually("beating again", || async {
        (beat.health().beats > held).then_some(())
    })
    .await;
    hb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_retry_a_5xx_and_count_what_failed() {
    let sink = Server::ok().await;
    // Attempts 0 and 1 fail with 503, attempt 2 succeeds; then 404 forever (not retried).
    let channel = Server::scripted(|_, n| match n {
        0 | 1 => Reply::Status(503),
        2 => Reply::Status(200),
        _ => Reply::Status(404),
    })
    .await;
    let hb = pipeline(&sink);
    let beat = hb
        .deadman("api")
        .with_cadence(Duration::from_secs(1))
        .with_ping(PingConfig::new(channel.url("/p")).unwrap().with_retries(2))
        .start()
        .unwrap();
    eventually("the first beat delivered after two retries", || async {
        (beat.health().pings_ok == 1).then_some(())
    })
    .await;
    // The 200 was the third answer: the two 503s were retried.
    assert!(channel.requests().len() >= 3);
    assert_eq!(beat.health().pings_failed, 0);
    // Each later beat is one 404, not retried: requests = 3 + failed pings, once quiet.
    eventually("404s counted as failed, not retried", || async {
        let failed = beat.health().pings_failed;
        let requests = channel.requests().len() as u64;
        (failed >= 1 && requests == 3 + failed).then_some(())
    })
    .await;
    let failed = eventually("the ping failure exported", || async {
        sink.last(
            heartbeat::semconv::METRIC_SDK_PINGS,
            &[(ATTR_EMITTER, "api"), (ATTR_REASON, "http_4xx")],
        )
        .filter(|p| p.value >= 1.0)
    })
    .await;
    assert_eq!(failed.attrs["heartbeat.result"], "failure");
    hb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_channel_times_out_and_pings_never_pile_up() {
    let sink = Server::ok().await;
    let channel = Server::scripted(|_, _| Reply::Hang(Duration::from_secs(3))).await;
    let hb = pipeline(&sink);
    let beat = hb
        .deadman("api")
        .with_cadence(FAST)
        .with_ping(
            PingConfig::new(channel.url("/p"))
                .unwrap()
                .with_timeout(Duration::from_millis(450))
                .with_retries(0),
        )
        .start()
        .unwrap();
    eventually("a timed-out ping and skipped beats", || async {
        let h = beat.health();
        (h.pings_failed >= 1 && h.pings_skipped >= 2).then_some(())
    })
    .await;
    // Beats went on over OTLP while the channel hung, one ping at a time.
    assert!(beat.health().beats >= 3);
    assert_eq!(channel.max_open(), 1);
    let timeouts = eventually("the timeout exported", || async {
        sink.last(
            heartbeat::semconv::METRIC_SDK_PINGS,
            &[(ATTR_EMITTER, "api"), (ATTR_REASON, "timeout")],
        )
        .filter(|p| p.value >= 1.0)
    })
    .await;
    assert_eq!(timeouts.attrs["heartbeat.result"], "failure");
    hb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ping_body_carries_the_self_health_summary() {
    let sink = Server::ok().await;
    let channel = Server::ok().await;
    let hb = pipeline(&sink);
    let beat = hb
        .deadman("api")
        .with_cadence(FAST)
        .with_ping(
            PingConfig::new(channel.url("/p"))
                .unwrap()
                .with_body("host=web-1"),
        )
        .start()
        .unwrap();
    let second = eventually("two beat pings", || async {
        pings(&channel, "/p").into_iter().nth(1)
    })
    .await;
    let mut lines = second.body.lines();
    assert_eq!(lines.next(), Some("host=web-1"));
    let summary = lines.next().unwrap();
    assert!(
        summary.starts_with("heartbeat emitter=api status=beating beat="),
        "{summary}"
    );
    for key in [
        " since=",
        " exports_ok=",
        " exports_failed=",
        " exports_timed_out=",
        " last_export_age_s=",
        " pings_failed=",
        " pings_skipped=",
    ] {
        assert!(summary.contains(key), "{key} in {summary}");
    }
    assert_eq!(second.method, "POST");
    beat.stop().await.unwrap();
    hb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_every_emitter_on_purpose() {
    let sink = Server::ok().await;
    let channel = Server::ok().await;
    let hb = pipeline(&sink);
    let mut handles = Vec::new();
    for name in ["api", "worker", "ai.answer"] {
        let ping = PingConfig::new(channel.url(&format!("/{name}")))
            .unwrap()
            .with_stop_url(channel.url(&format!("/{name}/stop")))
            .unwrap();
        handles.push(
            hb.deadman(name)
                .with_cadence(FAST)
                .with_ping(ping)
                .start()
                .unwrap(),
        );
    }
    eventually("every emitter beating", || async {
        handles.iter().all(|h| h.health().beats >= 2).then_some(())
    })
    .await;
    hb.shutdown().await.unwrap();
    for name in ["api", "worker", "ai.answer"] {
        assert_eq!(pings(&channel, &format!("/{name}/stop")).len(), 1, "{name}");
        let status = sink
            .last(METRIC_EMITTER_STATUS, &[(ATTR_EMITTER, name)])
            .unwrap();
        assert_eq!(status.value, 2.0, "{name}");
    }
    for h in &handles {
        assert_eq!(h.status(), EmitterStatus::Stopped);
    }
    // A stop after the shutdown has nothing left to do.
    for h in handles {
        h.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_handle_goes_silent_and_frees_its_name() {
    let sink = Server::ok().await;
    let channel = Server::ok().await;
    let hb = pipeline(&sink);
    let ping = PingConfig::new(channel.url("/p"))
        .unwrap()
        .with_stop_url(channel.url("/p/stop"))
        .unwrap();
    let beat = hb
        .deadman("api")
        .with_cadence(FAST)
        .with_ping(ping)
        .start()
        .unwrap();
    eventually("a beat", || async {
        (beat.health().beats >= 2).then_some(())
    })
    .await;
    drop(beat);
    // The name is free at once; the new emitter continues the count.
    let again = hb.deadman("api").with_cadence(FAST).start().unwrap();
    let before = again.health().beats;
    assert!(before >= 2);
    eventually("the count continues", || async {
        (again.health().beats > before).then_some(())
    })
    .await;
    drop(again);
    hb.flush().await.unwrap();
    assert!(pings(&channel, "/p/stop").is_empty());
    // A silent emitter reports no status: only its frozen count remains.
    let last = sink.exports().pop().unwrap();
    assert!(last.iter().any(|p| p.metric == METRIC_BEATS));
    assert!(!last.iter().any(|p| p.metric == METRIC_EMITTER_STATUS));
    hb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_health_is_exported_in_band() {
    let sink = Server::ok().await;
    let hb = pipeline(&sink);
    let beat = hb.deadman("api").with_cadence(FAST).start().unwrap();
    eventually("two exports", || async {
        (beats_of(&sink, "api") >= 2.0).then_some(())
    })
    .await;
    let ok = sink
        .last(
            heartbeat::semconv::METRIC_SDK_EXPORTS,
            &[("heartbeat.result", "success")],
        )
        .unwrap();
    assert!(ok.value >= 1.0);
    assert!(
        sink.last(heartbeat::semconv::METRIC_SDK_EXPORT_AGE, &[])
            .is_some()
    );
    assert!(
        sink.last(
            heartbeat::semconv::METRIC_SDK_EXPORTS,
            &[("heartbeat.reason", "timeout")]
        )
        .is_some()
    );
    assert!(
        sink.last(
            heartbeat::semconv::METRIC_SDK_TICKS_SKIPPED,
            &[(ATTR_EMITTER, "api")]
        )
        .is_some()
    );
    beat.stop().await.unwrap();
    hb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_reports_an_undelivered_stop_ping() {
    let sink = Server::ok().await;
    let channel = Server::scripted(|r, _| {
        if r.path.ends_with("/stop") {
            Reply::Status(500)
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let hb = pipeline(&sink);
    let ping = PingConfig::new(channel.url("/p"))
        .unwrap()
        .with_stop_url(channel.url("/p/stop"))
        .unwrap()
        .with_retries(1);
    let beat = hb
        .deadman("api")
        .with_cadence(FAST)
        .with_ping(ping)
        .start()
        .unwrap();
    eventually("a beat ping", || async {
        (beat.health().pings_ok >= 1).then_some(())
    })
    .await;
    assert_eq!(
        beat.stop().await.unwrap_err(),
        StopError::Ping { reason: "http_5xx" }
    );
    assert_eq!(pings(&channel, "/p/stop").len(), 2, "one retry");
    hb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_are_refused_naming_the_value() {
    let hb = Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_endpoint("http://127.0.0.1:9")
        .install()
        .unwrap();
    let err = |b: heartbeat::DeadmanBuilder| b.start().unwrap_err().to_string();
    assert_eq!(
        err(hb.deadman("api").with_cadence(Duration::ZERO)),
        "invalid cadence 0ns: it must be from 100ms to 24h"
    );
    assert_eq!(
        err(hb
            .deadman("api")
            .with_cadence(Duration::from_secs(25 * 3600))),
        "invalid cadence 90000s: it must be from 100ms to 24h"
    );
    assert_eq!(
        err(hb
            .deadman("api")
            .with_cadence(Duration::from_secs(10))
            .with_jitter(Duration::from_secs(10))),
        "invalid jitter 10s: it must be less than the cadence"
    );
    assert_eq!(
        err(hb
            .deadman("api")
            .with_cadence(Duration::from_secs(1))
            .with_gate_timeout(Duration::from_secs(2))),
        "invalid gate timeout 2s: it must be greater than zero and less than the cadence"
    );
    let send = hb.outcome("message.send").build().unwrap();
    assert_eq!(
        err(hb
            .deadman("api")
            .with_cadence(Duration::from_secs(10))
            .with_outcome_gate(&send, Duration::from_secs(5))),
        "invalid outcome window 5s: it must be at least the cadence"
    );
    assert_eq!(
        err(hb.deadman("1api")),
        "invalid emitter name \"1api\": it must start with an ASCII letter; allowed: an ASCII letter, then up to 254 ASCII letters, digits, '_', '.', '-' or '/'"
    );
    assert_eq!(
        err(hb.deadman("api").with_ping(
            PingConfig::new("http://127.0.0.1:9/x")
                .unwrap()
                .with_timeout(Duration::ZERO)
        )),
        "invalid ping timeout 0ns: it must be greater than zero"
    );
    assert_eq!(
        PingConfig::new("hc-ping.com/0f9a-secret")
            .unwrap_err()
            .to_string(),
        "invalid ping URL \"hc-ping.com/***\": it must start with http:// or https://"
    );
    let first = hb.deadman("api").start().unwrap();
    let dup = hb.deadman("api").start().unwrap_err();
    assert_eq!(
        dup,
        DeadmanError::Duplicate {
            name: "api".to_owned()
        }
    );
    assert_eq!(
        dup.to_string(),
        "a dead-man emitter named \"api\" is already running; stop it first, or give each emitter its own name"
    );
    first.stop().await.unwrap_or(());
}

#[test]
fn starting_outside_a_runtime_is_an_error() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (hb, driver) = Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_endpoint("http://127.0.0.1:9")
        .build()
        .unwrap();
    let err = hb.deadman("api").start().unwrap_err();
    assert_eq!(
        err.to_string(),
        "start() must be called inside a tokio runtime"
    );
    drop(hb);
    runtime.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(5), driver).await;
    });
}

#[tokio::test]
async fn a_disabled_sdk_gives_a_noop_emitter_after_validating() {
    let hb = Heartbeat::builder()
        .with_environment([("OTEL_SDK_DISABLED", "true")])
        .install()
        .unwrap();
    let beat = hb.deadman("api").start().unwrap();
    assert!(beat.is_noop());
    assert_eq!(beat.status(), EmitterStatus::Stopped);
    assert!(
        hb.deadman("api")
            .with_cadence(Duration::ZERO)
            .start()
            .is_err()
    );
    beat.stop().await.unwrap();
}

/// Attached to the application's own `SdkMeterProvider`: each beat flushes that provider, so
/// beats leave at their cadence there too, not at its (here hour-long) export interval.
#[cfg(feature = "testing")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_to_an_application_provider_each_beat_flushes_it() {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    let exporter = InMemoryMetricExporter::default();
    let reader = PeriodicReader::builder(exporter.clone())
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let hb = Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_meter_provider(provider.clone())
        .install()
        .unwrap();
    let beat = hb.deadman("api").with_cadence(FAST).start().unwrap();
    let exported_beats = || {
        let mut values = Vec::new();
        for rm in exporter.get_finished_metrics().unwrap() {
            for m in rm.scope_metrics().flat_map(|s| s.metrics()) {
                if m.name() != METRIC_BEATS {
                    continue;
                }
                if let AggregatedMetrics::U64(MetricData::Sum(sum)) = m.data() {
                    values.extend(sum.data_points().map(|p| p.value()));
                }
            }
        }
        values
    };
    eventually("three beats flushed", || async {
        (exported_beats().iter().max() >= Some(&3)).then_some(())
    })
    .await;
    beat.stop().await.unwrap();
    let _ = provider.shutdown();
}
