//! Silence pages, tried as an on-call SRE meets it: real `heartbeat-watch serve` processes, real
//! emitters on the SDK (`heartbeat-watch emit`), killed with SIGKILL or stopped with SIGTERM,
//! and a webhook receiver that notes when each page arrives. Each test measures the time from
//! the event to the page and compares it with the bound the rule's settings promise
//! (docs/watch.md, "Time to page").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{BIN, Guard, Received, Recorder, get, rule_file, serve, terminate};

fn rules(name: &str, hook: &Recorder, body: &str) -> std::path::PathBuf {
    let db = support::temp_path(name);
    rule_file(
        name,
        &format!(
            "[watch]\nlisten = \"127.0.0.1:0\"\ngrpc_listen = \"127.0.0.1:0\"\ndatabase = \"{}\"\n{body}\n[[alert]]\nname = \"pager\"\nwebhook = \"http://{}/hook\"\n",
            db.display(),
            hook.addr
        ),
    )
}

fn firing(rule: &'static str) -> impl Fn(&Received) -> bool {
    move |r| {
        r.body.contains(&format!("\"rule\":\"{rule}\"")) && r.body.contains("\"status\":\"firing\"")
    }
}

/// `heartbeat-watch emit ...` with its standard output (one line per beat) readable.
fn emitter(args: &[&str]) -> (Guard, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(BIN)
        .arg("emit")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    (Guard(child), out)
}

/// Reads beat lines until `n` beats have left; the wall-clock time (ms) of the last one.
fn beats(out: &mut BufReader<std::process::ChildStdout>, n: u32) -> u128 {
    let mut at = 0;
    for _ in 0..n {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "the emitter ended");
        assert!(line.starts_with("beat "), "{line:?}");
        at = line.trim().rsplit(' ').next().unwrap().parse().unwrap();
    }
    at
}

fn state(addr: &str) -> serde_json::Value {
    serde_json::from_str(&get(addr, "/api/state")).unwrap_or(serde_json::Value::Null)
}

fn kill(guard: &mut Guard) -> Instant {
    guard.0.kill().unwrap();
    let at = Instant::now();
    guard.0.wait().unwrap();
    at
}

#[test]
fn a_sigkilled_emitter_beating_every_10s_is_paged_within_45s_as_process_down() {
    // The example rule file's dead-man rule (tick 10 s, a 1-minute window, 5 beats, two
    // windows to fire) plus the max_silence that `heartbeat-watch check` recommends for a
    // 10 s cadence at 1 % beat loss and at most one false page a year.
    let hook = Recorder::start();
    let path = rules(
        "kill10",
        &hook,
        "tick = \"10s\"\n[[deadman]]\nname = \"api-pipeline\"\nservice = \"messenger-api\"\nemitter = \"api\"\nwindow = \"1m\"\nmin_beats = 5\nfire_after = 2\ncadence = \"10s\"\nmax_silence = \"42s\"\n",
    );
    let (_watch, addr) = serve(&path);
    // The exporter runs twice as often as the beat, like the OpenTelemetry SDKs' periodic
    // reader: a killed process leaves a frozen-count point behind.
    let endpoint = format!("http://{addr}");
    let (mut emitter, mut out) = emitter(&[
        "--endpoint",
        &endpoint,
        "--service",
        "messenger-api",
        "--emitter",
        "api",
        "--cadence",
        "10s",
        "--export-interval",
        "5s",
        "--outcome",
        "message.send",
    ]);
    let sent = beats(&mut out, 2);
    // Right after a beat: the worst case, the silence runs its full length.
    let killed = kill(&mut emitter);
    let page = hook
        .wait_for(Duration::from_secs(60), firing("api-pipeline"))
        .expect("paged");
    let took = page.at - killed;
    // Silence is counted from the last beat the watch received (on a loaded machine the beat
    // sent just before the kill may never leave the process).
    let s = state(&addr);
    let d = &s["deadman"][0];
    let received = s["now_ms"].as_i64().unwrap() - d["last_beat_age_ms"].as_i64().unwrap();
    let silence = i64::try_from(page.wall_ms).unwrap() - received;
    println!(
        "SIGKILL -> page: {:.1} s; last beat received -> page: {:.1} s (the emitter stamped that beat {} ms from its receipt; max_silence 42 s, target 45 s)",
        took.as_secs_f64(),
        silence as f64 / 1000.0,
        i64::try_from(sent).unwrap() - received
    );
    assert!(took <= Duration::from_secs(45), "took {took:?}");
    // Never before the silence ran out, and within the target after the last beat received.
    assert!(
        (42_000..=45_000).contains(&silence),
        "the page came {silence} ms after the last beat received"
    );
    let alert: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(alert["classification"], "process_down", "{alert}");
    // The live view never says "beating" for it.
    let s = state(&addr);
    assert_eq!(s["deadman"][0]["classification"], "process_down", "{s}");
}

#[test]
fn a_graceful_stop_that_nothing_follows_pages_after_its_grace() {
    let hook = Recorder::start();
    let path = rules(
        "stop",
        &hook,
        "tick = \"1s\"\n[[deadman]]\nname = \"inbox\"\nservice = \"inbox-api\"\nemitter = \"inbox\"\nwindow = \"3s\"\nmin_beats = 2\nstop_grace = \"5s\"\n",
    );
    let (_watch, addr) = serve(&path);
    let endpoint = format!("http://{addr}");
    let args = [
        "--endpoint",
        endpoint.as_str(),
        "--service",
        "inbox-api",
        "--version",
        "2.3.0",
        "--emitter",
        "inbox",
        "--cadence",
        "1s",
        "--export-interval",
        "1s",
    ];
    let (mut first, mut out) = emitter(&args);
    beats(&mut out, 4);
    terminate(&mut first);
    let stopped = Instant::now();
    let page = hook
        .wait_for(Duration::from_secs(30), firing("inbox"))
        .expect("paged once the grace ran out");
    let took = page.at - stopped;
    println!(
        "graceful stop, no successor -> page: {:.1} s (stop_grace 5 s + tick 1 s)",
        took.as_secs_f64()
    );
    assert!(
        took >= Duration::from_secs(5),
        "paged within the grace: {took:?}"
    );
    assert!(took <= Duration::from_secs(7), "took {took:?}");
    let alert: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(alert["classification"], "stopped_not_restarted", "{alert}");
    assert!(
        alert["summary"]
            .as_str()
            .unwrap()
            .contains("(version 2.3.0 stopped)"),
        "{alert}"
    );
    // A successor finally starts: resolved.
    let (_second, mut out) = emitter(&args);
    beats(&mut out, 2);
    hook.wait_for(Duration::from_secs(15), |r| {
        r.body.contains("\"rule\":\"inbox\"") && r.body.contains("\"status\":\"resolved\"")
    })
    .expect("resolved by the successor's beats");
}

#[test]
fn a_graceful_stop_followed_by_a_new_instance_pages_no_one() {
    let hook = Recorder::start();
    let path = rules(
        "deploy",
        &hook,
        "tick = \"1s\"\n[[deadman]]\nname = \"api\"\nservice = \"messenger-api\"\nemitter = \"api\"\nwindow = \"3s\"\nmin_beats = 2\nstop_grace = \"5s\"\nmax_silence = \"2s\"\n",
    );
    let (_watch, addr) = serve(&path);
    let endpoint = format!("http://{addr}");
    let args = |version: &'static str| {
        vec![
            "--endpoint".to_owned(),
            endpoint.clone(),
            "--service".to_owned(),
            "messenger-api".to_owned(),
            "--version".to_owned(),
            version.to_owned(),
            "--emitter".to_owned(),
            "api".to_owned(),
            "--cadence".to_owned(),
            "1s".to_owned(),
            "--export-interval".to_owned(),
            "1s".to_owned(),
        ]
    };
    let old = args("1.4.2");
    let (mut first, mut out) = emitter(&old.iter().map(String::as_str).collect::<Vec<_>>());
    beats(&mut out, 4);
    // A deploy: the old version stops on purpose, the new one starts 1.5 s later.
    terminate(&mut first);
    std::thread::sleep(Duration::from_millis(1500));
    let new = args("1.5.0");
    let (_second, mut out) = emitter(&new.iter().map(String::as_str).collect::<Vec<_>>());
    beats(&mut out, 2);
    std::thread::sleep(Duration::from_secs(12));
    let pages: Vec<Received> = hook.received();
    assert!(pages.is_empty(), "{pages:?}");
    assert_eq!(state(&addr)["deadman"][0]["state"], "ok");
}

#[test]
fn an_outcome_that_stops_arriving_pages_no_data_and_is_sla_downtime() {
    let hook = Recorder::start();
    let path = rules(
        "nodata",
        &hook,
        "tick = \"1s\"\n[[deadman]]\nname = \"inbox\"\nservice = \"inbox-api\"\nemitter = \"inbox\"\nwindow = \"3s\"\nmin_beats = 2\n[[outcome]]\nname = \"reply-deliver\"\noutcome = \"reply.deliver\"\nservice = \"inbox-api\"\nwindow = \"2s\"\nmin_success_ratio = 0.99\n[[sla]]\nname = \"core\"\nsignals = [\"reply-deliver\"]\nobjective = 0.999\n",
    );
    let (_watch, addr) = serve(&path);
    let endpoint = format!("http://{addr}");
    // The process runs and beats; its reply deliveries stop after 5 s (a stuck consumer).
    let (_emitter, mut out) = emitter(&[
        "--endpoint",
        &endpoint,
        "--service",
        "inbox-api",
        "--emitter",
        "inbox",
        "--cadence",
        "1s",
        "--export-interval",
        "1s",
        "--outcome",
        "reply.deliver",
        "--rate",
        "50",
        "--outcomes-for",
        "5s",
    ]);
    beats(&mut out, 1);
    let started = Instant::now();
    let page = hook
        .wait_for(Duration::from_secs(30), firing("reply-deliver"))
        .expect("no data paged");
    // The path goes silent at 5 s; the first whole window without an event ends at most two
    // windows later, then a tick.
    let took = (page.at - started).saturating_sub(Duration::from_secs(5));
    println!(
        "outcome silent -> page: {:.1} s (bound: 2 windows of 2 s + tick 1 s)",
        took.as_secs_f64()
    );
    assert!(took <= Duration::from_secs(6), "took {took:?}");
    let alert: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(alert["classification"], "no_data", "{alert}");
    assert!(
        alert["details"][0]
            .as_str()
            .unwrap()
            .contains("with frozen counts: the process runs"),
        "{alert}"
    );
    assert!(
        hook.received().iter().all(|r| !firing("inbox")(r)),
        "the beats went on"
    );
    // The SLA counts it: the current month's report, over HTTP, has down slots.
    std::thread::sleep(Duration::from_secs(2));
    let report: serde_json::Value = serde_json::from_str(&get(&addr, "/api/sla/report")).unwrap();
    assert!(report["slas"][0]["down"].as_u64().unwrap() >= 1, "{report}");
}
