//! Two watches, one page: a high-availability pair fed the same data (one emitter exporting to
//! both), both posting to a real Alertmanager (Debian's `prometheus-alertmanager`, installed by
//! the test command). Their alerts carry identical labels, so Alertmanager deduplicates them
//! into one notification; with one watch killed, paging goes on through the other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{BIN, Guard, Recorder, rule_file, serve};

/// Alertmanager with a short group_wait, notifying `hook`.
fn alertmanager(hook: &Recorder) -> Option<(Guard, String)> {
    support::alertmanager(&format!(
        "route:\n  receiver: pager\n  group_by: ['heartbeat_rule']\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\nreceivers:\n  - name: pager\n    webhook_configs:\n      - url: http://{}/am\n        send_resolved: false\n",
        hook.addr
    ))
}

fn watch_rules(name: &str, am: &str) -> std::path::PathBuf {
    let mut text = format!(
        "[watch]\nlisten = \"127.0.0.1:0\"\ngrpc_listen = \"127.0.0.1:0\"\ntick = \"1s\"\ndatabase = \"{}\"\n",
        support::temp_path(name).display()
    );
    for emitter in ["x", "y"] {
        text.push_str(&format!(
            "[[deadman]]\nname = \"api-{emitter}\"\nservice = \"messenger-api\"\nemitter = \"{emitter}\"\nwindow = \"3s\"\nmin_beats = 2\ncadence = \"1s\"\nmax_silence = \"3s\"\n"
        ));
    }
    text.push_str(&format!(
        "[[alert]]\nname = \"am\"\nwebhook = \"http://{am}/api/v2/alerts\"\nformat = \"alertmanager\"\n"
    ));
    rule_file(name, &text)
}

fn emitter(emitter: &str, endpoints: &[&str]) -> Guard {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "emit",
        "--service",
        "messenger-api",
        "--emitter",
        emitter,
        "--cadence",
        "1s",
        "--export-interval",
        "1s",
    ]);
    for e in endpoints {
        cmd.args(["--endpoint", e]);
    }
    Guard(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The alerts of every notification Alertmanager sent for `rule`.
fn notifications(hook: &Recorder, rule: &str) -> Vec<Vec<serde_json::Value>> {
    hook.received()
        .into_iter()
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .filter(|n| n["groupLabels"]["heartbeat_rule"] == rule)
        .map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn two_watches_fed_the_same_data_page_once_and_one_alone_still_pages() {
    let hook = Recorder::start();
    let Some((_am, am)) = alertmanager(&hook) else {
        return;
    };
    let (mut a, a_addr) = serve(&watch_rules("ha-a", &am));
    let (_b, b_addr) = serve(&watch_rules("ha-b", &am));
    let (a_url, b_url) = (format!("http://{a_addr}"), format!("http://{b_addr}"));
    let mut x = emitter("x", &[&a_url, &b_url]);
    let _y = emitter("y", &[&a_url, &b_url]);
    std::thread::sleep(Duration::from_secs(6));
    assert!(hook.received().is_empty(), "{:#?}", hook.received());

    // x dies: both watches fire the same alert; Alertmanager sends one notification.
    x.0.kill().unwrap();
    let killed = Instant::now();
    x.0.wait().unwrap();
    hook.wait_for(Duration::from_secs(20), |r| {
        r.body.contains("\"heartbeat_rule\":\"api-x\"")
    })
    .expect("api-x paged");
    println!(
        "emitter x SIGKILLed -> Alertmanager notification: {:.1} s",
        killed.elapsed().as_secs_f64()
    );
    // Both watches have posted by now (max_silence 3 s, tick 1 s); give a second
    // notification every chance to appear.
    std::thread::sleep(Duration::from_secs(6));
    let x_pages = notifications(&hook, "api-x");
    assert_eq!(x_pages.len(), 1, "{x_pages:#?}");
    assert_eq!(x_pages[0].len(), 1, "one alert, deduplicated: {x_pages:#?}");
    assert_eq!(x_pages[0][0]["labels"]["classification"], "process_down");
    for addr in [&a_addr, &b_addr] {
        let alerts: serde_json::Value =
            serde_json::from_str(&support::get(addr, "/api/alerts")).unwrap();
        assert!(
            alerts["open"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["rule"] == "api-x"),
            "both watches fired: {alerts}"
        );
    }

    // Watch A dies; y dies: B alone still pages.
    a.0.kill().unwrap();
    a.0.wait().unwrap();
    drop(_y);
    let killed = Instant::now();
    hook.wait_for(Duration::from_secs(20), |r| {
        r.body.contains("\"heartbeat_rule\":\"api-y\"")
    })
    .expect("api-y paged by the surviving watch");
    println!(
        "one watch down, emitter y SIGKILLed -> notification: {:.1} s",
        killed.elapsed().as_secs_f64()
    );
    assert_eq!(notifications(&hook, "api-y").len(), 1);
}
