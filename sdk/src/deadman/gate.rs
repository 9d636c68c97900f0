//! The health gate: the application's own predicate (sync or async, with a timeout) and the
//! "this outcome recorded a success in the last window" checks. A gate that fails, panics or
//! hangs is a recorded [`Failure`], never a panic into the application.

use crate::deadman::beat::{FailReason, Failure, RecentSuccess};
use heartbeat_core::clock::Clock;
use heartbeat_core::outcome::Outcome;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// What a health gate returns: `bool`, or `Result<(), E>` whose error becomes the detail of
/// the fail signal (`heartbeat.reason = "gate_failed"`).
pub trait GateOutput: Send + 'static {
    /// `Ok(())` when healthy, else a short description of what is wrong.
    fn into_verdict(self) -> Result<(), String>;
}

impl GateOutput for bool {
    fn into_verdict(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("the health gate returned false".to_owned())
        }
    }
}

impl<E: fmt::Display + Send + 'static> GateOutput for Result<(), E> {
    fn into_verdict(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

type SyncGate = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;
type BoxFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type AsyncGate = Arc<dyn Fn() -> BoxFuture + Send + Sync>;

/// The application's predicate.
#[derive(Clone)]
pub(crate) enum Predicate {
    Sync(SyncGate),
    Async(AsyncGate),
}

impl fmt::Debug for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Predicate::Sync(_) => "Predicate::Sync",
            Predicate::Async(_) => "Predicate::Async",
        })
    }
}

impl Predicate {
    pub(crate) fn sync<F, O>(f: F) -> Self
    where
        F: Fn() -> O + Send + Sync + 'static,
        O: GateOutput,
    {
        Predicate::Sync(Arc::new(move || f().into_verdict()))
    }

    pub(crate) fn from_async<F, Fut, O>(f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: GateOutput,
    {
        Predicate::Async(Arc::new(move || {
            let fut = f();
            Box::pin(async move { fut.await.into_verdict() })
        }))
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a non-string panic payload"
    }
}

/// Runs the gate at each tick, within its timeout.
pub(crate) struct GateRunner {
    predicate: Option<Predicate>,
    timeout: Duration,
    outcomes: Vec<(Outcome, RecentSuccess)>,
    clock: Arc<dyn Clock>,
    runtime: Handle,
    /// A synchronous predicate still running past its timeout: it cannot be cancelled, so no
    /// second one is started beside it.
    hung: Option<JoinHandle<Result<(), String>>>,
}

impl GateRunner {
    pub(crate) fn new(
        predicate: Option<Predicate>,
        timeout: Duration,
        outcomes: Vec<(Outcome, Duration)>,
        clock: Arc<dyn Clock>,
        runtime: Handle,
    ) -> Self {
        let now = clock.monotonic();
        let outcomes = outcomes
            .into_iter()
            .map(|(o, window)| {
                let watch = RecentSuccess::new(now, o.success_total(), window);
                (o, watch)
            })
            .collect();
        Self {
            predicate,
            timeout,
            outcomes,
            clock,
            runtime,
            hung: None,
        }
    }

    /// The verdict of this tick: the predicate first, then each outcome.
    pub(crate) async fn check(&mut self) -> Result<(), Failure> {
        if let Some(predicate) = self.predicate.clone() {
            self.run(predicate).await?;
        }
        let now = self.clock.monotonic();
        for (outcome, watch) in &mut self.outcomes {
            watch
                .check(now, outcome.success_total())
                .map_err(|f| Failure::new(f.reason, format!("{}: {}", outcome.name(), f.detail)))?;
        }
        Ok(())
    }

    async fn run(&mut self, predicate: Predicate) -> Result<(), Failure> {
        let timeout = self.timeout;
        let mut task = match predicate {
            Predicate::Sync(f) => {
                if let Some(hung) = self.hung.take()
                    && !hung.is_finished()
                {
                    self.hung = Some(hung);
                    return Err(Failure::new(
                        FailReason::GateTimeout,
                        format!("the health gate is still running after {timeout:?}"),
                    ));
                }
                self.runtime.spawn_blocking(move || f())
            }
            // The predicate is called inside the task, so a panic creating the future is caught too.
            Predicate::Async(f) => self.runtime.spawn(async move { f().await }),
        };
        let sync = matches!(self.predicate, Some(Predicate::Sync(_)));
        match tokio::time::timeout(timeout, &mut task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(detail))) => Err(Failure::new(FailReason::GateFailed, detail)),
            Ok(Err(join)) if join.is_panic() => {
                let payload = join.into_panic();
                Err(Failure::new(
                    FailReason::GatePanicked,
                    format!("the health gate panicked: {}", panic_message(&*payload)),
                ))
            }
            Ok(Err(_cancelled)) => Err(Failure::new(
                FailReason::GateFailed,
                "the health gate was cancelled (runtime shutting down)",
            )),
            Err(_elapsed) => {
                if sync {
                    self.hung = Some(task);
                } else {
                    task.abort();
                }
                Err(Failure::new(
                    FailReason::GateTimeout,
                    format!("the health gate did not answer within {timeout:?}"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heartbeat_core::clock::SystemClock;

    fn runner(predicate: Predicate, timeout: Duration) -> GateRunner {
        GateRunner::new(
            Some(predicate),
            timeout,
            Vec::new(),
            Arc::new(SystemClock::new()),
            Handle::current(),
        )
    }

    #[tokio::test]
    async fn a_passing_gate_passes() {
        let mut g = runner(Predicate::sync(|| true), Duration::from_secs(5));
        assert_eq!(g.check().await, Ok(()));
        let mut g = runner(
            Predicate::from_async(|| async { Ok::<(), String>(()) }),
            Duration::from_secs(5),
        );
        assert_eq!(g.check().await, Ok(()));
    }

    #[tokio::test]
    async fn a_failing_gate_gives_its_error_as_the_detail() {
        let mut g = runner(
            Predicate::sync(|| Err::<(), _>("database unreachable")),
            Duration::from_secs(5),
        );
        let f = g.check().await.unwrap_err();
        assert_eq!(f.reason, FailReason::GateFailed);
        assert_eq!(f.detail, "database unreachable");
        let mut g = runner(Predicate::sync(|| false), Duration::from_secs(5));
        assert_eq!(
            g.check().await.unwrap_err().detail,
            "the health gate returned false"
        );
    }

    #[tokio::test]
    async fn a_panicking_gate_is_a_recorded_failure() {
        let mut g = runner(
            Predicate::sync(|| -> bool { panic!("boom") }),
            Duration::from_secs(5),
        );
        let f = g.check().await.unwrap_err();
        assert_eq!(f.reason, FailReason::GatePanicked);
        assert_eq!(f.detail, "the health gate panicked: boom");
        let mut g = runner(
            Predicate::from_async(|| -> std::future::Ready<bool> { panic!("async boom") }),
            Duration::from_secs(5),
        );
        assert_eq!(
            g.check().await.unwrap_err().reason,
            FailReason::GatePanicked
        );
    }

    #[tokio::test]
    async fn a_hanging_async_gate_times_out_and_is_cancelled() {
        let mut g = runner(
            Predicate::from_async(std::future::pending::<bool>),
            Duration::from_millis(20),
        );
        let f = g.check().await.unwrap_err();
        assert_eq!(f.reason, FailReason::GateTimeout);
        assert!(f.detail.contains("20ms"), "{}", f.detail);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hanging_sync_gate_is_not_started_twice() {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = std::sync::Mutex::new(wait);
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&started);
        let mut g = runner(
            Predicate::sync(move || {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = wait.lock().unwrap().recv();
                true
            }),
            Duration::from_millis(20),
        );
        assert_eq!(g.check().await.unwrap_err().reason, FailReason::GateTimeout);
        let again = g.check().await.unwrap_err();
        assert_eq!(again.reason, FailReason::GateTimeout);
        assert!(again.detail.contains("still running"), "{}", again.detail);
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Once it returns, the next tick runs it again.
        release.send(()).unwrap();
        while !g.hung.as_ref().unwrap().is_finished() {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        assert_eq!(g.check().await, Ok(()));
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
