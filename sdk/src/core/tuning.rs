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
//! See `docs/alerting.md` for a table generated from [`detection`].

use std::time::Duration;

/// What a watchdog tuning gives: detection latency and false-page rate.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Detection {
    /// Beats in one window: `floor(window / cadence)`.
    pub beats_per_window: u64,
    /// The longest time from a break (just after a beat) until the window holds fewer than
    /// `threshold` beats: `window - (threshold - 1) × cadence`.
    pub worst_case_detect: Duration,
    /// How many times a year the rule is expected to start firing with the emitter healthy,
    /// only because beats were lost independently at the given rate.
    pub expected_false_pages_per_year: f64,
}

/// Why [`detection`] refused its input.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
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
}

const YEAR: Duration = Duration::from_secs(365 * 86_400 + 6 * 3600);

/// The detection latency and expected false pages of a watchdog that pages when fewer than
/// `threshold` beats arrive in `window`, for an emitter beating every `cadence` whose beats are
/// lost independently with probability `loss_rate`.
///
/// ```
/// use std::time::Duration;
/// let d = heartbeat::tuning::detection(
///     Duration::from_secs(10),  // cadence
///     Duration::from_secs(120), // window
///     8,                        // page when fewer than 8 of the 12 beats arrived
///     0.01,                     // 1 % of beats lost
/// )?;
/// assert_eq!(d.beats_per_window, 12);
/// assert_eq!(d.worst_case_detect, Duration::from_secs(50));
/// assert!(d.expected_false_pages_per_year < 0.2); // about one false page a decade
/// # Ok::<(), heartbeat::tuning::TuningError>(())
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
    if !(0.0..1.0).contains(&loss_rate) {
        return Err(TuningError::LossRate(loss_rate));
    }
    let held = cadence.saturating_mul(u32::try_from(threshold - 1).unwrap_or(u32::MAX));
    let worst_case_detect = window.saturating_sub(held);
    let beats_per_year = YEAR.as_secs_f64() / cadence.as_secs_f64();
    let p = loss_rate;
    let expected_false_pages_per_year = if p == 0.0 {
        0.0
    } else {
        let q = 1.0 - p;
        let lost = (n - threshold) as f64;
        let arrived = (threshold - 1) as f64;
        let ln = ln_choose(n - 1, threshold - 1) + arrived * q.ln() + lost * p.ln();
        beats_per_year * p * q * ln.exp()
    };
    Ok(Detection {
        beats_per_window: n,
        worst_case_detect,
        expected_false_pages_per_year,
    })
}

/// `ln C(n, k)`, summed term by term (exact enough for any window a watchdog uses).
fn ln_choose(n: u64, k: u64) -> f64 {
    let k = k.min(n - k);
    (1..=k).map(|i| ((n - k + i) as f64 / i as f64).ln()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
