//! Why a rule file was refused, and where.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::duration::DisplayDuration;

/// Where in a rule file a problem is: the file (when read from one), line and column (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Location {
    /// The file, when the rules were read with [`RuleFile::from_path`](crate::RuleFile::from_path).
    pub path: Option<PathBuf>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}:{}:{}", path.display(), self.line, self.column),
            None => write!(f, "line {}, column {}", self.line, self.column),
        }
    }
}

/// Why a rule file was refused. Each variant says where and names the key or value at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleFileError {
    /// The file could not be read.
    #[error("cannot read rule file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key, a missing key, a wrong type or a bad value.
    #[error("{location}: {message}{}", quoted_line(.line))]
    Invalid {
        /// Where.
        location: Location,
        /// What is wrong, naming the key or the value (from the TOML parser or a check).
        message: String,
        /// The text of that line, trimmed (for example `min_beats = 0`), shown with the message.
        line: String,
    },
    /// Two rules, SLAs or sinks of the same kind share a name.
    #[error("{location}: duplicate {kind} name {name:?} (first defined at line {first_line})")]
    DuplicateName {
        /// Where the second one is.
        location: Location,
        /// `rule` (dead-man and outcome rules share names), `sla` or `alert`.
        kind: &'static str,
        /// The name.
        name: String,
        /// Line of the first one.
        first_line: usize,
    },
    /// An SLA signal that is not the name of an outcome or dead-man rule.
    #[error(
        "{location}: sla {sla:?}: signal {signal:?} is not the name of an [[outcome]] or [[deadman]] rule{}",
        known_list(.known)
    )]
    UnknownSignal {
        /// Where the SLA is.
        location: Location,
        /// The SLA.
        sla: String,
        /// The signal.
        signal: String,
        /// The outcome and dead-man rule names there are.
        known: Vec<String>,
    },
    /// A rule window that is not a positive multiple of `watch.tick`.
    #[error(
        "{location}: {kind} {name:?}: window {window} is not a multiple of watch.tick {tick}",
        window = DisplayDuration(*.window),
        tick = DisplayDuration(*.tick)
    )]
    WindowNotMultipleOfTick {
        /// Where the rule is.
        location: Location,
        /// `deadman` or `outcome`.
        kind: &'static str,
        /// The rule.
        name: String,
        /// Its window.
        window: Duration,
        /// `watch.tick`.
        tick: Duration,
    },
}

fn quoted_line(line: &str) -> String {
    if line.is_empty() {
        String::new()
    } else {
        format!(" (in `{line}`)")
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        " (there are no outcome or dead-man rules)".to_owned()
    } else {
        format!(" (rules: {})", known.join(", "))
    }
}
