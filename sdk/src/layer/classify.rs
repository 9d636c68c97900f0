//! Success or failure of one request: by HTTP status, by gRPC status, or by the service's error.

use http::{HeaderMap, StatusCode};
use std::any::Any;

/// A request's server timed out (HTTP 408 or 504, gRPC `DEADLINE_EXCEEDED`, tower's `Elapsed`).
pub const REASON_TIMEOUT: &str = "timeout";
/// A response with a 5xx status (other than 504).
pub const REASON_HTTP_5XX: &str = "http_5xx";
/// A response with a 4xx status (other than 408), when client errors count as failures.
pub const REASON_HTTP_4XX: &str = "http_4xx";
/// The service returned an error instead of a response, or the response body failed.
pub const REASON_ERROR: &str = "error";

/// What a request came to. A handler that panics is counted by the layer as a failure with the
/// reserved reason `panicked` (and the panic goes on); a request dropped before its response
/// (client gone) as `abandoned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The service did its job.
    Success,
    /// It did not, for a reason from the classifier's declared set.
    Failure(&'static str),
}

/// Decides success or failure from an HTTP status.
///
/// Default: 5xx are failures (`http_5xx`), 408 and 504 are failures (`timeout`), 4xx are
/// successes (the service did its job: the client asked for something it may not have), an
/// error from the inner service is a failure (`timeout` for tower's `Elapsed`, else `error`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpClassifier {
    client_errors_fail: bool,
}

impl HttpClassifier {
    /// The default classifier.
    pub const fn new() -> Self {
        Self {
            client_errors_fail: false,
        }
    }

    /// Counts 4xx responses (other than 408) as failures with reason `http_4xx` (default: off).
    pub const fn with_client_errors_as_failures(mut self, yes: bool) -> Self {
        self.client_errors_fail = yes;
        self
    }

    /// The verdict for a status.
    pub fn classify(&self, status: StatusCode) -> Verdict {
        match status.as_u16() {
            408 | 504 => Verdict::Failure(REASON_TIMEOUT),
            500..=599 => Verdict::Failure(REASON_HTTP_5XX),
            400..=499 if self.client_errors_fail => Verdict::Failure(REASON_HTTP_4XX),
            _ => Verdict::Success,
        }
    }

    fn reasons(&self) -> Vec<&'static str> {
        let mut r = vec![REASON_HTTP_5XX, REASON_TIMEOUT, REASON_ERROR];
        if self.client_errors_fail {
            r.push(REASON_HTTP_4XX);
        }
        r
    }
}

/// The failure reason of each gRPC status code, by code: `grpc_` and the code's name in
/// snake case, except `DEADLINE_EXCEEDED`, which is `timeout`.
const GRPC_REASONS: [&str; 17] = [
    "grpc_ok",
    "grpc_cancelled",
    "grpc_unknown",
    "grpc_invalid_argument",
    REASON_TIMEOUT,
    "grpc_not_found",
    "grpc_already_exists",
    "grpc_permission_denied",
    "grpc_resource_exhausted",
    "grpc_failed_precondition",
    "grpc_aborted",
    "grpc_out_of_range",
    "grpc_unimplemented",
    "grpc_internal",
    "grpc_unavailable",
    "grpc_data_loss",
    "grpc_unauthenticated",
];

/// `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS`.
const GRPC_DEFAULT_FAILURES: u32 = 1 << 2 | 1 << 4 | 1 << 12 | 1 << 13 | 1 << 14 | 1 << 15;

/// Decides success or failure from a gRPC status (`grpc-status` in the response headers or
/// trailers).
///
/// Default: `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE` and
/// `DATA_LOSS` are failures, with the reasons `grpc_unknown`, `timeout`, `grpc_unimplemented`,
/// `grpc_internal`, `grpc_unavailable` and `grpc_data_loss`; the other codes (the caller's
/// mistakes: `INVALID_ARGUMENT`, `NOT_FOUND`, ...) are successes. A response that is not gRPC
/// (an HTTP error from a proxy) is judged as [`HttpClassifier`] does; a body that ends without
/// a status is a failure (`grpc_unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcClassifier {
    failures: u32,
}

impl Default for GrpcClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcClassifier {
    /// The default classifier.
    pub const fn new() -> Self {
        Self {
            failures: GRPC_DEFAULT_FAILURES,
        }
    }

    /// Counts a further code (1 to 16, as in `tonic::Code`) as a failure, with reason `grpc_`
    /// and its name (`8` is `grpc_resource_exhausted`). Other numbers are ignored.
    pub const fn with_failure_code(mut self, code: i32) -> Self {
        if code >= 1 && code <= 16 {
            self.failures |= 1 << code;
        }
        self
    }

    /// Counts a code (1 to 16) as a success (default for all but the six above).
    pub const fn with_success_code(mut self, code: i32) -> Self {
        if code >= 1 && code <= 16 {
            self.failures &= !(1 << code);
        }
        self
    }

    /// The verdict for a `grpc-status` value.
    pub fn classify_code(&self, code: i32) -> Verdict {
        match usize::try_from(code) {
            Ok(0) => Verdict::Success,
            Ok(c) if c < GRPC_REASONS.len() => {
                if self.failures & (1 << c) != 0 {
                    Verdict::Failure(GRPC_REASONS[c])
                } else {
                    Verdict::Success
                }
            }
            // Not a code of the protocol: the status is unknown.
            _ => self.classify_code(2),
        }
    }

    fn reasons(&self) -> Vec<&'static str> {
        let mut r = vec![
            REASON_HTTP_5XX,
            REASON_TIMEOUT,
            REASON_ERROR,
            GRPC_REASONS[2],
        ];
        for (c, reason) in GRPC_REASONS.iter().enumerate().skip(1) {
            if self.failures & (1 << c) != 0 && !r.contains(reason) {
                r.push(reason);
            }
        }
        r
    }
}

/// The classifier of a layer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Classifier {
    Http(HttpClassifier),
    Grpc(GrpcClassifier),
}

/// What the response head says.
pub(crate) enum Head {
    Done(Verdict),
    /// A gRPC response whose status comes in the trailers.
    AtTrailers(GrpcClassifier),
}

impl Classifier {
    /// Every reason this classifier can give, declared with each outcome.
    pub(crate) fn reasons(&self) -> Vec<&'static str> {
        match self {
            Self::Http(c) => c.reasons(),
            Self::Grpc(c) => c.reasons(),
        }
    }

    pub(crate) fn response(&self, status: StatusCode, headers: &HeaderMap) -> Head {
        match self {
            Self::Http(c) => Head::Done(c.classify(status)),
            Self::Grpc(c) => {
                if status != StatusCode::OK {
                    return Head::Done(HttpClassifier::new().classify(status));
                }
                match grpc_status(headers) {
                    Some(code) => Head::Done(c.classify_code(code)),
                    None => Head::AtTrailers(*c),
                }
            }
        }
    }

    /// The verdict for an error of the inner service.
    pub(crate) fn error<E: 'static>(error: &E) -> Verdict {
        if is_timeout(error) {
            Verdict::Failure(REASON_TIMEOUT)
        } else {
            Verdict::Failure(REASON_ERROR)
        }
    }
}

/// The `grpc-status` of headers or trailers; an unreadable one counts as `UNKNOWN` (2).
pub(crate) fn grpc_status(headers: &HeaderMap) -> Option<i32> {
    let value = headers.get("grpc-status")?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(2),
    )
}

/// Whether an error is (or is caused by) tower's timeout `Elapsed` or an I/O timeout.
fn is_timeout<E: 'static>(error: &E) -> bool {
    let any: &dyn Any = error;
    if any.is::<tower::timeout::error::Elapsed>() {
        return true;
    }
    let dynamic: Option<&(dyn std::error::Error + 'static)> = any
        .downcast_ref::<tower::BoxError>()
        .map(|e| &**e as &(dyn std::error::Error + 'static))
        .or_else(|| {
            any.downcast_ref::<std::io::Error>()
                .map(|e| e as &(dyn std::error::Error + 'static))
        });
    let mut next = dynamic;
    while let Some(e) = next {
        if e.is::<tower::timeout::error::Elapsed>()
            || e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_defaults_fail_5xx_and_timeouts_and_pass_4xx() {
        let c = HttpClassifier::new();
        assert_eq!(c.classify(StatusCode::OK), Verdict::Success);
        assert_eq!(c.classify(StatusCode::NOT_FOUND), Verdict::Success);
        assert_eq!(
            c.classify(StatusCode::BAD_GATEWAY),
            Verdict::Failure("http_5xx")
        );
        assert_eq!(
            c.classify(StatusCode::GATEWAY_TIMEOUT),
            Verdict::Failure("timeout")
        );
        assert_eq!(
            c.classify(StatusCode::REQUEST_TIMEOUT),
            Verdict::Failure("timeout")
        );
    }

    #[test]
    fn client_errors_can_count_as_failures() {
        let c = HttpClassifier::new().with_client_errors_as_failures(true);
        assert_eq!(
            c.classify(StatusCode::NOT_FOUND),
            Verdict::Failure("http_4xx")
        );
        assert!(Classifier::Http(c).reasons().contains(&"http_4xx"));
    }

    #[test]
    fn grpc_defaults_fail_server_codes_only() {
        let c = GrpcClassifier::new();
        assert_eq!(c.classify_code(0), Verdict::Success);
        assert_eq!(c.classify_code(5), Verdict::Success); // NOT_FOUND
        assert_eq!(c.classify_code(13), Verdict::Failure("grpc_internal"));
        assert_eq!(c.classify_code(4), Verdict::Failure("timeout"));
        assert_eq!(c.classify_code(99), Verdict::Failure("grpc_unknown"));
        let c = c.with_failure_code(8).with_success_code(12);
        assert_eq!(
            c.classify_code(8),
            Verdict::Failure("grpc_resource_exhausted")
        );
        assert_eq!(c.classify_code(12), Verdict::Success);
    }

    #[test]
    fn every_reason_a_classifier_gives_is_valid_and_declared() {
        let all = GrpcClassifier { failures: u32::MAX };
        let declared = Classifier::Grpc(all).reasons();
        for code in 0..17 {
            if let Verdict::Failure(r) = all.classify_code(code) {
                assert!(declared.contains(&r), "{r}");
                assert_eq!(heartbeat_core::validate::reason_check(r), None, "{r}");
            }
        }
        assert!(declared.len() <= heartbeat_core::MAX_REASONS);
    }

    #[test]
    fn timeouts_are_found_in_boxed_errors() {
        let boxed: tower::BoxError = Box::new(tower::timeout::error::Elapsed::new());
        assert_eq!(Classifier::error(&boxed), Verdict::Failure("timeout"));
        let io = std::io::Error::other("reset");
        assert_eq!(Classifier::error(&io), Verdict::Failure("error"));
    }
}
