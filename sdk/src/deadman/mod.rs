//! The dead-man heartbeat emitter (native): a tokio task per named emitter that beats on its
//! cadence through the OTLP pipeline (`heartbeat.beats`, exported at once rather than at the next
//! export interval) and, optionally, straight to an external channel ([`PingConfig`]).
//!
//! ```text
//! Schedule (beat.rs) ──tick──► gate (predicate + outcome windows, bounded)
//!      │                         │
//!      │            EmitterState::on_tick (beat.rs): beat n / fail(reason) / quiet
//!      │                         │
//!      └── sleep until the next tick      ├─► count + export now (driver) ──► OTLP
//!                                         └─► ping worker (one in flight) ──► external channel
//! ```
//!
//! A graceful [`Deadman::stop`] (or [`Heartbeat::shutdown`]) sends "stopped on purpose"; a
//! dropped handle, a crash or a hung runtime goes silent, which is what must page.

pub(crate) mod beat;
mod error;
mod gate;
mod ping;
pub(crate) mod telemetry;

pub use self::error::{DeadmanError, InvalidCertificate, InvalidPingUrl, StopError};
pub use self::gate::GateOutput;
pub use self::ping::PingConfig;

use self::beat::{
    Action, DEFAULT_CADENCE, EmitterBook, EmitterState, EmitterStatus, PingFailure, Schedule,
};
use self::gate::{GateRunner, Predicate};
use self::ping::{Pinger, Signal, Summary};
use crate::export::Heartbeat;
use heartbeat_core::clock::Clock;
use heartbeat_core::outcome::Outcome;
use heartbeat_core::validate;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The longest default gate timeout (it is also at most half the cadence).
const DEFAULT_GATE_TIMEOUT: Duration = Duration::from_secs(1);

enum Ctl {
    /// Stop on purpose; `flush` exports the stopped status at once (a shutdown exports it
    /// itself, last).
    Stop {
        flush: bool,
        reply: oneshot::Sender<Result<(), StopError>>,
    },
}

struct Control {
    state: Arc<EmitterState>,
    generation: u64,
    commands: mpsc::UnboundedSender<Ctl>,
    /// How long its stop may take.
    stop_bound: Duration,
}

/// The emitters of one pipeline: their shared state (read by the metric callbacks) and the
/// controls of the running ones (used by [`Heartbeat::shutdown`]).
#[derive(Default)]
pub(crate) struct Book {
    pub(crate) states: Arc<EmitterBook>,
    controls: Mutex<Vec<Control>>,
}

impl fmt::Debug for Book {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Book").finish_non_exhaustive()
    }
}

impl Book {
    fn controls(&self) -> std::sync::MutexGuard<'_, Vec<Control>> {
        self.controls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn forget(&self, state: &Arc<EmitterState>, generation: u64) {
        self.controls()
            .retain(|c| !(Arc::ptr_eq(&c.state, state) && c.generation == generation));
    }

    /// Stops every running emitter on purpose (stop pings included) and waits for them, each
    /// within its bound. The caller exports the stopped statuses afterwards.
    pub(crate) async fn stop_all(&self) {
        let mut waits = Vec::new();
        for c in self.controls().iter() {
            if !c.state.is_current(c.generation) {
                continue;
            }
            let (reply, rx) = oneshot::channel();
            if c.commands
                .send(Ctl::Stop {
                    flush: false,
                    reply,
                })
                .is_ok()
            {
                waits.push((rx, c.stop_bound));
            }
        }
        for (rx, bound) in waits {
            let _ = tokio::time::timeout(bound, rx).await;
        }
    }
}

/// What an emitter has done so far.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadmanHealth {
    /// Beats sent since the process started (the `heartbeat.beats` value).
    pub beats: u64,
    /// Where the emitter stands.
    pub status: EmitterStatus,
    /// Ticks skipped because the emitter woke after them (a stall).
    pub ticks_skipped: u64,
    /// Pings the channel accepted.
    pub pings_ok: u64,
    /// Pings that failed after their retries.
    pub pings_failed: u64,
    /// Beats not pinged because the previous ping was still in flight.
    pub pings_skipped: u64,
}

/// Configures a dead-man emitter; from [`Heartbeat::deadman`].
#[must_use = "call .start() to start the emitter"]
pub struct DeadmanBuilder {
    hb: Heartbeat,
    name: String,
    cadence: Duration,
    jitter: Option<Duration>,
    predicate: Option<Predicate>,
    gate_timeout: Option<Duration>,
    outcomes: Vec<(Outcome, Duration)>,
    ping: Option<PingConfig>,
}

impl fmt::Debug for DeadmanBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadmanBuilder")
            .field("name", &self.name)
            .field("cadence", &self.cadence)
            .field("jitter", &self.jitter)
            .field("predicate", &self.predicate)
            .field("gate_timeout", &self.gate_timeout)
            .field("outcomes", &self.outcomes)
            .field("ping", &self.ping)
            .finish()
    }
}

impl Heartbeat {
    /// Starts configuring a named dead-man emitter: a beat on every tick of its cadence, while
    /// its health gate passes, through the OTLP pipeline and optionally to an external channel.
    ///
    /// ```no_run
    /// # async fn run(hb: heartbeat::Heartbeat) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let send = hb.outcome("message.send").build()?;
    /// let beat = hb
    ///     .deadman("api")
    ///     .with_cadence(Duration::from_secs(10))
    ///     .with_jitter(Duration::from_secs(1))
    ///     .with_gate(|| std::path::Path::new("/var/run/ready").exists())
    ///     .with_outcome_gate(&send, Duration::from_secs(300))
    ///     .with_ping(heartbeat::PingConfig::new("https://hc-ping.com/your-uuid")?)
    ///     .start()?;
    /// // ... serve ...
    /// beat.stop().await?; // "stopped on purpose": a planned deploy does not page
    /// # Ok(()) }
    /// ```
    pub fn deadman(&self, name: impl Into<String>) -> DeadmanBuilder {
        DeadmanBuilder {
            hb: self.clone(),
            name: name.into(),
            cadence: DEFAULT_CADENCE,
            jitter: None,
            predicate: None,
            gate_timeout: None,
            outcomes: Vec::new(),
            ping: None,
        }
    }
}

impl DeadmanBuilder {
    /// Time between beats, from 100 ms to 24 h (default 10 s).
    pub fn with_cadence(mut self, cadence: Duration) -> Self {
        self.cadence = cadence;
        self
    }

    /// Each beat is delayed by a random amount in `[0, jitter]`, so a fleet started together does
    /// not beat in step; it must be less than the cadence (default a tenth of it). Jitter never
    /// accumulates: tick `n` stays within `jitter` of `start + n × cadence`.
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// A health predicate run on a blocking thread at every tick, within the gate timeout;
    /// return `bool` or `Result<(), impl Display>`. False, an error, a panic or a timeout is
    /// a failure: the emitter sends the fail signal with the reason and holds its beats until
    /// the predicate passes again. A predicate still running from an earlier tick is not started
    /// a second time.
    pub fn with_gate<F, O>(mut self, predicate: F) -> Self
    where
        F: Fn() -> O + Send + Sync + 'static,
        O: GateOutput,
    {
        self.predicate = Some(Predicate::sync(predicate));
        self
    }

    /// An async health predicate, run as a task at every tick and cancelled at the gate
    /// timeout; otherwise as [`DeadmanBuilder::with_gate`].
    pub fn with_async_gate<F, Fut, O>(mut self, predicate: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: GateOutput,
    {
        self.predicate = Some(Predicate::from_async(predicate));
        self
    }

    /// How long the predicate may take, above zero and below the cadence (default 1 s, or half
    /// the cadence if that is shorter). A beat goes out after the gate answers.
    pub fn with_gate_timeout(mut self, timeout: Duration) -> Self {
        self.gate_timeout = Some(timeout);
        self
    }

    /// Beats only while `outcome` recorded a success (with or without a tenant) within the
    /// last `window` (at least the cadence); the first window after start is a grace period.
    /// May be given for several outcomes; each must pass.
    pub fn with_outcome_gate(mut self, outcome: &Outcome, window: Duration) -> Self {
        self.outcomes.push((outcome.clone(), window));
        self
    }

    /// Also pings an external channel; see [`PingConfig`].
    pub fn with_ping(mut self, ping: PingConfig) -> Self {
        self.ping = Some(ping);
        self
    }

    fn check(&self) -> Result<(Duration, Duration), DeadmanError> {
        validate::outcome_name(&self.name).map_err(|e| match e {
            validate::OutcomeError::InvalidName { reason, .. } => DeadmanError::InvalidName {
                name: self.name.clone(),
                reason,
            },
            _ => DeadmanError::InvalidName {
                name: self.name.clone(),
                reason: "it is not a valid name",
            },
        })?;
        let jitter = self.jitter.unwrap_or(self.cadence / 10);
        beat::check_timing(self.cadence, jitter).map_err(|p| DeadmanError::InvalidSetting {
            setting: p.setting,
            value: p.value,
            problem: p.problem,
        })?;
        let gate_timeout = match self.gate_timeout {
            Some(t) if t.is_zero() || t >= self.cadence => {
                return Err(DeadmanError::InvalidSetting {
                    setting: "gate timeout",
                    value: t,
                    problem: "it must be greater than zero and less than the cadence",
                });
            }
            Some(t) => t,
            None => DEFAULT_GATE_TIMEOUT.min(self.cadence / 2),
        };
        for (_, window) in &self.outcomes {
            if *window < self.cadence {
                return Err(DeadmanError::InvalidSetting {
                    setting: "outcome window",
                    value: *window,
                    problem: "it must be at least the cadence",
                });
            }
        }
        if let Some(ping) = &self.ping
            && ping.timeout().is_zero()
        {
            return Err(DeadmanError::InvalidSetting {
                setting: "ping timeout",
                value: ping.timeout(),
                problem: "it must be greater than zero",
            });
        }
        Ok((jitter, gate_timeout))
    }

    /// Validates the settings and starts the emitter as a task on the current tokio runtime.
    /// Its first beat is due at once (plus jitter). On a disabled SDK the settings are still
    /// validated and the handle does nothing.
    ///
    /// # Errors
    /// [`DeadmanError`] naming a bad name or duration, a name already running on this pipeline,
    /// or no tokio runtime.
    pub fn start(self) -> Result<Deadman, DeadmanError> {
        let (jitter, gate_timeout) = self.check()?;
        if !self.hb.is_enabled() {
            return Ok(Deadman {
                name: self.name,
                inner: None,
            });
        }
        let runtime = Handle::try_current().map_err(|_| DeadmanError::NoRuntime)?;
        let book = self.hb.plugin::<Book>();
        let Some((state, generation)) = book.states.claim(&self.name) else {
            return Err(DeadmanError::Duplicate { name: self.name });
        };
        state.set_pinging(self.ping.is_some());
        let clock = Arc::clone(self.hb.registry().clock());

        let mut ping_budget = Duration::ZERO;
        let pinger = match self.ping {
            Some(config) => {
                ping_budget = config.budget();
                let summary = summary(&self.hb, &state);
                match Pinger::start(config, Arc::clone(&state), summary, &runtime) {
                    Ok(p) => Some(p),
                    Err(_) => {
                        // The HTTP client could not be built (no usable TLS or resolver): beat
                        // over OTLP and count the pings that cannot be sent.
                        state.ping_failed(PingFailure::Other);
                        None
                    }
                }
            }
            None => None,
        };

        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (alive, alive_rx) = oneshot::channel();
        let stop_bound = gate_timeout
            .saturating_add(ping_budget.saturating_mul(2))
            .saturating_add(Duration::from_secs(1));
        book.controls().push(Control {
            state: Arc::clone(&state),
            generation,
            commands: commands.clone(),
            stop_bound,
        });
        let task = Task {
            schedule: Schedule::new(clock.monotonic(), self.cadence, jitter, seed(&self.name)),
            gate: GateRunner::new(
                self.predicate,
                gate_timeout,
                self.outcomes,
                Arc::clone(&clock),
                runtime.clone(),
            ),
            hb: self.hb,
            state: Arc::clone(&state),
            generation,
            pinger,
            ping_budget,
            clock,
            runtime: runtime.clone(),
            commands: commands_rx,
            alive: alive_rx,
            flush_in_flight: Arc::new(AtomicBool::new(false)),
        };
        runtime.spawn(task.run());
        Ok(Deadman {
            name: self.name,
            inner: Some(Inner {
                state,
                generation,
                commands,
                _alive: alive,
            }),
        })
    }
}

/// A per-emitter seed for the jitter: different across emitters and process starts.
fn seed(name: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(name.as_bytes());
    h.write_u32(std::process::id());
    h.finish()
}

/// The health summary line a ping carries (see `docs/alerting.md`).
fn summary(hb: &Heartbeat, state: &Arc<EmitterState>) -> Summary {
    let hb = hb.clone();
    let state = Arc::clone(state);
    Arc::new(move || {
        let h = hb.export_health();
        let clock = hb.registry().clock();
        let age = match h.last_success {
            Some(t) => clock.now_unix().saturating_sub(t).as_secs().to_string(),
            None => "none".to_owned(),
        };
        format!(
            "beat={} since={} exports_ok={} exports_failed={} exports_timed_out={} last_export_age_s={} pings_failed={} pings_skipped={}",
            state.beats(),
            hb.registry().start_time().as_secs(),
            h.exports_ok,
            h.exports_failed,
            h.exports_timed_out,
            age,
            state.pings_failed_total(),
            state.pings_skipped(),
        )
    })
}

struct Inner {
    state: Arc<EmitterState>,
    generation: u64,
    commands: mpsc::UnboundedSender<Ctl>,
    /// Dropped with the handle: the task then ends silently.
    _alive: oneshot::Sender<()>,
}

/// A running dead-man emitter, from [`DeadmanBuilder::start`].
///
/// [`Deadman::stop`] stops it on purpose: it sends the "stopped" signal (the OTLP status `2`, and
/// the stop ping if configured) so a planned deploy does not page. Dropping the handle stops it
/// silently, like a crash: a drop cannot tell a planned exit from an error path (`?` out of
/// `main`), and silence is the safe failure. [`Heartbeat::shutdown`] stops every emitter on
/// purpose.
pub struct Deadman {
    name: String,
    inner: Option<Inner>,
}

impl fmt::Debug for Deadman {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deadman")
            .field("name", &self.name)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Deadman {
    /// The emitter's name (`heartbeat.emitter`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this handle does nothing (the SDK is disabled).
    pub fn is_noop(&self) -> bool {
        self.inner.is_none()
    }

    /// Where the emitter stands now; a no-op emitter reads as stopped.
    pub fn status(&self) -> EmitterStatus {
        self.inner
            .as_ref()
            .map_or(EmitterStatus::Stopped, |i| i.state.status())
    }

    /// Counts so far.
    pub fn health(&self) -> DeadmanHealth {
        match &self.inner {
            Some(i) => DeadmanHealth {
                beats: i.state.beats(),
                status: i.state.status(),
                ticks_skipped: i.state.ticks_skipped(),
                pings_ok: i.state.pings_ok(),
                pings_failed: i.state.pings_failed_total(),
                pings_skipped: i.state.pings_skipped(),
            },
            None => DeadmanHealth {
                beats: 0,
                status: EmitterStatus::Stopped,
                ticks_skipped: 0,
                pings_ok: 0,
                pings_failed: 0,
                pings_skipped: 0,
            },
        }
    }

    /// Stops on purpose: no more beats, the stopped status exported at once, and the stop ping
    /// (if configured) sent after any ping in flight. Returns when both are done, within the
    /// ping's retry budget and the export timeout.
    ///
    /// # Errors
    /// [`StopError`] when the stop ping or the export failed; the emitter is stopped anyway.
    pub async fn stop(mut self) -> Result<(), StopError> {
        let Some(inner) = self.inner.take() else {
            return Ok(());
        };
        let (reply, rx) = oneshot::channel();
        if inner
            .commands
            .send(Ctl::Stop { flush: true, reply })
            .is_err()
        {
            return Ok(()); // already stopped by a shutdown
        }
        let result = rx.await.unwrap_or(Ok(()));
        inner.state.release(inner.generation);
        result
    }
}

impl Drop for Deadman {
    fn drop(&mut self) {
        if let Some(inner) = &self.inner {
            inner.state.release(inner.generation);
        }
    }
}

struct Task {
    hb: Heartbeat,
    state: Arc<EmitterState>,
    generation: u64,
    schedule: Schedule,
    gate: GateRunner,
    pinger: Option<(Pinger, JoinHandle<()>)>,
    ping_budget: Duration,
    clock: Arc<dyn Clock>,
    runtime: Handle,
    commands: mpsc::UnboundedReceiver<Ctl>,
    alive: oneshot::Receiver<()>,
    flush_in_flight: Arc<AtomicBool>,
}

impl Task {
    async fn run(mut self) {
        loop {
            let sleep = self
                .schedule
                .next_deadline()
                .saturating_sub(self.clock.monotonic());
            tokio::select! {
                biased;
                _ = &mut self.alive => break,
                ctl = self.commands.recv() => {
                    if let Some(Ctl::Stop { flush, reply }) = ctl {
                        let result = self.stop_on_purpose(flush).await;
                        let _ = reply.send(result);
                    }
                    break;
                }
                () = tokio::time::sleep(sleep) => {}
            }
            if !self.state.is_current(self.generation) {
                break;
            }
            let Some(due) = self.schedule.poll(self.clock.monotonic()) else {
                continue;
            };
            if due.skipped > 0 {
                self.state.add_skipped_ticks(due.skipped);
            }
            let verdict = self.gate.check().await;
            if !self.state.is_current(self.generation) {
                break;
            }
            match self.state.on_tick(verdict) {
                Action::Beat { .. } => {
                    self.export_now();
                    self.ping(Signal::Beat);
                }
                Action::Fail(failure) => {
                    self.export_now();
                    self.ping(Signal::Fail(failure));
                }
                Action::Quiet => {}
            }
        }
        // Silent or after a stop: nothing more goes out.
        if let Some((pinger, worker)) = self.pinger.take() {
            pinger.close();
            worker.abort();
        }
        self.state.release(self.generation);
        self.hb
            .plugin::<Book>()
            .forget(&self.state, self.generation);
    }

    fn ping(&self, signal: Signal) {
        if let Some((pinger, _)) = &self.pinger {
            pinger.offer(signal);
        }
    }

    /// Sends the beat now rather than at the next export interval; coalesces while an export
    /// is running.
    fn export_now(&self) {
        if let Some(now) = self.hb.export_now() {
            now.notify_one();
        } else if let Some(provider) = self.hb.meter_provider() {
            // Attached to the application's provider: flush it, one flush at a time.
            if !self.flush_in_flight.swap(true, Relaxed) {
                let provider = provider.clone();
                let flag = Arc::clone(&self.flush_in_flight);
                self.runtime.spawn_blocking(move || {
                    let _ = provider.force_flush();
                    flag.store(false, Relaxed);
                });
            }
        }
    }

    async fn stop_on_purpose(&mut self, flush: bool) -> Result<(), StopError> {
        let stopped_now = self.state.stop();
        let ping = async {
            let Some((pinger, mut worker)) = self.pinger.take() else {
                return Ok(());
            };
            let (reply, rx) = oneshot::channel();
            if stopped_now {
                pinger.offer(Signal::Stop(reply));
            }
            pinger.close();
            // The ping in flight, then the stop ping, each within its budget.
            let bound = self.ping_budget.saturating_mul(2);
            let result = match tokio::time::timeout(bound, rx).await {
                Ok(Ok(Ok(()))) | Ok(Err(_)) => Ok(()),
                Ok(Ok(Err(why))) => Err(StopError::Ping {
                    reason: why.as_str(),
                }),
                Err(_) => Err(StopError::Ping {
                    reason: PingFailure::Timeout.as_str(),
                }),
            };
            if tokio::time::timeout(bound, &mut worker).await.is_err() {
                worker.abort();
            }
            result
        };
        let hb = self.hb.clone();
        let export = async move {
            if flush {
                hb.flush().await.map_err(StopError::from)
            } else {
                Ok(())
            }
        };
        let (ping, export) = tokio::join!(ping, export);
        ping.and(export)
    }
}
