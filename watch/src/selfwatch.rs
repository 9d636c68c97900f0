//! The watch watching itself: its health as the tick loop, the database and the delivery task
//! leave it, the self-heartbeat that carries it to an external channel, and the fault hooks
//! that tests use to break a stage on purpose.
//!
//! The self-beat is the dead-man pattern applied to the watch: `[self_heartbeat]` starts a
//! dead-man emitter of the `heartbeat` SDK whose gate passes only while
//!
//! - the judge completed a tick within two ticks (and two seconds),
//! - that tick's state was committed to SQLite,
//! - the alert-delivery workers went round their outbox within two ticks (and twenty
//!   seconds, the time one slow delivery may hold it), and
//! - the ingest queue has room.
//!
//! The beat goes to an external ping URL (Healthchecks.io style: a GET per beat, `/fail` with
//! the reason when a stage is stuck) and over OTLP to a second watch or a collector, with the
//! watch's own metrics. A stuck stage stops the beat; a dead process stops everything.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heartbeat::semconv;
use heartbeat::{Deadman, Heartbeat, PingConfig};

use crate::alert::Dispatcher;
use crate::receiver::Shared;
use crate::rulefile::SelfHeartbeat;

/// What the watch's own stages last did, shared by the tick loop, the delivery task, the
/// self-beat's gate and the self-metrics.
#[derive(Debug)]
pub(crate) struct Health {
    tick_ms: i64,
    started_ms: i64,
    /// When the last tick completed, its state committed.
    pub(crate) last_tick_ms: AtomicI64,
    /// The last tick's commit error, if it failed.
    commit_error: Mutex<Option<String>>,
    /// When the alert-delivery workers last went round their outbox.
    pub(crate) last_delivery_ms: AtomicI64,
    /// How long the last tick took (µs) and how late it started (ms).
    pub(crate) tick_duration_us: AtomicU64,
    pub(crate) tick_lag_ms: AtomicI64,
    /// Alerts firing now.
    pub(crate) open_alerts: AtomicU64,
    /// Ticks whose commit failed.
    pub(crate) commit_failures: AtomicU64,
}

impl Health {
    pub(crate) fn new(tick_ms: i64, now_ms: i64) -> Self {
        Self {
            tick_ms: tick_ms.max(1),
            started_ms: now_ms,
            last_tick_ms: AtomicI64::new(now_ms),
            commit_error: Mutex::new(None),
            last_delivery_ms: AtomicI64::new(now_ms),
            tick_duration_us: AtomicU64::new(0),
            tick_lag_ms: AtomicI64::new(0),
            open_alerts: AtomicU64::new(0),
            commit_failures: AtomicU64::new(0),
        }
    }

    /// Records a completed tick: its commit's outcome, when, and how long it took.
    pub(crate) fn ticked(&self, now_ms: i64, commit: Result<(), String>, took: Duration) {
        self.tick_duration_us.store(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let mut error = self
            .commit_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match commit {
            Ok(()) => {
                *error = None;
                self.last_tick_ms.store(now_ms, Ordering::Relaxed);
            }
            Err(e) => {
                self.commit_failures.fetch_add(1, Ordering::Relaxed);
                *error = Some(e);
            }
        }
    }

    /// Whether every stage is alive at `now_ms`: `Err` names the first that is not.
    pub(crate) fn verdict(&self, now_ms: i64, queue_room: bool) -> Result<(), String> {
        if let Some(e) = self
            .commit_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            return Err(format!("database: the last tick was not committed: {e}"));
        }
        let tick_age = now_ms - self.last_tick_ms.load(Ordering::Relaxed);
        if tick_age > 2 * self.tick_ms + 2_000 {
            return Err(format!(
                "judge: no tick completed for {} (tick {})",
                crate::clock::human(tick_age),
                crate::clock::human(self.tick_ms)
            ));
        }
        let delivery_age = now_ms - self.last_delivery_ms.load(Ordering::Relaxed);
        if delivery_age > 2 * self.tick_ms + 20_000 && now_ms - self.started_ms > 20_000 {
            return Err(format!(
                "alert delivery: the delivery workers have not gone round for {}",
                crate::clock::human(delivery_age)
            ));
        }
        if !queue_room {
            return Err("ingest: the queue is full".to_owned());
        }
        Ok(())
    }
}

/// The running self-heartbeat: the SDK pipeline and its dead-man emitter.
#[derive(Debug)]
pub(crate) struct SelfBeat {
    hb: Heartbeat,
    deadman: Option<Deadman>,
}

/// Why the self-heartbeat could not start.
#[derive(Debug, thiserror::Error)]
pub enum SelfBeatError {
    /// The SDK refused the configuration (a bad URL, for example).
    #[error("self_heartbeat: {0}")]
    Config(String),
}

impl SelfBeat {
    /// Starts the SDK pipeline (to `otlp_endpoint`, else the watch's own receiver at
    /// `own_endpoint`), the watch's metrics and the gated dead-man emitter, on the current
    /// tokio runtime.
    pub(crate) fn start(
        settings: &SelfHeartbeat,
        own_endpoint: &str,
        token: Option<&str>,
        health: Arc<Health>,
        shared: Arc<Shared>,
        dispatcher: Dispatcher,
    ) -> Result<Self, SelfBeatError> {
        let err = |e: &dyn std::fmt::Display| SelfBeatError::Config(e.to_string());
        let endpoint = settings
            .otlp_endpoint
            .clone()
            .unwrap_or_else(|| own_endpoint.to_owned());
        let mut builder = Heartbeat::builder()
            .with_environment(std::iter::empty::<(String, String)>())
            .with_service_name(settings.service.clone())
            .with_service_version(env!("CARGO_PKG_VERSION"))
            .with_endpoint(endpoint)
            .with_export_interval(settings.cadence.max(Duration::from_secs(1)));
        if settings.otlp_endpoint.is_none()
            && let Some(token) = token
        {
            builder = builder.with_header("authorization", format!("Bearer {token}"));
        }
        let hb = builder.install().map_err(|e| err(&e))?;
        metrics(&hb, &health, &shared, dispatcher);
        let gate_health = Arc::clone(&health);
        let gate_shared = Arc::clone(&shared);
        let mut deadman = hb
            .deadman(settings.emitter.clone())
            .with_cadence(settings.cadence)
            .with_gate(move || {
                let now = gate_shared.clock.now_ms();
                gate_health.verdict(now, gate_shared.permits.available_permits() > 0)
            });
        if let Some(url) = &settings.ping_url {
            deadman = deadman.with_ping(PingConfig::new(url).map_err(|e| err(&e))?);
        }
        let deadman = deadman.start().map_err(|e| err(&e))?;
        Ok(Self {
            hb,
            deadman: Some(deadman),
        })
    }

    /// A graceful stop: "stopped on purpose", then the final export.
    pub(crate) async fn stop(mut self) {
        if let Some(d) = self.deadman.take() {
            let _ = d.stop().await;
        }
        let _ = self.hb.shutdown().await;
    }
}

/// The watch's own metrics, read at each export: ingest, queue, judge, delivery, alerts.
fn metrics(hb: &Heartbeat, health: &Arc<Health>, shared: &Arc<Shared>, dispatcher: Dispatcher) {
    let meter = hb.meter();
    let s = Arc::clone(shared);
    let _ = meter
        .u64_observable_counter(semconv::METRIC_WATCH_POINTS)
        .with_description(semconv::DESCRIPTION_WATCH_POINTS)
        .with_unit(semconv::UNIT_WATCH_POINTS)
        .with_callback(move |o| {
            o.observe(s.stats.points_accepted.load(Ordering::Relaxed), &[]);
        })
        .build();
    let s = Arc::clone(shared);
    let capacity = shared.queue_capacity;
    let _ = meter
        .u64_observable_gauge(semconv::METRIC_WATCH_QUEUE_DEPTH)
        .with_description(semconv::DESCRIPTION_WATCH_QUEUE_DEPTH)
        .with_unit(semconv::UNIT_WATCH_QUEUE_DEPTH)
        .with_callback(move |o| {
            let used = capacity.saturating_sub(s.permits.available_permits());
            o.observe(u64::try_from(used).unwrap_or(u64::MAX), &[]);
        })
        .build();
    let h = Arc::clone(health);
    let _ = meter
        .u64_observable_gauge(semconv::METRIC_WATCH_TICK_DURATION)
        .with_description(semconv::DESCRIPTION_WATCH_TICK_DURATION)
        .with_unit(semconv::UNIT_WATCH_TICK_DURATION)
        .with_callback(move |o| o.observe(h.tick_duration_us.load(Ordering::Relaxed), &[]))
        .build();
    let h = Arc::clone(health);
    let s = Arc::clone(shared);
    let _ = meter
        .i64_observable_gauge(semconv::METRIC_WATCH_TICK_AGE)
        .with_description(semconv::DESCRIPTION_WATCH_TICK_AGE)
        .with_unit(semconv::UNIT_WATCH_TICK_AGE)
        .with_callback(move |o| {
            o.observe(
                s.clock.now_ms() - h.last_tick_ms.load(Ordering::Relaxed),
                &[],
            );
        })
        .build();
    let h = Arc::clone(health);
    let _ = meter
        .i64_observable_gauge(semconv::METRIC_WATCH_TICK_LAG)
        .with_description(semconv::DESCRIPTION_WATCH_TICK_LAG)
        .with_unit(semconv::UNIT_WATCH_TICK_LAG)
        .with_callback(move |o| o.observe(h.tick_lag_ms.load(Ordering::Relaxed), &[]))
        .build();
    let h = Arc::clone(health);
    let _ = meter
        .u64_observable_gauge(semconv::METRIC_WATCH_ALERTS_OPEN)
        .with_description(semconv::DESCRIPTION_WATCH_ALERTS_OPEN)
        .with_unit(semconv::UNIT_WATCH_ALERTS_OPEN)
        .with_callback(move |o| o.observe(h.open_alerts.load(Ordering::Relaxed), &[]))
        .build();
    let h = Arc::clone(health);
    let _ = meter
        .u64_observable_counter(semconv::METRIC_WATCH_COMMIT_FAILURES)
        .with_description(semconv::DESCRIPTION_WATCH_COMMIT_FAILURES)
        .with_unit(semconv::UNIT_WATCH_COMMIT_FAILURES)
        .with_callback(move |o| o.observe(h.commit_failures.load(Ordering::Relaxed), &[]))
        .build();
    let _ = meter
        .u64_observable_counter(semconv::METRIC_WATCH_DELIVERIES_FAILED)
        .with_description(semconv::DESCRIPTION_WATCH_DELIVERIES_FAILED)
        .with_unit(semconv::UNIT_WATCH_DELIVERIES_FAILED)
        .with_callback(move |o| {
            let (_, failed, dropped) = dispatcher.counts();
            o.observe(failed + dropped, &[]);
        })
        .build();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_names_the_stage_that_is_stuck() {
        let h = Health::new(1_000, 0);
        assert_eq!(h.verdict(1_000, true), Ok(()));
        h.ticked(1_000, Ok(()), Duration::from_millis(1));
        assert_eq!(h.verdict(5_000, true), Ok(()));
        let stalled = h.verdict(5_100, true).unwrap_err();
        assert!(
            stalled.starts_with("judge: no tick completed for 4.1s"),
            "{stalled}"
        );
        h.ticked(
            5_000,
            Err("attempt to write a readonly database".into()),
            Duration::ZERO,
        );
        let db = h.verdict(5_000, true).unwrap_err();
        assert!(
            db.starts_with("database: the last tick was not committed"),
            "{db}"
        );
        h.ticked(6_000, Ok(()), Duration::ZERO);
        h.last_delivery_ms.store(6_000, Ordering::Relaxed);
        assert_eq!(
            h.verdict(6_000, false),
            Err("ingest: the queue is full".to_owned())
        );
        h.last_delivery_ms.store(0, Ordering::Relaxed);
        let delivery = h.verdict(30_000, true).unwrap_err();
        assert!(delivery.starts_with("judge"), "{delivery}");
        h.ticked(30_000, Ok(()), Duration::ZERO);
        let delivery = h.verdict(30_000, true).unwrap_err();
        assert!(delivery.starts_with("alert delivery"), "{delivery}");
    }
}
