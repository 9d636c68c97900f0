//! Heartbeat timing: cadence, drift, jitter, beat-to-wire latency, hidden pages, the stop
//! signal, silence after a kill, stalls (HB-040 to HB-049).
//!
//! Two clocks. When the emitter offers `beat_times` (the emitter protocol's command; `native`,
//! `native-bin` and the WASM drivers do), the schedule is judged on the emitter's own record of
//! when each beat happened, and the wire only for delivery (arrival minus beat). Otherwise beat
//! `n` is taken to happen when the receiver first sees the beat count reach `n`, and jitter and
//! delivery share one bound.
//!
//! Periods are fitted robustly: the median of pairwise slopes (Theil-Sen), then least squares
//! on the beats within three scaled deviations of that line, whose residual spread gives the
//! period's standard error `σ`. A late delivery or a scheduling hiccup does not move the fit;
//! a schedule that drifts moves every beat. The slack of per-beat bounds comes from the noise
//! the runner measures while the scenario runs ([`NoiseStats`]): at most one beat in twenty may
//! exceed `bound + 15 ms + p90(noise)`, and none `bound + 15 ms + p90 + worst(noise)`.

use std::sync::Arc;
use std::time::Duration;

use super::scenarios::run;
use super::scenarios::{Recording, basic};
use crate::ctx::{BEATS, Ctx, EMITTER, Noise, NoiseStats, Run, STATUS, Session, ms};
use crate::spec::Verdict;
use crate::target::Command;
use heartbeat_testkit::{self as kit, PointValue};

/// The timing run (jitter, delivery, silence after a kill): a beat every 250 ms with a jitter of
/// 50 ms, exported every 100 ms, for 5 s (20 beats). An emitter without beat times exports
/// every 50 ms instead: on the wire its jitter and its delivery share one bound, which a
/// shorter interval keeps close to the jitter's.
const CADENCE: Duration = Duration::from_millis(250);
const JITTER: Duration = Duration::from_millis(50);
const INTERVAL: Duration = Duration::from_millis(100);
const WIRE_INTERVAL: Duration = Duration::from_millis(50);
const TIMING_RUN: Duration = Duration::from_millis(5000);

/// The drift run (cadence, drift): a beat every 100 ms without jitter, exported every 50 ms,
/// for 4 s (40 beats).
const DRIFT_CADENCE: Duration = Duration::from_millis(100);
const DRIFT_INTERVAL: Duration = Duration::from_millis(50);
const DRIFT_RUN: Duration = Duration::from_millis(4000);

/// The least drift judged a failure: 0.5 % of the cadence (a sleep-after-work loop drifts by
/// its work and its timer's lateness, typically 1 % at 100 ms), or three standard errors of the
/// fitted period when the measurement is noisier than that.
const DRIFT_LIMIT: f64 = 0.005;
/// A beat rate error judged a failure (HB-040): 10 %.
const RATE_LIMIT: f64 = 0.10;
/// The fixed part of the per-beat slack: timer granularity and a context switch.
const BEAT_SLACK: f64 = 15.0;

fn f(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A robust straight-line fit of beat times (ms) against beat numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fit {
    /// Milliseconds per beat.
    pub(crate) period: f64,
    /// The time of beat 0 on the fitted line.
    pub(crate) origin: f64,
    /// The standard error of `period`.
    pub(crate) sigma: f64,
    /// Beats the least-squares step kept (within three scaled deviations).
    pub(crate) kept: usize,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Two ways of numbering the ticks beats are on: one after the other (right unless ticks were
/// skipped), and by the median gap between consecutive beats from the first (right when a busy
/// machine made a grid emitter skip ticks it woke after, and when the period is slow, since the
/// median gap is that period). [`fit`] keeps the numbering whose line the beats fit best.
pub(crate) fn ticks(times: &[f64]) -> [Vec<f64>; 2] {
    let seq: Vec<f64> = (0..times.len()).map(|n| n as f64).collect();
    let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let gap = median(&mut gaps);
    let first = times.first().copied().unwrap_or_default();
    let by_gap = if gap > 0.0 {
        times.iter().map(|t| ((t - first) / gap).round()).collect()
    } else {
        seq.clone()
    };
    [seq, by_gap]
}

/// Fits `times[n] ≈ origin + tick(n) × period` (see the module docs and [`ticks`]); `None`
/// below 3 beats.
pub(crate) fn fit(times: &[f64]) -> Option<Fit> {
    if times.len() < 3 {
        return None;
    }
    let [seq, by_gap] = ticks(times);
    let (a, b) = (fit_on(times, &seq), fit_on(times, &by_gap));
    let best = if b.1 < a.1 { b } else { a };
    // Renumbered on the better line's period, and fitted once more.
    let refined: Vec<f64> = times
        .iter()
        .map(|t| ((t - best.0.origin) / best.0.period).round())
        .collect();
    let again = fit_on(times, &refined);
    Some(if again.1 < best.1 { again } else { best }.0)
}

/// The fit of `times` on tick numbers `ks`, and its residuals' scale.
fn fit_on(times: &[f64], ks: &[f64]) -> (Fit, f64) {
    let n = times.len();
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            if ks[j] != ks[i] {
                slopes.push((times[j] - times[i]) / (ks[j] - ks[i]));
            }
        }
    }
    let slope = median(&mut slopes);
    let mut intercepts: Vec<f64> = times.iter().zip(ks).map(|(t, k)| t - slope * k).collect();
    let intercept = median(&mut intercepts);
    let residuals: Vec<f64> = times
        .iter()
        .zip(ks)
        .map(|(t, k)| t - intercept - slope * k)
        .collect();
    let mut deviations: Vec<f64> = residuals.iter().map(|r| r.abs()).collect();
    let scale = (1.4826 * median(&mut deviations)).max(0.5);
    let kept: Vec<(f64, f64)> = times
        .iter()
        .zip(ks)
        .zip(&residuals)
        .filter(|(_, r)| r.abs() <= 3.0 * scale + 2.0)
        .map(|((t, k), _)| (*k, *t))
        .collect();
    if kept.len() < 3 {
        return (
            Fit {
                period: slope,
                origin: intercept,
                sigma: f64::INFINITY,
                kept: kept.len(),
            },
            scale,
        );
    }
    let k = kept.len() as f64;
    let mx = kept.iter().map(|(x, _)| x).sum::<f64>() / k;
    let my = kept.iter().map(|(_, y)| y).sum::<f64>() / k;
    let sxx: f64 = kept.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    let sxy: f64 = kept.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let period = sxy / sxx;
    let origin = my - period * mx;
    let rss: f64 = kept
        .iter()
        .map(|(x, y)| (y - origin - period * x).powi(2))
        .sum();
    let sigma = (rss / (k - 2.0)).sqrt() / sxx.sqrt();
    (
        Fit {
            period,
            origin,
            sigma,
            kept: kept.len(),
        },
        scale,
    )
}

/// Offsets of `times` from a grid `origin + tick × period` (each beat on the tick nearest to
/// it, counted from the first), relative to the earliest one (the grid is placed at the earliest beat: a beat is never before
/// its tick).
pub(crate) fn offsets_on(times: &[f64], period: f64) -> Vec<f64> {
    let first = times.first().copied().unwrap_or_default();
    let raw: Vec<f64> = times
        .iter()
        .map(|t| t - ((t - first) / period).round() * period)
        .collect();
    let min = raw.iter().copied().fold(f64::INFINITY, f64::min);
    raw.iter().map(|o| o - min).collect()
}

/// How per-beat values are judged against a bound: past `bound + 15 ms + p90(noise)` at most
/// one beat in twenty plus one per cadence the machine was busy (the time its timers woke more
/// than 15 ms late); none past that plus the worst noise.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound {
    /// What the requirement allows, in ms.
    pub(crate) allowed: f64,
    /// `15 ms + p90(noise)`.
    pub(crate) slack: f64,
    /// The worst noise.
    pub(crate) worst: f64,
    /// Beats the machine's busy time may have made late.
    pub(crate) busy_beats: usize,
}

impl Bound {
    pub(crate) fn new(allowed: f64, noise: NoiseStats, cadence: Duration) -> Self {
        Self {
            allowed,
            slack: BEAT_SLACK + f(noise.p90),
            worst: f(noise.worst),
            busy_beats: (f(noise.busy) / f(cadence).max(1.0)).ceil() as usize,
        }
    }

    /// `None` when `values` keep the bound, else what broke it.
    pub(crate) fn broken_by(&self, values: &[f64]) -> Option<String> {
        let soft = self.allowed + self.slack;
        let hard = soft + self.worst;
        let past: Vec<f64> = values.iter().copied().filter(|v| *v > soft).collect();
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if max > hard {
            return Some(format!("one beat at {max:.0} ms, past {hard:.0} ms"));
        }
        let tolerated = values.len() / 20 + self.busy_beats;
        (past.len() > tolerated).then(|| {
            format!(
                "{} of {} beats past {soft:.0} ms (at most {tolerated} tolerated), up to {max:.0} ms",
                past.len(),
                values.len()
            )
        })
    }

    /// How the bound was made, for a verdict.
    pub(crate) fn explain(&self) -> String {
        format!(
            "bound {:.0} ms + slack {:.0} ms (15 ms + p90 of the machine's timer lateness) for all but one beat in twenty{}, + {:.0} ms (its worst) for every beat",
            self.allowed,
            self.slack,
            match self.busy_beats {
                0 => String::new(),
                n => format!(" and {n} more for the time the machine was busy"),
            },
            self.worst
        )
    }
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

/// Beats of one run on both clocks.
pub(crate) struct Beats {
    /// Wire arrivals of beats 1, 2, ... (receiver clock, ms).
    pub(crate) wire: Vec<f64>,
    /// The emitter's beat times on the receiver clock (ms), when it offers them.
    pub(crate) emitter: Option<Vec<f64>>,
    pub(crate) noise: NoiseStats,
    /// When the run stopped looking (receiver clock, ms).
    pub(crate) end: f64,
}

impl Beats {
    /// The schedule as best known: the emitter's times, else the wire's; and which.
    fn schedule(&self) -> (&[f64], &'static str) {
        match &self.emitter {
            Some(t) => (t, "the emitter's beat times"),
            None => (
                &self.wire,
                "wire arrivals (the emitter gives no beat times)",
            ),
        }
    }

    /// Arrival minus beat time of each beat the emitter reported; for a beat not on the wire
    /// by the end, the time since it happened (a lower bound). `Err` when the wire counted more
    /// beats than the emitter reported.
    fn delivery(&self) -> Option<Result<Vec<f64>, String>> {
        let emitter = self.emitter.as_ref()?;
        if self.wire.len() > emitter.len() {
            return Some(Err(format!(
                "the wire counted {} beats, the emitter reported {} beat times",
                self.wire.len(),
                emitter.len()
            )));
        }
        Some(Ok(emitter
            .iter()
            .enumerate()
            .map(|(i, t)| self.wire.get(i).copied().unwrap_or(self.end) - t)
            .collect()))
    }
}

/// The wire's beats and the emitter's up to `end`. The emitter's times are read before `end`:
/// a beat it made after answering may be on the wire by then, and is left out of both.
fn paired(mut wire: Vec<f64>, emitter: Option<Vec<f64>>, end: f64) -> (Vec<f64>, Option<Vec<f64>>) {
    let emitter: Option<Vec<f64>> = emitter.map(|t| t.into_iter().filter(|t| *t <= end).collect());
    if let Some(e) = &emitter {
        wire.truncate(e.len());
    }
    (wire, emitter)
}

/// Beats on the wire so far, as ms on the receiver clock.
fn wire_beats(s: &Session, before: Duration) -> Vec<f64> {
    kit::arrivals(&s.points(), BEATS, &[("heartbeat.emitter", EMITTER)])
        .into_iter()
        .filter(|a| *a <= before)
        .map(f)
        .collect()
}

/// The drift run: 40 beats at 100 ms without jitter, exported every 50 ms, then a shutdown.
async fn drift_run(ctx: &Ctx) -> Run<Arc<(Beats, f64)>> {
    ctx.memo("drift", async {
        let _slot = ctx.exclusive().await;
        let mut s = ctx
            .session("drift", ctx.info.primary(), |c| {
                c.export_interval = DRIFT_INTERVAL;
            })
            .await?;
        let begun = f(s.rx.now());
        s.beat(DRIFT_CADENCE.as_millis() as u64, Some(0)).await?;
        let noise = Noise::start();
        tokio::time::sleep(DRIFT_RUN).await;
        let noise = noise.finish().await;
        let end = s.rx.now();
        let emitter = s.beat_times(ctx.info.beat_times).await?;
        // The beats still in flight at `end`.
        tokio::time::sleep(DRIFT_INTERVAL * 4).await;
        let wire = wire_beats(&s, end + DRIFT_INTERVAL * 4);
        s.shutdown().await?;
        let emitter: Option<Vec<f64>> =
            emitter.map(|t| t.into_iter().filter(|t| *t <= f(end)).collect());
        let wire: Vec<f64> = match &emitter {
            Some(e) => wire.into_iter().take(e.len()).collect(),
            None => wire.into_iter().filter(|a| *a <= f(end)).collect(),
        };
        Ok((
            Beats {
                wire,
                emitter,
                noise,
                end: f(end),
            },
            f(end) - begun,
        ))
    })
    .await
}

/// Beats for 5 s, then a kill, then silence is watched.
pub(crate) struct Timing {
    recording: Recording,
    beats: Beats,
    /// The export interval of the run.
    interval: Duration,
    /// When the kill was done.
    killed_at: Duration,
}

async fn timing_run(ctx: &Ctx) -> Run<Arc<Timing>> {
    ctx.memo("timing", async {
        let _slot = ctx.exclusive().await;
        let interval = if ctx.info.beat_times {
            INTERVAL
        } else {
            WIRE_INTERVAL
        };
        let mut s = ctx
            .session("timing", ctx.info.primary(), |c| {
                c.export_interval = interval
            })
            .await?;
        s.beat(CADENCE.as_millis() as u64, Some(JITTER.as_millis() as u64))
            .await?;
        let noise = Noise::start();
        tokio::time::sleep(TIMING_RUN).await;
        let noise = noise.finish().await;
        let emitter = s.beat_times(ctx.info.beat_times).await?;
        let kill_sent_at = s.rx.now();
        // Dead once kill returns (a page first crashes itself): the silence counts from there.
        s.emitter.kill().await;
        let killed_at = s.rx.now();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let recording = Recording::new(s.rx.requests());
        // The schedule is judged on what arrived before the kill was asked for.
        let wire: Vec<f64> =
            kit::arrivals(&recording.points, BEATS, &[("heartbeat.emitter", EMITTER)])
                .into_iter()
                .filter(|a| *a <= kill_sent_at)
                .map(f)
                .collect();
        let end = f(kill_sent_at);
        let (wire, emitter) = paired(wire, emitter, end);
        Ok(Timing {
            recording,
            beats: Beats {
                wire,
                emitter,
                noise,
                end,
            },
            killed_at,
            interval,
        })
    })
    .await
}

/// Virtual time: the cadence, jitter and number of beats of the injected-clock run.
const VIRTUAL_CADENCE: Duration = Duration::from_secs(1);
const VIRTUAL_JITTER: Duration = Duration::from_millis(100);
const VIRTUAL_BEATS: usize = 200;

/// When the target can inject a clock: 200 beats of its schedule in virtual time, offsets from
/// the grid `(n - 1) × cadence` in milliseconds (exact to the millisecond the run polls at).
async fn virtual_offsets(ctx: &Ctx) -> Run<Arc<Option<Vec<f64>>>> {
    ctx.memo("timing-virtual", async {
        match ctx
            .target
            .virtual_beats(VIRTUAL_CADENCE, VIRTUAL_JITTER, VIRTUAL_BEATS)
            .await
        {
            Ok(times) if times.len() == VIRTUAL_BEATS => Ok(Some(
                times
                    .iter()
                    .enumerate()
                    .map(|(n, t)| {
                        (t.as_secs_f64() - n as f64 * VIRTUAL_CADENCE.as_secs_f64()) * 1000.0
                    })
                    .collect(),
            )),
            Ok(times) => Err(format!(
                "{} beats in the time of {VIRTUAL_BEATS} on the injected clock",
                times.len()
            )),
            Err(crate::target::TargetError::Unsupported(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// The range of the virtual offsets.
fn virtual_range(offsets: &[f64]) -> (f64, f64) {
    let min = offsets.iter().copied().fold(f64::INFINITY, f64::min);
    let max = offsets.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

/// The drift judgement of a fit: the relative period error, the limit applied, and whether it
/// is within.
struct Drift {
    error: f64,
    limit: f64,
}

impl Drift {
    fn of(fit: &Fit, cadence: Duration) -> Self {
        let c = f(cadence);
        Self {
            error: (fit.period - c) / c,
            limit: DRIFT_LIMIT.max(3.0 * fit.sigma / c),
        }
    }

    fn ok(&self) -> bool {
        self.error.abs() <= self.limit
    }
}

fn describe_fit(fit: &Fit, cadence: Duration, n: usize, source: &str) -> String {
    let d = Drift::of(fit, cadence);
    format!(
        "from {source}: fitted period {:.2} ms ± {:.2} ms (σ) for a cadence of {} over {n} beats: {:+.2} % (limit ±{:.2} %: 0.5 % or 3σ, the larger)",
        fit.period,
        fit.sigma,
        ms(cadence),
        d.error * 100.0,
        d.limit * 100.0
    )
}

pub(crate) async fn cadence(ctx: Arc<Ctx>) -> Verdict {
    let r = run!(drift_run(&ctx).await);
    let (beats, since_asked) = &*r;
    let (times, source) = beats.schedule();
    let Some(fit) = fit(times) else {
        return Verdict::fail(format!(
            "{} beats in the {since_asked:.0} ms after the beat command, at a cadence of {} ({source})",
            times.len(),
            ms(DRIFT_CADENCE)
        ));
    };
    let c = f(DRIFT_CADENCE);
    // Counted from the first beat (how long an emitter takes to start beating is not its
    // cadence): one then, one per cadence after.
    let span = beats.end - times[0];
    let expected = span / c + 1.0;
    let got = times.len() as f64;
    let rate = fit.period / c - 1.0;
    // A count off by one is where the run starts and stops; a rate error moves the fitted
    // period, which the start and stop do not.
    let counted = (got - expected).abs() <= 1.0 + RATE_LIMIT * expected;
    let rated = rate.abs() <= RATE_LIMIT;
    Verdict::when(
        counted && rated,
        format!(
            "{got} beats in the {span:.0} ms from the first at a cadence of {} (expected {expected:.1}, within 10 % plus one); period {:.1} ms from {source}: a rate error of {:+.1} % (limit ±10 %)",
            ms(DRIFT_CADENCE),
            fit.period,
            rate * 100.0
        ),
    )
}

pub(crate) async fn no_drift(ctx: Arc<Ctx>) -> Verdict {
    let r = run!(drift_run(&ctx).await);
    let (beats, _) = &*r;
    let (times, source) = beats.schedule();
    if times.len() < 10 {
        return Verdict::fail(format!(
            "{} beats in {} at a cadence of {}: too few to fit a period ({source})",
            times.len(),
            ms(DRIFT_RUN),
            ms(DRIFT_CADENCE)
        ));
    }
    let Some(fit) = fit(times) else {
        return Verdict::fail("too few beats to fit a period");
    };
    let drift = Drift::of(&fit, DRIFT_CADENCE);
    let mut detail = describe_fit(&fit, DRIFT_CADENCE, times.len(), source);
    if !drift.ok() {
        let behind = drift.error * f(DRIFT_CADENCE) * (times.len() - 1) as f64;
        detail.push_str(&format!(
            "; beat {} is {behind:+.0} ms off its tick: the schedule drifts (sleep after work?) instead of keeping start + n × cadence",
            times.len()
        ));
        return Verdict::fail(detail);
    }
    match &*run!(virtual_offsets(&ctx).await) {
        None => Verdict::pass(detail),
        Some(offsets) => {
            // On the grid means no drift: beat 200 is as close to its tick as beat 1.
            let (min, max) = virtual_range(offsets);
            // The run polls every virtual millisecond: a beat is seen up to 2 ms after it.
            let bound = f(VIRTUAL_JITTER) + 2.0;
            let last = offsets.last().copied().unwrap_or_default();
            Verdict::when(
                min >= 0.0 && max <= bound,
                format!(
                    "{detail}; on an injected clock, {VIRTUAL_BEATS} beats at {} stay within [0, {max:.0}] ms of their ticks (beat {VIRTUAL_BEATS}: {last:.0} ms)",
                    ms(VIRTUAL_CADENCE)
                ),
            )
        }
    }
}

/// The offsets of a run's schedule from its own grid (the fitted period), and how that period
/// compares with the cadence, for the verdicts.
fn own_grid(times: &[f64], cadence: Duration) -> Option<(Vec<f64>, String)> {
    let fit = fit(times)?;
    let drift = Drift::of(&fit, cadence);
    let note = if drift.ok() {
        format!("on the grid of its period ({:.1} ms)", fit.period)
    } else {
        format!(
            "on the grid of its own period, {:.1} ms, which is off the cadence of {} by {:+.1} % (that is HB-040/HB-041's to judge; this row judges the spread around it)",
            fit.period,
            ms(cadence),
            drift.error * 100.0
        )
    };
    Some((offsets_on(times, fit.period), note))
}

pub(crate) async fn jitter_bound(ctx: Arc<Ctx>) -> Verdict {
    let t = run!(timing_run(&ctx).await);
    let (times, source) = t.beats.schedule();
    if times.len() < 6 {
        return Verdict::fail(format!("{} beats ({source})", times.len()));
    }
    let Some((offsets, grid)) = own_grid(times, CADENCE) else {
        return Verdict::fail("too few beats to place a grid");
    };
    // Without the emitter's times, the wire adds the export interval to what jitter allows.
    let (allowed, what) = match t.beats.emitter {
        Some(_) => (f(JITTER), format!("jitter {}", ms(JITTER))),
        None => (
            f(JITTER + t.interval),
            format!(
                "jitter {} + export interval {} (on the wire alone, jitter and delivery cannot be told apart: an emitter that gives beat_times is judged on the jitter alone)",
                ms(JITTER),
                ms(t.interval)
            ),
        ),
    };
    let bound = Bound::new(allowed, t.beats.noise, CADENCE);
    let seen = format!(
        "{} beats from {source}, {grid}: offsets 0 to {:.0} ms; {what}: {}",
        offsets.len(),
        max(&offsets),
        bound.explain()
    );
    if let Some(broken) = bound.broken_by(&offsets) {
        return Verdict::fail(format!(
            "beats are later after their ticks than the configured jitter allows: {broken}; {seen}"
        ));
    }
    match &*run!(virtual_offsets(&ctx).await) {
        None => Verdict::pass(seen),
        Some(offsets) => {
            let (min, max) = virtual_range(offsets);
            let jitter = f(VIRTUAL_JITTER);
            Verdict::when(
                min >= 0.0 && max <= jitter + 2.0,
                format!(
                    "{seen}; on an injected clock every beat is in [tick, tick + {jitter:.0} ms]: offsets {min:.0} to {max:.0} ms"
                ),
            )
        }
    }
}

pub(crate) async fn jitter_applied(ctx: Arc<Ctx>) -> Verdict {
    let t = run!(timing_run(&ctx).await);
    if let Some(offsets) = &*run!(virtual_offsets(&ctx).await) {
        // Exact: the wire's delivery noise cannot pass for jitter here.
        let (min, max) = virtual_range(offsets);
        let least = f(VIRTUAL_JITTER) / 3.0;
        return Verdict::when(
            max - min >= least,
            format!(
                "on an injected clock, {VIRTUAL_BEATS} beats with a jitter of {} spread over {:.0} ms (at least {least:.0} ms expected)",
                ms(VIRTUAL_JITTER),
                max - min
            ),
        );
    }
    let (times, source) = t.beats.schedule();
    if times.len() < 6 {
        return Verdict::fail(format!("{} beats ({source})", times.len()));
    }
    let Some((offsets, grid)) = own_grid(times, CADENCE) else {
        return Verdict::fail("too few beats to place a grid");
    };
    let spread = max(&offsets);
    let least = f(JITTER) / 3.0;
    Verdict::when(
        spread >= least,
        format!(
            "offsets from {source}, {grid}, spread over {spread:.0} ms with a configured jitter of {} (at least {least:.0} ms expected)",
            ms(JITTER)
        ),
    )
}

/// Delivery within `allowed` of each beat: on the emitter's times when it gives them, else on
/// the wire against the grid of the run's own period, with the jitter in the bound.
fn delivered_within(
    beats: &Beats,
    allowed: Duration,
    jitter: Duration,
    cadence: Duration,
) -> Verdict {
    match beats.delivery() {
        Some(Err(e)) => Verdict::fail(e),
        Some(Ok(delays)) => {
            if delays.is_empty() {
                return Verdict::fail("the emitter reported no beat");
            }
            let early = delays.iter().copied().fold(f64::INFINITY, f64::min);
            if early < -5.0 {
                return Verdict::fail(format!(
                    "a beat arrived {:.0} ms before the emitter says it happened: its beat times are not on this machine's clock",
                    -early
                ));
            }
            let bound = Bound::new(f(allowed), beats.noise, cadence);
            let seen = format!(
                "{} beats on the wire {early:.0} to {:.0} ms after the emitter made them (arrival minus beat time); {}",
                delays.len(),
                max(&delays),
                bound.explain()
            );
            match bound.broken_by(&delays) {
                Some(broken) => Verdict::fail(format!("delivery is late: {broken}; {seen}")),
                None => Verdict::pass(seen),
            }
        }
        None => {
            if beats.wire.len() < 3 {
                return Verdict::fail(format!("{} beats arrived", beats.wire.len()));
            }
            let Some((offsets, grid)) = own_grid(&beats.wire, cadence) else {
                return Verdict::fail("too few beats to place a grid");
            };
            let bound = Bound::new(f(allowed + jitter), beats.noise, cadence);
            let seen = format!(
                "wire arrivals (the emitter gives no beat times), {grid}: the latest beat {:.0} ms after the earliest-placed one; delivery {} + jitter {}: {}",
                max(&offsets),
                ms(allowed),
                ms(jitter),
                bound.explain()
            );
            match bound.broken_by(&offsets) {
                Some(broken) => Verdict::fail(format!("delivery is late: {broken}; {seen}")),
                None => Verdict::pass(seen),
            }
        }
    }
}

pub(crate) async fn latency_interval(ctx: Arc<Ctx>) -> Verdict {
    let t = run!(timing_run(&ctx).await);
    delivered_within(&t.beats, t.interval, JITTER, CADENCE)
}

pub(crate) async fn latency_at_once(ctx: Arc<Ctx>) -> Verdict {
    let r = run!(
        ctx.memo("timing-slow-export", async {
            let _slot = ctx.exclusive().await;
            let mut s = ctx
                .session("timing-slow-export", ctx.info.primary(), |c| {
                    c.export_interval = Duration::from_secs(5);
                })
                .await?;
            s.beat(CADENCE.as_millis() as u64, Some(0)).await?;
            let noise = Noise::start();
            tokio::time::sleep(Duration::from_millis(2200)).await;
            let noise = noise.finish().await;
            let emitter = s.beat_times(ctx.info.beat_times).await?;
            let stop_at = s.rx.now();
            s.shutdown().await?;
            let end = f(stop_at);
            let (wire, emitter) = paired(wire_beats(&s, stop_at), emitter, end);
            Ok(Beats {
                wire,
                emitter,
                noise,
                end,
            })
        })
        .await
    );
    if r.wire.len() < 5 {
        return Verdict::fail(format!(
            "{} beats reached the wire in 2.2 s at a cadence of {} with a 5 s export interval",
            r.wire.len(),
            ms(CADENCE)
        ));
    }
    let v = delivered_within(&r, Duration::from_millis(500), Duration::ZERO, CADENCE);
    Verdict {
        detail: format!("despite a 5 s export interval: {}", v.detail),
        ..v
    }
}

pub(crate) async fn hidden_page(ctx: Arc<Ctx>) -> Verdict {
    let r = run!(
        ctx.memo("hidden", async {
            let _slot = ctx.slot().await;
            let mut s = ctx
                .session("hidden", ctx.info.primary(), |c| {
                    c.export_interval = INTERVAL
                })
                .await?;
            s.beat(200, None).await?;
            tokio::time::sleep(Duration::from_millis(1000)).await;
            // Hidden from the moment the page confirms it: under load the command can take
            // hundreds of milliseconds to reach the page, and a beat due before then is fair.
            s.send(Command::Hide).await?;
            let hidden_at = s.rx.now();
            tokio::time::sleep(Duration::from_millis(1200)).await;
            let shown_at = s.rx.now();
            s.send(Command::Show).await?;
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let end = s.rx.now();
            s.shutdown().await?;
            let recording = Recording::new(s.rx.requests());
            let arrivals =
                kit::arrivals(&recording.points, BEATS, &[("heartbeat.emitter", EMITTER)]);
            Ok((arrivals, hidden_at, shown_at, end))
        })
        .await
    );
    let (arrivals, hidden_at, shown_at, end) = &*r;
    let settle = Duration::from_millis(250);
    let while_hidden = arrivals
        .iter()
        .filter(|a| **a > *hidden_at + settle && **a <= *shown_at)
        .count();
    let burst = arrivals
        .iter()
        .filter(|a| **a >= *shown_at && **a <= *shown_at + Duration::from_millis(300))
        .count();
    let after = arrivals
        .iter()
        .filter(|a| **a >= *shown_at && **a <= *end)
        .count();
    Verdict::when(
        while_hidden == 0 && burst <= 2 && after >= 3,
        format!(
            "{while_hidden} beats while hidden for {}; {burst} in the first 300 ms visible again; {after} in the {} after",
            ms(*shown_at - *hidden_at),
            ms(*end - *shown_at)
        ),
    )
}

pub(crate) async fn stop_signal(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, ctx.info.primary()).await);
    let stopped = b.recording.points.iter().find(|p| {
        p.metric == STATUS
            && p.attributes.get("heartbeat.emitter").map(String::as_str) == Some(EMITTER)
            && p.value == PointValue::Int(2)
            && p.at >= b.shutdown_at
    });
    match stopped {
        Some(p) => Verdict::pass(format!(
            "heartbeat.emitter.status = 2 in request #{}, {} after the shutdown began",
            p.seq,
            ms(p.at.saturating_sub(b.shutdown_at))
        )),
        None => {
            Verdict::fail("no heartbeat.emitter.status = 2 arrived after the graceful shutdown")
        }
    }
}

pub(crate) async fn silence_on_kill(ctx: Arc<Ctx>) -> Verdict {
    let t = run!(timing_run(&ctx).await);
    let after: Vec<_> = t
        .recording
        .requests
        .iter()
        .filter(|r| r.at > t.killed_at + ctx.slack())
        .collect();
    match after.first() {
        Some(r) => Verdict::fail(format!(
            "{} requests arrived after the kill, the first {} after it",
            after.len(),
            ms(r.at - t.killed_at)
        )),
        None if t.beats.wire.is_empty() => Verdict::fail("no beat arrived before the kill"),
        None => Verdict::pass(format!(
            "nothing in the 1.2 s after the kill ({} beats before it)",
            t.beats.wire.len()
        )),
    }
}

/// The stall run's cadence, export interval and stall: 6 to 7 cadences, ending half-way
/// between two ticks, so that a beat on waking is told from the next tick's.
const STALL_CADENCE: Duration = Duration::from_millis(200);
const STALL_INTERVAL: Duration = Duration::from_millis(50);

struct Stalled {
    /// Beats before and after (emitter clock when offered, else wire), receiver-clock ms.
    times: Vec<f64>,
    source: &'static str,
    /// The grid fitted to the beats before the stall.
    grid: Fit,
    resumed_at: f64,
    end: f64,
    stalled_for: Duration,
    noise: NoiseStats,
}

pub(crate) async fn stall(ctx: Arc<Ctx>) -> Verdict {
    let r = run!(
        ctx.memo("stall", async {
            let _slot = ctx.slot().await;
            let mut s = ctx
                .session("stall", ctx.info.primary(), |c| {
                    c.export_interval = STALL_INTERVAL
                })
                .await?;
            s.beat(STALL_CADENCE.as_millis() as u64, Some(0)).await?;
            tokio::time::sleep(Duration::from_millis(1200)).await;
            let before = match s.beat_times(ctx.info.beat_times).await? {
                Some(t) => t,
                None => wire_beats(&s, s.rx.now()),
            };
            let grid = fit(&before)
                .ok_or_else(|| format!("{} beats in 1.2 s at a cadence of 200 ms", before.len()))?;
            // Wake half-way between the ticks about 6.5 cadences from now.
            let c = f(STALL_CADENCE);
            let now = f(s.rx.now());
            let target = now + 6.0 * c;
            let k = ((target - grid.origin) / grid.period).floor() + 0.5;
            let wake = grid.origin + k * grid.period;
            let stalled_for = Duration::from_secs_f64((wake - now).max(c) / 1000.0);
            s.emitter
                .stall(stalled_for)
                .await
                .map_err(|e| e.to_string())?;
            let resumed_at = f(s.rx.now());
            let noise = Noise::start();
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let noise = noise.finish().await;
            let end = f(s.rx.now());
            let (times, source) = match s.beat_times(ctx.info.beat_times).await? {
                Some(t) => (t, "the emitter's beat times"),
                None => (
                    wire_beats(&s, s.rx.now()),
                    "wire arrivals (the emitter gives no beat times)",
                ),
            };
            s.shutdown().await?;
            Ok(Stalled {
                times: times.into_iter().filter(|t| *t <= end).collect(),
                source,
                grid,
                resumed_at,
                end,
                stalled_for,
                noise,
            })
        })
        .await
    );
    let c = f(STALL_CADENCE);
    let after: Vec<f64> = r
        .times
        .iter()
        .copied()
        .filter(|t| *t >= r.resumed_at - 5.0)
        .collect();
    // On waking half-way between ticks, one beat may go out at once; the next is due at the
    // next tick of the grid. More before that tick is a catch-up burst. (A resume that comes
    // late, close to a tick, leaves a short window: the beat on waking and the tick's own beat
    // are then both legitimate.)
    let lag = if r.source.starts_with("wire") {
        f(STALL_INTERVAL)
    } else {
        0.0
    };
    let g = &r.grid;
    let next_tick = g.origin + ((r.resumed_at - g.origin) / g.period).ceil() * g.period;
    let window = (next_tick - 10.0 - r.resumed_at).max(1.0);
    let on_waking = after.iter().filter(|t| **t < r.resumed_at + window).count();
    // Back on the grid: every later beat on a tick of the grid kept before the stall. One beat
    // late by timer noise is tolerated, none by more than a quarter cadence (a grid moved to
    // the wake-up is half a cadence off).
    let slack = BEAT_SLACK + lag + f(r.noise.p90);
    let far = c / 4.0 + lag + f(r.noise.p90);
    let offsets: Vec<f64> = after
        .iter()
        .skip(1)
        .map(|t| {
            let x = (t - g.origin) / g.period;
            (x - x.round()) * g.period
        })
        .collect();
    let off_grid: Vec<f64> = offsets
        .iter()
        .copied()
        .filter(|off| *off < -5.0 || *off > slack)
        .collect();
    let moved = offsets.iter().any(|off| off.abs() > far);
    let detail = format!(
        "from {}: after a {} stall ending half-way between ticks at a cadence of {}: {on_waking} beats in the {window:.0} ms from waking to the next tick (at most 1), {} in the {:.0} ms after (expected about {:.0}), {} later beats off the grid kept before the stall by more than {slack:.0} ms (15 ms + p90 of the timer lateness; one tolerated, none past {far:.0} ms)",
        r.source,
        ms(r.stalled_for),
        ms(STALL_CADENCE),
        after.len(),
        r.end - r.resumed_at,
        (r.end - r.resumed_at) / c,
        off_grid.len()
    );
    if on_waking > 1 {
        return Verdict::fail(format!(
            "a catch-up burst: {on_waking} beats at once on waking; {detail}"
        ));
    }
    let expected = (r.end - r.resumed_at) / c;
    if after.is_empty() || (after.len() as f64) > expected + 2.0 {
        return Verdict::fail(detail);
    }
    Verdict::when(off_grid.len() <= 1 && !moved, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_measured_from_the_grid() {
        let o = offsets_on(&[100.0, 360.0, 600.0, 870.0], 250.0);
        assert_eq!(
            o.iter().map(|x| x.round() as i64).collect::<Vec<_>>(),
            vec![0, 10, 0, 20]
        );
    }

    #[test]
    fn a_late_delivery_does_not_move_the_fitted_period() {
        let late_first = [90.0, 250.0, 500.0, 750.0, 1000.0, 1250.0, 1500.0];
        let fit = fit(&late_first).unwrap();
        assert!((fit.period - 250.0).abs() < 1e-9, "{fit:?}");
        assert_eq!(fit.kept, 6);
    }

    #[test]
    fn a_skipped_tick_does_not_read_as_a_longer_period() {
        // Ticks 0..20 at 100 ms, tick 7 and 8 skipped (the emitter woke after them).
        let times: Vec<f64> = (0..20)
            .filter(|k| *k != 7 && *k != 8)
            .map(|k| k as f64 * 100.0)
            .collect();
        let fit = fit(&times).unwrap();
        assert!((fit.period - 100.0).abs() < 1e-9, "{fit:?}");
        assert_eq!(offsets_on(&times, 100.0), vec![0.0; 18]);
    }

    #[test]
    fn a_slow_period_is_not_rounded_away() {
        // 2.5 % slow: by beat 40 a whole tick behind a 100 ms grid.
        let times: Vec<f64> = (0..41).map(|n| n as f64 * 102.5).collect();
        let d = Drift::of(&fit(&times).unwrap(), DRIFT_CADENCE);
        assert!((d.error - 0.025).abs() < 1e-9, "{}", d.error);
    }

    #[test]
    fn one_percent_drift_is_told_from_timer_noise() {
        // 40 beats at 100 ms, each up to 3 ms late, one 40 ms late (a busy machine).
        let noisy: Vec<f64> = (0..40)
            .map(|n| n as f64 * 100.0 + ((n * 7) % 4) as f64 + if n == 17 { 40.0 } else { 0.0 })
            .collect();
        let fit_ok = fit(&noisy).unwrap();
        assert!(Drift::of(&fit_ok, DRIFT_CADENCE).ok(), "{fit_ok:?}");
        let drifting: Vec<f64> = noisy
            .iter()
            .enumerate()
            .map(|(n, t)| t + n as f64)
            .collect();
        let fit_bad = fit(&drifting).unwrap();
        let d = Drift::of(&fit_bad, DRIFT_CADENCE);
        assert!(!d.ok(), "{fit_bad:?}");
        assert!((d.error - 0.01).abs() < 0.001, "{}", d.error);
    }

    #[test]
    fn a_bound_tolerates_one_beat_in_twenty_and_none_past_the_worst() {
        let noise = NoiseStats {
            p90: Duration::from_millis(5),
            worst: Duration::from_millis(30),
            busy: Duration::ZERO,
        };
        let b = Bound::new(50.0, noise, CADENCE);
        let mut v = vec![10.0; 20];
        v[3] = 80.0;
        assert_eq!(b.broken_by(&v), None);
        v[4] = 71.0;
        assert!(
            b.broken_by(&v)
                .unwrap()
                .starts_with("2 of 20 beats past 70 ms")
        );
        let mut w = vec![10.0; 20];
        w[0] = 101.0;
        assert_eq!(b.broken_by(&w).unwrap(), "one beat at 101 ms, past 100 ms");
    }

    #[test]
    fn a_busy_machine_tolerates_a_beat_per_busy_cadence() {
        let busy = NoiseStats {
            p90: Duration::from_millis(5),
            worst: Duration::from_millis(300),
            busy: Duration::from_millis(400),
        };
        let b = Bound::new(50.0, busy, CADENCE);
        assert_eq!(b.busy_beats, 2);
        let mut v = vec![10.0; 20];
        v[1] = 200.0;
        v[2] = 150.0;
        v[3] = 120.0;
        assert_eq!(b.broken_by(&v), None);
        v[4] = 90.0;
        assert!(b.broken_by(&v).is_some());
        assert!(
            b.explain()
                .contains("and 2 more for the time the machine was busy")
        );
    }

    #[test]
    fn a_doubled_jitter_fails_the_bound() {
        // Offsets spread evenly over 100 ms, for a configured 50 ms.
        let v: Vec<f64> = (0..20).map(|n| n as f64 * 5.0).collect();
        let b = Bound::new(50.0, NoiseStats::default(), CADENCE);
        assert!(b.broken_by(&v).is_some());
    }
}
