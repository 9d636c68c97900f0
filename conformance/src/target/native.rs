//! The Rust SDK as an emitter: [`SdkDriver`] carries out the emitter protocol's commands on a
//! `heartbeat::Heartbeat`; [`Native`] runs it in this process on a runtime thread of its own
//! (so that a kill drops the runtime without a final export, and a stall blocks it), and
//! [`serve_stdio`] speaks the line protocol for the `native-bin` target.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::Duration;

use heartbeat::{Deadman, Heartbeat, Outcome};
use heartbeat_testkit::clock::TokioClock;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use super::{
    Command, ENV_TENANT_LIMIT, Emitter, EmitterConfig, KillMode, Protocol, Reply, ResultKind,
    Target, TargetError, TargetInfo, Temporality,
};

/// What the Rust SDK offers, as `native` and `native-bin` describe it.
fn sdk_info(name: &str, memory: bool) -> TargetInfo {
    TargetInfo {
        name: format!("heartbeat {} (Rust SDK), {name}", env!("CARGO_PKG_VERSION")),
        heartbeat: true,
        browser: false,
        protocols: vec![Protocol::HttpProtobuf, Protocol::HttpJson, Protocol::Grpc],
        temporalities: vec![Temporality::Cumulative, Temporality::Delta],
        gzip: true,
        env: true,
        stall: true,
        visibility: false,
        memory,
        kill: KillMode::Signal,
        beat_times: true,
    }
}

/// Carries out emitter-protocol commands on a Heartbeat pipeline.
pub struct SdkDriver {
    hb: Heartbeat,
    outcomes: HashMap<String, Outcome>,
    deadmen: HashMap<String, Deadman>,
    /// When each emitter's beats happened (Unix milliseconds), for `beat_times`.
    beat_times: HashMap<String, BeatTimes>,
}

/// Beat times recorded by a gate that passes at every tick: the SDK runs the gate at the
/// (jittered) tick and beats when it passes, so its time is the beat's on the emitter's clock.
type BeatTimes = std::sync::Arc<std::sync::Mutex<Vec<f64>>>;

fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

impl std::fmt::Debug for SdkDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SdkDriver")
            .field("outcomes", &self.outcomes.len())
            .field("deadmen", &self.deadmen.len())
            .finish_non_exhaustive()
    }
}

fn key(outcome: &str, attributes: &BTreeMap<String, String>) -> String {
    let mut k = outcome.to_owned();
    for (a, v) in attributes {
        k.push('\u{1f}');
        k.push_str(a);
        k.push('=');
        k.push_str(v);
    }
    k
}

impl SdkDriver {
    /// Builds the pipeline from `OTEL_*` variables (`env`, or the process environment when
    /// `None`) and spawns its driver on the current tokio runtime.
    ///
    /// # Errors
    /// The SDK's build error, as text.
    pub fn start(env: Option<Vec<(String, String)>>) -> Result<Self, String> {
        let limit = match &env {
            Some(vars) => vars
                .iter()
                .find(|(k, _)| k == ENV_TENANT_LIMIT)
                .map(|(_, v)| v.clone()),
            None => std::env::var(ENV_TENANT_LIMIT).ok(),
        };
        let mut builder = Heartbeat::builder();
        if let Some(vars) = env {
            builder = builder.with_environment(vars);
        }
        if let Some(limit) = limit {
            let limit: usize = limit
                .parse()
                .map_err(|_| format!("{ENV_TENANT_LIMIT}={limit:?} is not a number"))?;
            builder = builder.with_tenant_limit(limit);
        }
        let hb = builder.install().map_err(|e| e.to_string())?;
        Ok(Self {
            hb,
            outcomes: HashMap::new(),
            deadmen: HashMap::new(),
            beat_times: HashMap::new(),
        })
    }

    fn declare(
        &mut self,
        outcome: &str,
        reasons: &[String],
        attributes: &BTreeMap<String, String>,
    ) -> Result<Outcome, String> {
        let mut builder = self.hb.outcome(outcome);
        for (k, v) in attributes {
            builder = builder.with_attribute(k.clone(), v.clone());
        }
        let handle = builder
            .with_reasons(reasons.iter().cloned())
            .build()
            .map_err(|e| e.to_string())?;
        self.outcomes
            .insert(key(outcome, attributes), handle.clone());
        Ok(handle)
    }

    /// Carries out one command.
    pub async fn handle(&mut self, command: Command) -> Reply {
        match command {
            Command::Declare {
                outcome,
                reasons,
                attributes,
            } => match self.declare(&outcome, &reasons, &attributes) {
                Ok(_) => Reply::ok(),
                Err(e) => Reply::error(e),
            },
            Command::Record {
                outcome,
                result,
                reason,
                tenant,
                count,
                attributes,
            } => {
                let handle = match self.outcomes.get(&key(&outcome, &attributes)) {
                    Some(h) => h.clone(),
                    None => match self.declare(&outcome, &[], &attributes) {
                        Ok(h) => h,
                        Err(e) => return Reply::error(e),
                    },
                };
                for _ in 0..count {
                    match (result, tenant.as_deref(), reason.as_deref()) {
                        (ResultKind::Success, None, _) => handle.success(),
                        (ResultKind::Success, Some(t), _) => handle.success_for(t),
                        (ResultKind::Failure, None, None) => handle.failure(),
                        (ResultKind::Failure, None, Some(r)) => handle.failure_with(r),
                        (ResultKind::Failure, Some(t), None) => handle.failure_for(t),
                        (ResultKind::Failure, Some(t), Some(r)) => handle.failure_for_with(t, r),
                    }
                }
                Reply::ok()
            }
            Command::Beat {
                emitter,
                cadence_ms,
                jitter_ms,
            } => {
                let mut builder = self
                    .hb
                    .deadman(emitter.clone())
                    .with_cadence(Duration::from_millis(cadence_ms));
                if let Some(j) = jitter_ms {
                    builder = builder.with_jitter(Duration::from_millis(j));
                }
                let times = BeatTimes::default();
                let record = std::sync::Arc::clone(&times);
                builder = builder.with_async_gate(move || {
                    let record = std::sync::Arc::clone(&record);
                    async move {
                        record
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(unix_ms());
                        true
                    }
                });
                match builder.start() {
                    Ok(d) => {
                        self.deadmen.insert(emitter.clone(), d);
                        self.beat_times.insert(emitter, times);
                        Reply::ok()
                    }
                    Err(e) => Reply::error(e.to_string()),
                }
            }
            Command::BeatStop { emitter } => match self.deadmen.remove(&emitter) {
                Some(d) => match d.stop().await {
                    Ok(()) => Reply::ok(),
                    Err(e) => Reply::error(e.to_string()),
                },
                None => Reply::error(format!("no emitter named {emitter:?} is running")),
            },
            Command::BeatTimes { emitter } => match self.beat_times.get(&emitter) {
                Some(times) => Reply::value(serde_json::json!(
                    *times
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                )),
                None => Reply::error(format!("no emitter named {emitter:?} was started")),
            },
            Command::Flush => Reply::value(serde_json::Value::Bool(self.hb.flush().await.is_ok())),
            Command::Shutdown => {
                let ok = self.hb.shutdown().await.is_ok();
                self.deadmen.clear();
                Reply::value(serde_json::Value::Bool(ok))
            }
            Command::Hide | Command::Show => Reply::error("a process has no page to hide or show"),
            Command::Kill => Reply::error("kill this emitter with a signal"),
        }
    }
}

/// The Rust SDK in this process: each emitter gets a thread with its own tokio runtime.
#[derive(Debug, Default)]
pub struct Native;

enum Ctl {
    Command(Command, oneshot::Sender<Reply>),
    Stall(Duration, oneshot::Sender<()>),
    Kill,
}

struct NativeEmitter {
    tx: mpsc::UnboundedSender<Ctl>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[async_trait::async_trait]
impl Target for Native {
    fn name(&self) -> &str {
        "native"
    }

    async fn describe(&self) -> Result<TargetInfo, TargetError> {
        Ok(sdk_info("in process", false))
    }

    async fn virtual_beats(
        &self,
        cadence: Duration,
        jitter: Duration,
        beats: usize,
    ) -> Result<Vec<Duration>, TargetError> {
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("conformance-virtual".to_owned())
            .spawn(move || {
                let _ = tx.send(virtual_beats(cadence, jitter, beats));
            })
            .map_err(|e| TargetError::Start(e.to_string()))?;
        rx.await
            .map_err(|_| TargetError::Protocol("the virtual-time thread ended".to_owned()))?
            .map_err(TargetError::Protocol)
    }

    async fn start(&self, config: &EmitterConfig) -> Result<Box<dyn Emitter>, TargetError> {
        let env = config.environment();
        let (tx, mut rx) = mpsc::unbounded_channel::<Ctl>();
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
        let thread = std::thread::Builder::new()
            .name(format!("conformance-{}", config.scenario))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mut driver = match SdkDriver::start(Some(env)) {
                        Ok(d) => d,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    while let Some(ctl) = rx.recv().await {
                        match ctl {
                            Ctl::Command(command, reply) => {
                                let last = command == Command::Shutdown;
                                let answer = driver.handle(command).await;
                                let _ = reply.send(answer);
                                if last {
                                    return;
                                }
                            }
                            // Blocks the runtime's only thread: every task of this emitter stops.
                            Ctl::Stall(d, done) => {
                                std::thread::sleep(d);
                                let _ = done.send(());
                            }
                            Ctl::Kill => {
                                // Dropping the handles would wake the export driver for a
                                // final export; a killed process sends nothing.
                                std::mem::forget(driver);
                                return;
                            }
                        }
                    }
                });
                // Drops every task without polling it again: nothing more is sent.
                runtime.shutdown_background();
            })
            .map_err(|e| TargetError::Start(e.to_string()))?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(Box::new(NativeEmitter {
                tx,
                thread: Some(thread),
            })),
            Ok(Err(e)) => Err(TargetError::Start(e)),
            Err(_) => Err(TargetError::Start(
                "the emitter thread ended before it was ready".to_owned(),
            )),
        }
    }
}

#[async_trait::async_trait]
impl Emitter for NativeEmitter {
    async fn send(&mut self, command: &Command) -> Result<Reply, TargetError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Ctl::Command(command.clone(), reply))
            .map_err(|_| TargetError::Protocol("the emitter has stopped".to_owned()))?;
        let answer = rx.await.map_err(|_| {
            TargetError::Protocol("the emitter stopped before answering".to_owned())
        })?;
        if *command == Command::Shutdown {
            self.join();
        }
        Ok(answer)
    }

    async fn kill(&mut self) {
        let _ = self.tx.send(Ctl::Kill);
        self.join();
    }

    async fn stall(&mut self, duration: Duration) -> Result<(), TargetError> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Ctl::Stall(duration, done))
            .map_err(|_| TargetError::Protocol("the emitter has stopped".to_owned()))?;
        rx.await
            .map_err(|_| TargetError::Protocol("the emitter stopped while stalled".to_owned()))
    }
}

impl NativeEmitter {
    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for NativeEmitter {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.tx.send(Ctl::Kill);
            self.join();
        }
    }
}

/// The SDK's dead-man emitter on a paused current-thread runtime with a [`TokioClock`],
/// attached to a provider without readers (nothing is exported): each beat's time is read from
/// the emitter's beat count, polled every virtual millisecond.
fn virtual_beats(
    cadence: Duration,
    jitter: Duration,
    beats: usize,
) -> Result<Vec<Duration>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let origin = tokio::time::Instant::now();
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let clock: std::sync::Arc<dyn heartbeat::clock::Clock> = TokioClock::starting_at(unix);
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
        let (hb, _idle) = Heartbeat::builder()
            .with_meter_provider(provider)
            .with_clock(clock)
            .build()
            .map_err(|e| e.to_string())?;
        let emitter = hb
            .deadman("virtual")
            .with_cadence(cadence)
            .with_jitter(jitter)
            .start()
            .map_err(|e| e.to_string())?;
        let mut times = Vec::with_capacity(beats);
        let limit = cadence.saturating_mul(u32::try_from(beats).unwrap_or(u32::MAX)) + cadence * 2;
        while times.len() < beats && origin.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let count = usize::try_from(emitter.health().beats).unwrap_or(usize::MAX);
            while times.len() < count.min(beats) {
                times.push(origin.elapsed());
            }
        }
        drop(emitter);
        Ok(times)
    })
}

/// Runs the emitter protocol on standard input and output with the Rust SDK configured from the
/// process environment: prints the `hello` line, then answers one line per command, until
/// `shutdown` or the end of input (which shuts down too). This is the `native-bin` target.
///
/// # Errors
/// When the pipeline cannot be built from the environment, or standard output is closed.
pub async fn serve_stdio() -> Result<(), String> {
    let mut driver = SdkDriver::start(None)?;
    let info = sdk_info("separate process", true);
    say(&serde_json::json!({ "hello": info }))?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) | Err(_) => {
                let _ = driver.handle(Command::Shutdown).await;
                return Ok(());
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let command: Command = match serde_json::from_str(&line) {
            Ok(c) => c,
            Err(e) => {
                say(&Reply::error(format!("not a command: {e}")))?;
                continue;
            }
        };
        let last = command == Command::Shutdown;
        let reply = driver.handle(command).await;
        say(&reply)?;
        if last {
            return Ok(());
        }
    }
}

fn say<T: serde::Serialize>(value: &T) -> Result<(), String> {
    let line = serde_json::to_string(value).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("standard output: {e}"))
}
