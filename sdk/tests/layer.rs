//! `HeartbeatLayer` through the real export pipeline: an axum router (routes by template,
//! unmatched requests, 5xx, timeouts, a panic, tenants by header) and gRPC responses (status
//! in the headers or in the trailers); the totals recorded equal the totals decoded.
#![cfg(all(feature = "axum", feature = "http-proto"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use heartbeat::layer::{HeartbeatLayer, HttpClassifier, LayerError};
use heartbeat::{Heartbeat, Protocol};
use heartbeat_testkit::{Point, Receiver, ReceiverOptions, has, points, total};
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;
use support::{TEST_LIMIT, TestResult, bounded};
use tower::{ServiceExt, service_fn};

const OUTCOMES: &str = "heartbeat.outcomes";

async fn pipeline() -> Result<(Receiver, Heartbeat), support::BoxError> {
    let receiver = Receiver::start(ReceiverOptions::default()).await?;
    let (hb, driver) = Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_service_name("layer-test")
        .with_endpoint(receiver.endpoint())
        .with_protocol(Protocol::HttpProtobuf)
        .with_export_interval(Duration::from_secs(3600))
        .build()?;
    tokio::spawn(driver);
    Ok((receiver, hb))
}

/// Every series the registry holds: (outcome, result, reason, tenant) -> count.
fn recorded(hb: &Heartbeat) -> BTreeMap<(String, String, String, String), i64> {
    let mut out = BTreeMap::new();
    hb.registry().collect(|s| {
        let key = (
            s.outcome().to_owned(),
            s.result().as_str().to_owned(),
            s.reason().unwrap_or("").to_owned(),
            s.tenant().unwrap_or("").to_owned(),
        );
        *out.entry(key).or_default() += i64::try_from(s.value()).unwrap();
    });
    out
}

/// The decoded total of one series (no tenant when `tenant` is empty).
fn decoded(p: &[Point], outcome: &str, result: &str, reason: &str, tenant: &str) -> i64 {
    let mut f = vec![("heartbeat.outcome", outcome), ("heartbeat.result", result)];
    let mut lacks = vec![];
    if !reason.is_empty() {
        f.push(("heartbeat.reason", reason));
    } else {
        lacks.push("heartbeat.reason");
    }
    if tenant.is_empty() {
        lacks.push("heartbeat.tenant");
    } else {
        f.push(("heartbeat.tenant", tenant));
    }
    total(p, OUTCOMES, &f, &lacks)
}

fn assert_recorded_equals_decoded(hb: &Heartbeat, p: &[Point]) {
    let recorded = recorded(hb);
    assert!(!recorded.is_empty());
    for ((outcome, result, reason, tenant), value) in recorded {
        assert_eq!(
            decoded(p, &outcome, &result, &reason, &tenant),
            value,
            "{outcome} {result} {reason} {tenant}"
        );
    }
}

async fn call(app: &Router, path: &str, tenant: Option<&str>) -> Result<StatusCode, String> {
    let mut req = Request::builder().uri(path);
    if let Some(t) = tenant {
        req = req.header("x-tenant-id", t);
    }
    let app = app.clone();
    let req = req.body(axum::body::Body::empty()).unwrap();
    // In a task of its own, as a server runs it: a panicking handler fails the task only.
    let joined = tokio::spawn(async move {
        let response = app.oneshot(req).await.unwrap();
        let status = response.status();
        response.into_body().collect().await.unwrap();
        status
    })
    .await;
    joined.map_err(|e| format!("{e}"))
}

fn router(layer: HeartbeatLayer) -> Router {
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/broken", get(|| async { StatusCode::BAD_GATEWAY }))
        .route("/slow", get(|| async { StatusCode::GATEWAY_TIMEOUT }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/panics",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("handler panicked on purpose");
                }
                "never"
            }),
        )
        .layer(layer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_routes_are_counted_by_template_status_and_tenant() -> TestResult {
    bounded(TEST_LIMIT, async {
        let (receiver, hb) = pipeline().await?;
        let layer = HeartbeatLayer::builder(&hb)
            .with_routes(["/users/{id}", "/never/{called}"])
            .build()?;
        let app = router(layer);

        // Declared routes are exported at zero before any request.
        hb.flush().await?;
        let zero = points(&receiver.requests());
        let never = [
            ("heartbeat.outcome", "http/never/_called"),
            ("http.route", "/never/{called}"),
        ];
        assert!(
            zero.iter()
                .any(|p| p.metric == OUTCOMES && has(&p.attributes, &never, &[]))
        );
        assert!(zero.iter().any(|p| {
            p.metric == OUTCOMES
                && has(
                    &p.attributes,
                    &[
                        ("heartbeat.outcome", "http/never/_called"),
                        ("heartbeat.reason", "http_5xx"),
                    ],
                    &[],
                )
        }));

        for _ in 0..3 {
            assert_eq!(call(&app, "/users/7", None).await?, StatusCode::OK);
        }
        assert_eq!(call(&app, "/users/8", Some("acme")).await?, StatusCode::OK);
        assert_eq!(
            call(&app, "/broken", Some("acme")).await?,
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(call(&app, "/broken", None).await?, StatusCode::BAD_GATEWAY);
        assert_eq!(
            call(&app, "/slow", None).await?,
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(call(&app, "/missing", None).await?, StatusCode::NOT_FOUND);
        // No route: axum's fallback answers 404 without a MatchedPath.
        assert_eq!(call(&app, "/nowhere", None).await?, StatusCode::NOT_FOUND);
        let panicked = call(&app, "/panics", None).await.unwrap_err();
        assert!(panicked.contains("panic"), "{panicked}");

        hb.flush().await?;
        let p = points(&receiver.requests());
        let d = |o: &str, r: &str, reason: &str, t: &str| decoded(&p, o, r, reason, t);
        assert_eq!(d("http/users/_id", "success", "", ""), 3);
        assert_eq!(d("http/users/_id", "success", "", "acme"), 1);
        assert_eq!(d("http/broken", "failure", "http_5xx", "acme"), 1);
        assert_eq!(d("http/broken", "failure", "http_5xx", ""), 1);
        assert_eq!(d("http/slow", "failure", "timeout", ""), 1);
        assert_eq!(
            d("http/missing", "success", "", ""),
            1,
            "a 4xx is a success by default"
        );
        assert_eq!(d("http.request", "success", "", ""), 1);
        assert_eq!(d("http/panics", "failure", "panicked", ""), 1);
        assert_eq!(d("http/never/_called", "success", "", ""), 0);
        let route = [
            ("heartbeat.outcome", "http/users/_id"),
            ("http.route", "/users/{id}"),
        ];
        assert_eq!(total(&p, OUTCOMES, &route, &[]), 4);
        assert_recorded_equals_decoded(&hb, &p);
        assert_eq!(hb.registry().health().undeclared_reasons, 0);
        hb.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_count_as_failures_when_asked_and_routes_past_the_limit_share_the_fallback()
-> TestResult {
    bounded(TEST_LIMIT, async {
        let (receiver, hb) = pipeline().await?;
        let layer = HeartbeatLayer::builder(&hb)
            .with_http_classifier(HttpClassifier::new().with_client_errors_as_failures(true))
            .with_fallback_name("api.other")
            .with_route_limit(1)
            .without_tenant()
            .build()?;
        let app = router(layer);
        assert_eq!(
            call(&app, "/missing", Some("acme")).await?,
            StatusCode::NOT_FOUND
        );
        assert_eq!(call(&app, "/users/1", None).await?, StatusCode::OK);
        assert_eq!(call(&app, "/broken", None).await?, StatusCode::BAD_GATEWAY);
        hb.flush().await?;
        let p = points(&receiver.requests());
        let d = |o: &str, r: &str, reason: &str| decoded(&p, o, r, reason, "");
        assert_eq!(d("http/missing", "failure", "http_4xx"), 1);
        assert_eq!(
            d("api.other", "success", ""),
            1,
            "the second route is past the limit"
        );
        assert_eq!(d("api.other", "failure", "http_5xx"), 1);
        assert_eq!(total(&p, OUTCOMES, &[("heartbeat.tenant", "acme")], &[]), 0);
        assert_recorded_equals_decoded(&hb, &p);
        hb.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_route_or_header_that_cannot_work_is_an_error_at_build_time() {
    let hb = Heartbeat::disabled();
    let long = format!("/{}", "x".repeat(300));
    let err = HeartbeatLayer::builder(&hb)
        .with_routes([long.as_str()])
        .build()
        .unwrap_err();
    assert!(matches!(err, LayerError::Outcome(_)));
    assert!(
        err.to_string()
            .starts_with("HeartbeatLayer: invalid outcome name \"http/xxx"),
        "{err}"
    );
    let err = HeartbeatLayer::builder(&hb)
        .with_route_prefix("9")
        .with_routes(["/a"])
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("\"9/a\": it must start with an ASCII letter"),
        "{err}"
    );
    let err = HeartbeatLayer::builder(&hb)
        .with_tenant_header("bad header")
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid tenant header \"bad header\""),
        "{err}"
    );
    let err = HeartbeatLayer::grpc(&hb).with_name("").build().unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid outcome name \"\": it is empty"),
        "{err}"
    );
}

/// A gRPC response body: a data frame, then the trailers with `grpc-status` (if any).
struct GrpcBody(std::collections::VecDeque<http_body::Frame<Bytes>>);

impl GrpcBody {
    fn with_status(code: Option<i32>) -> Self {
        let mut frames = std::collections::VecDeque::new();
        frames.push_back(http_body::Frame::data(Bytes::from_static(b"\0\0\0\0\0")));
        if let Some(code) = code {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", code.to_string().parse().unwrap());
            frames.push_back(http_body::Frame::trailers(trailers));
        }
        Self(frames)
    }
}

impl http_body::Body for GrpcBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.0.pop_front().map(Ok))
    }
}

/// A gRPC server in miniature: the method's path picks the answer.
async fn grpc_server(req: Request<Full<Bytes>>) -> Result<Response<GrpcBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let trailers_only = |code: &str| {
        Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", code)
            .body(GrpcBody(std::collections::VecDeque::new()))
            .unwrap()
    };
    let in_trailers = |code: Option<i32>| {
        Response::builder()
            .header("content-type", "application/grpc")
            .body(GrpcBody::with_status(code))
            .unwrap()
    };
    Ok(match path.as_str() {
        "/chat.Messenger/Send" => in_trailers(Some(0)),
        "/chat.Messenger/Fail" => in_trailers(Some(13)),
        "/chat.Messenger/Slow" => trailers_only("4"),
        "/chat.Messenger/Find" => trailers_only("5"),
        "/chat.Messenger/Cut" => in_trailers(None),
        _ => trailers_only("12"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_statuses_in_headers_or_trailers_are_counted_per_method() -> TestResult {
    bounded(TEST_LIMIT, async {
        let (receiver, hb) = pipeline().await?;
        let layer = HeartbeatLayer::grpc(&hb).build()?;
        let svc = tower::ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(grpc_server));
        let calls = [
            ("Send", 3),
            ("Fail", 2),
            ("Slow", 1),
            ("Find", 1),
            ("Cut", 1),
            ("Nope", 1),
        ];
        for (method, n) in calls {
            for i in 0..n {
                let mut req = Request::builder().uri(format!("http://h/chat.Messenger/{method}"));
                if i == 0 {
                    req = req.header("x-tenant-id", "acme");
                }
                let response = svc
                    .clone()
                    .oneshot(req.body(Full::new(Bytes::new())).unwrap())
                    .await?;
                response.into_body().collect().await?;
            }
        }
        // A response whose body is dropped before its trailers: the client went away.
        let response = svc
            .clone()
            .oneshot(
                Request::builder()
                    .uri("http://h/chat.Messenger/Send")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await?;
        drop(response);

        hb.flush().await?;
        let p = points(&receiver.requests());
        let d = |o: &str, r: &str, reason: &str, t: &str| decoded(&p, o, r, reason, t);
        assert_eq!(d("chat.Messenger/Send", "success", "", ""), 2);
        assert_eq!(d("chat.Messenger/Send", "success", "", "acme"), 1);
        assert_eq!(d("chat.Messenger/Send", "failure", "abandoned", ""), 1);
        assert_eq!(d("chat.Messenger/Fail", "failure", "grpc_internal", ""), 1);
        assert_eq!(
            d("chat.Messenger/Fail", "failure", "grpc_internal", "acme"),
            1
        );
        assert_eq!(d("chat.Messenger/Slow", "failure", "timeout", "acme"), 1);
        assert_eq!(
            d("chat.Messenger/Find", "success", "", "acme"),
            1,
            "NOT_FOUND is the caller's"
        );
        assert_eq!(
            d("chat.Messenger/Cut", "failure", "grpc_unknown", "acme"),
            1
        );
        assert_eq!(
            d(
                "chat.Messenger/Nope",
                "failure",
                "grpc_unimplemented",
                "acme"
            ),
            1
        );
        assert_recorded_equals_decoded(&hb, &p);
        assert_eq!(hb.registry().health().undeclared_reasons, 0);
        hb.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_error_counts_as_error_or_timeout() -> TestResult {
    bounded(TEST_LIMIT, async {
        let (receiver, hb) = pipeline().await?;
        let layer = HeartbeatLayer::builder(&hb).with_name("jobs.run").build()?;
        let svc = tower::ServiceBuilder::new()
            .layer(layer)
            .timeout(Duration::from_millis(50))
            .service(service_fn(|req: Request<Full<Bytes>>| async move {
                match req.uri().path() {
                    "/hang" => std::future::pending::<()>().await,
                    "/fail" => return Err(tower::BoxError::from("refused")),
                    _ => {}
                }
                Ok(Response::new(Full::new(Bytes::new())))
            }));
        for path in ["/ok", "/fail", "/hang"] {
            let req = Request::builder()
                .uri(path)
                .body(Full::new(Bytes::new()))
                .unwrap();
            let _ = svc.clone().oneshot(req).await;
        }
        hb.flush().await?;
        let p = points(&receiver.requests());
        let d = |r: &str, reason: &str| decoded(&p, "jobs.run", r, reason, "");
        assert_eq!(d("success", ""), 1);
        assert_eq!(d("failure", "error"), 1);
        assert_eq!(d("failure", "timeout"), 1);
        assert_recorded_equals_decoded(&hb, &p);
        hb.shutdown().await?;
        Ok(())
    })
    .await
}
