//! OTLP/gRPC: `opentelemetry.proto.collector.metrics.v1.MetricsService/Export`, gzip accepted.
//! The rate limit and the bearer token are checked on the metadata, before the message is
//! decompressed or decoded.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::codec::CompressionEncoding;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

use super::Shared;

struct Service {
    shared: Arc<Shared>,
}

#[tonic::async_trait]
impl MetricsService for Service {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        use std::sync::atomic::Ordering::Relaxed;
        let shared = &self.shared;
        shared.stats.requests.fetch_add(1, Relaxed);
        let Ok(_permit) = shared.permits.try_acquire() else {
            shared.stats.refused.fetch_add(1, Relaxed);
            return Err(Status::unavailable(
                "the watch's ingest queue is full; retry",
            ));
        };
        let ingested = shared.ingest(request.into_inner());
        Ok(Response::new(ingested.response()))
    }
}

/// The checks made on a request's metadata, before its message is decompressed or decoded: the
/// source's rate limit, then the bearer token.
fn admit(shared: &Shared, request: Request<()>) -> Result<Request<()>, Status> {
    use std::sync::atomic::Ordering::Relaxed;
    if let Some(source) = request.remote_addr()
        && let Err(refusal) = shared.admit(source.ip())
    {
        shared.stats.requests.fetch_add(1, Relaxed);
        shared.stats.refused.fetch_add(1, Relaxed);
        return Err(Status::unavailable(refusal.message()));
    }
    let given = request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if !shared.authorized(given) {
        shared.stats.requests.fetch_add(1, Relaxed);
        shared.stats.refused.fetch_add(1, Relaxed);
        return Err(Status::unauthenticated(
            "missing or wrong bearer token (authorization: Bearer ...)",
        ));
    }
    Ok(request)
}

/// Serves gRPC on `listener` until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let max = shared.max_body;
    let checks = Arc::clone(&shared);
    let service = MetricsServiceServer::new(Service { shared })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max);
    let service = InterceptedService::new(service, move |request| admit(&checks, request));
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let result = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = shutdown.changed().await;
        })
        .await;
    if let Err(e) = result {
        eprintln!("heartbeat-watch: gRPC server stopped: {e}");
    }
}
