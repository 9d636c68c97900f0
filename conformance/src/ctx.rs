//! The context the checks of one run share ([`Ctx`]: the target, what it offers, the options,
//! memoised scenarios, slots), a [`Session`] (a receiver and an emitter), the noise probe of the
//! wall-clock checks, and the names and helpers every case group uses.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OnceCell, Semaphore, SemaphorePermit};

use crate::options::RunOptions;
use crate::target::{
    Command, Emitter, EmitterConfig, Protocol, Reply, ResultKind, Target, TargetInfo, Temporality,
};
use heartbeat_testkit::{self as kit, Point};
use heartbeat_testkit::{Receiver, ReceiverOptions};

/// The outcome every scenario declares and records.
pub(crate) const OUTCOME: &str = "conformance.check";
/// Its declared failure reason.
pub(crate) const REASON: &str = "timeout";
/// Its fixed attribute.
pub(crate) const SURFACE: (&str, &str) = ("surface", "conformance");
/// The dead-man emitter every scenario starts.
pub(crate) const EMITTER: &str = "conformance";
/// The metric names of `docs/semantic-conventions.md`.
pub(crate) const OUTCOMES: &str = heartbeat::semconv::METRIC_OUTCOMES;
pub(crate) const BEATS: &str = heartbeat::semconv::METRIC_BEATS;
pub(crate) const STATUS: &str = heartbeat::semconv::METRIC_EMITTER_STATUS;

/// What the checks of one run share: the target, what it offers, the options, and the
/// recordings of scenarios already run.
pub struct Ctx {
    pub(crate) target: Arc<dyn Target>,
    pub(crate) info: TargetInfo,
    pub(crate) options: RunOptions,
    slots: Semaphore,
    memo: Mutex<HashMap<String, Arc<OnceCell<Recorded>>>>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("target", &self.target.name())
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// A memoised scenario's result, of any type.
type Recorded = Arc<dyn Any + Send + Sync>;

/// A scenario's recording, or why the emitter failed it.
pub(crate) type Run<T> = Result<T, String>;

impl Ctx {
    /// A context for `target`, which offers `info`.
    pub fn new(target: Arc<dyn Target>, info: TargetInfo, options: RunOptions) -> Self {
        let jobs = options.jobs.max(1);
        Self {
            target,
            info,
            options,
            slots: Semaphore::new(jobs),
            memo: Mutex::default(),
        }
    }

    /// Runs `scenario` once per `key` and run; later callers get the same recording.
    pub(crate) async fn memo<T, F>(&self, key: &str, scenario: F) -> Run<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: Future<Output = Run<T>>,
    {
        let cell = {
            let mut memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
            let typed = format!("{key}/{:?}", TypeId::of::<T>());
            Arc::clone(memo.entry(typed).or_default())
        };
        let value = cell
            .get_or_init(|| async {
                let value: Recorded = Arc::new(scenario.await.map(Arc::new));
                value
            })
            .await;
        match value.downcast_ref::<Run<Arc<T>>>() {
            Some(run) => run.clone(),
            None => Err(format!("internal error: scenario {key} has two types")),
        }
    }

    /// Waits for a slot: at most `jobs` emitters run at once.
    pub(crate) async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        self.slots.acquire().await.ok()
    }

    /// Waits for every slot: the per-beat timing runs, judged to tens of milliseconds, run with
    /// no other emitter of the target beside them. Beside three other browser pages on two
    /// cores, one beat of the browser build was once delivered 155 ms past its export interval
    /// while the runner's own timers were late by at most 122 ms: the runner's lateness does
    /// not measure the load other emitters put on the one being timed.
    pub(crate) async fn exclusive(&self) -> Option<SemaphorePermit<'_>> {
        let all = u32::try_from(self.options.jobs.max(1)).unwrap_or(u32::MAX);
        self.slots.acquire_many(all).await.ok()
    }

    /// A receiver and an emitter of the target configured for `scenario` (`tweak` adjusts the
    /// suite's defaults).
    pub(crate) async fn session(
        &self,
        scenario: &str,
        protocol: Protocol,
        tweak: impl FnOnce(&mut EmitterConfig),
    ) -> Run<Session> {
        let rx = Receiver::start(ReceiverOptions::default())
            .await
            .map_err(|e| format!("cannot start the receiver: {e}"))?;
        let mut config = EmitterConfig::new(scenario, rx.endpoint(), protocol);
        tweak(&mut config);
        let emitter = self
            .target
            .start(&config)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Session {
            rx,
            emitter,
            config,
        })
    }

    /// The temporalities to judge a loss case in: every one the emitter declares, its default
    /// first. The default is run as configured by default (no preference set), the others by
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    pub(crate) fn temporalities(&self) -> Vec<(Temporality, Option<Temporality>)> {
        let default = self.info.temporality();
        let mut all = vec![(default, None)];
        for t in &self.info.temporalities {
            if *t != default && !all.iter().any(|(seen, _)| seen == t) {
                all.push((*t, Some(*t)));
            }
        }
        all
    }

    /// The preference that makes the emitter export cumulative sums: none when that is its
    /// default, else `cumulative` (for the rows that only apply to cumulative sums).
    pub(crate) fn cumulative(&self) -> Option<Temporality> {
        (self.info.temporality() != Temporality::Cumulative).then_some(Temporality::Cumulative)
    }

    /// The measurement slack `T` for wall-clock checks.
    pub(crate) fn slack(&self) -> Duration {
        self.options.tolerance
    }
}

/// Measures how late this machine wakes a sleeping task, while a wall-clock scenario runs: the
/// lateness of a 20 ms sleep, over and over. The wall-clock checks derive their slack from it,
/// so that a busy machine (other builds on the same two cores) reads as noise, not as a late
/// emitter: the 90th percentile widens the bound most beats must keep, the worst the bound
/// every beat must keep.
pub(crate) struct Noise {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<Duration>>,
}

/// What [`Noise`] measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct NoiseStats {
    /// The 90th percentile of the lateness.
    pub(crate) p90: Duration,
    /// The worst lateness, at most a second.
    pub(crate) worst: Duration,
    /// How long the machine was busy: the time covered by the sleeps that woke more than
    /// [`BUSY`] late.
    pub(crate) busy: Duration,
}

/// Lateness past which a wake-up counts towards [`NoiseStats::busy`].
pub(crate) const BUSY: Duration = Duration::from_millis(15);

impl Noise {
    pub(crate) fn start() -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut late = Vec::new();
            let step = Duration::from_millis(20);
            loop {
                let t = tokio::time::Instant::now();
                tokio::select! {
                    () = tokio::time::sleep(step) => {}
                    _ = stopped.changed() => return late,
                }
                late.push(t.elapsed().saturating_sub(step));
            }
        });
        Self { stop, task }
    }

    /// What was measured.
    pub(crate) async fn finish(self) -> NoiseStats {
        let _ = self.stop.send(true);
        let mut late = self.task.await.unwrap_or_default();
        late.sort();
        let cap = Duration::from_secs(1);
        let busy = late
            .iter()
            .filter(|l| **l > BUSY)
            .map(|l| *l + Duration::from_millis(20))
            .sum();
        NoiseStats {
            busy,
            p90: late
                .get(late.len() * 9 / 10)
                .copied()
                .unwrap_or_default()
                .min(cap),
            worst: late.last().copied().unwrap_or_default().min(cap),
        }
    }
}

/// A receiver with one emitter talking to it.
pub(crate) struct Session {
    pub(crate) rx: Receiver,
    pub(crate) emitter: Box<dyn Emitter>,
    pub(crate) config: EmitterConfig,
}

impl Session {
    /// Sends a command; a protocol failure or a refusal is an error naming the command.
    pub(crate) async fn send(&mut self, command: Command) -> Run<Reply> {
        let reply = self
            .emitter
            .send(&command)
            .await
            .map_err(|e| format!("{command:?}: {e}"))?;
        if reply.ok {
            Ok(reply)
        } else {
            Err(format!(
                "{command:?} was refused: {}",
                reply.error.unwrap_or_default()
            ))
        }
    }

    /// Declares the suite's outcome (`conformance.check`, reason `timeout`, `surface`).
    pub(crate) async fn declare(&mut self) -> Run<()> {
        self.send(Command::Declare {
            outcome: OUTCOME.to_owned(),
            reasons: vec![REASON.to_owned()],
            attributes: attrs(),
        })
        .await
        .map(drop)
    }

    /// Records `count` events of the suite's outcome.
    pub(crate) async fn record(
        &mut self,
        result: ResultKind,
        reason: Option<&str>,
        tenant: Option<&str>,
        count: u64,
    ) -> Run<()> {
        self.send(Command::Record {
            outcome: OUTCOME.to_owned(),
            result,
            reason: reason.map(str::to_owned),
            tenant: tenant.map(str::to_owned),
            count,
            attributes: attrs(),
        })
        .await
        .map(drop)
    }

    /// Records `count` successes (no tenant).
    pub(crate) async fn successes(&mut self, count: u64) -> Run<()> {
        self.record(ResultKind::Success, None, None, count).await
    }

    /// Starts the suite's dead-man emitter.
    pub(crate) async fn beat(&mut self, cadence_ms: u64, jitter_ms: Option<u64>) -> Run<()> {
        self.send(Command::Beat {
            emitter: EMITTER.to_owned(),
            cadence_ms,
            jitter_ms,
        })
        .await
        .map(drop)
    }

    /// When each beat of the suite's dead-man emitter happened, on the emitter's clock mapped
    /// onto the receiver's (milliseconds since the receiver started), when the emitter offers
    /// `beat_times`; else `None`.
    pub(crate) async fn beat_times(&mut self, offered: bool) -> Run<Option<Vec<f64>>> {
        if !offered {
            return Ok(None);
        }
        let reply = self
            .send(Command::BeatTimes {
                emitter: EMITTER.to_owned(),
            })
            .await?;
        let unix_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0;
        let origin = unix_now - self.rx.now().as_secs_f64() * 1000.0;
        let values = match &reply.value {
            Some(serde_json::Value::Array(values)) => values,
            other => {
                return Err(format!(
                    "beat_times answered {other:?}, not an array of Unix times in milliseconds"
                ));
            }
        };
        let mut times = Vec::with_capacity(values.len());
        for v in values {
            match v.as_f64() {
                Some(t) if t.is_finite() => times.push(t - origin),
                _ => {
                    return Err(format!(
                        "beat_times answered {v} among its times, not a number of milliseconds"
                    ));
                }
            }
        }
        if times.windows(2).any(|w| w[1] < w[0]) {
            return Err("beat_times answered times out of order".to_owned());
        }
        Ok(Some(times))
    }

    /// Asks for an export now; whether the collector accepted it does not matter here.
    pub(crate) async fn flush(&mut self) -> Run<()> {
        self.emitter
            .send(&Command::Flush)
            .await
            .map(drop)
            .map_err(|e| format!("flush: {e}"))
    }

    /// A graceful shutdown.
    pub(crate) async fn shutdown(&mut self) -> Run<Reply> {
        self.emitter
            .send(&Command::Shutdown)
            .await
            .map_err(|e| format!("shutdown: {e}"))
    }

    /// Every point so far.
    pub(crate) fn points(&self) -> Vec<Point> {
        kit::points(&self.rx.requests())
    }

    /// The accepted total of the suite's success series (no tenant).
    pub(crate) fn success_total(&self) -> i64 {
        success_total(&self.points())
    }

    /// Waits until the accepted success total reaches `n`, at most `limit`.
    pub(crate) async fn wait_successes(&self, n: i64, limit: Duration) -> bool {
        self.rx
            .wait_for(limit, |reqs| success_total(&kit::points(reqs)) >= n)
            .await
    }
}

/// The suite's fixed attributes.
pub(crate) fn attrs() -> BTreeMap<String, String> {
    BTreeMap::from([(SURFACE.0.to_owned(), SURFACE.1.to_owned())])
}

/// The filter of the suite's success series without a tenant.
pub(crate) const SUCCESS: [(&str, &str); 2] = [
    ("heartbeat.outcome", OUTCOME),
    ("heartbeat.result", "success"),
];

/// The accepted total of the suite's success series (no tenant).
pub(crate) fn success_total(points: &[Point]) -> i64 {
    kit::total(points, OUTCOMES, &SUCCESS, &["heartbeat.tenant"])
}

/// A probe for requests carrying at least `at_least` successes of the suite's outcome.
pub(crate) fn carrying(at_least: i64) -> heartbeat_testkit::Probe {
    heartbeat_testkit::Probe::Carrying {
        metric: OUTCOMES.to_owned(),
        attributes: SUCCESS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        at_least,
    }
}

/// A duration in milliseconds, for details.
pub(crate) fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}
