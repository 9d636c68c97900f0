//! `heartbeat-watch`: receive and judge Heartbeat metrics.
//!
//! Subcommands: `serve --rules FILE` (the receiver, the judge and the live view), `demo` (the
//! whole system on one machine in about a minute), `report --month YYYY-MM` (the SLA ledger) and
//! `rules ...` (rules for Prometheus, Alertmanager, Datadog and CloudWatch).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The receiving end of Heartbeat.
#[derive(Debug, Parser)]
#[command(name = "heartbeat-watch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive OTLP metrics, judge the rules every tick, print the live view.
    Serve {
        /// The rule file (TOML, see watch/RULEFILE-SCHEMA.md).
        #[arg(long)]
        rules: PathBuf,
    },
    /// Run the whole system on this machine: the watch, a simulated fleet, a failure.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { rules } => {
            eprintln!("serve {}: not implemented yet", rules.display());
            ExitCode::FAILURE
        }
        Command::Demo => {
            eprintln!("demo: not implemented yet");
            ExitCode::FAILURE
        }
    }
}
