//! The response body of a gRPC request whose status comes in the trailers: it holds the job's
//! guard until the trailers (or the end, or an error) go by.

use super::classify::{GrpcClassifier, REASON_ERROR, Verdict, grpc_status};
use heartbeat_core::OutcomeGuard;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pin_project_lite::pin_project! {
    /// The body of a response through [`HeartbeatLayer`](super::HeartbeatLayer): the inner
    /// body, unchanged. For a gRPC response, the outcome is recorded when its trailers arrive;
    /// dropped before them, it counts as `abandoned`.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        pending: Option<(OutcomeGuard, GrpcClassifier)>,
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("pending", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, pending: Option<(OutcomeGuard, GrpcClassifier)>) -> Self {
        Self { inner, pending }
    }
}

pub(crate) fn resolve(guard: OutcomeGuard, verdict: Verdict) {
    match verdict {
        Verdict::Success => guard.success(),
        Verdict::Failure(reason) => guard.failure_with(reason),
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if this.pending.is_some() {
            let verdict = match &frame {
                Some(Ok(f)) => f.trailers_ref().map(|t| match grpc_status(t) {
                    Some(code) => this.pending.as_ref().map(|(_, c)| c.classify_code(code)),
                    None => this.pending.as_ref().map(|(_, c)| c.classify_code(2)),
                }),
                Some(Err(_)) => Some(Some(Verdict::Failure(REASON_ERROR))),
                // The end without trailers: no status.
                None => Some(this.pending.as_ref().map(|(_, c)| c.classify_code(2))),
            };
            if let Some(Some(verdict)) = verdict
                && let Some((guard, _)) = this.pending.take()
            {
                resolve(guard, verdict);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
