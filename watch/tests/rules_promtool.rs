//! The generated Prometheus rules and Alertmanager configuration, checked by the real tools.
//!
//! Rules are generated from `watch/examples/rules.toml` into a temporary directory beside the
//! promtool unit tests of `tests/promtool/` (input series in promtool's notation, expected
//! alerts), then `promtool check rules` and `promtool test rules` run on them; the Alertmanager
//! configuration goes through `amtool check-config` and `amtool config routes test`.
//!
//! The tools come from the Debian packages `prometheus` (promtool) and `prometheus-alertmanager`
//! (amtool), which `scripts/test.sh` installs. `HEARTBEAT_PROMTOOL` and `HEARTBEAT_AMTOOL` name
//! other binaries; without either the tests say so and pass.
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
        eprintln!(
            "SKIPPED: {name} not found (set {env} or install the Debian package {}; \
             scripts/test.sh does)",
            if name == "promtool" {
                "prometheus"
            } else {
                "prometheus-alertmanager"
            }
        );
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
    // Every alert but the watchdog carries both.
    let alerts = yaml.matches("\n      - alert: ").count() - 1;
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
        ["anomaly.test.yml", "deadman.test.yml", "outcomes.test.yml"]
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
