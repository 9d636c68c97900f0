//! The capacity load generator (`watch/examples/capacity.rs`) at a tiny scale against the real
//! `heartbeat-watch serve`: 20 emitters x 25 series exporting every second for 5 s. Every point
//! it sends is accepted, by the answers and by the watch's own `heartbeat.watch.points`, and the
//! measurements it reports are there. No timed assertions: the verdict's latency and tick bounds
//! are for real runs, not for a loaded CI machine.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/capacity.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod capacity;

mod support;

use clap::Parser;

fn config(args: &[&str]) -> Result<capacity::Config, clap::Error> {
    capacity::Config::try_parse_from(["capacity", "--watch-bin", support::BIN].iter().chain(args))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_point_of_a_small_fleet_is_accepted_and_measured() {
    let config = config(&[
        "--emitters",
        "20",
        "--series",
        "25",
        "--interval",
        "1s",
        "--duration",
        "5s",
        "--warmup",
        "1s",
        "--tick",
        "1s",
        "--services",
        "2",
    ])
    .unwrap();
    let report = support::bounded(capacity::run(&config)).await.unwrap();

    // 20 emitters, 5 rounds, 25 points a body.
    assert_eq!(report.total_requests, 100, "{report:?}");
    assert_eq!(report.total_points_sent, 2_500, "{report:?}");
    assert_eq!(report.total_ok, report.total_requests, "{report:?}");
    assert_eq!(
        report.total_points_accepted, report.total_points_sent,
        "{report:?}"
    );
    assert_eq!(
        report.watch_points_counter,
        Some(report.total_points_sent),
        "the watch's own counter: {report:?}"
    );
    assert_eq!(report.series, 500, "series tracked: {report:?}");
    assert!(report.rss_mib > 0.0, "{report:?}");
    assert!(report.self_samples > 0, "{report:?}");
    assert!(report.db_bytes > 0, "{report:?}");
}

#[test]
fn a_bad_interval_is_named() {
    let err = config(&["--interval", "10x"]).unwrap_err().to_string();
    assert!(
        err.contains("--interval") && err.contains("10x"),
        "the error names the flag and the value: {err}"
    );
}

#[test]
fn a_warmup_as_long_as_the_run_is_refused() {
    let err = config(&["--duration", "10s", "--warmup", "10s"])
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(
        err.contains("--warmup") && err.contains("--duration"),
        "{err}"
    );
}
