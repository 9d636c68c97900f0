//! What `#[heartbeat::outcome]` and `#[derive(OutcomeReason)]` expand to call. Not an API:
//! reached through `heartbeat::__private`, which may change in any release.

use crate::OutcomeReason;
use heartbeat_core::{
    Outcome, OutcomeBuilder, OutcomeError, OutcomeGuard, REASON_PANICKED, Registry,
};
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

pub use inventory;

/// The global handle (set once by `heartbeat::set_global`).
pub(crate) enum Handle {
    #[cfg(feature = "export")]
    Heartbeat(crate::Heartbeat),
    Registry(Registry),
}

impl Handle {
    fn outcome(&self, name: &str) -> OutcomeBuilder<'_> {
        match self {
            #[cfg(feature = "export")]
            Self::Heartbeat(hb) => hb.outcome(name),
            Self::Registry(r) => r.outcome(name),
        }
    }
}

pub(crate) static GLOBAL: OnceLock<Handle> = OnceLock::new();

/// Declares an outcome on the global handle: `None` before it is set.
pub(crate) fn declare(name: &str, reasons: &[&str]) -> Option<Result<Outcome, OutcomeError>> {
    let handle = GLOBAL.get()?;
    Some(
        handle
            .outcome(name)
            .with_reasons(reasons.iter().copied())
            .build(),
    )
}

/// The reason of an error type without [`OutcomeReason`].
pub const REASON_ERROR: &str = "error";

/// One `#[outcome]` function: its outcome name, its error type's reasons, and its handle once
/// the global handle is set.
#[derive(Debug)]
pub struct Site {
    name: &'static str,
    reasons: fn() -> &'static [&'static str],
    outcome: OnceLock<Outcome>,
}

static NOOP: Outcome = Outcome::noop();

impl Site {
    /// A site (in a `static`).
    pub const fn new(name: &'static str, reasons: fn() -> &'static [&'static str]) -> Self {
        Self {
            name,
            reasons,
            outcome: OnceLock::new(),
        }
    }

    /// Declares the outcome on the global handle (idempotent); `Ok` when none is set.
    pub(crate) fn declare(&self) -> Result<(), OutcomeError> {
        if self.outcome.get().is_some() {
            return Ok(());
        }
        match declare(self.name, (self.reasons)()) {
            Some(Ok(outcome)) => {
                let _ = self.outcome.set(outcome);
                Ok(())
            }
            Some(Err(e)) => {
                // Counts nothing, and does not try again on every call.
                let _ = self.outcome.set(Outcome::noop());
                Err(e)
            }
            None => Ok(()),
        }
    }

    /// The handle: the declared outcome, or a no-op before the global handle is set.
    #[inline]
    pub fn outcome(&self) -> &Outcome {
        if let Some(o) = self.outcome.get() {
            return o;
        }
        // The global handle may have been set before this site registered (a platform where
        // constructors run late): declare now.
        let _ = self.declare();
        self.outcome.get().unwrap_or(&NOOP)
    }
}

/// A site's entry in the program-wide list.
#[derive(Debug)]
pub struct Registration(pub &'static Site);

inventory::collect!(Registration);

/// Implemented by `Result` only: what `#[outcome]` requires of a function's return type.
#[diagnostic::on_unimplemented(
    message = "`#[heartbeat::outcome]` needs a function that returns `Result<T, E>`, and this one returns `{Self}`",
    label = "not a `Result`",
    note = "Ok counts a success, Err a failure; for a function that cannot fail, count with `Outcome::success` instead"
)]
pub trait IsResult {
    /// The error type.
    type Err;
    /// The error, if any.
    fn error(&self) -> Option<&Self::Err>;
}

impl<T, E> IsResult for Result<T, E> {
    type Err = E;
    #[inline]
    fn error(&self) -> Option<&E> {
        self.as_ref().err()
    }
}

/// Picks [`OutcomeReason`] when the error type has it, else `error` (autoref specialisation:
/// call as `(&&Probe::<E>::new()).reasons()`).
pub struct Probe<E>(PhantomData<fn() -> E>);

impl<E> Probe<E> {
    /// A probe for `E`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

/// The error type has [`OutcomeReason`].
pub trait ViaOutcomeReason<E> {
    /// Its reasons.
    fn reasons(&self) -> &'static [&'static str];
    /// The reason of an error.
    fn reason(&self, error: &E) -> &'static str;
}

impl<E: OutcomeReason> ViaOutcomeReason<E> for &Probe<E> {
    #[inline]
    fn reasons(&self) -> &'static [&'static str] {
        E::REASONS
    }
    #[inline]
    fn reason(&self, error: &E) -> &'static str {
        error.reason()
    }
}

/// The error type does not have [`OutcomeReason`]: every failure is `error`.
pub trait ViaDefault<E> {
    /// `["error"]`.
    fn reasons(&self) -> &'static [&'static str];
    /// `"error"`.
    fn reason(&self, error: &E) -> &'static str;
}

impl<E> ViaDefault<E> for Probe<E> {
    #[inline]
    fn reasons(&self) -> &'static [&'static str] {
        &[REASON_ERROR]
    }
    #[inline]
    fn reason(&self, _: &E) -> &'static str {
        REASON_ERROR
    }
}

/// Resolves a job's guard from its result.
#[inline]
pub fn resolve<R: IsResult>(guard: OutcomeGuard, result: &R, reason: fn(&R::Err) -> &'static str) {
    match result.error() {
        None => guard.success(),
        Some(e) => guard.failure_with(reason(e)),
    }
}

/// Ties an async block's output to the function's return type (so `?` infers).
#[inline]
pub fn annotate<R, F: Future<Output = R>>(future: F) -> F {
    future
}

/// Runs an `async fn`'s body: its result resolves the guard, a panic in it counts as
/// `panicked` and goes on, a drop before the end counts as `abandoned`.
pub fn observe<R, F>(
    guard: OutcomeGuard,
    reason: fn(&R::Err) -> &'static str,
    future: F,
) -> Observed<R, F>
where
    R: IsResult,
    F: Future<Output = R>,
{
    Observed {
        future,
        guard: Some(guard),
        reason,
    }
}

pin_project_lite::pin_project! {
    /// The future of an `async fn` under `#[outcome]`.
    pub struct Observed<R: IsResult, F> {
        #[pin]
        future: F,
        guard: Option<OutcomeGuard>,
        reason: fn(&R::Err) -> &'static str,
    }
}

impl<R: IsResult, F: Future<Output = R>> Future for Observed<R, F> {
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = self.project();
        let future = this.future;
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => {
                if let Some(guard) = this.guard.take() {
                    resolve(guard, &result, *this.reason);
                }
                Poll::Ready(result)
            }
            Err(panic) => {
                if let Some(guard) = this.guard.take() {
                    guard.failure_with(REASON_PANICKED);
                }
                resume_unwind(panic)
            }
        }
    }
}
