//! The first hour's sharp edges (issue 15, item 7): errors printed by `main` read like their
//! message, and a flush or shutdown without a spawned driver fails at once.
#![cfg(feature = "http-proto")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use heartbeat::{ExportError, Heartbeat, InstallError};
use std::time::Duration;

fn unspawned() -> Heartbeat {
    let (hb, driver) = Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_service_name("first-hour")
        .with_endpoint("http://127.0.0.1:9")
        .with_export_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // Kept, never spawned: the mistake this test is about.
    std::mem::forget(driver);
    hb
}

// Paused time: the 30 s export timeout would be reached (virtually) long before 5 s of real
// waiting; the 1 s bound is virtual too, so nothing here depends on the machine's speed.
#[tokio::test(start_paused = true)]
async fn shutdown_without_a_spawned_driver_fails_at_once_not_after_the_export_timeout() {
    let hb = unspawned();
    let shutdown = tokio::time::timeout(Duration::from_secs(1), hb.shutdown()).await;
    assert_eq!(shutdown, Ok(Err(ExportError::DriverNotRunning)));
    let flush = tokio::time::timeout(Duration::from_secs(1), hb.flush()).await;
    assert_eq!(flush, Ok(Err(ExportError::DriverNotRunning)));
}

#[test]
fn errors_debug_like_their_display() {
    let err = Heartbeat::builder()
        .with_environment([("OTEL_EXPORTER_OTLP_TIMEOUT", "ten")])
        .build()
        .unwrap_err();
    assert_eq!(format!("{err:?}"), err.to_string());
    assert!(format!("{err:?}").starts_with("invalid value \"ten\" for OTEL_EXPORTER_OTLP_TIMEOUT"));
    // What `fn main() -> Result<(), InstallError>` prints outside a runtime.
    let err = Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .install()
        .unwrap_err();
    assert_eq!(err, InstallError::NoRuntime);
    assert_eq!(
        format!("Error: {err:?}"),
        "Error: install() must be called inside a tokio runtime; use build() and spawn the returned driver on your runtime instead"
    );
    assert_eq!(
        format!("{:?}", ExportError::DriverNotRunning),
        ExportError::DriverNotRunning.to_string()
    );
}
