//! `heartbeat-watch rules check` against a real Prometheus (Debian's `prometheus`, installed by
//! the test command) scraping two exporters the way a collector's `prometheus` exporter is
//! scraped: one job without `honor_labels` (Prometheus moves the series' own `job` to
//! `exported_job`, the trap that makes every dead-man rule page and every outcome rule stay
//! silent) and one with it. The check must pass the second and name the cause for the first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{BIN, Guard, free_port, rule_file, temp_path};

/// Serves `/a` and `/b` in the Prometheus text format, each a beat counter and an outcome
/// counter of its own service, until the test ends.
fn exporter() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut beats = 0u64;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 2048];
            let n = stream.read(&mut request).unwrap_or(0);
            let line = String::from_utf8_lossy(&request[..n]);
            let service = if line.starts_with("GET /a") {
                "svc-a"
            } else {
                "svc-b"
            };
            beats += 1;
            let body = format!(
                "# TYPE heartbeat_beats_total counter\n\
                 heartbeat_beats_total{{job=\"{service}\",instance=\"i-1\",heartbeat_emitter=\"api\"}} {beats}\n\
                 # TYPE heartbeat_outcomes_total counter\n\
                 heartbeat_outcomes_total{{job=\"{service}\",instance=\"i-1\",heartbeat_outcome=\"message.send\",heartbeat_result=\"success\"}} {}\n",
                beats * 10
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// Debian's Prometheus scraping `/a` without and `/b` with `honor_labels`, every second.
fn prometheus(exporter: &str) -> Option<(Guard, String)> {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "prometheus is not installed: ./scripts/test.sh installs Debian's prometheus"
        );
        eprintln!("skipped: prometheus is not installed");
        return None;
    }
    let dir = temp_path("prom").with_extension("d");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: collector-a\n    metrics_path: /a\n    static_configs: [{{targets: ['{exporter}']}}]\n  - job_name: collector-b\n    honor_labels: true\n    metrics_path: /b\n    static_configs: [{{targets: ['{exporter}']}}]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Some((Guard(child), format!("127.0.0.1:{port}")))
}

#[test]
fn rules_check_passes_a_honoured_job_and_names_the_exported_job_trap() {
    let exporter = exporter();
    let Some((_prometheus, addr)) = prometheus(&exporter) else {
        return;
    };
    // Both exporters scraped at least twice.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = support::get(&addr, "/api/v1/series?match[]=heartbeat_beats_total");
        if body.contains("svc-a") && body.contains("svc-b") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped both: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let rules = rule_file(
        "rules-check",
        "[[deadman]]\nname = \"a-beats\"\nservice = \"svc-a\"\nemitter = \"api\"\nwindow = \"1m\"\nmin_beats = 5\n\
         [[deadman]]\nname = \"b-beats\"\nservice = \"svc-b\"\nemitter = \"api\"\nwindow = \"1m\"\nmin_beats = 5\n\
         [[outcome]]\nname = \"b-send\"\noutcome = \"message.send\"\nservice = \"svc-b\"\nwindow = \"5m\"\nmin_success_ratio = 0.9\n\
         [[outcome]]\nname = \"b-typo\"\noutcome = \"message.sent\"\nservice = \"svc-b\"\nwindow = \"5m\"\nmin_success_ratio = 0.9\n",
    );
    let out = Command::new(BIN)
        .args(["rules", "check", "--rules"])
        .arg(&rules)
        .args(["--prometheus", &format!("http://{addr}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "two rules cannot match: {text}");
    assert!(
        text.contains(
            "MISS deadman a-beats: \"svc-a\" is in exported_job, not job: the scrape job lacks honor_labels: true"
        ),
        "{text}"
    );
    assert!(
        text.contains("ok   deadman b-beats: 1 beat series"),
        "{text}"
    );
    assert!(text.contains("ok   outcome b-send: 1 series"), "{text}");
    assert!(
        text.contains("MISS outcome b-typo: no series with heartbeat_outcome=\"message.sent\"; values seen: \"message.send\""),
        "{text}"
    );

    // A Prometheus that is not there is an error naming it, not a pass.
    let gone = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new(BIN)
        .args(["rules", "check", "--rules"])
        .arg(&rules)
        .args(["--prometheus", &gone])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{gone}/api/v1/series")),
        "{stderr}"
    );
    let _ = std::fs::remove_file(rules);
}
