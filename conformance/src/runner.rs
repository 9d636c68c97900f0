//! Runs the case table against one target: describe it, decide applicability, run the
//! applicable checks concurrently (each bounded in time), and collect the report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cases::cases;
use crate::ctx::Ctx;
use crate::options::RunOptions;
use crate::report::{CaseResult, Report};
use crate::spec::Verdict;
use crate::target::{Target, TargetError, TargetInfo};

/// The longest one check may run.
const CASE_LIMIT: Duration = Duration::from_secs(240);

/// Why a run could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// `only` names ids that are no case of the table.
    #[error("no case has the id {}: expected ids like HB-041 (see `heartbeat-conformance list`)", .0.join(", "))]
    UnknownCases(Vec<String>),
    /// The target could not say what it offers.
    #[error("cannot describe target {target}: {source}")]
    Describe {
        /// The target's name.
        target: String,
        /// Why.
        #[source]
        source: TargetError,
    },
}

/// Describes `target` and runs every case against it.
///
/// # Errors
/// [`RunError::UnknownCases`] when `options.only` names an id of no case;
/// [`RunError::Describe`] when the emitter cannot be started to say what it offers.
pub async fn run(target: Arc<dyn Target>, options: &RunOptions) -> Result<Report, RunError> {
    check_only(&options.only)?;
    let info = target
        .describe()
        .await
        .map_err(|source| RunError::Describe {
            target: target.name().to_owned(),
            source,
        })?;
    Ok(run_cases(target, info, options).await)
}

/// Checks that every id of `only` names a case (ids are compared without regard to case).
///
/// # Errors
/// [`RunError::UnknownCases`] with every id that names none, as given.
pub fn check_only(only: &[String]) -> Result<(), RunError> {
    let unknown: Vec<String> = only
        .iter()
        .filter(|id| !cases().iter().any(|c| c.id.eq_ignore_ascii_case(id.trim())))
        .map(|id| format!("{id:?}"))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(RunError::UnknownCases(unknown))
    }
}

/// Runs every case (or those in `options.only`, ids in any case) against `target`, which
/// offers `info`.
pub async fn run_cases(target: Arc<dyn Target>, info: TargetInfo, options: &RunOptions) -> Report {
    let started = Instant::now();
    let name = target.name().to_owned();
    let ctx = Arc::new(Ctx::new(target, info.clone(), options.clone()));
    let mut running = Vec::new();
    for case in cases() {
        if !options.only.is_empty()
            && !options
                .only
                .iter()
                .any(|id| case.id.eq_ignore_ascii_case(id.trim()))
        {
            continue;
        }
        let not_applicable = case.not_applicable(&info);
        let ctx = Arc::clone(&ctx);
        let check = case.check;
        let handle = tokio::spawn(async move {
            let begun = Instant::now();
            let verdict = match not_applicable {
                Some(reason) => Verdict::na(reason),
                None => match tokio::time::timeout(CASE_LIMIT, check(ctx)).await {
                    Ok(v) => v,
                    Err(_) => {
                        Verdict::fail(format!("the check did not finish within {CASE_LIMIT:?}"))
                    }
                },
            };
            (verdict, begun.elapsed())
        });
        running.push((case, handle));
    }
    let mut results = Vec::with_capacity(running.len());
    for (case, handle) in running {
        let (verdict, took) = match handle.await {
            Ok(done) => done,
            Err(e) => (
                Verdict::fail(format!("the check panicked: {e}")),
                Duration::ZERO,
            ),
        };
        results.push(CaseResult::new(case, verdict, took));
    }
    Report::new(name, info, results, started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ids_are_case_insensitive_and_unknown_ones_are_named() {
        assert_eq!(
            check_only(&["hb-041".to_owned(), "HB-060".to_owned()]),
            Ok(())
        );
        let err = check_only(&["HB-999".to_owned(), "hb-041".to_owned(), "x".to_owned()])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "no case has the id \"HB-999\", \"x\": expected ids like HB-041 (see `heartbeat-conformance list`)"
        );
    }
}
