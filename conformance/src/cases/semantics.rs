//! Semantics: the names, units and attributes of `docs/semantic-conventions.md`, and the
//! invariants of sums over time (HB-020 to HB-034).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::scenarios::run;
use super::scenarios::{
    BAD_TENANT, BASIC_EVENTS, BASIC_FINAL, BASIC_SUCCESSES, basic, basic_in, delta, restart,
};
use crate::ctx::{BEATS, Ctx, EMITTER, OUTCOME, OUTCOMES, REASON, STATUS, SURFACE, success_total};
use crate::spec::Verdict;
use crate::target::Temporality;
use heartbeat_testkit::{self as kit, Kind, Point, PointValue};

const RESERVED: [&str; 4] = ["unspecified", "abandoned", "panicked", "other"];

fn outcome_points(points: &[Point]) -> impl Iterator<Item = &Point> {
    points.iter().filter(|p| {
        p.metric == OUTCOMES
            && p.attributes.get("heartbeat.outcome").map(String::as_str) == Some(OUTCOME)
    })
}

fn hex128(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(crate) async fn resource(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, ctx.info.primary()).await);
    let mut seen = BTreeSet::new();
    for p in &b.recording.points {
        let get = |k: &str| p.resource.get(k).map(String::as_str).unwrap_or("");
        let id = get("service.instance.id");
        if !hex128(id) {
            return Verdict::fail(format!(
                "request #{}: service.instance.id {id:?} is not 32 lowercase hex digits",
                p.seq
            ));
        }
        for k in [
            "telemetry.sdk.name",
            "telemetry.sdk.language",
            "telemetry.sdk.version",
        ] {
            if get(k).is_empty() {
                return Verdict::fail(format!(
                    "request #{}: resource attribute {k} is missing",
                    p.seq
                ));
            }
        }
        seen.insert(format!(
            "{} {} {}",
            get("telemetry.sdk.name"),
            get("telemetry.sdk.language"),
            get("telemetry.sdk.version")
        ));
    }
    Verdict::when(
        !seen.is_empty(),
        format!(
            "instance id on every resource; SDK {}",
            seen.into_iter().collect::<Vec<_>>().join(", ")
        ),
    )
}

pub(crate) async fn outcomes_shape(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, ctx.info.primary()).await);
    let mut n = 0;
    for p in b.recording.points.iter().filter(|p| p.metric == OUTCOMES) {
        n += 1;
        let problem = if !matches!(
            p.kind,
            Kind::Sum {
                monotonic: true,
                ..
            }
        ) {
            Some(format!("is {:?}, not a monotonic Sum", p.kind))
        } else if !matches!(p.value, PointValue::Int(_)) {
            Some(format!("has value {:?}, not asInt", p.value))
        } else if p.unit != "{outcome}" {
            Some(format!("has unit {:?}", p.unit))
        } else if p.scope != "heartbeat" {
            Some(format!("is in scope {:?}", p.scope))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Verdict::fail(format!("request #{}: heartbeat.outcomes {problem}", p.seq));
        }
    }
    Verdict::when(
        n > 0,
        format!("{n} points: monotonic Sum, asInt, {{outcome}}, scope heartbeat"),
    )
}

fn valid_outcome_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.len() <= 255
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
}

pub(crate) async fn outcome_attributes(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, ctx.info.primary()).await);
    let mut tenants = BTreeSet::new();
    let mut n = 0;
    for p in b.recording.points.iter().filter(|p| p.metric == OUTCOMES) {
        n += 1;
        let a = &p.attributes;
        let get = |k: &str| a.get(k).map(String::as_str);
        let problem = match (
            get("heartbeat.outcome"),
            get("heartbeat.result"),
            get("heartbeat.reason"),
        ) {
            (None, _, _) => Some("has no heartbeat.outcome".to_owned()),
            (Some(o), _, _) if !valid_outcome_name(o) => Some(format!("has outcome name {o:?}")),
            (_, Some("success"), Some(r)) => Some(format!("is a success with reason {r:?}")),
            (_, Some("failure"), None) => Some("is a failure without heartbeat.reason".to_owned()),
            (_, Some("success" | "failure"), _) => a
                .keys()
                .find(|k| {
                    k.starts_with("heartbeat.")
                        && ![
                            "heartbeat.outcome",
                            "heartbeat.result",
                            "heartbeat.reason",
                            "heartbeat.tenant",
                        ]
                        .contains(&k.as_str())
                })
                .map(|k| format!("carries the reserved key {k}")),
            (_, r, _) => Some(format!("has heartbeat.result {r:?}")),
        };
        if let Some(problem) = problem {
            return Verdict::fail(format!("request #{}: a point {problem} ({a:?})", p.seq));
        }
        if let Some(t) = get("heartbeat.tenant") {
            tenants.insert(t.to_owned());
        }
    }
    let expected: BTreeSet<String> = ["acme", "globex", "_overflow"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    // The third tenant may have its own series once promoted as a heavy hitter (HB-035's rule:
    // its events outnumbered an admitted tenant's between two collections); HB-026 then checks
    // that its events before and after the promotion add up exactly.
    let mut promoted = expected.clone();
    promoted.insert("initech".to_owned());
    if tenants != expected && tenants != promoted {
        return Verdict::fail(format!(
            "tenant values {tenants:?}; the script recorded for acme, globex, then past the limit (_overflow, or initech once promoted as a heavy hitter)"
        ));
    }
    Verdict::pass(format!(
        "{n} points; reasons on failures only; tenants {tenants:?}"
    ))
}

pub(crate) async fn declared_at_zero(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, ctx.info.primary()).await);
    let Some(first) = outcome_points(&b.recording.points).map(|p| p.seq).min() else {
        return Verdict::fail("the declared outcome never arrived");
    };
    let in_first: Vec<&Point> = outcome_points(&b.recording.points)
        .filter(|p| p.seq == first && !p.attributes.contains_key("heartbeat.tenant"))
        .collect();
    let before_events = in_first.first().is_some_and(|p| p.at < b.recorded_at);
    let mut wanted: Vec<(&str, Option<&str>)> = vec![("success", None), ("failure", Some(REASON))];
    wanted.extend(RESERVED.iter().map(|r| ("failure", Some(*r))));
    for (result, reason) in &wanted {
        let found = in_first.iter().find(|p| {
            p.attributes.get("heartbeat.result").map(String::as_str) == Some(*result)
                && p.attributes.get("heartbeat.reason").map(String::as_str) == *reason
        });
        match found {
            None => {
                return Verdict::fail(format!(
                    "the first export of the outcome (request #{first}) lacks the series {result}{}",
                    reason.map(|r| format!("/{r}")).unwrap_or_default()
                ));
            }
            Some(p) if before_events && p.value != PointValue::Int(0) => {
                return Verdict::fail(format!(
                    "before any event, the series {result}{} is {:?}, not 0",
                    reason.map(|r| format!("/{r}")).unwrap_or_default(),
                    p.value
                ));
            }
            Some(_) => {}
        }
    }
    Verdict::pass(format!(
        "request #{first} carries success and failure/{{timeout, unspecified, abandoned, panicked, other}}{}",
        if before_events {
            ", all at 0 before any event"
        } else {
            ""
        }
    ))
}

fn outcome_total(points: &[Point], pairs: &[(&str, &str)], lacks: &[&str]) -> i64 {
    let mut filter = vec![("heartbeat.outcome", OUTCOME)];
    filter.extend_from_slice(pairs);
    kit::total(points, OUTCOMES, &filter, lacks)
}

pub(crate) async fn exactly_once(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, ctx.info.primary()).await);
    // What was recorded and flushed: the events recorded for the shutdown to export are
    // HB-071's, so that an emitter without a final export fails that row, not this one.
    let flushed: Vec<Point> = b
        .recording
        .points
        .iter()
        .filter(|p| p.at < b.flushed_at)
        .cloned()
        .collect();
    let p = &flushed;
    let last = BASIC_FINAL as i64;
    let checks = [
        ("successes", success_total(p), BASIC_SUCCESSES - last),
        (
            "failures/timeout",
            outcome_total(
                p,
                &[
                    ("heartbeat.result", "failure"),
                    ("heartbeat.reason", REASON),
                ],
                &["heartbeat.tenant"],
            ),
            2,
        ),
        (
            "acme successes",
            outcome_total(
                p,
                &[
                    ("heartbeat.tenant", "acme"),
                    ("heartbeat.result", "success"),
                ],
                &[],
            ),
            3,
        ),
        (
            "globex failures/timeout",
            outcome_total(
                p,
                &[("heartbeat.tenant", "globex"), ("heartbeat.reason", REASON)],
                &[],
            ),
            1,
        ),
        (
            "all events",
            outcome_total(p, &[], &[]),
            BASIC_EVENTS - last,
        ),
    ];
    let wrong: Vec<String> = checks
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(what, got, want)| format!("{what} {got} (recorded {want})"))
        .collect();
    if wrong.is_empty() {
        Verdict::pass(format!(
            "{} events recorded and flushed, every series exact (the {last} recorded for the shutdown to export are HB-071's)",
            BASIC_EVENTS - last
        ))
    } else {
        Verdict::fail(wrong.join("; "))
    }
}

pub(crate) async fn corrections(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, ctx.info.primary()).await);
    let p = &b.recording.points;
    let unspecified = outcome_total(
        p,
        &[("heartbeat.reason", "unspecified")],
        &["heartbeat.tenant"],
    );
    let other = outcome_total(p, &[("heartbeat.reason", "other")], &["heartbeat.tenant"]);
    let bad = outcome_total(
        p,
        &[
            ("heartbeat.tenant", "_overflow"),
            ("heartbeat.reason", "unspecified"),
        ],
        &[],
    );
    if let Some(x) = outcome_points(p).find(|x| {
        x.attributes.get("heartbeat.reason").map(String::as_str) == Some("undeclared_reason")
            || x.attributes.get("heartbeat.tenant").map(String::as_str) == Some(BAD_TENANT)
    }) {
        return Verdict::fail(format!(
            "request #{}: an uncorrected series {:?}",
            x.seq, x.attributes
        ));
    }
    Verdict::when(
        unspecified == 1 && other == 1 && bad == 1,
        format!(
            "unspecified {unspecified}/1, other (undeclared reason) {other}/1, invalid tenant in _overflow {bad}/1"
        ),
    )
}

pub(crate) async fn overflow(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, ctx.info.primary()).await);
    let p = &b.recording.points;
    for x in outcome_points(p)
        .filter(|x| x.attributes.get("heartbeat.tenant").map(String::as_str) == Some("_overflow"))
    {
        if x.attributes.get(SURFACE.0).map(String::as_str) != Some(SURFACE.1)
            || !x.attributes.contains_key("heartbeat.result")
        {
            return Verdict::fail(format!(
                "request #{}: an _overflow point lost its fixed attribute or result: {:?}",
                x.seq, x.attributes
            ));
        }
    }
    // Past the limit, initech's events count in _overflow; a heavy-hitter emitter may promote
    // it (HB-035's rule), and then its later events count in its own series. Either way its
    // 2 successes and 2 failures are all there, exactly once.
    let own = |pairs: &[(&str, &str)]| {
        let mut with = vec![("heartbeat.tenant", "initech")];
        with.extend_from_slice(pairs);
        outcome_total(p, &with, &[])
    };
    let ok = outcome_total(
        p,
        &[
            ("heartbeat.tenant", "_overflow"),
            ("heartbeat.result", "success"),
        ],
        &[],
    );
    let failed = outcome_total(
        p,
        &[
            ("heartbeat.tenant", "_overflow"),
            ("heartbeat.result", "failure"),
            ("heartbeat.reason", REASON),
            (SURFACE.0, SURFACE.1),
        ],
        &[],
    );
    let own_ok = own(&[("heartbeat.result", "success")]);
    let own_failed = own(&[
        ("heartbeat.result", "failure"),
        ("heartbeat.reason", REASON),
        (SURFACE.0, SURFACE.1),
    ]);
    let promoted = if own_ok + own_failed > 0 {
        format!(
            " (initech promoted as a heavy hitter: {own_ok} success and {own_failed} failure/timeout in its own series)"
        )
    } else {
        String::new()
    };
    Verdict::when(
        ok + own_ok == 2 && failed + own_failed == 2,
        format!(
            "past the limit: _overflow success {ok}/2, _overflow failure/timeout with surface {failed}/2{promoted}"
        ),
    )
}

/// Cumulative points grouped by series and start time, in time order.
fn cumulative_runs(points: &[Point]) -> HashMap<(String, u64), Vec<&Point>> {
    let mut runs: HashMap<(String, u64), Vec<&Point>> = HashMap::new();
    for p in points {
        if matches!(p.kind, Kind::Sum { temporality: 2, .. }) {
            runs.entry((p.series(), p.start)).or_default().push(p);
        }
    }
    for run in runs.values_mut() {
        run.sort_by_key(|p| (p.time, p.seq));
    }
    runs
}

fn as_f64(v: PointValue) -> f64 {
    match v {
        PointValue::Int(i) => i as f64,
        PointValue::Double(d) => d,
        PointValue::Missing => f64::NAN,
    }
}

pub(crate) async fn monotonic(ctx: Arc<Ctx>) -> Verdict {
    let forced = ctx.cumulative();
    let b = run!(basic_in(&ctx, ctx.info.primary(), forced).await);
    let r = run!(restart(&ctx, forced).await);
    let mut n = 0;
    for points in [&b.recording.points, &r.recording.points] {
        for (_, run) in cumulative_runs(points) {
            for w in run.windows(2) {
                n += 1;
                if as_f64(w[1].value) < as_f64(w[0].value) {
                    return Verdict::fail(format!(
                        "{} {:?} fell from {:?} (request #{}) to {:?} (request #{}) with the same start time",
                        w[1].metric, w[1].attributes, w[0].value, w[0].seq, w[1].value, w[1].seq
                    ));
                }
            }
        }
    }
    if n == 0 {
        return Verdict::fail(format!(
            "no cumulative sum arrived twice for one series and start time{}",
            asked(forced)
        ));
    }
    Verdict::pass(format!(
        "{n} consecutive cumulative point pairs, none decreasing{}",
        asked(forced)
    ))
}

/// How the emitter was configured for a cumulative-only row.
fn asked(forced: Option<Temporality>) -> &'static str {
    match forced {
        Some(_) => " (asked for cumulative temporality, its default being delta)",
        None => " (its default temporality, cumulative)",
    }
}

pub(crate) async fn start_stable(ctx: Arc<Ctx>) -> Verdict {
    let forced = ctx.cumulative();
    let b = run!(basic_in(&ctx, ctx.info.primary(), forced).await);
    let mut starts: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for p in b
        .recording
        .points
        .iter()
        .filter(|p| matches!(p.kind, Kind::Sum { temporality: 2, .. }))
    {
        starts.entry(p.series()).or_default().insert(p.start);
    }
    if let Some((series, s)) = starts.iter().find(|(_, s)| s.len() > 1) {
        return Verdict::fail(format!(
            "{} start times for one series within one process: {series}",
            s.len()
        ));
    }
    if starts.is_empty() {
        return Verdict::fail(format!("no cumulative sum arrived{}", asked(forced)));
    }
    Verdict::pass(format!(
        "{} cumulative series, one start time each{}",
        starts.len(),
        asked(forced)
    ))
}

fn instances(points: &[Point]) -> BTreeSet<String> {
    points
        .iter()
        .filter_map(|p| p.resource.get("service.instance.id").cloned())
        .collect()
}

pub(crate) async fn restart_start(ctx: Arc<Ctx>) -> Verdict {
    let r = run!(restart(&ctx, ctx.cumulative()).await);
    let (first, second): (Vec<Point>, Vec<Point>) = r
        .recording
        .points
        .iter()
        .cloned()
        .partition(|p| p.seq < r.second_from);
    let success = |points: &[Point]| -> Vec<Point> {
        points
            .iter()
            .filter(|p| {
                p.metric == OUTCOMES
                    && p.attributes.get("heartbeat.result").map(String::as_str) == Some("success")
                    && !p.attributes.contains_key("heartbeat.tenant")
            })
            .cloned()
            .collect()
    };
    let (a, b) = (success(&first), success(&second));
    let (Some(a_start), Some(b_start)) = (
        a.iter().map(|p| p.start).max(),
        b.iter().map(|p| p.start).min(),
    ) else {
        return Verdict::fail("the success series is missing before or after the restart");
    };
    if b_start <= a_start {
        return Verdict::fail(format!(
            "after the restart the start time is {b_start}, not later than before ({a_start})"
        ));
    }
    let after = success_total(&second);
    Verdict::when(
        after == 2,
        format!(
            "start time moved on by {} ms; the new process counts {after}/2 from zero",
            (b_start - a_start) / 1_000_000
        ),
    )
}

pub(crate) async fn restart_instance(ctx: Arc<Ctx>) -> Verdict {
    let r = run!(restart(&ctx, None).await);
    let (first, second): (Vec<Point>, Vec<Point>) = r
        .recording
        .points
        .iter()
        .cloned()
        .partition(|p| p.seq < r.second_from);
    let (a, b) = (instances(&first), instances(&second));
    if a.len() != 1 || b.len() != 1 {
        return Verdict::fail(format!(
            "instance ids before {a:?} and after {b:?} the restart: want one each"
        ));
    }
    Verdict::when(a != b, format!("{a:?} then {b:?}"))
}

pub(crate) async fn delta_chain(ctx: Arc<Ctx>) -> Verdict {
    let d = run!(delta(&ctx).await);
    let mut series: HashMap<String, Vec<&Point>> = HashMap::new();
    for p in d.points.iter().filter(|p| p.is_delta()) {
        series.entry(p.series()).or_default().push(p);
    }
    if series.is_empty() {
        return Verdict::fail("asked for delta temporality, no delta sum arrived");
    }
    let (mut links, mut gaps) = (0, 0);
    for points in series.values_mut() {
        points.sort_by_key(|p| (p.time, p.seq));
        points.dedup_by_key(|p| (p.start, p.time));
        for p in points.iter() {
            if p.start > p.time {
                return Verdict::fail(format!(
                    "request #{}: start {} is after time {}",
                    p.seq, p.start, p.time
                ));
            }
        }
        for w in points.windows(2) {
            links += 1;
            if w[1].start < w[0].time {
                return Verdict::fail(format!(
                    "{} {:?}: request #{} starts at {}, before the previous point (request #{}) ended at {}: an overlap",
                    w[1].metric, w[1].attributes, w[1].seq, w[1].start, w[0].seq, w[0].time
                ));
            }
            if w[1].start > w[0].time {
                gaps += 1;
            }
        }
    }
    // An interval left out is fine when nothing was recorded in it: the totals say.
    let total = success_total(&d.points);
    Verdict::when(
        total == 9,
        format!(
            "{} delta series, {links} links, none overlapping, {gaps} intervals left out; successes {total}/9",
            series.len()
        ),
    )
}

pub(crate) async fn beats_shape(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, ctx.info.primary()).await);
    let beats: Vec<&Point> = b
        .recording
        .points
        .iter()
        .filter(|p| p.metric == BEATS)
        .collect();
    for p in &beats {
        let problem = if !matches!(
            p.kind,
            Kind::Sum {
                monotonic: true,
                ..
            }
        ) {
            Some(format!("is {:?}, not a monotonic Sum", p.kind))
        } else if !matches!(p.value, PointValue::Int(v) if v >= 0) {
            Some(format!("has value {:?}", p.value))
        } else if p.unit != "{beat}" {
            Some(format!("has unit {:?}", p.unit))
        } else if p.attributes.get("heartbeat.emitter").map(String::as_str) != Some(EMITTER) {
            Some(format!("has attributes {:?}", p.attributes))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Verdict::fail(format!("request #{}: heartbeat.beats {problem}", p.seq));
        }
    }
    let total = kit::total(
        &b.recording.points,
        BEATS,
        &[("heartbeat.emitter", EMITTER)],
        &[],
    );
    Verdict::when(
        total >= 2,
        format!(
            "{} points, {total} beats counted while the basic scenario ran",
            beats.len()
        ),
    )
}

pub(crate) async fn status_gauge(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, ctx.info.primary()).await);
    let status: Vec<&Point> = b
        .recording
        .points
        .iter()
        .filter(|p| {
            p.metric == STATUS
                && p.attributes.get("heartbeat.emitter").map(String::as_str) == Some(EMITTER)
        })
        .collect();
    if let Some(p) = status
        .iter()
        .find(|p| p.kind != Kind::Gauge || !matches!(p.value, PointValue::Int(_)))
    {
        return Verdict::fail(format!(
            "request #{}: heartbeat.emitter.status is {:?} {:?}",
            p.seq, p.kind, p.value
        ));
    }
    let beating = status
        .iter()
        .filter(|p| p.value == PointValue::Int(0))
        .count();
    Verdict::when(
        beating > 0,
        format!("{} status points, {beating} at 0 (beating)", status.len()),
    )
}

pub(crate) async fn offers_delta(ctx: Arc<Ctx>) -> Verdict {
    if !ctx.info.temporalities.contains(&Temporality::Delta) {
        return Verdict::na("delta temporality is not offered (MAY)");
    }
    let d = run!(delta(&ctx).await);
    let deltas = d
        .points
        .iter()
        .filter(|p| p.metric == OUTCOMES && p.is_delta())
        .count();
    let total = success_total(&d.points);
    Verdict::when(
        deltas > 0 && total == 9,
        format!("{deltas} delta outcome points, successes {total}/9"),
    )
}

/// Events in the heavy-hitter scenario: one each for the two admitted tenants, then a large
/// tenant past the limit before and after its promotion.
const HEAVY_BEFORE: u64 = 20;
const HEAVY_AFTER: u64 = 5;
const HEAVY_TENANT: &str = "whale";

/// Per tenant (with `_overflow`), what the points say was counted: the last value of each
/// cumulative series and start time, plus every delta.
fn tenant_totals(points: &[Point]) -> BTreeMap<String, f64> {
    let mut last: HashMap<(String, u64), (u64, usize, String, f64)> = HashMap::new();
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for p in outcome_points(points).filter(|p| p.accepted) {
        let Some(tenant) = p.attributes.get("heartbeat.tenant") else {
            continue;
        };
        if p.is_delta() {
            *totals.entry(tenant.clone()).or_default() += as_f64(p.value);
        } else {
            let slot = last
                .entry((p.series(), p.start))
                .or_insert((0, 0, tenant.clone(), 0.0));
            if (p.time, p.seq) >= (slot.0, slot.1) {
                *slot = (p.time, p.seq, tenant.clone(), as_f64(p.value));
            }
        }
    }
    for (_, _, tenant, value) in last.into_values() {
        *totals.entry(tenant).or_default() += value;
    }
    totals
}

pub(crate) async fn heavy_hitter(ctx: Arc<Ctx>) -> Verdict {
    use crate::target::ResultKind::Success;
    let r = run!(
        ctx.memo("heavy-hitter", async {
            let _slot = ctx.slot().await;
            let mut s = ctx
                .session("heavy-hitter", ctx.info.primary(), |c| {
                    c.tenant_limit = Some(2)
                })
                .await?;
            s.declare().await?;
            s.record(Success, None, Some("acme"), 1).await?;
            s.record(Success, None, Some("globex"), 1).await?;
            s.flush().await?;
            // Past the limit: the large tenant counts in _overflow until it is admitted.
            s.record(Success, None, Some(HEAVY_TENANT), HEAVY_BEFORE)
                .await?;
            s.flush().await?;
            s.record(Success, None, Some(HEAVY_TENANT), HEAVY_AFTER)
                .await?;
            s.flush().await?;
            s.shutdown().await?;
            Ok(kit::points(&s.rx.requests()))
        })
        .await
    );
    let totals = tenant_totals(&r);
    let recorded = 2 + HEAVY_BEFORE + HEAVY_AFTER;
    let counted: f64 = totals.values().sum();
    let own = totals.get(HEAVY_TENANT).copied().unwrap_or(0.0);
    let shown = totals
        .iter()
        .map(|(t, v)| format!("{t} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    if (counted - recorded as f64).abs() > f64::EPSILON {
        return Verdict::fail(format!(
            "the tenant series and _overflow add up to {counted}, {recorded} were recorded ({shown})"
        ));
    }
    Verdict::when(
        own >= HEAVY_AFTER as f64,
        format!(
            "a tenant with {HEAVY_BEFORE} events past a limit of 2 (the admitted ones had 1 each) \
             then {HEAVY_AFTER} more: {own} in its own series; totals exact ({shown})"
        ),
    )
}
