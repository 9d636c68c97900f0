//! Errors of the dead-man emitter, one enum per operation.

use crate::export::error::{ExportError, debug_as_display};
use heartbeat_core::validate::Shown;
use std::time::Duration;

debug_as_display!(DeadmanError, InvalidPingUrl, InvalidCertificate, StopError);

/// Why [`DeadmanBuilder::start`](crate::DeadmanBuilder::start) refused to start an emitter.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeadmanError {
    /// The emitter name does not follow the instrument-name syntax.
    #[error(
        "invalid emitter name {}: {reason}; allowed: an ASCII letter, then up to 254 ASCII letters, digits, '_', '.', '-' or '/'",
        Shown(name)
    )]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A duration setting is out of range.
    #[error("invalid {setting} {value:?}: {problem}")]
    InvalidSetting {
        /// Which setting: `cadence`, `jitter`, `gate timeout`, `outcome window` or `ping timeout`.
        setting: &'static str,
        /// The value given.
        value: Duration,
        /// What is allowed.
        problem: &'static str,
    },
    /// An emitter of this name is running on the same pipeline.
    #[error(
        "a dead-man emitter named {name:?} is already running; stop it first, or give each emitter its own name"
    )]
    Duplicate {
        /// The name.
        name: String,
    },
    /// There is no tokio runtime to run the emitter on.
    #[error("start() must be called inside a tokio runtime")]
    NoRuntime,
}

/// A ping URL that cannot be used. The URL is shown without its path, query or credentials,
/// which is where channels keep their tokens.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ping URL {url:?}: {problem}")]
#[non_exhaustive]
pub struct InvalidPingUrl {
    /// The URL as given, redacted.
    pub url: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// A CA certificate for [`PingConfig::with_ca_certificate_pem`](crate::PingConfig::with_ca_certificate_pem)
/// that cannot be used.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CA certificate for pings: {problem}")]
#[non_exhaustive]
pub struct InvalidCertificate {
    /// What is wrong with it.
    pub problem: &'static str,
}

/// Why [`Deadman::stop`](crate::Deadman::stop) could not confirm the "stopped on purpose"
/// signal. The emitter is stopped either way.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StopError {
    /// The stop ping was not delivered (after its retries).
    #[error("the stop ping was not delivered: {reason}")]
    Ping {
        /// `timeout`, `dns`, `connect`, `tls`, `http_4xx`, `http_5xx` or `other`.
        reason: &'static str,
    },
    /// The export carrying the stopped status failed.
    #[error(transparent)]
    Export(#[from] ExportError),
}
