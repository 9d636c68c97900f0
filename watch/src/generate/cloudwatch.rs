//! CloudWatch alarms as Terraform `aws_cloudwatch_metric_alarm` resources.
//!
//! The metrics arrive through the collector's `awsemf` exporter (the AWS Distro for
//! OpenTelemetry), which keeps metric names (`heartbeat.beats`) and attribute keys as dimension
//! names (`heartbeat.emitter`), and turns cumulative sums into per-period deltas, so the `Sum`
//! statistic of a period is the count in that period. A CloudWatch metric is one exact set of
//! dimensions: the header of the output lists the `metric_declarations` the exporter needs for
//! the alarms to find their metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use heartbeat::semconv::{
    ATTR_EMITTER, ATTR_OUTCOME, ATTR_RESULT, METRIC_BEATS, METRIC_EMITTER_STATUS, METRIC_OUTCOMES,
};

use super::{
    Engine, GenerateError, hcl_string, header, number, resource_name, sorted_deadman,
    sorted_outcome,
};
use crate::rulefile::{CloudWatchSettings, DeadmanRule, DisplayDuration, OutcomeRule, RuleFile};

/// metric name -> the dimension sets alarms use with it.
type Declarations = BTreeMap<&'static str, BTreeSet<Vec<String>>>;

pub(super) fn generate(rules: &RuleFile, source: &str) -> Result<String, GenerateError> {
    let settings = &rules.generate.cloudwatch;
    let mut declarations = Declarations::new();
    let mut body = String::new();
    for rule in sorted_deadman(rules) {
        let period = period(&rule.name, rule.window)?;
        deadman(&mut body, rule, period, settings, &mut declarations);
    }
    for rule in sorted_outcome(rules) {
        let period = period(&rule.name, rule.window)?;
        outcome(&mut body, rule, period, settings, &mut declarations);
    }

    let mut out = header("#", Engine::CloudWatch, source);
    let _ = write!(
        out,
        "# CloudWatch alarms for the Heartbeat rules (hashicorp/aws Terraform provider).\n\
         # The alarms read namespace {namespace:?} as written by the collector's awsemf exporter,\n\
         # which must declare these dimension sets:\n\
         #\n\
         #   exporters:\n\
         #     awsemf:\n\
         #       namespace: {namespace}\n\
         #       resource_to_telemetry_conversion: {{ enabled: true }}\n\
         #       metric_declarations:\n",
        namespace = settings.namespace
    );
    for (metric, sets) in &declarations {
        let sets: Vec<String> = sets
            .iter()
            .map(|set| format!("[{}]", set.join(", ")))
            .collect();
        let _ = write!(
            out,
            "#         - dimensions: [{}]\n#           metric_name_selectors: [{}]\n",
            sets.join(", "),
            regex_escape(metric)
        );
    }
    let mut slas: Vec<&str> = rules.sla.iter().map(|sla| sla.name.as_str()).collect();
    slas.sort_unstable();
    for sla in slas {
        // An SLA is time down while any of its alarms is in ALARM. CloudWatch alarms cannot
        // average another alarm's state over hours or days (composite alarms have no metric),
        // and a metric alarm's window ends at one day: the burn-rate pairs and the error budget
        // are not expressible here. Said in the output, not silently left out.
        let _ = write!(
            out,
            "#\n# SLA {sla}: not expressible in CloudWatch alarms (an SLA counts time while any of its\n\
             # alarms is in ALARM; composite alarms have no metric to average over the budget\n\
             # period, and the 3-day burn window exceeds an alarm's one day). Use the Prometheus\n\
             # or Datadog output, or the watch's own SLA ledger, for its budget and burn rates.\n",
        );
    }
    out.push_str(&body);
    Ok(out)
}

/// CloudWatch periods: 10 s, 30 s or whole minutes.
fn period(rule: &str, window: Duration) -> Result<u64, GenerateError> {
    let seconds = window.as_secs();
    if seconds == 10 || seconds == 30 || seconds.is_multiple_of(60) {
        Ok(seconds)
    } else {
        Err(GenerateError::UnsupportedWindow {
            engine: Engine::CloudWatch,
            rule: rule.to_owned(),
            window,
            supported: "10s, 30s or whole minutes",
        })
    }
}

fn deadman(
    out: &mut String,
    rule: &DeadmanRule,
    period: u64,
    settings: &CloudWatchSettings,
    declarations: &mut Declarations,
) {
    let mut dimensions = vec![(settings.service_dimension.clone(), rule.service.clone())];
    if let Some(emitter) = &rule.emitter {
        dimensions.push((ATTR_EMITTER.to_owned(), emitter.clone()));
    }
    declare(declarations, METRIC_BEATS, &dimensions);
    declare(declarations, METRIC_EMITTER_STATUS, &dimensions);
    let who = match &rule.emitter {
        Some(emitter) => format!("{}/{emitter}", rule.service),
        None => rule.service.clone(),
    };
    let min = rule.min_beats;
    Alarm {
        resource: resource_name("deadman", &rule.name),
        name: format!("heartbeat-deadman-{}", rule.name),
        description: describe(
            format!(
                "{who}: fewer than {min} beats per {} for {} period(s). The service, its exporter, \
                 the collector or the CloudWatch intake stopped delivering heartbeat.beats. A \
                 graceful stop (heartbeat.emitter.status 2) seen in the evaluated periods counts \
                 as enough beats. Heartbeat rule {}.",
                DisplayDuration(rule.window),
                rule.fire_after,
                rule.name
            ),
            rule.runbook_url.as_deref(),
            rule.sop.as_deref(),
        ),
        comparison: "LessThanThreshold",
        threshold: Some(number(f64::from(min))),
        threshold_metric_id: None,
        periods: rule.fire_after,
        // No data at all is a dead emitter.
        missing: "breaching",
        actions: actions(settings, rule.severity),
        tags: tags(&rule.name, "deadman", rule.severity.as_str()),
        queries: vec![
            Query::metric("beats", METRIC_BEATS, "Sum", period, &dimensions, settings),
            Query::metric(
                "status",
                METRIC_EMITTER_STATUS,
                "Minimum",
                period,
                &dimensions,
                settings,
            ),
            Query::expression(
                "beats_or_stopped",
                format!("IF(FILL(status, REPEAT) == 2, {min}, FILL(beats, 0))"),
                "beats (a graceful stop counts as enough)",
                true,
            ),
        ],
    }
    .write(out);
}

fn outcome(
    out: &mut String,
    rule: &OutcomeRule,
    period: u64,
    settings: &CloudWatchSettings,
    declarations: &mut Declarations,
) {
    let mut dimensions = vec![(ATTR_OUTCOME.to_owned(), rule.outcome.clone())];
    if let Some(service) = &rule.service {
        dimensions.push((settings.service_dimension.clone(), service.clone()));
    }
    for (key, value) in &rule.filters {
        dimensions.push((key.clone(), value.clone()));
    }
    let mut success = dimensions.clone();
    success.push((ATTR_RESULT.to_owned(), "success".to_owned()));
    let mut failure = dimensions.clone();
    failure.push((ATTR_RESULT.to_owned(), "failure".to_owned()));
    declare(declarations, METRIC_OUTCOMES, &success);
    let severity = rule.severity.as_str();
    let window = DisplayDuration(rule.window);
    let alarm = |suffix: &str, description: String, queries: Vec<Query>| Alarm {
        resource: format!("{}_{suffix}", resource_name("outcome", &rule.name)),
        name: format!("heartbeat-outcome-{}-{suffix}", rule.name),
        description: describe(
            description,
            rule.runbook_url.as_deref(),
            rule.sop.as_deref(),
        ),
        comparison: "LessThanThreshold",
        threshold: None,
        threshold_metric_id: None,
        periods: rule.fire_after,
        // No points means no emitter: the dead-man alarm's job, not this one's.
        missing: "notBreaching",
        actions: actions(settings, rule.severity),
        tags: tags(&rule.name, "outcome", severity),
        queries,
    };

    if let Some(ratio) = rule.min_success_ratio {
        let mut ratio_alarm = alarm(
            "ratio",
            format!(
                "{}: success ratio below {} over {window}. Heartbeat rule {}.",
                rule.outcome,
                number(ratio),
                rule.name
            ),
            vec![
                Query::metric(
                    "success",
                    METRIC_OUTCOMES,
                    "Sum",
                    period,
                    &success,
                    settings,
                ),
                Query::metric(
                    "failure",
                    METRIC_OUTCOMES,
                    "Sum",
                    period,
                    &failure,
                    settings,
                ),
                Query::expression(
                    "ratio",
                    "success / (success + FILL(failure, 0))".to_owned(),
                    "success ratio",
                    true,
                ),
            ],
        );
        ratio_alarm.threshold = Some(number(ratio));
        ratio_alarm.write(out);
    }

    if let Some(rate) = rule.min_rate_per_minute {
        let mut rate_alarm = alarm(
            "rate",
            format!(
                "{}: fewer than {} successes per minute over {window}. Heartbeat rule {}.",
                rule.outcome,
                number(rate),
                rule.name
            ),
            vec![
                Query::metric(
                    "success",
                    METRIC_OUTCOMES,
                    "Sum",
                    period,
                    &success,
                    settings,
                ),
                Query::expression(
                    "per_minute",
                    "success * 60 / PERIOD(success)".to_owned(),
                    "successes per minute",
                    true,
                ),
            ],
        );
        rate_alarm.threshold = Some(number(rate));
        rate_alarm.write(out);
    }

    if let Some(anomaly) = &rule.anomaly {
        let mut anomaly_alarm = alarm(
            "anomaly",
            format!(
                "{}: successes per {window} below CloudWatch's anomaly band ({} deviations; the \
                 model picks its own seasonality and trains on up to two weeks). Heartbeat rule {}.",
                rule.outcome,
                number(anomaly.sensitivity),
                rule.name
            ),
            vec![
                Query::metric(
                    "success",
                    METRIC_OUTCOMES,
                    "Sum",
                    period,
                    &success,
                    settings,
                )
                .returned(),
                Query::expression(
                    "band",
                    format!(
                        "ANOMALY_DETECTION_BAND(success, {})",
                        number(anomaly.sensitivity)
                    ),
                    "expected successes",
                    true,
                ),
            ],
        );
        anomaly_alarm.comparison = "LessThanLowerThreshold";
        anomaly_alarm.threshold_metric_id = Some("band");
        anomaly_alarm.write(out);
    }
}

/// CloudWatch's limit on `AlarmDescription`, in characters.
const DESCRIPTION_LIMIT: usize = 1024;

/// The alarm description with the rule's runbook link and SOP, within [`DESCRIPTION_LIMIT`]:
/// the link is kept whole (the text before it is cut if need be), the SOP fills what is left.
/// Without either, the description is unchanged.
fn describe(description: String, runbook_url: Option<&str>, sop: Option<&str>) -> String {
    if runbook_url.is_none() && sop.is_none() {
        return description;
    }
    let link = runbook_url.map_or_else(String::new, |url| format!(" Runbook: {url}"));
    let room = DESCRIPTION_LIMIT.saturating_sub(link.chars().count());
    let mut out = cut(&description, room);
    out.push_str(&link);
    if let Some(sop) = sop {
        const LABEL: &str = " SOP: ";
        let room = DESCRIPTION_LIMIT.saturating_sub(out.chars().count() + LABEL.len());
        // A few words at least, or none.
        if room >= 16 {
            out.push_str(LABEL);
            out.push_str(&cut(sop, room));
        }
    }
    cut(&out, DESCRIPTION_LIMIT)
}

/// `text` cut to at most `max` characters on a character boundary, ending in `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    if max > 0 {
        out.push('…');
    }
    out
}

fn declare(declarations: &mut Declarations, metric: &'static str, dims: &[(String, String)]) {
    let mut names: Vec<String> = dims.iter().map(|(name, _)| name.clone()).collect();
    names.sort();
    declarations.entry(metric).or_default().insert(names);
}

/// `metric_name_selectors` are regular expressions: anchor the name and escape its dots.
fn regex_escape(metric: &str) -> String {
    format!("\"^{}$\"", metric.replace('.', "\\\\."))
}

fn actions(settings: &CloudWatchSettings, severity: crate::rulefile::Severity) -> Vec<String> {
    match severity {
        crate::rulefile::Severity::Page => settings.page_actions.clone(),
        crate::rulefile::Severity::Ticket => settings.ticket_actions.clone(),
    }
}

fn tags(rule: &str, kind: &str, severity: &str) -> Vec<(&'static str, String)> {
    vec![
        ("generated-by", "heartbeat-watch".to_owned()),
        ("heartbeat_kind", kind.to_owned()),
        ("heartbeat_rule", rule.to_owned()),
        ("severity", severity.to_owned()),
    ]
}

/// One `metric_query` block.
struct Query {
    id: &'static str,
    body: String,
    return_data: bool,
}

impl Query {
    fn metric(
        id: &'static str,
        metric: &str,
        stat: &str,
        period: u64,
        dimensions: &[(String, String)],
        settings: &CloudWatchSettings,
    ) -> Self {
        let mut dims: Vec<&(String, String)> = dimensions.iter().collect();
        dims.sort();
        let mut body = String::new();
        body.push_str("    metric {\n");
        let _ = writeln!(
            body,
            "      namespace   = {}",
            hcl_string(&settings.namespace)
        );
        let _ = writeln!(body, "      metric_name = {}", hcl_string(metric));
        let _ = writeln!(body, "      period      = {period}");
        let _ = writeln!(body, "      stat        = {}", hcl_string(stat));
        body.push_str("      dimensions = {\n");
        for (name, value) in dims {
            let _ = writeln!(body, "        {} = {}", hcl_string(name), hcl_string(value));
        }
        body.push_str("      }\n    }\n");
        Self {
            id,
            body,
            return_data: false,
        }
    }

    /// This query's data is the alarm's (anomaly alarms return the metric and its band).
    fn returned(mut self) -> Self {
        self.return_data = true;
        self
    }

    fn expression(id: &'static str, expression: String, label: &str, return_data: bool) -> Self {
        let body = format!(
            "    expression = {}\n    label      = {}\n",
            hcl_string(&expression),
            hcl_string(label)
        );
        Self {
            id,
            body,
            return_data,
        }
    }
}

/// One alarm, written as an `aws_cloudwatch_metric_alarm` resource.
struct Alarm {
    resource: String,
    name: String,
    description: String,
    comparison: &'static str,
    threshold: Option<String>,
    threshold_metric_id: Option<&'static str>,
    periods: u32,
    missing: &'static str,
    actions: Vec<String>,
    tags: Vec<(&'static str, String)>,
    queries: Vec<Query>,
}

impl Alarm {
    fn write(self, out: &mut String) {
        let _ = writeln!(
            out,
            "\nresource \"aws_cloudwatch_metric_alarm\" \"{}\" {{",
            self.resource
        );
        let _ = writeln!(out, "  alarm_name          = {}", hcl_string(&self.name));
        let _ = writeln!(
            out,
            "  alarm_description   = {}",
            hcl_string(&self.description)
        );
        let _ = writeln!(
            out,
            "  comparison_operator = {}",
            hcl_string(self.comparison)
        );
        if let Some(threshold) = &self.threshold {
            let _ = writeln!(out, "  threshold           = {threshold}");
        }
        if let Some(id) = self.threshold_metric_id {
            let _ = writeln!(out, "  threshold_metric_id = {}", hcl_string(id));
        }
        // n consecutive bad periods: n of the last n.
        let _ = writeln!(out, "  evaluation_periods  = {}", self.periods);
        let _ = writeln!(out, "  datapoints_to_alarm = {}", self.periods);
        let _ = writeln!(out, "  treat_missing_data  = {}", hcl_string(self.missing));
        let actions: Vec<String> = self.actions.iter().map(|a| hcl_string(a)).collect();
        let _ = writeln!(out, "  alarm_actions       = [{}]", actions.join(", "));
        let _ = writeln!(out, "  ok_actions          = [{}]", actions.join(", "));
        out.push_str("\n  tags = {\n");
        for (key, value) in &self.tags {
            let _ = writeln!(out, "    {} = {}", hcl_string(key), hcl_string(value));
        }
        out.push_str("  }\n");
        for query in &self.queries {
            out.push_str("\n  metric_query {\n");
            let _ = writeln!(out, "    id          = {}", hcl_string(query.id));
            let _ = writeln!(out, "    return_data = {}", query.return_data);
            out.push_str(&query.body);
            out.push_str("  }\n");
        }
        out.push_str("}\n");
    }
}
