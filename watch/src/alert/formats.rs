//! Native request bodies for vendor sinks: PagerDuty, Opsgenie, Slack, and a generic incident
//! webhook.
//!
//! Each function turns one [`Alert`] event (firing or resolved) into the one HTTP request the
//! vendor's API expects; nothing here sends anything. The alert id is the stable key that ties
//! a resolve to its trigger (PagerDuty's `dedup_key`, Opsgenie's `alias`), hashed
//! deterministically when it is longer than the vendor allows. Every text field is cut to its
//! documented limit on a character boundary, and a credential goes only where the vendor reads
//! it: PagerDuty's `routing_key` in the body, Opsgenie's key in the `Authorization` header,
//! never in a URL or a text field.
//!
//! | sink | firing | resolved | limits kept |
//! |---|---|---|---|
//! | PagerDuty Events API v2 | `trigger` | `resolve` | `dedup_key` 255, `payload.summary` 1,024 |
//! | Opsgenie Alert API | create (`POST {base}/v2/alerts`) | close by alias | message 130, alias 512, description 15,000, tags 20 × 50, details 8,000, source 100, note 25,000 |
//! | Slack incoming webhook | Block Kit message | Block Kit message | section and context text 3,000 |
//! | incident webhook | `"event": "open"` | `"event": "resolve"` | none |

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::{Alert, AlertStatus, Contributor, Deploy};
use crate::clock::rfc3339;

/// One HTTP request that delivers an alert event to a sink.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    /// Where to `POST` it.
    pub(crate) url: String,
    /// Headers, `Content-Type` included.
    pub(crate) headers: Vec<(String, String)>,
    /// The JSON body.
    pub(crate) body: serde_json::Value,
}

/// PagerDuty's Events API v2 endpoint.
pub(crate) const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Opsgenie's API base (`https://api.eu.opsgenie.com` for the EU instance).
pub(crate) const OPSGENIE_URL: &str = "https://api.opsgenie.com";

/// The name the watch signs events with (PagerDuty `client`, Opsgenie `source`).
const CLIENT: &str = "heartbeat-watch";

/// PagerDuty: `dedup_key` at most 255 characters.
const PD_DEDUP_KEY: usize = 255;
/// PagerDuty: `payload.summary` at most 1,024 characters.
const PD_SUMMARY: usize = 1024;

/// Opsgenie: `message` (required) at most 130 characters.
const OG_MESSAGE: usize = 130;
/// Opsgenie: `alias` at most 512 characters.
const OG_ALIAS: usize = 512;
/// Opsgenie: `description` at most 15,000 characters.
const OG_DESCRIPTION: usize = 15_000;
/// Opsgenie: `entity` at most 512 characters.
const OG_ENTITY: usize = 512;
/// Opsgenie: `source` at most 100 characters.
const OG_SOURCE: usize = 100;
/// Opsgenie: `note` at most 25,000 characters.
const OG_NOTE: usize = 25_000;
/// Opsgenie: at most 20 tags.
const OG_TAGS: usize = 20;
/// Opsgenie: each tag at most 50 characters.
const OG_TAG: usize = 50;
/// Opsgenie: `details`, keys and values together, at most 8,000 characters.
const OG_DETAILS: usize = 8000;

/// Slack: a section's (and a context element's) text at most 3,000 characters.
const SLACK_TEXT: usize = 3000;
/// Slack: the top-level `text` fallback, kept to a section's size (Slack advises under 4,000).
const SLACK_FALLBACK: usize = 3000;
/// Slack: a context block holds at most 10 elements.
const SLACK_CONTEXT_ELEMENTS: usize = 10;

/// PagerDuty Events API v2: trigger on firing, resolve on resolved, one stable dedup_key per
/// alert (alert.id).
///
/// A trigger carries `payload.summary`, `source` (the service, else the signal), `severity`
/// (`page` is `critical`, `ticket` is `warning`), `timestamp`, `component` (the rule), `class`
/// (the classification), `group` (the service) and `custom_details` (classification, details,
/// conditions, tenants, attributes, deploys, actions, runbook_url, sop), the runbook in
/// `links`, and `client`. A resolve carries only what the API reads for it: `routing_key`,
/// `event_action` and `dedup_key`.
pub(crate) fn pagerduty(alert: &Alert, url: &str, routing_key: &str) -> Request {
    let dedup_key = stable_key(&alert.id, PD_DEDUP_KEY);
    let body = match alert.status {
        AlertStatus::Resolved => json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        }),
        AlertStatus::Firing => {
            let severity = if is_ticket(alert) {
                "warning"
            } else {
                "critical"
            };
            let mut details = Map::new();
            details.insert("rule".into(), json!(alert.rule));
            details.insert("kind".into(), json!(alert.kind));
            details.insert("signal".into(), json!(alert.signal));
            details.insert("since".into(), json!(alert.since));
            details.insert(
                "classification".into(),
                json!(alert.classification.as_str()),
            );
            details.insert("details".into(), json!(alert.details));
            details.insert("conditions".into(), json!(alert.conditions));
            details.insert("tenants".into(), json!(contributor_lines(&alert.tenants)));
            details.insert(
                "attributes".into(),
                json!(contributor_lines(&alert.attributes)),
            );
            details.insert("deploys".into(), json!(deploy_lines(&alert.deploys)));
            details.insert("actions".into(), json!(alert.actions));
            if let Some(runbook) = &alert.runbook_url {
                details.insert("runbook_url".into(), json!(runbook));
            }
            if let Some(sop) = &alert.sop {
                details.insert("sop".into(), json!(sop));
            }
            let mut payload = json!({
                "summary": truncate(&title(alert), PD_SUMMARY),
                "source": source(alert),
                "severity": severity,
                "timestamp": alert.since,
                "component": alert.rule,
                "class": alert.classification.as_str(),
                "custom_details": details,
            });
            if let (Some(service), Some(map)) = (&alert.service, payload.as_object_mut()) {
                map.insert("group".into(), json!(service));
            }
            let mut body = json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "payload": payload,
                "client": CLIENT,
            });
            if let (Some(runbook), Some(map)) = (&alert.runbook_url, body.as_object_mut()) {
                map.insert(
                    "links".into(),
                    json!([{ "href": runbook, "text": "Runbook" }]),
                );
            }
            body
        }
    };
    Request {
        url: url.to_owned(),
        headers: json_headers(),
        body,
    }
}

/// Opsgenie Alert API: create (POST {base}/v2/alerts, alias = a stable id from alert.id) on
/// firing; close (POST {base}/v2/alerts/{alias}/close?identifierType=alias) on resolved;
/// header `Authorization: GenieKey <key>`.
///
/// A create carries `message` (the summary), `alias`, `description` (summary, runbook, SOP,
/// then the facts, conditions, tenants, deploys and actions), `priority` (`page` is `P1`,
/// `ticket` is `P3`), `source`, `entity` (the service, else the signal), `tags` and `details`
/// (a map of strings). A close carries `source` and a `note`.
pub(crate) fn opsgenie(alert: &Alert, base_url: &str, api_key: &str) -> Request {
    let base = base_url.trim_end_matches('/');
    let alias = stable_key(&alert.id, OG_ALIAS);
    let mut headers = json_headers();
    headers.push(("Authorization".to_owned(), format!("GenieKey {api_key}")));
    let (url, body) = match alert.status {
        AlertStatus::Firing => {
            let priority = if is_ticket(alert) { "P3" } else { "P1" };
            let body = json!({
                "message": truncate(&title(alert), OG_MESSAGE),
                "alias": alias,
                "description": truncate(&description(alert), OG_DESCRIPTION),
                "priority": priority,
                "source": truncate(CLIENT, OG_SOURCE),
                "entity": truncate(&source(alert), OG_ENTITY),
                "tags": opsgenie_tags(alert),
                "details": opsgenie_details(alert),
            });
            (format!("{base}/v2/alerts"), body)
        }
        AlertStatus::Resolved => {
            let at = alert.resolved_ms.map_or_else(|| "now".to_owned(), rfc3339);
            let body = json!({
                "source": truncate(CLIENT, OG_SOURCE),
                "note": truncate(&format!("Resolved at {at}: {}", title(alert)), OG_NOTE),
            });
            let url = format!(
                "{base}/v2/alerts/{}/close?identifierType=alias",
                path_segment(&alias)
            );
            (url, body)
        }
    };
    Request { url, headers, body }
}

/// Slack incoming webhook: readable Block Kit blocks (summary with severity and status,
/// tenants, deploy, suggested actions, runbook link, SOP) and a plain `text` fallback.
///
/// Blocks, each present only when it has something to say: a section with the status,
/// severity, rule, summary and facts; a context with classification, since (and resolved at),
/// service and signal; sections for who carries the drop, deploys before the start, suggested
/// actions, the runbook link and the SOP; a context with the alert id. User text is escaped
/// (`&`, `<`, `>`), so an alert cannot mention `<!channel>`.
pub(crate) fn slack(alert: &Alert, url: &str) -> Request {
    let status = status_word(alert.status);
    let emoji = match alert.status {
        AlertStatus::Resolved => ":white_check_mark:",
        AlertStatus::Firing if is_ticket(alert) => ":warning:",
        AlertStatus::Firing => ":rotating_light:",
    };

    let mut head = format!(
        "{emoji} *{status}* · {} · `{}`\n*{}*",
        escape(&alert.severity),
        escape(&alert.rule),
        escape(&title(alert)),
    );
    for detail in &alert.details {
        let _ = write!(head, "\n{}", escape(detail));
    }
    let mut blocks = vec![section(&head)];

    let mut facts = vec![
        format!("*Classification:* {}", alert.classification.as_str()),
        format!("*Since:* {}", escape(&alert.since)),
    ];
    if let (AlertStatus::Resolved, Some(ms)) = (alert.status, alert.resolved_ms) {
        facts.push(format!("*Resolved:* {}", rfc3339(ms)));
    }
    if let Some(service) = &alert.service {
        facts.push(format!("*Service:* {}", escape(service)));
    }
    facts.push(format!("*Signal:* `{}`", escape(&alert.signal)));
    blocks.push(context(&facts));

    let who: Vec<String> = contributor_lines(&alert.tenants)
        .into_iter()
        .chain(contributor_lines(&alert.attributes))
        .collect();
    if !who.is_empty() {
        blocks.push(section(&bullets("Who carries the drop", &who)));
    }
    if !alert.deploys.is_empty() {
        blocks.push(section(&bullets(
            "Deploys before the start",
            &deploy_lines(&alert.deploys),
        )));
    }
    if !alert.actions.is_empty() {
        blocks.push(section(&bullets("Suggested actions", &alert.actions)));
    }
    if let Some(runbook) = &alert.runbook_url {
        blocks.push(section(&format!(
            "*Runbook:* <{}|{}>",
            link_target(runbook),
            escape(runbook)
        )));
    }
    if let Some(sop) = &alert.sop {
        let quoted: Vec<String> = sop
            .lines()
            .map(|line| format!(">{}", escape(line)))
            .collect();
        blocks.push(section(&format!("*SOP*\n{}", quoted.join("\n"))));
    }
    blocks.push(context(&[format!(
        "{CLIENT} · alert `{}`",
        escape(&alert.id)
    )]));

    let mut text = format!(
        "{status} [{}] {}",
        escape(&alert.severity),
        escape(&title(alert))
    );
    if let Some(runbook) = &alert.runbook_url {
        let _ = write!(text, " Runbook: {}", escape(runbook));
    }
    Request {
        url: url.to_owned(),
        headers: json_headers(),
        body: json!({
            "text": truncate(&text, SLACK_FALLBACK),
            "blocks": blocks,
        }),
    }
}

/// A generic incident webhook: {"event": "open"|"resolve", "dedup_key", "title", "severity",
/// "service", "alert": <the alert JSON>, "runbook_url", "sop"}.
///
/// `dedup_key` is the alert id unchanged; `service`, `runbook_url` and `sop` are `null` when
/// the rule has none.
pub(crate) fn incident(alert: &Alert, url: &str) -> Request {
    let event = match alert.status {
        AlertStatus::Firing => "open",
        AlertStatus::Resolved => "resolve",
    };
    Request {
        url: url.to_owned(),
        headers: json_headers(),
        body: json!({
            "event": event,
            "dedup_key": alert.id,
            "title": title(alert),
            "severity": alert.severity,
            "service": alert.service,
            "alert": alert.to_json(),
            "runbook_url": alert.runbook_url,
            "sop": alert.sop,
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

fn json_headers() -> Vec<(String, String)> {
    vec![("Content-Type".to_owned(), "application/json".to_owned())]
}

/// `ticket` is the low urgency; anything else pages (an unknown severity is never downgraded).
fn is_ticket(alert: &Alert) -> bool {
    alert.severity == "ticket"
}

fn status_word(status: AlertStatus) -> &'static str {
    match status {
        AlertStatus::Firing => "FIRING",
        AlertStatus::Resolved => "RESOLVED",
    }
}

/// The one line for a pager: the summary, or the rule and classification if it is blank (every
/// vendor requires a non-empty title).
fn title(alert: &Alert) -> String {
    if alert.summary.trim().is_empty() {
        format!("{}: {}", alert.rule, alert.classification)
    } else {
        alert.summary.clone()
    }
}

/// The affected system: the service, else the watched signal.
fn source(alert: &Alert) -> String {
    alert
        .service
        .clone()
        .unwrap_or_else(|| alert.signal.clone())
}

fn contributor_lines(contributors: &[Contributor]) -> Vec<String> {
    contributors
        .iter()
        .map(|c| {
            let mut line = format!(
                "{}={}: {:.0}% of the drop, {:.0}% of the traffic",
                c.key,
                c.value,
                c.share_of_drop * 100.0,
                c.share_of_traffic * 100.0
            );
            if let Some(ratio) = c.success_ratio {
                let _ = write!(line, ", success {:.1}%", ratio * 100.0);
                if let Some(usual) = c.usual_success_ratio {
                    let _ = write!(line, " (usually {:.1}%)", usual * 100.0);
                }
            }
            line
        })
        .collect()
}

fn deploy_lines(deploys: &[Deploy]) -> Vec<String> {
    deploys
        .iter()
        .map(|d| {
            let minutes = d.before_start_ms.unsigned_abs().div_ceil(60_000);
            let when = if d.before_start_ms >= 0 {
                format!("{minutes} min before the start")
            } else {
                format!("{minutes} min after the start")
            };
            format!(
                "{} {} -> {} at {} ({when})",
                d.service,
                d.from,
                d.to,
                rfc3339(d.at_ms)
            )
        })
        .collect()
}

/// Opsgenie's description: the summary, then the runbook and SOP (near the top, so a cut at
/// the limit never loses them), then the facts.
fn description(alert: &Alert) -> String {
    let mut out = title(alert);
    if let Some(runbook) = &alert.runbook_url {
        let _ = write!(out, "\n\nRunbook: {runbook}");
    }
    if let Some(sop) = &alert.sop {
        let _ = write!(out, "\n\nSOP:\n{sop}");
    }
    let _ = write!(
        out,
        "\n\nClassification: {}\nSignal: {}\nSince: {}",
        alert.classification, alert.signal, alert.since
    );
    let sections = [
        ("Details", alert.details.clone()),
        ("Conditions", alert.conditions.clone()),
        ("Tenants", contributor_lines(&alert.tenants)),
        ("Attributes", contributor_lines(&alert.attributes)),
        ("Deploys", deploy_lines(&alert.deploys)),
        ("Suggested actions", alert.actions.clone()),
    ];
    for (heading, lines) in sections {
        if !lines.is_empty() {
            let _ = write!(out, "\n\n{heading}:");
            for line in lines {
                let _ = write!(out, "\n- {line}");
            }
        }
    }
    out
}

fn opsgenie_tags(alert: &Alert) -> Vec<String> {
    let mut tags = vec![
        "heartbeat".to_owned(),
        format!("heartbeat_rule:{}", alert.rule),
        format!("severity:{}", alert.severity),
        format!("classification:{}", alert.classification),
    ];
    if let Some(service) = &alert.service {
        tags.push(format!("service:{service}"));
    }
    tags.truncate(OG_TAGS);
    tags.iter().map(|tag| truncate(tag, OG_TAG)).collect()
}

/// Opsgenie's details: a map of strings, keys and values together within
/// [`OG_DETAILS`]; the runbook and SOP come first so the budget never drops them.
fn opsgenie_details(alert: &Alert) -> Map<String, Value> {
    let mut entries: Vec<(&str, String)> = Vec::new();
    if let Some(runbook) = &alert.runbook_url {
        entries.push(("runbook_url", runbook.clone()));
    }
    if let Some(sop) = &alert.sop {
        entries.push(("sop", sop.clone()));
    }
    entries.push(("rule", alert.rule.clone()));
    entries.push(("classification", alert.classification.to_string()));
    entries.push(("signal", alert.signal.clone()));
    entries.push(("since", alert.since.clone()));
    if let Some(service) = &alert.service {
        entries.push(("service", service.clone()));
    }
    entries.push(("alert_id", alert.id.clone()));
    let lists = [
        ("tenants", contributor_lines(&alert.tenants)),
        ("attributes", contributor_lines(&alert.attributes)),
        ("deploys", deploy_lines(&alert.deploys)),
        ("actions", alert.actions.clone()),
    ];
    for (key, lines) in lists {
        if !lines.is_empty() {
            entries.push((key, lines.join("\n")));
        }
    }

    let mut budget = OG_DETAILS;
    let mut map = Map::new();
    for (key, value) in entries {
        let key_len = key.chars().count();
        // A key with room for at least a few characters of its value, or none at all.
        if budget < key_len + 8 {
            break;
        }
        budget -= key_len;
        let value = truncate(&value, budget);
        budget -= value.chars().count();
        map.insert(key.to_owned(), Value::String(value));
    }
    map
}

fn section(text: &str) -> Value {
    json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": truncate(text, SLACK_TEXT) },
    })
}

fn context(texts: &[String]) -> Value {
    let elements: Vec<Value> = texts
        .iter()
        .take(SLACK_CONTEXT_ELEMENTS)
        .map(|text| json!({ "type": "mrkdwn", "text": truncate(text, SLACK_TEXT) }))
        .collect();
    json!({ "type": "context", "elements": elements })
}

/// `*heading*` and one escaped bullet per line.
fn bullets(heading: &str, lines: &[String]) -> String {
    let mut out = format!("*{heading}*");
    for line in lines {
        let _ = write!(out, "\n• {}", escape(line));
    }
    out
}

/// Slack's three control characters in text, escaped as its documentation asks.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A URL inside Slack's `<url|label>`: escaped, and a `|` percent-encoded so it cannot end
/// the target early.
fn link_target(url: &str) -> String {
    escape(url).replace('|', "%7C")
}

/// `text` cut to at most `max` characters on a character boundary, ending in `…` when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    if max > 0 {
        out.push('…');
    }
    out
}

/// A stable key of at most `max` characters: the id itself when it fits, otherwise its head
/// and a hash of the whole id, so two long ids with the same head still differ.
fn stable_key(id: &str, max: usize) -> String {
    if id.chars().count() <= max {
        return id.to_owned();
    }
    let hash = fnv1a(id);
    // `-` and 16 hex digits.
    let head: String = id.chars().take(max.saturating_sub(17)).collect();
    let key = format!("{head}-{hash:016x}");
    truncate(&key, max)
}

/// FNV-1a, 64 bits: a deterministic id, not a security property.
fn fnv1a(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One URL path segment: every byte outside RFC 3986's unreserved characters and `@`
/// percent-encoded.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTING_KEY: &str = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32";
    const GENIE_KEY: &str = "eb243592-faa2-4ba2-a551-1afdf565c889";
    const RUNBOOK: &str = "https://runbooks.example/message-send?x=1&y=2";
    const SOP: &str = "1. Check the deploy.\n2. Roll back if it is the cause.";

    /// Built from JSON, as a sink's alert arrives, so fields added later with a serde default
    /// need no change here.
    fn alert(status: AlertStatus) -> Alert {
        let resolved_ms = (status == AlertStatus::Resolved).then_some(1_763_700_660_000_i64);
        serde_json::from_value(json!({
            "id": "message-send@1763700060000",
            "rule": "message-send",
            "kind": "outcome",
            "status": status,
            "severity": "page",
            "service": "messenger-api",
            "signal": "heartbeat.outcomes{heartbeat.outcome=\"message.send\"}",
            "since_ms": 1_763_700_060_000_i64,
            "since": "2025-11-21T04:41:00Z",
            "resolved_ms": resolved_ms,
            "classification": "success_ratio",
            "conditions": ["success ratio 0.61 < 0.95"],
            "summary": "message.send of messenger-api: success ratio 61% below 95% over 5m",
            "details": ["1,220 failures in 5m, usually 12"],
            "tenants": [{
                "key": "heartbeat.tenant",
                "value": "acme",
                "share_of_drop": 0.82,
                "share_of_traffic": 0.1,
                "success_ratio": 0.2,
                "usual_success_ratio": 0.99,
            }],
            "attributes": [{
                "key": "surface",
                "value": "web_messenger",
                "share_of_drop": 0.9,
                "share_of_traffic": 0.4,
                "success_ratio": null,
                "usual_success_ratio": null,
            }],
            "deploys": [{
                "service": "messenger-api",
                "from": "1.4.1",
                "to": "1.4.2",
                "at_ms": 1_763_699_940_000_i64,
                "before_start_ms": 120_000,
            }],
            "actions": ["Roll back messenger-api 1.4.2"],
            "runbook_url": RUNBOOK,
            "sop": SOP,
        }))
        .unwrap()
    }

    fn firing() -> Alert {
        alert(AlertStatus::Firing)
    }

    fn resolved() -> Alert {
        alert(AlertStatus::Resolved)
    }

    fn long_summary() -> Alert {
        let mut a = firing();
        // Multi-byte characters, so a byte-based cut would fall inside one.
        a.summary = "é".repeat(2500) + &"x".repeat(2500);
        a
    }

    fn str_of<'a>(value: &'a Value, pointer: &str) -> &'a str {
        value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no string at {pointer} in {value:#}"))
    }

    fn chars(text: &str) -> usize {
        text.chars().count()
    }

    fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
        request
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every string in a JSON value, with its JSON pointer.
    fn strings(value: &Value, at: String, out: &mut Vec<(String, String)>) {
        match value {
            Value::String(s) => out.push((at, s.clone())),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    strings(item, format!("{at}/{i}"), out);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    strings(item, format!("{at}/{key}"), out);
                }
            }
            _ => {}
        }
    }

    fn where_found(request: &Request, secret: &str) -> Vec<String> {
        let mut all = Vec::new();
        strings(&request.body, String::new(), &mut all);
        let mut found: Vec<String> = all
            .into_iter()
            .filter(|(_, s)| s.contains(secret))
            .map(|(at, _)| at)
            .collect();
        if request.url.contains(secret) {
            found.push("url".to_owned());
        }
        for (key, value) in &request.headers {
            if value.contains(secret) {
                found.push(format!("header {key}"));
            }
        }
        found
    }

    // ---- PagerDuty ---------------------------------------------------------------------------

    #[test]
    fn pagerduty_trigger_carries_every_required_field() {
        let request = pagerduty(&firing(), PAGERDUTY_URL, ROUTING_KEY);
        let body = &request.body;
        assert_eq!(request.url, "https://events.pagerduty.com/v2/enqueue");
        assert_eq!(header(&request, "content-type"), Some("application/json"));
        assert_eq!(str_of(body, "/routing_key"), ROUTING_KEY);
        assert_eq!(str_of(body, "/event_action"), "trigger");
        assert_eq!(str_of(body, "/dedup_key"), "message-send@1763700060000");
        assert_eq!(
            str_of(body, "/payload/summary"),
            "message.send of messenger-api: success ratio 61% below 95% over 5m"
        );
        assert_eq!(str_of(body, "/payload/source"), "messenger-api");
        assert_eq!(str_of(body, "/payload/severity"), "critical");
        assert_eq!(str_of(body, "/payload/timestamp"), "2025-11-21T04:41:00Z");
        assert_eq!(str_of(body, "/payload/component"), "message-send");
        assert_eq!(str_of(body, "/payload/group"), "messenger-api");
        assert_eq!(str_of(body, "/payload/class"), "success_ratio");
        assert_eq!(str_of(body, "/client"), "heartbeat-watch");
    }

    #[test]
    fn pagerduty_custom_details_carry_the_diagnosis() {
        let body = pagerduty(&firing(), PAGERDUTY_URL, ROUTING_KEY).body;
        let details = &body["payload"]["custom_details"];
        assert_eq!(details["classification"], "success_ratio");
        assert_eq!(
            details["details"],
            json!(["1,220 failures in 5m, usually 12"])
        );
        assert_eq!(
            details["tenants"],
            json!([
                "heartbeat.tenant=acme: 82% of the drop, 10% of the traffic, success 20.0% (usually 99.0%)"
            ])
        );
        assert_eq!(
            details["attributes"],
            json!(["surface=web_messenger: 90% of the drop, 40% of the traffic"])
        );
        assert_eq!(
            details["deploys"],
            json!([
                "messenger-api 1.4.1 -> 1.4.2 at 2025-11-21T04:39:00.000Z (2 min before the start)"
            ])
        );
        assert_eq!(details["actions"], json!(["Roll back messenger-api 1.4.2"]));
        assert_eq!(details["sop"], SOP);
        assert_eq!(details["runbook_url"], RUNBOOK);
    }

    #[test]
    fn pagerduty_links_the_runbook() {
        let body = pagerduty(&firing(), PAGERDUTY_URL, ROUTING_KEY).body;
        assert_eq!(
            body["links"],
            json!([{ "href": RUNBOOK, "text": "Runbook" }])
        );
    }

    #[test]
    fn pagerduty_without_a_runbook_sends_no_links_and_no_sop() {
        let mut a = firing();
        a.runbook_url = None;
        a.sop = None;
        let body = pagerduty(&a, PAGERDUTY_URL, ROUTING_KEY).body;
        assert!(body.get("links").is_none(), "{body:#}");
        assert!(body["payload"]["custom_details"].get("sop").is_none());
    }

    #[test]
    fn pagerduty_resolve_names_the_trigger_dedup_key() {
        let trigger = pagerduty(&firing(), PAGERDUTY_URL, ROUTING_KEY).body;
        let resolve = pagerduty(&resolved(), PAGERDUTY_URL, ROUTING_KEY).body;
        assert_eq!(
            resolve,
            json!({
                "routing_key": ROUTING_KEY,
                "event_action": "resolve",
                "dedup_key": "message-send@1763700060000",
            })
        );
        assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
    }

    #[test]
    fn pagerduty_maps_page_to_critical_and_ticket_to_warning() {
        let mut a = firing();
        for (severity, expected) in [("page", "critical"), ("ticket", "warning")] {
            a.severity = severity.to_owned();
            let body = pagerduty(&a, PAGERDUTY_URL, ROUTING_KEY).body;
            assert_eq!(str_of(&body, "/payload/severity"), expected, "{severity}");
        }
    }

    #[test]
    fn pagerduty_cuts_a_long_summary_to_1024_characters() {
        let body = pagerduty(&long_summary(), PAGERDUTY_URL, ROUTING_KEY).body;
        let summary = str_of(&body, "/payload/summary");
        assert_eq!(chars(summary), 1024);
        assert!(summary.starts_with("éé"));
        assert!(summary.ends_with('…'));
    }

    #[test]
    fn pagerduty_hashes_a_dedup_key_longer_than_255_characters() {
        let mut a = firing();
        a.id = "r".repeat(300) + "@1";
        let key = str_of(
            &pagerduty(&a, PAGERDUTY_URL, ROUTING_KEY).body,
            "/dedup_key",
        )
        .to_owned();
        assert_eq!(chars(&key), 255);
        a.status = AlertStatus::Resolved;
        let again = pagerduty(&a, PAGERDUTY_URL, ROUTING_KEY).body;
        assert_eq!(str_of(&again, "/dedup_key"), key, "stable");
        a.id = "r".repeat(300) + "@2";
        let other = pagerduty(&a, PAGERDUTY_URL, ROUTING_KEY).body;
        assert_ne!(str_of(&other, "/dedup_key"), key, "same head, other id");
    }

    #[test]
    fn pagerduty_routing_key_is_only_in_the_routing_key_field() {
        for a in [firing(), resolved()] {
            let request = pagerduty(&a, PAGERDUTY_URL, ROUTING_KEY);
            assert_eq!(where_found(&request, ROUTING_KEY), ["/routing_key"]);
        }
    }

    // ---- Opsgenie ----------------------------------------------------------------------------

    #[test]
    fn opsgenie_create_carries_every_field() {
        let request = opsgenie(&firing(), OPSGENIE_URL, GENIE_KEY);
        let body = &request.body;
        assert_eq!(request.url, "https://api.opsgenie.com/v2/alerts");
        assert_eq!(header(&request, "content-type"), Some("application/json"));
        assert_eq!(
            header(&request, "authorization"),
            Some("GenieKey eb243592-faa2-4ba2-a551-1afdf565c889")
        );
        assert_eq!(
            str_of(body, "/message"),
            "message.send of messenger-api: success ratio 61% below 95% over 5m"
        );
        assert_eq!(str_of(body, "/alias"), "message-send@1763700060000");
        assert_eq!(str_of(body, "/priority"), "P1");
        assert_eq!(str_of(body, "/source"), "heartbeat-watch");
        assert_eq!(str_of(body, "/entity"), "messenger-api");
        assert_eq!(
            body["tags"],
            json!([
                "heartbeat",
                "heartbeat_rule:message-send",
                "severity:page",
                "classification:success_ratio",
                "service:messenger-api"
            ])
        );
        let description = str_of(body, "/description");
        for piece in [
            "message.send of messenger-api: success ratio 61%",
            &format!("Runbook: {RUNBOOK}"),
            &format!("SOP:\n{SOP}"),
            "- 1,220 failures in 5m, usually 12",
            "- heartbeat.tenant=acme: 82% of the drop",
            "- messenger-api 1.4.1 -> 1.4.2",
            "Suggested actions:\n- Roll back messenger-api 1.4.2",
        ] {
            assert!(description.contains(piece), "{piece:?} in {description}");
        }
    }

    #[test]
    fn opsgenie_details_are_a_map_of_strings_with_runbook_and_sop() {
        let body = opsgenie(&firing(), OPSGENIE_URL, GENIE_KEY).body;
        let details = body["details"].as_object().unwrap();
        assert!(details.values().all(Value::is_string), "{details:?}");
        assert_eq!(details["runbook_url"], RUNBOOK);
        assert_eq!(details["sop"], SOP);
        assert_eq!(details["rule"], "message-send");
        assert_eq!(details["classification"], "success_ratio");
        assert_eq!(details["service"], "messenger-api");
        assert_eq!(
            details["deploys"],
            "messenger-api 1.4.1 -> 1.4.2 at 2025-11-21T04:39:00.000Z (2 min before the start)"
        );
    }

    #[test]
    fn opsgenie_close_posts_to_the_alias_with_a_note() {
        let request = opsgenie(&resolved(), OPSGENIE_URL, GENIE_KEY);
        assert_eq!(
            request.url,
            "https://api.opsgenie.com/v2/alerts/message-send@1763700060000/close?identifierType=alias"
        );
        assert_eq!(
            header(&request, "authorization"),
            Some("GenieKey eb243592-faa2-4ba2-a551-1afdf565c889")
        );
        assert_eq!(
            request.body,
            json!({
                "source": "heartbeat-watch",
                "note": "Resolved at 2025-11-21T04:51:00.000Z: message.send of messenger-api: \
                         success ratio 61% below 95% over 5m",
            })
        );
    }

    #[test]
    fn opsgenie_close_uses_the_create_alias() {
        let mut a = firing();
        a.id = "x/y z@1".to_owned();
        let create = opsgenie(&a, "https://api.eu.opsgenie.com/", GENIE_KEY);
        assert_eq!(create.url, "https://api.eu.opsgenie.com/v2/alerts");
        assert_eq!(str_of(&create.body, "/alias"), "x/y z@1");
        a.status = AlertStatus::Resolved;
        let close = opsgenie(&a, "https://api.eu.opsgenie.com/", GENIE_KEY);
        assert_eq!(
            close.url,
            "https://api.eu.opsgenie.com/v2/alerts/x%2Fy%20z@1/close?identifierType=alias"
        );
    }

    #[test]
    fn opsgenie_maps_page_to_p1_and_ticket_to_p3() {
        let mut a = firing();
        for (severity, expected) in [("page", "P1"), ("ticket", "P3")] {
            a.severity = severity.to_owned();
            let body = opsgenie(&a, OPSGENIE_URL, GENIE_KEY).body;
            assert_eq!(str_of(&body, "/priority"), expected, "{severity}");
        }
    }

    #[test]
    fn opsgenie_fields_stay_within_their_limits() {
        let mut a = long_summary();
        a.id = "r".repeat(600) + "@1";
        a.rule = "r".repeat(63);
        a.details = vec!["d".repeat(20_000)];
        a.actions = vec!["a".repeat(9000)];
        let body = opsgenie(&a, OPSGENIE_URL, GENIE_KEY).body;
        let message = str_of(&body, "/message");
        assert_eq!(chars(message), 130);
        assert!(message.ends_with('…'));
        assert_eq!(chars(str_of(&body, "/alias")), 512);
        let description = str_of(&body, "/description");
        assert_eq!(chars(description), 15_000);
        assert!(
            description.contains(RUNBOOK),
            "the runbook survives the cut"
        );
        assert!(description.contains(SOP), "the SOP survives the cut");
        let tags = body["tags"].as_array().unwrap();
        assert!(tags.len() <= 20);
        for tag in tags {
            assert!(chars(tag.as_str().unwrap()) <= 50, "{tag}");
        }
        let details = body["details"].as_object().unwrap();
        let total: usize = details
            .iter()
            .map(|(k, v)| chars(k) + chars(v.as_str().unwrap()))
            .sum();
        assert!(total <= 8000, "{total}");
        assert_eq!(details["runbook_url"], RUNBOOK);
        assert_eq!(details["sop"], SOP);
    }

    #[test]
    fn opsgenie_key_is_only_in_the_authorization_header() {
        for a in [firing(), resolved()] {
            let request = opsgenie(&a, OPSGENIE_URL, GENIE_KEY);
            assert_eq!(where_found(&request, GENIE_KEY), ["header Authorization"]);
        }
    }

    // ---- Slack -------------------------------------------------------------------------------

    fn slack_texts(body: &Value) -> Vec<String> {
        let mut texts = Vec::new();
        for block in body["blocks"].as_array().unwrap() {
            match block["type"].as_str().unwrap() {
                "section" => {
                    assert_eq!(block["text"]["type"], "mrkdwn");
                    texts.push(block["text"]["text"].as_str().unwrap().to_owned());
                }
                "context" => {
                    let elements = block["elements"].as_array().unwrap();
                    assert!((1..=10).contains(&elements.len()));
                    for element in elements {
                        assert_eq!(element["type"], "mrkdwn");
                        texts.push(element["text"].as_str().unwrap().to_owned());
                    }
                }
                other => panic!("unexpected block type {other}"),
            }
        }
        texts
    }

    #[test]
    fn slack_firing_reads_as_a_page() {
        let request = slack(&firing(), "https://hooks.slack.com/services/T0/B0/XXXX");
        assert_eq!(request.url, "https://hooks.slack.com/services/T0/B0/XXXX");
        assert_eq!(header(&request, "content-type"), Some("application/json"));
        let body = &request.body;
        assert_eq!(
            str_of(body, "/text"),
            "FIRING [page] message.send of messenger-api: success ratio 61% below 95% over 5m \
             Runbook: https://runbooks.example/message-send?x=1&amp;y=2"
        );
        let texts = slack_texts(body);
        assert_eq!(
            texts[0],
            ":rotating_light: *FIRING* · page · `message-send`\n\
             *message.send of messenger-api: success ratio 61% below 95% over 5m*\n\
             1,220 failures in 5m, usually 12"
        );
        let all = texts.join("\n");
        for piece in [
            "*Classification:* success_ratio",
            "*Service:* messenger-api",
            "*Who carries the drop*\n• heartbeat.tenant=acme: 82% of the drop",
            "• surface=web_messenger: 90% of the drop",
            "*Deploys before the start*\n• messenger-api 1.4.1 -&gt; 1.4.2",
            "*Suggested actions*\n• Roll back messenger-api 1.4.2",
            "*Runbook:* <https://runbooks.example/message-send?x=1&amp;y=2|",
            "*SOP*\n>1. Check the deploy.\n>2. Roll back if it is the cause.",
            "alert `message-send@1763700060000`",
        ] {
            assert!(all.contains(piece), "{piece:?} in:\n{all}");
        }
    }

    #[test]
    fn slack_resolved_says_so_and_keeps_the_runbook() {
        let body = slack(&resolved(), "https://hooks.slack.com/x").body;
        assert!(str_of(&body, "/text").starts_with("RESOLVED [page] "));
        let texts = slack_texts(&body);
        assert!(
            texts[0].starts_with(":white_check_mark: *RESOLVED* · page"),
            "{}",
            texts[0]
        );
        let all = texts.join("\n");
        assert!(
            all.contains("*Resolved:* 2025-11-21T04:51:00.000Z"),
            "{all}"
        );
        assert!(
            all.contains("*Runbook:* <https://runbooks.example/"),
            "{all}"
        );
        assert!(all.contains("*SOP*\n>1. Check the deploy."), "{all}");
    }

    #[test]
    fn slack_ticket_is_a_warning() {
        let mut a = firing();
        a.severity = "ticket".to_owned();
        let texts = slack_texts(&slack(&a, "https://hooks.slack.com/x").body);
        assert!(
            texts[0].starts_with(":warning: *FIRING* · ticket"),
            "{}",
            texts[0]
        );
    }

    #[test]
    fn slack_escapes_mentions_in_alert_text() {
        let mut a = firing();
        a.summary = "<!channel> & <@U123>".to_owned();
        let body = slack(&a, "https://hooks.slack.com/x").body;
        let text = body.to_string();
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(!text.contains("<@U123>"), "{text}");
        assert!(
            text.contains("&lt;!channel&gt; &amp; &lt;@U123&gt;"),
            "{text}"
        );
    }

    #[test]
    fn slack_texts_stay_within_3000_characters() {
        let mut a = long_summary();
        a.sop = Some("s".repeat(2000));
        let body = slack(&a, "https://hooks.slack.com/x").body;
        let fallback = str_of(&body, "/text");
        assert_eq!(chars(fallback), 3000);
        let texts = slack_texts(&body);
        for text in &texts {
            assert!(chars(text) <= 3000, "{}", chars(text));
        }
        assert_eq!(chars(&texts[0]), 3000, "the summary section is cut");
        assert!(texts.iter().any(|t| t.contains("*Runbook:* <https://")));
    }

    #[test]
    fn slack_without_runbook_or_sop_leaves_them_out() {
        let mut a = firing();
        a.runbook_url = None;
        a.sop = None;
        let body = slack(&a, "https://hooks.slack.com/x").body;
        let all = slack_texts(&body).join("\n");
        assert!(!all.contains("Runbook"), "{all}");
        assert!(!all.contains("SOP"), "{all}");
        assert!(!str_of(&body, "/text").contains("Runbook"));
    }

    // ---- Incident webhook --------------------------------------------------------------------

    #[test]
    fn incident_opens_and_resolves_with_one_dedup_key() {
        let open = incident(&firing(), "http://incidents.example/hook");
        assert_eq!(open.url, "http://incidents.example/hook");
        assert_eq!(header(&open, "content-type"), Some("application/json"));
        assert_eq!(
            open.body,
            json!({
                "event": "open",
                "dedup_key": "message-send@1763700060000",
                "title": "message.send of messenger-api: success ratio 61% below 95% over 5m",
                "severity": "page",
                "service": "messenger-api",
                "alert": firing().to_json(),
                "runbook_url": RUNBOOK,
                "sop": SOP,
            })
        );
        let close = incident(&resolved(), "http://incidents.example/hook").body;
        assert_eq!(close["event"], "resolve");
        assert_eq!(close["dedup_key"], open.body["dedup_key"]);
        assert_eq!(close["alert"]["status"], "resolved");
    }

    #[test]
    fn incident_without_runbook_sends_nulls() {
        let mut a = firing();
        a.runbook_url = None;
        a.sop = None;
        a.service = None;
        let body = incident(&a, "http://incidents.example/hook").body;
        assert_eq!(body["runbook_url"], Value::Null);
        assert_eq!(body["sop"], Value::Null);
        assert_eq!(body["service"], Value::Null);
    }

    // ---- Helpers -----------------------------------------------------------------------------

    #[test]
    fn truncation_never_splits_a_character() {
        let text = "aé😀b".repeat(10);
        for max in 0..=chars(&text) + 2 {
            let cut = truncate(&text, max);
            assert!(chars(&cut) <= max, "{max}: {cut}");
            if max >= chars(&text) {
                assert_eq!(cut, text);
            } else if max > 0 {
                assert!(cut.ends_with('…'));
            }
        }
    }

    #[test]
    fn a_blank_summary_falls_back_to_rule_and_classification() {
        let mut a = firing();
        a.summary = "  ".to_owned();
        let body = pagerduty(&a, PAGERDUTY_URL, ROUTING_KEY).body;
        assert_eq!(
            str_of(&body, "/payload/summary"),
            "message-send: success_ratio"
        );
        let body = opsgenie(&a, OPSGENIE_URL, GENIE_KEY).body;
        assert_eq!(str_of(&body, "/message"), "message-send: success_ratio");
    }
}
