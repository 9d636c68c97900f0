//! What a [`crate::Receiver`] records and how it is scripted: the recorded request, the
//! answers, the faults and the rules that choose them, outages; and the points of what arrived.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use serde::Serialize;

use crate::points::{Point, has, points_of};

/// The OTLP/HTTP metrics path.
pub const METRICS_PATH: &str = "/v1/metrics";
/// The OTLP/gRPC method path.
pub const GRPC_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
/// The largest body read when no limit is set.
pub(crate) const DEFAULT_MAX_BODY: usize = 64 << 20;

/// gRPC status codes the faults use.
pub mod code {
    /// `INVALID_ARGUMENT`.
    pub const INVALID_ARGUMENT: i32 = 3;
    /// `PERMISSION_DENIED`.
    pub const PERMISSION_DENIED: i32 = 7;
    /// `RESOURCE_EXHAUSTED`.
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// `UNAVAILABLE`.
    pub const UNAVAILABLE: i32 = 14;
    /// `UNAUTHENTICATED`.
    pub const UNAUTHENTICATED: i32 = 16;
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
    /// The body exactly as it arrived (still compressed when it was).
    pub raw: Bytes,
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
    /// Why the body could not be decompressed (also in `problem`); `None` when `body` holds it.
    pub encoding_problem: Option<String>,
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
    /// Route like a collector: a method other than `POST` (and `OPTIONS`) is answered `405`, a
    /// path other than [`METRICS_PATH`] and [`GRPC_PATH`] `404`, before any rule. Off, every
    /// `POST` is an export wherever it went (the conformance suite judges the path itself).
    pub otlp_paths_only: bool,
    /// Serve HTTP/1.1 only, as an OTLP/HTTP-only collector: no gRPC (a gRPC client's HTTP/2
    /// connection fails).
    pub http1_only: bool,
}

impl Probe {
    /// Whether `recorded` is one of the requests this probe picks.
    pub fn matches(&self, recorded: &Recorded) -> bool {
        match self {
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
                points_of(request).iter().any(|p| {
                    p.metric == *metric
                        && has(&p.attributes, &filter, &[])
                        && p.value.as_i64().is_some_and(|v| v >= *at_least)
                })
            }
        }
    }
}

/// Every number point of `requests`, in arrival order, with the request's number, arrival time
/// and whether it was accepted.
pub fn points(requests: &[Arc<Recorded>]) -> Vec<Point> {
    let mut out = Vec::new();
    for r in requests {
        let Some(request) = &r.request else { continue };
        for mut p in points_of(request) {
            p.seq = r.seq;
            p.at = r.at;
            p.accepted = r.accepted();
            out.push(p);
        }
    }
    out
}
