//! The suite against deliberately broken emitters: `conformance/drivers/python_heartbeat.py`
//! (a Heartbeat emitter in plain Python, speaking the emitter protocol) with one `--break` at a
//! time must fail exactly the requirement the break violates, with a message naming the cause,
//! among the rows around it; without a break it must pass every MUST it is in scope for.
//!
//! Needs `python3` (standard library only). Without it the tests say so and pass, except under
//! `CI=true`, where a missing interpreter fails them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use heartbeat_conformance::{Level, Report, RunOptions, Status, run, target};

fn driver() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("drivers/python_heartbeat.py")
}

/// Whether `python3` runs; `false` (after saying why) when it does not and CI is not set.
fn python_present() -> bool {
    let ok = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 is not installed: the broken-emitter tests cannot run (CI=true)"
        );
        eprintln!("skipped: python3 is not installed");
    }
    ok
}

async fn judged(breaks: Option<&str>, only: &[&str]) -> Report {
    let options = RunOptions {
        only: only.iter().map(|s| (*s).to_owned()).collect(),
        ..RunOptions::default()
    };
    let template = match breaks {
        Some(b) => format!("command:python3 {} --break {b}", driver().display()),
        None => format!("command:python3 {}", driver().display()),
    };
    let target = target::by_name(&template, &options).unwrap();
    run(target, &options).await.unwrap()
}

fn failed(report: &Report) -> Vec<&str> {
    report
        .results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| r.id.as_str())
        .collect()
}

/// Runs `only` against the driver with `breaks` and asserts that exactly `fails` failed, its
/// detail containing `cause`.
async fn breaks_exactly(breaks: &str, only: &[&str], fails: &str, cause: &str) -> Option<Report> {
    if !python_present() {
        return None;
    }
    let report = judged(Some(breaks), only).await;
    assert_eq!(report.results.len(), only.len());
    let rows: Vec<String> = report
        .results
        .iter()
        .map(|r| format!("{} {:?}: {}", r.id, r.status, r.detail))
        .collect();
    assert_eq!(failed(&report), vec![fails], "--break {breaks}: {rows:#?}");
    let row = report.results.iter().find(|r| r.id == fails).unwrap();
    assert!(
        row.detail.contains(cause),
        "--break {breaks}: {fails} does not name the cause ({cause:?}): {}",
        row.detail
    );
    Some(report)
}

const TIMING: [&str; 4] = ["HB-040", "HB-041", "HB-042", "HB-044"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_percent_drift_fails_hb041() {
    breaks_exactly("drift-1", &TIMING, "HB-041", "the schedule drifts").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_and_a_half_percent_drift_fails_hb041() {
    let Some(report) = breaks_exactly("drift-2.5", &TIMING, "HB-041", "the schedule drifts").await
    else {
        return;
    };
    // The verdict names the drift it measured: 2.5 % within the timer's rounding (a fitted
    // +2.48 % has been seen on a loaded machine).
    let detail = &report
        .results
        .iter()
        .find(|r| r.id == "HB-041")
        .unwrap()
        .detail;
    assert!(
        ["+2.4", "+2.5", "+2.6"].iter().any(|p| detail.contains(p)),
        "HB-041 does not name a drift of about 2.5 %: {detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twice_the_jitter_fails_hb042() {
    breaks_exactly(
        "jitter-2x",
        &TIMING,
        "HB-042",
        "later after their ticks than the configured jitter allows",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_times_the_jitter_fails_hb042() {
    breaks_exactly(
        "jitter-4x",
        &TIMING,
        "HB-042",
        "later after their ticks than the configured jitter allows",
    )
    .await;
}

// Without beat times, on the wire alone: drift is still told at 1 %; jitter only beyond the
// jitter plus the export interval (4x here), as jitter and delivery share one bound there.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_percent_drift_fails_hb041_on_the_wire_alone() {
    breaks_exactly(
        "drift-1 --wire-only",
        &TIMING,
        "HB-041",
        "from wire arrivals (the emitter gives no beat times)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_times_the_jitter_fails_hb042_on_the_wire_alone() {
    breaks_exactly(
        "jitter-4x --wire-only",
        &["HB-041", "HB-042"],
        "HB-042",
        "jitter and delivery cannot be told apart",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_burst_fails_hb049_on_the_wire_alone() {
    breaks_exactly(
        "catch-up --wire-only",
        &["HB-049"],
        "HB-049",
        "a catch-up burst",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_losing_counts_on_a_hung_collector_fails_hb069() {
    let Some(report) = breaks_exactly(
        "delta-drop-on-timeout",
        &["HB-060", "HB-068", "HB-069"],
        "HB-069",
        "had not arrived",
    )
    .await
    else {
        return;
    };
    // The temporality that lost them is named; the other delivered.
    let detail = &report
        .results
        .iter()
        .find(|r| r.id == "HB-069")
        .unwrap()
        .detail;
    let (cumulative, delta) = detail.split_once("; [delta] ").unwrap();
    assert!(cumulative.contains("meanwhile arrived"), "{detail}");
    assert!(delta.contains("meanwhile had not arrived"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_burst_fails_hb049() {
    breaks_exactly(
        "catch-up",
        &["HB-040", "HB-041", "HB-049"],
        "HB-049",
        "a catch-up burst",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sixteen_percent_slow_rate_fails_hb040_as_a_rate_error() {
    if !python_present() {
        return;
    }
    let report = judged(Some("slow-16"), &["HB-040", "HB-042", "HB-044"]).await;
    assert_eq!(failed(&report), vec!["HB-040"], "{}", report.to_markdown());
    let row = &report.results[0];
    assert!(row.detail.contains("a rate error of +16"), "{}", row.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_default_emitter_is_asked_for_cumulative_sums_where_only_they_apply() {
    if !python_present() {
        return;
    }
    let options = RunOptions {
        only: ["HB-027", "HB-028", "HB-029", "HB-031", "HB-081"]
            .map(str::to_owned)
            .to_vec(),
        ..RunOptions::default()
    };
    let template = format!("command:python3 {} --delta-default", driver().display());
    let report = run(target::by_name(&template, &options).unwrap(), &options)
        .await
        .unwrap();
    assert!(failed(&report).is_empty(), "{}", report.to_markdown());
    let monotonic = &report.results[0].detail;
    assert!(
        monotonic.contains("asked for cumulative temporality, its default being delta"),
        "{monotonic}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_zero_series_fails_hb023() {
    breaks_exactly(
        "no-zero-series",
        &["HB-021", "HB-022", "HB-023", "HB-024", "HB-025"],
        "HB-023",
        "lacks the series",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_400_fails_hb061() {
    breaks_exactly(
        "retry-400",
        &["HB-060", "HB-061", "HB-067"],
        "HB-061",
        "HTTP 400 (request #",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_final_export_fails_hb071() {
    breaks_exactly(
        "no-final-export",
        &["HB-024", "HB-047", "HB-071"],
        "HB-071",
        "7/12 successes arrived",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashed_uuid_fails_hb020() {
    breaks_exactly(
        "dashed-uuid",
        &["HB-020", "HB-030"],
        "HB-020",
        "is not 32 lowercase hex digits",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correct_driver_passes_every_must() {
    if !python_present() {
        return;
    }
    let report = judged(None, &[]).await;
    let missed: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.level == Level::Must && r.status != Status::Pass)
        .filter(|r| r.status != Status::NotApplicable)
        .map(|r| format!("{} {:?}: {}", r.id, r.status, r.detail))
        .collect();
    assert!(missed.is_empty(), "{missed:#?}");
    assert!(report.passed(), "{}", report.summary());
    // In scope: everything but gRPC, protobuf, the collector (no protobuf) and the page.
    let na: Vec<&str> = report
        .results
        .iter()
        .filter(|r| r.level == Level::Must && r.status == Status::NotApplicable)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(na, vec!["HB-004", "HB-008", "HB-016", "HB-046"]);
}

#[tokio::test]
async fn an_unknown_break_is_an_error_naming_it() {
    if !python_present() {
        return;
    }
    let out = std::process::Command::new("python3")
        .arg(driver())
        .args(["--break", "drift-3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown --break 'drift-3'"), "{err}");
}
