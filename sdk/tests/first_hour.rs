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

/// Every `tracing` event of target `heartbeat::export`, with its fields, as text.
#[derive(Default)]
struct Events(std::sync::Mutex<Vec<String>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl tracing::Subscriber for &'static Events {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target().starts_with("heartbeat")
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!(
            "{} {} ",
            event.metadata().level(),
            event.metadata().target()
        );
        event.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_failed_export_names_the_url_and_the_cause_and_is_a_tracing_event() {
    // The process-wide subscriber (the other tests of this binary run at the same time, on
    // other threads; their events are told apart by the port).
    let events: &'static Events = Box::leak(Box::default());
    tracing::subscriber::set_global_default(events).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt.block_on(async {
        let (hb, driver) = Heartbeat::builder()
            .with_environment(Vec::<(String, String)>::new())
            .with_service_name("first-hour")
            .with_endpoint(format!("http://user:pw@{closed}"))
            .with_retry(heartbeat::Retry::DISABLED)
            .build()
            .unwrap();
        tokio::spawn(driver);
        hb.flush().await.unwrap_err()
    });
    let url = format!("http://***@{closed}/v1/metrics");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("OTLP export failed: {url}: ")),
        "{shown}"
    );
    assert!(
        shown.len() > format!("OTLP export failed: {url}: ").len(),
        "a cause: {shown}"
    );
    assert!(!shown.contains("pw@"), "{shown}");
    let events = events.0.lock().unwrap();
    let failed: Vec<&String> = events
        .iter()
        .filter(|e| e.contains("OTLP export failed") && e.contains(&closed.to_string()))
        .collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert!(
        failed[0].starts_with("WARN heartbeat::export "),
        "{}",
        failed[0]
    );
    assert!(failed[0].contains(&format!("url={url}")), "{}", failed[0]);
    assert!(failed[0].contains("reason=\"connect\""), "{}", failed[0]);
    assert!(!failed[0].contains("pw@"), "{}", failed[0]);
}

// A collector that does not serve the path asked for (the case was a doubled
// `/v1/metrics`): the 404 says where the request went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_path_shows_in_the_error() {
    use heartbeat_testkit::{Receiver, ReceiverOptions};
    let receiver = Receiver::start(ReceiverOptions {
        otlp_paths_only: true,
        ..ReceiverOptions::default()
    })
    .await
    .unwrap();
    let (hb, driver) = Heartbeat::builder()
        .with_environment(Vec::<(String, String)>::new())
        .with_service_name("first-hour")
        .with_endpoint(format!("{}/otlp", receiver.endpoint()))
        .with_retry(heartbeat::Retry::DISABLED)
        .build()
        .unwrap();
    tokio::spawn(driver);
    let err = hb.flush().await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "OTLP export failed: {}/otlp: ",
            receiver.endpoint()
        )),
        "{err}"
    );
    assert!(err.contains("404"), "{err}");
}
