//! Browser heartbeats: one beat count per named emitter, reported as `heartbeat.beats`.
//!
//! The schedule (when to beat) and the gate (only while the page is visible and the messenger
//! usable) live in the JavaScript half, which owns the timers and the page events. This side
//! owns what goes on the wire: the names, and counts that stay monotonic across a stop and a
//! restart under the same name, as the native emitter's do.

use crate::outcomes::message;
use heartbeat_core::Batch;
use heartbeat_core::semconv::{ATTR_EMITTER, DESCRIPTION_BEATS, METRIC_BEATS, UNIT_BEATS};
use heartbeat_core::validate::{Refusal, Subject, name_problem};

struct Emitter {
    name: String,
    beats: u64,
    live: bool,
}

/// Every emitter started on this page, in start order.
#[derive(Default)]
pub(crate) struct Emitters {
    all: Vec<Emitter>,
}

/// Why an emitter could not start.
pub(crate) enum StartError {
    /// The name breaks the outcome-name syntax (which emitter names share natively): the message.
    InvalidName(String),
    /// An emitter of that name is running.
    Duplicate,
}

impl Emitters {
    /// Starts (or restarts, keeping its count) the emitter `name`; returns its index.
    pub(crate) fn start(&mut self, name: &str) -> Result<usize, StartError> {
        if let Some(problem) = name_problem(name) {
            return Err(StartError::InvalidName(message(&Refusal::Invalid {
                subject: Subject::HeartbeatName,
                value: name,
                problem,
            })));
        }
        match self.all.iter().position(|e| *e.name == *name) {
            Some(i) if self.all[i].live => Err(StartError::Duplicate),
            Some(i) => {
                self.all[i].live = true;
                Ok(i)
            }
            None => {
                self.all.push(Emitter {
                    name: name.into(),
                    beats: 0,
                    live: true,
                });
                Ok(self.all.len() - 1)
            }
        }
    }

    /// Counts one beat of a running emitter; a stopped or unknown one records nothing.
    pub(crate) fn beat(&mut self, i: usize) -> bool {
        match self.all.get_mut(i) {
            Some(e) if e.live => {
                e.beats = e.beats.wrapping_add(1);
                true
            }
            _ => false,
        }
    }

    /// Stops an emitter; its count stays and is still reported.
    pub(crate) fn stop(&mut self, i: usize) -> bool {
        match self.all.get_mut(i) {
            Some(e) if e.live => {
                e.live = false;
                true
            }
            _ => false,
        }
    }

    /// The beats of an emitter so far.
    pub(crate) fn beats(&self, i: usize) -> u64 {
        self.all.get(i).map_or(0, |e| e.beats)
    }

    /// Adds one cumulative `heartbeat.beats` point per emitter ever started.
    pub(crate) fn push_to(&self, batch: &mut Batch) {
        for e in &self.all {
            batch.push_sum(
                METRIC_BEATS,
                UNIT_BEATS,
                DESCRIPTION_BEATS,
                vec![(ATTR_EMITTER.into(), e.name.clone())],
                e.beats,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_runs_once_and_keeps_its_count_across_a_restart() {
        let mut e = Emitters::default();
        let a = e.start("web").ok().unwrap();
        assert!(matches!(e.start("web"), Err(StartError::Duplicate)));
        assert!(e.beat(a) && e.beat(a));
        assert!(e.stop(a));
        assert!(!e.beat(a));
        assert_eq!(e.start("web").ok(), Some(a));
        assert!(e.beat(a));
        assert_eq!(e.beats(a), 3);
    }

    #[test]
    fn names_follow_the_outcome_name_syntax() {
        let mut e = Emitters::default();
        for bad in ["", "1web", "has space", &"a".repeat(256)] {
            assert!(
                matches!(e.start(bad), Err(StartError::InvalidName(_))),
                "{bad:?}"
            );
        }
        assert!(e.start("web-messenger/ui_v2.1").is_ok());
    }
}
