//! The receiver's and the rule-file parser's own entry points, for the fuzz targets
//! (`watch/fuzz`), the replay of their committed corpus (`tests/reliability_fuzz_corpus.rs`) and
//! the property tests. Not a stable API.
//!
//! [`receive`](crate::fuzz::receive) reads a body exactly as `POST /v1/metrics` does once its
//! headers are accepted (the size limit, gzip inflated to at most `max_body` bytes, protobuf or
//! JSON decoding) and validates it point by point. Each `fuzz_*` function is one fuzz target's whole body: it runs the input
//! through the real path, on into the store and a few judge ticks, and returns `Err` naming the
//! broken invariant when the watch did something it promises never to do. Inputs that are merely
//! invalid are `Ok`: refusing them is the watch's job.

use std::io::Write;
use std::sync::OnceLock;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric;
use prost::Message;

use crate::generate::{Engine, generate};
use crate::ingest::{self, Kind, MAX_AGE_MS, MAX_FUTURE_MS};
use crate::judge::Judge;
use crate::receiver::http::{Format, gunzip, read_body};
use crate::rulefile::RuleFile;
use crate::store::Store;

/// The watch's clock in the fuzz targets: 2026-11-02T00:00:00Z. Seeds carry times near it.
pub const NOW_MS: i64 = 1_793_577_600_000;
/// The body limit of the fuzz targets (the watch's default is 4 MiB; a smaller one lets the
/// fuzzer reach it).
pub const FUZZ_MAX_BODY: usize = 256 * 1024;
/// Series the fuzz targets' store tracks at most (small, so the limit is reached).
const FUZZ_MAX_SERIES: usize = 64;

/// How a body is encoded (its `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl Encoding {
    fn format(self) -> Format {
        match self {
            Self::Protobuf => Format::Protobuf,
            Self::Json => Format::Json,
        }
    }
}

/// How the watch reads a stored metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    /// A monotonic cumulative sum: each point is a running total.
    Cumulative,
    /// A monotonic delta sum: each point is an increase.
    Delta,
    /// A gauge or a non-monotonic sum: the last value counts.
    Gauge,
}

/// One point as the watch accepted it.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedPoint {
    /// The resource's `service.name` (`unknown_service` when missing).
    pub service: String,
    /// The resource's `service.instance.id` (empty when missing).
    pub instance: String,
    /// The metric name.
    pub metric: String,
    /// How the watch reads the metric.
    pub temporality: Temporality,
    /// The point's attributes, values as text, in the order they arrived.
    pub attributes: Vec<(String, String)>,
    /// The start of the point's window (ns since the epoch).
    pub start_time_unix_nano: u64,
    /// The point's time (ns since the epoch).
    pub time_unix_nano: u64,
    /// The value.
    pub value: f64,
}

/// What the receiver made of one body it accepted for validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The points accepted, in request order.
    pub points: Vec<AcceptedPoint>,
    /// Points rejected one by one (the OTLP `partial_success.rejected_data_points`).
    pub rejected: u64,
    /// Points understood and not stored (histograms, summaries, staleness markers).
    pub ignored: u64,
    /// The partial-success message (empty when nothing was rejected).
    pub message: String,
}

/// A body the receiver refused whole: the HTTP status and the message of its status body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status (400 or 413).
    pub status: u16,
    /// The message.
    pub message: String,
}

/// Reads `body` as `POST /v1/metrics` does once its headers are accepted and validates it against
/// the clock `now_ms`.
///
/// # Errors
/// The [`Refusal`] the receiver answers: 413 for a body (or inflated body) over `max_body`,
/// 400 for one that is not gzip, protobuf or JSON.
pub fn receive(
    body: &[u8],
    encoding: Encoding,
    gzip: bool,
    max_body: usize,
    now_ms: i64,
) -> Result<Received, Refusal> {
    let request = decode(body, encoding, gzip, max_body)?;
    Ok(received(&ingest::validate(request, now_ms)))
}

fn decode(
    body: &[u8],
    encoding: Encoding,
    gzip: bool,
    max_body: usize,
) -> Result<ExportMetricsServiceRequest, Refusal> {
    read_body(body, encoding.format(), gzip, max_body).map_err(|r| Refusal {
        status: r.http.as_u16(),
        message: r.message,
    })
}

fn received(batch: &ingest::Batch) -> Received {
    let mut points = Vec::new();
    for resource in &batch.resources {
        for metric in &resource.metrics {
            let temporality = match metric.kind {
                Kind::Cumulative => Temporality::Cumulative,
                Kind::Delta => Temporality::Delta,
                Kind::Gauge => Temporality::Gauge,
            };
            for p in &metric.points {
                points.push(AcceptedPoint {
                    service: resource.service.clone(),
                    instance: resource.instance.clone(),
                    metric: metric.name.clone(),
                    temporality,
                    attributes: p.attrs.clone(),
                    start_time_unix_nano: p.start_ns,
                    time_unix_nano: p.time_ns,
                    value: p.value,
                });
            }
        }
    }
    Received {
        points,
        rejected: batch.rejected,
        ignored: batch.ignored,
        message: batch.message(),
    }
}

/// The fuzz target `otlp_protobuf`: `data` as an OTLP/HTTP protobuf body.
///
/// # Errors
/// The invariant the watch broke.
pub fn fuzz_otlp_protobuf(data: &[u8]) -> Result<(), String> {
    ingest_checked(data, Encoding::Protobuf, false)
}

/// The fuzz target `otlp_json`: `data` as an OTLP/HTTP JSON body. A body that decodes must
/// validate to the same points when re-encoded as protobuf.
///
/// # Errors
/// The invariant the watch broke.
pub fn fuzz_otlp_json(data: &[u8]) -> Result<(), String> {
    ingest_checked(data, Encoding::Json, false)?;
    let Ok(request) = decode(data, Encoding::Json, false, FUZZ_MAX_BODY) else {
        return Ok(());
    };
    let protobuf = request.encode_to_vec();
    let from_json = received(&ingest::validate(request, NOW_MS));
    match receive(&protobuf, Encoding::Protobuf, false, usize::MAX, NOW_MS) {
        Ok(from_protobuf) if from_protobuf == from_json => Ok(()),
        Ok(from_protobuf) => Err(format!(
            "JSON and its protobuf re-encoding validate differently:\n{from_json:?}\n{from_protobuf:?}"
        )),
        // serde_json allows deeper nesting (128) than prost (100).
        Err(r) if r.message.contains("recursion limit") => Ok(()),
        Err(r) => Err(format!(
            "a JSON body that decodes is refused as protobuf: {}",
            r.message
        )),
    }
}

/// The fuzz target `otlp_gzip`. The first byte chooses: even, the rest is a gzip-encoded
/// protobuf body as it arrives; odd, the rest is compressed first and must come back exactly
/// (or be refused as too large) through the receiver's inflater.
///
/// # Errors
/// The invariant the watch broke.
pub fn fuzz_otlp_gzip(data: &[u8]) -> Result<(), String> {
    let Some((&mode, rest)) = data.split_first() else {
        return Ok(());
    };
    if mode % 2 == 0 {
        return ingest_checked(rest, Encoding::Protobuf, true);
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let compressed = encoder
        .write_all(rest)
        .and_then(|()| encoder.finish())
        .map_err(|e| format!("compressing in memory failed: {e}"))?;
    // A limit below the input's size, from the mode byte, so the limit is reached too.
    let max = if mode & 2 == 0 {
        FUZZ_MAX_BODY
    } else {
        usize::from(mode >> 2)
    };
    match gunzip(&compressed, max) {
        Ok(inflated) if inflated == rest => {}
        Ok(inflated) => {
            return Err(format!(
                "gzip round trip changed {} bytes into {}",
                rest.len(),
                inflated.len()
            ));
        }
        Err(r) if r.http.as_u16() == 413 && rest.len() > max => {}
        Err(r) => {
            return Err(format!(
                "a valid gzip body of {} bytes (limit {max}) was refused: {} {}",
                rest.len(),
                r.http,
                r.message
            ));
        }
    }
    if compressed.len() <= FUZZ_MAX_BODY {
        let plain = receive(rest, Encoding::Protobuf, false, FUZZ_MAX_BODY, NOW_MS);
        let gzipped = receive(&compressed, Encoding::Protobuf, true, FUZZ_MAX_BODY, NOW_MS);
        let same = match (&plain, &gzipped) {
            (Ok(a), Ok(b)) => a == b,
            (Err(a), Err(b)) => a.status == b.status,
            _ => false,
        };
        if !same {
            return Err(format!(
                "the same body answers differently plain and gzipped: {plain:?} / {gzipped:?}"
            ));
        }
    }
    Ok(())
}

/// The fuzz target `rule_file`: `data` as a rule file, or, when it starts with a 0 byte, the
/// numbers of a rule file with every kind of rule (ticks, windows, seasons, counts, ratios, from
/// tiny to absurd). A file that parses keeps the parser's promises, generates rules for every
/// engine or says why not, and can be judged.
///
/// # Errors
/// The invariant the parser, a generator or the judge broke.
pub fn fuzz_rule_file(data: &[u8]) -> Result<(), String> {
    let text = match data.split_first() {
        Some((0, numbers)) => numbered_rule_file(numbers),
        _ => match std::str::from_utf8(data) {
            Ok(text) => text.to_owned(),
            Err(_) => return Ok(()),
        },
    };
    let rules: RuleFile = match text.parse() {
        Ok(rules) => rules,
        Err(e) => {
            return if e.to_string().is_empty() {
                Err("a rule-file error with no message".to_owned())
            } else {
                Ok(())
            };
        }
    };
    let tick = rules.watch.tick;
    if tick.is_zero() {
        return Err("a zero tick was accepted".to_owned());
    }
    let windows = rules
        .deadman
        .iter()
        .map(|r| (&r.name, r.window))
        .chain(rules.outcome.iter().map(|r| (&r.name, r.window)));
    for (name, window) in windows {
        if window.is_zero() || window.as_nanos() % tick.as_nanos() != 0 {
            return Err(format!(
                "rule {name}: window {window:?} is not a positive multiple of the tick {tick:?}"
            ));
        }
    }
    for engine in Engine::ALL {
        // An error is an answer (a missing setting); a panic is not.
        let _ = generate(&rules, engine, "fuzz.toml");
    }
    let mut store = Store::new(FUZZ_MAX_SERIES, NOW_MS);
    let mut judge = Judge::new(&rules, NOW_MS, 60_000);
    let tick_ms = i64::try_from(tick.as_millis()).unwrap_or(i64::MAX);
    let mut now = NOW_MS;
    for _ in 0..3 {
        now = now.saturating_add(tick_ms);
        judge.tick(&mut store, now);
    }
    let _ = judge.snapshot(&store, now);
    Ok(())
}

/// A rule file with one rule of each kind whose numbers come from `data`, eight bytes each: an
/// integer's top bits choose a small value, a multiple of the one before (so windows fit ticks
/// and seasons fit windows), up to 400 days, or any up to 2^62; a float is the raw bits.
pub fn numbered_rule_file(data: &[u8]) -> String {
    let mut words = data.chunks(8).map(|c| {
        let mut bytes = [0u8; 8];
        bytes[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(bytes)
    });
    let mut raw = move || words.next().unwrap_or(1);
    let mut last = 1u64;
    let mut number = |w: u64| {
        let value = match w >> 62 {
            0 => w % 100,
            1 => last.saturating_mul(w % 16 + 1),
            2 => w % (400 * 86_400),
            _ => w & ((1 << 62) - 1),
        };
        last = value.max(1);
        value
    };
    let tick = number(raw());
    let window = number(raw());
    let outcome_window = number(raw());
    let season = number(raw());
    let history = number(raw());
    let min_beats = number(raw());
    let fire_after = number(raw());
    let resolve_after = number(raw());
    let sensitivity = f64::from_bits(raw());
    let ratio = f64::from_bits(raw());
    let rate = f64::from_bits(raw());
    let objective = f64::from_bits(raw());
    format!(
        r#"[watch]
tick = "{tick}s"

[[deadman]]
name = "beats"
service = "messenger-api"
window = "{window}s"
min_beats = {min_beats}
fire_after = {fire_after}
resolve_after = {resolve_after}

[[outcome]]
name = "send"
outcome = "message.send"
window = "{outcome_window}s"
min_success_ratio = {ratio:?}
min_rate_per_minute = {rate:?}
anomaly = {{ season = "{season}s", sensitivity = {sensitivity:?}, min_history = "{history}s" }}

[[sla]]
name = "core"
signals = ["send"]
objective = {objective:?}
"#
    )
}

/// The rules the OTLP targets judge with: every rule kind, over the metrics the seeds carry.
fn fuzz_rules() -> Option<&'static RuleFile> {
    static RULES: OnceLock<Option<RuleFile>> = OnceLock::new();
    RULES
        .get_or_init(|| {
            r#"
[watch]
tick = "10s"

[[deadman]]
name = "beats"
service = "messenger-api"
window = "1m"
min_beats = 1

[[outcome]]
name = "send"
outcome = "message.send"
window = "1m"
min_success_ratio = 0.9
min_rate_per_minute = 1.0
anomaly = { season = "1h", sensitivity = 3.0, min_history = "1h" }

[[sla]]
name = "core"
signals = ["send"]
objective = 0.99
"#
            .parse()
            .ok()
        })
        .as_ref()
}

/// Receives `data`, checks the accounting and every accepted point, then stores it and judges.
fn ingest_checked(data: &[u8], encoding: Encoding, gzip: bool) -> Result<(), String> {
    let Ok(request) = decode(data, encoding, gzip, FUZZ_MAX_BODY) else {
        return Ok(());
    };
    // Every point is accepted, rejected or ignored once; a metric without points may be
    // rejected as one (a missing kind, no name).
    let (mut least, mut most) = (0u64, 0u64);
    for rm in &request.resource_metrics {
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let n = match &m.data {
                    Some(metric::Data::Sum(s)) => s.data_points.len(),
                    Some(metric::Data::Gauge(g)) => g.data_points.len(),
                    Some(metric::Data::Histogram(h)) => h.data_points.len(),
                    Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
                    Some(metric::Data::Summary(s)) => s.data_points.len(),
                    None => 0,
                };
                let n = u64::try_from(n).unwrap_or(u64::MAX);
                least = least.saturating_add(n);
                most = most.saturating_add(n.max(1));
            }
        }
    }
    let mut batch = ingest::validate(request, NOW_MS);
    let counted = batch.accepted + batch.rejected + batch.ignored;
    if counted < least || counted > most {
        return Err(format!(
            "{} accepted + {} rejected + {} ignored for {least} to {most} points",
            batch.accepted, batch.rejected, batch.ignored
        ));
    }
    let result = received(&batch);
    if u64::try_from(result.points.len()).ok() != Some(batch.accepted) {
        return Err(format!(
            "{} points kept for {} accepted",
            result.points.len(),
            batch.accepted
        ));
    }
    if (batch.rejected == 0) != result.message.is_empty() {
        return Err(format!(
            "{} rejected with the message {:?}",
            batch.rejected, result.message
        ));
    }
    let earliest = i128::from(NOW_MS - MAX_AGE_MS) * 1_000_000;
    let latest = i128::from(NOW_MS + MAX_FUTURE_MS) * 1_000_000;
    for p in &result.points {
        let t = i128::from(p.time_unix_nano);
        let bad = if !p.value.is_finite() {
            Some("a value that is not finite")
        } else if p.temporality != Temporality::Gauge && p.value < 0.0 {
            Some("a negative value on a monotonic sum")
        } else if t < earliest || t > latest {
            Some("a time outside the accepted range")
        } else if p.start_time_unix_nano > p.time_unix_nano {
            Some("a start after the time")
        } else if p.metric.is_empty() {
            Some("a metric without a name")
        } else {
            None
        };
        if let Some(bad) = bad {
            return Err(format!("accepted {bad}: {p:?}"));
        }
    }
    let Some(rules) = fuzz_rules() else {
        return Err("the fuzz targets' rule file does not parse".to_owned());
    };
    let mut store = Store::new(FUZZ_MAX_SERIES, NOW_MS - 60_000);
    let mut judge = Judge::new(rules, NOW_MS - 60_000, 60_000);
    store.ingest(&mut batch, NOW_MS);
    if store.len() > FUZZ_MAX_SERIES {
        return Err(format!(
            "{} series past the limit of {FUZZ_MAX_SERIES}",
            store.len()
        ));
    }
    for now in [NOW_MS, NOW_MS + 60_000, NOW_MS + 120_000] {
        judge.tick(&mut store, now);
    }
    let _ = judge.snapshot(&store, NOW_MS + 120_000);
    Ok(())
}
