//! Per-tenant drill-down: a bounded table of tenants with one overflow row, and heavy-hitter
//! aware admission (`docs/semantic-conventions.md`, "Heavy hitters").
//!
//! Tenants are admitted first come, first served while there is room. Once an outcome has its
//! limit of tenant rows, an event for a tenant without a row counts in one overflow row per
//! outcome that keeps the outcome, its fixed attributes, the result and the reason (the
//! OpenTelemetry SDK's overflow series keeps none of them), and is offered to a small
//! Space-Saving summary of those tenants. At each collection, a tenant of the summary whose
//! guaranteed count in the interval beats the interval count of the least active admitted
//! tenant takes its place: it has its own series from then on, and the displaced tenant's
//! series stays at its last values, while its later events (through handles too) count in the
//! overflow row. Up to the limit of displaced tenants are remembered and reported at their
//! last values (oldest forgotten first), so that a failed export loses nothing and a tenant that
//! comes back resumes its series where it stopped; one promoted without such a memory starts a
//! new series, with the promotion time as its start time.
//!
//! Every event lands in exactly one row, so the sum over all rows reported (with each displaced
//! tenant's last values) equals the number of events. Recording for an admitted tenant through
//! a [`TenantOutcome`](crate::TenantOutcome) handle is one atomic add: the summary, the
//! rebalancing and the bookkeeping of displaced rows happen off that path.
//!
//! With a [`TenantHasher`], rows are still looked up by the raw id (so a known tenant costs the
//! same map lookup as without hashing), and the row's exported value is the id's hash, computed
//! once when the tenant is admitted. Ids are validated before hashing: an invalid id counts in
//! the overflow row exactly as without hashing, and `"_overflow"` is never hashed.

use super::health::Health;
use super::tenant_hash::TenantHasher;
use super::validate::value_problem;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

pub use crate::semconv::OVERFLOW_TENANT;

/// The default number of distinct tenants tracked per outcome before overflow.
pub const DEFAULT_TENANT_LIMIT: usize = 1000;

/// The most tenants without a row that the Space-Saving summary follows in one interval: any
/// tenant with more than 1/32 of the overflowed events of an interval is among them.
pub(crate) const CANDIDATES: usize = 32;

/// One tenant's counts: slot 0 is success, slot `1 + i` failure with reason `i`.
pub(crate) struct TenantCells {
    /// The `heartbeat.tenant` value: the id, or its hash (never the raw id when hashing).
    pub(crate) tenant: Box<str>,
    counts: Box<[AtomicU64]>,
    /// Added to the counts when reported: where a re-admitted tenant's series had stopped.
    offset: Box<[u64]>,
    /// The start of this row's series, when it is not the registry's start.
    start: Option<Duration>,
    /// The sum of the counts at the last collection (used under the book's lock only).
    seen: AtomicU64,
}

impl TenantCells {
    fn new(tenant: Box<str>, slots: usize) -> Self {
        Self::resumed(tenant, vec![0; slots].into(), None)
    }

    fn resumed(tenant: Box<str>, offset: Box<[u64]>, start: Option<Duration>) -> Self {
        Self {
            tenant,
            counts: offset.iter().map(|_| AtomicU64::new(0)).collect(),
            offset,
            start,
            seen: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(crate) fn add(&self, slot: usize) {
        if let Some(c) = self.counts.get(slot) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// The events counted in this row (without the offset).
    fn raw(&self, slot: usize) -> u64 {
        self.counts.get(slot).map_or(0, |c| c.load(Relaxed))
    }

    fn offset(&self, slot: usize) -> u64 {
        self.offset.get(slot).copied().unwrap_or(0)
    }
}

/// One row as a collection reports it.
pub(crate) struct Row<'a> {
    /// The `heartbeat.tenant` value.
    pub(crate) tenant: &'a str,
    /// The start of the row's series, when it is not the registry's start.
    pub(crate) start: Option<Duration>,
    /// The cumulative value of each slot.
    pub(crate) values: &'a [u64],
}

impl Row<'_> {
    pub(crate) fn get(&self, slot: usize) -> u64 {
        self.values.get(slot).copied().unwrap_or(0)
    }
}

/// A tenant of the Space-Saving summary: its count in the interval, of which up to `error`
/// may belong to the tenants it replaced.
struct Candidate {
    id: Box<str>,
    count: u64,
    error: u64,
}

/// A displaced row that a handle may still count in: what it had when it was last reported.
struct Retired {
    cells: Arc<TenantCells>,
    mark: Box<[u64]>,
}

/// A displaced tenant's series, remembered: reported at its last values (so that an export
/// that failed loses nothing), and resumed if the tenant comes back.
struct Paused {
    id: Box<str>,
    tenant: Box<str>,
    values: Box<[u64]>,
    start: Option<Duration>,
}

/// Everything off the recording path, behind one lock.
#[derive(Default)]
struct Book {
    candidates: Vec<Candidate>,
    /// When the last rebalancing ran: collections at the same instant share it.
    rebalanced: Option<Duration>,
    retired: Vec<Retired>,
    /// Per slot: events of dropped retired rows after their last report (they are overflow).
    folded: Vec<u64>,
    /// Per slot: every event of dropped retired rows (for [`TenantTable::events`]).
    dropped: Vec<u64>,
    paused: VecDeque<Paused>,
    values: Vec<u64>,
}

/// Rows by raw tenant id (held in memory only, never exported).
type Map = HashMap<Box<str>, Arc<TenantCells>, foldhash::fast::RandomState>;

pub(crate) struct TenantTable {
    limit: usize,
    slots: usize,
    hasher: Option<TenantHasher>,
    map: RwLock<Map>,
    overflow: Arc<TenantCells>,
    book: Mutex<Book>,
}

impl TenantTable {
    pub(crate) fn new(limit: usize, slots: usize, hasher: Option<TenantHasher>) -> Self {
        Self {
            limit,
            slots,
            hasher,
            map: RwLock::new(Map::default()),
            overflow: Arc::new(TenantCells::new(OVERFLOW_TENANT.into(), slots)),
            book: Mutex::new(Book {
                folded: vec![0; slots],
                dropped: vec![0; slots],
                ..Book::default()
            }),
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
        let cells = self.resolve(tenant, health);
        cells.add(slot);
        if Arc::ptr_eq(&cells, &self.overflow) && value_problem(tenant).is_none() {
            self.offer(tenant);
        }
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
        let wire = self.wire(tenant);
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

    fn wire(&self, tenant: &str) -> Box<str> {
        match &self.hasher {
            Some(hasher) => hasher.hash(tenant).into(),
            None => tenant.into(),
        }
    }

    /// Counts one event of a valid tenant without a row in the Space-Saving summary. Never
    /// waits: while a collection (or another thread) holds the book, the event is not offered.
    fn offer(&self, tenant: &str) {
        let Ok(mut book) = self.book.try_lock() else {
            return;
        };
        let candidates = &mut book.candidates;
        if let Some(c) = candidates.iter_mut().find(|c| *c.id == *tenant) {
            c.count += 1;
        } else if candidates.len() < CANDIDATES {
            candidates.push(Candidate {
                id: tenant.into(),
                count: 1,
                error: 0,
            });
        } else if let Some(min) = candidates.iter_mut().min_by_key(|c| c.count) {
            *min = Candidate {
                id: tenant.into(),
                count: min.count + 1,
                error: min.count,
            };
        }
    }

    /// At a collection: promotes the candidates whose guaranteed count in the interval beats
    /// the least active admitted tenants', displacing those; then starts a new interval.
    fn rebalance(&self, book: &mut Book, now: Duration) {
        if book.candidates.is_empty() {
            return;
        }
        let mut candidates = std::mem::take(&mut book.candidates);
        candidates.sort_by_key(|c| std::cmp::Reverse(c.count - c.error));
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        let mut admitted: Vec<(u64, Box<str>)> = map
            .iter()
            .map(|(id, cells)| {
                let total = (0..self.slots).map(|s| cells.raw(s)).sum::<u64>();
                (total.wrapping_sub(cells.seen.load(Relaxed)), id.clone())
            })
            .collect();
        admitted.sort_unstable();
        for (candidate, (activity, weakest)) in candidates.iter().zip(admitted) {
            if candidate.count - candidate.error <= activity {
                break;
            }
            let Some(displaced) = map.remove(&weakest) else {
                continue;
            };
            // Taken before the displaced row is remembered, which may forget the oldest.
            let paused = book
                .paused
                .iter()
                .position(|p| p.id == candidate.id)
                .and_then(|i| book.paused.remove(i));
            let wire = self.wire(&candidate.id);
            let cells = match paused {
                Some(p) => TenantCells::resumed(wire, p.values, p.start),
                None => TenantCells::resumed(wire, vec![0; self.slots].into(), Some(now)),
            };
            self.displace(book, weakest, displaced);
            map.insert(candidate.id.clone(), Arc::new(cells));
        }
        candidates.clear();
        book.candidates = candidates;
    }

    /// Takes a displaced row out of the live rows: its series stays at its values now, and its
    /// later events (through handles) count in the overflow row.
    fn displace(&self, book: &mut Book, id: Box<str>, cells: Arc<TenantCells>) {
        let mark: Box<[u64]> = (0..self.slots).map(|s| cells.raw(s)).collect();
        book.paused.push_back(Paused {
            id,
            tenant: cells.tenant.clone(),
            values: (0..self.slots)
                .map(|s| mark[s].wrapping_add(cells.offset(s)))
                .collect(),
            start: cells.start,
        });
        if book.paused.len() > self.limit {
            book.paused.pop_front();
        }
        book.retired.push(Retired { cells, mark });
    }

    /// The collection's view: rebalances (see the module docs) unless a collection at the same
    /// instant did, then reports every tenant row, the remembered displaced tenants at their
    /// last values, and the overflow row if it has counted anything. `rows` is emptied before and after; a collector that keeps it between
    /// collections allocates nothing once it is large enough (and no tenant was displaced).
    pub(crate) fn collect_with(
        &self,
        rows: &mut Vec<Arc<TenantCells>>,
        now: Duration,
        mut f: impl FnMut(&Row<'_>),
    ) {
        let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        let book = &mut *book;
        if book.rebalanced.is_none_or(|last| now > last) {
            self.rebalance(book, now);
            book.rebalanced = Some(now);
        }
        rows.clear();
        rows.extend(
            self.map
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .cloned(),
        );
        let mut values = std::mem::take(&mut book.values);
        for cells in rows.iter() {
            values.clear();
            let mut total = 0u64;
            for s in 0..self.slots {
                let raw = cells.raw(s);
                total = total.wrapping_add(raw);
                values.push(raw.wrapping_add(cells.offset(s)));
            }
            cells.seen.store(total, Relaxed);
            // A tenant promoted to a new series shows once it has counted something in it.
            if cells.start.is_some() && values.iter().all(|v| *v == 0) {
                continue;
            }
            f(&Row {
                tenant: &cells.tenant,
                start: cells.start,
                values: &values,
            });
        }
        rows.clear();
        for paused in &book.paused {
            f(&Row {
                tenant: &paused.tenant,
                start: paused.start,
                values: &paused.values,
            });
        }
        // A retired row no handle holds any more counts nothing more: fold it in for good.
        let (folded, dropped) = (&mut book.folded, &mut book.dropped);
        book.retired.retain(|r| {
            if Arc::strong_count(&r.cells) > 1 {
                return true;
            }
            for s in 0..self.slots {
                let raw = r.cells.raw(s);
                folded[s] = folded[s].wrapping_add(raw.wrapping_sub(r.mark[s]));
                dropped[s] = dropped[s].wrapping_add(raw);
            }
            false
        });
        values.clear();
        values.extend((0..self.slots).map(|s| {
            let retired = book.retired.iter().fold(0u64, |sum, r| {
                sum.wrapping_add(r.cells.raw(s).wrapping_sub(r.mark[s]))
            });
            self.overflow
                .raw(s)
                .wrapping_add(book.folded[s])
                .wrapping_add(retired)
        }));
        if values.iter().any(|v| *v > 0) {
            f(&Row {
                tenant: OVERFLOW_TENANT,
                start: None,
                values: &values,
            });
        }
        book.values = values;
    }

    /// Every event counted in `slot` over all rows since the registry started (admitted,
    /// displaced and overflow): monotonic.
    pub(crate) fn events(&self, slot: usize) -> u64 {
        let book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        let admitted = self
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .fold(0u64, |sum, c| sum.wrapping_add(c.raw(slot)));
        book.retired
            .iter()
            .fold(admitted, |sum, r| sum.wrapping_add(r.cells.raw(slot)))
            .wrapping_add(self.overflow.raw(slot))
            .wrapping_add(book.dropped.get(slot).copied().unwrap_or(0))
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

#[cfg(test)]
mod heavy_hitters {
    //! The heavy-hitter rule of `docs/semantic-conventions.md`: promotion, displacement,
    //! resumption, and totals that stay exact whatever happens.
    use crate::clock::ManualClock;
    use crate::registry::Registry;
    use crate::{Outcome, TenantOutcome};
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    /// A series as a backend keys it: tenant, slot (0 success, else the reason), start time.
    type Key = (Option<String>, String, Option<Duration>);

    struct Fixture {
        clock: ManualClock,
        registry: Registry,
        send: Outcome,
    }

    fn fixture(limit: usize) -> Fixture {
        let clock = ManualClock::starting_at(Duration::from_secs(1_000));
        let registry = Registry::builder()
            .with_clock(Arc::new(clock.clone()))
            .with_tenant_limit(limit)
            .build();
        let send = registry
            .outcome("message.send")
            .with_reasons(["timeout"])
            .build()
            .unwrap();
        Fixture {
            clock,
            registry,
            send,
        }
    }

    impl Fixture {
        /// One collection, a second after the last: every series reported, by key.
        fn collect(&self) -> BTreeMap<Key, u64> {
            self.clock.advance(Duration::from_secs(1));
            let mut out = BTreeMap::new();
            self.registry.collect(|s| {
                let key = (
                    s.tenant().map(str::to_owned),
                    s.reason().unwrap_or("success").to_owned(),
                    s.start_time(),
                );
                out.insert(key, s.value());
            });
            out
        }
    }

    fn tenant_value(series: &BTreeMap<Key, u64>, tenant: &str) -> Option<u64> {
        series
            .iter()
            .find(|((t, r, _), _)| t.as_deref() == Some(tenant) && r == "success")
            .map(|(_, v)| *v)
    }

    #[test]
    fn a_large_tenant_that_arrives_after_the_limit_gets_its_own_series_at_the_next_collection() {
        let f = fixture(2);
        f.send.success_for("acme");
        f.send.success_for("globex");
        f.send.success_for("globex");
        let first = f.collect();
        assert_eq!(tenant_value(&first, "acme"), Some(1));
        for _ in 0..10 {
            f.send.success_for("bigco");
        }
        f.send.success_for("globex");
        let second = f.collect();
        // bigco's ten events of the interval stay in _overflow; bigco has its own row now (its
        // series shows once it counts), and acme (the least active) is reported one last time.
        assert_eq!(tenant_value(&second, "_overflow"), Some(10));
        assert_eq!(tenant_value(&second, "bigco"), None);
        assert_eq!(tenant_value(&second, "acme"), Some(1));
        assert_eq!(tenant_value(&second, "globex"), Some(3));
        for _ in 0..5 {
            f.send.success_for("bigco");
        }
        f.send.success_for("acme");
        f.send.success_for("globex");
        f.send.success_for("globex");
        let third = f.collect();
        assert_eq!(tenant_value(&third, "bigco"), Some(5));
        assert_eq!(
            tenant_value(&third, "acme"),
            Some(1),
            "frozen at its last value"
        );
        assert_eq!(
            tenant_value(&third, "_overflow"),
            Some(11),
            "acme's later event"
        );
        assert_eq!(tenant_value(&third, "globex"), Some(5));
        assert_eq!(f.send.success_total(), 22);
    }

    #[test]
    fn a_tie_keeps_the_admitted_tenant() {
        let f = fixture(1);
        f.send.success_for("acme");
        f.collect();
        f.send.success_for("acme");
        f.send.success_for("globex");
        let series = f.collect();
        assert_eq!(tenant_value(&series, "acme"), Some(2));
        assert_eq!(tenant_value(&series, "globex"), None);
    }

    #[test]
    fn a_displaced_tenants_handle_counts_in_overflow() {
        let f = fixture(1);
        let acme: TenantOutcome = f.send.tenant("acme");
        acme.success();
        f.collect();
        f.send.success_for("bigco");
        f.send.success_for("bigco");
        f.collect(); // bigco promoted, acme displaced
        acme.success();
        acme.failure_with("timeout");
        let series = f.collect();
        assert_eq!(
            tenant_value(&series, "acme"),
            Some(1),
            "frozen at its last value"
        );
        assert_eq!(tenant_value(&series, "_overflow"), Some(3));
        let overflow_timeouts = series
            .iter()
            .find(|((t, r, _), _)| t.as_deref() == Some("_overflow") && r == "timeout")
            .map(|(_, v)| *v);
        assert_eq!(overflow_timeouts, Some(1), "the reason is kept: {series:?}");
        drop(acme);
        assert_eq!(
            tenant_value(&f.collect(), "_overflow"),
            Some(3),
            "folded in for good"
        );
    }

    #[test]
    fn a_returning_tenant_resumes_its_series_where_it_stopped() {
        let f = fixture(1);
        for _ in 0..3 {
            f.send.success_for("acme");
        }
        f.collect();
        for _ in 0..5 {
            f.send.success_for("bigco");
        }
        f.collect(); // acme displaced at 3
        for _ in 0..9 {
            f.send.success_for("acme");
        }
        let series = f.collect(); // acme back (9 > 0), bigco displaced at 0
        assert_eq!(tenant_value(&series, "acme"), Some(3));
        f.send.success_for("acme");
        let series = f.collect();
        let acme: Vec<_> = series
            .iter()
            .filter(|((t, r, _), _)| t.as_deref() == Some("acme") && r == "success")
            .collect();
        assert_eq!(acme.len(), 1, "{series:?}");
        assert_eq!(*acme[0].1, 4, "resumed from 3, same start: {series:?}");
        assert_eq!(acme[0].0.2, None, "the registry's start time");
    }

    /// Threads record (through handles and per call, a few tenants much heavier than the
    /// rest) while collections promote and displace: no event is lost or counted twice.
    #[test]
    fn totals_stay_exact_while_threads_record_during_rebalancing() {
        let f = fixture(3);
        let per_thread = 4_000u64;
        let mut backend: BTreeMap<Key, u64> = BTreeMap::new();
        std::thread::scope(|scope| {
            for t in 0..3u64 {
                let send = f.send.clone();
                scope.spawn(move || {
                    let handles: Vec<TenantOutcome> =
                        (0..4).map(|i| send.tenant(&format!("h{i}"))).collect();
                    for n in 0..per_thread {
                        let heavy = format!("heavy{}", (n / 500 + t) % 4);
                        match n % 4 {
                            0 => send.success_for(&format!("tail{}", n % 97)),
                            1 => handles[(n % 4) as usize].failure_with("timeout"),
                            _ => send.success_for(&heavy),
                        }
                    }
                });
            }
            for _ in 0..50 {
                for (key, value) in f.collect() {
                    let last = backend.insert(key.clone(), value).unwrap_or(0);
                    assert!(value >= last, "{key:?} went from {last} to {value}");
                }
                std::thread::yield_now();
            }
        });
        for (key, value) in f.collect() {
            backend.insert(key, value);
        }
        let total: u64 = backend
            .iter()
            .filter(|((t, _, _), _)| t.is_some())
            .map(|(_, v)| *v)
            .sum();
        assert_eq!(total, 3 * per_thread, "{backend:?}");
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Tenant, failure reason (None: success).
        PerCall(usize, Option<usize>),
        /// Through a handle resolved now and kept.
        Resolve(usize),
        Handle(usize, bool),
        DropHandle(usize),
        Collect,
    }

    const TENANTS: [&str; 6] = ["a", "b", "c", "d", "e", ""];
    const REASONS: [&str; 2] = ["timeout", "weird"];

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..TENANTS.len(), proptest::option::of(0..REASONS.len()))
                .prop_map(|(t, r)| Op::PerCall(t, r)),
            1 => (0..TENANTS.len()).prop_map(Op::Resolve),
            2 => (0..8usize, any::<bool>()).prop_map(|(h, ok)| Op::Handle(h, ok)),
            1 => (0..8usize).prop_map(Op::DropHandle),
            2 => Just(Op::Collect),
        ]
    }

    proptest! {
        /// Whatever is recorded, promoted or displaced: a backend that keeps the last value of
        /// every series it saw (a series is its tenant, reason and start time) sums to exactly
        /// the events recorded; every series is monotonic; at most the limit of tenant rows is
        /// admitted at a time.
        #[test]
        fn totals_over_all_series_always_equal_the_events_recorded(
            limit in 0..4usize,
            ops in proptest::collection::vec(op(), 0..80),
        ) {
            let f = fixture(limit);
            let mut handles: Vec<TenantOutcome> = Vec::new();
            let (mut events, mut successes) = (0u64, 0u64);
            let mut backend: BTreeMap<Key, u64> = BTreeMap::new();
            for op in ops.iter().chain([&Op::Collect]) {
                match *op {
                    Op::PerCall(t, None) => {
                        f.send.success_for(TENANTS[t]);
                        successes += 1;
                        events += 1;
                    }
                    Op::PerCall(t, Some(r)) => {
                        f.send.failure_for_with(TENANTS[t], REASONS[r]);
                        events += 1;
                    }
                    Op::Resolve(t) => handles.push(f.send.tenant(TENANTS[t])),
                    Op::Handle(h, ok) => {
                        if let Some(handle) = handles.get(h) {
                            handle.record(ok);
                            events += 1;
                            successes += u64::from(ok);
                        }
                    }
                    Op::DropHandle(h) => {
                        if h < handles.len() {
                            handles.swap_remove(h);
                        }
                    }
                    Op::Collect => {
                        let series = f.collect();
                        let tenants: std::collections::BTreeSet<_> = series
                            .keys()
                            .filter_map(|(t, _, _)| t.clone())
                            .filter(|t| t != "_overflow")
                            .collect();
                        // The admitted rows, plus at most as many displaced ones.
                        prop_assert!(tenants.len() <= 2 * limit, "{series:?}");
                        for (key, value) in series {
                            let last = backend.insert(key.clone(), value).unwrap_or(0);
                            prop_assert!(value >= last, "{key:?} went from {last} to {value}");
                        }
                        let total: u64 = backend
                            .iter()
                            .filter(|((t, _, _), _)| t.is_some())
                            .map(|(_, v)| *v)
                            .sum();
                        prop_assert_eq!(total, events, "{:?}", backend);
                        prop_assert_eq!(f.send.success_total(), successes);
                    }
                }
            }
        }
    }
}
