//! PromQL building blocks shared by the Prometheus rules and the Grafana dashboard: the metric
//! names as Prometheus sees them, attribute keys as labels, and an outcome rule's selectors.

use std::fmt::Write as _;

use super::quoted;
use crate::rulefile::{OutcomeRule, PrometheusSettings};

/// `heartbeat.beats` as Prometheus names it.
pub(super) const BEATS: &str = "heartbeat_beats_total";
/// `heartbeat.emitter.status` as Prometheus names it.
pub(super) const STATUS: &str = "heartbeat_emitter_status";
/// `heartbeat.outcomes` as Prometheus names it.
pub(super) const OUTCOMES: &str = "heartbeat_outcomes_total";

/// The matchers and grouping of an outcome rule: all its points, and its successes.
pub(crate) struct OutcomeSelectors {
    pub(crate) all: String,
    pub(crate) success: String,
    pub(crate) failure: String,
    pub(crate) by: String,
    pub(crate) what: String,
}

pub(crate) fn outcome_selectors(
    rule: &OutcomeRule,
    settings: &PrometheusSettings,
) -> OutcomeSelectors {
    let mut matchers = vec![("heartbeat_outcome".to_owned(), rule.outcome.clone())];
    let mut by = vec!["heartbeat_outcome".to_owned()];
    if let Some(service) = &rule.service {
        matchers.push((settings.service_label.clone(), service.clone()));
        by.push(settings.service_label.clone());
    }
    for (key, value) in &rule.filters {
        matchers.push((label_name(key), value.clone()));
    }
    let all = selector(OUTCOMES, &matchers);
    let mut failures = matchers.clone();
    failures.push(("heartbeat_result".to_owned(), "failure".to_owned()));
    let failure = selector(OUTCOMES, &failures);
    matchers.push(("heartbeat_result".to_owned(), "success".to_owned()));
    let success = selector(OUTCOMES, &matchers);
    let mut what = rule.outcome.clone();
    if let Some(service) = &rule.service {
        let _ = write!(what, " of {service}");
    }
    if !rule.filters.is_empty() {
        let filters: Vec<String> = rule
            .filters
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        let _ = write!(what, " ({})", filters.join(", "));
    }
    OutcomeSelectors {
        all,
        success,
        failure,
        by: by.join(", "),
        what: literal(&what),
    }
}

/// An attribute key as a Prometheus label: every character outside `[a-zA-Z0-9_]` becomes `_`.
pub(crate) fn label_name(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// User text inside an annotation, which Prometheus expands as a Go template: `{{` is literal.
pub(super) fn literal(text: &str) -> String {
    text.replace("{{", "{{ \"{{\" }}")
}

/// `metric{a="b",c="d"}`, with values quoted as PromQL strings.
pub(super) fn selector(metric: &str, matchers: &[(String, String)]) -> String {
    let matchers: Vec<String> = matchers
        .iter()
        .map(|(label, value)| format!("{label}={}", quoted(value)))
        .collect();
    format!("{metric}{{{}}}", matchers.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_keys_become_label_names() {
        assert_eq!(label_name("surface"), "surface");
        assert_eq!(label_name("app.region-name"), "app_region_name");
    }
}
