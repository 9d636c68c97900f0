//! Alert delivery: webhooks (a generic JSON body, or Alertmanager's formats) and a command hook.
//!
//! The judge hands alerts to a [`Dispatcher`] without waiting: a bounded queue feeds one
//! delivery task, each delivery is retried briefly (three attempts, 250 ms then 1 s apart, 5 s
//! timeout each), and a full queue drops the alert with a count rather than stall judging.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::{Alert, AlertStatus};
use crate::clock::rfc3339;

/// Attempts per delivery.
const ATTEMPTS: u32 = 3;
/// Per-attempt timeout.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Alerts waiting for delivery before new ones are dropped.
const QUEUE: usize = 256;

/// Where alerts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// POST Heartbeat's alert JSON to a URL.
    Generic {
        /// Sink name.
        name: String,
        /// `http://` URL (for HTTPS, a command hook running `curl`).
        url: String,
    },
    /// POST to Alertmanager: its API's alert list when the URL ends in `/api/v2/alerts`,
    /// otherwise the body Alertmanager itself sends to webhook receivers (version 4).
    Alertmanager {
        /// Sink name.
        name: String,
        /// URL.
        url: String,
    },
    /// Run a program with the alert JSON on its standard input; exit status 0 is success.
    Command {
        /// Sink name.
        name: String,
        /// Program and arguments.
        argv: Vec<String>,
    },
}

impl Sink {
    /// The sink's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Generic { name, .. }
            | Self::Alertmanager { name, .. }
            | Self::Command { name, .. } => name,
        }
    }
}

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The HTTP request failed or timed out.
    #[error("POST {url}: {message}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The command could not run, timed out or exited with a failure.
    #[error("command {program:?}: {message}")]
    Command {
        /// The program.
        program: String,
        /// What went wrong.
        message: String,
    },
}

#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// What the delivery task takes from its queue.
#[derive(Debug)]
enum Job {
    /// Deliver an alert to every sink.
    Alert(Box<Alert>),
    /// The tick's watchdog event: proves the task is alive (the self-heartbeat reads it).
    Watchdog(i64),
}

/// Hands alerts to the sinks in the background; cheap to clone.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    tx: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    alive_ms: Arc<AtomicI64>,
}

impl Dispatcher {
    /// Starts the delivery task on the current tokio runtime (with no sinks it only takes the
    /// watchdog events).
    pub fn start(sinks: Vec<Sink>) -> Self {
        let counters = Arc::new(Counters::default());
        let alive_ms = Arc::new(AtomicI64::new(0));
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .unwrap_or_default();
        let c = Arc::clone(&counters);
        let alive = Arc::clone(&alive_ms);
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let alert = match job {
                    Job::Watchdog(at) => {
                        alive.store(at, Ordering::Relaxed);
                        continue;
                    }
                    Job::Alert(alert) => *alert,
                };
                for sink in &sinks {
                    match deliver_with_retry(&client, sink, &alert).await {
                        Ok(()) => c.delivered.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            eprintln!(
                                "heartbeat-watch: alert {} to sink {}: {e}",
                                alert.id,
                                sink.name()
                            );
                            c.failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            }
        });
        Self {
            tx,
            counters,
            alive_ms,
        }
    }

    /// Queues `alert` for every sink without waiting; a full queue drops it (counted).
    pub fn send(&self, alert: Alert) {
        if self.tx.try_send(Job::Alert(Box::new(alert))).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues the tick's watchdog event behind the alerts; a full queue skips it.
    pub(crate) fn watchdog(&self, at_ms: i64) {
        let _ = self.tx.try_send(Job::Watchdog(at_ms));
    }

    /// When the delivery task last took a watchdog event (ms since the epoch; 0 never).
    pub(crate) fn alive_ms(&self) -> i64 {
        self.alive_ms.load(Ordering::Relaxed)
    }

    /// Deliveries that succeeded, failed after their retries, and alerts dropped on a full queue.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.counters.delivered.load(Ordering::Relaxed),
            self.counters.failed.load(Ordering::Relaxed),
            self.counters.dropped.load(Ordering::Relaxed),
        )
    }
}

async fn deliver_with_retry(
    client: &reqwest::Client,
    sink: &Sink,
    alert: &Alert,
) -> Result<(), DeliveryError> {
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 * 4u64.pow(attempt - 1))).await;
        }
        match deliver(client, sink, alert).await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(DeliveryError::Command {
        program: String::new(),
        message: "no attempt".into(),
    }))
}

/// Delivers one alert to one sink, once.
///
/// # Errors
/// [`DeliveryError`] when the request fails, times out or gets a non-2xx answer, or the
/// command cannot run, times out or exits with a failure.
pub(crate) async fn deliver(
    client: &reqwest::Client,
    sink: &Sink,
    alert: &Alert,
) -> Result<(), DeliveryError> {
    match sink {
        Sink::Generic { url, .. } => post(client, url, &alert.to_json()).await,
        Sink::Alertmanager { name, url } => {
            let body = if url.trim_end_matches('/').ends_with("/api/v2/alerts") {
                alertmanager_api_body(alert)
            } else {
                alertmanager_webhook_body(alert, name)
            };
            post(client, url, &body).await
        }
        Sink::Command { argv, .. } => run_command(argv, alert).await,
    }
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Result<(), DeliveryError> {
    let err = |message: String| DeliveryError::Http {
        url: url.to_owned(),
        message,
    };
    let bytes = serde_json::to_vec(body).map_err(|e| err(e.to_string()))?;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(err(format!("answered {}", response.status())))
    }
}

async fn run_command(argv: &[String], alert: &Alert) -> Result<(), DeliveryError> {
    let program = argv.first().cloned().unwrap_or_default();
    let err = |message: String| DeliveryError::Command {
        program: program.clone(),
        message,
    };
    let body = serde_json::to_vec(&alert.to_json()).map_err(|e| err(e.to_string()))?;
    let mut child = tokio::process::Command::new(&program)
        .args(argv.iter().skip(1))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| err(format!("cannot start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&body)
            .await
            .map_err(|e| err(format!("writing stdin: {e}")))?;
    }
    match tokio::time::timeout(TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(err(format!("exited with {status}"))),
        Ok(Err(e)) => Err(err(e.to_string())),
        Err(_) => Err(err(format!("did not finish within {}s", TIMEOUT.as_secs()))),
    }
}

fn labels(alert: &Alert) -> Value {
    let mut labels = json!({
        "alertname": format!("Heartbeat{}", camel(&alert.rule)),
        "heartbeat_rule": alert.rule,
        "severity": alert.severity,
        "classification": alert.classification.as_str(),
    });
    if let (Some(service), Some(map)) = (&alert.service, labels.as_object_mut()) {
        map.insert("service".into(), Value::String(service.clone()));
    }
    labels
}

fn annotations(alert: &Alert) -> Value {
    let tenants: Vec<String> = alert
        .tenants
        .iter()
        .map(|t| format!("{} ({:.0}% of the drop)", t.value, t.share_of_drop * 100.0))
        .collect();
    json!({
        "summary": alert.summary,
        "description": alert.details.join("\n"),
        "since": alert.since,
        "signal": alert.signal,
        "tenants": tenants.join(", "),
        "actions": alert.actions.join("\n"),
    })
}

fn ends_at(alert: &Alert) -> String {
    match (alert.status, alert.resolved_ms) {
        (AlertStatus::Resolved, Some(ms)) => rfc3339(ms),
        _ => "0001-01-01T00:00:00Z".to_owned(),
    }
}

/// Alertmanager's API body (`POST /api/v2/alerts`): a list of postable alerts.
pub(crate) fn alertmanager_api_body(alert: &Alert) -> Value {
    let mut item = json!({
        "labels": labels(alert),
        "annotations": annotations(alert),
        "startsAt": alert.since,
        "generatorURL": "",
    });
    if let (AlertStatus::Resolved, Some(map)) = (alert.status, item.as_object_mut()) {
        map.insert("endsAt".into(), Value::String(ends_at(alert)));
    }
    json!([item])
}

/// The body Alertmanager sends to its webhook receivers (version 4), for one alert.
pub(crate) fn alertmanager_webhook_body(alert: &Alert, receiver: &str) -> Value {
    let status = match alert.status {
        AlertStatus::Firing => "firing",
        AlertStatus::Resolved => "resolved",
    };
    let labels = labels(alert);
    let group_key = format!("{{}}:{{heartbeat_rule=\"{}\"}}", alert.rule);
    json!({
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": { "heartbeat_rule": alert.rule },
        "commonLabels": labels,
        "commonAnnotations": annotations(alert),
        "externalURL": "",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations(alert),
            "startsAt": alert.since,
            "endsAt": ends_at(alert),
            "generatorURL": "",
            "fingerprint": fingerprint(&alert.id),
        }],
    })
}

fn camel(rule: &str) -> String {
    rule.split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

fn fingerprint(id: &str) -> String {
    // FNV-1a, 64 bits: a stable id, not a security property.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
