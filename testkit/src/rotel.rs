//! [`Rotel`]: the real `rotel-agent` OpenTelemetry collector as a child process.

use std::ffi::OsString;
use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::{BoxError, HarnessError, Receiver, Sink};

/// The environment variable holding the path of the `rotel-agent` binary.
pub const ROTEL_ENV: &str = "HEARTBEAT_ROTEL";

/// How long rotel may take to open its receiver ports.
const READY_LIMIT: Duration = Duration::from_secs(30);

/// How many times to retry when a picked port was taken before rotel could bind it.
const START_ATTEMPTS: u32 = 3;

/// The `rotel-agent` binary from [`ROTEL_ENV`], or `None` after printing a skip notice for `test`.
///
/// Tests that need the collector start with
/// `let Some(bin) = rotel_or_skip("name") else { return Ok(()) };`.
/// `scripts/test.sh` always sets the variable, so the suite never skips there.
///
/// # Panics
/// When the variable is missing and `CI` is `true`: in CI a skipped collector test is a failure.
pub fn rotel_or_skip(test: &str) -> Option<PathBuf> {
    match std::env::var_os(ROTEL_ENV) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ if std::env::var_os("CI").is_some_and(|v| v == "true") => {
            #[allow(clippy::panic)]
            {
                panic!("{test}: {ROTEL_ENV} is not set, and CI=true does not allow a skip");
            }
        }
        _ => {
            eprintln!(
                "SKIPPED {test}: {ROTEL_ENV} is not set; run ./scripts/test.sh, which installs \
                 rotel into .venv and sets it"
            );
            None
        }
    }
}

/// Options for starting [`Rotel`].
#[derive(Clone, Debug)]
pub struct RotelBuilder {
    binary: PathBuf,
    extra_args: Vec<OsString>,
    ports: Option<[SocketAddr; 2]>,
}

impl RotelBuilder {
    /// Appends a raw `rotel-agent start` argument. rotel refuses a flag given twice, so add only
    /// flags the harness does not set (it sets the receiver and exporter endpoints, the exporter
    /// type and protocol, `--batch-timeout`, the retry backoffs, `--pid-file` and `--log-file`).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Listens on these gRPC and HTTP addresses instead of free ports, e.g. those of an earlier
    /// rotel ([`Rotel::grpc_addr`], [`Rotel::http_addr`]) to restart a collector in place.
    pub fn ports(mut self, grpc: SocketAddr, http: SocketAddr) -> Self {
        self.ports = Some([grpc, http]);
        self
    }

    /// Starts rotel exporting to `to` and waits until both receivers accept connections.
    ///
    /// # Errors
    /// If the binary cannot be spawned, or rotel exits or does not open its ports within 30 s;
    /// the error carries rotel's output.
    pub async fn start(self, to: &(impl ExportTo + ?Sized)) -> Result<Rotel, BoxError> {
        let endpoint = to.export_endpoint();
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match self.try_start(&endpoint).await? {
                Ok(rotel) => return Ok(rotel),
                // The process exited before it was ready: most likely a port race; try new ports.
                Err(exited) => last_error = Some(exited),
            }
        }
        Err(Box::new(last_error.unwrap_or_else(|| {
            HarnessError("rotel was never started".to_owned())
        })))
    }

    /// `Ok(Err(_))` when rotel exited before it was ready (retryable), `Err(_)` otherwise.
    async fn try_start(&self, endpoint: &str) -> Result<Result<Rotel, HarnessError>, BoxError> {
        let [grpc, http] = match self.ports {
            Some(ports) => ports,
            None => free_ports()?,
        };
        let dir = scratch_dir()?;
        let log_path = dir.join("rotel.out");
        let log = File::create(&log_path)?;

        let mut command = Command::new(&self.binary);
        command
            .arg("start")
            .arg("--otlp-grpc-endpoint")
            .arg(grpc.to_string())
            .arg("--otlp-http-endpoint")
            .arg(http.to_string())
            .args(["--exporter", "otlp", "--otlp-exporter-protocol", "http"])
            .arg("--otlp-exporter-endpoint")
            .arg(endpoint)
            // Flush batches quickly so data reaches the receiver within a fraction of a second.
            .args(["--batch-timeout", "100ms"])
            // Retry quickly after a scripted fault (rotel's default first backoff is 5 s).
            .args(["--otlp-exporter-retry-initial-backoff", "100ms"])
            .args(["--otlp-exporter-retry-max-backoff", "1s"])
            .arg("--pid-file")
            .arg(dir.join("rotel.pid"))
            .arg("--log-file")
            .arg(dir.join("rotel.log"))
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Only the flags above configure it, not a developer's environment.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ROTEL_") {
                command.env_remove(key);
            }
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(Box::new(HarnessError(format!(
                    "cannot start {} ({ROTEL_ENV}): {e}",
                    self.binary.display()
                ))));
            }
        };
        let mut rotel = Rotel {
            child,
            grpc,
            http,
            dir,
            log_path,
        };

        let deadline = tokio::time::Instant::now() + READY_LIMIT;
        loop {
            if let Some(status) = rotel.child.try_wait()? {
                return Ok(Err(HarnessError(format!(
                    "rotel exited with {status} before it was ready:\n{}",
                    rotel.output()
                ))));
            }
            if accepts(grpc).await && accepts(http).await {
                return Ok(Ok(rotel));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Box::new(HarnessError(format!(
                    "rotel did not open {grpc} and {http} within {READY_LIMIT:?}:\n{}",
                    rotel.output()
                ))));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// A running `rotel-agent` with an OTLP gRPC and an OTLP HTTP receiver on free `127.0.0.1`
/// ports, exporting OTLP/HTTP protobuf to a [`Sink`] or [`Receiver`] with a 100 ms batch timeout.
///
/// Facts about rotel 0.0.1-alpha10 that tests must not fight: its HTTP exporter always gzips
/// (`--otlp-exporter-compression none` has no effect), it retries a 503 after its own backoff
/// without honouring `Retry-After`, and its OTLP/JSON receiver drops `asInt` sent as a string,
/// so send it protobuf or gRPC only.
///
/// The process is killed and reaped on drop; if the test is panicking, rotel's output is printed
/// first.
pub struct Rotel {
    child: Child,
    grpc: SocketAddr,
    http: SocketAddr,
    dir: PathBuf,
    log_path: PathBuf,
}

impl Rotel {
    /// Options for a collector whose binary is `binary`.
    pub fn builder(binary: impl Into<PathBuf>) -> RotelBuilder {
        RotelBuilder {
            binary: binary.into(),
            extra_args: Vec::new(),
            ports: None,
        }
    }

    /// Starts rotel with the default options, exporting to `to`.
    ///
    /// # Errors
    /// See [`RotelBuilder::start`].
    pub async fn start(binary: &Path, to: &(impl ExportTo + ?Sized)) -> Result<Self, BoxError> {
        Self::builder(binary).start(to).await
    }

    /// The gRPC receiver, `http://127.0.0.1:PORT`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// The HTTP receiver base endpoint, `http://127.0.0.1:PORT`.
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http)
    }

    /// The HTTP receiver's metrics URL, `http://127.0.0.1:PORT/v1/metrics`.
    pub fn http_metrics_url(&self) -> String {
        format!("{}/v1/metrics", self.http_endpoint())
    }

    /// The gRPC receiver's address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
    }

    /// The HTTP receiver's address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything rotel printed so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_else(|e| format!("<no output: {e}>"))
    }

    /// Kills rotel and waits for it to exit (what drop does, made explicit).
    pub fn stop(self) {}
}

impl Drop for Rotel {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- rotel output ---\n{}\n--- end of rotel output ---",
                self.output()
            );
        }
        // Already exited is fine; otherwise SIGKILL, then reap so no zombie outlives the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Where rotel exports: an OTLP/HTTP base endpoint (`http://127.0.0.1:PORT`).
pub trait ExportTo {
    /// The base endpoint rotel's OTLP/HTTP exporter is given.
    fn export_endpoint(&self) -> String;
}

impl ExportTo for Sink {
    fn export_endpoint(&self) -> String {
        self.endpoint()
    }
}

impl ExportTo for Receiver {
    fn export_endpoint(&self) -> String {
        self.endpoint()
    }
}

impl ExportTo for str {
    fn export_endpoint(&self) -> String {
        self.to_owned()
    }
}

impl ExportTo for String {
    fn export_endpoint(&self) -> String {
        self.clone()
    }
}

/// Two distinct ports that were free a moment ago on 127.0.0.1 (rotel binds them itself;
/// `start` retries on a race).
fn free_ports() -> std::io::Result<[SocketAddr; 2]> {
    // Hold both listeners until both addresses are known, so the two ports differ.
    let a = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let b = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok([a.local_addr()?, b.local_addr()?])
}

/// A fresh, private directory for rotel's output, pid and log files.
fn scratch_dir() -> std::io::Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "heartbeat-testkit-rotel-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn accepts(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(addr)
        )
        .await,
        Ok(Ok(_))
    )
}
