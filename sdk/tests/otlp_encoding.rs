//! The core's hand-written OTLP encoders, checked against independent decoders: the prost
//! types and the serde types of the `opentelemetry-proto` crate, `serde_json`, and (when
//! `HEARTBEAT_PYTHON` is set) the official Python `opentelemetry-proto` package.
//!
//! Time is the test kit's `ManualClock` (the SDK's `testing` clock), moved by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use heartbeat::semconv::{
    ATTR_OUTCOME, ATTR_REASON, ATTR_RESULT, ATTR_TENANT, METRIC_OUTCOMES, SCOPE_NAME, UNIT_OUTCOMES,
};
use heartbeat::{
    Registry,
    otlp::{AggregationTemporality, Batch, Collector, encode_json, encode_protobuf},
};
use heartbeat_testkit::clock::ManualClock;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use proptest::prelude::*;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const T0: Duration = Duration::from_secs(1_700_000_000);
const T0_NANOS: u64 = 1_700_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;

fn registry() -> (Registry, ManualClock) {
    let clock = ManualClock::starting_at(T0);
    let registry = Registry::builder()
        .with_clock(Arc::new(clock.clone()))
        .build();
    (registry, clock)
}

/// One decoded point, flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    metric: String,
    unit: String,
    temporality: i32,
    monotonic: bool,
    attributes: Vec<(String, String)>,
    start: u64,
    time: u64,
    value: i64,
}

impl Row {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => panic!("attribute {} is not a string: {other:?}", kv.key),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// Every point of a request with one resource and one scope.
fn rows(request: &ExportMetricsServiceRequest) -> Vec<Row> {
    assert_eq!(request.resource_metrics.len(), 1);
    let rm = &request.resource_metrics[0];
    assert_eq!(rm.scope_metrics.len(), 1);
    let mut rows = Vec::new();
    for m in &rm.scope_metrics[0].metrics {
        let Some(metric::Data::Sum(sum)) = &m.data else {
            panic!("{} is not a sum: {:?}", m.name, m.data)
        };
        for p in &sum.data_points {
            let Some(number_data_point::Value::AsInt(value)) = p.value else {
                panic!("{} has a point without asInt: {p:?}", m.name)
            };
            rows.push(Row {
                metric: m.name.clone(),
                unit: m.unit.clone(),
                temporality: sum.aggregation_temporality,
                monotonic: sum.is_monotonic,
                attributes: pairs(&p.attributes),
                start: p.start_time_unix_nano,
                time: p.time_unix_nano,
                value,
            });
        }
    }
    rows
}

fn decode_protobuf(batch: &Batch) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest::decode(encode_protobuf(batch).as_slice())
        .expect("prost decodes the protobuf encoding")
}

fn decode_json(batch: &Batch) -> ExportMetricsServiceRequest {
    let json = encode_json(batch);
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("serde decodes {json}: {e}"))
}

/// Decodes both encodings, checks they say the same, and returns the points.
fn decoded(batch: &Batch) -> Vec<Row> {
    let from_proto = decode_protobuf(batch);
    assert_eq!(from_proto, decode_json(batch), "JSON and protobuf disagree");
    rows(&from_proto)
}

fn find<'a>(rows: &'a [Row], want: &[(&str, &str)]) -> &'a Row {
    let matching: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            r.attributes.len() == want.len() && want.iter().all(|(k, v)| r.attr(k) == Some(v))
        })
        .collect();
    assert_eq!(matching.len(), 1, "series {want:?} in {rows:#?}");
    matching[0]
}

fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

// ---- cumulative ----

#[test]
fn cumulative_protobuf_carries_the_recorded_counts_from_registry_start() {
    let (registry, clock) = registry();
    let send = registry
        .outcome("message.send")
        .with_attribute("surface", "web_messenger")
        .with_reasons(["timeout"])
        .build()
        .unwrap();
    for _ in 0..3 {
        send.success();
    }
    send.failure_with("timeout");
    send.failure_with("timeout");
    send.failure();
    send.success_for("acme");
    send.success_for("acme");
    clock.advance(Duration::from_secs(10));

    let collector = Collector::new(&registry, AggregationTemporality::Cumulative)
        .with_resource_attribute("service.name", "messenger-api");
    let request = decode_protobuf(&collector.collect());

    let rm = &request.resource_metrics[0];
    let resource = rm.resource.as_ref().expect("a resource");
    assert_eq!(
        pairs(&resource.attributes),
        attrs(&[("service.name", "messenger-api")])
    );
    let scope = rm.scope_metrics[0].scope.as_ref().expect("a scope");
    assert_eq!(scope.name, SCOPE_NAME);
    assert_eq!(scope.version, env!("CARGO_PKG_VERSION"));
    let metric = &rm.scope_metrics[0].metrics[0];
    assert!(!metric.description.is_empty());

    let rows = rows(&request);
    for r in &rows {
        assert_eq!(r.metric, METRIC_OUTCOMES);
        assert_eq!(r.unit, UNIT_OUTCOMES);
        assert_eq!(r.temporality, 2, "cumulative");
        assert!(r.monotonic);
        assert_eq!(r.start, T0_NANOS);
        assert_eq!(r.time, T0_NANOS + 10 * SEC);
    }
    let base = [(ATTR_OUTCOME, "message.send"), ("surface", "web_messenger")];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        base.iter().chain(extra).copied().collect()
    };
    assert_eq!(find(&rows, &with(&[(ATTR_RESULT, "success")])).value, 3);
    let failure = |reason| with(&[(ATTR_RESULT, "failure"), (ATTR_REASON, reason)]);
    assert_eq!(find(&rows, &failure("timeout")).value, 2);
    assert_eq!(find(&rows, &failure("unspecified")).value, 1);
    assert_eq!(find(&rows, &failure("abandoned")).value, 0);
    assert_eq!(find(&rows, &failure("panicked")).value, 0);
    assert_eq!(find(&rows, &failure("other")).value, 0);
    let tenant = with(&[(ATTR_RESULT, "success"), (ATTR_TENANT, "acme")]);
    assert_eq!(find(&rows, &tenant).value, 2);
    // success + 5 reasons, plus the tenant's success (its zero failures are not listed).
    assert_eq!(rows.len(), 7);
    // Attribute order: outcome, fixed attributes, result, reason, tenant.
    let order: Vec<&str> = find(&rows, &tenant)
        .attributes
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        order,
        [ATTR_OUTCOME, "surface", ATTR_RESULT, ATTR_TENANT].as_slice()
    );
}

#[test]
fn json_decodes_to_the_same_request_as_protobuf() {
    let (registry, _) = registry();
    let o = registry
        .outcome("ai.answer")
        .with_attribute("model", "größe \"q\" \\ 😀")
        .build()
        .unwrap();
    o.success();
    o.failure_for("tenant \"x\" \\ é");
    let batch = Collector::new(&registry, AggregationTemporality::Cumulative)
        .with_resource_attribute("service.name", "a\"b")
        .collect();
    assert_eq!(decode_json(&batch), decode_protobuf(&batch));
}

#[test]
fn json_uses_lower_camel_case_keys_integer_enums_and_string_int64s() {
    let (registry, clock) = registry();
    registry.outcome("inbox.reply").build().unwrap().success();
    clock.advance(Duration::from_secs(1));
    let batch = Collector::new(&registry, AggregationTemporality::Cumulative).collect();
    let v: serde_json::Value = serde_json::from_str(&encode_json(&batch)).unwrap();
    let scope = &v["resourceMetrics"][0]["scopeMetrics"][0];
    assert_eq!(scope["scope"]["name"], SCOPE_NAME);
    let sum = &scope["metrics"][0]["sum"];
    assert_eq!(sum["aggregationTemporality"], 2);
    assert_eq!(sum["isMonotonic"], true);
    let point = &sum["dataPoints"][0];
    assert_eq!(point["asInt"], "1");
    assert_eq!(point["startTimeUnixNano"], T0_NANOS.to_string());
    assert_eq!(point["timeUnixNano"], (T0_NANOS + SEC).to_string());
    assert_eq!(point["attributes"][0]["key"], ATTR_OUTCOME);
    assert_eq!(
        point["attributes"][0]["value"]["stringValue"],
        "inbox.reply"
    );
}

#[test]
fn an_empty_batch_is_a_valid_request() {
    let batch = Batch::new(AggregationTemporality::Delta, T0, T0);
    assert!(batch.is_empty());
    let request = decode_protobuf(&batch);
    assert_eq!(request, decode_json(&batch));
    assert!(rows(&request).is_empty());
}

#[test]
fn values_above_i64_max_are_sent_as_i64_max() {
    let mut batch = Batch::new(AggregationTemporality::Cumulative, T0, T0);
    batch.push_sum("big", "1", "", Vec::new(), u64::MAX);
    batch.push_sum("big", "1", "", attrs(&[("k", "v")]), 5);
    let rows = decoded(&batch);
    assert_eq!(rows[0].value, i64::MAX);
    assert_eq!(rows[1].value, 5);
}

// ---- delta ----

fn delta_setup() -> (Registry, ManualClock, heartbeat::Outcome, Collector) {
    let (registry, clock) = registry();
    let send = registry
        .outcome("message.send")
        .with_reasons(["timeout"])
        .build()
        .unwrap();
    let collector = Collector::new(&registry, AggregationTemporality::Delta);
    (registry, clock, send, collector)
}

fn success_value(rows: &[Row]) -> i64 {
    find(
        rows,
        &[(ATTR_OUTCOME, "message.send"), (ATTR_RESULT, "success")],
    )
    .value
}

#[test]
fn the_first_delta_batch_lists_every_declared_series_at_zero() {
    let (registry, clock) = registry();
    registry.outcome("message.send").build().unwrap();
    registry
        .outcome("inbox.reply")
        .with_reasons(["rejected", "timeout"])
        .build()
        .unwrap();
    clock.advance(Duration::from_secs(5));
    let rows = decoded(&Collector::new(&registry, AggregationTemporality::Delta).collect());
    // (success + 4 reserved reasons) + (success + 6 reasons).
    assert_eq!(rows.len(), 5 + 7);
    for r in &rows {
        assert_eq!(r.value, 0);
        assert_eq!(r.temporality, 1, "delta");
        assert!(r.monotonic);
        assert_eq!((r.start, r.time), (T0_NANOS, T0_NANOS + 5 * SEC));
    }
    find(
        &rows,
        &[
            (ATTR_OUTCOME, "inbox.reply"),
            (ATTR_RESULT, "failure"),
            (ATTR_REASON, "rejected"),
        ],
    );
}

#[test]
fn an_acked_delta_batch_starts_the_next_window_and_is_not_counted_again() {
    let (_registry, clock, send, mut collector) = delta_setup();
    send.success();
    clock.advance(Duration::from_secs(10));
    let first = collector.collect();
    assert!(collector.ack(&first));
    send.success();
    send.success();
    clock.advance(Duration::from_secs(10));
    let rows = decoded(&collector.collect());
    assert_eq!(success_value(&rows), 2);
    for r in &rows {
        assert_eq!(
            (r.start, r.time),
            (T0_NANOS + 10 * SEC, T0_NANOS + 20 * SEC)
        );
    }
}

#[test]
fn a_failed_send_carries_its_counts_into_the_next_batch_over_the_longer_window() {
    let (_registry, clock, send, mut collector) = delta_setup();
    send.success();
    clock.advance(Duration::from_secs(10));
    let acked = collector.collect();
    collector.ack(&acked);
    send.success();
    clock.advance(Duration::from_secs(10));
    let failed = collector.collect(); // never acked: the send failed
    assert_eq!(success_value(&decoded(&failed)), 1);
    send.success();
    clock.advance(Duration::from_secs(10));
    let rows = decoded(&collector.collect());
    assert_eq!(success_value(&rows), 2);
    let r = &rows[0];
    assert_eq!(
        (r.start, r.time),
        (T0_NANOS + 10 * SEC, T0_NANOS + 30 * SEC)
    );
}

#[test]
fn acking_a_batch_twice_commits_nothing_more() {
    let (_registry, clock, send, mut collector) = delta_setup();
    send.success();
    clock.advance(Duration::from_secs(1));
    let batch = collector.collect();
    assert!(collector.ack(&batch));
    assert!(!collector.ack(&batch));
    send.success();
    assert_eq!(success_value(&decoded(&collector.collect())), 1);
}

#[test]
fn acking_an_older_batch_after_a_newer_one_commits_nothing() {
    let (_registry, clock, send, mut collector) = delta_setup();
    send.success();
    clock.advance(Duration::from_secs(1));
    let older = collector.collect(); // its send failed
    send.success();
    clock.advance(Duration::from_secs(1));
    let newer = collector.collect();
    assert_eq!(success_value(&decoded(&newer)), 2);
    assert!(collector.ack(&newer));
    assert!(!collector.ack(&older));
    send.success();
    clock.advance(Duration::from_secs(1));
    let rows = decoded(&collector.collect());
    assert_eq!(success_value(&rows), 1);
    assert_eq!(rows[0].start, T0_NANOS + 2 * SEC);
}

#[test]
fn unchanged_tenant_series_are_left_out_but_base_series_stay() {
    let (_registry, clock, send, mut collector) = delta_setup();
    send.success_for("acme");
    send.success_for("globex");
    clock.advance(Duration::from_secs(1));
    let first = collector.collect();
    let tenants = |rows: &[Row]| -> Vec<String> {
        rows.iter()
            .filter_map(|r| r.attr(ATTR_TENANT).map(str::to_owned))
            .collect()
    };
    assert_eq!(tenants(&decoded(&first)).len(), 2);
    collector.ack(&first);
    send.success_for("globex");
    clock.advance(Duration::from_secs(1));
    let rows = decoded(&collector.collect());
    assert_eq!(tenants(&rows), ["globex"]);
    assert_eq!(rows.len(), 5 + 1 + 1, "base series at zero plus globex");
    assert_eq!(success_value(&rows), 0);
}

#[test]
fn a_batch_of_another_collector_is_ignored() {
    let (registry, clock, send, mut collector) = delta_setup();
    let other = Collector::new(&registry, AggregationTemporality::Delta);
    send.success();
    clock.advance(Duration::from_secs(1));
    assert!(!collector.ack(&other.collect()));
    assert_eq!(success_value(&decoded(&collector.collect())), 1);
}

#[test]
fn cumulative_batches_have_nothing_to_ack() {
    let (registry, _, send, _) = delta_setup();
    let mut collector = Collector::new(&registry, AggregationTemporality::Cumulative);
    send.success();
    let batch = collector.collect();
    assert!(!collector.ack(&batch));
    assert_eq!(success_value(&decoded(&collector.collect())), 1);
}

#[test]
fn collect_with_turns_other_cumulative_sums_into_deltas_too() {
    let (_registry, clock, _send, mut collector) = delta_setup();
    let beats = |n: u64| {
        move |b: &mut Batch| {
            b.push_sum(
                "heartbeat.beats",
                "{beat}",
                "beats",
                attrs(&[("k", "v")]),
                n,
            )
        }
    };
    clock.advance(Duration::from_secs(1));
    let first = collector.collect_with(beats(3));
    let row = |batch: &Batch| {
        decoded(batch)
            .into_iter()
            .find(|r| r.metric == "heartbeat.beats")
            .expect("a beats point")
    };
    assert_eq!((row(&first).value, row(&first).temporality), (3, 1));
    collector.ack(&first);
    clock.advance(Duration::from_secs(1));
    let second = collector.collect_with(beats(5));
    assert_eq!(row(&second).value, 2);
    assert_eq!(row(&second).unit, "{beat}");
}

// ---- properties ----

#[derive(Debug, Clone)]
struct Event {
    outcome: usize,
    tenant: Option<String>,
    failure: Option<usize>,
    count: u64,
}

fn event(outcomes: usize) -> impl Strategy<Value = Event> {
    (
        0..outcomes,
        proptest::option::of("\\PC{1,12}"),
        proptest::option::of(0usize..3),
        1u64..50,
    )
        .prop_map(|(outcome, tenant, failure, count)| Event {
            outcome,
            tenant,
            failure,
            count,
        })
}

const REASONS: [&str; 3] = ["timeout", "rejected", "not_declared"];

fn record(outcomes: &[heartbeat::Outcome], e: &Event) {
    let o = &outcomes[e.outcome];
    for _ in 0..e.count {
        match (&e.tenant, e.failure) {
            (None, None) => o.success(),
            (None, Some(r)) => o.failure_with(REASONS[r]),
            (Some(t), None) => o.success_for(t),
            (Some(t), Some(r)) => o.failure_for_with(t, REASONS[r]),
        }
    }
}

/// Per outcome name: (successes, failures).
fn expected_totals(names: &[String], events: &[Event]) -> BTreeMap<String, (i64, i64)> {
    let mut totals: BTreeMap<String, (i64, i64)> =
        names.iter().map(|n| (n.clone(), (0, 0))).collect();
    for e in events {
        let t = totals.get_mut(&names[e.outcome]).unwrap();
        let n = i64::try_from(e.count).unwrap();
        if e.failure.is_some() {
            t.1 += n
        } else {
            t.0 += n
        }
    }
    totals
}

fn decoded_totals(rows: &[Row]) -> BTreeMap<String, (i64, i64)> {
    let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in rows {
        let t = totals
            .entry(r.attr(ATTR_OUTCOME).unwrap().to_owned())
            .or_default();
        match r.attr(ATTR_RESULT) {
            Some("success") => t.0 += r.value,
            Some("failure") => t.1 += r.value,
            other => panic!("bad result {other:?}"),
        }
    }
    totals
}

fn outcome_names() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set("[a-zA-Z][a-zA-Z0-9_./-]{0,30}", 1..4)
        .prop_map(|s| s.into_iter().collect())
}

proptest! {
    #[test]
    fn decoded_totals_equal_recorded_totals_in_both_encodings(
        (names, values, events) in outcome_names().prop_flat_map(|names| {
            let n = names.len();
            (
                Just(names),
                proptest::collection::vec("\\PC{1,16}", n),
                proptest::collection::vec(event(n), 0..30),
            )
        }),
        delta in any::<bool>(),
    ) {
        let (registry, clock) = registry();
        let outcomes: Vec<heartbeat::Outcome> = names
            .iter()
            .zip(&values)
            .map(|(name, value)| {
                registry
                    .outcome(name.as_str())
                    .with_attribute("label", value.as_str())
                    .with_reasons(["timeout", "rejected"])
                    .build()
                    .unwrap()
            })
            .collect();
        for e in &events {
            record(&outcomes, e);
        }
        clock.advance(Duration::from_secs(1));
        let temporality = if delta { AggregationTemporality::Delta } else { AggregationTemporality::Cumulative };
        let batch = Collector::new(&registry, temporality).collect();
        let rows = decoded(&batch); // asserts that protobuf and JSON decode equal
        prop_assert_eq!(decoded_totals(&rows), expected_totals(&names, &events));
        for (name, value) in names.iter().zip(&values) {
            let labelled = rows
                .iter()
                .filter(|r| r.attr(ATTR_OUTCOME) == Some(name) && r.attr("label") == Some(value))
                .count();
            prop_assert!(labelled >= 5, "{name}: label {value:?} lost");
        }
        for e in &events {
            if let Some(t) = &e.tenant {
                prop_assert!(rows.iter().any(|r| r.attr(ATTR_TENANT) == Some(t)
                    || r.attr(ATTR_TENANT) == Some(heartbeat::tenant::OVERFLOW_TENANT)));
            }
        }
    }

    #[test]
    fn arbitrary_strings_survive_both_encodings(
        resource in proptest::collection::vec((any::<String>(), any::<String>()), 0..3),
        points in proptest::collection::vec(
            (any::<String>(), any::<String>(), any::<String>(), any::<String>(), any::<u64>()),
            1..6,
        ),
        start in any::<u64>(),
        end in any::<u64>(),
    ) {
        let mut batch = Batch::new(
            AggregationTemporality::Delta,
            Duration::from_nanos(start),
            Duration::from_nanos(end),
        );
        batch.resource = resource.clone();
        for (name, unit, key, value, n) in &points {
            batch.push_sum(name, unit, "description \"with\" \\ quotes\n", vec![(key.clone(), value.clone())], *n);
        }
        let request = decode_protobuf(&batch);
        prop_assert_eq!(&request, &decode_json(&batch));
        let rm = &request.resource_metrics[0];
        prop_assert_eq!(pairs(&rm.resource.as_ref().unwrap().attributes), resource);
        let metrics = &rm.scope_metrics[0].metrics;
        prop_assert_eq!(metrics.len(), batch.metrics.len());
        for (m, want) in metrics.iter().zip(&batch.metrics) {
            prop_assert_eq!(&m.name, &want.name);
            prop_assert_eq!(&m.unit, &want.unit);
            prop_assert_eq!(&m.description, &want.description);
        }
        let rows = rows(&request);
        prop_assert_eq!(rows.len(), points.len());
        for r in &rows {
            prop_assert_eq!((r.start, r.time, r.temporality), (start, end, 1));
        }
        let mut want: Vec<(Vec<(String, String)>, i64)> = Vec::new();
        for m in &batch.metrics {
            for p in &m.points {
                want.push((p.attributes.clone(), i64::try_from(p.value).unwrap_or(i64::MAX)));
            }
        }
        let got: Vec<(Vec<(String, String)>, i64)> =
            rows.into_iter().map(|r| (r.attributes, r.value)).collect();
        prop_assert_eq!(got, want);
    }
}

#[derive(Debug, Clone)]
enum Step {
    Record(Event),
    Advance(u64),
    /// Build a batch and send it; `true` when the receiver accepted it (then it is acked).
    Send(bool),
    /// Acknowledge again a batch acknowledged before (a duplicate or late acknowledgement).
    AckAgain(prop::sample::Index),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        prop_oneof![
            4 => event(2).prop_map(Step::Record),
            2 => (0u64..100).prop_map(Step::Advance),
            3 => any::<bool>().prop_map(Step::Send),
            1 => any::<prop::sample::Index>().prop_map(Step::AckAgain),
        ],
        0..60,
    )
}

proptest! {
    #[test]
    fn delivered_deltas_sum_to_the_cumulative_totals(steps in steps()) {
        let (registry, clock) = registry();
        let outcomes: Vec<heartbeat::Outcome> = ["a.one", "b.two"]
            .iter()
            .map(|n| registry.outcome(*n).with_reasons(["timeout", "rejected"]).build().unwrap())
            .collect();
        let mut collector = Collector::new(&registry, AggregationTemporality::Delta);
        let mut received: BTreeMap<Vec<(String, String)>, i64> = BTreeMap::new();
        let mut acked: Vec<Batch> = Vec::new();
        let mut last_end = T0_NANOS;
        let mut deliver = |batch: &Batch, collector: &mut Collector, acked: &mut Vec<Batch>| {
            let rows = decoded(batch);
            for r in &rows {
                // Windows of delivered batches neither overlap nor leave gaps.
                assert_eq!(r.start, last_end, "window start");
                assert!(r.time >= r.start);
                *received.entry(r.attributes.clone()).or_default() += r.value;
            }
            last_end = batch.time_unix_nano;
            assert!(collector.ack(batch) || rows.iter().all(|r| r.value == 0));
            acked.push(batch.clone());
        };
        for step in &steps {
            match step {
                Step::Record(e) => record(&outcomes, e),
                Step::Advance(s) => clock.advance(Duration::from_secs(*s)),
                Step::Send(true) => deliver(&collector.collect(), &mut collector, &mut acked),
                Step::Send(false) => drop(collector.collect()),
                Step::AckAgain(i) => {
                    if !acked.is_empty() {
                        let old = &acked[i.index(acked.len())];
                        prop_assert!(!collector.ack(old), "a second ack committed something");
                    }
                }
            }
        }
        clock.advance(Duration::from_secs(1));
        deliver(&collector.collect(), &mut collector, &mut acked);
        let cumulative = rows(&decode_protobuf(&Collector::new(&registry, AggregationTemporality::Cumulative).collect()));
        for r in &cumulative {
            prop_assert_eq!(
                received.get(&r.attributes).copied().unwrap_or(0),
                r.value,
                "series {:?}", r.attributes
            );
        }
        let total: i64 = received.values().sum();
        prop_assert_eq!(total, cumulative.iter().map(|r| r.value).sum::<i64>());
    }
}

// ---- the official Python decoders ----

/// Runs `scripts/validate_otlp.py` under `$HEARTBEAT_PYTHON` and returns its JSON report.
fn python_report(python: &str, format: &str, body: &[u8]) -> serde_json::Value {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/validate_otlp.py");
    let mut child = Command::new(python)
        .args([script, "--format", format, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "validate_otlp.py rejected the {format} body: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_official_python_decoders_accept_both_encodings() {
    let Ok(python) = std::env::var("HEARTBEAT_PYTHON") else {
        eprintln!(
            "SKIPPED the_official_python_decoders_accept_both_encodings: set HEARTBEAT_PYTHON \
             to a python with the `opentelemetry-proto` package installed"
        );
        return;
    };
    let (registry, clock) = registry();
    let send = registry
        .outcome("message.send")
        .with_attribute("surface", "wéb \"messenger\" \\ 😀")
        .with_reasons(["timeout"])
        .build()
        .unwrap();
    for _ in 0..7 {
        send.success();
    }
    send.failure_with("timeout");
    send.failure_for("acme");
    clock.advance(Duration::from_secs(3));
    for temporality in [
        AggregationTemporality::Cumulative,
        AggregationTemporality::Delta,
    ] {
        let batch = Collector::new(&registry, temporality)
            .with_resource_attribute("service.name", "messenger-api")
            .collect_with(|b| b.push_sum("heartbeat.beats", "{beat}", "", Vec::new(), 4));
        let name = match temporality {
            AggregationTemporality::Delta => "DELTA",
            AggregationTemporality::Cumulative => "CUMULATIVE",
        };
        for (format, body) in [
            ("protobuf", encode_protobuf(&batch)),
            ("json", encode_json(&batch).into_bytes()),
        ] {
            let report = python_report(&python, format, &body);
            let outcomes = &report["metrics"][METRIC_OUTCOMES];
            assert_eq!(outcomes["total"], 9, "{format}: {report}");
            assert_eq!(outcomes["points"], batch.metrics[0].points.len());
            assert_eq!(outcomes["temporality"], name, "{format}: {report}");
            assert_eq!(outcomes["monotonic"], true);
            assert_eq!(outcomes["unit"], UNIT_OUTCOMES);
            assert_eq!(report["metrics"]["heartbeat.beats"]["total"], 4);
            assert_eq!(report["resource"]["service.name"], "messenger-api");
            let labels = outcomes["attribute_values"]["surface"].as_array().unwrap();
            assert_eq!(labels, &[serde_json::json!("wéb \"messenger\" \\ 😀")]);
        }
    }
}
