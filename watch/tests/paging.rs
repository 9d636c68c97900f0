//! Paging you can trust, with real processes: a pager down for two minutes loses nothing and
//! keeps each alert's order; a watch SIGKILLed between firing and delivery delivers after its
//! restart, once; a real Alertmanager with a 30 s `resolve_timeout` keeps an alert the watch
//! holds open for three minutes, and resolves it when the watch does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{BIN, Guard, Received, Recorder, free_port, get, rule_file, serve};

/// A dead-man rule on emitter `api` of `svc`, paging within 3 s of a silence.
fn rules(name: &str, sink: &str, db: &std::path::Path) -> std::path::PathBuf {
    rule_file(
        name,
        &format!(
            "[watch]\nlisten = \"127.0.0.1:0\"\ngrpc_listen = \"127.0.0.1:0\"\ntick = \"1s\"\ndatabase = \"{}\"\n\
             [[deadman]]\nname = \"api\"\nservice = \"svc\"\nemitter = \"api\"\nwindow = \"3s\"\nmin_beats = 2\ncadence = \"1s\"\nmax_silence = \"3s\"\n\
             {sink}\n",
            db.display()
        ),
    )
}

fn emitter(addr: &str) -> Guard {
    Guard(
        Command::new(BIN)
            .args([
                "emit",
                "--endpoint",
                &format!("http://{addr}"),
                "--service",
                "svc",
                "--emitter",
                "api",
                "--cadence",
                "1s",
                "--export-interval",
                "1s",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn alerts(addr: &str) -> serde_json::Value {
    serde_json::from_str(&get(addr, "/api/alerts")).unwrap_or_default()
}

/// Waits until `f` holds, at most `limit`.
fn until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn events(hook: &Recorder) -> Vec<(String, String)> {
    hook.received()
        .iter()
        .map(Received::json)
        .map(|a| {
            (
                a["id"].as_str().unwrap_or_default().to_owned(),
                a["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_pager_down_for_two_minutes_loses_nothing_and_keeps_the_order() {
    let port = free_port();
    let db = support::temp_path("pager-down");
    let path = rules(
        "pager-down",
        &format!("[[alert]]\nname = \"pager\"\nwebhook = \"http://127.0.0.1:{port}/hook\""),
        &db,
    );
    let (_watch, addr) = serve(&path);
    let down_since = Instant::now();
    let mut e = emitter(&addr);
    std::thread::sleep(Duration::from_secs(5));
    // The pager is down; the emitter dies, comes back, dies again: three events, two alerts.
    e.0.kill().unwrap();
    e.0.wait().unwrap();
    until(Duration::from_secs(20), "the first alert", || {
        alerts(&addr)["open"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    let _back = {
        let e = emitter(&addr);
        until(Duration::from_secs(20), "the resolve", || {
            alerts(&addr)["open"].as_array().is_some_and(Vec::is_empty)
        });
        e
    };
    drop(_back);
    until(Duration::from_secs(20), "the second alert", || {
        alerts(&addr)["open"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    });
    // What the watch says meanwhile: every event pending at the sink, with its error.
    std::thread::sleep(Duration::from_secs(20));
    let state = alerts(&addr);
    let delivery = &state["open"][0]["delivery"][0];
    assert_eq!(delivery["state"], "pending", "{state}");
    assert!(delivery["attempts"].as_u64().unwrap() >= 2, "{state}");
    assert!(
        delivery["last_error"]
            .as_str()
            .unwrap()
            .contains("onnection refused"),
        "{state}"
    );
    // Two minutes after the outage began, the pager returns.
    std::thread::sleep(Duration::from_secs(120).saturating_sub(down_since.elapsed()));
    let hook = Recorder::start_on(port);
    let back = Instant::now();
    until(Duration::from_secs(120), "all four events", || {
        events(&hook).len() >= 3
    });
    println!(
        "pager back -> all events delivered: {:.1} s (backoff at most 5 min, doubling from 1 s)",
        back.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(3));
    let got = events(&hook);
    // Each event once; per alert, firing before resolved.
    let mut seen = std::collections::BTreeSet::new();
    for e in &got {
        assert!(seen.insert(e.clone()), "delivered twice: {e:?} in {got:?}");
    }
    assert_eq!(got.len(), 3, "firing, resolved, firing: {got:?}");
    let ids: std::collections::BTreeSet<&String> = got.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 2, "{got:?}");
    for id in ids {
        let order: Vec<&str> = got
            .iter()
            .filter(|(i, _)| i == id)
            .map(|(_, s)| s.as_str())
            .collect();
        assert!(
            order == ["firing", "resolved"] || order == ["firing"],
            "{id}: {order:?} in {got:?}"
        );
    }
}

#[test]
fn a_watch_killed_between_firing_and_delivery_delivers_after_its_restart_once() {
    let port = free_port();
    let db = support::temp_path("kill-outbox");
    let path = rules(
        "kill-outbox",
        &format!("[[alert]]\nname = \"pager\"\nwebhook = \"http://127.0.0.1:{port}/hook\""),
        &db,
    );
    let (mut watch, addr) = serve(&path);
    let mut e = emitter(&addr);
    std::thread::sleep(Duration::from_secs(5));
    e.0.kill().unwrap();
    e.0.wait().unwrap();
    until(Duration::from_secs(20), "the alert", || {
        alerts(&addr)["open"][0]["delivery"][0]["state"] == "pending"
    });
    let id = alerts(&addr)["open"][0]["id"].as_str().unwrap().to_owned();
    // SIGKILL before the pager ever answered.
    watch.0.kill().unwrap();
    watch.0.wait().unwrap();
    let hook = Recorder::start_on(port);
    let (_watch, _addr) = serve(&path);
    until(
        Duration::from_secs(30),
        "the delivery after the restart",
        || events(&hook).iter().any(|(i, _)| *i == id),
    );
    std::thread::sleep(Duration::from_secs(5));
    let firing: Vec<_> = events(&hook)
        .into_iter()
        .filter(|(i, s)| *i == id && s == "firing")
        .collect();
    assert_eq!(firing.len(), 1, "delivered once: {firing:?}");
}

#[test]
fn alertmanager_keeps_an_alert_the_watch_holds_past_its_resolve_timeout() {
    let Some((_am, am)) = support::alertmanager(
        "global:\n  resolve_timeout: 30s\nroute:\n  receiver: none\nreceivers:\n  - name: none\n",
    ) else {
        return;
    };
    let db = support::temp_path("am-hold");
    let path = rules(
        "am-hold",
        &format!(
            "[[alert]]\nname = \"am\"\nwebhook = \"http://{am}/api/v2/alerts\"\nformat = \"alertmanager\"\nresend_interval = \"10s\""
        ),
        &db,
    );
    let (_watch, addr) = serve(&path);
    let mut e = emitter(&addr);
    std::thread::sleep(Duration::from_secs(5));
    e.0.kill().unwrap();
    e.0.wait().unwrap();
    let active = |am: &str| -> Vec<serde_json::Value> {
        serde_json::from_str::<serde_json::Value>(&get(
            am,
            "/api/v2/alerts?active=true&silenced=false&inhibited=false",
        ))
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["labels"]["heartbeat_rule"] == "api" && a["status"]["state"] == "active")
        .collect()
    };
    until(Duration::from_secs(20), "the alert in Alertmanager", || {
        !active(&am).is_empty()
    });
    // Three minutes: six times the resolve_timeout. Without the resend Alertmanager would
    // resolve it on its own after 30 s.
    let held = Instant::now();
    while held.elapsed() < Duration::from_secs(180) {
        std::thread::sleep(Duration::from_secs(10));
        let a = active(&am);
        assert_eq!(a.len(), 1, "still active after {:?}: {a:?}", held.elapsed());
    }
    // The watch resolves it: so does Alertmanager.
    let _back = emitter(&addr);
    let resolving = Instant::now();
    until(
        Duration::from_secs(30),
        "the resolve in Alertmanager",
        || active(&am).is_empty(),
    );
    println!(
        "alert held {:.0} s in Alertmanager (resolve_timeout 30 s); resolved there {:.1} s after the beats returned",
        held.elapsed().as_secs_f64(),
        resolving.elapsed().as_secs_f64()
    );
}
