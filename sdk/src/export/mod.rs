//! The native export pipeline: the core collector is its only aggregation, the core encodes,
//! and this crate's transports send.
//!
//! ```text
//! Outcome::success ──► per-thread cells ──(collect)──► heartbeat_core::Collector ──► Batch
//!   (+ plug-ins' sums: the dead-man's beats; + the pipeline's own health)
//!   ──► encode_protobuf / encode_json (+ what is registered on the meter, via the OpenTelemetry
//!       SDK's ManualReader) ──► Driver (your tokio runtime): OTLP/HTTP (hyper) or OTLP/gRPC
//!       (tonic), retried as OTLP says ──► ack (delta: only an accepted batch is committed)
//! ```
//! The hot path never touches the OpenTelemetry SDK; export never blocks it. A pipeline attached
//! to an application's `SdkMeterProvider` registers an observable counter on it instead.

pub(crate) mod config;
pub(crate) mod env;
pub(crate) mod error;
pub(crate) mod health;
mod otel;
pub(crate) mod plugin;
#[cfg(test)]
mod properties;
pub(crate) mod redact;
mod retry;
mod sender;
mod telemetry;
#[cfg(feature = "tls")]
mod tls;
pub(crate) mod transport;

use self::config::{Config, HeartbeatBuilder, Temporality};
use self::error::{BuildError, ExportError, InstallError};
use self::health::Health;
pub use self::health::{ExportFailure, ExportHealth};
use self::plugin::{Plugin, Plugins};
use self::redact::Secrets;
use self::sender::{Encoding, Sender};
use bytes::Bytes;
use heartbeat_core::otlp::{AggregationTemporality, Batch, Collector, Encoded, encode_json};
use heartbeat_core::registry::{OutcomeBuilder, Registry};
use heartbeat_core::semconv;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _, ObservableCounter};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};

/// A reply channel and the instant by which the export must be done.
type Reply = (
    oneshot::Sender<Result<(), ExportError>>,
    tokio::time::Instant,
);

enum Command {
    Flush(Reply),
    Shutdown(Reply),
}

/// How long a caller waits past the export deadline for the driver's own answer, so that the
/// driver (which enforces the deadline) reports the outcome rather than the caller guessing.
const REPLY_GRACE: Duration = Duration::from_millis(100);

/// How long a flush or shutdown waits for a driver that has not run yet (spawned a moment ago)
/// before it says the driver is not running, instead of waiting out the export timeout.
const DRIVER_START_GRACE: Duration = Duration::from_millis(100);

/// Whether the driver runs, or starts within [`DRIVER_START_GRACE`] (a task spawned just
/// before is given the chance to be polled).
async fn driver_runs(started: &std::sync::atomic::AtomicBool) -> bool {
    let until = tokio::time::Instant::now() + DRIVER_START_GRACE;
    loop {
        if started.load(Relaxed) {
            return true;
        }
        if tokio::time::Instant::now() >= until {
            return false;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

enum Mode {
    /// Outcomes are no-ops and nothing is exported.
    Disabled,
    /// This crate owns the pipeline and its driver; `provider` collects only what is
    /// registered on its meter.
    Owned {
        commands: mpsc::UnboundedSender<Command>,
        provider: SdkMeterProvider,
        /// Asks the driver for an export now (a dead-man beat); coalesces.
        export_now: Arc<Notify>,
        /// Set once the driver runs: tells "not spawned" from "busy past the deadline".
        driver_started: Arc<std::sync::atomic::AtomicBool>,
    },
    /// The application's provider exports; this crate only registered an instrument on it.
    Attached { provider: SdkMeterProvider },
}

struct Shared {
    registry: Registry,
    mode: Mode,
    health: Arc<Health>,
    export_timeout: Duration,
    /// The outcome counter on an attached provider.
    _instrument: Option<ObservableCounter<u64>>,
    plugins: Arc<Plugins>,
}

/// The SDK handle: declares outcomes and controls the export pipeline. Cheap to clone.
///
/// Build it once at start-up with [`Heartbeat::builder`]. Dropping the last clone stops the
/// driver after a final export; [`Heartbeat::shutdown`] does the same and waits for it.
#[derive(Clone)]
pub struct Heartbeat {
    shared: Arc<Shared>,
}

impl fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.shared.mode {
            Mode::Disabled => "disabled",
            Mode::Owned { .. } => "owned",
            Mode::Attached { .. } => "attached",
        };
        f.debug_struct("Heartbeat")
            .field("mode", &mode)
            .field("registry", &self.shared.registry)
            .finish()
    }
}

/// The export loop, returned by [`HeartbeatBuilder::build`]: spawn it on your runtime
/// (`tokio::spawn(driver)`). It exports every interval, serves flushes, and ends after the
/// final export on shutdown (or when every [`Heartbeat`] clone is dropped).
#[must_use = "the driver does nothing unless spawned or awaited"]
pub struct Driver {
    future: Pin<Box<dyn Future<Output = ()> + Send + 'static>>,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Driver")
    }
}

impl Future for Driver {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.future.as_mut().poll(cx)
    }
}

impl Heartbeat {
    /// Starts configuring the pipeline.
    pub fn builder() -> HeartbeatBuilder {
        HeartbeatBuilder::default()
    }

    /// A handle whose outcomes are no-ops and that exports nothing.
    pub fn disabled() -> Self {
        Self {
            shared: Arc::new(Shared {
                registry: Registry::new(),
                mode: Mode::Disabled,
                health: Arc::default(),
                export_timeout: config::DEFAULT_EXPORT_TIMEOUT,
                _instrument: None,
                plugins: Arc::default(),
            }),
        }
    }

    /// Whether the SDK is enabled (not turned off by `OTEL_SDK_DISABLED` or in code).
    pub fn is_enabled(&self) -> bool {
        !matches!(self.shared.mode, Mode::Disabled)
    }

    /// Starts declaring an outcome; see [`OutcomeBuilder`]. On a disabled SDK the declaration
    /// is still validated, and the handle it returns is a no-op.
    pub fn outcome(&self, name: impl Into<String>) -> OutcomeBuilder<'_> {
        let builder = self.shared.registry.outcome(name);
        if self.is_enabled() {
            builder
        } else {
            builder.noop()
        }
    }

    /// The registry holding the counts (for reading them, or for a second exporter).
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// The meter provider the pipeline exports through (owned or attached), to register
    /// further instruments on the same pipeline. `None` when disabled.
    pub fn meter_provider(&self) -> Option<&SdkMeterProvider> {
        match &self.shared.mode {
            Mode::Disabled => None,
            Mode::Owned { provider, .. } | Mode::Attached { provider } => Some(provider),
        }
    }

    /// A meter on the pipeline's provider with the Heartbeat scope, or a no-op meter.
    pub fn meter(&self) -> Meter {
        match self.meter_provider() {
            Some(p) => p.meter_with_scope(scope()),
            None => {
                opentelemetry::metrics::noop::NoopMeterProvider::new().meter_with_scope(scope())
            }
        }
    }

    /// Export health so far.
    pub fn export_health(&self) -> ExportHealth {
        self.shared.health.snapshot()
    }

    /// The driver's "export now" signal, when this crate owns the pipeline.
    pub(crate) fn export_now(&self) -> Option<&Arc<Notify>> {
        match &self.shared.mode {
            Mode::Owned { export_now, .. } => Some(export_now),
            _ => None,
        }
    }

    /// The plug-in of type `P` of this pipeline, registered the first time it is asked for:
    /// its sums join every collected batch, its other instruments go on the pipeline's meter.
    pub(crate) fn plugin<P: Plugin + Default>(&self) -> Arc<P> {
        let meter = match &self.shared.mode {
            Mode::Disabled => None,
            Mode::Owned { provider, .. } => Some((provider.meter_with_scope(scope()), false)),
            Mode::Attached { provider } => Some((provider.meter_with_scope(scope()), true)),
        };
        self.shared
            .plugins
            .get_or_register::<P>(meter.as_ref().map(|(m, sums)| (m, *sums)))
    }

    /// Exports now and waits for the result, at most the export timeout.
    ///
    /// # Errors
    /// [`ExportError`]: the export failed or timed out (the counts stay for the next export),
    /// the driver is not running, or the pipeline was shut down.
    pub async fn flush(&self) -> Result<(), ExportError> {
        let until = tokio::time::Instant::now() + self.shared.export_timeout;
        self.command(Command::Flush, until).await
    }

    /// Exports a last time and stops the driver, returning by the export timeout.
    ///
    /// # Errors
    /// As for [`Heartbeat::flush`].
    pub async fn shutdown(&self) -> Result<(), ExportError> {
        let until = tokio::time::Instant::now() + self.shared.export_timeout;
        // Plug-ins stop first (dead-man emitters on purpose), so the final export says "stopped".
        let _ = tokio::time::timeout_at(until, self.shared.plugins.shutdown()).await;
        let result = self.command(Command::Shutdown, until).await;
        if let Some(provider) = self.meter_provider() {
            let _ = provider.shutdown();
        }
        result
    }

    async fn command(
        &self,
        make: fn(Reply) -> Command,
        until: tokio::time::Instant,
    ) -> Result<(), ExportError> {
        let deadline = self.shared.export_timeout;
        match &self.shared.mode {
            Mode::Disabled => Ok(()),
            Mode::Attached { provider } => {
                let provider = provider.clone();
                let flush = tokio::task::spawn_blocking(move || provider.force_flush());
                match tokio::time::timeout_at(until, flush).await {
                    Ok(Ok(Ok(()))) => Ok(()),
                    Ok(Ok(Err(e))) => Err(ExportError::Failed(e.to_string())),
                    Ok(Err(join)) => Err(ExportError::Failed(join.to_string())),
                    Err(_) => Err(ExportError::Timeout(deadline)),
                }
            }
            Mode::Owned {
                commands,
                driver_started,
                ..
            } => {
                if !driver_runs(driver_started).await {
                    return Err(ExportError::DriverNotRunning);
                }
                let (tx, rx) = oneshot::channel();
                if commands.send(make((tx, until))).is_err() {
                    return Err(ExportError::AlreadyShutdown);
                }
                match tokio::time::timeout_at(until + REPLY_GRACE, rx).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err(ExportError::AlreadyShutdown),
                    Err(_) if !driver_started.load(Relaxed) => Err(ExportError::DriverNotRunning),
                    // Busy with an earlier export that is itself bounded by the deadline.
                    Err(_) => Err(ExportError::Timeout(deadline)),
                }
            }
        }
    }
}

fn scope() -> opentelemetry::InstrumentationScope {
    opentelemetry::InstrumentationScope::builder(semconv::SCOPE_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// A random id for `service.instance.id`, fresh at every start (no RNG dependency needed).
fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(32);
    for salt in 0..2u8 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(salt);
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// The resource attributes: `service.name`, a fresh `service.instance.id`, the SDK's own, then
/// the configured ones (which replace a default of the same key).
fn resource_attributes(config: &Config) -> Vec<(String, String)> {
    let mut attrs = vec![
        ("service.name".to_owned(), config.service_name.clone()),
        (semconv::RESOURCE_INSTANCE_ID.to_owned(), instance_id()),
        ("telemetry.sdk.name".to_owned(), "heartbeat".to_owned()),
        ("telemetry.sdk.language".to_owned(), "rust".to_owned()),
        (
            "telemetry.sdk.version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
    ];
    for (k, v) in &config.resource {
        if let Some(slot) = attrs.iter_mut().find(|(key, _)| key == k) {
            slot.1.clone_from(v);
        } else {
            attrs.push((k.clone(), v.clone()));
        }
    }
    attrs
}

/// The OpenTelemetry resource of the same attributes.
fn resource(attrs: &[(String, String)]) -> Resource {
    Resource::builder_empty()
        .with_attributes(
            attrs
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .build()
}

/// Registers the outcome counter on an application's meter (an attached pipeline): its
/// callback reads the registry at collection.
fn register(meter: &Meter, registry: &Registry) -> ObservableCounter<u64> {
    let registry = registry.clone();
    meter
        .u64_observable_counter(semconv::METRIC_OUTCOMES)
        .with_unit(semconv::UNIT_OUTCOMES)
        .with_description(semconv::DESCRIPTION_OUTCOMES)
        .with_callback(move |observer| {
            let mut attrs: Vec<KeyValue> = Vec::with_capacity(8);
            registry.collect(|series| {
                attrs.clear();
                attrs.push(KeyValue::new(
                    semconv::ATTR_OUTCOME,
                    series.outcome().to_owned(),
                ));
                for (k, v) in series.attributes() {
                    attrs.push(KeyValue::new(k.to_owned(), v.to_owned()));
                }
                attrs.push(KeyValue::new(
                    semconv::ATTR_RESULT,
                    series.result().as_str(),
                ));
                if let Some(reason) = series.reason() {
                    attrs.push(KeyValue::new(semconv::ATTR_REASON, reason.to_owned()));
                }
                if let Some(tenant) = series.tenant() {
                    attrs.push(KeyValue::new(semconv::ATTR_TENANT, tenant.to_owned()));
                }
                observer.observe(series.value(), &attrs);
            });
        })
        .build()
}

/// The temporality of the instruments registered on the owned pipeline's meter.
pub(crate) fn otel_temporality(t: Temporality) -> opentelemetry_sdk::metrics::Temporality {
    match t {
        Temporality::Cumulative => opentelemetry_sdk::metrics::Temporality::Cumulative,
        Temporality::Delta => opentelemetry_sdk::metrics::Temporality::Delta,
        Temporality::LowMemory => opentelemetry_sdk::metrics::Temporality::LowMemory,
    }
}

/// The temporality of the core's batches. `lowmemory` is cumulative for asynchronous counters,
/// which is what every sum of the batch is.
fn batch_temporality(t: Temporality) -> AggregationTemporality {
    match t {
        Temporality::Delta => AggregationTemporality::Delta,
        Temporality::Cumulative | Temporality::LowMemory => AggregationTemporality::Cumulative,
    }
}

impl HeartbeatBuilder {
    /// Builds the pipeline and returns the handle with the driver to spawn on your runtime.
    ///
    /// Nothing is exported until the driver runs. With `OTEL_SDK_DISABLED=true` (or
    /// `with_disabled(true)`), the handle is a no-op and the driver finishes at once.
    ///
    /// # Errors
    /// [`BuildError`] naming the bad setting or environment variable and its value.
    pub fn build(self) -> Result<(Heartbeat, Driver), BuildError> {
        let config = self.resolve()?;
        let mut registry = Registry::builder().with_tenant_limit(config.tenant_limit);
        if let Some(hasher) = config.tenant_hasher {
            registry = registry.with_tenant_hasher(hasher);
        }
        if let Some(clock) = &self.clock {
            registry = registry.with_clock(Arc::clone(clock));
        }
        let registry = registry.build();
        let idle = Driver {
            future: Box::pin(async {}),
        };
        if config.disabled {
            let hb = Heartbeat {
                shared: Arc::new(Shared {
                    registry,
                    mode: Mode::Disabled,
                    health: Arc::default(),
                    export_timeout: config.export_timeout,
                    _instrument: None,
                    plugins: Arc::default(),
                }),
            };
            return Ok((hb, idle));
        }
        if let Some(provider) = self.meter_provider {
            let meter = provider.meter_with_scope(scope());
            let instrument = register(&meter, &registry);
            telemetry::register(&meter, &registry, None, true);
            let hb = Heartbeat {
                shared: Arc::new(Shared {
                    registry,
                    mode: Mode::Attached { provider },
                    health: Arc::default(),
                    export_timeout: config.export_timeout,
                    _instrument: Some(instrument),
                    plugins: Arc::default(),
                }),
            };
            return Ok((hb, idle));
        }

        let sender = Sender::build(&config)?;
        let attrs = resource_attributes(&config);
        let mut collector = Collector::new(&registry, batch_temporality(config.temporality));
        for (k, v) in &attrs {
            collector = collector.with_resource_attribute(k.clone(), v.clone());
        }
        let reader = Arc::new(
            ManualReader::builder()
                .with_temporality(otel_temporality(config.temporality))
                .build(),
        );
        let provider = SdkMeterProvider::builder()
            .with_resource(resource(&attrs))
            .with_reader(otel::SharedReader(Arc::clone(&reader)))
            .build();
        let health: Arc<Health> = Arc::default();
        telemetry::register(
            &provider.meter_with_scope(scope()),
            &registry,
            Some(telemetry::Exports {
                health: Arc::clone(&health),
                clock: Arc::clone(registry.clock()),
            }),
            false,
        );
        let (commands, rx) = mpsc::unbounded_channel();
        let plugins: Arc<Plugins> = Arc::default();
        let export_now = Arc::new(Notify::new());
        let driver_started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let target = sender.target();
        let driver = Driver {
            future: Box::pin(drive(Loop {
                last_body: 0,
                collector,
                registry: registry.clone(),
                plugins: Arc::clone(&plugins),
                reader,
                _provider: provider.clone(),
                sender,
                retry: config.retry,
                secrets: Secrets::new(&config.endpoint, &config.headers),
                endpoint: config.endpoint.clone(),
                target,
                commands: rx,
                export_now: Arc::clone(&export_now),
                interval: config.export_interval,
                deadline: config.export_timeout,
                health: Arc::clone(&health),
                started: Arc::clone(&driver_started),
            })),
        };
        let hb = Heartbeat {
            shared: Arc::new(Shared {
                registry,
                mode: Mode::Owned {
                    commands,
                    provider,
                    export_now,
                    driver_started,
                },
                health,
                export_timeout: config.export_timeout,
                _instrument: None,
                plugins,
            }),
        };
        Ok((hb, driver))
    }

    /// Builds the pipeline and spawns its driver on the current tokio runtime.
    ///
    /// # Errors
    /// [`InstallError::Build`] for a bad configuration, [`InstallError::NoRuntime`] outside a
    /// tokio runtime.
    pub fn install(self) -> Result<Heartbeat, InstallError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| InstallError::NoRuntime)?;
        let (hb, driver) = self.build()?;
        runtime.spawn(driver);
        Ok(hb)
    }
}

/// What a collection produced, for its acknowledgement.
enum Collected {
    Encoded(Encoded),
    Batch(Batch),
}

struct Loop {
    /// The size of the last request body: the next one's starting capacity.
    last_body: usize,
    /// The only aggregation of the outcomes and the plug-ins' sums.
    collector: Collector,
    registry: Registry,
    plugins: Arc<Plugins>,
    /// What is registered on the meter.
    reader: Arc<ManualReader>,
    /// Keeps the provider (and so the reader) alive until the final export is done.
    _provider: SdkMeterProvider,
    sender: Sender,
    retry: config::Retry,
    /// Scrubbed from error messages.
    secrets: Secrets,
    endpoint: String,
    /// Where requests go (the endpoint with its path), shown redacted in failures.
    target: String,
    commands: mpsc::UnboundedReceiver<Command>,
    export_now: Arc<Notify>,
    interval: Duration,
    deadline: Duration,
    health: Arc<Health>,
    started: Arc<std::sync::atomic::AtomicBool>,
}

impl Loop {
    /// One collection and export, finished or abandoned by `until`. A delta batch is
    /// acknowledged only when the collector accepted it; otherwise the next one carries its
    /// counts again.
    async fn export_once(&mut self, until: tokio::time::Instant) -> Result<(), ExportError> {
        let (registry, health, plugins) = (&self.registry, &self.health, &self.plugins);
        let extra = |batch: &mut Batch| {
            telemetry::collect(batch, registry, health);
            plugins.collect(batch);
        };
        let encoding = self.sender.encoding();
        let mut body = Vec::with_capacity(self.last_body);
        // One form per collector, as the acknowledgement contract asks: the protobuf fast form
        // (cached attribute blocks) or a batch for JSON.
        let collected = match encoding {
            Encoding::Protobuf => {
                Collected::Encoded(self.collector.encode_protobuf_into(extra, &mut body))
            }
            Encoding::Json => {
                let batch = self.collector.collect_with(extra);
                body = encode_json(&batch).into_bytes();
                Collected::Batch(batch)
            }
        };
        if let Some(extra) = otel::collect(&self.reader) {
            otel::append(&mut body, &extra, encoding);
        }
        self.last_body = body.len();
        let body = Bytes::from(body);
        let sender = &self.sender;
        let attempts = retry::with_retries(self.retry, until, || sender.send(&body));
        let (result, told) = match tokio::time::timeout_at(until, attempts).await {
            Ok(Ok(accepted)) => {
                match &collected {
                    Collected::Encoded(encoded) => self.collector.ack_encoded(encoded),
                    Collected::Batch(batch) => self.collector.ack(batch),
                };
                let now = self.registry.clock().now_unix();
                self.health.succeeded(now, accepted.rejected_points);
                (Ok(()), Ok(()))
            }
            Ok(Err(rejected)) => {
                self.health.failed(rejected.failure);
                // The URL (credentials and query hidden) and the cause: a doubled
                // `/v1/metrics/v1/metrics` or a port where nothing listens shows at once.
                let url = heartbeat_core::redact::url(&self.target);
                let message = self
                    .secrets
                    .scrub(&format!("{url}: {}", rejected.message), &self.endpoint);
                tracing::warn!(
                    target: "heartbeat::export",
                    url = %url,
                    reason = rejected.failure.as_str(),
                    error = %message,
                    "OTLP export failed; the counts stay for the next export"
                );
                (Err(ExportError::Failed(message)), Err(rejected.failure))
            }
            Err(_) => {
                self.health.failed(ExportFailure::Timeout);
                tracing::warn!(
                    target: "heartbeat::export",
                    url = %heartbeat_core::redact::url(&self.target),
                    reason = ExportFailure::Timeout.as_str(),
                    deadline = ?self.deadline,
                    "OTLP export did not finish in time; the counts stay for the next export"
                );
                (
                    Err(ExportError::Timeout(self.deadline)),
                    Err(ExportFailure::Timeout),
                )
            }
        };
        self.plugins.exported(told);
        result
    }
}

async fn drive(mut lp: Loop) {
    lp.started.store(true, Relaxed);
    let periodic = |lp: &Loop| tokio::time::Instant::now() + lp.deadline;
    let start = tokio::time::Instant::now() + lp.interval;
    let mut ticker = tokio::time::interval_at(start, lp.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let until = periodic(&lp);
                let _ = lp.export_once(until).await;
            }
            () = lp.export_now.notified() => {
                let until = periodic(&lp);
                let _ = lp.export_once(until).await;
            }
            command = lp.commands.recv() => match command {
                Some(Command::Flush((reply, until))) => {
                    let result = lp.export_once(until).await;
                    let _ = reply.send(result);
                }
                Some(Command::Shutdown((reply, until))) => {
                    let result = lp.export_once(until).await;
                    let _ = reply.send(result);
                    return;
                }
                None => {
                    // Every handle is gone: send what is left, then stop.
                    let until = periodic(&lp);
                    let _ = lp.export_once(until).await;
                    return;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn urls_are_shown_without_credentials_or_query() {
        assert_eq!(
            heartbeat_core::redact::url("https://user:pw@host:1/p?token=abc"),
            "https://***@host:1/p?***"
        );
        assert_eq!(
            heartbeat_core::redact::url("https://user:p@ss@host/v1#frag"),
            "https://***@host/v1?***"
        );
        assert_eq!(
            heartbeat_core::redact::url("http://host/a@b"),
            "http://host/a@b"
        );
        assert_eq!(
            heartbeat_core::redact::url("http://host:4318/v1/metrics"),
            "http://host:4318/v1/metrics"
        );
    }
}
