//! Intentional stop versus death, across a real process boundary: the `deadman` example beats
//! to a ping channel and an OTLP sink on 127.0.0.1. Killed with SIGKILL it goes silent with no
//! final signal; stopped gracefully (stdin closed) it sends the stop ping and status `2`.
//!
//! `cargo test -p heartbeat-examples` builds the example before running this test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
struct Request {
    path: String,
    body: String,
}

/// Records every request and answers 200.
struct Recorder {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let r = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let r = Arc::clone(&r);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    loop {
                        let Ok(n) = socket.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() < end + 4 + len {
                            continue;
                        }
                        r.lock().unwrap().push(Request {
                            path: head.split(' ').nth(1).unwrap_or_default().to_owned(),
                            body: String::from_utf8_lossy(&buf[end + 4..end + 4 + len])
                                .into_owned(),
                        });
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                            .await;
                        return;
                    }
                });
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn paths(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.path.clone())
            .collect()
    }

    fn count(&self, path: &str) -> usize {
        self.paths().iter().filter(|p| *p == path).count()
    }

    /// Values of `heartbeat.emitter.status` for the `demo` emitter, in the order received.
    fn statuses(&self) -> Vec<i64> {
        let mut out = Vec::new();
        for r in self.requests.lock().unwrap().iter() {
            let Ok(json) = serde_json::from_str::<serde_json::Value>(&r.body) else {
                continue;
            };
            for rm in json["resourceMetrics"].as_array().into_iter().flatten() {
                for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                    for m in sm["metrics"].as_array().into_iter().flatten() {
                        if m["name"] != "heartbeat.emitter.status" {
                            continue;
                        }
                        for p in m["gauge"]["dataPoints"].as_array().into_iter().flatten() {
                            let v = &p["asInt"];
                            let v = v
                                .as_i64()
                                .or_else(|| v.as_str().and_then(|s| s.parse().ok()));
                            out.push(v.unwrap());
                        }
                    }
                }
            }
        }
        out
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let wait = async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(PATIENCE, wait).await.is_err() {
        panic!("gave up waiting for {what}");
    }
}

fn example() -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/deadman
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = dir
        .join("examples")
        .join(format!("deadman{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo test -p heartbeat-examples`, which builds the examples",
        path.display()
    );
    path
}

/// Kills the child if the test fails before it does.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(channel: &Recorder, sink: &Recorder) -> Guard {
    let child = Command::new(example())
        .args(["--ping", &channel.url("/p")])
        .args(["--stop-url", &channel.url("/p/stop")])
        .args(["--otlp", &sink.url("")])
        .args(["--cadence-ms", "100"])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_SDK_DISABLED")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Guard(child)
}

async fn wait_exit(guard: &mut Guard) -> std::process::ExitStatus {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the example did not exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_goes_silent_without_a_final_signal() {
    let channel = Recorder::start().await;
    let sink = Recorder::start().await;
    let mut child = spawn(&channel, &sink);
    eventually("three beat pings", || channel.count("/p") >= 3).await;
    eventually("a beat exported", || !sink.statuses().is_empty()).await;

    child.0.kill().unwrap(); // SIGKILL: no destructor, no shutdown
    let status = wait_exit(&mut child).await;
    assert!(!status.success(), "{status:?}");
    // Let requests already on the wire land, then watch for ten cadences: nothing more arrives
    // on either path, and never a stop signal.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pings_at_death = channel.paths().len();
    let exports_at_death = sink.paths().len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(channel.paths().len(), pings_at_death);
    assert_eq!(sink.paths().len(), exports_at_death);
    assert_eq!(channel.count("/p/stop"), 0);
    assert!(
        sink.statuses().iter().all(|s| *s == 0),
        "{:?}",
        sink.statuses()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_exit_fails_recovers_and_says_stopped_on_purpose() {
    let channel = Recorder::start().await;
    let sink = Recorder::start().await;
    let mut child = spawn(&channel, &sink);
    eventually("three beat pings", || channel.count("/p") >= 3).await;

    let stdin = child.0.stdin.as_mut().unwrap();
    writeln!(stdin, "fail").unwrap();
    stdin.flush().unwrap();
    eventually("the fail ping", || channel.count("/p/fail") == 1).await;
    eventually("the failing status exported", || {
        sink.statuses().contains(&1)
    })
    .await;
    let beats_before = channel.count("/p");
    writeln!(child.0.stdin.as_mut().unwrap(), "ok").unwrap();
    eventually("beats after recovery", || {
        channel.count("/p") > beats_before
    })
    .await;

    drop(child.0.stdin.take()); // end of input: the graceful stop
    let status = wait_exit(&mut child).await;
    assert!(status.success(), "{status:?}");

    let paths = channel.paths();
    assert_eq!(paths.last().map(String::as_str), Some("/p/stop"));
    assert_eq!(channel.count("/p/stop"), 1);
    let stop = channel.requests.lock().unwrap().last().cloned().unwrap();
    assert!(
        stop.body
            .starts_with("heartbeat emitter=demo status=stopped"),
        "{}",
        stop.body
    );
    // On the OTLP path: beating, failing, beating again, and finally stopped.
    let statuses = sink.statuses();
    assert_eq!(statuses.last(), Some(&2), "{statuses:?}");
    let first_fail = statuses.iter().position(|s| *s == 1).unwrap();
    assert!(statuses[..first_fail].iter().all(|s| *s == 0));
    assert!(statuses[first_fail..].contains(&0));
}
