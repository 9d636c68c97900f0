//! Errors of the export pipeline, one enum per operation.

use heartbeat_core::tenant_hash::TenantHashError;
use std::time::Duration;

/// `Debug` reads like `Display` for these types: it is what `fn main() -> Result<(), E>` and
/// `unwrap()` print, and the sentence is the useful form (it names the bad value and the fix).
macro_rules! debug_as_display {
    ($($t:ty),* $(,)?) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(self, f)
            }
        }
    )*};
}
pub(crate) use debug_as_display;

debug_as_display!(BuildError, InstallError, ExportError);

/// Why [`HeartbeatBuilder::build`](crate::HeartbeatBuilder::build) refused the configuration.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An environment variable has a value that cannot be used.
    #[error("invalid value {value:?} for {var}: expected {expected}")]
    InvalidEnv {
        /// The variable's name.
        var: &'static str,
        /// Its value (header values are masked).
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// A setting given in code cannot be used.
    #[error("invalid {setting} {value:?}: {problem}")]
    InvalidSetting {
        /// Which setting.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The chosen protocol's cargo feature is off.
    #[error(
        "OTLP protocol {protocol} is not compiled in: enable the `{feature}` feature of heartbeat"
    )]
    ProtocolNotEnabled {
        /// The protocol asked for.
        protocol: &'static str,
        /// The feature that provides it.
        feature: &'static str,
    },
    /// The CA certificate given in code, or named by a certificate variable, cannot be used.
    #[error("cannot use the CA certificate {}: {problem}", certificate_origin(*.var, .path.as_deref()))]
    InvalidCertificate {
        /// The variable that named the file (`None`: given in code).
        var: Option<&'static str>,
        /// The file's path, when it came from a variable.
        path: Option<String>,
        /// What is wrong with it.
        problem: String,
    },
    /// The tenant-hashing salt, given in code or by `HEARTBEAT_TENANT_HASH_SALT`, cannot be used.
    #[error("{error}{}", salt_origin(*.var))]
    InvalidTenantSalt {
        /// The variable that set it (`None`: given in code).
        var: Option<&'static str>,
        /// What is wrong with it (a long salt is not shown).
        error: TenantHashError,
    },
    /// The OTLP transport could not be built from its configuration (its TLS, or gzip without
    /// the `gzip` feature).
    #[error("the OTLP exporter could not be built: {0}")]
    Exporter(String),
}

fn certificate_origin(var: Option<&str>, path: Option<&str>) -> String {
    match (var, path) {
        (Some(var), Some(path)) => format!("file {path:?} named by {var}"),
        (Some(var), None) => format!("named by {var}"),
        (None, _) => "given to with_ca_certificate_pem".to_owned(),
    }
}

fn salt_origin(var: Option<&str>) -> String {
    var.map(|var| format!(" (set by {var})"))
        .unwrap_or_default()
}

/// Why [`HeartbeatBuilder::install`](crate::HeartbeatBuilder::install) failed.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The configuration was refused.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// There is no tokio runtime to spawn the export driver on.
    #[error(
        "install() must be called inside a tokio runtime; use build() and spawn the returned driver on your runtime instead"
    )]
    NoRuntime,
}

/// Why a flush or a shutdown did not complete.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The exporter reported a failure (after its retries).
    #[error("OTLP export failed: {0}")]
    Failed(String),
    /// The deadline passed first; the pipeline keeps the counts for the next export.
    #[error("OTLP export did not finish within {0:?}")]
    Timeout(Duration),
    /// The driver returned by `build()` was never spawned, or has stopped.
    #[error("the export driver is not running: spawn the driver that build() returned")]
    DriverNotRunning,
    /// The pipeline was shut down before.
    #[error("the pipeline is already shut down")]
    AlreadyShutdown,
}
