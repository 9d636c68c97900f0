//! The wire contract: metric names, units and attribute keys, as documented in
//! `docs/semantic-conventions.md`. Receivers, generated rules and the conformance suite use
//! these same constants.

/// The outcome counter: a monotonic sum of customer jobs, one series per outcome, result and
/// reason (and tenant on the drill-down path).
pub const METRIC_OUTCOMES: &str = "heartbeat.outcomes";
/// The UCUM unit of [`METRIC_OUTCOMES`].
pub const UNIT_OUTCOMES: &str = "{outcome}";
/// The outcome name.
pub const ATTR_OUTCOME: &str = "heartbeat.outcome";
/// `"success"` or `"failure"`.
pub const ATTR_RESULT: &str = "heartbeat.result";
/// The failure reason, on failures only.
pub const ATTR_REASON: &str = "heartbeat.reason";
/// The tenant (customer) on the drill-down path; `"_overflow"` past the cardinality limit.
pub const ATTR_TENANT: &str = "heartbeat.tenant";
/// The instrumentation scope name of everything the SDK emits.
pub const SCOPE_NAME: &str = "heartbeat";
/// The resource attribute carrying the process instance id (a random id per start).
pub const RESOURCE_INSTANCE_ID: &str = "service.instance.id";
