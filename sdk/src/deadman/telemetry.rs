//! The dead-man and self-health instruments, registered next to `heartbeat.outcomes`: each
//! is an asynchronous instrument whose callback reads the emitter book or the export counters
//! at collection, so nothing is recorded through the OpenTelemetry SDK on any hot path.

use crate::deadman::beat::{EmitterBook, PingFailure};
use crate::export::{ExportFailure, Health};
use heartbeat_core::clock::Clock;
use heartbeat_core::registry::Registry;
use heartbeat_core::semconv;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use std::sync::Arc;

/// The export pipeline's counters, when this crate owns the pipeline.
pub(crate) struct Exports {
    pub(crate) health: Arc<Health>,
    pub(crate) clock: Arc<dyn Clock>,
}

fn emitter(name: &str) -> KeyValue {
    KeyValue::new(semconv::ATTR_EMITTER, name.to_owned())
}

/// Registers `heartbeat.beats`, `heartbeat.emitter.status` and the `heartbeat.sdk.*` metrics.
pub(crate) fn register(
    meter: &Meter,
    book: &Arc<EmitterBook>,
    registry: &Registry,
    exports: Option<Exports>,
) {
    let b = Arc::clone(book);
    meter
        .u64_observable_counter(semconv::METRIC_BEATS)
        .with_unit(semconv::UNIT_BEATS)
        .with_description("Dead-man beats sent, cumulative per emitter: a rate watchdog pages when it stops rising.")
        .with_callback(move |observer| {
            b.visit(|e| observer.observe(e.beats(), &[emitter(e.name())]));
        })
        .build();

    let b = Arc::clone(book);
    meter
        .i64_observable_gauge(semconv::METRIC_EMITTER_STATUS)
        .with_description(
            "Dead-man emitter state: 0 beating, 1 failing (with heartbeat.reason), 2 stopped on purpose.",
        )
        .with_callback(move |observer| {
            b.visit(|e| {
                if !e.reports_status() {
                    return;
                }
                let status = e.status();
                match status.reason() {
                    Some(reason) => observer.observe(
                        status.code(),
                        &[
                            emitter(e.name()),
                            KeyValue::new(semconv::ATTR_REASON, reason.as_str()),
                        ],
                    ),
                    None => observer.observe(status.code(), &[emitter(e.name())]),
                }
            });
        })
        .build();

    let b = Arc::clone(book);
    meter
        .u64_observable_counter(semconv::METRIC_SDK_PINGS)
        .with_unit("{ping}")
        .with_description("Pings to the external channel: delivered, failed by reason, skipped while one was in flight.")
        .with_callback(move |observer| {
            b.visit(|e| {
                if !e.is_pinging() {
                    return;
                }
                let name = emitter(e.name());
                observer.observe(
                    e.pings_ok(),
                    &[name.clone(), KeyValue::new(semconv::ATTR_RESULT, "success")],
                );
                observer.observe(
                    e.pings_skipped(),
                    &[
                        name.clone(),
                        KeyValue::new(semconv::ATTR_RESULT, "skipped"),
                        KeyValue::new(semconv::ATTR_REASON, "in_flight"),
                    ],
                );
                for why in PingFailure::ALL {
                    observer.observe(
                        e.pings_failed(why),
                        &[
                            name.clone(),
                            KeyValue::new(semconv::ATTR_RESULT, "failure"),
                            KeyValue::new(semconv::ATTR_REASON, why.as_str()),
                        ],
                    );
                }
            });
        })
        .build();

    let b = Arc::clone(book);
    meter
        .u64_observable_counter(semconv::METRIC_SDK_TICKS_SKIPPED)
        .with_unit("{tick}")
        .with_description(
            "Ticks an emitter skipped because it woke after them (a stalled process or runtime).",
        )
        .with_callback(move |observer| {
            b.visit(|e| observer.observe(e.ticks_skipped(), &[emitter(e.name())]));
        })
        .build();

    let r = registry.clone();
    meter
        .u64_observable_counter(semconv::METRIC_SDK_INPUTS_CORRECTED)
        .with_unit("{event}")
        .with_description("Recorded events whose input was corrected (and still counted).")
        .with_callback(move |observer| {
            let h = r.health();
            for (value, reason) in [
                (h.invalid_tenants, "invalid_tenant"),
                (h.overflowed_tenants, "overflowed_tenant"),
                (h.undeclared_reasons, "undeclared_reason"),
            ] {
                observer.observe(value, &[KeyValue::new(semconv::ATTR_REASON, reason)]);
            }
        })
        .build();

    let Some(exports) = exports else {
        return;
    };
    let health = Arc::clone(&exports.health);
    meter
        .u64_observable_counter(semconv::METRIC_SDK_EXPORTS)
        .with_unit("{export}")
        .with_description(
            "OTLP exports by result, and failures by reason (timeout, dns, connect, tls, http_4xx, http_5xx, error).",
        )
        .with_callback(move |observer| {
            let h = health.snapshot();
            observer.observe(
                h.exports_ok,
                &[KeyValue::new(semconv::ATTR_RESULT, "success")],
            );
            for why in ExportFailure::ALL {
                observer.observe(
                    health.failures(why),
                    &[
                        KeyValue::new(semconv::ATTR_RESULT, "failure"),
                        KeyValue::new(semconv::ATTR_REASON, why.as_str()),
                    ],
                );
            }
        })
        .build();

    let start = registry.start_time();
    meter
        .f64_observable_gauge(semconv::METRIC_SDK_EXPORT_AGE)
        .with_unit("s")
        .with_description(
            "Seconds since the last successful export (since start before the first).",
        )
        .with_callback(move |observer| {
            let since = exports.health.snapshot().last_success.unwrap_or(start);
            let age = exports.clock.now_unix().saturating_sub(since);
            observer.observe(age.as_secs_f64(), &[]);
        })
        .build();
}
