//! OTLP/JSON, written by hand: the protobuf JSON mapping with lowerCamelCase keys, enums as
//! integers and 64-bit integers as decimal strings.

use super::{Batch, DataPoint, Metric, MetricKind, as_int};
use crate::text::push_decimal;

/// Encodes a batch as an OTLP/JSON `ExportMetricsServiceRequest`, the body of an OTLP/HTTP
/// request with `Content-Type: application/json`.
pub fn encode_json(batch: &Batch) -> String {
    let mut o = String::with_capacity(128 + 256 * batch.point_count());
    o.push_str(r#"{"resourceMetrics":[{"resource":{"attributes":"#);
    attributes(&mut o, &batch.resource);
    o.push_str(r#"},"scopeMetrics":[{"scope":{"name":"#);
    string(&mut o, &batch.scope_name);
    o.push_str(r#","version":"#);
    string(&mut o, &batch.scope_version);
    o.push_str(r#"},"metrics":["#);
    for (i, m) in batch.metrics.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        metric(&mut o, m);
    }
    o.push_str("]}]}]}");
    o
}

fn metric(o: &mut String, m: &Metric) {
    o.push_str(r#"{"name":"#);
    string(o, &m.name);
    o.push_str(r#","description":"#);
    string(o, &m.description);
    o.push_str(r#","unit":"#);
    string(o, &m.unit);
    match m.kind {
        MetricKind::Sum(temporality) => {
            o.push_str(r#","sum":{"dataPoints":["#);
            for (i, p) in m.points.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                point(o, p);
            }
            o.push_str(r#"],"aggregationTemporality":"#);
            push_decimal(o, u64::from(temporality.to_otlp()));
            o.push_str(r#","isMonotonic":true}}"#);
        }
    }
}

fn point(o: &mut String, p: &DataPoint) {
    o.push_str(r#"{"attributes":"#);
    attributes(o, &p.attributes);
    o.push_str(r#","startTimeUnixNano":""#);
    push_decimal(o, p.start_time_unix_nano);
    o.push_str(r#"","timeUnixNano":""#);
    push_decimal(o, p.time_unix_nano);
    o.push_str(r#"","asInt":""#);
    push_decimal(o, as_int(p.value));
    o.push_str(r#""}"#);
}

fn attributes(o: &mut String, attributes: &[(String, String)]) {
    o.push('[');
    for (i, (k, v)) in attributes.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        o.push_str(r#"{"key":"#);
        string(o, k);
        o.push_str(r#","value":{"stringValue":"#);
        string(o, v);
        o.push_str("}}");
    }
    o.push(']');
}

/// A JSON string: `"` and `\` escaped, control characters as `\u00XX`, the rest as is.
fn string(o: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\0'..='\u{1f}' => {
                let b = c as usize;
                o.push_str("\\u00");
                o.push(char::from(HEX[b >> 4]));
                o.push(char::from(HEX[b & 0xf]));
            }
            c => o.push(c),
        }
    }
    o.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut o = String::new();
        string(&mut o, s);
        o
    }

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(escaped(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn control_characters_are_escaped_as_u00xx() {
        assert_eq!(escaped("\n\t\u{0}\u{1f}"), r#""\u000a\u0009\u0000\u001f""#);
    }

    #[test]
    fn non_ascii_passes_through_as_utf8() {
        assert_eq!(escaped("é😀\u{7f}\u{2028}"), "\"é😀\u{7f}\u{2028}\"");
    }
}
