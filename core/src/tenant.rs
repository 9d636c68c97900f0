//! Per-tenant drill-down: a bounded table of tenants with one overflow row.
//!
//! Tenants are admitted first come, first served up to the limit and are never evicted, so an
//! admitted tenant's cumulative series stays monotonic. Past the limit, and for invalid tenant
//! ids, counts go to one overflow row per outcome that keeps the outcome, its fixed attributes,
//! the result and the reason (the OpenTelemetry SDK's overflow series keeps none of them).
//! Every event lands in exactly one row, so the sum over all rows equals the number of events.
//!
//! With a [`TenantHasher`], rows are still looked up by the raw id (so a known tenant costs the
//! same map lookup as without hashing), and the row's exported value is the id's hash, computed
//! once when the tenant is admitted. Ids are validated before hashing: an invalid id counts in
//! the overflow row exactly as without hashing, and `"_overflow"` is never hashed.

use super::health::Health;
use super::tenant_hash::TenantHasher;
use super::validate::value_problem;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};

pub use crate::semconv::OVERFLOW_TENANT;

/// The default number of distinct tenants tracked per outcome before overflow.
pub const DEFAULT_TENANT_LIMIT: usize = 1000;

/// One tenant's counts: slot 0 is success, slot `1 + i` failure with reason `i`.
pub(crate) struct TenantCells {
    /// The `heartbeat.tenant` value: the id, or its hash (never the raw id when hashing).
    pub(crate) tenant: Box<str>,
    counts: Box<[AtomicU64]>,
}

impl TenantCells {
    fn new(tenant: Box<str>, slots: usize) -> Self {
        Self {
            tenant,
            counts: (0..slots).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    #[inline]
    pub(crate) fn add(&self, slot: usize) {
        if let Some(c) = self.counts.get(slot) {
            c.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn get(&self, slot: usize) -> u64 {
        self.counts.get(slot).map_or(0, |c| c.load(Relaxed))
    }
}

/// Rows by raw tenant id (held in memory only, never exported).
type Map = HashMap<Box<str>, Arc<TenantCells>, foldhash::fast::RandomState>;

pub(crate) struct TenantTable {
    limit: usize,
    slots: usize,
    hasher: Option<TenantHasher>,
    map: RwLock<Map>,
    overflow: Arc<TenantCells>,
}

impl TenantTable {
    pub(crate) fn new(limit: usize, slots: usize, hasher: Option<TenantHasher>) -> Self {
        Self {
            limit,
            slots,
            hasher,
            map: RwLock::new(Map::default()),
            overflow: Arc::new(TenantCells::new(OVERFLOW_TENANT.into(), slots)),
        }
    }

    /// Adds one to `slot` of `tenant` without cloning anything on the common path.
    #[inline]
    pub(crate) fn add(&self, tenant: &str, slot: usize, health: &Health) {
        {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(cells) = map.get(tenant) {
                cells.add(slot);
                return;
            }
        }
        self.resolve(tenant, health).add(slot);
    }

    /// The row that `tenant` counts in, admitting it if there is room.
    pub(crate) fn resolve(&self, tenant: &str, health: &Health) -> Arc<TenantCells> {
        {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(cells) = map.get(tenant) {
                return Arc::clone(cells);
            }
            if value_problem(tenant).is_some() || tenant == OVERFLOW_TENANT {
                health.invalid_tenants.fetch_add(1, Relaxed);
                return Arc::clone(&self.overflow);
            }
            if map.len() >= self.limit {
                // Full: no need to queue on the write lock.
                health.overflowed_tenants.fetch_add(1, Relaxed);
                return Arc::clone(&self.overflow);
            }
        }
        // Hashed outside the write lock; a racing admission of the same tenant hashes twice.
        let wire: Box<str> = match &self.hasher {
            Some(hasher) => hasher.hash(tenant).into(),
            None => tenant.into(),
        };
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(cells) = map.get(tenant) {
            return Arc::clone(cells);
        }
        if map.len() >= self.limit {
            health.overflowed_tenants.fetch_add(1, Relaxed);
            return Arc::clone(&self.overflow);
        }
        let cells = Arc::new(TenantCells::new(wire, self.slots));
        map.insert(tenant.into(), Arc::clone(&cells));
        cells
    }

    /// Visits every tenant row, then the overflow row if it has counted anything.
    pub(crate) fn visit(&self, f: impl FnMut(&TenantCells)) {
        self.visit_with(&mut Vec::new(), f);
    }

    /// Like [`TenantTable::visit`], with the rows copied out of the lock into `rows` (emptied
    /// before and after) rather than into a new `Vec`: a collector that keeps `rows` between
    /// visits allocates nothing once it is large enough.
    pub(crate) fn visit_with(
        &self,
        rows: &mut Vec<Arc<TenantCells>>,
        mut f: impl FnMut(&TenantCells),
    ) {
        rows.clear();
        rows.extend(
            self.map
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .cloned(),
        );
        for row in rows.iter() {
            f(row);
        }
        rows.clear();
        if (0..self.slots).any(|s| self.overflow.get(s) > 0) {
            f(&self.overflow);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::registry::Registry;
    use crate::tenant_hash::TenantHasher;
    use std::collections::BTreeMap;

    /// Every series as (tenant, result, reason) -> value.
    fn series(registry: &Registry) -> BTreeMap<(Option<String>, &'static str, String), u64> {
        let mut out = BTreeMap::new();
        registry.collect(|s| {
            let key = (
                s.tenant().map(str::to_owned),
                s.result().as_str(),
                s.reason().unwrap_or_default().to_owned(),
            );
            out.insert(key, s.value());
        });
        out
    }

    fn record(registry: &Registry) {
        let send = registry
            .outcome("message.send")
            .with_reasons(["timeout"])
            .build()
            .unwrap();
        for tenant in ["acme", "acme", "globex", "initech", "", "a\nb", "_overflow"] {
            send.success_for(tenant);
        }
        send.failure_for_with("acme", "timeout");
        send.failure_for("globex");
        let acme = send.tenant("acme");
        acme.success();
        send.tenant("").failure();
    }

    #[test]
    fn hashing_changes_only_the_tenant_values_of_admitted_tenants() {
        let plain = Registry::builder().with_tenant_limit(2).build();
        let hasher = TenantHasher::new("s3cret-salt").unwrap();
        let hashed = Registry::builder()
            .with_tenant_limit(2)
            .with_tenant_hasher(hasher)
            .build();
        record(&plain);
        record(&hashed);
        // The same series with the same values, once each admitted id is replaced by its hash.
        let want: BTreeMap<_, _> = series(&plain)
            .into_iter()
            .map(|((tenant, result, reason), value)| {
                let tenant = tenant.map(|t| match t.as_str() {
                    "_overflow" => t,
                    id => hasher.hash(id),
                });
                ((tenant, result, reason), value)
            })
            .collect();
        let got = series(&hashed);
        assert_eq!(got, want);
        // Admitted first come, first served: acme and globex; initech and the invalid ids overflow.
        let tenants: Vec<_> = got.keys().filter_map(|k| k.0.clone()).collect();
        assert!(
            tenants.contains(&"h-6614d812eeab4e05".to_owned()),
            "{tenants:?}"
        ); // acme
        assert!(tenants.contains(&"_overflow".to_owned()));
        for raw in ["acme", "globex", "initech"] {
            assert!(!tenants.iter().any(|t| t.contains(raw)), "{tenants:?}");
        }
        assert_eq!(hashed.health(), plain.health());
        assert_eq!(hashed.health().invalid_tenants, 4);
        assert_eq!(hashed.health().overflowed_tenants, 1);
    }

    #[test]
    fn a_tenant_handle_and_the_per_call_methods_share_the_hashed_row() {
        let registry = Registry::builder()
            .with_tenant_hasher(TenantHasher::new("salt").unwrap())
            .build();
        let send = registry.outcome("message.send").build().unwrap();
        let acme = send.tenant("acme");
        acme.success();
        send.success_for("acme");
        let debug = format!("{acme:?}");
        assert!(!debug.contains("acme\""), "{debug}");
        let rows: Vec<_> = series(&registry)
            .into_iter()
            .filter(|(k, _)| k.0.is_some())
            .collect();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].1, 2);
    }
}
