//! The SLA ledger: for each SLA, each slot (a minute; shorter in the demo's compressed time) is
//! up, down or unknown.
//!
//! - **down**: any of the SLA's signals (outcome or dead-man rules) is firing in it; when a
//!   signal fires, the slots back to the start of its alert are marked down too, since the
//!   customers were already failing then. A rule that breaches on no data fires, so a total
//!   outage is downtime.
//! - **unknown**: nothing fires, but the watch cannot vouch for the slot: a signal is still
//!   warming up, or none of the signals received any point within its window. A slot the watch
//!   was not running in has no row at all and is reported unknown as well.
//! - **up**: the signals were judged, data arrived, and none fired.
//!
//! Down wins over unknown, which wins over nothing; unknown is upgraded to up within a slot
//! once the watch can vouch for it.

use std::collections::BTreeMap;

use super::SlaView;
use crate::clock::month_of;
use crate::rulefile::Sla;
use crate::state::{LedgerRow, SlotState, TickReport};

/// How far back a firing signal marks slots down, at most.
const MAX_BACKFILL_MS: i64 = 24 * 3600 * 1000;

/// A signal of an SLA: an outcome or a dead-man rule, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Outcome(usize),
    Deadman(usize),
}

/// What the judge knows of one signal at a tick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SignalNow {
    /// The start of its firing alert.
    pub(crate) firing_since: Option<i64>,
    /// It has been judged at least once (not warming).
    pub(crate) judged: bool,
    /// A point of it arrived within its window.
    pub(crate) fresh: bool,
}

/// The state of one SLA.
#[derive(Debug)]
pub(crate) struct SlaState {
    pub(crate) def: Sla,
    pub(crate) signals: Vec<Signal>,
    pub(crate) slot_ms: i64,
    slots: BTreeMap<i64, SlotState>,
    was_down: bool,
    last_slot: i64,
}

impl SlaState {
    pub(crate) fn new(def: Sla, signals: Vec<Signal>, slot_ms: i64) -> Self {
        Self {
            def,
            signals,
            slot_ms: slot_ms.max(1),
            slots: BTreeMap::new(),
            was_down: false,
            last_slot: i64::MIN,
        }
    }

    pub(crate) fn restore(&mut self, slot: i64, state: SlotState) {
        let entry = self.slots.entry(slot).or_insert(state);
        *entry = entry.merge(state);
    }

    fn set(&mut self, index: usize, slot: i64, state: SlotState, report: &mut TickReport) {
        let prev = self.slots.get(&slot).copied();
        let new = prev.map_or(state, |p| p.merge(state));
        if prev != Some(new) {
            self.slots.insert(slot, new);
            report.ledger.push(LedgerRow {
                sla: index,
                slot_ms: slot,
                state: new,
            });
        }
    }

    /// Records the slot of `now_ms`; `signal(s)` says where each signal stands.
    pub(crate) fn record(
        &mut self,
        index: usize,
        signal: impl Fn(Signal) -> SignalNow,
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
        let now: Vec<SignalNow> = self.signals.iter().map(|&s| signal(s)).collect();
        let since = now.iter().filter_map(|s| s.firing_since).min();
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
                        self.set(index, t, SlotState::Down, report);
                    }
                    t += self.slot_ms;
                }
                self.was_down = true;
            }
            None => {
                self.was_down = false;
                let known = now.iter().all(|s| s.judged) && now.iter().any(|s| s.fresh);
                let state = if known {
                    SlotState::Up
                } else {
                    SlotState::Unknown
                };
                match self.slots.get(&slot) {
                    Some(SlotState::Down | SlotState::Up) => {}
                    _ => self.set(index, slot, state, report),
                }
            }
        }
        self.last_slot = slot;
    }

    pub(crate) fn view(&self, now_ms: i64) -> SlaView {
        let observed = self.slots.len() as u64;
        let count = |want: SlotState| self.slots.values().filter(|s| **s == want).count() as u64;
        let (down, unknown, up) = (
            count(SlotState::Down),
            count(SlotState::Unknown),
            count(SlotState::Up),
        );
        let slot = now_ms.div_euclid(self.slot_ms) * self.slot_ms;
        // The slots since the first one this month that the watch should have recorded: the
        // ones it has no row for (it was not running) are unknown too.
        let elapsed = self.slots.first_key_value().map_or(0, |(&first, _)| {
            u64::try_from((slot - first) / self.slot_ms + 1).unwrap_or(0)
        });
        let unrecorded = elapsed.saturating_sub(observed);
        let lenient = if up + down == 0 {
            None
        } else {
            Some(up as f64 / (up + down) as f64)
        };
        let strict = if elapsed == 0 {
            None
        } else {
            Some(up as f64 / elapsed as f64)
        };
        SlaView {
            name: self.def.name.clone(),
            objective: self.def.objective,
            slot_ms: self.slot_ms,
            observed,
            down,
            unknown: unknown + unrecorded,
            up,
            availability: strict.unwrap_or(0.0),
            availability_known: lenient,
            met: strict.is_some_and(|a| a >= self.def.objective),
            down_now: self.slots.get(&slot) == Some(&SlotState::Down),
            unknown_now: self
                .slots
                .get(&slot)
                .is_none_or(|s| *s == SlotState::Unknown),
        }
    }
}
