//! The pipeline's export counters ([`Health`]), what [`ExportHealth`] shows of them, and the
//! reasons a failed export is counted under ([`ExportFailure`]).

use super::transport::Failure;
use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Why the latest failed export failed: the `heartbeat.reason` of its `heartbeat.sdk.exports`
/// failure series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExportFailure {
    /// No answer in time: the request timeout or the export deadline passed.
    Timeout,
    /// The collector's host name did not resolve.
    Dns,
    /// The connection was refused, reset or unreachable.
    Connect,
    /// The TLS handshake failed, most often because the certificate did not verify.
    Tls,
    /// The collector answered with a 4xx status (429 too, after its retries).
    Http4xx,
    /// The collector answered with a 5xx status (after the retries).
    Http5xx,
    /// Anything else (a gRPC status, a malformed answer, ...).
    Other,
}

impl ExportFailure {
    /// Every failure reason other than [`ExportFailure::Timeout`], in counter order.
    const COUNTED: [ExportFailure; 6] = [
        Self::Dns,
        Self::Connect,
        Self::Tls,
        Self::Http4xx,
        Self::Http5xx,
        Self::Other,
    ];

    /// Every reason, as `heartbeat.sdk.exports` reports them.
    pub(crate) const ALL: [ExportFailure; 7] = [
        Self::Timeout,
        Self::Dns,
        Self::Connect,
        Self::Tls,
        Self::Http4xx,
        Self::Http5xx,
        Self::Other,
    ];

    /// The attribute value: `timeout`, `dns`, `connect`, `tls`, `http_4xx`, `http_5xx` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Dns => "dns",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Http4xx => "http_4xx",
            Self::Http5xx => "http_5xx",
            Self::Other => "error",
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Timeout => 1,
            Self::Dns => 2,
            Self::Connect => 3,
            Self::Tls => 4,
            Self::Http4xx => 5,
            Self::Http5xx => 6,
            Self::Other => 7,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }

    #[cfg_attr(
        not(any(feature = "http-proto", feature = "http-json", feature = "grpc")),
        allow(dead_code)
    )]
    pub(crate) fn of(failure: Failure) -> Self {
        match failure {
            Failure::Timeout => Self::Timeout,
            Failure::Dns => Self::Dns,
            Failure::Connect => Self::Connect,
            Failure::Tls => Self::Tls,
            Failure::Status(s) if (400..500).contains(&s) => Self::Http4xx,
            Failure::Status(s) if s >= 500 => Self::Http5xx,
            Failure::Status(_) | Failure::Other => Self::Other,
        }
    }
}

impl fmt::Display for ExportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Export counters, readable at any time with [`Heartbeat::export_health`](super::Heartbeat::export_health).
#[derive(Debug, Default)]
pub(crate) struct Health {
    exports_ok: AtomicU64,
    exports_failed: AtomicU64,
    exports_timed_out: AtomicU64,
    last_success_unix_ms: AtomicU64,
    /// Failures other than timeouts, by [`ExportFailure::COUNTED`] slot.
    failed_by: [AtomicU64; ExportFailure::COUNTED.len()],
    last_failure: AtomicU8,
    rejected_points: AtomicU64,
}

impl Health {
    pub(crate) fn snapshot(&self) -> ExportHealth {
        let last = self.last_success_unix_ms.load(Relaxed);
        ExportHealth {
            exports_ok: self.exports_ok.load(Relaxed),
            exports_failed: self.exports_failed.load(Relaxed),
            exports_timed_out: self.exports_timed_out.load(Relaxed),
            last_success: (last > 0).then(|| Duration::from_millis(last)),
            last_failure: ExportFailure::from_code(self.last_failure.load(Relaxed)),
            rejected_points: self.rejected_points.load(Relaxed),
        }
    }

    pub(crate) fn succeeded(&self, now: Duration, rejected_points: u64) {
        self.exports_ok.fetch_add(1, Relaxed);
        self.rejected_points.fetch_add(rejected_points, Relaxed);
        let ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
        self.last_success_unix_ms.store(ms.max(1), Relaxed);
    }

    /// Failed exports with this reason so far.
    pub(crate) fn failures(&self, why: ExportFailure) -> u64 {
        if why == ExportFailure::Timeout {
            return self.exports_timed_out.load(Relaxed);
        }
        ExportFailure::COUNTED
            .iter()
            .position(|f| *f == why)
            .and_then(|i| self.failed_by.get(i))
            .map_or(0, |c| c.load(Relaxed))
    }

    pub(crate) fn failed(&self, why: ExportFailure) {
        self.last_failure.store(why.code(), Relaxed);
        if why == ExportFailure::Timeout {
            self.exports_timed_out.fetch_add(1, Relaxed);
            return;
        }
        self.exports_failed.fetch_add(1, Relaxed);
        if let Some(c) = ExportFailure::COUNTED
            .iter()
            .position(|f| *f == why)
            .and_then(|i| self.failed_by.get(i))
        {
            c.fetch_add(1, Relaxed);
        }
    }
}

/// The export pipeline's own health: how many exports succeeded and failed, why the latest
/// failure failed, and when the last export succeeded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportHealth {
    /// Exports the collector accepted.
    pub exports_ok: u64,
    /// Exports that failed after their retries, other than by a timeout.
    pub exports_failed: u64,
    /// Exports that got no answer in time: the request timeout or the export deadline passed.
    pub exports_timed_out: u64,
    /// Unix time of the last successful export, if any.
    pub last_success: Option<Duration>,
    /// Why the latest failed export failed (it stays after a later success).
    pub last_failure: Option<ExportFailure>,
    /// Points the collector rejected in accepted exports (OTLP partial success; not retried).
    pub rejected_points: u64,
}
