//! Receiver: what the watch (`heartbeat-watch`) must accept, checked with hand-built bodies,
//! whatever the target (HB-090, HB-091).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use heartbeat_watch::{Database, RuleFile, Watch};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;

use crate::ctx::Ctx;
use crate::spec::Verdict;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// An OTLP/JSON request with one counter point; `ints` writes the 64-bit integers either as
/// strings or as numbers; an unknown field is added at every level.
fn json_body(service: &str, value: u64, strings: bool) -> String {
    let now = now_ns();
    let start = now - 60_000_000_000;
    let int = |v: u64| {
        if strings {
            format!("\"{v}\"")
        } else {
            v.to_string()
        }
    };
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[
            {{"key":"service.name","value":{{"stringValue":"{service}"}}}},
            {{"key":"service.instance.id","value":{{"stringValue":"0123456789abcdef0123456789abcdef"}}}}]}},
          "futureResourceField":true,
          "scopeMetrics":[{{"scope":{{"name":"heartbeat","version":"0.1.0"}},"metrics":[{{
            "name":"heartbeat.outcomes","unit":"{{outcome}}","futureMetricField":{{"x":1}},
            "sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{{
              "attributes":[{{"key":"heartbeat.outcome","value":{{"stringValue":"conformance.check"}}}},
                            {{"key":"heartbeat.result","value":{{"stringValue":"success"}}}}],
              "startTimeUnixNano":{},"timeUnixNano":{},"asInt":{},"futurePointField":"y"}}]}}}}]}}]}}]}}"#,
        int(start),
        int(now),
        int(value)
    )
}

async fn watch() -> Result<Watch, String> {
    let rules: RuleFile = "".parse().map_err(|e| format!("{e}"))?;
    Watch::builder(rules)
        .with_database(Database::InMemory)
        .with_listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .with_grpc_listen(None)
        .with_auto_tick(false)
        .start()
        .await
        .map_err(|e| e.to_string())
}

async fn post(watch: &Watch, content_type: &str, gzip: bool, body: Vec<u8>) -> Result<u16, String> {
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("http://{}/v1/metrics", watch.http_addr()))
        .header("content-type", content_type)
        .timeout(Duration::from_secs(10));
    let body = if gzip {
        request = request.header("content-encoding", "gzip");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&body).map_err(|e| e.to_string())?;
        enc.finish().map_err(|e| e.to_string())?
    } else {
        body
    };
    let response = request.body(body).send().await.map_err(|e| e.to_string())?;
    Ok(response.status().as_u16())
}

pub(crate) async fn json_integers(_ctx: Arc<Ctx>) -> Verdict {
    let watch = match watch().await {
        Ok(w) => w,
        Err(e) => return Verdict::fail(format!("cannot start the watch: {e}")),
    };
    let mut seen = Vec::new();
    for (strings, what) in [(true, "strings"), (false, "numbers")] {
        let before = watch.points();
        let body = json_body("conformance-receiver", 5, strings).into_bytes();
        match post(&watch, "application/json", false, body).await {
            Ok(200) => {}
            Ok(status) => {
                watch.shutdown().await;
                return Verdict::fail(format!("64-bit integers as {what}: answered {status}"));
            }
            Err(e) => {
                watch.shutdown().await;
                return Verdict::fail(format!("64-bit integers as {what}: {e}"));
            }
        }
        let after = watch.points();
        if after.0 != before.0 + 1 || after.1 != before.1 {
            watch.shutdown().await;
            return Verdict::fail(format!(
                "64-bit integers as {what}: {} accepted, {} rejected",
                after.0 - before.0,
                after.1 - before.1
            ));
        }
        seen.push(what);
    }
    watch.shutdown().await;
    Verdict::pass(format!(
        "points accepted with 64-bit integers as {} and unknown fields at every level",
        seen.join(" and as ")
    ))
}

pub(crate) async fn gzip_bodies(_ctx: Arc<Ctx>) -> Verdict {
    let watch = match watch().await {
        Ok(w) => w,
        Err(e) => return Verdict::fail(format!("cannot start the watch: {e}")),
    };
    let json = json_body("conformance-receiver-gzip", 3, true);
    let protobuf = match serde_json::from_str::<ExportMetricsServiceRequest>(&json) {
        Ok(r) => r.encode_to_vec(),
        Err(e) => {
            watch.shutdown().await;
            return Verdict::fail(format!("cannot build the protobuf body: {e}"));
        }
    };
    let mut seen = Vec::new();
    for (content_type, body) in [
        ("application/x-protobuf", protobuf),
        ("application/json", json.into_bytes()),
    ] {
        let before = watch.points().0;
        let status = post(&watch, content_type, true, body).await;
        let accepted = watch.points().0 - before;
        if status != Ok(200) || accepted != 1 {
            watch.shutdown().await;
            return Verdict::fail(format!(
                "gzip {content_type}: answered {status:?}, {accepted} points accepted"
            ));
        }
        seen.push(content_type);
    }
    watch.shutdown().await;
    Verdict::pass(format!("gzip bodies accepted: {}", seen.join(", ")))
}
