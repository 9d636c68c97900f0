//! The one narrow driver: how the suite reaches an emitter.
//!
//! A [`Target`] describes what the emitter offers ([`TargetInfo`]) and starts instances of it
//! with a configuration ([`EmitterConfig`]); an instance ([`Emitter`]) takes [`Command`]s
//! (declare, record, beat, flush, shutdown, hide/show) and can be killed or stalled. Every case
//! talks to emitters through these two traits only.
//!
//! | target | what runs | module |
//! |---|---|---|
//! | `native` | the Rust SDK in this process, on its own runtime thread | `native` |
//! | `native-bin` | the Rust SDK in `heartbeat-conformance-emitter`, a subprocess | `process` |
//! | `wasm-node` | the npm package `@heartbeat/web` under node | `process` (`conformance/drivers/wasm-node.mjs`) |
//! | `wasm-chromium` | the npm package in a page of headless Chromium | `process` (`conformance/drivers/wasm-chromium.mjs`) |
//! | `python-otel` | the OpenTelemetry Python SDK with its OTLP exporters | `process` (`conformance/reference/python_otel.py`) |
//! | `js-otel` | the OpenTelemetry JS SDK with its OTLP exporters, under node | `process` (`conformance/reference/js_otel.mjs`) |
//! | `python-example` | a Heartbeat emitter in plain Python, the third party's starting point | `process` (`conformance/drivers/python_heartbeat.py`) |
//! | `command:<template>` | any emitter speaking the emitter protocol | `process` |

mod native;
mod process;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::native::{Native, SdkDriver, serve_stdio};
pub use self::process::CommandTarget;
use crate::options::RunOptions;

/// An OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    /// OTLP/gRPC.
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies.
    #[serde(rename = "http/json")]
    HttpJson,
}

impl Protocol {
    /// The `OTEL_EXPORTER_OTLP_PROTOCOL` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    /// Whether it is one of the OTLP/HTTP protocols.
    pub fn is_http(self) -> bool {
        self != Protocol::Grpc
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How sums are reported over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Temporality {
    /// Totals since the start.
    Cumulative,
    /// Changes since the previous point.
    Delta,
}

impl Temporality {
    /// The `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Temporality::Cumulative => "cumulative",
            Temporality::Delta => "delta",
        }
    }
}

impl fmt::Display for Temporality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an emitter is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KillMode {
    /// `SIGKILL` to its process group.
    #[default]
    Signal,
    /// The `kill` command first (a page must crash itself: closing it would flush), then
    /// `SIGKILL`.
    Command,
}

/// What an emitter offers: the `hello` line of the emitter protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// What it is, with versions, e.g. `opentelemetry-python 1.45.2`.
    pub name: String,
    /// Whether it emits the Heartbeat semantic conventions (outcomes, dead-man); `false` for a
    /// plain OTLP counter.
    #[serde(default)]
    pub heartbeat: bool,
    /// Whether it runs in a web page.
    #[serde(default)]
    pub browser: bool,
    /// The protocols it offers, its default first.
    pub protocols: Vec<Protocol>,
    /// The temporalities it offers, its default first.
    #[serde(default = "cumulative_only")]
    pub temporalities: Vec<Temporality>,
    /// Whether it compresses with gzip when configured.
    #[serde(default)]
    pub gzip: bool,
    /// Whether it is configured through `OTEL_*` environment variables.
    #[serde(default)]
    pub env: bool,
    /// Whether it can be suspended and resumed (`SIGSTOP`/`SIGCONT`).
    #[serde(default)]
    pub stall: bool,
    /// Whether page visibility can be driven (`hide`, `show`).
    #[serde(default)]
    pub visibility: bool,
    /// Whether its resident memory can be read (`/proc/PID/status`).
    #[serde(default)]
    pub memory: bool,
    /// How it is killed.
    #[serde(default)]
    pub kill: KillMode,
    /// Whether it answers `beat_times` with when each beat happened on its own clock: the
    /// timing cases then judge drift and jitter on the emitter's schedule, and the wire only
    /// for delivery.
    #[serde(default)]
    pub beat_times: bool,
}

fn cumulative_only() -> Vec<Temporality> {
    vec![Temporality::Cumulative]
}

impl TargetInfo {
    /// Its default protocol.
    pub fn primary(&self) -> Protocol {
        self.protocols
            .first()
            .copied()
            .unwrap_or(Protocol::HttpProtobuf)
    }

    /// Its first OTLP/HTTP protocol, if any.
    pub fn http_protocol(&self) -> Option<Protocol> {
        self.protocols.iter().copied().find(|p| p.is_http())
    }

    /// Its default temporality.
    pub fn temporality(&self) -> Temporality {
        self.temporalities
            .first()
            .copied()
            .unwrap_or(Temporality::Cumulative)
    }
}

/// How one emitter instance is configured. Targets pass it as the standard `OTEL_*` variables
/// ([`EmitterConfig::environment`]) and as the placeholders of a command template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitterConfig {
    /// The case's scenario, for the emitter's logs (`HEARTBEAT_CONFORMANCE_SCENARIO`).
    pub scenario: String,
    /// The collector's base URL, `http://127.0.0.1:PORT` (the same for gRPC and HTTP).
    pub endpoint: String,
    /// The protocol to use.
    pub protocol: Protocol,
    /// `service.name`.
    pub service_name: String,
    /// The periodic export interval.
    pub export_interval: Duration,
    /// The timeout of one request, when the case sets one (else the emitter's default).
    pub request_timeout: Option<Duration>,
    /// The deadline of one export with its retries, and of flush and shutdown, when set.
    pub export_timeout: Option<Duration>,
    /// gzip compression.
    pub gzip: bool,
    /// The temporality, when the case asks for one (else the emitter's default).
    pub temporality: Option<Temporality>,
    /// Distinct tenants per outcome before `_overflow`.
    pub tenant_limit: Option<usize>,
    /// Variables set (or, with an empty value, removed) after the ones above.
    pub env: Vec<(String, String)>,
}

/// `HEARTBEAT_CONFORMANCE_SCENARIO`: the case's scenario name.
pub const ENV_SCENARIO: &str = "HEARTBEAT_CONFORMANCE_SCENARIO";
/// `HEARTBEAT_CONFORMANCE_TENANT_LIMIT`: distinct tenants per outcome before `_overflow`.
pub const ENV_TENANT_LIMIT: &str = "HEARTBEAT_CONFORMANCE_TENANT_LIMIT";

impl EmitterConfig {
    /// A configuration for `scenario` against `endpoint`, with the suite's defaults: `protocol`,
    /// a 200 ms export interval, the emitter's own timeouts and temporality, no compression.
    pub fn new(
        scenario: impl Into<String>,
        endpoint: impl Into<String>,
        protocol: Protocol,
    ) -> Self {
        let scenario = scenario.into();
        Self {
            service_name: format!("conformance-{scenario}"),
            scenario,
            endpoint: endpoint.into(),
            protocol,
            export_interval: Duration::from_millis(200),
            request_timeout: None,
            export_timeout: None,
            gzip: false,
            temporality: None,
            tenant_limit: None,
            env: Vec::new(),
        }
    }

    /// The environment an emitter process gets: the `OTEL_*` variables for this configuration
    /// and `HEARTBEAT_CONFORMANCE_*`, then [`EmitterConfig::env`].
    pub fn environment(&self) -> Vec<(String, String)> {
        let ms = |d: Duration| d.as_millis().to_string();
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            vars.insert(k.to_owned(), v);
        };
        set("OTEL_EXPORTER_OTLP_ENDPOINT", self.endpoint.clone());
        set(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            self.protocol.as_str().to_owned(),
        );
        set("OTEL_SERVICE_NAME", self.service_name.clone());
        set("OTEL_METRIC_EXPORT_INTERVAL", ms(self.export_interval));
        if let Some(t) = self.request_timeout {
            set("OTEL_EXPORTER_OTLP_TIMEOUT", ms(t));
        }
        if let Some(t) = self.export_timeout {
            set("OTEL_METRIC_EXPORT_TIMEOUT", ms(t));
        }
        // Unset means no compression; `none` is only set by the case that checks it is accepted.
        if self.gzip {
            set("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned());
        }
        if let Some(t) = self.temporality {
            set(
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                t.as_str().to_owned(),
            );
        }
        set(ENV_SCENARIO, self.scenario.clone());
        if let Some(limit) = self.tenant_limit {
            set(ENV_TENANT_LIMIT, limit.to_string());
        }
        for (k, v) in &self.env {
            if v.is_empty() {
                vars.remove(k);
            } else {
                vars.insert(k.clone(), v.clone());
            }
        }
        vars.into_iter().collect()
    }
}

/// `success` or `failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultKind {
    /// The job succeeded.
    Success,
    /// The job failed.
    Failure,
}

/// A command of the emitter protocol (one JSON object per line, `{"cmd": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Declares an outcome with its fixed attributes and failure reasons (a plain OTLP emitter
    /// answers `ok` and does nothing).
    Declare {
        /// The outcome name.
        outcome: String,
        /// Declared failure reasons.
        #[serde(default)]
        reasons: Vec<String>,
        /// Fixed attributes.
        #[serde(default)]
        attributes: BTreeMap<String, String>,
    },
    /// Records `count` events of an outcome (a plain OTLP emitter adds `count` to the counter
    /// `heartbeat.outcomes` with the attributes `heartbeat.outcome`, `heartbeat.result`, and
    /// `heartbeat.reason`/`heartbeat.tenant` when given, plus `attributes`).
    Record {
        /// The outcome name.
        outcome: String,
        /// Success or failure.
        result: ResultKind,
        /// The failure reason, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The tenant, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tenant: Option<String>,
        /// How many events.
        #[serde(default = "one")]
        count: u64,
        /// The fixed attributes the outcome was declared with.
        #[serde(default)]
        attributes: BTreeMap<String, String>,
    },
    /// Starts a dead-man emitter.
    Beat {
        /// `heartbeat.emitter`.
        emitter: String,
        /// Time between beats.
        cadence_ms: u64,
        /// The jitter, when the case sets one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jitter_ms: Option<u64>,
    },
    /// Stops one dead-man emitter on purpose.
    BeatStop {
        /// `heartbeat.emitter`.
        emitter: String,
    },
    /// When each beat of a dead-man emitter happened so far, on the emitter's clock: `value` is
    /// an array of Unix times in milliseconds (fractions allowed), one per beat, in order (only
    /// with `"beat_times": true` in the hello).
    BeatTimes {
        /// `heartbeat.emitter`.
        emitter: String,
    },
    /// Exports now; the reply's value says whether the collector accepted it.
    Flush,
    /// Hides the page (browser).
    Hide,
    /// Shows the page again (browser).
    Show,
    /// A graceful shutdown: stops emitters on purpose, exports what is left within the export
    /// deadline, replies, and exits.
    Shutdown,
    /// Dies at once without sending anything (targets whose `kill` is `command`).
    Kill,
}

fn one() -> u64 {
    1
}

/// The answer to a command (`{"ok": true, "value": ...}` or `{"ok": false, "error": "..."}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the command was carried out.
    pub ok: bool,
    /// A result, for commands that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Reply {
    /// Done, with no value.
    pub fn ok() -> Self {
        Self {
            ok: true,
            value: None,
            error: None,
        }
    }

    /// Done, with a value.
    pub fn value(value: serde_json::Value) -> Self {
        Self {
            ok: true,
            value: Some(value),
            error: None,
        }
    }

    /// Not done, and why.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            value: None,
            error: Some(message.into()),
        }
    }
}

/// Why a target could not describe, start or drive an emitter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// No target has this name.
    #[error(
        "unknown target {0:?}: expected native, native-bin, wasm-node, wasm-chromium, python-otel, js-otel, python-example or command:<template>"
    )]
    Unknown(String),
    /// The emitter could not be started.
    #[error("cannot start the emitter: {0}")]
    Start(String),
    /// The emitter broke the protocol or died.
    #[error("the emitter failed: {0}")]
    Protocol(String),
    /// The emitter did not answer in time.
    #[error("the emitter did not answer {what} within {limit:?}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        limit: Duration,
    },
    /// The target cannot do this (e.g. stall a page).
    #[error("the target cannot {0}")]
    Unsupported(&'static str),
}

/// A kind of emitter the suite can start.
#[async_trait::async_trait]
pub trait Target: Send + Sync {
    /// The target's name, as given to `--target`.
    fn name(&self) -> &str;

    /// What the emitter offers (for a subprocess: its `hello` line).
    ///
    /// # Errors
    /// [`TargetError`] when the emitter cannot be started or does not say hello.
    async fn describe(&self) -> Result<TargetInfo, TargetError>;

    /// Starts one emitter instance configured by `config`, ready for commands.
    ///
    /// # Errors
    /// [`TargetError`] when it cannot be started.
    async fn start(&self, config: &EmitterConfig) -> Result<Box<dyn Emitter>, TargetError>;

    /// Runs a dead-man emitter on an injected clock (virtual time) for `beats` beats at
    /// `cadence` with `jitter`, and returns when each beat happened, from the emitter's start.
    /// Only a target that can inject a clock offers it; the timing cases then judge the schedule
    /// exactly, besides what reaches the wire.
    ///
    /// # Errors
    /// [`TargetError::Unsupported`] by default.
    async fn virtual_beats(
        &self,
        cadence: Duration,
        jitter: Duration,
        beats: usize,
    ) -> Result<Vec<Duration>, TargetError> {
        let _ = (cadence, jitter, beats);
        Err(TargetError::Unsupported("run on an injected clock"))
    }
}

/// A running emitter instance. Dropping it kills it.
#[async_trait::async_trait]
pub trait Emitter: Send + Sync {
    /// Sends a command and waits for its reply. After [`Command::Shutdown`] the emitter has
    /// exited (or is killed) when this returns.
    ///
    /// # Errors
    /// [`TargetError`] when the emitter died, broke the protocol or did not answer in time.
    async fn send(&mut self, command: &Command) -> Result<Reply, TargetError>;

    /// Kills it at once: nothing more may leave it.
    async fn kill(&mut self);

    /// Suspends it (the whole process or runtime) for `duration`, then resumes it.
    ///
    /// # Errors
    /// [`TargetError::Unsupported`] when the target cannot stall.
    async fn stall(&mut self, duration: Duration) -> Result<(), TargetError> {
        let _ = duration;
        Err(TargetError::Unsupported("stall"))
    }

    /// Its resident memory in bytes, when it can be measured.
    fn memory(&self) -> Option<u64> {
        None
    }
}

/// The built-in target names.
pub const TARGETS: [&str; 7] = [
    "native",
    "native-bin",
    "wasm-node",
    "wasm-chromium",
    "python-otel",
    "js-otel",
    "python-example",
];

/// The repository root (for the driver scripts), from `RunOptions::root`, else
/// `HEARTBEAT_ROOT`, else where this crate was built.
pub(crate) fn root(options: &RunOptions) -> PathBuf {
    if let Some(root) = &options.root {
        return root.clone();
    }
    if let Some(root) = std::env::var_os("HEARTBEAT_ROOT") {
        return PathBuf::from(root);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The target called `name`: one of [`TARGETS`], or `command:<template>` for any emitter
/// speaking the emitter protocol (see `docs/conformance.md`).
///
/// # Errors
/// [`TargetError::Unknown`] for another name.
pub fn by_name(name: &str, options: &RunOptions) -> Result<Arc<dyn Target>, TargetError> {
    let root = root(options);
    let script = |rel: &str| root.join(rel).display().to_string();
    let target: Arc<dyn Target> = match name {
        "native" => Arc::new(Native),
        "native-bin" => {
            let exe = options.emitter_bin.clone().unwrap_or_else(emitter_bin);
            Arc::new(CommandTarget::new(name, exe.display().to_string()))
        }
        "wasm-node" => Arc::new(CommandTarget::new(
            name,
            format!("node {}", script("conformance/drivers/wasm-node.mjs")),
        )),
        "wasm-chromium" => Arc::new(CommandTarget::new(
            name,
            format!("node {}", script("conformance/drivers/wasm-chromium.mjs")),
        )),
        "python-otel" => {
            let python = options
                .python
                .clone()
                .or_else(|| std::env::var_os("HEARTBEAT_PYTHON").map(PathBuf::from))
                .unwrap_or_else(|| root.join(".venv/bin/python"));
            Arc::new(CommandTarget::new(
                name,
                format!(
                    "{} {}",
                    python.display(),
                    script("conformance/reference/python_otel.py")
                ),
            ))
        }
        "js-otel" => Arc::new(CommandTarget::new(
            name,
            format!("node {}", script("conformance/reference/js_otel.mjs")),
        )),
        "python-example" => Arc::new(CommandTarget::new(
            name,
            format!(
                "python3 {}",
                script("conformance/drivers/python_heartbeat.py")
            ),
        )),
        other => match other.strip_prefix("command:") {
            Some(template) if !template.trim().is_empty() => {
                Arc::new(CommandTarget::new(other, template.trim().to_owned()))
            }
            _ => return Err(TargetError::Unknown(other.to_owned())),
        },
    };
    Ok(target)
}

/// The `heartbeat-conformance-emitter` binary beside the running executable (cargo builds both
/// into the same directory; integration tests run from `deps/`, one level below).
fn emitter_bin() -> PathBuf {
    let name = format!(
        "heartbeat-conformance-emitter{}",
        std::env::consts::EXE_SUFFIX
    );
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    for _ in 0..2 {
        let candidate = dir.join(&name);
        if candidate.exists() {
            return candidate;
        }
        match dir.parent() {
            Some(parent) => dir = parent.to_path_buf(),
            None => break,
        }
    }
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_carries_the_configuration_and_overrides_win() {
        let mut config = EmitterConfig::new("basic", "http://127.0.0.1:9", Protocol::Grpc);
        config.gzip = true;
        config.env = vec![
            ("OTEL_SERVICE_NAME".to_owned(), "override".to_owned()),
            ("OTEL_METRIC_EXPORT_INTERVAL".to_owned(), String::new()),
        ];
        let env: BTreeMap<String, String> = config.environment().into_iter().collect();
        assert_eq!(env["OTEL_EXPORTER_OTLP_PROTOCOL"], "grpc");
        assert_eq!(env["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://127.0.0.1:9");
        assert_eq!(env["OTEL_SERVICE_NAME"], "override");
        assert_eq!(env[ENV_SCENARIO], "basic");
        assert_eq!(env["OTEL_EXPORTER_OTLP_COMPRESSION"], "gzip");
        assert!(!env.contains_key("OTEL_METRIC_EXPORT_INTERVAL"));
        assert!(!env.contains_key("OTEL_EXPORTER_OTLP_TIMEOUT"));
    }

    #[test]
    fn commands_are_one_json_object_each() {
        let line = serde_json::to_string(&Command::Beat {
            emitter: "api".to_owned(),
            cadence_ms: 200,
            jitter_ms: None,
        })
        .unwrap();
        assert_eq!(line, r#"{"cmd":"beat","emitter":"api","cadence_ms":200}"#);
        let back: Command =
            serde_json::from_str(r#"{"cmd":"record","outcome":"a","result":"failure"}"#).unwrap();
        assert_eq!(
            back,
            Command::Record {
                outcome: "a".to_owned(),
                result: ResultKind::Failure,
                reason: None,
                tenant: None,
                count: 1,
                attributes: BTreeMap::new(),
            }
        );
    }

    #[test]
    fn an_unknown_target_names_the_choices() {
        let err = by_name("ruby", &RunOptions::default()).err().unwrap();
        assert!(err.to_string().contains("command:<template>"), "{err}");
    }
}
