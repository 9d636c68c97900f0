//! The application panics inside SDK-held code, and no panic crosses into the host:
//!
//! - inside a guarded outcome (`Outcome::start`): the panic stays the application's own, in its
//!   thread or task; the guard records `failure` with reason `panicked` while unwinding (no double
//!   panic, no abort), and what the thread recorded before still counts;
//! - inside a health gate, sync or async, with a string or any other payload: a recorded gate
//!   failure (`gate_panicked`, the fail ping carries it), the emitter keeps running and recovers
//!   when the gate does, and the runtime goes on serving the application.
//!
//! The panic messages these tests print are expected.
#![cfg(feature = "http-proto")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod deadman_http;
mod support;

use deadman_http::eventually;
use heartbeat::{EmitterStatus, FailReason, Heartbeat, OutcomeResult, PingConfig, Registry};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;
use support::{Sink, TEST_LIMIT, TestResult, bounded};

/// (successes, failures by reason) of outcome `name`.
fn counts(registry: &Registry, name: &str) -> (u64, Vec<(String, u64)>) {
    let mut ok = 0;
    let mut failed = Vec::new();
    registry.collect(|s| {
        if s.outcome() != name {
            return;
        }
        match s.result() {
            OutcomeResult::Success => ok += s.value(),
            OutcomeResult::Failure if s.value() > 0 => {
                failed.push((s.reason().unwrap_or_default().to_owned(), s.value()));
            }
            OutcomeResult::Failure => {}
        }
    });
    (ok, failed)
}

#[test]
fn a_panic_inside_a_guarded_outcome_stays_in_its_thread_and_is_recorded_as_panicked() {
    let registry = Registry::new();
    let job = registry.outcome("job.run").build().unwrap();
    let worker = {
        let job = job.clone();
        std::thread::spawn(move || {
            for _ in 0..10 {
                job.success();
            }
            let _guard = job.start();
            panic!("application bug inside a guarded job");
        })
    };
    assert!(worker.join().is_err(), "the panic is the application's own");
    let (ok, failed) = counts(&registry, "job.run");
    assert_eq!(ok, 10, "counts of a thread that died still count");
    assert_eq!(failed, vec![("panicked".to_owned(), 1)]);

    // Caught in the same thread, with a tenant guard too.
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _guard = job.start();
        let _tenant_guard = job.tenant("acme").start();
        panic!("caught by the application");
    }));
    assert!(caught.is_err());
    let (_, failed) = counts(&registry, "job.run");
    let panicked: u64 = failed
        .iter()
        .filter(|(r, _)| r == "panicked")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(panicked, 3);
    // The outcome is still usable afterwards.
    job.success();
    assert_eq!(counts(&registry, "job.run").0, 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_inside_a_guarded_outcome_in_a_task_leaves_the_runtime_serving() {
    let registry = Registry::new();
    let job = registry.outcome("job.run").build().unwrap();
    let task = {
        let job = job.clone();
        tokio::spawn(async move {
            let _guard = job.start();
            tokio::task::yield_now().await;
            panic!("application bug in a task");
        })
    };
    assert!(task.await.unwrap_err().is_panic());
    let next = tokio::spawn(async { 42 }).await.unwrap();
    assert_eq!(next, 42, "the runtime goes on");
    assert_eq!(
        counts(&registry, "job.run").1,
        vec![("panicked".to_owned(), 1)]
    );
}

/// A gate that panics on its first `panics` calls (with `payload`), then passes.
async fn a_gate_that_panics(asynchronous: bool, payload: fn()) -> TestResult {
    bounded(TEST_LIMIT, async move {
        let sink = Sink::start().await?;
        let channel = deadman_http::Server::ok().await;
        let hb = Heartbeat::builder()
            .with_environment(Vec::<(String, String)>::new())
            .with_endpoint(sink.endpoint())
            .with_export_interval(Duration::from_secs(3600))
            .install()?;
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let gate = move || {
            if c.fetch_add(1, SeqCst) < 3 {
                payload();
            }
            true
        };
        let builder = hb
            .deadman("api")
            .with_cadence(Duration::from_millis(100))
            .with_ping(PingConfig::new(channel.url("/ping"))?);
        let builder = if asynchronous {
            let gate = Arc::new(gate);
            builder.with_async_gate(move || {
                let gate = Arc::clone(&gate);
                async move { gate() }
            })
        } else {
            builder.with_gate(gate)
        };
        let beat = builder.start()?;
        eventually("the panic recorded as a gate failure", || async {
            (beat.status().reason() == Some(FailReason::GatePanicked)).then_some(())
        })
        .await;
        eventually("recovery once the gate passes", || async {
            (beat.status() == EmitterStatus::Beating && beat.health().beats >= 2).then_some(())
        })
        .await;
        // (A first tick may time out instead: printing a panic's backtrace can outlast the
        // gate timeout. The panic itself is reported as soon as the gate returns.)
        eventually("a fail ping carrying gate_panicked", || async {
            channel
                .requests()
                .into_iter()
                .find(|r| r.path == "/ping/fail" && r.body.contains("reason=gate_panicked"))
        })
        .await;
        // The application's runtime is unaffected.
        assert_eq!(tokio::spawn(async { 7 }).await?, 7);
        beat.stop().await?;
        hb.shutdown().await?;
        Ok(())
    })
    .await
}

fn panic_with_a_message() {
    panic!("gate bug");
}

fn panic_with_any_payload() {
    std::panic::panic_any(42_u32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_sync_gate_is_a_recorded_failure_and_the_emitter_recovers() -> TestResult {
    a_gate_that_panics(false, panic_with_a_message).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_async_gate_is_a_recorded_failure_and_the_emitter_recovers() -> TestResult {
    a_gate_that_panics(true, panic_with_a_message).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_panicking_with_a_non_string_payload_is_contained_too() -> TestResult {
    a_gate_that_panics(false, panic_with_any_payload).await
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_gate_on_a_single_threaded_runtime_is_contained() -> TestResult {
    // No spare worker thread: the gate's panic must still be caught, not kill the runtime.
    a_gate_that_panics(true, panic_with_a_message).await
}
