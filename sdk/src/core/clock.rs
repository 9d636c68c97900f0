//! Time goes through one seam: a [`Clock`] that the SDK's timing logic takes.
//!
//! [`SystemClock`] reads the operating system (through `web-time` on `wasm32-unknown-unknown`,
//! where `std::time::Instant::now()` panics). [`ManualClock`] (feature `testing`) is moved by
//! hand so that hours of heartbeats run in microseconds in tests.

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
use web_time::{Instant, SystemTime, UNIX_EPOCH};

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
