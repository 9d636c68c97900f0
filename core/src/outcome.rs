//! Outcomes: the customer jobs a service exists for, counted as success and failure.

use super::counter::ShardedCounter;
use super::health::Health;
use super::tenant::{TenantCells, TenantTable};
use super::tenant_hash::TenantHasher;
use crate::semconv::RESERVED_REASONS;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

pub use crate::semconv::{REASON_ABANDONED, REASON_OTHER, REASON_PANICKED, REASON_UNSPECIFIED};

const UNSPECIFIED: usize = 0;
const ABANDONED: usize = 1;
const PANICKED: usize = 2;
const OTHER: usize = 3;

/// Success or failure: the value of the `heartbeat.result` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeResult {
    /// The customer's job was done.
    Success,
    /// The customer's job was not done.
    Failure,
}

impl OutcomeResult {
    /// The attribute value: `"success"` or `"failure"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// A declared outcome's state, shared by every handle to it.
pub(crate) struct OutcomeInner {
    pub(crate) name: Box<str>,
    pub(crate) attributes: Box<[(Box<str>, Box<str>)]>,
    /// Failure reasons: the reserved ones first, then the declared ones.
    pub(crate) reasons: Box<[Box<str>]>,
    pub(crate) success: ShardedCounter,
    pub(crate) failures: Box<[ShardedCounter]>,
    pub(crate) tenants: TenantTable,
    pub(crate) health: Arc<Health>,
}

impl OutcomeInner {
    pub(crate) fn new(
        name: Box<str>,
        attributes: Box<[(Box<str>, Box<str>)]>,
        reasons: Box<[Box<str>]>,
        tenant_limit: usize,
        tenant_hasher: Option<TenantHasher>,
        health: Arc<Health>,
    ) -> Self {
        let failures = reasons.iter().map(|_| ShardedCounter::default()).collect();
        let tenants = TenantTable::new(tenant_limit, 1 + reasons.len(), tenant_hasher);
        Self {
            name,
            attributes,
            reasons,
            success: ShardedCounter::default(),
            failures,
            tenants,
            health,
        }
    }

    /// The failure slot of a reason; an undeclared one is counted as `other`.
    fn reason_slot(&self, reason: &str) -> usize {
        match self.reasons.iter().position(|r| &**r == reason) {
            Some(i) => i,
            None => {
                self.health.undeclared_reasons.fetch_add(1, Relaxed);
                #[cfg(all(debug_assertions, not(target_arch = "wasm32")))]
                if let Some(warning) =
                    undeclared::first(&self.name, reason, self.declared_reasons())
                {
                    eprintln!("{warning}");
                }
                OTHER
            }
        }
    }

    #[inline]
    fn fail(&self, slot: usize) {
        if let Some(counter) = self.failures.get(slot) {
            counter.add(1);
        }
    }

    pub(crate) fn declared_reasons(&self) -> impl Iterator<Item = &str> {
        self.reasons[RESERVED_REASONS.len()..].iter().map(|r| &**r)
    }
}

/// Debug builds warn once per outcome and undeclared reason (a mistyped `"timout"` is counted
/// as `other`, which is easy to miss); release builds, and the browser build, do not.
#[cfg(all(debug_assertions, not(target_arch = "wasm32")))]
mod undeclared {
    use std::collections::HashSet;
    use std::sync::{Mutex, PoisonError};

    /// At most this many distinct warnings per process: reasons may be dynamic strings.
    const MAX_WARNINGS: usize = 64;

    /// (outcome, reason) pairs warned about.
    type Seen = HashSet<(Box<str>, Box<str>)>;

    static SEEN: Mutex<Option<Seen>> = Mutex::new(None);

    /// The warning for `reason` on `outcome`, the first time only.
    pub(super) fn first<'a>(
        outcome: &str,
        reason: &str,
        declared: impl Iterator<Item = &'a str>,
    ) -> Option<String> {
        let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
        let seen = seen.get_or_insert_with(HashSet::new);
        if seen.len() >= MAX_WARNINGS || !seen.insert((outcome.into(), reason.into())) {
            return None;
        }
        let declared: Vec<String> = declared.map(|r| format!("{r:?}")).collect();
        Some(format!(
            "heartbeat: failure reason {reason:?} is not declared for outcome {outcome:?}, so it is counted as \"other\"; declared: [{}]; add it with .with_reasons([...]) (this warning: once per reason, debug builds only)",
            declared.join(", ")
        ))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn an_undeclared_reason_is_warned_about_once() {
            let first = super::first("warn.test", "timout", ["timeout"].into_iter());
            assert_eq!(
                first.as_deref(),
                Some(
                    "heartbeat: failure reason \"timout\" is not declared for outcome \"warn.test\", so it is counted as \"other\"; declared: [\"timeout\"]; add it with .with_reasons([...]) (this warning: once per reason, debug builds only)"
                )
            );
            assert_eq!(
                super::first("warn.test", "timout", ["timeout"].into_iter()),
                None
            );
            assert!(super::first("warn.test", "rejectd", ["timeout"].into_iter()).is_some());
        }
    }
}

/// A declared outcome: a cheap [`Clone`] handle that records successes and failures.
///
/// Resolve it once (at start-up) and record on it many times: [`Outcome::success`] costs one
/// thread-local lookup and a store to a cache line no other thread writes. A handle from
/// [`Outcome::noop`], or from a disabled SDK, costs one branch.
///
/// ```
/// let registry = heartbeat_core::Registry::new();
/// let send = registry
///     .outcome("message.send")
///     .with_attribute("surface", "web_messenger")
///     .with_reasons(["timeout", "rejected"])
///     .build()?;
/// send.success();
/// send.failure_with("timeout");
/// send.success_for("acme");
/// # Ok::<(), heartbeat_core::OutcomeError>(())
/// ```
#[derive(Clone, Default)]
pub struct Outcome {
    inner: Option<Arc<OutcomeInner>>,
}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Some(inner) => f
                .debug_struct("Outcome")
                .field("name", &inner.name)
                .field("attributes", &inner.attributes)
                .finish_non_exhaustive(),
            None => f.write_str("Outcome(noop)"),
        }
    }
}

impl Outcome {
    pub(crate) fn from_inner(inner: Arc<OutcomeInner>) -> Self {
        Self { inner: Some(inner) }
    }

    /// A handle that records nothing, for code paths where the SDK is not installed.
    pub const fn noop() -> Self {
        Self { inner: None }
    }

    /// Whether this handle records anything.
    pub fn is_noop(&self) -> bool {
        self.inner.is_none()
    }

    /// The outcome's name (empty for a no-op handle).
    pub fn name(&self) -> &str {
        self.inner.as_ref().map_or("", |i| &i.name)
    }

    /// Successes recorded so far, with and without a tenant (0 for a no-op handle).
    #[doc(hidden)]
    pub fn success_total(&self) -> u64 {
        self.inner.as_ref().map_or(0, |inner| {
            inner.success.total().wrapping_add(inner.tenants.events(0))
        })
    }

    /// Records one success.
    #[inline]
    pub fn success(&self) {
        if let Some(inner) = &self.inner {
            inner.success.add(1);
        }
    }

    /// Records one failure without a reason (`heartbeat.reason = "unspecified"`).
    #[inline]
    pub fn failure(&self) {
        if let Some(inner) = &self.inner {
            inner.fail(UNSPECIFIED);
        }
    }

    /// Records one failure with a reason from the declared set; any other reason is counted as
    /// `"other"` (and in the SDK's self-health), so the failure is never lost.
    pub fn failure_with(&self, reason: &str) {
        if let Some(inner) = &self.inner {
            inner.fail(inner.reason_slot(reason));
        }
    }

    /// Records a success when `ok` is true, else a failure.
    #[inline]
    pub fn record(&self, ok: bool) {
        if ok { self.success() } else { self.failure() }
    }

    /// Records the result and hands it back: `send.observe(deliver(msg).await)?`.
    pub fn observe<T, E>(&self, result: Result<T, E>) -> Result<T, E> {
        self.record(result.is_ok());
        result
    }

    /// Like [`Outcome::observe`], naming the failure reason from the error.
    pub fn observe_with<T, E>(
        &self,
        result: Result<T, E>,
        reason: impl FnOnce(&E) -> &str,
    ) -> Result<T, E> {
        match &result {
            Ok(_) => self.success(),
            Err(e) => self.failure_with(reason(e)),
        }
        result
    }

    /// Starts a job: the guard records failure if dropped unresolved (early return, `?`, panic).
    #[must_use = "a guard dropped at once records a failure"]
    pub fn start(&self) -> OutcomeGuard {
        OutcomeGuard {
            target: self
                .inner
                .as_ref()
                .map(|inner| Target::Plain(Arc::clone(inner))),
        }
    }

    /// The outcome for one customer (tenant), resolved once: record on it many times.
    ///
    /// Tenants beyond the outcome's cardinality limit share one overflow series per result and
    /// reason (`heartbeat.tenant = "_overflow"`), as do invalid tenant ids (empty, over 255
    /// bytes, control characters); totals stay exact. With tenant hashing
    /// ([`RegistryBuilder::with_tenant_hasher`](crate::RegistryBuilder::with_tenant_hasher)),
    /// the id is hashed once, when the tenant is first seen.
    pub fn tenant(&self, tenant: &str) -> TenantOutcome {
        TenantOutcome {
            target: self.inner.as_ref().map(|inner| {
                let cells = inner.tenants.resolve(tenant, &inner.health);
                (Arc::clone(inner), cells)
            }),
        }
    }

    /// Records one success for a tenant (the slow path: one map lookup).
    pub fn success_for(&self, tenant: &str) {
        if let Some(inner) = &self.inner {
            inner.tenants.add(tenant, 0, &inner.health);
        }
    }

    /// Records one failure without a reason for a tenant.
    pub fn failure_for(&self, tenant: &str) {
        if let Some(inner) = &self.inner {
            inner.tenants.add(tenant, 1 + UNSPECIFIED, &inner.health);
        }
    }

    /// Records one failure with a reason for a tenant.
    pub fn failure_for_with(&self, tenant: &str, reason: &str) {
        if let Some(inner) = &self.inner {
            let slot = 1 + inner.reason_slot(reason);
            inner.tenants.add(tenant, slot, &inner.health);
        }
    }
}

/// One tenant's view of an [`Outcome`], from [`Outcome::tenant`].
#[derive(Clone, Default)]
pub struct TenantOutcome {
    target: Option<(Arc<OutcomeInner>, Arc<TenantCells>)>,
}

impl fmt::Debug for TenantOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Some((inner, cells)) => f
                .debug_struct("TenantOutcome")
                .field("name", &inner.name)
                .field("tenant", &cells.tenant)
                .finish(),
            None => f.write_str("TenantOutcome(noop)"),
        }
    }
}

impl TenantOutcome {
    /// Records one success.
    #[inline]
    pub fn success(&self) {
        if let Some((_, cells)) = &self.target {
            cells.add(0);
        }
    }

    /// Records one failure without a reason.
    #[inline]
    pub fn failure(&self) {
        if let Some((_, cells)) = &self.target {
            cells.add(1 + UNSPECIFIED);
        }
    }

    /// Records one failure with a reason (undeclared reasons count as `"other"`).
    pub fn failure_with(&self, reason: &str) {
        if let Some((inner, cells)) = &self.target {
            cells.add(1 + inner.reason_slot(reason));
        }
    }

    /// Records a success when `ok` is true, else a failure.
    #[inline]
    pub fn record(&self, ok: bool) {
        if ok { self.success() } else { self.failure() }
    }

    /// Records the result and hands it back.
    pub fn observe<T, E>(&self, result: Result<T, E>) -> Result<T, E> {
        self.record(result.is_ok());
        result
    }

    /// Starts a job for this tenant; see [`Outcome::start`].
    #[must_use = "a guard dropped at once records a failure"]
    pub fn start(&self) -> OutcomeGuard {
        OutcomeGuard {
            target: self
                .target
                .as_ref()
                .map(|(inner, cells)| Target::Tenant(Arc::clone(inner), Arc::clone(cells))),
        }
    }
}

enum Target {
    Plain(Arc<OutcomeInner>),
    Tenant(Arc<OutcomeInner>, Arc<TenantCells>),
}

impl Target {
    fn record(&self, slot_after_success: Option<usize>) {
        match (self, slot_after_success) {
            (Target::Plain(inner), None) => inner.success.add(1),
            (Target::Plain(inner), Some(reason)) => inner.fail(reason),
            (Target::Tenant(_, cells), None) => cells.add(0),
            (Target::Tenant(_, cells), Some(reason)) => cells.add(1 + reason),
        }
    }

    fn inner(&self) -> &OutcomeInner {
        match self {
            Target::Plain(inner) | Target::Tenant(inner, _) => inner,
        }
    }
}

/// A job in progress: resolve it with [`OutcomeGuard::success`] or a failure method.
///
/// Dropped unresolved, it records a failure with reason `"abandoned"`, or `"panicked"` when
/// its thread is unwinding from a panic, so a job that never finishes is never uncounted.
#[must_use = "a guard dropped at once records a failure"]
pub struct OutcomeGuard {
    target: Option<Target>,
}

impl fmt::Debug for OutcomeGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutcomeGuard")
            .field("outcome", &self.target.as_ref().map(|t| &t.inner().name))
            .finish()
    }
}

impl OutcomeGuard {
    /// The job succeeded.
    pub fn success(mut self) {
        if let Some(target) = self.target.take() {
            target.record(None);
        }
    }

    /// The job failed, without a reason.
    pub fn failure(mut self) {
        if let Some(target) = self.target.take() {
            target.record(Some(UNSPECIFIED));
        }
    }

    /// The job failed for a reason (undeclared reasons count as `"other"`).
    pub fn failure_with(mut self, reason: &str) {
        if let Some(target) = self.target.take() {
            let slot = target.inner().reason_slot(reason);
            target.record(Some(slot));
        }
    }

    /// Resolves the guard from a result and hands the result back.
    pub fn observe<T, E>(self, result: Result<T, E>) -> Result<T, E> {
        if result.is_ok() {
            self.success();
        } else {
            self.failure();
        }
        result
    }
}

impl Drop for OutcomeGuard {
    fn drop(&mut self) {
        if let Some(target) = self.target.take() {
            let reason = if std::thread::panicking() {
                PANICKED
            } else {
                ABANDONED
            };
            target.record(Some(reason));
        }
    }
}
