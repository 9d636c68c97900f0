//! The page's wall clock for OTLP timestamps: `Date.now()` as the JavaScript half passes it
//! in the browser, the system clock when the crate's unit tests run natively. Both halves export
//! `now_ms`.
//!
//! Not the sdk's `SystemClock`: a `dyn Clock` carries its type's `Debug` in its vtable, and
//! `SystemClock`'s (a struct with an `Instant` field) would bring the float and struct
//! formatting machinery into the module, about 10 KB.

use heartbeat_core::Clock;
use std::time::Duration;

/// `Date.now()` as a [`Clock`]. The delta collector reads only its wall time; `monotonic`
/// returns the same value and nothing here schedules with it (the JavaScript half owns timers).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PageClock;

impl Clock for PageClock {
    fn now_unix(&self) -> Duration {
        Duration::from_millis(now::now_ms())
    }

    fn monotonic(&self) -> Duration {
        self.now_unix()
    }
}

/// On wasm32 the module imports nothing: the loader passes `Date.now()` to the exports that
/// read the clock (`crate::abi`), which keep it here for [`PageClock`]. Before the first one,
/// and in the crate's own wasm32 tests, which call [`crate::Sdk`] directly, the clock reads
/// the epoch.
#[cfg(target_arch = "wasm32")]
mod now {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    /// `Date.now()` as last given, in whole milliseconds.
    static NOW_MS: AtomicU64 = AtomicU64::new(0);

    pub(crate) fn set_now(ms: f64) {
        // `as` saturates: a clock before 1970 (or NaN) reads as the epoch.
        NOW_MS.store(ms as u64, Relaxed);
    }

    pub(super) fn now_ms() -> u64 {
        NOW_MS.load(Relaxed)
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) use now::set_now;

#[cfg(not(target_arch = "wasm32"))]
mod now {
    use std::time::{SystemTime, UNIX_EPOCH};

    pub(super) fn now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}
