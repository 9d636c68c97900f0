//! Loading a rule file: the TOML text to the model, then the checks across rules (unique
//! names, SLA signals, windows that are multiples of the tick), each error located.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::duration::DisplayDuration;
use super::error::{Location, RuleFileError};
use super::model::{
    Action, AlertSink, DeadmanRule, GenerateSettings, OutcomeRule, Route, RuleFile, SelfHeartbeat,
    Sla, StatusPage, WatchSettings,
};

impl RuleFile {
    /// Reads and validates a rule file. Errors carry the path.
    ///
    /// # Errors
    ///
    /// [`RuleFileError::Read`] when the file cannot be read, otherwise as [`RuleFile::from_str`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, RuleFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| RuleFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        parse(&text, Some(path))
    }
}

impl FromStr for RuleFile {
    type Err = RuleFileError;

    /// Parses and validates a rule file's text.
    ///
    /// # Errors
    ///
    /// [`RuleFileError::Invalid`] for TOML syntax, unknown or missing keys, wrong types and bad
    /// values; [`RuleFileError::DuplicateName`], [`RuleFileError::UnknownSignal`] and
    /// [`RuleFileError::WindowNotMultipleOfTick`] for the checks across rules.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text, None)
    }
}

/// The file as deserialized, with the span of each rule kept for the checks across rules.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleFile {
    #[serde(default)]
    watch: WatchSettings,
    #[serde(default)]
    deadman: Vec<Spanned<DeadmanRule>>,
    #[serde(default)]
    outcome: Vec<Spanned<OutcomeRule>>,
    #[serde(default)]
    sla: Vec<Spanned<Sla>>,
    #[serde(default)]
    alert: Vec<Spanned<AlertSink>>,
    #[serde(default)]
    generate: GenerateSettings,
    #[serde(default)]
    self_heartbeat: Option<SelfHeartbeat>,
    #[serde(default)]
    route: Vec<Spanned<Route>>,
    #[serde(default)]
    action: Vec<Spanned<Action>>,
    #[serde(default)]
    status_page: Option<Spanned<StatusPage>>,
}

fn parse(text: &str, path: Option<&Path>) -> Result<RuleFile, RuleFileError> {
    let locate = |offset: usize| location(text, offset, path);
    let raw: RawRuleFile = toml::from_str(text).map_err(|error| {
        let location = locate(error.span().map_or(0, |span| span.start));
        let line = text
            .lines()
            .nth(location.line.saturating_sub(1))
            .map(str::trim)
            .unwrap_or_default();
        let line = match line.char_indices().nth(120) {
            Some((cut, _)) => format!("{}...", line.get(..cut).unwrap_or(line)),
            None => line.to_owned(),
        };
        RuleFileError::Invalid {
            location,
            message: error.message().trim_end().to_owned(),
            line,
        }
    })?;

    // Rule names: dead-man and outcome rules share the `heartbeat_rule` label of their alerts.
    let mut rules = Names::new("rule");
    for rule in &raw.deadman {
        rules.insert(&rule.get_ref().name, rule.span().start, &locate)?;
    }
    for rule in &raw.outcome {
        rules.insert(&rule.get_ref().name, rule.span().start, &locate)?;
    }
    let mut slas = Names::new("sla");
    for sla in &raw.sla {
        slas.insert(&sla.get_ref().name, sla.span().start, &locate)?;
    }
    let mut sinks = Names::new("alert");
    for sink in &raw.alert {
        sinks.insert(&sink.get_ref().name, sink.span().start, &locate)?;
    }

    let tick = raw.watch.tick;
    for rule in &raw.deadman {
        check_window("deadman", &rule.get_ref().name, rule.get_ref().window, tick)
            .map_err(|error| error(locate(rule.span().start)))?;
    }
    for rule in &raw.outcome {
        check_window("outcome", &rule.get_ref().name, rule.get_ref().window, tick)
            .map_err(|error| error(locate(rule.span().start)))?;
    }

    for sla in &raw.sla {
        let sla_ref = sla.get_ref();
        for signal in &sla_ref.signals {
            if !raw
                .outcome
                .iter()
                .any(|rule| &rule.get_ref().name == signal)
                && !raw
                    .deadman
                    .iter()
                    .any(|rule| &rule.get_ref().name == signal)
            {
                return Err(RuleFileError::UnknownSignal {
                    location: locate(sla.span().start),
                    sla: sla_ref.name.clone(),
                    signal: signal.clone(),
                    known: raw
                        .outcome
                        .iter()
                        .map(|rule| rule.get_ref().name.clone())
                        .chain(raw.deadman.iter().map(|rule| rule.get_ref().name.clone()))
                        .collect(),
                });
            }
        }
    }

    let mut actions = Names::new("action");
    for action in &raw.action {
        actions.insert(&action.get_ref().name, action.span().start, &locate)?;
        for rule in &action.get_ref().rules {
            if !raw.outcome.iter().any(|r| &r.get_ref().name == rule)
                && !raw.deadman.iter().any(|r| &r.get_ref().name == rule)
            {
                return Err(RuleFileError::Invalid {
                    location: locate(action.span().start),
                    message: format!(
                        "action {:?}: rules names {rule:?}, which is not a rule",
                        action.get_ref().name
                    ),
                    line: String::new(),
                });
            }
        }
    }
    if let Some(page) = &raw.status_page {
        for component in &page.get_ref().components {
            if !raw.sla.iter().any(|s| &s.get_ref().name == component) {
                return Err(RuleFileError::Invalid {
                    location: locate(page.span().start),
                    message: format!(
                        "status_page: component {component:?} is not the name of an [[sla]] (SLAs: {})",
                        raw.sla
                            .iter()
                            .map(|s| s.get_ref().name.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    line: String::new(),
                });
            }
        }
    }
    if raw.watch.history.is_zero() {
        return Err(RuleFileError::Invalid {
            location: locate(0),
            message: "watch.history must be longer than 0s (default 7d)".to_owned(),
            line: String::new(),
        });
    }
    for route in &raw.route {
        let r = route.get_ref();
        if r.sinks.is_empty() {
            return Err(RuleFileError::Invalid {
                location: locate(route.span().start),
                message: "route: sinks names no [[alert]] sink: sinks = [\"oncall\"]".to_owned(),
                line: String::new(),
            });
        }
        for sink in &r.sinks {
            if !raw.alert.iter().any(|a| &a.get_ref().name == sink) {
                return Err(RuleFileError::Invalid {
                    location: locate(route.span().start),
                    message: format!(
                        "route: sink {sink:?} is not the name of an [[alert]] sink (sinks: {})",
                        raw.alert
                            .iter()
                            .map(|a| a.get_ref().name.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    line: String::new(),
                });
            }
        }
    }
    let default_grace = raw.generate.prometheus.stop_lookback;
    for rule in &raw.deadman {
        let r = rule.get_ref();
        if let (Some(silence), Some(cadence)) = (r.max_silence, r.cadence)
            && silence <= cadence
        {
            let location = locate(rule.span().start);
            return Err(RuleFileError::Invalid {
                line: String::new(),
                location,
                message: format!(
                    "deadman {:?}: max_silence {} must be longer than cadence {} (it would page between two healthy beats)",
                    r.name,
                    DisplayDuration(silence),
                    DisplayDuration(cadence)
                ),
            });
        }
    }
    let deadman = raw
        .deadman
        .into_iter()
        .map(Spanned::into_inner)
        .map(|mut rule| {
            if rule.stop_grace.is_zero() {
                rule.stop_grace = default_grace;
            }
            rule
        })
        .collect();

    Ok(RuleFile {
        watch: raw.watch,
        deadman,
        outcome: raw.outcome.into_iter().map(Spanned::into_inner).collect(),
        sla: raw.sla.into_iter().map(Spanned::into_inner).collect(),
        alert: raw.alert.into_iter().map(Spanned::into_inner).collect(),
        generate: raw.generate,
        self_heartbeat: raw.self_heartbeat,
        route: raw.route.into_iter().map(Spanned::into_inner).collect(),
        action: raw.action.into_iter().map(Spanned::into_inner).collect(),
        status_page: raw.status_page.map(Spanned::into_inner),
    })
}

type LocatedError = Box<dyn FnOnce(Location) -> RuleFileError>;

fn check_window(
    kind: &'static str,
    name: &str,
    window: Duration,
    tick: Duration,
) -> Result<(), LocatedError> {
    if window.as_nanos().is_multiple_of(tick.as_nanos().max(1)) {
        return Ok(());
    }
    let name = name.to_owned();
    Err(Box::new(move |location| {
        RuleFileError::WindowNotMultipleOfTick {
            location,
            kind,
            name,
            window,
            tick,
        }
    }))
}

/// First-seen lines of the names of one kind.
struct Names {
    kind: &'static str,
    seen: HashMap<String, usize>,
}

impl Names {
    fn new(kind: &'static str) -> Self {
        Self {
            kind,
            seen: HashMap::new(),
        }
    }

    fn insert(
        &mut self,
        name: &str,
        offset: usize,
        locate: &impl Fn(usize) -> Location,
    ) -> Result<(), RuleFileError> {
        let location = locate(offset);
        if let Some(&first_line) = self.seen.get(name) {
            return Err(RuleFileError::DuplicateName {
                location,
                kind: self.kind,
                name: name.to_owned(),
                first_line,
            });
        }
        self.seen.insert(name.to_owned(), location.line);
        Ok(())
    }
}

fn location(text: &str, offset: usize, path: Option<&Path>) -> Location {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before
        .get(line_start..)
        .map_or(1, |prefix| prefix.chars().count() + 1);
    Location {
        path: path.map(Path::to_owned),
        line,
        column,
    }
}
