//! The one-command demo: `heartbeat-watch demo`.
//!
//! It starts the watch on its embedded default (a temporary SQLite file, 127.0.0.1 on ephemeral
//! ports) and a simulated messenger fleet built on the `heartbeat` SDK, exporting OTLP/HTTP to
//! it: `messenger-api` (message sends on the web and mobile surfaces), `inbox-api` (reply
//! deliveries) and `ai-worker` (AI answers), each with a dead-man emitter, for six tenants.
//! Partway through, `messenger-api` deploys 1.5.0, after which sends on the web surface fail
//! for two tenants, the `ai-worker`'s emitter dies, and `inbox-api` stops delivering replies
//! entirely while its process runs and beats (only the outcome's silence tells); later the
//! deploy is rolled back and the inbox recovers. The alerts fire with their diagnosis, the SLA
//! ledger records the downtime (the silence included), and the demo ends by itself with a
//! summary, in well under a minute.
//!
//! Time is compressed: one tick is one "minute" of the ledger, and windows are a few ticks.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heartbeat::{Deadman, Heartbeat, Outcome};

use crate::alert::{Alert, AlertStatus, Classification};
use crate::clock::{Clock, SystemClock, human};
use crate::report::{Month, SlaReport};
use crate::rulefile::{Action, ActionKind, AlertSink, RuleFile, WebhookFormat};
use crate::service::{Database, ViewMode, Watch};
use crate::view;

/// The demo's rule file, in demo time (seconds stand for minutes).
pub const RULES: &str = r#"
[watch]
listen = "127.0.0.1:0"
grpc_listen = "127.0.0.1:0"
tick = "1s"

[[deadman]]
name = "api-pipeline"
service = "messenger-api"
emitter = "api"
window = "5s"
min_beats = 6
fire_after = 2

[[deadman]]
name = "inbox-pipeline"
service = "inbox-api"
emitter = "inbox"
window = "5s"
min_beats = 6
fire_after = 2

[[deadman]]
name = "ai-worker-pipeline"
service = "ai-worker"
emitter = "ai-worker"
window = "5s"
min_beats = 6
fire_after = 2

[[outcome]]
name = "message-send"
outcome = "message.send"
service = "messenger-api"
window = "5s"
min_success_ratio = 0.95

[[outcome]]
name = "reply-deliver"
outcome = "reply.deliver"
window = "5s"
min_success_ratio = 0.95

[[outcome]]
name = "ai-answer"
outcome = "ai.answer"
window = "5s"
min_success_ratio = 0.9

[[sla]]
name = "core-platform"
signals = ["message-send", "reply-deliver"]
objective = 0.999

[[sla]]
name = "ai-answers"
signals = ["ai-answer"]
objective = 0.99

[status_page]
title = "Messenger (demo)"
"#;

/// Tenants of the simulated fleet.
pub const TENANTS: [&str; 6] = ["acme", "globex", "initech", "umbrella", "hooli", "stark"];
/// Tenants whose web sends fail after the bad deploy.
pub const HURT_TENANTS: [&str; 2] = ["acme", "globex"];

/// The demo's time scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// One demo "minute" (a tick, a ledger slot); the rule file's `1s`.
    pub unit: Duration,
}

impl Schedule {
    /// One second per unit: the demo a person watches, about 45 seconds.
    pub fn standard() -> Self {
        Self {
            unit: Duration::from_secs(1),
        }
    }

    /// A faster run for tests (400 ms per unit, about 20 seconds).
    pub fn quick() -> Self {
        Self {
            unit: Duration::from_millis(400),
        }
    }

    fn units(&self, n: f64) -> Duration {
        self.unit.mul_f64(n)
    }

    fn ms(&self, n: f64) -> i64 {
        crate::clock::ms(self.units(n))
    }
}

/// Where the demo writes.
#[derive(Debug, Clone)]
pub enum Output {
    /// Standard output: a redrawn view on a terminal, plain lines otherwise.
    Stdout,
    /// Nothing (tests).
    Quiet,
    /// Into a string (tests that look at the text).
    Capture(Arc<Mutex<String>>),
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The embedded rule file did not parse (a bug).
    #[error("demo rules: {0}")]
    Rules(#[from] crate::rulefile::RuleFileError),
    /// The watch did not start.
    #[error(transparent)]
    Start(#[from] crate::service::StartError),
    /// The simulated fleet could not start.
    #[error("simulated fleet: {0}")]
    Fleet(String),
    /// The report could not be read.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

/// What the demo saw.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// Every alert event (fired and resolved), in order.
    pub events: Vec<Alert>,
    /// The SLA report of the month, from the ledger.
    pub report: SlaReport,
    /// Points accepted and rejected by the receiver.
    pub points: (u64, u64),
    /// Alert notifications the demo's webhook received.
    pub webhook_deliveries: usize,
    /// Rollbacks the deploy system was asked for (by the rollback action).
    pub rollbacks: usize,
    /// Incidents opened and resolved (by the incident action).
    pub incidents: (usize, usize),
    /// The demo's own checks: `(what, held)`.
    pub checks: Vec<(String, bool)>,
}

impl DemoSummary {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.1)
    }

    /// The first firing event of `rule`.
    pub fn fired(&self, rule: &str) -> Option<&Alert> {
        self.events
            .iter()
            .find(|a| a.rule == rule && a.status == AlertStatus::Firing)
    }

    /// Down slots recorded for `sla`.
    pub fn downtime(&self, sla: &str) -> u64 {
        self.report
            .slas
            .iter()
            .find(|s| s.name == sla)
            .map_or(0, |s| s.down)
    }
}

struct Printer {
    output: Output,
    ansi: bool,
    log: Mutex<Vec<String>>,
    start_ms: i64,
}

impl Printer {
    fn say(&self, now_ms: i64, line: &str) {
        let stamped = format!(
            "[t+{:>5.1}s] {line}",
            (now_ms - self.start_ms) as f64 / 1000.0
        );
        match &self.output {
            Output::Quiet => {}
            Output::Capture(buf) => {
                if let Ok(mut b) = buf.lock() {
                    b.push_str(&stamped);
                    b.push('\n');
                }
            }
            Output::Stdout if self.ansi => {
                if let Ok(mut log) = self.log.lock() {
                    log.push(stamped);
                    let excess = log.len().saturating_sub(14);
                    log.drain(..excess);
                }
            }
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{stamped}");
                let _ = out.flush();
            }
        }
    }

    fn raw(&self, text: &str) {
        match &self.output {
            Output::Quiet => {}
            Output::Capture(buf) => {
                if let Ok(mut b) = buf.lock() {
                    b.push_str(text);
                }
            }
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "{text}");
                let _ = out.flush();
            }
        }
    }

    fn frame(&self, snapshot: &crate::judge::Snapshot, tick: u64) {
        let title = "heartbeat-watch demo (compressed time: 1 tick = 1 ledger minute)";
        if self.ansi {
            let mut text = String::from(view::CLEAR);
            text.push_str(&view::render(snapshot, true, title));
            text.push_str("\n\x1b[1mWhat happened\x1b[0m\n");
            if let Ok(log) = self.log.lock() {
                for l in log.iter() {
                    let _ = writeln!(text, "  {l}");
                }
            }
            self.raw(&text);
        } else if tick.is_multiple_of(5) {
            self.raw(&format!("\n{}\n", view::render(snapshot, false, title)));
        }
    }
}

/// One simulated service: its SDK instance, outcomes and dead-man emitter.
struct Service {
    hb: Heartbeat,
    outcomes: Vec<(Outcome, &'static str)>,
    deadman: Option<Deadman>,
}

struct Spec {
    name: &'static str,
    emitter: &'static str,
    outcome: &'static str,
    surfaces: &'static [&'static str],
}

const MESSENGER: Spec = Spec {
    name: "messenger-api",
    emitter: "api",
    outcome: "message.send",
    surfaces: &["web_messenger", "mobile_messenger"],
};
const INBOX: Spec = Spec {
    name: "inbox-api",
    emitter: "inbox",
    outcome: "reply.deliver",
    surfaces: &["inbox"],
};
const AI: Spec = Spec {
    name: "ai-worker",
    emitter: "ai-worker",
    outcome: "ai.answer",
    surfaces: &["fin"],
};

fn start_service(
    spec: &Spec,
    version: &str,
    endpoint: &str,
    schedule: Schedule,
) -> Result<Service, DemoError> {
    let fleet = |e: &dyn std::fmt::Display| DemoError::Fleet(format!("{}: {e}", spec.name));
    let hb = Heartbeat::builder()
        .with_environment(std::iter::empty::<(String, String)>())
        .with_service_name(spec.name)
        .with_service_version(version)
        .with_endpoint(endpoint)
        .with_export_interval(schedule.units(0.5))
        .with_timeout(schedule.units(2.0))
        .install()
        .map_err(|e| fleet(&e))?;
    let mut outcomes = Vec::new();
    for surface in spec.surfaces {
        let outcome = hb
            .outcome(spec.outcome)
            .with_attribute("surface", *surface)
            .with_reasons(["timeout", "rejected"])
            .build()
            .map_err(|e| fleet(&e))?;
        outcomes.push((outcome, *surface));
    }
    let cadence = schedule.units(0.25).max(heartbeat::limits::MIN_CADENCE);
    let deadman = hb
        .deadman(spec.emitter)
        .with_cadence(cadence)
        .start()
        .map_err(|e| fleet(&e))?;
    Ok(Service {
        hb,
        outcomes,
        deadman: Some(deadman),
    })
}

/// The simulated fleet, shared with the traffic generator.
struct Fleet {
    services: Mutex<Vec<Service>>,
    broken: AtomicBool,
    /// The inbox's reply deliveries stopped: no event at all, the process alive.
    inbox_silent: AtomicBool,
    stop: AtomicBool,
}

/// SplitMix64, for reproducible traffic.
struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

async fn traffic(fleet: Arc<Fleet>, schedule: Schedule) {
    let mut rng = Rng(0x00c0_ffee);
    let step = schedule.units(0.02);
    while !fleet.stop.load(Ordering::Relaxed) {
        {
            let broken = fleet.broken.load(Ordering::Relaxed);
            let inbox_silent = fleet.inbox_silent.load(Ordering::Relaxed);
            let Ok(services) = fleet.services.lock() else {
                return;
            };
            for (n, service) in services.iter().enumerate() {
                if n == 1 && inbox_silent {
                    continue;
                }
                for (outcome, surface) in &service.outcomes {
                    for tenant in TENANTS {
                        let hurt =
                            broken && *surface == "web_messenger" && HURT_TENANTS.contains(&tenant);
                        let p_fail = if hurt { 0.85 } else { 0.004 };
                        let r = rng.unit();
                        if r < p_fail {
                            let reason = if hurt || r < p_fail / 2.0 {
                                "timeout"
                            } else {
                                "rejected"
                            };
                            outcome.failure_for_with(tenant, reason);
                        } else {
                            outcome.success_for(tenant);
                        }
                    }
                }
            }
        }
        tokio::time::sleep(step).await;
    }
}

/// What the demo's local endpoints received: alert notifications, incident calls, rollbacks.
#[derive(Debug, Default)]
struct Received {
    alerts: AtomicUsize,
    incidents_opened: AtomicUsize,
    incidents_resolved: AtomicUsize,
    rollbacks: AtomicUsize,
    /// A rollback asked for and not yet done by the fleet.
    rollback_pending: AtomicBool,
}

/// A tiny local server standing in for the pager (`/alerts`), an incident tool (`/incident`:
/// answers an id and a link) and a deploy system (`/rollback`).
async fn endpoints() -> Option<(SocketAddr, Arc<Received>, tokio::task::JoinHandle<()>)> {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
    let addr = listener.local_addr().ok()?;
    let got = Arc::new(Received::default());
    let g = Arc::clone(&got);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let g = Arc::clone(&g);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let g = Arc::clone(&g);
                        async move {
                            let path = req.uri().path().to_owned();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let json: serde_json::Value =
                                serde_json::from_slice(&body).unwrap_or_default();
                            let answer = match path.as_str() {
                                "/incident" if json["event"] == "resolve" => {
                                    g.incidents_resolved.fetch_add(1, Ordering::Relaxed);
                                    "{}".to_owned()
                                }
                                "/incident" => {
                                    let n = g.incidents_opened.fetch_add(1, Ordering::Relaxed) + 1;
                                    format!(
                                        "{{\"id\":\"INC-{n}\",\"url\":\"http://{addr}/incidents/INC-{n}\"}}"
                                    )
                                }
                                "/rollback" => {
                                    g.rollbacks.fetch_add(1, Ordering::Relaxed);
                                    g.rollback_pending.store(true, Ordering::Relaxed);
                                    "{\"status\":\"rolling back\"}".to_owned()
                                }
                                _ => {
                                    g.alerts.fetch_add(1, Ordering::Relaxed);
                                    "ok".to_owned()
                                }
                            };
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from(answer)),
                            ))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Some((addr, got, task))
}

fn temp_db() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!(
        "heartbeat-watch-demo-{}-{nanos}.db",
        std::process::id()
    ))
}

fn scaled_rules(schedule: Schedule) -> Result<RuleFile, DemoError> {
    let mut rules: RuleFile = RULES.parse()?;
    let scale = |d: Duration| schedule.unit.mul_f64(d.as_secs_f64());
    rules.watch.tick = scale(rules.watch.tick);
    for r in &mut rules.deadman {
        r.window = scale(r.window);
    }
    for r in &mut rules.outcome {
        r.window = scale(r.window);
    }
    Ok(rules)
}

/// Where the demo's watch listens and how long it keeps serving after the story ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoOptions {
    /// The watch's HTTP address (the console, the status page, OTLP/HTTP); default an
    /// ephemeral port on 127.0.0.1.
    pub listen: Option<SocketAddr>,
    /// How long the console and status page stay up after the summary (frozen at the final
    /// state: nothing is judged after the fleet stops).
    pub linger: Duration,
}

/// Runs the demo: about 45 seconds with [`Schedule::standard`].
///
/// # Errors
/// [`DemoError`] when the watch or the fleet cannot start.
pub async fn run(schedule: Schedule, output: Output) -> Result<DemoSummary, DemoError> {
    run_with(schedule, output, DemoOptions::default()).await
}

/// [`run`], with where to listen and how long to linger.
///
/// # Errors
/// [`DemoError`] when the watch or the fleet cannot start.
pub async fn run_with(
    schedule: Schedule,
    output: Output,
    options: DemoOptions,
) -> Result<DemoSummary, DemoError> {
    let clock = SystemClock;
    let db_path = temp_db();
    let mut rules = scaled_rules(schedule)?;
    let hook = endpoints().await;
    let sinks = hook
        .as_ref()
        .map(|(addr, _, _)| {
            vec![AlertSink::webhook(
                "demo-webhook",
                format!("http://{addr}/alerts"),
                WebhookFormat::Generic,
            )]
        })
        .unwrap_or_default();
    if let Some((addr, _, _)) = &hook {
        // The loop closed: the drop's alert rolls the deploy back and opens an incident.
        rules.action.push(Action {
            name: "rollback".to_owned(),
            rules: vec!["message-send".to_owned()],
            kind: ActionKind::Rollback {
                command: None,
                webhook: Some(format!("http://{addr}/rollback")),
                max_deploy_age: Duration::from_secs(1800),
                timeout: Duration::from_secs(10),
                dry_run: false,
            },
        });
        rules.action.push(Action {
            name: "incident".to_owned(),
            rules: vec!["message-send".to_owned()],
            kind: ActionKind::Incident {
                webhook: format!("http://{addr}/incident"),
                resolve: true,
            },
        });
    }
    let mut builder = Watch::builder(rules);
    if let Some(addr) = options.listen {
        builder = builder.with_listen(addr);
    }
    let watch = builder
        .with_database(Database::File(db_path.clone()))
        .with_auto_tick(false)
        .with_view(ViewMode::Off)
        .with_ledger_slot(schedule.unit)
        .with_sinks(sinks)
        .start()
        .await?;
    let start_ms = clock.now_ms();
    let printer = Printer {
        ansi: matches!(output, Output::Stdout) && std::io::stdout().is_terminal(),
        output,
        log: Mutex::new(Vec::new()),
        start_ms,
    };
    let endpoint = format!("http://{}", watch.http_addr());
    printer.say(
        start_ms,
        &format!(
            "watch on {endpoint}/v1/metrics (gRPC {}), state in {}",
            watch
                .grpc_addr()
                .map_or("off".to_owned(), |a| a.to_string()),
            db_path.display()
        ),
    );
    printer.say(start_ms, &format!("console: {endpoint}/"));
    printer.say(start_ms, &format!("status page: {endpoint}/status"));
    printer.say(
        start_ms,
        &format!(
            "compressed time: 1 tick = {} = one ledger minute; windows of 5 ticks",
            human(schedule.ms(1.0)).replace("0s", "<1s")
        ),
    );
    let got = hook
        .as_ref()
        .map(|(_, g, _)| Arc::clone(g))
        .unwrap_or_default();
    let result = drive(&watch, schedule, &printer, &endpoint, &clock, &got).await;
    let (events, fleet_error) = match result {
        Ok(events) => (events, None),
        Err((events, e)) => (events, Some(e)),
    };
    // Let the hooks finish delivering.
    tokio::time::sleep(schedule.units(1.0).max(Duration::from_millis(500))).await;
    let now = clock.now_ms();
    let (year, month) = crate::clock::month_of(now);
    let report = watch.report(Month { year, month })?;
    let points = watch.points();
    let webhook_deliveries = hook
        .as_ref()
        .map(|(_, got, _)| got.alerts.load(Ordering::Relaxed))
        .unwrap_or(0);
    let finish = |watch: Watch| async {
        watch.shutdown().await;
        if let Some((_, _, task)) = hook {
            task.abort();
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut p = db_path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    };
    if let Some(e) = fleet_error {
        finish(watch).await;
        return Err(e);
    }
    let mut summary = DemoSummary {
        events,
        report,
        points,
        webhook_deliveries,
        rollbacks: got.rollbacks.load(Ordering::Relaxed),
        incidents: (
            got.incidents_opened.load(Ordering::Relaxed),
            got.incidents_resolved.load(Ordering::Relaxed),
        ),
        checks: Vec::new(),
    };
    summary.checks = checks(&summary);
    printer.raw(&summary_text(&summary));
    if !options.linger.is_zero() {
        printer.raw(&format!(
            "\nThe console ({endpoint}/) and the status page ({endpoint}/status) stay up for {}, frozen at the final state (Ctrl-C stops).\n",
            human(crate::clock::ms(options.linger))
        ));
        tokio::select! {
            () = tokio::time::sleep(options.linger) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    finish(watch).await;
    Ok(summary)
}

fn checks(s: &DemoSummary) -> Vec<(String, bool)> {
    let send = s.fired("message-send");
    let ai = s.fired("ai-worker-pipeline");
    vec![
        (
            "message-send fired on its success ratio".to_owned(),
            send.is_some_and(|a| a.classification == Classification::SuccessRatio),
        ),
        (
            "message-send names surface web_messenger".to_owned(),
            send.is_some_and(|a| {
                a.attributes
                    .first()
                    .is_some_and(|c| c.key == "surface" && c.value == "web_messenger")
            }),
        ),
        (
            "message-send names tenants acme and globex, and no other".to_owned(),
            send.is_some_and(|a| {
                let mut t: Vec<&str> = a.tenants.iter().map(|c| c.value.as_str()).collect();
                t.sort_unstable();
                t == ["acme", "globex"]
            }),
        ),
        (
            "message-send points at the deploy 1.4.2 -> 1.5.0".to_owned(),
            send.is_some_and(|a| {
                a.deploys
                    .iter()
                    .any(|d| d.from == "1.4.2" && d.to == "1.5.0")
            }),
        ),
        (
            "ai-worker-pipeline fired as a dead emitter".to_owned(),
            ai.is_some_and(|a| a.classification == Classification::DeadEmitter),
        ),
        (
            "the deploy's planned stop paged no one (api-pipeline quiet)".to_owned(),
            s.fired("api-pipeline").is_none(),
        ),
        (
            "the SLA ledger recorded core-platform downtime".to_owned(),
            s.downtime("core-platform") > 0,
        ),
        (
            "reply-deliver fired on no data while inbox-pipeline stayed quiet (the process beats)"
                .to_owned(),
            s.fired("reply-deliver")
                .is_some_and(|a| a.classification == Classification::NoData)
                && s.fired("inbox-pipeline").is_none(),
        ),
        (
            "the SLA counted the silence: a core-platform down period names the reply-deliver alert"
                .to_owned(),
            s.fired("reply-deliver").is_some_and(|a| {
                s.report.slas.iter().any(|l| {
                    l.name == "core-platform"
                        && l.downtime.iter().any(|d| d.alerts.contains(&a.id))
                })
            }),
        ),
        (
            "reply-deliver resolved once replies flowed again".to_owned(),
            s.events
                .iter()
                .any(|a| a.rule == "reply-deliver" && a.status == AlertStatus::Resolved),
        ),
        (
            "the rollback action ran once, from the message-send alert, and is recorded on it"
                .to_owned(),
            s.rollbacks == 1
                && s.report.alerts.iter().any(|a| {
                    a.rule == "message-send"
                        && a.actions_taken
                            .iter()
                            .any(|r| r.kind == "rollback" && r.ok && r.summary.contains("rolled back messenger-api to 1.4.2"))
                }),
        ),
        (
            "an incident was opened for it and resolved with it".to_owned(),
            s.incidents == (1, 1)
                && s.report
                    .alerts
                    .iter()
                    .any(|a| a.rule == "message-send" && a.incident.is_some()),
        ),
        (
            "message-send resolved after the automatic rollback".to_owned(),
            s.events
                .iter()
                .any(|a| a.rule == "message-send" && a.status == AlertStatus::Resolved),
        ),
        (
            "the webhook received the alerts".to_owned(),
            s.webhook_deliveries > 0,
        ),
    ]
}

fn summary_text(s: &DemoSummary) -> String {
    let mut out = String::from("\n=== Summary ===\n");
    let _ = writeln!(
        out,
        "points received: {} accepted, {} rejected",
        s.points.0, s.points.1
    );
    let _ = writeln!(out, "alerts:");
    for a in s.events.iter().filter(|a| a.status == AlertStatus::Firing) {
        let _ = writeln!(out, "  {} [{}]: {}", a.rule, a.classification, a.summary);
        for action in a.actions.iter().take(2) {
            let _ = writeln!(out, "      -> {action}");
        }
    }
    let _ = writeln!(out, "SLA ledger (compressed time: one slot per tick):");
    for l in &s.report.slas {
        let _ = writeln!(
            out,
            "  {:<14} {} of {} slots down, {} unknown (warming up at the start); availability {:.2}% of the known slots, {:.2}% with unknown counted down",
            l.name,
            l.down,
            l.slots_elapsed,
            l.unknown,
            l.availability_observed * 100.0,
            l.availability_month * 100.0
        );
    }
    let _ = writeln!(
        out,
        "webhook notifications delivered: {}",
        s.webhook_deliveries
    );
    let _ = writeln!(out, "checks:");
    for (what, held) in &s.checks {
        let _ = writeln!(out, "  [{}] {what}", if *held { "ok" } else { "FAILED" });
    }
    let _ = writeln!(
        out,
        "{}",
        if s.passed() {
            "demo complete: every check held."
        } else {
            "demo complete: some checks FAILED."
        }
    );
    out
}

type Drive = Result<Vec<Alert>, (Vec<Alert>, DemoError)>;

async fn drive(
    watch: &Watch,
    schedule: Schedule,
    printer: &Printer,
    endpoint: &str,
    clock: &SystemClock,
    got: &Received,
) -> Drive {
    let mut events = Vec::new();
    let start = |spec: &Spec, version: &str| start_service(spec, version, endpoint, schedule);
    let services = match (
        start(&MESSENGER, "1.4.2"),
        start(&INBOX, "2.3.0"),
        start(&AI, "0.9.1"),
    ) {
        (Ok(a), Ok(b), Ok(c)) => vec![a, b, c],
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Err((events, e)),
    };
    let fleet = Arc::new(Fleet {
        services: Mutex::new(services),
        broken: AtomicBool::new(false),
        inbox_silent: AtomicBool::new(false),
        stop: AtomicBool::new(false),
    });
    printer.say(
        clock.now_ms(),
        "fleet up: messenger-api 1.4.2, inbox-api 2.3.0, ai-worker 0.9.1; 6 tenants; exporting OTLP/HTTP every half tick, beating 4 times a tick",
    );
    let generator = tokio::spawn(traffic(Arc::clone(&fleet), schedule));
    // The script, in ticks after the first window boundary at least 8 ticks away.
    let unit = schedule.ms(1.0).max(1);
    let window = 5 * unit;
    let now = clock.now_ms();
    let base = (now + 8 * unit).div_euclid(window) * window + window;
    let at = |ticks: f64| base + (ticks * unit as f64) as i64;
    #[derive(Clone, Copy, PartialEq)]
    enum Step {
        Deploy,
        Kill,
        InboxSilent,
        Rollback,
        InboxBack,
    }
    let mut script = vec![
        (at(-1.0), Step::Deploy),
        (at(3.0), Step::Kill),
        (at(5.0), Step::InboxSilent),
        (at(15.0), Step::InboxBack),
    ];
    let end = at(28.0);
    let mut tick = 0u64;
    let mut next_tick = (now.div_euclid(unit) + 1) * unit;
    loop {
        let now = clock.now_ms();
        let next_step = script.first().map(|s| s.0);
        // Wake at least every tenth of a tick to see a rollback request.
        let wake = next_step
            .map_or(next_tick, |s| s.min(next_tick))
            .min(clock.now_ms() + (unit / 10).max(10));
        if wake > now {
            tokio::time::sleep(Duration::from_millis(
                u64::try_from(wake - now).unwrap_or(0),
            ))
            .await;
        }
        let now = clock.now_ms();
        // The rollback action asked the "deploy system" (the demo's endpoint) to roll back.
        if got.rollback_pending.swap(false, Ordering::Relaxed) {
            script.insert(0, (now, Step::Rollback));
        }
        if script.first().is_some_and(|s| s.0 <= now) {
            let (_, step) = script.remove(0);
            let result = match step {
                Step::Deploy => deploy(&fleet, endpoint, schedule, "1.5.0", true).await,
                Step::Kill => {
                    if let Ok(mut services) = fleet.services.lock() {
                        // Dropping the handle is how a dead task looks: the count freezes.
                        drop(services[2].deadman.take());
                    }
                    Ok(())
                }
                Step::InboxSilent => {
                    fleet.inbox_silent.store(true, Ordering::Relaxed);
                    Ok(())
                }
                Step::InboxBack => {
                    fleet.inbox_silent.store(false, Ordering::Relaxed);
                    Ok(())
                }
                Step::Rollback => deploy(&fleet, endpoint, schedule, "1.4.2", false).await,
            };
            let line = match step {
                Step::Deploy => {
                    "messenger-api deploys 1.4.2 -> 1.5.0 (graceful stop, new instance); from now on web_messenger sends fail for acme and globex"
                }
                Step::Kill => {
                    "ai-worker's dead-man emitter dies (its task is gone; the process keeps exporting outcomes)"
                }
                Step::InboxSilent => {
                    "inbox-api stops delivering replies entirely (a stuck queue consumer): the process runs and beats, no reply.deliver event at all"
                }
                Step::InboxBack => "inbox-api's consumer is restarted: replies flow again",
                Step::Rollback => {
                    "the rollback action (fired by message-send's diagnosis) rolls messenger-api back to 1.4.2"
                }
            };
            printer.say(now, line);
            if let Err(e) = result {
                fleet.stop.store(true, Ordering::Relaxed);
                return Err((events, e));
            }
            continue;
        }
        if now >= next_tick {
            next_tick += unit;
            tick += 1;
            let fired = watch.tick().await;
            for a in &fired {
                let text = crate::service::event_text(a, now);
                for line in text.lines() {
                    printer.say(now, line.trim_start());
                }
            }
            events.extend(fired);
            printer.frame(&watch.snapshot(), tick);
            if now >= end {
                break;
            }
        }
    }
    fleet.stop.store(true, Ordering::Relaxed);
    let _ = generator.await;
    let services = fleet
        .services
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default();
    for s in services {
        let _ = s.hb.shutdown().await;
    }
    printer.say(
        clock.now_ms(),
        "fleet stopped (graceful shutdown: status 2, no page)",
    );
    Ok(events)
}

async fn deploy(
    fleet: &Fleet,
    endpoint: &str,
    schedule: Schedule,
    version: &str,
    broken: bool,
) -> Result<(), DemoError> {
    let new = start_service(&MESSENGER, version, endpoint, schedule)?;
    let old = match fleet.services.lock() {
        Ok(mut services) => std::mem::replace(&mut services[0], new),
        Err(_) => return Err(DemoError::Fleet("fleet lock poisoned".to_owned())),
    };
    fleet.broken.store(broken, Ordering::Relaxed);
    if let Some(d) = old.deadman {
        let _ = d.stop().await;
    }
    let _ = old.hb.shutdown().await;
    Ok(())
}
