//! Heartbeat timing: cadence, drift, jitter, beat-to-wire latency, hidden pages, the stop
//! signal, silence after a kill, stalls (HB-040 to HB-049).
//!
//! Measured on the wire: beat `n` is taken to happen when the receiver first sees the beat count
//! reach `n`. Its offset from the grid is `arrival(n) - (n - 1) × cadence`; the spread of the
//! offsets holds the jitter, the delivery delay and the suite's slack `T`.

use std::sync::Arc;
use std::time::Duration;

use super::scenarios::{Recording, basic};
use super::wire::run;
use super::{BEATS, Ctx, EMITTER, Noise, Run, STATUS, ms};
use crate::otlp::{self, PointValue};
use crate::spec::Verdict;
use crate::target::Command;

const CADENCE: Duration = Duration::from_millis(250);
const JITTER: Duration = Duration::from_millis(50);
const INTERVAL: Duration = Duration::from_millis(100);

/// Beats for a few seconds, then a kill, then silence is watched.
pub(crate) struct Timing {
    recording: Recording,
    /// When each beat arrived, before the kill was asked for.
    arrivals: Vec<Duration>,
    kill_sent_at: Duration,
    /// When the kill was done.
    killed_at: Duration,
    /// The machine's scheduling noise while it ran (see `Noise`).
    noise: Duration,
}

async fn timing_run(ctx: &Ctx) -> Run<Arc<Timing>> {
    ctx.memo("timing", async {
        let _slot = ctx.slot().await;
        let mut s = ctx
            .session("timing", ctx.info.primary(), |c| {
                c.export_interval = INTERVAL
            })
            .await?;
        s.beat(CADENCE.as_millis() as u64, Some(JITTER.as_millis() as u64))
            .await?;
        let noise = Noise::start();
        tokio::time::sleep(Duration::from_millis(3500)).await;
        let noise = noise.finish().await;
        let kill_sent_at = s.rx.now();
        // Dead once kill returns (a page first crashes itself): the silence counts from there.
        s.emitter.kill().await;
        let killed_at = s.rx.now();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let recording = Recording::new(s.rx.requests());
        // The schedule is judged on what arrived before the kill was asked for.
        let arrivals = otlp::arrivals(&recording.points, BEATS, &[("heartbeat.emitter", EMITTER)])
            .into_iter()
            .filter(|a| *a <= kill_sent_at)
            .collect();
        Ok(Timing {
            recording,
            arrivals,
            kill_sent_at,
            killed_at,
            noise,
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

/// Offsets of each arrival from the grid `first + (n - 1) × cadence`, relative to the smallest.
fn offsets(arrivals: &[Duration], cadence: Duration) -> Vec<f64> {
    let raw: Vec<f64> = arrivals
        .iter()
        .enumerate()
        .map(|(n, a)| a.as_secs_f64() - n as f64 * cadence.as_secs_f64())
        .collect();
    let min = raw.iter().copied().fold(f64::INFINITY, f64::min);
    raw.iter().map(|o| (o - min) * 1000.0).collect()
}

/// The period of `arrivals` in milliseconds: the median of the slopes between every two beats
/// (Theil-Sen), which a few late deliveries (a busy machine, a batching emitter) do not move,
/// while a schedule that drifts moves all of them.
fn fitted_period(arrivals: &[Duration]) -> Option<f64> {
    if arrivals.len() < 3 {
        return None;
    }
    let ms: Vec<f64> = arrivals.iter().map(|a| a.as_secs_f64() * 1000.0).collect();
    let mut slopes = Vec::new();
    for i in 0..ms.len() {
        for j in i + 1..ms.len() {
            slopes.push((ms[j] - ms[i]) / (j - i) as f64);
        }
    }
    slopes.sort_by(f64::total_cmp);
    slopes.get(slopes.len() / 2).copied()
}

fn spread(offsets: &[f64]) -> f64 {
    offsets.iter().copied().fold(0.0, f64::max)
}

pub(crate) async fn cadence(ctx: Arc<Ctx>) -> Verdict {
    let t = run!(timing_run(&ctx).await);
    let Some(first) = t.arrivals.first() else {
        return Verdict::fail("no beat arrived");
    };
    let span = t.kill_sent_at.saturating_sub(*first);
    let expected = span.as_secs_f64() / CADENCE.as_secs_f64() + 1.0;
    let got = t.arrivals.len() as f64;
    Verdict::when(
        (got - expected).abs() <= 1.0 + 0.1 * expected,
        format!(
            "{got} beats in {} at a cadence of {} (expected {expected:.1})",
            ms(span),
            ms(CADENCE)
        ),
    )
}

pub(crate) async fn no_drift(ctx: Arc<Ctx>) -> Verdict {
    let t = run!(timing_run(&ctx).await);
    let Some(period) = fitted_period(&t.arrivals) else {
        return Verdict::fail(format!(
            "{} beats arrived, too few to fit a period",
            t.arrivals.len()
        ));
    };
    let cadence = CADENCE.as_secs_f64() * 1000.0;
    let drift = (period - cadence) / cadence;
    let wire = format!(
        "on the wire, fitted period {period:.1} ms for a cadence of {cadence:.0} ms over {} beats ({:+.1} %)",
        t.arrivals.len(),
        drift * 100.0
    );
    if drift.abs() > 0.03 {
        return Verdict::fail(wire);
    }
    match &*run!(virtual_offsets(&ctx).await) {
        None => Verdict::pass(wire),
        Some(offsets) => {
            // On the grid means no drift: beat 200 is as close to its tick as beat 1.
            let (min, max) = virtual_range(offsets);
            // The run polls every virtual millisecond: a beat is seen up to 2 ms after it.
            let bound = VIRTUAL_JITTER.as_secs_f64() * 1000.0 + 2.0;
            let last = offsets.last().copied().unwrap_or_default();
            Verdict::when(
                min >= 0.0 && max <= bound,
                format!(
                    "{wire}; on an injected clock, {VIRTUAL_BEATS} beats at {} stay within [0, {max:.0}] ms of their ticks (beat {VIRTUAL_BEATS}: {last:.0} ms)",
                    ms(VIRTUAL_CADENCE)
                ),
            )
        }
    }
}

pub(crate) async fn jitter_bound(ctx: Arc<Ctx>) -> Verdict {
    let t = run!(timing_run(&ctx).await);
    if t.arrivals.len() < 3 {
        return Verdict::fail(format!("{} beats arrived", t.arrivals.len()));
    }
    let spread = spread(&offsets(&t.arrivals, CADENCE));
    let slack = ctx.slack() + t.noise;
    let bound = (JITTER + INTERVAL + slack).as_secs_f64() * 1000.0;
    let wire = format!(
        "on the wire, offsets from the grid spread over {spread:.0} ms; bound jitter {} + export interval {} + T {} + machine noise {} = {bound:.0} ms",
        ms(JITTER),
        ms(INTERVAL),
        ms(ctx.slack()),
        ms(t.noise)
    );
    if spread > bound {
        return Verdict::fail(wire);
    }
    match &*run!(virtual_offsets(&ctx).await) {
        None => Verdict::pass(wire),
        Some(offsets) => {
            let (min, max) = virtual_range(offsets);
            let jitter = VIRTUAL_JITTER.as_secs_f64() * 1000.0;
            Verdict::when(
                min >= 0.0 && max <= jitter + 2.0,
                format!(
                    "{wire}; on an injected clock every beat is in [tick, tick + {jitter:.0} ms]: offsets {min:.0} to {max:.0} ms"
                ),
            )
        }
    }
}

pub(crate) async fn jitter_applied(ctx: Arc<Ctx>) -> Verdict {
    let t = run!(timing_run(&ctx).await);
    if t.arrivals.len() < 6 {
        return Verdict::fail(format!("{} beats arrived", t.arrivals.len()));
    }
    if let Some(offsets) = &*run!(virtual_offsets(&ctx).await) {
        // Exact: the wire's delivery noise cannot pass for jitter here.
        let (min, max) = virtual_range(offsets);
        let least = VIRTUAL_JITTER.as_secs_f64() * 1000.0 / 3.0;
        return Verdict::when(
            max - min >= least,
            format!(
                "on an injected clock, {VIRTUAL_BEATS} beats with a jitter of {} spread over {:.0} ms (at least {least:.0} ms expected)",
                ms(VIRTUAL_JITTER),
                max - min
            ),
        );
    }
    let spread = spread(&offsets(&t.arrivals, CADENCE));
    let least = JITTER.as_secs_f64() * 1000.0 / 3.0;
    Verdict::when(
        spread >= least,
        format!(
            "offsets spread over {spread:.0} ms with a configured jitter of {} (at least {least:.0} ms expected)",
            ms(JITTER)
        ),
    )
}

pub(crate) async fn latency_interval(ctx: Arc<Ctx>) -> Verdict {
    let t = run!(timing_run(&ctx).await);
    if t.arrivals.len() < 3 {
        return Verdict::fail(format!("{} beats arrived", t.arrivals.len()));
    }
    let offsets = offsets(&t.arrivals, CADENCE);
    let late = spread(&offsets);
    let bound = (INTERVAL + JITTER + ctx.slack() + t.noise).as_secs_f64() * 1000.0;
    Verdict::when(
        late <= bound,
        format!(
            "the latest beat arrived {late:.0} ms after the earliest-placed one on the grid (bound {bound:.0} ms: export interval {}, jitter, T and machine noise {})",
            ms(INTERVAL),
            ms(t.noise)
        ),
    )
}

pub(crate) async fn latency_at_once(ctx: Arc<Ctx>) -> Verdict {
    let r = run!(
        ctx.memo("timing-slow-export", async {
            let _slot = ctx.slot().await;
            let mut s = ctx
                .session("timing-slow-export", ctx.info.primary(), |c| {
                    c.export_interval = Duration::from_secs(5);
                })
                .await?;
            s.beat(CADENCE.as_millis() as u64, Some(0)).await?;
            let noise = Noise::start();
            tokio::time::sleep(Duration::from_millis(2200)).await;
            let noise = noise.finish().await;
            let stop_at = s.rx.now();
            s.shutdown().await?;
            let recording = Recording::new(s.rx.requests());
            let arrivals: Vec<Duration> =
                otlp::arrivals(&recording.points, BEATS, &[("heartbeat.emitter", EMITTER)])
                    .into_iter()
                    .filter(|a| *a < stop_at)
                    .collect();
            Ok((arrivals, noise))
        })
        .await
    );
    let (arrivals, noise) = &*r;
    if arrivals.len() < 5 {
        return Verdict::fail(format!(
            "{} beats reached the wire in 2.2 s at a cadence of {} with a 5 s export interval",
            arrivals.len(),
            ms(CADENCE)
        ));
    }
    let late = spread(&offsets(arrivals, CADENCE));
    let bound = 500.0 + (ctx.slack() + *noise).as_secs_f64() * 1000.0;
    Verdict::when(
        late <= bound,
        format!(
            "{} beats on the wire within {late:.0} ms of the grid (bound {bound:.0} ms with machine noise {}) despite a 5 s export interval",
            arrivals.len(),
            ms(*noise)
        ),
    )
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
            let hidden_at = s.rx.now();
            s.send(Command::Hide).await?;
            tokio::time::sleep(Duration::from_millis(1200)).await;
            let shown_at = s.rx.now();
            s.send(Command::Show).await?;
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let end = s.rx.now();
            s.shutdown().await?;
            let recording = Recording::new(s.rx.requests());
            let arrivals =
                otlp::arrivals(&recording.points, BEATS, &[("heartbeat.emitter", EMITTER)]);
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
        None if t.arrivals.is_empty() => Verdict::fail("no beat arrived before the kill"),
        None => Verdict::pass(format!(
            "nothing in the 1.2 s after the kill ({} beats before it)",
            t.arrivals.len()
        )),
    }
}

pub(crate) async fn stall(ctx: Arc<Ctx>) -> Verdict {
    let r = run!(
        ctx.memo("stall", async {
            let _slot = ctx.slot().await;
            let mut s = ctx
                .session("stall", ctx.info.primary(), |c| {
                    c.export_interval = Duration::from_millis(200)
                })
                .await?;
            s.beat(200, Some(0)).await?;
            tokio::time::sleep(Duration::from_millis(1000)).await;
            s.emitter
                .stall(Duration::from_millis(1200))
                .await
                .map_err(|e| e.to_string())?;
            let resumed_at = s.rx.now();
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let end = s.rx.now();
            s.shutdown().await?;
            let recording = Recording::new(s.rx.requests());
            let arrivals =
                otlp::arrivals(&recording.points, BEATS, &[("heartbeat.emitter", EMITTER)]);
            Ok((arrivals, resumed_at, end))
        })
        .await
    );
    let (arrivals, resumed_at, end) = &*r;
    let first = arrivals
        .iter()
        .filter(|a| **a >= *resumed_at && **a <= *resumed_at + Duration::from_millis(150))
        .count();
    let after = arrivals
        .iter()
        .filter(|a| **a >= *resumed_at && **a <= *end)
        .count();
    Verdict::when(
        first <= 2 && (3..=8).contains(&after),
        format!(
            "after a 1.2 s stall (6 cadences): {first} beats in the first 150 ms, {after} in the next {}",
            ms(*end - *resumed_at)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: &[u64]) -> Vec<Duration> {
        ms.iter().map(|m| Duration::from_millis(*m)).collect()
    }

    #[test]
    fn offsets_are_measured_from_the_grid() {
        let o = offsets(&at(&[100, 360, 600, 870]), Duration::from_millis(250));
        assert_eq!(
            o.iter().map(|x| x.round() as i64).collect::<Vec<_>>(),
            vec![0, 10, 0, 20]
        );
    }

    #[test]
    fn a_late_delivery_does_not_move_the_fitted_period() {
        let late_first = at(&[90, 250, 500, 750, 1000, 1250, 1500]);
        assert!((fitted_period(&late_first).unwrap() - 250.0).abs() < 1e-9);
    }

    #[test]
    fn a_fixed_grid_fits_its_cadence_and_sleep_after_work_does_not() {
        let grid = at(&[0, 250, 500, 750, 1000, 1250]);
        assert!((fitted_period(&grid).unwrap() - 250.0).abs() < 1e-9);
        let drifting = at(&[0, 270, 540, 810, 1080, 1350]);
        assert!((fitted_period(&drifting).unwrap() - 270.0).abs() < 1e-9);
    }
}
