//! `#[heartbeat::outcome]` through the real export pipeline: declared at zero when the global
//! handle is set, `Ok`/`Err` with the error's reason, panics (sync and async) as `panicked`,
//! a dropped async call as `abandoned`; the totals recorded equal the totals decoded.
#![cfg(all(feature = "macros", feature = "http-proto"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use heartbeat::{Heartbeat, OutcomeReason, Protocol};
use heartbeat_testkit::{Receiver, ReceiverOptions, points, total};
use std::collections::BTreeMap;
use std::time::Duration;
use support::{TEST_LIMIT, TestResult, bounded};

const OUTCOMES: &str = "heartbeat.outcomes";

#[derive(Debug, OutcomeReason)]
enum SendError {
    TimedOut,
    #[allow(dead_code)]
    Rejected {
        code: u16,
    },
}

#[heartbeat::outcome("message.send")]
fn send(kind: u8) -> Result<u8, SendError> {
    match kind {
        0 => Ok(1),
        1 => Err(SendError::TimedOut)?,
        _ => Err(SendError::Rejected { code: 403 }),
    }
}

#[heartbeat::outcome]
async fn fetch_reply(fail: bool) -> std::io::Result<&'static str> {
    tokio::task::yield_now().await;
    if fail {
        return Err(std::io::Error::other("upstream closed"));
    }
    Ok("reply")
}

#[heartbeat::outcome(name = "job.risky")]
fn risky(panics: bool) -> Result<(), String> {
    assert!(!panics, "risky job panicked on purpose");
    Ok(())
}

#[heartbeat::outcome(name = "job.risky_async")]
async fn risky_async(panics: bool, wait: bool) -> Result<(), String> {
    if wait {
        std::future::pending::<()>().await;
    }
    assert!(!panics, "risky async job panicked on purpose");
    Ok(())
}

#[heartbeat::outcome("never.called")]
fn never_called() -> Result<(), SendError> {
    Ok(())
}

/// Every series of `heartbeat.outcomes` the registry holds: (outcome, result, reason) -> count.
fn recorded(hb: &Heartbeat) -> BTreeMap<(String, String, String), i64> {
    let mut out = BTreeMap::new();
    hb.registry().collect(|s| {
        let key = (
            s.outcome().to_owned(),
            s.result().as_str().to_owned(),
            s.reason().unwrap_or("").to_owned(),
        );
        *out.entry(key).or_default() += i64::try_from(s.value()).unwrap();
    });
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcome_functions_count_through_the_pipeline_from_zero() -> TestResult {
    bounded(TEST_LIMIT, async {
        // Before the global handle is set: the function runs, nothing is counted.
        assert_eq!(send(0).unwrap(), 1);

        let receiver = Receiver::start(ReceiverOptions::default()).await?;
        let (hb, driver) = Heartbeat::builder()
            .with_environment(Vec::<(String, String)>::new())
            .with_service_name("macro-test")
            .with_endpoint(receiver.endpoint())
            .with_protocol(Protocol::HttpProtobuf)
            .with_export_interval(Duration::from_secs(3600))
            .build()?;
        tokio::spawn(driver);
        heartbeat::set_global(hb.clone())?;
        let again = heartbeat::set_global(hb.clone()).unwrap_err();
        assert!(again.to_string().contains("already set"), "{again}");
        assert!(again.into_inner().is_some());

        // Declared at start-up: exported at zero before any call, with the error's reasons.
        hb.flush().await?;
        let zero = points(&receiver.requests());
        let never = [("heartbeat.outcome", "never.called")];
        let series = |p: &[heartbeat_testkit::Point], o: &str, r: &str, reason: Option<&str>| {
            let mut f = vec![("heartbeat.outcome", o), ("heartbeat.result", r)];
            if let Some(reason) = reason {
                f.push(("heartbeat.reason", reason));
            }
            p.iter()
                .any(|p| p.metric == OUTCOMES && heartbeat_testkit::has(&p.attributes, &f, &[]))
        };
        assert!(series(&zero, "never.called", "success", None));
        assert!(series(&zero, "never.called", "failure", Some("timed_out")));
        assert!(series(&zero, "never.called", "failure", Some("rejected")));
        assert!(series(&zero, "fetch_reply", "failure", Some("error")));
        assert!(series(&zero, "job.risky", "failure", Some("panicked")));
        assert_eq!(total(&zero, OUTCOMES, &never, &[]), 0);
        assert_eq!(
            total(
                &zero,
                OUTCOMES,
                &[("heartbeat.outcome", "message.send")],
                &[]
            ),
            0
        );

        for kind in [0, 0, 0, 1, 1, 2] {
            let _ = send(kind);
        }
        for fail in [false, false, true] {
            let _ = fetch_reply(fail).await;
        }
        assert!(risky(false).is_ok());
        assert!(std::panic::catch_unwind(|| risky(true)).is_err());
        let joined = tokio::spawn(risky_async(true, false)).await;
        assert!(joined.unwrap_err().is_panic(), "the panic goes on");
        assert!(risky_async(false, false).await.is_ok());
        // Dropped before its end (a timeout around it): abandoned.
        let timed_out = tokio::time::timeout(Duration::from_millis(1), risky_async(false, true));
        assert!(timed_out.await.is_err());

        hb.flush().await?;
        let p = points(&receiver.requests());
        let t = |outcome: &str, result: &str, reason: Option<&str>| {
            let mut f = vec![("heartbeat.outcome", outcome), ("heartbeat.result", result)];
            if let Some(reason) = reason {
                f.push(("heartbeat.reason", reason));
            }
            total(&p, OUTCOMES, &f, &[])
        };
        assert_eq!(
            t("message.send", "success", None),
            3,
            "the call before set_global is not counted"
        );
        assert_eq!(t("message.send", "failure", Some("timed_out")), 2);
        assert_eq!(t("message.send", "failure", Some("rejected")), 1);
        assert_eq!(t("fetch_reply", "success", None), 2);
        assert_eq!(t("fetch_reply", "failure", Some("error")), 1);
        assert_eq!(t("job.risky", "success", None), 1);
        assert_eq!(t("job.risky", "failure", Some("panicked")), 1);
        assert_eq!(t("job.risky_async", "success", None), 1);
        assert_eq!(t("job.risky_async", "failure", Some("panicked")), 1);
        assert_eq!(t("job.risky_async", "failure", Some("abandoned")), 1);
        assert_eq!(t("never.called", "success", None), 0);

        // Every series recorded arrived with the same total.
        for ((outcome, result, reason), value) in recorded(&hb) {
            let reason = (!reason.is_empty()).then_some(reason.as_str());
            assert_eq!(
                t(&outcome, &result, reason),
                value,
                "{outcome} {result} {reason:?}"
            );
        }
        assert_eq!(hb.registry().health().undeclared_reasons, 0);
        hb.shutdown().await?;
        Ok(())
    })
    .await
}
