//! The watchdog tuning calculator: what a cadence, a window and a threshold cost and buy.
//!
//! A rate watchdog pages when fewer than `threshold` beats arrived in the last `window`. With a
//! beat every `cadence`:
//!
//! - **Beats per window**: `n = floor(window / cadence)`.
//! - **Worst-case time to detect** a break: the break comes just after a beat; the alert
//!   condition holds once the `threshold`-th most recent beat has left the window, that is
//!   `window - (threshold - 1) × cadence` after the last beat. Add the emitter's jitter, the rule's
//!   evaluation interval and the pipeline's delivery delay to get the time to page.
//! - **Expected false pages per year** under independent loss (each beat fails to arrive with
//!   probability `p`): the rule, evaluated at every beat over a sliding window, starts firing
//!   when the window goes from `threshold` beats to `threshold - 1`: the newest beat is lost
//!   (`p`), the one leaving arrived (`1 - p`), and exactly `threshold - 1` of the `n - 1` in
//!   between arrived (binomial). So
//!   `pages/year = beats/year × p × (1 - p) × C(n-1, t-1) × (1-p)^(t-1) × p^(n-t)`,
//!   with `beats/year = 365.25 days / cadence`. A window that is not a whole number of cadences
//!   sometimes holds `n + 1` beats; `n` is the conservative count.
//!
//! **With a hold** ([`detection_with_hold`], Prometheus' `for:`): the condition must hold at every
//! evaluation for `hold` before the rule pages. Detection takes `hold` longer. Every page still
//! needs a start of the condition, so the rate above bounds the false pages; when `hold` is at
//! least one window, the condition must also hold at the first evaluation `hold` or more after
//! the start, on a window made only of beats sent after the start (independent of it), so the
//! bound is multiplied by the chance that one window of `n` beats is below the threshold:
//! `P(at least n - t + 1 of n lost)`. This is an upper bound whatever the evaluation interval; a
//! hold of several windows is not credited with more than one window.
//!
//! A **silence rule** ([`silence`], `max_silence`) pages when no beat at all has arrived for
//! `max_silence`, judged at that deadline. Beat `i` is sent at `i × cadence` plus a delay in
//! `[0, jitter]`, so `k` beats lost in a row leave a gap of at most `(k + 1) × cadence + jitter`
//! between two received beats. A healthy emitter pages falsely once `lost_in_a_row` beats, the
//! smallest `k` whose gap can reach `max_silence`, are lost after a received beat:
//! `pages/year = beats/year × (1 - p) × p^k`. [`recommend_max_silence`] gives the shortest whole
//! number of seconds that keeps this rate within a target.
//!
//! See `docs/alerting.md` for tables generated from [`detection`] and [`recommend_max_silence`].

use std::time::Duration;

/// What a watchdog tuning gives: detection latency and false-page rate.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Detection {
    /// Beats in one window: `floor(window / cadence)`.
    pub beats_per_window: u64,
    /// The longest time from a break (just after a beat) until the rule pages:
    /// `window - (threshold - 1) × cadence`, plus the hold given to [`detection_with_hold`].
    pub worst_case_detect: Duration,
    /// How many times a year the rule is expected to page with the emitter healthy, only
    /// because beats were lost independently at the given rate. Without a hold, the rate at
    /// which the condition starts to hold; with one, an upper bound (see the module docs).
    pub expected_false_pages_per_year: f64,
}

/// What a silence rule (`max_silence`) gives: detection latency and false-page rate.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Silence {
    /// How many beats lost in a row after a received one can make the rule page: the smallest
    /// `k` with `(k + 1) × cadence + jitter >= max_silence`. Always at least 1.
    pub lost_in_a_row: u64,
    /// The longest time from a break (just after a beat arrived) until the rule pages:
    /// `max_silence` itself, since the rule is judged at its deadline. Add the delivery delay.
    pub worst_case_detect: Duration,
    /// How many times a year the rule is expected to page with the emitter healthy:
    /// `beats/year × (1 - p) × p^lost_in_a_row`, a received beat followed by at least
    /// `lost_in_a_row` lost ones.
    pub expected_false_pages_per_year: f64,
}

/// Why a tuning function refused its input.
#[derive(Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TuningError {
    /// The cadence is zero.
    #[error("invalid cadence {0:?}: it must be greater than zero")]
    ZeroCadence(Duration),
    /// The window holds no beat.
    #[error("invalid window {window:?}: it must be at least the cadence {cadence:?}")]
    WindowTooShort {
        /// The window given.
        window: Duration,
        /// The cadence given.
        cadence: Duration,
    },
    /// The threshold is zero or more than the beats in a window (the rule would always fire).
    #[error(
        "invalid threshold {threshold}: it must be from 1 to the {beats_per_window} beats in a window"
    )]
    Threshold {
        /// The threshold given.
        threshold: u64,
        /// Beats in one window.
        beats_per_window: u64,
    },
    /// The loss rate is not a probability below 1.
    #[error("invalid loss rate {0}: it must be at least 0 and less than 1")]
    LossRate(f64),
    /// The silence a healthy emitter can leave between two beats (`cadence + jitter`) reaches
    /// `max_silence`: the rule would page with no beat lost.
    #[error(
        "invalid max_silence {max_silence:?}: it must be longer than the cadence {cadence:?} plus the jitter {jitter:?}, or a healthy emitter pages"
    )]
    MaxSilenceTooShort {
        /// The `max_silence` given.
        max_silence: Duration,
        /// The cadence given.
        cadence: Duration,
        /// The jitter given.
        jitter: Duration,
    },
    /// The false-page target is not a number greater than zero.
    #[error("invalid false-page target {0} a year: it must be greater than 0")]
    FalsePageTarget(f64),
    /// The `max_silence` that meets the target is longer than a [`Duration`] can hold.
    #[error(
        "false-page target {max_false_pages_per_year} a year is out of reach at loss rate {loss_rate} with cadence {cadence:?}: the max_silence it needs does not fit in a Duration"
    )]
    TargetOutOfReach {
        /// The target given.
        max_false_pages_per_year: f64,
        /// The loss rate given.
        loss_rate: f64,
        /// The cadence given.
        cadence: Duration,
    },
}

/// `Debug` reads like `Display` (what `fn main() -> Result<(), E>` and `unwrap()` print).
impl std::fmt::Debug for TuningError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

const YEAR: Duration = Duration::from_secs(365 * 86_400 + 6 * 3600);
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The detection latency and expected false pages of a watchdog that pages when fewer than
/// `threshold` beats arrive in `window`, for an emitter beating every `cadence` whose beats are
/// lost independently with probability `loss_rate`.
///
/// This is [`detection_with_hold`] with a zero hold.
///
/// ```
/// use std::time::Duration;
/// let d = heartbeat_core::tuning::detection(
///     Duration::from_secs(10),  // cadence
///     Duration::from_secs(120), // window
///     8,                        // page when fewer than 8 of the 12 beats arrived
///     0.01,                     // 1 % of beats lost
/// )?;
/// assert_eq!(d.beats_per_window, 12);
/// assert_eq!(d.worst_case_detect, Duration::from_secs(50));
/// assert!(d.expected_false_pages_per_year < 0.2); // about one false page a decade
/// # Ok::<(), heartbeat_core::tuning::TuningError>(())
/// ```
///
/// # Errors
/// [`TuningError`] for a zero cadence, a window shorter than the cadence, a threshold outside
/// `1..=beats_per_window`, or a loss rate outside `[0, 1)`.
pub fn detection(
    cadence: Duration,
    window: Duration,
    threshold: u64,
    loss_rate: f64,
) -> Result<Detection, TuningError> {
    detection_with_hold(cadence, window, threshold, loss_rate, Duration::ZERO)
}

/// [`detection`] for a rule whose condition must hold for `hold` before it pages (Prometheus'
/// `for:`; the Heartbeat watch's `hold = (fire_after - 1) × window`).
///
/// `worst_case_detect` is the one of [`detection`] plus `hold`. `expected_false_pages_per_year`
/// is an upper bound: the rate at which the condition starts to hold, and, when `hold` is at
/// least `window`, times the chance that a later window of `n` beats, independent of the start,
/// is below the threshold too (see the module docs). It holds for any evaluation interval.
///
/// ```
/// use std::time::Duration;
/// let window = Duration::from_secs(120);
/// let fire_after = 2; // the watch's setting: hold = (fire_after - 1) × window
/// let d = heartbeat_core::tuning::detection_with_hold(
///     Duration::from_secs(10), // cadence
///     window,
///     8,    // page when fewer than 8 of the 12 beats arrived...
///     0.01, // ...with 1 % of beats lost
///     window * (fire_after - 1),
/// )?;
/// assert_eq!(d.worst_case_detect, Duration::from_secs(170)); // 50 s + the 2 min hold
/// assert!(d.expected_false_pages_per_year < 1e-8); // 0.10 a year without the hold
/// # Ok::<(), heartbeat_core::tuning::TuningError>(())
/// ```
///
/// # Errors
/// As [`detection`].
pub fn detection_with_hold(
    cadence: Duration,
    window: Duration,
    threshold: u64,
    loss_rate: f64,
    hold: Duration,
) -> Result<Detection, TuningError> {
    if cadence.is_zero() {
        return Err(TuningError::ZeroCadence(cadence));
    }
    if window < cadence {
        return Err(TuningError::WindowTooShort { window, cadence });
    }
    let n = u64::try_from(window.as_nanos() / cadence.as_nanos()).unwrap_or(u64::MAX);
    if threshold == 0 || threshold > n {
        return Err(TuningError::Threshold {
            threshold,
            beats_per_window: n,
        });
    }
    check_loss_rate(loss_rate)?;
    let held = cadence.saturating_mul(u32::try_from(threshold - 1).unwrap_or(u32::MAX));
    let worst_case_detect = window.saturating_sub(held).saturating_add(hold);
    let p = loss_rate;
    let expected_false_pages_per_year = if p == 0.0 {
        0.0
    } else {
        let q = 1.0 - p;
        let lost = (n - threshold) as f64;
        let arrived = (threshold - 1) as f64;
        let ln = ln_choose(n - 1, threshold - 1) + arrived * q.ln() + lost * p.ln();
        let starts = beats_per_year(cadence) * p * q * ln.exp();
        if hold >= window {
            starts * at_least_lost(n, n - threshold + 1, p)
        } else {
            starts
        }
    };
    Ok(Detection {
        beats_per_window: n,
        worst_case_detect,
        expected_false_pages_per_year,
    })
}

/// The detection latency and expected false pages of a rule that pages when no beat has arrived
/// for `max_silence`, for an emitter beating every `cadence`, each beat delayed by at most
/// `jitter` (the emitter's jitter plus any spread in the delivery delay), whose beats are lost
/// independently with probability `loss_rate`.
///
/// ```
/// use std::time::Duration;
/// let s = heartbeat_core::tuning::silence(
///     Duration::from_secs(10), // cadence
///     Duration::from_secs(42), // max_silence
///     0.01,                    // 1 % of beats lost
///     Duration::from_secs(1),  // jitter
/// )?;
/// assert_eq!(s.lost_in_a_row, 4); // 3 lost leave at most 41 s between two beats
/// assert_eq!(s.worst_case_detect, Duration::from_secs(42));
/// assert!(s.expected_false_pages_per_year < 0.04); // 3,155,760 beats × 0.99 × 0.01⁴
/// # Ok::<(), heartbeat_core::tuning::TuningError>(())
/// ```
///
/// # Errors
/// [`TuningError`] for a zero cadence, a `max_silence` not longer than `cadence + jitter`, or a
/// loss rate outside `[0, 1)`.
pub fn silence(
    cadence: Duration,
    max_silence: Duration,
    loss_rate: f64,
    jitter: Duration,
) -> Result<Silence, TuningError> {
    if cadence.is_zero() {
        return Err(TuningError::ZeroCadence(cadence));
    }
    if max_silence <= cadence.saturating_add(jitter) {
        return Err(TuningError::MaxSilenceTooShort {
            max_silence,
            cadence,
            jitter,
        });
    }
    check_loss_rate(loss_rate)?;
    // The smallest k with (k + 1) × cadence >= max_silence - jitter (> cadence, so k >= 1).
    let c = cadence.as_nanos();
    let gap = (max_silence - jitter).as_nanos();
    let k = u64::try_from(gap.div_ceil(c) - 1).unwrap_or(u64::MAX);
    Ok(Silence {
        lost_in_a_row: k,
        worst_case_detect: max_silence,
        expected_false_pages_per_year: silence_rate(cadence, loss_rate, k),
    })
}

/// The shortest `max_silence`, in whole seconds, whose expected false pages per year (as
/// [`silence`] computes them) are at most `max_false_pages_per_year`.
///
/// It takes the smallest `k >= 1` whose rate `beats/year × (1 - p) × p^k` meets the target, then
/// the first whole second after `k × cadence + jitter`, the longest gap that `k - 1` beats lost in
/// a row can leave: those never reach it, and a page needs `k` in a row. With a cadence and a
/// jitter in whole seconds that is `k × cadence + jitter + 1 s`. One second less would page on
/// `k - 1` lost beats, which the target does not allow (unless it is no longer than
/// `cadence + jitter`, which [`silence`] refuses). For more margin (a delivery delay that varies),
/// add it to `jitter`.
///
/// ```
/// use std::time::Duration;
/// let max_silence = heartbeat_core::tuning::recommend_max_silence(
///     Duration::from_secs(10), // cadence
///     0.01,                    // 1 % of beats lost
///     1.0,                     // at most one false page a year
///     Duration::from_secs(1),  // jitter
/// )?;
/// // 3 lost in a row would page about 3.1 times a year; 4 in a row, 0.03 times.
/// // 4 × 10 s + 1 s = 41 s is the longest gap 3 lost beats leave, so:
/// assert_eq!(max_silence, Duration::from_secs(42));
/// # Ok::<(), heartbeat_core::tuning::TuningError>(())
/// ```
///
/// # Errors
/// [`TuningError`] for a zero cadence, a loss rate outside `[0, 1)`, a target that is not greater
/// than zero, or a `max_silence` too long for a [`Duration`].
pub fn recommend_max_silence(
    cadence: Duration,
    loss_rate: f64,
    max_false_pages_per_year: f64,
    jitter: Duration,
) -> Result<Duration, TuningError> {
    if cadence.is_zero() {
        return Err(TuningError::ZeroCadence(cadence));
    }
    check_loss_rate(loss_rate)?;
    if max_false_pages_per_year.is_nan() || max_false_pages_per_year <= 0.0 {
        return Err(TuningError::FalsePageTarget(max_false_pages_per_year));
    }
    let meets = |k: u64| silence_rate(cadence, loss_rate, k) <= max_false_pages_per_year;
    let out_of_reach = TuningError::TargetOutOfReach {
        max_false_pages_per_year,
        loss_rate,
        cadence,
    };
    // The rate falls as k grows and is 0 long before u64::MAX (p < 1): bisect for the smallest
    // k >= 1 that meets the target, keeping `meets(hi)` and `lo == 0 || !meets(lo)`.
    if !meets(u64::MAX) {
        return Err(out_of_reach);
    }
    let (mut lo, mut hi) = (0_u64, u64::MAX);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if meets(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let k = hi;
    let longest_gap = u128::from(k)
        .checked_mul(cadence.as_nanos())
        .and_then(|g| g.checked_add(jitter.as_nanos()))
        .ok_or(out_of_reach)?;
    let secs = u64::try_from(longest_gap / NANOS_PER_SEC + 1).map_err(|_| out_of_reach)?;
    Ok(Duration::from_secs(secs))
}

fn check_loss_rate(loss_rate: f64) -> Result<(), TuningError> {
    if (0.0..1.0).contains(&loss_rate) {
        Ok(())
    } else {
        Err(TuningError::LossRate(loss_rate))
    }
}

fn beats_per_year(cadence: Duration) -> f64 {
    YEAR.as_secs_f64() / cadence.as_secs_f64()
}

/// False pages a year of a silence rule that needs `k` beats lost in a row after a received one.
fn silence_rate(cadence: Duration, p: f64, k: u64) -> f64 {
    beats_per_year(cadence) * (1.0 - p) * p.powf(k as f64)
}

/// `ln C(n, k)`, summed term by term (exact enough for any window a watchdog uses).
fn ln_choose(n: u64, k: u64) -> f64 {
    let k = k.min(n - k);
    (1..=k).map(|i| ((n - k + i) as f64 / i as f64).ln()).sum()
}

/// The chance that at least `m` of `n` beats are lost, each with probability `p` in `(0, 1)`,
/// for `1 <= m <= n`: the binomial tail, summed in log space so that no term underflows early.
fn at_least_lost(n: u64, m: u64, p: f64) -> f64 {
    let (ln_p, ln_q) = (p.ln(), (1.0 - p).ln());
    let mut ln_term = ln_choose(n, m) + m as f64 * ln_p + (n - m) as f64 * ln_q;
    // The sum of the terms is `exp(max) × scaled`.
    let (mut max, mut scaled) = (ln_term, 1.0);
    for i in m..n {
        ln_term += ((n - i) as f64 / (i + 1) as f64).ln() + ln_p - ln_q;
        if ln_term > max {
            scaled = scaled * (max - ln_term).exp() + 1.0;
            max = ln_term;
        } else {
            scaled += (ln_term - max).exp();
        }
    }
    (max.exp() * scaled).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn detection_latency_shrinks_as_the_threshold_tolerates_more_loss() {
        let d = |t| detection(10 * S, 60 * S, t, 0.0).unwrap().worst_case_detect;
        assert_eq!(d(6), 10 * S);
        assert_eq!(d(5), 20 * S);
        assert_eq!(d(1), 60 * S);
    }

    #[test]
    fn a_threshold_without_tolerance_pages_about_once_per_lost_beat() {
        let p = 0.001;
        let d = detection(10 * S, 60 * S, 6, p).unwrap();
        let beats_per_year = YEAR.as_secs_f64() / 10.0;
        let expected = beats_per_year * p * (1.0 - p).powi(6);
        assert!((d.expected_false_pages_per_year - expected).abs() < 1e-9 * expected);
    }

    #[test]
    fn tolerating_one_loss_pages_on_two_losses_within_a_window() {
        let p: f64 = 0.01;
        let d = detection(10 * S, 60 * S, 5, p).unwrap();
        let beats_per_year = YEAR.as_secs_f64() / 10.0;
        // C(5, 4) = 5 ways for the other four survivors among the five in between.
        let expected = beats_per_year * p * (1.0 - p) * 5.0 * (1.0 - p).powi(4) * p;
        assert!((d.expected_false_pages_per_year - expected).abs() < 1e-9 * expected);
    }

    #[test]
    fn no_loss_means_no_false_pages() {
        let d = detection(10 * S, 60 * S, 6, 0.0).unwrap();
        assert_eq!(d.expected_false_pages_per_year, 0.0);
    }

    #[test]
    fn large_windows_stay_finite() {
        let d = detection(Duration::from_millis(100), 3600 * S, 30_000, 0.1).unwrap();
        assert_eq!(d.beats_per_window, 36_000);
        assert!(d.expected_false_pages_per_year.is_finite());
    }

    #[test]
    fn bad_input_is_refused_with_the_value_named() {
        assert_eq!(
            detection(Duration::ZERO, 60 * S, 1, 0.0)
                .unwrap_err()
                .to_string(),
            "invalid cadence 0ns: it must be greater than zero"
        );
        assert_eq!(
            detection(10 * S, 5 * S, 1, 0.0).unwrap_err().to_string(),
            "invalid window 5s: it must be at least the cadence 10s"
        );
        assert_eq!(
            detection(10 * S, 60 * S, 7, 0.0).unwrap_err().to_string(),
            "invalid threshold 7: it must be from 1 to the 6 beats in a window"
        );
        assert_eq!(
            detection(10 * S, 60 * S, 0, 0.0).unwrap_err().to_string(),
            "invalid threshold 0: it must be from 1 to the 6 beats in a window"
        );
        assert_eq!(
            detection(10 * S, 60 * S, 5, 1.0).unwrap_err().to_string(),
            "invalid loss rate 1: it must be at least 0 and less than 1"
        );
        assert!(detection(10 * S, 60 * S, 5, f64::NAN).is_err());
    }

    #[test]
    fn a_hold_adds_to_the_detection_latency() {
        let d = detection_with_hold(10 * S, 60 * S, 5, 0.0, 120 * S).unwrap();
        assert_eq!(d.worst_case_detect, 140 * S);
        assert_eq!(d.beats_per_window, 6);
    }

    #[test]
    fn a_hold_shorter_than_a_window_keeps_the_start_rate() {
        let plain = detection(10 * S, 60 * S, 5, 0.01).unwrap();
        let held = detection_with_hold(10 * S, 60 * S, 5, 0.01, 59 * S).unwrap();
        assert_eq!(
            held.expected_false_pages_per_year,
            plain.expected_false_pages_per_year
        );
    }

    #[test]
    fn a_hold_of_a_window_needs_a_second_window_below_the_threshold() {
        // Threshold 6 of 6: the later window is below it when at least one of its 6 is lost.
        let p = 0.5;
        let plain = detection(10 * S, 60 * S, 6, p).unwrap();
        let held = detection_with_hold(10 * S, 60 * S, 6, p, 60 * S).unwrap();
        let expected = plain.expected_false_pages_per_year * (1.0 - 0.5f64.powi(6));
        assert!((held.expected_false_pages_per_year - expected).abs() < 1e-12 * expected);
    }

    #[test]
    fn a_hold_of_several_windows_is_credited_with_one() {
        // Threshold 5 of 6: below it when at least 2 of 6 are lost.
        let p: f64 = 0.01;
        let q = 1.0 - p;
        let below = 1.0 - q.powi(6) - 6.0 * p * q.powi(5);
        let plain = detection(10 * S, 60 * S, 5, p).unwrap();
        for hold in [60 * S, 180 * S] {
            let held = detection_with_hold(10 * S, 60 * S, 5, p, hold).unwrap();
            let expected = plain.expected_false_pages_per_year * below;
            assert!((held.expected_false_pages_per_year - expected).abs() < 1e-9 * expected);
        }
    }

    #[test]
    fn held_large_windows_stay_finite() {
        let d = detection_with_hold(Duration::from_millis(100), 3600 * S, 30_000, 0.1, 3600 * S)
            .unwrap();
        let plain = detection(Duration::from_millis(100), 3600 * S, 30_000, 0.1).unwrap();
        assert!(d.expected_false_pages_per_year.is_finite());
        assert!(d.expected_false_pages_per_year <= plain.expected_false_pages_per_year);
    }

    #[test]
    fn the_binomial_tail_is_exact_on_small_cases() {
        assert!((at_least_lost(2, 2, 0.1) - 0.01).abs() < 1e-15);
        assert!((at_least_lost(3, 1, 0.5) - 0.875).abs() < 1e-15);
        assert!((at_least_lost(4, 2, 0.5) - 11.0 / 16.0).abs() < 1e-15);
        // A tail past the mode of a large window: no early underflow, and at most 1.
        let t = at_least_lost(36_000, 4_000, 0.1);
        assert!(t > 1e-12 && t < 1e-9, "{t}");
        assert_eq!(at_least_lost(36_000, 1, 0.1), 1.0);
    }

    #[test]
    fn held_bad_input_is_refused_like_detection() {
        assert_eq!(
            detection_with_hold(10 * S, 60 * S, 7, 0.0, 60 * S)
                .unwrap_err()
                .to_string(),
            "invalid threshold 7: it must be from 1 to the 6 beats in a window"
        );
        assert_eq!(
            detection_with_hold(10 * S, 60 * S, 5, -0.1, 60 * S).unwrap_err(),
            TuningError::LossRate(-0.1)
        );
    }

    #[test]
    fn silence_counts_the_beats_lost_in_a_row_that_reach_it() {
        let k = |max_silence, jitter| {
            silence(10 * S, max_silence, 0.01, jitter)
                .unwrap()
                .lost_in_a_row
        };
        assert_eq!(k(21 * S, Duration::ZERO), 2); // one lost leaves 20 s
        assert_eq!(k(20 * S, Duration::ZERO), 1); // exactly 20 s is reached
        assert_eq!(k(21 * S, S), 1); // 20 s + 1 s of jitter
        assert_eq!(k(42 * S, S), 4);
        assert_eq!(k(41 * S, S), 3);
        assert_eq!(k(Duration::from_millis(11_001), S), 1);
    }

    #[test]
    fn silence_pages_on_a_received_beat_followed_by_enough_losses() {
        let s = silence(10 * S, 30 * S, 0.5, Duration::ZERO).unwrap();
        assert_eq!(s.lost_in_a_row, 2);
        assert_eq!(s.worst_case_detect, 30 * S);
        // 3,155,760 beats a year × 0.5 received × 0.5² lost.
        assert_eq!(s.expected_false_pages_per_year, 394_470.0);
        let s = silence(10 * S, 42 * S, 0.01, S).unwrap();
        let expected = 3_155_760.0 * 0.99 * 1e-8;
        assert!((s.expected_false_pages_per_year - expected).abs() < 1e-12 * expected);
    }

    #[test]
    fn silence_without_loss_never_pages() {
        let s = silence(10 * S, 11 * S, 0.0, Duration::ZERO).unwrap();
        assert_eq!(s.expected_false_pages_per_year, 0.0);
    }

    #[test]
    fn silence_refuses_bad_input_with_the_value_named() {
        assert_eq!(
            silence(Duration::ZERO, 60 * S, 0.0, S)
                .unwrap_err()
                .to_string(),
            "invalid cadence 0ns: it must be greater than zero"
        );
        assert_eq!(
            silence(10 * S, 11 * S, 0.0, S).unwrap_err().to_string(),
            "invalid max_silence 11s: it must be longer than the cadence 10s plus the jitter 1s, \
             or a healthy emitter pages"
        );
        assert!(silence(10 * S, Duration::MAX, 0.0, Duration::MAX).is_err());
        assert_eq!(
            silence(10 * S, 60 * S, 1.0, S).unwrap_err().to_string(),
            "invalid loss rate 1: it must be at least 0 and less than 1"
        );
        assert!(silence(10 * S, 60 * S, f64::NAN, S).is_err());
    }

    #[test]
    fn the_recommended_max_silence_is_the_first_second_after_the_tolerated_gap() {
        // 3 lost in a row: 3,155,760 × 0.99 × 1e-6 ≈ 3.1 a year; 4 in a row: 0.031.
        assert_eq!(recommend_max_silence(10 * S, 0.01, 1.0, S), Ok(42 * S));
        // 3 in a row meet a target of 4 a year: 3 × 10 s + 1 s, plus a second.
        assert_eq!(recommend_max_silence(10 * S, 0.01, 4.0, S), Ok(32 * S));
        // A gap that is not whole seconds: 4 × 10 s + 0.5 s rounds up to 41 s.
        let half = Duration::from_millis(500);
        assert_eq!(recommend_max_silence(10 * S, 0.01, 1.0, half), Ok(41 * S));
        // No loss: one lost beat is already never expected.
        assert_eq!(recommend_max_silence(10 * S, 0.0, 1e-9, S), Ok(12 * S));
    }

    #[test]
    fn recommend_refuses_bad_input_with_the_value_named() {
        assert_eq!(
            recommend_max_silence(Duration::ZERO, 0.01, 1.0, S)
                .unwrap_err()
                .to_string(),
            "invalid cadence 0ns: it must be greater than zero"
        );
        assert_eq!(
            recommend_max_silence(10 * S, 1.5, 1.0, S)
                .unwrap_err()
                .to_string(),
            "invalid loss rate 1.5: it must be at least 0 and less than 1"
        );
        assert_eq!(
            recommend_max_silence(10 * S, 0.01, 0.0, S)
                .unwrap_err()
                .to_string(),
            "invalid false-page target 0 a year: it must be greater than 0"
        );
        assert_eq!(
            recommend_max_silence(10 * S, 0.01, -1.0, S).unwrap_err(),
            TuningError::FalsePageTarget(-1.0)
        );
        assert!(recommend_max_silence(10 * S, 0.01, f64::NAN, S).is_err());
        assert_eq!(
            recommend_max_silence(Duration::from_secs(u64::MAX / 2), 0.5, 1e-13, S)
                .unwrap_err()
                .to_string(),
            "false-page target 0.0000000000001 a year is out of reach at loss rate 0.5 with \
             cadence 9223372036854775807s: the max_silence it needs does not fit in a Duration"
        );
    }

    fn cadence() -> impl Strategy<Value = Duration> {
        prop_oneof![
            (1_u64..=600).prop_map(Duration::from_secs),
            (100_u64..=120_000).prop_map(Duration::from_millis),
        ]
    }

    proptest! {
        #[test]
        fn the_recommended_max_silence_meets_the_target_and_a_second_less_does_not(
            cadence in cadence(),
            jitter_share in 0.0..1.0_f64,
            loss_rate in prop_oneof![Just(0.0), 1e-6..0.5_f64],
            target in prop_oneof![1e-6..1e3_f64, Just(1.0)],
        ) {
            let jitter = cadence.mul_f64(jitter_share);
            let max_silence = recommend_max_silence(cadence, loss_rate, target, jitter).unwrap();
            prop_assert_eq!(max_silence.subsec_nanos(), 0);
            let s = silence(cadence, max_silence, loss_rate, jitter).unwrap();
            prop_assert!(s.expected_false_pages_per_year <= target);
            let shorter = max_silence - S;
            if shorter > cadence + jitter + S {
                let s = silence(cadence, shorter, loss_rate, jitter).unwrap();
                prop_assert!(s.expected_false_pages_per_year > target);
            }
        }
    }
}
