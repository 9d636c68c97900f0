//! [`RunOptions`]: how a run is done (paths of the tools, concurrency, the cases to run, the
//! measurement slack).

use std::path::PathBuf;
use std::time::Duration;

/// How a run is done.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The repository root, where the driver and reference scripts are (default: where this
    /// crate was built, or `HEARTBEAT_ROOT`).
    pub root: Option<PathBuf>,
    /// The `heartbeat-conformance-emitter` binary for `native-bin` (default: beside the runner).
    pub emitter_bin: Option<PathBuf>,
    /// The Python interpreter for `python-otel` (default: `HEARTBEAT_PYTHON`, else `.venv`).
    pub python: Option<PathBuf>,
    /// The rotel collector binary (default: `HEARTBEAT_ROTEL`; without one the collector case is
    /// skipped).
    pub rotel: Option<PathBuf>,
    /// Emitters running at once.
    pub jobs: usize,
    /// Run only these case ids, in any case (all when empty); an id that names no case is an
    /// error ([`RunError::UnknownCases`](crate::RunError::UnknownCases)).
    pub only: Vec<String>,
    /// The measurement slack `T` of wall-clock checks.
    pub tolerance: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            root: None,
            emitter_bin: None,
            python: None,
            rotel: None,
            jobs: 4,
            only: Vec::new(),
            tolerance: Duration::from_millis(150),
        }
    }
}

impl RunOptions {
    /// The rotel binary, from the options or `HEARTBEAT_ROTEL`.
    pub(crate) fn rotel_binary(&self) -> Option<PathBuf> {
        self.rotel
            .clone()
            .or_else(|| std::env::var_os(heartbeat_testkit::ROTEL_ENV).map(PathBuf::from))
            .filter(|p| !p.as_os_str().is_empty())
    }
}
