//! `GET /api/history` and `GET /api/sla/burn`: what the console's charts draw, read from the
//! history SQLite keeps (`watch.history`, 7 days by default).

use std::collections::BTreeMap;
use std::time::Duration;

use heartbeat::semconv::{ATTR_EMITTER, ATTR_TENANT};
use serde_json::{Value, json};

use super::query::{Query, QueryError};
use crate::clock::{month_bounds, month_of, ms};
use crate::receiver::Shared;
use crate::report::Month;
use crate::state::SlotState;

/// Groups returned by a split, at most.
const MAX_GROUPS: usize = 20;
/// Points of a burn-down chart, at most (slots are summed into buckets past it).
const MAX_BURN_POINTS: usize = 720;

fn unavailable(e: impl std::fmt::Display) -> QueryError {
    QueryError::Unavailable(format!("the state database could not be read: {e}"))
}

/// The range parameter: `15m`, `1h`, `7d`... at most the history kept.
fn range(q: &Query, shared: &Shared) -> Result<i64, QueryError> {
    let keep = shared.rules.watch.history;
    let Some(text) = q.get("range") else {
        return Ok(ms(Duration::from_secs(3600).min(keep)));
    };
    let d = crate::rulefile::parse_duration(text).map_err(|e| QueryError::Invalid {
        name: "range".to_owned(),
        value: text.to_owned(),
        why: format!("{e} (e.g. 15m, 1h, 6h, 24h, 7d)"),
    })?;
    if d.is_zero() || d > keep {
        return Err(QueryError::Invalid {
            name: "range".to_owned(),
            value: text.to_owned(),
            why: format!(
                "must be longer than 0s and at most the history kept ({})",
                crate::rulefile::DisplayDuration(keep)
            ),
        });
    }
    Ok(ms(d))
}

/// The closed windows of `window` in the `range_ms` before `now`: `(window, from, to, starts)`.
fn windows(window: Duration, now: i64, range_ms: i64) -> (i64, i64, i64, Vec<i64>) {
    let window = ms(window).max(1);
    let to = now.div_euclid(window) * window;
    let from = (to - range_ms).div_euclid(window) * window;
    let t = (0..)
        .map(|i| from + i * window)
        .take_while(|&s| s < to)
        .collect();
    (window, from, to, t)
}

/// `rule` (required), `range`, `by` (`tenant` or an attribute key such as `surface`), `tenant`
/// (one tenant's windows instead of the rule's totals).
pub(crate) fn history(query: &str, shared: &Shared) -> Result<Value, QueryError> {
    let q = Query::parse(query, &["rule", "range", "by", "tenant"])?;
    let tenant = match q.get("tenant") {
        None => None,
        Some(t) if !t.is_empty() && t.len() <= 256 && !t.chars().any(char::is_control) => Some(t),
        Some(t) => {
            return Err(QueryError::Invalid {
                name: "tenant".to_owned(),
                value: t.chars().take(100).collect(),
                why: "a tenant id is 1 to 256 bytes without control characters".to_owned(),
            });
        }
    };
    let name = q.get("rule").ok_or(QueryError::Missing("rule"))?;
    let rules = &shared.rules;
    let range_ms = range(&q, shared)?;
    let by = match q.get("by") {
        None | Some("") => None,
        Some("tenant") => Some(ATTR_TENANT.to_owned()),
        Some(key)
            if key.len() <= 255
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) =>
        {
            Some(key.to_owned())
        }
        Some(key) => {
            return Err(QueryError::Invalid {
                name: "by".to_owned(),
                value: key.chars().take(100).collect(),
                why: "use tenant or an attribute key such as surface".to_owned(),
            });
        }
    };
    let now = shared.clock.now_ms();
    let db = shared.read_db().map_err(QueryError::Unavailable)?;
    if let Some(rule) = rules.outcome.iter().find(|r| r.name == name) {
        let (window, from, to, t) = windows(rule.window, now, range_ms);
        let index = |start: i64| usize::try_from((start - from) / window).ok();
        let (mut succ, mut fail) = (vec![Value::Null; t.len()], vec![Value::Null; t.len()]);
        let (mut expected, mut lo, mut hi) = (
            vec![Value::Null; t.len()],
            vec![Value::Null; t.len()],
            vec![Value::Null; t.len()],
        );
        // One tenant's windows (where it was among the values kept), or the rule's totals.
        let rows = match tenant {
            Some(t) => db
                .history(name, ATTR_TENANT, from, to)
                .map_err(unavailable)?
                .into_iter()
                .filter(|r| r.0 == t)
                .collect(),
            None => db.history(name, "", from, to).map_err(unavailable)?,
        };
        for (_, start, s, f, band) in rows {
            let Some(i) = index(start).filter(|&i| i < t.len()) else {
                continue;
            };
            succ[i] = json!(s);
            fail[i] = json!(f);
            if let Some((e, l, h)) = band {
                expected[i] = json!(e);
                lo[i] = json!(l.max(0.0));
                hi[i] = json!(h);
            }
        }
        let snapshot = shared.snapshot.lock().ok().and_then(|s| s.clone());
        let view = snapshot
            .as_ref()
            .and_then(|s| s.outcomes.iter().find(|o| o.rule == name).cloned());
        let partial = view.as_ref().map(|v| {
            json!({
                "start_ms": v.partial.start_ms,
                "successes": v.partial.successes,
                "failures": v.partial.failures,
            })
        });
        let deploys: Vec<Value> = db
            .deploys(from, now + 1)
            .map_err(unavailable)?
            .into_iter()
            .filter(|d| rule.service.as_deref().is_none_or(|s| s == d.service))
            .map(|d| {
                json!({"at_ms": d.at_ms, "service": d.service, "version": d.version,
                       "previous": d.previous})
            })
            .collect();
        let mut out = json!({
            "rule": name,
            "kind": "outcome",
            "tenant": tenant,
            "window_ms": window,
            "from_ms": from,
            "to_ms": to,
            "t": t,
            "successes": succ,
            "failures": fail,
            "expected": expected,
            "lo": lo,
            "hi": hi,
            "partial": partial,
            "thresholds": {
                "min_success_ratio": rule.min_success_ratio,
                "min_rate_per_minute": rule.min_rate_per_minute,
            },
            "deploys": deploys,
            "firing": firing(&db, name, from, now)?,
        });
        if let Some(key) = by {
            let recent = i64::from(rule.fire_after.max(3));
            out["by"] = json!(key);
            out["groups"] = groups(&db, name, &key, from, to, window, recent)?;
        }
        return Ok(out);
    }
    if let Some(rule) = rules.deadman.iter().find(|r| r.name == name) {
        let (window, from, to, t) = windows(rule.window, now, range_ms);
        let mut emitters: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (value, start, beats, _, _) in db
            .history(name, ATTR_EMITTER, from, to)
            .map_err(unavailable)?
        {
            let row = emitters
                .entry(value)
                .or_insert_with(|| vec![Value::Null; t.len()]);
            if let Some(slot) = usize::try_from((start - from) / window)
                .ok()
                .and_then(|i| row.get_mut(i))
            {
                *slot = json!(beats);
            }
        }
        let emitters: Vec<Value> = emitters
            .into_iter()
            .map(|(emitter, beats)| json!({"emitter": emitter, "t": t, "beats": beats}))
            .collect();
        return Ok(json!({
            "rule": name,
            "kind": "deadman",
            "window_ms": window,
            "from_ms": from,
            "to_ms": to,
            "min_beats": rule.min_beats,
            "emitters": emitters,
            "firing": firing(&db, name, from, now)?,
        }));
    }
    Err(QueryError::Unknown {
        name: "rule",
        value: name.chars().take(100).collect(),
        known: rules
            .outcome
            .iter()
            .map(|r| r.name.clone())
            .chain(rules.deadman.iter().map(|r| r.name.clone()))
            .collect(),
    })
}

/// The rule's alerts that overlap `[from, now]`: the periods the charts shade.
fn firing(db: &crate::db::Db, rule: &str, from: i64, now: i64) -> Result<Vec<Value>, QueryError> {
    Ok(db
        .alerts(from, now + 1)
        .map_err(unavailable)?
        .into_iter()
        .filter(|a| a.rule == rule)
        .map(|a| {
            json!({"id": a.id, "from_ms": a.since_ms, "to_ms": a.resolved_ms,
                   "classification": a.classification})
        })
        .collect())
}

/// The split of a rule's windows by `key`: per value, its counts aligned with the windows,
/// its usual success ratio (before the last `recent` windows), its recent one, and its share
/// of the recent failures; the values with the largest share first.
fn groups(
    db: &crate::db::Db,
    rule: &str,
    key: &str,
    from: i64,
    to: i64,
    window: i64,
    recent: i64,
) -> Result<Value, QueryError> {
    let n = usize::try_from((to - from) / window).unwrap_or(0);
    let recent_from = to - recent * window;
    struct Group {
        succ: Vec<Value>,
        fail: Vec<Value>,
        usual: (f64, f64),
        recent: (f64, f64),
    }
    let mut by: BTreeMap<String, Group> = BTreeMap::new();
    for (value, start, s, f, _) in db.history(rule, key, from, to).map_err(unavailable)? {
        let g = by.entry(value).or_insert_with(|| Group {
            succ: vec![Value::Null; n],
            fail: vec![Value::Null; n],
            usual: (0.0, 0.0),
            recent: (0.0, 0.0),
        });
        if let Some(i) = usize::try_from((start - from) / window)
            .ok()
            .filter(|&i| i < n)
        {
            g.succ[i] = json!(s);
            g.fail[i] = json!(f);
        }
        let bucket = if start >= recent_from {
            &mut g.recent
        } else {
            &mut g.usual
        };
        bucket.0 += s;
        bucket.1 += f;
    }
    let recent_failures: f64 = by.values().map(|g| g.recent.1).sum();
    let ratio = |(s, f): (f64, f64)| (s + f > 0.0).then(|| s / (s + f));
    let mut out: Vec<(f64, f64, Value)> = by
        .into_iter()
        .map(|(value, g)| {
            let share = (recent_failures > 0.0).then(|| g.recent.1 / recent_failures);
            let volume = g.usual.0 + g.usual.1 + g.recent.0 + g.recent.1;
            (
                share.unwrap_or(0.0),
                volume,
                json!({
                    "key": value,
                    "successes": g.succ,
                    "failures": g.fail,
                    "usual_ratio": ratio(g.usual),
                    "today_ratio": ratio(g.recent),
                    "share_of_drop": share,
                }),
            )
        })
        .collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)));
    out.truncate(MAX_GROUPS);
    Ok(Value::Array(out.into_iter().map(|(_, _, v)| v).collect()))
}

/// `sla` (required), `month` (`YYYY-MM`, default this month).
pub(crate) fn burn(query: &str, shared: &Shared) -> Result<Value, QueryError> {
    let q = Query::parse(query, &["sla", "month"])?;
    let name = q.get("sla").ok_or(QueryError::Missing("sla"))?;
    let Some(sla) = shared.rules.sla.iter().find(|s| s.name == name) else {
        return Err(QueryError::Unknown {
            name: "sla",
            value: name.chars().take(100).collect(),
            known: shared.rules.sla.iter().map(|s| s.name.clone()).collect(),
        });
    };
    let now = shared.clock.now_ms();
    let month = match q.get("month") {
        Some(m) => m.parse::<Month>().map_err(|e| QueryError::Invalid {
            name: "month".to_owned(),
            value: m.to_owned(),
            why: e.to_string(),
        })?,
        None => {
            let (year, month) = month_of(now);
            Month { year, month }
        }
    };
    let (from, to) = month_bounds((month.year, month.month));
    let slots = shared
        .read_db()
        .map_err(QueryError::Unavailable)?
        .ledger(Some(name), from, to)
        .map_err(unavailable)?;
    let slot = shared.slot_ms.max(1);
    let in_month = ((to - from) / slot).max(1) as f64;
    let budget = ((1.0 - sla.objective) * in_month).max(f64::MIN_POSITIVE);
    let end = now.min(to);
    let total = usize::try_from((end - from).max(0) / slot).unwrap_or(0);
    let step = total.div_ceil(MAX_BURN_POINTS).max(1);
    let mut down_at: std::collections::HashSet<i64> = std::collections::HashSet::new();
    for (_, at, state) in &slots {
        if *state == SlotState::Down {
            down_at.insert(*at);
        }
    }
    let (mut t, mut left) = (Vec::new(), Vec::new());
    let mut down_so_far = 0.0;
    let mut periods: Vec<(i64, i64)> = Vec::new();
    for i in 0..total {
        let at = from + i64::try_from(i).unwrap_or(i64::MAX) * slot;
        if down_at.contains(&at) {
            down_so_far += 1.0;
            match periods.last_mut() {
                Some(p) if p.1 == at => p.1 = at + slot,
                _ => periods.push((at, at + slot)),
            }
        }
        if (i + 1) % step == 0 || i + 1 == total {
            t.push(at + slot);
            left.push(1.0 - down_so_far / budget);
        }
    }
    Ok(json!({
        "sla": name,
        "objective": sla.objective,
        "month": month.to_string(),
        "slot_ms": slot,
        "t": t,
        "budget_left": left,
        "down": periods.iter().map(|(a, b)| json!({"from_ms": a, "to_ms": b})).collect::<Vec<_>>(),
    }))
}
