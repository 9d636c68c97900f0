//! The core's hand-written OTLP encoders against the official decoders: any sequence of
//! recorded events (outcomes with arbitrary attribute values, tenants and reasons, time moving
//! and jumping) collects into a batch whose protobuf encoding decodes (prost) to exactly the
//! recorded totals, whose JSON encoding decodes (serde) to the same request, and whose delta
//! batches, acknowledged or lost, add up to the same totals.
#![no_main]

use arbitrary::Arbitrary;
use heartbeat::{
    Outcome, Registry,
    clock::ManualClock,
    otlp::{AggregationTemporality, Collector, encode_json, encode_protobuf},
};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Arbitrary, Debug)]
enum Step {
    Record {
        outcome: u8,
        ok: bool,
        reason: Option<u8>,
        undeclared: String,
        tenant: Option<String>,
    },
    Advance(u16),
    JumpWall(u32),
    /// Collect a delta batch; `delivered` says whether the receiver took it.
    Delta {
        delivered: bool,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    attribute: String,
    tenant_limit: u8,
    steps: Vec<Step>,
}

const REASONS: [&str; 2] = ["timeout", "rejected"];

/// (successes, failures) per outcome name, from a decoded request.
fn totals(request: &ExportMetricsServiceRequest) -> BTreeMap<String, (i64, i64)> {
    let mut out: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for m in request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        let Some(metric::Data::Sum(sum)) = &m.data else {
            continue;
        };
        for p in &sum.data_points {
            let attr = |key: &str| {
                p.attributes.iter().find(|a| a.key == key).and_then(|a| {
                    match a.value.as_ref()?.value.as_ref()? {
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                            s,
                        ) => Some(s.clone()),
                        _ => None,
                    }
                })
            };
            let (Some(outcome), Some(result)) =
                (attr("heartbeat.outcome"), attr("heartbeat.result"))
            else {
                continue;
            };
            let Some(number_data_point::Value::AsInt(v)) = p.value else {
                continue;
            };
            let entry = out.entry(outcome).or_default();
            if result == "success" {
                entry.0 += v;
            } else {
                entry.1 += v;
            }
        }
    }
    out
}

fn decode(batch: &heartbeat::otlp::Batch) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest::decode(encode_protobuf(batch).as_slice())
        .expect("our protobuf decodes")
}

/// Decodes both encodings, which must say the same (JSON decoding is the slow half, so only the
/// final batches take this path).
fn decode_both(batch: &heartbeat::otlp::Batch) -> ExportMetricsServiceRequest {
    let proto = decode(batch);
    let json: ExportMetricsServiceRequest =
        serde_json::from_str(&encode_json(batch)).expect("our JSON decodes");
    assert_eq!(proto, json, "protobuf and JSON say the same");
    proto
}

fuzz_target!(|input: Input| {
    let clock = ManualClock::starting_at(Duration::from_secs(1_700_000_000));
    let registry = Registry::builder()
        .with_clock(Arc::new(clock.clone()))
        .with_tenant_limit(usize::from(input.tenant_limit % 8))
        .build();
    let outcomes: Vec<(String, Outcome)> = (0..3)
        .filter_map(|i| {
            let name = format!("outcome.o{i}");
            let outcome = registry
                .outcome(name.clone())
                .with_attribute("surface", input.attribute.clone())
                .with_reasons(REASONS)
                .build()
                .ok()?;
            Some((name, outcome))
        })
        .collect();
    if outcomes.is_empty() {
        return; // the attribute value was refused: nothing to record
    }
    let mut expected: BTreeMap<String, (i64, i64)> =
        outcomes.iter().map(|(n, _)| (n.clone(), (0, 0))).collect();
    let mut delta = Collector::new(&registry, AggregationTemporality::Delta);
    let mut delivered: BTreeMap<String, (i64, i64)> = BTreeMap::new();

    for step in input.steps.iter().take(128) {
        match step {
            Step::Record {
                outcome,
                ok,
                reason,
                undeclared,
                tenant,
            } => {
                let (name, o) = &outcomes[usize::from(*outcome) % outcomes.len()];
                let entry = expected.get_mut(name).expect("declared");
                let reason = reason.map(|r| match r % 3 {
                    0 | 1 => REASONS[usize::from(r % 3)],
                    _ => undeclared.as_str(),
                });
                match (ok, tenant, reason) {
                    (true, None, _) => o.success(),
                    (true, Some(t), _) => o.success_for(t),
                    (false, None, None) => o.failure(),
                    (false, None, Some(r)) => o.failure_with(r),
                    (false, Some(t), None) => o.failure_for(t),
                    (false, Some(t), Some(r)) => o.failure_for_with(t, r),
                }
                if *ok {
                    entry.0 += 1;
                } else {
                    entry.1 += 1;
                }
            }
            Step::Advance(ms) => clock.advance(Duration::from_millis(u64::from(*ms))),
            Step::JumpWall(s) => clock.set_unix(Duration::from_secs(u64::from(*s))),
            Step::Delta { delivered: taken } => {
                let batch = delta.collect();
                let request = decode(&batch);
                if *taken {
                    for (name, (ok, failed)) in totals(&request) {
                        let e = delivered.entry(name).or_default();
                        e.0 += ok;
                        e.1 += failed;
                    }
                    delta.ack(&batch);
                }
            }
        }
    }

    // Cumulative: the decoded totals are what was recorded.
    let cumulative = Collector::new(&registry, AggregationTemporality::Cumulative).collect();
    assert_eq!(totals(&decode_both(&cumulative)), expected);

    // Delta: what was delivered, plus a final delivered batch, is the same.
    let last = delta.collect();
    for (name, (ok, failed)) in totals(&decode_both(&last)) {
        let e = delivered.entry(name).or_default();
        e.0 += ok;
        e.1 += failed;
    }
    for (name, (ok, failed)) in &expected {
        let got = delivered.get(name).copied().unwrap_or_default();
        assert_eq!(got, (*ok, *failed), "delta totals of {name}");
    }
});
