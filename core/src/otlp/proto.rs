//! OTLP/protobuf, written by hand: varints, fixed64 and length-delimited fields only.
//!
//! Field numbers follow `opentelemetry-proto` (`metrics.proto`, `common.proto`,
//! `resource.proto`, `metrics_service.proto`).

use super::{Batch, DataPoint, Metric, MetricKind, as_int};

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

/// Appends `v` as a varint.
pub(super) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The length of `v` as a varint, in bytes.
pub(super) fn varint_len(v: u64) -> usize {
    // 1 byte per started 7 bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The tag and length of a length-delimited field of `len` bytes, in a buffer and its used part.
pub(super) fn len_header(field: u32, len: usize) -> ([u8; 20], usize) {
    let mut out = [0; 20];
    let mut n = 0;
    for v in [u64::from(field << 3 | LEN), len as u64] {
        let mut v = v;
        while v >= 0x80 {
            out[n] = v as u8 | 0x80;
            v >>= 7;
            n += 1;
        }
        out[n] = v as u8;
        n += 1;
    }
    (out, n)
}

/// Appends the tag and length of a length-delimited field of `len` bytes.
pub(super) fn put_len_header(out: &mut Vec<u8>, field: u32, len: usize) {
    let (header, n) = len_header(field, len);
    out.extend_from_slice(&header[..n]);
}

/// The encoded length of a length-delimited field with a `len`-byte body.
pub(super) fn field_len(field: u32, len: usize) -> usize {
    varint_len(u64::from(field << 3 | LEN)) + varint_len(len as u64) + len
}

/// Appends a string field.
pub(super) fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    put_len_header(out, field, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Appends `KeyValue { key = 1, value = 2: AnyValue { string_value = 1 } }` as field `field`,
/// its lengths computed up front.
pub(super) fn key_value(out: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    let any = field_len(1, value.len());
    put_len_header(out, field, field_len(1, key.len()) + field_len(2, any));
    string(out, 1, key);
    put_len_header(out, 2, any);
    string(out, 1, value);
}

/// Encodes a batch as a protobuf `ExportMetricsServiceRequest`, the body of an OTLP/HTTP
/// request with `Content-Type: application/x-protobuf` (or of the gRPC `Export` call).
pub fn encode_protobuf(batch: &Batch) -> Vec<u8> {
    let mut e = Encoder(Vec::with_capacity(64 + 96 * batch.point_count()));
    // ExportMetricsServiceRequest.resource_metrics
    e.message(1, |e| {
        // ResourceMetrics.resource
        e.message(1, |e| {
            for (k, v) in &batch.resource {
                e.key_value(1, k, v); // Resource.attributes
            }
        });
        // ResourceMetrics.scope_metrics
        e.message(2, |e| {
            // ScopeMetrics.scope: InstrumentationScope { name = 1, version = 2 }
            e.message(1, |e| {
                e.string(1, &batch.scope_name);
                e.string(2, &batch.scope_version);
            });
            for m in &batch.metrics {
                e.message(2, |e| e.metric(m)); // ScopeMetrics.metrics
            }
        });
    });
    e.0
}

pub(super) struct Encoder(pub(super) Vec<u8>);

impl Encoder {
    fn varint(&mut self, v: u64) {
        varint(&mut self.0, v);
    }

    fn tag(&mut self, field: u32, wire_type: u32) {
        self.varint(u64::from(field << 3 | wire_type));
    }

    pub(super) fn string(&mut self, field: u32, s: &str) {
        string(&mut self.0, field, s);
    }

    fn fixed64(&mut self, field: u32, v: u64) {
        self.tag(field, FIXED64);
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// A length-delimited field whose body `f` writes; the header then goes in front of it.
    pub(super) fn message(&mut self, field: u32, f: impl FnOnce(&mut Self)) {
        let at = self.0.len();
        f(self);
        let (header, n) = len_header(field, self.0.len() - at);
        self.0.splice(at..at, header[..n].iter().copied());
    }

    /// `KeyValue { key = 1, value = 2: AnyValue { string_value = 1 } }`.
    pub(super) fn key_value(&mut self, field: u32, key: &str, value: &str) {
        key_value(&mut self.0, field, key, value);
    }

    /// `Metric { name = 1, description = 2, unit = 3, sum = 7 }`.
    fn metric(&mut self, m: &Metric) {
        self.string(1, &m.name);
        self.string(2, &m.description);
        self.string(3, &m.unit);
        match m.kind {
            // Sum { data_points = 1, aggregation_temporality = 2, is_monotonic = 3 }
            MetricKind::Sum(temporality) => self.message(7, |e| {
                for p in &m.points {
                    e.message(1, |e| e.point(p));
                }
                e.tag(2, VARINT);
                e.varint(u64::from(temporality.to_otlp()));
                e.tag(3, VARINT);
                e.varint(1);
            }),
        }
    }

    /// `NumberDataPoint { start_time_unix_nano = 2, time_unix_nano = 3, as_int = 6,
    /// attributes = 7 }`.
    fn point(&mut self, p: &DataPoint) {
        self.fixed64(2, p.start_time_unix_nano);
        self.fixed64(3, p.time_unix_nano);
        // sfixed64: a non-negative i64 has the same little-endian bytes as the u64.
        self.fixed64(6, as_int(p.value));
        for (k, v) in &p.attributes {
            self.key_value(7, k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(v: u64) -> Vec<u8> {
        let mut e = Encoder(Vec::new());
        e.varint(v);
        e.0
    }

    #[test]
    fn varints_match_the_protobuf_documentation() {
        // From https://protobuf.dev/programming-guides/encoding/#varints
        assert_eq!(varint(1), [0x01]);
        assert_eq!(varint(150), [0x96, 0x01]);
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(u64::MAX).len(), 10);
        assert_eq!(varint(u64::MAX)[9], 0x01);
    }

    #[test]
    fn a_string_field_is_tag_length_bytes() {
        // The protobuf guide's `string b = 2` set to "testing": 12 07 74 65 73 74 69 6e 67.
        let mut e = Encoder(Vec::new());
        e.string(2, "testing");
        assert_eq!(e.0, [0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g']);
    }

    #[test]
    fn a_nested_message_gets_its_length_in_front() {
        // The protobuf guide's `Test3 { Test1 c = 3 }` with a = 150: 1a 03 08 96 01.
        let mut e = Encoder(Vec::new());
        e.message(3, |e| {
            e.tag(1, VARINT);
            e.varint(150);
        });
        assert_eq!(e.0, [0x1a, 0x03, 0x08, 0x96, 0x01]);
    }

    #[test]
    fn a_long_message_gets_a_multi_byte_length() {
        let mut e = Encoder(Vec::new());
        let body = "x".repeat(300);
        e.message(1, |e| e.0.extend_from_slice(body.as_bytes()));
        assert_eq!(&e.0[..3], [0x0a, 0xac, 0x02]); // 300 = 0b10_0101100
        assert_eq!(e.0.len(), 303);
    }

    #[test]
    fn fixed64_is_little_endian_after_a_type_1_tag() {
        let mut e = Encoder(Vec::new());
        e.fixed64(2, 0x0102_0304_0506_0708);
        assert_eq!(e.0, [0x11, 8, 7, 6, 5, 4, 3, 2, 1]);
    }
}
