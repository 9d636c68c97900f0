//! The OTLP transports: one attempt at sending an encoded `ExportMetricsServiceRequest`, and
//! what the collector said, classified from typed errors ([`Failure`](super::transport::Failure), [`tonic::Code`]).
//!
//! ```text
//! body ──► OTLP/HTTP: POST through this crate's HTTP client (gzip by Content-Encoding)
//!      └─► OTLP/gRPC: unary MetricsService/Export on a tonic channel over the same TCP
//!          connector, the body passed through as bytes (gzip by grpc-encoding)
//! ```
//! Each transport lives behind its cargo feature; a protocol whose feature is off is a
//! [`BuildError`]. Retries are the caller's ([`super::retry`]).

use super::config::{Compression, Config, Protocol};
use super::error::BuildError;
use super::retry::Rejected;
use bytes::Bytes;

/// How the request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// OTLP/protobuf (HTTP `application/x-protobuf`, and gRPC).
    #[cfg_attr(not(any(feature = "http-proto", feature = "grpc")), allow(dead_code))]
    Protobuf,
    /// OTLP/JSON (HTTP `application/json`).
    #[cfg_attr(not(feature = "http-json"), allow(dead_code))]
    Json,
}

/// What the collector said to an accepted export: the points it rejected (a partial success,
/// which is not retried) and its message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub(crate) rejected_points: u64,
    pub(crate) message: String,
}

/// One transport, ready to send.
pub(crate) enum Sender {
    #[cfg(any(feature = "http-proto", feature = "http-json"))]
    Http(Box<http::Sender>),
    #[cfg(feature = "grpc")]
    Grpc(Box<grpc::Sender>),
    /// No transport compiled in (never built: [`Sender::build`] refuses).
    #[allow(dead_code)]
    None(std::convert::Infallible),
}

impl Sender {
    /// The transport for `config`.
    ///
    /// # Errors
    /// The protocol's or gzip's feature is off, or the transport could not be built.
    pub(crate) fn build(config: &Config) -> Result<Self, BuildError> {
        if config.compression == Compression::Gzip && !cfg!(feature = "gzip") {
            return Err(BuildError::Exporter(
                "gzip compression needs the `gzip` feature of heartbeat".to_owned(),
            ));
        }
        match config.protocol {
            #[cfg(feature = "grpc")]
            Protocol::Grpc => grpc::Sender::build(config).map(|s| Self::Grpc(Box::new(s))),
            #[cfg(feature = "http-proto")]
            Protocol::HttpProtobuf => {
                http::Sender::build(config, Encoding::Protobuf).map(|s| Self::Http(Box::new(s)))
            }
            #[cfg(feature = "http-json")]
            Protocol::HttpJson => {
                http::Sender::build(config, Encoding::Json).map(|s| Self::Http(Box::new(s)))
            }
            #[allow(unreachable_patterns)]
            other => Err(BuildError::ProtocolNotEnabled {
                protocol: other.as_str(),
                feature: match other {
                    Protocol::Grpc => "grpc",
                    Protocol::HttpJson => "http-json",
                    _ => "http-proto",
                },
            }),
        }
    }

    /// The body encoding this transport sends.
    pub(crate) fn encoding(&self) -> Encoding {
        match self {
            #[cfg(any(feature = "http-proto", feature = "http-json"))]
            Self::Http(s) => s.encoding,
            #[cfg(feature = "grpc")]
            Self::Grpc(_) => Encoding::Protobuf,
            Self::None(never) => match *never {},
        }
    }

    /// Where each attempt goes: the HTTP request's URL, or the endpoint and the gRPC method's
    /// path. Not redacted (the caller redacts).
    pub(crate) fn target(&self) -> String {
        match self {
            #[cfg(any(feature = "http-proto", feature = "http-json"))]
            Self::Http(s) => s.url.to_string(),
            #[cfg(feature = "grpc")]
            Self::Grpc(s) => s.target(),
            Self::None(never) => match *never {},
        }
    }

    /// One attempt. Messages carry no URL; the caller scrubs secrets.
    pub(crate) async fn send(&self, body: &Bytes) -> Result<Accepted, Rejected> {
        let _ = body;
        match self {
            #[cfg(any(feature = "http-proto", feature = "http-json"))]
            Self::Http(s) => s.send(body).await,
            #[cfg(feature = "grpc")]
            Self::Grpc(s) => s.send(body).await,
            Self::None(never) => match *never {},
        }
    }
}

/// `body` compressed with gzip.
#[cfg(all(feature = "gzip", any(feature = "http-proto", feature = "http-json")))]
fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// The partial success of a protobuf `ExportMetricsServiceResponse` (empty: full success).
#[cfg(any(feature = "http-proto", feature = "http-json", feature = "grpc"))]
fn partial_success_protobuf(body: &[u8]) -> Accepted {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
    use prost::Message as _;
    match ExportMetricsServiceResponse::decode(body) {
        Ok(response) => response
            .partial_success
            .map(|p| Accepted {
                rejected_points: u64::try_from(p.rejected_data_points).unwrap_or(0),
                message: p.error_message,
            })
            .unwrap_or_default(),
        // An answer that is not an OTLP response still accepted the export.
        Err(_) => Accepted::default(),
    }
}

#[cfg(any(feature = "http-proto", feature = "http-json"))]
mod http {
    use crate::export::config::{Compression, Config};
    use crate::export::error::BuildError;
    use crate::export::health::ExportFailure;
    use crate::export::redact::scrub;
    use crate::export::retry::Rejected;
    use crate::export::retry::{Again, retry_after_seconds};
    #[cfg(feature = "gzip")]
    use crate::export::sender::gzip;
    use crate::export::sender::{Accepted, Encoding, partial_success_protobuf};
    use crate::export::transport::{Failure, HttpClient, MAX_EXPORT_RESPONSE};
    use ::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, header};
    use bytes::Bytes;

    /// OTLP/HTTP: a POST of the body to the metrics URL.
    pub(crate) struct Sender {
        client: HttpClient,
        pub(super) url: ::http::Uri,
        headers: HeaderMap,
        pub(super) encoding: Encoding,
        #[cfg_attr(not(feature = "gzip"), allow(dead_code))]
        gzip: bool,
    }

    impl Sender {
        pub(super) fn build(config: &Config, encoding: Encoding) -> Result<Self, BuildError> {
            let client = HttpClient::new(&config.trust, config.timeout, MAX_EXPORT_RESPONSE)
                .map_err(|e| BuildError::Exporter(scrub(&e, &config.endpoint, &config.headers)))?;
            let url = config
                .endpoint
                .parse()
                .map_err(|_| BuildError::InvalidSetting {
                    setting: "endpoint",
                    value: heartbeat_core::redact::url(&config.endpoint),
                    problem: "it is not a valid HTTP URL",
                })?;
            let mut headers = HeaderMap::new();
            for (k, v) in &config.headers {
                let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                    BuildError::InvalidSetting {
                        setting: "header name",
                        value: k.clone(),
                        problem: "header names are visible ASCII without ':'",
                    }
                })?;
                let value = HeaderValue::from_str(v).map_err(|_| BuildError::InvalidSetting {
                    setting: "value of header",
                    value: k.clone(),
                    problem: "header values are visible ASCII, spaces and tabs (the value is not shown)",
                })?;
                headers.insert(name, value);
            }
            let content_type = match encoding {
                Encoding::Protobuf => "application/x-protobuf",
                Encoding::Json => "application/json",
            };
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            let gzip = config.compression == Compression::Gzip;
            if gzip {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            Ok(Self {
                client,
                url,
                headers,
                encoding,
                gzip,
            })
        }

        pub(super) async fn send(&self, body: &Bytes) -> Result<Accepted, Rejected> {
            #[cfg(feature = "gzip")]
            let body = if self.gzip {
                Bytes::from(gzip(body))
            } else {
                body.clone()
            };
            #[cfg(not(feature = "gzip"))]
            let body = body.clone();
            let mut request = Request::new(body);
            *request.method_mut() = Method::POST;
            *request.uri_mut() = self.url.clone();
            *request.headers_mut() = self.headers.clone();
            let response = self.client.send(request).await.map_err(|e| Rejected {
                failure: ExportFailure::of(e.failure),
                // A certificate that did not verify will not verify on a retry.
                again: if e.failure == Failure::Tls {
                    Again::No
                } else {
                    Again::Yes
                },
                message: e.to_string(),
            })?;
            let status = response.status().as_u16();
            if response.status().is_success() {
                return Ok(match self.encoding {
                    Encoding::Protobuf => partial_success_protobuf(response.body()),
                    Encoding::Json => partial_success_json(response.body()),
                });
            }
            let retry_after = || {
                response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(retry_after_seconds)
            };
            let again = match status {
                429 | 503 => retry_after().map_or(Again::Yes, Again::After),
                502 | 504 => Again::Yes,
                _ => Again::No,
            };
            Err(Rejected {
                failure: ExportFailure::of(Failure::Status(status)),
                again,
                message: format!("the collector answered HTTP {status}"),
            })
        }
    }

    /// The partial success of a JSON `ExportMetricsServiceResponse`.
    #[cfg(feature = "http-json")]
    fn partial_success_json(body: &[u8]) -> Accepted {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Accepted::default();
        };
        let partial = &v["partialSuccess"];
        let rejected = &partial["rejectedDataPoints"];
        Accepted {
            rejected_points: rejected
                .as_u64()
                .or_else(|| rejected.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0),
            message: partial["errorMessage"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }

    #[cfg(not(feature = "http-json"))]
    fn partial_success_json(_: &[u8]) -> Accepted {
        Accepted::default()
    }
}

#[cfg(feature = "grpc")]
mod grpc {
    use crate::export::config::{Compression, Config};
    use crate::export::error::BuildError;
    use crate::export::health::ExportFailure;
    use crate::export::retry::Again;
    use crate::export::retry::Rejected;
    use crate::export::sender::{Accepted, partial_success_protobuf};
    use crate::export::transport::{self, Failure};
    use bytes::Bytes;
    use std::sync::OnceLock;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
    use tonic::metadata::MetadataMap;
    use tonic::transport::{Channel, Endpoint};

    const EXPORT: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

    /// OTLP/gRPC: the unary `Export` call, its request already encoded.
    pub(crate) struct Sender {
        endpoint: Endpoint,
        connect_timeout: std::time::Duration,
        /// Made on the first send, inside the driver's runtime (its worker is a task).
        channel: OnceLock<Channel>,
        metadata: MetadataMap,
        gzip: bool,
    }

    impl Sender {
        /// The endpoint and the `Export` method's path.
        pub(super) fn target(&self) -> String {
            let uri = self.endpoint.uri().to_string();
            format!("{}{EXPORT}", uri.trim_end_matches('/'))
        }

        pub(super) fn build(config: &Config) -> Result<Self, BuildError> {
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
                let name = ::http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
                    .map_err(|_| BuildError::InvalidSetting {
                        setting: "header name",
                        value: k.clone(),
                        problem: "it is not a valid gRPC metadata key",
                    })?;
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
            let endpoint = Endpoint::from_shared(url)
                .map_err(|_| BuildError::InvalidSetting {
                    setting: "endpoint",
                    value: heartbeat_core::redact::url(&config.endpoint),
                    problem: "it is not a valid gRPC endpoint URI",
                })?
                .timeout(config.timeout)
                .connect_timeout(config.timeout);
            let endpoint = tls::configure(endpoint, config)?;
            Ok(Self {
                endpoint,
                connect_timeout: config.timeout,
                channel: OnceLock::new(),
                metadata: MetadataMap::from_headers(headers),
                gzip: config.compression == Compression::Gzip,
            })
        }

        fn channel(&self) -> Channel {
            self.channel
                .get_or_init(|| {
                    self.endpoint
                        .connect_with_connector_lazy(transport::tcp(self.connect_timeout))
                })
                .clone()
        }

        pub(super) async fn send(&self, body: &Bytes) -> Result<Accepted, Rejected> {
            let mut grpc = tonic::client::Grpc::new(self.channel());
            #[cfg(feature = "gzip")]
            if self.gzip {
                grpc = grpc
                    .send_compressed(tonic::codec::CompressionEncoding::Gzip)
                    .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
            }
            #[cfg(not(feature = "gzip"))]
            let _ = self.gzip;
            grpc.ready().await.map_err(|e| rejected_transport(&e))?;
            let mut request = tonic::Request::new(body.clone());
            *request.metadata_mut() = self.metadata.clone();
            let path = ::http::uri::PathAndQuery::from_static(EXPORT);
            match grpc.unary(request, path, PassThrough).await {
                Ok(response) => Ok(partial_success_protobuf(response.get_ref())),
                Err(status) => Err(rejected_status(&status)),
            }
        }
    }

    /// A channel that could not be made ready: a transport failure, retryable unless TLS.
    fn rejected_transport(error: &(dyn std::error::Error + 'static)) -> Rejected {
        let failure = Failure::classify(error);
        Rejected {
            failure: ExportFailure::of(failure),
            again: if failure == Failure::Tls {
                Again::No
            } else {
                Again::Yes
            },
            message: format!("gRPC transport: {error}"),
        }
    }

    /// A failed call, classified by its status code and the typed errors under it; retryable
    /// as the OTLP specification says.
    pub(super) fn rejected_status(status: &tonic::Status) -> Rejected {
        use tonic::Code;
        use tonic_types::StatusExt as _;
        let retry_info = status
            .get_details_retry_info()
            .and_then(|info| info.retry_delay);
        let cause = Failure::classify(status);
        let failure = match (cause, status.code()) {
            (Failure::Other, Code::DeadlineExceeded) => ExportFailure::Timeout,
            (Failure::Other, _) => ExportFailure::Other,
            (cause, _) => ExportFailure::of(cause),
        };
        let again = match status.code() {
            _ if cause == Failure::Tls => Again::No,
            Code::ResourceExhausted => retry_info.map_or(Again::No, Again::After),
            Code::Unavailable => retry_info
                .filter(|d| !d.is_zero())
                .map_or(Again::Yes, Again::After),
            Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::OutOfRange
            | Code::DataLoss => Again::Yes,
            _ => Again::No,
        };
        Rejected {
            failure,
            again,
            message: format!("gRPC status {:?}: {}", status.code(), status.message()),
        }
    }

    /// Sends bytes as they are and reads the answer as bytes: the request is encoded by the
    /// core, the answer decoded by prost.
    #[derive(Debug, Clone, Copy, Default)]
    struct PassThrough;

    impl Codec for PassThrough {
        type Encode = Bytes;
        type Decode = Bytes;
        type Encoder = PassThrough;
        type Decoder = PassThrough;
        fn encoder(&mut self) -> Self::Encoder {
            PassThrough
        }
        fn decoder(&mut self) -> Self::Decoder {
            PassThrough
        }
    }

    impl Encoder for PassThrough {
        type Item = Bytes;
        type Error = tonic::Status;
        fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            use bytes::BufMut as _;
            dst.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for PassThrough {
        type Item = Bytes;
        type Error = tonic::Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
            use bytes::Buf as _;
            Ok(Some(src.copy_to_bytes(src.remaining())))
        }
    }

    /// TLS for an `https://` endpoint: tonic's rustls (ring) with this crate's trust.
    #[cfg(feature = "tls")]
    mod tls {
        use crate::export::config::Config;
        use crate::export::error::BuildError;
        use tonic::transport::Endpoint;

        pub(super) fn configure(
            endpoint: Endpoint,
            config: &Config,
        ) -> Result<Endpoint, BuildError> {
            if !config.endpoint.starts_with("https://") {
                return Ok(endpoint);
            }
            let tls = tonic::transport::ClientTlsConfig::new()
                .trust_anchors(config.trust.trust_anchors());
            endpoint.tls_config(tls).map_err(|e| {
                BuildError::Exporter(crate::export::redact::scrub(
                    &e.to_string(),
                    &config.endpoint,
                    &config.headers,
                ))
            })
        }
    }

    /// Without the `tls` feature, `https://` was refused when the configuration was resolved.
    #[cfg(not(feature = "tls"))]
    mod tls {
        use crate::export::config::Config;
        use crate::export::error::BuildError;
        use tonic::transport::Endpoint;

        pub(super) fn configure(endpoint: Endpoint, _: &Config) -> Result<Endpoint, BuildError> {
            Ok(endpoint)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn grpc_statuses_are_classified_by_code_and_retried_as_otlp_says() {
            use tonic::Code;
            for (code, again, failure) in [
                (Code::Unavailable, Again::Yes, ExportFailure::Other),
                (Code::Cancelled, Again::Yes, ExportFailure::Other),
                (Code::Aborted, Again::Yes, ExportFailure::Other),
                (Code::OutOfRange, Again::Yes, ExportFailure::Other),
                (Code::DataLoss, Again::Yes, ExportFailure::Other),
                (Code::DeadlineExceeded, Again::Yes, ExportFailure::Timeout),
                (Code::ResourceExhausted, Again::No, ExportFailure::Other),
                (Code::Unimplemented, Again::No, ExportFailure::Other),
                (Code::InvalidArgument, Again::No, ExportFailure::Other),
            ] {
                let r = rejected_status(&tonic::Status::new(code, "x"));
                assert_eq!((r.again, r.failure), (again, failure), "{code:?}");
            }
        }

        #[test]
        fn resource_exhausted_with_retry_info_is_retried_after_its_delay() {
            use tonic_types::{ErrorDetails, StatusExt as _};
            let delay = std::time::Duration::from_secs(2);
            let status = tonic::Status::with_error_details(
                tonic::Code::ResourceExhausted,
                "slow down",
                ErrorDetails::with_retry_info(Some(delay)),
            );
            assert_eq!(rejected_status(&status).again, Again::After(delay));
        }

        #[test]
        fn a_refused_connection_under_a_status_is_a_connect_failure() {
            let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
            let status = tonic::Status::from_error(Box::new(refused));
            assert_eq!(rejected_status(&status).failure, ExportFailure::Connect);
        }
    }
}
