//! The OTLP receiver: HTTP/protobuf and HTTP/JSON at `/v1/metrics`, and gRPC.
//!
//! Both transports go through [`Shared::ingest`]: decode, validate point by point (outside any
//! lock), then store under the store's lock. At most `queue_capacity` requests are between
//! "accepted for reading" and "stored" at once; past that the receiver answers 429 (HTTP, with
//! `Retry-After`) or `UNAVAILABLE` (gRPC), both of which OTLP exporters retry.

pub(crate) mod grpc;
pub(crate) mod http;
pub(crate) mod limit;

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::db::Db;
use crate::ingest;
use crate::judge::Snapshot;
use crate::store::Store;
use limit::{Permit, RateLimiter, Refusal};

/// `google.rpc.Status`, the body of OTLP/HTTP error answers.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub(crate) code: i32,
    #[prost(string, tag = "2")]
    pub(crate) message: String,
}

/// gRPC status codes used in error bodies.
pub(crate) mod code {
    pub(crate) const INVALID_ARGUMENT: i32 = 3;
    pub(crate) const NOT_FOUND: i32 = 5;
    pub(crate) const PERMISSION_DENIED: i32 = 7;
    pub(crate) const RESOURCE_EXHAUSTED: i32 = 8;
    pub(crate) const UNIMPLEMENTED: i32 = 12;
    pub(crate) const INTERNAL: i32 = 13;
    pub(crate) const UNAVAILABLE: i32 = 14;
    pub(crate) const UNAUTHENTICATED: i32 = 16;
}

/// Receiver counters.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) requests: std::sync::atomic::AtomicU64,
    pub(crate) refused: std::sync::atomic::AtomicU64,
    pub(crate) points_accepted: std::sync::atomic::AtomicU64,
    pub(crate) points_rejected: std::sync::atomic::AtomicU64,
    /// The console's event streams open now.
    pub(crate) streams: std::sync::atomic::AtomicUsize,
}

/// What the receivers and the judge loop share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Mutex<Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) permits: Semaphore,
    pub(crate) max_body: usize,
    pub(crate) cors_origins: Vec<String>,
    pub(crate) token: Option<Token>,
    pub(crate) limiter: Option<RateLimiter>,
    pub(crate) snapshot: Mutex<Option<Arc<Snapshot>>>,
    pub(crate) db: Option<Arc<Mutex<Db>>>,
    /// A read-only connection for the console's queries (a file database only).
    pub(crate) reader: Option<Mutex<Db>>,
    pub(crate) stats: Stats,
    /// Requests in flight before 429.
    pub(crate) queue_capacity: usize,
    /// The test hook's faults.
    pub(crate) faults: Arc<crate::faults::Faults>,
    /// The rules (the console's thresholds, the status page's components).
    pub(crate) rules: Arc<crate::rulefile::RuleFile>,
    /// SLA ledger slot length (ms).
    pub(crate) slot_ms: i64,
    /// Counts published snapshots: the console's event streams wake on it.
    pub(crate) ticks: tokio::sync::watch::Sender<u64>,
    /// The status page's answer and the tick it was built in: built once per tick.
    pub(crate) status_cache: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
}

/// The outcome of one export request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ingested {
    pub(crate) accepted: u64,
    pub(crate) rejected: u64,
    pub(crate) message: String,
}

impl Ingested {
    pub(crate) fn response(&self) -> ExportMetricsServiceResponse {
        ExportMetricsServiceResponse {
            partial_success: (self.rejected > 0).then(|| ExportMetricsPartialSuccess {
                rejected_data_points: i64::try_from(self.rejected).unwrap_or(i64::MAX),
                error_message: self.message.clone(),
            }),
        }
    }
}

impl Shared {
    /// Validates and stores one decoded request.
    pub(crate) fn ingest(&self, request: ExportMetricsServiceRequest) -> Ingested {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.clock.now_ms();
        let mut batch = ingest::validate(request, now);
        if batch.accepted > 0 {
            match self.store.lock() {
                Ok(mut store) => store.ingest(&mut batch, now),
                Err(_) => {
                    batch.reject_all("the watch's store is unavailable after an internal error")
                }
            }
        }
        self.stats
            .points_accepted
            .fetch_add(batch.accepted, Relaxed);
        self.stats
            .points_rejected
            .fetch_add(batch.rejected, Relaxed);
        Ingested {
            accepted: batch.accepted,
            rejected: batch.rejected,
            message: batch.message(),
        }
    }

    /// Takes a token of `source`'s bucket; the request counts as under way while the permit
    /// lives (none without a rate limit).
    pub(crate) fn admit(&self, source: IpAddr) -> Result<Option<Permit<'_>>, Refusal> {
        match &self.limiter {
            Some(limiter) => limiter.check(source, self.clock.now_ms()).map(Some),
            None => Ok(None),
        }
    }

    /// Whether the `Authorization` value `given` carries the bearer token, when one is required.
    pub(crate) fn authorized(&self, given: Option<&str>) -> bool {
        self.token.as_ref().is_none_or(|t| t.matches(given))
    }

    /// The console's connection for reading, or the judge's for a database in memory.
    pub(crate) fn read_db(&self) -> Result<std::sync::MutexGuard<'_, Db>, String> {
        let db = match (&self.reader, &self.db) {
            (Some(r), _) => r.lock(),
            (None, Some(db)) => db.lock(),
            (None, None) => return Err("this watch keeps no state database".to_owned()),
        };
        db.map_err(|_| "the state database is unavailable after an internal error".to_owned())
    }

    /// Whether `origin` may send from a browser.
    pub(crate) fn origin_allowed(&self, origin: &str) -> bool {
        self.cors_origins.iter().any(|o| o == "*" || o == origin)
    }
}

/// The bearer token senders must present: compared in constant time, never shown by `Debug`.
#[derive(Clone)]
pub(crate) struct Token(String);

impl Token {
    pub(crate) fn new(token: String) -> Self {
        Self(token)
    }

    /// The token itself, for the watch's own exports to itself (never shown).
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether an `Authorization` header value is `Bearer <this token>` (the scheme in any case).
    pub(crate) fn matches(&self, authorization: Option<&str>) -> bool {
        let Some((scheme, given)) = authorization.and_then(|v| v.split_once(' ')) else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer")
            && constant_time_eq(given.as_bytes(), self.0.as_bytes())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Equality whose time depends on the lengths only, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_its_bearer_header_only() {
        let token = Token::new("s3cret".into());
        assert!(token.matches(Some("Bearer s3cret")));
        assert!(token.matches(Some("bearer s3cret")));
        for wrong in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer s3cre"),
            Some("Bearer s3cret2"),
            Some("Basic s3cret"),
            Some("s3cret"),
        ] {
            assert!(!token.matches(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn a_token_is_never_debug_printed() {
        let token = Token::new("s3cret".into());
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
        assert!(!format!("{:?}", Some(token)).contains("s3cret"));
    }
}
