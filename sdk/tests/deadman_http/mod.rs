//! A tiny scripted HTTP/1.1 server on 127.0.0.1 for the dead-man tests: it records every
//! request, answers as its script says (a status, or hanging for a while to force a client
//! timeout), tracks how many requests are open at once, and reads OTLP/JSON metric exports
//! through the test kit's point model.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use heartbeat_testkit::PointValue;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

/// How long any wait in these tests may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: String,
}

#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// Hold the connection open without answering for this long, then close it.
    Hang(Duration),
}

type Script = dyn Fn(&Request, usize) -> Reply + Send + Sync;

pub struct Server {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    open: Arc<AtomicUsize>,
    max_open: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// A server that answers 200 to everything.
    pub async fn ok() -> Self {
        Self::scripted(|_, _| Reply::Status(200)).await
    }

    /// A server whose reply to the `n`-th request (from 0) is `script(request, n)`.
    pub async fn scripted(
        script: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let open: Arc<AtomicUsize> = Arc::default();
        let max_open: Arc<AtomicUsize> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let (r, o, m) = (
            Arc::clone(&requests),
            Arc::clone(&open),
            Arc::clone(&max_open),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (r, o, m, script) = (
                    Arc::clone(&r),
                    Arc::clone(&o),
                    Arc::clone(&m),
                    Arc::clone(&script),
                );
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    let now_open = o.fetch_add(1, SeqCst) + 1;
                    m.fetch_max(now_open, SeqCst);
                    let n = {
                        let mut all = r.lock().unwrap();
                        all.push(request.clone());
                        all.len() - 1
                    };
                    match script(&request, n) {
                        Reply::Status(code) => {
                            let body = if request.path.ends_with("/v1/metrics") {
                                "{}"
                            } else {
                                "OK"
                            };
                            let head = format!(
                                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = socket.write_all(head.as_bytes()).await;
                        }
                        Reply::Hang(d) => {
                            // Until the time is up or the client gives up and closes.
                            let mut byte = [0u8; 1];
                            tokio::select! {
                                () = tokio::time::sleep(d) => {}
                                _ = socket.read(&mut byte) => {}
                            }
                        }
                    }
                    o.fetch_sub(1, SeqCst);
                });
            }
        });
        Self {
            addr,
            requests,
            open,
            max_open,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The most requests that were open at the same time.
    pub fn max_open(&self) -> usize {
        self.max_open.load(SeqCst)
    }

    /// The points of each OTLP/JSON export received, in order.
    pub fn exports(&self) -> Vec<Vec<Point>> {
        self.requests()
            .iter()
            .filter(|r| r.path.ends_with("/v1/metrics"))
            .map(|r| decode(&r.body))
            .collect()
    }

    /// Every metric point of every OTLP/JSON export received, in order.
    pub fn points(&self) -> Vec<Point> {
        self.exports().into_iter().flatten().collect()
    }

    /// The value of the last exported point of `metric` whose attributes include `attrs`.
    pub fn last(&self, metric: &str, attrs: &[(&str, &str)]) -> Option<Point> {
        self.points()
            .into_iter()
            .rev()
            .find(|p| p.metric == metric && p.has(attrs))
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
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
        let mut first = head.lines().next()?.split(' ');
        return Some(Request {
            method: first.next()?.to_owned(),
            path: first.next()?.to_owned(),
            body: String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned(),
        });
    }
}

/// One OTLP data point, flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub metric: String,
    pub attrs: BTreeMap<String, String>,
    pub value: f64,
}

impl Point {
    pub fn has(&self, attrs: &[(&str, &str)]) -> bool {
        attrs
            .iter()
            .all(|(k, v)| self.attrs.get(*k).map(String::as_str) == Some(*v))
    }
}

/// The number points of an OTLP/JSON export, decoded by the test kit (the official types).
fn decode(body: &str) -> Vec<Point> {
    let Ok(request) = serde_json::from_str::<ExportMetricsServiceRequest>(body) else {
        return Vec::new();
    };
    heartbeat_testkit::points_of(&request)
        .into_iter()
        .map(|p| Point {
            metric: p.metric,
            attrs: p.attributes,
            value: match p.value {
                // Counts in these tests are far below 2^53: exact.
                PointValue::Int(v) => v as f64,
                PointValue::Double(v) => v,
                PointValue::Missing => f64::NAN,
            },
        })
        .collect()
}

/// Polls `check` until it returns `Some`, failing the test after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let wait = async {
        loop {
            if let Some(v) = check().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    match tokio::time::timeout(PATIENCE, wait).await {
        Ok(v) => v,
        Err(_) => panic!("gave up waiting for {what}"),
    }
}
