//! An Alertmanager configuration for the generated Prometheus alerts.
//!
//! The watchdog goes first, to its own receiver (the external dead-man channel), re-sent every
//! `watchdog_interval` so the channel sees a steady stream; then pages and tickets by severity.
//! Failing-gate alerts inhibit the dead-man alert of the same rule: one page, with the reason.

use std::fmt::Write as _;

use super::prometheus::{DEADMAN_ALERT, FAILING_ALERT, WATCHDOG_ALERT};
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

    let mut out = header("#", Engine::Alertmanager, source);
    out.push_str(
        "# Merge the routes, receivers and inhibit rules into your configuration if you already\n\
         # have one; keep the watchdog route first so no other route catches it.\n",
    );
    let _ = write!(
        out,
        "route:
  receiver: {TICKET}
  group_by: [alertname, heartbeat_rule]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 12h
  routes:
    # The always-firing watchdog, re-sent every {interval}: the external channel pages when it
    # stops arriving (Prometheus, Alertmanager or the network between them broke). Set the
    # channel's period to a few intervals.
    - matchers: [{watchdog_matcher}]
      receiver: {WATCHDOG}
      group_by: [alertname]
      group_wait: 0s
      group_interval: {interval}
      repeat_interval: {interval}
    - matchers: [{page_matcher}]
      receiver: {PAGE}
      repeat_interval: 1h
    - matchers: [{ticket_matcher}]
      receiver: {TICKET}
      repeat_interval: 12h
receivers:
  - name: {PAGE}
    webhook_configs:
      - url: {page_url}
        send_resolved: true
  - name: {TICKET}
    webhook_configs:
      - url: {ticket_url}
        send_resolved: true
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
        failing_matcher = quoted(&format!("alertname=\"{FAILING_ALERT}\"")),
        deadman_matcher = quoted(&format!("alertname=\"{DEADMAN_ALERT}\"")),
    );
    Ok(out)
}
