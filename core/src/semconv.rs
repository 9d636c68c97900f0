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
/// The `heartbeat.tenant` value of the overflow series: tenants past the limit and invalid ids.
pub const OVERFLOW_TENANT: &str = "_overflow";
/// The instrumentation scope name of everything the SDK emits.
pub const SCOPE_NAME: &str = "heartbeat";
/// The resource attribute carrying the process instance id (a random id per start).
pub const RESOURCE_INSTANCE_ID: &str = "service.instance.id";

/// The dead-man beat counter: a monotonic sum of beats, one series per emitter.
pub const METRIC_BEATS: &str = "heartbeat.beats";
/// The UCUM unit of [`METRIC_BEATS`].
pub const UNIT_BEATS: &str = "{beat}";
/// The dead-man emitter name, on every emitter metric.
pub const ATTR_EMITTER: &str = "heartbeat.emitter";
/// The dead-man emitter state gauge: `0` beating, `1` failing (with [`ATTR_REASON`]), `2`
/// stopped on purpose.
pub const METRIC_EMITTER_STATUS: &str = "heartbeat.emitter.status";
/// [`METRIC_EMITTER_STATUS`] value: beating.
pub const STATUS_BEATING: i64 = 0;
/// [`METRIC_EMITTER_STATUS`] value: the health gate failed; beats are held.
pub const STATUS_FAILING: i64 = 1;
/// [`METRIC_EMITTER_STATUS`] value: stopped on purpose (a graceful shutdown): do not page.
pub const STATUS_STOPPED: i64 = 2;
/// Self-health: exports by [`ATTR_RESULT`] (`success`/`failure`) and, on failures,
/// [`ATTR_REASON`] (`error` or `timeout`).
pub const METRIC_SDK_EXPORTS: &str = "heartbeat.sdk.exports";
/// Self-health: seconds since the last successful export (since start before the first).
pub const METRIC_SDK_EXPORT_AGE: &str = "heartbeat.sdk.export.last_success_age";
/// Self-health: pings to the external channel by [`ATTR_EMITTER`], [`ATTR_RESULT`]
/// (`success`/`failure`/`skipped`) and [`ATTR_REASON`].
pub const METRIC_SDK_PINGS: &str = "heartbeat.sdk.pings";
/// Self-health: ticks an emitter skipped because it woke too late for them (a stall).
pub const METRIC_SDK_TICKS_SKIPPED: &str = "heartbeat.sdk.ticks.skipped";
/// Self-health: recorded events whose input the SDK corrected, by [`ATTR_REASON`]
/// (`invalid_tenant`, `overflowed_tenant`, `undeclared_reason`); every one was still counted.
pub const METRIC_SDK_INPUTS_CORRECTED: &str = "heartbeat.sdk.inputs.corrected";
