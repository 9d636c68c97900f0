//! `heartbeat-watch`: receive and judge Heartbeat metrics.
//!
//! Subcommands: `serve --rules FILE` (the receiver, the judge and the live view), `demo` (the
//! whole system on one machine in about a minute), `check --rules FILE` (validate a rule file,
//! with detection figures), `report --month YYYY-MM` (the SLA ledger),
//! `rules ENGINE --rules FILE` (rules for Prometheus, Alertmanager, Datadog and CloudWatch),
//! `rules check --rules FILE --prometheus URL` (will they match what a Prometheus holds) and
//! `tenant-hash --salt SALT ID...` (the `heartbeat.tenant` value of each id when emitters hash
//! tenant ids).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    #[cfg(feature = "demo")]
    Demo {
        /// The watch's HTTP address (console, status page, OTLP/HTTP); default an ephemeral
        /// port on 127.0.0.1.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// One demo "minute" (tick and ledger slot), from 100ms to 10s: 400ms runs the story in
        /// about 20 seconds.
        #[arg(long, default_value = "1s", value_parser = demo_unit)]
        unit: Duration,
        /// Keep serving the console and status page this long after the summary (e.g. 10m).
        #[arg(long, value_parser = heartbeat_watch::parse_duration)]
        linger: Option<Duration>,
    },
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
    /// A synthetic emitter built on the SDK: dead-man beats and outcome traffic to a watch or a
    /// collector, to try a rule file. SIGTERM or Ctrl-C stops it gracefully (status 2, so a
    /// rule pages only past its stop_grace); SIGKILL makes it vanish, as a crash does.
    Emit(EmitArgs),
    /// Generate rules for Prometheus, Alertmanager, Datadog or CloudWatch from the rule file;
    /// or `check` them against the series a running Prometheus holds.
    Rules {
        /// prometheus | alertmanager | datadog | cloudwatch | check
        target: RulesTarget,
        /// The rule file.
        #[arg(long)]
        rules: PathBuf,
        /// `check`: the Prometheus to read `/api/v1/series` from (its base URL).
        #[arg(long, default_value = "http://127.0.0.1:9090")]
        prometheus: String,
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

/// What `rules` does: generate for an engine, or check against a Prometheus.
#[derive(Debug, Clone, Copy)]
enum RulesTarget {
    Engine(Engine),
    Check,
}

impl std::str::FromStr for RulesTarget {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name == "check" {
            return Ok(Self::Check);
        }
        name.parse().map(Self::Engine).map_err(|_| {
            format!(
                "unknown target {name:?}: expected prometheus, alertmanager, datadog, cloudwatch or check"
            )
        })
    }
}

#[derive(Debug, clap::Args)]
struct EmitArgs {
    /// OTLP/HTTP endpoint (the watch's address); repeat it to feed two watches the same
    /// data (a high-availability pair), as one process with one `service.instance.id`.
    #[arg(long = "endpoint", default_value = "http://127.0.0.1:4318")]
    endpoints: Vec<String>,
    /// `service.name`.
    #[arg(long)]
    service: String,
    /// `service.version`.
    #[arg(long, default_value = "0.0.0")]
    version: String,
    /// The dead-man emitter's name (`heartbeat.emitter`); none: no beats.
    #[arg(long)]
    emitter: Option<String>,
    /// Beat cadence.
    #[arg(long, default_value = "10s", value_parser = heartbeat_watch::parse_duration)]
    cadence: std::time::Duration,
    /// Outcome to count (`heartbeat.outcome`); none: no outcome traffic.
    #[arg(long)]
    outcome: Option<String>,
    /// Fixed attributes of the outcome, `key=value` (repeatable).
    #[arg(long = "attribute")]
    attributes: Vec<String>,
    /// Outcomes per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Share of outcomes that fail (reason `timeout`).
    #[arg(long, default_value_t = 0.0)]
    fail_ratio: f64,
    /// Stop counting outcomes after this long, beats going on: a code path no longer reached.
    #[arg(long, value_parser = heartbeat_watch::parse_duration)]
    outcomes_for: Option<std::time::Duration>,
    /// Export interval.
    #[arg(long, default_value = "10s", value_parser = heartbeat_watch::parse_duration)]
    export_interval: std::time::Duration,
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
        #[cfg(feature = "demo")]
        Command::Demo {
            listen,
            unit,
            linger,
        } => {
            let summary = runtime()?.block_on(heartbeat_watch::demo::run_with(
                heartbeat_watch::demo::Schedule { unit },
                heartbeat_watch::demo::Output::Stdout,
                heartbeat_watch::demo::DemoOptions {
                    listen,
                    linger: linger.unwrap_or_default(),
                },
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
        Command::Emit(args) => {
            runtime()?.block_on(emit(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { rules } => {
            let file = RuleFile::from_path(&rules)?;
            print!("{}", heartbeat_watch::check(&file));
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules {
            target: RulesTarget::Engine(engine),
            rules,
            ..
        } => {
            let file = RuleFile::from_path(&rules)?;
            let out = heartbeat_watch::generate(&file, engine, &rules.display().to_string())?;
            print!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules {
            target: RulesTarget::Check,
            rules,
            prometheus,
        } => {
            let file = RuleFile::from_path(&rules)?;
            let check =
                runtime()?.block_on(heartbeat_watch::check_prometheus(&file, &prometheus))?;
            print!("{}", check.text);
            Ok(if check.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::TenantHash { salt, ids } => {
            let var = heartbeat::env::HEARTBEAT_TENANT_HASH_SALT;
            let salt = match salt {
                Some(salt) => salt,
                None => std::env::var(var)
                    .map_err(|_| format!("give the salt with --salt, or set {var}"))?,
            };
            let hasher = heartbeat::tenant::TenantHasher::new(&salt)?;
            for id in &ids {
                let wire = hasher.wire_value(id);
                if wire == heartbeat::tenant::OVERFLOW_TENANT {
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

async fn emit(args: EmitArgs) -> Result<(), Box<dyn std::error::Error>> {
    use heartbeat::Heartbeat;
    if !(0.0..=1.0).contains(&args.fail_ratio) {
        return Err(format!("--fail-ratio {} must be from 0 to 1", args.fail_ratio).into());
    }
    if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= 100_000.0) {
        return Err(format!("--rate {} must be above 0 and at most 100000", args.rate).into());
    }
    let instance = format!("emit-{}", std::process::id());
    let mut pipelines = Vec::new();
    for endpoint in &args.endpoints {
        let hb = Heartbeat::builder()
            .with_environment(std::iter::empty::<(String, String)>())
            .with_service_name(args.service.clone())
            .with_service_version(args.version.clone())
            .with_resource_attribute("service.instance.id", instance.clone())
            .with_endpoint(endpoint.clone())
            .with_export_interval(args.export_interval)
            .install()?;
        let outcome = match &args.outcome {
            Some(name) => {
                let mut b = hb.outcome(name.clone()).with_reasons(["timeout"]);
                for pair in &args.attributes {
                    let (k, v) = pair
                        .split_once('=')
                        .ok_or_else(|| format!("--attribute {pair:?}: expected key=value"))?;
                    b = b.with_attribute(k, v);
                }
                Some(b.build()?)
            }
            None => None,
        };
        let deadman = match &args.emitter {
            Some(name) => Some(
                hb.deadman(name.clone())
                    .with_cadence(args.cadence)
                    .start()?,
            ),
            None => None,
        };
        pipelines.push((hb, outcome, deadman));
    }
    eprintln!(
        "heartbeat-watch emit: {} instance {instance} to {}",
        args.service,
        args.endpoints.join(", ")
    );
    let started = tokio::time::Instant::now();
    let step = std::time::Duration::from_secs_f64(1.0 / args.rate);
    let mut sent: u64 = 0;
    let mut beats = 0;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut next = tokio::time::Instant::now() + step;
    let mut poll = tokio::time::interval(std::time::Duration::from_millis(5));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => next += step,
            _ = poll.tick() => {
                // Each beat on standard output, as it leaves: tests kill right after one.
                if let Some((_, _, Some(d))) = pipelines.first() {
                    let now = d.health().beats;
                    if now != beats {
                        beats = now;
                        let wall = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis());
                        println!("beat {beats} at {wall}");
                    }
                }
                continue;
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
        let counting = args.outcomes_for.is_none_or(|d| started.elapsed() < d);
        if !counting || args.outcome.is_none() {
            continue;
        }
        sent += 1;
        // Deterministic: every k-th outcome fails for a fail ratio of 1/k.
        let fail = args.fail_ratio > 0.0
            && (sent as f64 * args.fail_ratio).floor()
                > ((sent - 1) as f64 * args.fail_ratio).floor();
        for (_, outcome, _) in &pipelines {
            if let Some(o) = outcome {
                if fail {
                    o.failure_with("timeout");
                } else {
                    o.success();
                }
            }
        }
    }
    eprintln!("heartbeat-watch emit: stopping on purpose");
    for (hb, _, deadman) in pipelines {
        if let Some(d) = deadman {
            d.stop().await?;
        }
        hb.shutdown().await?;
    }
    Ok(())
}

/// `--unit`: a duration from 100ms to 10s.
#[cfg(feature = "demo")]
fn demo_unit(text: &str) -> Result<Duration, String> {
    let d = match text.strip_suffix("ms").map(str::parse::<u64>) {
        Some(Ok(n)) => Duration::from_millis(n),
        Some(Err(_)) => return Err(format!("{text:?} is not a whole number of milliseconds")),
        None => heartbeat_watch::parse_duration(text).map_err(|e| e.to_string())?,
    };
    if d < Duration::from_millis(100) || d > Duration::from_secs(10) {
        return Err(format!("{text:?} is outside 100ms..10s"));
    }
    Ok(d)
}
