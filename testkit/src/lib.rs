//! # heartbeat-testkit
//!
//! What Heartbeat's tests and its conformance suite share, once:
//!
//! - [`Receiver`]: an OTLP metrics receiver on `127.0.0.1`: OTLP/HTTP (protobuf and JSON) and
//!   OTLP/gRPC on one port, gzip bodies, every request recorded with its headers, raw and decoded
//!   body and answer; scripted faults ([`Rule`], [`Fault`]: HTTP statuses with `Retry-After`, gRPC
//!   statuses with `RetryInfo`, partial success, delays, resets, hangs) and outages ([`Outage`]:
//!   connections refused, reset, or never answered); forwarding of what it accepts.
//! - [`points`](mod@points): the point model: every number data point flattened with its
//!   resource, scope, metric and attributes, and totals over cumulative and delta sums.
//! - [`Sink`]: the receiver routed like a collector, with the integration tests' readers (sums of
//!   a metric, waits with a summary of what arrived).
//! - [`Rotel`]: the real `rotel-agent` collector as a child process, exporting to a receiver.
//! - `clock` (feature `clock`): `heartbeat::clock::ManualClock`, and [`clock::TokioClock`], a
//!   `heartbeat::clock::Clock` on tokio's (pausable) time.
//! - [`otlp`]: builders and readers for the `opentelemetry-proto` metric types.
//!
//! Every server binds `127.0.0.1` and stops when dropped; every wait is bounded; nothing here
//! asserts on time. Not published: a dev-dependency of the workspace's tests, and a dependency of
//! the conformance suite.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[cfg(feature = "clock")]
pub mod clock;
pub mod otlp;
pub mod points;
mod receiver;
mod record;
mod rotel;
mod sink;
mod wire;

use std::fmt;
use std::future::Future;
use std::time::Duration;

pub use crate::otlp::render;
pub use crate::points::{Kind, Point, PointValue, arrivals, has, points_of, total};
pub use crate::receiver::Receiver;
pub use crate::record::{
    Fault, GRPC_PATH, METRICS_PATH, Outage, Probe, ReceiverOptions, Recorded, Replied, Rule,
    Transport, code, points,
};
pub use crate::rotel::{ExportTo, ROTEL_ENV, Rotel, RotelBuilder, rotel_or_skip};
pub use crate::sink::{RecordedRequest, Reply, Sink, SumPoint};
pub use crate::wire::{grpc_code_for, http_status_for};

/// The error type of the kit's helpers and of tests that use `?`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A harness failure, with the context needed to debug it.
#[derive(Debug)]
pub struct HarnessError(pub String);

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

/// Runs `test` to completion or fails once `limit` has passed, so a hung peer fails the test
/// instead of hanging the suite.
///
/// # Errors
/// The error of `test`, or a [`HarnessError`] naming the limit.
pub async fn bounded<T>(
    limit: Duration,
    test: impl Future<Output = Result<T, BoxError>>,
) -> Result<T, BoxError> {
    match tokio::time::timeout(limit, test).await {
        Ok(result) => result,
        Err(_) => Err(Box::new(HarnessError(format!(
            "test did not finish within {limit:?}"
        )))),
    }
}
