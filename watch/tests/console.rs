//! The console's and the status page's endpoints, through the real HTTP port with a manual
//! clock: the window in progress and the partial first window (totals and drill-down agree),
//! the history the charts draw (band, deploys, firing periods, the split by tenant), the event
//! stream, the token cookie, the status page going down and back without naming a tenant, and
//! bad parameters answered with a 400 naming them. The pages themselves are tested in
//! Chromium (watch/console-tests, scripts/test-console.sh).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use heartbeat_watch::{Database, ManualClock, RuleFile, Watch};
use serde_json::Value;
use support::{Payload, T0, bounded, client, post};

const RULES: &str = r#"
[watch]
tick = "1s"

[[deadman]]
name = "api"
service = "svc"
emitter = "api"
window = "10s"
min_beats = 5

[[outcome]]
name = "send"
outcome = "message.send"
service = "svc"
window = "10s"
min_success_ratio = 0.9

[[sla]]
name = "messaging"
signals = ["send"]
objective = 0.999

[status_page]
title = "Acme Messenger"
"#;

const TENANTS: [&str; 3] = ["tenant-red", "tenant-green", "tenant-blue"];

/// A process's cumulative counters: per tenant, successes and failures.
struct Proc {
    version: &'static str,
    beats: i64,
    counts: Vec<(&'static str, i64, i64)>,
}

impl Proc {
    fn new(version: &'static str) -> Self {
        Self {
            version,
            beats: 0,
            counts: TENANTS.iter().map(|t| (*t, 0, 0)).collect(),
        }
    }

    /// One second: 3 successes per tenant, or 3 failures for the tenants `hurt` names.
    fn second(&mut self, now_ms: i64, hurt: &[&str]) -> Vec<u8> {
        self.beats += 1;
        for (tenant, s, f) in &mut self.counts {
            if hurt.contains(tenant) {
                *f += 3;
            } else {
                *s += 3;
            }
        }
        let mut p = Payload::new("svc", &format!("svc-{}", self.version), Some(self.version)).sum(
            "heartbeat.beats",
            &[("heartbeat.emitter", "api")],
            T0,
            now_ms,
            self.beats,
        );
        for (tenant, s, f) in &self.counts {
            for (result, n) in [("success", *s), ("failure", *f)] {
                let mut attrs = vec![
                    ("heartbeat.outcome", "message.send"),
                    ("surface", "web"),
                    ("heartbeat.tenant", *tenant),
                    ("heartbeat.result", result),
                ];
                if result == "failure" {
                    attrs.push(("heartbeat.reason", "timeout"));
                }
                p = p.sum("heartbeat.outcomes", &attrs, T0, now_ms, n);
            }
        }
        p.protobuf()
    }
}

async fn start(rules: &str, at_ms: i64, token: Option<&str>) -> (Watch, ManualClock) {
    start_with(rules, at_ms, token, Database::InMemory).await
}

async fn start_with(
    rules: &str,
    at_ms: i64,
    token: Option<&str>,
    database: Database,
) -> (Watch, ManualClock) {
    let clock = ManualClock::at_ms(at_ms);
    let rules: RuleFile = rules.parse().unwrap();
    let watch = Watch::builder(rules)
        .with_clock(Arc::new(clock.clone()))
        .with_database(database)
        .with_listen("127.0.0.1:0".parse().unwrap())
        .with_grpc_listen(None)
        .with_auto_tick(false)
        .with_token(token.map(str::to_owned))
        .start()
        .await
        .unwrap();
    (watch, clock)
}

async fn get(watch: &Watch, path: &str) -> (u16, Value) {
    let r = client()
        .get(format!("http://{}{path}", watch.http_addr()))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap_or(Value::Null),
    )
}

/// Sends one second of traffic at `T0 + s` seconds, then ticks.
async fn second(watch: &Watch, clock: &ManualClock, p: &mut Proc, s: i64, hurt: &[&str]) {
    clock.set_ms(T0 + s * 1000);
    assert_eq!(post(watch, p.second(T0 + s * 1000 + 100, hurt)).await, 200);
    clock.set_ms(T0 + s * 1000 + 500);
    watch.tick().await;
}

fn tenant_sum(by: &Value, field: &str) -> f64 {
    by.as_array()
        .unwrap()
        .iter()
        .filter(|d| d["key"] == "heartbeat.tenant")
        .map(|d| d[field].as_f64().unwrap())
        .sum()
}

#[tokio::test]
async fn the_first_window_and_the_window_in_progress_agree_with_their_drill_down() {
    bounded(async {
        // Started 4 s into a 10 s window: that window is partial, shown and not judged.
        let (watch, clock) = start(RULES, T0 + 4_000, None).await;
        let mut p = Proc::new("1.0");
        for s in 4..8 {
            second(&watch, &clock, &mut p, s, &[]).await;
        }
        let (_, state) = get(&watch, "/api/state").await;
        let send = &state["outcomes"][0];
        let partial = &send["partial"];
        assert!(partial["successes"].as_f64().unwrap() > 0.0, "{partial}");
        assert_eq!(
            partial["successes"].as_f64().unwrap(),
            tenant_sum(&partial["by_attribute"], "successes"),
            "the window in progress: totals and drill-down differ: {partial}"
        );
        for s in 8..12 {
            second(&watch, &clock, &mut p, s, &[]).await;
        }
        let (_, state) = get(&watch, "/api/state").await;
        let send = &state["outcomes"][0];
        assert_eq!(send["last_window_partial"], true, "{send}");
        assert_eq!(
            send["state"], "warming",
            "the partial window is not judged: {send}"
        );
        assert!(send["successes"].as_f64().unwrap() > 0.0, "{send}");
        assert_eq!(
            send["successes"].as_f64().unwrap(),
            tenant_sum(&send["by_attribute"], "successes"),
            "the last closed window: totals and drill-down differ: {send}"
        );
        assert_eq!(send["window_start_ms"], T0, "{send}");
    })
    .await;
}

#[tokio::test]
async fn history_draws_windows_deploys_firing_and_the_split_by_tenant() {
    bounded(async {
        let (watch, clock) = start(RULES, T0, None).await;
        let mut p = Proc::new("1.0");
        for s in 0..30 {
            second(&watch, &clock, &mut p, s, &[]).await;
        }
        // A deploy, after which one tenant's sends fail.
        let mut q = Proc::new("2.0");
        for s in 30..61 {
            second(&watch, &clock, &mut q, s, &["tenant-red"]).await;
        }
        let (code, h) = get(&watch, "/api/history?rule=send&range=1m&by=tenant").await;
        assert_eq!(code, 200, "{h}");
        assert_eq!(h["kind"], "outcome");
        assert_eq!(h["window_ms"], 10_000);
        let t = h["t"].as_array().unwrap();
        assert_eq!(t.len(), 6, "{h}");
        assert_eq!(t[0], T0);
        // Every closed window is there: 30 successes a second before the deploy, 20 after
        // (the new process's counters start at 0: its first export is not an increase).
        let succ: Vec<f64> = h["successes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(succ[1], 90.0, "{succ:?}");
        assert!(succ[4] < succ[1], "{succ:?}");
        let fail4 = h["failures"][4].as_f64().unwrap();
        assert_eq!(fail4, 30.0, "{h}");
        assert_eq!(h["thresholds"]["min_success_ratio"], 0.9);
        let deploys = h["deploys"].as_array().unwrap();
        assert!(
            deploys
                .iter()
                .any(|d| d["version"] == "2.0" && d["previous"] == "1.0"),
            "{deploys:?}"
        );
        let firing = h["firing"].as_array().unwrap();
        assert_eq!(firing.len(), 1, "{firing:?}");
        assert!(firing[0]["to_ms"].is_null(), "still firing: {firing:?}");
        let groups = h["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 3, "{groups:?}");
        assert_eq!(groups[0]["key"], "tenant-red", "{groups:?}");
        assert_eq!(groups[0]["share_of_drop"], 1.0);
        // Usually fine (the deploy's first failures arrive in the tick that closes the window
        // before it), failing now.
        assert!(
            groups[0]["usual_ratio"].as_f64().unwrap() > 0.95,
            "{groups:?}"
        );
        assert_eq!(groups[0]["today_ratio"], 0.0);
        assert_eq!(groups[1]["share_of_drop"], 0.0);
        // The per-tenant counts add up to the totals, window by window.
        for i in 0..t.len() {
            let sum: f64 = groups
                .iter()
                .map(|g| g["successes"][i].as_f64().unwrap_or(0.0))
                .sum();
            assert_eq!(sum, succ[i], "window {i}");
        }
        // One tenant's windows.
        let (code, red) = get(&watch, "/api/history?rule=send&range=1m&tenant=tenant-red").await;
        assert_eq!(code, 200, "{red}");
        assert_eq!(red["tenant"], "tenant-red");
        assert_eq!(red["successes"][1], 30.0, "{red}");
        assert_eq!(red["failures"][4], 30.0, "{red}");
        // The dead-man rule: each emitter's beats per window.
        let (code, d) = get(&watch, "/api/history?rule=api&range=1m").await;
        assert_eq!(code, 200, "{d}");
        assert_eq!(d["kind"], "deadman");
        let e = &d["emitters"][0];
        assert_eq!(e["emitter"], "api");
        assert_eq!(e["beats"][1], 10.0, "{e}");
    })
    .await;
}

#[tokio::test]
async fn bad_parameters_are_answered_with_a_400_that_names_them() {
    bounded(async {
        let (watch, _clock) = start(RULES, T0, None).await;
        for (path, code, names) in [
            ("/api/history?rule=send&range=banana", 400, "banana"),
            ("/api/history?rule=send&range=30d", 400, "30d"),
            ("/api/history?rule=send&by=%3Cscript%3E", 400, "<script>"),
            ("/api/history?rule=nope", 404, "nope"),
            ("/api/history?range=1h", 400, "rule"),
            ("/api/history?rule=send&rnage=1h", 400, "rnage"),
            ("/api/history?rule=%zz", 400, "%zz"),
            ("/api/history?rule=send&tenant=", 400, "tenant"),
            ("/api/history?rule=send&tenant=a%0Ab", 400, r"a\nb"),
            ("/api/sla/burn?sla=messaging&month=2026-13", 400, "2026-13"),
            ("/api/sla/burn?sla=billing", 404, "billing"),
        ] {
            let (got, body) = get(&watch, path).await;
            assert_eq!(got, code, "{path}: {body}");
            let message = body["message"].as_str().unwrap_or_default();
            assert!(message.contains(names), "{path}: {message}");
        }
        let (code, burn) = get(&watch, "/api/sla/burn?sla=messaging").await;
        assert_eq!(code, 200, "{burn}");
        assert_eq!(burn["objective"], 0.999);
    })
    .await;
}

#[tokio::test]
async fn the_event_stream_sends_the_state_after_every_tick() {
    bounded(async {
        let (watch, clock) = start(RULES, T0, None).await;
        let mut p = Proc::new("1.0");
        second(&watch, &clock, &mut p, 0, &[]).await;
        let mut r = client()
            .get(format!("http://{}/api/events", watch.http_addr()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let mut text = String::new();
        let events = |text: &str| text.matches("event: state\ndata: ").count();
        while events(&text) < 1 {
            text.push_str(&String::from_utf8_lossy(&r.chunk().await.unwrap().unwrap()));
        }
        for s in 1..3 {
            second(&watch, &clock, &mut p, s, &[]).await;
            while events(&text) < usize::try_from(s + 1).unwrap() {
                let chunk = tokio::time::timeout(Duration::from_secs(10), r.chunk())
                    .await
                    .expect("no event within 10 s of a tick")
                    .unwrap()
                    .unwrap();
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
        }
        let last = text
            .rsplit("data: ")
            .next()
            .unwrap()
            .split("\n\n")
            .next()
            .unwrap();
        let state: Value = serde_json::from_str(last).unwrap();
        assert_eq!(state["now_ms"], T0 + 2_500, "the latest tick's state");
    })
    .await;
}

#[tokio::test]
async fn with_a_token_the_console_trades_it_for_a_cookie() {
    bounded(async {
        let (watch, _clock) = start(RULES, T0, Some("s3cret; x")).await;
        let base = format!("http://{}", watch.http_addr());
        let c = client();
        // The page itself is public (it holds no data); its data is not.
        let page = c.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let csp = page.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(
            c.get(format!("{base}/api/history?rule=send"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        let wrong = c
            .post(format!("{base}/api/login"))
            .body("token=nope")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        assert!(wrong.headers().get("set-cookie").is_none());
        let ok = c
            .post(format!("{base}/api/login"))
            .body("token=s3cret%3B+x")
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 204);
        let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let pair = cookie.split(';').next().unwrap().to_owned();
        let with = |path: &str| {
            c.get(format!("{base}{path}"))
                .header("cookie", pair.clone())
        };
        assert_eq!(
            with("/api/history?rule=send")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(with("/api/state").send().await.unwrap().status(), 200);
        // Exports need the bearer token itself: a browser's cookie never counts there.
        let export = c
            .post(format!("{base}/v1/metrics"))
            .header("cookie", pair.clone())
            .header("content-type", "application/x-protobuf")
            .body(Vec::new())
            .send()
            .await
            .unwrap();
        assert_eq!(export.status(), 401);
        // The status page needs no token.
        assert_eq!(
            c.get(format!("{base}/status.json"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    })
    .await;
}

#[tokio::test]
async fn the_status_page_goes_down_and_back_and_never_names_a_tenant() {
    bounded(async {
        let (watch, clock) = start(RULES, T0, None).await;
        let mut p = Proc::new("1.0");
        let raw = |watch: &Watch| {
            let url = format!("http://{}/status.json", watch.http_addr());
            async move {
                client()
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            }
        };
        for s in 0..25 {
            second(&watch, &clock, &mut p, s, &[]).await;
        }
        let up: Value = serde_json::from_str(&raw(&watch).await).unwrap();
        assert_eq!(up["page"]["name"], "Acme Messenger");
        assert_eq!(up["status"]["indicator"], "none", "{up}");
        assert_eq!(up["components"][0]["id"], "messaging");
        assert_eq!(up["components"][0]["status"], "operational");
        let days = up["components"][0]["uptime_90d"].as_array().unwrap();
        assert_eq!(days.len(), 90);
        assert_eq!(days[89]["uptime"], 1.0, "today: {:?}", days[89]);
        for s in 25..45 {
            second(&watch, &clock, &mut p, s, &["tenant-red", "tenant-green"]).await;
        }
        let text = raw(&watch).await;
        let down: Value = serde_json::from_str(&text).unwrap();
        assert_ne!(down["components"][0]["status"], "operational", "{down}");
        assert_ne!(down["status"]["indicator"], "none", "{down}");
        let incident = &down["incidents"][0];
        assert_eq!(incident["status"], "investigating", "{down}");
        assert_eq!(incident["components"][0], "messaging");
        for s in 45..75 {
            second(&watch, &clock, &mut p, s, &[]).await;
        }
        let text2 = raw(&watch).await;
        let back: Value = serde_json::from_str(&text2).unwrap();
        assert_eq!(back["components"][0]["status"], "operational", "{back}");
        assert_eq!(back["incidents"][0]["status"], "resolved", "{back}");
        assert!(back["incidents"][0]["resolved_at"].is_string());
        let today = &back["components"][0]["uptime_90d"][89]["uptime"];
        assert!(today.as_f64().unwrap() < 1.0, "the outage counts: {today}");
        // Never a tenant, an attribute value, a reason or an alert's own text.
        for t in [&text, &text2] {
            for secret in TENANTS
                .iter()
                .copied()
                .chain(["web", "timeout", "success ratio"])
            {
                assert!(!t.contains(secret), "status.json names {secret:?}: {t}");
            }
        }
        let page = client()
            .get(format!("http://{}/status", watch.http_addr()))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(
            page.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    })
    .await;
}

#[tokio::test]
async fn without_a_status_page_section_there_is_no_status_page() {
    bounded(async {
        let rules = RULES.replace("[status_page]\ntitle = \"Acme Messenger\"\n", "");
        let (watch, _clock) = start(&rules, T0, None).await;
        let (code, body) = get(&watch, "/status.json").await;
        assert_eq!(code, 404);
        assert!(body["message"].as_str().unwrap().contains("[status_page]"));
    })
    .await;
}

#[tokio::test]
async fn the_first_count_example_shows_a_count_at_once() {
    bounded(async {
        // The README's "first count in two minutes" rule file, as shipped.
        let rules = include_str!("../examples/first-count.toml");
        let (watch, clock) = start(rules, T0 + 3_000, None).await;
        // The emitter's first export (its counts from before the watch started) is the base;
        // the second one's increase is the first count.
        for (at, sends, beats) in [(T0 + 3_200, 7, 2), (T0 + 3_700, 12, 3)] {
            let p = Payload::new("my-service", "i-1", Some("1.0"))
                .sum(
                    "heartbeat.outcomes",
                    &[
                        ("heartbeat.outcome", "message.send"),
                        ("heartbeat.result", "success"),
                    ],
                    T0,
                    at,
                    sends,
                )
                .sum(
                    "heartbeat.beats",
                    &[("heartbeat.emitter", "api")],
                    T0,
                    at,
                    beats,
                );
            clock.set_ms(at);
            assert_eq!(post(&watch, p.protobuf()).await, 200);
        }
        clock.set_ms(T0 + 4_000);
        watch.tick().await;
        let (_, state) = get(&watch, "/api/state").await;
        let send = &state["outcomes"][0];
        assert_eq!(send["rule"], "message-send");
        assert_eq!(send["partial"]["successes"], 5.0, "{send}");
        let (code, status) = get(&watch, "/status.json").await;
        assert_eq!(code, 200);
        assert_eq!(status["page"]["name"], "My service");
    })
    .await;
}

#[tokio::test]
async fn a_file_database_is_read_through_the_consoles_own_connection() {
    bounded(async {
        // The console reads a file database through a second, read-only connection: what the
        // judge committed is there, and the judge's writes go on beside the reads.
        let path = support::temp_path("console-reader.db");
        let (watch, clock) = start_with(RULES, T0, None, Database::File(path.clone())).await;
        let mut p = Proc::new("1.0");
        for s in 0..21 {
            second(&watch, &clock, &mut p, s, &[]).await;
        }
        let (code, h) = get(&watch, "/api/history?rule=send&range=20s").await;
        assert_eq!(code, 200, "{h}");
        // 9 a second; the first window also holds the point that arrives in the tick closing
        // it (see the history test).
        assert_eq!(h["successes"][0], 99.0, "{h}");
        assert_eq!(h["successes"][1], 90.0, "{h}");
        let (code, burn) = get(&watch, "/api/sla/burn?sla=messaging").await;
        assert_eq!(code, 200, "{burn}");
        let (code, status) = get(&watch, "/status.json").await;
        assert_eq!(code, 200, "{status}");
        assert_eq!(
            status["components"][0]["uptime_90d"][89]["uptime"], 1.0,
            "{status}"
        );
        watch.shutdown().await;
        for suffix in ["", "-wal", "-shm"] {
            let mut f = path.clone().into_os_string();
            f.push(suffix);
            let _ = std::fs::remove_file(f);
        }
    })
    .await;
}
