//! The clocks tests drive: [`ManualClock`] (the SDK's, moved by hand) and [`TokioClock`], which
//! reads tokio's time, so that on a paused runtime the SDK's schedules follow `tokio::time`
//! jumps exactly.

use std::sync::Arc;
use std::time::Duration;

pub use heartbeat::clock::ManualClock;

/// A [`heartbeat::clock::Clock`] reading tokio's time: on a paused runtime, virtual time, which the
/// runtime advances to the next timer whenever every task waits. The wall clock is
/// `unix_at_origin` plus the time elapsed since the clock was made.
#[derive(Debug)]
pub struct TokioClock {
    origin: tokio::time::Instant,
    unix_at_origin: Duration,
}

impl TokioClock {
    /// A clock whose wall time is `unix_at_origin` now (on tokio's clock).
    pub fn starting_at(unix_at_origin: Duration) -> Arc<Self> {
        Arc::new(Self {
            origin: tokio::time::Instant::now(),
            unix_at_origin,
        })
    }
}

impl heartbeat::clock::Clock for TokioClock {
    fn now_unix(&self) -> Duration {
        self.unix_at_origin + self.origin.elapsed()
    }

    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }
}
