//! Field deserializers and checks: each refusal names the value; the TOML parser adds the
//! key's line. The bottom of the rule file's modules: they know values, not rules.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::duration::parse_duration;

pub(super) fn de_opt_sop<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    check_sop(String::deserialize(deserializer)?)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A standard operating procedure: 1 to 2,000 bytes, at most 20 lines.
pub(super) fn check_sop(sop: String) -> Result<String, String> {
    if sop.trim().is_empty() || sop.len() > 2000 || sop.lines().count() > 20 {
        return Err(format!(
            "invalid sop ({} bytes, {} lines): a few lines, 1 to 2000 bytes and at most 20 lines",
            sop.len(),
            sop.lines().count()
        ));
    }
    Ok(sop)
}

pub(super) fn unset_duration() -> Duration {
    Duration::ZERO
}

pub(super) fn de_metric_name<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    check_metric_name("emitter", String::deserialize(deserializer)?)
        .map_err(serde::de::Error::custom)
}

pub(super) const ROUTE_KEYS: [&str; 5] = ["severity", "rule", "kind", "service", "classification"];

pub(super) fn de_matchers<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let m = BTreeMap::<String, String>::deserialize(deserializer)?;
    for k in m.keys() {
        if !ROUTE_KEYS.contains(&k.as_str()) {
            return Err(serde::de::Error::custom(format!(
                "unknown match key {k:?}: use {}",
                ROUTE_KEYS.join(", ")
            )));
        }
    }
    Ok(m)
}

pub(super) fn one() -> u32 {
    1
}

pub(super) fn de_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

pub(super) fn de_positive_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let value = i64::deserialize(deserializer)?;
    match u32::try_from(value) {
        Ok(value) if value > 0 => Ok(value),
        _ => Err(serde::de::Error::custom(format!(
            "must be a whole number from 1 to {}, got {value}",
            u32::MAX
        ))),
    }
}

pub(super) fn de_positive_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let value = i64::deserialize(deserializer)?;
    match u64::try_from(value) {
        Ok(value) if value > 0 => Ok(value),
        _ => Err(serde::de::Error::custom(format!(
            "must be a positive whole number, got {value}"
        ))),
    }
}

pub(super) fn de_ratio<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    check_ratio(f64::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

pub(super) fn check_ratio(value: f64) -> Result<f64, String> {
    if value > 0.0 && value <= 1.0 {
        Ok(value)
    } else {
        Err(format!("must be a ratio in (0, 1], got {value}"))
    }
}

pub(super) fn check_positive(value: f64) -> Result<f64, String> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(format!("must be a positive number, got {value}"))
    }
}

pub(super) fn de_rule_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    check_rule_name(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

pub(super) fn check_rule_name(name: String) -> Result<String, String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "invalid name {name:?}: use 1 to 63 of a-z, 0-9, '_' and '-'"
        ))
    }
}

/// `heartbeat.outcome` and `heartbeat.emitter` syntax: an ASCII letter, then up to 254 ASCII
/// letters, digits, `_ . - /`.
pub(super) fn check_metric_name(what: &str, name: String) -> Result<String, String> {
    let mut bytes = name.bytes();
    let valid = name.len() <= 255
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'));
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "invalid {what} {name:?}: an ASCII letter, then up to 254 ASCII letters, digits, '_', '.', '-', '/'"
        ))
    }
}

pub(super) fn de_opt_metric_name<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let name = String::deserialize(deserializer)?;
    check_metric_name("emitter", name)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Attribute values (service names, fixed attributes): 1 to 255 bytes, no control characters.
pub(super) fn check_label_value(what: &str, value: String) -> Result<String, String> {
    if !value.is_empty() && value.len() <= 255 && !value.chars().any(char::is_control) {
        Ok(value)
    } else {
        Err(format!(
            "invalid {what} {value:?}: 1 to 255 bytes without control characters"
        ))
    }
}

pub(super) fn de_label_value<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    check_label_value("service", String::deserialize(deserializer)?)
        .map_err(serde::de::Error::custom)
}

/// Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(super) fn de_label_name<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    let name = String::deserialize(deserializer)?;
    let mut bytes = name.bytes();
    let valid = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(name)
    } else {
        Err(serde::de::Error::custom(format!(
            "invalid Prometheus label name {name:?}: [a-zA-Z_][a-zA-Z0-9_]*"
        )))
    }
}

pub(super) fn check_url(url: String) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !url.chars().any(char::is_whitespace) => Ok(url),
        _ => Err(format!(
            "invalid URL {url:?}: expected http://... or https://..."
        )),
    }
}

pub(super) fn de_opt_url<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    check_url(String::deserialize(deserializer)?)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

pub(super) fn de_signals<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    let signals = Vec::<String>::deserialize(deserializer)?;
    if signals.is_empty() {
        return Err(serde::de::Error::custom(
            "an SLA needs at least one signal (an [[outcome]] rule name)",
        ));
    }
    Ok(signals)
}

pub(super) fn de_opt_service<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    de_label_value(deserializer).map(Some)
}

pub(super) fn de_opt_ratio<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<f64>, D::Error> {
    de_ratio(deserializer).map(Some)
}

pub(super) fn de_opt_positive<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<f64>, D::Error> {
    check_positive(f64::deserialize(deserializer)?)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Fixed-attribute keys: an ASCII letter, then letters, digits, `_ . -`; `heartbeat.` is reserved.
pub(super) fn check_attribute_key(key: &str) -> Result<(), String> {
    let mut bytes = key.bytes();
    let valid = key.len() <= 255
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !valid {
        return Err(format!(
            "invalid attribute key where.{key:?}: an ASCII letter, then ASCII letters, digits, '_', '.', '-'"
        ));
    }
    if key.starts_with(heartbeat::semconv::RESERVED_PREFIX) {
        return Err(format!(
            "where.{key:?}: the heartbeat. prefix is reserved; filter on fixed attributes only"
        ));
    }
    Ok(())
}

pub(super) fn de_opt_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    de_duration(deserializer).map(Some)
}
