//! The `heartbeat-watch` binary as a process: `serve` killed with SIGKILL keeps what it had
//! committed, `report` reads it back, bad arguments and rule files are errors that name the
//! problem.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{BIN, serve};

fn temp(name: &str, ext: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "hbw-proc-{name}-{}-{nanos}.{ext}",
        std::process::id()
    ))
}

fn get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// Polls `f` until it returns `Some`, for at most 60 s.
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn open_alert_ids(addr: &str) -> Option<Vec<String>> {
    let body = get(addr, "/api/alerts");
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let ids: Vec<String> = v["open"]
        .as_array()?
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect();
    (!ids.is_empty()).then_some(ids)
}

fn this_month() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 86_400;
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}")
}

#[test]
fn a_killed_watch_keeps_what_it_committed_and_reports_it() {
    let db = temp("kill", "db");
    let rules = temp("kill", "toml");
    std::fs::write(
        &rules,
        format!(
            r#"
[watch]
listen = "127.0.0.1:0"
grpc_listen = "127.0.0.1:0"
tick = "1s"
database = "{}"

[[deadman]]
name = "nobody-beats"
service = "ghost"
window = "1s"
min_beats = 1

[[outcome]]
name = "ghost-sends"
outcome = "message.send"
service = "ghost"
window = "1s"
min_rate_per_minute = 1.0

[[sla]]
name = "ghost-sla"
signals = ["ghost-sends"]
objective = 0.99
"#,
            db.display()
        ),
    )
    .unwrap();
    let (mut first, addr) = serve(&rules);
    let ids = wait_for(|| open_alert_ids(&addr));
    // SIGKILL, whatever it was writing.
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    drop(first);

    let (second, addr) = serve(&rules);
    let restored = wait_for(|| open_alert_ids(&addr));
    for id in &ids {
        assert!(restored.contains(id), "{id} lost: {restored:?}");
    }
    drop(second);

    let out = Command::new(BIN)
        .args([
            "report",
            "--format",
            "json",
            "--month",
            &this_month(),
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let alert_ids: Vec<&str> = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    for id in &ids {
        assert!(alert_ids.contains(&id.as_str()), "{id} not in the report");
    }
    let sla = &report["slas"][0];
    assert_eq!(sla["name"], "ghost-sla");
    assert!(sla["down"].as_u64().unwrap() >= 1, "{sla}");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let _ = std::fs::remove_file(&rules);
}

#[test]
fn a_bad_month_is_an_error_naming_it() {
    let out = Command::new(BIN)
        .args(["report", "--month", "2026-13", "--db", "/nonexistent.db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid month \"2026-13\": expected YYYY-MM, for example 2026-11"),
        "{stderr}"
    );
}

#[test]
fn a_malformed_rule_file_is_an_error_naming_the_key_and_line() {
    let rules = temp("bad", "toml");
    std::fs::write(
        &rules,
        "[[deadman]]\nname = \"x\"\nservice = \"s\"\nwindw = \"1m\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--rules"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("windw"), "{stderr}");
    assert!(stderr.contains(":4"), "names the line: {stderr}");
    let _ = std::fs::remove_file(&rules);
}
