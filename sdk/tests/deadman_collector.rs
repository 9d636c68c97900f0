//! Beats counted through a real collector: the SDK exports OTLP/HTTP protobuf to rotel, which
//! forwards to a sink on 127.0.0.1. The rotel binary comes from `HEARTBEAT_ROTEL` (set by
//! scripts/test.sh); without it the test says so and returns.
#![cfg(feature = "http-proto")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use heartbeat::semconv::{ATTR_EMITTER, METRIC_BEATS, METRIC_EMITTER_STATUS};
use heartbeat::{Heartbeat, Protocol};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
use prost::Message;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PATIENCE: Duration = Duration::from_secs(30);

/// `(metric, emitter, value, service.instance.id)` for every heartbeat point received.
type Points = Arc<Mutex<Vec<(String, String, i64, String)>>>;

/// An OTLP/HTTP protobuf sink: records the dead-man points of every request, answers 200.
async fn sink() -> (SocketAddr, Points, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let points: Points = Arc::default();
    let p = Arc::clone(&points);
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let p = Arc::clone(&p);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16384];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // Serve every complete request on this (keep-alive) connection.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() < end + 4 + len {
                            break;
                        }
                        let mut body: Vec<u8> = buf.drain(..end + 4 + len).skip(end + 4).collect();
                        if head.contains("content-encoding: gzip") {
                            let mut plain = Vec::new();
                            std::io::Read::read_to_end(
                                &mut flate2::read::GzDecoder::new(&body[..]),
                                &mut plain,
                            )
                            .unwrap();
                            body = plain;
                        }
                        if let Ok(req) = ExportMetricsServiceRequest::decode(&body[..]) {
                            record(&req, &p);
                        }
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                            .await;
                    }
                }
            });
        }
    });
    (addr, points, task)
}

fn record(req: &ExportMetricsServiceRequest, points: &Points) {
    for rm in &req.resource_metrics {
        let instance = rm
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.instance.id")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                if m.name != METRIC_BEATS && m.name != METRIC_EMITTER_STATUS {
                    continue;
                }
                let dps = match &m.data {
                    Some(Data::Sum(s)) => &s.data_points,
                    Some(Data::Gauge(g)) => &g.data_points,
                    _ => continue,
                };
                for dp in dps {
                    let emitter = dp
                        .attributes
                        .iter()
                        .find(|kv| kv.key == ATTR_EMITTER)
                        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                            AnyValue::StringValue(s) => Some(s.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    let value = match dp.value {
                        Some(Value::AsInt(v)) => v,
                        Some(Value::AsDouble(v)) => v as i64,
                        None => continue,
                    };
                    points
                        .lock()
                        .unwrap()
                        .push((m.name.clone(), emitter, value, instance.clone()));
                }
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Rotel(Child);

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn values(points: &Points, metric: &str, emitter: &str) -> Vec<i64> {
    points
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, e, _, _)| m == metric && e == emitter)
        .map(|(_, _, v, _)| *v)
        .collect()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beats_are_counted_through_rotel() {
    let Some(rotel) = std::env::var_os("HEARTBEAT_ROTEL") else {
        println!("skipped: set HEARTBEAT_ROTEL to a rotel-agent binary (scripts/test.sh does)");
        return;
    };
    let (sink_addr, points, sink_task) = sink().await;
    let http = free_port();
    let grpc = free_port();
    let _rotel = Rotel(
        Command::new(rotel)
            .arg("start")
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
            .args(["--exporter", "otlp"])
            .args(["--otlp-exporter-endpoint", &format!("http://{sink_addr}")])
            .args(["--otlp-exporter-protocol", "http"])
            .args(["--batch-timeout", "50ms"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let hb = Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_service_name("deadman-rotel")
        .with_endpoint(format!("http://127.0.0.1:{http}"))
        .with_protocol(Protocol::HttpProtobuf)
        .with_export_timeout(Duration::from_secs(5))
        .install()
        .unwrap();
    let beat = hb
        .deadman("api")
        .with_cadence(Duration::from_millis(100))
        .start()
        .unwrap();
    let worker = hb
        .deadman("worker")
        .with_cadence(Duration::from_millis(200))
        .start()
        .unwrap();

    // rotel may still be starting: the first exports can fail; cumulative counts catch up.
    eventually("ten beats of `api` through rotel", || {
        values(&points, METRIC_BEATS, "api").last() >= Some(&10)
    })
    .await;
    eventually("beats of `worker` through rotel", || {
        values(&points, METRIC_BEATS, "worker").last() >= Some(&3)
    })
    .await;
    let stopped_at = {
        let api = beat.health();
        beat.stop().await.unwrap();
        api.beats as i64
    };
    worker.stop().await.unwrap();
    eventually("the stopped status through rotel", || {
        values(&points, METRIC_EMITTER_STATUS, "api").last() == Some(&2)
            && values(&points, METRIC_BEATS, "api").last() == Some(&stopped_at)
    })
    .await;
    hb.shutdown().await.unwrap();

    // Loss accounting: the count never goes back within one instance, and ends where the
    // emitter says it stopped.
    let api = values(&points, METRIC_BEATS, "api");
    assert!(api.windows(2).all(|w| w[0] <= w[1]), "{api:?}");
    assert_eq!(api.last(), Some(&stopped_at));
    let instances: std::collections::HashSet<String> = points
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, _, i)| i.clone())
        .collect();
    assert_eq!(instances.len(), 1);
    assert_eq!(instances.iter().next().unwrap().len(), 32);
    sink_task.abort();
}
