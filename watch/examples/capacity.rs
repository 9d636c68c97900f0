//! The watch's own capacity: a fleet of simulated emitters exporting to one real watch over
//! OTLP/HTTP while its judge runs, and what that costs the watch (docs/benchmarks.md, "Watch
//! capacity").
//!
//! ```sh
//! cargo build --release -p heartbeat-watch --bin heartbeat-watch
//! cargo run --release -p heartbeat-watch --example capacity -- \
//!     --emitters 10000 --series 50 --interval 10s --duration 120s
//! ```
//!
//! - **The watch** is the real `heartbeat-watch serve` binary (`--watch-bin`, default
//!   `target/release/heartbeat-watch`) on a rule file written for the run: a dead-man rule and a
//!   drill-down outcome rule per service, three fleet-wide outcome rules and an SLA, the
//!   per-source rate limit off (every emitter here shares one address), its SQLite database in a
//!   temporary directory, and a `[self_heartbeat]` that exports the watch's own metrics to a small
//!   sink in this program (the judge's tick duration, age and lag, its ingest queue, the points
//!   it accepted), which also receives its alerts.
//! - **Each emitter** is one process of the fleet: its own `heartbeat` SDK registry and collector
//!   (`service.instance.id` of its own), whose bodies the SDK's protobuf encoder builds: one
//!   `heartbeat.beats` series and `series - 1` outcome series (`message.send` on two surfaces
//!   and `reply.deliver`, each with its totals by result and reason, and a few tenants,
//!   successes and `timeout` failures), cumulative.
//! - **Every interval** each emitter records its traffic and exports once, at its own offset:
//!   the exports are spread evenly over the interval from `--senders` tasks over a keep-alive
//!   connection pool, open loop (a slow watch does not slow the schedule; the program reports how
//!   late its own sends started, so that a saturated generator is not mistaken for a slow watch).
//!
//! It prints, over the measured part of the run (after `--warmup`): points per second offered
//! and accepted (from the answers, and from the watch's own `heartbeat.watch.points`), request
//! latency, refused requests, the watch's CPU and memory (`/proc/<pid>`), the judge's tick
//! duration and lag, the series tracked, the database's size and what it grows by a day, and a
//! verdict: whether the watch held the load. Exit status 0 when it held, 1 when it did not, 2 on
//! a bad argument or a failed run. Linux only (`/proc`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Parser;
use heartbeat::{
    Outcome, Registry,
    otlp::{AggregationTemporality, Collector, encode_protobuf},
};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The three outcome handles of every emitter: (outcome, surface).
const OUTCOMES: [(&str, &str); 3] = [
    ("message.send", "web_messenger"),
    ("message.send", "mobile_messenger"),
    ("reply.deliver", "inbox"),
];
/// Series a declared outcome always reports: successes, `timeout` and the SDK's four built-in
/// failure reasons (`unspecified`, `abandoned`, `panicked`, `other`).
const BASE_SERIES_PER_OUTCOME: usize = 6;
/// Tenants of the fleet; each emitter serves a few of them.
const TENANTS: usize = 200;
/// Successes per success series per interval (a failure series gets one failure): a success
/// ratio of 0.9, above every rule's floor.
const SUCCESSES: usize = 9;

/// The load generator's command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "capacity",
    about = "Simulate a fleet exporting to one heartbeat-watch and measure what it holds"
)]
pub(crate) struct Config {
    /// Emitters (processes) in the fleet, each with its own service.instance.id.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) emitters: u32,
    /// Series per emitter: one heartbeat.beats series, each of the three outcomes' totals (six
    /// each: successes and five failure reasons), the rest per tenant.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(19..=1_000))]
    pub(crate) series: u32,
    /// How often each emitter exports (and beats), like "10s".
    #[arg(long, default_value = "10s", value_parser = heartbeat_watch::parse_duration)]
    pub(crate) interval: Duration,
    /// How long to send, like "120s"; the measured part is after --warmup.
    #[arg(long, default_value = "120s", value_parser = heartbeat_watch::parse_duration)]
    pub(crate) duration: Duration,
    /// The first part of the run that is not measured (the watch learning the series).
    #[arg(long, default_value = "30s", value_parser = heartbeat_watch::parse_duration)]
    pub(crate) warmup: Duration,
    /// The watch's tick (`[watch] tick`); rule windows are six ticks.
    #[arg(long, default_value = "10s", value_parser = heartbeat_watch::parse_duration)]
    pub(crate) tick: Duration,
    /// Services the emitters are spread over (a dead-man and an outcome rule each).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub(crate) services: u32,
    /// Sending tasks.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) senders: u32,
    /// Requests in flight at most, over all senders.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(crate) max_in_flight: u32,
    /// The heartbeat-watch binary.
    #[arg(long, default_value = "target/release/heartbeat-watch")]
    pub(crate) watch_bin: PathBuf,
    /// Keep the temporary directory (rule file, database, the watch's standard error).
    #[arg(long)]
    pub(crate) keep: bool,
}

impl Config {
    /// Checks what the argument parser cannot: how the durations fit together.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.warmup >= self.duration {
            return Err(format!(
                "--warmup {:?} must be shorter than --duration {:?}",
                self.warmup, self.duration
            ));
        }
        if !self.watch_bin.is_file() {
            return Err(format!(
                "--watch-bin {}: no such file (build it: cargo build --release -p heartbeat-watch --bin heartbeat-watch)",
                self.watch_bin.display()
            ));
        }
        Ok(())
    }
}

/// What one run measured, over its measured part.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    /// Length of the measured part (s).
    pub(crate) measured_s: f64,
    /// Requests due in the measured part, and their answers.
    pub(crate) requests: u64,
    pub(crate) ok: u64,
    pub(crate) throttled: u64,
    pub(crate) other_status: u64,
    pub(crate) transport_errors: u64,
    /// Requests sent again after a transport error (measured part), and the first errors.
    pub(crate) retried: u64,
    pub(crate) errors: Vec<String>,
    /// Points in those requests, and points the watch accepted (answered 2xx, minus
    /// `rejected_data_points`).
    pub(crate) points_offered: u64,
    pub(crate) points_accepted: u64,
    /// Every point and request of the whole run, warm-up included.
    pub(crate) total_points_sent: u64,
    pub(crate) total_points_accepted: u64,
    pub(crate) total_requests: u64,
    pub(crate) total_ok: u64,
    /// The watch's own `heartbeat.watch.points` at the end (every point it accepted).
    pub(crate) watch_points_counter: Option<u64>,
    /// The same counter's rate over the measured part (points/s).
    pub(crate) watch_points_rate: Option<f64>,
    /// Request latency (ms): p50, p99, max.
    pub(crate) latency_ms: [f64; 3],
    /// How late requests left (ms), p99 and max: the generator's own lag plus waiting for one
    /// of the `--max-in-flight` slots (held by requests the watch has not answered).
    pub(crate) late_ms: [f64; 2],
    /// The generator's own lag (ms), p99 and max: building bodies behind schedule.
    pub(crate) own_late_ms: [f64; 2],
    /// The watch's CPU (percent of one core), and the generator's.
    pub(crate) watch_cpu: f64,
    pub(crate) generator_cpu: f64,
    /// The whole machine's busy CPU, in the same unit (200 % is both cores of two busy).
    pub(crate) host_cpu: f64,
    /// Per 10 s of the run: the longest request latency and the generator's own lag (ms).
    pub(crate) timeline: Vec<(u64, f64, f64)>,
    /// The watch's resident set at the end and its peak (MiB).
    pub(crate) rss_mib: f64,
    pub(crate) peak_rss_mib: f64,
    /// The judge: tick duration (ms) median and max, lag (ms) max, the queue's depth max,
    /// from the self-metrics samples of the measured part.
    pub(crate) tick_ms: [f64; 2],
    pub(crate) tick_lag_ms: f64,
    pub(crate) tick_age_ms: f64,
    pub(crate) queue_max: u64,
    pub(crate) self_samples: usize,
    /// Ticks seen in the measured part.
    pub(crate) ticks: usize,
    /// Series the watch tracked at the end (`/api/state`).
    pub(crate) series: u64,
    /// The database: bytes at the end, bytes per day (projected), rows added per day.
    pub(crate) db_bytes: u64,
    pub(crate) db_bytes_per_day: f64,
    pub(crate) db_rows_per_day: f64,
    /// Rows the rule file adds a day: a closed window per outcome rule, a ledger slot a
    /// minute per SLA; and the bytes a row of them takes.
    pub(crate) db_rows_per_day_expected: f64,
    pub(crate) db_row_bytes: f64,
    /// Alert notifications the watch sent during the run, and by "rule status classification".
    pub(crate) alerts: u64,
    pub(crate) alert_kinds: Vec<(String, u64)>,
    /// The machine's load average (1, 5, 15 min) when the fleet started and stopped: the
    /// watch and the generator share the machine with whatever else runs.
    pub(crate) load: [String; 2],
    /// Why the watch did not hold the load (empty when it held).
    pub(crate) problems: Vec<String>,
}

impl Report {
    /// Whether the watch held the load.
    pub(crate) fn held(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One export: when it was due, how it went.
#[derive(Debug, Clone, Copy)]
struct Sent {
    /// Due, since the start of the run (ms).
    due_ms: u64,
    /// How late the request left: after the generator built the body and a request slot was
    /// free (ms).
    late_ms: u32,
    /// How late the body was built (ms): the generator's own lag, without waiting for a slot.
    own_late_ms: u32,
    latency_us: u32,
    points: u32,
    accepted: u32,
    outcome: Answer,
    /// Sent again after a transport error.
    retried: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    Throttled,
    Status(u16),
    Transport,
}

/// One export of the watch's own metrics, received by the sink.
#[derive(Debug, Clone, Default)]
struct SelfSample {
    at: Option<Instant>,
    values: BTreeMap<String, i64>,
}

/// What the sink received: the watch's self-metrics exports and alert notifications.
#[derive(Debug, Default)]
struct SinkLog {
    samples: Vec<SelfSample>,
    alerts: u64,
    /// Alert events by "rule status classification".
    alert_kinds: BTreeMap<String, u64>,
}

/// A resource-usage sample of the watch process and of this one.
#[derive(Debug, Clone, Copy)]
struct Usage {
    at: Instant,
    watch_cpu_ticks: u64,
    own_cpu_ticks: u64,
    rss_kib: u64,
    hwm_kib: u64,
    /// The whole machine's busy CPU ticks (every process, every core), from /proc/stat.
    host_busy_ticks: u64,
}

/// One emitter of the fleet: an SDK registry and collector of its own.
struct Emitter {
    collector: Collector,
    /// (handle, tenant, failure?) per outcome series.
    slots: Vec<(usize, String, bool)>,
    outcomes: Vec<Outcome>,
    beats: u64,
}

impl Emitter {
    fn new(index: usize, service: &str, series: usize) -> Result<Self, Error> {
        let registry = Registry::new();
        let outcomes = OUTCOMES
            .iter()
            .map(|(name, surface)| {
                registry
                    .outcome(*name)
                    .with_attribute("surface", *surface)
                    .with_reasons(["timeout"])
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Each handle always reports its total successes and each failure reason (timeout and
        // the SDK's four built-in ones); then a tenant's successes and, once it failed, its
        // timeouts: two series per tenant.
        let rows = series - 1 - BASE_SERIES_PER_OUTCOME * OUTCOMES.len();
        let slots = (0..rows)
            .map(|k| {
                let pair = k / 2;
                let tenant = (index * 7 + pair / OUTCOMES.len()) % TENANTS;
                (
                    pair % OUTCOMES.len(),
                    format!("tenant-{tenant:03}"),
                    k % 2 == 1,
                )
            })
            .collect();
        let collector = Collector::new(&registry, AggregationTemporality::Cumulative)
            .with_resource_attribute("service.name", service)
            .with_resource_attribute("service.instance.id", format!("{service}-{index:07}"))
            .with_resource_attribute("service.version", "1.0.0");
        Ok(Self {
            collector,
            slots,
            outcomes,
            beats: 0,
        })
    }

    /// One interval of traffic and a beat, then the body the SDK would export, and its points.
    fn next(&mut self) -> (Vec<u8>, usize) {
        for (handle, tenant, failure) in &self.slots {
            let o = &self.outcomes[*handle];
            if *failure {
                o.failure_for_with(tenant, "timeout");
            } else {
                for _ in 0..SUCCESSES {
                    o.success_for(tenant);
                }
            }
        }
        self.beats += 1;
        let beats = self.beats;
        let batch = self.collector.collect_with(|b| {
            b.push_sum(
                "heartbeat.beats",
                "{beat}",
                "",
                vec![("heartbeat.emitter".to_owned(), "main".to_owned())],
                beats,
            );
        });
        (encode_protobuf(&batch), batch.point_count())
    }
}

fn service_name(i: usize) -> String {
    format!("svc-{i:03}")
}

/// The rule file of the run.
fn rule_file(config: &Config, database: &Path, sink: SocketAddr) -> String {
    let tick = config.tick.as_secs();
    let window = format!("{}s", 6 * tick);
    let services = config.services.min(config.emitters) as usize;
    let per_service = (config.emitters as usize).div_ceil(services);
    // Beats expected from a service in a window, over its instances: page below half.
    let beats_per_window = usize::try_from((6 * tick / config.interval.as_secs().max(1)).max(1))
        .unwrap_or(1)
        * per_service;
    let min_beats = (beats_per_window / 2).max(1);
    let cadence = config.interval.as_secs();
    let mut rules = format!(
        r#"# Written by watch/examples/capacity.rs for one run.
[watch]
listen = "127.0.0.1:0"
grpc_listen = "127.0.0.1:0"
tick = "{tick}s"
database = "{db}"
# Every emitter of the simulated fleet sends from 127.0.0.1.
rate_limit_per_source = 0

[self_heartbeat]
cadence = "1s"
otlp_endpoint = "http://{sink}"

[[alert]]
name = "sink"
webhook = "http://{sink}/alerts"

[[outcome]]
name = "send-web"
outcome = "message.send"
where = {{ surface = "web_messenger" }}
window = "{window}"
min_success_ratio = 0.8
severity = "page"

[[outcome]]
name = "send-mobile"
outcome = "message.send"
where = {{ surface = "mobile_messenger" }}
window = "{window}"
min_success_ratio = 0.8
severity = "page"

[[outcome]]
name = "reply-deliver"
outcome = "reply.deliver"
where = {{ surface = "inbox" }}
window = "{window}"
min_success_ratio = 0.8
severity = "page"

[[sla]]
name = "fleet"
signals = ["send-web", "send-mobile", "reply-deliver"]
objective = 0.999
"#,
        db = database.display(),
    );
    for s in 0..services {
        let service = service_name(s);
        rules.push_str(&format!(
            r#"
[[deadman]]
name = "{service}-beats"
service = "{service}"
window = "{window}"
min_beats = {min_beats}
cadence = "{cadence}s"
severity = "page"

[[outcome]]
name = "{service}-send"
outcome = "message.send"
service = "{service}"
window = "{window}"
min_success_ratio = 0.8
severity = "page"
"#
        ));
    }
    rules
}

/// The sink of the watch's self-metrics and alerts: answers 200 to every POST.
async fn sink(log: Arc<Mutex<SinkLog>>) -> Result<SocketAddr, Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let log = Arc::clone(&log);
                        async move {
                            let path = req.uri().path().to_owned();
                            let gzip = req
                                .headers()
                                .get("content-encoding")
                                .is_some_and(|v| v.as_bytes() == b"gzip");
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            if path == "/v1/metrics" {
                                if let Some(sample) = self_sample(&body, gzip)
                                    && let Ok(mut l) = log.lock()
                                {
                                    l.samples.push(sample);
                                }
                                let ok = ExportMetricsServiceResponse::default().encode_to_vec();
                                Ok::<_, Infallible>(
                                    Response::builder()
                                        .header("content-type", "application/x-protobuf")
                                        .body(Full::new(Bytes::from(ok)))
                                        .unwrap_or_default(),
                                )
                            } else {
                                // An alert event: "rule status classification", for the report.
                                let alert: serde_json::Value =
                                    serde_json::from_slice(&body).unwrap_or_default();
                                let field = |k: &str| {
                                    alert
                                        .get(k)
                                        .and_then(|v| v.as_str())
                                        .unwrap_or("?")
                                        .to_owned()
                                };
                                let line = format!(
                                    "{} {} {}",
                                    field("rule"),
                                    field("status"),
                                    field("classification")
                                );
                                if let Ok(mut l) = log.lock() {
                                    l.alerts += 1;
                                    *l.alert_kinds.entry(line).or_default() += 1;
                                }
                                Ok(Response::new(Full::new(Bytes::new())))
                            }
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// The watch's own metrics in one of its exports: the last value of each.
fn self_sample(body: &[u8], gzip: bool) -> Option<SelfSample> {
    let decoded;
    let body = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .ok()?;
        decoded = out;
        &decoded[..]
    } else {
        body
    };
    let request = ExportMetricsServiceRequest::decode(body).ok()?;
    let mut sample = SelfSample {
        at: Some(Instant::now()),
        values: BTreeMap::new(),
    };
    for rm in &request.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let points = match &m.data {
                    Some(metric::Data::Sum(s)) => &s.data_points,
                    Some(metric::Data::Gauge(g)) => &g.data_points,
                    _ => continue,
                };
                for p in points {
                    let v = match p.value {
                        Some(number_data_point::Value::AsInt(v)) => v,
                        #[allow(clippy::cast_possible_truncation)]
                        Some(number_data_point::Value::AsDouble(v)) => v as i64,
                        None => continue,
                    };
                    sample.values.insert(m.name.clone(), v);
                }
            }
        }
    }
    Some(sample)
}

/// The watch process: killed when dropped (after a graceful stop was asked for).
struct WatchProcess {
    child: Child,
    addr: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl WatchProcess {
    fn start(bin: &Path, rules: &Path) -> Result<Self, Error> {
        let mut child = Command::new(bin)
            .args(["serve", "--quiet", "--rules"])
            .arg(rules)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let stderr = child.stderr.take().ok_or("no standard error")?;
        let mut reader = BufReader::new(stderr);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let Some(addr) = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .map(str::to_owned)
        else {
            let mut rest = String::new();
            let _ = reader.read_to_string(&mut rest);
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the watch did not start: {line}{rest}").into());
        };
        let lines = Arc::new(Mutex::new(vec![line.trim_end().to_owned()]));
        let keep = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                if let Ok(mut l) = keep.lock() {
                    l.push(line);
                }
            }
        });
        Ok(Self {
            child,
            addr,
            stderr: lines,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks for a graceful stop (SIGINT) and waits up to 10 s, then kills.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WatchProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The load average over 1, 5 and 15 minutes, from /proc/loadavg.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// CPU ticks (user + system, 1/100 s) of a process, from /proc/<pid>/stat.
fn cpu_ticks(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some(after) = stat.rsplit_once(')').map(|(_, a)| a) else {
        return 0;
    };
    // Fields after the command: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

/// VmRSS and VmHWM (KiB) of a process, from /proc/<pid>/status.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn usage(pid: u32) -> Usage {
    let (rss_kib, hwm_kib) = memory_kib(pid);
    Usage {
        at: Instant::now(),
        watch_cpu_ticks: cpu_ticks(&pid.to_string()),
        own_cpu_ticks: cpu_ticks("self"),
        rss_kib,
        hwm_kib,
        host_busy_ticks: host_busy_ticks(),
    }
}

/// Busy CPU ticks of the whole machine since boot: the first line of /proc/stat without
/// idle and iowait.
fn host_busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next() else {
        return 0;
    };
    let fields: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse().ok())
        .collect();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    fields.iter().sum::<u64>().saturating_sub(idle)
}

/// The database's logical size (pages of the latest snapshot, WAL included) and its rows.
#[derive(Debug, Clone, Copy, Default)]
struct DbSize {
    bytes: u64,
    rows: u64,
    /// Bytes a row of the tables that grow (`windows`, `ledger`) takes in their leaf pages.
    row_bytes: Option<f64>,
}

fn db_size(path: &Path) -> Option<DbSize> {
    use rusqlite::{Connection, OpenFlags};
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()?;
    conn.busy_timeout(Duration::from_secs(2)).ok()?;
    let pages: u64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0)).ok()?;
    let page: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).ok()?;
    let mut rows = 0u64;
    for table in [
        "alerts", "windows", "ledger", "statuses", "outbox", "emitters",
    ] {
        rows += conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                r.get::<_, u64>(0)
            })
            .unwrap_or(0);
    }
    let row_bytes = conn
        .query_row(
            "SELECT sum(pgsize - unused), sum(ncell) FROM dbstat \
             WHERE name IN ('windows', 'ledger') AND pagetype = 'leaf'",
            [],
            |r| Ok((r.get::<_, Option<f64>>(0)?, r.get::<_, Option<f64>>(1)?)),
        )
        .ok()
        .and_then(|(bytes, cells)| Some(bytes? / cells.filter(|c| *c > 0.0)?));
    Some(DbSize {
        bytes: pages * page,
        rows,
        row_bytes,
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the fleet against a new watch and measures.
///
/// # Errors
/// The watch did not start, a task failed, or a measurement could not be read.
pub(crate) async fn run(config: &Config) -> Result<Report, Error> {
    config.validate()?;
    let dir = std::env::temp_dir().join(format!(
        "heartbeat-capacity-{}-{}",
        std::process::id(),
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos()
    ));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(config, &dir).await;
    if config.keep {
        eprintln!("capacity: kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn run_in(config: &Config, dir: &Path) -> Result<Report, Error> {
    let log = Arc::new(Mutex::new(SinkLog::default()));
    let sink_addr = sink(Arc::clone(&log)).await?;
    let database = dir.join("watch.db");
    let rules_path = dir.join("rules.toml");
    std::fs::write(&rules_path, rule_file(config, &database, sink_addr))?;
    let mut watch = WatchProcess::start(&config.watch_bin, &rules_path)?;
    let pid = watch.pid();
    let url: hyper::Uri = format!("http://{}/v1/metrics", watch.addr).parse()?;

    // The fleet, built before the clock starts.
    let emitters = config.emitters as usize;
    let series = config.series as usize;
    let services = config.services.min(config.emitters) as usize;
    let senders = config.senders as usize;
    let mut fleets: Vec<Vec<(usize, Emitter)>> = (0..senders).map(|_| Vec::new()).collect();
    for i in 0..emitters {
        fleets[i % senders].push((i, Emitter::new(i, &service_name(i % services), series)?));
    }
    // The SDK's body must carry exactly the series asked for.
    let (_, points) = Emitter::new(0, "probe", series)?.next();
    if points != series {
        return Err(format!("the SDK's body carries {points} points, not {series}").into());
    }

    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(config.max_in_flight as usize)
        // Below the watch's 10 s header timeout, after which it closes an idle connection.
        .pool_idle_timeout(Duration::from_secs(5))
        .build(connector);
    let permits = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight as usize));
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::new(Mutex::new(Vec::new()));
    let errors: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));

    let load_start = loadavg();
    let start = Instant::now();
    let tokio_start = tokio::time::Instant::from_std(start);
    let end = config.duration;
    let spacing = config.interval.as_nanos() / emitters as u128;
    let mut tasks = tokio::task::JoinSet::new();
    for fleet in fleets {
        let (client, permits, sent, url, errors) = (
            client.clone(),
            Arc::clone(&permits),
            Arc::clone(&sent),
            url.clone(),
            Arc::clone(&errors),
        );
        let interval = config.interval;
        tasks.spawn(async move {
            let mut fleet = fleet;
            let mut in_flight = tokio::task::JoinSet::new();
            for round in 0u32.. {
                let base = interval * round;
                if base >= end {
                    break;
                }
                for (index, emitter) in &mut fleet {
                    let offset = Duration::from_nanos(
                        u64::try_from(spacing * *index as u128).unwrap_or(u64::MAX),
                    );
                    let due = base + offset;
                    if due >= end {
                        break;
                    }
                    tokio::time::sleep_until(tokio_start + due).await;
                    let (body, points) = emitter.next();
                    let own_late = start.elapsed().saturating_sub(due);
                    let body = Bytes::from(body);
                    let (client, sent, permits, url, errors) = (
                        client.clone(),
                        Arc::clone(&sent),
                        Arc::clone(&permits),
                        url.clone(),
                        Arc::clone(&errors),
                    );
                    // The schedule never waits for the watch: the export waits for a slot in
                    // its own task, as a real emitter's exporter would wait on its own.
                    in_flight.spawn(async move {
                        let Ok(permit) = permits.acquire_owned().await else {
                            return;
                        };
                        let late = start.elapsed().saturating_sub(due);
                        let began = Instant::now();
                        // A transport error is retried once, as the SDK's exporter retries it.
                        let mut retried = false;
                        let (mut outcome, mut accepted) = (Answer::Transport, 0);
                        for attempt in 0..2 {
                            match send(&client, &url, body.clone(), points).await {
                                Ok(answer) => {
                                    (outcome, accepted) = answer;
                                    break;
                                }
                                Err(e) => {
                                    if let Ok(mut errors) = errors.lock() {
                                        errors.push(e);
                                    }
                                    retried = attempt == 0;
                                }
                            }
                        }
                        let latency = began.elapsed();
                        drop(permit);
                        let record = Sent {
                            due_ms: u64::try_from(due.as_millis()).unwrap_or(u64::MAX),
                            late_ms: u32::try_from(late.as_millis()).unwrap_or(u32::MAX),
                            own_late_ms: u32::try_from(own_late.as_millis()).unwrap_or(u32::MAX),
                            latency_us: u32::try_from(latency.as_micros()).unwrap_or(u32::MAX),
                            points: u32::try_from(points).unwrap_or(u32::MAX),
                            accepted,
                            outcome,
                            retried,
                        };
                        if let Ok(mut s) = sent.lock() {
                            s.push(record);
                        }
                    });
                    while in_flight.try_join_next().is_some() {}
                }
            }
            while in_flight.join_next().await.is_some() {}
        });
    }

    // Samples every second while the fleet sends.
    let mut usage_samples = vec![usage(pid)];
    let mut db_samples: Vec<(Instant, DbSize)> = Vec::new();
    let mut next_db = start + config.warmup;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            done = tasks.join_next() => match done {
                Some(r) => r?,
                None => break,
            },
            _ = ticker.tick() => {
                usage_samples.push(usage(pid));
                if Instant::now() >= next_db {
                    if let Some(size) = db_size(&database) {
                        db_samples.push((Instant::now(), size));
                    }
                    next_db += Duration::from_secs(10);
                }
                if let Ok(Some(status)) = watch.child.try_wait() {
                    return Err(format!("the watch exited during the run ({status}): {}", tail(&watch)).into());
                }
            }
        }
    }
    let sent_done = Instant::now();
    let load_end = loadavg();
    usage_samples.push(usage(pid));
    if let Some(size) = db_size(&database) {
        db_samples.push((Instant::now(), size));
    }
    // One export of the watch's own metrics after the last answer, for its final count.
    let deadline = sent_done + Duration::from_secs(10);
    while Instant::now() < deadline {
        let fresh = log.lock().ok().is_some_and(|l| {
            l.samples
                .last()
                .and_then(|s| s.at)
                .is_some_and(|at| at > sent_done + Duration::from_millis(200))
        });
        if fresh {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let series_tracked = api_series(&client, &watch.addr).await;
    watch.stop();

    let mut report = Report {
        errors: errors
            .lock()
            .map(|e| e.iter().take(5).cloned().collect())
            .unwrap_or_default(),
        load: [load_start, load_end],
        ..Report::default()
    };
    let sent = sent.lock().map(|s| s.clone()).unwrap_or_default();
    let warm_ms = u64::try_from(config.warmup.as_millis()).unwrap_or(0);
    let measured = config.duration - config.warmup;
    report.measured_s = measured.as_secs_f64();
    let mut latencies = Vec::new();
    let mut lateness = Vec::new();
    let mut own_lateness = Vec::new();
    for s in &sent {
        report.total_requests += 1;
        report.total_points_sent += u64::from(s.points);
        report.total_points_accepted += u64::from(s.accepted);
        if s.outcome == Answer::Ok {
            report.total_ok += 1;
        }
        if s.due_ms < warm_ms {
            continue;
        }
        report.requests += 1;
        report.points_offered += u64::from(s.points);
        report.points_accepted += u64::from(s.accepted);
        report.retried += u64::from(s.retried);
        match s.outcome {
            Answer::Ok => report.ok += 1,
            Answer::Throttled => report.throttled += 1,
            Answer::Status(_) => report.other_status += 1,
            Answer::Transport => report.transport_errors += 1,
        }
        latencies.push(f64::from(s.latency_us) / 1000.0);
        lateness.push(f64::from(s.late_ms));
        own_lateness.push(f64::from(s.own_late_ms));
    }
    let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for s in &sent {
        let b = buckets.entry(s.due_ms / 10_000 * 10).or_default();
        b.0 = b.0.max(f64::from(s.latency_us) / 1000.0);
        b.1 = b.1.max(f64::from(s.own_late_ms));
    }
    report.timeline = buckets.into_iter().map(|(t, (l, o))| (t, l, o)).collect();
    latencies.sort_by(f64::total_cmp);
    lateness.sort_by(f64::total_cmp);
    own_lateness.sort_by(f64::total_cmp);
    report.own_late_ms = [
        percentile(&own_lateness, 0.99),
        own_lateness.last().copied().unwrap_or(0.0),
    ];
    report.latency_ms = [
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0),
    ];
    report.late_ms = [
        percentile(&lateness, 0.99),
        lateness.last().copied().unwrap_or(0.0),
    ];

    // CPU and memory over the measured part.
    let measure_from = start + config.warmup;
    if let (Some(first), Some(last)) = (
        usage_samples.iter().find(|u| u.at >= measure_from),
        usage_samples.last(),
    ) {
        let secs = last.at.duration_since(first.at).as_secs_f64().max(0.001);
        #[allow(clippy::cast_precision_loss)]
        {
            report.watch_cpu = (last.watch_cpu_ticks - first.watch_cpu_ticks) as f64 / secs;
            report.generator_cpu = (last.own_cpu_ticks - first.own_cpu_ticks) as f64 / secs;
            report.host_cpu = (last.host_busy_ticks - first.host_busy_ticks) as f64 / secs;
            report.rss_mib = last.rss_kib as f64 / 1024.0;
            report.peak_rss_mib = last.hwm_kib as f64 / 1024.0;
        }
    }

    // The judge, the queue and the watch's own count, from its self-metrics.
    let samples = log.lock().map(|l| l.samples.clone()).unwrap_or_default();
    report.alerts = log.lock().map(|l| l.alerts).unwrap_or(0);
    report.alert_kinds = log
        .lock()
        .map(|l| l.alert_kinds.clone().into_iter().collect())
        .unwrap_or_default();
    let in_phase: Vec<&SelfSample> = samples
        .iter()
        .filter(|s| s.at.is_some_and(|at| at >= measure_from && at <= sent_done))
        .collect();
    report.self_samples = in_phase.len();
    let value = |s: &SelfSample, name: &str| s.values.get(name).copied();
    // Each sample carries the last tick's duration: one value per tick (a tick every
    // `--tick`, a sample every second).
    let mut durations: Vec<i64> = in_phase
        .iter()
        .filter_map(|s| value(s, "heartbeat.watch.tick.duration"))
        .collect();
    durations.dedup();
    #[allow(clippy::cast_precision_loss)]
    let mut ticks: Vec<f64> = durations.iter().map(|&us| us as f64 / 1000.0).collect();
    ticks.sort_by(f64::total_cmp);
    report.ticks = ticks.len();
    report.tick_ms = [
        percentile(&ticks, 0.5),
        ticks.last().copied().unwrap_or(0.0),
    ];
    #[allow(clippy::cast_precision_loss)]
    {
        report.tick_lag_ms = in_phase
            .iter()
            .filter_map(|s| value(s, "heartbeat.watch.tick.lag"))
            .max()
            .unwrap_or(0) as f64;
        report.tick_age_ms = in_phase
            .iter()
            .filter_map(|s| value(s, "heartbeat.watch.tick.age"))
            .max()
            .unwrap_or(0) as f64;
    }
    report.queue_max = in_phase
        .iter()
        .filter_map(|s| value(s, "heartbeat.watch.queue.depth"))
        .max()
        .map_or(0, |v| u64::try_from(v).unwrap_or(0));
    let counter =
        |s: &SelfSample| value(s, "heartbeat.watch.points").and_then(|v| u64::try_from(v).ok());
    report.watch_points_counter = samples.iter().rev().find_map(counter);
    if let (Some(a), Some(b)) = (in_phase.first(), in_phase.last())
        && let (Some(ca), Some(cb), Some(ta), Some(tb)) = (counter(a), counter(b), a.at, b.at)
        && tb > ta
    {
        #[allow(clippy::cast_precision_loss)]
        let rate = (cb - ca) as f64 / tb.duration_since(ta).as_secs_f64();
        report.watch_points_rate = Some(rate);
    }
    report.series = series_tracked.unwrap_or(0);

    // The database: its size now, and what it grew by over the measured part, per day.
    if let (Some((ta, a)), Some((tb, b))) = (db_samples.first(), db_samples.last())
        && tb > ta
    {
        let days = tb.duration_since(*ta).as_secs_f64() / 86_400.0;
        #[allow(clippy::cast_precision_loss)]
        {
            report.db_rows_per_day = b.rows.saturating_sub(a.rows) as f64 / days;
        }
        report.db_row_bytes = b.row_bytes.unwrap_or(0.0);
        report.db_bytes = b.bytes;
    }
    let outcome_rules = f64::from(config.services.min(config.emitters) + 3);
    let window_s = 6.0 * config.tick.as_secs_f64();
    report.db_rows_per_day_expected = outcome_rules * 86_400.0 / window_s + 1_440.0;
    report.db_bytes_per_day = report.db_rows_per_day_expected * report.db_row_bytes;

    judge(config, &mut report);
    if !report.held() {
        eprintln!(
            "capacity: the watch's standard error, last lines:\n{}",
            tail(&watch)
        );
    }
    Ok(report)
}

/// Sends one export; the answer and the points the watch accepted.
async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &hyper::Uri,
    body: Bytes,
    points: usize,
) -> Result<(Answer, u32), String> {
    let request = Request::post(url.clone())
        .header("content-type", "application/x-protobuf")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| {
        let source = std::error::Error::source(&e).map_or(String::new(), |s| format!(": {s}"));
        format!("{e}{source}")
    })?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Ok((Answer::Throttled, 0));
    }
    if !status.is_success() {
        return Ok((Answer::Status(status.as_u16()), 0));
    }
    let rejected = ExportMetricsServiceResponse::decode(&body[..])
        .ok()
        .and_then(|r| r.partial_success)
        .map_or(0, |p| p.rejected_data_points);
    let accepted = i64::try_from(points).unwrap_or(i64::MAX) - rejected;
    Ok((Answer::Ok, u32::try_from(accepted.max(0)).unwrap_or(0)))
}

/// Series the watch tracks, from `/api/state`.
async fn api_series(client: &Client<HttpConnector, Full<Bytes>>, addr: &str) -> Option<u64> {
    let uri: hyper::Uri = format!("http://{addr}/api/state").parse().ok()?;
    let request = Request::get(uri).body(Full::new(Bytes::new())).ok()?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .ok()?
        .ok()?;
    let body = response.into_body().collect().await.ok()?.to_bytes();
    let state: serde_json::Value = serde_json::from_slice(&body).ok()?;
    state.get("series")?.as_u64()
}

fn tail(watch: &WatchProcess) -> String {
    let lines = watch.stderr.lock().map(|l| l.clone()).unwrap_or_default();
    let from = lines.len().saturating_sub(10);
    lines[from..].join("\n")
}

/// What holding the load means: every point accepted, nothing refused, the judge on time.
fn judge(config: &Config, r: &mut Report) {
    let tick_ms = config.tick.as_secs_f64() * 1000.0;
    let interval_ms = config.interval.as_secs_f64() * 1000.0;
    if r.points_accepted < r.points_offered {
        r.problems.push(format!(
            "{} of {} points offered were not accepted",
            r.points_offered - r.points_accepted,
            r.points_offered
        ));
    }
    if r.throttled + r.other_status + r.transport_errors > 0 {
        r.problems.push(format!(
            "refused requests: {} throttled (429), {} other status, {} transport errors",
            r.throttled, r.other_status, r.transport_errors
        ));
    }
    if r.self_samples == 0 {
        r.problems
            .push("no self-metrics arrived from the watch during the measured part".to_owned());
    }
    if r.tick_ms[1] > tick_ms / 2.0 {
        r.problems.push(format!(
            "the judge's longest tick took {:.0} ms, over half the tick ({tick_ms:.0} ms)",
            r.tick_ms[1]
        ));
    }
    if r.tick_lag_ms > tick_ms / 2.0 {
        r.problems.push(format!(
            "a tick started {:.0} ms late, over half the tick",
            r.tick_lag_ms
        ));
    }
    if r.latency_ms[1] > interval_ms / 2.0 {
        r.problems.push(format!(
            "p99 request latency {:.0} ms, over half the export interval",
            r.latency_ms[1]
        ));
    }
    if r.own_late_ms[0] > interval_ms / 2.0 {
        r.problems.push(format!(
            "the generator itself fell behind (p99 {:.0} ms late building bodies): the figures are the generator's, not the watch's",
            r.own_late_ms[0]
        ));
    } else if r.late_ms[0] > interval_ms / 2.0 {
        r.problems.push(format!(
            "exports left up to {:.0} ms late (p99) because all {} request slots waited for the watch's answers",
            r.late_ms[0], config.max_in_flight
        ));
    }
}

fn print(config: &Config, r: &Report) {
    #[allow(clippy::cast_precision_loss)]
    let rate = |n: u64| n as f64 / r.measured_s;
    println!(
        "capacity: {} emitters x {} series every {:?}, {:?} run, {:?} warm-up, tick {:?}, {} senders",
        config.emitters,
        config.series,
        config.interval,
        config.duration,
        config.warmup,
        config.tick,
        config.senders
    );
    println!(
        "capacity: load average {} at the start, {} at the end ({} cores)",
        r.load[0],
        r.load[1],
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    println!("| figure | value |");
    println!("|---|---|");
    println!("| points/s offered | {:.0} |", rate(r.points_offered));
    println!(
        "| points/s accepted (answers) | {:.0} |",
        rate(r.points_accepted)
    );
    if let Some(w) = r.watch_points_rate {
        println!("| points/s accepted (the watch's own counter) | {w:.0} |");
    }
    println!(
        "| requests/s (2xx / 429 / other / transport errors) | {:.0} ({} / {} / {} / {}) |",
        rate(r.requests),
        r.ok,
        r.throttled,
        r.other_status,
        r.transport_errors
    );
    println!(
        "| request latency p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        r.latency_ms[0], r.latency_ms[1], r.latency_ms[2]
    );
    println!(
        "| exports late p99 / max (the generator's own part) | {:.0} / {:.0} ms ({:.0} / {:.0} ms) |",
        r.late_ms[0], r.late_ms[1], r.own_late_ms[0], r.own_late_ms[1]
    );
    println!(
        "| CPU (one core = 100 %): watch / generator / everything else on the machine | {:.0} % / {:.0} % / {:.0} % |",
        r.watch_cpu,
        r.generator_cpu,
        (r.host_cpu - r.watch_cpu - r.generator_cpu).max(0.0)
    );
    println!(
        "| watch memory: resident at end / peak | {:.0} / {:.0} MiB |",
        r.rss_mib, r.peak_rss_mib
    );
    println!("| series tracked | {} |", r.series);
    #[allow(clippy::cast_precision_loss)]
    let per_series = if r.series > 0 {
        r.rss_mib * 1024.0 * 1024.0 / r.series as f64
    } else {
        0.0
    };
    println!("| resident bytes per series | {per_series:.0} |");
    println!(
        "| judge tick duration median / max ({} ticks) | {:.1} / {:.1} ms |",
        r.ticks, r.tick_ms[0], r.tick_ms[1]
    );
    println!(
        "| judge tick lag max / tick age max | {:.0} / {:.0} ms |",
        r.tick_lag_ms, r.tick_age_ms
    );
    println!("| ingest queue depth max | {} |", r.queue_max);
    println!(
        "| exports retried after a transport error | {} |",
        r.retried
    );
    #[allow(clippy::cast_precision_loss)]
    {
        println!(
            "| SQLite: size at end / growth a day | {:.2} MiB / {:.2} MiB ({:.0} rows a day of {:.0} bytes; {:.0} rows a day measured) |",
            r.db_bytes as f64 / 1_048_576.0,
            r.db_bytes_per_day / 1_048_576.0,
            r.db_rows_per_day_expected,
            r.db_row_bytes,
            r.db_rows_per_day
        );
    }
    println!("| alert notifications during the run | {} |", r.alerts);
    if let Some(c) = r.watch_points_counter {
        println!(
            "| whole run: points sent / accepted (answers) / the watch's counter | {} / {} / {} |",
            r.total_points_sent, r.total_points_accepted, c
        );
    }
    let timeline: Vec<String> = r
        .timeline
        .iter()
        .map(|(t, latency, late)| format!("{t}s: {latency:.0}/{late:.0}"))
        .collect();
    println!(
        "capacity: per 10 s, the longest request / the generator's own lag (ms): {}",
        timeline.join(", ")
    );
    for e in &r.errors {
        println!("capacity: transport error: {e}");
    }
    for (kind, n) in &r.alert_kinds {
        println!("capacity: alert: {kind} (x{n})");
    }
    if r.held() {
        println!("capacity: HELD");
    } else {
        println!("capacity: DID NOT HOLD");
        for p in &r.problems {
            println!("capacity: - {p}");
        }
    }
}

#[allow(dead_code)]
fn main() -> ExitCode {
    let config = Config::parse();
    if let Err(e) = config.validate() {
        eprintln!("capacity: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("capacity: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&config)) {
        Ok(report) => {
            print(&config, &report);
            if report.held() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("capacity: {e}");
            ExitCode::from(2)
        }
    }
}
