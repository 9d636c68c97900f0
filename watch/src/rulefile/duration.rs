//! Durations as rule files write them: `"30s"`, `"5m"`, `"1h30m"`; parsed and written back.

use std::fmt;
use std::time::Duration;

/// The longest duration a rule file may hold: 366 days. Windows, ticks and seasons longer than a
/// year mean nothing to the judge, and the bound keeps its time arithmetic far from overflow.
const MAX_DURATION_SECS: u64 = 366 * 86_400;

/// Parses a duration written as whole units: `"30s"`, `"5m"`, `"1h"`, `"1d"`, `"1w"`, or a
/// sequence of them from the largest unit down, such as `"1h30m"`. Zero is refused: no window,
/// tick or season can be empty; so is anything longer than 366 days.
///
/// # Errors
///
/// A message naming the value and the accepted forms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {text:?}: expected whole units like \"30s\", \"5m\", \"1h\", \"1d\", \"1w\" or \"1h30m\""
        )
    };
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut last_unit = u64::MAX;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 604_800,
            _ => return Err(bad()),
        };
        if seconds >= last_unit {
            return Err(bad());
        }
        last_unit = seconds;
        let number: u64 = number.parse().map_err(|_| bad())?;
        total = number
            .checked_mul(seconds)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("duration {text:?} is too long"))?;
        rest = tail;
    }
    if total == 0 {
        return Err(format!("duration {text:?} must be greater than zero"));
    }
    if total > MAX_DURATION_SECS {
        return Err(format!(
            "duration {text:?} is too long: at most 366 days (\"366d\")"
        ));
    }
    Ok(Duration::from_secs(total))
}

/// A duration written back the way rule files and Prometheus write it: `"1d"`, `"5m"`, `"1h30m"`.
///
/// ```
/// use heartbeat_watch::DisplayDuration;
/// use std::time::Duration;
///
/// assert_eq!(DisplayDuration(Duration::from_secs(5400)).to_string(), "1h30m");
/// assert_eq!(DisplayDuration(Duration::from_secs(86_400)).to_string(), "1d");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplayDuration(pub Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut seconds = self.0.as_secs();
        if seconds == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if seconds >= size {
                write!(f, "{}{unit}", seconds / size)?;
                seconds %= size;
            }
        }
        Ok(())
    }
}
