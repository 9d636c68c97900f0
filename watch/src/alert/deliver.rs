//! Alert delivery through a durable outbox.
//!
//! Every firing and resolved event is written to SQLite, one row per sink it is routed to, in
//! the tick that produced it and before any delivery attempt (`outbox`). One worker per sink
//! delivers its rows in order (an alert's resolved event never overtakes its firing one), with
//! exponential backoff and jitter (1 s doubling to 5 minutes, ±20 %), for as long as the sink's
//! `max_delivery_age` (24 h by default), across restarts of the watch; each attempt's outcome is
//! kept on the row. An event given up is counted, logged with its reason, and raises a
//! ticket-severity internal alert. A worker never holds up the judge or another sink.
//!
//! Alertmanager's API is held the way Prometheus holds it: firing alerts carry `endsAt` four
//! `resend_interval`s ahead and are re-posted every `resend_interval` while they fire, so
//! Alertmanager never resolves on its own an alert the watch still holds; a resolved event
//! carries `endsAt` = the resolve time.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, watch};

use super::https::HttpsClient;
use super::{Alert, AlertStatus, formats};
use crate::clock::{Clock, rfc3339};
use crate::db::{Db, OutboxRow};
use crate::rulefile::{AlertSink, Route, SinkTarget, WebhookFormat};

/// Per-attempt timeout.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The first retry's delay; it doubles up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: i64 = 1_000;
const MAX_BACKOFF_MS: i64 = 300_000;
/// How long a worker sleeps with nothing due.
const IDLE: Duration = Duration::from_millis(250);

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

/// A sink ready to deliver: its settings, credential and HTTP client.
pub(crate) struct SinkRt {
    pub(crate) def: AlertSink,
    credential: Option<String>,
    client: HttpsClient,
}

impl std::fmt::Debug for SinkRt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkRt")
            .field("name", &self.def.name)
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Why the sinks could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The variable named by a sink's `credential_env` is not set.
    #[error("alert sink {sink:?}: credential_env names {var}, which is not set")]
    MissingCredential {
        /// The sink.
        sink: String,
        /// The variable.
        var: String,
    },
    /// The sink's HTTPS client could not be built (its `ca_file`).
    #[error("alert sink {sink:?}: {message}")]
    Tls {
        /// The sink.
        sink: String,
        /// What is wrong.
        message: String,
    },
}

/// The HTTP(S) client of a sink (its CA file, if any).
fn client(def: &AlertSink) -> Result<HttpsClient, SinkError> {
    HttpsClient::new(def.ca_file.as_deref(), TIMEOUT).map_err(|message| SinkError::Tls {
        sink: def.name.clone(),
        message,
    })
}

#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    failed: AtomicU64,
    given_up: AtomicU64,
    resent: AtomicU64,
}

/// Delivers the outbox to the sinks in the background; cheap to clone.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sinks: Vec<Arc<SinkRt>>,
    routes: Vec<Route>,
    counters: Counters,
    alive_ms: AtomicI64,
    wake: Notify,
    open: watch::Sender<Arc<Vec<Alert>>>,
    /// Internal alerts raised by the workers (an event given up), for the next tick.
    raised: Mutex<Vec<Alert>>,
}

impl Dispatcher {
    /// Sets up the sinks (credentials, HTTPS clients) and starts one worker per sink, and a
    /// resend loop per Alertmanager sink, on the current tokio runtime.
    ///
    /// # Errors
    /// [`SinkError`] when a credential variable is missing or a CA file unusable.
    pub(crate) fn start(
        defs: Vec<AlertSink>,
        routes: Vec<Route>,
        db: Arc<Mutex<Db>>,
        clock: Arc<dyn Clock>,
        stop: watch::Receiver<bool>,
    ) -> Result<Self, SinkError> {
        let mut sinks = Vec::new();
        for def in defs {
            let credential = match &def.credential_env {
                Some(var) => {
                    Some(
                        std::env::var(var).map_err(|_| SinkError::MissingCredential {
                            sink: def.name.clone(),
                            var: var.clone(),
                        })?,
                    )
                }
                None => None,
            };
            let client = client(&def)?;
            sinks.push(Arc::new(SinkRt {
                def,
                credential,
                client,
            }));
        }
        let (open, _) = watch::channel(Arc::new(Vec::new()));
        let inner = Arc::new(Inner {
            sinks,
            routes,
            counters: Counters::default(),
            alive_ms: AtomicI64::new(clock.now_ms()),
            wake: Notify::new(),
            open,
            raised: Mutex::new(Vec::new()),
        });
        for sink in &inner.sinks {
            tokio::spawn(worker(
                Arc::clone(&inner),
                Arc::clone(sink),
                Arc::clone(&db),
                Arc::clone(&clock),
                stop.clone(),
            ));
            if matches!(
                sink.def.target,
                SinkTarget::Webhook {
                    format: WebhookFormat::Alertmanager,
                    ..
                }
            ) && is_am_api(&sink.def)
            {
                tokio::spawn(resend(
                    Arc::clone(&inner),
                    Arc::clone(sink),
                    Arc::clone(&clock),
                    stop.clone(),
                ));
            }
        }
        if inner.sinks.is_empty() {
            tokio::spawn(idle(Arc::clone(&inner), Arc::clone(&clock), stop));
        }
        Ok(Self { inner })
    }

    /// The sinks an alert goes to: the first `[[route]]` that matches, else every sink when
    /// there is no route at all.
    pub(crate) fn route(&self, alert: &Alert) -> Vec<String> {
        if self.inner.routes.is_empty() {
            return self
                .inner
                .sinks
                .iter()
                .map(|s| s.def.name.clone())
                .collect();
        }
        let label = |k: &str| -> Option<String> {
            match k {
                "severity" => Some(alert.severity.clone()),
                "rule" => Some(alert.rule.clone()),
                "kind" => serde_json::to_value(alert.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned)),
                "service" => alert.service.clone(),
                "classification" => Some(alert.classification.as_str().to_owned()),
                _ => None,
            }
        };
        self.inner
            .routes
            .iter()
            .find(|r| r.matches(label))
            .map(|r| r.sinks.clone())
            .unwrap_or_default()
    }

    /// The workers look at the outbox now (a tick committed rows).
    pub(crate) fn wake(&self) {
        self.inner.wake.notify_waiters();
    }

    /// The alerts firing now, for the Alertmanager resend loops.
    pub(crate) fn set_open(&self, alerts: Vec<Alert>) {
        self.inner.open.send_replace(Arc::new(alerts));
    }

    /// Internal alerts raised since the last call (events given up).
    pub(crate) fn take_raised(&self) -> Vec<Alert> {
        std::mem::take(&mut *self.inner.raised.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Deliveries that succeeded, attempts that failed (each is retried), and events given up
    /// after their `max_delivery_age`.
    pub fn counts(&self) -> (u64, u64, u64) {
        let c = &self.inner.counters;
        (
            c.delivered.load(Ordering::Relaxed),
            c.failed.load(Ordering::Relaxed),
            c.given_up.load(Ordering::Relaxed),
        )
    }

    /// Firing alerts re-posted to Alertmanager sinks.
    pub(crate) fn resent(&self) -> u64 {
        self.inner.counters.resent.load(Ordering::Relaxed)
    }

    /// When a delivery worker last went round its outbox (ms since the epoch).
    pub(crate) fn alive_ms(&self) -> i64 {
        self.inner.alive_ms.load(Ordering::Relaxed)
    }
}

fn is_am_api(def: &AlertSink) -> bool {
    matches!(&def.target, SinkTarget::Webhook { url, .. } if url.trim_end_matches('/').ends_with("/api/v2/alerts"))
}

async fn idle(inner: Arc<Inner>, clock: Arc<dyn Clock>, mut stop: watch::Receiver<bool>) {
    loop {
        inner.alive_ms.store(clock.now_ms(), Ordering::Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(IDLE) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The delay before the next attempt after `attempts` failed ones: doubling, capped, ±20 %.
pub(crate) fn backoff_ms(attempts: u32, seed: u64) -> i64 {
    let base = FIRST_BACKOFF_MS
        .saturating_mul(1i64 << attempts.saturating_sub(1).min(20))
        .min(MAX_BACKOFF_MS);
    // SplitMix64 of the seed: deterministic jitter, different per row and attempt.
    let mut z = seed.wrapping_add(u64::from(attempts).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    let unit = ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64;
    (base as f64 * (0.8 + 0.4 * unit)) as i64
}

async fn worker(
    inner: Arc<Inner>,
    sink: Arc<SinkRt>,
    db: Arc<Mutex<Db>>,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) {
    let name = sink.def.name.clone();
    let max_age = crate::clock::ms(sink.def.max_delivery_age);
    loop {
        let now = clock.now_ms();
        inner.alive_ms.store(now, Ordering::Relaxed);
        let due = {
            let db = Arc::clone(&db);
            let name = name.clone();
            tokio::task::spawn_blocking(move || {
                db.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .outbox_due(&name, now, 32)
            })
            .await
        };
        let due = match due {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                eprintln!("heartbeat-watch: outbox of sink {name}: {e}");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        if due.is_empty() {
            tokio::select! {
                _ = inner.wake.notified() => {}
                _ = tokio::time::sleep(IDLE) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        for row in due {
            if *stop.borrow() {
                return;
            }
            let now = clock.now_ms();
            let result = if now - row.created_ms > max_age {
                Err(None)
            } else {
                deliver(&sink, &row.alert, now).await.map_err(Some)
            };
            let update = match result {
                Ok(()) => {
                    inner.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    Attempt::Delivered {
                        at_ms: clock.now_ms(),
                    }
                }
                Err(Some(e)) => {
                    inner.counters.failed.fetch_add(1, Ordering::Relaxed);
                    let attempts = row.attempts + 1;
                    let next = clock.now_ms() + backoff_ms(attempts, row.seq as u64);
                    Attempt::Failed {
                        at_ms: clock.now_ms(),
                        error: e.to_string(),
                        next_ms: next,
                    }
                }
                Err(None) => {
                    inner.counters.given_up.fetch_add(1, Ordering::Relaxed);
                    let reason = format!(
                        "given up after {} attempt(s) over {} (max_delivery_age {}); last error: {}",
                        row.attempts,
                        crate::clock::human(now - row.created_ms),
                        crate::clock::human(max_age),
                        row.last_error.as_deref().unwrap_or("none")
                    );
                    eprintln!(
                        "heartbeat-watch: alert {} ({}) to sink {name}: {reason}",
                        row.alert.id,
                        status_str(row.alert.status)
                    );
                    if let Ok(mut raised) = inner.raised.lock() {
                        raised.push(super::internal_alert(
                            &format!("delivery-given-up@{}", row.seq),
                            now,
                            format!(
                                "an alert event was never delivered to sink {name}: {} ({})",
                                row.alert.id,
                                status_str(row.alert.status)
                            ),
                            vec![reason.clone(), format!("alert: {}", row.alert.summary)],
                        ));
                    }
                    Attempt::GivenUp { at_ms: now, reason }
                }
            };
            let db = Arc::clone(&db);
            let seq = row.seq;
            let _ = tokio::task::spawn_blocking(move || {
                db.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .outbox_record(seq, &update)
            })
            .await;
        }
    }
}

fn status_str(status: AlertStatus) -> &'static str {
    match status {
        AlertStatus::Firing => "firing",
        AlertStatus::Resolved => "resolved",
    }
}

/// What one attempt did, for the outbox row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Attempt {
    Delivered {
        at_ms: i64,
    },
    Failed {
        at_ms: i64,
        error: String,
        next_ms: i64,
    },
    GivenUp {
        at_ms: i64,
        reason: String,
    },
}

/// Re-posts the firing alerts routed to an Alertmanager API sink every `resend_interval`.
async fn resend(
    inner: Arc<Inner>,
    sink: Arc<SinkRt>,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) {
    let every = sink.def.resend_interval.max(Duration::from_secs(1));
    let mut open = inner.open.subscribe();
    let dispatcher = Dispatcher {
        inner: Arc::clone(&inner),
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let alerts: Vec<Alert> = open
            .borrow_and_update()
            .iter()
            .filter(|a| dispatcher.route(a).contains(&sink.def.name))
            .cloned()
            .collect();
        if alerts.is_empty() {
            continue;
        }
        let now = clock.now_ms();
        let ends = now + 4 * crate::clock::ms(every);
        let body = Value::Array(
            alerts
                .iter()
                .map(|a| alertmanager_item(a, Some(ends)))
                .collect(),
        );
        if let SinkTarget::Webhook { url, .. } = &sink.def.target
            && post(&sink, url, &[], &body).await.is_ok()
        {
            inner
                .counters
                .resent
                .fetch_add(alerts.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Delivers one alert event to one sink, once.
///
/// # Errors
/// [`DeliveryError`] when the request fails, times out or gets a non-2xx answer, or the
/// command cannot run, times out or exits with a failure.
pub(crate) async fn deliver(
    sink: &SinkRt,
    alert: &Alert,
    now_ms: i64,
) -> Result<(), DeliveryError> {
    let name = sink.def.name.as_str();
    let key = sink.credential.as_deref().unwrap_or_default();
    let bearer = sink
        .credential
        .as_ref()
        .map(|c| vec![("authorization".to_owned(), format!("Bearer {c}"))])
        .unwrap_or_default();
    match &sink.def.target {
        SinkTarget::Webhook { url, format } => match format {
            WebhookFormat::Generic => post(sink, url, &bearer, &alert.to_json()).await,
            WebhookFormat::Alertmanager => {
                let body = if is_am_api(&sink.def) {
                    let ends = match alert.status {
                        AlertStatus::Firing => {
                            Some(now_ms + 4 * crate::clock::ms(sink.def.resend_interval))
                        }
                        AlertStatus::Resolved => None,
                    };
                    Value::Array(vec![alertmanager_item(alert, ends)])
                } else {
                    alertmanager_webhook_body(alert, name)
                };
                post(sink, url, &bearer, &body).await
            }
            WebhookFormat::Pagerduty => send(sink, formats::pagerduty(alert, url, key)).await,
            WebhookFormat::Opsgenie => send(sink, formats::opsgenie(alert, url, key)).await,
            WebhookFormat::Slack => send(sink, formats::slack(alert, url)).await,
            WebhookFormat::Incident => {
                let mut r = formats::incident(alert, url);
                r.headers.extend(bearer);
                send(sink, r).await
            }
        },
        SinkTarget::Command(argv) => run_command(argv, alert).await,
    }
}

async fn send(sink: &SinkRt, r: formats::Request) -> Result<(), DeliveryError> {
    post(sink, &r.url, &r.headers, &r.body).await
}

async fn post(
    sink: &SinkRt,
    url: &str,
    headers: &[(String, String)],
    body: &Value,
) -> Result<(), DeliveryError> {
    let err = |message: String| DeliveryError::Http {
        url: heartbeat_core::redact::origin(url),
        message,
    };
    let bytes = serde_json::to_vec(body).map_err(|e| err(e.to_string()))?;
    let (status, text) = sink.client.post(url, headers, bytes).await.map_err(err)?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        let text: String = text.chars().take(200).collect();
        Err(err(format!("answered {status}: {text}")))
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

pub(crate) fn labels(alert: &Alert) -> Value {
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

pub(crate) fn annotations(alert: &Alert) -> Value {
    let tenants: Vec<String> = alert
        .tenants
        .iter()
        .map(|t| format!("{} ({:.0}% of the drop)", t.value, t.share_of_drop * 100.0))
        .collect();
    let mut a = json!({
        "summary": alert.summary,
        "description": alert.details.join("\n"),
        "since": alert.since,
        "signal": alert.signal,
        "tenants": tenants.join(", "),
        "actions": alert.actions.join("\n"),
    });
    if let Some(map) = a.as_object_mut() {
        if let Some(url) = &alert.runbook_url {
            map.insert("runbook_url".into(), Value::String(url.clone()));
        }
        if let Some(sop) = &alert.sop {
            map.insert("sop".into(), Value::String(sop.clone()));
        }
    }
    a
}

fn ends_at(alert: &Alert) -> String {
    match (alert.status, alert.resolved_ms) {
        (AlertStatus::Resolved, Some(ms)) => rfc3339(ms),
        _ => "0001-01-01T00:00:00Z".to_owned(),
    }
}

/// One postable alert of Alertmanager's API: `endsAt` is the resolve time when resolved, else
/// `ends_ms` (ahead of now while firing) when given.
pub(crate) fn alertmanager_item(alert: &Alert, ends_ms: Option<i64>) -> Value {
    let mut item = json!({
        "labels": labels(alert),
        "annotations": annotations(alert),
        "startsAt": alert.since,
        "generatorURL": "",
    });
    let ends = match (alert.status, alert.resolved_ms) {
        (AlertStatus::Resolved, Some(ms)) => Some(ms),
        _ => ends_ms,
    };
    if let (Some(ms), Some(map)) = (ends, item.as_object_mut()) {
        map.insert("endsAt".into(), Value::String(rfc3339(ms)));
    }
    item
}

/// The body Alertmanager sends to its webhook receivers (version 4), for one alert.
pub(crate) fn alertmanager_webhook_body(alert: &Alert, receiver: &str) -> Value {
    let status = status_str(alert.status);
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
            "fingerprint": fingerprint(&labels),
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

/// A stable id of an alert's label set, as Alertmanager's: two watches judging the same data
/// give the same one.
fn fingerprint(labels: &Value) -> String {
    let mut pairs: Vec<(String, String)> = labels
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    // FNV-1a, 64 bits: a stable id, not a security property.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in pairs {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Per-sink delivery state of alerts, for `/api/alerts` and the view.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SinkDelivery {
    /// The sink.
    pub sink: String,
    /// `firing` or `resolved`: which event.
    pub event: String,
    /// `delivered`, `pending` (retrying) or `given_up`.
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When it was delivered (ms since the epoch).
    pub delivered_ms: Option<i64>,
    /// When the next attempt is due (ms since the epoch), while pending.
    pub next_attempt_ms: Option<i64>,
}

impl From<&OutboxRow> for SinkDelivery {
    fn from(row: &OutboxRow) -> Self {
        Self {
            sink: row.sink.clone(),
            event: status_str(row.alert.status).to_owned(),
            state: if row.delivered_ms.is_some() {
                "delivered"
            } else if row.gave_up_ms.is_some() {
                "given_up"
            } else {
                "pending"
            }
            .to_owned(),
            attempts: row.attempts,
            last_error: row.last_error.clone(),
            delivered_ms: row.delivered_ms,
            next_attempt_ms: (row.delivered_ms.is_none() && row.gave_up_ms.is_none())
                .then_some(row.next_ms),
        }
    }
}

/// Groups delivery rows by alert id.
pub(crate) fn by_alert(rows: &[OutboxRow]) -> HashMap<String, Vec<SinkDelivery>> {
    let mut out: HashMap<String, Vec<SinkDelivery>> = HashMap::new();
    for row in rows {
        out.entry(row.alert.id.clone())
            .or_default()
            .push(SinkDelivery::from(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for seed in 0..50 {
            let first = backoff_ms(1, seed);
            assert!((800..=1200).contains(&first), "{first}");
            let fourth = backoff_ms(4, seed);
            assert!((6400..=9600).contains(&fourth), "{fourth}");
            let late = backoff_ms(30, seed);
            assert!((240_000..=360_000).contains(&late), "{late}");
        }
        assert_ne!(backoff_ms(3, 1), backoff_ms(3, 2), "jitter differs per row");
    }

    #[test]
    fn urls_are_shown_without_secrets() {
        assert_eq!(
            heartbeat_core::redact::origin(
                "https://user:pw@hooks.example.com/services/T0/B0?token=x"
            ),
            "https://***@hooks.example.com/***"
        );
        assert_eq!(
            heartbeat_core::redact::origin("http://127.0.0.1:9093/api/v2/alerts"),
            "http://127.0.0.1:9093/***"
        );
    }
}
