//! Quickstart: count customer jobs and export them over OTLP/HTTP JSON.
//!
//! With no arguments, it starts a tiny OTLP/HTTP receiver on 127.0.0.1 that prints every point
//! it receives, so you can see exactly what the SDK sends. Point it at a real collector instead
//! with `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 cargo run --example quickstart -- --external`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use heartbeat::{Heartbeat, Protocol};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let external = std::env::args().any(|a| a == "--external");
    let mut builder = Heartbeat::builder()
        .with_service_name("quickstart")
        .with_service_version("1.0.0")
        .with_export_interval(Duration::from_secs(1));
    if !external {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(print_receiver(listener));
        println!("printing receiver on http://{addr}/v1/metrics");
        builder = builder
            .with_endpoint(format!("http://{addr}"))
            .with_protocol(Protocol::HttpJson);
    }
    let hb = builder.install()?;

    // Declare once, at start-up: name, fixed attributes, the bounded set of failure reasons.
    let send = hb
        .outcome("message.send")
        .with_attribute("surface", "web_messenger")
        .with_reasons(["timeout", "rejected"])
        .build()?;
    let reply = hb
        .outcome("reply.deliver")
        .with_attribute("surface", "inbox")
        .build()?;

    // Record on the hot path.
    for i in 0..1000u32 {
        if i % 50 == 0 {
            send.failure_with("timeout");
        } else {
            send.success();
        }
        reply
            .observe(if i % 100 == 0 { Err("bounced") } else { Ok(()) })
            .ok();
    }
    // Per-customer drill-down.
    send.success_for("acme");
    send.tenant("globex").failure_with("rejected");

    // A guard records a failure if the job never finishes.
    let job = reply.start();
    drop(job); // counted as failure, reason "abandoned"

    tokio::time::sleep(Duration::from_millis(1500)).await;
    hb.shutdown().await?;
    println!("export health: {:?}", hb.export_health());
    Ok(())
}

/// A minimal OTLP/HTTP JSON receiver: prints each point and answers 200 `{}`.
async fn print_receiver(listener: TcpListener) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
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
                let Some(end) = find(&buf, b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() < end + 4 + len {
                    continue;
                }
                print_request(&buf[end + 4..end + 4 + len]);
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
                    .await;
                buf.drain(..end + 4 + len);
            }
        });
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn print_request(body: &[u8]) {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        println!("(a request that is not JSON: {} bytes)", body.len());
        return;
    };
    println!("--- export ---");
    let mut lines = Vec::new();
    for rm in json["resourceMetrics"].as_array().into_iter().flatten() {
        for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
            for m in sm["metrics"].as_array().into_iter().flatten() {
                for p in m["sum"]["dataPoints"].as_array().into_iter().flatten() {
                    let mut attrs: Vec<String> = p["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            let key = a["key"].as_str().unwrap_or("?");
                            let value = a["value"]["stringValue"].as_str().unwrap_or("?");
                            format!("{key}={value}")
                        })
                        .collect();
                    attrs.sort();
                    let value = p["asInt"]
                        .as_str()
                        .map_or_else(|| p["asInt"].to_string(), str::to_owned);
                    lines.push(format!(
                        "{} {{{}}} = {value}",
                        m["name"].as_str().unwrap_or("?"),
                        attrs.join(", ")
                    ));
                }
            }
        }
    }
    lines.sort();
    for line in lines {
        println!("  {line}");
    }
}
