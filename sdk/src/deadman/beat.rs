//! The dead-man heartbeat's logic, free of the runtime: when to beat, whether to beat, and how
//! beats are counted.
//!
//! Three pieces, each driven by the caller with times read from a
//! [`Clock`](heartbeat_core::clock::Clock), so tests run hours of beats in microseconds on a
//! `ManualClock` (the tokio task in `deadman/mod.rs` drives them; the browser build has its own,
//! smaller emitter):
//!
//! - [`Schedule`]: tick `n` is due at `origin + n × cadence + jitter(n)`, computed from the
//!   origin rather than "sleep after work", so nothing accumulates: beat 1,000 is as close to its
//!   tick as beat 1. `jitter(n)` is in `[0, jitter]`, drawn from a seeded SplitMix64 by index (so it
//!   needs no state and no `rand`). A caller that wakes late (a stall, a suspended laptop) gets one
//!   tick and the count of the ones it skipped; it never gets a burst of catch-up beats.
//! - [`EmitterState`]: the gate state machine and the beat numbering. Beating → failing(reason)
//!   → beating, and stopped on purpose, which is final. Each beat increments a cumulative count
//!   that is the emitter's `heartbeat.beats` series.
//! - [`RecentSuccess`]: the "this outcome recorded a success in the last window" gate.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The shortest cadence an emitter accepts.
pub const MIN_CADENCE: Duration = Duration::from_millis(100);
/// The longest cadence an emitter accepts.
pub const MAX_CADENCE: Duration = Duration::from_secs(24 * 60 * 60);
/// The cadence of an emitter that is not given one.
pub const DEFAULT_CADENCE: Duration = Duration::from_secs(10);

/// Why a cadence or jitter was refused: the setting, its value and the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimingProblem {
    pub(crate) setting: &'static str,
    pub(crate) value: Duration,
    pub(crate) problem: &'static str,
}

/// Checks a cadence and its jitter: cadence within [`MIN_CADENCE`]`..=`[`MAX_CADENCE`], jitter
/// below the cadence (so ticks stay in order).
pub(crate) fn check_timing(cadence: Duration, jitter: Duration) -> Result<(), TimingProblem> {
    if !(MIN_CADENCE..=MAX_CADENCE).contains(&cadence) {
        return Err(TimingProblem {
            setting: "cadence",
            value: cadence,
            problem: "it must be from 100ms to 24h",
        });
    }
    if jitter >= cadence {
        return Err(TimingProblem {
            setting: "jitter",
            value: jitter,
            problem: "it must be less than the cadence",
        });
    }
    Ok(())
}

/// SplitMix64: a tiny, well-mixed, seedable generator, used here as a hash of the tick index.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn nanos(d: Duration) -> u128 {
    d.as_nanos()
}

fn from_nanos(n: u128) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))
}

/// A tick that came due: its index, when it was scheduled, and how many earlier ticks were
/// skipped because the caller woke after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Due {
    pub(crate) index: u64,
    pub(crate) scheduled: Duration,
    pub(crate) skipped: u64,
}

/// When the ticks of one emitter are due, on the clock's monotonic time.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    origin: Duration,
    cadence: Duration,
    jitter: Duration,
    seed: u64,
    next: u64,
}

impl Schedule {
    /// Tick 0 is due at `origin + jitter(0)`. The caller checks `cadence` and `jitter` with
    /// [`check_timing`] first; a zero cadence is treated as [`MIN_CADENCE`].
    pub(crate) fn new(origin: Duration, cadence: Duration, jitter: Duration, seed: u64) -> Self {
        let cadence = cadence.max(MIN_CADENCE);
        Self {
            origin,
            cadence,
            jitter: jitter.min(cadence.saturating_sub(Duration::from_nanos(1))),
            seed,
            next: 0,
        }
    }

    /// The jitter of tick `index`, in `[0, jitter]`.
    pub(crate) fn offset(&self, index: u64) -> Duration {
        let span = nanos(self.jitter) + 1;
        let r = u128::from(splitmix64(
            self.seed ^ index.wrapping_mul(0xD6E8_FEB8_6659_FD93),
        ));
        from_nanos((r * span) >> 64)
    }

    /// When tick `index` is due.
    pub(crate) fn tick_time(&self, index: u64) -> Duration {
        from_nanos(
            nanos(self.origin)
                + u128::from(index) * nanos(self.cadence)
                + nanos(self.offset(index)),
        )
    }

    /// When the next tick is due: sleep until then.
    pub(crate) fn next_deadline(&self) -> Duration {
        self.tick_time(self.next)
    }

    /// The index of the next tick.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn next_index(&self) -> u64 {
        self.next
    }

    /// The tick due at `now`, if any: the latest one whose time has come, with the count of the
    /// earlier ones it replaces. Afterwards the next deadline is in the future.
    pub(crate) fn poll(&mut self, now: Duration) -> Option<Due> {
        if now < self.tick_time(self.next) {
            return None;
        }
        let since = nanos(now.saturating_sub(self.origin));
        let k = u64::try_from(since / nanos(self.cadence)).unwrap_or(u64::MAX);
        // tick_time(k) >= origin + k × cadence; tick_time(k - 1) < origin + k × cadence <= now.
        let latest = if self.tick_time(k) <= now {
            k
        } else {
            k.saturating_sub(1)
        }
        .max(self.next);
        let due = Due {
            index: latest,
            scheduled: self.tick_time(latest),
            skipped: latest - self.next,
        };
        self.next = latest.saturating_add(1);
        Some(due)
    }
}

/// Why an emitter is failing: the `heartbeat.reason` of its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailReason {
    /// The health gate returned `false` or an error.
    GateFailed,
    /// The health gate did not answer within its timeout.
    GateTimeout,
    /// The health gate panicked.
    GatePanicked,
    /// The gated outcome recorded no success in its window.
    NoRecentSuccess,
}

impl FailReason {
    /// The attribute value: `gate_failed`, `gate_timeout`, `gate_panicked` or `no_recent_success`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GateFailed => "gate_failed",
            Self::GateTimeout => "gate_timeout",
            Self::GatePanicked => "gate_panicked",
            Self::NoRecentSuccess => "no_recent_success",
        }
    }
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed health check: the reason code, and a short human detail for the fail ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) reason: FailReason,
    pub(crate) detail: String,
}

impl Failure {
    /// The longest detail kept, in bytes: enough for a message, short enough for a ping.
    pub(crate) const MAX_DETAIL: usize = 200;

    pub(crate) fn new(reason: FailReason, detail: impl Into<String>) -> Self {
        let mut detail: String = detail
            .into()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if detail.len() > Self::MAX_DETAIL {
            let mut cut = Self::MAX_DETAIL;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
        }
        Self { reason, detail }
    }
}

/// What a dead-man emitter is doing: the value of `heartbeat.emitter.status`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmitterStatus {
    /// Healthy: beating on every tick (status `0`).
    Beating,
    /// The health gate failed: the fail signal was sent and beats are held until it passes
    /// again (status `1`, with `heartbeat.reason`).
    Failing {
        /// The reason code.
        reason: FailReason,
        /// What the gate said, cut to 200 bytes.
        detail: String,
    },
    /// Stopped on purpose (a graceful shutdown): the final signal was sent (status `2`).
    Stopped,
}

impl EmitterStatus {
    /// The value exported in `heartbeat.emitter.status`: `0` beating, `1` failing, `2` stopped.
    pub fn code(&self) -> i64 {
        match self {
            Self::Beating => 0,
            Self::Failing { .. } => 1,
            Self::Stopped => 2,
        }
    }

    /// The failure reason, when failing.
    pub fn reason(&self) -> Option<FailReason> {
        match self {
            Self::Failing { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}

/// What a tick asks the sinks to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// A beat, numbered by the emitter's cumulative count. `recovered` when it ends a failure.
    Beat { number: u64, recovered: bool },
    /// The explicit fail signal: sent when the gate starts failing and when its reason changes.
    Fail(Failure),
    /// Nothing to send: still failing for the same reason, or stopped.
    Quiet,
}

/// Why delivery of a ping failed; each has its own count in the SDK's self-health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PingFailure {
    Timeout,
    Connect,
    Status4xx,
    Status5xx,
    Other,
    /// The channel's host name did not resolve.
    Dns,
    /// The TLS handshake failed (the certificate did not verify).
    Tls,
}

impl PingFailure {
    pub(crate) const ALL: [PingFailure; 7] = [
        Self::Timeout,
        Self::Connect,
        Self::Status4xx,
        Self::Status5xx,
        Self::Other,
        Self::Dns,
        Self::Tls,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Status4xx => "http_4xx",
            Self::Status5xx => "http_5xx",
            Self::Other => "other",
            Self::Dns => "dns",
            Self::Tls => "tls",
        }
    }

    fn slot(self) -> usize {
        match self {
            Self::Timeout => 0,
            Self::Connect => 1,
            Self::Status4xx => 2,
            Self::Status5xx => 3,
            Self::Other => 4,
            Self::Dns => 5,
            Self::Tls => 6,
        }
    }
}

/// One named emitter's state, shared by its task, its handle and the metric callbacks.
///
/// The beat count survives a stop and a restart under the same name within one process, so the
/// `heartbeat.beats` series of that name stays monotonic.
pub(crate) struct EmitterState {
    name: Box<str>,
    beats: AtomicU64,
    status: Mutex<EmitterStatus>,
    /// Incremented at every claim: a task acts only while the generation is its own.
    generation: AtomicU64,
    live: AtomicBool,
    pinging: AtomicBool,
    ticks_skipped: AtomicU64,
    pings_ok: AtomicU64,
    pings_skipped: AtomicU64,
    pings_failed: [AtomicU64; PingFailure::ALL.len()],
}

impl fmt::Debug for EmitterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmitterState")
            .field("name", &self.name)
            .field("beats", &self.beats())
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl EmitterState {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            beats: AtomicU64::new(0),
            status: Mutex::new(EmitterStatus::Beating),
            generation: AtomicU64::new(0),
            live: AtomicBool::new(false),
            pinging: AtomicBool::new(false),
            ticks_skipped: AtomicU64::new(0),
            pings_ok: AtomicU64::new(0),
            pings_skipped: AtomicU64::new(0),
            pings_failed: Default::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, EmitterStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The emitter's name (`heartbeat.emitter`).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Beats sent since the process started: the `heartbeat.beats` value.
    pub(crate) fn beats(&self) -> u64 {
        self.beats.load(Relaxed)
    }

    pub(crate) fn status(&self) -> EmitterStatus {
        self.lock().clone()
    }

    /// Applies one tick's gate verdict: beat, signal the failure, or stay quiet.
    pub(crate) fn on_tick(&self, verdict: Result<(), Failure>) -> Action {
        let mut status = self.lock();
        match (&*status, verdict) {
            (EmitterStatus::Stopped, _) => Action::Quiet,
            (current, Ok(())) => {
                let recovered = matches!(current, EmitterStatus::Failing { .. });
                *status = EmitterStatus::Beating;
                let number = self.beats.fetch_add(1, Relaxed).wrapping_add(1);
                Action::Beat { number, recovered }
            }
            (EmitterStatus::Failing { reason, .. }, Err(failure)) if *reason == failure.reason => {
                // Same reason: keep the latest detail, send nothing new.
                *status = EmitterStatus::Failing {
                    reason: failure.reason,
                    detail: failure.detail,
                };
                Action::Quiet
            }
            (_, Err(failure)) => {
                *status = EmitterStatus::Failing {
                    reason: failure.reason,
                    detail: failure.detail.clone(),
                };
                Action::Fail(failure)
            }
        }
    }

    /// Stops on purpose; true if this call stopped it (false if it was stopped already).
    pub(crate) fn stop(&self) -> bool {
        let mut status = self.lock();
        if *status == EmitterStatus::Stopped {
            return false;
        }
        *status = EmitterStatus::Stopped;
        true
    }

    /// Whether a task of this generation is running.
    pub(crate) fn is_live(&self) -> bool {
        self.live.load(Relaxed)
    }

    /// Whether `generation` is still the running one.
    pub(crate) fn is_current(&self, generation: u64) -> bool {
        self.is_live() && self.generation.load(Relaxed) == generation
    }

    /// Ends `generation` (the handle was dropped, or the task ended); later ones are unaffected.
    pub(crate) fn release(&self, generation: u64) {
        let _status = self.lock();
        if self.generation.load(Relaxed) == generation {
            self.live.store(false, Relaxed);
        }
    }

    /// Whether the status series should be reported: running, or stopped on purpose. An
    /// emitter that was dropped without `stop` just goes silent.
    pub(crate) fn reports_status(&self) -> bool {
        self.is_live() || *self.lock() == EmitterStatus::Stopped
    }

    /// Whether this emitter pings an external channel (its ping series are reported).
    pub(crate) fn set_pinging(&self, pinging: bool) {
        self.pinging.store(pinging, Relaxed);
    }

    pub(crate) fn is_pinging(&self) -> bool {
        self.pinging.load(Relaxed)
    }

    pub(crate) fn add_skipped_ticks(&self, n: u64) {
        self.ticks_skipped.fetch_add(n, Relaxed);
    }

    pub(crate) fn ticks_skipped(&self) -> u64 {
        self.ticks_skipped.load(Relaxed)
    }

    pub(crate) fn ping_ok(&self) {
        self.pings_ok.fetch_add(1, Relaxed);
    }

    pub(crate) fn ping_skipped(&self) {
        self.pings_skipped.fetch_add(1, Relaxed);
    }

    pub(crate) fn ping_failed(&self, why: PingFailure) {
        if let Some(c) = self.pings_failed.get(why.slot()) {
            c.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn pings_ok(&self) -> u64 {
        self.pings_ok.load(Relaxed)
    }

    pub(crate) fn pings_skipped(&self) -> u64 {
        self.pings_skipped.load(Relaxed)
    }

    pub(crate) fn pings_failed(&self, why: PingFailure) -> u64 {
        self.pings_failed
            .get(why.slot())
            .map_or(0, |c| c.load(Relaxed))
    }

    pub(crate) fn pings_failed_total(&self) -> u64 {
        PingFailure::ALL.iter().map(|w| self.pings_failed(*w)).sum()
    }
}

/// Every emitter of one pipeline, by name: where duplicates are refused and collectors read.
#[derive(Debug, Default)]
pub(crate) struct EmitterBook {
    emitters: Mutex<Vec<Arc<EmitterState>>>,
}

impl EmitterBook {
    /// Claims `name` for a new emitter: its state (fresh, or the earlier one of that name with its
    /// count) and the generation the new task owns; `None` if one of that name is running.
    pub(crate) fn claim(&self, name: &str) -> Option<(Arc<EmitterState>, u64)> {
        let mut emitters = self.emitters.lock().unwrap_or_else(PoisonError::into_inner);
        let state = match emitters.iter().find(|e| *e.name == *name) {
            Some(existing) if existing.is_live() => return None,
            Some(existing) => Arc::clone(existing),
            None => {
                let state = Arc::new(EmitterState::new(name));
                emitters.push(Arc::clone(&state));
                state
            }
        };
        let mut status = state.lock();
        *status = EmitterStatus::Beating;
        let generation = state.generation.fetch_add(1, Relaxed).wrapping_add(1);
        state.live.store(true, Relaxed);
        drop(status);
        Some((state, generation))
    }

    /// Visits every emitter ever started, in start order.
    pub(crate) fn visit(&self, mut f: impl FnMut(&EmitterState)) {
        let emitters: Vec<Arc<EmitterState>> = self
            .emitters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for e in &emitters {
            f(e);
        }
    }
}

/// The "this outcome recorded a success in the last window" gate, fed the outcome's success
/// total at each tick. A success is noticed at the first tick after it, so the gate is lenient
/// by up to one cadence. The first window after start is a grace period.
#[derive(Debug, Clone)]
pub(crate) struct RecentSuccess {
    window: Duration,
    last_total: u64,
    last_increase: Duration,
}

impl RecentSuccess {
    pub(crate) fn new(now: Duration, total: u64, window: Duration) -> Self {
        Self {
            window,
            last_total: total,
            last_increase: now,
        }
    }

    /// Whether a success was recorded within the window before `now`.
    pub(crate) fn check(&mut self, now: Duration, total: u64) -> Result<(), Failure> {
        if total != self.last_total {
            self.last_total = total;
            self.last_increase = now;
        }
        let quiet = now.saturating_sub(self.last_increase);
        if quiet <= self.window {
            Ok(())
        } else {
            Err(Failure::new(
                FailReason::NoRecentSuccess,
                format!(
                    "no success in the last {:?} (none for {:?})",
                    self.window, quiet
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heartbeat_core::clock::{Clock, ManualClock};

    const S: Duration = Duration::from_secs(1);

    fn healthy() -> Result<(), Failure> {
        Ok(())
    }

    fn failing(reason: FailReason) -> Result<(), Failure> {
        Err(Failure::new(reason, "test"))
    }

    /// Runs `beats` ticks the way the emitter does: sleep to the deadline (plus `late`), poll,
    /// then spend `work` before sleeping again. Returns each fired tick's lateness.
    fn run(
        clock: &ManualClock,
        schedule: &mut Schedule,
        beats: usize,
        work: Duration,
        late: Duration,
    ) -> Vec<Duration> {
        let mut lateness = Vec::with_capacity(beats);
        while lateness.len() < beats {
            let deadline = schedule.next_deadline();
            clock.advance(deadline.saturating_sub(clock.monotonic()) + late);
            let due = schedule.poll(clock.monotonic()).unwrap();
            lateness.push(clock.monotonic() - due.scheduled);
            clock.advance(work);
        }
        lateness
    }

    #[test]
    fn ticks_fall_on_the_cadence_from_the_origin() {
        let clock = ManualClock::default();
        let mut s = Schedule::new(clock.monotonic(), 10 * S, Duration::ZERO, 1);
        let mut fired = Vec::new();
        for _ in 0..5 {
            clock.advance(s.next_deadline() - clock.monotonic());
            fired.push(s.poll(clock.monotonic()).unwrap().scheduled);
        }
        assert_eq!(fired, [0, 10, 20, 30, 40].map(|n| n * S));
    }

    #[test]
    fn nothing_is_due_before_the_deadline() {
        let clock = ManualClock::default();
        let mut s = Schedule::new(clock.monotonic(), 10 * S, Duration::ZERO, 1);
        assert!(s.poll(clock.monotonic()).is_some());
        clock.advance(10 * S - Duration::from_nanos(1));
        assert_eq!(s.poll(clock.monotonic()), None);
        clock.advance(Duration::from_nanos(1));
        assert_eq!(s.poll(clock.monotonic()).unwrap().index, 1);
    }

    #[test]
    fn no_drift_over_a_thousand_beats_despite_work_and_late_wakeups() {
        let clock = ManualClock::default();
        let origin = clock.monotonic();
        let mut s = Schedule::new(origin, 10 * S, Duration::ZERO, 7);
        // Each beat costs 1.5 s of work and the timer wakes 3 ms late: "sleep after work" would
        // drift by 1,000 × 1.503 s. Scheduling from the origin keeps the error at one wake-up.
        let lateness = run(
            &clock,
            &mut s,
            1000,
            Duration::from_millis(1500),
            Duration::from_millis(3),
        );
        assert!(lateness.iter().all(|l| *l == Duration::from_millis(3)));
        assert_eq!(s.next_index(), 1000);
        assert_eq!(s.tick_time(999), origin + 9990 * S);
    }

    #[test]
    fn jitter_stays_within_its_bound_and_spreads_over_it() {
        let jitter = Duration::from_secs(2);
        let s = Schedule::new(Duration::ZERO, 10 * S, jitter, 42);
        let offsets: Vec<Duration> = (0..10_000).map(|n| s.offset(n)).collect();
        assert!(offsets.iter().all(|o| *o <= jitter));
        let min = offsets.iter().min().unwrap();
        let max = offsets.iter().max().unwrap();
        assert!(*min < jitter / 100, "{min:?}");
        assert!(*max > jitter * 99 / 100, "{max:?}");
        // Ticks stay in order and never closer than cadence - jitter.
        for n in 0..10_000 {
            let gap = s.tick_time(n + 1) - s.tick_time(n);
            assert!(gap >= 10 * S - jitter, "{gap:?}");
        }
    }

    #[test]
    fn jitter_is_reproducible_from_the_seed_and_differs_between_seeds() {
        let a = Schedule::new(Duration::ZERO, 10 * S, 5 * S, 1);
        let b = Schedule::new(Duration::ZERO, 10 * S, 5 * S, 1);
        let c = Schedule::new(Duration::ZERO, 10 * S, 5 * S, 2);
        let ta: Vec<_> = (0..100).map(|n| a.tick_time(n)).collect();
        let tb: Vec<_> = (0..100).map(|n| b.tick_time(n)).collect();
        let tc: Vec<_> = (0..100).map(|n| c.tick_time(n)).collect();
        assert_eq!(ta, tb);
        assert_ne!(ta, tc);
    }

    #[test]
    fn jitter_does_not_accumulate_over_a_thousand_beats() {
        let clock = ManualClock::default();
        let jitter = Duration::from_millis(900);
        let mut s = Schedule::new(clock.monotonic(), S, jitter, 3);
        let lateness = run(&clock, &mut s, 1000, Duration::ZERO, Duration::ZERO);
        assert!(lateness.iter().all(Duration::is_zero));
        // Beat 1,000 is within its jitter of origin + 999 s, like beat 1.
        let last = clock.monotonic();
        assert!(last >= 999 * S && last <= 999 * S + jitter, "{last:?}");
    }

    #[test]
    fn a_stall_skips_to_the_next_tick_without_a_burst() {
        let clock = ManualClock::default();
        let mut s = Schedule::new(clock.monotonic(), 10 * S, Duration::ZERO, 1);
        s.poll(clock.monotonic()).unwrap();
        // The process is frozen for an hour and a bit.
        clock.advance(Duration::from_secs(3600 + 5));
        let due = s.poll(clock.monotonic()).unwrap();
        assert_eq!(due.index, 360);
        assert_eq!(due.skipped, 359);
        // One beat on waking, then nothing until the next tick on the original grid.
        assert_eq!(s.poll(clock.monotonic()), None);
        assert_eq!(s.next_deadline(), Duration::from_secs(3610));
    }

    #[test]
    fn a_stall_with_jitter_still_fires_once_and_moves_to_a_future_tick() {
        let clock = ManualClock::default();
        let mut s = Schedule::new(clock.monotonic(), 10 * S, 9 * S, 99);
        for stall in [1u64, 7, 10, 19, 123, 3601] {
            clock.advance(Duration::from_secs(stall));
            let now = clock.monotonic();
            if s.poll(now).is_some() {
                assert!(s.next_deadline() > now);
                assert_eq!(s.poll(now), None);
            }
        }
    }

    #[test]
    fn timing_bounds_are_checked() {
        assert!(check_timing(10 * S, S).is_ok());
        assert!(check_timing(MIN_CADENCE, Duration::ZERO).is_ok());
        assert!(check_timing(MAX_CADENCE, Duration::ZERO).is_ok());
        let p = check_timing(Duration::ZERO, Duration::ZERO).unwrap_err();
        assert_eq!((p.setting, p.value), ("cadence", Duration::ZERO));
        assert!(check_timing(MAX_CADENCE + S, Duration::ZERO).is_err());
        let p = check_timing(10 * S, 10 * S).unwrap_err();
        assert_eq!((p.setting, p.value), ("jitter", 10 * S));
    }

    #[test]
    fn the_gate_moves_between_beating_and_failing_and_numbers_beats() {
        let e = EmitterState::new("api");
        assert_eq!(
            e.on_tick(healthy()),
            Action::Beat {
                number: 1,
                recovered: false
            }
        );
        assert_eq!(
            e.on_tick(healthy()),
            Action::Beat {
                number: 2,
                recovered: false
            }
        );
        // The first failure sends the fail signal, a repeat of it sends nothing.
        assert!(
            matches!(e.on_tick(failing(FailReason::GateTimeout)), Action::Fail(f) if f.reason == FailReason::GateTimeout)
        );
        assert_eq!(e.on_tick(failing(FailReason::GateTimeout)), Action::Quiet);
        assert_eq!(e.status().reason(), Some(FailReason::GateTimeout));
        assert_eq!(e.status().code(), 1);
        // A new reason is a new signal.
        assert!(
            matches!(e.on_tick(failing(FailReason::GatePanicked)), Action::Fail(f) if f.reason == FailReason::GatePanicked)
        );
        // Recovery resumes the numbering where it stopped.
        assert_eq!(
            e.on_tick(healthy()),
            Action::Beat {
                number: 3,
                recovered: true
            }
        );
        assert_eq!(e.status(), EmitterStatus::Beating);
        assert_eq!(e.beats(), 3);
    }

    #[test]
    fn a_stopped_emitter_sends_nothing_and_stops_once() {
        let e = EmitterState::new("api");
        e.on_tick(healthy());
        assert!(e.stop());
        assert!(!e.stop());
        assert_eq!(e.status(), EmitterStatus::Stopped);
        assert_eq!(e.status().code(), 2);
        assert_eq!(e.on_tick(healthy()), Action::Quiet);
        assert_eq!(e.on_tick(failing(FailReason::GateFailed)), Action::Quiet);
        assert_eq!(e.beats(), 1);
    }

    #[test]
    fn hours_of_beats_with_an_outage_in_the_middle() {
        // Ten hours at a 10 s cadence: healthy, a one-hour gate outage, healthy again.
        let clock = ManualClock::default();
        let mut s = Schedule::new(clock.monotonic(), 10 * S, 2 * S, 5);
        let e = EmitterState::new("worker");
        let (mut beats, mut fails, mut quiet) = (0u64, 0u64, 0u64);
        for _ in 0..3600 {
            clock.advance(s.next_deadline() - clock.monotonic());
            s.poll(clock.monotonic()).unwrap();
            let t = clock.monotonic().as_secs();
            let verdict = if (4 * 3600..5 * 3600).contains(&t) {
                failing(FailReason::GateFailed)
            } else {
                healthy()
            };
            match e.on_tick(verdict) {
                Action::Beat { .. } => beats += 1,
                Action::Fail(_) => fails += 1,
                Action::Quiet => quiet += 1,
            }
        }
        assert_eq!(beats + fails + quiet, 3600);
        assert_eq!(fails, 1);
        assert_eq!(quiet, 359);
        assert_eq!(beats, 3240);
        assert_eq!(e.beats(), beats);
    }

    #[test]
    fn a_name_is_claimed_once_and_keeps_its_count_across_restarts() {
        let book = EmitterBook::default();
        let (a, gen_a) = book.claim("api").unwrap();
        assert!(book.claim("api").is_none());
        assert!(book.claim("worker").is_some());
        a.on_tick(healthy());
        a.on_tick(healthy());
        a.stop();
        a.release(gen_a);
        assert!(a.reports_status()); // stopped on purpose: its status stays visible
        let (b, gen_b) = book.claim("api").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_ne!(gen_a, gen_b);
        assert!(!b.is_current(gen_a));
        assert!(b.is_current(gen_b));
        assert_eq!(b.status(), EmitterStatus::Beating);
        assert_eq!(
            b.on_tick(healthy()),
            Action::Beat {
                number: 3,
                recovered: false
            }
        );
        // A late release of the old generation does not end the new one.
        b.release(gen_a);
        assert!(b.is_live());
        let mut names = Vec::new();
        book.visit(|e| names.push(e.name().to_owned()));
        assert_eq!(names, ["api", "worker"]);
    }

    #[test]
    fn a_dropped_emitter_stops_reporting_its_status_but_a_stopped_one_does_not() {
        let book = EmitterBook::default();
        let (dropped, g1) = book.claim("dropped").unwrap();
        let (stopped, g2) = book.claim("stopped").unwrap();
        dropped.release(g1);
        stopped.stop();
        stopped.release(g2);
        assert!(!dropped.reports_status());
        assert!(stopped.reports_status());
    }

    #[test]
    fn recent_success_passes_within_the_window_and_fails_after() {
        let w = Duration::from_secs(60);
        let mut g = RecentSuccess::new(Duration::ZERO, 5, w);
        assert!(g.check(30 * S, 5).is_ok()); // grace period after start
        assert!(g.check(60 * S, 5).is_ok());
        let err = g.check(70 * S, 5).unwrap_err();
        assert_eq!(err.reason, FailReason::NoRecentSuccess);
        assert!(g.check(80 * S, 6).is_ok()); // a success seen at 80 s
        assert!(g.check(140 * S, 6).is_ok());
        assert!(g.check(141 * S, 6).is_err());
    }

    #[test]
    fn failure_details_are_cut_short_and_single_line() {
        let f = Failure::new(FailReason::GateFailed, format!("a\nb{}", "é".repeat(300)));
        assert!(f.detail.len() <= Failure::MAX_DETAIL);
        assert!(f.detail.starts_with("a b"));
    }

    #[test]
    fn ping_failures_are_counted_by_kind() {
        let e = EmitterState::new("api");
        e.ping_failed(PingFailure::Timeout);
        e.ping_failed(PingFailure::Status5xx);
        e.ping_failed(PingFailure::Status5xx);
        e.ping_ok();
        e.ping_skipped();
        assert_eq!(e.pings_failed(PingFailure::Status5xx), 2);
        assert_eq!(e.pings_failed_total(), 3);
        assert_eq!((e.pings_ok(), e.pings_skipped()), (1, 1));
    }
}
