//! The run's report: every case with its verdict, as JSON and as a Markdown table, MUST apart
//! from SHOULD and MAY.

use std::time::Duration;

use serde::Serialize;

use crate::spec::{Case, Level, Scope, Status, Verdict};
use crate::target::TargetInfo;

/// One case's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The requirement, `HB-012`.
    pub id: String,
    /// Its level.
    pub level: Level,
    /// Its scope.
    pub scope: Scope,
    /// What it requires, in one line.
    pub description: String,
    /// Pass, fail, N/A or skipped.
    pub status: Status,
    /// The evidence.
    pub detail: String,
    /// How long the check took, in seconds.
    pub seconds: f64,
}

impl CaseResult {
    /// The result of `case`.
    pub fn new(case: &Case, verdict: Verdict, took: Duration) -> Self {
        Self {
            id: case.id.to_owned(),
            level: case.level,
            scope: case.scope,
            description: case.description.to_owned(),
            status: verdict.status,
            detail: verdict.detail,
            seconds: (took.as_secs_f64() * 10.0).round() / 10.0,
        }
    }
}

/// Results of one level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Passed.
    pub pass: usize,
    /// Failed.
    pub fail: usize,
    /// Not applicable.
    pub not_applicable: usize,
    /// Skipped.
    pub skipped: usize,
}

impl Counts {
    fn of(results: &[CaseResult], level: Level) -> Self {
        let mut c = Counts::default();
        for r in results.iter().filter(|r| r.level == level) {
            match r.status {
                Status::Pass => c.pass += 1,
                Status::Fail => c.fail += 1,
                Status::NotApplicable => c.not_applicable += 1,
                Status::Skipped => c.skipped += 1,
            }
        }
        c
    }

    fn line(&self) -> String {
        let mut s = format!(
            "{} pass, {} fail, {} n/a",
            self.pass, self.fail, self.not_applicable
        );
        if self.skipped > 0 {
            s.push_str(&format!(", {} SKIPPED", self.skipped));
        }
        s
    }
}

/// A run's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `heartbeat-conformance`.
    pub suite: &'static str,
    /// The suite's version.
    pub version: &'static str,
    /// The target's name.
    pub target: String,
    /// What the emitter said it offers.
    pub emitter: TargetInfo,
    /// Wall time of the run, in seconds.
    pub seconds: f64,
    /// MUST results.
    pub must: Counts,
    /// SHOULD results.
    pub should: Counts,
    /// MAY results.
    pub may: Counts,
    /// Every MUST that applies was judged and none failed.
    pub passed: bool,
    /// `pass`, `fail` (a MUST failed) or `incomplete` (no MUST failed, but one the runner could
    /// have judged was skipped: it is not a pass).
    pub verdict: &'static str,
    /// The MUSTs skipped on this machine (a missing collector binary, a missing browser).
    pub not_judged: Vec<String>,
    /// Every case, in `SPEC.md` order.
    pub results: Vec<CaseResult>,
}

impl Report {
    /// A report of `results`.
    pub fn new(
        target: String,
        emitter: TargetInfo,
        results: Vec<CaseResult>,
        took: Duration,
    ) -> Self {
        let must = Counts::of(&results, Level::Must);
        let not_judged: Vec<String> = results
            .iter()
            .filter(|r| r.level == Level::Must && r.status == Status::Skipped)
            .map(|r| r.id.clone())
            .collect();
        let verdict = if must.fail > 0 {
            "fail"
        } else if !not_judged.is_empty() {
            "incomplete"
        } else {
            "pass"
        };
        Self {
            suite: "heartbeat-conformance",
            version: env!("CARGO_PKG_VERSION"),
            target,
            emitter,
            seconds: (took.as_secs_f64() * 10.0).round() / 10.0,
            must,
            should: Counts::of(&results, Level::Should),
            may: Counts::of(&results, Level::May),
            passed: verdict == "pass",
            verdict,
            not_judged,
            results,
        }
    }

    /// Whether every applicable MUST was judged and none failed.
    pub fn passed(&self) -> bool {
        self.passed
    }

    /// Whether a MUST failed (an incomplete run has not failed one, and has not passed).
    pub fn failed(&self) -> bool {
        self.must.fail > 0
    }

    /// `PASS`, `FAIL`, or `INCOMPLETE (MUST not judged: HB-016)`.
    pub fn result(&self) -> String {
        match self.verdict {
            "pass" => "PASS".to_owned(),
            "fail" => "FAIL".to_owned(),
            _ => format!(
                "INCOMPLETE (MUST not judged: {})",
                self.not_judged.join(", ")
            ),
        }
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The one-line summary: `MUST 40 pass, 0 fail, 5 n/a; SHOULD ...; MAY ...`.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} (MUST {}; SHOULD {}; MAY {}) in {:.0} s",
            self.target,
            self.result(),
            self.must.line(),
            self.should.line(),
            self.may.line(),
            self.seconds
        )
    }

    /// The report as Markdown: a summary, then one table per level.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "# Heartbeat conformance: `{}`\n\nEmitter: {}. Protocols: {}. Result: **{}** in {:.0} s.\n\n",
            self.target,
            self.emitter.name,
            self.emitter
                .protocols
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            match self.verdict {
                "pass" => "PASS".to_owned(),
                "fail" => "FAIL (a MUST failed)".to_owned(),
                _ => self.result(),
            },
            self.seconds
        );
        out.push_str("| level | pass | fail | n/a | skipped |\n|---|---|---|---|---|\n");
        for (level, c) in [
            (Level::Must, self.must),
            (Level::Should, self.should),
            (Level::May, self.may),
        ] {
            out.push_str(&format!(
                "| {level} | {} | {} | {} | {} |\n",
                c.pass, c.fail, c.not_applicable, c.skipped
            ));
        }
        for level in [Level::Must, Level::Should, Level::May] {
            let rows: Vec<&CaseResult> = self.results.iter().filter(|r| r.level == level).collect();
            if rows.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "\n## {level}\n\n| id | result | requirement | detail |\n|---|---|---|---|\n"
            ));
            for r in rows {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    r.id,
                    if r.status == Status::Skipped && r.level == Level::Must {
                        "SKIPPED"
                    } else {
                        r.status.as_str()
                    },
                    cell(&r.description, 200),
                    cell(&r.detail, 400)
                ));
            }
        }
        out
    }
}

/// The results table of `docs/conformance.md`, one row per report (JSON as [`Report::to_json`]
/// writes it): target, emitter, result, MUST / SHOULD / MAY as pass / fail / n/a (and skipped),
/// what failed or was not judged, and the run's time.
///
/// # Errors
/// A report without a field the table needs, naming the report and the field.
pub fn results_table(reports: &[(String, serde_json::Value)]) -> Result<String, String> {
    let mut out = String::from(
        "| target | emitter | result | MUST | SHOULD | MAY | failed or not judged | time |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (name, r) in reports {
        let field = |key: &str| {
            r.get(key)
                .ok_or_else(|| format!("{name}: the report has no {key:?}"))
        };
        let text = |key: &str| -> Result<String, String> {
            field(key)?
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{name}: {key:?} is not a string"))
        };
        let counts = |level: &str| -> Result<String, String> {
            let c = field(level)?;
            let n = |k: &str| c.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
            let mut s = format!("{} / {} / {}", n("pass"), n("fail"), n("not_applicable"));
            if n("skipped") > 0 {
                s.push_str(&format!(" / {} skipped", n("skipped")));
            }
            Ok(s)
        };
        let results = field("results")?
            .as_array()
            .ok_or_else(|| format!("{name}: \"results\" is not an array"))?;
        let mut missed = Vec::new();
        for (level, wanted) in [
            ("MUST", "fail"),
            ("MUST", "skipped"),
            ("SHOULD", "fail"),
            ("MAY", "fail"),
        ] {
            let ids: Vec<&str> = results
                .iter()
                .filter(|x| x["level"] == level && x["status"] == wanted)
                .filter_map(|x| x["id"].as_str())
                .collect();
            if !ids.is_empty() {
                let what = if wanted == "skipped" {
                    format!("{level} not judged")
                } else {
                    level.to_owned()
                };
                missed.push(format!("{what}: {}", ids.join(", ")));
            }
        }
        let verdict = match text("verdict")?.as_str() {
            "pass" => "PASS".to_owned(),
            "fail" => "FAIL".to_owned(),
            other => other.to_uppercase(),
        };
        let emitter = field("emitter")?
            .get("name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let seconds = field("seconds")?.as_f64().unwrap_or(0.0);
        out.push_str(&format!(
            "| `{}` | {} | {verdict} | {} | {} | {} | {} | {seconds:.0} s |\n",
            text("target")?,
            cell(&emitter, 120),
            counts("must")?,
            counts("should")?,
            counts("may")?,
            if missed.is_empty() {
                "none".to_owned()
            } else {
                cell(&missed.join("; "), 300)
            },
        ));
    }
    Ok(out)
}

/// Text for a Markdown table cell: one line, pipes escaped, cut to `max` characters.
fn cell(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut: String = one_line.chars().take(max).collect();
    if cut.len() < one_line.len() {
        cut.push('…');
    }
    cut.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{KillMode, Protocol, Temporality};

    fn info() -> TargetInfo {
        TargetInfo {
            name: "test emitter".to_owned(),
            heartbeat: false,
            browser: false,
            protocols: vec![Protocol::HttpProtobuf],
            temporalities: vec![Temporality::Cumulative],
            gzip: false,
            env: true,
            stall: false,
            visibility: false,
            memory: false,
            kill: KillMode::Signal,
            beat_times: false,
        }
    }

    fn result(id: &str, level: Level, status: Status, detail: &str) -> CaseResult {
        CaseResult {
            id: id.to_owned(),
            level,
            scope: Scope::All,
            description: "does a thing".to_owned(),
            status,
            detail: detail.to_owned(),
            seconds: 0.5,
        }
    }

    fn report(results: Vec<CaseResult>) -> Report {
        Report::new(
            "native".to_owned(),
            info(),
            results,
            Duration::from_millis(1500),
        )
    }

    #[test]
    fn a_must_failure_fails_the_report_and_a_should_failure_does_not() {
        let r = report(vec![
            result("HB-001", Level::Must, Status::Pass, ""),
            result("HB-002", Level::Should, Status::Fail, "no protobuf"),
        ]);
        assert!(r.passed());
        assert_eq!(r.should.fail, 1);
        let r = report(vec![result(
            "HB-001",
            Level::Must,
            Status::Fail,
            "nothing arrived",
        )]);
        assert!(!r.passed());
        assert_eq!(
            r.must,
            Counts {
                pass: 0,
                fail: 1,
                not_applicable: 0,
                skipped: 0
            }
        );
    }

    #[test]
    fn the_markdown_has_one_table_per_level_and_escapes_cells() {
        let md = report(vec![
            result(
                "HB-001",
                Level::Must,
                Status::Pass,
                "3 requests | all decoded",
            ),
            result("HB-017", Level::May, Status::NotApplicable, "not offered"),
        ])
        .to_markdown();
        assert!(
            md.contains("## MUST\n\n| id | result | requirement | detail |"),
            "{md}"
        );
        assert!(
            md.contains("| HB-001 | pass | does a thing | 3 requests \\| all decoded |"),
            "{md}"
        );
        assert!(md.contains("## MAY"), "{md}");
        assert!(!md.contains("## SHOULD"), "{md}");
        assert!(md.contains("| MUST | 1 | 0 | 0 | 0 |"), "{md}");
    }

    #[test]
    fn the_json_carries_counts_and_every_result() {
        let json: serde_json::Value = serde_json::from_str(
            &report(vec![result(
                "HB-001",
                Level::Must,
                Status::Skipped,
                "no rotel",
            )])
            .to_json(),
        )
        .unwrap();
        assert_eq!(json["must"]["skipped"], 1);
        assert_eq!(json["passed"], false);
        assert_eq!(json["verdict"], "incomplete");
        assert_eq!(json["not_judged"][0], "HB-001");
        assert_eq!(json["results"][0]["status"], "skipped");
        assert_eq!(json["results"][0]["level"], "MUST");
        assert_eq!(json["emitter"]["protocols"][0], "http/protobuf");
    }

    #[test]
    fn a_skipped_must_is_never_a_pass() {
        let r = report(vec![
            result("HB-001", Level::Must, Status::Pass, ""),
            result("HB-016", Level::Must, Status::Skipped, "no rotel"),
        ]);
        assert!(!r.passed());
        assert!(!r.failed());
        assert!(
            r.summary()
                .starts_with("native: INCOMPLETE (MUST not judged: HB-016) (MUST 1 pass, 0 fail, 0 n/a, 1 SKIPPED;"),
            "{}",
            r.summary()
        );
        let md = r.to_markdown();
        assert!(md.contains("| HB-016 | SKIPPED |"), "{md}");
        assert!(
            md.contains("Result: **INCOMPLETE (MUST not judged: HB-016)**"),
            "{md}"
        );
        // A skipped SHOULD is reported, and does not stop a pass.
        let r = report(vec![
            result("HB-001", Level::Must, Status::Pass, ""),
            result("HB-002", Level::Should, Status::Skipped, "no rotel"),
        ]);
        assert!(r.passed());
    }

    #[test]
    fn the_results_table_is_made_from_the_json_reports() {
        let r = report(vec![
            result("HB-001", Level::Must, Status::Pass, ""),
            result("HB-016", Level::Must, Status::Skipped, "no rotel"),
            result("HB-069", Level::Must, Status::Fail, "lost"),
            result("HB-010", Level::Should, Status::Fail, "no gzip"),
        ]);
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        let table = results_table(&[("native.json".to_owned(), json)]).unwrap();
        assert!(
            table.ends_with(
                "| `native` | test emitter | FAIL | 1 / 1 / 0 / 1 skipped | 0 / 1 / 0 | 0 / 0 / 0 | MUST: HB-069; MUST not judged: HB-016; SHOULD: HB-010 | 2 s |\n"
            ),
            "{table}"
        );
        let err = results_table(&[("x.json".to_owned(), serde_json::json!({}))]).unwrap_err();
        assert_eq!(err, "x.json: the report has no \"results\"");
    }

    #[test]
    fn long_details_are_cut_to_one_line() {
        assert_eq!(cell("a\nb   c", 10), "a b c");
        assert_eq!(cell("abcdef", 3), "abc…");
    }
}
