//! The suite against the Rust SDK: every case in process (the `native` target) must pass or be
//! N/A, and the subprocess protocol works end to end with the `native-bin` emitter on a few
//! cases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use heartbeat_conformance::{RunOptions, Status, run, target};

fn failures(report: &heartbeat_conformance::Report) -> Vec<String> {
    report
        .results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| format!("{} {}: {}", r.id, r.level, r.detail))
        .collect()
}

/// Cases whose verdict rests on wall-clock timing (a cadence, a delay, a window): judged by
/// `scripts/test-conformance.sh`, which runs targets one at a time. Here, beside other test
/// binaries on two cores, they must run to a verdict but are not asserted to pass.
const TIMED: [&str; 18] = [
    "HB-014", "HB-040", "HB-041", "HB-042", "HB-043", "HB-044", "HB-045", "HB-048", "HB-049",
    "HB-064", "HB-065", "HB-066", "HB-069", "HB-072", "HB-080", "HB-081", "HB-082", "HB-083",
];

/// Known failures (scripts/test-conformance.sh, KNOWN_FAILURES): in delta temporality the SDK
/// loses the counts of an export that fails for good. Asserted to fail in delta only, so that
/// this list is revisited when the SDK keeps them.
const KNOWN_DELTA_LOSS: [&str; 3] = ["HB-068", "HB-069", "HB-070"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_native_sdk_passes_every_applicable_case() {
    let options = RunOptions {
        tolerance: std::time::Duration::from_secs(1),
        ..RunOptions::default()
    };
    let report = run(target::by_name("native", &options).unwrap(), &options)
        .await
        .unwrap();
    assert_eq!(report.results.len(), heartbeat_conformance::cases().len());
    // The browser-only case is N/A for a process; rotel is skipped without HEARTBEAT_ROTEL.
    let na: Vec<&str> = report
        .results
        .iter()
        .filter(|r| r.status == Status::NotApplicable)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(na, vec!["HB-046"]);
    let untimed: Vec<String> = failures(&report)
        .into_iter()
        .filter(|f| !TIMED.iter().any(|id| f.starts_with(id)))
        .filter(|f| !KNOWN_DELTA_LOSS.iter().any(|id| f.starts_with(id)))
        .collect();
    assert!(untimed.is_empty(), "{untimed:#?}");
    for r in report
        .results
        .iter()
        .filter(|r| KNOWN_DELTA_LOSS.contains(&r.id.as_str()) && r.status == Status::Fail)
    {
        // Cumulative keeps every count; only the delta run loses them.
        assert!(r.detail.contains("[delta]"), "{}: {}", r.id, r.detail);
        let cumulative = r.detail.split("[delta]").next().unwrap();
        assert!(
            !cumulative.contains("never arrived") && !cumulative.contains("had not arrived"),
            "{}: {}",
            r.id,
            r.detail
        );
    }
    // Every timed case ran its scenario to a verdict (the emitter and the harness worked).
    let broken: Vec<String> = failures(&report)
        .into_iter()
        .filter(|f| f.contains("the emitter failed the scenario"))
        .collect();
    assert!(broken.is_empty(), "{broken:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sdk_as_a_subprocess_speaks_the_emitter_protocol() {
    let options = RunOptions {
        emitter_bin: Some(PathBuf::from(env!(
            "CARGO_BIN_EXE_heartbeat-conformance-emitter"
        ))),
        only: ["HB-001", "HB-024", "HB-047", "HB-070"]
            .map(str::to_owned)
            .to_vec(),
        ..RunOptions::default()
    };
    let target: Arc<dyn heartbeat_conformance::Target> =
        target::by_name("native-bin", &options).unwrap();
    let report = run(target, &options).await.unwrap();
    assert_eq!(report.results.len(), 4);
    assert!(report.emitter.memory && report.emitter.stall);
    let unexpected: Vec<String> = failures(&report)
        .into_iter()
        .filter(|f| {
            !(f.starts_with("HB-070")
                && f.contains("[delta] the data recorded during the outage never arrived"))
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    // Resident memory is read from /proc for a subprocess.
    let memory = report.results.iter().find(|r| r.id == "HB-070").unwrap();
    assert!(
        memory.detail.contains("resident memory"),
        "{}",
        memory.detail
    );
}

#[tokio::test]
async fn a_command_template_that_never_says_hello_is_a_clear_error() {
    let options = RunOptions::default();
    let target = target::by_name(
        "command:sh -c 'echo not the protocol; echo oops >&2'",
        &options,
    )
    .unwrap();
    let err = run(target, &options).await.unwrap_err().to_string();
    assert!(err.contains("ended without saying hello"), "{err}");
    assert!(err.contains("oops"), "{err}");
}
