//! The SDK's one HTTP client: OTLP/HTTP exports, dead-man pings, and the connector under OTLP/gRPC.
//!
//! ```text
//! request ──► hyper (legacy client, http/1.1) ──► Connector ──► TLS (rustls + ring, feature `tls`)
//!                                                    └──► TCP ──► DNS (getaddrinfo, tagged)
//! OTLP/gRPC: tonic channel (its TLS, same trust) ──────────────► TCP ──► DNS
//! ```
//! Every request is bounded by a timeout and every response body by a size limit, so a collector
//! or channel that never answers, or answers forever, cannot hold memory or a task. A failure is
//! classified ([`Failure`]: DNS, connect, TLS, timeout, HTTP status) for the self-health metrics;
//! error values never carry the URL, so no token in it can reach a message.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::{GaiAddrs, GaiResolver, Name};
use hyper_util::rt::TokioExecutor;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

#[cfg(feature = "tls")]
pub(crate) use super::tls::{Connector, TLS, Trust};
#[cfg(not(feature = "tls"))]
pub(crate) use plain::{Connector, TLS, Trust};

/// The largest response body read from a collector (as the OpenTelemetry HTTP clients do).
#[cfg(any(feature = "http-proto", feature = "http-json"))]
pub(crate) const MAX_EXPORT_RESPONSE: usize = 4 * 1024 * 1024;
/// The largest response body read from a ping channel: pings only look at the status.
pub(crate) const MAX_PING_RESPONSE: usize = 64 * 1024;

/// Why a request did not get a successful answer: the `heartbeat.reason` of a failed export or
/// ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No answer within the timeout (connect or whole request).
    Timeout,
    /// The host name did not resolve.
    Dns,
    /// The connection was refused, reset or unreachable.
    Connect,
    /// The TLS handshake failed: most often the certificate did not verify.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Tls,
    /// The peer answered with this non-2xx status (recorded by the OTLP/HTTP exporter).
    #[cfg_attr(
        not(any(feature = "http-proto", feature = "http-json")),
        allow(dead_code)
    )]
    Status(u16),
    /// Anything else (a malformed answer, a body over the size limit, ...).
    Other,
}

impl Failure {
    /// Classifies an error by walking its source chain: the innermost cause that says what went
    /// wrong wins (a TLS alert inside a connect error is a TLS failure).
    pub(crate) fn classify(error: &(dyn StdError + 'static)) -> Self {
        let mut found = Failure::Other;
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(kind) = Self::of_one(e) {
                found = kind;
                if matches!(kind, Failure::Tls | Failure::Dns) {
                    return kind;
                }
            }
            next = e.source();
        }
        found
    }

    fn of_one(e: &(dyn StdError + 'static)) -> Option<Self> {
        if e.is::<DnsError>() {
            return Some(Failure::Dns);
        }
        #[cfg(feature = "tls")]
        if e.is::<rustls::Error>() {
            return Some(Failure::Tls);
        }
        if e.is::<tokio::time::error::Elapsed>() {
            return Some(Failure::Timeout);
        }
        #[cfg(feature = "grpc")]
        if e.is::<tonic::TimeoutExpired>() {
            return Some(Failure::Timeout);
        }
        #[cfg(feature = "grpc")]
        if e.is::<tonic::ConnectError>() {
            // Its cause, when it has a more precise one, is classified after it.
            return Some(Failure::Connect);
        }
        // The connection closed under a request (reset, or closed before the answer).
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && (h.is_canceled() || h.is_closed() || h.is_incomplete_message())
        {
            return Some(Failure::Connect);
        }
        let io = e.downcast_ref::<std::io::Error>()?;
        // `io::Error::source` skips the error it wraps: look at it directly.
        if let Some(inner) = io.get_ref()
            && let Some(kind) = Self::of_one(inner)
        {
            return Some(kind);
        }
        use std::io::ErrorKind::*;
        Some(match io.kind() {
            TimedOut => Failure::Timeout,
            ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected
            | AddrNotAvailable | BrokenPipe | UnexpectedEof | HostUnreachable
            | NetworkUnreachable | NetworkDown => Failure::Connect,
            _ => return None,
        })
    }
}

/// A failed name lookup, tagged so that [`Failure::classify`] can tell it from a refused
/// connection.
#[derive(Debug)]
pub(crate) struct DnsError(std::io::Error);

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DNS lookup failed: {}", self.0)
    }
}

impl StdError for DnsError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

/// hyper-util's `getaddrinfo` resolver, with its errors tagged as [`DnsError`].
#[derive(Clone, Debug)]
pub(crate) struct Resolver(GaiResolver);

impl tower_service::Service<Name> for Resolver {
    type Response = GaiAddrs;
    type Error = DnsError;
    type Future = Pin<Box<dyn Future<Output = Result<GaiAddrs, DnsError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), DnsError>> {
        self.0.poll_ready(cx).map_err(DnsError)
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let lookup = self.0.call(name);
        Box::pin(async move { lookup.await.map_err(DnsError) })
    }
}

/// A TCP connector for `http://` and `https://` URIs (TLS is layered on by [`Connector`]).
pub(crate) fn tcp(connect_timeout: Duration) -> HttpConnector<Resolver> {
    let mut tcp = HttpConnector::new_with_resolver(Resolver(GaiResolver::new()));
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(connect_timeout));
    tcp
}

/// An HTTP/1.1 client with a per-request timeout and a response size limit.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
    timeout: Duration,
    max_response: usize,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .field("max_response", &self.max_response)
            .finish_non_exhaustive()
    }
}

/// A request that failed: its [`Failure`] and a description without the URL.
#[derive(Debug)]
pub(crate) struct RequestError {
    pub(crate) failure: Failure,
    detail: String,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.failure {
            Failure::Timeout => "timed out",
            Failure::Dns => "DNS lookup failed",
            Failure::Connect => "could not connect",
            Failure::Tls => "TLS handshake failed",
            Failure::Status(_) => "rejected",
            Failure::Other => "failed",
        };
        write!(f, "request {what}: {}", self.detail)
    }
}

impl StdError for RequestError {}

/// Splits credentials out of a URL: `scheme://user:pass@host/...` becomes `scheme://host/...` and
/// the `Authorization: Basic ...` value for `user:pass` (percent-decoded), as browsers and curl
/// do. Credentials must never travel in the authority: hyper would put them in the `Host` header
/// and its connection pool would log them.
pub(crate) fn split_userinfo(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decode = |s: &str| super::env::percent_decode(s).unwrap_or_else(|| s.to_owned());
    let credentials = format!("{}:{}", decode(user), decode(pass));
    (
        format!("{scheme}://{host}{tail}"),
        Some(format!("Basic {}", base64(credentials.as_bytes()))),
    )
}

/// Standard base64 with padding (RFC 4648), for `Authorization: Basic`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                let index = usize::try_from((n >> shift) & 63).unwrap_or(0);
                out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'=')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Marks header values that may carry credentials as sensitive, so that no `Debug` of the
/// request (by hyper, or a layer the application adds) shows them.
fn mark_sensitive(headers: &mut http::HeaderMap) {
    use http::header;
    const PLAIN: [header::HeaderName; 5] = [
        header::CONTENT_TYPE,
        header::CONTENT_ENCODING,
        header::CONTENT_LENGTH,
        header::USER_AGENT,
        header::ACCEPT,
    ];
    for (name, value) in headers.iter_mut() {
        if !PLAIN.contains(name) {
            value.set_sensitive(true);
        }
    }
}

/// The description of an error chain, each cause once. hyper and rustls do not put URLs in
/// their messages (only host names and addresses), so this carries no URL token.
fn describe(error: &(dyn StdError + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

impl HttpClient {
    /// A client that trusts `trust`, bounds each request by `timeout` and each response body
    /// by `max_response` bytes.
    ///
    /// # Errors
    /// The TLS configuration could not be built.
    pub(crate) fn new(
        trust: &Trust,
        timeout: Duration,
        max_response: usize,
    ) -> Result<Self, String> {
        let connector = Connector::new(tcp(timeout), trust)?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(2)
            .build(connector);
        Ok(Self {
            client,
            timeout,
            max_response,
        })
    }

    /// Sends `request` and reads the whole answer, within the timeout. A non-2xx answer is a
    /// response, not an error.
    pub(crate) async fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, RequestError> {
        let (mut parts, body) = request.into_parts();
        if parts
            .uri
            .authority()
            .is_some_and(|a| a.as_str().contains('@'))
        {
            let (url, basic) = split_userinfo(&parts.uri.to_string());
            parts.uri = url.parse().map_err(|_| RequestError {
                failure: Failure::Other,
                detail: "the URL is not a valid request target".to_owned(),
            })?;
            if let Some(value) = basic.and_then(|b| http::HeaderValue::from_str(&b).ok())
                && !parts.headers.contains_key(http::header::AUTHORIZATION)
            {
                parts.headers.insert(http::header::AUTHORIZATION, value);
            }
        }
        mark_sensitive(&mut parts.headers);
        let request = http::Request::from_parts(parts, Full::new(body));
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| RequestError {
                    failure: Failure::classify(&e),
                    detail: describe(&e),
                })?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, self.max_response)
                .collect()
                .await
                .map_err(|e| RequestError {
                    failure: Failure::Other,
                    detail: format!("reading the answer: {e}"),
                })?
                .to_bytes();
            Ok(http::Response::from_parts(parts, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(RequestError {
                failure: Failure::Timeout,
                detail: format!("no answer within {:?}", self.timeout),
            }),
        }
    }
}

/// Without the `tls` feature: plain TCP, and `https://` refused with a clear error.
#[cfg(not(feature = "tls"))]
mod plain {
    use crate::export::transport::Resolver;
    use hyper_util::client::legacy::connect::HttpConnector;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Whether `https://` is supported.
    pub(crate) const TLS: bool = false;

    /// What a connection trusts; without TLS there is nothing to configure.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct Trust {}

    impl Trust {
        /// Always refused: there is no TLS to use a CA certificate with.
        pub(crate) fn from_pem(_: &[u8]) -> Result<Self, &'static str> {
            Err("heartbeat was built without its `tls` feature")
        }
    }

    type Io = hyper_util::rt::TokioIo<tokio::net::TcpStream>;
    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    /// Plain TCP; `https://` URIs fail with an error naming the `tls` feature.
    #[derive(Debug, Clone)]
    pub(crate) struct Connector(HttpConnector<Resolver>);

    impl Connector {
        pub(crate) fn new(tcp: HttpConnector<Resolver>, _: &Trust) -> Result<Self, String> {
            Ok(Self(tcp))
        }
    }

    impl tower_service::Service<http::Uri> for Connector {
        type Response = Io;
        type Error = BoxError;
        type Future = Pin<Box<dyn Future<Output = Result<Io, BoxError>> + Send>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            self.0.poll_ready(cx).map_err(Into::into)
        }

        fn call(&mut self, uri: http::Uri) -> Self::Future {
            if uri.scheme_str() == Some("https") {
                return Box::pin(async {
                    Err("https:// needs the `tls` feature of heartbeat".into())
                });
            }
            let connect = self.0.call(uri);
            Box::pin(async move { connect.await.map_err(Into::into) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_follows_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn credentials_leave_the_url_for_a_basic_authorization() {
        assert_eq!(
            split_userinfo("https://us%40er:p%3Ass@host:1/v1/metrics?q=1"),
            (
                "https://host:1/v1/metrics?q=1".to_owned(),
                Some(format!("Basic {}", base64(b"us@er:p:ss")))
            )
        );
        assert_eq!(
            split_userinfo("http://host/a@b"),
            ("http://host/a@b".to_owned(), None)
        );
        assert_eq!(
            split_userinfo("http://token@host"),
            (
                "http://host".to_owned(),
                Some(format!("Basic {}", base64(b"token:")))
            )
        );
    }

    #[test]
    fn failures_are_classified_by_their_innermost_cause() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(Failure::classify(&refused), Failure::Connect);
        let dns = DnsError(std::io::Error::other("no such host"));
        assert_eq!(Failure::classify(&dns), Failure::Dns);
        let wrapped = std::io::Error::other(DnsError(std::io::Error::other("x")));
        assert_eq!(Failure::classify(&wrapped), Failure::Dns);
        let timeout = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert_eq!(Failure::classify(&timeout), Failure::Timeout);
        assert_eq!(Failure::classify(&std::fmt::Error), Failure::Other);
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_certificate_error_inside_an_io_error_is_tls() {
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(Failure::classify(&tls), Failure::Tls);
    }
}
