//! Per-tenant drill-down: a bounded table of tenants with one overflow row.
//!
//! Tenants are admitted first come, first served up to the limit and are never evicted, so an
//! admitted tenant's cumulative series stays monotonic. Past the limit, and for invalid tenant
//! ids, counts go to one overflow row per outcome that keeps the outcome, its fixed attributes,
//! the result and the reason (the OpenTelemetry SDK's overflow series keeps none of them).
//! Every event lands in exactly one row, so the sum over all rows equals the number of events.

use super::registry::Health;
use super::validate::value_problem;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};

/// The `heartbeat.tenant` value of the overflow series.
pub const OVERFLOW_TENANT: &str = "_overflow";

/// The default number of distinct tenants tracked per outcome before overflow.
pub const DEFAULT_TENANT_LIMIT: usize = 1000;

/// One tenant's counts: slot 0 is success, slot `1 + i` failure with reason `i`.
pub(crate) struct TenantCells {
    pub(crate) tenant: Box<str>,
    counts: Box<[AtomicU64]>,
}

impl TenantCells {
    fn new(tenant: &str, slots: usize) -> Self {
        Self {
            tenant: tenant.into(),
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

type Map = HashMap<Box<str>, Arc<TenantCells>, foldhash::fast::RandomState>;

pub(crate) struct TenantTable {
    limit: usize,
    slots: usize,
    map: RwLock<Map>,
    overflow: Arc<TenantCells>,
}

impl TenantTable {
    pub(crate) fn new(limit: usize, slots: usize) -> Self {
        Self {
            limit,
            slots,
            map: RwLock::new(Map::default()),
            overflow: Arc::new(TenantCells::new(OVERFLOW_TENANT, slots)),
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
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(cells) = map.get(tenant) {
            return Arc::clone(cells);
        }
        if map.len() >= self.limit {
            health.overflowed_tenants.fetch_add(1, Relaxed);
            return Arc::clone(&self.overflow);
        }
        let cells = Arc::new(TenantCells::new(tenant, self.slots));
        map.insert(tenant.into(), Arc::clone(&cells));
        cells
    }

    /// Visits every tenant row, then the overflow row if it has counted anything.
    pub(crate) fn visit(&self, mut f: impl FnMut(&TenantCells)) {
        let rows: Vec<Arc<TenantCells>> = self
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for row in &rows {
            f(row);
        }
        if (0..self.slots).any(|s| self.overflow.get(s) > 0) {
            f(&self.overflow);
        }
    }
}
