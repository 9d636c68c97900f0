//! The pipeline's own series: `heartbeat.sdk.inputs_corrected` (the registry's corrections),
//! `heartbeat.sdk.exports` and `heartbeat.sdk.export.age` (the pipeline's health).
//!
//! An owned pipeline pushes the sums into its batch (so a delta export that fails loses none)
//! and registers only the gauge on its meter; a pipeline attached to an application's provider
//! has no batch, and registers what it can report on that provider's meter.

use super::health::{ExportFailure, Health};
use heartbeat_core::clock::Clock;
use heartbeat_core::otlp::Batch;
use heartbeat_core::registry::Registry;
use heartbeat_core::semconv;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use std::sync::Arc;

use semconv::{
    DESCRIPTION_SDK_EXPORT_AGE, DESCRIPTION_SDK_EXPORTS, DESCRIPTION_SDK_INPUTS_CORRECTED,
    UNIT_SDK_EXPORT_AGE, UNIT_SDK_EXPORTS, UNIT_SDK_INPUTS_CORRECTED,
};

/// The registry's corrections, by reason.
fn corrections(registry: &Registry) -> [(u64, &'static str); 3] {
    let h = registry.health();
    [
        (h.invalid_tenants, "invalid_tenant"),
        (h.overflowed_tenants, "overflowed_tenant"),
        (h.undeclared_reasons, "undeclared_reason"),
    ]
}

/// The exports so far: successes, then failures by reason.
fn exports(health: &Health) -> impl Iterator<Item = (u64, &'static str, Option<&'static str>)> {
    std::iter::once((health.snapshot().exports_ok, "success", None)).chain(
        ExportFailure::ALL
            .into_iter()
            .map(|why| (health.failures(why), "failure", Some(why.as_str()))),
    )
}

fn attr(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

/// Pushes `heartbeat.sdk.inputs_corrected` and `heartbeat.sdk.exports` into a batch.
pub(crate) fn collect(batch: &mut Batch, registry: &Registry, health: &Health) {
    for (value, reason) in corrections(registry) {
        batch.push_sum(
            semconv::METRIC_SDK_INPUTS_CORRECTED,
            UNIT_SDK_INPUTS_CORRECTED,
            DESCRIPTION_SDK_INPUTS_CORRECTED,
            vec![attr(semconv::ATTR_REASON, reason)],
            value,
        );
    }
    for (value, result, reason) in exports(health) {
        let mut attributes = vec![attr(semconv::ATTR_RESULT, result)];
        if let Some(reason) = reason {
            attributes.push(attr(semconv::ATTR_REASON, reason));
        }
        batch.push_sum(
            semconv::METRIC_SDK_EXPORTS,
            UNIT_SDK_EXPORTS,
            DESCRIPTION_SDK_EXPORTS,
            attributes,
            value,
        );
    }
}

/// The export counters and the clock of an owned pipeline.
pub(crate) struct Exports {
    pub(crate) health: Arc<Health>,
    pub(crate) clock: Arc<dyn Clock>,
}

/// Registers on `meter` the gauge `heartbeat.sdk.export.age` when the pipeline is owned
/// (`exports`), and with `sums` the sums [`collect`] pushes: the corrections always, the
/// exports when owned.
pub(crate) fn register(meter: &Meter, registry: &Registry, exports: Option<Exports>, sums: bool) {
    if sums {
        let r = registry.clone();
        meter
            .u64_observable_counter(semconv::METRIC_SDK_INPUTS_CORRECTED)
            .with_unit(UNIT_SDK_INPUTS_CORRECTED)
            .with_description(DESCRIPTION_SDK_INPUTS_CORRECTED)
            .with_callback(move |observer| {
                for (value, reason) in corrections(&r) {
                    observer.observe(value, &[KeyValue::new(semconv::ATTR_REASON, reason)]);
                }
            })
            .build();
    }
    let Some(exports) = exports else {
        return;
    };
    if sums {
        let health = Arc::clone(&exports.health);
        meter
            .u64_observable_counter(semconv::METRIC_SDK_EXPORTS)
            .with_unit(UNIT_SDK_EXPORTS)
            .with_description(DESCRIPTION_SDK_EXPORTS)
            .with_callback(move |observer| {
                for (value, result, reason) in self::exports(&health) {
                    let mut attrs = vec![KeyValue::new(semconv::ATTR_RESULT, result)];
                    if let Some(reason) = reason {
                        attrs.push(KeyValue::new(semconv::ATTR_REASON, reason));
                    }
                    observer.observe(value, &attrs);
                }
            })
            .build();
    }
    let start = registry.start_time();
    meter
        .f64_observable_gauge(semconv::METRIC_SDK_EXPORT_AGE)
        .with_unit(UNIT_SDK_EXPORT_AGE)
        .with_description(DESCRIPTION_SDK_EXPORT_AGE)
        .with_callback(move |observer| {
            let since = exports.health.snapshot().last_success.unwrap_or(start);
            let age = exports.clock.now_unix().saturating_sub(since);
            observer.observe(age.as_secs_f64(), &[]);
        })
        .build();
}
