//! `HeartbeatLayer`: one outcome per request through any tower stack (axum, tonic, hyper).
//!
//! ```text
//! request ──► route (axum's MatchedPath, the gRPC path, or a fixed name) ──► Outcome (declared
//!   once per route, bounded) ──► tenant (a header, bounded by the tenant limit) ──► OutcomeGuard
//!   ──► inner service ──► classifier (status, grpc-status in headers or trailers, error, panic)
//!   ──► success / failure_with(reason)
//! ```

mod body;
mod classify;
mod route;

pub use self::body::ResponseBody;
pub use self::classify::{
    GrpcClassifier, HttpClassifier, REASON_ERROR, REASON_HTTP_4XX, REASON_HTTP_5XX, REASON_TIMEOUT,
    Verdict,
};

use self::body::resolve;
use self::classify::{Classifier, Head};
use crate::Heartbeat;
use heartbeat_core::{Outcome, OutcomeError, OutcomeGuard, REASON_PANICKED};
use http::header::{HeaderName, InvalidHeaderName};
use http::{Extensions, HeaderMap, Request, Response};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll, ready};

/// The header the tenant is read from by default.
pub const DEFAULT_TENANT_HEADER: &str = "x-tenant-id";
/// The most routes that get an outcome of their own by default; later ones share the fallback.
pub const DEFAULT_ROUTE_LIMIT: usize = 256;
/// The outcome of HTTP requests without a route (no axum `MatchedPath`), by default.
pub const DEFAULT_HTTP_NAME: &str = "http.request";
/// The outcome of gRPC requests past the route limit, by default.
pub const DEFAULT_GRPC_NAME: &str = "grpc.request";
/// The attribute holding the exact route template on each route's outcome.
pub const ROUTE_ATTRIBUTE: &str = "http.route";

/// Reads the tenant of a request from its headers and extensions.
pub type TenantFn = for<'a> fn(&'a HeaderMap, &'a Extensions) -> Option<&'a str>;

/// Why a layer could not be built.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// A name, prefix or route does not make a valid outcome (the error names it), or the
    /// outcome was declared before with other failure reasons.
    #[error("HeartbeatLayer: {0}")]
    Outcome(#[from] OutcomeError),
    /// The tenant header is not a valid header name.
    #[error("HeartbeatLayer: invalid tenant header {name:?}: {source}")]
    TenantHeader {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        source: InvalidHeaderName,
    },
}

crate::export::error::debug_as_display!(LayerError);

#[derive(Clone, Copy)]
enum Tenant {
    None,
    Header,
    From(TenantFn),
}

enum Naming {
    /// Every request counts in one outcome.
    Fixed,
    /// By route, with this prefix; the fallback for requests without one.
    Routes { prefix: String },
}

/// Configures a [`HeartbeatLayer`]; from [`HeartbeatLayer::builder`] or
/// [`HeartbeatLayer::grpc`].
#[must_use = "call .build() to get the layer"]
pub struct HeartbeatLayerBuilder {
    hb: Heartbeat,
    classifier: Classifier,
    name: Option<String>,
    fixed: bool,
    prefix: Option<String>,
    routes: Vec<String>,
    route_limit: usize,
    tenant: Tenant,
    tenant_header: String,
}

impl fmt::Debug for HeartbeatLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeartbeatLayerBuilder")
            .field("classifier", &self.classifier)
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field("routes", &self.routes)
            .field("route_limit", &self.route_limit)
            .finish_non_exhaustive()
    }
}

impl HeartbeatLayerBuilder {
    fn new(hb: &Heartbeat, classifier: Classifier) -> Self {
        Self {
            hb: hb.clone(),
            classifier,
            name: None,
            fixed: false,
            prefix: None,
            routes: Vec::new(),
            route_limit: DEFAULT_ROUTE_LIMIT,
            tenant: Tenant::Header,
            tenant_header: DEFAULT_TENANT_HEADER.to_owned(),
        }
    }

    /// Counts every request in one outcome of this name, whatever its route.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self.fixed = true;
        self
    }

    /// The outcome of requests without a route (HTTP without axum's `MatchedPath`, a 404 of
    /// the router) and of routes past the limit (default `http.request`, or `grpc.request`).
    pub fn with_fallback_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self.fixed = false;
        self
    }

    /// What route names start with (default `http` for HTTP, nothing for gRPC): route
    /// `/users/{id}` is outcome `http/users/_id` (see the module docs for the mapping).
    pub fn with_route_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Declares these routes (templates as axum writes them, or gRPC paths) when the layer is
    /// built, so they are exported at zero before their first request, and a route that makes
    /// no valid outcome name is an error now rather than a fallback later.
    pub fn with_routes<I, S>(mut self, routes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.routes.extend(routes.into_iter().map(Into::into));
        self
    }

    /// How many routes get an outcome of their own (default 256); the requests of later ones
    /// count in the fallback outcome, so a client sending random paths cannot grow the series.
    pub fn with_route_limit(mut self, limit: usize) -> Self {
        self.route_limit = limit;
        self
    }

    /// Reads the tenant from this header (default `x-tenant-id`): the request is counted for
    /// that tenant, through the outcome's bounded tenant table (over the limit, or an invalid
    /// id, in `_overflow`). A request without the header counts without a tenant.
    pub fn with_tenant_header(mut self, name: impl Into<String>) -> Self {
        self.tenant_header = name.into();
        self.tenant = Tenant::Header;
        self
    }

    /// Reads the tenant with a function of the request's headers and extensions (for example
    /// a value your authentication layer put there).
    pub fn with_tenant_from(mut self, tenant: TenantFn) -> Self {
        self.tenant = Tenant::From(tenant);
        self
    }

    /// Counts no request for a tenant.
    pub fn without_tenant(mut self) -> Self {
        self.tenant = Tenant::None;
        self
    }

    /// The HTTP classifier (for a layer from [`HeartbeatLayer::builder`]).
    pub fn with_http_classifier(mut self, classifier: HttpClassifier) -> Self {
        self.classifier = Classifier::Http(classifier);
        self
    }

    /// The gRPC classifier (for a layer from [`HeartbeatLayer::grpc`]).
    pub fn with_grpc_classifier(mut self, classifier: GrpcClassifier) -> Self {
        self.classifier = Classifier::Grpc(classifier);
        self
    }

    /// Builds the layer, declaring its fallback (or fixed) outcome and the routes given.
    ///
    /// # Errors
    /// [`LayerError`] naming a name, prefix or route that makes no valid outcome, or a bad
    /// tenant header.
    pub fn build(self) -> Result<HeartbeatLayer, LayerError> {
        let grpc = matches!(self.classifier, Classifier::Grpc(_));
        let reasons = self.classifier.reasons();
        let tenant_header = match self.tenant {
            Tenant::Header => Some(HeaderName::try_from(self.tenant_header.as_str()).map_err(
                |source| LayerError::TenantHeader {
                    name: self.tenant_header.clone(),
                    source,
                },
            )?),
            _ => None,
        };
        let default_name = if grpc {
            DEFAULT_GRPC_NAME
        } else {
            DEFAULT_HTTP_NAME
        };
        let name = self.name.unwrap_or_else(|| default_name.to_owned());
        let fallback = self
            .hb
            .outcome(name)
            .with_reasons(reasons.iter().copied())
            .build()?;
        let naming = if self.fixed {
            Naming::Fixed
        } else {
            let prefix = self
                .prefix
                .unwrap_or_else(|| if grpc { "" } else { "http" }.to_owned());
            Naming::Routes { prefix }
        };
        let shared = Shared {
            hb: self.hb,
            classifier: self.classifier,
            reasons,
            naming,
            grpc,
            fallback,
            routes: RwLock::default(),
            route_limit: self.route_limit,
            tenant: self.tenant,
            tenant_header,
        };
        for route in &self.routes {
            let outcome = shared.declare(route)?;
            shared.remember(route, outcome);
        }
        Ok(HeartbeatLayer {
            shared: Arc::new(shared),
        })
    }
}

struct Shared {
    hb: Heartbeat,
    classifier: Classifier,
    reasons: Vec<&'static str>,
    naming: Naming,
    grpc: bool,
    fallback: Outcome,
    routes: RwLock<HashMap<Box<str>, Outcome, foldhash::fast::RandomState>>,
    route_limit: usize,
    tenant: Tenant,
    tenant_header: Option<HeaderName>,
}

impl Shared {
    fn declare(&self, route: &str) -> Result<Outcome, OutcomeError> {
        let Naming::Routes { prefix } = &self.naming else {
            return Ok(self.fallback.clone());
        };
        let reasons = self.reasons.iter().copied();
        if self.grpc {
            let name = route::grpc_name(prefix, route)?;
            self.hb.outcome(name).with_reasons(reasons).build()
        } else {
            let name = route::http_name(prefix, route)?;
            self.hb
                .outcome(name)
                .with_attribute(ROUTE_ATTRIBUTE, route)
                .with_reasons(reasons)
                .build()
        }
    }

    fn remember(&self, route: &str, outcome: Outcome) {
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        if routes.len() < self.route_limit {
            routes.insert(route.into(), outcome);
        }
    }

    /// The outcome of a route: known, declared now (within the limit), or the fallback.
    fn outcome(&self, route: Option<&str>) -> Outcome {
        let Some(route) = route else {
            return self.fallback.clone();
        };
        {
            let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(o) = routes.get(route) {
                return o.clone();
            }
            if routes.len() >= self.route_limit {
                return self.fallback.clone();
            }
        }
        // A route that makes no valid name, or clashes with another declaration, counts in
        // the fallback: the request is never lost and never panics.
        let outcome = self
            .declare(route)
            .unwrap_or_else(|_| self.fallback.clone());
        self.remember(route, outcome.clone());
        outcome
    }

    fn start<B>(&self, req: &Request<B>) -> OutcomeGuard {
        let outcome = match self.naming {
            Naming::Fixed => return self.start_tenant(&self.fallback, req),
            Naming::Routes { .. } if self.grpc => self.outcome(Some(req.uri().path())),
            Naming::Routes { .. } => self.outcome(matched_path(req.extensions())),
        };
        self.start_tenant(&outcome, req)
    }

    fn start_tenant<B>(&self, outcome: &Outcome, req: &Request<B>) -> OutcomeGuard {
        let tenant = match (self.tenant, &self.tenant_header) {
            (Tenant::Header, Some(h)) => req
                .headers()
                .get(h)
                // A tenant that is not text counts in `_overflow`, like any invalid id.
                .map(|v| v.to_str().unwrap_or("")),
            (Tenant::From(f), _) => f(req.headers(), req.extensions()),
            _ => None,
        };
        match tenant {
            Some(t) => outcome.tenant(t).start(),
            None => outcome.start(),
        }
    }
}

#[cfg(feature = "axum")]
fn matched_path(extensions: &Extensions) -> Option<&str> {
    extensions
        .get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str)
}

#[cfg(not(feature = "axum"))]
fn matched_path(_: &Extensions) -> Option<&str> {
    None
}

/// A tower layer that counts one outcome per request; see the [module docs](self).
///
/// ```no_run
/// # #[cfg(feature = "axum")]
/// # fn app(hb: &heartbeat::Heartbeat) -> Result<axum::Router, heartbeat::layer::LayerError> {
/// use axum::{Router, routing::get};
/// use heartbeat::layer::HeartbeatLayer;
///
/// let app = Router::new()
///     .route("/users/{id}", get(|| async { "hello" }))
///     // Router::layer: each route's outcome is named by its template (`http/users/_id`).
///     .layer(HeartbeatLayer::builder(hb).build()?);
/// # Ok(app) }
/// ```
#[derive(Clone)]
pub struct HeartbeatLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for HeartbeatLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeartbeatLayer")
            .field("classifier", &self.shared.classifier)
            .field("fallback", &self.shared.fallback)
            .finish_non_exhaustive()
    }
}

impl HeartbeatLayer {
    /// An HTTP layer: outcomes named by axum's `MatchedPath` (feature `axum`) or
    /// `http.request`, judged by [`HttpClassifier`], tenant from `x-tenant-id`.
    pub fn builder(hb: &Heartbeat) -> HeartbeatLayerBuilder {
        HeartbeatLayerBuilder::new(hb, Classifier::Http(HttpClassifier::new()))
    }

    /// A gRPC layer (tonic's `Server::builder().layer(..)`): outcomes named by the method's
    /// path (`/chat.Messenger/Send` is `chat.Messenger/Send`), judged by [`GrpcClassifier`].
    pub fn grpc(hb: &Heartbeat) -> HeartbeatLayerBuilder {
        HeartbeatLayerBuilder::new(hb, Classifier::Grpc(GrpcClassifier::new()))
    }
}

impl<S> tower_layer::Layer<S> for HeartbeatLayer {
    type Service = HeartbeatService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HeartbeatService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service of a [`HeartbeatLayer`].
#[derive(Clone)]
pub struct HeartbeatService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for HeartbeatService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeartbeatService").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for HeartbeatService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let guard = self.shared.start(&req);
        ResponseFuture {
            inner: self.inner.call(req),
            guard: Some(guard),
            classifier: self.shared.classifier,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a [`HeartbeatService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Option<OutcomeGuard>,
        classifier: Classifier,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: 'static,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        // A panicking handler is counted as `panicked` here: the runtime that catches it
        // drops this future later, when the thread no longer unwinds.
        let result = match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => ready!(poll),
            Err(panic) => {
                if let Some(guard) = this.guard.take() {
                    guard.failure_with(REASON_PANICKED);
                }
                resume_unwind(panic)
            }
        };
        let Some(guard) = this.guard.take() else {
            // Polled after completion: pass through what the inner future says.
            return Poll::Ready(result.map(|r| r.map(|b| ResponseBody::new(b, None))));
        };
        Poll::Ready(match result {
            Ok(response) => {
                let pending = match this
                    .classifier
                    .response(response.status(), response.headers())
                {
                    Head::Done(verdict) => {
                        resolve(guard, verdict);
                        None
                    }
                    Head::AtTrailers(c) => Some((guard, c)),
                };
                Ok(response.map(|b| ResponseBody::new(b, pending)))
            }
            Err(e) => {
                resolve(guard, Classifier::error(&e));
                Err(e)
            }
        })
    }
}
