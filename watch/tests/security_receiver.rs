//! The receiver lets no one in who should stay out: the bearer token (401 with nothing more to
//! say, on exports and on the read endpoints, over HTTP and gRPC), body limits before and after
//! gzip (a bomb is refused without being inflated past the limit), per-source rate limits (429
//! with `Retry-After`), the CORS allowlist, a slow body's time limit, and loopback by default.
//! The token's secrecy (Debug, logs) is in `security_secrets.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use heartbeat_watch::{Database, ManualClock, RuleFile, StartError, Watch};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message;
use support::{Payload, T0, bounded, client};

const TOKEN: &str = "tok-7c1e9a52d0b34f68";

const RULES: &str = r#"
[watch]
tick = "1s"
max_body_bytes = 65536
cors_origins = ["https://app.example.com"]
rate_limit_per_source = 0
"#;

/// `google.rpc.Status` as the receiver sends it.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn beats(value: i64) -> Payload {
    Payload::new("messenger-api", "i-1", None).sum(
        "heartbeat.beats",
        &[("heartbeat.emitter", "api")],
        T0 - 60_000,
        T0,
        value,
    )
}

async fn start(rules: &str, token: Option<&str>) -> (Watch, ManualClock) {
    let clock = ManualClock::at_ms(T0);
    let rules: RuleFile = rules.parse().unwrap();
    let watch = Watch::builder(rules)
        .with_clock(Arc::new(clock.clone()))
        .with_database(Database::InMemory)
        .with_listen("127.0.0.1:0".parse().unwrap())
        .with_grpc_listen(Some("127.0.0.1:0".parse().unwrap()))
        .with_auto_tick(false)
        .with_token(token.map(str::to_owned))
        .start()
        .await
        .unwrap();
    (watch, clock)
}

async fn export(
    watch: &Watch,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = client().post(format!("http://{}/v1/metrics", watch.http_addr()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.body(body).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

async fn get(watch: &Watch, path: &str, authorization: Option<&str>) -> (u16, String) {
    let mut req = client().get(format!("http://{}{path}", watch.http_addr()));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");

#[tokio::test]
async fn a_missing_or_wrong_token_is_a_401_that_says_nothing_more() {
    bounded(async {
        let (watch, _clock) = start(RULES, Some(TOKEN)).await;
        let wrong = [
            None,
            Some("Bearer wrong-token-123".to_owned()),
            Some(format!("Bearer {TOKEN}x")),
            Some(format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
            Some(format!("Basic {TOKEN}")),
            Some(TOKEN.to_owned()),
            Some("Bearer".to_owned()),
        ];
        for authorization in &wrong {
            let mut headers = vec![PROTOBUF];
            if let Some(a) = authorization {
                headers.push(("authorization", a));
            }
            let (status, h, body) = export(&watch, &headers, beats(1).protobuf()).await;
            assert_eq!(status, 401, "{authorization:?}");
            assert_eq!(h["www-authenticate"], "Bearer");
            let s = RpcStatus::decode(&body[..]).unwrap();
            assert_eq!(s.code, 16);
            assert_eq!(
                s.message,
                "missing or wrong bearer token (Authorization: Bearer ...)"
            );
            let text = String::from_utf8_lossy(&body);
            assert!(
                !text.contains(TOKEN) && !text.contains("wrong-token"),
                "{text}"
            );
        }
        // Refused before anything else is looked at: the content type, the body.
        let (status, _, _) = export(&watch, &[("content-type", "text/plain")], b"x".to_vec()).await;
        assert_eq!(status, 401);
        assert_eq!(watch.points(), (0, 0));
        let auth = format!("bearer {TOKEN}");
        let (status, _, _) = export(
            &watch,
            &[PROTOBUF, ("authorization", &auth)],
            beats(1).protobuf(),
        )
        .await;
        assert_eq!(status, 200, "the scheme is case-insensitive");
        assert_eq!(watch.points(), (1, 0));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn over_grpc_a_missing_or_wrong_token_is_unauthenticated() {
    bounded(async {
        let (watch, _clock) = start(RULES, Some(TOKEN)).await;
        let mut grpc =
            MetricsServiceClient::connect(format!("http://{}", watch.grpc_addr().unwrap()))
                .await
                .unwrap();
        for authorization in [None, Some("Bearer nope-nope".to_owned())] {
            let mut request = tonic::Request::new(beats(1).request());
            if let Some(a) = &authorization {
                request
                    .metadata_mut()
                    .insert("authorization", a.parse().unwrap());
            }
            let err = grpc.export(request).await.unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unauthenticated);
            assert_eq!(
                err.message(),
                "missing or wrong bearer token (authorization: Bearer ...)"
            );
            assert!(!format!("{err:?}").contains(TOKEN));
        }
        let mut request = tonic::Request::new(beats(1).request());
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        grpc.export(request).await.unwrap();
        assert_eq!(watch.points(), (1, 0));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn with_a_token_the_read_endpoints_require_it_and_healthz_does_not() {
    bounded(async {
        let (watch, _clock) = start(RULES, Some(TOKEN)).await;
        for path in ["/api/state", "/api/alerts", "/api/sla/report?month=2026-11"] {
            let (status, body) = get(&watch, path, None).await;
            assert_eq!(status, 401, "{path}: {body}");
            assert!(!body.contains(TOKEN));
            let (status, _) = get(&watch, path, Some("Bearer guess")).await;
            assert_eq!(status, 401, "{path}");
            let (status, body) = get(&watch, path, Some(&format!("Bearer {TOKEN}"))).await;
            assert_eq!(status, 200, "{path}: {body}");
        }
        assert_eq!(
            get(&watch, "/healthz", None).await,
            (200, "ok\n".to_owned())
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn without_a_token_nothing_asks_for_one() {
    bounded(async {
        let (watch, _clock) = start(RULES, None).await;
        let (status, _, _) = export(&watch, &[PROTOBUF], beats(1).protobuf()).await;
        assert_eq!(status, 200);
        assert_eq!(get(&watch, "/api/alerts", None).await.0, 200);
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_chunked_body_past_the_limit_is_a_413() {
    bounded(async {
        let (watch, _clock) = start(RULES, None).await;
        let addr = watch.http_addr();
        let answer = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            write!(
                s,
                "POST /v1/metrics HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            // No Content-Length to refuse early: 80 KiB in 1 KiB chunks against a 64 KiB limit.
            let chunk = vec![0u8; 1024];
            for _ in 0..80 {
                if s.write_all(b"400\r\n").is_err()
                    || s.write_all(&chunk).is_err()
                    || s.write_all(b"\r\n").is_err()
                {
                    break;
                }
            }
            let _ = s.write_all(b"0\r\n\r\n");
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
        .await
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert_eq!(watch.points(), (0, 0));
        watch.shutdown().await;
    })
    .await;
}

/// A gzip body whose first `valid` inflated bytes are zeros and whose deflate stream then turns
/// into garbage (an invalid block type): a receiver that inflated it whole would answer 400.
fn gzip_with_a_poisoned_tail(valid: usize) -> Vec<u8> {
    let mut deflate = flate2::Compress::new(flate2::Compression::best(), false);
    let mut raw = Vec::with_capacity(valid / 100 + 1024);
    deflate
        .compress_vec(&vec![0u8; valid], &mut raw, flate2::FlushCompress::Sync)
        .unwrap();
    assert!(
        raw.len() < raw.capacity(),
        "the output buffer was large enough"
    );
    // A sync flush ends byte-aligned; BFINAL=1, BTYPE=11 (reserved) is an error to any inflater.
    raw.extend_from_slice(&[0b0000_0111, 0xde, 0xad, 0xbe, 0xef]);
    let mut body = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    body.extend_from_slice(&raw);
    body.extend_from_slice(&[0; 8]);
    body
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_without_being_inflated_past_the_limit() {
    bounded(async {
        let (watch, _clock) = start(RULES, None).await;
        // The watch's own inflater sees the garbage, so the body is what it claims to be.
        let small = gzip_with_a_poisoned_tail(1000);
        let (status, _, body) =
            export(&watch, &[PROTOBUF, ("content-encoding", "gzip")], small).await;
        assert_eq!(status, 400);
        assert!(
            RpcStatus::decode(&body[..])
                .unwrap()
                .message
                .contains("not valid gzip"),
            "{}",
            String::from_utf8_lossy(&body)
        );
        // 64 MiB of zeros, then garbage: refused as too large, so never inflated to the garbage.
        let bomb = gzip_with_a_poisoned_tail(64 << 20);
        assert!(bomb.len() < 65536, "{} bytes compressed", bomb.len());
        let (status, _, body) =
            export(&watch, &[PROTOBUF, ("content-encoding", "gzip")], bomb).await;
        assert_eq!(status, 413);
        let s = RpcStatus::decode(&body[..]).unwrap();
        assert_eq!(s.code, 8);
        assert_eq!(
            s.message,
            "the decompressed body is larger than the watch's limit of 65536 bytes (max_body_bytes)"
        );
        assert_eq!(watch.points(), (0, 0));
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn over_grpc_a_message_inflating_past_the_limit_is_refused() {
    bounded(async {
        let (watch, _clock) = start(RULES, None).await;
        let mut grpc =
            MetricsServiceClient::connect(format!("http://{}", watch.grpc_addr().unwrap()))
                .await
                .unwrap()
                .send_compressed(tonic::codec::CompressionEncoding::Gzip);
        // 16 MiB of one attribute value: a few KiB compressed, against a 64 KiB limit.
        let huge = "a".repeat(16 << 20);
        let request = Payload::new("messenger-api", "i-1", None)
            .sum("heartbeat.beats", &[("big", &huge)], T0 - 60_000, T0, 1)
            .request();
        let err = grpc.export(request).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
        assert_eq!(watch.points(), (0, 0));
        grpc.export(beats(1).request()).await.unwrap();
        assert_eq!(watch.points(), (1, 0));
        watch.shutdown().await;
    })
    .await;
}

const LIMITED: &str = r#"
[watch]
tick = "1s"
rate_limit_per_source = 2
rate_limit_burst = 3
"#;

#[tokio::test]
async fn a_source_over_its_rate_gets_429_with_retry_after_until_it_refills() {
    bounded(async {
        let (watch, clock) = start(LIMITED, None).await;
        for i in 0..3 {
            let (status, _, _) = export(&watch, &[PROTOBUF], beats(i).protobuf()).await;
            assert_eq!(status, 200, "request {i} of the burst");
        }
        let (status, headers, body) = export(&watch, &[PROTOBUF], beats(9).protobuf()).await;
        assert_eq!(status, 429);
        assert_eq!(headers["retry-after"], "1");
        let s = RpcStatus::decode(&body[..]).unwrap();
        assert_eq!(s.code, 8);
        assert_eq!(
            s.message,
            "this source is over the watch's rate limit (rate_limit_per_source); retry after the delay in Retry-After"
        );
        // The read endpoints share the bucket; /healthz never waits.
        assert_eq!(get(&watch, "/api/state", None).await.0, 429);
        assert_eq!(get(&watch, "/healthz", None).await.0, 200);
        // Half a second at 2 per second is one more request.
        clock.advance(Duration::from_millis(500));
        let (status, _, _) = export(&watch, &[PROTOBUF], beats(3).protobuf()).await;
        assert_eq!(status, 200);
        let (status, _, _) = export(&watch, &[PROTOBUF], beats(4).protobuf()).await;
        assert_eq!(status, 429);
        // gRPC draws on the same source's bucket, before decoding the message.
        let mut grpc = MetricsServiceClient::connect(format!("http://{}", watch.grpc_addr().unwrap()))
            .await
            .unwrap();
        let err = grpc.export(beats(5).request()).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable);
        assert!(err.message().contains("rate limit"), "{}", err.message());
        clock.advance(Duration::from_secs(60));
        grpc.export(beats(6).request()).await.unwrap();
        assert_eq!(watch.points().0, 5);
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_rate_of_zero_turns_the_limit_off() {
    bounded(async {
        let (watch, _clock) = start(&LIMITED.replace("= 2\n", "= 0\n"), None).await;
        for i in 0..20 {
            let (status, _, _) = export(&watch, &[PROTOBUF], beats(i).protobuf()).await;
            assert_eq!(status, 200, "request {i}");
        }
        watch.shutdown().await;
    })
    .await;
}

#[test]
fn the_rate_limit_keys_default_to_100_per_second_and_are_checked() {
    let rules: RuleFile = "".parse().unwrap();
    assert_eq!(rules.watch.rate_limit_per_source, 100);
    assert_eq!(rules.watch.rate_limit_burst, 200);
    let err = "[watch]\nrate_limit_burst = 0\n"
        .parse::<RuleFile>()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("rate_limit_burst"), "{text}");
    assert!(text.contains("got 0"), "{text}");
    let err = "[watch]\nrate_limit_per_source = -1\n"
        .parse::<RuleFile>()
        .unwrap_err();
    assert!(err.to_string().contains("rate_limit_per_source"), "{err}");
}

#[tokio::test]
async fn an_origin_not_on_the_allowlist_gets_no_cors_headers() {
    bounded(async {
        let (watch, _clock) = start(RULES, None).await;
        let url = format!("http://{}/v1/metrics", watch.http_addr());
        for origin in [
            "https://evil.example",
            "http://app.example.com",
            "https://app.example.com.evil.example",
            "https://app.example.com:8443",
            "null",
        ] {
            let r = client()
                .request(reqwest::Method::OPTIONS, &url)
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "content-type, authorization",
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "{origin}");
            for h in r.headers().keys() {
                assert!(!h.as_str().starts_with("access-control-"), "{origin}: {h}");
            }
            let r = client()
                .post(&url)
                .header("origin", origin)
                .header("content-type", "application/x-protobuf")
                .body(beats(1).protobuf())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "{origin}");
            for h in r.headers().keys() {
                assert!(!h.as_str().starts_with("access-control-"), "{origin}: {h}");
            }
        }
        assert_eq!(watch.points(), (0, 0));
        // The allowed origin: its own name back, never credentials.
        let r = client()
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(
            r.headers()["access-control-allow-origin"],
            "https://app.example.com"
        );
        assert_eq!(r.headers()["vary"], "Origin");
        assert!(
            r.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn without_cors_origins_every_browser_origin_is_refused() {
    bounded(async {
        let (watch, _clock) = start("[watch]\nrate_limit_per_source = 0\n", None).await;
        let r = client()
            .request(
                reqwest::Method::OPTIONS,
                format!("http://{}/v1/metrics", watch.http_addr()),
            )
            .header("origin", "http://localhost:3000")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.headers().get("access-control-allow-origin").is_none());
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_allowed_origin_can_read_a_401() {
    bounded(async {
        let (watch, _clock) = start(RULES, Some(TOKEN)).await;
        let (status, headers, _) = export(
            &watch,
            &[PROTOBUF, ("origin", "https://app.example.com")],
            beats(1).protobuf(),
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://app.example.com"
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_slow_body_gives_its_queue_place_back_after_the_body_timeout() {
    bounded(async {
        let rules: RuleFile = RULES.parse().unwrap();
        let watch = Watch::builder(rules)
            .with_clock(Arc::new(ManualClock::at_ms(T0)))
            .with_database(Database::InMemory)
            .with_listen("127.0.0.1:0".parse().unwrap())
            .with_grpc_listen(None)
            .with_auto_tick(false)
            .with_queue_capacity(1)
            .start()
            .await
            .unwrap();
        let addr = watch.http_addr();
        // Headers promising 100 bytes, then 10 of them, then nothing.
        let slow = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            write!(
                s,
                "POST /v1/metrics HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\n0123456789"
            )
            .unwrap();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        });
        // While it holds the only place, others are told to come back.
        let mut saw_full = false;
        for _ in 0..100 {
            let (status, _, _) = export(&watch, &[PROTOBUF], beats(1).protobuf()).await;
            if status == 429 {
                saw_full = true;
                break;
            }
            assert_eq!(status, 200, "the slow request had not started yet");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(saw_full, "the slow body never held the queue");
        let answer = slow.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("the body did not arrive within 10 s"), "{answer}");
        let (status, _, _) = export(&watch, &[PROTOBUF], beats(2).protobuf()).await;
        assert_eq!(status, 200);
        watch.shutdown().await;
    })
    .await;
}

/// A raw HTTP/1.1 export from the local address `from` (any 127.0.0.0/8 address is this host).
async fn export_from(from: &str, to: std::net::SocketAddr, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let mut s = socket.connect(to).await.unwrap();
    let head = format!(
        "POST /v1/metrics HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn one_source_holds_at_most_a_quarter_of_the_ingest_queue() {
    use tokio::io::AsyncWriteExt;
    bounded(async {
        let rules: RuleFile = "[watch]\nrate_limit_per_source = 100\n".parse().unwrap();
        let watch = Watch::builder(rules)
            .with_clock(Arc::new(ManualClock::at_ms(T0)))
            .with_database(Database::InMemory)
            .with_listen("127.0.0.1:0".parse().unwrap())
            .with_grpc_listen(None)
            .with_auto_tick(false)
            .with_queue_capacity(4)
            .start()
            .await
            .unwrap();
        let addr = watch.http_addr();
        // 127.0.0.1 starts a body and stalls: its one place of four.
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(
            format!(
                "POST /v1/metrics HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\n0123456789"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let body = beats(1).protobuf();
        let mut busy = String::new();
        for _ in 0..100 {
            busy = export_from("127.0.0.1", addr, &body).await;
            if busy.starts_with("HTTP/1.1 429") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(busy.starts_with("HTTP/1.1 429"), "{busy}");
        assert!(busy.to_ascii_lowercase().contains("retry-after: 1"), "{busy}");
        assert!(busy.contains("this source has 1 requests under way already"), "{busy}");
        // Another source is not held up.
        let other = export_from("127.0.0.2", addr, &body).await;
        assert!(other.starts_with("HTTP/1.1 200"), "{other}");
        // The stalled sender goes away: its place is free again.
        drop(slow);
        let mut again = String::new();
        for _ in 0..100 {
            again = export_from("127.0.0.1", addr, &body).await;
            if again.starts_with("HTTP/1.1 200") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(again.starts_with("HTTP/1.1 200"), "{again}");
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_client_stalled_in_its_headers_loses_its_connection() {
    bounded(async {
        let (watch, _clock) = start(RULES, None).await;
        let addr = watch.http_addr();
        let answer = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            // Well past the watch's 10 s: a read timing out here means the connection was kept.
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            write!(s, "POST /v1/metrics HTTP/1.1\r\nHost: {addr}\r\nContent-Ty").unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).map(|_| out)
        })
        .await
        .unwrap();
        let out = answer.expect("the watch closed the connection");
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
        watch.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn by_default_the_watch_listens_on_loopback_only() {
    bounded(async {
        let rules: RuleFile = "".parse().unwrap();
        assert_eq!(rules.watch.listen.to_string(), "127.0.0.1:4318");
        assert_eq!(rules.watch.grpc_listen.to_string(), "127.0.0.1:4317");
        // The builder keeps those addresses unless told otherwise: start it for real. Another
        // process may hold a default port; then the error names the address that was tried.
        match Watch::builder(rules)
            .with_database(Database::InMemory)
            .with_auto_tick(false)
            .start()
            .await
        {
            Ok(watch) => {
                assert_eq!(watch.http_addr().to_string(), "127.0.0.1:4318");
                assert_eq!(watch.grpc_addr().unwrap().to_string(), "127.0.0.1:4317");
                watch.shutdown().await;
            }
            Err(StartError::Bind { addr, .. }) => {
                assert!(addr.ip().is_loopback(), "{addr}");
                println!("a default port is taken; the bind error named {addr}");
            }
            Err(e) => panic!("{e}"),
        }
    })
    .await;
}
