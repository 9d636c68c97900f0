//! Shared helpers of the watch's integration tests: OTLP payloads built by hand, a watch on
//! ephemeral ports with a manual clock, HTTP clients.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use heartbeat_watch::{Database, ManualClock, RuleFile, Watch};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

/// 2026-11-02T00:00:00Z: a whole hour, day and minute.
pub const T0: i64 = 1_793_577_600_000;

pub fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_owned())),
        }),
        ..Default::default()
    }
}

/// One resource's metrics, built point by point.
#[derive(Debug, Clone)]
pub struct Payload {
    rm: ResourceMetrics,
}

impl Payload {
    pub fn new(service: &str, instance: &str, version: Option<&str>) -> Self {
        let mut attributes = vec![
            kv("service.name", service),
            kv("service.instance.id", instance),
        ];
        if let Some(v) = version {
            attributes.push(kv("service.version", v));
        }
        Self {
            rm: ResourceMetrics {
                resource: Some(Resource {
                    attributes,
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics::default()],
                schema_url: String::new(),
            },
        }
    }

    fn push(&mut self, metric: Metric) {
        self.rm.scope_metrics[0].metrics.push(metric);
    }

    /// A cumulative monotonic sum point (`start_ms`, `time_ms` in ms).
    pub fn sum(
        self,
        name: &str,
        attrs: &[(&str, &str)],
        start_ms: i64,
        time_ms: i64,
        value: i64,
    ) -> Self {
        let p = point(attrs, start_ms, time_ms, value);
        self.monotonic(name, p, AggregationTemporality::Cumulative)
    }

    /// A delta monotonic sum point: `value` counted from `start_ms` to `time_ms`.
    pub fn delta(
        self,
        name: &str,
        attrs: &[(&str, &str)],
        start_ms: i64,
        time_ms: i64,
        value: i64,
    ) -> Self {
        let p = point(attrs, start_ms, time_ms, value);
        self.monotonic(name, p, AggregationTemporality::Delta)
    }

    fn monotonic(
        mut self,
        name: &str,
        p: NumberDataPoint,
        temporality: AggregationTemporality,
    ) -> Self {
        self.push(Metric {
            name: name.to_owned(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![p],
                aggregation_temporality: temporality as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        });
        self
    }

    /// A gauge point.
    pub fn gauge(mut self, name: &str, attrs: &[(&str, &str)], time_ms: i64, value: i64) -> Self {
        self.push(Metric {
            name: name.to_owned(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![point(attrs, 0, time_ms, value)],
            })),
            ..Default::default()
        });
        self
    }

    pub fn metric(mut self, metric: Metric) -> Self {
        self.push(metric);
        self
    }

    pub fn request(self) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![self.rm],
        }
    }

    pub fn protobuf(self) -> Vec<u8> {
        self.request().encode_to_vec()
    }
}

pub fn point(attrs: &[(&str, &str)], start_ms: i64, time_ms: i64, value: i64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
        start_time_unix_nano: u64::try_from(start_ms).unwrap() * 1_000_000,
        time_unix_nano: u64::try_from(time_ms).unwrap() * 1_000_000,
        value: Some(number_data_point::Value::AsInt(value)),
        ..Default::default()
    }
}

/// A watch on ephemeral ports with a manual clock at `T0`, judging only when told.
pub async fn manual_watch(rules: &str) -> (Watch, ManualClock) {
    manual_watch_with(rules, Database::InMemory).await
}

pub async fn manual_watch_with(rules: &str, database: Database) -> (Watch, ManualClock) {
    let clock = ManualClock::at_ms(T0);
    let rules: RuleFile = rules.parse().unwrap();
    let watch = Watch::builder(rules)
        .with_clock(Arc::new(clock.clone()))
        .with_database(database)
        .with_listen("127.0.0.1:0".parse().unwrap())
        .with_grpc_listen(Some("127.0.0.1:0".parse().unwrap()))
        .with_auto_tick(false)
        .start()
        .await
        .unwrap();
    (watch, clock)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// POSTs a protobuf body to the watch and returns the status; panics on a transport error.
pub async fn post(watch: &Watch, body: Vec<u8>) -> reqwest::StatusCode {
    client()
        .post(format!("http://{}/v1/metrics", watch.http_addr()))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

/// Runs `f` with a deadline, so that no test hangs.
pub async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("the test took longer than 120 s")
}

/// A temporary file path, unique per test.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("hbw-{name}-{}-{nanos}.db", std::process::id()))
}

/// The `heartbeat-watch` binary of this build.
pub const BIN: &str = env!("CARGO_BIN_EXE_heartbeat-watch");

/// Kills the child when dropped, so that no test leaves a process behind.
pub struct Guard(pub std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `heartbeat-watch serve --quiet --rules RULES` and returns it with its OTLP/HTTP
/// address, read from its first stderr line; the rest of stderr is drained so the watch never
/// blocks on a full pipe.
pub fn serve(rules: &std::path::Path) -> (Guard, String) {
    serve_with_env(rules, &[])
}

/// [`serve`] with extra environment variables.
pub fn serve_with_env(rules: &std::path::Path, env: &[(&str, &str)]) -> (Guard, String) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--quiet", "--rules"])
        .arg(rules)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let guard = Guard(child);
    let mut reader = BufReader::new(stderr);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = reader.read_to_string(&mut sink);
    });
    (guard, addr)
}

/// One request a [`Recorder`] received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Request headers, names lowercased.
    pub headers: Vec<(String, String)>,
    pub at: std::time::Instant,
    /// Wall-clock time (ms since the epoch).
    pub wall_ms: u128,
    pub method: String,
    pub path: String,
    pub body: String,
}

/// A tiny HTTP server on 127.0.0.1 that answers 200 to everything and records each request:
/// a webhook receiver, a ping channel. Its thread ends with the test process.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub addr: String,
    pub log: Arc<std::sync::Mutex<Vec<Received>>>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

impl Recorder {
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// Listens on `port` (0: any free one).
    pub fn start_on(port: u16) -> Self {
        Self::start_answering(port, |_| (200, "ok".to_owned()))
    }

    /// Listens on `port`, answering each request with `answer(request)`: a status and a body.
    pub fn start_answering(
        port: u16,
        answer: impl Fn(&Received) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let answer = Arc::new(answer);
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let log: Arc<std::sync::Mutex<Vec<Received>>> = Arc::default();
        let l = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let l = Arc::clone(&l);
                let answer = Arc::clone(&answer);
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut first = String::new();
                    if reader.read_line(&mut first).is_err() {
                        return;
                    }
                    let mut parts = first.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_owned();
                    let path = parts.next().unwrap_or_default().to_owned();
                    let mut length = 0usize;
                    let mut headers = Vec::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                        }
                    }
                    let mut body = vec![0; length];
                    let _ = reader.read_exact(&mut body);
                    let received = Received {
                        headers,
                        at: std::time::Instant::now(),
                        wall_ms: std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_millis(),
                        method,
                        path,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    let (status, text) = answer(&received);
                    l.lock().unwrap().push(received);
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    );
                });
            }
        });
        Self { addr, log }
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (polling, at most `limit`) for a request that `want` accepts; returns it.
    pub fn wait_for(&self, limit: Duration, want: impl Fn(&Received) -> bool) -> Option<Received> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(r) = self.received().into_iter().find(|r| want(r)) {
                return Some(r);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts `heartbeat-watch ARGS...` with stderr drained, killed when the guard drops.
pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Guard {
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Guard(cmd.spawn().unwrap())
}

/// Sends SIGTERM (a graceful stop) to the guarded process and waits for it, at most 20 s.
pub fn terminate(guard: &mut Guard) {
    let pid = guard.0.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if guard.0.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = guard.0.kill();
}

/// GETs `path` from `addr` with a plain TCP request; the body.
pub fn get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// A rule file written to a temporary path.
pub fn rule_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = temp_path(name).with_extension("toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Moves the clock to second `s` (plus 100 ms), posts `body`, then to `s + 1` and ticks; the
/// alert events of that tick.
pub async fn second(
    watch: &Watch,
    clock: &ManualClock,
    s: i64,
    body: Option<Vec<u8>>,
) -> Vec<heartbeat_watch::Alert> {
    clock.set_ms(T0 + s * 1000 + 100);
    if let Some(body) = body {
        assert_eq!(post(watch, body).await, 200);
    }
    clock.set_ms(T0 + (s + 1) * 1000);
    watch.tick().await
}

/// Runs seconds `range`, with `step(s)` deciding what to send; every event.
pub async fn run(
    watch: &Watch,
    clock: &ManualClock,
    range: std::ops::Range<i64>,
    mut step: impl FnMut(i64) -> Option<Vec<u8>>,
) -> Vec<heartbeat_watch::Alert> {
    let mut events = Vec::new();
    for s in range {
        events.extend(second(watch, clock, s, step(s)).await);
    }
    events
}

/// The first firing event of `rule`.
pub fn fired<'a>(
    events: &'a [heartbeat_watch::Alert],
    rule: &str,
) -> Option<&'a heartbeat_watch::Alert> {
    events
        .iter()
        .find(|a| a.rule == rule && a.status == heartbeat_watch::AlertStatus::Firing)
}

/// A free port on 127.0.0.1 (bound and released: a server started soon after gets it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's Alertmanager with `config` (YAML) on a free port, ready; `None` where it is not
/// installed, which fails the test under `CI=true`.
pub fn alertmanager(config: &str) -> Option<(Guard, String)> {
    use std::process::{Command, Stdio};
    const ALERTMANAGER: &str = "prometheus-alertmanager";
    if Command::new(ALERTMANAGER)
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{ALERTMANAGER} is not installed: ./scripts/test.sh installs Debian's prometheus-alertmanager"
        );
        eprintln!("skipped: {ALERTMANAGER} is not installed");
        return None;
    }
    let dir = temp_path("am").with_extension("d");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("alertmanager.yml");
    std::fs::write(&file, config).unwrap();
    let port = free_port();
    let child = Command::new(ALERTMANAGER)
        .arg(format!("--config.file={}", file.display()))
        .arg(format!("--storage.path={}", dir.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = Guard(child);
    let addr = format!("127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !get(&addr, "/-/ready").contains("OK") {
        assert!(
            std::time::Instant::now() < deadline,
            "alertmanager did not become ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((guard, addr))
}
