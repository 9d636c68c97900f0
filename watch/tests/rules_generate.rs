//! The rule generators, checked by structure: every output parses (YAML with serde_yaml,
//! Terraform with hcl-rs), and each rule of the rule file shows up with the pieces it needs.
//! Nothing here compares against a stored copy of the output; `rules_promtool.rs` runs the
//! Prometheus rules for real.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use heartbeat_watch::{DisplayDuration, Engine, GenerateError, RuleFile, generate};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rules.toml");

fn example() -> RuleFile {
    RuleFile::from_path(EXAMPLE).unwrap()
}

fn output(rules: &RuleFile, engine: Engine) -> String {
    generate(rules, engine, "rules.toml").unwrap()
}

fn yaml(text: &str) -> Yaml {
    serde_yaml::from_str(text).unwrap()
}

fn hcl(text: &str) -> Json {
    hcl::from_str(text).unwrap()
}

/// Every rule of every group of a Prometheus rule file.
fn prometheus_rules(rules: &RuleFile) -> Vec<Yaml> {
    let doc = yaml(&output(rules, Engine::Prometheus));
    doc["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|group| group["rules"].as_sequence().unwrap().clone())
        .collect()
}

fn alerts<'a>(rules: &'a [Yaml], alert: &str, rule: &str) -> Vec<&'a Yaml> {
    rules
        .iter()
        .filter(|r| r["alert"].as_str() == Some(alert))
        .filter(|r| r["labels"]["heartbeat_rule"].as_str() == Some(rule))
        .collect()
}

fn one<'a>(rules: &'a [Yaml], alert: &str, rule: &str) -> &'a Yaml {
    let found = alerts(rules, alert, rule);
    assert_eq!(found.len(), 1, "{alert} for {rule}: {found:?}");
    found[0]
}

fn expr(rule: &Yaml) -> &str {
    rule["expr"].as_str().unwrap()
}

fn duration(rule: &Yaml, key: &str) -> Option<String> {
    rule[key].as_str().map(str::to_owned)
}

/// `(n - 1) × window`, as Prometheus writes it, or `None` for zero.
fn pending(window: std::time::Duration, n: u32) -> Option<String> {
    (n > 1).then(|| DisplayDuration(window * (n - 1)).to_string())
}

// ---------------------------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------------------------

#[test]
fn every_dead_man_rule_has_a_silent_a_frozen_and_a_failing_alert() {
    let file = example();
    let rules = prometheus_rules(&file);
    let service_label = &file.generate.prometheus.service_label;
    for rule in &file.deadman {
        let window = format!("[{}]", DisplayDuration(rule.window));
        let service = format!("{service_label}=\"{}\"", rule.service);

        let silent = one(&rules, "HeartbeatDeadman", &rule.name);
        let e = expr(silent);
        for piece in [
            "increase(heartbeat_beats_total{",
            "absent_over_time(heartbeat_beats_total{",
            "unless on (",
            "heartbeat_emitter_status{",
            ") == 2",
            &window,
            &service,
            &format!("< {}", rule.min_beats),
            &format!(
                "[{}]",
                DisplayDuration(file.generate.prometheus.stop_lookback)
            ),
        ] {
            assert!(e.contains(piece), "{} lacks {piece:?}:\n{e}", rule.name);
        }
        match &rule.emitter {
            Some(emitter) => assert!(e.contains(&format!("heartbeat_emitter=\"{emitter}\""))),
            None => assert!(!e.contains("heartbeat_emitter=")),
        }
        assert_eq!(
            duration(silent, "for"),
            pending(rule.window, rule.fire_after)
        );
        assert_eq!(
            duration(silent, "keep_firing_for"),
            pending(rule.window, rule.resolve_after)
        );
        assert_eq!(
            silent["labels"]["severity"].as_str(),
            Some(rule.severity.as_str())
        );

        let frozen = one(&rules, "HeartbeatDeadmanFrozen", &rule.name);
        assert!(expr(frozen).contains("changes(heartbeat_beats_total{"));
        assert!(expr(frozen).contains(&file.generate.prometheus.instance_label));
        assert_eq!(frozen["labels"]["severity"].as_str(), Some("ticket"));

        let failing = one(&rules, "HeartbeatDeadmanFailing", &rule.name);
        assert!(expr(failing).contains("heartbeat_emitter_status{"));
        assert!(expr(failing).ends_with("== 1"));
        assert!(
            failing["annotations"]["summary"]
                .as_str()
                .unwrap()
                .contains("$labels.heartbeat_reason")
        );
    }
}

#[test]
fn every_outcome_condition_has_its_alert() {
    let file = example();
    let rules = prometheus_rules(&file);
    for rule in &file.outcome {
        let window = format!("[{}]", DisplayDuration(rule.window));
        let mut pieces = vec![
            format!("heartbeat_outcome=\"{}\"", rule.outcome),
            "heartbeat_outcomes_total{".to_owned(),
            "heartbeat_result=\"success\"".to_owned(),
            window.clone(),
        ];
        pieces.extend(
            rule.filters
                .iter()
                .map(|(key, value)| format!("{key}=\"{value}\"")),
        );
        if let Some(service) = &rule.service {
            pieces.push(format!("job=\"{service}\""));
        }

        let ratio = alerts(&rules, "HeartbeatOutcomeSuccessRatioLow", &rule.name);
        match rule.min_success_ratio {
            Some(floor) => {
                let e = expr(ratio[0]);
                assert_eq!(ratio.len(), 1);
                for piece in &pieces {
                    assert!(
                        e.contains(piece.as_str()),
                        "{} lacks {piece}:\n{e}",
                        rule.name
                    );
                }
                assert!(e.contains("/"), "{e}");
                assert!(e.trim_end().ends_with(&format!("< {floor}")), "{e}");
                assert_eq!(
                    duration(ratio[0], "for"),
                    pending(rule.window, rule.fire_after)
                );
                assert_eq!(
                    duration(ratio[0], "keep_firing_for"),
                    pending(rule.window, rule.resolve_after)
                );
            }
            None => assert!(ratio.is_empty()),
        }

        let rate = alerts(&rules, "HeartbeatOutcomeRateLow", &rule.name);
        match rule.min_rate_per_minute {
            Some(floor) => {
                let e = expr(rate[0]);
                for piece in &pieces {
                    assert!(
                        e.contains(piece.as_str()),
                        "{} lacks {piece}:\n{e}",
                        rule.name
                    );
                }
                assert!(e.contains("* 60"), "{e}");
                let threshold: f64 = e.rsplit("< ").next().unwrap().trim().parse().unwrap();
                assert_eq!(threshold, floor);
            }
            None => assert!(rate.is_empty()),
        }

        let anomaly = alerts(&rules, "HeartbeatOutcomeAnomaly", &rule.name);
        match &rule.anomaly {
            Some(anomaly_rule) => {
                assert_eq!(anomaly.len(), 1);
                let records: Vec<&Yaml> = rules
                    .iter()
                    .filter(|r| {
                        r["record"]
                            .as_str()
                            .is_some_and(|name| name.starts_with("heartbeat:outcome_successes"))
                    })
                    .filter(|r| r["labels"]["heartbeat_rule"].as_str() == Some(&rule.name))
                    .collect();
                assert_eq!(records.len(), 3, "{records:?}");
                let mean = records
                    .iter()
                    .find(|r| r["record"].as_str().unwrap().ends_with("seasonal_mean"))
                    .unwrap();
                // One offset per season of history, each a whole number of seasons back.
                for season in 1..=anomaly_rule.seasons() {
                    let offset = DisplayDuration(anomaly_rule.season * season);
                    assert!(expr(mean).contains(&format!("{window} offset {offset})")));
                }
                let beyond = DisplayDuration(anomaly_rule.season * (anomaly_rule.seasons() + 1));
                assert!(!expr(mean).contains(&format!("offset {beyond})")));
                let e = expr(anomaly[0]);
                assert!(
                    e.contains(&format!("- {} * (", anomaly_rule.sensitivity)),
                    "{e}"
                );
                assert!(e.contains("sqrt("), "{e}");
                assert!(e.contains("< 0.85 * heartbeat:"), "{e}");
            }
            None => assert!(anomaly.is_empty()),
        }
    }
}

#[test]
fn every_outcome_rule_that_breaches_on_no_data_has_a_no_data_alert() {
    let mut file = example();
    file.outcome[1].on_no_data = heartbeat_watch::OnNoData::Ok;
    let quiet_name = file.outcome[1].name.clone();
    let rules = prometheus_rules(&file);
    for rule in &file.outcome {
        let found = alerts(&rules, "HeartbeatOutcomeNoData", &rule.name);
        if rule.name == quiet_name {
            assert!(found.is_empty(), "on_no_data = ok: {found:?}");
            continue;
        }
        let e = expr(found[0]);
        // No event, one sample, no series: each is no data, once a window has passed.
        assert!(e.contains("increase(heartbeat_outcomes_total{"), "{e}");
        assert!(e.contains(") == 0"), "{e}");
        assert!(
            e.contains("absent_over_time(heartbeat_outcomes_total{"),
            "{e}"
        );
        assert!(
            e.contains("ALERTS{alertname=\"HeartbeatWatchdog\", alertstate=\"firing\"} offset"),
            "{e}"
        );
        assert_eq!(
            found[0]["labels"]["severity"].as_str(),
            Some(rule.severity.as_str())
        );
    }
}

#[test]
fn no_data_alerts_follow_the_expected_rate_and_quiet_hours() {
    let file: RuleFile = "[[outcome]]\nname = \"send\"\noutcome = \"message.send\"\nwindow = \"5m\"\n\
         min_success_ratio = 0.9\nmin_expected_per_minute = 2.5\nquiet_hours = [\"22:00-06:00\", \"12:00-12:30\"]\n"
        .parse()
        .unwrap();
    let rules = prometheus_rules(&file);
    let e = expr(one(&rules, "HeartbeatOutcomeNoData", "send"));
    // 2.5 a minute over 5 minutes.
    assert!(e.contains(") < 12.5"), "{e}");
    assert!(e.contains("unless on ()"), "{e}");
    assert!(
        e.contains("((hour() * 60 + minute()) >= 1320 or (hour() * 60 + minute()) < 360)"),
        "{e}"
    );
    assert!(
        e.contains("((hour() * 60 + minute()) >= 720 and (hour() * 60 + minute()) < 750)"),
        "{e}"
    );
}

#[test]
fn conditions_that_need_a_full_window_wait_for_the_rule_engine_to_have_one() {
    let file = example();
    let rules = prometheus_rules(&file);
    let scrape = file.generate.prometheus.scrape_interval;
    for rule in &file.deadman {
        let offset = DisplayDuration(rule.window + scrape * 2);
        for alert in ["HeartbeatDeadman", "HeartbeatDeadmanFrozen"] {
            let e = expr(one(&rules, alert, &rule.name));
            assert!(
                e.ends_with(&format!(
                    "and on ()\n  ALERTS{{alertname=\"HeartbeatWatchdog\", alertstate=\"firing\"}} offset {offset}"
                )),
                "{alert} {}: {e}",
                rule.name
            );
        }
    }
}

#[test]
fn max_silence_becomes_a_silent_alert_when_the_scrapes_can_see_it() {
    let mut file = example();
    // 42 s at a 15 s scrape holds fewer than 4 samples: said, not generated.
    let text = output(&file, Engine::Prometheus);
    assert!(
        text.contains("# api-pipeline: max_silence 42s holds fewer than 4 samples at scrape_interval 15s: no HeartbeatDeadmanSilent"),
        "{text}"
    );
    assert!(
        alerts(
            &prometheus_rules(&file),
            "HeartbeatDeadmanSilent",
            "api-pipeline"
        )
        .is_empty()
    );
    file.generate.prometheus.scrape_interval = std::time::Duration::from_secs(10);
    let rules = prometheus_rules(&file);
    let silent = one(&rules, "HeartbeatDeadmanSilent", "api-pipeline");
    let e = expr(silent);
    assert!(e.contains("increase(heartbeat_beats_total{job=\"messenger-api\", heartbeat_emitter=\"api\"}[42s])) == 0"), "{e}");
    assert!(e.contains("absent_over_time(heartbeat_beats_total{job=\"messenger-api\", heartbeat_emitter=\"api\"}[42s])"), "{e}");
    assert!(e.contains("== 2)"), "a graceful stop is excepted: {e}");
    assert!(silent["for"].is_null(), "the deadline is the hold");
    // A rule without max_silence gets none.
    assert!(alerts(&rules, "HeartbeatDeadmanSilent", "inbox-workers").is_empty());
    // The failing gate inhibits it like the window rule.
    let am = output(&file, Engine::Alertmanager);
    assert!(
        am.contains("alertname=~\\\"HeartbeatDeadman|HeartbeatDeadmanSilent\\\""),
        "{am}"
    );
}

#[test]
fn a_window_with_fewer_than_four_scrapes_is_refused_naming_the_rule() {
    let mut file = example();
    file.generate.prometheus.scrape_interval = std::time::Duration::from_secs(16);
    let err = generate(&file, Engine::Prometheus, "rules.toml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "prometheus: \"api-pipeline\": window 1m holds fewer than 4 samples at scrape_interval \
         16s; lengthen the window to at least 1m4s or lower [generate.prometheus] scrape_interval"
    );
    // Exactly four fit.
    file.generate.prometheus.scrape_interval = std::time::Duration::from_secs(15);
    generate(&file, Engine::Prometheus, "rules.toml").unwrap();
    // The SLOs' shortest burn window counts too: 5 minutes of 30 days is 5 s of 12 hours.
    file.generate.prometheus.scrape_interval = std::time::Duration::from_secs(2);
    file.generate.prometheus.slo_period = std::time::Duration::from_secs(12 * 3600);
    for rule in &mut file.deadman {
        rule.window = std::time::Duration::from_secs(60);
    }
    let err = generate(&file, Engine::Prometheus, "rules.toml").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("prometheus: \"sla core-platform (burn window)\": window 5s"),
        "{err}"
    );
    assert!(matches!(err, GenerateError::WindowTooShort { .. }));
}

#[test]
fn a_bad_scrape_interval_is_refused_naming_the_value() {
    let err = "[generate.prometheus]\nscrape_interval = \"0s\"\n"
        .parse::<RuleFile>()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("duration \"0s\" must be greater than zero (in `scrape_interval"),
        "{err}"
    );
    let err = "[generate.prometheus]\nslo_period = \"30 days\"\n"
        .parse::<RuleFile>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid duration \"30 days\""), "{err}");
}

#[test]
fn every_sla_gets_its_budget_and_the_workbook_burn_rate_pairs() {
    let file = example();
    let rules = prometheus_rules(&file);
    for sla in &file.sla {
        let of_sla = |record: &str| -> Vec<&Yaml> {
            rules
                .iter()
                .filter(|r| r["record"].as_str() == Some(record))
                .filter(|r| r["labels"]["heartbeat_sla"].as_str() == Some(&sla.name))
                .collect()
        };
        let down = of_sla("heartbeat:sla_down");
        assert_eq!(down.len(), 1);
        let e = expr(down[0]);
        assert!(
            e.contains(&format!("heartbeat_rule=~\"{}\"", sla.signals.join("|"))),
            "{e}"
        );
        assert!(e.contains("alertname!=\"HeartbeatDeadmanFrozen\""), "{e}");
        assert!(e.ends_with("or on () vector(0)"), "{e}");
        // Seven windows: 5m, 30m, 1h, 2h, 6h, 1d, 3d.
        let windows: Vec<&str> = of_sla("heartbeat:sla_error:ratio")
            .iter()
            .map(|r| r["labels"]["heartbeat_window"].as_str().unwrap())
            .collect();
        assert_eq!(windows, ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]);
        // Good and total events: raw series over the shortest window, its record averaged over
        // the longer ones.
        let events = of_sla("heartbeat:sli_events:rate");
        for r in &events {
            let e = expr(r);
            if r["labels"]["heartbeat_window"] == "5m" {
                assert!(e.starts_with("sum(rate(heartbeat_outcomes_total{"), "{e}");
            } else {
                assert!(
                    e.starts_with("avg_over_time(heartbeat:sli_events:rate{")
                        && e.contains("heartbeat_window=\"5m\"}"),
                    "{e}"
                );
            }
        }
        let budget = expr(of_sla("heartbeat:sla_error_budget:remaining")[0]).to_owned();
        assert!(budget.contains("[30d]"), "{budget}");
        let burns: Vec<&Yaml> = rules
            .iter()
            .filter(|r| r["alert"].as_str() == Some("HeartbeatSLOBurnRate"))
            .filter(|r| r["labels"]["heartbeat_sla"].as_str() == Some(&sla.name))
            .collect();
        assert_eq!(burns.len(), 2);
        let budget = 1.0 - sla.objective;
        for (alert, severity, pairs) in [
            (burns[0], "page", [(14.4, "1h", "5m"), (6.0, "6h", "30m")]),
            (burns[1], "ticket", [(3.0, "1d", "2h"), (1.0, "3d", "6h")]),
        ] {
            assert_eq!(alert["labels"]["severity"].as_str(), Some(severity));
            let e = expr(alert);
            for (factor, long, short) in pairs {
                let threshold: f64 = ((factor * budget) * 1e9_f64).round() / 1e9;
                for window in [long, short] {
                    let want = format!("heartbeat_window=\"{window}\"}} > {threshold}");
                    assert!(e.contains(&want), "{want} in {e}");
                }
            }
        }
    }
}

#[test]
fn exactly_one_watchdog_always_fires() {
    let rules = prometheus_rules(&example());
    let watchdogs: Vec<&Yaml> = rules
        .iter()
        .filter(|r| r["alert"].as_str() == Some("HeartbeatWatchdog"))
        .collect();
    assert_eq!(watchdogs.len(), 1);
    assert_eq!(expr(watchdogs[0]), "vector(1)");
    assert!(watchdogs[0]["for"].is_null());
}

#[test]
fn an_empty_rule_file_still_gets_the_watchdog() {
    let rules = prometheus_rules(&"".parse().unwrap());
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["alert"].as_str(), Some("HeartbeatWatchdog"));
}

#[test]
fn the_service_label_is_configurable() {
    let mut file = example();
    file.generate.prometheus.service_label = "service_name".to_owned();
    file.generate.prometheus.instance_label = "service_instance_id".to_owned();
    let text = output(&file, Engine::Prometheus);
    assert!(text.contains("service_name=\"messenger-api\""));
    assert!(text.contains("on (service_name, service_instance_id, heartbeat_emitter)"));
    assert!(!text.contains("job"), "{text}");
    assert!(!text.contains("instance,"), "{text}");
}

#[test]
fn label_values_are_quoted_as_promql_strings() {
    let text = r#"
[[deadman]]
name = "odd"
service = 'say "hi" \ there'
window = "1m"
min_beats = 1
"#;
    let file: RuleFile = text.parse().unwrap();
    let out = output(&file, Engine::Prometheus);
    assert!(out.contains(r#"job="say \"hi\" \\ there""#), "{out}");
    yaml(&out);
}

#[test]
fn template_braces_in_names_stay_literal_in_annotations() {
    let text = r#"
[[deadman]]
name = "odd"
service = "{{ $value }}"
window = "1m"
min_beats = 1
"#;
    let file: RuleFile = text.parse().unwrap();
    let out = output(&file, Engine::Prometheus);
    assert!(
        out.contains(r#"{{ \"{{\" }} $value }}: fewer than 1 beats"#),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// Every engine
// ---------------------------------------------------------------------------------------------

#[test]
fn output_starts_with_a_header_naming_the_rule_file() {
    let file = example();
    for engine in Engine::ALL {
        let mut out = generate(&file, engine, "deploy/heartbeat.toml").unwrap();
        if engine == Engine::Grafana {
            // JSON has no comments: the header is the dashboard's description.
            let dashboard: Json = serde_json::from_str(&out).unwrap();
            out = format!("# {}", dashboard["description"].as_str().unwrap());
        }
        let first = out.lines().next().unwrap();
        assert!(
            first.starts_with("# Generated by heartbeat-watch"),
            "{first}"
        );
        assert!(first.contains("deploy/heartbeat.toml"), "{first}");
        assert!(first.contains(&format!("rules {engine}")), "{first}");
    }
}

#[test]
fn output_is_deterministic_and_independent_of_rule_order() {
    let file = example();
    let mut reversed = example();
    reversed.deadman.reverse();
    reversed.outcome.reverse();
    for engine in Engine::ALL {
        let once = output(&file, engine);
        assert_eq!(once, output(&file, engine), "{engine}");
        assert_eq!(once, output(&reversed, engine), "{engine}");
    }
}

#[test]
fn every_output_parses() {
    let file = example();
    yaml(&output(&file, Engine::Prometheus));
    yaml(&output(&file, Engine::Alertmanager));
    hcl(&output(&file, Engine::Datadog));
    hcl(&output(&file, Engine::CloudWatch));
    serde_json::from_str::<Json>(&output(&file, Engine::Grafana)).unwrap();
}

#[test]
fn with_the_grafana_url_every_alert_links_to_its_panel() {
    let mut file = example();
    // Without a URL, no link.
    assert!(!output(&file, Engine::Prometheus).contains("dashboard:"));
    file.generate.grafana.url = Some("https://grafana.example/".to_owned());
    let dashboard: Json = serde_json::from_str(&output(&file, Engine::Grafana)).unwrap();
    let panel_id = |title: &str| {
        dashboard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["title"] == title)
            .unwrap()["id"]
            .as_u64()
            .unwrap()
    };
    let rules = prometheus_rules(&file);
    let ratio = one(&rules, "HeartbeatOutcomeSuccessRatioLow", "message-send");
    assert_eq!(
        ratio["annotations"]["dashboard"].as_str().unwrap(),
        format!(
            "https://grafana.example/d/heartbeat/heartbeat?viewPanel={}",
            panel_id("message-send: message.send per minute")
        )
    );
    let dead = one(&rules, "HeartbeatDeadman", "api-pipeline");
    assert!(
        dead["annotations"]["dashboard"]
            .as_str()
            .unwrap()
            .ends_with(&format!(
                "?viewPanel={}",
                panel_id("api-pipeline: beats per 1m (want 5)")
            ))
    );
    // Every alert but the watchdog links somewhere; records never do.
    for r in &rules {
        if r["alert"]
            .as_str()
            .is_some_and(|a| a != "HeartbeatWatchdog")
        {
            assert!(r["annotations"]["dashboard"].is_string(), "{r:?}");
        }
        if r["record"].is_string() {
            assert!(r["annotations"].is_null(), "{r:?}");
        }
    }
    let err = "[generate.grafana]\nurl = \"grafana.example\"\n"
        .parse::<RuleFile>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("grafana.example"), "{err}");
}

#[test]
fn the_grafana_dashboard_has_the_panels_of_every_rule_and_sla() {
    let file = example();
    let dashboard: Json = serde_json::from_str(&output(&file, Engine::Grafana)).unwrap();
    assert_eq!(dashboard["uid"], "heartbeat");
    let panels = dashboard["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for rule in &file.outcome {
        for suffix in [
            format!("{}: {} per minute", rule.name, rule.outcome),
            format!("{}: success ratio", rule.name),
            format!(
                "{}: failures by tenants ({})",
                rule.name,
                DisplayDuration(rule.window)
            ),
        ] {
            assert!(titles.contains(&suffix.as_str()), "{suffix} in {titles:?}");
        }
    }
    for rule in &file.deadman {
        assert!(
            titles
                .iter()
                .any(|t| t.starts_with(&format!("{}: beats per", rule.name))),
            "{titles:?}"
        );
    }
    for sla in &file.sla {
        assert!(
            titles
                .iter()
                .any(|t| t.starts_with(&format!("SLA {}: burn rate", sla.name))),
            "{titles:?}"
        );
    }
    // Ids are unique and panels never overlap on the grid.
    let mut ids: Vec<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), panels.len());
    let mut cells = std::collections::HashSet::new();
    for p in panels {
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24, "{p}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "panel {} overlaps at {cx},{cy}",
                    p["title"]
                );
            }
        }
    }
    // The success-ratio panel draws the rule's floor; deploys and firing alerts are annotations.
    let ratio = panels
        .iter()
        .find(|p| p["title"] == "message-send: success ratio")
        .unwrap();
    assert_eq!(
        ratio["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"],
        0.95
    );
    let annotations: Vec<&str> = dashboard["annotations"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(annotations, ["Deploys", "Firing"]);
}

// ---------------------------------------------------------------------------------------------
// Alertmanager
// ---------------------------------------------------------------------------------------------

#[test]
fn alertmanager_sends_the_watchdog_first_to_the_external_channel() {
    let file = example();
    let settings = &file.generate.alertmanager;
    let doc = yaml(&output(&file, Engine::Alertmanager));
    let first = &doc["route"]["routes"][0];
    assert_eq!(
        first["matchers"][0].as_str(),
        Some("alertname=\"HeartbeatWatchdog\"")
    );
    // Delivered every interval: flushed every quarter interval (15s of 1m), due half a flush
    // before the interval (52s500ms), so no flush races the repeat check (with both equal,
    // the watchdog arrives every second interval).
    assert_eq!(settings.watchdog_interval.as_secs(), 60);
    assert_eq!(first["group_interval"].as_str(), Some("15s"));
    assert_eq!(first["repeat_interval"].as_str(), Some("52s500ms"));
    let receiver = first["receiver"].as_str().unwrap();
    let receivers = doc["receivers"].as_sequence().unwrap();
    let url_of = |name: &str| {
        receivers
            .iter()
            .find(|r| r["name"].as_str() == Some(name))
            .map(|r| r["webhook_configs"][0]["url"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(url_of(receiver), settings.watchdog_url.clone().unwrap());

    // Pages and tickets go to their own webhooks.
    let routes = doc["route"]["routes"].as_sequence().unwrap();
    for (severity, url) in [
        ("page", settings.page_url.clone().unwrap()),
        ("ticket", settings.ticket_url.clone().unwrap()),
    ] {
        let route = routes
            .iter()
            .find(|r| r["matchers"][0].as_str() == Some(&format!("severity=\"{severity}\"")))
            .unwrap();
        assert_eq!(url_of(route["receiver"].as_str().unwrap()), url);
    }
}

#[test]
fn pages_are_not_resolved_by_alertmanager_unless_asked() {
    // A stopped Prometheus makes Alertmanager resolve every open alert at its endsAt: by
    // default pages stay open for a person to resolve; tickets resolve.
    let mut file = example();
    let resolved = |file: &RuleFile, receiver: &str| {
        let doc = yaml(&output(file, Engine::Alertmanager));
        doc["receivers"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|r| r["name"].as_str() == Some(receiver))
            .unwrap()["webhook_configs"][0]["send_resolved"]
            .as_bool()
            .unwrap()
    };
    assert!(!resolved(&file, "heartbeat-page"));
    assert!(resolved(&file, "heartbeat-ticket"));
    assert!(!resolved(&file, "heartbeat-watchdog"));
    file.generate.alertmanager.page_send_resolved = true;
    file.generate.alertmanager.ticket_send_resolved = false;
    assert!(resolved(&file, "heartbeat-page"));
    assert!(!resolved(&file, "heartbeat-ticket"));
    let err = "[generate.alertmanager]\npage_send_resolved = \"yes\"\n"
        .parse::<RuleFile>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("page_send_resolved"), "{err}");
}

#[test]
fn alertmanager_needs_the_watchdog_url() {
    let mut file = example();
    file.generate.alertmanager.watchdog_url = None;
    let error = generate(&file, Engine::Alertmanager, "rules.toml").unwrap_err();
    assert!(matches!(error, GenerateError::MissingSetting { .. }));
    assert_eq!(
        error.to_string(),
        "alertmanager: set generate.alertmanager.watchdog_url in the rule file (the external \
         dead-man channel that receives the always-firing watchdog)"
    );
}

#[test]
fn tickets_default_to_the_page_webhook() {
    let mut file = example();
    file.generate.alertmanager.ticket_url = None;
    let doc = yaml(&output(&file, Engine::Alertmanager));
    let receivers = doc["receivers"].as_sequence().unwrap();
    let urls: Vec<&str> = receivers
        .iter()
        .map(|r| r["webhook_configs"][0]["url"].as_str().unwrap())
        .collect();
    let page = file.generate.alertmanager.page_url.as_deref().unwrap();
    assert_eq!(urls.iter().filter(|url| **url == page).count(), 2);
}

// ---------------------------------------------------------------------------------------------
// Datadog
// ---------------------------------------------------------------------------------------------

fn monitors(file: &RuleFile) -> serde_json::Map<String, Json> {
    let doc = hcl(&output(file, Engine::Datadog));
    doc["resource"]["datadog_monitor"]
        .as_object()
        .unwrap()
        .clone()
}

fn tagged<'a>(monitors: &'a serde_json::Map<String, Json>, rule: &str) -> Vec<&'a Json> {
    let tag = format!("heartbeat_rule:{rule}");
    monitors
        .values()
        .filter(|m| m["tags"].as_array().unwrap().iter().any(|t| t == &tag))
        .collect()
}

#[test]
fn datadog_dead_man_pages_through_a_composite_that_respects_stops() {
    let file = example();
    let monitors = monitors(&file);
    for rule in &file.deadman {
        let found = tagged(&monitors, &rule.name);
        assert_eq!(found.len(), 3, "{}", rule.name);
        let beats = found
            .iter()
            .find(|m| m["query"].as_str().unwrap().contains("heartbeat.beats"))
            .unwrap();
        let q = beats["query"].as_str().unwrap();
        assert!(q.contains(&format!("service:{}", rule.service)), "{q}");
        assert!(q.contains("default_zero("), "{q}");
        assert_eq!(beats["notify_no_data"], Json::Bool(true));
        let stopped = found
            .iter()
            .find(|m| {
                m["query"]
                    .as_str()
                    .unwrap()
                    .contains("heartbeat.emitter.status")
            })
            .unwrap();
        assert!(stopped["query"].as_str().unwrap().ends_with(">= 2"));
        let composite = found.iter().find(|m| m["type"] == "composite").unwrap();
        let q = composite["query"].as_str().unwrap();
        assert!(q.contains("&& !"), "{q}");
        // Only the composite notifies.
        for handle in &file.generate.datadog.page_notify {
            assert!(
                composite["message"]
                    .as_str()
                    .unwrap()
                    .contains(handle.as_str())
            );
            assert!(!beats["message"].as_str().unwrap().contains(handle.as_str()));
        }
    }
}

#[test]
fn datadog_outcome_rules_become_ratio_rate_and_anomaly_monitors() {
    let file = example();
    let monitors = monitors(&file);
    for rule in &file.outcome {
        let found = tagged(&monitors, &rule.name);
        let queries: Vec<&str> = found.iter().map(|m| m["query"].as_str().unwrap()).collect();
        let expected = usize::from(rule.min_success_ratio.is_some())
            + usize::from(rule.min_rate_per_minute.is_some())
            + usize::from(rule.anomaly.is_some())
            + usize::from(rule.on_no_data == heartbeat_watch::OnNoData::Breach);
        assert_eq!(found.len(), expected, "{queries:?}");
        for q in &queries {
            assert!(
                q.contains(&format!("heartbeat.outcome:{}", rule.outcome)),
                "{q}"
            );
            for (key, value) in &rule.filters {
                assert!(q.contains(&format!("{key}:{value}")), "{q}");
            }
        }
        if let Some(floor) = rule.min_success_ratio {
            let q = queries.iter().find(|q| q.contains(" / ")).unwrap();
            assert!(q.ends_with(&format!("< {floor}")), "{q}");
            assert_eq!(q.matches(".as_count()").count(), 2, "{q}");
        }
        if let Some(anomaly) = &rule.anomaly {
            let monitor = found
                .iter()
                .find(|m| m["query"].as_str().unwrap().contains("anomalies("))
                .unwrap();
            let q = monitor["query"].as_str().unwrap();
            assert!(q.contains("'agile'"), "{q}");
            assert!(q.contains("direction='below'"), "{q}");
            assert!(q.contains(&format!(", {}, ", anomaly.sensitivity)), "{q}");
            let season = match anomaly.season.as_secs() {
                86_400 => "daily",
                604_800 => "weekly",
                _ => "hourly",
            };
            assert!(q.contains(&format!("seasonality='{season}'")), "{q}");
            let windows = &monitor["monitor_threshold_windows"];
            assert!(q.contains(&format!(
                "alert_window='{}'",
                windows["trigger_window"].as_str().unwrap()
            )));
        }
    }
}

#[test]
fn datadog_slas_become_monitor_slos_with_the_workbook_burn_rate_monitors() {
    let file = example();
    let doc = hcl(&output(&file, Engine::Datadog));
    let slos = doc["resource"]["datadog_service_level_objective"]
        .as_object()
        .unwrap();
    let monitors = monitors(&file);
    for sla in &file.sla {
        let id = format!("heartbeat_sla_{}", sla.name.replace('-', "_"));
        let slo = &slos[&id];
        assert_eq!(slo["type"], "monitor");
        assert_eq!(slo["thresholds"]["timeframe"], "30d");
        let target = slo["thresholds"]["target"].as_f64().unwrap();
        assert!((target - sla.objective * 100.0).abs() < 1e-9, "{target}");
        // Every signal is backed by a monitor that alerts on silence.
        let ids = slo["monitor_ids"].to_string();
        for signal in &sla.signals {
            let backed = file.deadman.iter().any(|r| &r.name == signal)
                && ids.contains(&format!(
                    "heartbeat_deadman_{}_beats",
                    signal.replace('-', "_")
                ))
                || ids.contains(&format!(
                    "heartbeat_outcome_{}_no_data",
                    signal.replace('-', "_")
                ));
            assert!(backed, "{signal} in {ids}");
        }
        let burns: Vec<&Json> = monitors
            .values()
            .filter(|m| m["type"] == "slo alert")
            .filter(|m| {
                m["tags"]
                    .to_string()
                    .contains(&format!("heartbeat_sla:{}", sla.name))
            })
            .collect();
        assert_eq!(burns.len(), 4);
        for (factor, long, short, priority) in [
            (14.4, "1h", "5m", 1),
            (6.0, "6h", "30m", 1),
            (3.0, "1d", "2h", 3),
            (1.0, "3d", "6h", 3),
        ] {
            let q = format!(".long_window(\"{long}\").short_window(\"{short}\") > {factor}");
            let monitor = burns
                .iter()
                .find(|m| m["query"].as_str().unwrap().ends_with(&q))
                .unwrap_or_else(|| panic!("{q} in {burns:?}"));
            assert!(monitor["query"].as_str().unwrap().starts_with(&format!(
                "burn_rate(\"${{datadog_service_level_objective.{id}.id}}\").over(\"30d\")"
            )));
            assert_eq!(monitor["priority"], priority);
        }
    }
}

#[test]
fn datadog_refuses_a_season_it_has_no_model_for() {
    let text = r#"
[[outcome]]
name = "send"
outcome = "message.send"
window = "5m"
anomaly = { season = "12h", min_history = "1d" }
"#;
    let file: RuleFile = text.parse().unwrap();
    let error = generate(&file, Engine::Datadog, "rules.toml").unwrap_err();
    assert_eq!(
        error.to_string(),
        "datadog: outcome rule \"send\": anomaly.season 12h is not supported; use 1h, 1d or 7d \
         (hourly, daily, weekly)"
    );
    // The other engines can.
    output(&file, Engine::Prometheus);
    output(&file, Engine::CloudWatch);
}

// ---------------------------------------------------------------------------------------------
// CloudWatch
// ---------------------------------------------------------------------------------------------

fn alarms(file: &RuleFile) -> serde_json::Map<String, Json> {
    let doc = hcl(&output(file, Engine::CloudWatch));
    doc["resource"]["aws_cloudwatch_metric_alarm"]
        .as_object()
        .unwrap()
        .clone()
}

fn returned(alarm: &Json) -> Vec<&Json> {
    alarm["metric_query"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["return_data"] == Json::Bool(true))
        .collect()
}

#[test]
fn cloudwatch_dead_man_alarms_treat_missing_data_as_breaching() {
    let file = example();
    let alarms = alarms(&file);
    for rule in &file.deadman {
        let alarm = alarms
            .values()
            .find(|a| a["tags"]["heartbeat_rule"] == rule.name.as_str())
            .unwrap();
        assert_eq!(alarm["treat_missing_data"], "breaching");
        assert_eq!(alarm["comparison_operator"], "LessThanThreshold");
        assert_eq!(alarm["threshold"], rule.min_beats);
        assert_eq!(alarm["evaluation_periods"], rule.fire_after);
        assert_eq!(alarm["datapoints_to_alarm"], rule.fire_after);
        let queries = alarm["metric_query"].as_array().unwrap();
        let beats = queries
            .iter()
            .find(|q| q["metric"]["metric_name"] == "heartbeat.beats")
            .unwrap();
        assert_eq!(beats["metric"]["stat"], "Sum");
        assert_eq!(beats["metric"]["period"], rule.window.as_secs());
        assert_eq!(
            beats["metric"]["dimensions"]["service.name"],
            rule.service.as_str()
        );
        let out = returned(alarm);
        assert_eq!(out.len(), 1);
        let e = out[0]["expression"].as_str().unwrap();
        assert!(e.contains("== 2"), "{e}");
    }
}

#[test]
fn cloudwatch_anomaly_alarms_use_the_lower_band() {
    let file = example();
    let alarms = alarms(&file);
    for rule in file.outcome.iter().filter(|r| r.anomaly.is_some()) {
        let alarm = alarms
            .values()
            .find(|a| {
                a["tags"]["heartbeat_rule"] == rule.name.as_str()
                    && a["comparison_operator"] == "LessThanLowerThreshold"
            })
            .unwrap();
        let band = alarm["threshold_metric_id"].as_str().unwrap();
        let out = returned(alarm);
        assert_eq!(out.len(), 2, "the metric and its band");
        let band_query = out.iter().find(|q| q["id"] == band).unwrap();
        assert!(
            band_query["expression"]
                .as_str()
                .unwrap()
                .starts_with("ANOMALY_DETECTION_BAND(")
        );
        assert!(alarm.get("threshold").is_none());
    }
}

#[test]
fn cloudwatch_ratio_alarms_divide_successes_by_all() {
    let file = example();
    let alarms = alarms(&file);
    for rule in &file.outcome {
        let Some(floor) = rule.min_success_ratio else {
            continue;
        };
        let alarm = alarms
            .values()
            .find(|a| {
                a["tags"]["heartbeat_rule"] == rule.name.as_str()
                    && returned(a)[0]["expression"]
                        .as_str()
                        .is_some_and(|e| e.contains('/') && e.contains("failure"))
            })
            .unwrap();
        assert_eq!(alarm["threshold"].as_f64(), Some(floor));
        assert_eq!(alarm["treat_missing_data"], "notBreaching");
        for query in alarm["metric_query"].as_array().unwrap() {
            if query["metric"].is_object() {
                let dims = &query["metric"]["dimensions"];
                assert_eq!(dims["heartbeat.outcome"], rule.outcome.as_str());
                for (key, value) in &rule.filters {
                    assert_eq!(dims[key], value.as_str());
                }
            }
        }
    }
}

#[test]
fn cloudwatch_lists_the_dimension_sets_the_exporter_must_declare() {
    let out = output(&example(), Engine::CloudWatch);
    assert!(out.contains("metric_declarations:"));
    assert!(out.contains("[heartbeat.emitter, service.name]"));
    assert!(out.contains(r#"["^heartbeat\\.outcomes$"]"#));
}

#[test]
fn cloudwatch_says_each_sla_is_not_expressible_rather_than_leaving_it_out() {
    let file = example();
    let text = output(&file, Engine::CloudWatch);
    for sla in &file.sla {
        assert!(
            text.contains(&format!(
                "# SLA {}: not expressible in CloudWatch alarms",
                sla.name
            )),
            "{}",
            sla.name
        );
    }
}

#[test]
fn cloudwatch_refuses_a_period_it_cannot_evaluate() {
    let text = r#"
[[deadman]]
name = "odd"
service = "api"
window = "1m30s"
min_beats = 5
"#;
    let file: RuleFile = text.parse().unwrap();
    let error = generate(&file, Engine::CloudWatch, "rules.toml").unwrap_err();
    assert_eq!(
        error.to_string(),
        "cloudwatch: rule \"odd\": window 1m30s is not supported; use 10s, 30s or whole minutes"
    );
}

// ---------------------------------------------------------------------------------------------
// Runbooks
// ---------------------------------------------------------------------------------------------

const DEADMAN_RUNBOOK: &str = "https://runbooks.example/heartbeat/api-pipeline?from=alert&v=2";
const DEADMAN_SOP: &str = "1. Check the api pods: kubectl get pods -l app=api.\n\
                           2. If they run, check the collector's export errors ({{ not a template }}).\n\
                           3. Page the platform on-call if the collector is down.";
const OUTCOME_RUNBOOK: &str = "https://runbooks.example/heartbeat/message-send";
const OUTCOME_SOP: &str = "Roll back the last deploy of messenger-api if it is the cause.";

/// A dead-man and an outcome rule (ratio, rate and anomaly) with a runbook and an SOP, and a
/// dead-man rule with neither; `runbooks` false leaves both out everywhere.
fn runbook_rules(runbooks: bool, deadman_sop: &str) -> RuleFile {
    let (deadman, outcome) = if runbooks {
        (
            format!("runbook_url = {DEADMAN_RUNBOOK:?}\nsop = {deadman_sop:?}\n"),
            format!("runbook_url = {OUTCOME_RUNBOOK:?}\nsop = {OUTCOME_SOP:?}\n"),
        )
    } else {
        (String::new(), String::new())
    };
    format!(
        r#"
[[deadman]]
name = "api-pipeline"
service = "messenger-api"
emitter = "api"
window = "1m"
min_beats = 5
{deadman}
[[deadman]]
name = "plain"
service = "worker"
window = "1m"
min_beats = 1

[[outcome]]
name = "message-send"
outcome = "message.send"
service = "messenger-api"
window = "5m"
min_success_ratio = 0.95
min_rate_per_minute = 10.0
anomaly = {{ season = "1d", min_history = "3d" }}
{outcome}"#
    )
    .parse()
    .unwrap()
}

#[test]
fn prometheus_alerts_carry_the_runbook_and_sop_annotations() {
    let rules = prometheus_rules(&runbook_rules(true, DEADMAN_SOP));
    for (rule, alerts, runbook, sop) in [
        (
            "api-pipeline",
            &[
                "HeartbeatDeadman",
                "HeartbeatDeadmanFrozen",
                "HeartbeatDeadmanFailing",
            ][..],
            DEADMAN_RUNBOOK,
            // The braces stay literal: Prometheus expands annotations as Go templates.
            DEADMAN_SOP.replace("{{", "{{ \"{{\" }}"),
        ),
        (
            "message-send",
            &[
                "HeartbeatOutcomeSuccessRatioLow",
                "HeartbeatOutcomeRateLow",
                "HeartbeatOutcomeAnomaly",
            ][..],
            OUTCOME_RUNBOOK,
            OUTCOME_SOP.to_owned(),
        ),
    ] {
        for alert in alerts {
            let annotations = &one(&rules, alert, rule)["annotations"];
            assert_eq!(
                annotations["runbook_url"].as_str(),
                Some(runbook),
                "{alert}"
            );
            assert_eq!(annotations["sop"].as_str(), Some(sop.as_str()), "{alert}");
        }
    }
    for alert in [
        "HeartbeatDeadman",
        "HeartbeatDeadmanFrozen",
        "HeartbeatDeadmanFailing",
    ] {
        let annotations = &one(&rules, alert, "plain")["annotations"];
        assert!(annotations["runbook_url"].is_null(), "{alert}");
        assert!(annotations["sop"].is_null(), "{alert}");
    }
    for rule in rules
        .iter()
        .filter(|r| r["record"].is_string() || r["alert"].as_str() == Some("HeartbeatWatchdog"))
    {
        assert!(rule["annotations"]["runbook_url"].is_null(), "{rule:?}");
    }
}

#[test]
fn datadog_notifying_monitors_carry_the_runbook_and_sop() {
    let monitors = monitors(&runbook_rules(true, DEADMAN_SOP));
    let message = |resource: &str| monitors[resource]["message"].as_str().unwrap().to_owned();
    let composite = message("heartbeat_deadman_api_pipeline");
    assert!(
        composite.contains(&format!(
            "Heartbeat rule api-pipeline.\n\nRunbook: {DEADMAN_RUNBOOK}\n\nSOP:\n{DEADMAN_SOP}"
        )),
        "{composite}"
    );
    for suffix in ["ratio", "rate", "anomaly"] {
        let text = message(&format!("heartbeat_outcome_message_send_{suffix}"));
        assert!(
            text.contains(&format!(
                "Heartbeat rule message-send.\n\nRunbook: {OUTCOME_RUNBOOK}\n\nSOP:\n{OUTCOME_SOP}"
            )),
            "{suffix}: {text}"
        );
    }
    assert!(!message("heartbeat_deadman_plain").contains("Runbook"));
}

#[test]
fn cloudwatch_alarm_descriptions_carry_the_runbook_and_sop() {
    let alarms = alarms(&runbook_rules(true, DEADMAN_SOP));
    let description = |resource: &str| {
        alarms[resource]["alarm_description"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let deadman = description("heartbeat_deadman_api_pipeline");
    assert!(
        deadman.ends_with(&format!(
            "Heartbeat rule api-pipeline. Runbook: {DEADMAN_RUNBOOK} SOP: {DEADMAN_SOP}"
        )),
        "{deadman}"
    );
    for suffix in ["ratio", "rate", "anomaly"] {
        let text = description(&format!("heartbeat_outcome_message_send_{suffix}"));
        assert!(
            text.ends_with(&format!(
                "Heartbeat rule message-send. Runbook: {OUTCOME_RUNBOOK} SOP: {OUTCOME_SOP}"
            )),
            "{suffix}: {text}"
        );
    }
    assert!(!description("heartbeat_deadman_plain").contains("Runbook"));
}

#[test]
fn cloudwatch_cuts_a_long_sop_to_1024_characters_and_keeps_the_link() {
    // The longest SOP a rule file takes: 2,000 bytes in 20 lines.
    let sop = vec!["Step: check the pods, the collector and the last deploy, in this order, then roll back, and say so in the incident channel."[..99].to_owned(); 20].join("\n");
    assert!(sop.len() <= 2000, "{}", sop.len());
    let alarms = alarms(&runbook_rules(true, &sop));
    let deadman = alarms["heartbeat_deadman_api_pipeline"]["alarm_description"]
        .as_str()
        .unwrap();
    assert_eq!(deadman.chars().count(), 1024);
    assert!(deadman.contains(&format!(" Runbook: {DEADMAN_RUNBOOK} SOP: Step: check")));
    assert!(deadman.ends_with('…'), "{deadman}");
    // The rule with a short SOP is not cut.
    let outcome = alarms["heartbeat_outcome_message_send_ratio"]["alarm_description"]
        .as_str()
        .unwrap();
    assert!(outcome.ends_with(OUTCOME_SOP), "{outcome}");
}

/// With the runbook lines taken out again, the output is what a rule without them gives.
#[test]
fn runbooks_add_only_their_own_lines() {
    let with = |engine| output(&runbook_rules(true, DEADMAN_SOP), engine);
    let without = |engine| output(&runbook_rules(false, DEADMAN_SOP), engine);

    let prometheus: String = with(Engine::Prometheus)
        .lines()
        .filter(|line| {
            !line.starts_with("          runbook_url: ") && !line.starts_with("          sop: ")
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(prometheus, without(Engine::Prometheus));

    let json = |text: &str| {
        serde_json::to_string(text)
            .unwrap()
            .trim_matches('"')
            .to_owned()
    };
    let datadog = with(Engine::Datadog)
        .replace(
            &json(&format!(
                "\n\nRunbook: {DEADMAN_RUNBOOK}\n\nSOP:\n{DEADMAN_SOP}"
            )),
            "",
        )
        .replace(
            &json(&format!(
                "\n\nRunbook: {OUTCOME_RUNBOOK}\n\nSOP:\n{OUTCOME_SOP}"
            )),
            "",
        );
    assert_eq!(datadog, without(Engine::Datadog));

    let cloudwatch = with(Engine::CloudWatch)
        .replace(
            &json(&format!(" Runbook: {DEADMAN_RUNBOOK} SOP: {DEADMAN_SOP}")),
            "",
        )
        .replace(
            &json(&format!(" Runbook: {OUTCOME_RUNBOOK} SOP: {OUTCOME_SOP}")),
            "",
        );
    assert_eq!(cloudwatch, without(Engine::CloudWatch));
}

// ---------------------------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------------------------

#[test]
fn the_cli_prints_what_the_library_generates() {
    for engine in Engine::ALL {
        let out = Command::new(env!("CARGO_BIN_EXE_heartbeat-watch"))
            .args(["rules", engine.name(), "--rules", EXAMPLE])
            .output()
            .unwrap();
        assert!(out.status.success(), "{engine}: {out:?}");
        let expected = generate(&example(), engine, EXAMPLE).unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected, "{engine}");
    }
}

#[test]
fn the_cli_names_the_problem_in_a_bad_rule_file() {
    let dir = std::env::temp_dir().join(format!("heartbeat-rules-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[[deadman]]\nname = \"api\"\nservice = \"api\"\nwindow = \"1m\"\nmin_beats = 0\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_heartbeat-watch"))
        .args(["rules", "prometheus", "--rules"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!("{}:5:13: ", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("got 0"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}
