//! Endpoints and ping URLs. Any string as the OTLP endpoint (in code or through the
//! environment, over either transport) or as a ping URL either is accepted or refused with an
//! error; nothing panics. URLs that carry a secret marker in their credentials, query or ping
//! path never show it, accepted (`Debug`) or refused (the error).
#![no_main]

use arbitrary::Arbitrary;
use heartbeat::{Heartbeat, PingConfig, Protocol};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "HbFuzzSecret";

#[derive(Arbitrary, Debug)]
struct Input {
    raw: String,
    grpc: bool,
    from_environment: bool,
    https: bool,
    user: String,
    host: String,
    port: Option<u16>,
    path: String,
    query: String,
}

/// Characters that stay inside one URL component.
fn component(s: &str, extra: &[char]) -> String {
    s.chars()
        .filter(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-') || extra.contains(c)
        })
        .collect::<String>()
        .replace(SECRET, "")
}

fn check_endpoint(url: &str, grpc: bool, from_environment: bool, secret: bool) {
    let protocol = if grpc {
        Protocol::Grpc
    } else {
        Protocol::HttpProtobuf
    };
    let builder = if from_environment {
        Heartbeat::builder().with_environment([("OTEL_EXPORTER_OTLP_ENDPOINT", url)])
    } else {
        Heartbeat::builder()
            .with_environment(Vec::<(String, String)>::new())
            .with_endpoint(url)
    }
    .with_protocol(protocol);
    let shown = format!("{builder:?}");
    assert!(!secret || !shown.contains(SECRET), "builder Debug: {shown}");
    match builder.build() {
        Ok((hb, _driver)) => {
            let shown = format!("{hb:?}");
            assert!(
                !secret || !shown.contains(SECRET),
                "Heartbeat Debug: {shown}"
            );
        }
        Err(e) => {
            let shown = format!("{e} {e:?}");
            assert!(!secret || !shown.contains(SECRET), "{url} -> {shown}");
        }
    }
}

fn check_ping(url: &str, secret: bool) {
    let ping = PingConfig::new(url).and_then(|p| p.with_stop_url(url));
    let shown = match &ping {
        Ok(p) => format!("{p:?}"),
        Err(e) => format!("{e} {e:?}"),
    };
    assert!(!secret || !shown.contains(SECRET), "{url} -> {shown}");
}

fuzz_target!(|input: Input| {
    check_endpoint(&input.raw, input.grpc, input.from_environment, false);
    check_ping(&input.raw, false);

    let scheme = if input.https { "https" } else { "http" };
    let user = component(&input.user, &[]);
    let host = component(&input.host, &[]);
    let port = input.port.map(|p| format!(":{p}")).unwrap_or_default();
    let path = component(&input.path, &['/', '@', ':']);
    let query = component(&input.query, &['=', '&', '/', '?']);
    let url = format!("{scheme}://{user}:{SECRET}@{host}{port}/{path}?{query}{SECRET}");
    check_endpoint(&url, input.grpc, input.from_environment, true);
    let ping = format!("{scheme}://{host}{port}/{path}{SECRET}/{path}?{query}");
    check_ping(&ping, true);
});
