//! [`Receiver`]: an OTLP metrics receiver for tests, with scripted faults.
//!
//! One port serves OTLP/HTTP (`POST /v1/metrics`, protobuf or JSON, gzip) and OTLP/gRPC
//! (`MetricsService/Export`, HTTP/2 without TLS, gzip), and CORS for pages. Every export request
//! is recorded with its arrival time, headers, raw and decoded body and the answer it got.
//! Answers are `200` unless a [`Rule`] matches (a status code with `Retry-After`, a gRPC code with
//! `RetryInfo`, a partial success, a delay, a reset, no answer at all) or an [`Outage`] is on
//! (connections refused, reset, or accepted and never answered). What is accepted can be
//! forwarded to another OTLP/HTTP endpoint, all of it or one request in `n` (a lossy pipeline).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest,
};
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::record::{
    DEFAULT_MAX_BODY, Fault, GRPC_PATH, METRICS_PATH, Outage, ReceiverOptions, Recorded, Replied,
    Rule, Transport, code,
};
use crate::wire::{
    Body, Cut, cors, decode_grpc, decode_http, full, grpc_code_for, grpc_error, http_error,
    http_status_for, success,
};

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
    otlp_paths_only: bool,
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
            otlp_paths_only: options.otlp_paths_only,
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
        let task = tokio::spawn(accept_loop(
            addr,
            listener,
            Arc::clone(&shared),
            outage_rx,
            options.http1_only,
        ));
        Ok(Self {
            addr,
            shared,
            outage: outage_tx,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
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

    /// Scripted answers not yet given: the `times` left of every rule.
    pub fn answers_left(&self) -> usize {
        lock(&self.shared.rules).iter().map(|r| r.times).sum()
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
    http1_only: bool,
) {
    let mut listener = Some(listener);
    let mut conns: JoinSet<()> = JoinSet::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if http1_only {
        builder = builder.http1_only();
    }
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
            let mut recorded = blank(at, transport, method, path, headers, Bytes::new());
            recorded.problem = Some(format!("the body is over {} bytes", shared.max_body));
            recorded.reply = Replied::Status(413);
            let response = http_error(413, None, false);
            record(&shared, recorded);
            return Ok(response);
        }
    };
    let mut recorded = blank(at, transport, method, path, headers, raw.clone());
    if shared.otlp_paths_only {
        let status = if recorded.method != "POST" {
            Some(405)
        } else if recorded.path != METRICS_PATH && recorded.path != GRPC_PATH {
            Some(404)
        } else {
            None
        };
        if let Some(status) = status {
            recorded.reply = Replied::Status(status);
            record(&shared, recorded);
            return Ok(not_routed(status));
        }
    }
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
    raw: Bytes,
) -> Recorded {
    Recorded {
        seq: 0,
        at,
        transport,
        method,
        path,
        headers,
        raw,
        compressed: false,
        body: Bytes::new(),
        request: None,
        json: None,
        problem: None,
        encoding_problem: None,
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

fn take_rule(shared: &Shared, recorded: &Recorded) -> Option<Fault> {
    let mut rules = lock(&shared.rules);
    let index = rules.iter().position(|rule| rule.when.matches(recorded))?;
    let rule = rules.get_mut(index)?;
    let fault = rule.fault.clone();
    rule.times = rule.times.saturating_sub(1);
    if rule.times == 0 {
        rules.remove(index);
    }
    Some(fault)
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

/// `404` or `405` for a request a collector would not route to its metrics service.
fn not_routed(status: u16) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND);
    let mut r = Response::new(full(status.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}
