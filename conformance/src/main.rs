//! `heartbeat-conformance`: runs the suite against one emitter.
//!
//! ```text
//! heartbeat-conformance run --target native --report-json out.json --report-md out.md
//! heartbeat-conformance run --target 'command:python3 my_emitter.py'
//! heartbeat-conformance list
//! heartbeat-conformance table target/conformance/native.json target/conformance/js-otel.json
//! ```
//!
//! Exit status: 0 when every applicable MUST was judged and passed; 1 when a MUST failed, or
//! when one was skipped on this machine (a missing collector binary) and `CI=true`; 3 when one
//! was skipped outside CI (the run is incomplete, not a pass); 2 when the run could not be
//! made (an unknown `--only` id, an emitter that does not start, a report that cannot be
//! written).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use heartbeat_conformance::{RunOptions, cases, run, spec_rows, target};

#[derive(Parser, Debug)]
#[command(
    name = "heartbeat-conformance",
    version,
    about = "The Heartbeat conformance suite"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Runs every case against one target.
    Run {
        /// native, native-bin, wasm-node, wasm-chromium, python-otel, js-otel, python-example,
        /// or command:<template> (see docs/conformance.md).
        #[arg(long)]
        target: String,
        /// Writes the report as JSON here.
        #[arg(long)]
        report_json: Option<PathBuf>,
        /// Writes the report as Markdown here.
        #[arg(long)]
        report_md: Option<PathBuf>,
        /// Emitters running at once.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        /// Only these cases (comma-separated ids in any case, e.g. HB-001,hb-060); an unknown
        /// id is an error.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// The rotel collector binary (default: HEARTBEAT_ROTEL).
        #[arg(long)]
        rotel: Option<PathBuf>,
        /// The repository root, where the driver and reference scripts are.
        #[arg(long)]
        root: Option<PathBuf>,
        /// The measurement slack of wall-clock checks, in milliseconds.
        #[arg(long, default_value_t = 150)]
        tolerance_ms: u64,
    },
    /// Prints the case table: id, level, scope, requirement.
    List,
    /// Prints the results table of docs/conformance.md from JSON reports (as `run
    /// --report-json` writes them), one row each, in the order given.
    Table {
        /// The JSON reports.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::List => {
            let texts = spec_rows().unwrap_or_default();
            for case in cases() {
                let text = texts
                    .iter()
                    .find(|r| r.id == case.id)
                    .map_or(case.description, |r| r.text.as_str());
                println!(
                    "{}  {:<6}  {:<9}  {text}",
                    case.id,
                    case.level.as_str(),
                    case.scope.as_str()
                );
            }
            ExitCode::SUCCESS
        }
        Cmd::Table { reports } => {
            let mut read = Vec::with_capacity(reports.len());
            for path in reports {
                let parsed = std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()));
                match parsed {
                    Ok(json) => read.push((path.display().to_string(), json)),
                    Err(e) => {
                        eprintln!("heartbeat-conformance: cannot read {}: {e}", path.display());
                        return ExitCode::from(2);
                    }
                }
            }
            match heartbeat_conformance::results_table(&read) {
                Ok(table) => {
                    print!("{table}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("heartbeat-conformance: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Run {
            target: name,
            report_json,
            report_md,
            jobs,
            only,
            rotel,
            root,
            tolerance_ms,
        } => {
            let options = RunOptions {
                root,
                rotel,
                jobs,
                only,
                tolerance: Duration::from_millis(tolerance_ms),
                ..RunOptions::default()
            };
            if let Err(e) = heartbeat_conformance::check_only(&options.only) {
                eprintln!("heartbeat-conformance: {e}");
                return ExitCode::from(2);
            }
            let target = match target::by_name(&name, &options) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("heartbeat-conformance: {e}");
                    return ExitCode::from(2);
                }
            };
            let report = match run(target, &options).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("heartbeat-conformance: {e}");
                    return ExitCode::from(2);
                }
            };
            for (path, text) in [
                (report_json, report.to_json()),
                (report_md, report.to_markdown()),
            ] {
                if let Some(path) = path
                    && let Err(e) = std::fs::write(&path, text)
                {
                    eprintln!(
                        "heartbeat-conformance: cannot write {}: {e}",
                        path.display()
                    );
                    return ExitCode::from(2);
                }
            }
            for r in report
                .results
                .iter()
                .filter(|r| r.status == heartbeat_conformance::Status::Fail)
            {
                println!("{} {} FAIL: {}", r.id, r.level, r.detail);
            }
            for r in report.results.iter().filter(|r| {
                r.status == heartbeat_conformance::Status::Skipped
                    && r.level == heartbeat_conformance::Level::Must
            }) {
                println!(
                    "{} MUST SKIPPED (not judged, not a pass): {}",
                    r.id, r.detail
                );
            }
            println!("{}", report.summary());
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            if report.passed() {
                ExitCode::SUCCESS
            } else if report.failed() || ci {
                ExitCode::from(1)
            } else {
                ExitCode::from(3)
            }
        }
    }
}
