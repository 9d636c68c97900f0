//! OTLP/gRPC: `opentelemetry.proto.collector.metrics.v1.MetricsService/Export`, gzip accepted.

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
        if let Some(expected) = &shared.token {
            let given = request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if given != Some(expected.as_str()) {
                shared.stats.refused.fetch_add(1, Relaxed);
                return Err(Status::unauthenticated(
                    "missing or wrong bearer token (authorization: Bearer ...)",
                ));
            }
        }
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

/// Serves gRPC on `listener` until `shutdown` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let max = shared.max_body;
    let service = MetricsServiceServer::new(Service { shared })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max);
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
