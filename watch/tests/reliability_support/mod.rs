//! Helpers of the watch's reliability tests: SDK-encoded bodies from the core encoders and from
//! the real export pipeline (captured by a one-shot local HTTP server), and totals of what the
//! watch accepted.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use heartbeat::{
    Registry,
    clock::ManualClock,
    otlp::{AggregationTemporality, Batch, Collector},
};
use heartbeat_watch::fuzz::AcceptedPoint;

/// 2026-11-02T00:00:00Z, the fuzz targets' clock (`heartbeat_watch::fuzz::NOW_MS`).
pub const T0_MS: i64 = heartbeat_watch::fuzz::NOW_MS;

/// The outcomes, failure reasons and tenants the SDK-side models use.
pub const OUTCOMES: [&str; 3] = ["message.send", "reply.deliver", "ai.answer"];
pub const REASONS: [&str; 2] = ["timeout", "rejected"];
pub const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];

/// One recorded outcome: which outcome, which tenant (if any), and success or a reason index.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub outcome: usize,
    pub tenant: Option<usize>,
    pub failure: Option<usize>,
}

/// `(outcome, result, reason, tenant)`: one `heartbeat.outcomes` series without the fixed
/// attributes.
pub type Key = (String, String, String, String);

/// The counts the events should produce, zero series left out.
pub fn expected(events: &[Event]) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for e in events {
        let (result, reason) = match e.failure {
            None => ("success", String::new()),
            Some(r) => ("failure", REASONS[r].to_owned()),
        };
        let key = (
            OUTCOMES[e.outcome].to_owned(),
            result.to_owned(),
            reason,
            e.tenant.map(|t| TENANTS[t].to_owned()).unwrap_or_default(),
        );
        *out.entry(key).or_insert(0.0) += 1.0;
    }
    out
}

/// The `heartbeat.outcomes` totals of accepted points, zero series left out: cumulative points
/// keep their latest value per series, delta points add up.
pub fn totals<'a>(points: impl IntoIterator<Item = &'a AcceptedPoint>) -> BTreeMap<Key, f64> {
    use heartbeat_watch::fuzz::Temporality;
    let mut cumulative: BTreeMap<(Key, Vec<(String, String)>), f64> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for p in points {
        if p.metric != "heartbeat.outcomes" {
            continue;
        }
        let attr = |k: &str| {
            p.attributes
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let key = (
            attr("heartbeat.outcome"),
            attr("heartbeat.result"),
            attr("heartbeat.reason"),
            attr("heartbeat.tenant"),
        );
        match p.temporality {
            Temporality::Cumulative => {
                let mut attrs = p.attributes.clone();
                attrs.sort();
                cumulative.insert((key, attrs), p.value);
            }
            _ => *out.entry(key).or_insert(0.0) += p.value,
        }
    }
    for ((key, _), value) in cumulative {
        *out.entry(key).or_insert(0.0) += value;
    }
    out.retain(|_, v| *v != 0.0);
    out
}

/// An SDK registry on a manual clock at `start_ms`, with the model's outcomes declared.
pub struct Emitter {
    pub clock: ManualClock,
    pub registry: Registry,
    pub outcomes: Vec<heartbeat::Outcome>,
}

impl Emitter {
    pub fn new(start_ms: i64) -> Self {
        Self::with_outcomes(start_ms, OUTCOMES.len())
    }

    /// An emitter declaring only the first `n` of [`OUTCOMES`] (smaller bodies).
    pub fn with_outcomes(start_ms: i64, n: usize) -> Self {
        let clock =
            ManualClock::starting_at(Duration::from_millis(u64::try_from(start_ms).unwrap()));
        let registry = Registry::builder()
            .with_clock(Arc::new(clock.clone()))
            .build();
        let outcomes = OUTCOMES[..n]
            .iter()
            .map(|name| {
                registry
                    .outcome(*name)
                    .with_attribute("surface", "web_messenger")
                    .with_reasons(REASONS)
                    .build()
                    .unwrap()
            })
            .collect();
        Self {
            clock,
            registry,
            outcomes,
        }
    }

    pub fn record(&self, e: Event) {
        let o = &self.outcomes[e.outcome];
        match (e.tenant, e.failure) {
            (None, None) => o.success(),
            (None, Some(r)) => o.failure_with(REASONS[r]),
            (Some(t), None) => o.success_for(TENANTS[t]),
            (Some(t), Some(r)) => o.failure_for_with(TENANTS[t], REASONS[r]),
        }
    }

    pub fn collector(&self, temporality: AggregationTemporality) -> Collector {
        Collector::new(&self.registry, temporality)
            .with_resource_attribute("service.name", "messenger-api")
            .with_resource_attribute("service.instance.id", "i-1")
            .with_resource_attribute("service.version", "1.4.2")
    }

    /// Moves the clock on by `ms`.
    pub fn advance(&self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
    }
}

/// A batch with `beats` on the dead-man counter besides the outcomes.
pub fn collect_with_beats(collector: &Collector, beats: u64) -> Batch {
    collector.collect_with(|b| {
        b.push_sum(
            "heartbeat.beats",
            "{beat}",
            "Dead-man beats",
            vec![("heartbeat.emitter".to_owned(), "api".to_owned())],
            beats,
        );
    })
}

/// One request as a local server received it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Exports `events` through the SDK's real pipeline (`Heartbeat`, OTLP/HTTP, gzip) to a capture
/// server and returns every request it sent.
pub async fn export_through_the_pipeline(
    protocol: heartbeat::Protocol,
    events: &[Event],
) -> Vec<Captured> {
    let server = heartbeat_testkit::Receiver::start(heartbeat_testkit::ReceiverOptions::default())
        .await
        .unwrap();
    let hb = heartbeat::Heartbeat::builder()
        .with_environment(std::iter::empty::<(String, String)>())
        .with_service_name("messenger-api")
        .with_service_version("1.4.2")
        .with_endpoint(server.endpoint())
        .with_protocol(protocol)
        .with_compression(heartbeat::Compression::Gzip)
        .install()
        .unwrap();
    // The outcomes the events use, so that small exports stay small.
    let used = events.iter().map(|e| e.outcome + 1).max().unwrap_or(1);
    let outcomes: Vec<_> = OUTCOMES[..used]
        .iter()
        .map(|name| {
            hb.outcome(*name)
                .with_attribute("surface", "web_messenger")
                .with_reasons(REASONS)
                .build()
                .unwrap()
        })
        .collect();
    for e in events {
        let o = &outcomes[e.outcome];
        match (e.tenant, e.failure) {
            (None, None) => o.success(),
            (None, Some(r)) => o.failure_with(REASONS[r]),
            (Some(t), None) => o.success_for(TENANTS[t]),
            (Some(t), Some(r)) => o.failure_for_with(TENANTS[t], REASONS[r]),
        }
    }
    hb.shutdown().await.unwrap();
    // The test kit's receiver answers 200 with an empty response; the body is kept as it was sent.
    server
        .requests()
        .iter()
        .map(|r| Captured {
            path: r.path.clone(),
            headers: r.headers.clone(),
            body: r.raw.to_vec(),
        })
        .collect()
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}
