//! The judge, driven through the real receiver with a manual clock: dead-man classification,
//! outcome rules, drill-down, deploys, the SLA ledger, persistence across a restart, the
//! seasonal anomaly. Seconds of windows run in microseconds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use heartbeat_watch::{Alert, AlertStatus, Classification, Database, Month, RuleState};
use support::{Payload, T0, bounded, fired, manual_watch, manual_watch_with, post, run, second};

const RULES: &str = r#"
[watch]
tick = "1s"

[[deadman]]
name = "api"
service = "svc"
emitter = "api"
window = "10s"
min_beats = 5

[[deadman]]
name = "svc-any"
service = "svc"
window = "10s"
min_beats = 5

[[outcome]]
name = "send"
outcome = "message.send"
service = "svc"
window = "10s"
min_success_ratio = 0.9
min_rate_per_minute = 30.0

[[sla]]
name = "core"
signals = ["send"]
objective = 0.999
"#;

/// One simulated process: cumulative counters as an SDK would export them.
#[derive(Debug, Clone)]
struct Proc {
    instance: String,
    version: String,
    start_ms: i64,
    beats: i64,
    sends: Vec<((&'static str, &'static str, bool), i64)>,
}

impl Proc {
    fn new(instance: &str, version: &str, start_ms: i64) -> Self {
        let mut sends = Vec::new();
        for surface in ["web", "mobile"] {
            for tenant in ["t1", "t2", "t3", "t4", "t5"] {
                sends.push(((surface, tenant, true), 0));
                sends.push(((surface, tenant, false), 0));
            }
        }
        Self {
            instance: instance.into(),
            version: version.into(),
            start_ms,
            beats: 0,
            sends,
        }
    }

    /// One second of traffic: 2 successes per (surface, tenant), except failures where `hurt`.
    fn traffic(&mut self, hurt: impl Fn(&str, &str) -> bool) {
        for ((surface, tenant, ok), n) in &mut self.sends {
            let h = hurt(surface, tenant);
            if *ok != h {
                *n += 2;
            }
        }
    }

    fn payload(&self, now: i64, with_beats: bool) -> Payload {
        let mut p = Payload::new("svc", &self.instance, Some(&self.version));
        if with_beats {
            p = p.sum(
                "heartbeat.beats",
                &[("heartbeat.emitter", "api")],
                self.start_ms,
                now,
                self.beats,
            );
        }
        for ((surface, tenant, ok), n) in &self.sends {
            let mut attrs = vec![
                ("heartbeat.outcome", "message.send"),
                ("surface", *surface),
                ("heartbeat.tenant", *tenant),
                ("heartbeat.result", if *ok { "success" } else { "failure" }),
            ];
            if !ok {
                attrs.push(("heartbeat.reason", "timeout"));
            }
            p = p.sum("heartbeat.outcomes", &attrs, self.start_ms, now, *n);
        }
        p
    }
}

fn healthy(p: &mut Proc, s: i64) -> Option<Vec<u8>> {
    p.beats += 1;
    p.traffic(|_, _| false);
    Some(p.payload(T0 + s * 1000 + 100, true).protobuf())
}

#[tokio::test]
async fn a_frozen_beat_counter_is_a_dead_emitter() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut p = Proc::new("A", "1.0", T0);
        let mut events = run(&watch, &clock, 0..20, |s| healthy(&mut p, s)).await;
        assert!(events.is_empty(), "{events:?}");
        events.extend(
            run(&watch, &clock, 20..30, |s| {
                p.traffic(|_, _| false); // the process still works and exports
                Some(p.payload(T0 + s * 1000 + 100, true).protobuf())
            })
            .await,
        );
        let alert = fired(&events, "api").expect("api fired");
        assert_eq!(alert.classification, Classification::DeadEmitter);
        assert!(
            alert
                .summary
                .contains("stopped beating while its process still exports"),
            "{}",
            alert.summary
        );
        assert_eq!(alert.since_ms, T0 + 20_000);
        assert!(
            alert
                .details
                .iter()
                .any(|d| d.contains("frozen count (20)")),
            "{:?}",
            alert.details
        );
        assert!(
            alert
                .details
                .iter()
                .any(|d| d.starts_with("last beat counts received: 20, 20")),
            "{:?}",
            alert.details
        );
        assert!(fired(&events, "send").is_none());
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn silence_from_the_whole_service_is_a_process_down_that_says_so() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..20, |s| healthy(&mut p, s)).await;
        let events = run(&watch, &clock, 20..30, |_| None).await;
        let alert = fired(&events, "api").expect("api fired");
        // Nothing arrives from the process: it is down, not a dead emitter in a live process.
        assert_eq!(alert.classification, Classification::ProcessDown);
        assert!(
            alert
                .summary
                .contains("is silent: nothing arrives from the service"),
            "{}",
            alert.summary
        );
        assert!(
            alert
                .details
                .iter()
                .any(|d| d.starts_with("nothing at all received from svc since"))
        );
        // No event in the window: the outcome rule breaches on no data (its rate floor holds
        // too, and is listed after it).
        let send = fired(&events, "send").expect("send fired");
        assert_eq!(send.classification, Classification::NoData);
        assert_eq!(send.conditions, ["no_data", "success_rate"]);
        assert!(
            send.details[0].contains("nothing arrives from its emitters any more")
                && send.details[0].contains("from A"),
            "{:?}",
            send.details
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn jumps_then_silence_is_a_lossy_pipeline() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..20, |s| healthy(&mut p, s)).await;
        // Every beat is counted but only every fourth export arrives: the count jumps by 4.
        let mut events = run(&watch, &clock, 20..30, |s| {
            p.beats += 1;
            p.traffic(|_, _| false);
            (s % 4 == 3).then(|| p.payload(T0 + s * 1000 + 100, true).protobuf())
        })
        .await;
        assert!(
            fired(&events, "api").is_none(),
            "8 beats arrived in 2 points: a good window"
        );
        events.extend(run(&watch, &clock, 30..40, |_| None).await);
        let alert = fired(&events, "api").expect("api fired");
        assert_eq!(
            alert.classification,
            Classification::LossyPipeline,
            "{alert:?}"
        );
        assert!(
            alert.actions[0].contains("collector"),
            "{:?}",
            alert.actions
        );
        watch.shutdown().await;
    })
    .await;
}

/// Beats of a delta emitter (the browser build): each export carries the beats counted since
/// the end of the one before.
fn delta_beats(from_ms: i64, to_ms: i64, beats: i64) -> Vec<u8> {
    Payload::new("svc", "A", Some("1.0"))
        .delta(
            "heartbeat.beats",
            &[("heartbeat.emitter", "api")],
            from_ms,
            to_ms,
            beats,
        )
        .protobuf()
}

#[tokio::test]
async fn a_delta_emitter_batching_its_beats_then_silent_is_down_not_lossy() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        // An export every 2 s carrying the 2 beats of its interval, chained end to start: two
        // beats in one export is batching, not loss.
        let mut events = run(&watch, &clock, 0..20, |s| {
            (s % 2 == 1).then(|| delta_beats(T0 + (s - 2) * 1000 + 100, T0 + s * 1000 + 100, 2))
        })
        .await;
        assert!(fired(&events, "api").is_none(), "{events:?}");
        events.extend(run(&watch, &clock, 20..40, |_| None).await);
        let alert = fired(&events, "api").expect("api fired");
        // The page went away (nothing arrives from it at all): down, and not lossy.
        assert_eq!(
            alert.classification,
            Classification::ProcessDown,
            "{alert:?}"
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_delta_emitter_whose_exports_go_missing_is_a_lossy_pipeline() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let interval = |s: i64| (T0 + (s - 1) * 1000 + 100, T0 + s * 1000 + 100);
        let mut events = run(&watch, &clock, 0..20, |s| {
            let (from, to) = interval(s);
            Some(delta_beats(from, to, 1))
        })
        .await;
        assert!(fired(&events, "api").is_none(), "{events:?}");
        // Only every fourth export arrives: each that does starts where a lost one ended.
        events.extend(
            run(&watch, &clock, 20..40, |s| {
                let (from, to) = interval(s);
                (s < 30 && s % 4 == 3).then(|| delta_beats(from, to, 1))
            })
            .await,
        );
        let alert = fired(&events, "api").expect("api fired");
        assert_eq!(
            alert.classification,
            Classification::LossyPipeline,
            "{alert:?}"
        );
        assert!(
            alert
                .details
                .iter()
                .any(|d| d.contains("did not start where the one before ended")),
            "{:?}",
            alert.details
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_new_instance_that_beats_too_little_is_a_restart() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut a = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..20, |s| healthy(&mut a, s)).await;
        // B starts at second 22 and beats only every third second: too little.
        let mut b = Proc::new("B", "1.0", T0 + 22_000);
        let events = run(&watch, &clock, 20..30, |s| {
            (s >= 22 && s % 3 == 1)
                .then(|| healthy(&mut b, s))
                .flatten()
        })
        .await;
        let alert = fired(&events, "api").expect("api fired");
        assert_eq!(alert.classification, Classification::Restart, "{alert:?}");
        assert!(
            alert
                .details
                .iter()
                .any(|d| d == "service.instance.id changed A -> B"),
            "{:?}",
            alert.details
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_emitter_stopped_on_purpose_does_not_page() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..20, |s| healthy(&mut p, s)).await;
        let stop = Payload::new("svc", "A", Some("1.0"))
            .gauge(
                "heartbeat.emitter.status",
                &[("heartbeat.emitter", "api")],
                T0 + 20_100,
                2,
            )
            .protobuf();
        let mut events = second(&watch, &clock, 20, Some(stop)).await;
        events.extend(run(&watch, &clock, 21..50, |_| None).await);
        assert!(fired(&events, "api").is_none(), "{events:?}");
        assert!(fired(&events, "svc-any").is_none(), "{events:?}");
        let view = &watch.snapshot().deadman[0];
        assert_eq!(view.state, RuleState::Stopped);
        assert_eq!(view.status, Some(2));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_failing_gate_pages_with_its_reason() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..20, |s| healthy(&mut p, s)).await;
        let events = run(&watch, &clock, 20..30, |s| {
            p.traffic(|_, _| false);
            Some(
                p.payload(T0 + s * 1000 + 100, true)
                    .gauge(
                        "heartbeat.emitter.status",
                        &[
                            ("heartbeat.emitter", "api"),
                            ("heartbeat.reason", "gate_failed"),
                        ],
                        T0 + s * 1000 + 100,
                        1,
                    )
                    .protobuf(),
            )
        })
        .await;
        let alert = fired(&events, "api").expect("api fired");
        assert_eq!(alert.classification, Classification::Failing);
        assert!(
            alert
                .summary
                .contains("failing its health gate (gate_failed)"),
            "{}",
            alert.summary
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn fire_after_and_resolve_after_hold_whole_windows() {
    bounded(async {
        let rules = RULES.replace(
            "min_beats = 5\n\n[[deadman]]",
            "min_beats = 5\nfire_after = 2\nresolve_after = 2\n\n[[deadman]]",
        );
        let (watch, clock) = manual_watch(&rules).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..10, |s| healthy(&mut p, s)).await;
        let quiet = |p: &mut Proc, s: i64| {
            p.traffic(|_, _| false);
            Some(p.payload(T0 + s * 1000 + 100, true).protobuf())
        };
        let events = run(&watch, &clock, 10..20, |s| quiet(&mut p, s)).await;
        assert!(
            fired(&events, "api").is_none(),
            "one missed window is not enough"
        );
        let events = run(&watch, &clock, 20..30, |s| quiet(&mut p, s)).await;
        assert_eq!(fired(&events, "api").map(|a| a.since_ms), Some(T0 + 10_000));
        let events = run(&watch, &clock, 30..40, |s| healthy(&mut p, s)).await;
        assert!(
            events.iter().all(|a| a.rule != "api"),
            "one good window is not enough"
        );
        let events = run(&watch, &clock, 40..50, |s| healthy(&mut p, s)).await;
        let resolved = events.iter().find(|a| a.rule == "api").expect("resolved");
        assert_eq!(resolved.status, AlertStatus::Resolved);
        // Sliding: 5 beats in the window again at second 35 (beats from 30.1 s on), then held
        // clear for resolve_after - 1 = 1 window.
        assert_eq!(resolved.resolved_ms, Some(T0 + 45_000));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_per_service_rule_sums_every_emitter() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let (mut a, mut b) = (0i64, 0i64);
        let emit = |a: i64, b: i64, s: i64| {
            Payload::new("svc", "A", None)
                .sum(
                    "heartbeat.beats",
                    &[("heartbeat.emitter", "x")],
                    T0,
                    T0 + s * 1000 + 100,
                    a,
                )
                .sum(
                    "heartbeat.beats",
                    &[("heartbeat.emitter", "y")],
                    T0,
                    T0 + s * 1000 + 100,
                    b,
                )
                .protobuf()
        };
        // Each emitter beats every other second: 5 + 5 per window, enough together.
        let events = run(&watch, &clock, 0..20, |s| {
            if s % 2 == 0 {
                a += 1
            } else {
                b += 1
            }
            Some(emit(a, b, s))
        })
        .await;
        assert!(fired(&events, "svc-any").is_none(), "{events:?}");
        // y stops; x alone beats every fourth second: 3 in the window.
        let events = run(&watch, &clock, 20..30, |s| {
            if s % 4 == 0 {
                a += 1
            }
            Some(emit(a, b, s))
        })
        .await;
        assert_eq!(
            fired(&events, "svc-any").map(|a| a.classification),
            Some(Classification::DeadEmitter)
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_outcome_drop_names_the_surface_the_tenants_and_the_deploy() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut a = Proc::new("A", "1.4.2", T0);
        let mut events = run(&watch, &clock, 0..25, |s| healthy(&mut a, s)).await;
        assert!(events.is_empty(), "{events:?}");
        // Second 25: deploy 1.5.0; web sends fail for t1 and t2.
        let mut b = Proc::new("B", "1.5.0", T0 + 25_000);
        events.extend(
            run(&watch, &clock, 25..40, |s| {
                b.beats += 1;
                b.traffic(|surface, tenant| surface == "web" && (tenant == "t1" || tenant == "t2"));
                Some(b.payload(T0 + s * 1000 + 100, true).protobuf())
            })
            .await,
        );
        let alert = fired(&events, "send").expect("send fired");
        assert_eq!(alert.classification, Classification::SuccessRatio);
        assert_eq!(alert.since_ms, T0 + 30_000);
        let surface = &alert.attributes[0];
        assert_eq!(
            (surface.key.as_str(), surface.value.as_str()),
            ("surface", "web")
        );
        let mut tenants: Vec<&str> = alert.tenants.iter().map(|t| t.value.as_str()).collect();
        tenants.sort_unstable();
        assert_eq!(tenants, ["t1", "t2"]);
        assert_eq!(alert.deploys.len(), 1);
        assert_eq!(
            (alert.deploys[0].from.as_str(), alert.deploys[0].to.as_str()),
            ("1.4.2", "1.5.0")
        );
        assert_eq!(alert.deploys[0].before_start_ms, 4_900);
        assert_eq!(
            alert.actions[0],
            "deploy of svc 1.4.2 -> 1.5.0 4.9s before the drop; roll back to 1.4.2"
        );
        assert!(
            alert
                .details
                .iter()
                .any(|d| d == "failure reasons: timeout 100%"),
            "{:?}",
            alert.details
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_sla_ledger_records_downtime_and_the_report_shows_it() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..20, |s| healthy(&mut p, s)).await;
        let events = run(&watch, &clock, 20..40, |s| {
            p.beats += 1;
            p.traffic(|surface, _| surface == "web");
            Some(p.payload(T0 + s * 1000 + 100, true).protobuf())
        })
        .await;
        let alert = fired(&events, "send").expect("send fired");
        let report = watch
            .report(Month {
                year: 2026,
                month: 11,
            })
            .unwrap();
        let core = &report.slas[0];
        assert_eq!(core.name, "core");
        assert_eq!(core.slot_ms, 60_000);
        assert_eq!(core.down, 1, "minute 0 of the month is down");
        assert_eq!(core.downtime[0].alerts, vec![alert.id.clone()]);
        let md = report.to_markdown();
        assert!(md.contains("## core"), "{md}");
        assert!(md.contains("| downtime | 1 minutes |"), "{md}");
        let view = &watch.snapshot().sla[0];
        assert!(view.down_now);
        // The HTTP endpoint serves the same report.
        let body = support::client()
            .get(format!(
                "http://{}/api/sla/report?month=2026-11&format=markdown",
                watch.http_addr()
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, md);
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn state_survives_a_restart_of_the_watch() {
    bounded(async {
        let path = support::temp_path("restart");
        let (watch, clock) = manual_watch_with(RULES, Database::File(path.clone())).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..20, |s| healthy(&mut p, s)).await;
        let events = run(&watch, &clock, 20..30, |_| None).await;
        let first = fired(&events, "api").expect("api fired").clone();
        watch.shutdown().await;

        let (watch, clock) = manual_watch_with(RULES, Database::File(path.clone())).await;
        clock.set_ms(T0 + 30_000);
        let snapshot = watch.snapshot();
        assert!(
            snapshot.open_alerts.iter().any(|a| a.id == first.id),
            "restored open alert"
        );
        // Still silent: the alert stays open and is not sent again.
        let events = run(&watch, &clock, 30..50, |_| None).await;
        assert!(fired(&events, "api").is_none(), "{events:?}");
        // Beats again: it resolves, with the id it fired with.
        let mut p = Proc::new("C", "1.0", T0 + 50_000);
        let events = run(&watch, &clock, 50..60, |s| healthy(&mut p, s)).await;
        let resolved = events.iter().find(|a| a.rule == "api").expect("resolved");
        assert_eq!(
            (resolved.id.as_str(), resolved.status),
            (first.id.as_str(), AlertStatus::Resolved)
        );
        let report = watch
            .report(Month {
                year: 2026,
                month: 11,
            })
            .unwrap();
        assert!(report.alerts.iter().any(|a| a.id == first.id));
        assert!(
            report.slas[0].down >= 1,
            "the ledger of the first run is still there"
        );
        watch.shutdown().await;
        let _ = std::fs::remove_file(&path);
    })
    .await;
}

#[tokio::test]
async fn a_drop_below_the_seasonal_baseline_fires_an_anomaly() {
    bounded(async {
        let rules = r#"
[watch]
tick = "1m"

[[outcome]]
name = "send"
outcome = "message.send"
window = "1m"
anomaly = { season = "1h", sensitivity = 3.0, min_history = "3h" }
"#;
        let (watch, clock) = manual_watch(rules).await;
        let mut total = 0i64;
        let mut events = Vec::new();
        // Four hours of an hourly pattern, then half the traffic.
        for minute in 0..250i64 {
            let phase = (minute % 60) as f64 / 60.0 * std::f64::consts::TAU;
            let mut per_minute = 600.0 + 300.0 * phase.sin() + ((minute * 7919) % 13) as f64;
            if minute >= 245 {
                per_minute *= 0.5;
            }
            total += per_minute as i64;
            clock.set_ms(T0 + minute * 60_000 + 30_000);
            let body = Payload::new("svc", "A", None)
                .sum(
                    "heartbeat.outcomes",
                    &[
                        ("heartbeat.outcome", "message.send"),
                        ("heartbeat.result", "success"),
                    ],
                    T0,
                    T0 + minute * 60_000 + 30_000,
                    total,
                )
                .protobuf();
            assert_eq!(post(&watch, body).await, 200);
            clock.set_ms(T0 + (minute + 1) * 60_000);
            let fired: Vec<Alert> = watch.tick().await;
            for a in fired {
                events.push((minute, a));
            }
        }
        let firing: Vec<&(i64, Alert)> = events
            .iter()
            .filter(|(_, a)| a.status == AlertStatus::Firing)
            .collect();
        assert_eq!(firing.len(), 1, "{firing:?}");
        let (minute, alert) = firing[0];
        assert_eq!(
            *minute, 245,
            "fires at the first halved minute and not before"
        );
        assert_eq!(alert.classification, Classification::Anomaly);
        assert!(
            alert.details[0].contains("below the seasonal baseline"),
            "{:?}",
            alert.details
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn alerts_reach_webhooks_in_both_formats_and_the_command_hook() {
    use std::sync::{Arc, Mutex};
    bounded(async {
        // A webhook receiver keeping every body.
        let bodies: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let b = Arc::clone(&bodies);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let b = Arc::clone(&b);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let b = Arc::clone(&b);
                            async move {
                                use http_body_util::BodyExt;
                                let path = req.uri().path().to_owned();
                                let bytes = req.into_body().collect().await.unwrap().to_bytes();
                                b.lock()
                                    .unwrap()
                                    .push((path, serde_json::from_slice(&bytes).unwrap()));
                                Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                    http_body_util::Full::new(bytes::Bytes::from_static(b"")),
                                ))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        let out = support::temp_path("hook").with_extension("json");
        let rules = format!(
            r#"{RULES}
[[alert]]
name = "generic"
webhook = "http://{addr}/generic"

[[alert]]
name = "am-api"
webhook = "http://{addr}/api/v2/alerts"
format = "alertmanager"

[[alert]]
name = "am-webhook"
webhook = "http://{addr}/hook"
format = "alertmanager"

[[alert]]
name = "command"
command = ["sh", "-c", "cat > {}"]
"#,
            out.display()
        );
        let (watch, clock) = manual_watch(&rules).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..20, |s| healthy(&mut p, s)).await;
        let events = run(&watch, &clock, 20..30, |s| {
            p.traffic(|_, _| false);
            Some(p.payload(T0 + s * 1000 + 100, true).protobuf())
        })
        .await;
        assert!(fired(&events, "api").is_some());
        for _ in 0..200 {
            if watch.deliveries().0 >= 8 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // Two alerts (api, and svc-any over the same beats), four sinks each.
        assert_eq!(watch.deliveries(), (8, 0, 0));
        let bodies = bodies.lock().unwrap().clone();
        let by_path = |p: &str| {
            bodies
                .iter()
                .find(|(path, b)| {
                    let text = b.to_string();
                    path == p
                        && (text.contains("\"rule\":\"api\"")
                            || text.contains("\"heartbeat_rule\":\"api\""))
                })
                .map(|(_, b)| b.clone())
                .unwrap()
        };
        let generic = by_path("/generic");
        assert_eq!(generic["rule"], "api");
        assert_eq!(generic["classification"], "dead_emitter");
        assert_eq!(generic["status"], "firing");
        let api = by_path("/api/v2/alerts");
        assert_eq!(api[0]["labels"]["alertname"], "HeartbeatApi");
        assert_eq!(api[0]["labels"]["classification"], "dead_emitter");
        assert_eq!(api[0]["startsAt"], "2026-11-02T00:00:20.000Z");
        let hook = by_path("/hook");
        assert_eq!(hook["version"], "4");
        assert_eq!(hook["status"], "firing");
        assert_eq!(hook["receiver"], "am-webhook");
        assert_eq!(hook["alerts"][0]["labels"]["heartbeat_rule"], "api");
        let from_command: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(from_command["kind"], "deadman");
        assert_eq!(from_command["classification"], "dead_emitter");
        let _ = std::fs::remove_file(&out);
        server.abort();
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_failing_webhook_is_retried_without_holding_up_the_judge() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    bounded(async {
        let hits = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let h = Arc::clone(&hits);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let h = Arc::clone(&h);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |_req: hyper::Request<hyper::body::Incoming>| {
                            h.fetch_add(1, Ordering::SeqCst);
                            async move {
                                let mut r = hyper::Response::new(http_body_util::Full::new(
                                    bytes::Bytes::from_static(b"down"),
                                ));
                                *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                                Ok::<_, std::convert::Infallible>(r)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        let rules = format!("{RULES}\n[[alert]]\nname = \"down\"\nwebhook = \"http://{addr}/\"\n");
        let (watch, clock) = manual_watch(&rules).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..20, |s| healthy(&mut p, s)).await;
        // The judge keeps ticking while the deliveries fail and retry.
        let events = run(&watch, &clock, 20..40, |_| None).await;
        assert!(fired(&events, "api").is_some());
        for _ in 0..400 {
            if watch.deliveries().1 >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // Three alerts fired (api, svc-any, send), each tried once so far; nothing is dropped:
        // the events stay in the outbox and are retried with backoff for max_delivery_age.
        let (delivered, failed, given_up) = watch.deliveries();
        assert_eq!((delivered, given_up), (0, 0));
        assert!(failed >= 3, "{failed}");
        // Minutes later (the watch's clock), every event has been tried again.
        let before = hits.load(Ordering::SeqCst);
        clock.set_ms(T0 + 240_000);
        for _ in 0..400 {
            if hits.load(Ordering::SeqCst) >= before + 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(hits.load(Ordering::SeqCst) >= before + 3, "retried");
        assert_eq!(watch.deliveries().2, 0, "nothing given up within a day");
        server.abort();
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn replicas_beating_side_by_side_are_not_restarts() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let (mut a, mut b) = (Proc::new("A", "1.0", T0), Proc::new("B", "1.0", T0));
        run(&watch, &clock, 0..20, |s| {
            let p = if s % 2 == 0 { &mut a } else { &mut b };
            healthy(p, s)
        })
        .await;
        // Both replicas freeze: a dead emitter, not a restart.
        let events = run(&watch, &clock, 20..30, |s| {
            let p = if s % 2 == 0 { &mut a } else { &mut b };
            p.traffic(|_, _| false);
            Some(p.payload(T0 + s * 1000 + 100, true).protobuf())
        })
        .await;
        let alert = fired(&events, "api").expect("api fired");
        assert_eq!(
            alert.classification,
            Classification::DeadEmitter,
            "{alert:?}"
        );
        watch.shutdown().await;
    })
    .await;
}
