//! An axum service counted by Heartbeat: every request by route (`HeartbeatLayer`), the job
//! behind `POST /messages` by `#[heartbeat::outcome]`, and a dead-man heartbeat gated on the
//! health of its (stand-in) database.
//!
//! ```sh
//! cargo run -p heartbeat-examples --example axum-service -- --otlp http://127.0.0.1:4318
//! curl localhost:3000/users/7                      # http/users/_id, success
//! curl -H 'x-tenant-id: acme' localhost:3000/users/0   # 404: a success, for tenant acme
//! curl -d 'hello' localhost:3000/messages          # http/messages and message.send, success
//! curl -d '' localhost:3000/messages               # message.send failure, reason `empty`
//! curl -X POST localhost:3000/admin/db/down        # the gate fails: the heartbeat says failing
//! curl -d 'hi' localhost:3000/messages             # 503, message.send failure `store_down`
//! curl -X POST localhost:3000/admin/db/up          # beats again
//! ```
//! Ctrl-D or Ctrl-C stops it gracefully: the heartbeat says "stopped" and a final export goes
//! out. Options: `--otlp URL` (default `OTEL_EXPORTER_OTLP_ENDPOINT`, else
//! `http://127.0.0.1:4318`), `--listen ADDR` (default `127.0.0.1:3000`), `--cadence-ms N`
//! (default 1000), `--export-ms N` (default 5000).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use heartbeat::layer::HeartbeatLayer;
use heartbeat::{Heartbeat, OutcomeReason, Protocol};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn millis(name: &str, default: u64) -> Result<Duration, std::num::ParseIntError> {
    Ok(Duration::from_millis(
        arg(name).map(|v| v.parse()).transpose()?.unwrap_or(default),
    ))
}

/// The stand-in for a database: up or down, and the last message id.
#[derive(Default)]
struct Store {
    down: AtomicBool,
    last_id: AtomicU64,
}

/// Why a message was not sent: each variant is a failure reason (`empty`, `too_long`,
/// `store_down`), declared with `message.send` at start-up.
#[derive(Debug, OutcomeReason)]
enum SendError {
    Empty,
    TooLong,
    StoreDown,
}

/// The customer's job: one outcome per call, whatever the route that calls it.
#[heartbeat::outcome("message.send")]
fn send_message(store: &Store, text: &str) -> Result<u64, SendError> {
    if text.trim().is_empty() {
        return Err(SendError::Empty);
    }
    if text.len() > 1000 {
        return Err(SendError::TooLong);
    }
    if store.down.load(SeqCst) {
        return Err(SendError::StoreDown);
    }
    Ok(store.last_id.fetch_add(1, SeqCst) + 1)
}

async fn post_message(State(store): State<Arc<Store>>, text: String) -> (StatusCode, String) {
    match send_message(&store, &text) {
        Ok(id) => (StatusCode::CREATED, format!("message {id}\n")),
        Err(SendError::StoreDown) => (StatusCode::SERVICE_UNAVAILABLE, "store down\n".into()),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{}\n", e.reason())),
    }
}

async fn get_user(Path(id): Path<u64>) -> (StatusCode, String) {
    if id == 0 {
        (StatusCode::NOT_FOUND, "no such user\n".into())
    } else {
        (StatusCode::OK, format!("user {id}\n"))
    }
}

async fn set_db(State(store): State<Arc<Store>>, Path(state): Path<String>) -> StatusCode {
    match state.as_str() {
        "up" => store.down.store(false, SeqCst),
        "down" => store.down.store(true, SeqCst),
        _ => return StatusCode::BAD_REQUEST,
    }
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = Heartbeat::builder()
        .with_service_name("axum-service")
        .with_protocol(Protocol::HttpProtobuf)
        .with_export_interval(millis("--export-ms", 5000)?);
    if let Some(url) = arg("--otlp") {
        builder = builder.with_endpoint(url);
    }
    let hb = builder.install()?;
    // Declares every #[heartbeat::outcome] function's outcome: exported at zero from now on.
    heartbeat::set_global(hb.clone())?;

    let store = Arc::new(Store::default());
    let gate = Arc::clone(&store);
    let beat = hb
        .deadman("axum-service")
        .with_cadence(millis("--cadence-ms", 1000)?)
        .with_gate(move || {
            if gate.down.load(SeqCst) {
                Err("database unreachable")
            } else {
                Ok(())
            }
        })
        .start()?;

    let app = Router::new()
        .route("/users/{id}", get(get_user))
        .route("/messages", post(post_message))
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken on purpose\n") }),
        )
        .route("/admin/db/{state}", post(set_db))
        .with_state(store)
        // Router::layer: each route's outcome is named by its template. Declared routes are
        // exported at zero before their first request.
        .layer(
            HeartbeatLayer::builder(&hb)
                .with_routes(["/users/{id}", "/messages"])
                .build()?,
        );

    let listen = arg("--listen").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);

    axum::serve(listener, app)
        .with_graceful_shutdown(stop_requested())
        .await?;

    // Stopped on purpose: the heartbeat says so, then a last export.
    beat.stop().await?;
    hb.shutdown().await?;
    println!("stopped on purpose");
    Ok(())
}

/// The end of stdin (Ctrl-D) or Ctrl-C.
async fn stop_requested() {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    tokio::select! {
        _ = async { while let Ok(Some(_)) = lines.next_line().await {} } => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
