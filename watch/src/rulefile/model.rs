//! The rule file's model: the public types a parsed file is made of, each with its own
//! deserialization (the raw form of a table and the checks across its keys).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use super::duration::DisplayDuration;
use super::fields::{
    check_attribute_key, check_label_value, check_metric_name, de_duration, de_label_name,
    de_label_value, de_matchers, de_metric_name, de_opt_duration, de_opt_metric_name,
    de_opt_positive, de_opt_ratio, de_opt_service, de_opt_sop, de_opt_url, de_positive_u32,
    de_positive_u64, de_ratio, de_rule_name, de_signals, one, unset_duration,
};

/// A parsed and validated rule file: the one TOML file that the watch's judge and the rule
/// generators both read (the contract: `watch/RULEFILE-SCHEMA.md`).
///
/// Everything is checked when the file is loaded, so a judge or a generator never sees a rule
/// that cannot work:
///
/// - unknown keys, wrong types and bad values are errors naming the key, the value and the line;
/// - rule names are unique (dead-man and outcome rules share one namespace, the `heartbeat_rule`
///   label of the alerts they produce), as are SLA names and alert sink names;
/// - every SLA signal names an outcome rule;
/// - windows are positive multiples of `watch.tick`, anomaly seasons multiples of the window;
/// - ratios lie in `(0, 1]`, counts and sensitivities are positive.
///
/// ```
/// use heartbeat_watch::RuleFile;
/// use std::time::Duration;
///
/// let rules: RuleFile = r#"
/// [[deadman]]
/// name = "api-pipeline"
/// service = "messenger-api"
/// emitter = "api"
/// window = "1m"
/// min_beats = 5
///
/// [[outcome]]
/// name = "message-send"
/// outcome = "message.send"
/// window = "5m"
/// min_success_ratio = 0.95
/// "#
/// .parse()?;
///
/// assert_eq!(rules.deadman[0].window, Duration::from_secs(60));
/// assert_eq!(rules.outcome[0].min_success_ratio, Some(0.95));
/// # Ok::<(), heartbeat_watch::RuleFileError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RuleFile {
    /// `[watch]`: how the watch itself runs.
    pub watch: WatchSettings,
    /// `[[deadman]]`: dead-man rules, in file order.
    pub deadman: Vec<DeadmanRule>,
    /// `[[outcome]]`: outcome rules, in file order.
    pub outcome: Vec<OutcomeRule>,
    /// `[[sla]]`: SLAs composed of outcome rules, in file order.
    pub sla: Vec<Sla>,
    /// `[[alert]]`: where the watch sends its alerts, in file order.
    pub alert: Vec<AlertSink>,
    /// `[generate]`: settings for the rule generators only (labels, receivers, namespaces).
    pub generate: GenerateSettings,
    /// `[self_heartbeat]`: the watch's own dead-man beat to an external channel, if set.
    pub self_heartbeat: Option<SelfHeartbeat>,
    /// `[[route]]`: which alerts go to which sinks, first match wins.
    pub route: Vec<Route>,
    /// `[[action]]`: rollbacks and incidents when alerts fire.
    pub action: Vec<Action>,
    /// `[status_page]`: the public status page at `/status` and `/status.json`, if set.
    pub status_page: Option<StatusPage>,
}

/// `[watch]`: the watch process. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct WatchSettings {
    /// OTLP/HTTP (protobuf and JSON) listen address. Default `127.0.0.1:4318`.
    pub listen: SocketAddr,
    /// OTLP/gRPC listen address. Default `127.0.0.1:4317`.
    pub grpc_listen: SocketAddr,
    /// Evaluation interval of the judge. Default 10 s. Every rule window is a multiple of it.
    #[serde(deserialize_with = "de_duration")]
    pub tick: Duration,
    /// SQLite file for baselines, the SLA ledger and alert history. Default `heartbeat-watch.db`.
    pub database: PathBuf,
    /// Origins allowed to send from browsers (CORS). Default: none.
    pub cors_origins: Vec<String>,
    /// Largest accepted request body, in bytes (after decompression). Default 4 MiB.
    #[serde(deserialize_with = "de_positive_u64")]
    pub max_body_bytes: u64,
    /// Name of the environment variable holding a bearer token that senders must present.
    /// Default: none (no authentication).
    pub auth_token_env: Option<String>,
    /// Requests per second each source (client IP address; IPv6 by /64) may send, sustained;
    /// 0 turns the limit off. Default 100.
    pub rate_limit_per_source: u32,
    /// Requests a source may send at once before its rate applies. Default 200.
    #[serde(deserialize_with = "de_positive_u32")]
    pub rate_limit_burst: u32,
    /// `[[action]]` runs allowed per hour, all actions together (default 6): a guard rail
    /// against a loop of rollbacks.
    pub max_actions_per_hour: u32,
    /// Series tracked at most (default 500,000, about 700 MiB): points of new series past it
    /// are refused (`rejected_data_points`) and counted. A series is kept 6 hours after its
    /// last point, so a rolling deploy holds the old instances' series and the new ones at
    /// once: leave room for twice the fleet (docs/watch.md, "How big a fleet one watch holds").
    #[serde(deserialize_with = "de_positive_u64")]
    pub max_series: u64,
    /// How long the console's history is kept (each rule's closed windows, the drill-down's
    /// top values per window, each emitter's beats, deploys). Default 7 days.
    #[serde(deserialize_with = "de_duration")]
    pub history: Duration,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4318)),
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 4317)),
            tick: Duration::from_secs(10),
            database: PathBuf::from("heartbeat-watch.db"),
            cors_origins: Vec::new(),
            max_body_bytes: 4 * 1024 * 1024,
            auth_token_env: None,
            rate_limit_per_source: 100,
            rate_limit_burst: 200,
            max_actions_per_hour: 6,
            max_series: 500_000,
            history: Duration::from_secs(7 * 86_400),
        }
    }
}

/// How urgent an alert is: generated routes send pages and tickets to different receivers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Wake someone up.
    #[default]
    Page,
    /// Open a ticket for working hours.
    Ticket,
}

impl Severity {
    /// The lowercase name used in files and labels: `page` or `ticket`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Ticket => "ticket",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[[deadman]]`: fewer than `min_beats` beats of `heartbeat.beats` in `window` is a missed window.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DeadmanRule {
    /// Rule name: unique among dead-man and outcome rules, `[a-z0-9_-]`, 1 to 63 bytes.
    #[serde(deserialize_with = "de_rule_name")]
    pub name: String,
    /// The `service.name` to watch.
    #[serde(deserialize_with = "de_label_value")]
    pub service: String,
    /// The `heartbeat.emitter` to watch; `None` counts the beats of every emitter of the service.
    #[serde(default, deserialize_with = "de_opt_metric_name")]
    pub emitter: Option<String>,
    /// The window beats are counted in.
    #[serde(deserialize_with = "de_duration")]
    pub window: Duration,
    /// Fewest beats in a window that is still good (at least 1).
    #[serde(deserialize_with = "de_positive_u32")]
    pub min_beats: u32,
    /// The condition (fewer than `min_beats` in the sliding `window`) must hold for
    /// `fire_after - 1` whole windows before the alert fires (default 1: at once), as
    /// Prometheus' `for:` in the generated rules.
    #[serde(default = "one", deserialize_with = "de_positive_u32")]
    pub fire_after: u32,
    /// A firing alert resolves once the condition has stayed clear for `resolve_after - 1`
    /// whole windows (default 1: at once), as Prometheus' `keep_firing_for:`.
    #[serde(default = "one", deserialize_with = "de_positive_u32")]
    pub resolve_after: u32,
    /// How urgent the alert is (default `page`).
    #[serde(default)]
    pub severity: Severity,
    /// Page as soon as no beat at all has arrived for this long, whatever the window says
    /// (judged at the exact deadline, not at the next tick). `heartbeat-watch check` prints the
    /// shortest one that keeps false pages under one a year. Default: off.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub max_silence: Option<Duration>,
    /// How long a graceful stop (`heartbeat.emitter.status = 2`) keeps the rule quiet: past it,
    /// with no beating successor, it pages as `stopped_not_restarted`. Default:
    /// `[generate.prometheus] stop_lookback`, itself 15 minutes by default; the generated
    /// Prometheus rules use the same value.
    #[serde(default = "unset_duration", deserialize_with = "de_duration")]
    pub stop_grace: Duration,
    /// The emitter's beat cadence, for the detection figures of `heartbeat-watch check` and
    /// the start-up log (default: assumed `window / (min_beats + 1)`). Not used to judge.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub cadence: Option<Duration>,
    /// The runbook: a link carried on every alert, every sink's body and the generated rules.
    #[serde(default, deserialize_with = "de_opt_url")]
    pub runbook_url: Option<String>,
    /// The standard operating procedure in a few lines, carried like the runbook link.
    #[serde(default, deserialize_with = "de_opt_sop")]
    pub sop: Option<String>,
}

/// The default of `stop_grace` and `[generate.prometheus] stop_lookback`: 15 minutes.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(15 * 60);

/// `on_no_data` of an outcome rule: what a window with no event means (like CloudWatch's
/// `treat_missing_data` and Datadog's `notify_no_data`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnNoData {
    /// A bad window, classified `no_data` (default): silence is never green.
    #[default]
    Breach,
    /// A good window: for outcomes that may legitimately stop (prefer `quiet_hours`).
    Ok,
    /// Neither: the rule keeps the state it had.
    Keep,
}

impl OnNoData {
    /// `breach`, `ok` or `keep`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Breach => "breach",
            Self::Ok => "ok",
            Self::Keep => "keep",
        }
    }
}

/// A daily span of UTC time, `"22:00-06:00"`, during which an outcome rule's windows without
/// data count as good. It may wrap past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// Start, minutes after midnight UTC.
    pub start_minute: u32,
    /// End (exclusive), minutes after midnight UTC.
    pub end_minute: u32,
}

impl QuietHours {
    /// Whether the time `ms` (since the epoch) lies in the span.
    pub fn contains(&self, ms: i64) -> bool {
        let minute = u32::try_from(ms.rem_euclid(86_400_000) / 60_000).unwrap_or(0);
        if self.start_minute <= self.end_minute {
            (self.start_minute..self.end_minute).contains(&minute)
        } else {
            minute >= self.start_minute || minute < self.end_minute
        }
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start_minute / 60,
            self.start_minute % 60,
            self.end_minute / 60,
            self.end_minute % 60
        )
    }
}

impl FromStr for QuietHours {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid quiet hours {text:?}: expected \"HH:MM-HH:MM\" in UTC, for example \"22:00-06:00\""
            )
        };
        let minute = |t: &str| -> Result<u32, String> {
            let (h, m) = t.split_once(':').ok_or_else(bad)?;
            if h.len() != 2 || m.len() != 2 {
                return Err(bad());
            }
            let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if h > 24 || m > 59 || (h == 24 && m != 0) {
                return Err(bad());
            }
            Ok(h * 60 + m)
        };
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let (start_minute, end_minute) = (minute(a)?, minute(b)?);
        if start_minute == end_minute {
            return Err(format!("invalid quiet hours {text:?}: the span is empty"));
        }
        Ok(Self {
            start_minute,
            end_minute,
        })
    }
}

/// `[status_page]`: a public status page driven by the heartbeats (no authentication; it never
/// shows a tenant, an attribute value or an alert's text).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StatusPage {
    /// The page's title (default `Status`).
    #[serde(default = "status_title")]
    pub title: String,
    /// The SLAs shown, one component each, in this order (default: every SLA).
    #[serde(default)]
    pub components: Vec<String>,
}

fn status_title() -> String {
    "Status".to_owned()
}

/// `[self_heartbeat]`: the watch beats for itself, through its own chain, with the `heartbeat`
/// SDK's dead-man emitter. A beat leaves only while the judge's ticks complete, their state is
/// committed to SQLite, the alert-delivery workers keep going round and the ingest
/// queue has room; otherwise the emitter reports `failing` with the reason and goes quiet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SelfHeartbeat {
    /// `service.name` of the watch's own beat and metrics (default `heartbeat-watch`).
    #[serde(default = "self_service", deserialize_with = "de_label_value")]
    pub service: String,
    /// `heartbeat.emitter` of the beat (default `watch`).
    #[serde(default = "self_emitter", deserialize_with = "de_metric_name")]
    pub emitter: String,
    /// Beat cadence (default 10 s).
    #[serde(default = "self_cadence", deserialize_with = "de_duration")]
    pub cadence: Duration,
    /// A Healthchecks.io-style ping URL on another control plane: a GET per beat, `/fail` with
    /// the reason when a stage is stuck.
    #[serde(default, deserialize_with = "de_opt_url")]
    pub ping_url: Option<String>,
    /// OTLP/HTTP endpoint (a second watch or a collector) for the beat and the watch's own
    /// metrics. Default: the watch's own receiver (the metrics are then visible in its state).
    #[serde(default, deserialize_with = "de_opt_url")]
    pub otlp_endpoint: Option<String>,
}

fn self_service() -> String {
    "heartbeat-watch".to_owned()
}

fn self_emitter() -> String {
    "watch".to_owned()
}

fn self_cadence() -> Duration {
    Duration::from_secs(10)
}

/// `[[outcome]]`: conditions on the `heartbeat.outcomes` counter of one outcome.
///
/// At least one of `min_success_ratio`, `min_rate_per_minute` and `anomaly` is set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawOutcomeRule")]
#[non_exhaustive]
pub struct OutcomeRule {
    /// Rule name: unique among dead-man and outcome rules, `[a-z0-9_-]`, 1 to 63 bytes.
    pub name: String,
    /// The `heartbeat.outcome` attribute, for example `message.send`.
    pub outcome: String,
    /// Only points from this `service.name`; `None` sums over every service.
    pub service: Option<String>,
    /// `where = { surface = "web_messenger" }`: fixed attributes the points must carry.
    pub filters: BTreeMap<String, String>,
    /// The window rates and ratios are computed over.
    pub window: Duration,
    /// Fire when `success / (success + failure)` over the window is below this, in `(0, 1]`.
    pub min_success_ratio: Option<f64>,
    /// Fire when successes per minute over the window are below this (positive).
    pub min_rate_per_minute: Option<f64>,
    /// Fire on a negative deviation from the seasonal baseline.
    pub anomaly: Option<Anomaly>,
    /// Consecutive bad windows before the alert fires (default 1).
    pub fire_after: u32,
    /// Consecutive good windows before a firing alert resolves (default 1).
    pub resolve_after: u32,
    /// How urgent the alert is (default `page`).
    pub severity: Severity,
    /// What a window with no data means (default `breach`): no event at all, fewer than
    /// `min_expected_per_minute`, or no series ever matched.
    pub on_no_data: OnNoData,
    /// Events (successes and failures) per minute below which a window counts as no data
    /// (default: only a window without any event).
    pub min_expected_per_minute: Option<f64>,
    /// Daily UTC spans in which windows without data count as good (`["22:00-06:00"]`).
    pub quiet_hours: Vec<QuietHours>,
    /// The runbook: a link carried on every alert, every sink's body and the generated rules.
    pub runbook_url: Option<String>,
    /// The standard operating procedure in a few lines, carried like the runbook link.
    pub sop: Option<String>,
}

/// `anomaly = { ... }` of an outcome rule: a negative deviation from a seasonal baseline.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawAnomaly")]
#[non_exhaustive]
pub struct Anomaly {
    /// The period the traffic repeats with (default 1 day); a multiple of the rule's window.
    pub season: Duration,
    /// How far below the baseline, in units of its spread, counts as a drop (default 3, positive).
    pub sensitivity: f64,
    /// History needed before the rule judges at all (default 3 seasons; from one to 8 seasons).
    pub min_history: Duration,
}

impl Anomaly {
    /// How many whole past seasons the baseline is built from: `min_history / season`, at least 1.
    pub fn seasons(&self) -> u32 {
        let seasons = self.min_history.as_secs() / self.season.as_secs().max(1);
        u32::try_from(seasons).unwrap_or(u32::MAX).max(1)
    }
}

/// `[[sla]]`: an SLA composed of outcome and dead-man rules. A minute is down when any signal
/// is firing, unknown when the watch was not running or received nothing, up otherwise.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Sla {
    /// SLA name: unique among SLAs, `[a-z0-9_-]`, 1 to 63 bytes.
    #[serde(deserialize_with = "de_rule_name")]
    pub name: String,
    /// Names of the outcome and dead-man rules this SLA is made of (at least one).
    #[serde(deserialize_with = "de_signals")]
    pub signals: Vec<String>,
    /// Monthly availability target, in `(0, 1]`, for example `0.999`.
    #[serde(deserialize_with = "de_ratio")]
    pub objective: f64,
}

/// `[[alert]]`: where the watch sends its alerts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawAlertSink")]
#[non_exhaustive]
pub struct AlertSink {
    /// Sink name: unique among sinks, `[a-z0-9_-]`, 1 to 63 bytes.
    pub name: String,
    /// What the sink does with an alert.
    pub target: SinkTarget,
    /// The environment variable holding the sink's credential: the PagerDuty routing key, the
    /// Opsgenie API key, or a bearer token for the other webhooks. Its value is never printed.
    pub credential_env: Option<String>,
    /// A PEM file of the CA certificates an `https://` webhook is verified against, instead of
    /// the system's roots.
    pub ca_file: Option<PathBuf>,
    /// How long an event is retried before it is given up (default 24 h).
    pub max_delivery_age: Duration,
    /// How often firing alerts are re-posted to Alertmanager's API (default 1 minute), with
    /// `endsAt` four intervals ahead, as Prometheus does.
    pub resend_interval: Duration,
}

impl AlertSink {
    /// A webhook sink with the defaults (no credential, the system's roots, 24 h of retries,
    /// a 1-minute resend to Alertmanager).
    pub fn webhook(name: impl Into<String>, url: impl Into<String>, format: WebhookFormat) -> Self {
        Self {
            name: name.into(),
            target: SinkTarget::Webhook {
                url: url.into(),
                format,
            },
            credential_env: None,
            ca_file: None,
            max_delivery_age: DEFAULT_MAX_DELIVERY_AGE,
            resend_interval: DEFAULT_RESEND_INTERVAL,
        }
    }
}

/// The default `max_delivery_age` of a sink: 24 hours.
pub const DEFAULT_MAX_DELIVERY_AGE: Duration = Duration::from_secs(24 * 3600);
/// The default `resend_interval` of an Alertmanager sink: 1 minute.
pub const DEFAULT_RESEND_INTERVAL: Duration = Duration::from_secs(60);

/// `[[route]]`: which sinks an alert goes to. Routes are tried in file order; the first whose
/// `match` holds wins; a route without `match` matches everything (the default). With no route
/// at all, every alert goes to every sink.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Route {
    /// Label values the alert must carry, each one value or several separated by `|`:
    /// `severity`, `rule`, `kind` (`deadman`, `outcome`, `watch`), `service`, `classification`.
    #[serde(default, rename = "match", deserialize_with = "de_matchers")]
    pub matchers: BTreeMap<String, String>,
    /// The `[[alert]]` sinks it goes to (at least one).
    pub sinks: Vec<String>,
}

impl Route {
    /// Whether an alert with these labels matches.
    pub fn matches(&self, label: impl Fn(&str) -> Option<String>) -> bool {
        self.matchers
            .iter()
            .all(|(k, want)| label(k).is_some_and(|have| want.split('|').any(|w| w == have)))
    }
}

/// `[[action]]`: what the watch does when an alert fires, beyond telling people.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawAction")]
#[non_exhaustive]
pub struct Action {
    /// Action name, unique.
    pub name: String,
    /// Only alerts of these rules (default: every rule the kind applies to).
    pub rules: Vec<String>,
    /// What it does.
    pub kind: ActionKind,
}

/// The two kinds of action.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActionKind {
    /// `kind = "rollback"`: when an outcome alert's diagnosis names a deploy within
    /// `max_deploy_age`, roll it back: run `command` (with `HEARTBEAT_SERVICE`,
    /// `HEARTBEAT_BAD_VERSION`, `HEARTBEAT_GOOD_VERSION`, `HEARTBEAT_ALERT_ID` and
    /// `HEARTBEAT_DRY_RUN` in its environment) or POST that as JSON to `webhook`. Once per
    /// alert; never for a dead-man alert.
    Rollback {
        /// The program and its arguments.
        command: Option<Vec<String>>,
        /// Or a deploy system's URL.
        webhook: Option<String>,
        /// A deploy older than this is not rolled back (default 30 minutes).
        max_deploy_age: Duration,
        /// How long the command or request may take (default 2 minutes).
        timeout: Duration,
        /// Record what would run, run nothing.
        dry_run: bool,
    },
    /// `kind = "incident"`: open an incident through a webhook when an alert fires (its answer's
    /// `id` and `url` are kept on the alert) and resolve it when the alert resolves.
    Incident {
        /// The incident webhook.
        webhook: String,
        /// Resolve the incident when the alert resolves (default true).
        resolve: bool,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    #[serde(deserialize_with = "de_rule_name")]
    name: String,
    kind: String,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    command: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de_opt_url")]
    webhook: Option<String>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    max_deploy_age: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    timeout: Option<Duration>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    resolve: Option<bool>,
}

impl TryFrom<RawAction> for Action {
    type Error = String;

    fn try_from(raw: RawAction) -> Result<Self, String> {
        let name = raw.name;
        let kind = match raw.kind.as_str() {
            "rollback" => {
                match (&raw.command, &raw.webhook) {
                    (Some(c), None) if c.first().is_some_and(|p| !p.is_empty()) => {}
                    (None, Some(_)) => {}
                    _ => {
                        return Err(format!(
                            "action {name:?}: a rollback needs command = [\"/path/to/program\", ...] or webhook = \"https://...\", one of them"
                        ));
                    }
                }
                if raw.resolve.is_some() {
                    return Err(format!(
                        "action {name:?}: resolve applies to incident actions"
                    ));
                }
                ActionKind::Rollback {
                    command: raw.command,
                    webhook: raw.webhook,
                    max_deploy_age: raw.max_deploy_age.unwrap_or(Duration::from_secs(1800)),
                    timeout: raw.timeout.unwrap_or(Duration::from_secs(120)),
                    dry_run: raw.dry_run,
                }
            }
            "incident" => {
                let Some(webhook) = raw.webhook else {
                    return Err(format!(
                        "action {name:?}: an incident action needs webhook = \"https://...\""
                    ));
                };
                if raw.command.is_some() || raw.max_deploy_age.is_some() || raw.dry_run {
                    return Err(format!(
                        "action {name:?}: command, max_deploy_age and dry_run apply to rollback actions"
                    ));
                }
                ActionKind::Incident {
                    webhook,
                    resolve: raw.resolve.unwrap_or(true),
                }
            }
            other => {
                return Err(format!(
                    "action {name:?}: unknown kind {other:?}: use \"rollback\" or \"incident\""
                ));
            }
        };
        Ok(Self {
            name,
            rules: raw.rules,
            kind,
        })
    }
}

/// The two kinds of alert sink.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SinkTarget {
    /// `webhook = "http://..."`: an HTTP POST of the alert.
    Webhook {
        /// `http://` or `https://` URL.
        url: String,
        /// Body format (default `generic`).
        format: WebhookFormat,
    },
    /// `command = ["prog", "arg"]`: run a program with the alert's JSON on its standard input.
    Command(Vec<String>),
}

/// Body format of a webhook sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// Heartbeat's own JSON alert body.
    #[default]
    Generic,
    /// The Alertmanager API's alert list (`POST /api/v2/alerts`), re-posted while firing.
    Alertmanager,
    /// PagerDuty Events API v2 (trigger and resolve with a stable `dedup_key`); the routing
    /// key from `credential_env`. The URL defaults to PagerDuty's.
    Pagerduty,
    /// Opsgenie's alert API (create, close by alias); the API key from `credential_env`. The
    /// URL (the API's base) defaults to Opsgenie's.
    Opsgenie,
    /// A Slack incoming webhook: readable blocks.
    Slack,
    /// A generic incident webhook: open and resolve events with a stable key.
    Incident,
}

impl WebhookFormat {
    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Alertmanager => "alertmanager",
            Self::Pagerduty => "pagerduty",
            Self::Opsgenie => "opsgenie",
            Self::Slack => "slack",
            Self::Incident => "incident",
        }
    }
}

/// `[generate]`: settings only the rule generators read. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct GenerateSettings {
    /// `[generate.prometheus]`.
    pub prometheus: PrometheusSettings,
    /// `[generate.alertmanager]`.
    pub alertmanager: AlertmanagerSettings,
    /// `[generate.datadog]`.
    pub datadog: DatadogSettings,
    /// `[generate.cloudwatch]`.
    pub cloudwatch: CloudWatchSettings,
    /// `[generate.grafana]`.
    pub grafana: GrafanaSettings,
}

/// `[generate.grafana]`: where the generated dashboard is served.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct GrafanaSettings {
    /// The Grafana the dashboard of `rules grafana` is imported into (`https://grafana.example`):
    /// every generated Prometheus alert then links to its rule's panel (`dashboard`).
    #[serde(deserialize_with = "de_opt_url")]
    pub url: Option<String>,
}

/// `[generate.prometheus]`: how OTLP resource attributes arrive as Prometheus labels.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct PrometheusSettings {
    /// The label carrying `service.name`: `job` (default; the collector's remote write and
    /// Prometheus' own OTLP receiver) or `service_name` (resource attributes promoted as labels).
    #[serde(deserialize_with = "de_label_name")]
    pub service_label: String,
    /// The label carrying `service.instance.id` (default `instance`).
    #[serde(deserialize_with = "de_label_name")]
    pub instance_label: String,
    /// How long a graceful stop (`heartbeat_emitter_status == 2`) keeps the dead-man quiet
    /// (default 15 minutes): past it, a service that never came back pages. It is the default
    /// of every dead-man rule's `stop_grace`, which the watch and the generators both use.
    #[serde(deserialize_with = "de_duration")]
    pub stop_lookback: Duration,
    /// How often Prometheus receives a new sample of each series (default 15 s): its
    /// `scrape_interval`, or the exporter's interval when metrics are pushed. A window must
    /// hold at least [`MIN_SAMPLES_PER_WINDOW`] of them; the generator refuses a shorter one.
    #[serde(deserialize_with = "de_duration")]
    pub scrape_interval: Duration,
    /// The period the SLOs' error budgets are counted over (default 30 days). The burn-rate
    /// windows scale with it: the SRE workbook's 1 h / 5 m, 6 h / 30 m, 1 d / 2 h and 3 d / 6 h
    /// are for 30 days.
    #[serde(deserialize_with = "de_duration")]
    pub slo_period: Duration,
}

/// Samples a generated rule's window must hold at least: with fewer, one late or lost scrape
/// empties the window and a healthy service pages.
pub const MIN_SAMPLES_PER_WINDOW: u32 = 4;

impl Default for PrometheusSettings {
    fn default() -> Self {
        Self {
            service_label: "job".to_owned(),
            instance_label: "instance".to_owned(),
            stop_lookback: DEFAULT_STOP_GRACE,
            scrape_interval: Duration::from_secs(15),
            slo_period: Duration::from_secs(30 * 86_400),
        }
    }
}

/// `[generate.alertmanager]`: receivers of the generated Alertmanager configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct AlertmanagerSettings {
    /// The external dead-man channel that receives the always-firing watchdog
    /// (a Healthchecks.io or Dead Man's Snitch URL). Required by `rules alertmanager`.
    #[serde(deserialize_with = "de_opt_url")]
    pub watchdog_url: Option<String>,
    /// How often the watchdog is re-sent to the channel (default 1 m); the channel's period
    /// must be longer.
    #[serde(deserialize_with = "de_duration")]
    pub watchdog_interval: Duration,
    /// Webhook receiving `severity = page` alerts. Required by `rules alertmanager`.
    #[serde(deserialize_with = "de_opt_url")]
    pub page_url: Option<String>,
    /// Webhook receiving `severity = ticket` alerts (default: `page_url`).
    #[serde(deserialize_with = "de_opt_url")]
    pub ticket_url: Option<String>,
    /// Whether Alertmanager tells the page webhook when a page resolves (default `false`).
    /// When Prometheus stops, Alertmanager resolves every open alert at its `endsAt` although
    /// nothing was evaluated: with `true`, the pager closes pages whose services are still
    /// broken. Off, a person resolves the page.
    pub page_send_resolved: bool,
    /// The same for tickets (default `true`: a ticket closed by an outage of Prometheus is
    /// reopened by the next evaluation that fires it).
    pub ticket_send_resolved: bool,
}

impl Default for AlertmanagerSettings {
    fn default() -> Self {
        Self {
            watchdog_url: None,
            watchdog_interval: Duration::from_secs(60),
            page_url: None,
            ticket_url: None,
            page_send_resolved: false,
            ticket_send_resolved: true,
        }
    }
}

/// `[generate.datadog]`: how the metrics arrive in Datadog and who is notified.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct DatadogSettings {
    /// The tag carrying `service.name` (default `service`, Datadog's unified service tag).
    pub service_tag: String,
    /// Notification handles for pages, for example `["@pagerduty-messenger"]`.
    pub page_notify: Vec<String>,
    /// Notification handles for tickets, for example `["@slack-messenger-alerts"]`.
    pub ticket_notify: Vec<String>,
}

impl Default for DatadogSettings {
    fn default() -> Self {
        Self {
            service_tag: "service".to_owned(),
            page_notify: Vec::new(),
            ticket_notify: Vec::new(),
        }
    }
}

/// `[generate.cloudwatch]`: how the metrics arrive in CloudWatch and who is notified.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct CloudWatchSettings {
    /// The CloudWatch namespace the collector's `awsemf` exporter writes to (default `Heartbeat`).
    pub namespace: String,
    /// The dimension carrying `service.name` (default `service.name`).
    pub service_dimension: String,
    /// Alarm actions (SNS topic ARNs) for pages.
    pub page_actions: Vec<String>,
    /// Alarm actions (SNS topic ARNs) for tickets.
    pub ticket_actions: Vec<String>,
}

impl Default for CloudWatchSettings {
    fn default() -> Self {
        Self {
            namespace: "Heartbeat".to_owned(),
            service_dimension: "service.name".to_owned(),
            page_actions: Vec::new(),
            ticket_actions: Vec::new(),
        }
    }
}

impl RuleFile {
    /// The outcome rule of that name.
    pub fn outcome_rule(&self, name: &str) -> Option<&OutcomeRule> {
        self.outcome.iter().find(|rule| rule.name == name)
    }

    /// The dead-man rule of that name.
    pub fn deadman_rule(&self, name: &str) -> Option<&DeadmanRule> {
        self.deadman.iter().find(|rule| rule.name == name)
    }
}

// ---------------------------------------------------------------------------------------------
// Raw forms for the checks that span keys of one table
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutcomeRule {
    #[serde(deserialize_with = "de_rule_name")]
    name: String,
    outcome: String,
    #[serde(default, deserialize_with = "de_opt_service")]
    service: Option<String>,
    #[serde(default, rename = "where")]
    filters: BTreeMap<String, String>,
    #[serde(deserialize_with = "de_duration")]
    window: Duration,
    #[serde(default, deserialize_with = "de_opt_ratio")]
    min_success_ratio: Option<f64>,
    #[serde(default, deserialize_with = "de_opt_positive")]
    min_rate_per_minute: Option<f64>,
    #[serde(default)]
    anomaly: Option<Anomaly>,
    #[serde(default = "one", deserialize_with = "de_positive_u32")]
    fire_after: u32,
    #[serde(default = "one", deserialize_with = "de_positive_u32")]
    resolve_after: u32,
    #[serde(default)]
    severity: Severity,
    #[serde(default)]
    on_no_data: OnNoData,
    #[serde(default, deserialize_with = "de_opt_positive")]
    min_expected_per_minute: Option<f64>,
    #[serde(default)]
    quiet_hours: Vec<String>,
    #[serde(default, deserialize_with = "de_opt_url")]
    runbook_url: Option<String>,
    #[serde(default, deserialize_with = "de_opt_sop")]
    sop: Option<String>,
}

impl TryFrom<RawOutcomeRule> for OutcomeRule {
    type Error = String;

    fn try_from(raw: RawOutcomeRule) -> Result<Self, String> {
        let name = raw.name;
        let context = |message: String| format!("outcome rule {name:?}: {message}");
        let quiet_hours = raw
            .quiet_hours
            .iter()
            .map(|q| q.parse())
            .collect::<Result<Vec<QuietHours>, String>>()
            .map_err(context)?;
        let outcome = check_metric_name("outcome", raw.outcome).map_err(context)?;
        for (key, value) in &raw.filters {
            check_attribute_key(key).map_err(context)?;
            check_label_value(&format!("value of where.{key}"), value.clone()).map_err(context)?;
        }
        if raw.min_success_ratio.is_none()
            && raw.min_rate_per_minute.is_none()
            && raw.anomaly.is_none()
        {
            return Err(context(
                "set at least one of min_success_ratio, min_rate_per_minute, anomaly".to_owned(),
            ));
        }
        if let Some(anomaly) = &raw.anomaly {
            let (season, window) = (anomaly.season.as_secs(), raw.window.as_secs());
            if season <= window || !season.is_multiple_of(window) {
                return Err(context(format!(
                    "anomaly.season {} must be a multiple of the window {} and longer than it",
                    DisplayDuration(anomaly.season),
                    DisplayDuration(raw.window)
                )));
            }
        }
        Ok(Self {
            name,
            outcome,
            service: raw.service,
            filters: raw.filters,
            window: raw.window,
            min_success_ratio: raw.min_success_ratio,
            min_rate_per_minute: raw.min_rate_per_minute,
            anomaly: raw.anomaly,
            fire_after: raw.fire_after,
            resolve_after: raw.resolve_after,
            severity: raw.severity,
            on_no_data: raw.on_no_data,
            min_expected_per_minute: raw.min_expected_per_minute,
            quiet_hours,
            runbook_url: raw.runbook_url,
            sop: raw.sop,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAnomaly {
    #[serde(default, deserialize_with = "de_opt_duration")]
    season: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_positive")]
    sensitivity: Option<f64>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    min_history: Option<Duration>,
}

/// The most past seasons an anomaly baseline reads.
pub(crate) const MAX_HISTORY_SEASONS: u32 = 8;

impl TryFrom<RawAnomaly> for Anomaly {
    type Error = String;

    fn try_from(raw: RawAnomaly) -> Result<Self, String> {
        let season = raw.season.unwrap_or(Duration::from_secs(86_400));
        let min_history = raw.min_history.unwrap_or(season.saturating_mul(3));
        if min_history < season {
            return Err(format!(
                "anomaly.min_history {} must be at least one season ({})",
                DisplayDuration(min_history),
                DisplayDuration(season)
            ));
        }
        // The baseline looks this many seasons back; a longer history would be kept, and
        // walked every window, for nothing.
        if min_history.as_secs() / season.as_secs().max(1) > u64::from(MAX_HISTORY_SEASONS) {
            return Err(format!(
                "anomaly.min_history {} must be at most {MAX_HISTORY_SEASONS} seasons ({})",
                DisplayDuration(min_history),
                DisplayDuration(season.saturating_mul(MAX_HISTORY_SEASONS))
            ));
        }
        Ok(Self {
            season,
            sensitivity: raw.sensitivity.unwrap_or(3.0),
            min_history,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlertSink {
    #[serde(deserialize_with = "de_rule_name")]
    name: String,
    #[serde(default, deserialize_with = "de_opt_url")]
    webhook: Option<String>,
    #[serde(default)]
    format: Option<WebhookFormat>,
    #[serde(default)]
    command: Option<Vec<String>>,
    #[serde(default)]
    credential_env: Option<String>,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    max_delivery_age: Option<Duration>,
    #[serde(default, deserialize_with = "de_opt_duration")]
    resend_interval: Option<Duration>,
}

impl TryFrom<RawAlertSink> for AlertSink {
    type Error = String;

    fn try_from(raw: RawAlertSink) -> Result<Self, String> {
        let name = raw.name;
        let format = raw.format.unwrap_or_default();
        let default_url = match format {
            WebhookFormat::Pagerduty => Some(crate::alert::formats::PAGERDUTY_URL),
            WebhookFormat::Opsgenie => Some(crate::alert::formats::OPSGENIE_URL),
            _ => None,
        };
        if matches!(format, WebhookFormat::Pagerduty | WebhookFormat::Opsgenie)
            && raw.credential_env.is_none()
        {
            return Err(format!(
                "alert {name:?}: format {} needs credential_env, the variable holding its {}",
                format.as_str(),
                if format == WebhookFormat::Pagerduty {
                    "routing key"
                } else {
                    "API key"
                }
            ));
        }
        if let Some(var) = &raw.credential_env
            && (var.is_empty() || !var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        {
            return Err(format!(
                "alert {name:?}: credential_env {var:?} is not an environment variable name ([A-Za-z0-9_])"
            ));
        }
        if let Some(path) = &raw.ca_file {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| format!("alert {name:?}: ca_file {}: {e}", path.display()))?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(format!(
                    "alert {name:?}: ca_file {} holds no PEM CERTIFICATE block",
                    path.display()
                ));
            }
        }
        if raw.resend_interval.is_some() && format != WebhookFormat::Alertmanager {
            return Err(format!(
                "alert {name:?}: resend_interval applies to format = \"alertmanager\" sinks"
            ));
        }
        let (credential_env, ca_file) = (raw.credential_env, raw.ca_file);
        let max_delivery_age = raw.max_delivery_age.unwrap_or(DEFAULT_MAX_DELIVERY_AGE);
        let resend_interval = raw.resend_interval.unwrap_or(DEFAULT_RESEND_INTERVAL);
        let target = match (raw.webhook.or(default_url.map(str::to_owned)), raw.command) {
            (Some(url), None) => SinkTarget::Webhook { url, format },
            (None, Some(command)) => {
                if raw.format.is_some() {
                    return Err(format!(
                        "alert {name:?}: format applies to webhook sinks, not to command"
                    ));
                }
                if command.first().is_none_or(String::is_empty) {
                    return Err(format!(
                        "alert {name:?}: command needs a program: command = [\"/path/to/program\", \"arg\"]"
                    ));
                }
                SinkTarget::Command(command)
            }
            (Some(_), Some(_)) => {
                return Err(format!(
                    "alert {name:?}: set either webhook or command, not both"
                ));
            }
            (None, None) => {
                return Err(format!("alert {name:?}: set webhook or command"));
            }
        };
        if ca_file.is_some()
            && !matches!(&target, SinkTarget::Webhook { url, .. } if url.starts_with("https://"))
        {
            return Err(format!(
                "alert {name:?}: ca_file applies to https:// webhooks"
            ));
        }
        Ok(Self {
            name,
            target,
            credential_env,
            ca_file,
            max_delivery_age,
            resend_interval,
        })
    }
}
