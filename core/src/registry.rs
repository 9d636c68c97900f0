//! The registry: every declared outcome, and the one place collectors read them from.

use super::clock::{Clock, SystemClock};
use super::health::{Health, RegistryHealth};
use super::outcome::{Outcome, OutcomeInner, OutcomeResult};
use super::semconv::OVERFLOW_TENANT;
use super::tenant::{DEFAULT_TENANT_LIMIT, TenantCells};
use super::tenant_hash::TenantHasher;
use super::validate::{self, OutcomeError};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// One series as a collector sees it: an outcome, its fixed attributes, the result, the reason
/// for failures, the tenant on the drill-down path, and the cumulative count since start.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    outcome: &'a str,
    attributes: &'a [(Box<str>, Box<str>)],
    result: OutcomeResult,
    reason: Option<&'a str>,
    tenant: Option<&'a str>,
    start: Option<Duration>,
    value: u64,
}

impl<'a> Series<'a> {
    /// The outcome name (`heartbeat.outcome`).
    pub fn outcome(&self) -> &'a str {
        self.outcome
    }
    /// The fixed attributes declared with the outcome, sorted by key.
    pub fn attributes(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.attributes.iter().map(|(k, v)| (&**k, &**v))
    }
    /// Success or failure (`heartbeat.result`).
    pub fn result(&self) -> OutcomeResult {
        self.result
    }
    /// The failure reason (`heartbeat.reason`); `None` for successes.
    pub fn reason(&self) -> Option<&'a str> {
        self.reason
    }
    /// The tenant (`heartbeat.tenant`), `"_overflow"` for the overflow series; `None` off the
    /// drill-down path. With tenant hashing, the hashed id (`"h-"` and 16 hex digits).
    pub fn tenant(&self) -> Option<&'a str> {
        self.tenant
    }
    /// The cumulative count since the series' start ([`Series::start_time`]).
    pub fn value(&self) -> u64 {
        self.value
    }
    /// The start of this series when it is not the registry's ([`Registry::start_time`]): a
    /// tenant promoted to its own series without a remembered earlier one starts at its
    /// promotion (see [`crate::tenant`]). `None` for every other series.
    pub fn start_time(&self) -> Option<Duration> {
        self.start
    }
    /// Whether this is the tenant overflow series.
    pub fn is_overflow(&self) -> bool {
        self.tenant == Some(OVERFLOW_TENANT)
    }
}

struct RegistryInner {
    outcomes: Mutex<Vec<Arc<OutcomeInner>>>,
    tenant_limit: usize,
    tenant_hasher: Option<TenantHasher>,
    clock: Arc<dyn Clock>,
    start_unix: Duration,
    health: Arc<Health>,
}

/// The runtime-free core: declared outcomes and their counts. Cheap to clone; clones share state.
///
/// The native pipeline (`heartbeat::Heartbeat`) and the browser
/// build both read it. Use it directly to count without exporting, or to export your own way.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("outcomes", &self.outcome_count())
            .field("tenant_limit", &self.inner.tenant_limit)
            .field("tenant_hashing", &self.inner.tenant_hasher.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// A registry with the default tenant limit and the system clock.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            tenant_limit: DEFAULT_TENANT_LIMIT,
            tenant_hasher: None,
            clock: None,
        }
    }

    /// Starts declaring an outcome. See [`OutcomeBuilder`].
    pub fn outcome(&self, name: impl Into<String>) -> OutcomeBuilder<'_> {
        OutcomeBuilder {
            registry: self,
            name: name.into(),
            attributes: Vec::new(),
            reasons: Vec::new(),
            tenant_limit: None,
            noop: false,
        }
    }

    /// The clock the registry and its pipeline use.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// When the registry started (Unix time): the start time of every cumulative series.
    pub fn start_time(&self) -> Duration {
        self.inner.start_unix
    }

    /// The tenant hasher, when tenant ids are hashed before they are exported.
    pub fn tenant_hasher(&self) -> Option<&TenantHasher> {
        self.inner.tenant_hasher.as_ref()
    }

    /// How many outcomes are declared.
    pub fn outcome_count(&self) -> usize {
        self.outcomes().len()
    }

    /// Inputs corrected so far (see [`RegistryHealth`]).
    pub fn health(&self) -> RegistryHealth {
        self.inner.health.snapshot()
    }

    fn outcomes(&self) -> std::sync::MutexGuard<'_, Vec<Arc<OutcomeInner>>> {
        self.inner
            .outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Visits every series with its cumulative count.
    ///
    /// Declared outcomes report their success and every failure reason from the start, at zero
    /// when nothing happened, so "no series" never means "zero successes". Tenant rows report
    /// success always and failure reasons once they are non-zero.
    pub fn collect(&self, mut f: impl FnMut(&Series<'_>)) {
        self.walk(&mut WalkBuffers::default(), |s, _| f(s));
    }

    /// [`Registry::collect`] for the collector: `buffers` are kept between walks, so that a walk
    /// allocates nothing once they are large enough, and each series comes with its
    /// [`SeriesId`].
    pub(crate) fn walk(&self, buffers: &mut WalkBuffers, mut f: impl FnMut(&Series<'_>, SeriesId)) {
        buffers.outcomes.clear();
        buffers.outcomes.extend(self.outcomes().iter().cloned());
        let now = self.inner.clock.now_unix();
        for (index, o) in buffers.outcomes.iter().enumerate() {
            let outcome = u32::try_from(index).unwrap_or(u32::MAX);
            let base = Series {
                outcome: &o.name,
                attributes: &o.attributes,
                result: OutcomeResult::Success,
                reason: None,
                tenant: None,
                start: None,
                value: o.success.total(),
            };
            f(&base, SeriesId { outcome, slot: 0 });
            for (slot, (reason, counter)) in (1..).zip(o.reasons.iter().zip(o.failures.iter())) {
                let series = Series {
                    result: OutcomeResult::Failure,
                    reason: Some(reason),
                    value: counter.total(),
                    ..base
                };
                f(&series, SeriesId { outcome, slot });
            }
            o.tenants.collect_with(&mut buffers.rows, now, |row| {
                let tenant = Some(row.tenant);
                let series = Series {
                    tenant,
                    start: row.start,
                    value: row.get(0),
                    ..base
                };
                f(&series, SeriesId { outcome, slot: 0 });
                for (slot, (i, reason)) in (1..).zip(o.reasons.iter().enumerate()) {
                    let value = row.get(1 + i);
                    if value > 0 {
                        let series = Series {
                            result: OutcomeResult::Failure,
                            reason: Some(reason),
                            tenant,
                            start: row.start,
                            value,
                            ..base
                        };
                        f(&series, SeriesId { outcome, slot });
                    }
                }
            });
        }
        buffers.outcomes.clear();
    }
}

/// Where a series sits in its registry: the outcome's place in declaration order and the slot
/// (0 for success, `1 + i` for failure reason `i`). With the tenant, if any, it identifies the
/// series for as long as the registry lives (outcomes are never removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SeriesId {
    pub(crate) outcome: u32,
    pub(crate) slot: u32,
}

/// What [`Registry::walk`] reuses between walks.
#[derive(Default)]
pub(crate) struct WalkBuffers {
    outcomes: Vec<Arc<OutcomeInner>>,
    rows: Vec<Arc<TenantCells>>,
}

/// Configures a [`Registry`].
#[derive(Debug)]
pub struct RegistryBuilder {
    tenant_limit: usize,
    tenant_hasher: Option<TenantHasher>,
    clock: Option<Arc<dyn Clock>>,
}

impl RegistryBuilder {
    /// The default number of distinct tenants per outcome before overflow (default 1000).
    pub fn with_tenant_limit(mut self, limit: usize) -> Self {
        self.tenant_limit = limit;
        self
    }

    /// Hashes tenant ids before they leave the process (default: off): every series of the
    /// drill-down carries [`TenantHasher::hash`] of the id instead of the id. Invalid ids still
    /// count in `"_overflow"`, which is never hashed; totals stay exact. The hash is computed
    /// once per admitted tenant; recording for a known tenant costs what it costs without.
    ///
    /// ```
    /// use heartbeat_core::{Registry, TenantHasher};
    ///
    /// let registry = Registry::builder()
    ///     .with_tenant_hasher(TenantHasher::new("s3cret-salt")?)
    ///     .build();
    /// let send = registry.outcome("message.send").build()?;
    /// send.success_for("acme");
    /// let mut tenants = Vec::new();
    /// registry.collect(|s| tenants.extend(s.tenant().map(str::to_owned)));
    /// assert_eq!(tenants, ["h-6614d812eeab4e05"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_tenant_hasher(mut self, hasher: TenantHasher) -> Self {
        self.tenant_hasher = Some(hasher);
        self
    }

    /// The clock (default: [`SystemClock`]).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Builds the registry.
    pub fn build(self) -> Registry {
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(SystemClock::new()) as Arc<dyn Clock>);
        let start_unix = clock.now_unix();
        Registry {
            inner: Arc::new(RegistryInner {
                outcomes: Mutex::new(Vec::new()),
                tenant_limit: self.tenant_limit,
                tenant_hasher: self.tenant_hasher,
                clock,
                start_unix,
                health: Arc::default(),
            }),
        }
    }
}

/// Declares an outcome: its name, fixed attributes and the bounded set of failure reasons.
#[derive(Debug)]
#[must_use = "call .build() to declare the outcome"]
pub struct OutcomeBuilder<'r> {
    registry: &'r Registry,
    name: String,
    attributes: Vec<(String, String)>,
    reasons: Vec<String>,
    tenant_limit: Option<usize>,
    noop: bool,
}

impl OutcomeBuilder<'_> {
    /// Adds a fixed attribute, such as `("surface", "web_messenger")`.
    pub fn with_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// Declares the failure reasons (snake_case, at most 32). `unspecified`, `abandoned`,
    /// `panicked` and `other` are always present.
    pub fn with_reasons<I, S>(mut self, reasons: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.reasons.extend(reasons.into_iter().map(Into::into));
        self
    }

    /// Validates as usual but hands back a no-op handle (for a disabled SDK).
    #[doc(hidden)]
    pub fn noop(mut self) -> Self {
        self.noop = true;
        self
    }

    /// Overrides the registry's tenant limit for this outcome.
    pub fn with_tenant_limit(mut self, limit: usize) -> Self {
        self.tenant_limit = Some(limit);
        self
    }

    /// Declares the outcome, or returns the existing handle if the same outcome (name and
    /// attributes) was declared before with the same reasons.
    ///
    /// # Errors
    /// [`OutcomeError`] naming the bad name, key, value or reason, or a conflicting declaration.
    pub fn build(self) -> Result<Outcome, OutcomeError> {
        let mut attributes = self.attributes;
        let reasons = validate::declaration(&self.name, &mut attributes, &self.reasons)
            .map_err(OutcomeError::from)?;
        if self.noop {
            return Ok(Outcome::noop());
        }
        let attributes: Box<[(Box<str>, Box<str>)]> = attributes
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut outcomes = self.registry.outcomes();
        if let Some(existing) = outcomes
            .iter()
            .find(|o| *o.name == *self.name && o.attributes == attributes)
        {
            if existing
                .reasons
                .iter()
                .map(|r| &**r)
                .eq(reasons.iter().map(String::as_str))
            {
                return Ok(Outcome::from_inner(Arc::clone(existing)));
            }
            return Err(OutcomeError::Conflict {
                outcome: self.name,
                existing: existing.declared_reasons().map(str::to_owned).collect(),
            });
        }
        let inner = Arc::new(OutcomeInner::new(
            self.name.into(),
            attributes,
            reasons.into_iter().map(String::into_boxed_str).collect(),
            self.tenant_limit
                .unwrap_or(self.registry.inner.tenant_limit),
            self.registry.inner.tenant_hasher,
            Arc::clone(&self.registry.inner.health),
        ));
        outcomes.push(Arc::clone(&inner));
        Ok(Outcome::from_inner(inner))
    }
}
