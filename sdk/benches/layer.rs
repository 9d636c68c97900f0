//! The cost of `HeartbeatLayer` per request, beside its anchors in one run: the same axum
//! router with no layer (the bare handler), with a layer that does nothing (`MapRequestLayer`
//! with the identity: what any layer costs in axum, whose `Router::layer` boxes each route's
//! layered service and its response body), and with tower-http's `TraceLayer` (no `tracing`
//! subscriber installed, as in a service that only exports metrics). Read the ratios.
//!
//! Groups:
//! - `layer_per_request`: one `GET /users/{id}` through the router (the request is built in
//!   every iteration, the same for all three), its response body dropped; the layer's variant
//!   without a tenant, and with a tenant header (one of 100 admitted tenants).
//!
//! Run: `cargo bench -p heartbeat-sdk --features axum --bench layer`. Results: docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// `criterion_group!` and `criterion_main!` generate undocumented public functions.
#![allow(missing_docs)]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use heartbeat::Heartbeat;
use heartbeat::layer::HeartbeatLayer;
use http::Request;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use tower::{Service, ServiceExt};

/// Runs a future that completes without waiting (the router's handlers do).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn app() -> Router {
    Router::new().route("/users/{id}", get(|| async { "user" }))
}

fn request(tenant: Option<&str>) -> Request<Body> {
    let mut req = Request::builder().uri("/users/7");
    if let Some(t) = tenant {
        req = req.header("x-tenant-id", t);
    }
    req.body(Body::empty()).unwrap()
}

fn run(router: &mut Router, tenant: Option<&str>) {
    let svc = ready(ServiceExt::<Request<Body>>::ready(router)).unwrap();
    let response = ready(svc.call(request(tenant))).unwrap();
    black_box(response.status());
}

fn layer_per_request(c: &mut Criterion) {
    let (hb, _driver) = Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_service_name("bench")
        .with_endpoint("http://127.0.0.1:9")
        .build()
        .unwrap();
    let tenants: Vec<String> = (0..100).map(|i| format!("tenant-{i}")).collect();
    let mut g = c.benchmark_group("layer_per_request");

    let mut bare = app();
    g.bench_function("bare_handler", |b| b.iter(|| run(&mut bare, None)));

    let mut identity = app().layer(tower::util::MapRequestLayer::new(|r: Request<Body>| r));
    g.bench_function("noop_layer", |b| b.iter(|| run(&mut identity, None)));

    let mut traced = app().layer(tower_http::trace::TraceLayer::new_for_http());
    g.bench_function("tower_http_trace_layer", |b| {
        b.iter(|| run(&mut traced, None));
    });

    let mut counted = app().layer(HeartbeatLayer::builder(&hb).build().unwrap());
    g.bench_function("heartbeat_layer", |b| b.iter(|| run(&mut counted, None)));

    let mut i = 0;
    g.bench_function("heartbeat_layer_tenant", |b| {
        b.iter(|| {
            i = (i + 1) % tenants.len();
            run(&mut counted, Some(&tenants[i]));
        });
    });
    g.finish();
}

criterion_group!(benches, layer_per_request);
criterion_main!(benches);
