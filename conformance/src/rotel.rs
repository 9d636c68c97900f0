//! The real collector between an emitter and the receiver: `rotel-agent` (an OpenTelemetry
//! collector shipped in the `rotel` Python package), with its OTLP gRPC and HTTP receivers on
//! free ports and its OTLP/HTTP exporter pointed at the conformance receiver.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// How long rotel may take to open its ports.
const READY_LIMIT: Duration = Duration::from_secs(30);

/// A running rotel, killed when dropped.
#[derive(Debug)]
pub(crate) struct Rotel {
    child: Child,
    pub(crate) grpc: SocketAddr,
    pub(crate) http: SocketAddr,
    dir: PathBuf,
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Rotel {
    /// Starts rotel exporting to `export_to` (a base URL), retrying on a port race.
    pub(crate) async fn start(binary: &Path, export_to: &str) -> Result<Self, String> {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(binary, export_to).await? {
                Ok(rotel) => return Ok(rotel),
                Err(exited) => last = exited,
            }
        }
        Err(last)
    }

    async fn try_start(binary: &Path, export_to: &str) -> Result<Result<Self, String>, String> {
        let grpc = free_port().await?;
        let http = free_port().await?;
        let dir = std::env::temp_dir().join(format!(
            "heartbeat-conformance-rotel-{}-{}",
            std::process::id(),
            http.port()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut command = Command::new(binary);
        command
            .arg("start")
            .args(["--otlp-grpc-endpoint", &grpc.to_string()])
            .args(["--otlp-http-endpoint", &http.to_string()])
            .args(["--exporter", "otlp", "--otlp-exporter-protocol", "http"])
            .args(["--otlp-exporter-endpoint", export_to])
            .args(["--batch-timeout", "100ms"])
            .arg("--pid-file")
            .arg(dir.join("rotel.pid"))
            .arg("--log-file")
            .arg(dir.join("rotel.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ROTEL_") {
                command.env_remove(key);
            }
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut rotel = Rotel {
            child,
            grpc,
            http,
            dir,
        };
        let deadline = tokio::time::Instant::now() + READY_LIMIT;
        loop {
            if let Ok(Some(status)) = rotel.child.try_wait() {
                return Ok(Err(format!(
                    "rotel exited with {status} before it was ready"
                )));
            }
            if accepts(grpc).await && accepts(http).await {
                return Ok(Ok(rotel));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "rotel did not open {grpc} and {http} within {READY_LIMIT:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn free_port() -> Result<SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map_err(|e| e.to_string())
}

async fn accepts(addr: SocketAddr) -> bool {
    tokio::net::TcpStream::connect(addr).await.is_ok()
}
