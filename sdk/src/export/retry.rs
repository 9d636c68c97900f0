//! Retries of one export, as the OTLP specification says: exponential backoff with jitter for
//! what is retryable, the server's delay (`Retry-After`, gRPC `RetryInfo`) when it gives one, and
//! never past the export's deadline.

use super::config::Retry;
use super::health::ExportFailure;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// The longest server-requested delay honoured in one export (as `opentelemetry-otlp` does);
/// past the deadline the export fails at once and the next one carries its counts.
const MAX_THROTTLE: Duration = Duration::from_secs(30);

/// Whether a failed attempt may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(any(feature = "http-proto", feature = "http-json", feature = "grpc")),
    allow(dead_code)
)]
pub(crate) enum Again {
    /// Not retryable: a permanent rejection or a failed TLS handshake.
    No,
    /// Retryable, after the backoff.
    Yes,
    /// Retryable, not before the server's delay.
    After(Duration),
}

/// A failed attempt: why, whether to try again, and a description without secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejected {
    pub(crate) failure: ExportFailure,
    pub(crate) again: Again,
    pub(crate) message: String,
}

/// Runs `attempt` until it succeeds, fails for good, runs out of retries, or the next delay
/// would end past `until`; returns the last attempt's result.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: Retry,
    until: Instant,
    mut attempt: F,
) -> Result<T, Rejected>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Rejected>>,
{
    let mut retries = 0;
    let mut delay = policy.initial_delay;
    let mut cap = policy.max_delay;
    loop {
        let rejected = match attempt().await {
            Ok(done) => return Ok(done),
            Err(rejected) => rejected,
        };
        if retries >= policy.max_retries {
            return Err(rejected);
        }
        match rejected.again {
            Again::No => return Err(rejected),
            Again::Yes => {}
            Again::After(server) => {
                let server = server.min(MAX_THROTTLE);
                if server > cap {
                    cap = MAX_THROTTLE;
                }
                delay = delay.max(server);
            }
        }
        let sleep = delay.saturating_add(jitter(policy.max_jitter)).min(cap);
        if Instant::now() + sleep >= until {
            return Err(rejected);
        }
        tokio::time::sleep(sleep).await;
        retries += 1;
        delay = delay.saturating_mul(2).min(cap);
    }
}

/// A random duration in `0..=max`, from a freshly seeded hasher (no RNG dependency).
fn jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if max_ms == 0 {
        return Duration::ZERO;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    Duration::from_millis(h.finish() % max_ms.saturating_add(1))
}

/// The delay of an HTTP `Retry-After` header: whole seconds (an HTTP date is not honoured;
/// the backoff applies).
#[cfg_attr(
    not(any(feature = "http-proto", feature = "http-json")),
    allow(dead_code)
)]
pub(crate) fn retry_after_seconds(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    fn rejected(again: Again) -> Rejected {
        Rejected {
            failure: ExportFailure::Http5xx,
            again,
            message: String::new(),
        }
    }

    const QUICK: Retry = Retry {
        max_retries: 3,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_jitter: Duration::from_millis(1),
    };

    async fn attempts(policy: Retry, again: Again, until: Duration) -> usize {
        let n = AtomicUsize::new(0);
        let result: Result<(), _> = with_retries(policy, Instant::now() + until, || {
            n.fetch_add(1, Relaxed);
            async move { Err(rejected(again)) }
        })
        .await;
        assert_eq!(result, Err(rejected(again)));
        n.load(Relaxed)
    }

    #[tokio::test]
    async fn retryable_failures_are_tried_max_retries_more_times() {
        assert_eq!(
            attempts(QUICK, Again::Yes, Duration::from_secs(60)).await,
            4
        );
        assert_eq!(
            attempts(Retry::DISABLED, Again::Yes, Duration::from_secs(60)).await,
            1
        );
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried() {
        assert_eq!(attempts(QUICK, Again::No, Duration::from_secs(60)).await, 1);
    }

    #[tokio::test]
    async fn a_server_delay_past_the_deadline_fails_at_once() {
        let long = Again::After(Duration::from_secs(20));
        assert_eq!(attempts(QUICK, long, Duration::from_secs(5)).await, 1);
    }

    #[tokio::test]
    async fn success_ends_the_retries() {
        let n = AtomicUsize::new(0);
        let result = with_retries(QUICK, Instant::now() + Duration::from_secs(60), || {
            let i = n.fetch_add(1, Relaxed);
            async move {
                if i < 2 {
                    Err(rejected(Again::Yes))
                } else {
                    Ok(i)
                }
            }
        })
        .await;
        assert_eq!(result, Ok(2));
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(retry_after_seconds(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
