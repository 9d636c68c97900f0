//! Acting on the diagnosis: `[[action]]` tables run when an alert fires.
//!
//! - `kind = "rollback"`: when an outcome alert's diagnosis names a deploy of a service within
//!   `max_deploy_age`, roll it back: run the configured command (`HEARTBEAT_SERVICE`,
//!   `HEARTBEAT_BAD_VERSION`, `HEARTBEAT_GOOD_VERSION`, `HEARTBEAT_ALERT_ID`,
//!   `HEARTBEAT_DRY_RUN` in its environment) or POST that as JSON to a deploy system. Once per
//!   alert, never for a dead-man alert, with a timeout; the result (exit status, time, the tail
//!   of the output) is recorded on the alert and carried by every later notification. A failed
//!   rollback is recorded, never retried.
//! - `kind = "incident"`: open an incident through a webhook when an alert fires, keep its id and
//!   link on the alert, and resolve it when the alert resolves.
//!
//! Guard rails: at most `max_actions_per_hour` runs (all actions together), none while the
//! watch has less than one full window of the rule's data since it started, every run (and
//! every skip, with its reason) visible on the alert in `/api/alerts`. What ran is persisted,
//! so a restart never runs an action twice for one alert.

use std::collections::{HashMap, HashSet, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::{Alert, AlertKind, AlertStatus, formats};
use crate::clock::{Clock, human, rfc3339};
use crate::db::Db;
use crate::rulefile::{Action, ActionKind, RuleFile};

/// Output kept per run.
const OUTPUT_TAIL: usize = 2000;

/// What one action did (or why it did not) for one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRun {
    /// The `[[action]]` name.
    pub action: String,
    /// `rollback`, `incident_open` or `incident_resolve`.
    pub kind: String,
    /// When it ran (ms since the epoch).
    pub at_ms: i64,
    /// `at_ms` as RFC 3339.
    pub at: String,
    /// Whether it succeeded (a skip is not a success).
    pub ok: bool,
    /// Run as a dry run: nothing was changed.
    pub dry_run: bool,
    /// Why it did not run, if it did not.
    pub skipped: Option<String>,
    /// One line: "rolled back messenger-api to 1.4.2 at ... (exit 0, 1.2s)".
    pub summary: String,
    /// The command's exit code, or the HTTP status.
    pub exit: Option<i32>,
    /// How long it took (ms).
    pub took_ms: i64,
    /// The tail of its output (or of the answer).
    pub output: String,
}

/// An incident opened for an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRef {
    /// The incident action.
    pub action: String,
    /// The incident's id, from the webhook's answer.
    pub id: String,
    /// Its link, if the answer gave one.
    pub url: Option<String>,
}

/// A finished run, for the next tick to put on its alert.
#[derive(Debug, Clone)]
pub(crate) struct Done {
    pub(crate) alert_id: String,
    pub(crate) run: ActionRun,
    pub(crate) incident: Option<IncidentRef>,
}

/// The actions of a rule file and their guard rails.
#[derive(Debug)]
pub(crate) struct Actions {
    defs: Vec<Action>,
    max_per_hour: u32,
    started_ms: i64,
    windows: HashMap<String, i64>,
    clock: Arc<dyn Clock>,
    db: Arc<Mutex<Db>>,
    client: Option<super::https::HttpsClient>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Run times in the last hour, all actions together.
    recent: VecDeque<i64>,
    /// `(action, alert id)` pairs already handled.
    done: HashSet<(String, String)>,
    finished: Vec<Done>,
}

impl Actions {
    /// The actions of `rules`, with what a previous run of the watch already did.
    pub(crate) fn new(
        rules: &RuleFile,
        started_ms: i64,
        clock: Arc<dyn Clock>,
        db: Arc<Mutex<Db>>,
    ) -> Self {
        let mut windows: HashMap<String, i64> = HashMap::new();
        for r in &rules.outcome {
            windows.insert(r.name.clone(), crate::clock::ms(r.window));
        }
        for r in &rules.deadman {
            windows.insert(r.name.clone(), crate::clock::ms(r.window));
        }
        let mut state = State::default();
        if let Ok(runs) = db.lock().unwrap_or_else(|e| e.into_inner()).action_runs() {
            for (action, alert_id, at_ms) in runs {
                state.done.insert((action, alert_id));
                if at_ms >= started_ms - 3_600_000 {
                    state.recent.push_back(at_ms);
                }
            }
        }
        Self {
            defs: rules.action.clone(),
            max_per_hour: rules.watch.max_actions_per_hour,
            started_ms,
            windows,
            clock,
            db,
            client: super::https::HttpsClient::new(None, Duration::from_secs(30)).ok(),
            state: Mutex::new(state),
        }
    }

    /// Whether there is anything to do at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// Runs what the tick's events call for, in the background.
    pub(crate) fn on_events(self: &Arc<Self>, events: &[Alert]) {
        for alert in events {
            for def in &self.defs {
                if !def.rules.is_empty() && !def.rules.contains(&alert.rule) {
                    continue;
                }
                match (&def.kind, alert.status) {
                    (ActionKind::Rollback { .. }, AlertStatus::Firing)
                        if alert.kind == AlertKind::Outcome =>
                    {
                        self.start_rollback(def, alert);
                    }
                    (ActionKind::Incident { .. }, AlertStatus::Firing)
                        if alert.kind != AlertKind::Watch =>
                    {
                        self.start(def, alert, "incident_open");
                    }
                    (ActionKind::Incident { resolve: true, .. }, AlertStatus::Resolved) => {
                        if let Some(incident) =
                            alert.incident.as_ref().filter(|i| i.action == def.name)
                        {
                            let me = Arc::clone(self);
                            let (def, alert, incident) =
                                (def.clone(), alert.clone(), incident.clone());
                            tokio::spawn(async move {
                                let run = me.resolve_incident(&def, &alert, &incident).await;
                                me.finish(&alert.id, run, None);
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// What finished since the last call.
    pub(crate) fn take_done(&self) -> Vec<Done> {
        std::mem::take(
            &mut self
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .finished,
        )
    }

    /// Takes the guard rails: `Err` is why not (recorded on the alert).
    fn admit(&self, def: &Action, alert: &Alert) -> Result<(), String> {
        let now = self.clock.now_ms();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let key = (def.name.clone(), alert.id.clone());
        if state.done.contains(&key) {
            return Err(String::new());
        }
        state.done.insert(key);
        let window = self.windows.get(&alert.rule).copied().unwrap_or(0);
        if now - self.started_ms < window {
            return Err(format!(
                "skipped: the watch has less than one full window ({}) of data since it started {} ago",
                human(window),
                human(now - self.started_ms)
            ));
        }
        while state.recent.front().is_some_and(|&t| t < now - 3_600_000) {
            state.recent.pop_front();
        }
        if state.recent.len() >= self.max_per_hour as usize {
            return Err(format!(
                "skipped: max_actions_per_hour ({}) reached",
                self.max_per_hour
            ));
        }
        state.recent.push_back(now);
        Ok(())
    }

    fn start(self: &Arc<Self>, def: &Action, alert: &Alert, kind: &'static str) {
        let me = Arc::clone(self);
        let (def, alert) = (def.clone(), alert.clone());
        match self.admit(&def, &alert) {
            Err(why) if why.is_empty() => {}
            Err(why) => self.finish(&alert.id, self.skipped(&def, kind, why), None),
            Ok(()) => {
                tokio::spawn(async move {
                    let (run, incident) = me.open_incident(&def, &alert).await;
                    me.finish(&alert.id, run, incident);
                });
            }
        }
    }

    fn start_rollback(self: &Arc<Self>, def: &Action, alert: &Alert) {
        let ActionKind::Rollback { max_deploy_age, .. } = &def.kind else {
            return;
        };
        let now = self.clock.now_ms();
        let max_age = crate::clock::ms(*max_deploy_age);
        let Some(deploy) = alert
            .deploys
            .iter()
            .rev()
            .find(|d| now - d.at_ms <= max_age)
            .cloned()
        else {
            return; // nothing recent to roll back: not this action's business
        };
        match self.admit(def, alert) {
            Err(why) if why.is_empty() => {}
            Err(why) => self.finish(&alert.id, self.skipped(def, "rollback", why), None),
            Ok(()) => {
                let me = Arc::clone(self);
                let (def, alert) = (def.clone(), alert.clone());
                tokio::spawn(async move {
                    let run = me.rollback(&def, &alert, &deploy).await;
                    me.finish(&alert.id, run, None);
                });
            }
        }
    }

    fn skipped(&self, def: &Action, kind: &str, why: String) -> ActionRun {
        let now = self.clock.now_ms();
        ActionRun {
            action: def.name.clone(),
            kind: kind.to_owned(),
            at_ms: now,
            at: rfc3339(now),
            ok: false,
            dry_run: false,
            summary: format!("{kind} {}: {why}", def.name),
            skipped: Some(why),
            exit: None,
            took_ms: 0,
            output: String::new(),
        }
    }

    fn finish(&self, alert_id: &str, run: ActionRun, incident: Option<IncidentRef>) {
        if run.skipped.is_none() {
            let db = self.db.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = db.record_action(&run.action, alert_id, run.at_ms, run.ok) {
                eprintln!("heartbeat-watch: recording action {}: {e}", run.action);
            }
        }
        eprintln!("heartbeat-watch: alert {alert_id}: {}", run.summary);
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finished
            .push(Done {
                alert_id: alert_id.to_owned(),
                run,
                incident,
            });
    }

    async fn rollback(&self, def: &Action, alert: &Alert, deploy: &super::Deploy) -> ActionRun {
        let ActionKind::Rollback {
            command,
            webhook,
            timeout,
            dry_run,
            ..
        } = &def.kind
        else {
            return self.skipped(def, "rollback", "not a rollback".to_owned());
        };
        let started = std::time::Instant::now();
        let at_ms = self.clock.now_ms();
        let vars = [
            ("HEARTBEAT_SERVICE", deploy.service.clone()),
            ("HEARTBEAT_BAD_VERSION", deploy.to.clone()),
            ("HEARTBEAT_GOOD_VERSION", deploy.from.clone()),
            ("HEARTBEAT_ALERT_ID", alert.id.clone()),
            (
                "HEARTBEAT_DRY_RUN",
                if *dry_run { "1" } else { "0" }.to_owned(),
            ),
        ];
        let what = format!("{} to {}", deploy.service, deploy.from);
        let (ok, exit, output) = if *dry_run {
            (
                true,
                None,
                match command {
                    Some(c) => format!("dry run: would run {c:?} with {vars:?}"),
                    None => format!(
                        "dry run: would POST {vars:?} to {}",
                        webhook.as_deref().unwrap_or("")
                    ),
                },
            )
        } else if let Some(argv) = command {
            run_command(argv, &vars, *timeout).await
        } else if let Some(url) = webhook {
            let body = serde_json::json!({
                "service": deploy.service,
                "bad_version": deploy.to,
                "good_version": deploy.from,
                "alert_id": alert.id,
                "dry_run": false,
            });
            post(&self.client, url, &body, *timeout).await
        } else {
            (false, None, "no command or webhook".to_owned())
        };
        let took_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let status = exit.map_or(String::new(), |c| format!("exit {c}, "));
        let summary = if *dry_run {
            format!("dry run: would roll back {what} at {}", rfc3339(at_ms))
        } else if ok {
            format!(
                "rolled back {what} at {} ({status}{})",
                rfc3339(at_ms),
                human(took_ms)
            )
        } else {
            format!(
                "rollback of {what} FAILED at {} ({status}{}): not retried; roll back by hand",
                rfc3339(at_ms),
                human(took_ms)
            )
        };
        ActionRun {
            action: def.name.clone(),
            kind: "rollback".to_owned(),
            at_ms,
            at: rfc3339(at_ms),
            ok,
            dry_run: *dry_run,
            skipped: None,
            summary,
            exit,
            took_ms,
            output,
        }
    }

    async fn open_incident(&self, def: &Action, alert: &Alert) -> (ActionRun, Option<IncidentRef>) {
        let ActionKind::Incident { webhook, .. } = &def.kind else {
            return (
                self.skipped(def, "incident_open", "not an incident".to_owned()),
                None,
            );
        };
        let started = std::time::Instant::now();
        let at_ms = self.clock.now_ms();
        let request = formats::incident(alert, webhook);
        let (ok, exit, output) = post(
            &self.client,
            &request.url,
            &request.body,
            Duration::from_secs(30),
        )
        .await;
        let took_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let answer: serde_json::Value = serde_json::from_str(&output).unwrap_or_default();
        let id = match &answer["id"] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let incident = match (ok, id) {
            (true, Some(id)) => Some(IncidentRef {
                action: def.name.clone(),
                id,
                url: answer["url"].as_str().map(str::to_owned),
            }),
            _ => None,
        };
        let summary = match &incident {
            Some(i) => format!(
                "opened incident {}{} at {}",
                i.id,
                i.url.as_ref().map_or(String::new(), |u| format!(" ({u})")),
                rfc3339(at_ms)
            ),
            None if ok => format!(
                "incident webhook answered without an id at {}",
                rfc3339(at_ms)
            ),
            None => format!(
                "opening an incident FAILED at {}: {}",
                rfc3339(at_ms),
                tail(&output, 200)
            ),
        };
        (
            ActionRun {
                action: def.name.clone(),
                kind: "incident_open".to_owned(),
                at_ms,
                at: rfc3339(at_ms),
                ok: incident.is_some(),
                dry_run: false,
                skipped: None,
                summary,
                exit,
                took_ms,
                output: tail(&output, OUTPUT_TAIL),
            },
            incident,
        )
    }

    async fn resolve_incident(
        &self,
        def: &Action,
        alert: &Alert,
        incident: &IncidentRef,
    ) -> ActionRun {
        let at_ms = self.clock.now_ms();
        let started = std::time::Instant::now();
        let ActionKind::Incident { webhook, .. } = &def.kind else {
            return self.skipped(def, "incident_resolve", "not an incident".to_owned());
        };
        let mut request = formats::incident(alert, webhook);
        if let Some(map) = request.body.as_object_mut() {
            map.insert(
                "incident_id".into(),
                serde_json::Value::String(incident.id.clone()),
            );
        }
        let (ok, exit, output) = post(
            &self.client,
            &request.url,
            &request.body,
            Duration::from_secs(30),
        )
        .await;
        ActionRun {
            action: def.name.clone(),
            kind: "incident_resolve".to_owned(),
            at_ms,
            at: rfc3339(at_ms),
            ok,
            dry_run: false,
            skipped: None,
            summary: if ok {
                format!("resolved incident {} at {}", incident.id, rfc3339(at_ms))
            } else {
                format!(
                    "resolving incident {} FAILED at {}",
                    incident.id,
                    rfc3339(at_ms)
                )
            },
            exit,
            took_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            output: tail(&output, OUTPUT_TAIL),
        }
    }
}

fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &text[start..])
}

/// Runs a command with `vars` in its environment, at most `timeout`: (success, exit code,
/// output tail).
async fn run_command(
    argv: &[String],
    vars: &[(&str, String)],
    timeout: Duration,
) -> (bool, Option<i32>, String) {
    let Some(program) = argv.first() else {
        return (false, None, "no program".to_owned());
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (false, None, format!("cannot start {program:?}: {e}")),
    };
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let read = async {
        let mut text = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut text).await;
        }
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut text).await;
        }
        let status = child.wait().await;
        (status, text)
    };
    match tokio::time::timeout(timeout, read).await {
        Ok((Ok(status), text)) => (
            status.success(),
            status.code(),
            tail(&String::from_utf8_lossy(&text), OUTPUT_TAIL),
        ),
        Ok((Err(e), _)) => (false, None, e.to_string()),
        Err(_) => (
            false,
            None,
            format!(
                "did not finish within {}: killed",
                human(crate::clock::ms(timeout))
            ),
        ),
    }
}

async fn post(
    client: &Option<super::https::HttpsClient>,
    url: &str,
    body: &serde_json::Value,
    timeout: Duration,
) -> (bool, Option<i32>, String) {
    let Some(client) = client else {
        return (
            false,
            None,
            "no HTTP client (the TLS set-up failed)".to_owned(),
        );
    };
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    match tokio::time::timeout(timeout, client.post(url, &[], bytes)).await {
        Ok(Ok((status, text))) => ((200..300).contains(&status), Some(i32::from(status)), text),
        Ok(Err(e)) => (
            false,
            None,
            format!("POST {}: {e}", heartbeat_core::redact::origin(url)),
        ),
        Err(_) => (
            false,
            None,
            format!(
                "POST {}: no answer within {}",
                heartbeat_core::redact::origin(url),
                human(crate::clock::ms(timeout))
            ),
        ),
    }
}
