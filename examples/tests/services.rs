//! The `axum-service` and `tonic-service` examples as a user runs them: each is started as a
//! process exporting to the test kit's OTLP receiver on 127.0.0.1, called over HTTP or gRPC,
//! stopped gracefully (stdin closed), and what arrived is checked to the exact totals: the
//! layer's outcome per route or method, the macro's outcome per job, the dead-man's status.
//!
//! `cargo test -p heartbeat-examples` builds the examples before running this test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use heartbeat_testkit::{Point, PointValue, Receiver, ReceiverOptions, points, total};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(60);
const OUTCOMES: &str = "heartbeat.outcomes";

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/<this test> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo test -p heartbeat-examples`, which builds the examples",
        path.display()
    );
    path
}

/// The example's process: killed (by its id) if the test fails before it exits.
struct Service {
    child: Child,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts an example on a free port, exporting to `otlp`, and waits for its address.
async fn start(name: &str, otlp: &str, extra: &[&str]) -> Service {
    let mut child = Command::new(example(name))
        .args([
            "--otlp",
            otlp,
            "--listen",
            "127.0.0.1:0",
            "--export-ms",
            "100",
        ])
        .args(extra)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
        .env_remove("OTEL_SDK_DISABLED")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let mut service = Service {
        child,
        url: String::new(),
    };
    service.url = tokio::time::timeout(PATIENCE, rx)
        .await
        .expect("the example did not say where it listens")
        .expect("the example exited before listening");
    service
}

/// Closes stdin (the graceful stop) and waits for a successful exit.
async fn stop(mut service: Service) {
    drop(service.child.stdin.take());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(status) = service.child.try_wait().unwrap() {
            assert!(status.success(), "the example exited with {status}");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the example did not exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
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

/// The decoded total of one series (without a tenant unless given; without a reason unless
/// given).
fn series(
    p: &[Point],
    outcome: &str,
    result: &str,
    reason: Option<&str>,
    tenant: Option<&str>,
) -> i64 {
    let mut f = vec![("heartbeat.outcome", outcome), ("heartbeat.result", result)];
    let mut lacks = vec![];
    match reason {
        Some(r) => f.push(("heartbeat.reason", r)),
        None => lacks.push("heartbeat.reason"),
    }
    match tenant {
        Some(t) => f.push(("heartbeat.tenant", t)),
        None => lacks.push("heartbeat.tenant"),
    }
    total(p, OUTCOMES, &f, &lacks)
}

/// The values of the emitter's status gauge, in the order they arrived.
fn statuses(p: &[Point], emitter: &str) -> Vec<i64> {
    let mut out: Vec<i64> = p
        .iter()
        .filter(|p| {
            p.accepted
                && p.metric == "heartbeat.emitter.status"
                && p.attributes.get("heartbeat.emitter").map(String::as_str) == Some(emitter)
        })
        .filter_map(|p| match p.value {
            PointValue::Int(v) => Some(v),
            _ => None,
        })
        .collect();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_service_counts_routes_jobs_and_its_health_gate() {
    let receiver = Receiver::start(ReceiverOptions::default()).await.unwrap();
    let service = start(
        "axum-service",
        &receiver.endpoint(),
        &["--cadence-ms", "100"],
    )
    .await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", service.url);

    // Exported at zero before any request: the declared routes and the macro's job.
    eventually("the outcomes declared at zero", || {
        let p = points(&receiver.requests());
        series(&p, "message.send", "failure", Some("store_down"), None) == 0
            && p.iter().any(|x| {
                x.attributes.get("heartbeat.outcome").map(String::as_str) == Some("message.send")
                    && x.attributes.get("heartbeat.reason").map(String::as_str)
                        == Some("store_down")
            })
            && p.iter().any(|x| {
                x.attributes.get("heartbeat.outcome").map(String::as_str) == Some("http/messages")
            })
    })
    .await;

    let get = |path: &str, tenant: Option<&str>| {
        let mut r = http.get(url(path));
        if let Some(t) = tenant {
            r = r.header("x-tenant-id", t);
        }
        r.send()
    };
    for _ in 0..3 {
        assert_eq!(get("/users/7", None).await.unwrap().status(), 200);
    }
    assert_eq!(get("/users/0", Some("acme")).await.unwrap().status(), 404);
    assert_eq!(get("/broken", None).await.unwrap().status(), 500);
    let post = |path: &str, body: &'static str| http.post(url(path)).body(body).send();
    assert_eq!(post("/messages", "hello").await.unwrap().status(), 201);
    assert_eq!(
        post("/messages", "hello again").await.unwrap().status(),
        201
    );
    assert_eq!(post("/messages", "  ").await.unwrap().status(), 400);

    // The database goes down: the gate fails, the heartbeat says failing (1), sends fail.
    assert_eq!(post("/admin/db/down", "").await.unwrap().status(), 204);
    eventually("status failing", || {
        statuses(&points(&receiver.requests()), "axum-service").contains(&1)
    })
    .await;
    assert_eq!(post("/messages", "lost?").await.unwrap().status(), 503);
    assert_eq!(post("/admin/db/up", "").await.unwrap().status(), 204);
    eventually("status beating again", || {
        let s = statuses(&points(&receiver.requests()), "axum-service");
        s.iter()
            .position(|v| *v == 1)
            .is_some_and(|i| s[i..].contains(&0))
    })
    .await;

    stop(service).await;
    let p = points(&receiver.requests());
    assert_eq!(series(&p, "http/users/_id", "success", None, None), 3);
    assert_eq!(
        series(&p, "http/users/_id", "success", None, Some("acme")),
        1,
        "a 404 is a success"
    );
    assert_eq!(
        series(&p, "http/broken", "failure", Some("http_5xx"), None),
        1
    );
    assert_eq!(
        series(&p, "http/messages", "success", None, None),
        3,
        "201, 201, 400"
    );
    assert_eq!(
        series(&p, "http/messages", "failure", Some("http_5xx"), None),
        1,
        "the 503"
    );
    assert_eq!(series(&p, "message.send", "success", None, None), 2);
    assert_eq!(
        series(&p, "message.send", "failure", Some("empty"), None),
        1
    );
    assert_eq!(
        series(&p, "message.send", "failure", Some("store_down"), None),
        1
    );
    assert_eq!(
        series(&p, "message.send", "failure", Some("too_long"), None),
        0
    );
    assert_eq!(series(&p, "http/admin/db/_state", "success", None, None), 2);
    let s = statuses(&p, "axum-service");
    assert_eq!(s.last(), Some(&2), "stopped on purpose last: {s:?}");
    assert_eq!(s.first(), Some(&0), "beating first: {s:?}");
}

/// `chat.SendRequest` and `chat.SendReply`, as the example defines them.
#[derive(Clone, PartialEq, prost::Message)]
struct SendRequest {
    #[prost(string, tag = "1")]
    text: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SendReply {
    #[prost(uint64, tag = "1")]
    id: u64,
}

async fn grpc_send(
    client: &mut tonic::client::Grpc<tonic::transport::Channel>,
    method: &'static str,
    text: &str,
) -> Result<SendReply, tonic::Status> {
    client.ready().await.unwrap();
    let request = tonic::Request::new(SendRequest {
        text: text.to_owned(),
    });
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(method);
    let codec = tonic_prost::ProstCodec::<SendRequest, SendReply>::default();
    client
        .unary(request, path, codec)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_service_counts_methods_by_grpc_status_and_jobs() {
    let receiver = Receiver::start(ReceiverOptions::default()).await.unwrap();
    let service = start("tonic-service", &receiver.endpoint(), &[]).await;
    eventually("the method declared at zero", || {
        points(&receiver.requests()).iter().any(|x| {
            x.attributes.get("heartbeat.outcome").map(String::as_str) == Some("chat.Messenger/Send")
        })
    })
    .await;

    let channel = tonic::transport::Channel::from_shared(service.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    const SEND: &str = "/chat.Messenger/Send";
    assert_eq!(grpc_send(&mut client, SEND, "hi").await.unwrap().id, 1);
    assert_eq!(grpc_send(&mut client, SEND, "hi").await.unwrap().id, 2);
    let invalid = grpc_send(&mut client, SEND, "").await.unwrap_err();
    assert_eq!(invalid.code(), tonic::Code::InvalidArgument);
    let down = grpc_send(&mut client, SEND, "store down")
        .await
        .unwrap_err();
    assert_eq!(down.code(), tonic::Code::Unavailable);
    let missing = grpc_send(&mut client, "/chat.Messenger/Edit", "x")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::Unimplemented);

    stop(service).await;
    let p = points(&receiver.requests());
    let m = "chat.Messenger/Send";
    assert_eq!(
        series(&p, m, "success", None, None),
        3,
        "OK twice, INVALID_ARGUMENT once"
    );
    assert_eq!(series(&p, m, "failure", Some("grpc_unavailable"), None), 1);
    assert_eq!(
        series(
            &p,
            "chat.Messenger/Edit",
            "failure",
            Some("grpc_unimplemented"),
            None
        ),
        1
    );
    assert_eq!(series(&p, "message.send", "success", None, None), 2);
    assert_eq!(
        series(&p, "message.send", "failure", Some("empty"), None),
        1
    );
    assert_eq!(
        series(&p, "message.send", "failure", Some("store_down"), None),
        1
    );
}
