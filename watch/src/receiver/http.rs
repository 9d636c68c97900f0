//! OTLP/HTTP at `/v1/metrics` (protobuf and JSON, gzip, chunked, CORS), plus the watch's own
//! read endpoints: `GET /api/state`, `GET /api/alerts`, `GET /api/sla/report?month=YYYY-MM`
//! (`&format=markdown` for Markdown), the console's (`/`, `/assets/...`, `GET /api/history`,
//! `GET /api/sla/burn`, `GET /api/events`, `POST /api/login`; see [`crate::console`]), the
//! status page (`/status`, `/status.json`) and `GET /healthz`.
//!
//! Every request but a CORS preflight and `/healthz` first takes a token of its source's rate
//! limit; with a bearer token configured, exports and the `/api/` endpoints require it (the
//! console's `GET`s also take it from its HttpOnly cookie). Both are checked before the body is
//! read.

use std::convert::Infallible;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::limit::Refusal;
use super::{RpcStatus, Shared, code};
use crate::report::{Month, SlaReport};

use crate::console::{Body, full};

/// How long a client may take to send its body once its request is admitted: a request holds an
/// ingest-queue permit while its body arrives, so a slow sender must not hold one for long.
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers (HTTP/1): a stalled client does not
/// keep its connection.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How the body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Protobuf,
    Json,
}

/// Serves HTTP on `listener` until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                let stop = shutdown.clone();
                let service = hyper::service::service_fn(move |req| {
                    let shared = Arc::clone(&shared);
                    let stop = stop.clone();
                    async move { Ok::<_, Infallible>(handle(req, &shared, peer.ip(), stop).await) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// The address a listener is bound to.
pub(crate) fn local_addr(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}

async fn handle(
    req: Request<Incoming>,
    shared: &Arc<Shared>,
    peer: IpAddr,
    stop: watch::Receiver<bool>,
) -> Response<Body> {
    use std::sync::atomic::Ordering::Relaxed;
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let path = req.uri().path().to_owned();
    if req.method() == Method::OPTIONS {
        return preflight(req.headers(), origin.as_deref(), shared);
    }
    let cookie = (req.method() == Method::GET && path.starts_with("/api/"))
        .then(|| crate::console::cookie_token(req.headers()))
        .flatten()
        .map(|t| format!("Bearer {t}"));
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .or(cookie.as_deref());
    // Held until the answer is ready: the request counts as under way for its source.
    let admitted = if path == "/healthz" {
        Ok(None)
    } else {
        shared.admit(peer)
    };
    let mut response = match (req.method(), path.as_str()) {
        _ if admitted.is_err() => {
            if path == "/v1/metrics" {
                shared.stats.requests.fetch_add(1, Relaxed);
                shared.stats.refused.fetch_add(1, Relaxed);
            }
            let refusal = admitted.as_ref().err().copied().unwrap_or(Refusal::Rate(1));
            let mut r = status(
                StatusCode::TOO_MANY_REQUESTS,
                request_format(req.headers()).unwrap_or(Format::Json),
                code::RESOURCE_EXHAUSTED,
                refusal.message(),
            );
            if let Ok(v) = HeaderValue::from_str(&refusal.retry_after().to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        (
            _,
            "/v1/metrics" | "/api/state" | "/api/alerts" | "/api/sla/report" | "/api/test/faults"
            | "/api/history" | "/api/sla/burn" | "/api/events",
        ) if !shared.authorized(authorization) => {
            if path == "/v1/metrics" {
                shared.stats.requests.fetch_add(1, Relaxed);
                shared.stats.refused.fetch_add(1, Relaxed);
            }
            let format = if path == "/v1/metrics" {
                request_format(req.headers()).unwrap_or(Format::Json)
            } else {
                Format::Json
            };
            let mut r = status(
                StatusCode::UNAUTHORIZED,
                format,
                code::UNAUTHENTICATED,
                "missing or wrong bearer token (Authorization: Bearer ...)".to_owned(),
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
        (&Method::POST, "/v1/metrics") => {
            if let Some(o) = &origin
                && !shared.origin_allowed(o)
            {
                return status(
                    StatusCode::FORBIDDEN,
                    Format::Json,
                    code::PERMISSION_DENIED,
                    format!("origin {o:?} is not in the watch's cors_origins allowlist"),
                );
            }
            export(req, shared).await
        }
        (_, "/v1/metrics") => {
            let mut r = status(
                StatusCode::METHOD_NOT_ALLOWED,
                Format::Json,
                code::UNIMPLEMENTED,
                "use POST for /v1/metrics".to_owned(),
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
            r
        }
        (&Method::GET, "/healthz") => text(StatusCode::OK, "text/plain", "ok\n".to_owned()),
        (&Method::GET, "/api/state") => state(shared),
        (&Method::GET, "/api/alerts") => alerts(shared),
        (&Method::GET, "/api/sla/report") => report(req.uri().query().unwrap_or(""), shared),
        (&Method::POST, "/api/test/faults") if shared.faults.enabled => {
            faults(req.uri().query().unwrap_or(""), shared)
        }
        (&Method::GET, "/" | "/index.html") => {
            crate::console::serve_asset("console.html", false).unwrap_or_else(not_found)
        }
        (&Method::GET, p) if p.starts_with("/assets/") => {
            crate::console::serve_asset(&p["/assets/".len()..], true).unwrap_or_else(not_found)
        }
        (&Method::GET, "/api/history") => console_json(crate::console::history(
            req.uri().query().unwrap_or(""),
            shared,
        )),
        (&Method::GET, "/api/sla/burn") => console_json(crate::console::burn(
            req.uri().query().unwrap_or(""),
            shared,
        )),
        (&Method::GET, "/api/events") if crate::console::stream_room(shared) => {
            crate::console::events(shared, stop)
        }
        (&Method::GET, "/api/events") => status(
            StatusCode::SERVICE_UNAVAILABLE,
            Format::Json,
            code::UNAVAILABLE,
            format!(
                "{} event streams are open, the most this watch serves",
                crate::console::MAX_STREAMS
            ),
        ),
        (&Method::POST, "/api/login") => login(req, shared).await,
        (&Method::GET, "/status" | "/status.json") => status_page(&path, shared),
        _ => status(
            StatusCode::NOT_FOUND,
            Format::Json,
            code::NOT_FOUND,
            format!("no such endpoint: {path}; OTLP metrics go to POST /v1/metrics"),
        ),
    };
    if let Some(o) = origin
        && shared.origin_allowed(&o)
    {
        allow_origin(response.headers_mut(), &o);
    }
    response
}

fn not_found() -> Response<Body> {
    status(
        StatusCode::NOT_FOUND,
        Format::Json,
        code::NOT_FOUND,
        "no such file".to_owned(),
    )
}

/// A console endpoint's answer: its JSON, or its error with the status it calls for.
fn console_json(result: Result<serde_json::Value, crate::console::QueryError>) -> Response<Body> {
    match result {
        // Compact: a week of 1-minute windows is 10,080 points per series.
        Ok(v) => text(StatusCode::OK, "application/json", v.to_string()),
        Err(e) => {
            let http = crate::console::error_status(&e);
            let grpc = match http {
                StatusCode::NOT_FOUND => code::NOT_FOUND,
                StatusCode::BAD_REQUEST => code::INVALID_ARGUMENT,
                _ => code::UNAVAILABLE,
            };
            status(http, Format::Json, grpc, e.to_string())
        }
    }
}

/// `POST /api/login` with `token=...` (a form): the right token gets the console's cookie.
async fn login(req: Request<Incoming>, shared: &Shared) -> Response<Body> {
    let body = match Limited::new(req.into_body(), 4096).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return status(
                StatusCode::PAYLOAD_TOO_LARGE,
                Format::Json,
                code::INVALID_ARGUMENT,
                "the login form is larger than 4096 bytes".to_owned(),
            );
        }
    };
    let form = std::str::from_utf8(&body).unwrap_or("");
    let token = match crate::console::Query::parse(form, &["token"]) {
        Ok(q) => q.get("token").unwrap_or("").to_owned(),
        Err(e) => {
            return status(
                StatusCode::BAD_REQUEST,
                Format::Json,
                code::INVALID_ARGUMENT,
                e.to_string(),
            );
        }
    };
    if shared.token.is_none() {
        return status(
            StatusCode::NOT_FOUND,
            Format::Json,
            code::NOT_FOUND,
            "this watch has no token (watch.auth_token_env): nothing to log in to".to_owned(),
        );
    }
    if token.is_empty() || !shared.authorized(Some(&format!("Bearer {token}"))) {
        let mut r = status(
            StatusCode::UNAUTHORIZED,
            Format::Json,
            code::UNAUTHENTICATED,
            "wrong token".to_owned(),
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    if let Some(cookie) = crate::console::set_cookie(&token) {
        r.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    r
}

/// `/status` (the page) and `/status.json`, when the rule file has `[status_page]`.
fn status_page(path: &str, shared: &Shared) -> Response<Body> {
    let Some(page) = &shared.rules.status_page else {
        return status(
            StatusCode::NOT_FOUND,
            Format::Json,
            code::NOT_FOUND,
            "this watch has no status page: add [status_page] to the rule file".to_owned(),
        );
    };
    if path == "/status" {
        return crate::console::serve_asset("status.html", false).unwrap_or_else(not_found);
    }
    match crate::console::status_json(shared, page) {
        Ok(body) => {
            let mut r = Response::new(full(Bytes::from(body.as_ref().clone())));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            r
        }
        Err(e) => status(
            StatusCode::SERVICE_UNAVAILABLE,
            Format::Json,
            code::UNAVAILABLE,
            format!("the status is unavailable: {e}"),
        ),
    }
}

fn allow_origin(headers: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn preflight(headers: &HeaderMap, origin: Option<&str>, shared: &Shared) -> Response<Body> {
    let Some(origin) = origin.filter(|o| shared.origin_allowed(o)) else {
        return status(
            StatusCode::FORBIDDEN,
            Format::Json,
            code::PERMISSION_DENIED,
            format!(
                "origin {:?} is not in the watch's cors_origins allowlist",
                origin.unwrap_or("")
            ),
        );
    };
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    allow_origin(h, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_static("content-type, content-encoding, authorization")
        });
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    r
}

async fn export(req: Request<Incoming>, shared: &Shared) -> Response<Body> {
    use std::sync::atomic::Ordering::Relaxed;
    shared.stats.requests.fetch_add(1, Relaxed);
    let headers = req.headers();
    let Some(format) = request_format(headers) else {
        shared.stats.refused.fetch_add(1, Relaxed);
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Format::Json,
            code::INVALID_ARGUMENT,
            format!(
                "unsupported content type {content_type:?}: OTLP/HTTP takes application/x-protobuf or application/json"
            ),
        );
    };
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("identity") => false,
        Some("gzip") => true,
        Some(other) => {
            shared.stats.refused.fetch_add(1, Relaxed);
            return status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format,
                code::INVALID_ARGUMENT,
                format!("unsupported content-encoding {other:?}: use gzip or none"),
            );
        }
    };
    let max = shared.max_body;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        shared.stats.refused.fetch_add(1, Relaxed);
        return Refused::too_large("the body", max).response(format);
    }
    // The ingest queue: a request holds a permit from reading its body to storing it.
    let Ok(_permit) = shared.permits.try_acquire() else {
        shared.stats.refused.fetch_add(1, Relaxed);
        let mut r = status(
            StatusCode::TOO_MANY_REQUESTS,
            format,
            code::UNAVAILABLE,
            "the watch's ingest queue is full; retry after the delay in Retry-After".to_owned(),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    };
    let read = tokio::time::timeout(BODY_TIMEOUT, Limited::new(req.into_body(), max).collect());
    let body = match read.await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => {
            shared.stats.refused.fetch_add(1, Relaxed);
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Refused::too_large("the body", max).response(format);
            }
            return status(
                StatusCode::BAD_REQUEST,
                format,
                code::INVALID_ARGUMENT,
                format!("the body could not be read: {e}"),
            );
        }
        Err(_) => {
            shared.stats.refused.fetch_add(1, Relaxed);
            return status(
                StatusCode::REQUEST_TIMEOUT,
                format,
                code::INVALID_ARGUMENT,
                format!(
                    "the body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            );
        }
    };
    let request = match read_body(&body, format, gzip, max) {
        Ok(r) => r,
        Err(refused) => {
            shared.stats.refused.fetch_add(1, Relaxed);
            return refused.response(format);
        }
    };
    let ingested = shared.ingest(request);
    let response = ingested.response();
    let (content_type, bytes) = match format {
        Format::Protobuf => (
            "application/x-protobuf",
            Bytes::from(response.encode_to_vec()),
        ),
        Format::Json => (
            "application/json",
            Bytes::from(serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec())),
        ),
    };
    let mut r = Response::new(full(bytes));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The encoding named by a request's `Content-Type`, if OTLP/HTTP has it.
fn request_format(headers: &HeaderMap) -> Option<Format> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = content_type.split(';').next()?.trim().to_ascii_lowercase();
    match media.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Format::Protobuf),
        "application/json" => Some(Format::Json),
        _ => None,
    }
}

/// Why an export body was refused before validation: the HTTP status, the `google.rpc` code and
/// the message of the status body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) http: StatusCode,
    pub(crate) code: i32,
    pub(crate) message: String,
}

impl Refused {
    fn too_large(what: &str, max: usize) -> Self {
        Self {
            http: StatusCode::PAYLOAD_TOO_LARGE,
            code: code::RESOURCE_EXHAUSTED,
            message: format!(
                "{what} is larger than the watch's limit of {max} bytes (max_body_bytes)"
            ),
        }
    }

    fn invalid(message: String) -> Self {
        Self {
            http: StatusCode::BAD_REQUEST,
            code: code::INVALID_ARGUMENT,
            message,
        }
    }

    fn response(self, format: Format) -> Response<Body> {
        status(self.http, format, self.code, self.message)
    }
}

/// What the receiver makes of a body it has read whole: gunzipped when `gzip` (never inflating
/// past `max` bytes), then decoded.
pub(crate) fn read_body(
    body: &[u8],
    format: Format,
    gzip: bool,
    max: usize,
) -> Result<ExportMetricsServiceRequest, Refused> {
    if body.len() > max {
        return Err(Refused::too_large("the body", max));
    }
    if gzip {
        let inflated = gunzip(body, max)?;
        decode(&inflated, format).map_err(Refused::invalid)
    } else {
        decode(body, format).map_err(Refused::invalid)
    }
}

/// Inflates a gzip body, reading at most `max + 1` bytes of output: a bomb is refused after
/// `max` bytes, whatever it would inflate to.
pub(crate) fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, Refused> {
    let mut out = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    match flate2::read::GzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
    {
        Ok(_) if out.len() > max => Err(Refused::too_large("the decompressed body", max)),
        Ok(_) => Ok(out),
        Err(e) => Err(Refused::invalid(format!(
            "content-encoding is gzip but the body is not valid gzip: {e}"
        ))),
    }
}

/// Decodes an export request body; the error names the problem.
pub(crate) fn decode(body: &[u8], format: Format) -> Result<ExportMetricsServiceRequest, String> {
    match format {
        Format::Protobuf => ExportMetricsServiceRequest::decode(body)
            .map_err(|e| format!("invalid OTLP protobuf body: {e}")),
        Format::Json => {
            let text = std::str::from_utf8(body)
                .map_err(|e| format!("invalid OTLP JSON body: not UTF-8: {e}"))?;
            serde_json::from_str(text).map_err(|e| format!("invalid OTLP JSON body: {e}"))
        }
    }
}

fn status(http: StatusCode, format: Format, code: i32, message: String) -> Response<Body> {
    let s = RpcStatus { code, message };
    let (content_type, bytes) = match format {
        Format::Protobuf => ("application/x-protobuf", Bytes::from(s.encode_to_vec())),
        Format::Json => (
            "application/json",
            Bytes::from(serde_json::to_vec(&s).unwrap_or_default()),
        ),
    };
    let mut r = Response::new(full(bytes));
    *r.status_mut() = http;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(code: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut r = Response::new(full(Bytes::from(body)));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json<T: serde::Serialize>(value: &T) -> Response<Body> {
    match serde_json::to_string_pretty(value) {
        Ok(s) => text(StatusCode::OK, "application/json", s),
        Err(e) => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            Format::Json,
            code::INTERNAL,
            e.to_string(),
        ),
    }
}

fn snapshot(shared: &Shared) -> Option<Arc<crate::judge::Snapshot>> {
    shared.snapshot.lock().ok().and_then(|s| s.clone())
}

fn state(shared: &Shared) -> Response<Body> {
    match snapshot(shared) {
        Some(s) => json(&*s),
        None => text(StatusCode::OK, "application/json", "null".to_owned()),
    }
}

fn alerts(shared: &Shared) -> Response<Body> {
    match snapshot(shared) {
        Some(s) => {
            let (mut open, mut recent) = (s.open_alerts.clone(), s.recent_alerts.clone());
            // Each alert with where its events stand at each sink (the outbox).
            if let Some(db) = &shared.db {
                let ids: Vec<String> = open.iter().chain(&recent).map(|a| a.id.clone()).collect();
                let rows = db
                    .lock()
                    .ok()
                    .and_then(|db| db.outbox_for(&ids).ok())
                    .unwrap_or_default();
                let by = crate::alert::by_alert(&rows);
                for a in open.iter_mut().chain(recent.iter_mut()) {
                    if let Some(d) = by.get(&a.id) {
                        a.delivery.clone_from(d);
                    }
                }
            }
            json(&serde_json::json!({ "open": open, "recent": recent }))
        }
        None => json(&serde_json::json!({ "open": [], "recent": [] })),
    }
}

/// The test hook (only with `HEARTBEAT_WATCH_TEST_HOOKS=1`): `stall_judge=1|0`,
/// `db_read_only=1|0`. Answers the faults now in force.
fn faults(query: &str, shared: &Shared) -> Response<Body> {
    let f = &shared.faults;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let flag = match pair.split_once('=') {
            Some(("stall_judge", _)) => &f.stall_judge,
            Some(("db_read_only", _)) => &f.db_read_only,
            _ => {
                return status(
                    StatusCode::BAD_REQUEST,
                    Format::Json,
                    code::INVALID_ARGUMENT,
                    format!("unknown fault {pair:?}: use stall_judge=1|0 or db_read_only=1|0"),
                );
            }
        };
        match pair.split_once('=').map(|p| p.1) {
            Some("1") => flag.store(true, std::sync::atomic::Ordering::Relaxed),
            Some("0") => flag.store(false, std::sync::atomic::Ordering::Relaxed),
            _ => {
                return status(
                    StatusCode::BAD_REQUEST,
                    Format::Json,
                    code::INVALID_ARGUMENT,
                    format!("invalid fault value in {pair:?}: use 1 or 0"),
                );
            }
        }
    }
    json(&serde_json::json!({
        "stall_judge": f.stall_judge.load(std::sync::atomic::Ordering::Relaxed),
        "db_read_only": f.db_read_only.load(std::sync::atomic::Ordering::Relaxed),
    }))
}

fn report(query: &str, shared: &Shared) -> Response<Body> {
    let mut month = None;
    let mut markdown = false;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("month", m)) => month = Some(m.to_owned()),
            Some(("format", "markdown" | "md")) => markdown = true,
            _ => {}
        }
    }
    let month: Month = match month {
        Some(m) => match m.parse() {
            Ok(m) => m,
            Err(e) => {
                return status(
                    StatusCode::BAD_REQUEST,
                    Format::Json,
                    code::INVALID_ARGUMENT,
                    format!("{e}"),
                );
            }
        },
        None => {
            let (year, month) = crate::clock::month_of(shared.clock.now_ms());
            Month { year, month }
        }
    };
    let Some(db) = &shared.db else {
        return status(
            StatusCode::NOT_FOUND,
            Format::Json,
            code::NOT_FOUND,
            "this watch keeps no state database".to_owned(),
        );
    };
    let built = match db.lock() {
        Ok(db) => SlaReport::build(&db, month, shared.clock.now_ms()).map_err(|e| e.to_string()),
        Err(_) => Err("the state database is unavailable after an internal error".to_owned()),
    };
    match built {
        Ok(r) if markdown => text(
            StatusCode::OK,
            "text/markdown; charset=utf-8",
            r.to_markdown(),
        ),
        Ok(r) => json(&r),
        Err(e) => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            Format::Json,
            code::INTERNAL,
            e,
        ),
    }
}
