//! Builds the `opentelemetry-otlp` exporter for the resolved configuration. Each transport
//! lives behind its cargo feature; a protocol whose feature is off is a [`BuildError`].
//!
//! Both transports run on this crate's connector ([`super::transport`]): OTLP/HTTP through its
//! HTTP client, OTLP/gRPC through a tonic channel built here on the same TCP connector (TLS from
//! tonic, with the same trust). Each failed attempt is classified into [`Attempts`], which the
//! driver reads to tell `dns`, `connect`, `tls` and status failures apart.

use super::Attempts;
use super::config::{Compression, Config, Protocol, Retry};
use super::error::BuildError;
use opentelemetry_otlp::MetricExporter;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};

fn retry_policy(r: Retry) -> opentelemetry_otlp::RetryPolicy {
    opentelemetry_otlp::RetryPolicy::recommended()
        .with_max_retries(r.max_retries)
        .with_initial_delay(r.initial_delay)
        .with_max_delay(r.max_delay)
        .with_max_jitter(r.max_jitter)
}

fn compression(c: Compression) -> Option<opentelemetry_otlp::Compression> {
    match c {
        Compression::None => None,
        Compression::Gzip => Some(opentelemetry_otlp::Compression::Gzip),
    }
}

/// The exporter's own build errors quote the endpoint: show it redacted.
fn exporter_error(config: &Config, e: impl std::fmt::Display) -> BuildError {
    BuildError::Exporter(super::scrub(&e.to_string(), config))
}

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;
type Held = Mutex<Vec<Task>>;

/// Tasks a transport starts while being built (tonic's channel worker), held until the driver
/// runs when `build()` was called outside a tokio runtime, as it may be. The driver owns this;
/// the transport gets a [`DeferredExecutor`], which only points at it: a held task that refers
/// back to the executor makes no cycle, so a driver dropped unstarted frees everything.
#[derive(Default)]
pub(crate) struct Deferred(Arc<Held>);

impl Deferred {
    /// The executor to give the transport.
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) fn executor(&self) -> DeferredExecutor {
        DeferredExecutor(Arc::downgrade(&self.0))
    }

    /// Spawns whatever was held, on the current runtime (the driver calls it first thing).
    pub(crate) fn start(&self) {
        let held = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for task in held {
            tokio::spawn(task);
        }
    }
}

/// Spawns at once inside a tokio runtime, else hands the task to the driver's [`Deferred`]
/// (or drops it, if the driver is gone).
#[derive(Clone)]
#[cfg_attr(not(feature = "grpc"), allow(dead_code))]
pub(crate) struct DeferredExecutor(Weak<Held>);

impl hyper::rt::Executor<Task> for DeferredExecutor {
    fn execute(&self, task: Task) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(task);
        } else if let Some(held) = self.0.upgrade() {
            held.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(task);
        }
    }
}

/// The exporter, and the executor whose held tasks the driver starts.
pub(super) struct Built {
    pub(super) exporter: MetricExporter,
    pub(super) deferred: Deferred,
}

pub(super) fn build(config: &Config, attempts: &Arc<Attempts>) -> Result<Built, BuildError> {
    let deferred = Deferred::default();
    let exporter = match config.protocol {
        Protocol::Grpc => grpc::build(config, attempts, &deferred)?,
        Protocol::HttpProtobuf | Protocol::HttpJson => http::build(config, attempts)?,
    };
    Ok(Built { exporter, deferred })
}

#[cfg(feature = "grpc")]
mod grpc {
    use super::*;
    use crate::export::transport::{self, Failure};
    use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
    use std::task::{Context, Poll};

    /// The TCP connector under the tonic channel, recording why a connection failed.
    #[derive(Clone)]
    struct Recording {
        tcp: hyper_util::client::legacy::connect::HttpConnector<transport::Resolver>,
        attempts: Arc<Attempts>,
    }

    type Io = hyper_util::rt::TokioIo<tokio::net::TcpStream>;
    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    impl tower_service::Service<::http::Uri> for Recording {
        type Response = Io;
        type Error = BoxError;
        type Future = Pin<Box<dyn Future<Output = Result<Io, BoxError>> + Send>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            tower_service::Service::<::http::Uri>::poll_ready(&mut self.tcp, cx).map_err(Into::into)
        }

        fn call(&mut self, uri: ::http::Uri) -> Self::Future {
            let connect = self.tcp.call(uri);
            let attempts = Arc::clone(&self.attempts);
            Box::pin(async move {
                connect.await.map_err(|e| {
                    attempts.record(Failure::classify(&e));
                    e.into()
                })
            })
        }
    }

    pub(super) fn build(
        config: &Config,
        attempts: &Arc<Attempts>,
        deferred: &Deferred,
    ) -> Result<MetricExporter, BuildError> {
        // Credentials in the endpoint become an `authorization` header, never the authority.
        let (url, basic) = transport::split_userinfo(&config.endpoint);
        let mut headers = ::http::HeaderMap::new();
        let mut pairs = config.headers.clone();
        if let Some(basic) = basic
            && !pairs
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            pairs.push(("authorization".to_owned(), basic));
        }
        for (k, v) in &pairs {
            let name = ::http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).map_err(
                |_| BuildError::InvalidSetting {
                    setting: "header name",
                    value: k.clone(),
                    problem: "it is not a valid gRPC metadata key",
                },
            )?;
            let mut value =
                ::http::HeaderValue::from_str(v).map_err(|_| BuildError::InvalidSetting {
                    setting: "value of header",
                    value: k.clone(),
                    problem: "header values are visible ASCII, spaces and tabs (the value is not shown)",
                })?;
            // Never shown by a `Debug` of the metadata.
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let endpoint = tonic::transport::Endpoint::from_shared(url)
            .map_err(|_| BuildError::InvalidSetting {
                setting: "endpoint",
                value: crate::export::redact_url(&config.endpoint),
                problem: "it is not a valid gRPC endpoint URI",
            })?
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .executor(deferred.executor());
        let endpoint = tls::configure(endpoint, config)?;
        let channel = endpoint.connect_with_connector_lazy(Recording {
            tcp: transport::tcp(config.timeout),
            attempts: Arc::clone(attempts),
        });
        let mut builder = MetricExporter::builder()
            .with_tonic()
            .with_channel(channel)
            .with_timeout(config.timeout)
            .with_temporality(super::super::otel_temporality(config.temporality))
            .with_metadata(
                opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers),
            )
            .with_retry_policy(retry_policy(config.retry));
        if let Some(c) = compression(config.compression) {
            builder = builder.with_compression(c);
        }
        builder.build().map_err(|e| exporter_error(config, e))
    }

    /// TLS for an `https://` endpoint: tonic's rustls (ring) with this crate's trust.
    #[cfg(feature = "tls")]
    mod tls {
        use super::*;

        pub(super) fn configure(
            endpoint: tonic::transport::Endpoint,
            config: &Config,
        ) -> Result<tonic::transport::Endpoint, BuildError> {
            if !config.endpoint.starts_with("https://") {
                return Ok(endpoint);
            }
            let tls = tonic::transport::ClientTlsConfig::new()
                .trust_anchors(config.trust.trust_anchors());
            endpoint
                .tls_config(tls)
                .map_err(|e| exporter_error(config, e))
        }
    }

    /// Without the `tls` feature, `https://` was refused when the configuration was resolved.
    #[cfg(not(feature = "tls"))]
    mod tls {
        use super::*;

        pub(super) fn configure(
            endpoint: tonic::transport::Endpoint,
            _: &Config,
        ) -> Result<tonic::transport::Endpoint, BuildError> {
            Ok(endpoint)
        }
    }
}

#[cfg(not(feature = "grpc"))]
mod grpc {
    use super::*;

    pub(super) fn build(
        _: &Config,
        _: &Arc<Attempts>,
        _: &Deferred,
    ) -> Result<MetricExporter, BuildError> {
        Err(BuildError::ProtocolNotEnabled {
            protocol: "grpc",
            feature: "grpc",
        })
    }
}

#[cfg(any(feature = "http-proto", feature = "http-json"))]
mod http {
    use super::*;
    use crate::export::transport::{self, Failure, HttpClient};
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};

    /// This crate's HTTP client as the OTLP exporter's, recording each failed attempt.
    #[derive(Debug)]
    struct OtlpClient {
        client: HttpClient,
        attempts: Arc<Attempts>,
    }

    #[async_trait::async_trait]
    impl opentelemetry_http::HttpClient for OtlpClient {
        async fn send_bytes(
            &self,
            request: opentelemetry_http::Request<bytes::Bytes>,
        ) -> Result<opentelemetry_http::Response<bytes::Bytes>, opentelemetry_http::HttpError>
        {
            match self.client.send(request).await {
                Ok(response) => {
                    if !response.status().is_success() {
                        self.attempts
                            .record(Failure::Status(response.status().as_u16()));
                    }
                    Ok(response)
                }
                Err(e) => {
                    self.attempts.record(e.failure);
                    Err(Box::new(e))
                }
            }
        }
    }

    /// The OTLP exporter percent-decodes header values it is given (as if they came from
    /// `OTEL_EXPORTER_OTLP_HEADERS`); the values here are already final, so `%` is escaped
    /// to arrive unchanged.
    fn escape_percent(value: &str) -> String {
        value.replace('%', "%25")
    }

    pub(super) fn build(
        config: &Config,
        attempts: &Arc<Attempts>,
    ) -> Result<MetricExporter, BuildError> {
        let protocol = otlp_protocol(config.protocol)?;
        let client = HttpClient::new(
            &config.trust,
            config.timeout,
            transport::MAX_EXPORT_RESPONSE,
        )
        .map_err(|e| exporter_error(config, e))?;
        let mut builder = MetricExporter::builder()
            .with_http()
            .with_http_client(OtlpClient {
                client,
                attempts: Arc::clone(attempts),
            })
            .with_endpoint(config.endpoint.clone())
            .with_protocol(protocol)
            .with_timeout(config.timeout)
            .with_temporality(super::super::otel_temporality(config.temporality))
            .with_headers(
                config
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), escape_percent(v)))
                    .collect(),
            )
            .with_retry_policy(retry_policy(config.retry));
        if let Some(c) = compression(config.compression) {
            builder = builder.with_compression(c);
        }
        builder.build().map_err(|e| exporter_error(config, e))
    }

    fn otlp_protocol(p: Protocol) -> Result<opentelemetry_otlp::Protocol, BuildError> {
        match p {
            #[cfg(feature = "http-proto")]
            Protocol::HttpProtobuf => Ok(opentelemetry_otlp::Protocol::HttpBinary),
            #[cfg(feature = "http-json")]
            Protocol::HttpJson => Ok(opentelemetry_otlp::Protocol::HttpJson),
            other => Err(BuildError::ProtocolNotEnabled {
                protocol: other.as_str(),
                feature: if other == Protocol::HttpJson {
                    "http-json"
                } else {
                    "http-proto"
                },
            }),
        }
    }
}

#[cfg(not(any(feature = "http-proto", feature = "http-json")))]
mod http {
    use super::*;

    pub(super) fn build(config: &Config, _: &Arc<Attempts>) -> Result<MetricExporter, BuildError> {
        Err(BuildError::ProtocolNotEnabled {
            protocol: config.protocol.as_str(),
            feature: "http-proto",
        })
    }
}
