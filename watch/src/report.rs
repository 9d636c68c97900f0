//! The monthly SLA report, in JSON and Markdown, from the ledger in the state database.

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertKind};
use crate::clock::{human, month_bounds, rfc3339};
use crate::db::{Db, DbError};
use crate::state::SlotState;

/// A month that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid month {0:?}: expected YYYY-MM, for example 2026-11")]
pub struct MonthError(pub String);

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Month {
    /// Year.
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
}

impl std::str::FromStr for Month {
    type Err = MonthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MonthError(s.to_owned());
        let (y, m) = s.split_once('-').ok_or_else(err)?;
        let year: i64 = y.parse().map_err(|_| err())?;
        let month: u32 = m.parse().map_err(|_| err())?;
        if y.len() != 4 || !(1..=12).contains(&month) {
            return Err(err());
        }
        Ok(Self { year, month })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A run of down slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Downtime {
    /// Start (RFC 3339).
    pub start: String,
    /// End, exclusive (RFC 3339).
    pub end: String,
    /// Slots down.
    pub slots: u64,
    /// Alerts of the SLA's signals open during it.
    pub alerts: Vec<String>,
}

/// One SLA over one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaMonth {
    /// SLA name.
    pub name: String,
    /// The outcome rules it is made of.
    pub signals: Vec<String>,
    /// Monthly availability target.
    pub objective: f64,
    /// Ledger slot (ms): 60,000 normally; the demo compresses time.
    pub slot_ms: i64,
    /// Slots in the month.
    pub slots_in_month: u64,
    /// Slots from the SLA's first recorded slot (or the month's start) to now (or the month's
    /// end): the slots the watch should have judged.
    pub slots_elapsed: u64,
    /// Slots the watch recorded (up, down or unknown).
    pub observed: u64,
    /// Slots up.
    pub up: u64,
    /// Slots down.
    pub down: u64,
    /// Slots unknown: recorded unknown (warming, or no data at all), or not recorded at all
    /// (the watch was not running).
    pub unknown: u64,
    /// The lenient availability, unknown slots left out: `up / (up + down)` (1 when no slot is
    /// known).
    pub availability_observed: f64,
    /// The strict availability, unknown slots counted down: `up / slots_elapsed`. The
    /// objective is judged on it.
    pub availability_month: f64,
    /// Down slots the objective allows in the month.
    pub budget: f64,
    /// `budget - down - unknown`.
    pub budget_left: f64,
    /// Whether `availability_month` (the strict one) meets the objective.
    pub met: bool,
    /// The down periods.
    pub downtime: Vec<Downtime>,
}

/// The monthly SLA report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaReport {
    /// The month.
    pub month: String,
    /// Each SLA.
    pub slas: Vec<SlaMonth>,
    /// Every outcome and dead-man alert open during the month.
    pub alerts: Vec<Alert>,
}

impl SlaReport {
    /// Builds the report of `month` from the state database, as of `now_ms`.
    pub(crate) fn build(db: &Db, month: Month, now_ms: i64) -> Result<Self, DbError> {
        let (from, to) = month_bounds((month.year, month.month));
        let alerts = db.alerts(from, to)?;
        let mut slas = Vec::new();
        for def in db.slas()? {
            let rows = db.ledger(Some(&def.name), from, to)?;
            let slot = def.slot_ms.max(1);
            let slots_in_month = u64::try_from((to - from) / slot).unwrap_or(0);
            let observed = rows.len() as u64;
            let count = |want: SlotState| rows.iter().filter(|r| r.2 == want).count() as u64;
            let (up, down) = (count(SlotState::Up), count(SlotState::Down));
            let first = db.first_slot(&def.name)?.unwrap_or(to).max(from);
            let last = (now_ms.div_euclid(slot) * slot + slot).min(to);
            let slots_elapsed = u64::try_from((last - first).max(0) / slot)
                .unwrap_or(0)
                .max(observed);
            let unknown = slots_elapsed - up - down;
            let mut downtime: Vec<Downtime> = Vec::new();
            let mut run: Option<(i64, i64, u64)> = None;
            for (_, t, state) in &rows {
                match (&mut run, *state != SlotState::Down) {
                    (Some((_, end, n)), false) if *end == *t => {
                        *end = t + slot;
                        *n += 1;
                    }
                    (_, false) => {
                        if let Some(r) = run.take() {
                            downtime.push(period(r, &def.signals, &alerts));
                        }
                        run = Some((*t, t + slot, 1));
                    }
                    (_, true) => {
                        if let Some(r) = run.take() {
                            downtime.push(period(r, &def.signals, &alerts));
                        }
                    }
                }
            }
            if let Some(r) = run.take() {
                downtime.push(period(r, &def.signals, &alerts));
            }
            let budget = (1.0 - def.objective) * slots_in_month as f64;
            let availability_month = if slots_elapsed == 0 {
                0.0
            } else {
                up as f64 / slots_elapsed as f64
            };
            slas.push(SlaMonth {
                name: def.name,
                signals: def.signals,
                objective: def.objective,
                slot_ms: slot,
                slots_in_month,
                slots_elapsed,
                observed,
                up,
                down,
                unknown,
                availability_observed: if up + down == 0 {
                    1.0
                } else {
                    up as f64 / (up + down) as f64
                },
                availability_month,
                budget,
                budget_left: budget - down as f64 - unknown as f64,
                met: availability_month >= def.objective,
                downtime,
            });
        }
        Ok(Self {
            month: month.to_string(),
            slas,
            alerts,
        })
    }

    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# SLA report {}\n\n", self.month);
        if self.slas.is_empty() {
            out.push_str("No SLA is declared in the state database.\n");
        }
        for s in &self.slas {
            let unit = if s.slot_ms == 60_000 {
                "minutes".to_owned()
            } else {
                format!("slots of {}", human(s.slot_ms))
            };
            out.push_str(&format!("## {}\n\n", s.name));
            out.push_str(&format!("Signals: {}\n\n", s.signals.join(", ")));
            out.push_str("| | |\n|---|---|\n");
            out.push_str(&format!("| objective | {:.3}% |\n", s.objective * 100.0));
            out.push_str(&format!(
                "| availability (strict: unknown counted down, {} of {} slots up) | {:.4}% {} |\n",
                s.up,
                s.slots_elapsed,
                s.availability_month * 100.0,
                if s.met { "met" } else { "**missed**" }
            ));
            out.push_str(&format!(
                "| availability (known slots only: {} up, {} down) | {:.4}% |\n",
                s.up,
                s.down,
                s.availability_observed * 100.0
            ));
            out.push_str(&format!("| downtime | {} {unit} |\n", s.down));
            out.push_str(&format!(
                "| unknown (watch not running, warming, or no data at all) | {} {unit} |\n",
                s.unknown
            ));
            out.push_str(&format!(
                "| error budget | {:.1} {unit}, {:.1} left |\n\n",
                s.budget, s.budget_left
            ));
            if s.downtime.is_empty() {
                out.push_str("No downtime.\n\n");
            } else {
                out.push_str("| start | end | down | alerts |\n|---|---|---|---|\n");
                for d in &s.downtime {
                    out.push_str(&format!(
                        "| {} | {} | {} | {} |\n",
                        d.start,
                        d.end,
                        d.slots,
                        d.alerts.join(", ")
                    ));
                }
                out.push('\n');
            }
        }
        if !self.alerts.is_empty() {
            out.push_str("## Alerts\n\n| since | rule | kind | classification | summary |\n|---|---|---|---|---|\n");
            for a in &self.alerts {
                let kind = match a.kind {
                    AlertKind::Deadman => "dead-man",
                    AlertKind::Outcome => "outcome",
                    AlertKind::Watch => "watch",
                };
                out.push_str(&format!(
                    "| {} | {} | {kind} | {} | {} |\n",
                    a.since,
                    a.rule,
                    a.classification,
                    a.summary.replace('|', "\\|")
                ));
            }
        }
        out
    }
}

fn period((start, end, slots): (i64, i64, u64), signals: &[String], alerts: &[Alert]) -> Downtime {
    let ids = alerts
        .iter()
        .filter(|a| signals.contains(&a.rule))
        .filter(|a| a.since_ms < end && a.resolved_ms.is_none_or(|r| r >= start))
        .map(|a| a.id.clone())
        .collect();
    Downtime {
        start: rfc3339(start),
        end: rfc3339(end),
        slots,
        alerts: ids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_bound() {
        let m: Month = "2026-11".parse().unwrap_or(Month { year: 0, month: 0 });
        assert_eq!(
            m,
            Month {
                year: 2026,
                month: 11
            }
        );
        let (from, to) = month_bounds((2026, 11));
        assert_eq!((to - from) / 60_000, 30 * 24 * 60);
        assert_eq!(
            "2026-13".parse::<Month>().map_err(|e| e.to_string()),
            Err("invalid month \"2026-13\": expected YYYY-MM, for example 2026-11".to_owned())
        );
    }
}
