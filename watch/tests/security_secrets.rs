//! The bearer token never shows: not in `Debug` output of the builder, the running watch or its
//! errors, not in what `heartbeat-watch serve` prints while refusing and accepting senders, not
//! in its state database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use heartbeat_watch::{Database, RuleFile, Watch};
use support::{Payload, bounded};

const TOKEN: &str = "tok-5e0c3f1d9b7a4c28";
const BIN: &str = env!("CARGO_BIN_EXE_heartbeat-watch");

#[tokio::test]
async fn the_token_is_never_in_debug_output() {
    bounded(async {
        let rules: RuleFile = "[watch]\nauth_token_env = \"HBW_SECRETS_TEST_UNSET\"\n"
            .parse()
            .unwrap();
        let builder = Watch::builder(rules.clone())
            .with_database(Database::InMemory)
            .with_listen("127.0.0.1:0".parse().unwrap())
            .with_grpc_listen(Some("127.0.0.1:0".parse().unwrap()))
            .with_auto_tick(false)
            .with_token(Some(TOKEN.to_owned()));
        let debug = format!("{builder:?}");
        assert!(!debug.contains(TOKEN), "{debug}");
        assert!(debug.contains("Token(<redacted>)"), "{debug}");
        let watch = builder.start().await.unwrap();
        let debug = format!("{watch:?} {watch:#?}");
        assert!(!debug.contains(TOKEN), "{debug}");
        watch.shutdown().await;

        // The variable is named, never read back into an error.
        let err = Watch::builder(rules)
            .with_database(Database::InMemory)
            .with_listen("127.0.0.1:0".parse().unwrap())
            .with_grpc_listen(None)
            .start()
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "auth_token_env names HBW_SECRETS_TEST_UNSET, which is not set"
        );
    })
    .await;
}

/// Kills the child when dropped.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn request(addr: &str, head: &str, body: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn the_token_is_never_in_what_the_watch_prints_or_stores() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("hbw-secrets-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
auth_token_env = "HBW_SECRETS_TEST_TOKEN"

[[deadman]]
name = "nobody-beats"
service = "ghost"
window = "1s"
min_beats = 1
"#,
            db.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--plain", "--rules"])
        .arg(&rules)
        .env("HBW_SECRETS_TEST_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let guard = Guard(child);
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stdout).read_to_string(&mut text);
        text
    });
    let mut stderr = BufReader::new(stderr);
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let body = Payload::new("ghost", "i-1", None)
        .sum("heartbeat.beats", &[], now_ms - 1000, now_ms, 1)
        .protobuf();
    let post = |authorization: &str| {
        request(
            &addr,
            &format!(
                "POST /v1/metrics HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\n{authorization}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            ),
            &body,
        )
    };
    let mut answers = String::new();
    for wrong in [
        String::new(),
        "Authorization: Bearer nope\r\n".to_owned(),
        format!("Authorization: Bearer {TOKEN}0\r\n"),
        format!("Authorization: Basic {TOKEN}\r\n"),
    ] {
        let answer = post(&wrong);
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        answers.push_str(&answer);
    }
    let answer = post(&format!("Authorization: Bearer {TOKEN}\r\n"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Let the judge run, alert and print a few ticks.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = request(
            &addr,
            &format!(
                "GET /api/alerts HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
            ),
            b"",
        );
        if state.contains("nobody-beats") {
            answers.push_str(&state);
            break;
        }
        assert!(Instant::now() < deadline, "no alert: {state}");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(guard);
    let printed = format!("{}{}", out.join().unwrap(), err.join().unwrap());
    assert!(
        printed.contains("ALERT FIRING"),
        "the watch printed its view: {printed}"
    );
    assert!(!printed.contains(TOKEN), "{printed}");
    assert!(!answers.contains(TOKEN), "{answers}");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "{} holds the token",
            path.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
