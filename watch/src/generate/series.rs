//! `heartbeat-watch rules check`: whether the generated Prometheus rules will match the series
//! a Prometheus holds, and if not, which label set-up is the cause.
//!
//! The series come from Prometheus' `/api/v1/series` (every `heartbeat_*` and `target_info`
//! series of the last hour). Each rule's selector is matched against them as the generated
//! rule would match; a rule that matches nothing is explained from what is there instead: the
//! service name under `exported_job` (a scrape without `honor_labels: true`), under
//! `service_name` (resource attributes promoted to labels), metric names with another suffix,
//! outcome names that differ.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::promql::{BEATS, OUTCOMES, label_name};
use crate::rulefile::RuleFile;

/// One series: its labels, `__name__` included.
pub type Series = BTreeMap<String, String>;

/// What `rules check` found: a line per rule, and whether every rule matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesCheck {
    /// The report, a line per rule (`ok`, `MISS` with the cause) and notes.
    pub text: String,
    /// Every rule matched at least one series.
    pub ok: bool,
}

/// Checks the rules of `rules` against `series` (as `/api/v1/series` returns them).
pub fn check_series(rules: &RuleFile, series: &[Series]) -> SeriesCheck {
    let settings = &rules.generate.prometheus;
    let service_label = settings.service_label.as_str();
    let mut text = String::new();
    let mut ok = true;
    let names: BTreeSet<&str> = series
        .iter()
        .filter_map(|s| s.get("__name__").map(String::as_str))
        .collect();
    let _ = writeln!(
        text,
        "{} series; metric names: {}",
        series.len(),
        names.iter().copied().collect::<Vec<_>>().join(", ")
    );

    let matching = |metric: &str, want: &[(String, String)]| -> usize {
        series
            .iter()
            .filter(|s| s.get("__name__").map(String::as_str) == Some(metric))
            .filter(|s| want.iter().all(|(k, v)| s.get(k) == Some(v)))
            .count()
    };
    // Why a selector matched nothing, from what is there.
    let explain = |metric: &str, want: &[(String, String)], service: Option<&str>| -> String {
        let stem = metric.trim_end_matches("_total");
        let similar: BTreeSet<&str> = names
            .iter()
            .copied()
            .filter(|n| *n != metric && n.starts_with(stem))
            .collect();
        if !names.contains(metric) {
            if similar.is_empty() {
                return format!("no {metric} series at all: nothing exports it to this Prometheus");
            }
            return format!(
                "no {metric} series, but {}: the translation names it differently (unit or \
                 suffix settings of the exporter); the rules expect {metric}",
                similar.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        if let Some(service) = service {
            let of = |label: &str| {
                series.iter().any(|s| {
                    s.get("__name__").map(String::as_str) == Some(metric)
                        && s.get(label).map(String::as_str) == Some(service)
                })
            };
            if of("exported_job") && service_label != "exported_job" {
                return format!(
                    "{service:?} is in exported_job, not {service_label}: the scrape job lacks \
                     honor_labels: true (set it on the job that scrapes the collector's \
                     prometheus exporter)"
                );
            }
            if of("service_name") && service_label != "service_name" {
                return format!(
                    "{service:?} is in service_name, not {service_label}: resource attributes \
                     are promoted to labels; set [generate.prometheus] service_label = \
                     \"service_name\""
                );
            }
            let services: BTreeSet<&str> = series
                .iter()
                .filter(|s| s.get("__name__").map(String::as_str) == Some(metric))
                .filter_map(|s| s.get(service_label).map(String::as_str))
                .collect();
            if !services.contains(service) {
                return format!(
                    "no {metric} series with {service_label}={service:?}; {service_label} values \
                     seen: {}",
                    list(&services)
                );
            }
        }
        for (key, value) in want {
            let values: BTreeSet<&str> = series
                .iter()
                .filter(|s| s.get("__name__").map(String::as_str) == Some(metric))
                .filter_map(|s| s.get(key).map(String::as_str))
                .collect();
            if !values.contains(value.as_str()) {
                return format!(
                    "no series with {key}={value:?}; values seen: {}",
                    list(&values)
                );
            }
        }
        "the labels exist, but never together in one series".to_owned()
    };

    for rule in &rules.deadman {
        let mut want = vec![(service_label.to_owned(), rule.service.clone())];
        if let Some(emitter) = &rule.emitter {
            want.push(("heartbeat_emitter".to_owned(), emitter.clone()));
        }
        match matching(BEATS, &want) {
            0 => {
                ok = false;
                let _ = writeln!(
                    text,
                    "MISS deadman {}: {}",
                    rule.name,
                    explain(BEATS, &want, Some(&rule.service))
                );
            }
            n => {
                let _ = writeln!(text, "ok   deadman {}: {n} beat series", rule.name);
                let instances = series
                    .iter()
                    .filter(|s| s.get("__name__").map(String::as_str) == Some(BEATS))
                    .filter(|s| want.iter().all(|(k, v)| s.get(k) == Some(v)))
                    .any(|s| s.contains_key(&settings.instance_label));
                if !instances {
                    let _ = writeln!(
                        text,
                        "     note: no {} label: the frozen-counter alert cannot tell instances apart",
                        settings.instance_label
                    );
                }
            }
        }
    }
    for rule in &rules.outcome {
        let mut want = vec![("heartbeat_outcome".to_owned(), rule.outcome.clone())];
        if let Some(service) = &rule.service {
            want.push((service_label.to_owned(), service.clone()));
        }
        for (key, value) in &rule.filters {
            want.push((label_name(key), value.clone()));
        }
        match matching(OUTCOMES, &want) {
            0 => {
                ok = false;
                let _ = writeln!(
                    text,
                    "MISS outcome {}: {}",
                    rule.name,
                    explain(OUTCOMES, &want, rule.service.as_deref())
                );
            }
            n => {
                let _ = writeln!(text, "ok   outcome {}: {n} series", rule.name);
            }
        }
    }
    let versions = series.iter().any(|s| {
        s.get("__name__").map(String::as_str) == Some("target_info")
            && s.contains_key("service_version")
    });
    if !versions {
        let _ = writeln!(
            text,
            "note: no target_info series with service_version: the alerts' versions annotation \
             (the deploy in the alert's window) will say none"
        );
    }
    SeriesCheck { text, ok }
}

fn list(values: &BTreeSet<&str>) -> String {
    if values.is_empty() {
        "none".to_owned()
    } else {
        values
            .iter()
            .map(|v| format!("{v:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Reads the `heartbeat_*` and `target_info` series of the last hour from the Prometheus at
/// `url` (its base URL, e.g. `http://127.0.0.1:9090`) and checks the rules against them.
///
/// # Errors
/// The Prometheus could not be reached or did not answer with a series list; the text names
/// the URL.
pub async fn check_prometheus(rules: &RuleFile, url: &str) -> Result<SeriesCheck, String> {
    let client = crate::alert::https::HttpsClient::new(None, std::time::Duration::from_secs(10))?;
    let endpoint = format!("{}/api/v1/series", url.trim_end_matches('/'));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // No `end`: Prometheus 2.42 answers nothing for a range that ends at the newest samples.
    let body = format!(
        "match%5B%5D=%7B__name__%3D~%22heartbeat_.%2A%7Ctarget_info%22%7D&start={}",
        now.saturating_sub(3600)
    );
    let (status, answer) = client
        .post(
            &endpoint,
            &[(
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            )],
            body.into_bytes(),
        )
        .await
        .map_err(|e| format!("{endpoint}: {e}"))?;
    if status != 200 {
        return Err(format!("{endpoint}: HTTP {status}: {answer}"));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        data: Vec<Series>,
    }
    let answer: Answer = serde_json::from_str(&answer)
        .map_err(|e| format!("{endpoint}: not a Prometheus series answer: {e}"))?;
    Ok(check_series(rules, &answer.data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(pairs: &[(&str, &str)]) -> Series {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn rules() -> RuleFile {
        "[[deadman]]\nname = \"api\"\nservice = \"messenger-api\"\nemitter = \"api\"\nwindow = \"1m\"\nmin_beats = 5\n\
         [[outcome]]\nname = \"send\"\noutcome = \"message.send\"\nservice = \"messenger-api\"\nwhere = { surface = \"web\" }\nwindow = \"5m\"\nmin_success_ratio = 0.9\n"
            .parse()
            .unwrap()
    }

    #[test]
    fn matching_series_are_ok() {
        let check = check_series(
            &rules(),
            &[
                series(&[
                    ("__name__", BEATS),
                    ("job", "messenger-api"),
                    ("instance", "a"),
                    ("heartbeat_emitter", "api"),
                ]),
                series(&[
                    ("__name__", OUTCOMES),
                    ("job", "messenger-api"),
                    ("heartbeat_outcome", "message.send"),
                    ("surface", "web"),
                    ("heartbeat_result", "success"),
                ]),
                series(&[
                    ("__name__", "target_info"),
                    ("job", "messenger-api"),
                    ("service_version", "1.2"),
                ]),
            ],
        );
        assert!(check.ok, "{}", check.text);
        assert!(
            check.text.contains("ok   deadman api: 1 beat series"),
            "{}",
            check.text
        );
        assert!(
            check.text.contains("ok   outcome send: 1 series"),
            "{}",
            check.text
        );
    }

    #[test]
    fn a_scrape_without_honor_labels_is_named() {
        let check = check_series(
            &rules(),
            &[series(&[
                ("__name__", BEATS),
                ("job", "otel-collector"),
                ("exported_job", "messenger-api"),
                ("heartbeat_emitter", "api"),
            ])],
        );
        assert!(!check.ok);
        assert!(
            check.text.contains(
                "MISS deadman api: \"messenger-api\" is in exported_job, not job: the scrape job lacks honor_labels: true"
            ),
            "{}",
            check.text
        );
    }

    #[test]
    fn promoted_resource_attributes_and_other_names_are_named() {
        let check = check_series(
            &rules(),
            &[
                series(&[
                    ("__name__", BEATS),
                    ("service_name", "messenger-api"),
                    ("heartbeat_emitter", "api"),
                ]),
                series(&[
                    ("__name__", "heartbeat_outcomes_outcome_total"),
                    ("job", "messenger-api"),
                ]),
            ],
        );
        assert!(
            check
                .text
                .contains("set [generate.prometheus] service_label = \"service_name\""),
            "{}",
            check.text
        );
        assert!(
            check.text.contains("MISS outcome send: no heartbeat_outcomes_total series, but heartbeat_outcomes_outcome_total"),
            "{}",
            check.text
        );
        assert!(
            check
                .text
                .contains("note: no target_info series with service_version")
        );
    }

    #[test]
    fn an_outcome_name_that_differs_lists_what_is_there() {
        let check = check_series(
            &rules(),
            &[series(&[
                ("__name__", OUTCOMES),
                ("job", "messenger-api"),
                ("heartbeat_outcome", "message.sent"),
                ("surface", "web"),
            ])],
        );
        assert!(
            check.text.contains(
                "MISS outcome send: no series with heartbeat_outcome=\"message.send\"; values seen: \"message.sent\""
            ),
            "{}",
            check.text
        );
    }
}
