//! The watch killed mid-write loses nothing it had committed: `heartbeat-watch serve` under heavy
//! ingest (two senders, hundreds of series, every point judged each 1 s tick: outcome windows,
//! the SLA ledger, alerts) is killed with SIGKILL at staggered moments, five times, and restarted
//! on the same database. After each kill SQLite's `integrity_check` is `ok` and every alert,
//! closed window and ledger minute read from the database before the kill is still there (a
//! minute once down stays down); at the end `report` reads it all back.
//! `process.rs` has the single-kill case with the open alerts restored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::{BIN, Payload, serve};

const TENANTS: usize = 60;

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// One body: every tenant's cumulative successes and failures of `message.send` at `count`.
fn body(instance: &str, start_ms: i64, count: i64) -> Vec<u8> {
    let now = now_ms();
    let mut payload = Payload::new("messenger-api", instance, Some("1.0.0"));
    for t in 0..TENANTS {
        let tenant = format!("tenant-{t}");
        for (result, value) in [("success", count), ("failure", count)] {
            payload = payload.sum(
                "heartbeat.outcomes",
                &[
                    ("heartbeat.outcome", "message.send"),
                    ("heartbeat.result", result),
                    ("heartbeat.tenant", &tenant),
                ],
                start_ms,
                now,
                value,
            );
        }
    }
    payload
        .sum(
            "heartbeat.beats",
            &[("heartbeat.emitter", "api")],
            start_ms,
            now,
            count,
        )
        .protobuf()
}

/// Posts as fast as it can until told to stop; counts the 200s. Errors are expected once the
/// watch is killed.
fn sender(addr: String, instance: String, stop: Arc<AtomicBool>, ok: Arc<AtomicU64>) {
    let start = now_ms();
    let mut count = 0;
    while !stop.load(Ordering::Relaxed) {
        count += 1;
        let body = body(&instance, start, count);
        let Ok(mut s) = std::net::TcpStream::connect(&addr) else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let head = format!(
            "POST /v1/metrics HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        if s.write_all(head.as_bytes()).is_err() || s.write_all(&body).is_err() {
            return;
        }
        let mut answer = [0u8; 12];
        if s.read_exact(&mut answer).is_err() {
            return;
        }
        if &answer == b"HTTP/1.1 200" {
            ok.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What the database holds, as a reader sees it.
#[derive(Debug, Default)]
struct Committed {
    alerts: BTreeSet<String>,
    windows: BTreeSet<(String, i64)>,
    ledger: BTreeMap<(String, i64), i64>,
}

fn open(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

fn committed(conn: &rusqlite::Connection) -> Committed {
    let mut out = Committed::default();
    let mut stmt = conn.prepare("SELECT id FROM alerts").unwrap();
    out.alerts = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut stmt = conn.prepare("SELECT rule, start_ms FROM windows").unwrap();
    out.windows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut stmt = conn.prepare("SELECT sla, slot_ms, up FROM ledger").unwrap();
    out.ledger = stmt
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    out
}

fn integrity(db: &Path) -> String {
    open(db)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn temp_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("hbw-restart-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_watch_killed_during_heavy_ingest_and_judging_loses_nothing_committed() {
    let dir = temp_dir();
    let db = dir.join("state.db");
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        format!(
            r#"
[watch]
listen = "127.0.0.1:0"
grpc_listen = "127.0.0.1:0"
tick = "1s"
database = "{}"
rate_limit_per_source = 0

[[deadman]]
name = "nobody-beats"
service = "ghost"
window = "1s"
min_beats = 1

[[outcome]]
name = "sends"
outcome = "message.send"
service = "messenger-api"
window = "1s"
min_success_ratio = 0.9

[[outcome]]
name = "ghost-sends"
outcome = "message.send"
service = "ghost"
window = "1s"
min_rate_per_minute = 1.0

[[sla]]
name = "core"
signals = ["sends"]
objective = 0.999

[[sla]]
name = "ghost"
signals = ["ghost-sends"]
objective = 0.99
"#,
            db.display()
        ),
    )
    .unwrap();

    let mut before = Committed::default();
    let mut total_ok = 0;
    for round in 0..5u64 {
        let (mut watch, addr) = serve(&rules);
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let senders: Vec<_> = (0..2)
            .map(|i| {
                let (addr, stop, ok) = (addr.clone(), Arc::clone(&stop), Arc::clone(&ok));
                std::thread::spawn(move || sender(addr, format!("r{round}-s{i}"), stop, ok))
            })
            .collect();
        let reader = open(&db);
        // Past its first judged windows of this round: alerts (restored ones stay open under
        // their id), new closed windows and ledger rows written.
        wait_for("alerts, windows and ledger rows", || {
            let now = committed(&reader);
            !now.alerts.is_empty()
                && now.windows.len() > before.windows.len() + 2
                && !now.ledger.is_empty()
        });
        // Then a staggered moment under load, and the kill.
        std::thread::sleep(Duration::from_millis(137 + 311 * round));
        let seen = committed(&reader);
        assert!(
            watch.0.try_wait().unwrap().is_none(),
            "round {round}: the watch died on its own"
        );
        watch.0.kill().unwrap();
        watch.0.wait().unwrap();
        drop(watch);
        stop.store(true, Ordering::Relaxed);
        for s in senders {
            s.join().unwrap();
        }
        drop(reader);
        total_ok += ok.load(Ordering::Relaxed);

        assert_eq!(integrity(&db), "ok", "round {round}");
        let after = committed(&open(&db));
        for id in &seen.alerts {
            assert!(after.alerts.contains(id), "round {round}: alert {id} lost");
        }
        for w in &seen.windows {
            assert!(
                after.windows.contains(w),
                "round {round}: window {w:?} lost"
            );
        }
        for (slot, up) in &seen.ledger {
            let now = after.ledger.get(slot);
            assert!(now.is_some(), "round {round}: ledger slot {slot:?} lost");
            assert!(
                now <= Some(up),
                "round {round}: ledger slot {slot:?} came back up"
            );
        }
        println!(
            "round {round}: {} exports accepted; {} alerts, {} windows, {} ledger slots committed",
            ok.load(Ordering::Relaxed),
            after.alerts.len(),
            after.windows.len(),
            after.ledger.len()
        );
        before = after;
    }
    assert!(
        total_ok > 50,
        "only {total_ok} exports accepted: not a heavy ingest"
    );

    let (month_y, month_m) = {
        let days = now_ms() / 86_400_000;
        let z = days + 719_468;
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (yoe + z.div_euclid(146_097) * 400 + i64::from(m <= 2), m)
    };
    let out = Command::new(BIN)
        .args(["report", "--format", "json", "--month"])
        .arg(format!("{month_y:04}-{month_m:02}"))
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: BTreeSet<String> = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str().map(str::to_owned))
        .collect();
    for id in &before.alerts {
        assert!(ids.contains(id), "alert {id} not in the report");
    }
    let slas = report["slas"].as_array().unwrap();
    assert_eq!(slas.len(), 2, "{report}");
    for sla in slas {
        assert!(sla["observed"].as_u64().unwrap() >= 1, "{sla}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
