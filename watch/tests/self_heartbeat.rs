//! Nothing goes unwatched: the three-layer set-up with real processes. Watch A judges the
//! product and beats for itself (`[self_heartbeat]`) to an external ping channel (a recorder
//! here, Healthchecks.io in production) and over OTLP to watch B, which pages when A's beats
//! stop. A's judge is stalled and its database made read-only through the test hook
//! (`HEARTBEAT_WATCH_TEST_HOOKS=1`): the self-beat turns to `/fail` with the stage's name, and
//! comes back when the stage does; A killed with SIGKILL: the pings stop and B pages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::{Received, Recorder, rule_file, serve_with_env};

fn post(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn is_ping(r: &Received) -> bool {
    r.path == "/ping/watch-a"
}

fn is_fail(r: &Received) -> bool {
    r.path == "/ping/watch-a/fail"
}

/// Waits for a request after `since` that `want` accepts.
fn next(
    channel: &Recorder,
    since: Instant,
    limit: Duration,
    want: fn(&Received) -> bool,
) -> Received {
    channel
        .wait_for(limit, |r| r.at > since && want(r))
        .unwrap_or_else(|| panic!("nothing within {limit:?}: {:#?}", channel.received()))
}

#[test]
fn the_watch_beats_for_itself_and_a_stuck_stage_or_a_kill_is_seen_outside() {
    let channel = Recorder::start();
    let b_hook = Recorder::start();
    // Watch B: the second layer, judging A's beat.
    let b_rules = rule_file(
        "layer-b",
        &format!(
            "[watch]\nlisten = \"127.0.0.1:0\"\ngrpc_listen = \"127.0.0.1:0\"\ntick = \"1s\"\ndatabase = \"{}\"\n\
             [[deadman]]\nname = \"watch-a\"\nservice = \"heartbeat-watch\"\nemitter = \"watch\"\nwindow = \"3s\"\nmin_beats = 2\nmax_silence = \"3s\"\n\
             [[alert]]\nname = \"pager\"\nwebhook = \"http://{}/hook\"\n",
            support::temp_path("layer-b").display(),
            b_hook.addr
        ),
    );
    let (_b, b_addr) = serve_with_env(&b_rules, &[]);
    // Watch A: tick 1 s, beating every second to the channel and to B.
    let a_rules = rule_file(
        "layer-a",
        &format!(
            "[watch]\nlisten = \"127.0.0.1:0\"\ngrpc_listen = \"127.0.0.1:0\"\ntick = \"1s\"\ndatabase = \"{}\"\n\
             [self_heartbeat]\ncadence = \"1s\"\nping_url = \"http://{}/ping/watch-a\"\notlp_endpoint = \"http://{b_addr}\"\n",
            support::temp_path("layer-a").display(),
            channel.addr
        ),
    );
    let (mut a, a_addr) = serve_with_env(&a_rules, &[("HEARTBEAT_WATCH_TEST_HOOKS", "1")]);
    let start = Instant::now();
    next(&channel, start, Duration::from_secs(15), is_ping);
    // B sees A's beats: its rule is judged ok, nothing pages.
    std::thread::sleep(Duration::from_secs(5));
    assert!(b_hook.received().is_empty(), "{:#?}", b_hook.received());

    // The judge stalls (the process, its receiver and its emitter go on).
    let stalled = Instant::now();
    let answer = post(&a_addr, "/api/test/faults?stall_judge=1");
    assert!(answer.contains("\"stall_judge\": true"), "{answer}");
    let fail = next(&channel, stalled, Duration::from_secs(10), is_fail);
    let took = fail.at - stalled;
    println!(
        "judge stalled -> /fail: {:.1} s (bound: 2 ticks + 2 s + a cadence = 5 s)",
        took.as_secs_f64()
    );
    assert!(took <= Duration::from_secs(6), "took {took:?}");
    assert!(
        fail.body.contains("judge: no tick completed"),
        "{}",
        fail.body
    );
    // B pages: A's emitter reports failing with the reason, its beats held.
    let page = b_hook
        .wait_for(Duration::from_secs(10), |r| {
            r.body.contains("\"status\":\"firing\"")
        })
        .expect("B paged");
    let alert: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(alert["classification"], "failing", "{alert}");
    // The judge comes back: beats again, B resolves.
    let resumed = Instant::now();
    post(&a_addr, "/api/test/faults?stall_judge=0");
    next(&channel, resumed, Duration::from_secs(10), is_ping);
    b_hook
        .wait_for(Duration::from_secs(15), |r| {
            r.body.contains("\"status\":\"resolved\"")
        })
        .expect("B resolved");

    // The database stops taking writes.
    let read_only = Instant::now();
    post(&a_addr, "/api/test/faults?db_read_only=1");
    let fail = next(&channel, read_only, Duration::from_secs(10), is_fail);
    let took = fail.at - read_only;
    println!(
        "database read-only -> /fail: {:.1} s (bound: a tick + a cadence = 2 s)",
        took.as_secs_f64()
    );
    assert!(took <= Duration::from_secs(4), "took {took:?}");
    assert!(
        fail.body
            .contains("database: the last tick was not committed"),
        "{}",
        fail.body
    );
    let resumed = Instant::now();
    post(&a_addr, "/api/test/faults?db_read_only=0");
    next(&channel, resumed, Duration::from_secs(10), is_ping);

    // A dies: the channel hears nothing more, and B pages within its max_silence.
    std::thread::sleep(Duration::from_secs(4));
    let before = b_hook.received().len();
    a.0.kill().unwrap();
    let killed = Instant::now();
    a.0.wait().unwrap();
    let page = b_hook
        .wait_for(Duration::from_secs(15), |r| {
            r.at > killed && r.body.contains("\"status\":\"firing\"")
        })
        .expect("B paged the dead watch");
    let took = page.at - killed;
    println!(
        "watch A SIGKILLed -> B pages: {:.1} s (max_silence 3 s)",
        took.as_secs_f64()
    );
    assert!(took <= Duration::from_secs(5), "took {took:?}");
    let alert: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(alert["classification"], "process_down", "{alert}");
    assert!(b_hook.received().len() > before);
    std::thread::sleep(Duration::from_secs(2));
    let after_kill = channel
        .received()
        .into_iter()
        .filter(|r| r.at > killed + Duration::from_millis(500))
        .count();
    assert_eq!(after_kill, 0, "pings after the kill");
}

#[test]
fn the_fault_hook_is_off_unless_asked_for() {
    let rules = rule_file(
        "no-hook",
        &format!(
            "[watch]\nlisten = \"127.0.0.1:0\"\ngrpc_listen = \"127.0.0.1:0\"\ndatabase = \"{}\"\n",
            support::temp_path("no-hook").display()
        ),
    );
    let (_w, addr) = serve_with_env(&rules, &[]);
    let answer = post(&addr, "/api/test/faults?stall_judge=1");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
}
