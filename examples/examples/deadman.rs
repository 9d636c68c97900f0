//! Dead-man heartbeat: beat through OTLP and ping an external channel, fail with a reason when
//! the health gate fails, and say "stopped on purpose" on a graceful exit.
//!
//! With no arguments it starts, on 127.0.0.1, a printing OTLP receiver and a printing "channel"
//! (standing in for Healthchecks.io), so you can watch both paths:
//!
//! ```sh
//! cargo run -p heartbeat-examples --example deadman
//! ```
//!
//! Then type `fail` (the gate fails: one fail ping with the reason, beats stop), `ok` (beats
//! resume), and Ctrl-D or Ctrl-C for a graceful stop (the stop ping and status `2`). Kill it with
//! `kill -9` instead and nothing more arrives: the silence a watchdog pages on.
//!
//! Options: `--ping URL` and `--stop-url URL` (an external channel instead of the printing one),
//! `--otlp URL` (an OTLP/HTTP JSON endpoint instead of the printing receiver), `--cadence-ms N`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use heartbeat::{Heartbeat, PingConfig, Protocol};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cadence = Duration::from_millis(
        arg("--cadence-ms")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(1000),
    );

    // Where the two paths go: given on the command line, or printing servers on 127.0.0.1.
    let otlp = match arg("--otlp") {
        Some(url) => url,
        None => format!("http://{}", printing_server("otlp").await?),
    };
    let (ping, stop) = match arg("--ping") {
        Some(url) => (url, arg("--stop-url")),
        None => {
            let channel = printing_server("channel").await?;
            (
                format!("http://{channel}/ping/demo-uuid"),
                Some(format!("http://{channel}/ping/demo-uuid/stop")),
            )
        }
    };

    let hb = Heartbeat::builder()
        .with_service_name("deadman-example")
        .with_endpoint(otlp)
        .with_protocol(Protocol::HttpJson)
        .install()?;

    let healthy = Arc::new(AtomicBool::new(true));
    let gate = Arc::clone(&healthy);
    let mut channel = PingConfig::new(ping)?.with_timeout(Duration::from_secs(2));
    if let Some(stop) = stop {
        channel = channel.with_stop_url(stop)?;
    }
    let beat = hb
        .deadman("demo")
        .with_cadence(cadence)
        .with_gate(move || {
            if gate.load(SeqCst) {
                Ok(())
            } else {
                Err("the operator typed fail")
            }
        })
        .with_ping(channel)
        .start()?;
    println!("beating every {cadence:?}; type fail / ok, Ctrl-D or Ctrl-C to stop gracefully");

    // stdin drives the gate; its end (or Ctrl-C) is the graceful stop.
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => match line.trim() {
                    "fail" => healthy.store(false, SeqCst),
                    "ok" => healthy.store(true, SeqCst),
                    _ => println!("health: {:?}", beat.health()),
                },
                _ => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }

    // Stopped on purpose: the stop ping and status 2, so this exit does not page.
    if let Err(e) = beat.stop().await {
        eprintln!("stop: {e}");
    }
    hb.shutdown().await?;
    println!("stopped on purpose");
    Ok(())
}

/// A tiny HTTP server that prints each request (heartbeat metrics only, for OTLP) and answers 200.
async fn printing_server(label: &'static str) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("?");
                    if label == "otlp" {
                        print_beats(&body);
                    } else {
                        println!(
                            "{label}: POST {path}\n    {}",
                            body.trim().replace('\n', "\n    ")
                        );
                    }
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                        .await;
                    return;
                }
            });
        }
    });
    Ok(addr)
}

fn print_beats(body: &str) {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return;
    };
    for rm in json["resourceMetrics"].as_array().into_iter().flatten() {
        for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
            for m in sm["metrics"].as_array().into_iter().flatten() {
                let name = m["name"].as_str().unwrap_or_default();
                if name != "heartbeat.beats" && name != "heartbeat.emitter.status" {
                    continue;
                }
                let points = m["sum"]["dataPoints"]
                    .as_array()
                    .or_else(|| m["gauge"]["dataPoints"].as_array());
                for p in points.into_iter().flatten() {
                    let attrs: Vec<String> = p["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            format!(
                                "{}={}",
                                a["key"].as_str().unwrap_or("?"),
                                a["value"]["stringValue"].as_str().unwrap_or("?")
                            )
                        })
                        .collect();
                    let value = p["asInt"]
                        .as_str()
                        .map_or_else(|| p["asInt"].to_string(), str::to_owned);
                    println!("otlp:    {name} {{{}}} = {value}", attrs.join(", "));
                }
            }
        }
    }
}
