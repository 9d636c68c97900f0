//! The tuning tables in docs/alerting.md are generated from `heartbeat::tuning::detection` and
//! `heartbeat::tuning::recommend_max_silence`: these tests recompute every row from its inputs, so
//! the doc cannot drift from the functions. On a mismatch they print the table as it should be,
//! ready to paste.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use heartbeat::tuning::{detection, recommend_max_silence, silence};
use std::time::Duration;

const START: &str = "<!-- tuning-table:start -->";
const END: &str = "<!-- tuning-table:end -->";
const HEADER: &str = "| cadence | window | threshold | loss rate | beats per window | worst-case detection | false pages per year |\n|---|---|---|---|---|---|---|";

const SILENCE_START: &str = "<!-- silence-table:start -->";
const SILENCE_END: &str = "<!-- silence-table:end -->";
const SILENCE_HEADER: &str = "| cadence | jitter | loss rate | max_silence | beats lost in a row | false pages per year |\n|---|---|---|---|---|---|";
/// The false-page target of the silence table, stated in the text above it.
const TARGET_PER_YEAR: f64 = 1.0;

fn parse_duration(s: &str) -> Duration {
    let mut total = Duration::ZERO;
    let words: Vec<&str> = s.split_whitespace().collect();
    for pair in words.chunks(2) {
        let n: u64 = pair[0]
            .parse()
            .unwrap_or_else(|_| panic!("bad duration {s:?}"));
        total += match pair.get(1).copied() {
            Some("ms") => Duration::from_millis(n),
            Some("s") => Duration::from_secs(n),
            Some("min") => Duration::from_secs(n * 60),
            Some("h") => Duration::from_secs(n * 3600),
            other => panic!("bad unit {other:?} in {s:?}"),
        };
    }
    total
}

fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 && d.subsec_millis() > 0 {
        return format!("{} ms", d.subsec_millis());
    }
    match (s / 3600, s % 3600 / 60, s % 60) {
        (h, 0, 0) if h > 0 => format!("{h} h"),
        (0, m, 0) if m > 0 => format!("{m} min"),
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, m, s) => format!("{h} h {m} min {s} s"),
    }
}

fn format_rate(x: f64) -> String {
    if x == 0.0 {
        "0".to_owned()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 1.0 {
        format!("{x:.1}")
    } else if x >= 0.01 {
        format!("{x:.2}")
    } else {
        format!("{x:.1e}")
    }
}

fn parse_percent(loss: &str) -> f64 {
    let percent: f64 = loss
        .trim_end_matches('%')
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("bad loss rate {loss:?}"));
    percent / 100.0
}

fn row(cadence: &str, window: &str, threshold: &str, loss: &str) -> String {
    let d = detection(
        parse_duration(cadence),
        parse_duration(window),
        threshold.parse().unwrap(),
        parse_percent(loss),
    )
    .unwrap();
    format!(
        "| {cadence} | {window} | {threshold} | {loss} | {} | {} | {} |",
        d.beats_per_window,
        format_duration(d.worst_case_detect),
        format_rate(d.expected_false_pages_per_year)
    )
}

#[test]
fn the_tuning_table_in_the_alerting_guide_matches_the_calculator() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/alerting.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc.find(START).expect("the table's start marker") + START.len();
    let end = doc.find(END).expect("the table's end marker");
    let table = doc[start..end].trim();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.by_ref().take(2).collect();
    assert_eq!(header.join("\n"), HEADER);
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() >= 8, "the table has its rows");
    let expected: Vec<String> = rows
        .iter()
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            row(cells[0], cells[1], cells[2], cells[3])
        })
        .collect();
    let actual: Vec<String> = rows.iter().map(|s| s.to_string()).collect();
    if actual != expected {
        panic!(
            "docs/alerting.md is out of date; the table should read:\n\n{HEADER}\n{}\n",
            expected.join("\n")
        );
    }
}

#[test]
fn durations_read_and_print_the_same_way() {
    for s in ["10 s", "1 min", "4 min 10 s", "2 h", "100 ms"] {
        assert_eq!(format_duration(parse_duration(s)), s);
    }
}

fn silence_row(cadence: &str, jitter: &str, loss: &str) -> String {
    let loss_rate = parse_percent(loss);
    let (cadence_d, jitter_d) = (parse_duration(cadence), parse_duration(jitter));
    let max_silence =
        recommend_max_silence(cadence_d, loss_rate, TARGET_PER_YEAR, jitter_d).unwrap();
    let s = silence(cadence_d, max_silence, loss_rate, jitter_d).unwrap();
    format!(
        "| {cadence} | {jitter} | {loss} | {} | {} | {} |",
        format_duration(max_silence),
        s.lost_in_a_row,
        format_rate(s.expected_false_pages_per_year)
    )
}

#[test]
fn the_silence_table_in_the_alerting_guide_matches_the_calculator() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/alerting.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc.find(SILENCE_START).expect("the table's start marker") + SILENCE_START.len();
    let end = doc.find(SILENCE_END).expect("the table's end marker");
    let table = doc[start..end].trim();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.by_ref().take(2).collect();
    assert_eq!(header.join("\n"), SILENCE_HEADER);
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() >= 15, "the table has its rows");
    let expected: Vec<String> = rows
        .iter()
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            silence_row(cells[0], cells[1], cells[2])
        })
        .collect();
    let actual: Vec<String> = rows.iter().map(|s| s.to_string()).collect();
    if actual != expected {
        panic!(
            "docs/alerting.md is out of date; the silence table should read:\n\n{SILENCE_HEADER}\n{}\n",
            expected.join("\n")
        );
    }
}
