//! Any set of `OTEL_*` variables, with any values, through the public builder: `build()` either
//! succeeds or returns a `BuildError`; it never panics, and neither does any `Debug` or
//! `Display` of what it returns. Half the inputs also build the exporter (HTTP or gRPC, outside a
//! runtime, as `build()` allows).
//!
//! Input: a mode byte, then lines; each line is a variable index byte and the value.
#![no_main]

use heartbeat::{Heartbeat, env};
use libfuzzer_sys::fuzz_target;

const VARS: [&str; 16] = [
    env::OTEL_SDK_DISABLED,
    env::OTEL_SERVICE_NAME,
    env::OTEL_RESOURCE_ATTRIBUTES,
    env::OTEL_EXPORTER_OTLP_ENDPOINT,
    env::OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    env::OTEL_EXPORTER_OTLP_HEADERS,
    env::OTEL_EXPORTER_OTLP_METRICS_HEADERS,
    env::OTEL_EXPORTER_OTLP_TIMEOUT,
    env::OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    env::OTEL_EXPORTER_OTLP_COMPRESSION,
    env::OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
    env::OTEL_EXPORTER_OTLP_PROTOCOL,
    env::OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    env::OTEL_METRIC_EXPORT_INTERVAL,
    env::OTEL_METRIC_EXPORT_TIMEOUT,
    env::OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE,
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let vars: Vec<(String, String)> = rest
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let (&index, value) = line.split_first()?;
            let var = VARS[usize::from(index) % VARS.len()];
            Some((var.to_owned(), String::from_utf8_lossy(value).into_owned()))
        })
        .collect();
    let builder = Heartbeat::builder()
        .with_environment(vars)
        // Even modes stop after resolving; odd ones build the exporter too.
        .with_disabled(mode % 2 == 0);
    let _ = format!("{builder:?}");
    match builder.build() {
        Ok((hb, driver)) => {
            let _ = format!("{hb:?} {driver:?} {:?}", hb.export_health());
        }
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }
});
