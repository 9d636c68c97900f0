//! [`Sink`]: an OTLP/HTTP metrics receiver that records everything it is sent.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prost::Message;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::HarnessError;
use super::otlp::{
    AggregationTemporality, ExportMetricsServiceRequest, ExportMetricsServiceResponse, KeyValue,
    matches, metric, number_data_point,
};

/// The OTLP/HTTP metrics path.
pub(crate) const METRICS_PATH: &str = "/v1/metrics";

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// An answer the sink gives instead of `200 OK`, scripted with [`Sink::fail_next`].
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    status: StatusCode,
    retry_after: Option<u64>,
}

impl Reply {
    /// Any status code, without `Retry-After`.
    pub(crate) fn status(status: StatusCode) -> Self {
        Self {
            status,
            retry_after: None,
        }
    }

    /// `503 Service Unavailable` with `Retry-After: <seconds>`: retryable, with a hint.
    pub(crate) fn unavailable(retry_after_secs: u64) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: Some(retry_after_secs),
        }
    }

    /// `429 Too Many Requests` with `Retry-After: <seconds>`: throttled.
    pub(crate) fn throttled(retry_after_secs: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(retry_after_secs),
        }
    }

    /// `400 Bad Request`: not retryable, the data is dropped.
    pub(crate) fn bad_request() -> Self {
        Self::status(StatusCode::BAD_REQUEST)
    }
}

/// One request as the sink saw it, and what it answered.
#[derive(Clone, Debug)]
pub(crate) struct RecordedRequest {
    /// The HTTP method.
    pub(crate) method: Method,
    /// The request path, without the query.
    pub(crate) path: String,
    /// All request headers.
    pub(crate) headers: HeaderMap,
    /// The body exactly as received (still compressed when `Content-Encoding` says so).
    pub(crate) raw_body: Bytes,
    /// The body after undoing `Content-Encoding`, or why that failed.
    pub(crate) body: Result<Vec<u8>, String>,
    /// The body decoded as an export request (protobuf, or OTLP JSON for `application/json`),
    /// or why that failed.
    pub(crate) decoded: Result<ExportMetricsServiceRequest, String>,
    /// The status the sink answered with.
    pub(crate) status: StatusCode,
}

impl RecordedRequest {
    /// A request header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Content-Type` header.
    pub(crate) fn content_type(&self) -> Option<&str> {
        self.header(CONTENT_TYPE.as_str())
    }

    /// The `Content-Encoding` header.
    pub(crate) fn content_encoding(&self) -> Option<&str> {
        self.header(CONTENT_ENCODING.as_str())
    }

    /// Whether the sink answered with a 2xx status, i.e. took the data.
    pub(crate) fn accepted(&self) -> bool {
        self.status.is_success()
    }
}

/// One number data point of a sum, with the identity of its series.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SumPoint {
    /// Resource attributes of the point's `ResourceMetrics`.
    pub(crate) resource: Vec<KeyValue>,
    /// Instrumentation scope name.
    pub(crate) scope: String,
    /// The point's own attributes.
    pub(crate) attributes: Vec<KeyValue>,
    /// The sum's temporality.
    pub(crate) temporality: AggregationTemporality,
    /// Whether the sum is monotonic.
    pub(crate) monotonic: bool,
    /// `start_time_unix_nano`.
    pub(crate) start_time_unix_nano: u64,
    /// `time_unix_nano`.
    pub(crate) time_unix_nano: u64,
    /// The value; `Err(f64)` for a double point, so integer totals never round silently.
    pub(crate) value: Result<i64, f64>,
}

impl SumPoint {
    /// The series identity: resource, scope and point attributes (sorted), as one comparable key.
    fn series_key(&self) -> String {
        fn sorted(attrs: &[KeyValue]) -> Vec<(&str, String)> {
            let mut pairs: Vec<_> = attrs
                .iter()
                .map(|a| (a.key.as_str(), format!("{:?}", a.value)))
                .collect();
            pairs.sort();
            pairs
        }
        format!(
            "{:?}|{}|{:?}",
            sorted(&self.resource),
            self.scope,
            sorted(&self.attributes)
        )
    }

    fn as_f64(&self) -> f64 {
        match self.value {
            // Outcome counts in tests are far below 2^53, so this conversion is exact.
            #[allow(clippy::cast_precision_loss)]
            Ok(i) => i as f64,
            Err(d) => d,
        }
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    script: Mutex<VecDeque<Reply>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock already failed; keep serving its data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An OTLP/HTTP receiver for metrics on `127.0.0.1` (ephemeral port), served with hyper on the
/// current tokio runtime.
///
/// It accepts `POST /v1/metrics` with `application/x-protobuf` (or OTLP JSON) bodies, optionally
/// gzip-compressed, records every request with its headers, raw and decoded body, and answers like
/// a collector: `200` with an empty `ExportMetricsServiceResponse`, `400` for a body it cannot
/// decode, `415` for another content type, `404`/`405` for other paths and methods, or the next
/// scripted [`Reply`]. The server stops when the `Sink` is dropped.
pub(crate) struct Sink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Sink {
    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Errors
    /// If the socket cannot be bound.
    pub(crate) async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let server = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base endpoint, `http://127.0.0.1:PORT` (what `OTEL_EXPORTER_OTLP_ENDPOINT` takes).
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The full metrics URL, `http://127.0.0.1:PORT/v1/metrics`.
    pub(crate) fn metrics_url(&self) -> String {
        format!("{}{METRICS_PATH}", self.endpoint())
    }

    /// Answers the next `n` metric exports with `reply` instead of accepting them.
    /// Scripts queue up: `fail_next(2, a); fail_next(1, b)` answers `a, a, b`, then `200`.
    pub(crate) fn fail_next(&self, n: usize, reply: Reply) {
        lock(&self.shared.script).extend(std::iter::repeat_n(reply, n));
    }

    /// How many scripted replies are still queued.
    pub(crate) fn scripted_left(&self) -> usize {
        lock(&self.shared.script).len()
    }

    /// Every request received so far, in arrival order, whatever the answer was.
    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The number of requests received so far, whatever the answer was.
    pub(crate) fn request_count(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    /// The decoded export requests the sink accepted (answered 2xx), in arrival order.
    pub(crate) fn accepted_exports(&self) -> Vec<ExportMetricsServiceRequest> {
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.accepted())
            .filter_map(|r| r.decoded.clone().ok())
            .collect()
    }

    /// Every data point of the sum metric `name` in accepted exports, in arrival order.
    pub(crate) fn sum_points(&self, name: &str) -> Vec<SumPoint> {
        let mut points = Vec::new();
        for export in self.accepted_exports() {
            for rm in &export.resource_metrics {
                let resource = rm
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default();
                for sm in &rm.scope_metrics {
                    let scope = sm
                        .scope
                        .as_ref()
                        .map(|s| s.name.clone())
                        .unwrap_or_default();
                    for m in sm.metrics.iter().filter(|m| m.name == name) {
                        let Some(metric::Data::Sum(sum)) = &m.data else {
                            continue;
                        };
                        let temporality =
                            AggregationTemporality::try_from(sum.aggregation_temporality)
                                .unwrap_or(AggregationTemporality::Unspecified);
                        for p in &sum.data_points {
                            let value = match p.value {
                                Some(number_data_point::Value::AsInt(i)) => Ok(i),
                                Some(number_data_point::Value::AsDouble(d)) => Err(d),
                                None => continue,
                            };
                            points.push(SumPoint {
                                resource: resource.clone(),
                                scope: scope.clone(),
                                attributes: p.attributes.clone(),
                                temporality,
                                monotonic: sum.is_monotonic,
                                start_time_unix_nano: p.start_time_unix_nano,
                                time_unix_nano: p.time_unix_nano,
                                value,
                            });
                        }
                    }
                }
            }
        }
        points
    }

    /// The points that make up the current total of sum `name`, restricted to series whose
    /// attributes contain every `(key, value)` of `filter`: for cumulative (and unspecified)
    /// temporality the latest point of each series (greatest `time_unix_nano`, later arrival on a
    /// tie); for delta temporality every point.
    fn total_points(&self, name: &str, filter: &[(&str, &str)]) -> Vec<SumPoint> {
        let mut latest: BTreeMap<String, SumPoint> = BTreeMap::new();
        let mut deltas = Vec::new();
        for p in self
            .sum_points(name)
            .into_iter()
            .filter(|p| matches(&p.attributes, filter))
        {
            if p.temporality == AggregationTemporality::Delta {
                deltas.push(p);
                continue;
            }
            let key = p.series_key();
            match latest.get(&key) {
                Some(seen) if seen.time_unix_nano > p.time_unix_nano => {}
                _ => {
                    latest.insert(key, p);
                }
            }
        }
        deltas.extend(latest.into_values());
        deltas
    }

    /// The total of the integer sum `name` over series matching `filter` (see `total_points` for
    /// the cumulative/delta rule), or `None` if no matching point arrived. Double points make it
    /// `None` too: use [`Sink::sum_total_f64`] for those.
    pub(crate) fn sum_total(&self, name: &str, filter: &[(&str, &str)]) -> Option<i64> {
        let points = self.total_points(name, filter);
        if points.is_empty() {
            return None;
        }
        points.iter().try_fold(0_i64, |acc, p| {
            p.value.ok().and_then(|v| acc.checked_add(v))
        })
    }

    /// Like [`Sink::sum_total`], with integer and double points added as `f64`.
    pub(crate) fn sum_total_f64(&self, name: &str, filter: &[(&str, &str)]) -> Option<f64> {
        let points = self.total_points(name, filter);
        (!points.is_empty()).then(|| points.iter().map(SumPoint::as_f64).sum())
    }

    /// The resource attributes of the last `ResourceMetrics` of the last accepted export.
    pub(crate) fn last_resource_attributes(&self) -> Option<Vec<KeyValue>> {
        self.accepted_exports()
            .iter()
            .rev()
            .find_map(|e| e.resource_metrics.last())
            .map(|rm| {
                rm.resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default()
            })
    }

    /// Names of every metric in accepted exports, sorted and deduplicated.
    pub(crate) fn metric_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .accepted_exports()
            .iter()
            .flat_map(|e| &e.resource_metrics)
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .map(|m| m.name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// A one-paragraph summary of what arrived, for failure messages.
    pub(crate) fn describe(&self) -> String {
        let requests = self.requests();
        let statuses: Vec<u16> = requests.iter().map(|r| r.status.as_u16()).collect();
        let undecodable: Vec<&String> = requests
            .iter()
            .filter_map(|r| r.decoded.as_ref().err())
            .collect();
        format!(
            "sink at {} got {} request(s) with statuses {statuses:?}; metrics accepted: {:?}; \
             decode errors: {undecodable:?}",
            self.addr,
            requests.len(),
            self.metric_names(),
        )
    }

    /// Polls `condition` every 20 ms until it holds, or fails after `timeout` with a summary of
    /// what the sink received. `what` names the condition in the error.
    ///
    /// # Errors
    /// A [`HarnessError`] if `condition` still does not hold after `timeout`.
    pub(crate) async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut condition: impl FnMut(&Self) -> bool,
    ) -> Result<(), HarnessError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if condition(self) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(HarnessError(format!(
                    "gave up after {timeout:?} waiting for {what}: {}",
                    self.describe()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every open connection.
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(_) => {
                // Out of descriptors or similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&shared), req));
            // A client that hangs up mid-request is not the sink's failure.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

fn decode_content_encoding(headers: &HeaderMap, raw: &[u8]) -> Result<Vec<u8>, String> {
    let encoding = headers.get(CONTENT_ENCODING).map(|v| {
        v.to_str()
            .unwrap_or("<non-ascii>")
            .trim()
            .to_ascii_lowercase()
    });
    match encoding.as_deref() {
        None | Some("" | "identity") => Ok(raw.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(raw)
                .read_to_end(&mut out)
                .map_err(|e| format!("gzip: {e}"))?;
            Ok(out)
        }
        Some(other) => Err(format!("unsupported content-encoding {other:?}")),
    }
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default();
    Some(essence.trim().to_ascii_lowercase())
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let raw_body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let media = media_type(&parts.headers);
    let body = decode_content_encoding(&parts.headers, &raw_body);
    let decoded = body.clone().and_then(|bytes| match media.as_deref() {
        Some(JSON) => serde_json::from_slice::<ExportMetricsServiceRequest>(&bytes)
            .map_err(|e| format!("json: {e}")),
        _ => ExportMetricsServiceRequest::decode(bytes.as_slice())
            .map_err(|e| format!("protobuf: {e}")),
    });

    let mut retry_after = None;
    let status = if parts.method != Method::POST {
        StatusCode::METHOD_NOT_ALLOWED
    } else if parts.uri.path() != METRICS_PATH {
        StatusCode::NOT_FOUND
    } else if let Some(reply) = lock(&shared.script).pop_front() {
        retry_after = reply.retry_after;
        reply.status
    } else if !matches!(media.as_deref(), Some(PROTOBUF | JSON)) {
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    } else if decoded.is_err() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };

    let answer_json = media.as_deref() == Some(JSON);
    lock(&shared.requests).push(RecordedRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        raw_body,
        body,
        decoded,
        status,
    });

    let (content_type, payload) = match (status.is_success(), answer_json) {
        (true, false) => (
            PROTOBUF,
            ExportMetricsServiceResponse::default().encode_to_vec(),
        ),
        (true, true) => (JSON, b"{}".to_vec()),
        (false, _) => ("text/plain", status.to_string().into_bytes()),
    };
    let mut response = Response::new(Full::new(Bytes::from(payload)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    Ok(response)
}
