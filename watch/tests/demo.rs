//! The one-command demo, on a shorter schedule: the alerts fire with the right classification
//! and diagnosis, and the SLA ledger records downtime.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use heartbeat_watch::Classification;
use heartbeat_watch::demo::{Output, Schedule, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_fires_diagnosed_alerts_and_records_downtime() {
    let summary = tokio::time::timeout(
        Duration::from_secs(120),
        run(Schedule::quick(), Output::Quiet),
    )
    .await
    .expect("the demo ends by itself")
    .unwrap();
    let failed: Vec<&String> = summary
        .checks
        .iter()
        .filter(|c| !c.1)
        .map(|c| &c.0)
        .collect();
    assert!(
        failed.is_empty(),
        "failed checks: {failed:?}\nevents: {:#?}",
        summary.events
    );
    let send = summary.fired("message-send").unwrap();
    assert_eq!(send.classification, Classification::SuccessRatio);
    assert_eq!(send.deploys[0].service, "messenger-api");
    assert!(
        send.actions[0].ends_with("roll back to 1.4.2"),
        "{:?}",
        send.actions
    );
    let ai = summary.fired("ai-worker-pipeline").unwrap();
    assert_eq!(ai.classification, Classification::DeadEmitter);
    assert!(summary.downtime("core-platform") > 0);
    assert_eq!(summary.downtime("ai-answers"), 0);
    assert_eq!(summary.points.1, 0, "no point rejected");
}
