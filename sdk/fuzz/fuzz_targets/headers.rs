//! Header values never leave through what the SDK shows. Each input is a list of header names
//! and values; every value carries a secret marker. Written as `OTEL_EXPORTER_OTLP_HEADERS`
//! (values percent-encoded or raw, as the input says) and given in code, the configuration
//! either builds or fails, and neither the error nor the builder's `Debug` shows the marker.
//! Well-formed input must build.
#![no_main]

use arbitrary::Arbitrary;
use heartbeat::{Heartbeat, env};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "HbFuzzSecret";

#[derive(Arbitrary, Debug)]
struct Header {
    name: String,
    value: String,
    encoded: bool,
}

#[derive(Arbitrary, Debug)]
struct Input {
    headers: Vec<Header>,
    metrics_variable: bool,
    in_code: Option<(String, String)>,
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What HTTP allows in a header value: visible ASCII, spaces and tabs.
fn header_value_ok(value: &str) -> bool {
    value.chars().all(|c| c == '\t' || (' '..='~').contains(&c))
}

/// A name the parser sees as a name: no `=`, `,`, `:` or white space, and no marker.
fn clean_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '=' | ',' | ':' | '%'))
        .collect::<String>()
        .replace(SECRET, "")
}

fuzz_target!(|input: Input| {
    let mut well_formed = true;
    let items: Vec<String> = input
        .headers
        .iter()
        .map(|h| {
            let name = clean_name(&h.name);
            let value = format!("{}{SECRET}", h.value.replace(SECRET, ""));
            if name.is_empty() || !header_value_ok(&value) {
                well_formed = false;
            }
            if h.encoded {
                format!("{name}={}", encode(&value))
            } else {
                // Raw: a `,` in it starts another item, but the marker stays before the first.
                well_formed = false;
                let middle = h
                    .value
                    .char_indices()
                    .nth(h.value.chars().count() / 2)
                    .map_or(h.value.len(), |(i, _)| i);
                let (head, tail) = h.value.split_at(middle);
                format!(
                    "{name}={}{SECRET}{}",
                    clean_name(head).replace(',', ""),
                    tail.replace(SECRET, "")
                )
            }
        })
        .collect();
    let var = if input.metrics_variable {
        env::OTEL_EXPORTER_OTLP_METRICS_HEADERS
    } else {
        env::OTEL_EXPORTER_OTLP_HEADERS
    };
    let mut builder = Heartbeat::builder()
        .with_environment([(var, items.join(","))])
        .with_disabled(true);
    if let Some((name, value)) = &input.in_code {
        builder = builder.with_header(clean_name(name), format!("{SECRET}{value}"));
        well_formed &= !clean_name(name).is_empty() && header_value_ok(value);
    }
    let shown = format!("{builder:?}");
    assert!(
        !shown.contains(SECRET),
        "builder Debug shows a value: {shown}"
    );
    match builder.build() {
        Ok(_) => {}
        Err(e) => {
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(SECRET), "an error shows a value: {shown}");
            assert!(!well_formed, "well-formed headers refused: {shown}");
        }
    }
});
