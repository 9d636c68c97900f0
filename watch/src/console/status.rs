//! `GET /status.json` (and the page `/status` that draws it): shaped like the `summary.json`
//! hosted status pages publish (Atlassian Statuspage: `page`, `status.indicator`,
//! `components[].status`, `incidents[]`), so existing tooling reads it; plus each component's
//! daily uptime over 90 days. One component per SLA, decided by the heartbeats: an SLA whose
//! signal fires is an outage, one whose signal is bad or silent is degraded. It never carries a
//! tenant, an attribute value, an alert's text or an error: only SLA names, times and states.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::alert::Classification;
use crate::clock::rfc3339;
use crate::judge::{RuleState, Snapshot};
use crate::receiver::Shared;
use crate::rulefile::StatusPage;
use crate::state::SlotState;

const DAY_MS: i64 = 86_400_000;
/// Days of uptime bars.
pub(crate) const DAYS: i64 = 90;
/// Incidents listed, newest first.
const MAX_INCIDENTS: usize = 50;

/// The status JSON for the tick in force, built at most once per tick: a status page under
/// load costs one build per tick.
pub(crate) fn cached(shared: &Shared, page: &StatusPage) -> Result<Arc<Vec<u8>>, String> {
    let tick = *shared.ticks.borrow();
    if let Ok(last) = shared.status_cache.lock()
        && let Some((t, body)) = &*last
        && *t == tick
    {
        return Ok(Arc::clone(body));
    }
    let body = Arc::new(serde_json::to_vec(&build(shared, page)?).map_err(|e| e.to_string())?);
    if let Ok(mut last) = shared.status_cache.lock() {
        *last = Some((tick, Arc::clone(&body)));
    }
    Ok(body)
}

/// Worst first: the order of Statuspage's component states.
const STATES: [&str; 4] = [
    "major_outage",
    "partial_outage",
    "degraded_performance",
    "operational",
];

fn rank(state: &str) -> usize {
    STATES.iter().position(|s| *s == state).unwrap_or(3)
}

/// A component's state from its signals' states now.
fn component_state(snapshot: Option<&Snapshot>, signals: &[String]) -> &'static str {
    let Some(s) = snapshot else {
        return "operational";
    };
    let mut worst = 3;
    for name in signals {
        let (state, classification) = if let Some(o) = s.outcomes.iter().find(|o| &o.rule == name) {
            (o.state, o.classification)
        } else if let Some(d) = s.deadman.iter().find(|d| &d.rule == name) {
            (d.state, d.classification)
        } else {
            continue;
        };
        let here = match state {
            RuleState::Firing => match classification {
                // A drop in ratio or rate: some customers still get through.
                Some(
                    Classification::SuccessRatio
                    | Classification::SuccessRate
                    | Classification::Anomaly
                    | Classification::LossyPipeline
                    | Classification::Restart,
                ) => 1,
                _ => 0,
            },
            RuleState::Pending | RuleState::NoData => 2,
            _ => 3,
        };
        worst = worst.min(here);
    }
    STATES[worst]
}

/// What an incident is called on the page: the component and the kind of trouble, never the
/// alert's own text.
fn incident_name(component: &str, c: Classification) -> String {
    let what = match c {
        Classification::SuccessRatio | Classification::SuccessRate | Classification::Anomaly => {
            "elevated failures"
        }
        Classification::NoData
        | Classification::NeverSeen
        | Classification::DeadEmitter
        | Classification::ProcessDown
        | Classification::StoppedNotRestarted => "service unavailable",
        _ => "degraded service",
    };
    format!("{component}: {what}")
}

fn build(shared: &Shared, page: &StatusPage) -> Result<Value, String> {
    let now = shared.clock.now_ms();
    let rules = &shared.rules;
    let snapshot = shared.snapshot.lock().ok().and_then(|s| s.clone());
    let slas: Vec<&crate::rulefile::Sla> = if page.components.is_empty() {
        rules.sla.iter().collect()
    } else {
        page.components
            .iter()
            .filter_map(|c| rules.sla.iter().find(|s| &s.name == c))
            .collect()
    };
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let from = today - (DAYS - 1) * DAY_MS;
    let db = shared.read_db()?;
    let mut components = Vec::new();
    let mut worst = 3;
    for sla in &slas {
        let state = component_state(snapshot.as_deref(), &sla.signals);
        worst = worst.min(rank(state));
        let mut days = vec![(0u64, 0u64); usize::try_from(DAYS).unwrap_or(90)];
        for (_, at, slot) in db
            .ledger(Some(&sla.name), from, now + 1)
            .map_err(|e| e.to_string())?
        {
            if let Some(d) = usize::try_from((at - from) / DAY_MS)
                .ok()
                .and_then(|i| days.get_mut(i))
            {
                match slot {
                    SlotState::Up => d.0 += 1,
                    SlotState::Down => d.1 += 1,
                    SlotState::Unknown => {}
                }
            }
        }
        let uptime: Vec<Value> = days
            .iter()
            .enumerate()
            .map(|(i, (up, down))| {
                let date = rfc3339(from + i64::try_from(i).unwrap_or(0) * DAY_MS);
                json!({
                    "date": date.get(..10).unwrap_or(&date),
                    "uptime": (up + down > 0).then(|| *up as f64 / (*up + *down) as f64),
                })
            })
            .collect();
        components.push(json!({
            "id": sla.name,
            "name": sla.name,
            "status": state,
            "updated_at": rfc3339(now),
            "uptime_90d": uptime,
        }));
    }
    let mut incidents: Vec<(i64, Value)> = Vec::new();
    for alert in db.alerts(from, now + 1).map_err(|e| e.to_string())? {
        let hit: Vec<&str> = slas
            .iter()
            .filter(|s| s.signals.contains(&alert.rule))
            .map(|s| s.name.as_str())
            .collect();
        let Some(first) = hit.first() else {
            continue;
        };
        incidents.push((
            alert.since_ms,
            json!({
                "id": alert.id,
                "name": incident_name(first, alert.classification),
                "status": if alert.resolved_ms.is_some() { "resolved" } else { "investigating" },
                "created_at": rfc3339(alert.since_ms),
                "resolved_at": alert.resolved_ms.map(rfc3339),
                "components": hit,
            }),
        ));
    }
    incidents.sort_by_key(|i| std::cmp::Reverse(i.0));
    incidents.truncate(MAX_INCIDENTS);
    let (indicator, description) = match STATES[worst] {
        "major_outage" => ("critical", "Major System Outage"),
        "partial_outage" => ("major", "Partial System Outage"),
        "degraded_performance" => ("minor", "Degraded Performance"),
        _ => ("none", "All Systems Operational"),
    };
    Ok(json!({
        "page": {"name": page.title, "updated_at": rfc3339(now)},
        "status": {"indicator": indicator, "description": description},
        "components": components,
        "incidents": incidents.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_names_carry_only_the_component_and_a_kind() {
        assert_eq!(
            incident_name("messaging", Classification::SuccessRatio),
            "messaging: elevated failures"
        );
        assert_eq!(
            incident_name("messaging", Classification::ProcessDown),
            "messaging: service unavailable"
        );
    }

    #[test]
    fn states_rank_worst_first() {
        assert!(rank("major_outage") < rank("partial_outage"));
        assert!(rank("degraded_performance") < rank("operational"));
        assert_eq!(component_state(None, &["x".to_owned()]), "operational");
    }
}
