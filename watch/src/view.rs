//! The live terminal view: outcome rates per surface and tenant, dead-man state, open alerts and
//! the SLA so far. ANSI redraw on a terminal, plain text otherwise.

use std::fmt::Write as _;

use heartbeat::semconv::ATTR_TENANT;

use crate::alert::Alert;
use crate::clock::{human, rfc3339};
use crate::judge::{RuleState, Snapshot};

/// Tenants shown per outcome rule.
const TENANTS_SHOWN: usize = 6;

/// Clears the screen and moves the cursor home.
pub(crate) const CLEAR: &str = "\x1b[H\x1b[2J";

fn state_str(state: RuleState, ansi: bool) -> String {
    let (text, colour) = match state {
        RuleState::Warming => ("warming", "2"),
        RuleState::Ok => ("ok", "32"),
        RuleState::Pending => ("pending", "33"),
        RuleState::Firing => ("FIRING", "1;31"),
        RuleState::Stopped => ("stopped", "36"),
        RuleState::NoData => ("NO DATA", "1;35"),
    };
    if ansi {
        format!("\x1b[{colour}m{text:<8}\x1b[0m")
    } else {
        format!("{text:<8}")
    }
}

/// Renders the view.
pub(crate) fn render(s: &Snapshot, ansi: bool, title: &str) -> String {
    let mut out = String::new();
    let bold = |t: &str| {
        if ansi {
            format!("\x1b[1m{t}\x1b[0m")
        } else {
            t.to_owned()
        }
    };
    let _ = writeln!(
        out,
        "{} {}  |  {} series, {} points stored, tick {}",
        bold(title),
        rfc3339(s.now_ms),
        s.series,
        s.points_stored,
        human(s.tick_ms)
    );
    if !s.outcomes.is_empty() {
        let _ = writeln!(out, "\n{}", bold("Outcomes (last closed window)"));
        for o in &s.outcomes {
            let ratio = o
                .success_ratio
                .map_or("-".to_owned(), |r| format!("{:.1}%", r * 100.0));
            let _ = writeln!(
                out,
                "  {} {:<22} {:>9.1}/min  success {:>6}  ({} ok, {} failed in {})",
                state_str(o.state, ansi),
                o.rule,
                o.rate_per_minute,
                ratio,
                o.successes,
                o.failures,
                human(o.window_ms)
            );
            let mut tenants = 0;
            for d in &o.by_attribute {
                let is_tenant = d.key == ATTR_TENANT;
                if is_tenant {
                    tenants += 1;
                    if tenants > TENANTS_SHOWN {
                        continue;
                    }
                }
                let total = d.successes + d.failures;
                let ratio = if total > 0.0 {
                    format!("{:.1}%", d.successes / total * 100.0)
                } else {
                    "-".to_owned()
                };
                let key = if is_tenant { "tenant" } else { d.key.as_str() };
                let _ = writeln!(
                    out,
                    "      {:<28} {:>6} ok {:>6} failed  success {:>6}",
                    format!("{key}={}", d.value),
                    d.successes,
                    d.failures,
                    ratio
                );
            }
            if tenants > TENANTS_SHOWN {
                let _ = writeln!(out, "      ... {} more tenants", tenants - TENANTS_SHOWN);
            }
        }
    }
    if !s.deadman.is_empty() {
        let _ = writeln!(out, "\n{}", bold("Heartbeats"));
        for d in &s.deadman {
            let stale_beat = d.last_beat_age_ms.is_none_or(|a| a > d.window_ms);
            let mut status = match d.status {
                // A killed process's last status said "beating": never show that for an
                // emitter whose beats stopped.
                Some(0) if stale_beat => "not beating (its last status said beating)".to_owned(),
                Some(0) => "status beating".to_owned(),
                Some(1) => "status FAILING".to_owned(),
                Some(2) => "stopped on purpose".to_owned(),
                Some(_) => "unknown status".to_owned(),
                None => "no status".to_owned(),
            };
            if let Some(age) = d.status_age_ms.filter(|a| *a > d.window_ms) {
                status = format!("{status} (status not reported for {})", human(age));
            }
            if let Some(c) = d.classification {
                status = format!("{c}: {status}");
            } else if !d.seen {
                status = "never seen: no beat of it ever arrived".to_owned();
            }
            let age = d
                .last_beat_age_ms
                .map_or("never".to_owned(), |a| format!("{} ago", human(a)));
            let _ = writeln!(
                out,
                "  {} {:<22} {}/{} beats per window, last beat {age}, {status}",
                state_str(d.state, ansi),
                d.rule,
                d.beats,
                d.min_beats
            );
        }
    }
    let _ = writeln!(out, "\n{}", bold("Open alerts"));
    if s.open_alerts.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for a in &s.open_alerts {
        out.push_str(&alert_lines(a, ansi, s.now_ms));
    }
    if !s.sla.is_empty() {
        let _ = writeln!(out, "\n{}", bold("SLA this month"));
        for l in &s.sla {
            let unit = if l.slot_ms == 60_000 {
                "min".to_owned()
            } else {
                format!("x{}", human(l.slot_ms))
            };
            let _ = writeln!(
                out,
                "  {:<22} {:>8.3}% (objective {:.2}%), {} {unit} down of {} observed{}{}",
                l.name,
                l.availability * 100.0,
                l.objective * 100.0,
                l.down,
                l.observed,
                if l.down_now { ", DOWN now" } else { "" },
                if l.unknown > 0 {
                    format!(", {} {unit} unknown (counted down)", l.unknown)
                } else {
                    String::new()
                }
            );
        }
    }
    out
}

/// An alert as a few lines: summary, classification, since, who, what to do.
pub(crate) fn alert_lines(a: &Alert, ansi: bool, now_ms: i64) -> String {
    let mut out = String::new();
    let head = format!("[{}] {} ({})", a.severity, a.rule, a.classification);
    let head = if ansi {
        format!("\x1b[1;31m{head}\x1b[0m")
    } else {
        head
    };
    let _ = writeln!(out, "  {head}: {}", a.summary);
    let _ = writeln!(
        out,
        "      since {} ({} ago)",
        a.since,
        human(now_ms - a.since_ms)
    );
    if !a.attributes.is_empty() {
        let list: Vec<String> = a
            .attributes
            .iter()
            .map(|c| format!("{}={} {:.0}%", c.key, c.value, c.share_of_drop * 100.0))
            .collect();
        let _ = writeln!(out, "      carried by: {}", list.join(", "));
    }
    if !a.tenants.is_empty() {
        let list: Vec<String> = a
            .tenants
            .iter()
            .map(|c| {
                format!(
                    "{} {:.0}% of the drop ({:.0}% of traffic)",
                    c.value,
                    c.share_of_drop * 100.0,
                    c.share_of_traffic * 100.0
                )
            })
            .collect();
        let _ = writeln!(out, "      tenants: {}", list.join(", "));
    }
    for action in a.actions.iter().take(3) {
        let _ = writeln!(out, "      -> {action}");
    }
    for run in &a.actions_taken {
        let _ = writeln!(out, "      action: {}", run.summary);
    }
    if let Some(url) = &a.runbook_url {
        let _ = writeln!(out, "      runbook: {url}");
    }
    for d in a.delivery.iter().filter(|d| d.state != "delivered") {
        let _ = writeln!(
            out,
            "      delivery to {}: {} ({} attempt(s){})",
            d.sink,
            d.state.to_uppercase(),
            d.attempts,
            d.last_error
                .as_deref()
                .map_or(String::new(), |e| format!(", last: {e}"))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{DeadmanView, OutcomeView, SlaView};

    fn snapshot() -> Snapshot {
        Snapshot {
            now_ms: 0,
            tick_ms: 10_000,
            series: 3,
            points_stored: 9,
            outcomes: vec![OutcomeView {
                rule: "send".into(),
                outcome: "message.send".into(),
                window_ms: 60_000,
                successes: 90.0,
                failures: 10.0,
                rate_per_minute: 90.0,
                success_ratio: Some(0.9),
                state: RuleState::Firing,
                by_attribute: vec![],
                seen: true,
                last_point_ms: Some(0),
                classification: None,
                window_start_ms: Some(0),
                last_window_partial: false,
                partial: Default::default(),
            }],
            deadman: vec![DeadmanView {
                rule: "api".into(),
                service: "svc".into(),
                emitter: Some("api".into()),
                beats: 6.0,
                min_beats: 5,
                state: RuleState::Ok,
                status: Some(0),
                last_beat_age_ms: Some(1000),
                status_age_ms: Some(1000),
                window_ms: 60_000,
                classification: None,
                seen: true,
            }],
            open_alerts: vec![],
            recent_alerts: vec![],
            sla: vec![SlaView {
                name: "core".into(),
                objective: 0.999,
                slot_ms: 60_000,
                observed: 10,
                down: 1,
                unknown: 0,
                up: 9,
                availability: 0.9,
                availability_known: Some(0.9),
                met: false,
                down_now: true,
                unknown_now: false,
            }],
        }
    }

    #[test]
    fn plain_text_has_every_section_and_no_escape_codes() {
        let text = render(&snapshot(), false, "watch");
        assert!(!text.contains('\x1b'));
        for needle in [
            "Outcomes (last closed window)",
            "FIRING   send",
            "success  90.0%",
            "Heartbeats",
            "6/5 beats per window",
            "Open alerts\n  none",
            "core                     90.000% (objective 99.90%), 1 min down of 10 observed, DOWN now",
        ] {
            assert!(text.contains(needle), "{needle:?} in\n{text}");
        }
    }

    #[test]
    fn the_terminal_view_is_coloured() {
        assert!(render(&snapshot(), true, "watch").contains("\x1b[1;31mFIRING"));
    }
}
