//! # heartbeat-conformance
//!
//! The Heartbeat conformance suite: a numbered specification (`conformance/SPEC.md`, requirements
//! `HB-001` ...) and the cases that check it against any emitter: the Rust SDK in process or as
//! a binary, the WASM build under node or in headless Chromium, reference OpenTelemetry SDKs, or
//! a third party's emitter given as a command template.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use heartbeat_conformance::{RunOptions, run, target};
//!
//! let target = target::by_name("native", &RunOptions::default())?;
//! let report = run(target, &RunOptions::default()).await?;
//! println!("{}", report.to_markdown());
//! assert!(report.passed(), "a MUST failed");
//! # Ok(()) }
//! ```
//!
//! The shape, after prometheus/compliance's remote-write sender suite:
//!
//! - **cases are data**: [`cases()`] is a table of rows `{ id, level, scope, needs, description,
//!   check }`, one per numbered requirement of `SPEC.md` (a unit test parses `SPEC.md` and checks
//!   that every id has exactly one row and that levels and scopes agree);
//! - **one narrow driver**: the emitter under test is reached only through the [`Target`] trait
//!   (start an emitter with a configuration, send it [`Command`]s, kill it), whether it runs in
//!   this process, in a subprocess speaking the line protocol of `docs/conformance.md`, or in a
//!   browser behind a node driver;
//! - **a receiver with scripted faults** ([`Receiver`]): OTLP/HTTP (protobuf and JSON) and gRPC
//!   on one port, answering with status codes, `Retry-After`, gRPC `RetryInfo`, partial
//!   success, delays, resets, never, or refusing connections; it can forward what it accepts to
//!   the watch (`heartbeat-watch`), whose dead-man rule the detection cases judge;
//! - **reports** in JSON and Markdown ([`Report`]); a MUST failure fails the run, SHOULD and MAY
//!   results are reported apart.
//!
//! Supported Rust: 1.88 and later.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cases;
mod ctx;
mod options;
mod report;
mod runner;
mod spec;
pub mod target;

pub use crate::cases::cases;
pub use crate::ctx::Ctx;
pub use crate::options::RunOptions;
pub use crate::report::{CaseResult, Counts, Report, results_table};
pub use crate::runner::{RunError, check_only, run, run_cases};
pub use crate::spec::{Case, Check, Level, Needs, Scope, SpecRow, Status, Verdict, spec_rows};
pub use crate::target::{
    Command, Emitter, EmitterConfig, KillMode, Protocol, Reply, ResultKind, Target, TargetError,
    TargetInfo, Temporality,
};
pub use heartbeat_testkit::{
    Fault, Outage, Point, PointValue, Probe, Receiver, ReceiverOptions, Recorded, Replied, Rule,
    Transport, points, total,
};
