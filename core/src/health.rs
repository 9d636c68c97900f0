//! The registry's self-health: inputs it corrected rather than refused (nothing is dropped).
//!
//! The tenant table and the outcomes count into [`Health`]; the registry reads it out as a
//! [`RegistryHealth`]. It sits below both so that neither imports the other for it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counts of inputs the SDK had to correct rather than refuse (nothing is dropped).
#[derive(Debug, Default)]
pub(crate) struct Health {
    pub(crate) invalid_tenants: AtomicU64,
    pub(crate) overflowed_tenants: AtomicU64,
    pub(crate) undeclared_reasons: AtomicU64,
}

impl Health {
    /// A snapshot of the counts.
    pub(crate) fn snapshot(&self) -> RegistryHealth {
        RegistryHealth {
            invalid_tenants: self.invalid_tenants.load(Relaxed),
            overflowed_tenants: self.overflowed_tenants.load(Relaxed),
            undeclared_reasons: self.undeclared_reasons.load(Relaxed),
        }
    }
}

/// What the registry had to correct since it started; every such event was still counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryHealth {
    /// Events whose tenant id was invalid (counted in the overflow series).
    pub invalid_tenants: u64,
    /// Events for tenants that had no row of their own when recorded, because the outcome's
    /// tenant limit was reached (counted in the overflow series; see [`crate::tenant`]).
    pub overflowed_tenants: u64,
    /// Failures with a reason outside the declared set (counted with reason `"other"`).
    pub undeclared_reasons: u64,
}
