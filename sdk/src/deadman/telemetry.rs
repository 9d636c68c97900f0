//! The dead-man as a plug-in of the pipeline: at each collection its sums (`heartbeat.beats`,
//! `heartbeat.sdk.pings`, `heartbeat.sdk.ticks.skipped`) join the pipeline's batch, read from the
//! emitter book, and `heartbeat.emitter.status` (a gauge) is an asynchronous instrument on the
//! pipeline's meter. Nothing is recorded through the OpenTelemetry SDK on any hot path.

use super::Book;
use crate::deadman::beat::{EmitterBook, EmitterState, PingFailure};
use crate::export::plugin::{Plugin, Stopping};
use heartbeat_core::otlp::Batch;
use heartbeat_core::semconv;
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use std::sync::Arc;

use semconv::{
    DESCRIPTION_BEATS, DESCRIPTION_EMITTER_STATUS, DESCRIPTION_SDK_PINGS as DESCRIPTION_PINGS,
    DESCRIPTION_SDK_TICKS_SKIPPED as DESCRIPTION_TICKS_SKIPPED, UNIT_SDK_PINGS as UNIT_PINGS,
    UNIT_SDK_TICKS_SKIPPED as UNIT_TICKS,
};

/// The series of one emitter's sums: (metric, unit, description, extra attributes, value).
type Sum = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    u64,
);

/// Every sum of one emitter, with the attributes besides `heartbeat.emitter`.
fn sums(e: &EmitterState) -> Vec<Sum> {
    let mut out = vec![(
        semconv::METRIC_BEATS,
        semconv::UNIT_BEATS,
        DESCRIPTION_BEATS,
        vec![],
        e.beats(),
    )];
    if e.is_pinging() {
        out.push((
            semconv::METRIC_SDK_PINGS,
            UNIT_PINGS,
            DESCRIPTION_PINGS,
            vec![(semconv::ATTR_RESULT, "success")],
            e.pings_ok(),
        ));
        out.push((
            semconv::METRIC_SDK_PINGS,
            UNIT_PINGS,
            DESCRIPTION_PINGS,
            vec![
                (semconv::ATTR_RESULT, "skipped"),
                (semconv::ATTR_REASON, "in_flight"),
            ],
            e.pings_skipped(),
        ));
        for why in PingFailure::ALL {
            out.push((
                semconv::METRIC_SDK_PINGS,
                UNIT_PINGS,
                DESCRIPTION_PINGS,
                vec![
                    (semconv::ATTR_RESULT, "failure"),
                    (semconv::ATTR_REASON, why.as_str()),
                ],
                e.pings_failed(why),
            ));
        }
    }
    out.push((
        semconv::METRIC_SDK_TICKS_SKIPPED,
        UNIT_TICKS,
        DESCRIPTION_TICKS_SKIPPED,
        vec![],
        e.ticks_skipped(),
    ));
    out
}

impl Plugin for Book {
    fn collect(&self, batch: &mut Batch) {
        self.states.visit(|e| {
            for (metric, unit, description, extra, value) in sums(e) {
                let mut attributes = Vec::with_capacity(1 + extra.len());
                attributes.push((semconv::ATTR_EMITTER.to_owned(), e.name().to_owned()));
                attributes.extend(
                    extra
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
                );
                batch.push_sum(metric, unit, description, attributes, value);
            }
        });
    }

    fn register(&self, meter: &Meter, sums: bool) {
        register(meter, &self.states, sums);
    }

    fn shutdown(&self) -> Stopping<'_> {
        Box::pin(self.stop_all())
    }
}

fn emitter(name: &str) -> KeyValue {
    KeyValue::new(semconv::ATTR_EMITTER, name.to_owned())
}

/// Registers `heartbeat.emitter.status`, and with `sums` the sums of [`Plugin::collect`] as
/// observable counters (a pipeline attached to an application's provider).
fn register(meter: &Meter, book: &Arc<EmitterBook>, with_sums: bool) {
    let b = Arc::clone(book);
    meter
        .i64_observable_gauge(semconv::METRIC_EMITTER_STATUS)
        .with_description(DESCRIPTION_EMITTER_STATUS)
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
    if !with_sums {
        return;
    }
    for (metric, unit, description) in [
        (
            semconv::METRIC_BEATS,
            semconv::UNIT_BEATS,
            DESCRIPTION_BEATS,
        ),
        (semconv::METRIC_SDK_PINGS, UNIT_PINGS, DESCRIPTION_PINGS),
        (
            semconv::METRIC_SDK_TICKS_SKIPPED,
            UNIT_TICKS,
            DESCRIPTION_TICKS_SKIPPED,
        ),
    ] {
        let b = Arc::clone(book);
        meter
            .u64_observable_counter(metric)
            .with_unit(unit)
            .with_description(description)
            .with_callback(move |observer| {
                b.visit(|e| {
                    for (m, _, _, extra, value) in sums(e) {
                        if m != metric {
                            continue;
                        }
                        let mut attrs = vec![emitter(e.name())];
                        attrs.extend(extra.iter().map(|(k, v)| KeyValue::new(*k, *v)));
                        observer.observe(value, &attrs);
                    }
                });
            })
            .build();
    }
}
