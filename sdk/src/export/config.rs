//! The builder and its resolution: code beats environment, environment beats defaults.

use super::env::{self, EnvSource, bad, endpoint_problem, parse_millis, parse_pairs, sdk_disabled};
use super::error::BuildError;
use super::transport::Trust;
use heartbeat_core::clock::Clock;
use heartbeat_core::tenant::DEFAULT_TENANT_LIMIT;
use heartbeat_core::tenant_hash::TenantHasher;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP/gRPC (default port 4317).
    Grpc,
    /// OTLP/HTTP with protobuf bodies (default port 4318).
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies (default port 4318).
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
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compression of export requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// No compression (the OTLP default).
    None,
    /// gzip.
    Gzip,
}

/// How sums are reported over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Temporality {
    /// Totals since start (the default): a failed export loses nothing, the next one carries it.
    Cumulative,
    /// Changes since the previous export.
    Delta,
    /// The OpenTelemetry `lowmemory` preference (cumulative for the asynchronous counters this
    /// SDK uses).
    LowMemory,
}

/// Retries of failed exports: exponential backoff with jitter, only for what OTLP says is
/// retryable (HTTP 429/502/503/504 honouring `Retry-After`; gRPC `UNAVAILABLE`, `CANCELLED`,
/// `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS`, and `RESOURCE_EXHAUSTED` with
/// `RetryInfo`), never after a partial success. On by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Retries after the first attempt (0 disables retries).
    pub max_retries: usize,
    /// Delay before the first retry; doubles each time.
    pub initial_delay: Duration,
    /// The longest delay between two attempts (a server's `Retry-After` may raise it).
    pub max_delay: Duration,
    /// Random jitter added to each delay, at most this much.
    pub max_jitter: Duration,
}

impl Retry {
    /// The OTLP exporter's recommended policy: 3 retries, 100 ms doubling to 1.6 s, 100 ms jitter.
    pub const RECOMMENDED: Retry = Retry {
        max_retries: 3,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(1600),
        max_jitter: Duration::from_millis(100),
    };
    /// One attempt, no retry.
    pub const DISABLED: Retry = Retry {
        max_retries: 0,
        initial_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        max_jitter: Duration::ZERO,
    };
}

impl Default for Retry {
    fn default() -> Self {
        Self::RECOMMENDED
    }
}

/// The default export interval (`OTEL_METRIC_EXPORT_INTERVAL`): 60 s.
pub const DEFAULT_EXPORT_INTERVAL: Duration = Duration::from_secs(60);
/// The default export deadline (`OTEL_METRIC_EXPORT_TIMEOUT`): 30 s.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default request timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`): 10 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Configures and builds a [`Heartbeat`](crate::Heartbeat) pipeline.
///
/// Every setting can come from code (`with_*`), from the standard `OTEL_*` environment
/// variables ([`env`](crate::env)), or from the default; code beats environment, environment
/// beats defaults. A bad value in either is a [`BuildError`] naming it.
#[derive(Clone, Default)]
#[must_use = "call .build() or .install()"]
pub struct HeartbeatBuilder {
    pub(crate) service_name: Option<String>,
    pub(crate) service_version: Option<String>,
    pub(crate) resource: Vec<(String, String)>,
    pub(crate) endpoint: Option<String>,
    pub(crate) protocol: Option<Protocol>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) compression: Option<Compression>,
    pub(crate) export_interval: Option<Duration>,
    pub(crate) export_timeout: Option<Duration>,
    pub(crate) temporality: Option<Temporality>,
    pub(crate) retry: Option<Retry>,
    pub(crate) tenant_limit: Option<usize>,
    pub(crate) tenant_salt: Option<String>,
    pub(crate) disabled: Option<bool>,
    pub(crate) clock: Option<Arc<dyn Clock>>,
    pub(crate) ca_certificate: Option<Vec<u8>>,
    pub(crate) env: EnvSource,
    #[cfg(feature = "export")]
    pub(crate) meter_provider: Option<opentelemetry_sdk::metrics::SdkMeterProvider>,
}

impl fmt::Debug for HeartbeatBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values carry credentials: only their names are shown.
        let headers: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("HeartbeatBuilder")
            .field("service_name", &self.service_name)
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(heartbeat_core::redact::url),
            )
            .field("protocol", &self.protocol)
            .field("headers", &headers)
            .field("ca_certificate", &self.ca_certificate.is_some())
            .field("tenant_hashing", &self.tenant_salt.is_some())
            .field("export_interval", &self.export_interval)
            .field("temporality", &self.temporality)
            .finish_non_exhaustive()
    }
}

impl HeartbeatBuilder {
    /// The `service.name` resource attribute (else `OTEL_SERVICE_NAME`, else
    /// `unknown_service:<executable>`).
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The `service.version` resource attribute: the watch uses a change of it to point at a deploy.
    pub fn with_service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// Adds a resource attribute (code wins over `OTEL_RESOURCE_ATTRIBUTES` for the same key).
    pub fn with_resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// The collector endpoint, e.g. `http://127.0.0.1:4318` (HTTP: `/v1/metrics` is appended
    /// unless the URL has a path) or `http://127.0.0.1:4317` (gRPC).
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The transport (default `http/protobuf`, as the OpenTelemetry spec recommends).
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Adds a request header (gRPC metadata), e.g. an API key. Its value is sent as given and
    /// never shown: `Debug` output and errors name the header only.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }

    /// Trusts only these CA certificates (PEM, one or more `CERTIFICATE` blocks) for an
    /// `https://` endpoint, instead of the system's roots (else
    /// `OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE` or `OTEL_EXPORTER_OTLP_CERTIFICATE`, each a
    /// PEM file path). Certificates are always verified; needs the `tls` feature.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let ca = std::fs::read("/etc/otel/collector-ca.pem")?;
    /// let (hb, driver) = heartbeat::Heartbeat::builder()
    ///     .with_endpoint("https://collector.internal:4318")
    ///     .with_ca_certificate_pem(ca)
    ///     .build()?; // a bad PEM is a BuildError here, not a failure at the first export
    /// # Ok(()) }
    /// ```
    pub fn with_ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificate = Some(pem.into());
        self
    }

    /// The timeout of one export request (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Request compression (default none).
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// Time between periodic exports (default 60 s).
    pub fn with_export_interval(mut self, interval: Duration) -> Self {
        self.export_interval = Some(interval);
        self
    }

    /// The deadline of one export with its retries, and of flush and shutdown (default 30 s).
    pub fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = Some(timeout);
        self
    }

    /// Cumulative (default) or delta.
    pub fn with_temporality(mut self, temporality: Temporality) -> Self {
        self.temporality = Some(temporality);
        self
    }

    /// The retry policy (default [`Retry::RECOMMENDED`]).
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Distinct tenants tracked per outcome before overflow (default 1000).
    pub fn with_tenant_limit(mut self, limit: usize) -> Self {
        self.tenant_limit = Some(limit);
        self
    }

    /// Hashes tenant ids with this salt before they leave the process (else
    /// `HEARTBEAT_TENANT_HASH_SALT`, else off): the drill-down series carry `"h-"` and 16 hex
    /// digits of a keyed SipHash-2-4 of the id instead of the id, the same value the browser
    /// package and `heartbeat-watch tenant-hash` compute (see [`TenantHasher`] and
    /// `docs/semantic-conventions.md`). Invalid ids still count in `"_overflow"`, which is
    /// never hashed; a known tenant is not hashed again. The salt is used as given (1 to 255
    /// bytes); a bad one is a [`BuildError`] that does not show it.
    ///
    /// Pseudonymisation, not encryption: whoever knows the salt can hash a guessed id and
    /// compare, so keep it out of logs and source control.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let (hb, driver) = heartbeat::Heartbeat::builder()
    ///     .with_tenant_hashing(std::env::var("MY_TENANT_SALT")?)
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn with_tenant_hashing(mut self, salt: impl Into<String>) -> Self {
        self.tenant_salt = Some(salt.into());
        self
    }

    /// Disables the SDK in code (as `OTEL_SDK_DISABLED=true` does): handles become no-ops.
    pub fn with_disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// The clock (default: the system clock). Tests pass a `ManualClock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Reads `OTEL_*` settings from these pairs instead of the process environment (for tests,
    /// or configuration loaded from elsewhere).
    pub fn with_environment<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = EnvSource::Fixed(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect::<HashMap<_, _>>(),
        );
        self
    }

    /// Attaches to an application's existing `SdkMeterProvider` instead of owning a pipeline:
    /// the outcome counter is registered on it and exported by its readers. Endpoint, protocol
    /// and interval settings are then the provider's, not this builder's.
    ///
    /// The provider's per-instrument cardinality limit (2000 by default) must exceed the
    /// number of outcome series; see docs/semantic-conventions.md.
    #[cfg(feature = "export")]
    pub fn with_meter_provider(
        mut self,
        provider: opentelemetry_sdk::metrics::SdkMeterProvider,
    ) -> Self {
        self.meter_provider = Some(provider);
        self
    }

    /// Resolves every setting from code, environment and defaults.
    pub(crate) fn resolve(&self) -> Result<Config, BuildError> {
        let env = &self.env;
        let disabled = match self.disabled {
            Some(d) => d,
            None => env
                .get(env::OTEL_SDK_DISABLED)
                .is_some_and(|v| sdk_disabled(&v)),
        };
        if disabled {
            // A disabled SDK is a no-op: nothing else is read, so nothing else can fail.
            return Ok(Config {
                disabled,
                service_name: String::new(),
                resource: Vec::new(),
                endpoint: String::new(),
                protocol: Protocol::HttpProtobuf,
                headers: Vec::new(),
                timeout: DEFAULT_REQUEST_TIMEOUT,
                compression: Compression::None,
                export_interval: DEFAULT_EXPORT_INTERVAL,
                export_timeout: self.export_timeout.unwrap_or(DEFAULT_EXPORT_TIMEOUT),
                temporality: Temporality::Cumulative,
                retry: Retry::default(),
                tenant_limit: self.tenant_limit.unwrap_or(DEFAULT_TENANT_LIMIT),
                tenant_hasher: None,
                trust: Trust::default(),
            });
        }

        let protocol = match self.protocol {
            Some(p) => p,
            None => match env.first(&[
                env::OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
                env::OTEL_EXPORTER_OTLP_PROTOCOL,
            ]) {
                Some((var, v)) => match v.trim() {
                    "grpc" => Protocol::Grpc,
                    "http/protobuf" => Protocol::HttpProtobuf,
                    "http/json" => Protocol::HttpJson,
                    _ => return Err(bad(var, &v, "grpc, http/protobuf or http/json")),
                },
                None => Protocol::HttpProtobuf,
            },
        };

        let endpoint = self.resolve_endpoint(protocol)?;

        let mut headers = Vec::new();
        for var in [
            env::OTEL_EXPORTER_OTLP_HEADERS,
            env::OTEL_EXPORTER_OTLP_METRICS_HEADERS,
        ] {
            if let Some(v) = env.get(var) {
                let pairs = parse_pairs(var, &v).map_err(|_| BuildError::InvalidEnv {
                    var,
                    value: mask_header_values(&v),
                    expected: "comma-separated key=value pairs with percent-encoded values",
                })?;
                merge(&mut headers, pairs);
            }
        }
        merge(&mut headers, self.headers.clone());
        for (k, v) in &headers {
            if let Some(bad) = k
                .bytes()
                .position(|b| !b.is_ascii_graphic() || b == b':')
                .or(k.is_empty().then_some(0))
            {
                // A malformed name is often a whole `name: value` pasted in: show it only up to
                // the first bad character, so a value in it is never shown.
                return Err(BuildError::InvalidSetting {
                    setting: "header name",
                    value: format!("{}***", k.get(..bad).unwrap_or_default()),
                    problem: "header names are visible ASCII without ':'",
                });
            }
            if http::HeaderValue::from_str(v).is_err() {
                return Err(BuildError::InvalidSetting {
                    setting: "value of header",
                    value: k.clone(),
                    problem: "header values are visible ASCII, spaces and tabs (the value is not shown)",
                });
            }
        }

        let timeout = self.duration_setting(
            self.timeout,
            &[
                env::OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
                env::OTEL_EXPORTER_OTLP_TIMEOUT,
            ],
            DEFAULT_REQUEST_TIMEOUT,
            "timeout",
        )?;
        let export_interval = self.duration_setting(
            self.export_interval,
            &[env::OTEL_METRIC_EXPORT_INTERVAL],
            DEFAULT_EXPORT_INTERVAL,
            "export interval",
        )?;
        let export_timeout = self.duration_setting(
            self.export_timeout,
            &[env::OTEL_METRIC_EXPORT_TIMEOUT],
            DEFAULT_EXPORT_TIMEOUT,
            "export timeout",
        )?;

        let compression = match self.compression {
            Some(c) => c,
            None => match env.first(&[
                env::OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
                env::OTEL_EXPORTER_OTLP_COMPRESSION,
            ]) {
                Some((var, v)) => match v.trim().to_ascii_lowercase().as_str() {
                    "gzip" => Compression::Gzip,
                    "none" => Compression::None,
                    _ => return Err(bad(var, &v, "gzip or none")),
                },
                None => Compression::None,
            },
        };

        let temporality = match self.temporality {
            Some(t) => t,
            None => match env.get(env::OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE) {
                Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                    "cumulative" => Temporality::Cumulative,
                    "delta" => Temporality::Delta,
                    "lowmemory" => Temporality::LowMemory,
                    _ => {
                        return Err(bad(
                            env::OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE,
                            &v,
                            "cumulative, delta or lowmemory",
                        ));
                    }
                },
                None => Temporality::Cumulative,
            },
        };

        let mut resource = Vec::new();
        if let Some(v) = env.get(env::OTEL_RESOURCE_ATTRIBUTES) {
            merge(
                &mut resource,
                parse_pairs(env::OTEL_RESOURCE_ATTRIBUTES, &v)?,
            );
        }
        merge(&mut resource, self.resource.clone());
        let service_name = self
            .service_name
            .clone()
            .or_else(|| env.get(env::OTEL_SERVICE_NAME))
            .or_else(|| {
                resource
                    .iter()
                    .find(|(k, _)| k == "service.name")
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_else(default_service_name);
        if let Some(problem) = heartbeat_core::validate::value_problem(&service_name) {
            return Err(BuildError::InvalidSetting {
                setting: "service name",
                value: service_name,
                problem,
            });
        }
        resource.retain(|(k, _)| k != "service.name");
        if let Some(version) = &self.service_version {
            merge(
                &mut resource,
                vec![("service.version".to_owned(), version.clone())],
            );
        }

        let tenant_limit = self.tenant_limit.unwrap_or(DEFAULT_TENANT_LIMIT);
        let tenant_hasher = self.resolve_tenant_hasher()?;
        let retry = self.retry.unwrap_or_default();
        let trust = self.resolve_trust()?;
        if endpoint.starts_with("https://") && !super::transport::TLS {
            return Err(BuildError::ProtocolNotEnabled {
                protocol: "https",
                feature: "tls",
            });
        }

        Ok(Config {
            disabled,
            service_name,
            resource,
            endpoint,
            protocol,
            headers,
            timeout,
            compression,
            export_interval,
            export_timeout,
            temporality,
            retry,
            tenant_limit,
            tenant_hasher,
            trust,
        })
    }

    /// The tenant hasher: from the salt in code, else from the variable, else none.
    fn resolve_tenant_hasher(&self) -> Result<Option<TenantHasher>, BuildError> {
        let (var, salt) = match &self.tenant_salt {
            Some(salt) => (None, salt.clone()),
            None => match self.env.get_as_set(env::HEARTBEAT_TENANT_HASH_SALT) {
                Some(salt) => (Some(env::HEARTBEAT_TENANT_HASH_SALT), salt),
                None => return Ok(None),
            },
        };
        TenantHasher::new(&salt)
            .map(Some)
            .map_err(|error| BuildError::InvalidTenantSalt { var, error })
    }

    /// The CA certificates to trust: from code, else from the file a certificate variable names,
    /// else the system's roots.
    fn resolve_trust(&self) -> Result<Trust, BuildError> {
        let invalid = |var: Option<&'static str>, path: Option<String>, problem: String| {
            BuildError::InvalidCertificate { var, path, problem }
        };
        if let Some(pem) = &self.ca_certificate {
            return Trust::from_pem(pem).map_err(|p| invalid(None, None, p.to_owned()));
        }
        let Some((var, path)) = self.env.first(&[
            env::OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
            env::OTEL_EXPORTER_OTLP_CERTIFICATE,
        ]) else {
            return Ok(Trust::default());
        };
        let path = path.trim().to_owned();
        let pem = read_bounded(&path, MAX_CERTIFICATE_FILE)
            .map_err(|problem| invalid(Some(var), Some(path.clone()), problem))?;
        Trust::from_pem(&pem).map_err(|p| invalid(Some(var), Some(path), p.to_owned()))
    }

    fn resolve_endpoint(&self, protocol: Protocol) -> Result<String, BuildError> {
        let http = protocol != Protocol::Grpc;
        let (url, source, append_path) = if let Some(url) = &self.endpoint {
            (url.clone(), None, http && !has_path(url))
        } else if let Some(url) = self.env.get(env::OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) {
            (url, Some(env::OTEL_EXPORTER_OTLP_METRICS_ENDPOINT), false)
        } else if let Some(url) = self.env.get(env::OTEL_EXPORTER_OTLP_ENDPOINT) {
            (url, Some(env::OTEL_EXPORTER_OTLP_ENDPOINT), http)
        } else if http {
            ("http://localhost:4318".to_owned(), None, true)
        } else {
            ("http://localhost:4317".to_owned(), None, false)
        };
        let url = url.trim().to_owned();
        if let Some(problem) = endpoint_problem(&url) {
            return Err(match source {
                Some(var) => BuildError::InvalidEnv {
                    var,
                    value: heartbeat_core::redact::url(&url),
                    expected: "an absolute http:// or https:// URL with a host",
                },
                None => BuildError::InvalidSetting {
                    setting: "endpoint",
                    value: heartbeat_core::redact::url(&url),
                    problem,
                },
            });
        }
        Ok(if append_path {
            format!("{}/v1/metrics", url.trim_end_matches('/'))
        } else {
            url
        })
    }

    fn duration_setting(
        &self,
        code: Option<Duration>,
        vars: &[&'static str],
        default: Duration,
        setting: &'static str,
    ) -> Result<Duration, BuildError> {
        match code {
            Some(d) if d.is_zero() => Err(BuildError::InvalidSetting {
                setting,
                value: format!("{d:?}"),
                problem: "it must be greater than zero",
            }),
            Some(d) => Ok(d),
            None => match self.env.first(vars) {
                Some((var, v)) => parse_millis(var, &v),
                None => Ok(default),
            },
        }
    }
}

/// Every setting after resolution.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) disabled: bool,
    pub(crate) service_name: String,
    pub(crate) resource: Vec<(String, String)>,
    pub(crate) endpoint: String,
    pub(crate) protocol: Protocol,
    pub(crate) headers: Vec<(String, String)>,
    #[cfg_attr(
        not(any(feature = "http-proto", feature = "http-json", feature = "grpc")),
        allow(dead_code)
    )]
    pub(crate) timeout: Duration,
    pub(crate) compression: Compression,
    pub(crate) export_interval: Duration,
    pub(crate) export_timeout: Duration,
    pub(crate) temporality: Temporality,
    pub(crate) retry: Retry,
    pub(crate) tenant_limit: usize,
    pub(crate) tenant_hasher: Option<TenantHasher>,
    // Read by the HTTP transport, and by gRPC with TLS.
    #[cfg_attr(
        not(any(feature = "tls", feature = "http-proto", feature = "http-json")),
        allow(dead_code)
    )]
    pub(crate) trust: Trust,
}

/// The largest CA certificate file read: bundles are tens of kilobytes; a path such as
/// `/dev/zero` must not exhaust memory.
const MAX_CERTIFICATE_FILE: u64 = 1024 * 1024;

/// Reads at most `max` bytes of the file at `path`; a longer one is refused.
fn read_bounded(path: &str, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max {
        return Err(format!("it is larger than {max} bytes"));
    }
    Ok(bytes)
}

fn merge(into: &mut Vec<(String, String)>, pairs: Vec<(String, String)>) {
    for (k, v) in pairs {
        match into.iter_mut().find(|(have, _)| *have == k) {
            Some(slot) => slot.1 = v,
            None => into.push((k, v)),
        }
    }
}

fn has_path(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/')
        .is_some_and(|i| !rest[i..].trim_end_matches('/').is_empty())
}

/// A headers variable as errors show it: names only. An item without `=` (often `name: value`
/// pasted in) is not shown at all.
fn mask_header_values(value: &str) -> String {
    value
        .split(',')
        .map(|item| match item.split_once('=') {
            Some((k, _)) if !k.contains([':', ' ']) => format!("{k}=***"),
            _ if item.trim().is_empty() => item.to_owned(),
            _ => "***".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn default_service_name() -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    format!("unknown_service:{exe}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Heartbeat;

    fn env(pairs: &[(&str, &str)]) -> HeartbeatBuilder {
        Heartbeat::builder().with_environment(pairs.iter().map(|(k, v)| (*k, *v)))
    }

    #[test]
    fn defaults_follow_the_opentelemetry_spec() {
        let c = env(&[]).resolve().unwrap();
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.endpoint, "http://localhost:4318/v1/metrics");
        assert_eq!(c.export_interval, Duration::from_secs(60));
        assert_eq!(c.export_timeout, Duration::from_secs(30));
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert_eq!(c.temporality, Temporality::Cumulative);
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.retry, Retry::RECOMMENDED);
        assert!(c.service_name.starts_with("unknown_service:"));
        assert!(!c.disabled);
    }

    #[test]
    fn code_beats_environment_beats_defaults() {
        let b = env(&[
            ("OTEL_SERVICE_NAME", "from-env"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "5000"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ]);
        let c = b.clone().resolve().unwrap();
        assert_eq!(c.service_name, "from-env");
        assert_eq!(c.export_interval, Duration::from_secs(5));
        assert_eq!(c.protocol, Protocol::Grpc);
        assert_eq!(c.endpoint, "http://collector:4317");

        let c = b
            .with_service_name("from-code")
            .with_export_interval(Duration::from_secs(1))
            .with_protocol(Protocol::HttpJson)
            .with_endpoint("http://code:4318")
            .resolve()
            .unwrap();
        assert_eq!(c.service_name, "from-code");
        assert_eq!(c.export_interval, Duration::from_secs(1));
        assert_eq!(c.protocol, Protocol::HttpJson);
        assert_eq!(c.endpoint, "http://code:4318/v1/metrics");
    }

    #[test]
    fn the_metrics_endpoint_is_used_as_given_and_the_base_one_gets_the_path() {
        let c = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318/")])
            .resolve()
            .unwrap();
        assert_eq!(c.endpoint, "http://base:4318/v1/metrics");
        let c = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://m:9999/custom",
            ),
        ])
        .resolve()
        .unwrap();
        assert_eq!(c.endpoint, "http://m:9999/custom");
    }

    #[test]
    fn signal_specific_variables_beat_generic_ones() {
        let c = env(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "2000"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=2"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "b=3"),
        ])
        .resolve()
        .unwrap();
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(
            c.headers,
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "3".to_owned())
            ]
        );
    }

    #[test]
    fn a_bad_environment_value_names_the_variable_and_the_value() {
        let cases = [
            (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "http",
                "grpc, http/protobuf or http/json",
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zip", "gzip or none"),
            (
                "OTEL_METRIC_EXPORT_INTERVAL",
                "10s",
                "positive whole number of milliseconds",
            ),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "sometimes",
                "cumulative, delta or lowmemory",
            ),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "localhost:4317",
                "absolute http:// or https:// URL",
            ),
        ];
        for (var, value, expected) in cases {
            let err = env(&[(var, value)]).resolve().unwrap_err().to_string();
            assert!(err.contains(var), "{err}");
            assert!(err.contains(&format!("{value:?}")), "{err}");
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn header_errors_do_not_show_header_values() {
        let err = env(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%zzsecret,x",
        )])
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(!err.contains("secret"), "{err}");
        assert!(err.contains("authorization=***"), "{err}");
    }

    #[test]
    fn a_bad_endpoint_in_code_is_refused() {
        let err = Heartbeat::builder()
            .with_endpoint("not a url")
            .resolve()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid endpoint \"not a url\": it must start with http:// or https://"
        );
    }

    #[test]
    fn resource_attributes_merge_with_code_winning() {
        let c = env(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod,team=core,service.name=env-svc",
        )])
        .with_resource_attribute("team", "messaging")
        .with_service_version("1.2.3")
        .resolve()
        .unwrap();
        assert_eq!(c.service_name, "env-svc");
        assert!(
            c.resource
                .contains(&("team".to_owned(), "messaging".to_owned()))
        );
        assert!(
            c.resource
                .contains(&("deployment.environment".to_owned(), "prod".to_owned()))
        );
        assert!(
            c.resource
                .contains(&("service.version".to_owned(), "1.2.3".to_owned()))
        );
        assert!(!c.resource.iter().any(|(k, _)| k == "service.name"));
    }

    #[test]
    fn an_unrecognised_sdk_disabled_is_false_not_an_error() {
        for value in ["yes", "1", "on", ""] {
            let c = env(&[("OTEL_SDK_DISABLED", value)]).resolve().unwrap();
            assert!(!c.disabled, "{value:?}");
        }
    }

    #[test]
    fn a_disabled_sdk_reads_nothing_else() {
        let c = env(&[
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "10s"),
        ])
        .resolve()
        .unwrap();
        assert!(c.disabled);
        let err = env(&[
            ("OTEL_SDK_DISABLED", "false"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http"),
        ])
        .resolve()
        .unwrap_err();
        assert!(
            err.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL"),
            "{err}"
        );
    }

    #[test]
    fn disabled_from_environment() {
        assert!(
            env(&[("OTEL_SDK_DISABLED", "TRUE")])
                .resolve()
                .unwrap()
                .disabled
        );
        assert!(
            !env(&[("OTEL_SDK_DISABLED", "false")])
                .resolve()
                .unwrap()
                .disabled
        );
    }

    #[test]
    fn a_certificate_file_is_read_only_up_to_its_bound() {
        let err = env(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/dev/zero")])
            .resolve()
            .unwrap_err();
        assert!(
            err.to_string().ends_with("it is larger than 1048576 bytes"),
            "{err}"
        );
    }

    #[test]
    fn tenant_hashing_comes_from_code_then_the_environment_and_is_off_by_default() {
        assert!(env(&[]).resolve().unwrap().tenant_hasher.is_none());
        let from_env = env(&[("HEARTBEAT_TENANT_HASH_SALT", "env-salt")])
            .resolve()
            .unwrap()
            .tenant_hasher;
        assert_eq!(from_env, Some(TenantHasher::new("env-salt").unwrap()));
        let from_code = env(&[("HEARTBEAT_TENANT_HASH_SALT", "env-salt")])
            .with_tenant_hashing("code-salt")
            .resolve()
            .unwrap()
            .tenant_hasher;
        assert_eq!(from_code, Some(TenantHasher::new("code-salt").unwrap()));
        // Used as given: surrounding spaces are part of the salt.
        let spaced = env(&[("HEARTBEAT_TENANT_HASH_SALT", " env-salt ")])
            .resolve()
            .unwrap()
            .tenant_hasher;
        assert_eq!(spaced, Some(TenantHasher::new(" env-salt ").unwrap()));
    }

    #[test]
    fn a_bad_tenant_salt_is_refused_naming_its_origin_but_not_its_value() {
        let err = env(&[("HEARTBEAT_TENANT_HASH_SALT", "")])
            .resolve()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid tenant hashing salt \"\": it is empty; allowed: 1 to 255 bytes of UTF-8 (set by HEARTBEAT_TENANT_HASH_SALT)"
        );
        let long = format!("secret{}", "k".repeat(300));
        let err = Heartbeat::builder()
            .with_tenant_hashing(long)
            .resolve()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid tenant hashing salt (not shown): it is longer than 255 bytes; allowed: 1 to 255 bytes of UTF-8"
        );
        let debug = format!("{:?}", Heartbeat::builder().with_tenant_hashing("secret"));
        assert!(!debug.contains("secret"), "{debug}");
    }

    #[test]
    fn zero_durations_in_code_are_refused() {
        let err = Heartbeat::builder()
            .with_export_interval(Duration::ZERO)
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("export interval"), "{err}");
    }
}
