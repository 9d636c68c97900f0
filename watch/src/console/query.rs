//! Query strings of the console's endpoints: percent-decoded pairs, and errors that name the
//! bad parameter and value.

use std::fmt;

/// A query parameter that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueryError {
    /// A required parameter is missing.
    Missing(&'static str),
    /// A parameter's value is malformed or out of range.
    Invalid {
        name: String,
        value: String,
        why: String,
    },
    /// The value names nothing this watch has (a rule, an SLA).
    Unknown {
        name: &'static str,
        value: String,
        known: Vec<String>,
    },
    /// The data cannot be read now (no database, a database error).
    Unavailable(String),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(name) => write!(f, "missing query parameter {name:?}"),
            Self::Invalid { name, value, why } => {
                write!(f, "invalid {name} {value:?}: {why}")
            }
            Self::Unknown { name, value, known } => {
                let mut list = known
                    .iter()
                    .take(20)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                if known.len() > 20 {
                    list.push_str(", ...");
                }
                write!(f, "no {name} named {value:?} (known: {list})")
            }
            Self::Unavailable(why) => f.write_str(why),
        }
    }
}

/// The parsed pairs of a query string.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `query` (without `?`). A pair that does not decode is an error naming it; a
    /// parameter given twice is an error (which one would count is a guess).
    pub(crate) fn parse(query: &str, allowed: &[&str]) -> Result<Self, QueryError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = |why: &str| QueryError::Invalid {
                name: "query parameter".to_owned(),
                value: pair.chars().take(100).collect(),
                why: why.to_owned(),
            };
            let name = decode(name).map_err(|w| bad(&w))?;
            let value = decode(value).map_err(|w| bad(&w))?;
            if !allowed.contains(&name.as_str()) {
                return Err(QueryError::Invalid {
                    name: "query parameter".to_owned(),
                    value: name.chars().take(100).collect(),
                    why: format!("not one of {}", allowed.join(", ")),
                });
            }
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(QueryError::Invalid {
                    name,
                    value,
                    why: "given twice".to_owned(),
                });
            }
            pairs.push((name, value));
        }
        Ok(Self { pairs })
    }

    /// A parameter's value.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Percent-decodes `s` (`+` is a space, as forms send it).
pub(crate) fn decode(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| "a % not followed by two hex digits".to_owned())?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once decoded".to_owned())
}

/// Percent-encodes everything but `A-Z a-z 0-9 - . _ ~`.
pub(crate) fn encode(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
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

    #[test]
    fn pairs_decode_and_bad_ones_are_named() {
        let q = Query::parse(
            "rule=message-send&range=1h&by=tenant",
            &["rule", "range", "by"],
        )
        .unwrap();
        assert_eq!(q.get("rule"), Some("message-send"));
        assert_eq!(q.get("by"), Some("tenant"));
        assert_eq!(q.get("month"), None);
        let q = Query::parse("rule=a%20b+c", &["rule"]).unwrap();
        assert_eq!(q.get("rule"), Some("a b c"));
        let e = Query::parse("rule=%zz", &["rule"]).unwrap_err().to_string();
        assert!(e.contains("rule=%zz") && e.contains("hex"), "{e}");
        let e = Query::parse("rnage=1h", &["rule", "range"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"rnage\"") && e.contains("rule, range"), "{e}");
        let e = Query::parse("range=1h&range=2h", &["range"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("range") && e.contains("twice"), "{e}");
    }

    #[test]
    fn encode_and_decode_are_inverse() {
        for s in ["plain", "a b;c=d\"e%", "ünï+"] {
            assert_eq!(decode(&encode(s)).unwrap(), s);
        }
    }
}
