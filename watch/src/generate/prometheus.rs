//! Prometheus alerting and recording rules.
//!
//! Names follow the OpenTelemetry-to-Prometheus translation with underscore escaping and suffixes:
//! `heartbeat.beats` is `heartbeat_beats_total`, `heartbeat.outcomes` is
//! `heartbeat_outcomes_total`, `heartbeat.emitter.status` is `heartbeat_emitter_status`, and
//! attribute keys have every character outside `[a-zA-Z0-9_]` replaced by `_`. `service.name` and
//! `service.instance.id` arrive as the labels named in `[generate.prometheus]` (`job` and
//! `instance` by default).

use std::fmt::Write as _;
use std::time::Duration;

use super::promql::{BEATS, OutcomeSelectors, STATUS, literal, outcome_selectors, selector};
use super::{Engine, GenerateError, header, number, quoted, sorted_deadman, sorted_outcome};
use crate::rulefile::{
    Anomaly, DeadmanRule, DisplayDuration, MIN_SAMPLES_PER_WINDOW, OnNoData, OutcomeRule,
    PrometheusSettings, QuietHours, RuleFile, Sla,
};

/// The always-firing alert that proves the whole alerting path works end to end.
pub(crate) const WATCHDOG_ALERT: &str = "HeartbeatWatchdog";
/// Fewer than `min_beats` beats in the window, or no beat series at all.
pub(crate) const DEADMAN_ALERT: &str = "HeartbeatDeadman";
/// No beat at all for `max_silence`: the fast page for a killed process.
pub(crate) const SILENT_ALERT: &str = "HeartbeatDeadmanSilent";
/// One instance still exports, but its beat counter stopped rising.
pub(crate) const FROZEN_ALERT: &str = "HeartbeatDeadmanFrozen";
/// The emitter reports its health gate failing (`heartbeat_emitter_status == 1`).
pub(crate) const FAILING_ALERT: &str = "HeartbeatDeadmanFailing";
/// Success ratio below the floor.
pub(crate) const RATIO_ALERT: &str = "HeartbeatOutcomeSuccessRatioLow";
/// Successes per minute below the floor.
pub(crate) const RATE_ALERT: &str = "HeartbeatOutcomeRateLow";
/// Successes far below the seasonal baseline.
pub(crate) const ANOMALY_ALERT: &str = "HeartbeatOutcomeAnomaly";
/// An outcome rule's events stopped arriving (`on_no_data = "breach"`, the default).
pub(crate) const NO_DATA_ALERT: &str = "HeartbeatOutcomeNoData";
/// An SLA burns its error budget fast (page) or steadily (ticket).
pub(crate) const BURN_ALERT: &str = "HeartbeatSLOBurnRate";

/// Smallest relative drop an anomaly alert fires on, whatever the spread: the same 15 % as the
/// watch's own judge (`judge/anomaly.rs`).
const MIN_RELATIVE_DROP: f64 = 0.15;

/// Recorded successes of an outcome rule in its window.
const REC_INCREASE: &str = "heartbeat:outcome_successes:increase";
/// Recorded mean of the successes in the same window one, two, ... seasons ago.
const REC_MEAN: &str = "heartbeat:outcome_successes:seasonal_mean";
/// Recorded standard deviation of the same.
const REC_STDDEV: &str = "heartbeat:outcome_successes:seasonal_stddev";
/// 1 while any signal of an SLA is firing, else 0: the watch's down minute, at every evaluation.
const REC_SLA_DOWN: &str = "heartbeat:sla_down";
/// The share of an SLA's evaluations that were down over `heartbeat_window`.
const REC_SLA_ERROR: &str = "heartbeat:sla_error:ratio";
/// Good and total events per second of an SLA's outcome signal over `heartbeat_window`.
const REC_SLI_EVENTS: &str = "heartbeat:sli_events:rate";
/// The SLA's objective, as Pyrra and Sloth record it.
const REC_SLA_OBJECTIVE: &str = "heartbeat:sla_objective:ratio";
/// Availability over the SLO period.
const REC_SLA_AVAILABILITY: &str = "heartbeat:sla_availability:ratio";
/// Error budget left over the SLO period: 1 untouched, 0 spent, below 0 overspent.
const REC_SLA_BUDGET: &str = "heartbeat:sla_error_budget:remaining";

/// The SRE workbook's multi-window, multi-burn-rate alerts for a 30-day period: the share of the
/// budget each pair spends before it fires, its long and short windows, and its severity. The
/// burn factor is derived: share × period / long window (2 % in 1 h of 30 days is 14.4).
const BURN_PAIRS: [(f64, u64, u64, &str); 4] = [
    (0.02, 3_600, 300, "page"),
    (0.05, 6 * 3_600, 1_800, "page"),
    (0.10, 86_400, 2 * 3_600, "ticket"),
    (0.10, 3 * 86_400, 6 * 3_600, "ticket"),
];
/// The period the workbook's windows are written for.
const WORKBOOK_PERIOD: Duration = Duration::from_secs(30 * 86_400);

pub(super) fn generate(rules: &RuleFile, source: &str) -> Result<String, GenerateError> {
    let settings = &rules.generate.prometheus;
    check_windows(rules, settings)?;
    let mut out = Out {
        text: header("#", Engine::Prometheus, source),
        links: super::grafana::panel_links(rules),
    };
    let _ = writeln!(
        out,
        "# Assumes a new sample every {} ([generate.prometheus] scrape_interval): each window holds \
         at least {MIN_SAMPLES_PER_WINDOW}.",
        DisplayDuration(settings.scrape_interval)
    );
    out.push_str("groups:\n");

    let deadman = sorted_deadman(rules);
    if !deadman.is_empty() {
        group(&mut out, "heartbeat-deadman");
        for rule in deadman {
            deadman_rules(&mut out, rule, settings);
        }
    }

    let outcome = sorted_outcome(rules);
    if outcome.iter().any(|r| {
        r.min_success_ratio.is_some()
            || r.min_rate_per_minute.is_some()
            || r.on_no_data == OnNoData::Breach
    }) {
        group(&mut out, "heartbeat-outcomes");
        for rule in &outcome {
            outcome_rules(&mut out, rule, settings);
            no_data_rule(&mut out, rule, settings);
        }
    }
    if outcome.iter().any(|r| r.anomaly.is_some()) {
        group(&mut out, "heartbeat-anomaly");
        for rule in &outcome {
            if let Some(anomaly) = &rule.anomaly {
                anomaly_rules(&mut out, rule, anomaly, settings);
            }
        }
    }

    let mut slas: Vec<&Sla> = rules.sla.iter().collect();
    slas.sort_by(|a, b| a.name.cmp(&b.name));
    if !slas.is_empty() {
        group(&mut out, "heartbeat-slo");
        for sla in &slas {
            slo_rules(&mut out, rules, sla, settings);
        }
    }

    group(&mut out, "heartbeat-watchdog");
    Rule::alert(WATCHDOG_ALERT, "vector(1)".to_owned())
        .label("heartbeat_kind", "watchdog")
        .label("severity", "none")
        .annotation(
            "summary",
            "Always firing: proves Prometheus evaluates rules and Alertmanager delivers.",
        )
        .annotation(
            "description",
            "Alertmanager sends this alert continuously to an external dead-man channel \
             (Healthchecks.io, Dead Man's Snitch) that pages when it stops arriving. \
             Never silence or inhibit it.",
        )
        .write(&mut out);
    Ok(out.text)
}

/// The output being written, and the dashboard link of each rule and SLA (when
/// `[generate.grafana] url` is set) that its alerts carry.
struct Out {
    text: String,
    links: std::collections::BTreeMap<String, String>,
}

impl Out {
    fn push_str(&mut self, text: &str) {
        self.text.push_str(text);
    }
}

impl std::fmt::Write for Out {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.text.push_str(text);
        Ok(())
    }
}

/// Refuses a window that holds fewer than [`MIN_SAMPLES_PER_WINDOW`] samples.
pub(super) fn check_windows(
    rules: &RuleFile,
    settings: &PrometheusSettings,
) -> Result<(), GenerateError> {
    let least = settings
        .scrape_interval
        .saturating_mul(MIN_SAMPLES_PER_WINDOW);
    let windows = rules
        .deadman
        .iter()
        .map(|r| (r.name.clone(), r.window))
        .chain(rules.outcome.iter().map(|r| (r.name.clone(), r.window)))
        .chain(rules.sla.iter().flat_map(|sla| {
            burn_windows(settings)
                .into_iter()
                .map(move |w| (format!("sla {} (burn window)", sla.name), w))
        }));
    for (rule, window) in windows {
        if window < least {
            return Err(GenerateError::WindowTooShort {
                engine: Engine::Prometheus,
                rule,
                window,
                scrape_interval: settings.scrape_interval,
            });
        }
    }
    Ok(())
}

/// `and on () <the watchdog was already firing window + two samples ago>`: a condition that
/// needs a full window of samples waits until the rule engine has had one. A fresh Prometheus
/// (or one back from an outage longer than its lookback) would otherwise see an empty or
/// one-sample window for every healthy service and page them all. The watchdog's `ALERTS`
/// series is the engine's own clock: written at every evaluation, whatever is scraped.
fn settled(window: Duration, settings: &PrometheusSettings) -> String {
    let offset = window + settings.scrape_interval.saturating_mul(2);
    format!(
        "and on ()\n  ALERTS{{alertname=\"{WATCHDOG_ALERT}\", alertstate=\"firing\"}} offset {}",
        DisplayDuration(offset)
    )
}

fn group(out: &mut Out, name: &str) {
    let _ = write!(out, "  - name: {}\n    rules:\n", quoted(name));
}

// ---------------------------------------------------------------------------------------------
// Dead-man
// ---------------------------------------------------------------------------------------------

fn deadman_rules(out: &mut Out, rule: &DeadmanRule, settings: &PrometheusSettings) {
    let service_label = settings.service_label.as_str();
    let mut matchers = vec![(service_label.to_owned(), rule.service.clone())];
    let mut by = vec![service_label.to_owned()];
    if let Some(emitter) = &rule.emitter {
        matchers.push(("heartbeat_emitter".to_owned(), emitter.clone()));
        by.push("heartbeat_emitter".to_owned());
    }
    let beats = selector(BEATS, &matchers);
    let status = selector(STATUS, &matchers);
    // Stopped (2) and beating (0) carry no reason; failing (1) does, in a series of its own
    // that lingers in last_over_time after the gate recovers.
    let mut plain = matchers.clone();
    plain.push(("heartbeat_reason".to_owned(), String::new()));
    let stopped = selector(STATUS, &plain);
    let by = by.join(", ");
    let window = DisplayDuration(rule.window);
    let lookback = DisplayDuration(rule.stop_grace);
    let who = literal(&match &rule.emitter {
        Some(emitter) => format!("{}/{emitter}", rule.service),
        None => rule.service.clone(),
    });
    let pending = windows(rule.window, rule.fire_after);
    let keep = windows(rule.window, rule.resolve_after);

    // Too few beats summed over the instances (a restart hands over between two series, and
    // increase() treats a counter reset as a restart, never as a negative rate); a single sample
    // in the window (too few for increase()) counts as none; no sample at all is the absent
    // branch. All branches carry the same labels, so `for` runs on from one to the next.
    // A graceful stop (status 2, the latest value of every instance seen in the lookback)
    // keeps it quiet.
    let expr = format!(
        "(\n  (\n    (\n      sum by ({by}) (increase({beats}[{window}]))\n      or\n      sum by ({by}) (count_over_time({beats}[{window}])) * 0\n    ) < {min}\n    or\n    absent_over_time({beats}[{window}]) * 0\n  )\n  unless on ({by})\n    (min by ({by}) (last_over_time({stopped}[{lookback}])) == 2)\n)\n{settled}",
        min = rule.min_beats,
        settled = settled(rule.window, settings),
    );
    Rule::alert(DEADMAN_ALERT, expr)
        .pending(pending)
        .keep_firing(keep)
        .label("heartbeat_kind", "deadman")
        .label("heartbeat_rule", &rule.name)
        .label("severity", rule.severity.as_str())
        .annotation(
            "summary",
            &format!("{who}: fewer than {} beats in {window}", rule.min_beats),
        )
        .annotation(
            "description",
            &format!(
                "{{{{ $value | humanize }}}} beats in the last {window} (want at least {min}) for {fire} \
                 consecutive window(s). The service, its exporter, the collector or this Prometheus \
                 stopped delivering heartbeat.beats. A graceful stop (heartbeat_emitter_status 2) \
                 would not page. Heartbeat rule {name}.",
                min = rule.min_beats,
                fire = rule.fire_after,
                name = rule.name,
            ),
        )
        .runbook(rule.runbook_url.as_deref(), rule.sop.as_deref())
        .diagnosis(deploy_diagnosis(Some(&rule.service), rule.window, settings))
        .write(out);

    if let Some(silence) = rule.max_silence {
        silent_rule(out, rule, silence, settings, &beats, &stopped, &by, &who);
    }

    // One instance still exports (its series keeps arriving) but the count stopped rising:
    // the emitter's handle was dropped or it hung while the process lives. A counter reset is a
    // change, so a restart never looks frozen. Stopped (2) and failing (1) emitters are
    // reported by their status instead.
    let per_instance = format!(
        "{service_label}, {}, heartbeat_emitter",
        settings.instance_label
    );
    let expr = format!(
        "(\n  (\n    changes({beats}[{window}]) == 0\n    and\n    count_over_time({beats}[{window}]) >= 2\n  )\n  unless on ({per_instance})\n    (\n      last_over_time({stopped}[{lookback}]) == 2\n      or\n      last_over_time({status}[{window}]) == 1\n    )\n)\n{settled}",
        settled = settled(rule.window, settings),
    );
    Rule::alert(FROZEN_ALERT, expr)
        .pending(pending)
        .keep_firing(keep)
        .label("heartbeat_kind", "deadman")
        .label("heartbeat_rule", &rule.name)
        .label("severity", "ticket")
        .annotation(
            "summary",
            &format!(
                "{who}: beat counter frozen on {{{{ $labels.{} }}}}",
                settings.instance_label
            ),
        )
        .annotation(
            "description",
            &format!(
                "Instance {{{{ $labels.{} }}}} still exports heartbeat.beats of emitter \
                 {{{{ $labels.heartbeat_emitter }}}}, but the count did not rise in {window}: the \
                 emitter was dropped or hung while the process lives. Heartbeat rule {}.",
                settings.instance_label, rule.name
            ),
        )
        .runbook(rule.runbook_url.as_deref(), rule.sop.as_deref())
        .write(out);

    // The service says why: the gate failed, with a reason.
    let expr = format!("last_over_time({status}[{window}]) == 1");
    Rule::alert(FAILING_ALERT, expr)
        .pending(pending)
        .keep_firing(keep)
        .label("heartbeat_kind", "deadman")
        .label("heartbeat_rule", &rule.name)
        .label("severity", rule.severity.as_str())
        .annotation(
            "summary",
            &format!("{who}: health gate failing: {{{{ $labels.heartbeat_reason }}}}"),
        )
        .annotation(
            "description",
            &format!(
                "Emitter {{{{ $labels.heartbeat_emitter }}}} on {{{{ $labels.{} }}}} holds its beats \
                 because its health gate fails ({{{{ $labels.heartbeat_reason }}}}). Heartbeat rule {}.",
                settings.instance_label, rule.name
            ),
        )
        .runbook(rule.runbook_url.as_deref(), rule.sop.as_deref())
        .write(out);
}

/// `HeartbeatDeadmanSilent`: no beat at all within `max_silence` (the watch's exact deadline,
/// here at the resolution of the scrapes), a graceful stop excepted. Written only when the
/// silence holds four samples; otherwise the output says why it is missing.
#[allow(clippy::too_many_arguments)]
fn silent_rule(
    out: &mut Out,
    rule: &DeadmanRule,
    silence: Duration,
    settings: &PrometheusSettings,
    beats: &str,
    stopped: &str,
    by: &str,
    who: &str,
) {
    let span = DisplayDuration(silence);
    if silence
        < settings
            .scrape_interval
            .saturating_mul(MIN_SAMPLES_PER_WINDOW)
    {
        let _ = writeln!(
            out,
            "      # {}: max_silence {span} holds fewer than {MIN_SAMPLES_PER_WINDOW} samples at scrape_interval {}: \
             no {SILENT_ALERT} (the window rule above still pages)",
            rule.name,
            DisplayDuration(settings.scrape_interval)
        );
        return;
    }
    let lookback = DisplayDuration(rule.stop_grace);
    let expr = format!(
        "(\n  (\n    sum by ({by}) (increase({beats}[{span}])) == 0\n    or\n    absent_over_time({beats}[{span}]) * 0\n  )\n  unless on ({by})\n    (min by ({by}) (last_over_time({stopped}[{lookback}])) == 2)\n)\n{settled}",
        settled = settled(silence, settings),
    );
    Rule::alert(SILENT_ALERT, expr)
        .label("heartbeat_kind", "deadman")
        .label("heartbeat_rule", &rule.name)
        .label("severity", rule.severity.as_str())
        .annotation("summary", &format!("{who}: no beat for {span}"))
        .annotation(
            "description",
            &format!(
                "Not one beat in the last {span} (max_silence): the process is gone or its \
                 pipeline broke. A graceful stop would not page. Heartbeat rule {}.",
                rule.name
            ),
        )
        .runbook(rule.runbook_url.as_deref(), rule.sop.as_deref())
        .diagnosis(deploy_diagnosis(Some(&rule.service), rule.window, settings))
        .write(out);
}

// ---------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------

fn outcome_rules(out: &mut Out, rule: &OutcomeRule, settings: &PrometheusSettings) {
    let sel = outcome_selectors(rule, settings);
    let window = DisplayDuration(rule.window);
    let by = &sel.by;

    if let Some(ratio) = rule.min_success_ratio {
        // 0/0 (no traffic) is NaN and never below the floor: silence is HeartbeatOutcomeNoData's.
        let expr = format!(
            "sum by ({by}) (rate({}[{window}]))\n/\nsum by ({by}) (rate({}[{window}]))\n< {}",
            sel.success,
            sel.all,
            number(ratio)
        );
        Rule::outcome(RATIO_ALERT, expr, rule)
            .annotation(
                "summary",
                &format!(
                    "{}: success ratio {{{{ $value | humanizePercentage }}}} below {} over {window}",
                    sel.what,
                    percent(ratio)
                ),
            )
            .annotation(
                "description",
                &format!(
                    "Customers are failing to complete {}. See heartbeat_reason for why and \
                     heartbeat_tenant for who. Heartbeat rule {}.",
                    rule.outcome, rule.name
                ),
            )
            .runbook(rule.runbook_url.as_deref(), rule.sop.as_deref())
            .diagnosis(failure_diagnosis(rule, &sel, settings))
            .write(out);
    }

    if let Some(rate) = rule.min_rate_per_minute {
        let expr = format!(
            "sum by ({by}) (rate({}[{window}])) * 60\n< {}",
            sel.success,
            number(rate)
        );
        Rule::outcome(RATE_ALERT, expr, rule)
            .annotation(
                "summary",
                &format!(
                    "{}: {{{{ $value | humanize }}}} successes per minute, below {} over {window}",
                    sel.what,
                    number(rate)
                ),
            )
            .annotation(
                "description",
                &format!(
                    "Successful {} per minute fell below the floor. Heartbeat rule {}.",
                    rule.outcome, rule.name
                ),
            )
            .runbook(rule.runbook_url.as_deref(), rule.sop.as_deref())
            .write(out);
    }
}

/// `HeartbeatOutcomeNoData`: no event (or fewer than `min_expected_per_minute`) in the window,
/// no sample to judge, or no series ever matched, outside the rule's quiet hours. The watch
/// classifies the same windows `no_data` (docs/alerting.md).
fn no_data_rule(out: &mut Out, rule: &OutcomeRule, settings: &PrometheusSettings) {
    if rule.on_no_data != OnNoData::Breach {
        return;
    }
    let sel = outcome_selectors(rule, settings);
    let window = DisplayDuration(rule.window);
    let by = &sel.by;
    let minutes = rule.window.as_secs_f64() / 60.0;
    let (condition, want) = match rule.min_expected_per_minute {
        Some(per_minute) => (
            format!("< {}", number(per_minute * minutes)),
            format!("at least {} events", number(per_minute * minutes)),
        ),
        None => ("== 0".to_owned(), "at least one event".to_owned()),
    };
    let mut expr = format!(
        "(\n  (\n    sum by ({by}) (increase({all}[{window}]))\n    or\n    sum by ({by}) (count_over_time({all}[{window}])) * 0\n  ) {condition}\n  or\n  sum by ({by}) (absent_over_time({all}[{window}])) * 0\n)\n{settled}",
        all = sel.all,
        settled = settled(rule.window, settings),
    );
    if !rule.quiet_hours.is_empty() {
        let _ = write!(expr, "\nunless on ()\n  ({})", quiet(&rule.quiet_hours));
    }
    Rule::outcome(NO_DATA_ALERT, expr, rule)
        .annotation(
            "summary",
            &format!(
                "{}: {{{{ $value | humanize }}}} events in {window}: no data is a breach",
                sel.what
            ),
        )
        .annotation(
            "description",
            &format!(
                "Want {want} of {} in {window}: the service stopped reaching this code path, its \
                 points stopped arriving, or no series ever matched the rule (check the outcome \
                 name and the labels with `heartbeat-watch rules check`). Heartbeat rule {}.",
                rule.outcome, rule.name
            ),
        )
        .runbook(rule.runbook_url.as_deref(), rule.sop.as_deref())
        .diagnosis(deploy_diagnosis(
            rule.service.as_deref(),
            rule.window,
            settings,
        ))
        .write(out);
}

/// True (an empty-label 1) during any of the daily UTC spans.
fn quiet(spans: &[QuietHours]) -> String {
    let now = "(hour() * 60 + minute())";
    spans
        .iter()
        .map(|span| {
            let (start, end) = (span.start_minute, span.end_minute);
            if start <= end {
                format!("({now} >= {start} and {now} < {end})")
            } else {
                format!("({now} >= {start} or {now} < {end})")
            }
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

// ---------------------------------------------------------------------------------------------
// The diagnosis: annotations that query, when the alert fires, who is hit and what changed
// ---------------------------------------------------------------------------------------------

/// A Go template that runs `query` when the alert fires and lists each result's `label` with
/// its value; `None` when the query could not be quoted inside the template.
fn listing(query: &str, label: &str, value: &str) -> Option<String> {
    if query.contains('`') || query.contains("{{") || query.contains("}}") {
        return None;
    }
    Some(format!(
        "{{{{ range $i, $s := query `{query}` }}}}{{{{ if $i }}}}, {{{{ end }}}}{{{{ $s.Labels.{label} }}}}{value}{{{{ else }}}}none{{{{ end }}}}"
    ))
}

/// Who the failures hit: the top five tenants and reasons (and surfaces, when the rule does
/// not fix one) by share of the window's failures, and the versions the service ran.
fn failure_diagnosis(
    rule: &OutcomeRule,
    sel: &OutcomeSelectors,
    settings: &PrometheusSettings,
) -> Vec<(&'static str, String)> {
    let window = DisplayDuration(rule.window);
    let share = |label: &str| {
        // Only the points that carry the label (drill-down points carry the tenant), over all
        // of the window's failures.
        let carrying = format!(
            "{}, {label}!=\"\"}}",
            sel.failure.strip_suffix('}').unwrap_or(&sel.failure)
        );
        format!(
            "topk(5, sum by ({label}) (increase({carrying}[{window}])) / scalar(sum(increase({failure}[{window}]))) > 0)",
            failure = sel.failure
        )
    };
    let share_text = " {{ $s.Value | humanizePercentage }}";
    let mut out = Vec::new();
    if let Some(text) = listing(&share("heartbeat_tenant"), "heartbeat_tenant", share_text) {
        out.push(("tenants", text));
    }
    if let Some(text) = listing(&share("heartbeat_reason"), "heartbeat_reason", share_text) {
        out.push(("reasons", text));
    }
    if !rule.filters.contains_key("surface")
        && let Some(text) = listing(&share("surface"), "surface", share_text)
    {
        out.push(("surfaces", text));
    }
    out.extend(deploy_diagnosis(
        rule.service.as_deref(),
        rule.window,
        settings,
    ));
    out
}

/// The versions a service reported in `target_info` over the last two windows: two of them
/// mean a deploy in the alert's window.
fn deploy_diagnosis(
    service: Option<&str>,
    window: Duration,
    settings: &PrometheusSettings,
) -> Vec<(&'static str, String)> {
    let Some(service) = service else {
        return Vec::new();
    };
    let query = format!(
        "count by (service_version) (last_over_time({}[{}]))",
        selector(
            "target_info",
            &[(settings.service_label.clone(), service.to_owned())]
        ),
        DisplayDuration(window.saturating_mul(2))
    );
    listing(&query, "service_version", "")
        .map(|text| vec![("versions", text)])
        .unwrap_or_default()
}

fn anomaly_rules(
    out: &mut Out,
    rule: &OutcomeRule,
    anomaly: &Anomaly,
    settings: &PrometheusSettings,
) {
    let sel = outcome_selectors(rule, settings);
    let window = DisplayDuration(rule.window);
    let by = &sel.by;
    let seasons = anomaly.seasons();
    let term = |season: u32| {
        let offset = DisplayDuration(anomaly.season.saturating_mul(season));
        format!(
            "sum by ({by}) (increase({}[{window}] offset {offset}))",
            sel.success
        )
    };
    let terms: Vec<String> = (1..=seasons).map(term).collect();
    let sum = terms.join("\n  + ");
    let squares = terms
        .iter()
        .map(|t| format!("({t})^2"))
        .collect::<Vec<_>>()
        .join("\n  + ");

    Rule::record(
        REC_INCREASE,
        format!("sum by ({by}) (increase({}[{window}]))", sel.success),
    )
    .label("heartbeat_rule", &rule.name)
    .write(out);
    // Missing history (fewer than `seasons` past seasons) leaves a term empty, and with it the
    // baseline: the rule does not judge before min_history.
    Rule::record(REC_MEAN, format!("(\n  {sum}\n) / {seasons}"))
        .label("heartbeat_rule", &rule.name)
        .write(out);
    Rule::record(
        REC_STDDEV,
        format!(
            "sqrt(clamp_min(\n  (\n  {squares}\n  ) / {seasons}\n  -\n  ((\n  {sum}\n  ) / {seasons})^2,\n  0\n))"
        ),
    )
    .label("heartbeat_rule", &rule.name)
    .write(out);

    let rule_matcher = [("heartbeat_rule".to_owned(), rule.name.clone())];
    let current = selector(REC_INCREASE, &rule_matcher);
    let mean = selector(REC_MEAN, &rule_matcher);
    let stddev = selector(REC_STDDEV, &rule_matcher);
    // As the watch's judge: spread = max(seasonal spread, Poisson noise sqrt(mean), 1), and the
    // drop must also be at least MIN_RELATIVE_DROP of the mean.
    let floor = format!("clamp_min(sqrt({mean}), 1)");
    let expr = format!(
        "(\n  {current}\n  < {mean}\n    - {} * ({stddev} > {floor} or {floor})\n)\nand\n  {current} < {} * {mean}",
        number(anomaly.sensitivity),
        number(1.0 - MIN_RELATIVE_DROP),
    );
    Rule::outcome(ANOMALY_ALERT, expr, rule)
        .annotation(
            "summary",
            &format!(
                "{}: {{{{ $value | humanize }}}} successes in {window}, far below the seasonal baseline",
                sel.what
            ),
        )
        .annotation(
            "description",
            &format!(
                "Successes in the last {window} are more than {} spreads and {}% below the mean of \
                 the same window {} season(s) of {} back. Heartbeat rule {}.",
                number(anomaly.sensitivity),
                number((MIN_RELATIVE_DROP * 100.0).round()),
                seasons,
                DisplayDuration(anomaly.season),
                rule.name
            ),
        )
        .runbook(rule.runbook_url.as_deref(), rule.sop.as_deref())
        .write(out);
}

// ---------------------------------------------------------------------------------------------
// SLOs: error budget and multi-window, multi-burn-rate alerts
// ---------------------------------------------------------------------------------------------

/// A workbook window scaled from 30 days to the SLO period, in whole seconds (at least 1 s).
fn scaled(window_secs: u64, settings: &PrometheusSettings) -> Duration {
    let ratio = settings.slo_period.as_secs_f64() / WORKBOOK_PERIOD.as_secs_f64();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let secs = (window_secs as f64 * ratio).round().max(1.0) as u64;
    Duration::from_secs(secs)
}

/// Every window a burn-rate pair reads, shortest first, without repeats.
fn burn_windows(settings: &PrometheusSettings) -> Vec<Duration> {
    let mut windows: Vec<Duration> = BURN_PAIRS
        .iter()
        .flat_map(|&(_, long, short, _)| [scaled(long, settings), scaled(short, settings)])
        .collect();
    windows.sort();
    windows.dedup();
    windows
}

/// The burn factor of a pair: the share of the budget it spends over its long window.
fn burn_factor(share: f64, long_secs: u64) -> f64 {
    // The factor does not depend on the period: windows scale with it.
    #[allow(clippy::cast_precision_loss)]
    let factor = share * WORKBOOK_PERIOD.as_secs() as f64 / long_secs as f64;
    (factor * 1000.0).round() / 1000.0
}

fn slo_rules(out: &mut Out, rules: &RuleFile, sla: &Sla, settings: &PrometheusSettings) {
    let name = [("heartbeat_sla".to_owned(), sla.name.clone())];
    // Down exactly as the watch's ledger counts a minute down: any signal's alert firing
    // (HeartbeatOutcomeNoData and the dead-man's absent branch included, so silence burns
    // budget). The frozen alert is a ticket about one instance, not a service down.
    let signals = sla.signals.join("|");
    Rule::record(
        REC_SLA_DOWN,
        format!(
            "max(\n  ALERTS{{alertstate=\"firing\", alertname!=\"{FROZEN_ALERT}\", heartbeat_rule=~{}}}\n)\nor on () vector(0)",
            quoted(&signals)
        ),
    )
    .label("heartbeat_sla", &sla.name)
    .write(out);
    let down = selector(REC_SLA_DOWN, &name);
    let windows = burn_windows(settings);
    let shortest = windows.first().copied().map(DisplayDuration);
    for window in windows {
        let w = DisplayDuration(window);
        Rule::record(REC_SLA_ERROR, format!("avg_over_time({down}[{w}])"))
            .label("heartbeat_sla", &sla.name)
            .label("heartbeat_window", &w.to_string())
            .write(out);
        for signal in &sla.signals {
            let Some(rule) = rules.outcome.iter().find(|r| &r.name == signal) else {
                continue;
            };
            let sel = outcome_selectors(rule, settings);
            for (result, events) in [("good", &sel.success), ("total", &sel.all)] {
                // Raw series are read over the shortest window only; the longer ones average
                // its record (as Sloth does), rather than rating days of raw samples at every
                // evaluation.
                let expr = match shortest {
                    Some(first) if first.0 != window => {
                        let record = selector(
                            REC_SLI_EVENTS,
                            &[
                                ("heartbeat_sla".to_owned(), sla.name.clone()),
                                ("heartbeat_rule".to_owned(), rule.name.clone()),
                                ("heartbeat_result".to_owned(), result.to_owned()),
                                ("heartbeat_window".to_owned(), first.to_string()),
                            ],
                        );
                        format!("avg_over_time({record}[{w}])")
                    }
                    _ => format!("sum(rate({events}[{w}]))"),
                };
                Rule::record(REC_SLI_EVENTS, expr)
                    .label("heartbeat_sla", &sla.name)
                    .label("heartbeat_rule", &rule.name)
                    .label("heartbeat_result", result)
                    .label("heartbeat_window", &w.to_string())
                    .write(out);
            }
        }
    }
    let budget = 1.0 - sla.objective;
    let period = DisplayDuration(settings.slo_period);
    Rule::record(
        REC_SLA_OBJECTIVE,
        format!("vector({})", number(sla.objective)),
    )
    .label("heartbeat_sla", &sla.name)
    .write(out);
    Rule::record(
        REC_SLA_AVAILABILITY,
        format!("1 - avg_over_time({down}[{period}])"),
    )
    .label("heartbeat_sla", &sla.name)
    .write(out);
    let remaining = if budget > 0.0 {
        format!("1 - avg_over_time({down}[{period}]) / {}", number(budget))
    } else {
        // A 100 % objective has no budget: whole until the first down evaluation.
        format!("avg_over_time({down}[{period}]) == bool 0")
    };
    Rule::record(REC_SLA_BUDGET, remaining)
        .label("heartbeat_sla", &sla.name)
        .write(out);

    for severity in ["page", "ticket"] {
        let pairs: Vec<String> = BURN_PAIRS
            .iter()
            .filter(|pair| pair.3 == severity)
            .map(|&(share, long, short, _)| {
                let factor = burn_factor(share, long);
                // An objective below 1 - 1/factor cannot burn that fast: the pair then fires
                // when every evaluation of both windows was down.
                let threshold = number(((factor * budget).min(1.0) * 1e9).round() / 1e9);
                let op = if factor * budget >= 1.0 { ">=" } else { ">" };
                let at = |w: u64| {
                    let mut m = name.to_vec();
                    m.push((
                        "heartbeat_window".to_owned(),
                        DisplayDuration(scaled(w, settings)).to_string(),
                    ));
                    selector(REC_SLA_ERROR, &m)
                };
                format!(
                    "(\n  {} {op} {threshold}\n  and ignoring (heartbeat_window)\n  {} {op} {threshold}\n)",
                    at(long),
                    at(short)
                )
            })
            .collect();
        let factors: Vec<String> = BURN_PAIRS
            .iter()
            .filter(|pair| pair.3 == severity)
            .map(|&(share, long, short, _)| {
                format!(
                    "{}x over {} and {}",
                    number(burn_factor(share, long)),
                    DisplayDuration(scaled(long, settings)),
                    DisplayDuration(scaled(short, settings))
                )
            })
            .collect();
        Rule::alert(
            BURN_ALERT,
            // One alert per pair that burns, labelled with the pair's long window.
            pairs.join("\nor\n"),
        )
        .label("heartbeat_kind", "slo")
        .label("heartbeat_sla", &sla.name)
        .label("severity", severity)
        .annotation(
            "summary",
            &format!(
                "SLA {}: error budget burning {} ({{{{ $value | humanizePercentage }}}} of the last {{{{ $labels.heartbeat_window }}}} down)",
                sla.name,
                if severity == "page" { "fast" } else { "steadily" }
            ),
        )
        .annotation(
            "description",
            &format!(
                "SLA {} (objective {}, budget over {period}) burns its error budget at one of: {}. \
                 A minute is down while any of its signals ({}) fires, silence included. Budget \
                 left: {{{{ with query `{REC_SLA_BUDGET}{{heartbeat_sla=\"{}\"}}` }}}}{{{{ . | first | value | humanizePercentage }}}}{{{{ end }}}}.",
                sla.name,
                percent(sla.objective),
                factors.join("; "),
                sla.signals.join(", "),
                sla.name,
            ),
        )
        .write(out);
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

/// `(n - 1) × window`: n consecutive bad windows are a condition that held for n - 1 windows.
fn windows(window: Duration, n: u32) -> Duration {
    window.saturating_mul(n.saturating_sub(1))
}

fn percent(ratio: f64) -> String {
    format!("{}%", number((ratio * 10_000.0).round() / 100.0))
}

/// One alerting or recording rule, written as YAML.
struct Rule {
    kind: &'static str,
    name: &'static str,
    expr: String,
    pending: Duration,
    keep_firing: Duration,
    labels: Vec<(&'static str, String)>,
    annotations: Vec<(&'static str, String)>,
}

impl Rule {
    fn alert(name: &'static str, expr: String) -> Self {
        Self::new("alert", name, expr)
    }

    /// An alert of an outcome rule: its holds (`fire_after`, `resolve_after` as windows), kind,
    /// name and severity.
    fn outcome(name: &'static str, expr: String, rule: &OutcomeRule) -> Self {
        Self::alert(name, expr)
            .pending(windows(rule.window, rule.fire_after))
            .keep_firing(windows(rule.window, rule.resolve_after))
            .label("heartbeat_kind", "outcome")
            .label("heartbeat_rule", &rule.name)
            .label("severity", rule.severity.as_str())
    }

    fn record(name: &'static str, expr: String) -> Self {
        Self::new("record", name, expr)
    }

    fn new(kind: &'static str, name: &'static str, expr: String) -> Self {
        Self {
            kind,
            name,
            expr,
            pending: Duration::ZERO,
            keep_firing: Duration::ZERO,
            labels: Vec::new(),
            annotations: Vec::new(),
        }
    }

    fn pending(mut self, pending: Duration) -> Self {
        self.pending = pending;
        self
    }

    fn keep_firing(mut self, keep_firing: Duration) -> Self {
        self.keep_firing = keep_firing;
        self
    }

    fn label(mut self, key: &'static str, value: &str) -> Self {
        self.labels.push((key, value.to_owned()));
        self
    }

    fn annotation(mut self, key: &'static str, value: &str) -> Self {
        self.annotations.push((key, value.to_owned()));
        self
    }

    /// The rule's runbook link and standard operating procedure as the `runbook_url` and `sop`
    /// annotations (the names kube-prometheus and Alertmanager templates read), when set.
    fn runbook(mut self, url: Option<&str>, sop: Option<&str>) -> Self {
        if let Some(url) = url {
            self.annotations.push(("runbook_url", literal(url)));
        }
        if let Some(sop) = sop {
            self.annotations.push(("sop", literal(sop)));
        }
        self
    }

    /// Annotations that are Go templates running PromQL when the alert fires; their text is
    /// generated, never user input.
    fn diagnosis(mut self, annotations: Vec<(&'static str, String)>) -> Self {
        self.annotations.extend(annotations);
        self
    }

    fn write(mut self, out: &mut Out) {
        let _ = writeln!(out, "      - {}: {}", self.kind, self.name);
        out.push_str("        expr: |-\n");
        for line in self.expr.lines() {
            let _ = writeln!(out, "          {line}");
        }
        if !self.pending.is_zero() {
            let _ = writeln!(out, "        for: {}", DisplayDuration(self.pending));
        }
        if !self.keep_firing.is_zero() {
            let _ = writeln!(
                out,
                "        keep_firing_for: {}",
                DisplayDuration(self.keep_firing)
            );
        }
        self.labels.sort();
        // The rule's panel on the generated Grafana dashboard, when its URL is known.
        let owner = self
            .labels
            .iter()
            .find(|(k, _)| *k == "heartbeat_rule" || *k == "heartbeat_sla")
            .map(|(k, v)| format!("{k}={v}"));
        if self.kind == "alert"
            && let Some(link) = owner.and_then(|o| out.links.get(&o))
        {
            self.annotations.push(("dashboard", link.clone()));
        }
        for (title, map) in [("labels", &self.labels), ("annotations", &self.annotations)] {
            if map.is_empty() {
                continue;
            }
            let _ = writeln!(out, "        {title}:");
            for (key, value) in map {
                let _ = writeln!(out, "          {key}: {}", quoted(value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_windows_pend_for_n_minus_one() {
        let minute = Duration::from_secs(60);
        assert_eq!(windows(minute, 1), Duration::ZERO);
        assert_eq!(windows(minute, 3), Duration::from_secs(120));
    }

    #[test]
    fn percentages_keep_two_decimals() {
        assert_eq!(percent(0.95), "95%");
        assert_eq!(percent(0.999), "99.9%");
        assert_eq!(percent(0.9995), "99.95%");
    }
}
