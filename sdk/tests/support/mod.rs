//! Test harness shared by the integration tests: include it with `mod support;`. Everything comes
//! from the workspace's test kit (`heartbeat-testkit`):
//!
//! - [`Sink`]: an OTLP receiver on `127.0.0.1` routed like a collector that records every
//!   request, decodes it with the official `opentelemetry-proto` types, answers with scripted
//!   faults, and sums what it saw.
//! - [`Rotel`]: the real `rotel-agent` collector, started on free loopback ports and exporting to a
//!   [`Sink`]; killed on drop. The binary comes from `HEARTBEAT_ROTEL` (set by `scripts/test.sh`).
//! - [`otlp`]: small builders and readers for the protobuf types.
//!
//! Every wait is bounded: [`bounded`] caps a whole test, [`Sink::wait_until`] caps one wait. Nothing
//! here asserts on time.
// Each test binary uses a different part of the harness.
#![allow(dead_code, unused_imports)]

use std::time::Duration;

pub(crate) use heartbeat_testkit::otlp;
pub(crate) use heartbeat_testkit::{
    BoxError, HarnessError, ROTEL_ENV, RecordedRequest, Reply, Rotel, RotelBuilder, Sink, SumPoint,
    bounded, rotel_or_skip,
};

/// What a test returns.
pub(crate) type TestResult = Result<(), BoxError>;

/// A generous cap for a whole test that talks to a real process: it bounds a hang, it is not a
/// performance assertion.
pub(crate) const TEST_LIMIT: Duration = Duration::from_secs(90);

/// A generous cap for one wait on data travelling through a collector (its batch timeout is 100 ms).
pub(crate) const WAIT_LIMIT: Duration = Duration::from_secs(20);
