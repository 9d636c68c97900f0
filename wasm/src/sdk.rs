//! [`Sdk`]: the state behind one `init()` of the npm package, as a `wasm-bindgen` class.
//!
//! Every method is infallible from JavaScript's point of view: a refusal is a negative index
//! or `false`, and [`Sdk::error`] holds the message. Nothing here throws, so the JavaScript
//! half needs no exception plumbing on the hot path, and an index is a plain number (no
//! `BigInt`, no object to free).

use crate::emitters::{Emitters, StartError};
use heartbeat::semconv::{ATTR_REASON, METRIC_SDK_INPUTS_CORRECTED};
use heartbeat::{AggregationTemporality, Batch, Collector, Outcome, Registry, encode_json};
use std::mem;
use wasm_bindgen::prelude::wasm_bindgen;

pub use crate::emitters::DESCRIPTION_BEATS;

/// The description of `heartbeat.sdk.inputs.corrected`, as the native SDK registers it.
pub const DESCRIPTION_INPUTS_CORRECTED: &str =
    "Recorded events whose input was corrected (and still counted).";

/// How many unacknowledged batches are remembered: one regular export, plus the final one a
/// page sends on `pagehide` while the regular one is still in flight.
const MAX_IN_FLIGHT: usize = 4;

/// The version of this package (the workspace version), for `telemetry.sdk.version`.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").into()
}

/// An outcome being declared: [`Sdk::outcome`], then [`Sdk::attribute`] and [`Sdk::reason`],
/// then [`Sdk::declare`].
#[derive(Default)]
struct Draft {
    name: String,
    attributes: Vec<(String, String)>,
    reasons: Vec<String>,
}

/// The counts, the heartbeats and the delta collector of one page.
#[wasm_bindgen]
pub struct Sdk {
    registry: Registry,
    resource: Vec<(String, String)>,
    collector: Option<Collector>,
    outcomes: Vec<Outcome>,
    draft: Draft,
    emitters: Emitters,
    in_flight: Vec<(u32, Batch)>,
    next_seq: u32,
    acked_any: bool,
    error: String,
}

#[wasm_bindgen]
impl Sdk {
    /// A new, empty state. `tenant_limit` is the default number of tenants per outcome before
    /// overflow (`0`: the core's default, 1000).
    #[wasm_bindgen(constructor)]
    pub fn new(tenant_limit: u32) -> Sdk {
        let mut builder = Registry::builder();
        if tenant_limit > 0 {
            builder = builder.with_tenant_limit(tenant_limit as usize);
        }
        Sdk {
            registry: builder.build(),
            resource: Vec::new(),
            collector: None,
            outcomes: Vec::new(),
            draft: Draft::default(),
            emitters: Emitters::default(),
            in_flight: Vec::new(),
            next_seq: 0,
            acked_any: false,
            error: String::new(),
        }
    }

    /// Adds a resource attribute to every batch (before the first [`Sdk::collect`]; a later
    /// one is refused). A key given twice keeps the last value.
    pub fn resource(&mut self, key: &str, value: &str) -> bool {
        if self.collector.is_some() {
            return self.refuse("resource attributes are fixed once the first batch is built");
        }
        match self.resource.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.into(),
            None => self.resource.push((key.into(), value.into())),
        }
        true
    }

    /// Starts declaring an outcome named `name`.
    pub fn outcome(&mut self, name: &str) {
        self.draft = Draft {
            name: name.into(),
            ..Draft::default()
        };
    }

    /// Adds a fixed attribute to the outcome being declared.
    pub fn attribute(&mut self, key: &str, value: &str) {
        self.draft.attributes.push((key.into(), value.into()));
    }

    /// Adds a failure reason to the outcome being declared.
    pub fn reason(&mut self, reason: &str) {
        self.draft.reasons.push(reason.into());
    }

    /// Declares the outcome (with its own tenant limit unless `tenant_limit` is `0`) and
    /// returns its index, or `-1` with the reason in [`Sdk::error`].
    pub fn declare(&mut self, tenant_limit: u32) -> i32 {
        let draft = mem::take(&mut self.draft);
        let mut builder = self
            .registry
            .outcome(draft.name)
            .with_reasons(draft.reasons);
        for (k, v) in draft.attributes {
            builder = builder.with_attribute(k, v);
        }
        if tenant_limit > 0 {
            builder = builder.with_tenant_limit(tenant_limit as usize);
        }
        match builder.build() {
            Ok(outcome) => {
                self.outcomes.push(outcome);
                index(self.outcomes.len() - 1)
            }
            Err(e) => {
                self.error = e.to_string();
                -1
            }
        }
    }

    /// Records one success of outcome `i` (an unknown index records nothing).
    pub fn success(&self, i: u32) {
        if let Some(o) = self.outcomes.get(i as usize) {
            o.success();
        }
    }

    /// Records one failure of outcome `i`; an empty `reason` is `unspecified`, an undeclared
    /// one is counted as `other`.
    pub fn failure(&self, i: u32, reason: &str) {
        if let Some(o) = self.outcomes.get(i as usize) {
            if reason.is_empty() {
                o.failure();
            } else {
                o.failure_with(reason);
            }
        }
    }

    /// Records one success of outcome `i` for a tenant (invalid ids and tenants past the limit
    /// count in the `_overflow` series).
    pub fn success_for(&self, i: u32, tenant: &str) {
        if let Some(o) = self.outcomes.get(i as usize) {
            o.success_for(tenant);
        }
    }

    /// Records one failure of outcome `i` for a tenant; `reason` as for [`Sdk::failure`].
    pub fn failure_for(&self, i: u32, tenant: &str, reason: &str) {
        if let Some(o) = self.outcomes.get(i as usize) {
            if reason.is_empty() {
                o.failure_for(tenant);
            } else {
                o.failure_for_with(tenant, reason);
            }
        }
    }

    /// Starts the heartbeat `name` (restarting a stopped one keeps its count) and returns its
    /// index, or `-1` with the reason in [`Sdk::error`].
    pub fn emitter(&mut self, name: &str) -> i32 {
        match self.emitters.start(name) {
            Ok(i) => index(i),
            Err(e) => {
                let mut msg = String::from("invalid heartbeat name \"");
                msg.push_str(name);
                msg.push_str("\": ");
                msg.push_str(match e {
                    StartError::InvalidName(problem) => problem,
                    StartError::Duplicate => "a heartbeat of that name is running; stop it first",
                });
                self.refuse(&msg);
                -1
            }
        }
    }

    /// Counts one beat of heartbeat `i`; `false` if it is stopped.
    pub fn beat(&mut self, i: u32) -> bool {
        self.emitters.beat(i as usize)
    }

    /// Stops heartbeat `i`; its count is still reported. `false` if it was not running.
    pub fn stop(&mut self, i: u32) -> bool {
        self.emitters.stop(i as usize)
    }

    /// The beats of heartbeat `i` so far, as a JavaScript number (exact up to 2^53).
    pub fn beats(&self, i: u32) -> f64 {
        self.emitters.beats(i as usize) as f64
    }

    /// Builds the next batch and returns its OTLP/JSON body, or `None` when there is nothing
    /// to send: every delta is zero and an earlier batch was acknowledged (the first batch is
    /// always sent, to declare every series at zero). `force` sends even an all-zero batch.
    ///
    /// The batch stays in flight under [`Sdk::seq`] until [`Sdk::ack`] or [`Sdk::forget`].
    /// Keep one in flight at a time (see [`heartbeat::Collector`]); the exception is the final
    /// batch on `pagehide`, after acknowledging the one still in flight.
    pub fn collect(&mut self, force: bool) -> Option<String> {
        let Self {
            registry,
            resource,
            collector,
            emitters,
            ..
        } = self;
        let collector = collector.get_or_insert_with(|| {
            resource.iter().fold(
                Collector::new(registry, AggregationTemporality::Delta),
                |c, (k, v)| c.with_resource_attribute(k.as_str(), v.as_str()),
            )
        });
        let health = registry.health();
        let batch = collector.collect_with(|b| {
            emitters.push_to(b);
            for (reason, value) in [
                ("invalid_tenant", health.invalid_tenants),
                ("overflowed_tenant", health.overflowed_tenants),
                ("undeclared_reason", health.undeclared_reasons),
            ] {
                b.push_sum(
                    METRIC_SDK_INPUTS_CORRECTED,
                    "{event}",
                    DESCRIPTION_INPUTS_CORRECTED,
                    vec![(ATTR_REASON.into(), reason.into())],
                    value,
                );
            }
        });
        let news = batch
            .metrics
            .iter()
            .any(|m| m.points.iter().any(|p| p.value > 0));
        if !(news || force || !self.acked_any) {
            return None;
        }
        let body = encode_json(&batch);
        self.next_seq = self.next_seq.wrapping_add(1);
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            self.in_flight.remove(0);
        }
        self.in_flight.push((self.next_seq, batch));
        Some(body)
    }

    /// The sequence number of the batch the last [`Sdk::collect`] built.
    pub fn seq(&self) -> u32 {
        self.next_seq
    }

    /// The collector accepted batch `seq`: commit its counts, so they are not sent again.
    /// `false` if it is unknown (acknowledged or forgotten before).
    pub fn ack(&mut self, seq: u32) -> bool {
        match self.take(seq) {
            Some(batch) => {
                if let Some(c) = &mut self.collector {
                    c.ack(&batch);
                }
                self.acked_any = true;
                true
            }
            None => false,
        }
    }

    /// Batch `seq` was not delivered: drop it; the next batch carries its counts again.
    pub fn forget(&mut self, seq: u32) -> bool {
        self.take(seq).is_some()
    }

    /// How many batches are in flight (built, neither acknowledged nor forgotten).
    pub fn in_flight(&self) -> u32 {
        self.in_flight.len() as u32
    }

    /// The message of the last refusal.
    pub fn error(&self) -> String {
        self.error.clone()
    }
}

impl Sdk {
    fn take(&mut self, seq: u32) -> Option<Batch> {
        let i = self.in_flight.iter().position(|(s, _)| *s == seq)?;
        Some(self.in_flight.remove(i).1)
    }

    fn refuse(&mut self, msg: &str) -> bool {
        msg.clone_into(&mut self.error);
        false
    }
}

/// An index as returned to JavaScript (indices stay far below `i32::MAX`).
fn index(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(-1)
}
