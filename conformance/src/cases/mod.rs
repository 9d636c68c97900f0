//! The case table: one row per requirement of `SPEC.md`, and the context the checks share.
//!
//! A check starts emitters through the target, scripts the [`Receiver`], and decides from what
//! arrived. Several requirements are judged from one recorded scenario (a run with outcomes and
//! a dead-man emitter answers most of the wire and semantics rows), so scenarios are memoised in
//! the [`Ctx`]: the first check that needs one runs it, the others await the same recording.

mod detection;
mod faults;
mod receiver;
mod scenarios;
mod semantics;
mod timing;
mod wire;

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OnceCell, Semaphore, SemaphorePermit};

use crate::otlp::{self, Point};
use crate::receiver::{Receiver, ReceiverOptions};
use crate::runner::RunOptions;
use crate::spec::{Case, Level, Needs, Scope};
use crate::target::{
    Command, Emitter, EmitterConfig, Protocol, Reply, ResultKind, Target, TargetInfo, Temporality,
};

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
        otlp::points(&self.rx.requests())
    }

    /// The accepted total of the suite's success series (no tenant).
    pub(crate) fn success_total(&self) -> i64 {
        success_total(&self.points())
    }

    /// Waits until the accepted success total reaches `n`, at most `limit`.
    pub(crate) async fn wait_successes(&self, n: i64, limit: Duration) -> bool {
        self.rx
            .wait_for(limit, |reqs| success_total(&otlp::points(reqs)) >= n)
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
    otlp::total(points, OUTCOMES, &SUCCESS, &["heartbeat.tenant"])
}

/// A probe for requests carrying at least `at_least` successes of the suite's outcome.
pub(crate) fn carrying(at_least: i64) -> crate::receiver::Probe {
    crate::receiver::Probe::Carrying {
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

macro_rules! row {
    ($id:literal, $level:ident, $scope:ident, $needs:expr, $check:path, $description:literal) => {
        Case {
            id: $id,
            level: Level::$level,
            scope: Scope::$scope,
            needs: $needs,
            description: $description,
            check: |ctx| Box::pin($check(ctx)),
        }
    };
}

use Needs::{Env, Http, Nothing, ProtobufOrGrpc, Stall, Visibility};
const GRPC: Needs = Needs::Protocol(Protocol::Grpc);
const PROTOBUF: Needs = Needs::Protocol(Protocol::HttpProtobuf);
const JSON: Needs = Needs::Protocol(Protocol::HttpJson);
const CUMULATIVE: Needs = Needs::Temporality(Temporality::Cumulative);
const DELTA: Needs = Needs::Temporality(Temporality::Delta);

static CASES: [Case; 61] = [
    // Wire
    row!(
        "HB-001",
        Must,
        All,
        Nothing,
        wire::transport,
        "exports decodable OTLP metrics over a configured transport"
    ),
    row!(
        "HB-002",
        Should,
        All,
        Nothing,
        wire::offers_protobuf,
        "supports http/protobuf"
    ),
    row!(
        "HB-003",
        Must,
        All,
        Http,
        wire::http_path,
        "POSTs to <endpoint>/v1/metrics"
    ),
    row!(
        "HB-004",
        Must,
        All,
        PROTOBUF,
        wire::protobuf_content,
        "http/protobuf: Content-Type application/x-protobuf, protobuf body"
    ),
    row!(
        "HB-005",
        Must,
        All,
        JSON,
        wire::json_shape,
        "http/json: Content-Type application/json, lowerCamelCase keys, enums as integers"
    ),
    row!(
        "HB-006",
        Must,
        All,
        JSON,
        wire::json_integers,
        "http/json: 64-bit integers as decimal strings or integers, never floats"
    ),
    row!(
        "HB-007",
        Should,
        All,
        JSON,
        wire::json_integer_strings,
        "http/json: 64-bit integers as decimal strings"
    ),
    row!(
        "HB-008",
        Must,
        All,
        GRPC,
        wire::grpc_call,
        "grpc: unary MetricsService/Export, application/grpc, framed message"
    ),
    row!(
        "HB-009",
        Must,
        All,
        Nothing,
        wire::compression_labelled,
        "compressed bodies are labelled, labelled bodies compressed"
    ),
    row!(
        "HB-010",
        Should,
        All,
        Nothing,
        wire::gzip,
        "gzip compression when configured"
    ),
    row!(
        "HB-011",
        Must,
        All,
        Env,
        wire::env_endpoint,
        "OTEL_EXPORTER_OTLP_ENDPOINT, _PROTOCOL and _HEADERS are honoured"
    ),
    row!(
        "HB-012",
        Must,
        All,
        Env,
        wire::env_signal_endpoint,
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is used as given"
    ),
    row!(
        "HB-013",
        Must,
        All,
        Env,
        wire::env_resource,
        "OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES set the resource"
    ),
    row!(
        "HB-014",
        Should,
        All,
        Env,
        wire::env_interval,
        "OTEL_METRIC_EXPORT_INTERVAL sets the export interval"
    ),
    row!(
        "HB-015",
        Must,
        All,
        Nothing,
        wire::service_name,
        "service.name on every resource"
    ),
    row!(
        "HB-016",
        Must,
        All,
        ProtobufOrGrpc,
        wire::through_collector,
        "arrives intact through a real collector (rotel)"
    ),
    row!(
        "HB-017",
        May,
        All,
        Nothing,
        wire::offers_json,
        "supports http/json"
    ),
    // Semantics
    row!(
        "HB-020",
        Must,
        Heartbeat,
        Nothing,
        semantics::resource,
        "service.instance.id (128-bit hex) and telemetry.sdk.* on the resource"
    ),
    row!(
        "HB-021",
        Must,
        Heartbeat,
        Nothing,
        semantics::outcomes_shape,
        "heartbeat.outcomes: monotonic int Sum, unit {outcome}, scope heartbeat"
    ),
    row!(
        "HB-022",
        Must,
        Heartbeat,
        Nothing,
        semantics::outcome_attributes,
        "outcome, result, reason on failures only, tenant on drill-down only"
    ),
    row!(
        "HB-023",
        Must,
        Heartbeat,
        Nothing,
        semantics::declared_at_zero,
        "declared outcomes are exported at zero from the first export"
    ),
    row!(
        "HB-024",
        Must,
        Heartbeat,
        Nothing,
        semantics::exactly_once,
        "every event counted exactly once"
    ),
    row!(
        "HB-025",
        Must,
        Heartbeat,
        Nothing,
        semantics::corrections,
        "no reason is unspecified, undeclared is other, bad tenant is _overflow"
    ),
    row!(
        "HB-026",
        Must,
        Heartbeat,
        Nothing,
        semantics::overflow,
        "_overflow keeps outcome, fixed attributes, result and reason"
    ),
    row!(
        "HB-027",
        Must,
        All,
        CUMULATIVE,
        semantics::monotonic,
        "cumulative sums never decrease"
    ),
    row!(
        "HB-028",
        Must,
        All,
        CUMULATIVE,
        semantics::start_stable,
        "a series' start time is stable within a process"
    ),
    row!(
        "HB-029",
        Must,
        All,
        CUMULATIVE,
        semantics::restart_start,
        "after a restart: a new, later start time and counts from zero"
    ),
    row!(
        "HB-030",
        Must,
        Heartbeat,
        Nothing,
        semantics::restart_instance,
        "a new service.instance.id at every start"
    ),
    row!(
        "HB-031",
        Must,
        All,
        DELTA,
        semantics::delta_chain,
        "delta points chain without gaps or overlaps"
    ),
    row!(
        "HB-032",
        Must,
        Heartbeat,
        Nothing,
        semantics::beats_shape,
        "heartbeat.beats: monotonic int Sum, unit {beat}, heartbeat.emitter"
    ),
    row!(
        "HB-033",
        Must,
        Process,
        Nothing,
        semantics::status_gauge,
        "heartbeat.emitter.status: int gauge, 0 while beating"
    ),
    row!(
        "HB-034",
        May,
        All,
        Nothing,
        semantics::offers_delta,
        "offers delta temporality"
    ),
    // Heartbeat timing
    row!(
        "HB-040",
        Must,
        Heartbeat,
        Nothing,
        timing::cadence,
        "beats at the configured cadence"
    ),
    row!(
        "HB-041",
        Must,
        Heartbeat,
        Nothing,
        timing::no_drift,
        "no drift: beats stay on the start + n x cadence grid"
    ),
    row!(
        "HB-042",
        Must,
        Heartbeat,
        Nothing,
        timing::jitter_bound,
        "each beat within [tick, tick + jitter]"
    ),
    row!(
        "HB-043",
        Should,
        Process,
        Nothing,
        timing::jitter_applied,
        "the configured jitter is applied"
    ),
    row!(
        "HB-044",
        Must,
        Heartbeat,
        Nothing,
        timing::latency_interval,
        "a beat is on the wire within one export interval"
    ),
    row!(
        "HB-045",
        Should,
        Heartbeat,
        Nothing,
        timing::latency_at_once,
        "a beat is exported at once, whatever the export interval"
    ),
    row!(
        "HB-046",
        Must,
        Browser,
        Visibility,
        timing::hidden_page,
        "no beats while hidden; resumes on the grid without a burst"
    ),
    row!(
        "HB-047",
        Must,
        Process,
        Nothing,
        timing::stop_signal,
        "an intentional stop exports status 2"
    ),
    row!(
        "HB-048",
        Must,
        Heartbeat,
        Nothing,
        timing::silence_on_kill,
        "nothing is sent after a kill"
    ),
    row!(
        "HB-049",
        Should,
        Heartbeat,
        Stall,
        timing::stall,
        "after a stall: one beat, no burst, back on the grid"
    ),
    // Faults
    row!(
        "HB-060",
        Must,
        All,
        Nothing,
        faults::retryable_delivered,
        "retryable answers: the data is delivered later"
    ),
    row!(
        "HB-061",
        Must,
        All,
        Http,
        faults::http_not_retried,
        "non-retryable HTTP answers are not retried"
    ),
    row!(
        "HB-062",
        Should,
        All,
        GRPC,
        faults::grpc_not_retried,
        "non-retryable gRPC codes are not retried"
    ),
    row!(
        "HB-063",
        Should,
        All,
        GRPC,
        faults::resource_exhausted,
        "RESOURCE_EXHAUSTED without RetryInfo is not retried"
    ),
    row!(
        "HB-064",
        Should,
        All,
        Http,
        faults::retry_after,
        "Retry-After is honoured"
    ),
    row!(
        "HB-065",
        Should,
        All,
        GRPC,
        faults::retry_info,
        "RetryInfo is honoured"
    ),
    row!(
        "HB-066",
        Should,
        All,
        Nothing,
        faults::backoff,
        "exponential backoff with jitter"
    ),
    row!(
        "HB-067",
        Must,
        All,
        Nothing,
        faults::partial_success,
        "a partial success is not retried"
    ),
    row!(
        "HB-068",
        Must,
        All,
        Nothing,
        faults::outage,
        "no count lost across an outage"
    ),
    row!(
        "HB-069",
        Must,
        All,
        Nothing,
        faults::hung_collector,
        "a collector that never answers: timeouts, then delivery"
    ),
    row!(
        "HB-070",
        Must,
        All,
        Nothing,
        faults::bounded_memory,
        "memory bounded while the collector is down"
    ),
    row!(
        "HB-071",
        Must,
        All,
        Nothing,
        faults::shutdown_flush,
        "a graceful shutdown exports what was recorded"
    ),
    row!(
        "HB-072",
        Must,
        All,
        Env,
        faults::shutdown_deadline,
        "shutdown returns within its deadline against a hung collector"
    ),
    // Detection
    row!(
        "HB-080",
        Must,
        Heartbeat,
        Nothing,
        detection::dead,
        "after a kill the dead-man rule fires in bound: process_down"
    ),
    row!(
        "HB-081",
        Must,
        Heartbeat,
        CUMULATIVE,
        detection::lossy,
        "a pipeline dropping exports is lossy_pipeline"
    ),
    row!(
        "HB-082",
        Must,
        Heartbeat,
        Nothing,
        detection::restart,
        "a crash and a new instance is restart"
    ),
    row!(
        "HB-083",
        Must,
        Process,
        Nothing,
        detection::planned_stop,
        "an intentional stop does not page"
    ),
    // Receiver
    row!(
        "HB-090",
        Must,
        Receiver,
        Nothing,
        receiver::json_integers,
        "the watch accepts 64-bit integers as strings and numbers"
    ),
    row!(
        "HB-091",
        Must,
        Receiver,
        Nothing,
        receiver::gzip_bodies,
        "the watch accepts gzip protobuf and JSON bodies"
    ),
];

/// The case table, in `SPEC.md` order.
pub fn cases() -> &'static [Case] {
    &CASES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::spec_rows;
    use std::collections::BTreeSet;

    #[test]
    fn every_spec_requirement_has_exactly_one_case_and_every_case_a_requirement() {
        let spec = spec_rows().unwrap();
        let spec_ids: Vec<&str> = spec.iter().map(|r| r.id.as_str()).collect();
        let case_ids: Vec<&str> = cases().iter().map(|c| c.id).collect();
        let unique: BTreeSet<&str> = case_ids.iter().copied().collect();
        assert_eq!(unique.len(), case_ids.len(), "a case id is repeated");
        let spec_set: BTreeSet<&str> = spec_ids.iter().copied().collect();
        assert_eq!(spec_set.len(), spec_ids.len(), "a SPEC.md id is repeated");
        let missing: Vec<&&str> = spec_set.difference(&unique).collect();
        let extra: Vec<&&str> = unique.difference(&spec_set).collect();
        assert!(
            missing.is_empty(),
            "SPEC.md ids without a case: {missing:?}"
        );
        assert!(extra.is_empty(), "cases without a SPEC.md id: {extra:?}");
        assert_eq!(spec_ids, case_ids, "the table is not in SPEC.md order");
    }

    #[test]
    fn levels_and_scopes_agree_with_the_spec() {
        for row in spec_rows().unwrap() {
            let case = cases().iter().find(|c| c.id == row.id).unwrap();
            assert_eq!(case.level, row.level, "{}", row.id);
            assert_eq!(case.scope, row.scope, "{}", row.id);
        }
    }

    #[test]
    fn the_spec_has_musts_shoulds_and_mays() {
        let rows = spec_rows().unwrap();
        for level in [Level::Must, Level::Should, Level::May] {
            assert!(rows.iter().any(|r| r.level == level), "no {level}");
        }
    }
}
