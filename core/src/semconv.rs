//! The wire contract: metric names, units, descriptions, attribute keys and reserved values,
//! as documented in `docs/semantic-conventions.md`. Emitters (native and browser), receivers,
//! generated rules and the conformance suite use these same constants.

/// The outcome counter: a monotonic sum of customer jobs, one series per outcome, result and
/// reason (and tenant on the drill-down path).
pub const METRIC_OUTCOMES: &str = "heartbeat.outcomes";
/// The UCUM unit of [`METRIC_OUTCOMES`].
pub const UNIT_OUTCOMES: &str = "{outcome}";
/// The description of [`METRIC_OUTCOMES`].
pub const DESCRIPTION_OUTCOMES: &str = "Customer jobs done (success) or not done (failure)";
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
/// The description of [`METRIC_BEATS`].
pub const DESCRIPTION_BEATS: &str =
    "Dead-man beats sent, cumulative per emitter: a rate watchdog pages when it stops rising.";
/// The dead-man emitter name, on every emitter metric.
pub const ATTR_EMITTER: &str = "heartbeat.emitter";
/// The dead-man emitter state gauge: `0` beating, `1` failing (with [`ATTR_REASON`]), `2`
/// stopped on purpose.
pub const METRIC_EMITTER_STATUS: &str = "heartbeat.emitter.status";
/// The description of [`METRIC_EMITTER_STATUS`] (a gauge without a unit).
pub const DESCRIPTION_EMITTER_STATUS: &str =
    "Dead-man emitter state: 0 beating, 1 failing (with heartbeat.reason), 2 stopped on purpose.";
/// [`METRIC_EMITTER_STATUS`] value: beating.
pub const STATUS_BEATING: i64 = 0;
/// [`METRIC_EMITTER_STATUS`] value: the health gate failed; beats are held.
pub const STATUS_FAILING: i64 = 1;
/// [`METRIC_EMITTER_STATUS`] value: stopped on purpose (a graceful shutdown): do not page.
pub const STATUS_STOPPED: i64 = 2;
/// Self-health: exports by [`ATTR_RESULT`] (`success`/`failure`) and, on failures,
/// [`ATTR_REASON`] (`error` or `timeout`).
pub const METRIC_SDK_EXPORTS: &str = "heartbeat.sdk.exports";
/// The UCUM unit of [`METRIC_SDK_EXPORTS`].
pub const UNIT_SDK_EXPORTS: &str = "{export}";
/// The description of [`METRIC_SDK_EXPORTS`].
pub const DESCRIPTION_SDK_EXPORTS: &str = "OTLP exports by result, and failures by reason (timeout, dns, connect, tls, http_4xx, http_5xx, error).";
/// Self-health: seconds since the last successful export (since start before the first).
pub const METRIC_SDK_EXPORT_AGE: &str = "heartbeat.sdk.export.last_success_age";
/// The UCUM unit of [`METRIC_SDK_EXPORT_AGE`] (a gauge).
pub const UNIT_SDK_EXPORT_AGE: &str = "s";
/// The description of [`METRIC_SDK_EXPORT_AGE`].
pub const DESCRIPTION_SDK_EXPORT_AGE: &str =
    "Seconds since the last successful export (since start before the first).";
/// Self-health: pings to the external channel by [`ATTR_EMITTER`], [`ATTR_RESULT`]
/// (`success`/`failure`/`skipped`) and [`ATTR_REASON`].
pub const METRIC_SDK_PINGS: &str = "heartbeat.sdk.pings";
/// The UCUM unit of [`METRIC_SDK_PINGS`].
pub const UNIT_SDK_PINGS: &str = "{ping}";
/// The description of [`METRIC_SDK_PINGS`].
pub const DESCRIPTION_SDK_PINGS: &str =
    "Pings to the external channel: delivered, failed by reason, skipped while one was in flight.";
/// Self-health: ticks an emitter skipped because it woke too late for them (a stall).
pub const METRIC_SDK_TICKS_SKIPPED: &str = "heartbeat.sdk.ticks.skipped";
/// The UCUM unit of [`METRIC_SDK_TICKS_SKIPPED`].
pub const UNIT_SDK_TICKS_SKIPPED: &str = "{tick}";
/// The description of [`METRIC_SDK_TICKS_SKIPPED`].
pub const DESCRIPTION_SDK_TICKS_SKIPPED: &str =
    "Ticks an emitter skipped because it woke after them (a stalled process or runtime).";
/// Self-health: recorded events whose input the SDK corrected, by [`ATTR_REASON`]
/// (`invalid_tenant`, `overflowed_tenant`, `undeclared_reason`); every one was still counted.
pub const METRIC_SDK_INPUTS_CORRECTED: &str = "heartbeat.sdk.inputs.corrected";
/// The UCUM unit of [`METRIC_SDK_INPUTS_CORRECTED`].
pub const UNIT_SDK_INPUTS_CORRECTED: &str = "{event}";
/// The description of [`METRIC_SDK_INPUTS_CORRECTED`].
pub const DESCRIPTION_SDK_INPUTS_CORRECTED: &str =
    "Recorded events whose input was corrected (and still counted).";

/// The failure reason of a plain failure (no reason given).
pub const REASON_UNSPECIFIED: &str = "unspecified";
/// The failure reason of a started job dropped without being resolved.
pub const REASON_ABANDONED: &str = "abandoned";
/// The failure reason of a started job dropped while its thread panics.
pub const REASON_PANICKED: &str = "panicked";
/// The failure reason recorded when a reason outside the declared set is given.
pub const REASON_OTHER: &str = "other";
/// The reasons every outcome has, in this order before its declared ones.
pub const RESERVED_REASONS: [&str; 4] = [
    REASON_UNSPECIFIED,
    REASON_ABANDONED,
    REASON_PANICKED,
    REASON_OTHER,
];

/// The attribute namespace Heartbeat reserves for itself: a fixed attribute or a rule filter
/// cannot use a key under it.
pub const RESERVED_PREFIX: &str = "heartbeat.";

// The watch's own metrics (its self-heartbeat, `[self_heartbeat]` in the rule file).

/// Data points the watch's receiver accepted (counter).
pub const METRIC_WATCH_POINTS: &str = "heartbeat.watch.points";
/// The unit of [`METRIC_WATCH_POINTS`].
pub const UNIT_WATCH_POINTS: &str = "{point}";
/// The description of [`METRIC_WATCH_POINTS`].
pub const DESCRIPTION_WATCH_POINTS: &str = "Data points the watch's receiver accepted";
/// Export requests waiting in the watch's ingest queue (gauge).
pub const METRIC_WATCH_QUEUE_DEPTH: &str = "heartbeat.watch.queue.depth";
/// The unit of [`METRIC_WATCH_QUEUE_DEPTH`].
pub const UNIT_WATCH_QUEUE_DEPTH: &str = "{request}";
/// The description of [`METRIC_WATCH_QUEUE_DEPTH`].
pub const DESCRIPTION_WATCH_QUEUE_DEPTH: &str = "Export requests in the watch's ingest queue";
/// How long the judge's last tick took (gauge).
pub const METRIC_WATCH_TICK_DURATION: &str = "heartbeat.watch.tick.duration";
/// The unit of [`METRIC_WATCH_TICK_DURATION`].
pub const UNIT_WATCH_TICK_DURATION: &str = "us";
/// The description of [`METRIC_WATCH_TICK_DURATION`].
pub const DESCRIPTION_WATCH_TICK_DURATION: &str = "How long the judge's last tick took";
/// Time since the judge's last committed tick (gauge).
pub const METRIC_WATCH_TICK_AGE: &str = "heartbeat.watch.tick.age";
/// The unit of [`METRIC_WATCH_TICK_AGE`].
pub const UNIT_WATCH_TICK_AGE: &str = "ms";
/// The description of [`METRIC_WATCH_TICK_AGE`].
pub const DESCRIPTION_WATCH_TICK_AGE: &str = "Time since the judge's last committed tick";
/// How late the judge's last tick started (gauge).
pub const METRIC_WATCH_TICK_LAG: &str = "heartbeat.watch.tick.lag";
/// The unit of [`METRIC_WATCH_TICK_LAG`].
pub const UNIT_WATCH_TICK_LAG: &str = "ms";
/// The description of [`METRIC_WATCH_TICK_LAG`].
pub const DESCRIPTION_WATCH_TICK_LAG: &str = "How late the judge's last tick started";
/// Alerts firing now (gauge).
pub const METRIC_WATCH_ALERTS_OPEN: &str = "heartbeat.watch.alerts.open";
/// The unit of [`METRIC_WATCH_ALERTS_OPEN`].
pub const UNIT_WATCH_ALERTS_OPEN: &str = "{alert}";
/// The description of [`METRIC_WATCH_ALERTS_OPEN`].
pub const DESCRIPTION_WATCH_ALERTS_OPEN: &str = "Alerts firing now";
/// Ticks whose state could not be committed (counter).
pub const METRIC_WATCH_COMMIT_FAILURES: &str = "heartbeat.watch.commit.failures";
/// The unit of [`METRIC_WATCH_COMMIT_FAILURES`].
pub const UNIT_WATCH_COMMIT_FAILURES: &str = "{tick}";
/// The description of [`METRIC_WATCH_COMMIT_FAILURES`].
pub const DESCRIPTION_WATCH_COMMIT_FAILURES: &str = "Ticks whose state could not be committed";
/// Alert deliveries that failed after their retries, or were dropped (counter).
pub const METRIC_WATCH_DELIVERIES_FAILED: &str = "heartbeat.watch.deliveries.failed";
/// The unit of [`METRIC_WATCH_DELIVERIES_FAILED`].
pub const UNIT_WATCH_DELIVERIES_FAILED: &str = "{delivery}";
/// The description of [`METRIC_WATCH_DELIVERIES_FAILED`].
pub const DESCRIPTION_WATCH_DELIVERIES_FAILED: &str =
    "Alert deliveries that failed after their retries, or were dropped";
