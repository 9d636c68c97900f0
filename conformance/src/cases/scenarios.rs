//! Scenarios several checks judge: each runs once per run (memoised in the [`Ctx`]) and keeps
//! what arrived.

use std::sync::Arc;
use std::time::Duration;

use crate::ctx::{Ctx, OUTCOME, OUTCOMES, REASON, Run, success_total};
use crate::target::{Protocol, ResultKind, Temporality};
use heartbeat_testkit::Recorded;
use heartbeat_testkit::{self as kit, Point};

/// The verdict of a scenario that could not run.
macro_rules! run {
    ($scenario:expr) => {
        match $scenario {
            Ok(v) => v,
            Err(e) => return Verdict::fail(format!("the emitter failed the scenario: {e}")),
        }
    };
}
pub(crate) use run;

/// A recording: every request and its points.
pub(crate) struct Recording {
    pub(crate) requests: Vec<Arc<Recorded>>,
    pub(crate) points: Vec<Point>,
}

impl Recording {
    pub(crate) fn new(requests: Vec<Arc<Recorded>>) -> Self {
        let points = kit::points(&requests);
        Self { requests, points }
    }
}

/// The basic scenario: declare, beat, record a script of outcomes, record more just before a
/// graceful shutdown.
pub(crate) struct Basic {
    pub(crate) recording: Recording,
    /// When the first event was recorded (receiver clock).
    pub(crate) recorded_at: Duration,
    /// When the shutdown was asked for.
    pub(crate) shutdown_at: Duration,
    /// When the last events (recorded for the shutdown to export, without a flush) were about
    /// to be recorded: everything before was flushed.
    pub(crate) flushed_at: Duration,
}

/// The invalid tenant id the script records (a control character).
pub(crate) const BAD_TENANT: &str = "bad\u{7}tenant";

/// The script of the basic scenario, with a tenant limit of 2.
async fn script(s: &mut crate::ctx::Session) -> Run<()> {
    use ResultKind::{Failure, Success};
    s.record(Success, None, None, 7).await?;
    s.record(Failure, Some(REASON), None, 2).await?;
    s.record(Failure, None, None, 1).await?;
    s.record(Failure, Some("undeclared_reason"), None, 1)
        .await?;
    s.record(Success, None, Some("acme"), 3).await?;
    s.record(Failure, Some(REASON), Some("globex"), 1).await?;
    // Past the limit of two tenants.
    s.record(Success, None, Some("initech"), 2).await?;
    s.record(Failure, Some(REASON), Some("initech"), 2).await?;
    // An invalid tenant id.
    s.record(Failure, None, Some(BAD_TENANT), 1).await
}

/// Events in the basic scenario's script and before its shutdown.
pub(crate) const BASIC_EVENTS: i64 = 7 + 2 + 1 + 1 + 3 + 1 + 2 + 2 + 1 + 5;
/// Successes without a tenant in the basic scenario.
pub(crate) const BASIC_SUCCESSES: i64 = 12;
/// Of which recorded just before the shutdown, without a flush.
pub(crate) const BASIC_FINAL: u64 = 5;

pub(crate) async fn basic(ctx: &Ctx, protocol: Protocol) -> Run<Arc<Basic>> {
    basic_in(ctx, protocol, None).await
}

/// The basic scenario with a temporality preference (`None`: the emitter's default).
pub(crate) async fn basic_in(
    ctx: &Ctx,
    protocol: Protocol,
    temporality: Option<Temporality>,
) -> Run<Arc<Basic>> {
    let key = match temporality {
        None => format!("basic/{protocol}"),
        Some(t) => format!("basic/{protocol}/{t}"),
    };
    ctx.memo(&key, async {
        let _slot = ctx.slot().await;
        let mut s = ctx
            .session("basic", protocol, |c| {
                c.tenant_limit = Some(2);
                c.temporality = temporality;
            })
            .await?;
        s.declare().await?;
        if ctx.info.heartbeat {
            s.beat(200, None).await?;
            s.flush().await?;
            // The first export of the declared outcome, before anything is recorded.
            s.rx.wait_for(Duration::from_secs(5), |reqs| {
                kit::points(reqs).iter().any(|p| {
                    p.metric == OUTCOMES
                        && p.attributes.get("heartbeat.outcome").map(String::as_str)
                            == Some(OUTCOME)
                })
            })
            .await;
        }
        let recorded_at = s.rx.now();
        script(&mut s).await?;
        s.flush().await?;
        tokio::time::sleep(Duration::from_millis(600)).await;
        // Recorded just before the shutdown, without a flush (HB-071).
        let flushed_at = s.rx.now();
        s.successes(BASIC_FINAL).await?;
        let shutdown_at = s.rx.now();
        s.shutdown().await?;
        s.wait_successes(BASIC_SUCCESSES, Duration::from_millis(500))
            .await;
        Ok(Basic {
            recording: Recording::new(s.rx.requests()),
            recorded_at,
            shutdown_at,
            flushed_at,
        })
    })
    .await
}

/// A process started, recorded, shut down; then a second one on the same receiver.
pub(crate) struct Restart {
    pub(crate) recording: Recording,
    /// The first request of the second process.
    pub(crate) second_from: usize,
}

/// The restart scenario with a temporality preference (`None`: the emitter's default).
pub(crate) async fn restart(ctx: &Ctx, temporality: Option<Temporality>) -> Run<Arc<Restart>> {
    let key = match temporality {
        None => "restart".to_owned(),
        Some(t) => format!("restart/{t}"),
    };
    ctx.memo(&key, async {
        let _slot = ctx.slot().await;
        let mut s = ctx
            .session("restart", ctx.info.primary(), |c| {
                c.temporality = temporality
            })
            .await?;
        s.declare().await?;
        s.successes(3).await?;
        s.flush().await?;
        if !s.wait_successes(3, Duration::from_secs(10)).await {
            return Err("the first process's 3 successes never arrived".to_owned());
        }
        s.shutdown().await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second_from = s.rx.requests().len();
        s.emitter = ctx
            .target
            .start(&s.config)
            .await
            .map_err(|e| format!("the second start: {e}"))?;
        s.declare().await?;
        s.successes(2).await?;
        s.flush().await?;
        let arrived = s.rx.wait_for(Duration::from_secs(10), |reqs| {
            let points = kit::points(&reqs[second_from.min(reqs.len())..]);
            success_total(&points) >= 2
        });
        if !arrived.await {
            return Err("the second process's 2 successes never arrived".to_owned());
        }
        s.shutdown().await?;
        Ok(Restart {
            recording: Recording::new(s.rx.requests()),
            second_from,
        })
    })
    .await
}

/// Delta temporality: three batches of successes (3, 2, 4), flushed apart.
pub(crate) async fn delta(ctx: &Ctx) -> Run<Arc<Recording>> {
    ctx.memo("delta", async {
        let _slot = ctx.slot().await;
        let mut s = ctx
            .session("delta", ctx.info.primary(), |c| {
                c.temporality = Some(Temporality::Delta);
            })
            .await?;
        s.declare().await?;
        let mut expected = 0;
        for n in [3, 2, 4] {
            s.successes(n).await?;
            expected += n as i64;
            s.flush().await?;
            s.wait_successes(expected, Duration::from_secs(5)).await;
        }
        s.shutdown().await?;
        Ok(Recording::new(s.rx.requests()))
    })
    .await
}
