//! Validation of the names and values that end up on the wire, and the error that names the bad one.
//!
//! What is wrong is a [`Problem`], a code whose text lives in one table ([`Problem::message`]);
//! the sentences around it are written without the `fmt` machinery ([`OutcomeError::write_to`]),
//! so the browser build gives the native messages to the letter at no cost in size.

use crate::semconv::RESERVED_REASONS;
use crate::text::{push_decimal, push_quoted, push_shown};
use std::fmt;

/// The longest outcome name, attribute key or attribute value accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// The longest failure reason accepted, in bytes.
pub const MAX_REASON_LEN: usize = 63;
/// The most failure reasons one outcome may declare (the bounded set).
pub const MAX_REASONS: usize = 32;

/// What is wrong with a name or a value: a code that costs no allocation and no formatting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Problem {
    /// It is empty.
    Empty,
    /// It is longer than [`MAX_NAME_LEN`] bytes.
    TooLong,
    /// A name does not start with an ASCII letter.
    FirstNotLetter,
    /// It contains a character its syntax does not allow.
    BadCharacter,
    /// A value contains a control character.
    ControlCharacter,
    /// A failure reason is longer than [`MAX_REASON_LEN`] bytes.
    ReasonTooLong,
    /// A failure reason does not start with a lowercase letter.
    FirstNotLowercase,
    /// An attribute key is given twice.
    GivenTwice,
}

impl Problem {
    /// What is wrong, as a clause of an error message (`"it is empty"`): the one table of
    /// these texts.
    #[inline]
    pub fn message(self) -> &'static str {
        match self {
            Self::Empty => "it is empty",
            Self::TooLong => "it is longer than 255 bytes",
            Self::FirstNotLetter => "it must start with an ASCII letter",
            Self::BadCharacter => "it contains a character that is not allowed",
            Self::ControlCharacter => "it contains a control character",
            Self::ReasonTooLong => "it is longer than 63 bytes",
            Self::FirstNotLowercase => "it must start with a lowercase letter",
            Self::GivenTwice => "it is given twice",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// What a refused name is: the start and the end of its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Subject {
    /// An outcome name.
    OutcomeName,
    /// A browser heartbeat's name (the outcome-name syntax).
    HeartbeatName,
    /// An attribute key.
    AttributeKey,
    /// A failure reason.
    Reason,
}

const NAME_ALLOWED: &str =
    "an ASCII letter, then up to 254 ASCII letters, digits, '_', '.', '-' or '/'";
const KEY_ALLOWED: &str = "an ASCII letter, then up to 254 ASCII letters, digits, '_', '.' or '-'";
const VALUE_ALLOWED: &str = "1 to 255 bytes of UTF-8 without control characters";
const REASON_ALLOWED: &str =
    "1 to 63 bytes of lowercase ASCII letters, digits and '_', starting with a letter";

impl Subject {
    /// The start of the message refusing it, and what is allowed.
    fn parts(self) -> (&'static str, &'static str) {
        match self {
            Self::OutcomeName => ("invalid outcome name ", NAME_ALLOWED),
            Self::HeartbeatName => ("invalid heartbeat name ", NAME_ALLOWED),
            Self::AttributeKey => ("invalid attribute key ", KEY_ALLOWED),
            Self::Reason => ("invalid failure reason ", REASON_ALLOWED),
        }
    }
}

/// Why a name or value was refused, borrowing it: no allocation and no formatting until
/// [`Refusal::write_to`] writes the message. [`OutcomeError`] is its owned form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal<'a> {
    /// A name or reason breaks its syntax:
    /// `invalid outcome name "1bad": it must start with an ASCII letter; allowed: ...`.
    Invalid {
        /// What the value is.
        subject: Subject,
        /// The value as given.
        value: &'a str,
        /// What is wrong with it.
        problem: Problem,
    },
    /// An attribute key under the reserved `heartbeat.` prefix.
    ReservedKey {
        /// The key as given.
        key: &'a str,
    },
    /// An attribute value is empty, too long or has control characters.
    InvalidValue {
        /// The attribute key.
        key: &'a str,
        /// The value as given.
        value: &'a str,
        /// What is wrong with it.
        problem: Problem,
    },
    /// More failure reasons than the bounded set allows.
    TooManyReasons {
        /// The outcome name.
        outcome: &'a str,
        /// How many were declared.
        count: usize,
    },
    /// The same outcome (name and attributes) was declared before with other failure reasons.
    Conflict {
        /// The outcome name.
        outcome: &'a str,
        /// The reasons it already has (without the reserved ones).
        existing: &'a [String],
    },
}

impl Refusal<'_> {
    /// Appends the message, the same as [`OutcomeError`]'s `Display`, without the `fmt`
    /// machinery.
    pub fn write_to(&self, o: &mut String) {
        match *self {
            Self::Invalid {
                subject,
                value,
                problem,
            } => refusal(o, subject, value, problem.message()),
            Self::ReservedKey { key } => reserved_key(o, key),
            Self::InvalidValue {
                key,
                value,
                problem,
            } => invalid_value(o, key, value, problem.message()),
            Self::TooManyReasons { outcome, count } => too_many_reasons(o, outcome, count),
            Self::Conflict { outcome, existing } => conflict(o, outcome, existing),
        }
    }
}

fn refusal(o: &mut String, subject: Subject, value: &str, problem: &str) {
    let (start, allowed) = subject.parts();
    o.push_str(start);
    push_shown(o, value);
    o.push_str(": ");
    o.push_str(problem);
    o.push_str("; allowed: ");
    o.push_str(allowed);
}

fn reserved_key(o: &mut String, key: &str) {
    o.push_str("attribute key ");
    push_quoted(o, key);
    o.push_str(
        " is reserved: keys starting with \"heartbeat.\" are set by the SDK; choose another key such as \"surface\"",
    );
}

fn invalid_value(o: &mut String, key: &str, value: &str, problem: &str) {
    o.push_str("invalid value ");
    push_shown(o, value);
    o.push_str(" for attribute ");
    push_quoted(o, key);
    o.push_str(": ");
    o.push_str(problem);
    o.push_str("; allowed: ");
    o.push_str(VALUE_ALLOWED);
}

fn conflict(o: &mut String, outcome: &str, existing: &[String]) {
    o.push_str("outcome ");
    push_quoted(o, outcome);
    o.push_str(" with these attributes is already declared with failure reasons [");
    for (i, r) in existing.iter().enumerate() {
        if i > 0 {
            o.push_str(", ");
        }
        push_quoted(o, r);
    }
    o.push_str("]; declare it once, or with the same reasons");
}

fn too_many_reasons(o: &mut String, outcome: &str, count: usize) {
    o.push_str("outcome ");
    push_quoted(o, outcome);
    o.push_str(" declares ");
    push_decimal(o, count as u64);
    o.push_str(" failure reasons; at most ");
    push_decimal(o, MAX_REASONS as u64);
    o.push_str(" are allowed");
}

/// Why a declaration was refused. Every message names the bad value and what is allowed.
///
/// The `reason` fields hold [`Problem::message`] of what is wrong.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutcomeError {
    /// The outcome name does not follow the OpenTelemetry instrument-name syntax.
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An attribute key is malformed.
    InvalidAttributeKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An attribute key belongs to Heartbeat itself.
    ReservedKey {
        /// The key as given.
        key: String,
    },
    /// An attribute value is empty, too long or has control characters.
    InvalidAttributeValue {
        /// The attribute key.
        key: String,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A failure reason is malformed.
    InvalidReason {
        /// The reason as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More failure reasons than the bounded set allows.
    TooManyReasons {
        /// The outcome name.
        outcome: String,
        /// How many were declared.
        count: usize,
    },
    /// The same outcome (name and attributes) was declared before with other failure reasons.
    Conflict {
        /// The outcome name.
        outcome: String,
        /// The reasons it already has.
        existing: Vec<String>,
    },
}

impl OutcomeError {
    /// Appends the message (what `Display` shows), without the `fmt` machinery.
    pub fn write_to(&self, o: &mut String) {
        match self {
            Self::InvalidName { name, reason } => refusal(o, Subject::OutcomeName, name, reason),
            Self::InvalidAttributeKey { key, reason } => {
                refusal(o, Subject::AttributeKey, key, reason);
            }
            Self::ReservedKey { key } => reserved_key(o, key),
            Self::InvalidAttributeValue { key, value, reason } => {
                invalid_value(o, key, value, reason);
            }
            Self::InvalidReason { value, reason } => refusal(o, Subject::Reason, value, reason),
            Self::TooManyReasons { outcome, count } => too_many_reasons(o, outcome, *count),
            Self::Conflict { outcome, existing } => conflict(o, outcome, existing),
        }
    }
}

impl From<Refusal<'_>> for OutcomeError {
    fn from(r: Refusal<'_>) -> Self {
        match r {
            Refusal::Invalid {
                subject,
                value,
                problem,
            } => {
                let (value, reason) = (value.to_owned(), problem.message());
                match subject {
                    Subject::OutcomeName | Subject::HeartbeatName => Self::InvalidName {
                        name: value,
                        reason,
                    },
                    Subject::AttributeKey => Self::InvalidAttributeKey { key: value, reason },
                    Subject::Reason => Self::InvalidReason { value, reason },
                }
            }
            Refusal::ReservedKey { key } => Self::ReservedKey {
                key: key.to_owned(),
            },
            Refusal::InvalidValue {
                key,
                value,
                problem,
            } => Self::InvalidAttributeValue {
                key: key.to_owned(),
                value: value.to_owned(),
                reason: problem.message(),
            },
            Refusal::TooManyReasons { outcome, count } => Self::TooManyReasons {
                outcome: outcome.to_owned(),
                count,
            },
            Refusal::Conflict { outcome, existing } => Self::Conflict {
                outcome: outcome.to_owned(),
                existing: existing.to_vec(),
            },
        }
    }
}

impl fmt::Display for OutcomeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut o = String::new();
        self.write_to(&mut o);
        f.write_str(&o)
    }
}

impl std::error::Error for OutcomeError {}

/// `Debug` reads like `Display`: it is what `fn main() -> Result<(), E>` and `unwrap()` print, and
/// the sentence names the bad value and what is allowed.
impl fmt::Debug for OutcomeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Shows a user value in an error: quoted, and cut short when it is long (see
/// [`crate::text::push_shown`]).
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut o = String::new();
        push_shown(&mut o, self.0);
        f.write_str(&o)
    }
}

/// The instrument-name syntax; `slash`: `/` is allowed too (outcome names, not keys).
fn name_like(s: &str, slash: bool) -> Option<Problem> {
    let bytes = s.as_bytes();
    let Some(first) = bytes.first() else {
        return Some(Problem::Empty);
    };
    if s.len() > MAX_NAME_LEN {
        return Some(Problem::TooLong);
    }
    if !first.is_ascii_alphabetic() {
        return Some(Problem::FirstNotLetter);
    }
    if bytes.iter().any(|&b| {
        !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-') || slash && b == b'/')
    }) {
        return Some(Problem::BadCharacter);
    }
    None
}

/// What is wrong with an outcome name (or a heartbeat or emitter name), if anything.
pub fn name_problem(name: &str) -> Option<Problem> {
    name_like(name, true)
}

/// Checks an outcome name (letters, digits, `_`, `.`, `-`, `/`; at most [`MAX_NAME_LEN`] bytes).
///
/// # Errors
/// [`OutcomeError::InvalidName`] naming the name and what is wrong with it.
pub fn outcome_name(name: &str) -> Result<(), OutcomeError> {
    match name_problem(name) {
        None => Ok(()),
        Some(p) => Err(OutcomeError::InvalidName {
            name: name.to_owned(),
            reason: p.message(),
        }),
    }
}

/// Checks an attribute key (letters, digits, `_`, `.`, `-`; not under the reserved `heartbeat.` prefix).
///
/// # Errors
/// [`OutcomeError::InvalidAttributeKey`] or [`OutcomeError::ReservedKey`].
pub fn attribute_key(key: &str) -> Result<(), OutcomeError> {
    if let Some(p) = name_like(key, false) {
        return Err(OutcomeError::InvalidAttributeKey {
            key: key.to_owned(),
            reason: p.message(),
        });
    }
    if key.starts_with(crate::semconv::RESERVED_PREFIX) {
        return Err(OutcomeError::ReservedKey {
            key: key.to_owned(),
        });
    }
    Ok(())
}

/// What is wrong with a value that goes on the wire as an attribute value (fixed attributes,
/// tenants, the service name), if anything.
pub fn value_check(value: &str) -> Option<Problem> {
    if value.is_empty() {
        Some(Problem::Empty)
    } else if value.len() > MAX_NAME_LEN {
        Some(Problem::TooLong)
    } else if value.chars().any(char::is_control) {
        Some(Problem::ControlCharacter)
    } else {
        None
    }
}

/// [`value_check`] as the text of the problem.
pub fn value_problem(value: &str) -> Option<&'static str> {
    value_check(value).map(Problem::message)
}

#[cfg(test)]
fn attribute_value(key: &str, value: &str) -> Result<(), OutcomeError> {
    match value_check(value) {
        None => Ok(()),
        Some(p) => Err(OutcomeError::InvalidAttributeValue {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: p.message(),
        }),
    }
}

/// What is wrong with a failure reason, if anything.
pub fn reason_check(value: &str) -> Option<Problem> {
    let bytes = value.as_bytes();
    match bytes.first() {
        None => Some(Problem::Empty),
        Some(_) if value.len() > MAX_REASON_LEN => Some(Problem::ReasonTooLong),
        Some(first) if !first.is_ascii_lowercase() => Some(Problem::FirstNotLowercase),
        Some(_)
            if bytes
                .iter()
                .any(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')) =>
        {
            Some(Problem::BadCharacter)
        }
        Some(_) => None,
    }
}

#[cfg(test)]
fn reason(value: &str) -> Result<(), OutcomeError> {
    match reason_check(value) {
        None => Ok(()),
        Some(p) => Err(OutcomeError::InvalidReason {
            value: value.to_owned(),
            reason: p.message(),
        }),
    }
}

/// What is wrong with an attribute.
enum Bad {
    Key(Problem),
    Reserved,
    Value(Problem),
}

fn invalid(subject: Subject, value: &str, problem: Problem) -> Refusal<'_> {
    Refusal::Invalid {
        subject,
        value,
        problem,
    }
}

/// Checks a whole declaration, as [`OutcomeBuilder::build`](crate::OutcomeBuilder::build)
/// and the browser build do: the name, each attribute, then sorts the attributes by key
/// (refusing a key given twice), and returns every failure reason of the outcome: the reserved
/// ones first, then the declared ones without repeats.
///
/// # Errors
/// The first [`Refusal`] found, in the order above, then [`Refusal::TooManyReasons`].
pub fn declaration<'a>(
    name: &'a str,
    attributes: &'a mut [(String, String)],
    declared: &'a [String],
) -> Result<Vec<String>, Refusal<'a>> {
    if let Some(p) = name_problem(name) {
        return Err(invalid(Subject::OutcomeName, name, p));
    }
    // Found first and borrowed after, so that the sort below may reorder the attributes.
    let bad = attributes.iter().enumerate().find_map(|(i, (k, v))| {
        let bad = match name_like(k, false) {
            Some(p) => Bad::Key(p),
            None if k.starts_with(crate::semconv::RESERVED_PREFIX) => Bad::Reserved,
            None => Bad::Value(value_check(v)?),
        };
        Some((i, bad))
    });
    if let Some((i, bad)) = bad {
        let attributes: &'a [(String, String)] = attributes;
        if let Some((k, v)) = attributes.get(i) {
            return Err(match bad {
                Bad::Key(p) => invalid(Subject::AttributeKey, k, p),
                Bad::Reserved => Refusal::ReservedKey { key: k },
                Bad::Value(problem) => Refusal::InvalidValue {
                    key: k,
                    value: v,
                    problem,
                },
            });
        }
        return Ok(Vec::new()); // never: `i` is an index of `attributes`
    }
    // An insertion sort: a handful of attributes, and far less code than `slice::sort` in the
    // browser build.
    for i in 1..attributes.len() {
        let mut j = i;
        while j > 0 && attributes[j - 1] > attributes[j] {
            attributes.swap(j - 1, j);
            j -= 1;
        }
    }
    let attributes: &'a [(String, String)] = attributes;
    if let Some(w) = attributes.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(invalid(Subject::AttributeKey, &w[0].0, Problem::GivenTwice));
    }
    let mut reasons: Vec<String> = RESERVED_REASONS.iter().map(|r| (*r).into()).collect();
    for r in declared {
        if let Some(p) = reason_check(r) {
            return Err(invalid(Subject::Reason, r, p));
        }
        if !reasons.contains(r) {
            reasons.push(r.clone());
        }
    }
    let count = reasons.len() - RESERVED_REASONS.len();
    if count > MAX_REASONS {
        return Err(Refusal::TooManyReasons {
            outcome: name,
            count,
        });
    }
    Ok(reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_printed_by_main_reads_like_its_message() {
        // `fn main() -> Result<(), OutcomeError>` and `unwrap()` print `Debug`.
        let err = outcome_name("1bad").unwrap_err();
        assert_eq!(format!("{err:?}"), err.to_string());
        assert!(format!("{err:?}").starts_with("invalid outcome name \"1bad\""));
    }

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
