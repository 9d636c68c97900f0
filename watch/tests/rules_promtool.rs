//! The generated Prometheus rules and Alertmanager configuration, checked by the real tools.
//!
//! Rules are generated from `watch/examples/rules.toml` into a temporary directory beside the
//! promtool unit tests of `tests/promtool/` (input series in promtool's notation, expected
//! alerts), then `promtool check rules` and `promtool test rules` run on them; the Alertmanager
//! configuration goes through `amtool check-config` and `amtool config routes test`.
//!
//! The tools come from the Debian packages `prometheus` (promtool) and `prometheus-alertmanager`
//! (amtool), which `scripts/test.sh` installs. `HEARTBEAT_PROMTOOL` and `HEARTBEAT_AMTOOL` name
//! other binaries; without either the tests say so and pass, except under `CI=true`, where a
//! missing tool fails them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use heartbeat_watch::{Engine, RuleFile, generate};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rules.toml");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/promtool");
/// The name the promtool unit tests load their rules from.
const RULES_FILE: &str = "prometheus.rules.yml";

/// The tool named by `env` or found on PATH, if it runs.
fn tool(env: &str, name: &str) -> Option<PathBuf> {
    let path = std::env::var_os(env).map_or_else(|| PathBuf::from(name), PathBuf::from);
    let runs = Command::new(&path)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if runs {
        Some(path)
    } else {
        let message = format!(
            "{name} not found (set {env} or install the Debian package {}; scripts/test.sh does)",
            if name == "promtool" {
                "prometheus"
            } else {
                "prometheus-alertmanager"
            }
        );
        // CI installs the tools: there, a missing one is a failure, never a skip.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: {message}"
        );
        eprintln!("SKIPPED: {message}");
        None
    }
}

/// A fresh directory for one test, holding the generated file and the fixtures.
fn workdir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heartbeat-rules-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn generated(engine: Engine) -> String {
    let rules = RuleFile::from_path(EXAMPLE).unwrap();
    generate(&rules, engine, "watch/examples/rules.toml").unwrap()
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

/// Generates the Prometheus rules into `dir` and copies one fixture beside them.
fn prepare(dir: &Path, fixture: &str) -> PathBuf {
    std::fs::write(dir.join(RULES_FILE), generated(Engine::Prometheus)).unwrap();
    let test = dir.join(fixture);
    std::fs::copy(Path::new(FIXTURES).join(fixture), &test).unwrap();
    test
}

fn promtool_test(fixture: &str) {
    let Some(promtool) = tool("HEARTBEAT_PROMTOOL", "promtool") else {
        return;
    };
    let dir = workdir(fixture.trim_end_matches(".test.yml"));
    let test = prepare(&dir, fixture);
    let out = run(Command::new(promtool).arg("test").arg("rules").arg(&test));
    assert!(out.contains("SUCCESS"), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn generated_rules_pass_promtool_check_rules() {
    let Some(promtool) = tool("HEARTBEAT_PROMTOOL", "promtool") else {
        return;
    };
    let dir = workdir("check");
    let rules = dir.join(RULES_FILE);
    std::fs::write(&rules, generated(Engine::Prometheus)).unwrap();
    let out = run(Command::new(promtool).arg("check").arg("rules").arg(&rules));
    assert!(out.contains("SUCCESS"), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The example rules with a runbook link and an SOP on every dead-man and outcome rule: the
/// `runbook_url` and `sop` annotations (the SOP with template braces, which must stay literal)
/// still pass `promtool check rules`.
#[test]
fn generated_rules_with_runbooks_pass_promtool_check_rules() {
    let Some(promtool) = tool("HEARTBEAT_PROMTOOL", "promtool") else {
        return;
    };
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    let runbook = "runbook_url = \"https://runbooks.example/heartbeat?rule=x&from=alert%20page\"\n\
                   sop = \"\"\"\n1. Check the pods: {{ $labels.job }} is not a template here.\n\
                   2. Roll back the last deploy.\"\"\"\n";
    let mut with_runbooks = String::new();
    for line in example.lines() {
        with_runbooks.push_str(line);
        with_runbooks.push('\n');
        if line == "[[deadman]]" || line == "[[outcome]]" {
            with_runbooks.push_str(runbook);
        }
    }
    let rules: RuleFile = with_runbooks.parse().unwrap();
    let yaml = generate(&rules, Engine::Prometheus, "rules.toml").unwrap();
    // Every alert of a rule carries both; the watchdog and the SLAs' burn-rate alerts belong
    // to no rule (an SLA has no runbook of its own).
    let alerts = yaml.matches("\n      - alert: ").count()
        - 1
        - yaml
            .matches("\n      - alert: HeartbeatSLOBurnRate\n")
            .count();
    assert_eq!(
        yaml.matches("\n      - alert: HeartbeatSLOBurnRate\n")
            .count(),
        2 * rules.sla.len()
    );
    assert_eq!(yaml.matches("\n          runbook_url: ").count(), alerts);
    assert_eq!(yaml.matches("\n          sop: ").count(), alerts);
    let dir = workdir("check-runbooks");
    let path = dir.join(RULES_FILE);
    std::fs::write(&path, yaml).unwrap();
    let out = run(Command::new(promtool).arg("check").arg("rules").arg(&path));
    assert!(out.contains("SUCCESS"), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// healthy, emitter dead (after fire_after), counter frozen, counter reset, restart as a new
/// instance, intentional stop (and the page once stop_lookback has passed), intentional stop
/// inside a living process, failing gate, per-service rule, the watchdog always firing.
#[test]
fn deadman_rules_pass_their_promtool_unit_tests() {
    promtool_test("deadman.test.yml");
}

/// healthy, outcome drop (success ratio), rate drop, counter reset, the `where` filter.
#[test]
fn outcome_rules_pass_their_promtool_unit_tests() {
    promtool_test("outcomes.test.yml");
}

/// a drop against a full seasonal baseline, no judgement before min_history.
/// replies stop (frozen, then gone), a rule whose series never existed.
#[test]
fn no_data_rules_pass_their_promtool_unit_tests() {
    promtool_test("nodata.test.yml");
}

#[test]
fn anomaly_rules_pass_their_promtool_unit_tests() {
    promtool_test("anomaly.test.yml");
}

#[test]
fn every_fixture_is_run_by_a_test() {
    let mut fixtures: Vec<String> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".test.yml"))
        .collect();
    fixtures.sort();
    assert_eq!(
        fixtures,
        [
            "anomaly.test.yml",
            "deadman.test.yml",
            "nodata.test.yml",
            "outcomes.test.yml"
        ]
    );
}

#[test]
fn generated_alertmanager_config_passes_amtool() {
    let Some(amtool) = tool("HEARTBEAT_AMTOOL", "amtool") else {
        return;
    };
    let dir = workdir("amtool");
    let config = dir.join("alertmanager.yml");
    std::fs::write(&config, generated(Engine::Alertmanager)).unwrap();
    let out = run(Command::new(&amtool).arg("check-config").arg(&config));
    assert!(out.contains("SUCCESS"), "{out}");

    // Where each kind of alert goes: the watchdog to the external channel, pages and tickets
    // to theirs, whatever else they carry.
    let route = |labels: &[&str]| {
        let mut command = Command::new(&amtool);
        command
            .args(["config", "routes", "test"])
            .arg(format!("--config.file={}", config.display()))
            .args(labels);
        run(&mut command).trim().to_owned()
    };
    assert_eq!(
        route(&["alertname=HeartbeatWatchdog", "severity=none"]),
        "heartbeat-watchdog"
    );
    assert_eq!(
        route(&["alertname=HeartbeatWatchdog", "severity=page"]),
        "heartbeat-watchdog"
    );
    assert_eq!(
        route(&["alertname=HeartbeatDeadman", "severity=page"]),
        "heartbeat-page"
    );
    assert_eq!(
        route(&["alertname=HeartbeatDeadmanFrozen", "severity=ticket"]),
        "heartbeat-ticket"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Runs `promtool test rules` on a test file written here, beside rules generated from
/// `rule_file` (TOML) under the name the test file loads.
fn promtool_generated_test(name: &str, rule_file: &str, test: &str) {
    let Some(promtool) = tool("HEARTBEAT_PROMTOOL", "promtool") else {
        return;
    };
    let rules: RuleFile = rule_file.parse().unwrap();
    let dir = workdir(name);
    std::fs::write(
        dir.join(RULES_FILE),
        generate(&rules, Engine::Prometheus, "rules.toml").unwrap(),
    )
    .unwrap();
    let path = dir.join(format!("{name}.test.yml"));
    std::fs::write(&path, test).unwrap();
    let out = run(Command::new(promtool).arg("test").arg("rules").arg(&path));
    assert!(out.contains("SUCCESS"), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// An SLA of one outcome rule, 99 % over a 12-hour period: the workbook's windows scale by
/// 12 h / 30 d = 1/60 (1 h is 1m, 5 m is 5s, 6 h is 6m, 30 m is 30s, 1 d is 24m, 2 h is 2m,
/// 3 d is 1h12m), so promtool runs them in seconds of series at a 1 s scrape.
const SLO_RULES: &str = r#"
[[outcome]]
name = "send"
outcome = "message.send"
service = "api"
window = "10s"
min_success_ratio = 0.9
on_no_data = "ONDATA"

[[sla]]
name = "core"
signals = ["send"]
objective = 0.99

[generate.prometheus]
scrape_interval = "1s"
slo_period = "12h"
"#;

/// The burn-rate alerts firing at 3 minutes, as `(severity, long window)`.
fn burn_samples(expected: &[(&str, &str)]) -> String {
    if expected.is_empty() {
        return "        exp_samples: []\n".to_owned();
    }
    let mut out = String::from("        exp_samples:\n");
    for (severity, window) in expected {
        out.push_str(&format!(
            "          - labels: 'ALERTS{{alertname=\"HeartbeatSLOBurnRate\", alertstate=\"firing\", heartbeat_kind=\"slo\", heartbeat_sla=\"core\", heartbeat_window=\"{window}\", severity=\"{severity}\"}}'\n            value: 1\n"
        ));
    }
    out
}

/// Each burn factor fires its own pair and a burn just below it does not: the signal's alert
/// fires one evaluation in N (a steady burn of 1/N of the time down, N x the 1 % budget per
/// period... scaled: 1/N over every window). Thresholds: 14.4 % (page, 1m/5s), 6 % (page,
/// 6m/30s), 3 % (ticket, 24m/2m), 1 % (ticket, 1h12m/6m).
#[test]
fn slo_burn_rate_alerts_fire_at_their_factor_and_not_just_below() {
    let cases: [(u32, &[(&str, &str)]); 5] = [
        // 20 %: above every threshold.
        (
            5,
            &[
                ("page", "1m"),
                ("page", "6m"),
                ("ticket", "24m"),
                ("ticket", "1h12m"),
            ],
        ),
        // 12.5 %: just below 14.4x, above 6x.
        (8, &[("page", "6m"), ("ticket", "24m"), ("ticket", "1h12m")]),
        // 5 %: just below 6x, above 3x.
        (20, &[("ticket", "24m"), ("ticket", "1h12m")]),
        // 2.5 %: just below 3x, above 1x.
        (40, &[("ticket", "1h12m")]),
        // 0.5 %: below 1x.
        (200, &[]),
    ];
    let mut test =
        String::from("rule_files:\n  - prometheus.rules.yml\nevaluation_interval: 1s\ntests:\n");
    for (every, expected) in cases {
        // The signal's own alert, firing one evaluation in `every` (stale in between).
        let values: Vec<&str> = (0..=180)
            .map(|i| match i % every {
                0 => "1",
                1 => "stale",
                _ => "_",
            })
            .collect();
        test.push_str(&format!(
            "  - name: down one evaluation in {every}\n    interval: 1s\n    input_series:\n      - series: 'ALERTS{{alertname=\"HeartbeatOutcomeSuccessRatioLow\", alertstate=\"firing\", heartbeat_kind=\"outcome\", heartbeat_rule=\"send\", severity=\"page\"}}'\n        values: '{}'\n    promql_expr_test:\n      - expr: ALERTS{{alertname=\"HeartbeatSLOBurnRate\", alertstate=\"firing\"}}\n        eval_time: 3m\n{}",
            values.join(" "),
            burn_samples(expected)
        ));
    }
    promtool_generated_test("slo-burn", &SLO_RULES.replace("ONDATA", "ok"), &test);
}

/// Silence burns budget: the outcome stops arriving at 2m, its no-data alert fires, the SLA is
/// down from then on, the fast-burn page fires and the budget is overspent; before the stop the
/// SLA is whole.
#[test]
fn slo_a_total_outage_with_no_points_burns_budget() {
    let test = "rule_files:\n  - prometheus.rules.yml\nevaluation_interval: 1s\ntests:\n  - name: outcome stops arriving\n    interval: 1s\n    input_series:\n      - series: 'heartbeat_outcomes_total{job=\"api\", instance=\"a\", heartbeat_outcome=\"message.send\", heartbeat_result=\"success\"}'\n        values: '0+10x120'\n    promql_expr_test:\n      - expr: heartbeat:sla_error_budget:remaining{heartbeat_sla=\"core\"}\n        eval_time: 1m59s\n        exp_samples:\n          - labels: 'heartbeat:sla_error_budget:remaining{heartbeat_sla=\"core\"}'\n            value: 1\n      - expr: ALERTS{alertname=\"HeartbeatSLOBurnRate\", alertstate=\"firing\", severity=\"page\"}\n        eval_time: 1m59s\n        exp_samples: []\n      - expr: count(ALERTS{alertname=\"HeartbeatOutcomeNoData\", alertstate=\"firing\", heartbeat_rule=\"send\"})\n        eval_time: 3m\n        exp_samples:\n          - labels: '{}'\n            value: 1\n      - expr: ALERTS{alertname=\"HeartbeatSLOBurnRate\", alertstate=\"firing\", heartbeat_window=\"1m\"}\n        eval_time: 3m\n        exp_samples:\n          - labels: 'ALERTS{alertname=\"HeartbeatSLOBurnRate\", alertstate=\"firing\", heartbeat_kind=\"slo\", heartbeat_sla=\"core\", heartbeat_window=\"1m\", severity=\"page\"}'\n            value: 1\n      - expr: heartbeat:sla_error_budget:remaining{heartbeat_sla=\"core\"} < bool 0\n        eval_time: 3m\n        exp_samples:\n          - labels: '{heartbeat_sla=\"core\"}'\n            value: 1\n";
    promtool_generated_test("slo-outage", &SLO_RULES.replace("ONDATA", "breach"), test);
}

/// A dead-man rule with max_silence (5 s, scrape 1 s, window 20 s, 5 beats): the silent alert
/// fires once no beat arrived for 5 s (a killed process: 6 s after its last sample, the
/// silence plus one scrape), long before the window rule (15 s), and never after a graceful
/// stop.
const SILENT_RULES: &str = r#"
[[deadman]]
name = "api"
service = "api"
emitter = "api"
window = "20s"
min_beats = 5
cadence = "1s"
max_silence = "5s"

[generate.prometheus]
scrape_interval = "1s"
"#;

#[test]
fn max_silence_pages_a_killed_process_at_its_deadline_and_not_a_stopped_one() {
    let test = r#"rule_files:
  - prometheus.rules.yml
evaluation_interval: 1s
tests:
  - name: killed at 60s
    interval: 1s
    input_series:
      - series: 'heartbeat_beats_total{job="api", instance="a", heartbeat_emitter="api"}'
        values: '0+1x60 stale'
      - series: 'heartbeat_emitter_status{job="api", instance="a", heartbeat_emitter="api"}'
        values: '0x60 stale'
    promql_expr_test:
      - expr: ALERTS{alertname="HeartbeatDeadmanSilent"}
        eval_time: 1m4s
        exp_samples: []
      - expr: ALERTS{alertname="HeartbeatDeadmanSilent"}
        eval_time: 1m7s
        exp_samples:
          - labels: 'ALERTS{alertname="HeartbeatDeadmanSilent", alertstate="firing", heartbeat_emitter="api", heartbeat_kind="deadman", heartbeat_rule="api", job="api", severity="page"}'
            value: 1
      # The window rule (5 beats in 20 s) is slower: its window still holds 5 beats.
      - expr: ALERTS{alertname="HeartbeatDeadman", alertstate="firing"}
        eval_time: 1m7s
        exp_samples: []
  - name: stopped at 60s
    interval: 1s
    input_series:
      - series: 'heartbeat_beats_total{job="api", instance="a", heartbeat_emitter="api"}'
        values: '0+1x60 stale'
      - series: 'heartbeat_emitter_status{job="api", instance="a", heartbeat_emitter="api"}'
        values: '0x59 2 stale'
    promql_expr_test:
      - expr: ALERTS{alertname=~"HeartbeatDeadman.*"}
        eval_time: 1m30s
        exp_samples: []
"#;
    promtool_generated_test("silent", SILENT_RULES, test);
}

/// Every PromQL expression of the Grafana dashboard (panel targets and annotations) parses:
/// each becomes a recording rule that `promtool check rules` reads.
#[test]
fn every_grafana_dashboard_query_passes_promtool() {
    let Some(promtool) = tool("HEARTBEAT_PROMTOOL", "promtool") else {
        return;
    };
    fn collect(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(expr)) = map.get("expr") {
                    out.push(expr.clone());
                }
                map.values().for_each(|v| collect(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let dashboard: serde_json::Value = serde_json::from_str(&generated(Engine::Grafana)).unwrap();
    let mut exprs = Vec::new();
    collect(&dashboard, &mut exprs);
    assert!(exprs.len() > 20, "{exprs:?}");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::Value::String(expr.clone())
        ));
    }
    let dir = workdir("grafana");
    let path = dir.join("dashboard.rules.yml");
    std::fs::write(&path, rules).unwrap();
    let out = run(Command::new(promtool).arg("check").arg("rules").arg(&path));
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", exprs.len())),
        "{out}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
