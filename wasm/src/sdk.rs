//! [`Sdk`]: the state behind one `init()` of the npm package (exported to it by `crate::abi`).
//!
//! Every method is infallible from JavaScript's point of view: a refusal is a negative index
//! or `false`, and [`Sdk::error`] holds the message. Nothing here throws, so the JavaScript
//! half needs no exception plumbing on the hot path, and an index is a plain number (no
//! `BigInt`, no object to free).

use crate::clock::PageClock;
use crate::emitters::{Emitters, FAILING, StartError};
use crate::outcomes::Outcomes;
use heartbeat_core::text::push_quoted;
use heartbeat_core::{AggregationTemporality, Batch, Collector, TenantHasher, encode_json};
use std::mem;
use std::sync::Arc;

/// How many unacknowledged batches are remembered: one regular export, plus the final one a
/// page sends on `pagehide` while the regular one is still in flight.
const MAX_IN_FLIGHT: usize = 4;

/// The version of this package (the workspace version), for `telemetry.sdk.version`; the
/// build writes it into the JavaScript half (`package.json` has the same version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// An outcome being declared: [`Sdk::outcome`], then [`Sdk::part`], then [`Sdk::declare`].
#[derive(Default)]
struct Draft {
    name: String,
    attributes: Vec<(String, String)>,
    reasons: Vec<String>,
}

/// The counts, the heartbeats and the delta collector of one page.
pub struct Sdk {
    /// Always `Some` between calls (taken to add a resource attribute).
    collector: Option<Collector>,
    fixed: bool,
    outcomes: Outcomes,
    draft: Draft,
    emitters: Emitters,
    /// Each batch in flight, with the status version it carries.
    in_flight: Vec<(u32, Batch, u32)>,
    next_seq: u32,
    acked_any: bool,
    /// The status version of the last acknowledged batch.
    acked_status: u32,
    error: String,
}

impl Sdk {
    /// A new, empty state. `tenant_limit` is the default number of tenants per outcome before
    /// overflow (`0`: the core's default, 1000).
    pub fn new(tenant_limit: u32) -> Sdk {
        Sdk {
            collector: Some(Collector::standalone(
                Arc::new(PageClock),
                AggregationTemporality::Delta,
            )),
            fixed: false,
            outcomes: Outcomes::new(tenant_limit as usize),
            draft: Draft::default(),
            emitters: Emitters::default(),
            in_flight: Vec::new(),
            next_seq: 0,
            acked_any: false,
            acked_status: 0,
            error: String::new(),
        }
    }

    /// Adds a resource attribute to every batch (before the first [`Sdk::collect`]; a later
    /// one is refused). Give each key once: the JavaScript half merges the options first.
    ///
    /// An empty `key` (never a resource attribute) sets the tenant-hashing salt instead:
    /// [`Sdk::hash_tenants`]`(value)`, through this export to keep the module small.
    pub fn resource(&mut self, key: &str, value: &str) -> bool {
        if key.is_empty() {
            return self.hash_tenants(value);
        }
        if self.fixed {
            return self.refuse("resource attributes are fixed once the first batch is built");
        }
        self.collector = self
            .collector
            .take()
            .map(|c| c.with_resource_attribute(key, value));
        true
    }

    /// Starts declaring an outcome named `name`.
    pub fn outcome(&mut self, name: &str) {
        self.draft = Draft {
            name: name.into(),
            ..Draft::default()
        };
    }

    /// Adds to the outcome being declared a fixed attribute `key = value`, or, when `key` is
    /// empty, the failure reason `value`.
    pub fn part(&mut self, key: &str, value: &str) {
        if key.is_empty() {
            self.draft.reasons.push(value.into());
        } else {
            self.draft.attributes.push((key.into(), value.into()));
        }
    }

    /// Declares the outcome (with its own tenant limit unless `tenant_limit` is `0`) and
    /// returns its index, or `-1` with the reason in [`Sdk::error`].
    pub fn declare(&mut self, tenant_limit: u32) -> i32 {
        let d = mem::take(&mut self.draft);
        match self
            .outcomes
            .declare(&d.name, d.attributes, &d.reasons, tenant_limit as usize)
        {
            Ok(i) => index(i),
            Err(e) => {
                self.error = e;
                -1
            }
        }
    }

    /// Records one success of outcome `i` (an unknown index records nothing).
    pub fn success(&mut self, i: u32) {
        self.outcomes.record(i as usize, None, None);
    }

    /// Records one failure of outcome `i`; an empty `reason` is `unspecified`, an undeclared
    /// one is counted as `other`.
    pub fn failure(&mut self, i: u32, reason: &str) {
        self.outcomes.record(i as usize, None, Some(reason));
    }

    /// Records one event of outcome `i` for a tenant: a success, or a failure when `failed`
    /// (`reason` as for [`Sdk::failure`]). Invalid ids and tenants past the limit count in the
    /// `_overflow` series.
    pub fn tenant(&mut self, i: u32, tenant: &str, failed: bool, reason: &str) {
        let reason = if failed { Some(reason) } else { None };
        self.outcomes.record(i as usize, Some(tenant), reason);
    }

    /// Starts the heartbeat `name` (restarting a stopped one keeps its count) and returns its
    /// index, or `-1` with the reason in [`Sdk::error`].
    pub fn emitter(&mut self, name: &str) -> i32 {
        match self.emitters.start(name) {
            Ok(i) => index(i),
            Err(StartError::InvalidName(e)) => {
                self.error = e;
                -1
            }
            Err(StartError::Duplicate) => {
                let mut e = String::from("a heartbeat named ");
                push_quoted(&mut e, name);
                e.push_str(" is running; stop it first, or choose another name");
                self.error = e;
                -1
            }
        }
    }

    /// Counts one beat of heartbeat `i`, or stops it when `stop` (its count is still reported).
    /// `false` if it was not running.
    pub fn beat(&mut self, i: u32, stop: bool) -> bool {
        if stop {
            self.emitters.stop(i as usize)
        } else {
            self.emitters.beat(i as usize)
        }
    }

    /// Sets the state of heartbeat `i` for the `heartbeat.emitter.status` gauge: failing with
    /// `reason` (beats are then held), or beating again when `reason` is empty. `false` if it
    /// is stopped or unknown, or if the reason is not snake_case (it is then sent as `other`).
    pub fn fail(&mut self, i: u32, reason: &str) -> bool {
        let status = if reason.is_empty() { 0 } else { FAILING };
        self.emitters.status(i as usize, status, reason)
    }

    /// Builds the next batch and returns its OTLP/JSON body, or `None` when there is nothing
    /// to send: every delta is zero, no heartbeat changed state, and an earlier batch was
    /// acknowledged (the first batch is always sent, to declare every series at zero). `force`
    /// sends even an all-zero batch. Every batch carries each heartbeat's current state.
    ///
    /// The batch stays in flight under [`Sdk::seq`] until [`Sdk::ack`] or [`Sdk::forget`].
    /// Keep one in flight at a time (see [`heartbeat_core::Collector`]); the exception is the final
    /// batch on `pagehide`, after acknowledging the one still in flight.
    pub fn collect(&mut self, force: bool) -> Option<String> {
        let collector = self.collector.as_ref()?;
        self.fixed = true;
        let (outcomes, emitters) = (&self.outcomes, &self.emitters);
        let batch = collector.collect_with(|b| {
            outcomes.push_to(b);
            emitters.push_to(b);
        });
        let news = batch
            .metrics
            .iter()
            .any(|m| m.points.iter().any(|p| p.value > 0));
        let status = self.emitters.version;
        if !(news || force || !self.acked_any || status != self.acked_status) {
            return None;
        }
        let mut body = encode_json(&batch);
        // The gauge joins the metrics list, before the closing `]}]}]}` of the encoder's layout.
        const TAIL: &str = "]}]}]}";
        body.truncate(body.len() - TAIL.len());
        let comma = !batch.metrics.is_empty();
        self.emitters
            .push_status_json(&mut body, batch.time_unix_nano, comma);
        body.push_str(TAIL);
        self.next_seq = self.next_seq.wrapping_add(1);
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            self.in_flight.remove(0);
        }
        self.in_flight.push((self.next_seq, batch, status));
        Some(body)
    }

    /// The sequence number of the batch the last [`Sdk::collect`] built.
    pub fn seq(&self) -> u32 {
        self.next_seq
    }

    /// Settles batch `seq`: `delivered` (the collector accepted it) commits its counts, so they
    /// are not sent again; otherwise it is dropped and the next batch carries its counts again.
    /// `false` if `seq` is unknown (settled before).
    pub fn settle(&mut self, seq: u32, delivered: bool) -> bool {
        let i = self.in_flight.iter().position(|(s, _, _)| *s == seq);
        let Some(i) = i else {
            return false;
        };
        let (_, batch, status) = self.in_flight.remove(i);
        if delivered {
            if let Some(c) = &mut self.collector {
                c.ack(&batch);
            }
            self.acked_any = true;
            self.acked_status = status;
        }
        true
    }

    /// The message of the last refusal.
    pub fn error(&self) -> String {
        self.error.clone()
    }
}

impl Sdk {
    /// Hashes tenant ids with `salt` before they are exported, as the native SDK's
    /// `with_tenant_hashing` does (the same function, so the same values). Call it before the
    /// first tenant is recorded. `false` for a bad salt, with the native message in
    /// [`Sdk::error`] (a long salt is not shown).
    pub fn hash_tenants(&mut self, salt: &str) -> bool {
        match TenantHasher::new(salt) {
            Ok(h) => {
                self.outcomes.hasher = Some(h);
                true
            }
            // The native message, without the `fmt` machinery.
            Err(e) => {
                self.error.clear();
                e.write_to(&mut self.error);
                false
            }
        }
    }

    /// The beats of heartbeat `i` so far (the JavaScript half counts its own handle's beats).
    pub fn beats(&self, i: u32) -> u64 {
        self.emitters.beats(i as usize)
    }

    /// How many batches are in flight (built, neither acknowledged nor forgotten).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// [`Sdk::settle`] as delivered.
    pub fn ack(&mut self, seq: u32) -> bool {
        self.settle(seq, true)
    }

    /// [`Sdk::settle`] as not delivered.
    pub fn forget(&mut self, seq: u32) -> bool {
        self.settle(seq, false)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_change_alone_is_sent_once_and_carried_by_every_batch() {
        let mut sdk = Sdk::new(0);
        let web = sdk.emitter("web") as u32;
        let body = sdk.collect(false).unwrap();
        assert!(
            body.ends_with(r#""asInt":"0"}]}}]}]}]}"#),
            "the gauge closes the metrics list: {body}"
        );
        assert!(sdk.ack(sdk.seq()));
        assert_eq!(sdk.collect(false), None, "nothing changed");
        assert!(sdk.fail(web, "socket_closed"));
        let body = sdk.collect(false).expect("a new status is news");
        assert!(
            body.contains(r#""stringValue":"socket_closed"}}],"timeUnixNano""#),
            "{body}"
        );
        assert!(sdk.forget(sdk.seq()));
        assert!(sdk.collect(false).is_some(), "not acknowledged: sent again");
        assert!(sdk.ack(sdk.seq()));
        assert_eq!(sdk.collect(false), None);
        assert!(!sdk.beat(web, false), "held while failing");
        assert!(sdk.fail(web, ""));
        assert!(sdk.beat(web, false));
        assert!(sdk.beat(web, true));
        let body = sdk.collect(false).unwrap();
        assert!(body.contains(r#""asInt":"2"}]}}"#), "stopped: {body}");
        assert!(!sdk.fail(web, "late"), "a stopped heartbeat stays stopped");
    }

    #[test]
    fn a_bad_salt_is_refused_with_the_native_message() {
        for salt in [String::new(), "k".repeat(256), "s".repeat(1000)] {
            let mut sdk = Sdk::new(0);
            assert!(!sdk.hash_tenants(&salt));
            let native = TenantHasher::new(&salt).unwrap_err().to_string();
            assert_eq!(sdk.error(), native);
            assert!(!sdk.error().contains("kkkk") && !sdk.error().contains("ssss"));
        }
        let mut sdk = Sdk::new(0);
        assert!(sdk.hash_tenants(&"k".repeat(255)));
        assert_eq!(sdk.error(), "");
    }

    /// The JavaScript half sets the salt as a resource attribute with an empty key.
    #[test]
    fn an_empty_resource_key_sets_the_salt_and_adds_no_attribute() {
        let mut sdk = Sdk::new(0);
        assert!(!sdk.resource("", ""));
        assert_eq!(sdk.error(), TenantHasher::new("").unwrap_err().to_string());
        assert!(sdk.resource("", "s3cret-salt"));
        sdk.outcome("message.send");
        let send = sdk.declare(0) as u32;
        sdk.tenant(send, "acme", false, "");
        let body = sdk.collect(false).unwrap();
        // acme with salt s3cret-salt (core/tests/data/tenant_hash_vectors.json, from OpenSSL).
        assert!(
            body.contains(r#""stringValue":"h-6614d812eeab4e05""#),
            "{body}"
        );
        assert!(!body.contains("acme"), "{body}");
        assert!(!body.contains("s3cret"), "{body}");
        assert!(
            !body.contains(r#"{"key":"","#),
            "no attribute with an empty key: {body}"
        );
    }
}
