//! The generated Prometheus and Alertmanager rules, proven live: a real Prometheus (Debian's
//! `prometheus`) evaluates the rules `heartbeat_watch::generate` writes at test time from the rule
//! file below, a real Alertmanager (`prometheus-alertmanager`) runs the generated configuration,
//! and webhook recorders stand in for the pager, the ticket queue and the external watchdog
//! channel. For each failure the test measures the time from the event to the webhook
//! notification and fails when it is later than the bound the rule promises (written out in
//! [`Bounds`]), then writes the results as a Markdown table to
//! `$CARGO_TARGET_TMPDIR/prometheus_live.md` (and prints it) for `docs/rules.md`.
//!
//! **The translation is the real one.** Each service is a Python process
//! (`tests/prometheus_live/emitter.py`) built on the OpenTelemetry Python SDK and its Prometheus
//! exporter (`PrometheusMetricReader`, `opentelemetry-exporter-prometheus`), scraped every second:
//! the names and labels Prometheus stores are what OpenTelemetry makes of the semantic
//! conventions, not what we wrote by hand. The test checks that they are the ones the generator
//! selects (`heartbeat_beats_total`, `heartbeat_emitter_status`, `heartbeat_outcomes_total`, the
//! `heartbeat_*` labels) before it judges any timing.
//!
//! **The label trap this avoids.** A pull exporter does not turn `service.name` into a label of
//! the heartbeat series: it goes to the separate `target_info` series (as `service_name`), and
//! `job` and `instance` come from the scrape configuration (the job's name and the target's
//! `host:port`). The generated rules find the service in `job` (`service_label`), so each service
//! is scraped by a job of its own whose `job_name` is its `service.name`. Scrape several services
//! in one job and every rule sees one service (a dead one hides among the living, one graceful
//! stop silences them all); set `service_label = "service_name"` and every rule selects nothing,
//! which reads as "all absent" for the dead-man and as "no data, no alert" for the ratios.
//!
//! Scenarios, run concurrently in one Prometheus, each with its own service and emitter:
//! the emitter SIGKILLed (`HeartbeatDeadman`); its beat counter frozen while it still serves
//! (`HeartbeatDeadmanFrozen`); a graceful stop (status 2) and silence past `stop_grace`
//! (`HeartbeatDeadman`, and not before the grace); the success ratio dropping
//! (`HeartbeatOutcomeSuccessRatioLow`) and recovering (resolved in Alertmanager, and no
//! "resolved" sent to the pager: pages are resolved by a person, `page_send_resolved = false`);
//! outcomes no longer arriving (`HeartbeatOutcomeNoData`); an SLA whose signal goes down,
//! burning its budget at 100× (`HeartbeatSLOBurnRate`, the page pair at 14.4×); and, last,
//! Prometheus itself SIGKILLed: the gap the watchdog channel sees, and the "resolved"
//! notifications Alertmanager sends for alerts still firing when their `endsAt` passes: none
//! may reach the pager, and a ticket's may not come before its `endsAt`. It also measures the
//! watchdog's inter-arrival times (median within 10 % of `watchdog_interval`, none over 1.5 ×)
//! and checks that a fresh
//! Prometheus raises nothing, not even pending, for services that beat. Every alert a scenario
//! needs must be in the generated rules.
//!
//! Needs `HEARTBEAT_PYTHON` (the venv of `scripts/test.sh`), `prometheus` (or
//! `HEARTBEAT_PROMETHEUS`) and `prometheus-alertmanager`; without them it says so and passes,
//! except under `CI=true`, where it fails. About two and a half minutes, mostly waiting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use heartbeat_watch::{Engine, RuleFile, generate};
use serde_json::Value;
use serde_yaml::Value as Yaml;
use support::{Guard, Recorder};

const EMITTER_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/prometheus_live/emitter.py"
);
const RESULTS: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/prometheus_live.md");

/// Prometheus' `scrape_interval` and `evaluation_interval`.
const SCRAPE: Duration = Duration::from_secs(1);
const EVAL: Duration = Duration::from_secs(1);
/// `--rules.alert.resend-delay`: how often Prometheus re-sends a firing alert; it sets the
/// alert's `endsAt` to 4 × max(resend delay, evaluation interval) ahead.
const RESEND_DELAY: Duration = Duration::from_secs(2);
/// Every rule's window: ten scrapes.
const WINDOW: Duration = Duration::from_secs(10);
const STOP_GRACE: Duration = Duration::from_secs(15);
const WATCHDOG_INTERVAL: Duration = Duration::from_secs(5);
/// Added to every bound: process scheduling, HTTP round trips, a scrape landing late.
const SLACK: Duration = Duration::from_secs(3);
/// The beats' cadence: 20 beats a window, `min_beats` 5.
const BEAT_MS: u32 = 500;
const OUTCOMES_PER_S: u32 = 20;
/// How long a fresh Prometheus runs on healthy services before anything breaks; every alert
/// but the watchdog must stay inactive (not even pending) meanwhile.
const WARM_UP: Duration = Duration::from_secs(20);
/// A graceful stop stays served this long after the status turns 2: a pull exporter has no
/// final export, so a scrape must see the 2 before the process exits.
const STOP_LINGER: Duration = Duration::from_secs(2);
/// No single wait is longer: it bounds the test when a bound is very long (an Alertmanager
/// `group_interval` of minutes) or a notification never comes.
const LONGEST_WAIT: Duration = Duration::from_secs(90);
/// How long the receivers are watched after Prometheus is killed, at most.
const LONGEST_OBSERVATION: Duration = Duration::from_secs(60);
/// The SLA over the outcome rule `slo`: 99 % over a period of 12 h, so the 30-day burn-rate
/// windows scale by 1/60 (the page pair's 1 h / 5 m become 60 s / 5 s). The generated SLO
/// counts time, not events: its error ratio is the fraction of the window in which a signal of
/// the SLA fires. An outage of the signal burns at 1 / (1 − 0.99) = 100×; the page (14.4×)
/// comes once the signal has fired for 14.4 % of the long window.
const SLO_OBJECTIVE: f64 = 0.99;
const SLO_PERIOD: Duration = Duration::from_secs(12 * 3600);
const PAGE_BURN_RATE: f64 = 14.4;
const PAGE_LONG_WINDOW_30D: Duration = Duration::from_secs(3600);
const THIRTY_DAYS: Duration = Duration::from_secs(30 * 86_400);
/// The ratio scenario's failures: half of the outcomes, far below `min_success_ratio`.
const RATIO_FAIL_RATIO: f64 = 0.5;

const WATCHDOG_ALERT: &str = "HeartbeatWatchdog";
const DEADMAN_ALERT: &str = "HeartbeatDeadman";
const FROZEN_ALERT: &str = "HeartbeatDeadmanFrozen";
const RATIO_ALERT: &str = "HeartbeatOutcomeSuccessRatioLow";
const NO_DATA_ALERT: &str = "HeartbeatOutcomeNoData";
const SLO_ALERT: &str = "HeartbeatSLOBurnRate";

/// The services, one emitter process and one scrape job each.
const SERVICES: [&str; 6] = [
    "hb-kill",
    "hb-frozen",
    "hb-stop",
    "hb-ratio",
    "hb-nodata",
    "hb-slo",
];

fn rule_file(page: &Recorder, ticket: &Recorder, watchdog: &Recorder) -> String {
    let window = secs(WINDOW);
    let mut text = String::new();
    for (name, service) in [
        ("kill", "hb-kill"),
        ("frozen", "hb-frozen"),
        ("stop", "hb-stop"),
    ] {
        let _ = write!(
            text,
            "[[deadman]]\nname = \"{name}\"\nservice = \"{service}\"\nemitter = \"main\"\n\
             window = \"{window}\"\nmin_beats = 5\nstop_grace = \"{}\"\n\n",
            secs(STOP_GRACE)
        );
    }
    // min_success_ratio 0.5 on the no-data service: it has no failures, only silence.
    for (name, service, ratio) in [
        ("ratio", "hb-ratio", 0.9),
        ("nodata", "hb-nodata", 0.5),
        ("slo", "hb-slo", 0.9),
    ] {
        let _ = write!(
            text,
            "[[outcome]]\nname = \"{name}\"\noutcome = \"message.send\"\nservice = \"{service}\"\n\
             where = {{ surface = \"web_messenger\" }}\nwindow = \"{window}\"\nmin_success_ratio = {ratio}\n\n"
        );
    }
    let _ = write!(
        text,
        "[[sla]]\nname = \"checkout\"\nsignals = [\"slo\"]\nobjective = {SLO_OBJECTIVE}\n\n\
         [generate.prometheus]\nscrape_interval = \"{}\"\nslo_period = \"{}\"\n\n\
         [generate.alertmanager]\nwatchdog_url = \"http://{}/watchdog\"\nwatchdog_interval = \"{}\"\n\
         page_url = \"http://{}/page\"\nticket_url = \"http://{}/ticket\"\n",
        secs(SCRAPE),
        secs(SLO_PERIOD),
        watchdog.addr,
        secs(WATCHDOG_INTERVAL),
        page.addr,
        ticket.addr,
    );
    text
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

// ---------------------------------------------------------------------------------------------
// Tools, or why the test cannot run here
// ---------------------------------------------------------------------------------------------

/// Says why the test cannot run: a failure under `CI=true`, a notice otherwise.
fn unavailable(what: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what}: ./scripts/test.sh installs it"
    );
    println!("SKIPPED prometheus_live: {what}");
}

fn python() -> Option<String> {
    let Ok(python) = std::env::var("HEARTBEAT_PYTHON") else {
        unavailable("HEARTBEAT_PYTHON is not set");
        return None;
    };
    let probe = Command::new(&python)
        .args(["-c", "import opentelemetry.exporter.prometheus"])
        .output();
    match probe {
        Ok(out) if out.status.success() => Some(python),
        _ => {
            unavailable(&format!(
                "{python} cannot import opentelemetry.exporter.prometheus"
            ));
            None
        }
    }
}

fn prometheus_binary() -> Option<String> {
    let bin = std::env::var("HEARTBEAT_PROMETHEUS").unwrap_or_else(|_| "prometheus".to_owned());
    if Command::new(&bin).arg("--version").output().is_err() {
        unavailable(&format!(
            "{bin} is not installed (Debian package prometheus)"
        ));
        return None;
    }
    Some(bin)
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// One emitter process, commanded over its stdin.
struct Emitter {
    service: &'static str,
    guard: Guard,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
    port: u16,
}

impl Emitter {
    fn start(python: &str, service: &'static str) -> Self {
        let mut child = Command::new(python)
            .arg(EMITTER_SCRIPT)
            .args(["--service", service, "--emitter", "main"])
            .args(["--beat-ms", &BEAT_MS.to_string()])
            .args(["--outcomes-per-s", &OUTCOMES_PER_S.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let guard = Guard(child);
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = answers
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("emitter {service} did not start: {e}"));
        let port = ready
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("emitter {service} said {ready:?}"));
        Self {
            service,
            guard,
            stdin,
            answers,
            port,
        }
    }

    /// Sends a command; the moment it was sent, once the emitter acknowledged it.
    fn command(&mut self, line: &str) -> Instant {
        let sent = Instant::now();
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        let answer = self
            .answers
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("emitter {}: no answer to {line:?}: {e}", self.service));
        assert_eq!(answer, format!("ok {line}"), "emitter {}", self.service);
        sent
    }

    /// SIGKILL; the moment it was sent.
    fn kill(&mut self) -> Instant {
        let at = Instant::now();
        self.guard.0.kill().unwrap();
        self.guard.0.wait().unwrap();
        at
    }

    /// Waits (at most 20 s) for the process to exit by itself; the moment it was seen gone.
    fn wait_exit(&mut self) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.guard.0.try_wait().unwrap().is_some() {
                return Instant::now();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "emitter {} did not exit after its graceful stop",
            self.service
        );
    }
}

/// Prometheus on a free port with `config`, ready, its log in `dir`.
fn prometheus(bin: &str, dir: &Path, config: &str) -> (Guard, String) {
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, config).unwrap();
    let port = support::free_port();
    let addr = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg(format!("--rules.alert.resend-delay={}", secs(RESEND_DELAY)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fetch(&addr, "/-/ready").contains("Ready") {
        assert!(
            Instant::now() < deadline,
            "prometheus did not become ready:\n{}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (guard, addr)
}

fn prometheus_config(rules: &Path, am: &str, emitters: &[Emitter]) -> String {
    let mut text = format!(
        "global:\n  scrape_interval: {s}\n  scrape_timeout: {s}\n  evaluation_interval: {e}\n\
         rule_files:\n  - {rules:?}\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"{am}\"]\n\
         scrape_configs:\n",
        s = secs(SCRAPE),
        e = secs(EVAL),
        rules = rules.display().to_string(),
    );
    // One job per service, named after its service.name: `job` is the service label.
    for e in emitters {
        let _ = write!(
            text,
            "  - job_name: \"{}\"\n    static_configs:\n      - targets: [\"127.0.0.1:{}\"]\n",
            e.service, e.port
        );
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Reading the generated rules and configuration
// ---------------------------------------------------------------------------------------------

/// A Prometheus duration: `30s`, `5m`, `1h30m`, `500ms`, `0s`.
fn prom_duration(text: &str) -> Duration {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let n: u64 = number
            .parse()
            .unwrap_or_else(|_| panic!("bad duration {text:?}"));
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            "w" => Duration::from_secs(n * 604_800),
            _ => panic!("bad duration {text:?}"),
        };
        rest = tail;
    }
    total
}

/// One generated alerting rule: its `for`, `keep_firing_for` and labels.
#[derive(Debug, Clone)]
struct AlertRule {
    pending: Duration,
    keep_firing: Duration,
    severity: String,
}

/// The generated alert named `alert` whose labels contain `labels`.
fn alert_rule(rules: &Yaml, alert: &str, labels: &[(&str, &str)]) -> Option<AlertRule> {
    let groups = rules["groups"].as_sequence()?;
    groups
        .iter()
        .flat_map(|g| g["rules"].as_sequence().cloned().unwrap_or_default())
        .find(|r| {
            r["alert"].as_str() == Some(alert)
                && labels
                    .iter()
                    .all(|(k, v)| r["labels"][*k].as_str() == Some(*v))
        })
        .map(|r| AlertRule {
            pending: r["for"].as_str().map_or(Duration::ZERO, prom_duration),
            keep_firing: r["keep_firing_for"]
                .as_str()
                .map_or(Duration::ZERO, prom_duration),
            severity: r["labels"]["severity"].as_str().unwrap_or("").to_owned(),
        })
}

/// `group_wait` and `group_interval` of the generated route that takes `severity`.
fn route_timing(config: &Yaml, severity: &str) -> (Duration, Duration) {
    let root = &config["route"];
    let matcher = format!("severity=\"{severity}\"");
    let route = root["routes"]
        .as_sequence()
        .and_then(|routes| {
            routes.iter().find(|r| {
                r["matchers"]
                    .as_sequence()
                    .is_some_and(|m| m.iter().any(|m| m.as_str() == Some(matcher.as_str())))
            })
        })
        .unwrap_or(root);
    let get = |key: &str| {
        route[key]
            .as_str()
            .or(root[key].as_str())
            .map(prom_duration)
            .unwrap_or_else(|| panic!("no {key} in the generated Alertmanager route"))
    };
    (get("group_wait"), get("group_interval"))
}

/// GETs `path` over HTTP/1.0, so the answer is never chunked (Prometheus chunks large API
/// answers to HTTP/1.1 requests); the body, empty on any error.
fn fetch(addr: &str, path: &str) -> String {
    use std::io::Read;
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// Whether Alertmanager still holds `alert` of `rule` unresolved (its API lists only those).
fn alertmanager_holds(am: &str, alert: &str, rule: &str) -> bool {
    let text = fetch(am, "/api/v2/alerts");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET /api/v2/alerts: {e}: {text}"));
    body.as_array()
        .into_iter()
        .flatten()
        .any(|a| a["labels"]["alertname"] == alert && a["labels"]["heartbeat_rule"] == rule)
}

// ---------------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------------

/// Whether a webhook notification carries an alert `alertname` with `labels` in `status`.
fn carries(
    received: &support::Received,
    alert: &str,
    labels: &[(&str, &str)],
    status: &str,
) -> bool {
    received.json()["alerts"].as_array().is_some_and(|alerts| {
        alerts.iter().any(|a| {
            a["status"] == status
                && a["labels"]["alertname"] == alert
                && labels.iter().all(|(k, v)| a["labels"][*k] == *v)
        })
    })
}

/// The first notification after `after` carrying the alert in `status`, waiting until `until`.
fn first_after(
    recorder: &Recorder,
    after: Instant,
    until: Instant,
    alert: &str,
    labels: &[(&str, &str)],
    status: &str,
) -> Option<Instant> {
    loop {
        if let Some(r) = recorder
            .received()
            .into_iter()
            .find(|r| r.at >= after && carries(r, alert, labels, status))
        {
            return Some(r.at);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The alerts Prometheus holds (pending or firing), as `alertname{rule} state`.
fn active_alerts(prometheus: &str) -> Vec<(String, String, String)> {
    let text = fetch(prometheus, "/api/v1/alerts");
    let body: Value = serde_json::from_str(&text).unwrap_or_default();
    assert_eq!(body["status"], "success", "GET /api/v1/alerts: {text}");
    body["data"]["alerts"]
        .as_array()
        .map(|alerts| {
            alerts
                .iter()
                .map(|a| {
                    let labels = &a["labels"];
                    let rule = labels["heartbeat_rule"]
                        .as_str()
                        .or(labels["heartbeat_sla"].as_str())
                        .unwrap_or("")
                        .to_owned();
                    (
                        labels["alertname"].as_str().unwrap_or("").to_owned(),
                        rule,
                        a["state"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An instant query's result vector.
fn query(prometheus: &str, promql: &str) -> Vec<Value> {
    let encoded: String = promql
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let body: Value = serde_json::from_str(&fetch(
        prometheus,
        &format!("/api/v1/query?query={encoded}"),
    ))
    .unwrap_or_default();
    body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/// One row of the results table.
#[derive(Debug, Clone)]
struct Row {
    scenario: String,
    alert: String,
    /// Seconds from the event to the notification; `None`: none arrived.
    measured: Option<f64>,
    /// The bound the rule promises, and (for a graceful stop) the earliest it may come.
    bound: f64,
    earliest: Option<f64>,
    /// How long the test waited (when nothing arrived).
    waited: f64,
    note: String,
    /// `None`: not run (the alert is not generated yet).
    passed: Option<bool>,
}

impl Row {
    fn measure(
        scenario: &str,
        alert: &str,
        event: Instant,
        arrival: Option<Instant>,
        bound: Duration,
        earliest: Option<Duration>,
    ) -> Self {
        let measured = arrival.map(|a| a.saturating_duration_since(event).as_secs_f64());
        let passed = measured.is_some_and(|m| {
            m <= bound.as_secs_f64() && earliest.is_none_or(|e| m >= e.as_secs_f64())
        });
        Self {
            scenario: scenario.to_owned(),
            alert: alert.to_owned(),
            measured,
            bound: bound.as_secs_f64(),
            earliest: earliest.map(|e| e.as_secs_f64()),
            waited: event.elapsed().as_secs_f64(),
            note: String::new(),
            passed: Some(passed),
        }
    }

    fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    fn measured_text(&self) -> String {
        match (self.passed, self.measured) {
            (None, _) => "not run".to_owned(),
            (_, None) if self.bound == 0.0 => "—".to_owned(),
            (_, Some(m)) => format!("{m:.1}"),
            (_, None) => format!("none in {:.0}", self.waited),
        }
    }

    fn bound_text(&self) -> String {
        match (self.passed, self.earliest) {
            (None, _) => "".to_owned(),
            _ if self.bound == 0.0 => "—".to_owned(),
            (_, Some(e)) => format!("{e:.0} to {:.0}", self.bound),
            (_, None) => format!("≤ {:.0}", self.bound),
        }
    }

    fn verdict(&self) -> &'static str {
        match self.passed {
            None => "pending",
            Some(true) => "pass",
            Some(false) => "FAIL",
        }
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | alert | measured (s) | bound (s) | result | note |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} | {} |",
            r.scenario,
            r.alert,
            r.measured_text(),
            r.bound_text(),
            r.verdict(),
            r.note
        );
    }
    out
}

/// The bounds, from the rule file's windows, Prometheus' intervals and the generated
/// Alertmanager route: an alert is evaluated at most one scrape and one evaluation after its
/// condition holds, pends for its `for:`, and Alertmanager holds a new group for `group_wait`
/// (a resolved alert of an existing group waits for the next `group_interval`).
struct Bounds {
    am: Yaml,
}

impl Bounds {
    /// When Prometheus holds the alert firing: its condition, one scrape, one evaluation and
    /// its `for:`.
    fn condition(&self, rule: &AlertRule, condition: Duration) -> Duration {
        condition + rule.pending + SCRAPE + EVAL
    }

    fn notify(&self, rule: &AlertRule, condition: Duration) -> Duration {
        let (group_wait, _) = route_timing(&self.am, &rule.severity);
        self.condition(rule, condition) + group_wait + SLACK
    }

    /// When Alertmanager holds the alert resolved: its condition cleared, one scrape, one
    /// evaluation, its `keep_firing_for`, and the resolution posted at once.
    fn condition_cleared(&self, rule: &AlertRule, condition: Duration) -> Duration {
        condition + rule.keep_firing + SCRAPE + EVAL + SLACK
    }
}

fn wall_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// An RFC 3339 time (`2026-12-03T10:25:08.123Z`) relative to `reference_ms` (ms since the
/// epoch), in seconds, from the time of day alone (both are within the same few minutes).
fn seconds_of_day(rfc3339: &str, reference_ms: u128) -> Option<f64> {
    let time = rfc3339.split_once('T')?.1.trim_end_matches('Z');
    let time = time.split(['+', '-']).next()?;
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    let of_day = h * 3600.0 + m * 60.0 + s;
    let reference = (reference_ms % 86_400_000) as f64 / 1000.0;
    let mut delta = of_day - reference;
    if delta > 43_200.0 {
        delta -= 86_400.0;
    } else if delta < -43_200.0 {
        delta += 86_400.0;
    }
    Some(delta)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[test]
fn generated_rules_page_in_time_in_a_real_prometheus_and_alertmanager() {
    let test_start = Instant::now();
    let Some(python) = python() else { return };
    let Some(prometheus_bin) = prometheus_binary() else {
        return;
    };

    let (page, ticket, watchdog) = (Recorder::start(), Recorder::start(), Recorder::start());
    let rules: RuleFile = rule_file(&page, &ticket, &watchdog)
        .parse()
        .unwrap_or_else(|e| panic!("the test's rule file: {e}"));
    let prometheus_rules = generate(&rules, Engine::Prometheus, "prometheus_live.rs")
        .unwrap_or_else(|e| panic!("generate prometheus: {e}"));
    let am_config = generate(&rules, Engine::Alertmanager, "prometheus_live.rs")
        .unwrap_or_else(|e| panic!("generate alertmanager: {e}"));
    let generated: Yaml = serde_yaml::from_str(&prometheus_rules).unwrap();
    let bounds = Bounds {
        am: serde_yaml::from_str(&am_config).unwrap(),
    };
    let rule = |alert: &str, labels: &[(&str, &str)]| {
        alert_rule(&generated, alert, labels).unwrap_or_else(|| {
            panic!("{alert} {labels:?} is not in the generated rules:\n{prometheus_rules}")
        })
    };
    let deadman = rule(DEADMAN_ALERT, &[("heartbeat_rule", "kill")]);
    let frozen = rule(FROZEN_ALERT, &[("heartbeat_rule", "frozen")]);
    let stop = rule(DEADMAN_ALERT, &[("heartbeat_rule", "stop")]);
    let ratio = rule(RATIO_ALERT, &[("heartbeat_rule", "ratio")]);
    let no_data = rule(NO_DATA_ALERT, &[("heartbeat_rule", "nodata")]);
    let slo_signal = rule(RATIO_ALERT, &[("heartbeat_rule", "slo")]);
    let slo = rule(
        SLO_ALERT,
        &[("heartbeat_sla", "checkout"), ("severity", "page")],
    );
    for name in [
        "heartbeat_beats_total",
        "heartbeat_emitter_status",
        "heartbeat_outcomes_total",
    ] {
        assert!(
            prometheus_rules.contains(name),
            "the generated rules no longer select {name}"
        );
    }

    let Some((_am, am_addr)) = support::alertmanager(&am_config) else {
        return;
    };
    let dir = support::temp_path("prometheus-live").with_extension("d");
    std::fs::create_dir_all(&dir).unwrap();
    let rules_path = dir.join("heartbeat.rules.yml");
    std::fs::write(&rules_path, &prometheus_rules).unwrap();

    let mut emitters: Vec<Emitter> = SERVICES
        .iter()
        .map(|s| Emitter::start(&python, s))
        .collect();
    let (mut prom, prom_addr) = prometheus(
        &prometheus_bin,
        &dir,
        &prometheus_config(&rules_path, &am_addr, &emitters),
    );
    let prom_started = Instant::now();
    let mut rows = Vec::new();
    let mut failures = Vec::new();

    // -- A fresh Prometheus on healthy services: nothing pending, nothing firing. ------------
    let mut startup_alerts: Vec<String> = Vec::new();
    while prom_started.elapsed() < WARM_UP {
        for (alert, rule, state) in active_alerts(&prom_addr) {
            let seen = format!("{alert}{{{rule}}} {state}");
            if alert != WATCHDOG_ALERT && !startup_alerts.contains(&seen) {
                startup_alerts.push(seen);
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let early_pages: Vec<String> = page
        .received()
        .into_iter()
        .chain(ticket.received())
        .map(|r| r.body)
        .collect();
    if !startup_alerts.is_empty() || !early_pages.is_empty() {
        failures.push(format!(
            "a fresh Prometheus raised alerts on healthy services in its first {} s: {startup_alerts:?}; notifications: {early_pages:?}",
            WARM_UP.as_secs()
        ));
    }
    rows.push(Row {
        scenario: format!(
            "fresh Prometheus, services beating (first {} s)",
            WARM_UP.as_secs()
        ),
        alert: "any but the watchdog".to_owned(),
        measured: None,
        bound: 0.0,
        earliest: None,
        waited: WARM_UP.as_secs_f64(),
        note: if startup_alerts.is_empty() {
            "none pending or firing".to_owned()
        } else {
            format!("raised: {}", startup_alerts.join(", "))
        },
        passed: Some(startup_alerts.is_empty() && early_pages.is_empty()),
    });

    // -- The translation: the names and labels the generated rules select. -------------------
    let translation = [
        (
            "heartbeat_beats_total",
            r#"heartbeat_beats_total{job="hb-kill", heartbeat_emitter="main"}"#,
        ),
        (
            "heartbeat_emitter_status",
            r#"heartbeat_emitter_status{job="hb-kill", heartbeat_emitter="main"}"#,
        ),
        (
            "heartbeat_outcomes_total",
            r#"heartbeat_outcomes_total{job="hb-ratio", heartbeat_outcome="message.send", heartbeat_result="success", surface="web_messenger"}"#,
        ),
        (
            "target_info",
            r#"target_info{job="hb-kill", service_name="hb-kill"}"#,
        ),
    ];
    for (name, promql) in translation {
        let result = query(&prom_addr, promql);
        match result.first() {
            Some(series) => println!("translation: {name}: {}", series["metric"]),
            None => failures.push(format!(
                "the OpenTelemetry Prometheus exporter's series do not match {promql}; stored: {:?}",
                query(&prom_addr, r#"{__name__=~"heartbeat.*|target_info", job="hb-kill"}"#)
                    .iter()
                    .map(|s| s["metric"].to_string())
                    .collect::<Vec<_>>()
            )),
        }
    }
    let service_on_series = query(&prom_addr, r#"heartbeat_beats_total{service_name!=""}"#);
    println!(
        "translation: service.name on the heartbeat series themselves: {}",
        if service_on_series.is_empty() {
            "no (only on target_info)"
        } else {
            "yes"
        }
    );

    // -- The failures, all at once. -----------------------------------------------------------
    let [kill_e, frozen_e, stop_e, ratio_e, nodata_e, slo_e] = &mut emitters[..] else {
        unreachable!()
    };
    let (watchdog_before_kill, prometheus_row, gap_row) = std::thread::scope(|scope| {
        let page = &page;
        let ticket = &ticket;
        let bounds = &bounds;
        let receiver =
            move |severity: &str| -> &Recorder { if severity == "ticket" { ticket } else { page } };
        let wait = |bound: Duration| bound.saturating_mul(2).min(LONGEST_WAIT);

        let kill = scope.spawn(move || {
            let bound = bounds.notify(&deadman, WINDOW);
            let event = kill_e.kill();
            let labels = [("heartbeat_rule", "kill")];
            let at = first_after(
                receiver(&deadman.severity),
                event,
                event + wait(bound),
                DEADMAN_ALERT,
                &labels,
                "firing",
            );
            Row::measure("emitter SIGKILLed", DEADMAN_ALERT, event, at, bound, None)
        });
        let frozen_h = scope.spawn(move || {
            let bound = bounds.notify(&frozen, WINDOW);
            let event = frozen_e.command("freeze");
            let labels = [("heartbeat_rule", "frozen")];
            let at = first_after(
                receiver(&frozen.severity),
                event,
                event + wait(bound),
                FROZEN_ALERT,
                &labels,
                "firing",
            );
            Row::measure(
                "beat counter frozen, process serving",
                FROZEN_ALERT,
                event,
                at,
                bound,
                None,
            )
        });
        let stop_h = scope.spawn(move || {
            let stopped = stop_e.command(&format!("stop {}", STOP_LINGER.as_secs()));
            let event = stop_e.wait_exit();
            // The last sample of status 2 is at most one scrape before the exit: the grace
            // runs from it.
            let earliest = STOP_GRACE.saturating_sub(SCRAPE);
            let bound = bounds.notify(&stop, STOP_GRACE);
            let labels = [("heartbeat_rule", "stop")];
            let at = first_after(
                receiver(&stop.severity),
                stopped,
                event + wait(bound),
                DEADMAN_ALERT,
                &labels,
                "firing",
            );
            let row = Row::measure(
                &format!(
                    "graceful stop (status 2), then silence past stop_grace {} s",
                    STOP_GRACE.as_secs()
                ),
                DEADMAN_ALERT,
                event,
                at.map(|a| a.max(event)),
                bound,
                Some(earliest),
            );
            match at {
                Some(a) if a < event => row.note("paged before the process even exited"),
                _ => row.note("from the exit; no page within the grace"),
            }
        });
        let am = am_addr.as_str();
        let ratio_h = scope.spawn(move || {
            let bound = bounds.notify(&ratio, WINDOW);
            let event = ratio_e.command(&format!("fail_ratio {RATIO_FAIL_RATIO}"));
            let labels = [("heartbeat_rule", "ratio")];
            let hook = receiver(&ratio.severity);
            let at = first_after(
                hook,
                event,
                event + wait(bound),
                RATIO_ALERT,
                &labels,
                "firing",
            );
            let fired = Row::measure(
                &format!(
                    "success ratio drops to {:.0} % (floor 90 %)",
                    (1.0 - RATIO_FAIL_RATIO) * 100.0
                ),
                RATIO_ALERT,
                event,
                at,
                bound,
                None,
            );
            let recovered = ratio_e.command("fail_ratio 0");
            // Resolved in Prometheus, then in Alertmanager at once (Prometheus sends the
            // resolution on its next evaluation): timed at Alertmanager's API.
            let bound = bounds.condition_cleared(&ratio, WINDOW);
            let until = recovered + wait(bound);
            let at = loop {
                if !alertmanager_holds(am, RATIO_ALERT, "ratio") {
                    break Some(Instant::now());
                }
                if Instant::now() >= until {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            let (_, group_interval) = route_timing(&bounds.am, &ratio.severity);
            let mut resolved = Row::measure(
                "success ratio recovers",
                &format!("{RATIO_ALERT} resolved in Alertmanager"),
                recovered,
                at,
                bound,
                None,
            );
            // The page is not closed for the on-call: no "resolved" reaches the pager, even
            // after the group's next flush.
            std::thread::sleep(group_interval + SLACK);
            let told = hook
                .received()
                .into_iter()
                .any(|r| r.at >= recovered && carries(&r, RATIO_ALERT, &labels, "resolved"));
            if told {
                resolved.passed = Some(false);
                resolved.note = "a \"resolved\" reached the pager (page_send_resolved is false)".to_owned();
            } else {
                resolved.note = format!(
                    "no \"resolved\" to the pager within group_interval {} s after it (page_send_resolved = false)",
                    group_interval.as_secs()
                );
            }
            (fired, resolved)
        });
        let nodata_h = scope.spawn(move || {
            let no_data = &no_data;
            let bound = bounds.notify(no_data, WINDOW);
            let event = nodata_e.command("outcomes_off");
            let labels = [("heartbeat_rule", "nodata")];
            let at = first_after(
                receiver(&no_data.severity),
                event,
                event + wait(bound),
                NO_DATA_ALERT,
                &labels,
                "firing",
            );
            Row::measure(
                "outcomes stop arriving (counters exported, unchanged)",
                NO_DATA_ALERT,
                event,
                at,
                bound,
                None,
            )
        });
        let slo_h = scope.spawn(move || {
            {
                let slo = &slo;
                let burn = 1.0 / (1.0 - SLO_OBJECTIVE);
                let long = PAGE_LONG_WINDOW_30D
                    .mul_f64(SLO_PERIOD.as_secs_f64() / THIRTY_DAYS.as_secs_f64());
                // The signal fires as the ratio scenario does; then the long window's error
                // ratio crosses 14.4× the budget after 14.4 / burn of it, one evaluation later.
                let signal = bounds.condition(&slo_signal, WINDOW);
                let burning = long.mul_f64(PAGE_BURN_RATE / burn) + EVAL;
                let bound = bounds.notify(slo, signal + burning);
                let event = slo_e.command(&format!("fail_ratio {RATIO_FAIL_RATIO}"));
                let labels = [("heartbeat_sla", "checkout"), ("severity", "page")];
                let at = first_after(
                    receiver(&slo.severity),
                    event,
                    event + wait(bound),
                    SLO_ALERT,
                    &labels,
                    "firing",
                );
                Row::measure(
                    &format!(
                        "SLA {} %: its signal (success ratio) down, burning {burn:.0}× (page at 14.4× over {} s and {} s)",
                        SLO_OBJECTIVE * 100.0,
                        long.as_secs(),
                        long.as_secs() / 12,
                    ),
                    SLO_ALERT,
                    event,
                    at,
                    bound,
                    None,
                )
            }
        });

        let mut firing_rows = Vec::new();
        for h in [kill, frozen_h, stop_h, nodata_h, slo_h] {
            firing_rows.push(h.join().unwrap());
        }

        // -- Prometheus SIGKILLed: the watchdog stops, nothing resolves. -------------------
        // Wait until the ratio alert has resolved in Prometheus, so that its resolution
        // does not depend on the kill.
        let deadline = Instant::now() + WINDOW * 3;
        while Instant::now() < deadline
            && active_alerts(&prom_addr)
                .iter()
                .any(|(a, r, _)| a == RATIO_ALERT && r == "ratio")
        {
            std::thread::sleep(Duration::from_millis(200));
        }
        let still_firing: Vec<(String, String, String)> = active_alerts(&prom_addr)
            .into_iter()
            .filter(|(a, _, s)| a != WATCHDOG_ALERT && s == "firing")
            .collect();
        let killed = Instant::now();
        let killed_wall_ms = wall_ms();
        prom.0.kill().unwrap();
        prom.0.wait().unwrap();
        let (_, page_interval) = route_timing(&bounds.am, "page");
        let ends_at = RESEND_DELAY.max(EVAL) * 4;
        let observe = (ends_at + page_interval + SLACK).min(LONGEST_OBSERVATION);
        std::thread::sleep(observe);
        let arrivals: Vec<Instant> = watchdog.received().into_iter().map(|r| r.at).collect();
        let watchdog_before_kill: Vec<Instant> =
            arrivals.iter().copied().filter(|a| *a < killed).collect();
        let last = arrivals.iter().copied().max();
        // The channel notices the silence one interval after the last notification.
        let gap_bound = ends_at + WATCHDOG_INTERVAL * 2 + SLACK;
        let mut gap = Row::measure(
            "Prometheus SIGKILLed: silence seen by the watchdog channel",
            &format!("{WATCHDOG_ALERT} (last + interval)"),
            killed,
            last.map(|l| l + WATCHDOG_INTERVAL),
            gap_bound,
            None,
        );
        let after_kill = arrivals.iter().filter(|a| **a >= killed).count();
        gap.note = format!(
            "{after_kill} watchdog notification(s) after the kill (Alertmanager holds the alert until its endsAt, {} s ahead)",
            ends_at.as_secs()
        );
        // Alertmanager holds each open alert until its endsAt (the last evaluation before the
        // kill + 4 × resend delay), then resolves it: a "resolved" earlier than that would be
        // a resolution that nothing evaluated.
        let earliest = ends_at.saturating_sub(RESEND_DELAY.max(EVAL));
        let channel_notices = last.map(|l| l.saturating_duration_since(killed) + WATCHDOG_INTERVAL);
        let mut resolved_after_kill: Vec<(f64, String)> = Vec::new();
        let mut pages_resolved = 0;
        for (hook, is_page) in [(page, true), (ticket, false)] {
            for r in hook.received().into_iter().filter(|r| r.at >= killed) {
                let body = r.json();
                for a in body["alerts"].as_array().into_iter().flatten() {
                    let labels = &a["labels"];
                    let rule = labels["heartbeat_rule"]
                        .as_str()
                        .or(labels["heartbeat_sla"].as_str())
                        .unwrap_or("");
                    let open = still_firing
                        .iter()
                        .any(|(alert, r, _)| labels["alertname"] == alert.as_str() && r == rule);
                    if a["status"] == "resolved" && open {
                        pages_resolved += usize::from(is_page);
                        // endsAt as Alertmanager saw it, relative to the kill: Prometheus'
                        // last promise, or the resolution it sent before it died.
                        let ends = a["endsAt"]
                            .as_str()
                            .and_then(|e| seconds_of_day(e, killed_wall_ms))
                            .map_or(String::new(), |d| format!(", endsAt {d:+.1} s"));
                        resolved_after_kill.push((
                            r.at.saturating_duration_since(killed).as_secs_f64(),
                            format!(
                                "{}{{{rule}{}}} ({}{ends})",
                                labels["alertname"].as_str().unwrap_or(""),
                                labels["heartbeat_window"]
                                    .as_str()
                                    .map_or(String::new(), |w| format!(", {w}")),
                                labels["severity"].as_str().unwrap_or(""),
                            ),
                        ));
                    }
                }
            }
        }
        resolved_after_kill.sort_by(|a, b| a.0.total_cmp(&b.0));
        let before_channel = resolved_after_kill
            .iter()
            .filter(|(t, _)| channel_notices.is_none_or(|c| *t < c.as_secs_f64()))
            .count();
        let observed_flush = observe >= ends_at + page_interval;
        let prometheus_row = Row {
            scenario: format!(
                "Prometheus SIGKILLed with {} alert(s) firing: \"resolved\" notifications",
                still_firing.len()
            ),
            alert: "the alerts still firing".to_owned(),
            measured: resolved_after_kill.first().map(|(t, _)| *t),
            bound: observe.as_secs_f64(),
            earliest: Some(earliest.as_secs_f64()),
            waited: observe.as_secs_f64(),
            note: if resolved_after_kill.is_empty() {
                format!(
                    "none in {} s{}",
                    observe.as_secs(),
                    if observed_flush {
                        String::new()
                    } else {
                        format!(
                            " (shorter than endsAt {} s + group_interval {} s: a later flush is not observed)",
                            ends_at.as_secs(),
                            page_interval.as_secs()
                        )
                    }
                )
            } else {
                format!(
                    "{} resolved although still down ({pages_resolved} of them pages): {}; {before_channel} of them before the watchdog channel could notice (last watchdog + interval = {})",
                    resolved_after_kill.len(),
                    resolved_after_kill
                        .iter()
                        .map(|(t, name)| format!("{name} at {t:.1} s"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    channel_notices
                        .map_or("never".to_owned(), |c| format!("{:.1} s", c.as_secs_f64())),
                )
            },
            // No page of a broken service is closed by the outage; a ticket's resolution may
            // come, but not before Alertmanager's endsAt.
            passed: Some(
                pages_resolved == 0
                    && resolved_after_kill
                        .iter()
                        .all(|(t, _)| *t >= earliest.as_secs_f64()),
            ),
        };
        let (fired, resolved) = ratio_h.join().unwrap();
        let mut ordered = vec![
            firing_rows.remove(0),
            firing_rows.remove(0),
            firing_rows.remove(0),
            fired,
            resolved,
        ];
        ordered.append(&mut firing_rows);
        rows.append(&mut ordered);
        (watchdog_before_kill, prometheus_row, gap)
    });
    rows.push(prometheus_row);
    rows.push(gap_row);

    // -- The watchdog's rhythm at the external channel. ---------------------------------------
    let mut gaps: Vec<f64> = watchdog_before_kill
        .windows(2)
        .map(|w| w[1].saturating_duration_since(w[0]).as_secs_f64())
        .collect();
    let max_gap = gaps.iter().copied().fold(0.0, f64::max);
    let med = median(&mut gaps);
    let limit = WATCHDOG_INTERVAL.as_secs_f64() * 1.5;
    rows.push(Row {
        scenario: format!(
            "watchdog inter-arrival ({} notifications, interval {} s)",
            watchdog_before_kill.len(),
            WATCHDOG_INTERVAL.as_secs()
        ),
        alert: WATCHDOG_ALERT.to_owned(),
        measured: (!gaps.is_empty()).then_some(max_gap),
        bound: limit,
        earliest: None,
        waited: 0.0,
        note: format!(
            "median {med:.2} s (want the interval ± 10 %), longest {max_gap:.1} s (measured column: longest)"
        ),
        // On the interval: never late by half an interval, and not early either (a channel
        // that hears the watchdog more often than promised was tuned for the wrong period).
        passed: Some(
            gaps.len() >= 2
                && max_gap <= limit
                && (med - WATCHDOG_INTERVAL.as_secs_f64()).abs()
                    <= WATCHDOG_INTERVAL.as_secs_f64() * 0.1,
        ),
    });

    let table = table(&rows);
    let report = format!(
        "Measured by `watch/tests/prometheus_live.rs`: Prometheus {}, scrape and evaluation every {} s, \
         windows of {} s, `--rules.alert.resend-delay={}`; the generated Alertmanager configuration. \
         Wall time {:.0} s.\n\n{table}",
        Command::new(&prometheus_bin)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .nth(2)
                .unwrap_or("?")
                .to_owned())
            .unwrap_or_default(),
        SCRAPE.as_secs(),
        WINDOW.as_secs(),
        secs(RESEND_DELAY),
        test_start.elapsed().as_secs_f64(),
    );
    println!("{report}");
    std::fs::write(RESULTS, &report).unwrap();
    println!("written to {RESULTS}");

    for r in &rows {
        if r.passed == Some(false) {
            failures.push(format!(
                "{}: {} measured {} s, bound {} s ({})",
                r.scenario,
                r.alert,
                r.measured_text(),
                r.bound_text(),
                r.note
            ));
        }
    }
    drop(emitters);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn prometheus_durations_parse() {
    assert_eq!(prom_duration("0s"), Duration::ZERO);
    assert_eq!(prom_duration("30s"), Duration::from_secs(30));
    assert_eq!(prom_duration("1h30m"), Duration::from_secs(5400));
    assert_eq!(prom_duration("500ms"), Duration::from_millis(500));
}
