//! Silence is never green, driven through the real receiver with a manual clock: an outcome
//! that stops arriving (process gone, or code path no longer reached) pages `no_data` and is
//! SLA downtime; a firing alert is not resolved by silence; a rule that never matched is
//! `no_data`, never ok; a graceful stop must be followed by a start; a stop survives a restart;
//! `max_silence` pages at its deadline; a killed process is `process_down`; slots the watch
//! cannot vouch for are unknown. Minutes of windows run in milliseconds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use heartbeat_watch::{
    Alert, AlertStatus, Classification, Database, ManualClock, Month, RuleState, Watch,
};
use support::{Payload, T0, bounded, fired, manual_watch, manual_watch_with, run, second};

const RULES: &str = r#"
[watch]
tick = "1s"

[[deadman]]
name = "api"
service = "svc"
emitter = "api"
window = "10s"
min_beats = 5
stop_grace = "30s"

[[outcome]]
name = "deliver"
outcome = "reply.deliver"
service = "svc"
window = "10s"
min_success_ratio = 0.9

[[sla]]
name = "core"
signals = ["deliver"]
objective = 0.999
"#;

/// One process: cumulative counters as an SDK exports them.
#[derive(Debug, Clone)]
struct Proc {
    instance: String,
    version: String,
    start_ms: i64,
    beats: i64,
    ok: i64,
    failed: i64,
}

impl Proc {
    fn new(instance: &str, version: &str, start_ms: i64) -> Self {
        Self {
            instance: instance.into(),
            version: version.into(),
            start_ms,
            beats: 0,
            ok: 0,
            failed: 0,
        }
    }

    fn payload(&self, now: i64) -> Payload {
        Payload::new("svc", &self.instance, Some(&self.version))
            .sum(
                "heartbeat.beats",
                &[("heartbeat.emitter", "api")],
                self.start_ms,
                now,
                self.beats,
            )
            .sum(
                "heartbeat.outcomes",
                &[
                    ("heartbeat.outcome", "reply.deliver"),
                    ("heartbeat.result", "success"),
                ],
                self.start_ms,
                now,
                self.ok,
            )
            .sum(
                "heartbeat.outcomes",
                &[
                    ("heartbeat.outcome", "reply.deliver"),
                    ("heartbeat.result", "failure"),
                    ("heartbeat.reason", "timeout"),
                ],
                self.start_ms,
                now,
                self.failed,
            )
    }

    /// One healthy second: a beat and 5 deliveries.
    fn healthy(&mut self, s: i64) -> Option<Vec<u8>> {
        self.beats += 1;
        self.ok += 5;
        Some(self.payload(at(s)).protobuf())
    }

    /// A second in which the process beats but delivers nothing: the counts freeze.
    fn silent_path(&mut self, s: i64) -> Option<Vec<u8>> {
        self.beats += 1;
        Some(self.payload(at(s)).protobuf())
    }

    /// A graceful stop: status 2.
    fn stop(&self, s: i64) -> Option<Vec<u8>> {
        Some(
            self.payload(at(s))
                .gauge(
                    "heartbeat.emitter.status",
                    &[("heartbeat.emitter", "api")],
                    at(s),
                    2,
                )
                .protobuf(),
        )
    }
}

/// When second `s`'s export is sent.
fn at(s: i64) -> i64 {
    T0 + s * 1000 + 100
}

fn resolved<'a>(events: &'a [Alert], rule: &str) -> Option<&'a Alert> {
    events
        .iter()
        .find(|a| a.rule == rule && a.status == AlertStatus::Resolved)
}

/// A watch started at `ms` (a restart happens at its own time, not at `T0`).
async fn start_at(rules: &str, database: Database, ms: i64) -> (Watch, ManualClock) {
    let clock = ManualClock::at_ms(ms);
    let rules: heartbeat_watch::RuleFile = rules.parse().unwrap();
    let watch = Watch::builder(rules)
        .with_clock(std::sync::Arc::new(clock.clone()))
        .with_database(database)
        .with_listen("127.0.0.1:0".parse().unwrap())
        .with_grpc_listen(None)
        .with_auto_tick(false)
        .start()
        .await
        .unwrap();
    (watch, clock)
}

const NOVEMBER: Month = Month {
    year: 2026,
    month: 11,
};

#[tokio::test]
async fn an_outcome_whose_process_is_killed_pages_no_data_and_the_sla_counts_it() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut p = Proc::new("A", "1.0", T0);
        let events = run(&watch, &clock, 0..30, |s| p.healthy(s)).await;
        assert!(events.is_empty(), "{events:?}");
        let events = run(&watch, &clock, 30..50, |_| None).await;
        let alert = fired(&events, "deliver").expect("deliver fired on no data");
        assert_eq!(alert.classification, Classification::NoData);
        assert_eq!(alert.since_ms, T0 + 30_000, "the first window without data");
        assert!(
            alert.details[0].contains("no reply.deliver event in 10s")
                && alert.details[0].contains("nothing arrives from its emitters any more")
                && alert.details[0].contains("from A"),
            "{:?}",
            alert.details
        );
        // The dead-man rule sees the same death: nothing arrives from the process.
        assert_eq!(
            fired(&events, "api").map(|a| a.classification),
            Some(Classification::ProcessDown)
        );
        let sla = &watch.snapshot().sla[0];
        assert!(sla.down_now, "{sla:?}");
        assert!(sla.availability < 1.0, "{sla:?}");
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_outcome_whose_code_path_goes_silent_pages_no_data_with_frozen_counts() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..30, |s| p.healthy(s)).await;
        let events = run(&watch, &clock, 30..50, |s| p.silent_path(s)).await;
        let alert = fired(&events, "deliver").expect("deliver fired");
        assert_eq!(alert.classification, Classification::NoData);
        assert!(
            alert.details[0]
                .contains("points still arrive from A with frozen counts: the process runs"),
            "{:?}",
            alert.details
        );
        // The process beats: the dead-man rule is quiet; only the outcome tells.
        assert!(fired(&events, "api").is_none(), "{events:?}");
        let view = &watch.snapshot().outcomes[0];
        assert_eq!(view.state, RuleState::Firing);
        assert_eq!(view.classification, Some(Classification::NoData));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_firing_ratio_alert_is_not_resolved_by_silence_it_becomes_no_data() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..20, |s| p.healthy(s)).await;
        let events = run(&watch, &clock, 20..30, |s| {
            p.beats += 1;
            p.ok += 1;
            p.failed += 4;
            Some(p.payload(at(s)).protobuf())
        })
        .await;
        let alert = fired(&events, "deliver").expect("ratio fired");
        assert_eq!(alert.classification, Classification::SuccessRatio);
        // The process dies: two windows without data. Before, they counted as good and the
        // alert went out resolved on the tick the dead-man fired.
        let events = run(&watch, &clock, 30..60, |_| None).await;
        assert!(resolved(&events, "deliver").is_none(), "{events:?}");
        let open = watch.snapshot().open_alerts;
        let still = open
            .iter()
            .find(|a| a.rule == "deliver")
            .expect("still open");
        assert_eq!(still.id, alert.id, "the same alert, not a new one");
        assert_eq!(still.classification, Classification::NoData);
        assert!(
            still
                .details
                .iter()
                .any(|d| d
                    .contains("(the alert fired as success_ratio; silence does not resolve it)")),
            "{:?}",
            still.details
        );
        // Traffic comes back healthy: now it resolves.
        let mut b = Proc::new("B", "1.0", T0 + 60_000);
        let events = run(&watch, &clock, 60..80, |s| b.healthy(s)).await;
        assert!(resolved(&events, "deliver").is_some(), "{events:?}");
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_rule_that_never_matched_is_no_data_never_ok_and_says_what_is_sent() {
    bounded(async {
        // A typo: "reply.delivr" is never sent.
        let rules = RULES.replace("outcome = \"reply.deliver\"", "outcome = \"reply.delivr\"");
        let (watch, clock) = manual_watch(&rules).await;
        let mut p = Proc::new("A", "1.0", T0);
        let events = run(&watch, &clock, 0..9, |s| p.healthy(s)).await;
        assert!(events.is_empty());
        assert_eq!(watch.snapshot().outcomes[0].state, RuleState::Warming);
        let events = run(&watch, &clock, 9..25, |s| p.healthy(s)).await;
        let view = &watch.snapshot().outcomes[0];
        assert!(!view.seen);
        assert_ne!(view.state, RuleState::Ok, "{view:?}");
        let alert = fired(&events, "deliver").expect("a rule that never matched pages");
        assert_eq!(alert.classification, Classification::NoData);
        assert!(
            alert.details[0].contains(
                "no series has ever matched heartbeat.outcome=\"reply.delivr\" with service.name=\"svc\"; outcomes seen: reply.deliver (is the rule right?)"
            ),
            "{:?}",
            alert.details
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn silence_stays_green_only_where_the_rule_says_so() {
    bounded(async {
        for (setting, pages) in [
            ("on_no_data = \"ok\"", false),
            ("on_no_data = \"keep\"", false),
            // T0 is midnight UTC: these quiet hours cover the test.
            ("quiet_hours = [\"23:00-01:00\"]", false),
            ("quiet_hours = [\"12:00-13:00\"]", true),
            ("min_expected_per_minute = 600.0", true),
        ] {
            let rules = RULES.replace(
                "min_success_ratio = 0.9\n",
                &format!("min_success_ratio = 0.9\n{setting}\n"),
            );
            let (watch, clock) = manual_watch(&rules).await;
            let mut p = Proc::new("A", "1.0", T0);
            let events = run(&watch, &clock, 0..20, |s| {
                p.ok += 10; // 15 a second with healthy()'s 5: 900 a minute
                p.healthy(s)
            })
            .await;
            assert!(events.is_empty(), "{setting}: {events:?}");
            // 5 deliveries a second is 300 a minute: under 600 a minute is "no data" too.
            let events = if setting.starts_with("min_expected") {
                run(&watch, &clock, 20..40, |s| p.healthy(s)).await
            } else {
                run(&watch, &clock, 20..40, |s| p.silent_path(s)).await
            };
            assert_eq!(
                fired(&events, "deliver").is_some(),
                pages,
                "{setting}: {events:?}"
            );
            watch.shutdown().await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_graceful_stop_without_a_successor_pages_after_its_grace_naming_the_version() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut p = Proc::new("A", "1.4.2", T0);
        run(&watch, &clock, 0..20, |s| p.healthy(s)).await;
        let mut events = second(&watch, &clock, 20, p.stop(20)).await;
        // Within stop_grace (30 s): quiet, shown as stopped.
        events.extend(run(&watch, &clock, 21..50, |_| None).await);
        assert!(fired(&events, "api").is_none(), "{events:?}");
        assert_eq!(watch.snapshot().deadman[0].state, RuleState::Stopped);
        let events = run(&watch, &clock, 50..55, |_| None).await;
        let alert = fired(&events, "api").expect("paged past the grace");
        assert_eq!(alert.classification, Classification::StoppedNotRestarted);
        assert!(
            alert
                .summary
                .contains("was stopped on purpose 30s ago and nothing took over")
                && alert.summary.contains("(version 1.4.2 stopped)"),
            "{}",
            alert.summary
        );
        assert_eq!(alert.since_ms, at(20), "since the stop");
        // A successor finally starts and beats: resolved.
        let mut b = Proc::new("B", "1.5.0", T0 + 60_000);
        let events = run(&watch, &clock, 60..75, |s| b.healthy(s)).await;
        assert!(resolved(&events, "api").is_some(), "{events:?}");
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_stop_followed_by_a_healthy_new_instance_does_not_page() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut a = Proc::new("A", "1.4.2", T0);
        let mut events = run(&watch, &clock, 0..20, |s| a.healthy(s)).await;
        events.extend(second(&watch, &clock, 20, a.stop(20)).await);
        let mut b = Proc::new("B", "1.5.0", T0 + 22_000);
        events.extend(
            run(&watch, &clock, 21..120, |s| {
                if s < 22 { None } else { b.healthy(s) }
            })
            .await,
        );
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(watch.snapshot().deadman[0].state, RuleState::Ok);
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_stop_survives_a_restart_of_the_watch() {
    bounded(async {
        let path = support::temp_path("stop-restart");
        let (watch, clock) = manual_watch_with(RULES, Database::File(path.clone())).await;
        let mut p = Proc::new("A", "1.4.2", T0);
        run(&watch, &clock, 0..20, |s| p.healthy(s)).await;
        second(&watch, &clock, 20, p.stop(20)).await;
        watch.shutdown().await;

        // Restarted 5 s later: the stop is remembered, no "process down" page in its grace.
        let (watch, clock) = start_at(RULES, Database::File(path.clone()), T0 + 25_000).await;
        let events = run(&watch, &clock, 25..45, |_| None).await;
        assert!(fired(&events, "api").is_none(), "{events:?}");
        assert_eq!(watch.snapshot().deadman[0].state, RuleState::Stopped);
        // Past the grace: the stop that nothing followed pages, with what it knew.
        let events = run(&watch, &clock, 45..55, |_| None).await;
        let alert = fired(&events, "api").expect("paged");
        assert_eq!(alert.classification, Classification::StoppedNotRestarted);
        assert!(
            alert
                .details
                .iter()
                .all(|d| !d.contains("nothing ever received")),
            "no contradictory details: {:?}",
            alert.details
        );
        watch.shutdown().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    })
    .await;
}

#[tokio::test]
async fn max_silence_pages_at_its_deadline_before_the_window_would() {
    bounded(async {
        let rules = RULES.replace("stop_grace = \"30s\"", "max_silence = \"4s\"");
        let (watch, clock) = manual_watch(&rules).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..20, |s| p.healthy(s)).await;
        // The last beat arrived at 19.1 s; the deadline is 23.1 s.
        clock.set_ms(T0 + 23_000);
        assert!(fired(&watch.tick().await, "api").is_none());
        clock.set_ms(T0 + 23_100);
        let events = watch.tick().await;
        let alert = fired(&events, "api").expect("paged at the deadline");
        assert_eq!(alert.classification, Classification::ProcessDown);
        assert!(
            alert.details[0].starts_with("no beat for 4s (max_silence 4s)"),
            "{:?}",
            alert.details
        );
        assert!(alert.conditions.iter().any(|c| c == "no beat for 4s"));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_killed_process_that_left_one_frozen_point_is_process_down_not_a_dead_emitter() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut p = Proc::new("A", "1.0", T0);
        // An exporter twice as fast as the beat: every other export carries the same count.
        let events = run(&watch, &clock, 0..30, |s| {
            if s % 2 == 0 {
                p.beats += 1;
            }
            p.ok += 5;
            Some(p.payload(at(s)).protobuf())
        })
        .await;
        assert!(fired(&events, "api").is_none(), "{events:?}");
        // Killed at 30: the last export (29) carried a frozen count.
        let events = run(&watch, &clock, 30..50, |_| None).await;
        let alert = fired(&events, "api").expect("api fired");
        assert_eq!(
            alert.classification,
            Classification::ProcessDown,
            "{alert:?}"
        );
        let view = &watch.snapshot().deadman[0];
        assert_eq!(view.classification, Some(Classification::ProcessDown));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_emitter_never_seen_is_never_seen_and_says_which_emitters_exist() {
    bounded(async {
        let rules = RULES.replace("emitter = \"api\"", "emitter = \"apl\"");
        let (watch, clock) = manual_watch(&rules).await;
        let mut p = Proc::new("A", "1.0", T0);
        let events = run(&watch, &clock, 0..25, |s| p.healthy(s)).await;
        let alert = fired(&events, "api").expect("api fired");
        assert_eq!(alert.classification, Classification::NeverSeen);
        assert!(
            alert
                .details
                .iter()
                .any(|d| d == "svc sends beats of other emitters: api"),
            "{:?}",
            alert.details
        );
        assert_eq!(watch.snapshot().deadman[0].state, RuleState::Firing);
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_dead_man_rule_is_an_sla_signal() {
    bounded(async {
        let rules = RULES.replace("signals = [\"deliver\"]", "signals = [\"api\"]");
        let (watch, clock) = manual_watch(&rules).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..60, |s| p.healthy(s)).await;
        run(&watch, &clock, 60..130, |s| {
            p.healthy(s).filter(|_| s >= 120)
        })
        .await;
        let report = watch.report(NOVEMBER).unwrap();
        let core = &report.slas[0];
        assert_eq!(core.signals, ["api"]);
        assert!(core.down >= 1, "{core:?}");
        assert!(
            core.downtime[0]
                .alerts
                .iter()
                .any(|id| id.starts_with("api@")),
            "{core:?}"
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_ten_minute_total_outage_is_downtime_in_every_report() {
    bounded(async {
        let (watch, clock) = manual_watch(RULES).await;
        let mut p = Proc::new("A", "1.0", T0);
        // Minutes 0 to 3 healthy, 3 to 13 nothing at all (the process and its host gone),
        // 13 to 16 healthy again (a new process).
        run(&watch, &clock, 0..180, |s| p.healthy(s)).await;
        let events = run(&watch, &clock, 180..780, |_| None).await;
        let alert = fired(&events, "deliver").expect("the outage paged").clone();
        assert_eq!(alert.classification, Classification::NoData);
        let mut b = Proc::new("B", "1.0", T0 + 780_000);
        let events = run(&watch, &clock, 780..960, |s| b.healthy(s)).await;
        let back = resolved(&events, "deliver").expect("resolved when data came back");
        // The first good window after the outage ends at 13:10.
        assert_eq!(back.resolved_ms, Some(T0 + 790_000));
        let report = watch.report(NOVEMBER).unwrap();
        let core = &report.slas[0];
        // Minutes 3 to 12 without data, and minute 13, when the rule still fired for the 10 s
        // its first good window took: 11 slots, from 00:03 to 00:14.
        assert_eq!(core.down, 11, "{core:?}");
        assert_eq!(core.downtime.len(), 1, "{core:?}");
        assert_eq!(core.downtime[0].start, "2026-11-02T00:03:00.000Z");
        assert_eq!(core.downtime[0].end, "2026-11-02T00:14:00.000Z");
        assert_eq!(core.downtime[0].alerts, vec![alert.id.clone()]);
        assert!(!core.met, "{core:?}");
        // The same in Markdown and over HTTP, JSON and Markdown.
        let md = report.to_markdown();
        assert!(md.contains("| downtime | 11 minutes |"), "{md}");
        assert!(
            md.contains("| 2026-11-02T00:03:00.000Z | 2026-11-02T00:14:00.000Z | 11 |"),
            "{md}"
        );
        let url = format!("http://{}/api/sla/report?month=2026-11", watch.http_addr());
        let text = support::client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["slas"][0]["down"], 11, "{json}");
        let body = support::client()
            .get(format!("{url}&format=markdown"))
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
async fn slots_the_watch_cannot_vouch_for_are_unknown_and_counted_down() {
    bounded(async {
        let path = support::temp_path("unknown");
        let rules = RULES.replace(
            "min_success_ratio = 0.9\n",
            "min_success_ratio = 0.9\non_no_data = \"ok\"\n",
        );
        let rules = rules.as_str();
        let (watch, clock) = manual_watch_with(rules, Database::File(path.clone())).await;
        let mut p = Proc::new("A", "1.0", T0);
        run(&watch, &clock, 0..120, |s| p.healthy(s)).await;
        watch.shutdown().await;
        // The watch is down for minutes 2 to 5, then runs again.
        let (watch, clock) = start_at(rules, Database::File(path.clone()), T0 + 300_000).await;
        let mut q = Proc::new("B", "1.0", T0 + 300_000);
        run(&watch, &clock, 300..420, |s| q.healthy(s)).await;
        // Then nothing arrives at all for two minutes; the rule tolerates silence
        // (on_no_data = "ok"), but the ledger cannot call those minutes up.
        run(&watch, &clock, 420..540, |_| None).await;
        let report = watch.report(NOVEMBER).unwrap();
        let core = &report.slas[0];
        // 10 minutes elapsed (0 to 9): 0, 1, 2 recorded up by the first run (the first slot
        // is upgraded to up once judged with data); 3 and 4 not recorded (the watch was down);
        // 5, 6 and 7 up (minute 7 began with data still fresh); 8 recorded unknown (no data at
        // all); 9 the current slot, unknown.
        assert_eq!(core.slots_elapsed, 10, "{core:?}");
        assert_eq!(core.down, 0, "{core:?}");
        assert_eq!(core.up, 6, "{core:?}");
        assert_eq!(core.unknown, 4, "{core:?}");
        assert_eq!(core.observed, 8, "{core:?}");
        assert!((core.availability_observed - 1.0).abs() < 1e-9, "{core:?}");
        assert!((core.availability_month - 0.6).abs() < 1e-9, "{core:?}");
        assert!(!core.met, "judged on the strict availability");
        let md = report.to_markdown();
        assert!(
            md.contains("| unknown (watch not running, warming, or no data at all) | 4 minutes |"),
            "{md}"
        );
        watch.shutdown().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    })
    .await;
}
