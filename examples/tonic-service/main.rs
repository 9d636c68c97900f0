//! A tonic gRPC service counted by Heartbeat: every call by method (`HeartbeatLayer::grpc`,
//! judged by its gRPC status), and the job behind `Send` by `#[heartbeat::outcome]`.
//!
//! The service, `chat.Messenger` with one unary method `Send(SendRequest) -> SendReply`, is
//! written by hand here (what `tonic-build` generates from a `.proto`), so the example needs
//! no code generation:
//!
//! ```proto
//! service Messenger { rpc Send(SendRequest) returns (SendReply); }
//! message SendRequest { string text = 1; }
//! message SendReply { uint64 id = 1; }
//! ```
//!
//! ```sh
//! cargo run -p heartbeat-examples --example tonic-service -- --otlp http://127.0.0.1:4318
//! ```
//! A text `""` is `INVALID_ARGUMENT` (the caller's mistake: a success of the service, a failure
//! of the job with reason `empty`); `"store down"` is `UNAVAILABLE` (a failure of both);
//! anything else `OK`. The outcomes: `chat.Messenger/Send` (the layer) and `message.send` (the
//! macro). Ctrl-D or Ctrl-C stops it after a final export. Options: `--otlp URL`, `--listen
//! ADDR` (default `127.0.0.1:50051`), `--export-ms N` (default 5000).

use heartbeat::layer::HeartbeatLayer;
use heartbeat::{Heartbeat, OutcomeReason, Protocol};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// `chat.SendRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SendRequest {
    /// The message.
    #[prost(string, tag = "1")]
    pub text: String,
}

/// `chat.SendReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SendReply {
    /// The message's id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
}

/// Why a message was not sent: the failure reasons of `message.send`.
#[derive(Debug, OutcomeReason)]
enum SendError {
    Empty,
    StoreDown,
}

static LAST_ID: AtomicU64 = AtomicU64::new(0);

#[heartbeat::outcome("message.send")]
fn send_message(text: &str) -> Result<u64, SendError> {
    match text {
        "" => Err(SendError::Empty),
        "store down" => Err(SendError::StoreDown),
        _ => Ok(LAST_ID.fetch_add(1, SeqCst) + 1),
    }
}

async fn send(
    request: tonic::Request<SendRequest>,
) -> Result<tonic::Response<SendReply>, tonic::Status> {
    match send_message(&request.get_ref().text) {
        Ok(id) => Ok(tonic::Response::new(SendReply { id })),
        Err(SendError::Empty) => Err(tonic::Status::invalid_argument("empty message")),
        Err(SendError::StoreDown) => Err(tonic::Status::unavailable("message store down")),
    }
}

mod messenger_server {
    //! What `tonic-build` would generate for the service (trimmed to one method).
    use super::{SendReply, SendRequest};
    use tonic::codegen::{BoxFuture, Context, Poll, Service, StdError, http};

    /// The `chat.Messenger` service.
    #[derive(Clone, Default)]
    pub(crate) struct MessengerServer;

    struct SendSvc;

    impl tonic::server::UnaryService<SendRequest> for SendSvc {
        type Response = SendReply;
        type Future = BoxFuture<tonic::Response<SendReply>, tonic::Status>;
        fn call(&mut self, request: tonic::Request<SendRequest>) -> Self::Future {
            Box::pin(super::send(request))
        }
    }

    impl<B> Service<http::Request<B>> for MessengerServer
    where
        B: tonic::codegen::Body + Send + 'static,
        B::Error: Into<StdError> + Send + 'static,
    {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = BoxFuture<Self::Response, Self::Error>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<B>) -> Self::Future {
            if req.uri().path() == "/chat.Messenger/Send" {
                return Box::pin(async move {
                    let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                    Ok(grpc.unary(SendSvc, req).await)
                });
            }
            Box::pin(async move { Ok(tonic::Status::unimplemented("no such method").into_http()) })
        }
    }

    impl tonic::server::NamedService for MessengerServer {
        const NAME: &'static str = "chat.Messenger";
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let export = arg("--export-ms")
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(5000);
    let mut builder = Heartbeat::builder()
        .with_service_name("tonic-service")
        .with_protocol(Protocol::HttpProtobuf)
        .with_export_interval(Duration::from_millis(export));
    if let Some(url) = arg("--otlp") {
        builder = builder.with_endpoint(url);
    }
    let hb = builder.install()?;
    heartbeat::set_global(hb.clone())?;

    let listen = arg("--listen").unwrap_or_else(|| "127.0.0.1:50051".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);

    tonic::transport::Server::builder()
        // One outcome per method, named by its path; declared up front, exported at zero.
        .layer(
            HeartbeatLayer::grpc(&hb)
                .with_routes(["/chat.Messenger/Send"])
                .build()?,
        )
        .add_service(messenger_server::MessengerServer)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            stop_requested(),
        )
        .await?;

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
