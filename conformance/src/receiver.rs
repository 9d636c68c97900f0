//! [`Receiver`]: the collector the emitter under test talks to, with scripted faults.
//!
//! One port serves OTLP/HTTP (`POST /v1/metrics`, protobuf or JSON, gzip) and OTLP/gRPC
//! (`MetricsService/Export`, HTTP/2 without TLS, gzip), and CORS for pages. Every export request
//! is recorded with its arrival time, headers, decoded body and the answer it got. Answers are
//! `200` unless a [`Rule`] matches (a status code with `Retry-After`, a gRPC code with
//! `RetryInfo`, a partial success, a delay, a reset, no answer at all) or an [`Outage`] is on
//! (connections refused, reset, or accepted and never answered). What is accepted can be
//! forwarded to the watch, all of it or one request in `n` (a lossy pipeline).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

/// The OTLP/HTTP metrics path.
pub(crate) const METRICS_PATH: &str = "/v1/metrics";
/// The OTLP/gRPC method path.
pub(crate) const GRPC_PATH: &str =
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
/// The largest body read when no limit is set.
const DEFAULT_MAX_BODY: usize = 64 << 20;

/// gRPC status codes the cases use.
pub(crate) mod code {
    pub(crate) const INVALID_ARGUMENT: i32 = 3;
    pub(crate) const PERMISSION_DENIED: i32 = 7;
    pub(crate) const RESOURCE_EXHAUSTED: i32 = 8;
    pub(crate) const UNAVAILABLE: i32 = 14;
    pub(crate) const UNAUTHENTICATED: i32 = 16;
}

/// How a request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// OTLP/HTTP.
    Http,
    /// OTLP/gRPC.
    Grpc,
}

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Replied {
    /// Accepted (HTTP 200 / gRPC OK).
    Ok,
    /// Accepted with a partial success naming rejected points.
    PartialSuccess(i64),
    /// An HTTP error status.
    Status(u16),
    /// A gRPC error code.
    Grpc(i32),
    /// The connection was closed without an answer.
    Reset,
    /// Never answered (a hung collector).
    Unanswered,
}

/// One export request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Its number, from 0, in arrival order.
    pub seq: usize,
    /// When it arrived, since the receiver started.
    pub at: Duration,
    /// HTTP or gRPC.
    pub transport: Transport,
    /// The HTTP method.
    pub method: String,
    /// The request path.
    pub path: String,
    /// Its headers, names in lowercase.
    pub headers: Vec<(String, String)>,
    /// Whether the body (or the gRPC message) was gzip-compressed.
    pub compressed: bool,
    /// The body, decompressed (protobuf or JSON bytes).
    pub body: Bytes,
    /// The decoded request, when it decoded.
    pub request: Option<ExportMetricsServiceRequest>,
    /// The JSON body as a value, for `application/json`.
    pub json: Option<serde_json::Value>,
    /// Why it could not be decoded.
    pub problem: Option<String>,
    /// What the receiver answered.
    pub reply: Replied,
}

impl Recorded {
    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether its data was accepted (a 200 without rejected points).
    pub fn accepted(&self) -> bool {
        self.reply == Replied::Ok
    }
}

/// What a rule answers instead of `200`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// An HTTP status, with a `Retry-After` value (gRPC requests get the matching code).
    Http {
        /// The status code.
        status: u16,
        /// The `Retry-After` header, if any.
        retry_after: Option<String>,
    },
    /// A gRPC code, with a `RetryInfo.retry_delay` in the status details (HTTP requests get
    /// the matching status and `Retry-After`).
    Grpc {
        /// The gRPC code.
        code: i32,
        /// The retry delay, if any.
        retry_delay: Option<Duration>,
    },
    /// `200` with `partial_success.rejected_data_points` set.
    PartialSuccess {
        /// How many points are said to be rejected.
        rejected: i64,
    },
    /// The connection is closed without an answer.
    Reset,
    /// No answer until the receiver is dropped.
    Hang,
    /// `200` after a delay.
    Delay(Duration),
}

/// Which requests a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Any export request.
    Any,
    /// A request carrying a point of `metric` whose attributes include `attributes` and whose
    /// value is at least `at_least` (the recorded data the case wants to see refused).
    Carrying {
        /// The metric name.
        metric: String,
        /// Attributes the point must have.
        attributes: Vec<(String, String)>,
        /// The least value.
        at_least: i64,
    },
}

/// A scripted answer for the next `times` requests matching `when`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Which requests.
    pub when: Probe,
    /// The answer.
    pub fault: Fault,
    /// How many times.
    pub times: usize,
}

/// A collector-wide outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outage {
    /// Serving.
    #[default]
    None,
    /// The port is closed: connections are refused (open ones are cut).
    Refuse,
    /// Connections are accepted and closed at once.
    Reset,
    /// Requests are read and never answered (those that arrived during it, not even after).
    Hang,
}

/// How a receiver is set up.
#[derive(Debug, Clone, Default)]
pub struct ReceiverOptions {
    /// Bodies (decompressed) above this size are answered `413`.
    pub max_body: Option<usize>,
}

#[derive(Debug, Default)]
struct Forwarding {
    to: Option<String>,
    /// Forward one request in `keep_one_in` (1: all, 0: none); the others are answered 200 and
    /// dropped.
    keep_one_in: u32,
    counter: u32,
}

#[derive(Debug)]
struct Shared {
    start: Instant,
    max_body: usize,
    log: Mutex<Vec<Arc<Recorded>>>,
    rules: Mutex<VecDeque<Rule>>,
    forwarding: Mutex<Forwarding>,
    preflights: Mutex<usize>,
    arrived: Notify,
    outage: watch::Receiver<Outage>,
    client: reqwest::Client,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running receiver on `127.0.0.1`; stopped when dropped.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    outage: watch::Sender<Outage>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Starts a receiver on an ephemeral `127.0.0.1` port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(options: ReceiverOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (outage_tx, outage_rx) = watch::channel(Outage::None);
        let shared = Arc::new(Shared {
            start: Instant::now(),
            max_body: options.max_body.unwrap_or(DEFAULT_MAX_BODY),
            log: Mutex::default(),
            rules: Mutex::default(),
            forwarding: Mutex::new(Forwarding {
                to: None,
                keep_one_in: 1,
                counter: 0,
            }),
            preflights: Mutex::default(),
            arrived: Notify::new(),
            outage: outage_rx.clone(),
            client: reqwest::Client::new(),
        });
        let task = tokio::spawn(accept_loop(addr, listener, Arc::clone(&shared), outage_rx));
        Ok(Self {
            addr,
            shared,
            outage: outage_tx,
            task,
        })
    }

    /// The base URL, `http://127.0.0.1:PORT`, for OTLP/HTTP and OTLP/gRPC alike.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Time since the receiver started (the clock of [`Recorded::at`]).
    pub fn now(&self) -> Duration {
        self.shared.start.elapsed()
    }

    /// Drops every scripted rule.
    pub fn clear_rules(&self) {
        lock(&self.shared.rules).clear();
    }

    /// Adds a rule after the ones already scripted.
    pub fn push(&self, rule: Rule) {
        lock(&self.shared.rules).push_back(rule);
    }

    /// Rules not yet used up.
    pub fn rules_left(&self) -> usize {
        lock(&self.shared.rules).len()
    }

    /// Starts or ends an outage.
    pub fn set_outage(&self, outage: Outage) {
        let _ = self.outage.send(outage);
    }

    /// Forwards accepted requests (as protobuf) to `url`, one in `keep_one_in` (1: all; 0:
    /// none); `None` stops forwarding.
    pub fn forward(&self, url: Option<String>, keep_one_in: u32) {
        let mut f = lock(&self.shared.forwarding);
        f.to = url;
        f.keep_one_in = keep_one_in;
        f.counter = 0;
    }

    /// Every export request so far, in arrival order.
    pub fn requests(&self) -> Vec<Arc<Recorded>> {
        lock(&self.shared.log).clone()
    }

    /// CORS preflights answered.
    pub fn preflights(&self) -> usize {
        *lock(&self.shared.preflights)
    }

    /// Waits until `done` holds for the requests so far, at most `limit`; returns whether it did.
    pub async fn wait_for(
        &self,
        limit: Duration,
        mut done: impl FnMut(&[Arc<Recorded>]) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.shared.arrived.notified();
            if done(&self.requests()) {
                return true;
            }
            let wake = (tokio::time::Instant::now() + Duration::from_millis(50)).min(deadline);
            let _ = tokio::time::timeout_at(wake, notified).await;
            if tokio::time::Instant::now() >= deadline {
                return done(&self.requests());
            }
        }
    }
}

async fn accept_loop(
    addr: SocketAddr,
    listener: TcpListener,
    shared: Arc<Shared>,
    mut outage: watch::Receiver<Outage>,
) {
    let mut listener = Some(listener);
    let mut conns: JoinSet<()> = JoinSet::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let mode = *outage.borrow_and_update();
        if mode == Outage::Refuse {
            listener = None;
            conns.abort_all();
        } else if listener.is_none() {
            // The port was closed for a "refused" outage: take it again (retrying briefly, the
            // kernel may hold it a moment).
            for _ in 0..50 {
                if let Ok(l) = TcpListener::bind(addr).await {
                    listener = Some(l);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let accept = async {
            match &listener {
                Some(l) => l.accept().await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            accepted = accept => {
                let Some((stream, _)) = accepted else { continue };
                if mode == Outage::Reset {
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&shared);
                let service = hyper::service::service_fn(move |req| {
                    let shared = Arc::clone(&shared);
                    async move { handle(req, shared).await }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                conns.spawn(async move {
                    let _ = conn.await;
                });
            }
            changed = outage.changed() => {
                if changed.is_err() {
                    return;
                }
                if *outage.borrow() == Outage::Reset {
                    conns.abort_all();
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// Closes the connection without an answer.
#[derive(Debug)]
struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection cut by the conformance receiver")
    }
}

impl std::error::Error for Cut {}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn cors(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Retry-After"),
    );
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Response<Body>, Cut> {
    if req.method() == Method::OPTIONS {
        *lock(&shared.preflights) += 1;
        let mut r = Response::new(full(Bytes::new()));
        *r.status_mut() = StatusCode::NO_CONTENT;
        let requested = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("content-type"));
        let h = r.headers_mut();
        cors(h);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("7200"),
        );
        return Ok(r);
    }
    let at = shared.start.elapsed();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let header_of = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_ascii_lowercase())
    };
    let grpc_encoding = header_of("grpc-encoding");
    let content_encoding = header_of("content-encoding");
    let content_type = header_of("content-type").unwrap_or_default();
    let transport = if content_type.starts_with("application/grpc") {
        Transport::Grpc
    } else {
        Transport::Http
    };
    let raw = match Limited::new(req.into_body(), shared.max_body)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let mut recorded = blank(at, transport, method, path, headers);
            recorded.problem = Some(format!("the body is over {} bytes", shared.max_body));
            recorded.reply = Replied::Status(413);
            let response = http_error(413, None, false);
            record(&shared, recorded);
            return Ok(response);
        }
    };
    let mut recorded = blank(at, transport, method, path, headers);
    let json = content_type.starts_with("application/json");
    match transport {
        Transport::Grpc => decode_grpc(&mut recorded, &raw, grpc_encoding),
        Transport::Http => decode_http(
            &mut recorded,
            &raw,
            &content_type,
            content_encoding,
            shared.max_body,
        ),
    }
    if recorded.problem.is_some() && recorded.request.is_none() {
        recorded.reply = match transport {
            Transport::Grpc => Replied::Grpc(code::INVALID_ARGUMENT),
            Transport::Http => Replied::Status(400),
        };
        let response = match transport {
            Transport::Grpc => grpc_error(code::INVALID_ARGUMENT, "undecodable request", None),
            Transport::Http => http_error(400, None, json),
        };
        record(&shared, recorded);
        return Ok(response);
    }

    // An outage in progress, then the first matching rule.
    let fault = if *shared.outage.borrow() == Outage::Hang {
        Some(Fault::Hang)
    } else {
        take_rule(&shared, &recorded)
    };
    match fault {
        None | Some(Fault::Delay(_)) => {
            recorded.reply = Replied::Ok;
            let request = recorded.request.clone();
            record(&shared, recorded);
            if let Some(Fault::Delay(d)) = fault {
                tokio::time::sleep(d).await;
            }
            if let Some(request) = request {
                forward(&shared, &request).await;
            }
            Ok(success(transport, json, None))
        }
        Some(Fault::PartialSuccess { rejected }) => {
            recorded.reply = Replied::PartialSuccess(rejected);
            record(&shared, recorded);
            let partial = ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message: "rejected by the conformance receiver's script".to_owned(),
            };
            Ok(success(transport, json, Some(partial)))
        }
        Some(Fault::Http {
            status,
            retry_after,
        }) => {
            let grpc_code = grpc_code_for(status);
            recorded.reply = match transport {
                Transport::Http => Replied::Status(status),
                Transport::Grpc => Replied::Grpc(grpc_code),
            };
            record(&shared, recorded);
            Ok(match transport {
                Transport::Http => http_error(status, retry_after.as_deref(), json),
                Transport::Grpc => grpc_error(grpc_code, "scripted failure", None),
            })
        }
        Some(Fault::Grpc { code, retry_delay }) => {
            let status = http_status_for(code);
            recorded.reply = match transport {
                Transport::Http => Replied::Status(status),
                Transport::Grpc => Replied::Grpc(code),
            };
            record(&shared, recorded);
            Ok(match transport {
                Transport::Http => {
                    let seconds = retry_delay.map(|d| d.as_secs().max(1).to_string());
                    http_error(status, seconds.as_deref(), json)
                }
                Transport::Grpc => grpc_error(code, "scripted failure", retry_delay),
            })
        }
        Some(Fault::Reset) => {
            recorded.reply = Replied::Reset;
            record(&shared, recorded);
            Err(Cut)
        }
        Some(Fault::Hang) => {
            recorded.reply = Replied::Unanswered;
            record(&shared, recorded);
            // Never answered, even after the outage ends: the client must give up by itself.
            std::future::pending::<Result<Response<Body>, Cut>>().await
        }
    }
}

fn blank(
    at: Duration,
    transport: Transport,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
) -> Recorded {
    Recorded {
        seq: 0,
        at,
        transport,
        method,
        path,
        headers,
        compressed: false,
        body: Bytes::new(),
        request: None,
        json: None,
        problem: None,
        reply: Replied::Ok,
    }
}

fn record(shared: &Shared, mut recorded: Recorded) {
    {
        let mut log = lock(&shared.log);
        recorded.seq = log.len();
        log.push(Arc::new(recorded));
    }
    shared.arrived.notify_waiters();
}

fn gunzip(raw: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .take(u64::try_from(limit).unwrap_or(u64::MAX) + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("not valid gzip: {e}"))?;
    if out.len() > limit {
        return Err(format!("the decompressed body is over {limit} bytes"));
    }
    Ok(out)
}

fn is_gzip(raw: &[u8]) -> bool {
    raw.starts_with(&[0x1f, 0x8b])
}

fn decode_http(
    r: &mut Recorded,
    raw: &Bytes,
    content_type: &str,
    encoding: Option<String>,
    limit: usize,
) {
    let body = match encoding.as_deref() {
        None | Some("") | Some("identity") => {
            r.compressed = is_gzip(raw);
            raw.clone()
        }
        Some("gzip") => {
            r.compressed = true;
            match gunzip(raw, limit) {
                Ok(b) => Bytes::from(b),
                Err(e) => {
                    r.problem = Some(format!("Content-Encoding is gzip but the body is {e}"));
                    return;
                }
            }
        }
        Some(other) => {
            r.problem = Some(format!("unsupported Content-Encoding {other:?}"));
            return;
        }
    };
    r.body = body.clone();
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/x-protobuf" | "application/protobuf" => {
            match ExportMetricsServiceRequest::decode(&body[..]) {
                Ok(req) => r.request = Some(req),
                Err(e) => r.problem = Some(format!("invalid protobuf body: {e}")),
            }
        }
        "application/json" => match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(value) => {
                match serde_json::from_value::<ExportMetricsServiceRequest>(value.clone()) {
                    Ok(req) => r.request = Some(req),
                    Err(e) => r.problem = Some(format!("invalid OTLP/JSON body: {e}")),
                }
                r.json = Some(value);
            }
            Err(e) => r.problem = Some(format!("invalid JSON: {e}")),
        },
        other => r.problem = Some(format!("unsupported Content-Type {other:?}")),
    }
}

fn decode_grpc(r: &mut Recorded, raw: &Bytes, encoding: Option<String>) {
    if raw.len() < 5 {
        r.problem = Some(format!(
            "a gRPC message needs a 5-byte prefix; got {} bytes",
            raw.len()
        ));
        return;
    }
    let flag = raw[0];
    let len = u32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]]) as usize;
    let Some(message) = raw.get(5..5 + len) else {
        r.problem = Some(format!(
            "the gRPC prefix announces {len} bytes; {} arrived",
            raw.len() - 5
        ));
        return;
    };
    let message = if flag == 1 {
        r.compressed = true;
        if encoding.as_deref() != Some("gzip") {
            r.problem = Some(format!(
                "a compressed gRPC message with grpc-encoding {encoding:?}"
            ));
        }
        match gunzip(message, DEFAULT_MAX_BODY) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                r.problem = Some(format!("the compressed gRPC message is {e}"));
                return;
            }
        }
    } else {
        Bytes::copy_from_slice(message)
    };
    r.body = message.clone();
    match ExportMetricsServiceRequest::decode(&message[..]) {
        Ok(req) => r.request = Some(req),
        Err(e) => r.problem = Some(format!("invalid protobuf message: {e}")),
    }
}

fn take_rule(shared: &Shared, recorded: &Recorded) -> Option<Fault> {
    let mut rules = lock(&shared.rules);
    let index = rules
        .iter()
        .position(|rule| matches_probe(&rule.when, recorded))?;
    let rule = rules.get_mut(index)?;
    let fault = rule.fault.clone();
    rule.times = rule.times.saturating_sub(1);
    if rule.times == 0 {
        rules.remove(index);
    }
    Some(fault)
}

fn matches_probe(probe: &Probe, recorded: &Recorded) -> bool {
    match probe {
        Probe::Any => true,
        Probe::Carrying {
            metric,
            attributes,
            at_least,
        } => {
            let Some(request) = &recorded.request else {
                return false;
            };
            let filter: Vec<(&str, &str)> = attributes
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            crate::otlp::points_of(request).iter().any(|p| {
                p.metric == *metric
                    && crate::otlp::has(&p.attributes, &filter, &[])
                    && p.value.as_i64().is_some_and(|v| v >= *at_least)
            })
        }
    }
}

async fn forward(shared: &Shared, request: &ExportMetricsServiceRequest) {
    let url = {
        let mut f = lock(&shared.forwarding);
        let Some(url) = f.to.clone() else {
            return;
        };
        let n = f.counter;
        f.counter = f.counter.wrapping_add(1);
        if f.keep_one_in == 0 || !n.is_multiple_of(f.keep_one_in) {
            return;
        }
        url
    };
    let _ = shared
        .client
        .post(url)
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(request.encode_to_vec())
        .timeout(Duration::from_secs(5))
        .send()
        .await;
}

fn http_status_for(grpc: i32) -> u16 {
    match grpc {
        code::UNAVAILABLE => 503,
        code::RESOURCE_EXHAUSTED => 429,
        code::INVALID_ARGUMENT => 400,
        code::UNAUTHENTICATED => 401,
        code::PERMISSION_DENIED => 403,
        _ => 500,
    }
}

fn grpc_code_for(status: u16) -> i32 {
    match status {
        429 | 502 | 503 | 504 => code::UNAVAILABLE,
        401 => code::UNAUTHENTICATED,
        403 => code::PERMISSION_DENIED,
        413 => code::RESOURCE_EXHAUSTED,
        _ => code::INVALID_ARGUMENT,
    }
}

fn success(
    transport: Transport,
    json: bool,
    partial: Option<ExportMetricsPartialSuccess>,
) -> Response<Body> {
    let response = ExportMetricsServiceResponse {
        partial_success: partial,
    };
    match transport {
        Transport::Http => {
            let (content_type, body) = if json {
                // OTLP/JSON: 64-bit integers as decimal strings.
                let value = match &response.partial_success {
                    Some(p) => serde_json::json!({ "partialSuccess": {
                        "rejectedDataPoints": p.rejected_data_points.to_string(),
                        "errorMessage": p.error_message,
                    }}),
                    None => serde_json::json!({}),
                };
                ("application/json", Bytes::from(value.to_string()))
            } else {
                (
                    "application/x-protobuf",
                    Bytes::from(response.encode_to_vec()),
                )
            };
            let mut r = Response::new(full(body));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            cors(r.headers_mut());
            r
        }
        Transport::Grpc => {
            let message = response.encode_to_vec();
            let mut framed = Vec::with_capacity(message.len() + 5);
            framed.push(0);
            framed.extend_from_slice(&u32::try_from(message.len()).unwrap_or(0).to_be_bytes());
            framed.extend_from_slice(&message);
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
                Ok(Frame::data(Bytes::from(framed))),
                Ok(Frame::trailers(trailers)),
            ];
            let mut r = Response::new(StreamBody::new(stream::iter(frames)).boxed());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            r
        }
    }
}

/// `google.rpc.Status`, the body of OTLP/HTTP errors and the gRPC status details.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<prost_types::Duration>,
}

fn http_error(status: u16, retry_after: Option<&str>, json: bool) -> Response<Body> {
    let grpc = grpc_code_for(status);
    let message = format!("scripted answer {status} from the conformance receiver");
    let (content_type, body) = if json {
        (
            "application/json",
            Bytes::from(serde_json::json!({ "code": grpc, "message": message }).to_string()),
        )
    } else {
        let s = RpcStatus {
            code: grpc,
            message,
            details: Vec::new(),
        };
        ("application/x-protobuf", Bytes::from(s.encode_to_vec()))
    };
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert(header::RETRY_AFTER, v);
    }
    cors(h);
    r
}

fn grpc_error(code: i32, message: &str, retry_delay: Option<Duration>) -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    if let Ok(v) = HeaderValue::from_str(&code.to_string()) {
        h.insert("grpc-status", v);
    }
    if let Ok(v) = HeaderValue::from_str(message) {
        h.insert("grpc-message", v);
    }
    if let Some(delay) = retry_delay {
        let info = RetryInfo {
            retry_delay: Some(prost_types::Duration {
                seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
            }),
        };
        let status = RpcStatus {
            code,
            message: message.to_owned(),
            details: vec![prost_types::Any {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".to_owned(),
                value: info.encode_to_vec(),
            }],
        };
        if let Ok(v) = HeaderValue::from_str(&base64(&status.encode_to_vec())) {
            h.insert("grpc-status-details-bin", v);
        }
    }
    r
}

/// Standard base64 without padding (gRPC binary metadata).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 63;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_without_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg");
        assert_eq!(base64(b"fo"), "Zm8");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8");
    }

    #[test]
    fn grpc_and_http_faults_map_onto_each_other() {
        assert_eq!(grpc_code_for(503), code::UNAVAILABLE);
        assert_eq!(grpc_code_for(400), code::INVALID_ARGUMENT);
        assert_eq!(http_status_for(code::UNAVAILABLE), 503);
        assert_eq!(http_status_for(code::RESOURCE_EXHAUSTED), 429);
    }
}
