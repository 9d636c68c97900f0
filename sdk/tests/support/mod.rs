//! Test harness shared by the integration tests: include it with `mod support;`.
//!
//! - [`Sink`]: an OTLP/HTTP receiver on `127.0.0.1` that records every request, decodes it with the
//!   official `opentelemetry-proto` types, answers with scripted faults, and sums what it saw.
//! - [`Rotel`]: the real `rotel-agent` collector, started on free loopback ports and exporting to a
//!   [`Sink`]; killed on drop. The binary comes from `HEARTBEAT_ROTEL` (set by `scripts/test.sh`).
//! - [`otlp`]: small builders and readers for the protobuf types.
//!
//! Every wait is bounded: [`bounded`] caps a whole test, [`Sink::wait_until`] caps one wait. Nothing
//! here asserts on time.
// Each test binary uses a different part of the harness.
#![allow(dead_code, unused_imports)]

pub(crate) mod otlp;
mod rotel;
mod sink;

use std::fmt;
use std::future::Future;
use std::time::Duration;

pub(crate) use rotel::{ROTEL_ENV, Rotel, RotelBuilder, rotel_or_skip};
pub(crate) use sink::{RecordedRequest, Reply, Sink, SumPoint};

/// The error type of harness helpers and of tests that use `?`.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a test returns.
pub(crate) type TestResult = Result<(), BoxError>;

/// A generous cap for a whole test that talks to a real process: it bounds a hang, it is not a
/// performance assertion.
pub(crate) const TEST_LIMIT: Duration = Duration::from_secs(90);

/// A generous cap for one wait on data travelling through a collector (its batch timeout is 100 ms).
pub(crate) const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// A harness failure, with the context needed to debug it.
#[derive(Debug)]
pub(crate) struct HarnessError(pub(crate) String);

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
pub(crate) async fn bounded<T>(
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
