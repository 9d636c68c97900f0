//! What the SDK encodes, the watch decodes to the same totals (property tests): the `heartbeat`
//! core encoders (`encode_protobuf`, `encode_json`) over a `Collector` batch, cumulative and
//! delta, plain and gzipped, through the watch's own body reading and validation
//! (`heartbeat_watch::fuzz::receive`, the code behind `POST /v1/metrics`); and one case through
//! the SDK's real export pipeline (OTLP/HTTP protobuf and JSON, gzip) into a running watch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod reliability_support;

use std::io::Write;

use heartbeat::otlp::{AggregationTemporality, Batch, encode_json, encode_protobuf};
use heartbeat_watch::fuzz::{Encoding, Received, Temporality, receive};
use heartbeat_watch::{Database, RuleFile, Watch};
use proptest::prelude::*;
use reliability_support::{
    Emitter, Event, OUTCOMES, REASONS, T0_MS, TENANTS, collect_with_beats, expected,
    export_through_the_pipeline, now_ms, totals,
};

const MAX_BODY: usize = 4 * 1024 * 1024;

fn event() -> impl Strategy<Value = Event> {
    (
        0..OUTCOMES.len(),
        proptest::option::of(0..TENANTS.len()),
        proptest::option::weighted(0.3, 0..REASONS.len()),
    )
        .prop_map(|(outcome, tenant, failure)| Event {
            outcome,
            tenant,
            failure,
        })
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body).unwrap();
    gz.finish().unwrap()
}

/// The batch through one encoding, as the watch receives it at `now_ms`.
fn through_the_watch(batch: &Batch, encoding: Encoding, gzipped: bool, now_ms: i64) -> Received {
    let body = match encoding {
        Encoding::Protobuf => encode_protobuf(batch),
        Encoding::Json => encode_json(batch).into_bytes(),
    };
    let body = if gzipped { gzip(&body) } else { body };
    let received = receive(&body, encoding, gzipped, MAX_BODY, now_ms)
        .unwrap_or_else(|r| panic!("refused: {} {}", r.status, r.message));
    assert_eq!(received.rejected, 0, "{}", received.message);
    assert_eq!(received.ignored, 0);
    received
}

const ENCODINGS: [(Encoding, bool); 4] = [
    (Encoding::Protobuf, false),
    (Encoding::Protobuf, true),
    (Encoding::Json, false),
    (Encoding::Json, true),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_cumulative_batch_decodes_to_the_recorded_totals(
        events in proptest::collection::vec(event(), 0..300),
        beats in 0u64..10_000,
    ) {
        let emitter = Emitter::new(T0_MS - 60_000);
        for e in &events {
            emitter.record(*e);
        }
        emitter.advance(30_000);
        let batch = collect_with_beats(&emitter.collector(AggregationTemporality::Cumulative), beats);
        let want = expected(&events);
        for (encoding, gzipped) in ENCODINGS {
            let received = through_the_watch(&batch, encoding, gzipped, T0_MS);
            prop_assert_eq!(u64::try_from(received.points.len()).unwrap(), batch.point_count() as u64);
            prop_assert_eq!(&totals(&received.points), &want, "{:?} gzip {}", encoding, gzipped);
            let sum: f64 = totals(&received.points).values().sum();
            prop_assert_eq!(sum, events.len() as f64);
            let beat = received.points.iter().find(|p| p.metric == "heartbeat.beats").unwrap();
            prop_assert_eq!(beat.value, beats as f64);
            prop_assert_eq!(beat.temporality, Temporality::Cumulative);
            for p in &received.points {
                prop_assert_eq!(&p.service, "messenger-api");
                prop_assert_eq!(&p.instance, "i-1");
                prop_assert_eq!(p.time_unix_nano, u64::try_from(T0_MS - 30_000).unwrap() * 1_000_000);
                prop_assert_eq!(p.start_time_unix_nano, u64::try_from(T0_MS - 60_000).unwrap() * 1_000_000);
            }
        }
    }

    #[test]
    fn delta_batches_add_up_to_the_recorded_totals_across_failed_sends(
        rounds in proptest::collection::vec(
            (proptest::collection::vec(event(), 0..100), any::<bool>()),
            1..5,
        ),
    ) {
        let emitter = Emitter::new(T0_MS - 600_000);
        let mut collector = emitter.collector(AggregationTemporality::Delta);
        let mut all = Vec::new();
        let mut delivered = vec![Vec::new(); ENCODINGS.len()];
        for (events, accepted) in &rounds {
            for e in events {
                emitter.record(*e);
            }
            all.extend_from_slice(events);
            emitter.advance(60_000);
            let batch = collector.collect();
            // A refused send is not acknowledged: the next batch carries its counts again.
            if *accepted {
                for (i, (encoding, gzipped)) in ENCODINGS.into_iter().enumerate() {
                    let received = through_the_watch(&batch, encoding, gzipped, T0_MS);
                    for p in &received.points {
                        prop_assert_eq!(p.temporality, Temporality::Delta);
                    }
                    delivered[i].extend(received.points);
                }
                collector.ack(&batch);
            }
        }
        // Whatever was never acknowledged arrives with the last batch.
        emitter.advance(60_000);
        let last = collector.collect();
        for (i, (encoding, gzipped)) in ENCODINGS.into_iter().enumerate() {
            delivered[i].extend(through_the_watch(&last, encoding, gzipped, T0_MS).points);
            prop_assert_eq!(&totals(&delivered[i]), &expected(&all), "{:?} gzip {}", encoding, gzipped);
        }
    }
}

fn fixed_events() -> Vec<Event> {
    let mut events = Vec::new();
    for i in 0..97 {
        events.push(Event {
            outcome: i % OUTCOMES.len(),
            tenant: (i % 5 != 0).then_some(i % TENANTS.len()),
            failure: (i % 4 == 0).then_some(i % REASONS.len()),
        });
    }
    events
}

/// The SDK's real pipeline (the `Heartbeat` exporter: the core collector's encoders, gzip, the
/// SDK's HTTP client) to a capture server; the captured bodies through the watch's decoding, and
/// posted to a running watch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_export_pipeline_decodes_to_the_recorded_totals() {
    let events = fixed_events();
    let want = expected(&events);
    let rules: RuleFile = "[watch]\ntick = \"1s\"\n".parse().unwrap();
    let watch = Watch::builder(rules)
        .with_database(Database::InMemory)
        .with_listen("127.0.0.1:0".parse().unwrap())
        .with_grpc_listen(None)
        .with_auto_tick(false)
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    for (protocol, encoding, content_type) in [
        (
            heartbeat::Protocol::HttpProtobuf,
            Encoding::Protobuf,
            "application/x-protobuf",
        ),
        (
            heartbeat::Protocol::HttpJson,
            Encoding::Json,
            "application/json",
        ),
    ] {
        let requests = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            export_through_the_pipeline(protocol, &events),
        )
        .await
        .expect("the export finished");
        assert!(!requests.is_empty(), "{protocol:?}: nothing exported");
        let mut points = Vec::new();
        for r in &requests {
            assert_eq!(r.path, "/v1/metrics");
            assert!(
                r.header("content-type").unwrap().starts_with(content_type),
                "{r:?}"
            );
            assert_eq!(r.header("content-encoding"), Some("gzip"));
            let received = receive(&r.body, encoding, true, MAX_BODY, now_ms())
                .unwrap_or_else(|e| panic!("{protocol:?}: refused: {e:?}"));
            assert_eq!(received.rejected, 0, "{}", received.message);
            points.extend(received.points);
            let before = watch.points();
            let answer = client
                .post(format!("http://{}/v1/metrics", watch.http_addr()))
                .header("content-type", content_type)
                .header("content-encoding", "gzip")
                .body(r.body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            let after = watch.points();
            assert_eq!(
                after.1, before.1,
                "{protocol:?}: points rejected by the watch"
            );
            assert_eq!(
                after.0 - before.0,
                u64::try_from(received_len(&r.body, encoding)).unwrap()
            );
        }
        assert_eq!(totals(&points), want, "{protocol:?}");
    }
    watch.shutdown().await;
}

fn received_len(body: &[u8], encoding: Encoding) -> usize {
    receive(body, encoding, true, MAX_BODY, now_ms())
        .map(|r| r.points.len())
        .unwrap_or(0)
}
