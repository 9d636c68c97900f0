//! Detection: the emitter's beats through the conformance receiver into the watch
//! (`heartbeat-watch`), whose dead-man rule must fire in its documented bound and classify what
//! it sees (HB-080 to HB-083).
//!
//! The watch runs on the system clock with a 2 s window, judged every 100 ms by hand (its
//! `tick`). It is started only once the emitter beats, so that no judged window precedes the
//! first beat; the receiver then forwards what it accepts to the watch's OTLP receiver.
//!
//! The emitter beats every 200 ms and exports every 100 ms: an emitter that batches its beats on
//! its export interval (failing HB-045) then still carries one beat per export, as an emitter
//! exporting each beat at once does. (With a cadence equal to the export interval two beats
//! sometimes share an export of such an emitter, and the watch reads the jumps as a lossy
//! pipeline.)

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use heartbeat_watch::{Alert, AlertStatus, Classification, Database, RuleFile, Watch};
use tokio::task::JoinHandle;

use super::scenarios::run;
use crate::ctx::{BEATS, Ctx, EMITTER, Run, Session, ms};
use crate::spec::Verdict;
use heartbeat_testkit as kit;

const WINDOW: Duration = Duration::from_secs(2);
const TICK: Duration = Duration::from_millis(100);
const CADENCE_MS: u64 = 200;

/// A watch judging one dead-man rule, ticked every 100 ms; alerts are kept with the receiver
/// time they fired at.
struct Judge {
    watch: Arc<Watch>,
    alerts: Arc<Mutex<Vec<(Duration, Alert)>>>,
    ticker: JoinHandle<()>,
}

impl Judge {
    async fn start(s: &Session, min_beats: u32, fire_after: u32) -> Run<Self> {
        let rules: RuleFile = format!(
            "[watch]\ntick = \"1s\"\nrate_limit_per_source = 0\n\n[[deadman]]\nname = \"conformance\"\nservice = \"{}\"\nemitter = \"{EMITTER}\"\nwindow = \"2s\"\nmin_beats = {min_beats}\nfire_after = {fire_after}\nresolve_after = 1\n",
            s.config.service_name
        )
        .parse()
        .map_err(|e| format!("the rule file: {e}"))?;
        let watch = Watch::builder(rules)
            .with_database(Database::InMemory)
            .with_listen(SocketAddr::from(([127, 0, 0, 1], 0)))
            .with_grpc_listen(None)
            .with_auto_tick(false)
            .start()
            .await
            .map_err(|e| format!("the watch: {e}"))?;
        let watch = Arc::new(watch);
        s.rx.forward(Some(format!("http://{}/v1/metrics", watch.http_addr())), 1);
        let alerts: Arc<Mutex<Vec<(Duration, Alert)>>> = Arc::default();
        let ticker = {
            let watch = Arc::clone(&watch);
            let alerts = Arc::clone(&alerts);
            let started = tokio::time::Instant::now();
            let offset = s.rx.now();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(TICK);
                loop {
                    every.tick().await;
                    let fired = watch.tick().await;
                    let at = offset + started.elapsed();
                    let mut kept = alerts.lock().unwrap_or_else(PoisonError::into_inner);
                    kept.extend(fired.into_iter().map(|a| (at, a)));
                }
            })
        };
        Ok(Self {
            watch,
            alerts,
            ticker,
        })
    }

    fn firing(&self) -> Vec<(Duration, Alert)> {
        self.alerts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, a)| a.status == AlertStatus::Firing)
            .cloned()
            .collect()
    }

    async fn wait_firing(&self, limit: Duration) -> Option<(Duration, Alert)> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(first) = self.firing().into_iter().next() {
                return Some(first);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        self.ticker.abort();
        let _ = self.ticker.await;
        if let Ok(watch) = Arc::try_unwrap(self.watch) {
            watch.shutdown().await;
        }
    }
}

/// An emitter beating every 100 ms, its first beat received.
async fn beating(ctx: &Ctx, scenario: &str) -> Run<Session> {
    beating_in(ctx, scenario, None).await
}

/// [`beating`] with a temporality preference (`None`: the emitter's default).
async fn beating_in(
    ctx: &Ctx,
    scenario: &str,
    temporality: Option<crate::target::Temporality>,
) -> Run<Session> {
    let mut s = ctx
        .session(scenario, ctx.info.primary(), |c| {
            c.export_interval = Duration::from_millis(100);
            c.temporality = temporality;
        })
        .await?;
    s.beat(CADENCE_MS, None).await?;
    let beat =
        s.rx.wait_for(Duration::from_secs(15), |reqs| {
            kit::total(
                &kit::points(reqs),
                BEATS,
                &[("heartbeat.emitter", EMITTER)],
                &[],
            ) > 0
        })
        .await;
    if beat {
        Ok(s)
    } else {
        Err("no beat arrived within 15 s".to_owned())
    }
}

/// The `service.instance.id`s of the beats in `points`.
fn instances(points: &[kit::Point]) -> BTreeSet<String> {
    points
        .iter()
        .filter(|p| p.metric == BEATS)
        .filter_map(|p| p.resource.get("service.instance.id").cloned())
        .collect()
}

fn last_beat(s: &Session) -> Option<Duration> {
    kit::arrivals(&s.points(), BEATS, &[("heartbeat.emitter", EMITTER)])
        .last()
        .copied()
}

/// What a detection scenario saw: the first alert, when it fired, the last beat, and alerts
/// that fired before the fault was injected (false pages).
struct Seen {
    alert: Option<(Duration, Alert)>,
    last_beat: Option<Duration>,
    fault_at: Duration,
    false_pages: Vec<String>,
}

fn false_pages(judge: &Judge) -> Vec<String> {
    judge
        .firing()
        .into_iter()
        .map(|(_, a)| format!("{} ({})", a.summary, a.classification.as_str()))
        .collect()
}

pub(crate) async fn dead(ctx: Arc<Ctx>) -> Verdict {
    let seen = run!(
        ctx.memo("detect-dead", async {
            let _slot = ctx.slot().await;
            let mut s = beating(&ctx, "detect-dead").await?;
            let judge = Judge::start(&s, 5, 1).await?;
            tokio::time::sleep(Duration::from_millis(4500)).await;
            let early = false_pages(&judge);
            let fault_at = s.rx.now();
            s.emitter.kill().await;
            let alert = judge.wait_firing(Duration::from_secs(9)).await;
            let seen = Seen {
                alert,
                last_beat: last_beat(&s),
                fault_at,
                false_pages: early,
            };
            judge.stop().await;
            Ok(seen)
        })
        .await
    );
    // A killed process sends nothing more: `process_down` (`dead_emitter` is a process that
    // still exports without beating; docs/watch.md).
    judged(&ctx, &seen, Classification::ProcessDown, 1)
}

fn judged(ctx: &Ctx, seen: &Seen, want: Classification, fire_after: u32) -> Verdict {
    if !seen.false_pages.is_empty() {
        return Verdict::fail(format!(
            "the rule fired while the emitter beat: {}",
            seen.false_pages.join("; ")
        ));
    }
    let Some((at, alert)) = &seen.alert else {
        return Verdict::fail(format!(
            "the dead-man rule did not fire within 9 s of the fault ({} after the last beat)",
            seen.last_beat
                .map(|b| ms(seen.fault_at.saturating_sub(b)))
                .unwrap_or_default()
        ));
    };
    let from = seen.last_beat.unwrap_or(seen.fault_at);
    let took = at.saturating_sub(from);
    let bound = WINDOW * (fire_after + 1) + TICK + ctx.slack();
    if took > bound {
        return Verdict::fail(format!(
            "fired {} after the last beat; the documented bound is (fire_after + 1) x window + tick = {} (+ T)",
            ms(took),
            ms(bound - ctx.slack())
        ));
    }
    Verdict::when(
        alert.classification == want,
        format!(
            "fired {} after the last beat (bound {}), classified {}: {}",
            ms(took),
            ms(bound),
            alert.classification.as_str(),
            alert.summary
        ),
    )
}

pub(crate) async fn lossy(ctx: Arc<Ctx>) -> Verdict {
    let seen = run!(
        ctx.memo("detect-lossy", async {
            let _slot = ctx.slot().await;
            // Loss is read from cumulative jumps: the row forces cumulative sums.
            let s = beating_in(&ctx, "detect-lossy", ctx.cumulative()).await?;
            let judge = Judge::start(&s, 5, 1).await?;
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let url = Some(format!("http://{}/v1/metrics", judge.watch.http_addr()));
            // Most exports are lost, then all of them.
            s.rx.forward(url, 6);
            tokio::time::sleep(Duration::from_millis(4500)).await;
            let early = false_pages(&judge);
            s.rx.forward(None, 0);
            let fault_at = s.rx.now();
            let alert = judge.wait_firing(Duration::from_secs(9)).await;
            let seen = Seen {
                alert,
                last_beat: Some(fault_at),
                fault_at,
                false_pages: early,
            };
            judge.stop().await;
            Ok(seen)
        })
        .await
    );
    judged(&ctx, &seen, Classification::LossyPipeline, 1)
}

/// How far into its window (windows are aligned to the epoch) the system clock is.
fn into_window() -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    Duration::from_millis(u64::try_from(now % WINDOW.as_millis()).unwrap_or(0))
}

/// Sleeps until a little after a window boundary; a late wake-up (a busy machine) waits for the
/// next one, so that the window starts nearly empty. "A little": more than a tick, as the watch
/// counts what arrives between a boundary and the tick that closes the window in that window.
async fn next_window() {
    loop {
        tokio::time::sleep(WINDOW - into_window() + TICK + Duration::from_millis(50)).await;
        if into_window() < TICK * 3 + Duration::from_millis(50) {
            return;
        }
    }
}

pub(crate) async fn restart(ctx: Arc<Ctx>) -> Verdict {
    let seen = run!(
        ctx.memo("detect-restart", async {
            let _slot = ctx.slot().await;
            let mut s = beating(&ctx, "detect-restart").await?;
            // The next instance, started ahead so that it beats at once when asked.
            let mut next = ctx
                .target
                .start(&s.config)
                .await
                .map_err(|e| format!("the second instance: {e}"))?;
            let judge = Judge::start(&s, 6, 2).await?;
            tokio::time::sleep(Duration::from_millis(4500)).await;
            next_window().await;
            let early = false_pages(&judge);
            let first = instances(&s.points());
            let fault_at = s.rx.now();
            s.emitter.kill().await;
            // A crash loop: the new instance beats and dies too, once its beat is on the wire
            // (a slow machine or a batching emitter takes its time to send it; a fixed wait
            // would sometimes kill the new instance before any beat of it arrived).
            next.send(&crate::target::Command::Beat {
                emitter: EMITTER.to_owned(),
                cadence_ms: CADENCE_MS,
                jitter_ms: None,
            })
            .await
            .map_err(|e| format!("the second instance: {e}"))?;
            let beat =
                s.rx.wait_for(Duration::from_secs(10), |reqs| {
                    kit::points(reqs).iter().any(|p| {
                        p.metric == BEATS
                            && matches!(p.value, kit::PointValue::Int(v) if v > 0)
                            && p.resource
                                .get("service.instance.id")
                                .is_some_and(|i| !first.contains(i))
                    })
                })
                .await;
            next.kill().await;
            if !beat {
                judge.stop().await;
                return Err(
                    "the second instance's first beat did not arrive within 10 s".to_owned(),
                );
            }
            let alert = judge.wait_firing(Duration::from_secs(9)).await;
            if std::env::var_os("HEARTBEAT_CONFORMANCE_VERBOSE").is_some() {
                eprintln!(
                    "fault at {fault_at:?}, alert {:?}",
                    alert.as_ref().map(|a| a.0)
                );
                for p in s.points().iter().filter(|p| p.metric == BEATS) {
                    eprintln!(
                        "{:?} #{} {:?} {:?} {}..{}",
                        p.at,
                        p.seq,
                        p.resource.get("service.instance.id"),
                        p.value,
                        p.start,
                        p.time
                    );
                }
            }
            let seen = Seen {
                alert,
                last_beat: last_beat(&s),
                fault_at,
                false_pages: early,
            };
            judge.stop().await;
            Ok(seen)
        })
        .await
    );
    judged(&ctx, &seen, Classification::Restart, 2)
}

pub(crate) async fn planned_stop(ctx: Arc<Ctx>) -> Verdict {
    let r = run!(
        ctx.memo("detect-stop", async {
            let _slot = ctx.slot().await;
            let mut s = beating(&ctx, "detect-stop").await?;
            let judge = Judge::start(&s, 5, 1).await?;
            tokio::time::sleep(Duration::from_millis(4500)).await;
            s.shutdown().await?;
            tokio::time::sleep(Duration::from_millis(5000)).await;
            let fired = false_pages(&judge);
            judge.stop().await;
            Ok(fired)
        })
        .await
    );
    match r.first() {
        Some(a) => Verdict::fail(format!("the rule fired after a graceful stop: {a}")),
        None => Verdict::pass("no alert in the 5 s after a graceful stop (status 2)"),
    }
}
