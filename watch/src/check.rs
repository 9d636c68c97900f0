//! `heartbeat-watch check --rules FILE`: what the watch believes before any data arrives.
//!
//! For each rule it says which series it will match, how a dead-man rule detects a silence
//! (the worst time from the last beat to the page, and the false pages a year at a stated
//! beat-loss rate, from the same calculator the docs use: `heartbeat::tuning`), and it warns
//! about set-ups that page no one or can never be green.

use std::fmt::Write as _;
use std::time::Duration;

use heartbeat::tuning;

use crate::clock::human;
use crate::rulefile::{DeadmanRule, DisplayDuration, OnNoData, RuleFile};

/// The beat-loss rate the figures assume.
pub(crate) const LOSS_RATE: f64 = 0.01;

fn ms(d: Duration) -> i64 {
    crate::clock::ms(d)
}

/// The cadence a rule's figures use: the rule's `cadence`, or `window / (min_beats + 1)`.
fn cadence(rule: &DeadmanRule) -> (Duration, bool) {
    match rule.cadence {
        Some(c) => (c, true),
        None => (rule.window / (rule.min_beats + 1).max(1), false),
    }
}

/// The dead-man rule's detection figures, one line: the worst time from the last beat to the
/// page and the expected false pages a year at [`LOSS_RATE`].
pub(crate) fn deadman_line(rule: &DeadmanRule, tick: Duration) -> String {
    let (cadence, given) = cadence(rule);
    let jitter = cadence / 10;
    let hold = rule
        .window
        .saturating_mul(rule.fire_after.saturating_sub(1));
    let assumed = if given { "" } else { " (assumed: set cadence)" };
    let mut out = format!(
        "deadman {}: {}{}: cadence {}{assumed}",
        rule.name,
        rule.service,
        rule.emitter
            .as_deref()
            .map_or(String::new(), |e| format!("/{e}")),
        human(ms(cadence)),
    );
    // A rule without an emitter sums the beats of every emitter of the service: a min_beats
    // above one emitter's beats in a window expects several, and the calculator's figures (one
    // emitter) do not apply.
    let per_emitter = rule.window.as_nanos() / cadence.as_nanos().max(1);
    if rule.emitter.is_none() && u128::from(rule.min_beats) > per_emitter {
        let emitters = u128::from(rule.min_beats).div_ceil(per_emitter.max(1));
        let _ = write!(
            out,
            "; window: fewer than {} beats in {} summed over every emitter of the service (at least {emitters} emitters at this cadence); the detection figures are per emitter and do not apply",
            rule.min_beats,
            DisplayDuration(rule.window)
        );
        return out;
    }
    match tuning::detection_with_hold(
        cadence,
        rule.window,
        u64::from(rule.min_beats),
        LOSS_RATE,
        hold,
    ) {
        Ok(d) => {
            let _ = write!(
                out,
                "; window: fewer than {} beats in {} pages at most {} after the last beat ({} + a tick of {}), {:.2e} false pages a year at {}% beat loss",
                rule.min_beats,
                DisplayDuration(rule.window),
                human(ms(d.worst_case_detect + tick)),
                human(ms(d.worst_case_detect)),
                human(ms(tick)),
                d.expected_false_pages_per_year,
                LOSS_RATE * 100.0
            );
        }
        Err(e) => {
            let _ = write!(out, "; window: {e}");
        }
    }
    match rule.max_silence {
        Some(s) => match tuning::silence(cadence, s, LOSS_RATE, jitter) {
            Ok(d) => {
                let _ = write!(
                    out,
                    "; max_silence {} pages at most {} after the last beat, {:.2e} false pages a year ({} beats lost in a row)",
                    DisplayDuration(s),
                    human(ms(d.worst_case_detect)),
                    d.expected_false_pages_per_year,
                    d.lost_in_a_row
                );
            }
            Err(e) => {
                let _ = write!(out, "; max_silence: {e}");
            }
        },
        None => {
            if let Ok(r) = tuning::recommend_max_silence(cadence, LOSS_RATE, 1.0, jitter) {
                let _ = write!(
                    out,
                    "; no max_silence (max_silence = \"{}\" would page {} after the last beat with at most one false page a year)",
                    DisplayDuration(r),
                    human(ms(r))
                );
            }
        }
    }
    out
}

/// The detection figures of every dead-man rule, as the watch logs them at start.
pub(crate) fn detection_lines(rules: &RuleFile) -> Vec<String> {
    rules
        .deadman
        .iter()
        .map(|r| deadman_line(r, rules.watch.tick))
        .collect()
}

/// Warnings about a rule file: set-ups that page no one, rules that can never be green, the
/// watch watching nothing of itself.
pub(crate) fn warnings(rules: &RuleFile) -> Vec<String> {
    let mut out = Vec::new();
    if rules.alert.is_empty() {
        out.push(
            "no [[alert]] sink: alerts fire in the view and the API only, and page no one"
                .to_owned(),
        );
    }
    if rules.self_heartbeat.is_none() {
        out.push(
            "no [self_heartbeat]: nothing outside this watch notices if it dies or stalls (docs/watch.md, \"Watching the watch\")"
                .to_owned(),
        );
    }
    for r in &rules.deadman {
        let (cadence, _) = cadence(r);
        let beats = r.window.as_nanos() / cadence.as_nanos().max(1);
        // Without an emitter, beats are summed over the service's emitters: more than one
        // emitter's beats is what such a rule expects, not an impossible threshold.
        if r.emitter.is_some() && u128::from(r.min_beats) > beats {
            out.push(format!(
                "deadman {}: min_beats {} is more than the {beats} beats a {} window holds at a {} cadence: it always fires",
                r.name,
                r.min_beats,
                DisplayDuration(r.window),
                human(ms(cadence))
            ));
        }
        let hold = r.window.saturating_mul(r.fire_after.saturating_sub(1));
        let window_rate =
            tuning::detection_with_hold(cadence, r.window, u64::from(r.min_beats), LOSS_RATE, hold)
                .map_or(0.0, |d| d.expected_false_pages_per_year);
        if window_rate > 1.0 {
            out.push(format!(
                "deadman {}: its window condition may page falsely {window_rate:.1} times a year at {}% independent beat loss: lower min_beats, lengthen the window or raise fire_after (an upper bound: cumulative exports recover lost beats)",
                r.name,
                LOSS_RATE * 100.0
            ));
        }
        if r.stop_grace < r.window {
            out.push(format!(
                "deadman {}: stop_grace {} is shorter than the window {}: a rolling deploy may page",
                r.name,
                DisplayDuration(r.stop_grace),
                DisplayDuration(r.window)
            ));
        }
    }
    for o in &rules.outcome {
        let in_sla: Vec<&str> = rules
            .sla
            .iter()
            .filter(|s| s.signals.contains(&o.name))
            .map(|s| s.name.as_str())
            .collect();
        if o.on_no_data == OnNoData::Ok && !in_sla.is_empty() {
            out.push(format!(
                "outcome {}: on_no_data = \"ok\" while SLA {} counts it: a total outage of {} reads as uptime",
                o.name,
                in_sla.join(", "),
                o.outcome
            ));
        }
    }
    // The generated rules' own limits (a window too short for the scrape interval), so that
    // a file the watch accepts does not fail later at `rules prometheus`.
    if let Err(e) = crate::generate(rules, crate::Engine::Prometheus, "check") {
        out.push(format!("rules prometheus: {e}"));
    }
    out
}

/// The `check` report: every rule, what it matches and how it judges, then the warnings.
pub fn check(rules: &RuleFile) -> String {
    let mut out = String::new();
    let tick = rules.watch.tick;
    let _ = writeln!(
        out,
        "rule file valid: {} dead-man rule(s), {} outcome rule(s), {} SLA(s), {} alert sink(s); tick {}",
        rules.deadman.len(),
        rules.outcome.len(),
        rules.sla.len(),
        rules.alert.len(),
        DisplayDuration(tick)
    );
    for r in &rules.deadman {
        let _ = writeln!(
            out,
            "\n[deadman {}] matches {}{{service.name=\"{}\"{}}}",
            r.name,
            heartbeat::semconv::METRIC_BEATS,
            r.service,
            r.emitter.as_deref().map_or(String::new(), |e| format!(
                ",{}=\"{e}\"",
                heartbeat::semconv::ATTR_EMITTER
            ))
        );
        let _ = writeln!(
            out,
            "  pages when fewer than {} beats arrived in the last {} (sliding, every tick) for {}{}; a graceful stop is quiet for {}",
            r.min_beats,
            DisplayDuration(r.window),
            human(ms(r.window.saturating_mul(r.fire_after.saturating_sub(1)))),
            r.max_silence.map_or(String::new(), |s| format!(
                ", or at once when no beat arrived for {}",
                DisplayDuration(s)
            )),
            DisplayDuration(r.stop_grace)
        );
        let _ = writeln!(out, "  {}", deadman_line(r, tick));
    }
    for o in &rules.outcome {
        let mut selector = format!("{}=\"{}\"", heartbeat::semconv::ATTR_OUTCOME, o.outcome);
        if let Some(s) = &o.service {
            let _ = write!(selector, ",service.name=\"{s}\"");
        }
        for (k, v) in &o.filters {
            let _ = write!(selector, ",{k}=\"{v}\"");
        }
        let _ = writeln!(
            out,
            "\n[outcome {}] matches {}{{{selector}}}",
            o.name,
            heartbeat::semconv::METRIC_OUTCOMES
        );
        let mut conditions = Vec::new();
        if let Some(r) = o.min_success_ratio {
            conditions.push(format!("success ratio below {r}"));
        }
        if let Some(r) = o.min_rate_per_minute {
            conditions.push(format!("fewer than {r} successes a minute"));
        }
        if let Some(a) = o.anomaly {
            conditions.push(format!(
                "successes {} spreads below the baseline of {} past {}",
                a.sensitivity,
                a.seasons(),
                DisplayDuration(a.season)
            ));
        }
        let no_data = match o.on_no_data {
            OnNoData::Breach => "no data (no event in a window) is a breach, classified no_data",
            OnNoData::Ok => "no data counts as good",
            OnNoData::Keep => "no data keeps the state",
        };
        let quiet: Vec<String> = o.quiet_hours.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "  per {} window: {}; {no_data}{}{}; fires after {} bad window(s)",
            DisplayDuration(o.window),
            conditions.join(", "),
            o.min_expected_per_minute.map_or(String::new(), |m| format!(
                " (also below {m} events a minute)"
            )),
            if quiet.is_empty() {
                String::new()
            } else {
                format!(", except in quiet hours {} UTC", quiet.join(", "))
            },
            o.fire_after
        );
    }
    for s in &rules.sla {
        let _ = writeln!(
            out,
            "\n[sla {}] objective {}%: a slot is down while any of {} fires, unknown when the watch cannot judge it",
            s.name,
            s.objective * 100.0,
            s.signals.join(", ")
        );
    }
    let warnings = warnings(rules);
    if warnings.is_empty() {
        out.push_str("\nno warnings\n");
    } else {
        out.push('\n');
        for w in warnings {
            let _ = writeln!(out, "warning: {w}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_checks_with_figures_and_warnings() {
        let rules =
            RuleFile::from_path(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rules.toml"))
                .unwrap();
        let text = check(&rules);
        assert!(text.starts_with("rule file valid:"), "{text}");
        assert!(text.contains("[deadman api-pipeline] matches heartbeat.beats{service.name=\"messenger-api\",heartbeat.emitter=\"api\"}"), "{text}");
        assert!(
            text.contains("false pages a year at 1% beat loss"),
            "{text}"
        );
        assert!(text.contains("[outcome reply-deliver] matches heartbeat.outcomes{heartbeat.outcome=\"reply.deliver\",service.name=\"messenger-api\",surface=\"inbox\"}"), "{text}");
        assert!(
            text.contains("no data (no event in a window) is a breach"),
            "{text}"
        );
    }

    #[test]
    fn a_window_the_generated_rules_refuse_is_warned_about() {
        let rules: RuleFile =
            "[[deadman]]\nname = \"api\"\nservice = \"api\"\nwindow = \"40s\"\nmin_beats = 3\n\
             [generate.prometheus]\nscrape_interval = \"15s\"\n"
                .parse()
                .unwrap();
        let w = warnings(&rules);
        assert!(
            w.iter().any(|w| w.starts_with(
                "rules prometheus: prometheus: \"api\": window 40s holds fewer than 4 samples at scrape_interval 15s"
            )),
            "{w:?}"
        );
    }

    #[test]
    fn a_service_wide_rule_expecting_many_emitters_is_not_called_impossible() {
        let rules: RuleFile = "[[deadman]]\nname = \"fleet\"\nservice = \"worker\"\nwindow = \"1m\"\nmin_beats = 1530\ncadence = \"10s\"\n"
            .parse()
            .unwrap();
        let line = deadman_line(&rules.deadman[0], Duration::from_secs(10));
        assert!(
            line.contains(
                "summed over every emitter of the service (at least 255 emitters at this cadence)"
            ),
            "{line}"
        );
        assert!(!line.contains("invalid threshold"), "{line}");
        assert!(
            !warnings(&rules).iter().any(|w| w.contains("always fires")),
            "{:?}",
            warnings(&rules)
        );
    }

    #[test]
    fn a_file_without_sinks_warns_and_an_impossible_rule_is_named() {
        // One emitter cannot beat 10 times a minute every 10 s (a rule without an emitter
        // could: it sums several).
        let rules: RuleFile = "[[deadman]]\nname = \"x\"\nservice = \"s\"\nemitter = \"e\"\nwindow = \"1m\"\nmin_beats = 10\ncadence = \"10s\"\n"
            .parse()
            .unwrap();
        let w = warnings(&rules);
        assert!(
            w.iter().any(|w| w.starts_with("no [[alert]] sink")),
            "{w:?}"
        );
        assert!(
            w.iter()
                .any(|w| w.contains("min_beats 10 is more than the 6 beats")),
            "{w:?}"
        );
    }

    #[test]
    fn the_detection_line_uses_the_calculator() {
        let rules: RuleFile = "[[deadman]]\nname = \"x\"\nservice = \"s\"\nwindow = \"1m\"\nmin_beats = 5\ncadence = \"10s\"\nmax_silence = \"42s\"\n"
            .parse()
            .unwrap();
        let line = deadman_line(&rules.deadman[0], Duration::from_secs(10));
        // window - (5 - 1) x 10 s = 20 s, plus the tick.
        assert!(
            line.contains("pages at most 30s after the last beat (20s + a tick of 10s)"),
            "{line}"
        );
        assert!(
            line.contains("max_silence 42s pages at most 42s after the last beat"),
            "{line}"
        );
        assert!(line.contains("(4 beats lost in a row)"), "{line}");
    }
}
