//! A Grafana dashboard for the generated Prometheus rules: the same panels as the watch's own
//! view, on the metric and label names the rules select, importable as-is.
//!
//! JSON has no comments: the header every generated file starts with is the dashboard's
//! `description`. Panel ids are stable (a rule keeps its panels' ids across generations as long
//! as the rules before it stay), so `[generate.grafana] url` links from the alerts to a panel.

use serde_json::{Value, json};

use super::promql::{label_name, outcome_selectors};
use super::{Engine, sorted_deadman, sorted_outcome};
use crate::rulefile::{DeadmanRule, DisplayDuration, OutcomeRule, RuleFile, Sla};

/// The dashboard's uid: `[generate.grafana] url` links point at it.
pub(crate) const DASHBOARD_UID: &str = "heartbeat";

const DATASOURCE: &str = "${datasource}";

pub(super) fn generate(rules: &RuleFile, source: &str) -> String {
    let settings = &rules.generate.prometheus;
    let mut panels = Panels::default();

    let outcome = sorted_outcome(rules);
    if !outcome.is_empty() {
        panels.row("Outcomes: can customers do the job they came for?");
        for rule in outcome {
            outcome_panels(&mut panels, rule, settings);
        }
    }
    let deadman = sorted_deadman(rules);
    if !deadman.is_empty() {
        panels.row("Dead-man: is each pipeline alive?");
        for rule in deadman {
            deadman_panels(&mut panels, rule, settings);
        }
    }
    let mut slas: Vec<&Sla> = rules.sla.iter().collect();
    slas.sort_by(|a, b| a.name.cmp(&b.name));
    if !slas.is_empty() {
        panels.row("SLAs: error budget");
        for sla in slas {
            sla_panels(&mut panels, sla);
        }
    }
    panels.row("Alerts");
    panels.add(
        "Firing alerts",
        json!({
            "type": "table",
            "targets": [target(
                "ALERTS{alertstate=\"firing\", heartbeat_kind!=\"watchdog\"}",
                "",
                true,
            )],
            "transformations": [{"id": "labelsToFields", "options": {}}],
        }),
        24,
    );

    let header = super::header("", Engine::Grafana, source);
    let dashboard = json!({
        "uid": DASHBOARD_UID,
        "title": "Heartbeat",
        "description": header.lines().map(str::trim).collect::<Vec<_>>().join(" "),
        "tags": ["heartbeat", "generated"],
        "schemaVersion": 39,
        "version": 1,
        "editable": true,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": [{
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
        }]},
        "annotations": {"list": [
            {
                "name": "Deploys",
                "datasource": {"type": "prometheus", "uid": DATASOURCE},
                "enable": true,
                "iconColor": "blue",
                // A (service, version) pair that was not there a minute before: a deploy.
                "expr": format!(
                    "count by ({sl}, service_version) (target_info) unless count by ({sl}, service_version) (target_info offset 1m)",
                    sl = settings.service_label
                ),
                "step": "60s",
                "titleFormat": format!("deploy {{{{{}}}}} {{{{service_version}}}}", settings.service_label),
            },
            {
                "name": "Firing",
                "datasource": {"type": "prometheus", "uid": DATASOURCE},
                "enable": true,
                "iconColor": "red",
                "expr": "ALERTS{alertstate=\"firing\", heartbeat_kind!=\"watchdog\"}",
                "step": "60s",
                "titleFormat": "{{alertname}} {{heartbeat_rule}}{{heartbeat_sla}}",
            },
        ]},
        "panels": panels.list,
    });
    let mut out = serde_json::to_string_pretty(&dashboard).unwrap_or_default();
    out.push('\n');
    out
}

/// The panels, laid out two to a row of 24 columns, ids from 1.
#[derive(Default)]
struct Panels {
    list: Vec<Value>,
    x: u32,
    y: u32,
}

impl Panels {
    fn row(&mut self, title: &str) {
        self.newline();
        let id = self.list.len() + 1;
        self.list.push(json!({
            "id": id,
            "type": "row",
            "title": title,
            "collapsed": false,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            "panels": [],
        }));
        self.y += 1;
    }

    fn newline(&mut self) {
        if self.x > 0 {
            self.x = 0;
            self.y += 8;
        }
    }

    /// Adds a panel `width` columns wide (12 or 24) to `body` (type, targets, options).
    fn add(&mut self, title: &str, mut body: Value, width: u32) {
        if self.x + width > 24 {
            self.newline();
        }
        let id = self.list.len() + 1;
        body["id"] = json!(id);
        body["title"] = json!(title);
        body["datasource"] = json!({"type": "prometheus", "uid": DATASOURCE});
        body["gridPos"] = json!({"h": 8, "w": width, "x": self.x, "y": self.y});
        self.list.push(body);
        self.x += width;
        if self.x >= 24 {
            self.newline();
        }
    }
}

fn target(expr: &str, legend: &str, instant: bool) -> Value {
    json!({
        "datasource": {"type": "prometheus", "uid": DATASOURCE},
        "expr": expr,
        "legendFormat": legend,
        "instant": instant,
        "range": !instant,
        "refId": "A",
    })
}

fn timeseries(targets: Vec<Value>, unit: &str, thresholds: &[(f64, &str)]) -> Value {
    let mut targets = targets;
    for (i, t) in targets.iter_mut().enumerate() {
        let letter = char::from(b'A' + u8::try_from(i % 26).unwrap_or(0));
        t["refId"] = json!(letter.to_string());
    }
    let mut steps = vec![json!({"color": "green", "value": null})];
    steps.extend(
        thresholds
            .iter()
            .map(|(value, color)| json!({"color": color, "value": value})),
    );
    json!({
        "type": "timeseries",
        "targets": targets,
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "custom": {"thresholdsStyle": {"mode": if thresholds.is_empty() { "off" } else { "line" }}},
                "thresholds": {"mode": "absolute", "steps": steps},
            },
            "overrides": [],
        },
    })
}

fn outcome_panels(panels: &mut Panels, rule: &OutcomeRule, settings: &crate::PrometheusSettings) {
    let sel = outcome_selectors(rule, settings);
    let window = DisplayDuration(rule.window);
    let by = &sel.by;
    let mut targets = vec![
        target(
            &format!("sum by ({by}) (rate({}[{window}])) * 60", sel.success),
            "successes/min",
            false,
        ),
        target(
            &format!("sum by ({by}) (rate({}[{window}])) * 60", sel.failure),
            "failures/min",
            false,
        ),
    ];
    if let Some(anomaly) = &rule.anomaly {
        // The seasonal band the anomaly alert fires under, per minute.
        let rule_matcher = format!("{{heartbeat_rule=\"{}\"}}", rule.name);
        let minutes = rule.window.as_secs_f64() / 60.0;
        targets.push(target(
            &format!(
                "(heartbeat:outcome_successes:seasonal_mean{rule_matcher} - {} * heartbeat:outcome_successes:seasonal_stddev{rule_matcher}) / {}",
                super::number(anomaly.sensitivity),
                super::number(minutes)
            ),
            "expected, lower band",
            false,
        ));
    }
    let mut per_minute = timeseries(targets, "short", &[]);
    if let Some(rate) = rule.min_rate_per_minute {
        // The rate floor, as a line: red below it.
        per_minute["fieldConfig"]["defaults"]["thresholds"]["steps"] =
            json!([{"color": "red", "value": null}, {"color": "green", "value": rate}]);
        per_minute["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] = json!("line");
    }
    panels.add(
        &format!("{}: {} per minute", rule.name, rule.outcome),
        per_minute,
        12,
    );
    let ratio = format!(
        "sum by ({by}) (rate({}[{window}])) / sum by ({by}) (rate({}[{window}]))",
        sel.success, sel.all
    );
    let mut body = timeseries(
        vec![target(&ratio, "success ratio", false)],
        "percentunit",
        &[],
    );
    if let Some(r) = rule.min_success_ratio {
        // Red below the floor, green above it.
        body["fieldConfig"]["defaults"]["thresholds"]["steps"] =
            json!([{"color": "red", "value": null}, {"color": "green", "value": r}]);
        body["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] = json!("line");
    }
    panels.add(&format!("{}: success ratio", rule.name), body, 12);
    // Who the failures hit: the drill-down the alerts query, as tables.
    for (label, title) in [
        ("heartbeat_tenant", "tenants"),
        ("heartbeat_reason", "reasons"),
    ] {
        let carrying = format!(
            "{}, {label}!=\"\"}}",
            sel.failure.strip_suffix('}').unwrap_or(&sel.failure)
        );
        panels.add(
            &format!("{}: failures by {title} ({window})", rule.name),
            json!({
                "type": "table",
                "targets": [target(
                    &format!("topk(10, sum by ({label}) (increase({carrying}[{window}])))"),
                    "",
                    true,
                )],
            }),
            12,
        );
    }
}

fn deadman_panels(panels: &mut Panels, rule: &DeadmanRule, settings: &crate::PrometheusSettings) {
    let mut matchers = vec![format!(
        "{}=\"{}\"",
        settings.service_label,
        rule.service.replace('\\', "\\\\").replace('"', "\\\"")
    )];
    if let Some(emitter) = &rule.emitter {
        matchers.push(format!(
            "heartbeat_emitter=\"{}\"",
            emitter.replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    let matchers = matchers.join(", ");
    let window = DisplayDuration(rule.window);
    let instance = label_name(&settings.instance_label);
    #[allow(clippy::cast_precision_loss)]
    let min = f64::from(rule.min_beats);
    let mut beats = timeseries(
        vec![
            target(
                &format!("sum (increase(heartbeat_beats_total{{{matchers}}}[{window}]))"),
                "beats per window",
                false,
            ),
            target(
                &format!(
                    "sum by ({instance}, heartbeat_emitter) (increase(heartbeat_beats_total{{{matchers}}}[{window}]))"
                ),
                &format!("{{{{{instance}}}}} {{{{heartbeat_emitter}}}}"),
                false,
            ),
        ],
        "short",
        &[],
    );
    beats["fieldConfig"]["defaults"]["thresholds"]["steps"] =
        json!([{"color": "red", "value": null}, {"color": "green", "value": min}]);
    beats["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] = json!("line");
    panels.add(
        &format!(
            "{}: beats per {window} (want {})",
            rule.name, rule.min_beats
        ),
        beats,
        12,
    );
    let mut status = timeseries(
        vec![target(
            &format!(
                "max by ({instance}, heartbeat_emitter, heartbeat_reason) (heartbeat_emitter_status{{{matchers}}})"
            ),
            &format!("{{{{{instance}}}}} {{{{heartbeat_reason}}}}"),
            false,
        )],
        "short",
        &[],
    );
    status["fieldConfig"]["defaults"]["mappings"] = json!([{
        "type": "value",
        "options": {
            "0": {"text": "beating", "color": "green"},
            "1": {"text": "failing", "color": "red"},
            "2": {"text": "stopped", "color": "blue"},
        },
    }]);
    panels.add(
        &format!(
            "{}: emitter status (0 beating, 1 failing, 2 stopped)",
            rule.name
        ),
        status,
        12,
    );
}

fn sla_panels(panels: &mut Panels, sla: &Sla) {
    let m = format!("{{heartbeat_sla=\"{}\"}}", sla.name);
    panels.add(
        &format!(
            "SLA {}: availability and budget left (objective {})",
            sla.name,
            super::number(sla.objective)
        ),
        json!({
            "type": "stat",
            "targets": [
                target(&format!("heartbeat:sla_availability:ratio{m}"), "availability", true),
                target(&format!("heartbeat:sla_error_budget:remaining{m}"), "budget left", true),
            ],
            "fieldConfig": {"defaults": {"unit": "percentunit", "decimals": 3}, "overrides": []},
        }),
        12,
    );
    let budget = 1.0 - sla.objective;
    let burn = if budget > 0.0 {
        format!("heartbeat:sla_error:ratio{m} / {}", super::number(budget))
    } else {
        format!("heartbeat:sla_error:ratio{m}")
    };
    let mut body = timeseries(
        vec![target(&burn, "burn rate over {{heartbeat_window}}", false)],
        "short",
        &[],
    );
    body["fieldConfig"]["defaults"]["thresholds"]["steps"] = json!([
        {"color": "green", "value": null},
        {"color": "yellow", "value": 1},
        {"color": "orange", "value": 6},
        {"color": "red", "value": 14.4},
    ]);
    body["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] = json!("line");
    panels.add(
        &format!(
            "SLA {}: burn rate (page at 14.4 and 6, ticket at 3 and 1)",
            sla.name
        ),
        body,
        12,
    );
}

/// The link of each rule (`heartbeat_rule=NAME`) and SLA (`heartbeat_sla=NAME`) to its first
/// panel on the dashboard, under `[generate.grafana] url`; empty when no URL is set.
pub(crate) fn panel_links(rules: &RuleFile) -> std::collections::BTreeMap<String, String> {
    let mut links = std::collections::BTreeMap::new();
    let Some(url) = rules.generate.grafana.url.as_deref() else {
        return links;
    };
    let base = format!("{}/d/{DASHBOARD_UID}/heartbeat", url.trim_end_matches('/'));
    let Ok(dashboard) = serde_json::from_str::<Value>(&generate(rules, "")) else {
        return links;
    };
    let panels = dashboard["panels"].as_array().cloned().unwrap_or_default();
    let first = |prefix: &str| {
        panels
            .iter()
            .find(|p| {
                p["type"] != "row" && p["title"].as_str().is_some_and(|t| t.starts_with(prefix))
            })
            .and_then(|p| p["id"].as_u64())
    };
    let names = rules
        .deadman
        .iter()
        .map(|r| r.name.as_str())
        .chain(rules.outcome.iter().map(|r| r.name.as_str()));
    for name in names {
        if let Some(id) = first(&format!("{name}: ")) {
            links.insert(
                format!("heartbeat_rule={name}"),
                format!("{base}?viewPanel={id}"),
            );
        }
    }
    for sla in &rules.sla {
        if let Some(id) = first(&format!("SLA {}: ", sla.name)) {
            links.insert(
                format!("heartbeat_sla={}", sla.name),
                format!("{base}?viewPanel={id}"),
            );
        }
    }
    links
}
