//! The vocabulary of the specification: levels, scopes, what a case needs from an emitter, and
//! verdicts; and `SPEC.md` itself, parsed, so that the case table can be checked against it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;

use crate::ctx::Ctx;
use crate::target::{Protocol, TargetInfo, Temporality};

/// `conformance/SPEC.md`, the normative text the cases implement.
pub(crate) const SPEC_MD: &str = include_str!("../SPEC.md");

/// How binding a requirement is (RFC 2119).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// A failure fails the run.
    Must,
    /// Reported apart; does not fail the run.
    Should,
    /// Optional; not offering it is N/A.
    May,
}

impl Level {
    /// `MUST`, `SHOULD` or `MAY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "MUST" => Some(Level::Must),
            "SHOULD" => Some(Level::Should),
            "MAY" => Some(Level::May),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which emitters a requirement applies to (`SPEC.md`, "Scope and applicability").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Any OTLP metrics emitter.
    All,
    /// A Heartbeat emitter, in a process or in a page.
    Heartbeat,
    /// A Heartbeat emitter in a long-lived process.
    Process,
    /// A Heartbeat emitter in a web page.
    Browser,
    /// The receiving end (the watch); independent of the target.
    Receiver,
}

impl Scope {
    /// The name used in `SPEC.md`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::Heartbeat => "heartbeat",
            Scope::Process => "process",
            Scope::Browser => "browser",
            Scope::Receiver => "receiver",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "all" => Some(Scope::All),
            "heartbeat" => Some(Scope::Heartbeat),
            "process" => Some(Scope::Process),
            "browser" => Some(Scope::Browser),
            "receiver" => Some(Scope::Receiver),
            _ => None,
        }
    }

    /// `None` when the scope covers the emitter, else why not.
    pub fn excludes(self, info: &TargetInfo) -> Option<String> {
        let heartbeat = info.heartbeat;
        match self {
            Scope::All | Scope::Receiver => None,
            Scope::Heartbeat if heartbeat => None,
            Scope::Process if heartbeat && !info.browser => None,
            Scope::Browser if heartbeat && info.browser => None,
            Scope::Heartbeat => Some("not a Heartbeat emitter (plain OTLP)".to_owned()),
            Scope::Process if !heartbeat => Some("not a Heartbeat emitter (plain OTLP)".to_owned()),
            Scope::Process => Some("applies to process emitters, not to a page".to_owned()),
            Scope::Browser => Some("applies to emitters in a web page".to_owned()),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A feature the emitter must offer for a requirement to apply; without it the case is N/A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Needs {
    /// Nothing beyond the scope.
    Nothing,
    /// At least one OTLP/HTTP protocol.
    Http,
    /// This protocol.
    Protocol(Protocol),
    /// `http/protobuf` or `grpc` (what a collector takes without quirks).
    ProtobufOrGrpc,
    /// This temporality.
    Temporality(Temporality),
    /// Configuration through the process environment (`OTEL_*`).
    Env,
    /// Can be suspended (`SIGSTOP`) and resumed.
    Stall,
    /// Page visibility can be driven (hidden, visible).
    Visibility,
}

impl Needs {
    /// `None` when the emitter offers what is needed, else why the case is N/A.
    pub fn missing(self, info: &TargetInfo) -> Option<String> {
        let ok = match self {
            Needs::Nothing => true,
            Needs::Http => info.http_protocol().is_some(),
            Needs::Protocol(p) => info.protocols.contains(&p),
            Needs::ProtobufOrGrpc => {
                info.protocols.contains(&Protocol::HttpProtobuf)
                    || info.protocols.contains(&Protocol::Grpc)
            }
            Needs::Temporality(t) => info.temporalities.contains(&t),
            Needs::Env => info.env,
            Needs::Stall => info.stall,
            Needs::Visibility => info.visibility,
        };
        if ok {
            return None;
        }
        Some(match self {
            Needs::Nothing => String::new(),
            Needs::Http => "the emitter speaks no OTLP/HTTP protocol".to_owned(),
            Needs::Protocol(p) => format!("the emitter does not offer {p}"),
            Needs::ProtobufOrGrpc => "the emitter offers neither http/protobuf nor grpc".to_owned(),
            Needs::Temporality(t) => format!("the emitter does not offer {t} temporality"),
            Needs::Env => "the emitter is not configured through a process environment".to_owned(),
            Needs::Stall => "the emitter cannot be suspended".to_owned(),
            Needs::Visibility => "the emitter has no page visibility".to_owned(),
        })
    }
}

/// The result of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The requirement holds.
    Pass,
    /// The requirement does not hold.
    Fail,
    /// The requirement does not apply to this emitter (scope, feature, or a MAY not offered).
    NotApplicable,
    /// The case could not run here (for example `HEARTBEAT_ROTEL` is not set).
    Skipped,
}

impl Status {
    /// `pass`, `FAIL`, `n/a` or `skipped`, as the Markdown report shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::NotApplicable => "n/a",
            Status::Skipped => "skipped",
        }
    }
}

/// What a check decided, and the evidence in a sentence or two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Pass, fail, N/A or skipped.
    pub status: Status,
    /// What was seen (numbers, the offending request), for the report.
    pub detail: String,
}

impl Verdict {
    /// A pass with its evidence.
    pub fn pass(detail: impl Into<String>) -> Self {
        Self {
            status: Status::Pass,
            detail: detail.into(),
        }
    }

    /// A failure with what was seen.
    pub fn fail(detail: impl Into<String>) -> Self {
        Self {
            status: Status::Fail,
            detail: detail.into(),
        }
    }

    /// Not applicable, and why.
    pub fn na(detail: impl Into<String>) -> Self {
        Self {
            status: Status::NotApplicable,
            detail: detail.into(),
        }
    }

    /// Could not run here, and why.
    pub fn skipped(detail: impl Into<String>) -> Self {
        Self {
            status: Status::Skipped,
            detail: detail.into(),
        }
    }

    /// A pass when `ok`, else a failure, with the same evidence.
    pub fn when(ok: bool, detail: impl Into<String>) -> Self {
        if ok {
            Self::pass(detail)
        } else {
            Self::fail(detail)
        }
    }
}

/// A check: runs against the context's target and decides.
pub type Check = fn(Arc<Ctx>) -> Pin<Box<dyn Future<Output = Verdict> + Send>>;

/// One row of the case table: a numbered requirement of `SPEC.md` and how to check it.
#[derive(Clone, Copy)]
pub struct Case {
    /// The requirement's number, `HB-012`.
    pub id: &'static str,
    /// MUST, SHOULD or MAY.
    pub level: Level,
    /// Which emitters it applies to.
    pub scope: Scope,
    /// The feature it needs, without which it is N/A.
    pub needs: Needs,
    /// One line: what it requires.
    pub description: &'static str,
    /// The check.
    pub check: Check,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("id", &self.id)
            .field("level", &self.level)
            .field("scope", &self.scope)
            .field("needs", &self.needs)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl Case {
    /// `Some(reason)` when the case does not apply to the emitter described by `info`.
    pub fn not_applicable(&self, info: &TargetInfo) -> Option<String> {
        self.scope
            .excludes(info)
            .or_else(|| self.needs.missing(info))
    }
}

/// A requirement row of `SPEC.md`: its id, level, scope (the first word of its scope column)
/// and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecRow {
    /// `HB-012`.
    pub id: String,
    /// Its level.
    pub level: Level,
    /// Its scope.
    pub scope: Scope,
    /// The requirement.
    pub text: String,
}

/// The requirement rows of `SPEC.md`, in order; a row that does not parse is an error naming it.
///
/// # Errors
/// The offending line, when a row has an unknown level or scope.
pub fn spec_rows() -> Result<Vec<SpecRow>, String> {
    parse_spec(SPEC_MD)
}

pub(crate) fn parse_spec(text: &str) -> Result<Vec<SpecRow>, String> {
    let mut rows = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix('|') else {
            continue;
        };
        let cells: Vec<&str> = rest.split('|').map(str::trim).collect();
        let Some(id) = cells.first().filter(|c| c.starts_with("HB-")) else {
            continue;
        };
        let bad = || format!("SPEC.md: cannot read the requirement row {line:?}");
        if cells.len() < 5 {
            return Err(bad());
        }
        let level = Level::parse(cells[1]).ok_or_else(bad)?;
        let scope_word = cells[2].split(',').next().unwrap_or("").trim();
        let scope = Scope::parse(scope_word).ok_or_else(bad)?;
        rows.push(SpecRow {
            id: (*id).to_owned(),
            level,
            scope,
            text: cells[3].to_owned(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_row_is_read_with_its_level_and_scope() {
        let rows = parse_spec(
            "| id | level | scope | requirement | why |\n|---|---|---|---|---|\n\
             | HB-003 | MUST | all, HTTP | Sends POST. | Routing. |\n",
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![SpecRow {
                id: "HB-003".to_owned(),
                level: Level::Must,
                scope: Scope::All,
                text: "Sends POST.".to_owned(),
            }]
        );
    }

    #[test]
    fn a_row_with_an_unknown_level_is_an_error_naming_it() {
        let err = parse_spec("| HB-009 | OUGHT | all | x | y |").unwrap_err();
        assert!(err.contains("HB-009 | OUGHT"), "{err}");
    }
}
