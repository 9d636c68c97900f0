//! Fault injection for the reliability and security suites: include it with `mod faults;`.
//!
//! - [`Front`]: a TCP front on a fixed `127.0.0.1` port that stands where a collector or a ping
//!   channel would, and behaves as told ([`Mode`]): forwards to a real backend (a `Sink`, rotel,
//!   a channel), refuses connections (nothing listening: the collector is down), accepts and never
//!   answers, resets every connection, or terminates TLS with a given certificate before
//!   forwarding. Switching modes closes every open connection, so pooled keep-alive connections
//!   cannot hide an outage; the port stays the same, so the client needs no new configuration.
//! - [`Sim`]: simulated time on a paused tokio clock, moved only by explicit steps.
//! - [`Pki`]: a throwaway certificate authority made in the test (rcgen), and server
//!   configurations for certificates it signs.
//!
//! Every server binds `127.0.0.1` only; everything stops when its value is dropped.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};

/// How a [`Front`] treats connections.
#[derive(Clone)]
pub enum Mode {
    /// Forward the bytes both ways to this backend.
    Forward(SocketAddr),
    /// Nothing listens on the port: connections are refused.
    Refuse,
    /// Accept, read, and never answer.
    Hang,
    /// Accept, read the start of the request, then reset the connection (TCP RST).
    Reset,
    /// Terminate TLS with this configuration, then forward the plaintext to the backend.
    Tls(Arc<ServerConfig>, SocketAddr),
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Forward(a) => write!(f, "Forward({a})"),
            Mode::Refuse => f.write_str("Refuse"),
            Mode::Hang => f.write_str("Hang"),
            Mode::Reset => f.write_str("Reset"),
            Mode::Tls(_, a) => write!(f, "Tls({a})"),
        }
    }
}

struct State {
    mode: Mode,
    accept: Option<JoinHandle<()>>,
}

/// A switchable front on a fixed loopback port; see the module docs.
pub struct Front {
    addr: SocketAddr,
    state: Mutex<State>,
    connections: Arc<Mutex<JoinSet<()>>>,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl Front {
    /// Binds an ephemeral port and starts in `mode`.
    pub async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let front = Self {
            addr,
            state: Mutex::new(State {
                mode: Mode::Refuse,
                accept: None,
            }),
            connections: Arc::default(),
            accepted: Arc::default(),
        };
        drop(listener);
        front.set(mode).await;
        front
    }

    /// The address clients use, whatever the mode.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `https://127.0.0.1:PORT`.
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Connections accepted so far, in every mode.
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Switches mode: closes every open connection, then listens (or not) on the same port.
    pub async fn set(&self, mode: Mode) {
        let old = {
            let mut state = self.state.lock().unwrap();
            state.mode = mode.clone();
            state.accept.take()
        };
        if let Some(old) = old {
            old.abort();
            let _ = old.await;
        }
        self.connections.lock().unwrap().abort_all();
        if matches!(mode, Mode::Refuse) {
            return;
        }
        // The port was ours a moment ago; SO_REUSEADDR (set by tokio) lets us take it back
        // while old connections sit in TIME_WAIT. Retry briefly in case the kernel lags.
        let mut listener = None;
        for _ in 0..50 {
            match TcpListener::bind(self.addr).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                // Real time, not tokio's: the clock may be paused in simulated-time tests.
                Err(_) => real_sleep(Duration::from_millis(20)).await,
            }
        }
        let listener = listener.unwrap_or_else(|| panic!("cannot rebind {}", self.addr));
        let connections = Arc::clone(&self.connections);
        let accepted = Arc::clone(&self.accepted);
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mode = mode.clone();
                connections
                    .lock()
                    .unwrap()
                    .spawn(async move { serve(socket, mode).await });
            }
        });
        self.state.lock().unwrap().accept = Some(task);
    }
}

/// Waits `d` of wall-clock time without touching tokio's (possibly paused) clock.
pub async fn real_sleep(d: Duration) {
    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(d)).await;
}

/// Simulated time for tests on a paused tokio clock: tokio's auto-advance is held off (a
/// blocking task stays in flight for the simulation's life), so time moves only by
/// [`Sim::step`], and between steps loopback I/O gets real time to finish. An exchange stalled
/// in the kernel therefore cannot see its timeout fire early, as it could if the clock jumped
/// to the next timer whenever the runtime looked idle.
pub struct Sim {
    stop: Option<std::sync::mpsc::Sender<()>>,
}

impl Sim {
    /// Starts holding the clock; call inside a runtime whose time is paused.
    pub fn start() -> Self {
        let (stop, wait) = std::sync::mpsc::channel::<()>();
        tokio::task::spawn_blocking(move || {
            let _ = wait.recv();
        });
        Self { stop: Some(stop) }
    }

    /// Moves tokio time forward by `d`, then gives the runtime a few milliseconds of real time
    /// to run what came due (exports, beats, pings over loopback).
    pub async fn step(&self, d: Duration) {
        self.step_until(d, || true).await;
    }

    /// Like [`Sim::step`], and then waits (in real time, up to two seconds) until `settled`
    /// says the exchanges the step started are done, so a loaded machine cannot make a
    /// simulated timeout fire.
    pub async fn step_until(&self, d: Duration, settled: impl Fn() -> bool) {
        tokio::time::advance(d).await;
        for i in 0..2000 {
            tokio::task::yield_now().await;
            real_sleep(Duration::from_millis(1)).await;
            if i >= 2 && settled() {
                break;
            }
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        drop(self.stop.take());
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(task) = self.state.lock().unwrap().accept.take() {
            task.abort();
        }
        self.connections.lock().unwrap().abort_all();
    }
}

async fn serve(mut socket: TcpStream, mode: Mode) {
    use tokio::io::AsyncReadExt;
    match mode {
        Mode::Forward(backend) => {
            if let Ok(mut upstream) = TcpStream::connect(backend).await {
                let _ = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
            }
        }
        Mode::Refuse => {}
        Mode::Hang => {
            let mut sink = [0u8; 4096];
            while let Ok(n) = socket.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
            std::future::pending::<()>().await;
        }
        Mode::Reset => {
            let mut buf = [0u8; 64];
            let _ = socket.read(&mut buf).await;
            let _ = socket.set_zero_linger();
            drop(socket);
        }
        Mode::Tls(config, backend) => {
            let Ok(mut tls) = TlsAcceptor::from(config).accept(socket).await else {
                return;
            };
            if let Ok(mut upstream) = TcpStream::connect(backend).await {
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            }
        }
    }
}

/// A throwaway certificate authority.
pub struct Pki {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Pki {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        Self {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server configuration (ring) presenting a certificate for `names` (DNS names or IP
    /// addresses) signed by this CA, offering `alpn` protocols.
    pub fn server_config(&self, names: &[&str], alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.der().clone()], key_der)
                .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}
