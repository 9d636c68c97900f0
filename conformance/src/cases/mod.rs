//! The case table: one row per requirement of `SPEC.md` (the context the checks share is in
//! `crate::ctx`).
//!
//! A check starts emitters through the target, scripts the receiver, and decides from what
//! arrived. Several requirements are judged from one recorded scenario (a run with outcomes and
//! a dead-man emitter answers most of the wire and semantics rows), so scenarios are memoised in
//! the `Ctx`: the first check that needs one runs it, the others await the same recording.

mod detection;
mod faults;
mod receiver;
mod scenarios;
mod semantics;
mod timing;
mod wire;

use crate::spec::{Case, Level, Needs, Scope};
use crate::target::{Protocol, Temporality};

macro_rules! row {
    ($id:literal, $level:ident, $scope:ident, $needs:expr, $check:path, $description:literal) => {
        Case {
            id: $id,
            level: Level::$level,
            scope: Scope::$scope,
            needs: $needs,
            description: $description,
            check: |ctx| Box::pin($check(ctx)),
        }
    };
}

use Needs::{Env, Http, Nothing, ProtobufOrGrpc, Stall, Visibility};
const GRPC: Needs = Needs::Protocol(Protocol::Grpc);
const PROTOBUF: Needs = Needs::Protocol(Protocol::HttpProtobuf);
const JSON: Needs = Needs::Protocol(Protocol::HttpJson);
const CUMULATIVE: Needs = Needs::Temporality(Temporality::Cumulative);
const DELTA: Needs = Needs::Temporality(Temporality::Delta);

static CASES: [Case; 62] = [
    // Wire
    row!(
        "HB-001",
        Must,
        All,
        Nothing,
        wire::transport,
        "exports decodable OTLP metrics over a configured transport"
    ),
    row!(
        "HB-002",
        Should,
        All,
        Nothing,
        wire::offers_protobuf,
        "supports http/protobuf"
    ),
    row!(
        "HB-003",
        Must,
        All,
        Http,
        wire::http_path,
        "POSTs to <endpoint>/v1/metrics"
    ),
    row!(
        "HB-004",
        Must,
        All,
        PROTOBUF,
        wire::protobuf_content,
        "http/protobuf: Content-Type application/x-protobuf, protobuf body"
    ),
    row!(
        "HB-005",
        Must,
        All,
        JSON,
        wire::json_shape,
        "http/json: Content-Type application/json, lowerCamelCase keys, enums as integers"
    ),
    row!(
        "HB-006",
        Must,
        All,
        JSON,
        wire::json_integers,
        "http/json: 64-bit integers as decimal strings or integers, never floats"
    ),
    row!(
        "HB-007",
        Should,
        All,
        JSON,
        wire::json_integer_strings,
        "http/json: 64-bit integers as decimal strings"
    ),
    row!(
        "HB-008",
        Must,
        All,
        GRPC,
        wire::grpc_call,
        "grpc: unary MetricsService/Export, application/grpc, framed message"
    ),
    row!(
        "HB-009",
        Must,
        All,
        Nothing,
        wire::compression_labelled,
        "compressed bodies are labelled, labelled bodies compressed"
    ),
    row!(
        "HB-010",
        Should,
        All,
        Nothing,
        wire::gzip,
        "gzip compression when configured"
    ),
    row!(
        "HB-011",
        Must,
        All,
        Env,
        wire::env_endpoint,
        "OTEL_EXPORTER_OTLP_ENDPOINT, _PROTOCOL and _HEADERS are honoured"
    ),
    row!(
        "HB-012",
        Must,
        All,
        Env,
        wire::env_signal_endpoint,
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is used as given"
    ),
    row!(
        "HB-013",
        Must,
        All,
        Env,
        wire::env_resource,
        "OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES set the resource"
    ),
    row!(
        "HB-014",
        Should,
        All,
        Env,
        wire::env_interval,
        "OTEL_METRIC_EXPORT_INTERVAL sets the export interval"
    ),
    row!(
        "HB-015",
        Must,
        All,
        Nothing,
        wire::service_name,
        "service.name on every resource"
    ),
    row!(
        "HB-016",
        Must,
        All,
        ProtobufOrGrpc,
        wire::through_collector,
        "arrives intact through a real collector (rotel)"
    ),
    row!(
        "HB-017",
        May,
        All,
        Nothing,
        wire::offers_json,
        "supports http/json"
    ),
    // Semantics
    row!(
        "HB-020",
        Must,
        Heartbeat,
        Nothing,
        semantics::resource,
        "service.instance.id (128-bit hex) and telemetry.sdk.* on the resource"
    ),
    row!(
        "HB-021",
        Must,
        Heartbeat,
        Nothing,
        semantics::outcomes_shape,
        "heartbeat.outcomes: monotonic int Sum, unit {outcome}, scope heartbeat"
    ),
    row!(
        "HB-022",
        Must,
        Heartbeat,
        Nothing,
        semantics::outcome_attributes,
        "outcome, result, reason on failures only, tenant on drill-down only"
    ),
    row!(
        "HB-023",
        Must,
        Heartbeat,
        Nothing,
        semantics::declared_at_zero,
        "declared outcomes are exported at zero from the first export"
    ),
    row!(
        "HB-024",
        Must,
        Heartbeat,
        Nothing,
        semantics::exactly_once,
        "every event counted exactly once"
    ),
    row!(
        "HB-025",
        Must,
        Heartbeat,
        Nothing,
        semantics::corrections,
        "no reason is unspecified, undeclared is other, bad tenant is _overflow"
    ),
    row!(
        "HB-026",
        Must,
        Heartbeat,
        Nothing,
        semantics::overflow,
        "_overflow keeps outcome, fixed attributes, result and reason"
    ),
    row!(
        "HB-027",
        Must,
        All,
        CUMULATIVE,
        semantics::monotonic,
        "cumulative sums never decrease"
    ),
    row!(
        "HB-028",
        Must,
        All,
        CUMULATIVE,
        semantics::start_stable,
        "a series' start time is stable within a process"
    ),
    row!(
        "HB-029",
        Must,
        All,
        CUMULATIVE,
        semantics::restart_start,
        "after a restart: a new, later start time and counts from zero"
    ),
    row!(
        "HB-030",
        Must,
        Heartbeat,
        Nothing,
        semantics::restart_instance,
        "a new service.instance.id at every start"
    ),
    row!(
        "HB-031",
        Must,
        All,
        DELTA,
        semantics::delta_chain,
        "delta points chain without gaps or overlaps"
    ),
    row!(
        "HB-032",
        Must,
        Heartbeat,
        Nothing,
        semantics::beats_shape,
        "heartbeat.beats: monotonic int Sum, unit {beat}, heartbeat.emitter"
    ),
    row!(
        "HB-033",
        Must,
        Process,
        Nothing,
        semantics::status_gauge,
        "heartbeat.emitter.status: int gauge, 0 while beating"
    ),
    row!(
        "HB-034",
        May,
        All,
        Nothing,
        semantics::offers_delta,
        "offers delta temporality"
    ),
    row!(
        "HB-035",
        Should,
        Heartbeat,
        Nothing,
        semantics::heavy_hitter,
        "a heavy tenant past the limit gets its own series; totals stay exact"
    ),
    // Heartbeat timing
    row!(
        "HB-040",
        Must,
        Heartbeat,
        Nothing,
        timing::cadence,
        "beats at the configured cadence"
    ),
    row!(
        "HB-041",
        Must,
        Heartbeat,
        Nothing,
        timing::no_drift,
        "no drift: beats stay on the start + n x cadence grid"
    ),
    row!(
        "HB-042",
        Must,
        Heartbeat,
        Nothing,
        timing::jitter_bound,
        "each beat within [tick, tick + jitter]"
    ),
    row!(
        "HB-043",
        Should,
        Process,
        Nothing,
        timing::jitter_applied,
        "the configured jitter is applied"
    ),
    row!(
        "HB-044",
        Must,
        Heartbeat,
        Nothing,
        timing::latency_interval,
        "a beat is on the wire within one export interval"
    ),
    row!(
        "HB-045",
        Should,
        Heartbeat,
        Nothing,
        timing::latency_at_once,
        "a beat is exported at once, whatever the export interval"
    ),
    row!(
        "HB-046",
        Must,
        Browser,
        Visibility,
        timing::hidden_page,
        "no beats while hidden; resumes on the grid without a burst"
    ),
    row!(
        "HB-047",
        Must,
        Process,
        Nothing,
        timing::stop_signal,
        "an intentional stop exports status 2"
    ),
    row!(
        "HB-048",
        Must,
        Heartbeat,
        Nothing,
        timing::silence_on_kill,
        "nothing is sent after a kill"
    ),
    row!(
        "HB-049",
        Should,
        Heartbeat,
        Stall,
        timing::stall,
        "after a stall: one beat, no burst, back on the grid"
    ),
    // Faults
    row!(
        "HB-060",
        Must,
        All,
        Nothing,
        faults::retryable_delivered,
        "retryable answers: the data is delivered later"
    ),
    row!(
        "HB-061",
        Must,
        All,
        Http,
        faults::http_not_retried,
        "non-retryable HTTP answers are not retried"
    ),
    row!(
        "HB-062",
        Should,
        All,
        GRPC,
        faults::grpc_not_retried,
        "non-retryable gRPC codes are not retried"
    ),
    row!(
        "HB-063",
        Should,
        All,
        GRPC,
        faults::resource_exhausted,
        "RESOURCE_EXHAUSTED without RetryInfo is not retried"
    ),
    row!(
        "HB-064",
        Should,
        All,
        Http,
        faults::retry_after,
        "Retry-After is honoured"
    ),
    row!(
        "HB-065",
        Should,
        All,
        GRPC,
        faults::retry_info,
        "RetryInfo is honoured"
    ),
    row!(
        "HB-066",
        Should,
        All,
        Nothing,
        faults::backoff,
        "exponential backoff with jitter"
    ),
    row!(
        "HB-067",
        Must,
        All,
        Nothing,
        faults::partial_success,
        "a partial success is not retried"
    ),
    row!(
        "HB-068",
        Must,
        All,
        Nothing,
        faults::outage,
        "no count lost across an outage"
    ),
    row!(
        "HB-069",
        Must,
        All,
        Nothing,
        faults::hung_collector,
        "a collector that never answers: timeouts, then delivery"
    ),
    row!(
        "HB-070",
        Must,
        All,
        Nothing,
        faults::bounded_memory,
        "memory bounded while the collector is down"
    ),
    row!(
        "HB-071",
        Must,
        All,
        Nothing,
        faults::shutdown_flush,
        "a graceful shutdown exports what was recorded"
    ),
    row!(
        "HB-072",
        Must,
        All,
        Env,
        faults::shutdown_deadline,
        "shutdown returns within its deadline against a hung collector"
    ),
    // Detection
    row!(
        "HB-080",
        Must,
        Heartbeat,
        Nothing,
        detection::dead,
        "after a kill the dead-man rule fires in bound: process_down"
    ),
    row!(
        "HB-081",
        Must,
        Heartbeat,
        CUMULATIVE,
        detection::lossy,
        "a pipeline dropping exports is lossy_pipeline"
    ),
    row!(
        "HB-082",
        Must,
        Heartbeat,
        Nothing,
        detection::restart,
        "a crash and a new instance is restart"
    ),
    row!(
        "HB-083",
        Must,
        Process,
        Nothing,
        detection::planned_stop,
        "an intentional stop does not page"
    ),
    // Receiver
    row!(
        "HB-090",
        Must,
        Receiver,
        Nothing,
        receiver::json_integers,
        "the watch accepts 64-bit integers as strings and numbers"
    ),
    row!(
        "HB-091",
        Must,
        Receiver,
        Nothing,
        receiver::gzip_bodies,
        "the watch accepts gzip protobuf and JSON bodies"
    ),
];

/// The case table, in `SPEC.md` order.
pub fn cases() -> &'static [Case] {
    &CASES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::spec_rows;
    use std::collections::BTreeSet;

    #[test]
    fn every_spec_requirement_has_exactly_one_case_and_every_case_a_requirement() {
        let spec = spec_rows().unwrap();
        let spec_ids: Vec<&str> = spec.iter().map(|r| r.id.as_str()).collect();
        let case_ids: Vec<&str> = cases().iter().map(|c| c.id).collect();
        let unique: BTreeSet<&str> = case_ids.iter().copied().collect();
        assert_eq!(unique.len(), case_ids.len(), "a case id is repeated");
        let spec_set: BTreeSet<&str> = spec_ids.iter().copied().collect();
        assert_eq!(spec_set.len(), spec_ids.len(), "a SPEC.md id is repeated");
        let missing: Vec<&&str> = spec_set.difference(&unique).collect();
        let extra: Vec<&&str> = unique.difference(&spec_set).collect();
        assert!(
            missing.is_empty(),
            "SPEC.md ids without a case: {missing:?}"
        );
        assert!(extra.is_empty(), "cases without a SPEC.md id: {extra:?}");
        assert_eq!(spec_ids, case_ids, "the table is not in SPEC.md order");
    }

    #[test]
    fn levels_and_scopes_agree_with_the_spec() {
        for row in spec_rows().unwrap() {
            let case = cases().iter().find(|c| c.id == row.id).unwrap();
            assert_eq!(case.level, row.level, "{}", row.id);
            assert_eq!(case.scope, row.scope, "{}", row.id);
        }
    }

    #[test]
    fn the_spec_has_musts_shoulds_and_mays() {
        let rows = spec_rows().unwrap();
        for level in [Level::Must, Level::Should, Level::May] {
            assert!(rows.iter().any(|r| r.level == level), "no {level}");
        }
    }
}
