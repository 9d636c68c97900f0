//! Builds the `opentelemetry-otlp` exporter for the resolved configuration. Each transport
//! lives behind its cargo feature; a protocol whose feature is off is a [`BuildError`].

use super::config::{Compression, Config, Protocol, Retry};
use super::error::BuildError;
use opentelemetry_otlp::MetricExporter;

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

fn exporter_error(e: opentelemetry_otlp::ExporterBuildError) -> BuildError {
    BuildError::Exporter(e.to_string())
}

pub(super) fn build(config: &Config) -> Result<MetricExporter, BuildError> {
    match config.protocol {
        Protocol::Grpc => grpc::build(config),
        Protocol::HttpProtobuf | Protocol::HttpJson => http::build(config),
    }
}

#[cfg(feature = "grpc")]
mod grpc {
    use super::*;
    use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};

    pub(super) fn build(config: &Config) -> Result<MetricExporter, BuildError> {
        let mut headers = ::http::HeaderMap::new();
        for (k, v) in &config.headers {
            let name = ::http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).map_err(
                |_| BuildError::InvalidSetting {
                    setting: "header name",
                    value: k.clone(),
                    problem: "it is not a valid gRPC metadata key",
                },
            )?;
            let value =
                ::http::HeaderValue::from_str(v).map_err(|_| BuildError::InvalidSetting {
                    setting: "header value for",
                    value: k.clone(),
                    problem: "the value is not visible ASCII",
                })?;
            headers.insert(name, value);
        }
        let mut builder = MetricExporter::builder()
            .with_tonic()
            .with_endpoint(config.endpoint.clone())
            .with_timeout(config.timeout)
            .with_temporality(super::super::otel_temporality(config.temporality))
            .with_metadata(
                opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers),
            )
            .with_retry_policy(retry_policy(config.retry));
        if let Some(c) = compression(config.compression) {
            builder = builder.with_compression(c);
        }
        builder.build().map_err(exporter_error)
    }
}

#[cfg(not(feature = "grpc"))]
mod grpc {
    use super::*;

    pub(super) fn build(_: &Config) -> Result<MetricExporter, BuildError> {
        Err(BuildError::ProtocolNotEnabled {
            protocol: "grpc",
            feature: "grpc",
        })
    }
}

#[cfg(any(feature = "http-proto", feature = "http-json"))]
mod http {
    use super::*;
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};

    pub(super) fn build(config: &Config) -> Result<MetricExporter, BuildError> {
        let protocol = otlp_protocol(config.protocol)?;
        let mut builder = MetricExporter::builder()
            .with_http()
            .with_endpoint(config.endpoint.clone())
            .with_protocol(protocol)
            .with_timeout(config.timeout)
            .with_temporality(super::super::otel_temporality(config.temporality))
            .with_headers(config.headers.iter().cloned().collect())
            .with_retry_policy(retry_policy(config.retry));
        if let Some(c) = compression(config.compression) {
            builder = builder.with_compression(c);
        }
        builder.build().map_err(exporter_error)
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

    pub(super) fn build(config: &Config) -> Result<MetricExporter, BuildError> {
        Err(BuildError::ProtocolNotEnabled {
            protocol: config.protocol.as_str(),
            feature: "http-proto",
        })
    }
}
