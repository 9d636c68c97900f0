//! Negative-anomaly detection against a seasonal baseline.
//!
//! The method (documented with its measured false-positive and detection rates in
//! `docs/watch.md`): the successes of the window that just closed are compared with the
//! successes of the same slot of the season (the same time of day, for a one-day season) in the
//! past seasons, taking that slot and its two neighbours in each past season, so a slightly
//! shifted peak still matches:
//!
//! - **expected** = the median of those samples;
//! - **spread** = `1.4826 × MAD` (the median absolute deviation, scaled to a standard deviation
//!   for normal noise), floored at `sqrt(expected)` (the Poisson noise of a count) and at 1;
//! - the window is a **drop** when `successes < expected − sensitivity × spread` **and**
//!   `successes < (1 − MIN_RELATIVE_DROP) × expected`;
//! - the rule judges only with samples from at least `min_history / season` past seasons.
//!
//! Median and MAD are robust: a past outage in the history moves neither much, so the baseline
//! does not learn the failure it should catch.

/// Smallest relative drop that can fire, whatever the spread: 15 % below the expected.
pub(crate) const MIN_RELATIVE_DROP: f64 = 0.15;
/// Past seasons looked at, at most (the rule file refuses a `min_history` of more).
pub(crate) const MAX_SEASONS: u32 = crate::rulefile::MAX_HISTORY_SEASONS;

/// The expectation for one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Expected {
    /// Median of the past samples.
    pub(crate) median: f64,
    /// Robust spread of the past samples.
    pub(crate) spread: f64,
    /// Past seasons that contributed.
    pub(crate) seasons: u32,
}

impl Expected {
    /// The value below which a window is a drop, at `sensitivity`.
    pub(crate) fn threshold(&self, sensitivity: f64) -> f64 {
        (self.median - sensitivity * self.spread).min((1.0 - MIN_RELATIVE_DROP) * self.median)
    }

    /// Whether `value` is a drop at `sensitivity`.
    pub(crate) fn is_drop(&self, value: f64, sensitivity: f64) -> bool {
        value < self.threshold(sensitivity)
    }
}

/// The expectation for the window starting at `start`, from `history(window_start)` (the
/// successes of a past window, if known); `None` with fewer than `min_seasons` past seasons.
pub(crate) fn expected(
    history: impl Fn(i64) -> Option<f64>,
    start: i64,
    window_ms: i64,
    season_ms: i64,
    min_seasons: u32,
) -> Option<Expected> {
    let mut samples: Vec<f64> = Vec::with_capacity(3 * MAX_SEASONS as usize);
    let mut seasons = 0;
    for k in 1..=i64::from(MAX_SEASONS.max(min_seasons)) {
        let centre = start - k * season_ms;
        let before = samples.len();
        for offset in [-1, 0, 1] {
            if let Some(v) = history(centre + offset * window_ms) {
                samples.push(v);
            }
        }
        if samples.len() > before {
            seasons += 1;
        }
    }
    if seasons < min_seasons.max(1) {
        return None;
    }
    let median = median(&mut samples);
    let mut deviations: Vec<f64> = samples.iter().map(|v| (v - median).abs()).collect();
    let mad = median_of(&mut deviations);
    // Few samples underestimate the spread: widen it by 1 + 1/sqrt(n).
    let small_sample = 1.0 + 1.0 / (samples.len() as f64).sqrt();
    let spread = (1.4826 * mad * small_sample)
        .max(median.max(0.0).sqrt())
        .max(1.0);
    Some(Expected {
        median,
        spread,
        seasons,
    })
}

fn median(v: &mut [f64]) -> f64 {
    median_of(v)
}

fn median_of(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// SplitMix64: a small deterministic generator for the synthetic data.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let (u1, u2) = (self.unit().max(1e-12), self.unit());
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        }
    }

    const WINDOW: i64 = 5 * 60_000;
    const SEASON: i64 = 24 * 3600 * 1000;

    /// Daily traffic: a night trough, a day peak and a smaller evening bump, successes per
    /// 5-minute window between about 60 and 1,500, with Poisson-like noise plus 5 % multiplicative
    /// noise (a busy day is busy all day).
    fn synthetic(days: i64, seed: u64) -> BTreeMap<i64, f64> {
        let mut rng = Rng(seed);
        let mut out = BTreeMap::new();
        let slots = SEASON / WINDOW;
        for day in 0..days {
            let day_factor = 1.0 + 0.03 * rng.normal();
            for slot in 0..slots {
                let phase = slot as f64 / slots as f64 * std::f64::consts::TAU;
                let base = 700.0 - 550.0 * phase.cos() + 150.0 * (2.0 * phase).sin();
                let mean = base.max(60.0) * day_factor;
                let noisy = mean * (1.0 + 0.05 * rng.normal()) + mean.sqrt() * rng.normal();
                out.insert((day * slots + slot) * WINDOW, noisy.max(0.0).round());
            }
        }
        out
    }

    /// Measures the false-positive rate on clean synthetic data and the detection of planted
    /// drops; the figures are in docs/watch.md ("Anomaly detection").
    #[test]
    fn seasonal_baseline_has_a_low_false_positive_rate_and_catches_planted_drops() {
        let (sensitivity, min_seasons) = (3.0, 3);
        let mut windows = 0u32;
        let mut false_positives = 0u32;
        let mut false_pairs = 0u32;
        let mut planted = [0u32; 3];
        let mut detected = [0u32; 3];
        let drops = [0.2, 0.3, 0.5];
        for seed in 1..=5u64 {
            let data = synthetic(14, seed);
            let mut rng = Rng(seed * 7919);
            let mut previous_false = false;
            for (&start, &value) in &data {
                if start < 3 * SEASON {
                    continue; // no judgement before min_history
                }
                let Some(exp) = expected(
                    |t| data.get(&t).copied(),
                    start,
                    WINDOW,
                    SEASON,
                    min_seasons,
                ) else {
                    continue;
                };
                windows += 1;
                let false_positive = exp.is_drop(value, sensitivity);
                if false_positive {
                    false_positives += 1;
                    if previous_false {
                        false_pairs += 1;
                    }
                }
                previous_false = false_positive;
                // Plant a drop in one window out of 20 (judged separately, history untouched).
                if rng.next().is_multiple_of(20) {
                    let which = (rng.next() % 3) as usize;
                    planted[which] += 1;
                    if exp.is_drop(value * (1.0 - drops[which]), sensitivity) {
                        detected[which] += 1;
                    }
                }
            }
        }
        let fpr = f64::from(false_positives) / f64::from(windows);
        let pair_rate = f64::from(false_pairs) / f64::from(windows);
        let rate = |i: usize| f64::from(detected[i]) / f64::from(planted[i].max(1));
        println!(
            "anomaly: {windows} clean windows, {false_positives} false positives (FPR {:.3}%), \
             {false_pairs} false pairs (fire_after = 2: {:.4}%); \
             detection of planted drops: 20% {:.1}% ({}/{}), 30% {:.1}% ({}/{}), 50% {:.1}% ({}/{})",
            fpr * 100.0,
            pair_rate * 100.0,
            rate(0) * 100.0,
            detected[0],
            planted[0],
            rate(1) * 100.0,
            detected[1],
            planted[1],
            rate(2) * 100.0,
            detected[2],
            planted[2],
        );
        assert!(windows > 10_000);
        assert!(fpr < 0.004, "false-positive rate {fpr}");
        assert!(pair_rate < 0.0005, "false pairs {pair_rate}");
        assert!(rate(1) > 0.65, "30% drops detected {}", rate(1));
        assert!(rate(2) > 0.95, "50% drops detected {}", rate(2));
    }

    #[test]
    fn a_past_outage_does_not_move_the_baseline() {
        let mut data = synthetic(6, 42);
        let start = 5 * SEASON + 150 * WINDOW;
        let clean = expected(|t| data.get(&t).copied(), start, WINDOW, SEASON, 3);
        data.insert(start - SEASON, 0.0); // yesterday, same slot: an outage
        let with_outage = expected(|t| data.get(&t).copied(), start, WINDOW, SEASON, 3);
        let (clean, with_outage) = (clean.map(|e| e.median), with_outage.map(|e| e.median));
        let (Some(a), Some(b)) = (clean, with_outage) else {
            panic!("no baseline");
        };
        assert!((a - b).abs() / a < 0.05, "{a} vs {b}");
    }

    #[test]
    fn too_little_history_does_not_judge() {
        let data = synthetic(2, 1);
        let start = 2 * SEASON - WINDOW;
        assert!(expected(|t| data.get(&t).copied(), start, WINDOW, SEASON, 3).is_none());
    }
}
