//! `heartbeat-watch`: receive and judge Heartbeat metrics.
//!
//! Subcommands: `serve --rules FILE` (the receiver, the judge and the live view), `demo` (the
//! whole system on one machine in about a minute), `check --rules FILE` (validate a rule file,
//! with detection figures), `report --month YYYY-MM` (the SLA ledger),
//! `rules ENGINE --rules FILE` (rules for Prometheus, Alertmanager, Datadog and CloudWatch) and
//! `tenant-hash --salt SALT ID...` (the `heartbeat.tenant` value of each id when emitters hash
//! tenant ids).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use heartbeat_watch::{Engine, Month, RuleFile, ViewMode, Watch};

/// The receiving end of Heartbeat.
#[derive(Debug, Parser)]
#[command(name = "heartbeat-watch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReportFormat {
    Json,
    Markdown,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive OTLP metrics, judge the rules every tick, print the live view.
    Serve {
        /// The rule file (TOML, see watch/RULEFILE-SCHEMA.md).
        #[arg(long)]
        rules: PathBuf,
        /// Plain-text view even on a terminal.
        #[arg(long)]
        plain: bool,
        /// No live view.
        #[arg(long)]
        quiet: bool,
    },
    /// Run the whole system on this machine: the watch, a simulated fleet, a failure. About a
    /// minute, in compressed time.
    Demo,
    /// The monthly SLA report from the state database.
    Report {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: Month,
        /// The state database (default: `watch.database` of --rules).
        #[arg(long)]
        db: Option<PathBuf>,
        /// The rule file whose `watch.database` to read.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
        format: ReportFormat,
    },
    /// Validate a rule file: what each rule will match, each dead-man rule's worst detection
    /// time and false-page rate, and warnings (no sink, rules that can never be green).
    Check {
        /// The rule file.
        #[arg(long)]
        rules: PathBuf,
    },
    /// Generate rules for Prometheus, Alertmanager, Datadog or CloudWatch from the rule file.
    Rules {
        /// prometheus | alertmanager | datadog | cloudwatch
        engine: Engine,
        /// The rule file.
        #[arg(long)]
        rules: PathBuf,
    },
    /// Print the `heartbeat.tenant` value each tenant id is sent as when emitters hash tenant
    /// ids with this salt (to find a customer in the drill-down): the value, a tab, the id.
    TenantHash {
        /// The salt the emitters hash with (else HEARTBEAT_TENANT_HASH_SALT, which keeps it out
        /// of the shell history and the process list).
        #[arg(long)]
        salt: Option<String>,
        /// Tenant ids, as the application records them.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("heartbeat-watch: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Box<dyn std::error::Error>> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(command: Command) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match command {
        Command::Serve {
            rules,
            plain,
            quiet,
        } => {
            let file = RuleFile::from_path(&rules)?;
            let notes_for = file.clone();
            let view = if quiet {
                ViewMode::Off
            } else if plain {
                ViewMode::Plain
            } else {
                ViewMode::Auto
            };
            runtime()?.block_on(async move {
                let watch = Watch::builder(file)
                    .with_view(view)
                    .with_title(format!("heartbeat-watch ({})", rules.display()))
                    .start()
                    .await?;
                eprintln!(
                    "heartbeat-watch: OTLP/HTTP on http://{}/v1/metrics, OTLP/gRPC on {}",
                    watch.http_addr(),
                    watch
                        .grpc_addr()
                        .map_or("(off)".to_owned(), |a| format!("http://{a}"))
                );
                for note in watch.start_notes(&notes_for) {
                    eprintln!("heartbeat-watch: {note}");
                }
                tokio::signal::ctrl_c().await?;
                eprintln!("heartbeat-watch: stopping");
                watch.shutdown().await;
                Ok::<_, Box<dyn std::error::Error>>(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => {
            let summary = runtime()?.block_on(heartbeat_watch::demo::run(
                heartbeat_watch::demo::Schedule::standard(),
                heartbeat_watch::demo::Output::Stdout,
            ))?;
            Ok(if summary.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Report {
            month,
            db,
            rules,
            format,
        } => {
            let path = match (db, rules) {
                (Some(db), _) => db,
                (None, Some(rules)) => RuleFile::from_path(&rules)?.watch.database,
                (None, None) => heartbeat_watch::WatchSettings::default().database,
            };
            if !path.exists() {
                return Err(format!("no state database at {}", path.display()).into());
            }
            let report = heartbeat_watch::report_from_file(&path, month)?;
            match format {
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                ReportFormat::Markdown => print!("{}", report.to_markdown()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { rules } => {
            let file = RuleFile::from_path(&rules)?;
            print!("{}", heartbeat_watch::check(&file));
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules { engine, rules } => {
            let file = RuleFile::from_path(&rules)?;
            let out = heartbeat_watch::generate(&file, engine, &rules.display().to_string())?;
            print!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Command::TenantHash { salt, ids } => {
            let var = heartbeat::env::HEARTBEAT_TENANT_HASH_SALT;
            let salt = match salt {
                Some(salt) => salt,
                None => std::env::var(var)
                    .map_err(|_| format!("give the salt with --salt, or set {var}"))?,
            };
            let hasher = heartbeat::TenantHasher::new(&salt)?;
            for id in &ids {
                let wire = hasher.wire_value(id);
                if wire == heartbeat::OVERFLOW_TENANT {
                    eprintln!(
                        "heartbeat-watch: {id:?} is not a valid tenant id (empty, over 255 bytes, control characters, or _overflow itself): it is counted in _overflow, unhashed"
                    );
                }
                println!("{wire}\t{}", id.escape_debug());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
