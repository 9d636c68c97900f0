//! Validation of the names and values that end up on the wire, and the error that names the bad one.

use std::fmt;

/// The longest outcome name, attribute key or attribute value accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// The longest failure reason accepted, in bytes.
pub const MAX_REASON_LEN: usize = 63;
/// The most failure reasons one outcome may declare (the bounded set).
pub const MAX_REASONS: usize = 32;

/// Why a declaration was refused. Every message names the bad value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutcomeError {
    /// The outcome name does not follow the OpenTelemetry instrument-name syntax.
    #[error(
        "invalid outcome name {}: {reason}; allowed: an ASCII letter, then up to 254 ASCII letters, digits, '_', '.', '-' or '/'",
        Shown(name)
    )]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An attribute key is malformed.
    #[error(
        "invalid attribute key {}: {reason}; allowed: an ASCII letter, then up to 254 ASCII letters, digits, '_', '.' or '-'",
        Shown(key)
    )]
    InvalidAttributeKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An attribute key belongs to Heartbeat itself.
    #[error(
        "attribute key {key:?} is reserved: keys starting with \"heartbeat.\" are set by the SDK; choose another key such as \"surface\""
    )]
    ReservedKey {
        /// The key as given.
        key: String,
    },
    /// An attribute value is empty, too long or has control characters.
    #[error(
        "invalid value {} for attribute {key:?}: {reason}; allowed: 1 to 255 bytes of UTF-8 without control characters",
        Shown(value)
    )]
    InvalidAttributeValue {
        /// The attribute key.
        key: String,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A failure reason is malformed.
    #[error(
        "invalid failure reason {}: {reason}; allowed: 1 to 63 bytes of lowercase ASCII letters, digits and '_', starting with a letter",
        Shown(value)
    )]
    InvalidReason {
        /// The reason as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More failure reasons than the bounded set allows.
    #[error(
        "outcome {outcome:?} declares {count} failure reasons; at most {MAX_REASONS} are allowed"
    )]
    TooManyReasons {
        /// The outcome name.
        outcome: String,
        /// How many were declared.
        count: usize,
    },
    /// The same outcome (name and attributes) was declared before with other failure reasons.
    #[error(
        "outcome {outcome:?} with these attributes is already declared with failure reasons {existing:?}; declare it once, or with the same reasons"
    )]
    Conflict {
        /// The outcome name.
        outcome: String,
        /// The reasons it already has.
        existing: Vec<String>,
    },
}

/// Shows a user value in an error: quoted, and cut short when it is long.
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOW: usize = 64;
        if self.0.len() <= SHOW {
            write!(f, "{:?}", self.0)
        } else {
            let mut cut = SHOW;
            while !self.0.is_char_boundary(cut) {
                cut -= 1;
            }
            write!(f, "{:?}... ({} bytes)", &self.0[..cut], self.0.len())
        }
    }
}

fn name_like(s: &str, extra: &[u8]) -> Result<(), &'static str> {
    let bytes = s.as_bytes();
    let Some(first) = bytes.first() else {
        return Err("it is empty");
    };
    if s.len() > MAX_NAME_LEN {
        return Err("it is longer than 255 bytes");
    }
    if !first.is_ascii_alphabetic() {
        return Err("it must start with an ASCII letter");
    }
    if bytes
        .iter()
        .any(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || extra.contains(b)))
    {
        return Err("it contains a character that is not allowed");
    }
    Ok(())
}

/// Checks an outcome name (letters, digits, `_`, `.`, `-`, `/`; at most [`MAX_NAME_LEN`] bytes).
pub fn outcome_name(name: &str) -> Result<(), OutcomeError> {
    name_like(name, b".-/").map_err(|reason| OutcomeError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

/// Checks an attribute key (letters, digits, `_`, `.`, `-`; not under the reserved `heartbeat.` prefix).
pub fn attribute_key(key: &str) -> Result<(), OutcomeError> {
    name_like(key, b".-").map_err(|reason| OutcomeError::InvalidAttributeKey {
        key: key.to_owned(),
        reason,
    })?;
    if key.starts_with("heartbeat.") {
        return Err(OutcomeError::ReservedKey {
            key: key.to_owned(),
        });
    }
    Ok(())
}

/// Checks a value that goes on the wire as an attribute value (fixed attributes, tenants).
pub fn value_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("it is empty")
    } else if value.len() > MAX_NAME_LEN {
        Some("it is longer than 255 bytes")
    } else if value.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    }
}

pub(crate) fn attribute_value(key: &str, value: &str) -> Result<(), OutcomeError> {
    match value_problem(value) {
        None => Ok(()),
        Some(reason) => Err(OutcomeError::InvalidAttributeValue {
            key: key.to_owned(),
            value: value.to_owned(),
            reason,
        }),
    }
}

pub(crate) fn reason(value: &str) -> Result<(), OutcomeError> {
    let bytes = value.as_bytes();
    let problem = match bytes.first() {
        None => Some("it is empty"),
        Some(_) if value.len() > MAX_REASON_LEN => Some("it is longer than 63 bytes"),
        Some(first) if !first.is_ascii_lowercase() => Some("it must start with a lowercase letter"),
        Some(_)
            if bytes
                .iter()
                .any(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')) =>
        {
            Some("it contains a character that is not allowed")
        }
        Some(_) => None,
    };
    match problem {
        None => Ok(()),
        Some(reason) => Err(OutcomeError::InvalidReason {
            value: value.to_owned(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_names_follow_instrument_name_syntax() {
        assert!(outcome_name("message.send").is_ok());
        assert!(outcome_name("ai/answer-produced_v2").is_ok());
        let err = outcome_name("1bad").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid outcome name \"1bad\": it must start with an ASCII letter; allowed: an ASCII letter, then up to 254 ASCII letters, digits, '_', '.', '-' or '/'"
        );
        assert!(outcome_name("").is_err());
        assert!(outcome_name("has space").is_err());
        assert!(outcome_name(&"a".repeat(256)).is_err());
        assert!(outcome_name(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn oversized_values_are_shown_cut_short_with_their_length() {
        let long = "x".repeat(300);
        let err = attribute_value("surface", &long).unwrap_err().to_string();
        assert!(err.contains("... (300 bytes)"), "{err}");
        assert!(err.contains("it is longer than 255 bytes"), "{err}");
        assert!(err.len() < 300, "{err}");
    }

    #[test]
    fn reserved_keys_are_refused() {
        let err = attribute_key("heartbeat.tenant").unwrap_err();
        assert!(matches!(err, OutcomeError::ReservedKey { .. }));
        assert!(attribute_key("surface").is_ok());
    }

    #[test]
    fn reasons_are_snake_case() {
        assert!(reason("timeout").is_ok());
        assert!(reason("upstream_5xx").is_ok());
        assert!(reason("Timeout").is_err());
        assert!(reason("time out").is_err());
        assert!(reason("").is_err());
    }

    #[test]
    fn empty_and_control_character_values_are_refused() {
        assert!(attribute_value("surface", "").is_err());
        assert!(attribute_value("surface", "a\nb").is_err());
        assert!(attribute_value("surface", "web_messenger").is_ok());
    }
}
