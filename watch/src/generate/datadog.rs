//! Datadog monitors as Terraform `datadog_monitor` resources.
//!
//! The metrics arrive through Datadog's OTLP ingestion (the Agent or the collector's Datadog
//! exporter): `heartbeat.beats` and `heartbeat.outcomes` become count metrics of the same names,
//! attributes become tags of the same keys (`heartbeat.outcome:message.send`), and `service.name`
//! becomes the tag named in `[generate.datadog]` (`service`, the unified service tag). Datadog
//! lowercases tag values, and so do the queries here.

use std::fmt::Write as _;
use std::time::Duration;

use heartbeat::semconv::{
    ATTR_EMITTER, ATTR_OUTCOME, ATTR_RESULT, METRIC_BEATS, METRIC_EMITTER_STATUS, METRIC_OUTCOMES,
};

use super::{
    Engine, GenerateError, hcl_string, header, minutes, number, resource_name, sorted_deadman,
    sorted_outcome,
};
use crate::rulefile::{
    Anomaly, DatadogSettings, DeadmanRule, OnNoData, OutcomeRule, RuleFile, Severity, Sla,
};

pub(super) fn generate(rules: &RuleFile, source: &str) -> Result<String, GenerateError> {
    let settings = &rules.generate.datadog;
    let mut out = header("#", Engine::Datadog, source);
    out.push_str(
        "# Datadog monitors for the Heartbeat rules. Requires the DataDog/datadog Terraform provider;\n\
         # `terraform plan` validates every query.\n",
    );
    for rule in sorted_deadman(rules) {
        check_window(&rule.name, rule.window)?;
        deadman(&mut out, rule, settings);
    }
    for rule in sorted_outcome(rules) {
        check_window(&rule.name, rule.window)?;
        outcome(&mut out, rule, settings)?;
    }
    let mut slas: Vec<&Sla> = rules.sla.iter().collect();
    slas.sort_by(|a, b| a.name.cmp(&b.name));
    for sla in slas {
        slo(&mut out, rules, sla, settings);
    }
    Ok(out)
}

/// The SRE workbook's burn-rate pairs for a 30-day SLO: factor, long and short window, severity.
const BURN_PAIRS: [(f64, &str, &str, Severity); 4] = [
    (14.4, "1h", "5m", Severity::Page),
    (6.0, "6h", "30m", Severity::Page),
    (3.0, "1d", "2h", Severity::Ticket),
    (1.0, "3d", "6h", Severity::Ticket),
];

/// A monitor-based SLO over the monitors of the SLA's signals (time down while any of them is
/// in alert, silence included: the dead-man and no-data monitors alert on it), and one
/// burn-rate monitor per workbook pair.
fn slo(out: &mut String, rules: &RuleFile, sla: &Sla, settings: &DatadogSettings) {
    let id = resource_name("sla", &sla.name);
    let mut monitors = Vec::new();
    for signal in &sla.signals {
        if let Some(rule) = rules.deadman.iter().find(|r| &r.name == signal) {
            // The composite cannot back an SLO; its beats monitor can.
            monitors.push(format!("{}_beats", resource_name("deadman", &rule.name)));
        } else if let Some(rule) = rules.outcome.iter().find(|r| &r.name == signal) {
            let base = resource_name("outcome", &rule.name);
            for (present, suffix) in [
                (rule.min_success_ratio.is_some(), "ratio"),
                (rule.min_rate_per_minute.is_some(), "rate"),
                (rule.anomaly.is_some(), "anomaly"),
                (rule.on_no_data == OnNoData::Breach, "no_data"),
            ] {
                if present {
                    monitors.push(format!("{base}_{suffix}"));
                }
            }
        }
    }
    let ids: Vec<String> = monitors
        .iter()
        .map(|m| format!("datadog_monitor.{m}.id"))
        .collect();
    let _ = writeln!(
        out,
        "\nresource \"datadog_service_level_objective\" \"{id}\" {{"
    );
    let _ = writeln!(
        out,
        "  name        = {}",
        hcl_string(&format!("[heartbeat] SLA {}", sla.name))
    );
    out.push_str("  type        = \"monitor\"\n");
    let _ = writeln!(
        out,
        "  description = {}",
        hcl_string(&format!(
            "Down while any signal ({}) is in alert, silence included. Generated from the rule \
             file; the watch's own ledger counts the same minutes.",
            sla.signals.join(", ")
        ))
    );
    let _ = writeln!(out, "  monitor_ids = [{}]", ids.join(", "));
    out.push_str("\n  thresholds {\n    timeframe = \"30d\"\n");
    let _ = writeln!(
        out,
        "    target    = {}",
        number((sla.objective * 100.0 * 1e6).round() / 1e6)
    );
    out.push_str("  }\n");
    let tags = [
        "generated-by:heartbeat-watch".to_owned(),
        "heartbeat_kind:slo".to_owned(),
        format!("heartbeat_sla:{}", sla.name),
    ];
    let tags: Vec<String> = tags.iter().map(|tag| hcl_string(tag)).collect();
    let _ = writeln!(out, "\n  tags = [{}]", tags.join(", "));
    out.push_str("}\n");

    for (factor, long, short, severity) in BURN_PAIRS {
        Monitor {
            resource: format!("{id}_burn_{long}"),
            name: format!(
                "[heartbeat] SLA {}: burn rate {}x over {long} and {short}",
                sla.name,
                number(factor)
            ),
            kind: "slo alert",
            query: format!(
                "burn_rate(\\\"${{datadog_service_level_objective.{id}.id}}\\\").over(\\\"30d\\\").long_window(\\\"{long}\\\").short_window(\\\"{short}\\\") > {}",
                number(factor)
            ),
            message: notify(
                settings,
                severity,
                String::new(),
                &format!(
                    "SLA {} (objective {}%) burns its 30-day error budget at {}x or faster over \
                     both the last {long} and {short}.",
                    sla.name,
                    number(sla.objective * 100.0),
                    number(factor)
                ),
            ),
            critical: number(factor),
            options: Vec::new(),
            rule: &sla.name,
            kind_tag: "slo",
            severity,
            windows: None,
        }
        .write(out);
    }
}

fn check_window(rule: &str, window: Duration) -> Result<(), GenerateError> {
    if window.as_secs().is_multiple_of(60) {
        Ok(())
    } else {
        Err(GenerateError::UnsupportedWindow {
            engine: Engine::Datadog,
            rule: rule.to_owned(),
            window,
            supported: "whole minutes",
        })
    }
}

fn deadman(out: &mut String, rule: &DeadmanRule, settings: &DatadogSettings) {
    let mut scope = vec![(settings.service_tag.as_str(), rule.service.as_str())];
    if let Some(emitter) = &rule.emitter {
        scope.push((ATTR_EMITTER, emitter.as_str()));
    }
    let scope = tags(&scope);
    let span = rule.window.saturating_mul(rule.fire_after);
    let min = u64::from(rule.min_beats) * u64::from(rule.fire_after);
    let who = match &rule.emitter {
        Some(emitter) => format!("{}/{emitter}", rule.service),
        None => rule.service.clone(),
    };
    let id = resource_name("deadman", &rule.name);

    // A: too few beats in fire_after windows; default_zero turns "no data at all" into 0 beats.
    let beats = Monitor {
        resource: format!("{id}_beats"),
        name: format!("[heartbeat] {who}: beats ({})", rule.name),
        kind: "query alert",
        query: format!(
            "sum({}):default_zero(sum:{METRIC_BEATS}{{{scope}}}.as_count()) < {min}",
            timeframe(span)
        ),
        message: format!(
            "State only (the composite monitor {id} notifies): fewer than {min} beats in {}.",
            display(span)
        ),
        critical: number(min as f64),
        options: vec![
            ("notify_no_data", "true".to_owned()),
            ("no_data_timeframe", (2 * minutes(span)).max(2).to_string()),
            ("require_full_window", "false".to_owned()),
        ],
        rule: &rule.name,
        kind_tag: "deadman",
        severity: rule.severity,
        windows: None,
    };
    beats.write(out);

    // B: a graceful stop (status 2) reported within the same span.
    let stopped = Monitor {
        resource: format!("{id}_stopped"),
        name: format!("[heartbeat] {who}: stopped on purpose ({})", rule.name),
        kind: "query alert",
        query: format!(
            "max({}):min:{METRIC_EMITTER_STATUS}{{{scope}}} >= 2",
            timeframe(span)
        ),
        message: format!("State only (the composite monitor {id} notifies): stopped on purpose."),
        critical: "2".to_owned(),
        options: vec![("require_full_window", "false".to_owned())],
        rule: &rule.name,
        kind_tag: "deadman",
        severity: rule.severity,
        windows: None,
    };
    stopped.write(out);

    // C = A && !B: the one that notifies.
    let composite = Monitor {
        resource: id.clone(),
        name: format!("[heartbeat] {who}: dead-man silent ({})", rule.name),
        kind: "composite",
        query: format!(
            "${{datadog_monitor.{id}_beats.id}} && !${{datadog_monitor.{id}_stopped.id}}"
        ),
        message: notify(
            settings,
            rule.severity,
            runbook(rule.runbook_url.as_deref(), rule.sop.as_deref()),
            &format!(
                "{who}: fewer than {} beats per {} for {} window(s). The service, its exporter, the \
                 collector or the Datadog intake stopped delivering heartbeat.beats. A graceful stop \
                 (heartbeat.emitter.status 2) does not page. Heartbeat rule {}.",
                rule.min_beats,
                display(rule.window),
                rule.fire_after,
                rule.name
            ),
        ),
        critical: String::new(),
        options: Vec::new(),
        rule: &rule.name,
        kind_tag: "deadman",
        severity: rule.severity,
        windows: None,
    };
    composite.write(out);
}

fn outcome(
    out: &mut String,
    rule: &OutcomeRule,
    settings: &DatadogSettings,
) -> Result<(), GenerateError> {
    let mut scope = vec![(ATTR_OUTCOME, rule.outcome.as_str())];
    if let Some(service) = &rule.service {
        scope.push((settings.service_tag.as_str(), service.as_str()));
    }
    for (key, value) in &rule.filters {
        scope.push((key.as_str(), value.as_str()));
    }
    let all = tags(&scope);
    scope.push((ATTR_RESULT, "success"));
    let success = tags(&scope);
    let window = timeframe(rule.window);
    let id = resource_name("outcome", &rule.name);

    if let Some(ratio) = rule.min_success_ratio {
        // Arithmetic on as_count() sums each side over the window first: sum(success) / sum(all).
        Monitor {
            resource: format!("{id}_ratio"),
            name: format!("[heartbeat] {}: success ratio ({})", rule.outcome, rule.name),
            kind: "query alert",
            query: format!(
                "sum({window}):sum:{METRIC_OUTCOMES}{{{success}}}.as_count() / sum:{METRIC_OUTCOMES}{{{all}}}.as_count() < {}",
                number(ratio)
            ),
            message: notify(
                settings,
                rule.severity,
                runbook(rule.runbook_url.as_deref(), rule.sop.as_deref()),
                &format!(
                    "{}: success ratio {{{{value}}}} below {} over {}. Heartbeat rule {}.",
                    rule.outcome,
                    number(ratio),
                    display(rule.window),
                    rule.name
                ),
            ),
            critical: number(ratio),
            options: vec![("require_full_window", "false".to_owned())],
            rule: &rule.name,
            kind_tag: "outcome",
            severity: rule.severity,
            windows: None,
        }
        .write(out);
    }

    if let Some(rate) = rule.min_rate_per_minute {
        // Successes in the window against the floor times the window's minutes.
        let floor = rate * rule.window.as_secs_f64() / 60.0;
        Monitor {
            resource: format!("{id}_rate"),
            name: format!("[heartbeat] {}: success rate ({})", rule.outcome, rule.name),
            kind: "query alert",
            query: format!(
                "sum({window}):sum:{METRIC_OUTCOMES}{{{success}}}.as_count() < {}",
                number(floor)
            ),
            message: notify(
                settings,
                rule.severity,
                runbook(rule.runbook_url.as_deref(), rule.sop.as_deref()),
                &format!(
                    "{}: {{{{value}}}} successes in {}, below {} per minute. Heartbeat rule {}.",
                    rule.outcome,
                    display(rule.window),
                    number(rate),
                    rule.name
                ),
            ),
            critical: number(floor),
            options: vec![("require_full_window", "false".to_owned())],
            rule: &rule.name,
            kind_tag: "outcome",
            severity: rule.severity,
            windows: None,
        }
        .write(out);
    }

    if rule.on_no_data == OnNoData::Breach {
        // No event in the window is a breach: default_zero turns "no data" into 0 events, so
        // the monitor alerts (rather than going to No Data, which an SLO counts as up).
        let least = rule.min_expected_per_minute.map_or(1.0, |per_minute| {
            per_minute * rule.window.as_secs_f64() / 60.0
        });
        Monitor {
            resource: format!("{id}_no_data"),
            name: format!("[heartbeat] {}: no data ({})", rule.outcome, rule.name),
            kind: "query alert",
            query: format!(
                "sum({window}):default_zero(sum:{METRIC_OUTCOMES}{{{all}}}.as_count()) < {}",
                number(least)
            ),
            message: notify(
                settings,
                rule.severity,
                runbook(rule.runbook_url.as_deref(), rule.sop.as_deref()),
                &format!(
                    "{}: {{{{value}}}} events in {}: no data is a breach (the service stopped \
                     reaching this code path or its points stopped arriving). Heartbeat rule {}.",
                    rule.outcome,
                    display(rule.window),
                    rule.name
                ),
            ),
            critical: number(least),
            options: vec![("require_full_window", "false".to_owned())],
            rule: &rule.name,
            kind_tag: "outcome",
            severity: rule.severity,
            windows: None,
        }
        .write(out);
    }

    if let Some(anomaly) = &rule.anomaly {
        let seasonality = seasonality(rule, anomaly)?;
        let alert_window = rule.window.saturating_mul(rule.fire_after);
        let recovery_window = rule.window.saturating_mul(rule.resolve_after);
        // The rollup interval is at most a fifth of the alert window.
        let interval = (alert_window.as_secs() / 5).max(1);
        Monitor {
            resource: format!("{id}_anomaly"),
            name: format!("[heartbeat] {}: negative anomaly ({})", rule.outcome, rule.name),
            kind: "query alert",
            query: format!(
                "avg({}):anomalies(sum:{METRIC_OUTCOMES}{{{success}}}.as_count(), 'agile', {}, direction='below', alert_window='{}', interval={interval}, count_default_zero='true', seasonality='{seasonality}') >= 1",
                timeframe(alert_window.saturating_mul(5)),
                number(anomaly.sensitivity),
                timeframe(alert_window)
            ),
            message: notify(
                settings,
                rule.severity,
                runbook(rule.runbook_url.as_deref(), rule.sop.as_deref()),
                &format!(
                    "{}: successes fell below the {seasonality} seasonal band (agile, {} deviations) \
                     for {}. Heartbeat rule {}.",
                    rule.outcome,
                    number(anomaly.sensitivity),
                    display(alert_window),
                    rule.name
                ),
            ),
            critical: "1".to_owned(),
            options: vec![("require_full_window", "false".to_owned())],
            rule: &rule.name,
            kind_tag: "outcome",
            severity: rule.severity,
            windows: Some((timeframe(alert_window), timeframe(recovery_window))),
        }
        .write(out);
    }
    Ok(())
}

fn seasonality(rule: &OutcomeRule, anomaly: &Anomaly) -> Result<&'static str, GenerateError> {
    match anomaly.season.as_secs() {
        3600 => Ok("hourly"),
        86_400 => Ok("daily"),
        604_800 => Ok("weekly"),
        _ => Err(GenerateError::UnsupportedSeason {
            engine: Engine::Datadog,
            rule: rule.name.clone(),
            season: anomaly.season,
            supported: "1h, 1d or 7d (hourly, daily, weekly)",
        }),
    }
}

/// A monitor, written as a `datadog_monitor` resource.
struct Monitor<'a> {
    resource: String,
    name: String,
    kind: &'static str,
    query: String,
    message: String,
    /// Empty for composites.
    critical: String,
    options: Vec<(&'static str, String)>,
    /// The rule, or the SLA of an `slo alert`.
    rule: &'a str,
    kind_tag: &'static str,
    severity: Severity,
    /// Anomaly monitors: (trigger window, recovery window).
    windows: Option<(String, String)>,
}

impl Monitor<'_> {
    fn write(self, out: &mut String) {
        let _ = writeln!(
            out,
            "\nresource \"datadog_monitor\" \"{}\" {{",
            self.resource
        );
        let _ = writeln!(out, "  name     = {}", hcl_string(&self.name));
        let _ = writeln!(out, "  type     = {}", hcl_string(self.kind));
        // Composite and SLO alert queries reference other resources' ids: interpolation is
        // meant there (their text is generated, quotes already escaped).
        let query = if matches!(self.kind, "composite" | "slo alert") {
            format!("\"{}\"", self.query)
        } else {
            hcl_string(&self.query)
        };
        let _ = writeln!(out, "  query    = {query}");
        let _ = writeln!(out, "  message  = {}", hcl_string(&self.message));
        let priority = match self.severity {
            Severity::Page => 1,
            Severity::Ticket => 3,
        };
        let _ = writeln!(out, "  priority = {priority}");
        for (key, value) in &self.options {
            let _ = writeln!(out, "  {key} = {value}");
        }
        if !self.critical.is_empty() {
            out.push_str("\n  monitor_thresholds {\n");
            let _ = writeln!(out, "    critical = {}", self.critical);
            if self.windows.is_some() {
                out.push_str("    critical_recovery = 0\n");
            }
            out.push_str("  }\n");
        }
        if let Some((trigger, recovery)) = &self.windows {
            out.push_str("\n  monitor_threshold_windows {\n");
            let _ = writeln!(out, "    trigger_window  = {}", hcl_string(trigger));
            let _ = writeln!(out, "    recovery_window = {}", hcl_string(recovery));
            out.push_str("  }\n");
        }
        let tags = [
            "generated-by:heartbeat-watch".to_owned(),
            format!("heartbeat_kind:{}", self.kind_tag),
            if self.kind_tag == "slo" {
                format!("heartbeat_sla:{}", self.rule)
            } else {
                format!("heartbeat_rule:{}", self.rule)
            },
            format!("severity:{}", self.severity),
        ];
        let tags: Vec<String> = tags.iter().map(|tag| hcl_string(tag)).collect();
        let _ = writeln!(out, "\n  tags = [{}]", tags.join(", "));
        out.push_str("}\n");
    }
}

/// The message: the text, the rule's runbook link and SOP, then the notification handles of
/// the severity.
fn notify(settings: &DatadogSettings, severity: Severity, runbook: String, text: &str) -> String {
    let handles = match severity {
        Severity::Page => &settings.page_notify,
        Severity::Ticket => &settings.ticket_notify,
    };
    let text = format!("{text}{runbook}");
    if handles.is_empty() {
        text
    } else {
        format!("{text}\n\n{}", handles.join(" "))
    }
}

/// The rule's runbook link and SOP as paragraphs of a monitor message (Markdown), or nothing.
fn runbook(url: Option<&str>, sop: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(url) = url {
        let _ = write!(out, "\n\nRunbook: {url}");
    }
    if let Some(sop) = sop {
        let _ = write!(out, "\n\nSOP:\n{sop}");
    }
    out
}

/// `key:value,key:value`, values lowercased and outside Datadog's tag characters replaced by `_`.
fn tags(pairs: &[(&str, &str)]) -> String {
    let tags: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{}:{}", tag_part(key), tag_part(value)))
        .collect();
    tags.join(",")
}

fn tag_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `last_5m`, `last_2h`, `last_1d`.
fn timeframe(span: Duration) -> String {
    let seconds = span.as_secs();
    if seconds.is_multiple_of(86_400) {
        format!("last_{}d", seconds / 86_400)
    } else if seconds.is_multiple_of(3600) {
        format!("last_{}h", seconds / 3600)
    } else {
        format!("last_{}m", minutes(span))
    }
}

fn display(span: Duration) -> String {
    crate::rulefile::DisplayDuration(span).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeframes_use_the_largest_whole_unit() {
        assert_eq!(timeframe(Duration::from_secs(300)), "last_5m");
        assert_eq!(timeframe(Duration::from_secs(7200)), "last_2h");
        assert_eq!(timeframe(Duration::from_secs(86_400)), "last_1d");
        assert_eq!(timeframe(Duration::from_secs(5400)), "last_90m");
    }

    #[test]
    fn tag_values_are_lowercased_and_sanitised() {
        assert_eq!(
            tags(&[
                ("service", "Messenger API"),
                ("heartbeat.outcome", "message.send")
            ]),
            "service:messenger_api,heartbeat.outcome:message.send"
        );
    }
}
