//! The direct ping to an external channel on another control plane (Healthchecks.io,
//! Better Stack, Cronitor, Dead Man's Snitch style): a success URL per beat, a fail URL with the
//! reason when the gate fails, an optional stop URL on a graceful stop.
//!
//! Delivery never piles up: one worker per emitter sends one ping at a time. A beat offered while
//! a ping is in flight is skipped and counted; a fail or stop signal waits for the ping in flight
//! and replaces any beat still waiting, so the channel always hears the latest state, in order.

use super::error::{InvalidCertificate, InvalidPingUrl};
use crate::deadman::beat::{EmitterState, Failure, PingFailure};
use crate::export::env::endpoint_problem;
use crate::export::transport::{self, HttpClient, Trust};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use url::Url;

/// The default timeout of one ping attempt.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default number of retries after a failed attempt.
const DEFAULT_RETRIES: u32 = 2;
/// The delay before the first retry; it doubles for each next one.
const RETRY_DELAY: Duration = Duration::from_millis(250);
/// The `User-Agent` of pings.
const USER_AGENT: &str = concat!("heartbeat-rust/", env!("CARGO_PKG_VERSION"));

fn parse(url: &str) -> Result<Url, InvalidPingUrl> {
    let url = url.trim();
    let invalid = |problem| InvalidPingUrl {
        url: heartbeat_core::redact::origin(url),
        problem,
    };
    if let Some(problem) = endpoint_problem(url) {
        return Err(invalid(problem));
    }
    let parsed = Url::parse(url).map_err(|_| invalid("it is not a valid URL"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if parsed.scheme() == "https" && !transport::TLS {
        return Err(invalid("https:// needs the `tls` feature of heartbeat"));
    }
    if http::Uri::try_from(parsed.as_str()).is_err() {
        return Err(invalid("it is not a valid HTTP request target"));
    }
    Ok(parsed)
}

#[derive(Clone)]
enum FailTarget {
    /// The success URL with `/fail` appended to its path (Healthchecks.io, Better Stack).
    Suffix,
    Url(Url),
    None,
}

/// Where and how an emitter pings its external channel.
///
/// ```
/// use std::time::Duration;
/// let ping = heartbeat::PingConfig::new("https://hc-ping.com/your-uuid")?
///     .with_timeout(Duration::from_secs(3))
///     .with_retries(1);
/// // Debug output and errors never show the token:
/// assert_eq!(format!("{ping:?}").contains("your-uuid"), false);
/// # Ok::<(), heartbeat::InvalidPingUrl>(())
/// ```
///
/// Each beat is a `POST` to the success URL; when the health gate fails, one `POST` to the fail
/// URL (by default the success URL with `/fail` appended, as Healthchecks.io and Better Stack
/// expect) carries the reason; a graceful stop `POST`s to the stop URL if one is set. The body is
/// your optional text, then one `logfmt` line summarising the SDK's health (see
/// `docs/alerting.md`):
///
/// ```text
/// heartbeat emitter=api status=beating beat=42 since=1763700000 exports_ok=41 exports_failed=0 exports_timed_out=0 last_export_age_s=9 pings_failed=0 pings_skipped=0
/// ```
///
/// `https://` URLs are verified against the system's roots (or only the CA given with
/// [`PingConfig::with_ca_certificate_pem`]) through rustls, with the `tls` feature (on by
/// default). A ping that fails verification is counted under `heartbeat.sdk.pings` with reason
/// `tls`; it never blocks the emitter.
#[derive(Clone)]
pub struct PingConfig {
    url: Url,
    fail: FailTarget,
    stop: Option<Url>,
    body: Option<String>,
    timeout: Duration,
    retries: u32,
    trust: Trust,
}

impl fmt::Debug for PingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fail = match &self.fail {
            FailTarget::Suffix => "<url>/fail".to_owned(),
            FailTarget::Url(u) => heartbeat_core::redact::origin(u.as_str()),
            FailTarget::None => "none".to_owned(),
        };
        f.debug_struct("PingConfig")
            .field("url", &heartbeat_core::redact::origin(self.url.as_str()))
            .field("fail", &fail)
            .field(
                "stop",
                &self
                    .stop
                    .as_ref()
                    .map(|u| heartbeat_core::redact::origin(u.as_str())),
            )
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

impl PingConfig {
    /// Pings `url` on every beat.
    ///
    /// # Errors
    /// [`InvalidPingUrl`] if it is not an absolute `http://` or `https://` URL with a host.
    pub fn new(url: impl AsRef<str>) -> Result<Self, InvalidPingUrl> {
        Ok(Self {
            url: parse(url.as_ref())?,
            fail: FailTarget::Suffix,
            stop: None,
            body: None,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            trust: Trust::default(),
        })
    }

    /// Trusts only these CA certificates (PEM, one or more `CERTIFICATE` blocks) for `https://`
    /// ping URLs, instead of the system's roots: for a self-hosted channel with its own CA.
    /// Certificates are always verified.
    ///
    /// # Errors
    /// [`InvalidCertificate`] if `pem` holds no valid certificate, or the `tls` feature is off.
    pub fn with_ca_certificate_pem(
        mut self,
        pem: impl AsRef<[u8]>,
    ) -> Result<Self, InvalidCertificate> {
        self.trust =
            Trust::from_pem(pem.as_ref()).map_err(|problem| InvalidCertificate { problem })?;
        Ok(self)
    }

    /// Sends the fail signal to this URL instead of `<url>/fail` (for example Cronitor's
    /// `...?state=fail`).
    ///
    /// # Errors
    /// [`InvalidPingUrl`] as for [`PingConfig::new`].
    pub fn with_fail_url(mut self, url: impl AsRef<str>) -> Result<Self, InvalidPingUrl> {
        self.fail = FailTarget::Url(parse(url.as_ref())?);
        Ok(self)
    }

    /// Sends no fail signal (for channels without one): a failing gate then only stops the
    /// beats, and the channel pages on their absence.
    pub fn without_fail_signal(mut self) -> Self {
        self.fail = FailTarget::None;
        self
    }

    /// Pings this URL once on a graceful stop, for channels that can pause a check (by
    /// default a graceful stop sends nothing to the channel).
    ///
    /// # Errors
    /// [`InvalidPingUrl`] as for [`PingConfig::new`].
    pub fn with_stop_url(mut self, url: impl AsRef<str>) -> Result<Self, InvalidPingUrl> {
        self.stop = Some(parse(url.as_ref())?);
        Ok(self)
    }

    /// Text sent before the health summary line in every ping body.
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// The timeout of one attempt (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries after a failed attempt (default 2; connection errors, timeouts, 429 and 5xx are
    /// retried, after 250 ms, then 500 ms, doubling).
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The longest one signal can take with its retries.
    pub(crate) fn budget(&self) -> Duration {
        let mut total = Duration::ZERO;
        let mut delay = RETRY_DELAY;
        for _ in 0..self.retries {
            total = total.saturating_add(delay);
            delay = delay.saturating_mul(2);
        }
        total.saturating_add(self.timeout.saturating_mul(self.retries.saturating_add(1)))
    }

    fn fail_url(&self) -> Option<Url> {
        match &self.fail {
            FailTarget::Suffix => {
                let mut url = self.url.clone();
                let path = format!("{}/fail", url.path().trim_end_matches('/'));
                url.set_path(&path);
                Some(url)
            }
            FailTarget::Url(url) => Some(url.clone()),
            FailTarget::None => None,
        }
    }
}

/// A signal for the channel.
pub(crate) enum Signal {
    Beat,
    Fail(Failure),
    /// The last signal; the result of its delivery is sent back.
    Stop(oneshot::Sender<Result<(), PingFailure>>),
}

impl Signal {
    fn status(&self) -> &'static str {
        match self {
            Signal::Beat => "beating",
            Signal::Fail(_) => "failing",
            Signal::Stop(_) => "stopped",
        }
    }
}

/// Builds the health summary line for a signal.
pub(crate) type Summary = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Default)]
struct Slot {
    pending: Option<Signal>,
    busy: bool,
    closed: bool,
}

/// The emitter's side of its ping worker.
pub(crate) struct Pinger {
    slot: Arc<Mutex<Slot>>,
    wake: Arc<Notify>,
    state: Arc<EmitterState>,
}

impl Pinger {
    /// Starts the worker on `runtime`.
    pub(crate) fn start(
        config: PingConfig,
        state: Arc<EmitterState>,
        summary: Summary,
        runtime: &tokio::runtime::Handle,
    ) -> Result<(Self, tokio::task::JoinHandle<()>), String> {
        let client = HttpClient::new(&config.trust, config.timeout, transport::MAX_PING_RESPONSE)?;
        let slot = Arc::new(Mutex::new(Slot::default()));
        let wake = Arc::new(Notify::new());
        let worker = Worker {
            client,
            config,
            state: Arc::clone(&state),
            summary,
            slot: Arc::clone(&slot),
            wake: Arc::clone(&wake),
        };
        let task = runtime.spawn(worker.run());
        Ok((Self { slot, wake, state }, task))
    }

    /// Offers a signal: a beat is skipped (and counted) while another ping is in flight or
    /// waiting; a fail or stop signal waits behind the one in flight, replacing a waiting beat.
    pub(crate) fn offer(&self, signal: Signal) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.closed {
            return;
        }
        let occupied = slot.busy || slot.pending.is_some();
        match signal {
            Signal::Beat if occupied => self.state.ping_skipped(),
            signal => {
                if matches!(slot.pending, Some(Signal::Beat)) {
                    self.state.ping_skipped();
                }
                slot.pending = Some(signal);
                drop(slot);
                self.wake.notify_one();
            }
        }
    }

    /// Lets the worker finish what it has (up to a stop signal) and end.
    pub(crate) fn close(&self) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.closed = true;
        drop(slot);
        self.wake.notify_one();
    }
}

struct Worker {
    client: HttpClient,
    config: PingConfig,
    state: Arc<EmitterState>,
    summary: Summary,
    slot: Arc<Mutex<Slot>>,
    wake: Arc<Notify>,
}

impl Worker {
    async fn run(self) {
        loop {
            let next = {
                let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
                match slot.pending.take() {
                    Some(signal) => {
                        slot.busy = true;
                        Some(signal)
                    }
                    None if slot.closed => return,
                    None => None,
                }
            };
            let Some(signal) = next else {
                self.wake.notified().await;
                continue;
            };
            self.deliver(signal).await;
            self.slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .busy = false;
        }
    }

    async fn deliver(&self, signal: Signal) {
        let url = match &signal {
            Signal::Beat => Some(self.config.url.clone()),
            Signal::Fail(_) => self.config.fail_url(),
            Signal::Stop(_) => self.config.stop.clone(),
        };
        let Some(url) = url else {
            // Nothing configured for this signal: nothing to send, nothing failed.
            if let Signal::Stop(reply) = signal {
                let _ = reply.send(Ok(()));
            }
            return;
        };
        let body = self.body(&signal);
        // Ping URLs keep their token in the path: only the origin is ever shown.
        let origin = heartbeat_core::redact::origin(url.as_str());
        let result = self.send(url, body).await;
        match result {
            Ok(()) => self.state.ping_ok(),
            Err(why) => {
                self.state.ping_failed(why);
                tracing::warn!(
                    target: "heartbeat::deadman",
                    url = %origin,
                    signal = signal.status(),
                    reason = why.as_str(),
                    "dead-man ping failed (after its retries)"
                );
            }
        }
        if let Signal::Stop(reply) = signal {
            let _ = reply.send(result);
        }
    }

    fn body(&self, signal: &Signal) -> String {
        let mut body = String::new();
        if let Some(text) = &self.config.body {
            body.push_str(text);
            if !text.ends_with('\n') {
                body.push('\n');
            }
        }
        body.push_str(&format!(
            "heartbeat emitter={} status={}",
            self.state.name(),
            signal.status()
        ));
        if let Signal::Fail(failure) = signal {
            body.push_str(&format!(
                " reason={} detail={:?}",
                failure.reason.as_str(),
                failure.detail
            ));
        }
        body.push(' ');
        body.push_str(&(self.summary)());
        body.push('\n');
        body
    }

    async fn send(&self, url: Url, body: String) -> Result<(), PingFailure> {
        let mut delay = RETRY_DELAY;
        let mut attempt = 0;
        let body = bytes::Bytes::from(body);
        loop {
            let request = http::Request::post(url.as_str())
                .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .header(http::header::USER_AGENT, USER_AGENT)
                .body(body.clone())
                .map_err(|_| PingFailure::Other)?;
            let (outcome, retryable) = match self.client.send(request).await {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        (Ok(()), false)
                    } else if status.is_server_error() {
                        (Err(PingFailure::Status5xx), true)
                    } else if status == http::StatusCode::TOO_MANY_REQUESTS {
                        (Err(PingFailure::Status4xx), true)
                    } else if status.is_client_error() {
                        (Err(PingFailure::Status4xx), false)
                    } else {
                        (Err(PingFailure::Other), false)
                    }
                }
                // A certificate that does not verify will not verify on a retry either.
                Err(e) => match e.failure {
                    transport::Failure::Tls => (Err(PingFailure::Tls), false),
                    transport::Failure::Dns => (Err(PingFailure::Dns), true),
                    transport::Failure::Timeout => (Err(PingFailure::Timeout), true),
                    transport::Failure::Connect => (Err(PingFailure::Connect), true),
                    transport::Failure::Status(_) | transport::Failure::Other => {
                        (Err(PingFailure::Other), true)
                    }
                },
            };
            if outcome.is_ok() || !retryable || attempt >= self.config.retries {
                return outcome;
            }
            attempt += 1;
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_urls_are_shown_without_their_token() {
        assert_eq!(
            heartbeat_core::redact::origin("https://hc-ping.com/0f9a-secret-uuid"),
            "https://hc-ping.com/***"
        );
        assert_eq!(
            heartbeat_core::redact::origin("https://user:pw@cronitor.link/p/KEY/job?state=fail"),
            "https://***@cronitor.link/***"
        );
        assert_eq!(
            heartbeat_core::redact::origin("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            heartbeat_core::redact::origin("hc-ping.com/secret"),
            "hc-ping.com/***"
        );
    }

    #[test]
    fn a_bad_ping_url_is_named_without_its_token() {
        let err = PingConfig::new("ftp://hc-ping.com/secret-uuid").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid ping URL \"ftp://hc-ping.com/***\": it must start with http:// or https://"
        );
        let err = PingConfig::new("https:///secret").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid ping URL \"https:///***\": it has no host"
        );
        let err = PingConfig::new("http://ho st/secret").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn the_fail_url_defaults_to_the_fail_suffix() {
        let p = PingConfig::new("https://hc-ping.com/uuid/").unwrap();
        assert_eq!(
            p.fail_url().unwrap().as_str(),
            "https://hc-ping.com/uuid/fail"
        );
        let p = PingConfig::new("https://x.example/beat?k=1").unwrap();
        assert_eq!(
            p.fail_url().unwrap().as_str(),
            "https://x.example/beat/fail?k=1"
        );
        let p = p
            .with_fail_url("https://cronitor.link/p/KEY/job?state=fail")
            .unwrap();
        assert_eq!(
            p.fail_url().unwrap().as_str(),
            "https://cronitor.link/p/KEY/job?state=fail"
        );
        assert!(p.without_fail_signal().fail_url().is_none());
    }

    #[test]
    fn debug_output_hides_every_url_token() {
        let p = PingConfig::new("https://hc-ping.com/tok1")
            .unwrap()
            .with_fail_url("https://hc-ping.com/tok2/fail")
            .unwrap()
            .with_stop_url("https://hc-ping.com/tok3/stop")
            .unwrap();
        let shown = format!("{p:?}");
        assert!(!shown.contains("tok"), "{shown}");
    }

    #[test]
    fn the_retry_budget_bounds_one_signal() {
        let p = PingConfig::new("http://127.0.0.1:1/x")
            .unwrap()
            .with_timeout(Duration::from_secs(1))
            .with_retries(2);
        assert_eq!(p.budget(), Duration::from_millis(3750));
    }
}
