//! The SLA ledger: for each SLA, each slot (a minute; shorter in the demo's compressed time) is
//! up or down. A slot is down when any of the SLA's signals is firing in it; when a signal
//! fires, the slots back to the start of its first bad window are marked down too, since the
//! customers were already failing then.

use std::collections::BTreeMap;

use super::{LedgerRow, SlaView, TickReport};
use crate::clock::civil_from_days;
use crate::rulefile::Sla;

/// How far back a firing signal marks slots down, at most.
const MAX_BACKFILL_MS: i64 = 24 * 3600 * 1000;

/// The state of one SLA.
#[derive(Debug)]
pub(crate) struct SlaState {
    pub(crate) def: Sla,
    signals: Vec<usize>,
    pub(crate) slot_ms: i64,
    slots: BTreeMap<i64, bool>,
    was_down: bool,
    last_slot: i64,
}

/// `(year, month)` of a time in ms since the epoch.
pub(crate) fn month_of(ms: i64) -> (i64, u32) {
    let (y, m, _) = civil_from_days(ms.div_euclid(86_400_000));
    (y, m)
}

impl SlaState {
    pub(crate) fn new(def: Sla, signals: Vec<usize>, slot_ms: i64) -> Self {
        Self {
            def,
            signals,
            slot_ms: slot_ms.max(1),
            slots: BTreeMap::new(),
            was_down: false,
            last_slot: i64::MIN,
        }
    }

    pub(crate) fn restore(&mut self, slot: i64, up: bool) {
        let entry = self.slots.entry(slot).or_insert(up);
        *entry = *entry && up;
    }

    fn set(&mut self, index: usize, slot: i64, up: bool, report: &mut TickReport) {
        let prev = self.slots.get(&slot).copied();
        let new = prev.map_or(up, |p| p && up);
        if prev != Some(new) {
            self.slots.insert(slot, new);
            report.ledger.push(LedgerRow {
                sla: index,
                slot_ms: slot,
                up: new,
            });
        }
    }

    /// Records the slot of `now_ms`; `firing[i]` is the start of outcome rule `i`'s alert.
    pub(crate) fn record(
        &mut self,
        index: usize,
        firing: &[Option<i64>],
        now_ms: i64,
        report: &mut TickReport,
    ) {
        let slot = now_ms.div_euclid(self.slot_ms) * self.slot_ms;
        let month = month_of(slot);
        if self
            .slots
            .first_key_value()
            .is_some_and(|(&t, _)| month_of(t) != month)
        {
            self.slots.retain(|&t, _| month_of(t) == month);
        }
        let since = self
            .signals
            .iter()
            .filter_map(|&i| firing.get(i).copied().flatten())
            .min();
        match since {
            Some(since) => {
                let earliest = since.max(now_ms - MAX_BACKFILL_MS);
                let mut from = earliest.div_euclid(self.slot_ms) * self.slot_ms;
                if self.was_down && self.last_slot >= from {
                    from = self.last_slot;
                }
                let mut t = from;
                while t <= slot {
                    if month_of(t) == month {
                        self.set(index, t, false, report);
                    }
                    t += self.slot_ms;
                }
                self.was_down = true;
            }
            None => {
                self.was_down = false;
                if !self.slots.contains_key(&slot) {
                    self.set(index, slot, true, report);
                }
            }
        }
        self.last_slot = slot;
    }

    pub(crate) fn view(&self, now_ms: i64) -> SlaView {
        let observed = self.slots.len() as u64;
        let down = self.slots.values().filter(|up| !**up).count() as u64;
        let slot = now_ms.div_euclid(self.slot_ms) * self.slot_ms;
        SlaView {
            name: self.def.name.clone(),
            objective: self.def.objective,
            slot_ms: self.slot_ms,
            observed,
            down,
            availability: if observed == 0 {
                1.0
            } else {
                1.0 - down as f64 / observed as f64
            },
            down_now: self.slots.get(&slot).is_some_and(|up| !up),
        }
    }
}
