//! The web console and the public status page, served by the watch on its HTTP port.
//!
//! - `GET /`: the operator console (static page; its data comes from `/api/*`, behind the
//!   watch's token when one is set: `POST /api/login` trades the token for an HttpOnly cookie
//!   the page and its event stream then carry).
//! - `GET /assets/...`: the console's files, embedded in the binary (uPlot vendored): the pages
//!   work offline and under a strict Content Security Policy (no inline script or style).
//! - `GET /api/history`: a rule's closed windows over a range (totals, anomaly band, thresholds,
//!   deploys, firing periods; `by=tenant` or `by=<attribute>` splits them), from SQLite.
//! - `GET /api/sla/burn`: an SLA's error budget left over its month, and its down periods.
//! - `GET /api/events`: server-sent events, the `/api/state` snapshot after every tick.
//! - `GET /status`, `GET /status.json` (only with `[status_page]`; no token): one component
//!   per SLA, decided by the heartbeats, never a tenant, an attribute value or an alert's text.

mod history;
mod query;
mod status;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::sync::watch;

pub(crate) use history::{burn, history};
pub(crate) use query::{Query, QueryError};
pub(crate) use status::cached as status_json;

use crate::receiver::Shared;

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The body of every answer of the watch's HTTP port: whole, or a stream (the event stream).
pub(crate) type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A whole body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into()).boxed()
}

/// The pages' Content Security Policy: only the watch's own files, no inline code.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The cookie that carries the token for the console (HttpOnly, SameSite=Strict).
pub(crate) const COOKIE: &str = "heartbeat_token";

/// Event streams open at once, at most: each holds a task and a connection.
pub(crate) const MAX_STREAMS: usize = 256;

/// An embedded file, by its path under `/assets/`.
pub(crate) fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, t, b)| (*t, *b))
}

/// Serves an embedded file with the pages' headers; `None` if there is no such file.
pub(crate) fn serve_asset(path: &str, cache: bool) -> Option<Response<Body>> {
    let (content_type, bytes) = asset(path)?;
    let mut r = Response::new(full(Bytes::from_static(bytes)));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if cache {
            "public, max-age=300"
        } else {
            "no-cache"
        }),
    );
    Some(r)
}

/// The token a request carries in the console's cookie, decoded.
pub(crate) fn cookie_token(headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then(|| query::decode(value).ok())?
        })
}

/// `Set-Cookie` for `token`: percent-encoded, HttpOnly, SameSite=Strict, the whole site.
pub(crate) fn set_cookie(token: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        query::encode(token)
    ))
    .ok()
}

/// The event stream: the snapshot now, then after every tick, and a comment every 15 s so
/// proxies keep the connection. Ends when the client goes or the watch stops.
pub(crate) fn events(shared: &Arc<Shared>, mut stop: watch::Receiver<bool>) -> Response<Body> {
    use std::sync::atomic::Ordering::Relaxed;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(8);
    let shared = Arc::clone(shared);
    let mut ticks = shared.ticks.subscribe();
    shared.stats.streams.fetch_add(1, Relaxed);
    tokio::spawn(async move {
        let send_state = |shared: &Shared| {
            let snapshot = shared.snapshot.lock().ok().and_then(|s| s.clone());
            let data = snapshot
                .map(|s| serde_json::to_string(&*s).unwrap_or_else(|_| "null".to_owned()))
                .unwrap_or_else(|| "null".to_owned());
            Bytes::from(format!("event: state\ndata: {data}\n\n"))
        };
        let mut first = Vec::from(&b"retry: 2000\n\n"[..]);
        first.extend_from_slice(&send_state(&shared));
        if tx.send(Ok(Frame::data(Bytes::from(first)))).await.is_ok() {
            let mut keepalive = tokio::time::interval(Duration::from_secs(15));
            keepalive.tick().await;
            loop {
                let frame = tokio::select! {
                    changed = ticks.changed() => {
                        if changed.is_err() { break; }
                        send_state(&shared)
                    }
                    _ = keepalive.tick() => Bytes::from_static(b": keep-alive\n\n"),
                    _ = stop.changed() => break,
                    () = tx.closed() => break,
                };
                if tx.send(Ok(Frame::data(frame))).await.is_err() {
                    break;
                }
            }
        }
        shared.stats.streams.fetch_sub(1, Relaxed);
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut r = Response::new(StreamBody::new(stream).boxed());
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    r
}

/// Whether another event stream may open.
pub(crate) fn stream_room(shared: &Shared) -> bool {
    shared
        .stats
        .streams
        .load(std::sync::atomic::Ordering::Relaxed)
        < MAX_STREAMS
}

/// A 400 for a bad parameter, a 404 for an unknown rule: the answer's code and message.
pub(crate) fn error_status(e: &QueryError) -> StatusCode {
    match e {
        QueryError::Unknown { .. } => StatusCode::NOT_FOUND,
        QueryError::Invalid { .. } | QueryError::Missing(_) => StatusCode::BAD_REQUEST,
        QueryError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_and_script_the_pages_name_is_embedded() {
        for path in ["console.html", "console.js", "console.css", "status.html"] {
            assert!(asset(path).is_some(), "{path} is not embedded");
        }
        let (kind, _) = asset("console.html").unwrap();
        assert_eq!(kind, "text/html; charset=utf-8");
        // Each `/assets/...` reference in the pages resolves to an embedded file.
        for page in ["console.html", "status.html"] {
            let html = std::str::from_utf8(asset(page).unwrap().1).unwrap();
            for part in html.split("/assets/").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| !matches!(c, '"' | '\'' | '?' | '#'))
                    .collect();
                assert!(
                    asset(&name).is_some(),
                    "{page} names /assets/{name}, not embedded"
                );
            }
            assert!(!html.contains("<script>"), "{page} has an inline script");
            assert!(!html.contains("style=\""), "{page} has an inline style");
        }
    }

    #[test]
    fn the_cookie_round_trips_any_token() {
        for token in ["s3cret", "a b;c=d\"e", "ünï"] {
            let set = set_cookie(token).unwrap();
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            let mut headers = hyper::HeaderMap::new();
            headers.insert(
                header::COOKIE,
                HeaderValue::from_str(&format!("other=1; {pair}")).unwrap(),
            );
            assert_eq!(cookie_token(&headers).as_deref(), Some(token));
        }
    }
}
