//! `heartbeat-conformance`: runs the suite against one emitter.
//!
//! ```text
//! heartbeat-conformance run --target native --report-json out.json --report-md out.md
//! heartbeat-conformance run --target 'command:python3 my_emitter.py'
//! heartbeat-conformance list
//! ```
//!
//! Exit status: 0 when no MUST failed, 1 when one did, 2 when the run could not be made.

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
        /// native, native-bin, wasm-node, wasm-chromium, python-otel, js-otel, or
        /// command:<template> (see docs/conformance.md).
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
        /// Only these cases (comma-separated ids, e.g. HB-001,HB-060).
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
            println!("{}", report.summary());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}
