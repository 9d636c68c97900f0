//! The test hooks that break a stage of the watch on purpose (`POST /api/test/faults`), for the
//! tests of the self-heartbeat: the receiver serves the hook, the tick loop obeys it (a judge
//! that stops ticking, a database that stops taking writes), and the self-beat notices.

use std::sync::atomic::AtomicBool;

/// Faults the test hook can switch on (`POST /api/test/faults`, only with
/// `HEARTBEAT_WATCH_TEST_HOOKS=1`): a judge that stops ticking, a database that stops taking
/// writes.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// The hook is served at all.
    pub(crate) enabled: bool,
    pub(crate) stall_judge: AtomicBool,
    pub(crate) db_read_only: AtomicBool,
}

/// The variable that enables the fault hook: for tests of the self-heartbeat only.
pub const TEST_HOOKS_ENV: &str = "HEARTBEAT_WATCH_TEST_HOOKS";

impl Faults {
    pub(crate) fn from_env() -> Self {
        Self {
            enabled: std::env::var(TEST_HOOKS_ENV).is_ok_and(|v| v == "1"),
            ..Self::default()
        }
    }
}
