//! [`Sink`]: the [`Receiver`] routed like a collector, with the readers the integration tests
//! use: the requests as HTTP saw them, sums of a metric, and waits that end with a summary of
//! what arrived.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, number_data_point};

use crate::HarnessError;
use crate::otlp::matches;
use crate::points::{Kind, number_points};
use crate::receiver::Receiver;
use crate::record::{Fault, METRICS_PATH, Probe, ReceiverOptions, Recorded, Replied, Rule};

/// An answer the sink gives instead of `200 OK`, scripted with [`Sink::fail_next`].
#[derive(Clone, Debug)]
pub struct Reply {
    status: StatusCode,
    retry_after: Option<u64>,
}

impl From<Reply> for Fault {
    fn from(reply: Reply) -> Self {
        Fault::Http {
            status: reply.status.as_u16(),
            retry_after: reply.retry_after.map(|s| s.to_string()),
        }
    }
}

impl Reply {
    /// Any status code, without `Retry-After`.
    pub fn status(status: StatusCode) -> Self {
        Self {
            status,
            retry_after: None,
        }
    }

    /// `503 Service Unavailable` with `Retry-After: <seconds>`: retryable, with a hint.
    pub fn unavailable(retry_after_secs: u64) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: Some(retry_after_secs),
        }
    }

    /// `429 Too Many Requests` with `Retry-After: <seconds>`: throttled.
    pub fn throttled(retry_after_secs: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(retry_after_secs),
        }
    }

    /// `400 Bad Request`: not retryable, the data is dropped.
    pub fn bad_request() -> Self {
        Self::status(StatusCode::BAD_REQUEST)
    }
}

/// One request as the sink saw it, and what it answered.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The HTTP method.
    pub method: Method,
    /// The request path, without the query.
    pub path: String,
    /// All request headers.
    pub headers: HeaderMap,
    /// The body exactly as received (still compressed when `Content-Encoding` says so).
    pub raw_body: Bytes,
    /// The body after undoing `Content-Encoding`, or why that failed.
    pub body: Result<Vec<u8>, String>,
    /// The body decoded as an export request (protobuf, or OTLP JSON for `application/json`),
    /// or why that failed.
    pub decoded: Result<ExportMetricsServiceRequest, String>,
    /// The status the sink answered with; a connection closed without an answer, or a request
    /// never answered, shows as 444 (nginx's "no response").
    pub status: StatusCode,
}

impl From<&Recorded> for RecordedRequest {
    fn from(r: &Recorded) -> Self {
        let mut headers = HeaderMap::new();
        for (name, value) in &r.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        let status = match r.reply {
            Replied::Ok | Replied::PartialSuccess(_) | Replied::Grpc(_) => StatusCode::OK,
            Replied::Status(code) => {
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Replied::Reset | Replied::Unanswered => NO_RESPONSE,
        };
        Self {
            method: Method::from_bytes(r.method.as_bytes()).unwrap_or_default(),
            path: r.path.clone(),
            headers,
            raw_body: r.raw.clone(),
            body: match &r.encoding_problem {
                Some(problem) => Err(problem.clone()),
                None => Ok(r.body.to_vec()),
            },
            decoded: r.request.clone().ok_or_else(|| {
                r.problem
                    .clone()
                    .unwrap_or_else(|| "not decoded".to_owned())
            }),
            status,
        }
    }
}

/// What [`RecordedRequest::status`] shows for a request that got no HTTP answer.
const NO_RESPONSE: StatusCode = match StatusCode::from_u16(444) {
    Ok(status) => status,
    Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
};

impl RecordedRequest {
    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Content-Type` header.
    pub fn content_type(&self) -> Option<&str> {
        self.header(CONTENT_TYPE.as_str())
    }

    /// The `Content-Encoding` header.
    pub fn content_encoding(&self) -> Option<&str> {
        self.header(CONTENT_ENCODING.as_str())
    }

    /// Whether the sink answered with a 2xx status, i.e. took the data.
    pub fn accepted(&self) -> bool {
        self.status.is_success()
    }
}

/// One number data point of a sum, with the identity of its series.
#[derive(Clone, Debug, PartialEq)]
pub struct SumPoint {
    /// Resource attributes of the point's `ResourceMetrics`.
    pub resource: Vec<KeyValue>,
    /// Instrumentation scope name.
    pub scope: String,
    /// The point's own attributes.
    pub attributes: Vec<KeyValue>,
    /// The sum's temporality.
    pub temporality: AggregationTemporality,
    /// Whether the sum is monotonic.
    pub monotonic: bool,
    /// `start_time_unix_nano`.
    pub start_time_unix_nano: u64,
    /// `time_unix_nano`.
    pub time_unix_nano: u64,
    /// The value; `Err(f64)` for a double point, so integer totals never round silently.
    pub value: Result<i64, f64>,
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

/// An OTLP/HTTP receiver for metrics on `127.0.0.1` (ephemeral port): a [`Receiver`] with
/// [`ReceiverOptions::otlp_paths_only`] and [`ReceiverOptions::http1_only`], served on the current
/// tokio runtime.
///
/// It accepts `POST /v1/metrics` with `application/x-protobuf` (or OTLP JSON) bodies, optionally
/// gzip-compressed, records every request with its headers, raw and decoded body, and answers like
/// a collector: `200` with an empty `ExportMetricsServiceResponse`, `400` for a body it cannot
/// decode, `404`/`405` for other paths and methods, or the next scripted [`Reply`]. The server
/// stops when the `Sink` is dropped.
#[derive(Debug)]
pub struct Sink {
    receiver: Receiver,
}

impl Sink {
    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Errors
    /// If the socket cannot be bound.
    pub async fn start() -> io::Result<Self> {
        let receiver = Receiver::start(ReceiverOptions {
            otlp_paths_only: true,
            http1_only: true,
            ..ReceiverOptions::default()
        })
        .await?;
        Ok(Self { receiver })
    }

    /// The receiver behind the sink: rules, outages, recorded requests as they are.
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.receiver.addr()
    }

    /// The base endpoint, `http://127.0.0.1:PORT` (what `OTEL_EXPORTER_OTLP_ENDPOINT` takes).
    pub fn endpoint(&self) -> String {
        self.receiver.endpoint()
    }

    /// The full metrics URL, `http://127.0.0.1:PORT/v1/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("{}{METRICS_PATH}", self.endpoint())
    }

    /// Answers the next `n` metric exports with `reply` instead of accepting them.
    /// Scripts queue up: `fail_next(2, a); fail_next(1, b)` answers `a, a, b`, then `200`.
    pub fn fail_next(&self, n: usize, reply: Reply) {
        if n > 0 {
            self.receiver.push(Rule {
                when: Probe::Any,
                fault: reply.into(),
                times: n,
            });
        }
    }

    /// How many scripted replies are still queued.
    pub fn scripted_left(&self) -> usize {
        self.receiver.answers_left()
    }

    /// Every request received so far, in arrival order, whatever the answer was.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.receiver
            .requests()
            .iter()
            .map(|r| RecordedRequest::from(r.as_ref()))
            .collect()
    }

    /// The number of requests received so far, whatever the answer was.
    pub fn request_count(&self) -> usize {
        self.receiver.requests().len()
    }

    /// The decoded export requests the sink accepted (answered 2xx), in arrival order.
    pub fn accepted_exports(&self) -> Vec<ExportMetricsServiceRequest> {
        self.receiver
            .requests()
            .iter()
            .filter(|r| r.accepted())
            .filter_map(|r| r.request.clone())
            .collect()
    }

    /// Every data point of the sum metric `name` in accepted exports, in arrival order.
    pub fn sum_points(&self, name: &str) -> Vec<SumPoint> {
        let mut points = Vec::new();
        for export in self.accepted_exports() {
            for n in number_points(&export).filter(|n| n.metric.name == name) {
                let Kind::Sum {
                    monotonic,
                    temporality,
                } = n.kind
                else {
                    continue;
                };
                let value = match n.point.value {
                    Some(number_data_point::Value::AsInt(i)) => Ok(i),
                    Some(number_data_point::Value::AsDouble(d)) => Err(d),
                    None => continue,
                };
                points.push(SumPoint {
                    resource: n.resource.to_vec(),
                    scope: n.scope.to_owned(),
                    attributes: n.point.attributes.clone(),
                    temporality: AggregationTemporality::try_from(temporality)
                        .unwrap_or(AggregationTemporality::Unspecified),
                    monotonic,
                    start_time_unix_nano: n.point.start_time_unix_nano,
                    time_unix_nano: n.point.time_unix_nano,
                    value,
                });
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
    pub fn sum_total(&self, name: &str, filter: &[(&str, &str)]) -> Option<i64> {
        let points = self.total_points(name, filter);
        if points.is_empty() {
            return None;
        }
        points.iter().try_fold(0_i64, |acc, p| {
            p.value.ok().and_then(|v| acc.checked_add(v))
        })
    }

    /// Like [`Sink::sum_total`], with integer and double points added as `f64`.
    pub fn sum_total_f64(&self, name: &str, filter: &[(&str, &str)]) -> Option<f64> {
        let points = self.total_points(name, filter);
        (!points.is_empty()).then(|| points.iter().map(SumPoint::as_f64).sum())
    }

    /// The resource attributes of the last `ResourceMetrics` of the last accepted export.
    pub fn last_resource_attributes(&self) -> Option<Vec<KeyValue>> {
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
    pub fn metric_names(&self) -> Vec<String> {
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
    pub fn describe(&self) -> String {
        let requests = self.requests();
        let statuses: Vec<u16> = requests.iter().map(|r| r.status.as_u16()).collect();
        let undecodable: Vec<&String> = requests
            .iter()
            .filter_map(|r| r.decoded.as_ref().err())
            .collect();
        format!(
            "sink at {} got {} request(s) with statuses {statuses:?}; metrics accepted: {:?}; \
             decode errors: {undecodable:?}",
            self.addr(),
            requests.len(),
            self.metric_names(),
        )
    }

    /// Polls `condition` every 20 ms until it holds, or fails after `timeout` with a summary of
    /// what the sink received. `what` names the condition in the error.
    ///
    /// # Errors
    /// A [`HarnessError`] if `condition` still does not hold after `timeout`.
    pub async fn wait_until(
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
