//! An Alertmanager configuration for the generated Prometheus alerts.
//!
//! The watchdog goes first, to its own receiver (the external dead-man channel), re-sent every
//! `watchdog_interval` so the channel sees a steady stream; then pages and tickets by severity.
//! Failing-gate alerts inhibit the dead-man alert of the same rule: one page, with the reason.

use std::fmt::Write as _;
use std::time::Duration;

use super::prometheus::{DEADMAN_ALERT, FAILING_ALERT, SILENT_ALERT, WATCHDOG_ALERT};
use super::{Engine, GenerateError, header, quoted};
use crate::rulefile::{DisplayDuration, RuleFile};

const PAGE: &str = "heartbeat-page";
const TICKET: &str = "heartbeat-ticket";
const WATCHDOG: &str = "heartbeat-watchdog";

pub(super) fn generate(rules: &RuleFile, source: &str) -> Result<String, GenerateError> {
    let settings = &rules.generate.alertmanager;
    let watchdog_url = settings
        .watchdog_url
        .as_deref()
        .ok_or(GenerateError::MissingSetting {
            engine: Engine::Alertmanager,
            key: "generate.alertmanager.watchdog_url",
            why: "the external dead-man channel that receives the always-firing watchdog",
        })?;
    let page_url = settings
        .page_url
        .as_deref()
        .ok_or(GenerateError::MissingSetting {
            engine: Engine::Alertmanager,
            key: "generate.alertmanager.page_url",
            why: "the webhook that receives severity=page alerts",
        })?;
    let ticket_url = settings.ticket_url.as_deref().unwrap_or(page_url);
    let interval = DisplayDuration(settings.watchdog_interval);
    // Alertmanager re-sends a group at a flush (every group_interval) once repeat_interval has
    // passed since the last notification was logged, which is within moments of its flush:
    // with both equal, the flush one interval later races that check and the watchdog arrives
    // every interval or every second one (measured: median 2x). A quarter-interval flush and a
    // repeat half a flush short of the interval put the decision between two flushes, away
    // from any race: every fourth flush, on the interval.
    let (flush, repeat) = watchdog_timers(settings.watchdog_interval);

    let mut out = header("#", Engine::Alertmanager, source);
    out.push_str(
        "# Merge the routes, receivers and inhibit rules into your configuration if you already\n\
         # have one; keep the watchdog route first so no other route catches it.\n\
         #\n\
         # Timing (docs/rules.md, \"Timing\"): a page leaves 10 s after its first alert arrives\n\
         # (group_wait), changes to an open page and its resolution within 1 m (group_interval);\n\
         # tickets wait 1 m and 5 m. When Prometheus stops, Alertmanager keeps every alert until\n\
         # its endsAt, 4 x Prometheus' --rules.alert.resend-delay (default 1m) after the last\n\
         # evaluation: the watchdog goes on that long, and then Alertmanager resolves every alert\n\
         # that was open, although nothing was evaluated. So pages are not resolved by\n\
         # Alertmanager (generate.alertmanager.page_send_resolved, default false): a person\n\
         # resolves them. Run Prometheus with --rules.alert.resend-delay=15s to see an outage at\n\
         # the external channel within 1 m + its period.\n",
    );
    let _ = write!(
        out,
        "route:
  receiver: {TICKET}
  group_by: [alertname, heartbeat_rule, heartbeat_sla]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 12h
  routes:
    # The always-firing watchdog, delivered every {interval}: the external channel pages when it
    # stops arriving (Prometheus, Alertmanager or the network between them broke). Set the
    # channel's period to a few intervals.
    - matchers: [{watchdog_matcher}]
      receiver: {WATCHDOG}
      group_by: [alertname]
      group_wait: 0s
      group_interval: {flush}
      repeat_interval: {repeat}
    - matchers: [{page_matcher}]
      receiver: {PAGE}
      group_wait: 10s
      group_interval: 1m
      repeat_interval: 1h
    - matchers: [{ticket_matcher}]
      receiver: {TICKET}
      group_wait: 1m
      group_interval: 5m
      repeat_interval: 12h
receivers:
  - name: {PAGE}
    webhook_configs:
      - url: {page_url}
        send_resolved: {page_resolved}
  - name: {TICKET}
    webhook_configs:
      - url: {ticket_url}
        send_resolved: {ticket_resolved}
  - name: {WATCHDOG}
    webhook_configs:
      - url: {watchdog_url}
        send_resolved: false
inhibit_rules:
  # The service said why (its gate fails): page once, with the reason.
  - source_matchers: [{failing_matcher}]
    target_matchers: [{deadman_matcher}]
    equal: [heartbeat_rule]
",
        watchdog_matcher = quoted(&format!("alertname=\"{WATCHDOG_ALERT}\"")),
        page_matcher = quoted("severity=\"page\""),
        ticket_matcher = quoted("severity=\"ticket\""),
        page_url = quoted(page_url),
        ticket_url = quoted(ticket_url),
        watchdog_url = quoted(watchdog_url),
        page_resolved = settings.page_send_resolved,
        ticket_resolved = settings.ticket_send_resolved,
        failing_matcher = quoted(&format!("alertname=\"{FAILING_ALERT}\"")),
        deadman_matcher = quoted(&format!("alertname=~\"{DEADMAN_ALERT}|{SILENT_ALERT}\"")),
    );
    Ok(out)
}

/// The watchdog route's `group_interval` and `repeat_interval` for a delivery every
/// `interval`: a flush every quarter interval, due half a flush before the interval.
pub(crate) fn watchdog_timers(interval: Duration) -> (String, String) {
    let flush = interval / 4;
    (
        am_duration(flush),
        am_duration(interval.saturating_sub(flush / 2)),
    )
}

/// A duration as Alertmanager reads it: whole units, with milliseconds when there are any.
fn am_duration(duration: Duration) -> String {
    let millis = duration.subsec_millis();
    let whole = Duration::from_secs(duration.as_secs());
    match (whole.is_zero(), millis) {
        (_, 0) => DisplayDuration(whole).to_string(),
        (true, ms) => format!("{ms}ms"),
        (false, ms) => format!("{}{ms}ms", DisplayDuration(whole)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_flushes_four_times_an_interval_and_is_due_half_a_flush_early() {
        assert_eq!(
            watchdog_timers(Duration::from_secs(60)),
            ("15s".to_owned(), "52s500ms".to_owned())
        );
        assert_eq!(
            watchdog_timers(Duration::from_secs(5)),
            ("1s250ms".to_owned(), "4s375ms".to_owned())
        );
        assert_eq!(
            watchdog_timers(Duration::from_secs(2)),
            ("500ms".to_owned(), "1s750ms".to_owned())
        );
    }
}
