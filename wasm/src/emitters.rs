//! Browser heartbeats: one beat count per named emitter, reported as `heartbeat.beats`.
//!
//! The schedule (when to beat) and the gate (only while the page is visible and the messenger
//! usable) live in the JavaScript half, which owns the timers and the page events. This side
//! owns what goes on the wire: the names, counts that stay monotonic across a stop and a
//! restart under the same name, as the native emitter's do, and each emitter's state, the
//! native `heartbeat.emitter.status` gauge (0 beating, 1 failing with a reason, 2 stopped).

use crate::outcomes::message;
use heartbeat_core::Batch;
use heartbeat_core::semconv::{
    ATTR_EMITTER, ATTR_REASON, DESCRIPTION_BEATS, DESCRIPTION_EMITTER_STATUS, METRIC_BEATS,
    METRIC_EMITTER_STATUS, UNIT_BEATS,
};
use heartbeat_core::text::push_decimal;
use heartbeat_core::validate::{Refusal, Subject, name_problem, reason_check};

/// [`heartbeat_core::semconv::STATUS_BEATING`], and so on, as stored here.
pub(crate) const BEATING: u8 = 0;
/// Failing: beats are held until the page recovers.
pub(crate) const FAILING: u8 = 1;
/// Stopped on purpose.
pub(crate) const STOPPED: u8 = 2;

struct Emitter {
    name: String,
    beats: u64,
    status: u8,
    /// The failure reason while [`FAILING`].
    reason: String,
}

/// Every emitter started on this page, in start order.
#[derive(Default)]
pub(crate) struct Emitters {
    all: Vec<Emitter>,
    /// Bumped on every change of a status: a batch that carries the latest one need not be
    /// followed by another while nothing else changes.
    pub(crate) version: u32,
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
            Some(i) if self.all[i].status != STOPPED => Err(StartError::Duplicate),
            Some(i) => {
                self.set(i, BEATING, "");
                Ok(i)
            }
            None => {
                self.all.push(Emitter {
                    name: name.into(),
                    beats: 0,
                    status: BEATING,
                    reason: String::new(),
                });
                self.version = self.version.wrapping_add(1);
                Ok(self.all.len() - 1)
            }
        }
    }

    /// Counts one beat of a beating emitter; a failing, stopped or unknown one records nothing
    /// (the native rule: beats are held while the emitter fails).
    pub(crate) fn beat(&mut self, i: usize) -> bool {
        match self.all.get_mut(i) {
            Some(e) if e.status == BEATING => {
                e.beats = e.beats.wrapping_add(1);
                true
            }
            _ => false,
        }
    }

    /// Stops an emitter; its count stays and is still reported, its status is `2`.
    pub(crate) fn stop(&mut self, i: usize) -> bool {
        self.status(i, STOPPED, "")
    }

    /// Sets a running emitter's status: [`BEATING`], or [`FAILING`] with `reason` (snake_case,
    /// as failure reasons; anything else is reported as `other`), or [`STOPPED`]. `false` if
    /// it is stopped or unknown, or if the reason was replaced by `other`.
    pub(crate) fn status(&mut self, i: usize, status: u8, reason: &str) -> bool {
        if self.all.get(i).is_none_or(|e| e.status == STOPPED) || status > STOPPED {
            return false;
        }
        let valid = status != FAILING || reason_check(reason).is_none();
        let reason = match status {
            FAILING if valid => reason,
            FAILING => "other",
            _ => "",
        };
        self.set(i, status, reason);
        valid
    }

    fn set(&mut self, i: usize, status: u8, reason: &str) {
        if let Some(e) = self.all.get_mut(i)
            && (e.status != status || e.reason != reason)
        {
            e.status = status;
            reason.clone_into(&mut e.reason);
            self.version = self.version.wrapping_add(1);
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

    /// Appends the `heartbeat.emitter.status` gauge (one point per emitter ever started, at
    /// `time` nanoseconds) to an OTLP/JSON `metrics` list being written, after `comma` if a
    /// metric comes before it. Names and reasons are validated, so they need no escaping.
    pub(crate) fn push_status_json(&self, o: &mut String, time: u64, comma: bool) {
        if self.all.is_empty() {
            return;
        }
        if comma {
            o.push(',');
        }
        o.push_str(r#"{"name":""#);
        o.push_str(METRIC_EMITTER_STATUS);
        o.push_str(r#"","description":""#);
        o.push_str(DESCRIPTION_EMITTER_STATUS);
        o.push_str(r#"","unit":"","gauge":{"dataPoints":["#);
        for (n, e) in self.all.iter().enumerate() {
            if n > 0 {
                o.push(',');
            }
            o.push_str(r#"{"attributes":["#);
            attribute(o, ATTR_EMITTER, &e.name);
            if e.status == FAILING {
                o.push(',');
                attribute(o, ATTR_REASON, &e.reason);
            }
            o.push_str(r#"],"timeUnixNano":""#);
            push_decimal(o, time);
            o.push_str(r#"","asInt":""#);
            push_decimal(o, u64::from(e.status));
            o.push_str(r#""}"#);
        }
        o.push_str("]}}");
    }
}

fn attribute(o: &mut String, key: &str, value: &str) {
    o.push_str(r#"{"key":""#);
    o.push_str(key);
    o.push_str(r#"","value":{"stringValue":""#);
    o.push_str(value);
    o.push_str(r#""}}"#);
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

    #[test]
    fn a_failing_emitter_holds_its_beats_and_reports_its_reason() {
        let mut e = Emitters::default();
        let a = e.start("web").ok().unwrap();
        assert!(e.beat(a));
        assert!(e.status(a, FAILING, "socket_closed"));
        assert!(!e.beat(a), "held while failing");
        let mut o = String::new();
        e.push_status_json(&mut o, 7, false);
        assert!(
            o.contains(r#"{"key":"heartbeat.reason","value":{"stringValue":"socket_closed"}}"#),
            "{o}"
        );
        assert!(o.contains(r#""timeUnixNano":"7","asInt":"1""#), "{o}");
        assert!(e.status(a, BEATING, ""));
        assert!(e.beat(a));
        assert_eq!(e.beats(a), 2);
        // A reason that breaks the syntax is reported as `other`.
        assert!(!e.status(a, FAILING, "Not A Reason"));
        let mut o = String::new();
        e.push_status_json(&mut o, 7, true);
        assert!(
            o.starts_with(r#",{"name":"heartbeat.emitter.status""#),
            "{o}"
        );
        assert!(o.contains(r#""stringValue":"other""#), "{o}");
        // Stopped: status 2, no reason, and no way back but a restart.
        assert!(e.stop(a));
        assert!(!e.status(a, BEATING, ""));
        let mut o = String::new();
        e.push_status_json(&mut o, 7, false);
        assert!(
            o.contains(r#""asInt":"2""#) && !o.contains(r#""key":"heartbeat.reason""#),
            "{o}"
        );
        assert_eq!(e.start("web").ok(), Some(a));
        assert!(e.beat(a));
    }

    #[test]
    fn the_version_moves_only_when_a_status_changes() {
        let mut e = Emitters::default();
        let a = e.start("web").ok().unwrap();
        let v = e.version;
        assert!(e.status(a, BEATING, ""));
        assert_eq!(e.version, v);
        assert!(e.status(a, FAILING, "gate_failed"));
        assert_ne!(e.version, v);
    }
}
