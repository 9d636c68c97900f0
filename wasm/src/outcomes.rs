//! Outcome counting for one page, with the native SDK's semantics and none of its
//! multi-threaded machinery (a page runs one thread: no thread-local shards, no locks, no hash
//! maps, which together would more than double the module).
//!
//! What matches the native `Registry` exactly (checked by the `same_as_native` tests):
//! the validation rules and their messages; the reserved reasons `unspecified`, `abandoned`,
//! `panicked` and `other`, with undeclared reasons counted as `other`; the fixed attributes
//! sorted by key; tenants admitted first come, first served up to the limit, with invalid ids
//! and latecomers counted in `_overflow`; the self-health counts; and the series reported:
//! every untenanted series from the start, tenant rows' success always and their failures once
//! non-zero, the overflow row once it counted anything; and, with tenant hashing, the core's
//! [`TenantHasher`] applied to valid ids only.
//!
//! What differs: a page never evicts a tenant. The native registry promotes a heavy tenant
//! that arrives after the limit in place of the least active one at a collection
//! (`docs/semantic-conventions.md`, "Heavy hitters"); a page records for a handful of tenants,
//! far below the limit, and that rule would not fit the package's size budget.
//!
//! The validation and its messages are the core's ([`declaration`], [`Refusal`]), which the
//! native `OutcomeBuilder::build` calls too, so both refuse the same inputs with the same text.
//!
//! With hashing, rows are kept and looked up by the hashed id, so the raw id is not kept at
//! all: each tenant event hashes its id again (tens of nanoseconds for a short id, at the rate
//! a page records), which costs less code than a second key per row.

use heartbeat_core::semconv::{
    ATTR_OUTCOME, ATTR_REASON, ATTR_RESULT, ATTR_TENANT, DESCRIPTION_OUTCOMES,
    DESCRIPTION_SDK_INPUTS_CORRECTED, METRIC_OUTCOMES, METRIC_SDK_INPUTS_CORRECTED,
    RESERVED_REASONS as RESERVED, UNIT_OUTCOMES, UNIT_SDK_INPUTS_CORRECTED,
};
use heartbeat_core::validate::{Refusal, declaration, value_check};
use heartbeat_core::{Batch, DEFAULT_TENANT_LIMIT, OVERFLOW_TENANT, TenantHasher};
/// The slot of `other` among the reasons (the reserved ones come first).
const OTHER: usize = 3;

type Attributes = Vec<(String, String)>;

/// One tenant's counts: slot 0 success, slot `1 + i` failure with reason `i`.
struct Row {
    tenant: String,
    counts: Vec<u64>,
}

impl Row {
    fn new(tenant: &str, slots: usize) -> Self {
        Row {
            tenant: tenant.into(),
            counts: vec![0; slots],
        }
    }

    fn add(&mut self, slot: usize) {
        if let Some(c) = self.counts.get_mut(slot) {
            *c = c.wrapping_add(1);
        }
    }
}

struct Outcome {
    name: String,
    attributes: Attributes,
    reasons: Vec<String>,
    /// The untenanted series.
    row: Row,
    /// Admitted tenants, sorted by their `heartbeat.tenant` value (the id, or its hash) for lookup.
    tenants: Vec<Row>,
    overflow: Row,
    tenant_limit: usize,
}

/// Inputs corrected rather than refused, as in the native `RegistryHealth`.
#[derive(Default)]
struct Health {
    invalid_tenants: u64,
    overflowed_tenants: u64,
    undeclared_reasons: u64,
}

/// Every outcome declared on the page.
pub(crate) struct Outcomes {
    all: Vec<Outcome>,
    tenant_limit: usize,
    /// Set before the first tenant is recorded (by `Sdk::hash_tenants`).
    pub(crate) hasher: Option<TenantHasher>,
    health: Health,
}

impl Outcomes {
    /// No outcomes yet; `tenant_limit` is the default per outcome (`0`: 1000, as natively).
    pub(crate) fn new(tenant_limit: usize) -> Self {
        Outcomes {
            all: Vec::new(),
            tenant_limit: if tenant_limit == 0 {
                DEFAULT_TENANT_LIMIT
            } else {
                tenant_limit
            },
            hasher: None,
            health: Health::default(),
        }
    }

    /// Declares an outcome, or finds the same declaration (name, attributes and reasons);
    /// the error text is the native `OutcomeError`'s.
    pub(crate) fn declare(
        &mut self,
        name: &str,
        mut attributes: Attributes,
        declared: &[String],
        tenant_limit: usize,
    ) -> Result<usize, String> {
        let reasons = match declaration(name, &mut attributes, declared) {
            Ok(reasons) => reasons,
            Err(refusal) => return Err(message(&refusal)),
        };
        if let Some(i) = self
            .all
            .iter()
            .position(|o| *o.name == *name && o.attributes == attributes)
        {
            if self.all[i].reasons == reasons {
                return Ok(i);
            }
            return Err(message(&Refusal::Conflict {
                outcome: name,
                existing: &self.all[i].reasons[RESERVED.len()..],
            }));
        }
        let slots = 1 + reasons.len();
        self.all.push(Outcome {
            name: name.into(),
            attributes,
            reasons,
            row: Row::new("", slots),
            tenants: Vec::new(),
            overflow: Row::new(OVERFLOW_TENANT, slots),
            tenant_limit: if tenant_limit == 0 {
                self.tenant_limit
            } else {
                tenant_limit
            },
        });
        Ok(self.all.len() - 1)
    }

    /// Records one event of outcome `i`: success when `reason` is `None`, else a failure with
    /// that reason (`""`: unspecified); for `tenant`'s row when given. Unknown `i`: nothing.
    pub(crate) fn record(&mut self, i: usize, tenant: Option<&str>, reason: Option<&str>) {
        let Some(o) = self.all.get_mut(i) else {
            return;
        };
        let slot = match reason {
            None => 0,
            Some("") => 1,
            Some(r) => {
                1 + match o.reasons.iter().position(|have| **have == *r) {
                    Some(slot) => slot,
                    None => {
                        self.health.undeclared_reasons += 1;
                        OTHER
                    }
                }
            }
        };
        let Some(tenant) = tenant else {
            o.row.add(slot);
            return;
        };
        // The raw id is validated first; only a valid one is hashed. An invalid one (never
        // equal to a hash, which is 18 visible characters) then misses in the lookup below.
        let hashed;
        let key = match &self.hasher {
            Some(h) if value_check(tenant).is_none() => {
                hashed = h.hash(tenant);
                &hashed
            }
            _ => tenant,
        };
        match o.tenants.binary_search_by(|r| (*r.tenant).cmp(key)) {
            Ok(t) => o.tenants[t].add(slot),
            Err(_) if value_check(tenant).is_some() || tenant == OVERFLOW_TENANT => {
                self.health.invalid_tenants += 1;
                o.overflow.add(slot);
            }
            Err(_) if o.tenants.len() >= o.tenant_limit => {
                self.health.overflowed_tenants += 1;
                o.overflow.add(slot);
            }
            Err(at) => {
                let mut row = Row::new(key, o.row.counts.len());
                row.add(slot);
                o.tenants.insert(at, row);
            }
        }
    }

    /// Pushes every series with its cumulative count, as the native collector does.
    pub(crate) fn push_to(&self, batch: &mut Batch) {
        for o in &self.all {
            push_row(batch, o, &o.row, false);
            for row in &o.tenants {
                push_row(batch, o, row, true);
            }
            if o.overflow.counts.iter().any(|c| *c > 0) {
                push_row(batch, o, &o.overflow, true);
            }
        }
        let h = &self.health;
        for (reason, value) in [
            ("invalid_tenant", h.invalid_tenants),
            ("overflowed_tenant", h.overflowed_tenants),
            ("undeclared_reason", h.undeclared_reasons),
        ] {
            batch.push_sum(
                METRIC_SDK_INPUTS_CORRECTED,
                UNIT_SDK_INPUTS_CORRECTED,
                DESCRIPTION_SDK_INPUTS_CORRECTED,
                vec![(ATTR_REASON.into(), reason.into())],
                value,
            );
        }
    }
}

/// One row's series: success always; failures always untenanted, once non-zero for tenants.
fn push_row(batch: &mut Batch, o: &Outcome, row: &Row, tenanted: bool) {
    for (slot, value) in row.counts.iter().enumerate() {
        if tenanted && slot > 0 && *value == 0 {
            continue;
        }
        let mut attributes = Vec::with_capacity(4 + o.attributes.len());
        attributes.push((ATTR_OUTCOME.into(), o.name.clone()));
        attributes.extend(o.attributes.iter().cloned());
        let result = if slot == 0 { "success" } else { "failure" };
        attributes.push((ATTR_RESULT.into(), result.into()));
        if let Some(reason) = slot.checked_sub(1).and_then(|r| o.reasons.get(r)) {
            attributes.push((ATTR_REASON.into(), reason.clone()));
        }
        if tenanted {
            attributes.push((ATTR_TENANT.into(), row.tenant.clone()));
        }
        batch.push_sum(
            METRIC_OUTCOMES,
            UNIT_OUTCOMES,
            DESCRIPTION_OUTCOMES,
            attributes,
            *value,
        );
    }
}

/// A refusal's message, as the native `OutcomeError` shows it.
pub(crate) fn message(refusal: &Refusal<'_>) -> String {
    let mut e = String::new();
    refusal.write_to(&mut e);
    e
}

#[cfg(test)]
mod same_as_native {
    //! The browser's counting against the native `Registry` and `Collector`: the same inputs
    //! give the same refusals (to the letter) and the same series with the same values.
    use super::*;
    use heartbeat_core::{AggregationTemporality, Collector, Registry};
    use std::collections::BTreeMap;

    type Decl<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);

    fn native(
        registry: &Registry,
        (name, attrs, reasons): Decl<'_>,
    ) -> Result<heartbeat_core::Outcome, String> {
        let mut b = registry.outcome(name).with_reasons(reasons.iter().copied());
        for (k, v) in attrs {
            b = b.with_attribute(*k, *v);
        }
        b.build().map_err(|e| e.to_string())
    }

    fn browser(outcomes: &mut Outcomes, (name, attrs, reasons): Decl<'_>) -> Result<usize, String> {
        let attrs = attrs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let reasons: Vec<String> = reasons.iter().map(|r| (*r).into()).collect();
        outcomes.declare(name, attrs, &reasons, 0)
    }

    #[test]
    fn declarations_are_refused_with_the_same_messages() {
        let long = "x".repeat(300);
        let too_many: Vec<String> = (0..33).map(|i| format!("r{i}")).collect();
        let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
        let long_value = [("surface", long.as_str())];
        let cases: Vec<Decl<'_>> = vec![
            (
                "message.send",
                &[("surface", "web_messenger")],
                &["timeout", "rejected"],
            ),
            ("ai/answer-produced_v2", &[], &[]),
            ("", &[], &[]),
            ("1bad", &[], &[]),
            ("has space", &[], &[]),
            (&long, &[], &[]),
            ("ok", &[("heartbeat.tenant", "x")], &[]),
            ("ok", &[("1key", "x")], &[]),
            ("ok", &[("surface", "")], &[]),
            ("ok", &[("surface", "a\nb\u{1b}\"q\"\\")], &[]),
            ("ok", &long_value, &[]),
            ("ok", &[("a", "1"), ("a", "2")], &[]),
            ("ok", &[], &["Timeout"]),
            ("ok", &[], &["time out"]),
            ("ok", &[], &[""]),
            ("ok", &[], &too_many),
            (
                "message.send",
                &[("surface", "web_messenger")],
                &["timeout"],
            ),
            (
                "message.send",
                &[("surface", "web_messenger")],
                &["timeout", "rejected"],
            ),
        ];
        let registry = Registry::new();
        let mut outcomes = Outcomes::new(0);
        for case in cases {
            let n = native(&registry, case).map(|_| ());
            let b = browser(&mut outcomes, case).map(|_| ());
            assert_eq!(b, n, "{:?}", case.0);
        }
    }

    fn points(batch: &Batch) -> BTreeMap<String, u64> {
        batch
            .metrics
            .iter()
            .filter(|m| m.name == METRIC_OUTCOMES)
            .flat_map(|m| m.points.iter().map(move |p| (m, p)))
            .map(|(m, p)| {
                let key = format!("{} {} {} {:?}", m.name, m.unit, m.description, p.attributes);
                (key, p.value)
            })
            .collect()
    }

    #[test]
    fn the_same_events_give_the_same_series_and_values() {
        same_series_and_values(None);
    }

    #[test]
    fn with_tenant_hashing_the_same_events_give_the_same_series_and_values() {
        let hasher = TenantHasher::new("s3cret-salt").unwrap();
        let tenants = same_series_and_values(Some(hasher));
        // acme (core/tests/data/tenant_hash_vectors.json, computed with OpenSSL), and no raw id.
        assert!(tenants.contains("h-6614d812eeab4e05"), "{tenants}");
        assert!(tenants.contains("_overflow"), "{tenants}");
        for raw in ["acme", "globex", "initech"] {
            assert!(!tenants.contains(raw), "{tenants}");
        }
    }

    /// Records the same events natively and in the browser's counting; returns the browser's
    /// series keys.
    fn same_series_and_values(hasher: Option<TenantHasher>) -> String {
        let mut registry = Registry::builder().with_tenant_limit(2);
        if let Some(h) = hasher {
            registry = registry.with_tenant_hasher(h);
        }
        let registry = registry.build();
        let mut outcomes = Outcomes::new(2);
        outcomes.hasher = hasher;
        let decls: [Decl<'_>; 2] = [
            (
                "message.send",
                &[("surface", "web_messenger"), ("app", "chat")],
                &["timeout"],
            ),
            ("reply.deliver", &[], &[]),
        ];
        let native: Vec<_> = decls
            .iter()
            .map(|d| native(&registry, *d).unwrap())
            .collect();
        let browser: Vec<_> = decls
            .iter()
            .map(|d| browser(&mut outcomes, *d).unwrap())
            .collect();
        // (outcome, tenant, reason): None reason is a success, "" a failure without reason.
        let events: &[(usize, Option<&str>, Option<&str>)] = &[
            (0, None, None),
            (0, None, None),
            (0, None, Some("timeout")),
            (0, None, Some("")),
            (0, None, Some("weird")),
            (0, Some("acme"), None),
            (0, Some("acme"), Some("timeout")),
            (0, Some("globex"), None),
            (0, Some("initech"), None),     // past the limit of 2
            (0, Some(""), Some("timeout")), // invalid
            (0, Some("_overflow"), None),   // reserved
            (1, Some("acme"), Some("nope")),
            (1, Some("a\u{7}b"), None), // invalid
            (1, None, None),
        ];
        for &(o, tenant, reason) in events {
            let n = &native[o];
            match (tenant, reason) {
                (None, None) => n.success(),
                (None, Some("")) => n.failure(),
                (None, Some(r)) => n.failure_with(r),
                (Some(t), None) => n.success_for(t),
                (Some(t), Some("")) => n.failure_for(t),
                (Some(t), Some(r)) => n.failure_for_with(t, r),
            }
            outcomes.record(browser[o], tenant, reason);
        }
        let n = Collector::new(&registry, AggregationTemporality::Cumulative).collect();
        let mut b = Batch::new(
            AggregationTemporality::Cumulative,
            std::time::Duration::ZERO,
            std::time::Duration::ZERO,
        );
        outcomes.push_to(&mut b);
        assert!(points(&n).len() > 10);
        assert_eq!(points(&b), points(&n));
        let keys: Vec<String> = points(&b).into_keys().collect();
        let h = registry.health();
        assert_eq!(
            (
                h.invalid_tenants,
                h.overflowed_tenants,
                h.undeclared_reasons
            ),
            (
                outcomes.health.invalid_tenants,
                outcomes.health.overflowed_tenants,
                outcomes.health.undeclared_reasons
            )
        );
        keys.join("\n")
    }
}
