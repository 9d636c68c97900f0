//! Rules for the engines fleets already run, generated from the rule file.

mod alertmanager;
mod cloudwatch;
mod datadog;
mod grafana;
mod prometheus;
mod promql;
mod series;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use series::{Series, SeriesCheck, check_prometheus, check_series};

use crate::rulefile::{DeadmanRule, DisplayDuration, OutcomeRule, RuleFile};

/// An engine that rules can be generated for, and what it gets:
///
/// | engine | output | what it gets |
/// |---|---|---|
/// | [`Engine::Prometheus`] | alerting and recording rules (YAML) | dead-man (absence, too few beats, frozen counter, failing gate), success ratio, rate floor, seasonal negative anomaly, the always-firing watchdog |
/// | [`Engine::Alertmanager`] | configuration (YAML) | the watchdog routed to the external dead-man channel, pages and tickets by severity, inhibitions |
/// | [`Engine::Datadog`] | Terraform `datadog_monitor` resources | the same rules as metric, anomaly and composite monitors |
/// | [`Engine::CloudWatch`] | Terraform `aws_cloudwatch_metric_alarm` resources | the same rules as metric-math and anomaly-band alarms |
/// | [`Engine::Grafana`] | a dashboard (JSON) for the Prometheus path | per outcome rule its rates, success ratio and drill-down; per dead-man rule its beats and statuses; per SLA its budget and burn rate; deploys and firing alerts as annotations |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Engine {
    /// Prometheus alerting and recording rules (YAML), checked with `promtool`.
    Prometheus,
    /// An Alertmanager configuration (YAML) for the generated Prometheus alerts.
    Alertmanager,
    /// Datadog monitors as Terraform `datadog_monitor` resources.
    Datadog,
    /// CloudWatch alarms as Terraform `aws_cloudwatch_metric_alarm` resources.
    CloudWatch,
    /// A Grafana dashboard (JSON) on the generated Prometheus rules' names.
    Grafana,
}

impl Engine {
    /// Every engine, in the order the CLI lists them.
    pub const ALL: [Engine; 5] = [
        Engine::Prometheus,
        Engine::Alertmanager,
        Engine::Datadog,
        Engine::CloudWatch,
        Engine::Grafana,
    ];

    /// The name the CLI takes: `prometheus`, `alertmanager`, `datadog` or `cloudwatch`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Prometheus => "prometheus",
            Engine::Alertmanager => "alertmanager",
            Engine::Datadog => "datadog",
            Engine::CloudWatch => "cloudwatch",
            Engine::Grafana => "grafana",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not one of [`Engine::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown engine {0:?}: expected prometheus, alertmanager, datadog, cloudwatch or grafana")]
pub struct UnknownEngine(pub String);

impl FromStr for Engine {
    type Err = UnknownEngine;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Engine::ALL
            .into_iter()
            .find(|engine| engine.name() == name)
            .ok_or_else(|| UnknownEngine(name.to_owned()))
    }
}

/// Why rules could not be generated for an engine. The rule file itself is valid (it was
/// checked when loaded); these are limits of the engine or settings it needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// A `[generate.*]` setting the engine needs is not set.
    #[error("{engine}: set {key} in the rule file ({why})")]
    MissingSetting {
        /// The engine.
        engine: Engine,
        /// The key, for example `generate.alertmanager.watchdog_url`.
        key: &'static str,
        /// What it is for.
        why: &'static str,
    },
    /// The engine's anomaly detection has no such season.
    #[error(
        "{engine}: outcome rule {rule:?}: anomaly.season {} is not supported; use {supported}",
        DisplayDuration(*.season)
    )]
    UnsupportedSeason {
        /// The engine.
        engine: Engine,
        /// The outcome rule.
        rule: String,
        /// Its season.
        season: Duration,
        /// The seasons the engine has.
        supported: &'static str,
    },
    /// A window holds fewer than [`MIN_SAMPLES_PER_WINDOW`](crate::MIN_SAMPLES_PER_WINDOW)
    /// samples at the engine's scrape (or export) interval: one late scrape would leave it
    /// empty and page a healthy service.
    #[error(
        "{engine}: {rule:?}: window {} holds fewer than {} samples at scrape_interval {}; \
         lengthen the window to at least {} or lower [generate.prometheus] scrape_interval",
        DisplayDuration(*.window),
        crate::rulefile::MIN_SAMPLES_PER_WINDOW,
        DisplayDuration(*.scrape_interval),
        DisplayDuration(scrape_interval.saturating_mul(crate::rulefile::MIN_SAMPLES_PER_WINDOW))
    )]
    WindowTooShort {
        /// The engine.
        engine: Engine,
        /// The rule, or `sla NAME (burn window)` for an SLO's burn-rate window.
        rule: String,
        /// Its window.
        window: Duration,
        /// The interval new samples arrive at.
        scrape_interval: Duration,
    },
    /// The engine cannot evaluate over such a window.
    #[error(
        "{engine}: rule {rule:?}: window {} is not supported; use {supported}",
        DisplayDuration(*.window)
    )]
    UnsupportedWindow {
        /// The engine.
        engine: Engine,
        /// The rule.
        rule: String,
        /// Its window.
        window: Duration,
        /// The windows the engine accepts.
        supported: &'static str,
    },
}

/// Generates the rules of one engine from a rule file, the same rules the watch judges with,
/// so the alerts always match what the SDK emits.
///
/// `source` names the rule file in the header comment each output starts with (for example its
/// path). The output is deterministic: rules are sorted by name. `docs/rules.md` explains the
/// mappings and their approximations.
///
/// ```
/// use heartbeat_watch::{Engine, RuleFile, generate};
///
/// let rules: RuleFile = r#"
/// [[deadman]]
/// name = "api-pipeline"
/// service = "messenger-api"
/// emitter = "api"
/// window = "1m"
/// min_beats = 5
/// "#
/// .parse()?;
/// let yaml = generate(&rules, Engine::Prometheus, "rules.toml")?;
/// assert!(yaml.contains("alert: HeartbeatDeadman\n"));
/// assert!(yaml.contains("alert: HeartbeatWatchdog\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`GenerateError`] when the engine cannot express a rule (a Datadog anomaly season other than
/// an hour, a day or a week; a CloudWatch period that is not 10 s, 30 s or whole minutes) or a
/// setting it needs is missing (the Alertmanager receivers).
pub fn generate(rules: &RuleFile, engine: Engine, source: &str) -> Result<String, GenerateError> {
    match engine {
        Engine::Prometheus => prometheus::generate(rules, source),
        Engine::Alertmanager => alertmanager::generate(rules, source),
        Engine::Datadog => datadog::generate(rules, source),
        Engine::CloudWatch => cloudwatch::generate(rules, source),
        Engine::Grafana => {
            // The dashboard reads the generated rules' records: the same limits apply.
            prometheus::check_windows(rules, &rules.generate.prometheus)?;
            Ok(grafana::generate(rules, source))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the generators
// ---------------------------------------------------------------------------------------------

/// The header every generated file starts with, behind the engine's comment marker.
fn header(comment: &str, engine: Engine, source: &str) -> String {
    let source = source.replace(['\n', '\r'], " ");
    format!(
        "{comment} Generated by heartbeat-watch {} (`heartbeat-watch rules {engine}`) from {source}.\n\
         {comment} Do not edit: change the rule file and generate again. See docs/rules.md.\n",
        env!("CARGO_PKG_VERSION"),
    )
}

/// Dead-man rules sorted by name.
fn sorted_deadman(rules: &RuleFile) -> Vec<&DeadmanRule> {
    let mut sorted: Vec<&DeadmanRule> = rules.deadman.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    sorted
}

/// Outcome rules sorted by name.
fn sorted_outcome(rules: &RuleFile) -> Vec<&OutcomeRule> {
    let mut sorted: Vec<&OutcomeRule> = rules.outcome.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    sorted
}

/// A double-quoted string that is valid JSON, and therefore valid YAML.
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// A Terraform (HCL) string literal: JSON escapes plus `${` and `%{` escaped as `$${` and `%%{`.
fn hcl_string(text: &str) -> String {
    quoted(text).replace("${", "$${").replace("%{", "%%{")
}

/// An identifier for Terraform resources: `heartbeat_` and the name with `-` as `_`.
fn resource_name(kind: &str, name: &str) -> String {
    format!("heartbeat_{kind}_{}", name.replace('-', "_"))
}

/// Whole minutes of a window, at least one.
fn minutes(window: Duration) -> u64 {
    (window.as_secs() / 60).max(1)
}

/// A number the way people write it: `0.95`, `10`, `2.5`.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_parse_from_their_names() {
        for engine in Engine::ALL {
            assert_eq!(engine.name().parse::<Engine>(), Ok(engine));
        }
        assert_eq!(
            "nagios".parse::<Engine>().unwrap_err().to_string(),
            "unknown engine \"nagios\": expected prometheus, alertmanager, datadog, cloudwatch or grafana"
        );
    }

    #[test]
    fn hcl_strings_escape_interpolation() {
        assert_eq!(hcl_string("a ${b} %{c} \"d\""), r#""a $${b} %%{c} \"d\"""#);
    }

    #[test]
    fn numbers_drop_a_zero_fraction() {
        assert_eq!(number(10.0), "10");
        assert_eq!(number(0.95), "0.95");
        assert_eq!(number(2.5), "2.5");
    }
}
