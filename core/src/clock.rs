//! Time goes through one seam: a [`Clock`] that the SDK's timing logic takes.
//!
//! [`SystemClock`] reads the operating system (through `performance.now()` and `Date.now()` on
//! `wasm32-unknown-unknown`, where `std::time::Instant::now()` panics). [`ManualClock`]
//! (feature `testing`) is moved by hand so that hours of heartbeats run in microseconds in tests.

use std::fmt::Debug;
use std::time::Duration;

/// A source of wall-clock and monotonic time.
pub trait Clock: Debug + Send + Sync + 'static {
    /// Wall-clock time since the Unix epoch, as used for OTLP timestamps.
    fn now_unix(&self) -> Duration;
    /// Monotonic time since an arbitrary origin fixed for this clock, for scheduling.
    fn monotonic(&self) -> Duration;
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
use std::time::{Instant, SystemTime, UNIX_EPOCH};
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use web::{Instant, SystemTime, UNIX_EPOCH};

/// The part of `std::time` the clock uses, for `wasm32-unknown-unknown` (where std's panics):
/// `performance.now()` and `Date.now()` through two imports. (The `web-time` crate does the same
/// through `js-sys`, which costs the browser build over a kilobyte of glue.)
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod web {
    use std::time::Duration;
    use wasm_bindgen::prelude::wasm_bindgen;

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = performance, js_name = now)]
        fn performance_now() -> f64;
        #[wasm_bindgen(js_namespace = Date, js_name = now)]
        fn date_now() -> f64;
    }

    /// Milliseconds as a duration; `as` saturates, so a negative or NaN reading is zero.
    fn millis(ms: f64) -> Duration {
        Duration::from_nanos((ms * 1e6) as u64)
    }

    #[derive(Clone, Copy)]
    pub(super) struct Instant(f64);

    /// Without the reading: formatting an `f64` would bring kilobytes of float printing into
    /// every module that formats a `SystemClock`.
    impl std::fmt::Debug for Instant {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Instant")
        }
    }

    impl Instant {
        pub(super) fn now() -> Self {
            Instant(performance_now())
        }

        pub(super) fn elapsed(&self) -> Duration {
            millis(performance_now() - self.0)
        }
    }

    pub(super) struct SystemTime(f64);

    pub(super) const UNIX_EPOCH: SystemTime = SystemTime(0.0);

    impl SystemTime {
        pub(super) fn now() -> Self {
            SystemTime(date_now())
        }

        /// `Err` when `earlier` is later, as std's.
        pub(super) fn duration_since(&self, earlier: SystemTime) -> Result<Duration, Duration> {
            let d = self.0 - earlier.0;
            if d >= 0.0 {
                Ok(millis(d))
            } else {
                Err(millis(-d))
            }
        }
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose monotonic origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_unix(&self) -> Duration {
        // A clock set before 1970 reads as the epoch rather than failing.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
    }

    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }
}

#[cfg(any(test, feature = "testing"))]
pub use manual::ManualClock;

#[cfg(any(test, feature = "testing"))]
mod manual {
    use super::Clock;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    use std::time::Duration;

    /// A clock moved only by [`ManualClock::advance`] and [`ManualClock::set_unix`]. Clones share time.
    #[derive(Debug, Clone, Default)]
    pub struct ManualClock {
        unix_nanos: Arc<AtomicU64>,
        mono_nanos: Arc<AtomicU64>,
    }

    fn nanos(d: Duration) -> u64 {
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }

    impl ManualClock {
        /// A clock at the given wall time, with its monotonic time at zero.
        pub fn starting_at(unix: Duration) -> Self {
            let clock = Self::default();
            clock.unix_nanos.store(nanos(unix), SeqCst);
            clock
        }

        /// Moves both wall and monotonic time forward.
        pub fn advance(&self, by: Duration) {
            self.unix_nanos.fetch_add(nanos(by), SeqCst);
            self.mono_nanos.fetch_add(nanos(by), SeqCst);
        }

        /// Sets the wall time only (a wall-clock jump; monotonic time is unaffected).
        pub fn set_unix(&self, unix: Duration) {
            self.unix_nanos.store(nanos(unix), SeqCst);
        }
    }

    impl Clock for ManualClock {
        fn now_unix(&self) -> Duration {
            Duration::from_nanos(self.unix_nanos.load(SeqCst))
        }

        fn monotonic(&self) -> Duration {
            Duration::from_nanos(self.mono_nanos.load(SeqCst))
        }
    }
}
