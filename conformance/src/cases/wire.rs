//! Wire: transports, paths, content types, OTLP/JSON, gzip, `OTEL_*` variables, a real
//! collector (HB-001 to HB-017).

use std::sync::Arc;
use std::time::Duration;

use super::scenarios::{Basic, Recording, basic, run};
use crate::ctx::{Ctx, OUTCOMES, REASON, Run, SUCCESS, ms, success_total};
use crate::spec::Verdict;
use crate::target::{Protocol, ResultKind};
use heartbeat_testkit as kit;
use heartbeat_testkit::Rotel;
use heartbeat_testkit::{GRPC_PATH, METRICS_PATH, Recorded, Transport};

fn media(r: &Recorded) -> String {
    r.header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn first_problem(requests: &[Arc<Recorded>]) -> Option<String> {
    requests.iter().find_map(|r| {
        r.problem
            .as_ref()
            .map(|p| format!("request #{} ({} {}): {p}", r.seq, r.method, r.path))
    })
}

pub(crate) async fn transport(ctx: Arc<Ctx>) -> Verdict {
    let protocol = ctx.info.primary();
    let b = run!(basic(&ctx, protocol).await);
    let reqs = &b.recording.requests;
    if reqs.is_empty() {
        return Verdict::fail(format!("nothing arrived over {protocol}"));
    }
    if let Some(p) = first_problem(reqs) {
        return Verdict::fail(p);
    }
    if b.recording.points.is_empty() {
        return Verdict::fail(format!(
            "{} requests over {protocol}, none with a data point",
            reqs.len()
        ));
    }
    Verdict::pass(format!(
        "{} requests over {protocol}, all decoded, {} points",
        reqs.len(),
        b.recording.points.len()
    ))
}

pub(crate) async fn offers_protobuf(ctx: Arc<Ctx>) -> Verdict {
    if !ctx.info.protocols.contains(&Protocol::HttpProtobuf) {
        return Verdict::fail(format!(
            "offers {}, not http/protobuf",
            protocols(&ctx.info.protocols)
        ));
    }
    let b = run!(basic(&ctx, Protocol::HttpProtobuf).await);
    match first_problem(&b.recording.requests) {
        Some(p) => Verdict::fail(p),
        None if b.recording.requests.is_empty() => {
            Verdict::fail("nothing arrived over http/protobuf")
        }
        None => Verdict::pass(format!(
            "{} requests over http/protobuf",
            b.recording.requests.len()
        )),
    }
}

fn protocols(list: &[Protocol]) -> String {
    list.iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) async fn http_path(ctx: Arc<Ctx>) -> Verdict {
    let mut seen = Vec::new();
    for protocol in ctx.info.protocols.iter().copied().filter(|p| p.is_http()) {
        let b = run!(basic(&ctx, protocol).await);
        let reqs = &b.recording.requests;
        if reqs.is_empty() {
            return Verdict::fail(format!("nothing arrived over {protocol}"));
        }
        if let Some(r) = reqs
            .iter()
            .find(|r| r.method != "POST" || r.path != METRICS_PATH)
        {
            return Verdict::fail(format!(
                "{protocol}: request #{} is {} {}, not POST {METRICS_PATH}",
                r.seq, r.method, r.path
            ));
        }
        seen.push(format!("{protocol}: {} requests", reqs.len()));
    }
    Verdict::pass(format!("POST {METRICS_PATH} ({})", seen.join("; ")))
}

pub(crate) async fn protobuf_content(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, Protocol::HttpProtobuf).await);
    let reqs = &b.recording.requests;
    if let Some(r) = reqs.iter().find(|r| media(r) != "application/x-protobuf") {
        return Verdict::fail(format!(
            "request #{} has Content-Type {:?}",
            r.seq,
            r.header("content-type").unwrap_or("(none)")
        ));
    }
    if let Some(p) = first_problem(reqs) {
        return Verdict::fail(p);
    }
    Verdict::when(
        !reqs.is_empty(),
        format!("{} requests, application/x-protobuf, decoded", reqs.len()),
    )
}

/// Object keys that are not lowerCamelCase, and enum fields that are not integers.
fn json_shape_problems(value: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let camel = k.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && k.chars().all(|c| c.is_ascii_alphanumeric());
                if !camel {
                    out.push(format!("key {path}.{k} is not lowerCamelCase"));
                }
                if k == "aggregationTemporality" && !v.is_i64() && !v.is_u64() {
                    out.push(format!("{path}.{k} is {v}, not an integer"));
                }
                json_shape_problems(v, &format!("{path}.{k}"), out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                json_shape_problems(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

const INT64_FIELDS: [&str; 4] = [
    "timeUnixNano",
    "startTimeUnixNano",
    "asInt",
    "observedTimeUnixNano",
];

/// Every 64-bit integer field: (path, value).
fn int64_fields(value: &serde_json::Value, path: &str, out: &mut Vec<(String, serde_json::Value)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{path}.{k}");
                if INT64_FIELDS.contains(&k.as_str()) {
                    out.push((here.clone(), v.clone()));
                }
                int64_fields(v, &here, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                int64_fields(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn json_bodies(b: &Basic) -> Result<Vec<(usize, &serde_json::Value)>, Verdict> {
    let reqs = &b.recording.requests;
    if reqs.is_empty() {
        return Err(Verdict::fail("nothing arrived over http/json"));
    }
    let mut out = Vec::new();
    for r in reqs {
        match &r.json {
            Some(v) => out.push((r.seq, v)),
            None => {
                return Err(Verdict::fail(format!(
                    "request #{} is not JSON (Content-Type {:?}): {}",
                    r.seq,
                    r.header("content-type").unwrap_or("(none)"),
                    r.problem.as_deref().unwrap_or("")
                )));
            }
        }
    }
    Ok(out)
}

pub(crate) async fn json_shape(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, Protocol::HttpJson).await);
    let bodies = match json_bodies(&b) {
        Ok(v) => v,
        Err(v) => return v,
    };
    if let Some(r) = b
        .recording
        .requests
        .iter()
        .find(|r| media(r) != "application/json")
    {
        return Verdict::fail(format!(
            "request #{} has Content-Type {:?}",
            r.seq,
            r.header("content-type").unwrap_or("(none)")
        ));
    }
    for (seq, body) in &bodies {
        let mut problems = Vec::new();
        json_shape_problems(body, "", &mut problems);
        if let Some(p) = problems.first() {
            return Verdict::fail(format!("request #{seq}: {p} ({} problems)", problems.len()));
        }
    }
    if let Some(p) = first_problem(&b.recording.requests) {
        return Verdict::fail(p);
    }
    Verdict::pass(format!(
        "{} bodies: application/json, lowerCamelCase keys, integer enums, decoded",
        bodies.len()
    ))
}

fn integer_text(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) async fn json_integers(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, Protocol::HttpJson).await);
    let bodies = match json_bodies(&b) {
        Ok(v) => v,
        Err(v) => return v,
    };
    let (mut strings, mut numbers) = (0, 0);
    for (seq, body) in bodies {
        let mut fields = Vec::new();
        int64_fields(body, "", &mut fields);
        for (path, v) in fields {
            match &v {
                serde_json::Value::String(s) if integer_text(s) => strings += 1,
                serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => numbers += 1,
                other => {
                    return Verdict::fail(format!(
                        "request #{seq}: {path} is {other}, neither a decimal string nor an integer"
                    ));
                }
            }
        }
    }
    Verdict::when(
        strings + numbers > 0,
        format!("{strings} as decimal strings, {numbers} as integer numbers"),
    )
}

pub(crate) async fn json_integer_strings(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, Protocol::HttpJson).await);
    let bodies = match json_bodies(&b) {
        Ok(v) => v,
        Err(v) => return v,
    };
    let (mut strings, mut others) = (0, Vec::new());
    for (seq, body) in bodies {
        let mut fields = Vec::new();
        int64_fields(body, "", &mut fields);
        for (path, v) in fields {
            if v.is_string() {
                strings += 1;
            } else if others.len() < 3 {
                others.push(format!("#{seq} {path} = {v}"));
            }
        }
    }
    if others.is_empty() {
        Verdict::when(
            strings > 0,
            format!("{strings} fields, all decimal strings"),
        )
    } else {
        Verdict::fail(format!("not strings: {}", others.join("; ")))
    }
}

pub(crate) async fn grpc_call(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, Protocol::Grpc).await);
    let reqs = &b.recording.requests;
    if reqs.is_empty() {
        return Verdict::fail("nothing arrived over grpc");
    }
    if let Some(r) = reqs.iter().find(|r| {
        r.transport != Transport::Grpc
            || r.method != "POST"
            || r.path != GRPC_PATH
            || !media(r).starts_with("application/grpc")
    }) {
        return Verdict::fail(format!(
            "request #{} is {} {} with content-type {:?}",
            r.seq,
            r.method,
            r.path,
            r.header("content-type").unwrap_or("(none)")
        ));
    }
    match first_problem(reqs) {
        Some(p) => Verdict::fail(p),
        None => Verdict::pass(format!("{} unary calls to {GRPC_PATH}", reqs.len())),
    }
}

/// A request whose compression and label disagree.
fn mislabelled(r: &Recorded) -> Option<String> {
    match r.transport {
        Transport::Http => {
            let labelled = r
                .header("content-encoding")
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("gzip"));
            if r.compressed && !labelled {
                Some(format!(
                    "request #{} is gzip without Content-Encoding: gzip",
                    r.seq
                ))
            } else if labelled && r.problem.as_deref().is_some_and(|p| p.contains("gzip")) {
                Some(format!(
                    "request #{}: {}",
                    r.seq,
                    r.problem.as_deref().unwrap_or("")
                ))
            } else {
                None
            }
        }
        Transport::Grpc => {
            let labelled = r
                .header("grpc-encoding")
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("gzip"));
            (r.compressed && !labelled).then(|| {
                format!(
                    "call #{} sends a compressed message with grpc-encoding {:?}",
                    r.seq,
                    r.header("grpc-encoding")
                )
            })
        }
    }
}

pub(crate) async fn compression_labelled(ctx: Arc<Ctx>) -> Verdict {
    let mut all: Vec<Arc<Recorded>> = Vec::new();
    for protocol in ctx.info.protocols.clone() {
        let b = run!(basic(&ctx, protocol).await);
        all.extend(b.recording.requests.iter().cloned());
    }
    if ctx.info.gzip {
        let g = run!(gzip_run(&ctx).await);
        all.extend(g.requests.iter().cloned());
    }
    if let Some(problem) = all.iter().find_map(|r| mislabelled(r)) {
        return Verdict::fail(problem);
    }
    let compressed = all.iter().filter(|r| r.compressed).count();
    Verdict::pass(format!(
        "{} requests, {compressed} compressed, every one labelled as it is",
        all.len()
    ))
}

async fn gzip_run(ctx: &Ctx) -> Run<Arc<Recording>> {
    ctx.memo("gzip", async {
        let _slot = ctx.slot().await;
        let mut s = ctx
            .session("gzip", ctx.info.primary(), |c| c.gzip = true)
            .await?;
        s.declare().await?;
        s.successes(3).await?;
        s.flush().await?;
        s.wait_successes(3, Duration::from_secs(5)).await;
        s.shutdown().await?;
        Ok(Recording::new(s.rx.requests()))
    })
    .await
}

/// `OTEL_EXPORTER_OTLP_COMPRESSION=none`, set explicitly, over `protocol`.
async fn no_compression_run(ctx: &Ctx, protocol: Protocol) -> Run<Arc<Recording>> {
    ctx.memo(&format!("compression-none/{protocol}"), async {
        let _slot = ctx.slot().await;
        let mut s = ctx
            .session("compression-none", protocol, |c| {
                c.env = vec![(
                    "OTEL_EXPORTER_OTLP_COMPRESSION".to_owned(),
                    "none".to_owned(),
                )];
            })
            .await?;
        s.declare().await?;
        s.successes(1).await?;
        s.flush().await?;
        s.wait_successes(1, Duration::from_secs(5)).await;
        s.shutdown().await?;
        Ok(Recording::new(s.rx.requests()))
    })
    .await
}

pub(crate) async fn gzip(ctx: Arc<Ctx>) -> Verdict {
    if !ctx.info.gzip {
        return Verdict::fail("the emitter does not offer gzip compression");
    }
    for protocol in ctx.info.protocols.clone() {
        let none = match no_compression_run(&ctx, protocol).await {
            Ok(r) => r,
            Err(e) => {
                return Verdict::fail(format!(
                    "with OTEL_EXPORTER_OTLP_COMPRESSION=none over {protocol}: {e}"
                ));
            }
        };
        if let Some(r) = none.requests.iter().find(|r| r.compressed) {
            return Verdict::fail(format!(
                "with OTEL_EXPORTER_OTLP_COMPRESSION=none over {protocol} request #{} is compressed",
                r.seq
            ));
        }
        if success_total(&none.points) != 1 {
            return Verdict::fail(format!(
                "with OTEL_EXPORTER_OTLP_COMPRESSION=none over {protocol} nothing arrived"
            ));
        }
    }
    let g = run!(gzip_run(&ctx).await);
    let reqs = &g.requests;
    if let Some(r) = reqs.iter().find(|r| !r.compressed) {
        return Verdict::fail(format!(
            "configured with OTEL_EXPORTER_OTLP_COMPRESSION=gzip, request #{} is not compressed",
            r.seq
        ));
    }
    if let Some(p) = reqs
        .iter()
        .find_map(|r| mislabelled(r))
        .or_else(|| first_problem(reqs))
    {
        return Verdict::fail(p);
    }
    let total = success_total(&g.points);
    Verdict::when(
        total == 3,
        format!(
            "{} compressed requests over {}, totals {total}/3",
            reqs.len(),
            ctx.info.primary()
        ),
    )
}

/// Configured through the environment only: a base endpoint, a header, the service name and
/// resource attributes, the export interval.
struct EnvRun {
    protocol: Protocol,
    recording: Recording,
    idle: (Duration, Duration),
}

const ENV_HEADER: (&str, &str) = ("x-conformance-token", "from-the-environment");
const ENV_SERVICE: &str = "conformance-env-service";
const ENV_INTERVAL_MS: u64 = 300;

async fn env_run(ctx: &Ctx) -> Run<Arc<EnvRun>> {
    ctx.memo("env", async {
        let _slot = ctx.slot().await;
        // The last protocol offered: not the default, so that the variable must be read.
        let protocol = ctx
            .info
            .protocols
            .last()
            .copied()
            .unwrap_or(Protocol::HttpProtobuf);
        let mut s = ctx
            .session("env", protocol, |c| {
                c.export_interval = Duration::from_millis(ENV_INTERVAL_MS);
                c.env = vec![
                    (
                        "OTEL_EXPORTER_OTLP_HEADERS".to_owned(),
                        format!("{}={}", ENV_HEADER.0, ENV_HEADER.1),
                    ),
                    ("OTEL_SERVICE_NAME".to_owned(), ENV_SERVICE.to_owned()),
                    (
                        "OTEL_RESOURCE_ATTRIBUTES".to_owned(),
                        "deployment.environment=conformance,service.name=not-this-one".to_owned(),
                    ),
                ];
            })
            .await?;
        s.declare().await?;
        s.successes(1).await?;
        let from = s.rx.now() + Duration::from_millis(300);
        tokio::time::sleep(Duration::from_millis(2400)).await;
        let to = s.rx.now();
        s.shutdown().await?;
        Ok(EnvRun {
            protocol,
            recording: Recording::new(s.rx.requests()),
            idle: (from, to),
        })
    })
    .await
}

pub(crate) async fn env_endpoint(ctx: Arc<Ctx>) -> Verdict {
    let e = run!(env_run(&ctx).await);
    let reqs = &e.recording.requests;
    if reqs.is_empty() {
        return Verdict::fail(format!(
            "nothing arrived with OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_PROTOCOL={}",
            e.protocol
        ));
    }
    let want = if e.protocol.is_http() {
        Transport::Http
    } else {
        Transport::Grpc
    };
    if let Some(r) = reqs.iter().find(|r| r.transport != want) {
        return Verdict::fail(format!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={} but request #{} came over {:?}",
            e.protocol, r.seq, r.transport
        ));
    }
    if e.protocol.is_http()
        && let Some(r) = reqs.iter().find(|r| r.path != METRICS_PATH)
    {
        return Verdict::fail(format!(
            "OTEL_EXPORTER_OTLP_ENDPOINT is a base URL; request #{} went to {}",
            r.seq, r.path
        ));
    }
    if let Some(r) = reqs
        .iter()
        .find(|r| r.header(ENV_HEADER.0) != Some(ENV_HEADER.1))
    {
        return Verdict::fail(format!(
            "request #{} lacks the header {}: {} from OTEL_EXPORTER_OTLP_HEADERS",
            r.seq, ENV_HEADER.0, ENV_HEADER.1
        ));
    }
    Verdict::pass(format!(
        "{} requests over {} with the header from OTEL_EXPORTER_OTLP_HEADERS",
        reqs.len(),
        e.protocol
    ))
}

pub(crate) async fn env_signal_endpoint(ctx: Arc<Ctx>) -> Verdict {
    let r = run!(
        ctx.memo("env-signal", async {
            let _slot = ctx.slot().await;
            let protocol = ctx.info.http_protocol().unwrap_or(Protocol::Grpc);
            let mut s = ctx
                .session("env-signal", protocol, |c| {
                    let signal = if protocol.is_http() {
                        format!("{}/custom/v1/metrics", c.endpoint)
                    } else {
                        c.endpoint.clone()
                    };
                    c.env = vec![
                        // Nothing listens on the discard port.
                        (
                            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
                            "http://127.0.0.1:9".to_owned(),
                        ),
                        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT".to_owned(), signal),
                    ];
                })
                .await?;
            s.declare().await?;
            s.successes(2).await?;
            s.flush().await?;
            s.wait_successes(2, Duration::from_secs(5)).await;
            s.shutdown().await?;
            Ok((protocol, Recording::new(s.rx.requests())))
        })
        .await
    );
    let (protocol, recording) = &*r;
    let protocol = *protocol;
    let reqs = &recording.requests;
    if reqs.is_empty() {
        return Verdict::fail(
            "nothing arrived at OTEL_EXPORTER_OTLP_METRICS_ENDPOINT (the generic endpoint pointed elsewhere)",
        );
    }
    if protocol.is_http()
        && let Some(r) = reqs.iter().find(|r| r.path != "/custom/v1/metrics")
    {
        return Verdict::fail(format!(
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ends in /custom/v1/metrics; request #{} went to {}",
            r.seq, r.path
        ));
    }
    Verdict::pass(format!(
        "{} requests over {protocol} at the signal-specific endpoint",
        reqs.len()
    ))
}

pub(crate) async fn env_resource(ctx: Arc<Ctx>) -> Verdict {
    let e = run!(env_run(&ctx).await);
    let mut resources = 0;
    for r in &e.recording.requests {
        let Some(req) = &r.request else { continue };
        for rm in &req.resource_metrics {
            resources += 1;
            let attrs: Vec<_> = rm
                .resource
                .as_ref()
                .map(|x| x.attributes.clone())
                .unwrap_or_default();
            let get = |k: &str| {
                attrs
                    .iter()
                    .find(|kv| kv.key == k)
                    .map(|kv| kit::render(kv.value.as_ref()))
            };
            if get("service.name").as_deref() != Some(ENV_SERVICE) {
                return Verdict::fail(format!(
                    "request #{}: service.name is {:?}, OTEL_SERVICE_NAME is {ENV_SERVICE:?}",
                    r.seq,
                    get("service.name")
                ));
            }
            if get("deployment.environment").as_deref() != Some("conformance") {
                return Verdict::fail(format!(
                    "request #{}: deployment.environment from OTEL_RESOURCE_ATTRIBUTES is missing",
                    r.seq
                ));
            }
        }
    }
    Verdict::when(
        resources > 0,
        format!(
            "{resources} resources with service.name and deployment.environment from the environment"
        ),
    )
}

pub(crate) async fn env_interval(ctx: Arc<Ctx>) -> Verdict {
    let e = run!(env_run(&ctx).await);
    let (from, to) = e.idle;
    let times: Vec<Duration> = e
        .recording
        .requests
        .iter()
        .map(|r| r.at)
        .filter(|at| *at >= from && *at <= to)
        .collect();
    let mut gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    let Some(median) = gaps.get(gaps.len() / 2).copied() else {
        return Verdict::fail(format!(
            "{} exports in {} with OTEL_METRIC_EXPORT_INTERVAL={ENV_INTERVAL_MS}",
            times.len(),
            ms(to - from)
        ));
    };
    let want = Duration::from_millis(ENV_INTERVAL_MS);
    Verdict::when(
        median >= want / 2 && median <= want * 2 && times.len() >= 4,
        format!(
            "{} exports in {}, median gap {} (configured {ENV_INTERVAL_MS} ms)",
            times.len(),
            ms(to - from),
            ms(median)
        ),
    )
}

pub(crate) async fn service_name(ctx: Arc<Ctx>) -> Verdict {
    let b = run!(basic(&ctx, ctx.info.primary()).await);
    let mut n = 0;
    for r in &b.recording.requests {
        let Some(req) = &r.request else { continue };
        for rm in &req.resource_metrics {
            n += 1;
            let ok = rm.resource.as_ref().is_some_and(|res| {
                res.attributes.iter().any(|kv| {
                    kv.key == "service.name" && !kit::render(kv.value.as_ref()).is_empty()
                })
            });
            if !ok {
                return Verdict::fail(format!(
                    "request #{} has a resource without service.name",
                    r.seq
                ));
            }
        }
    }
    Verdict::when(n > 0, format!("{n} resources, each with service.name"))
}

pub(crate) async fn through_collector(ctx: Arc<Ctx>) -> Verdict {
    let Some(binary) = ctx.options.rotel_binary() else {
        return Verdict::skipped(
            "no rotel collector: set HEARTBEAT_ROTEL or --rotel to its binary (PyPI package `rotel`: pip install rotel, then .venv/lib/python3*/site-packages/rotel/rotel-agent)",
        );
    };
    let mut seen = Vec::new();
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        if !ctx.info.protocols.contains(&protocol) {
            continue;
        }
        let result = run!(
            ctx.memo(&format!("rotel/{protocol}"), async {
                let _slot = ctx.slot().await;
                let rx = heartbeat_testkit::Receiver::start(Default::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let rotel = Rotel::start(&binary, &rx.endpoint())
                    .await
                    .map_err(|e| e.to_string())?;
                let endpoint = match protocol {
                    Protocol::Grpc => rotel.grpc_endpoint(),
                    _ => rotel.http_endpoint(),
                };
                let config = crate::target::EmitterConfig::new("rotel", endpoint, protocol);
                let emitter = ctx.target.start(&config).await.map_err(|e| e.to_string())?;
                let mut s = crate::ctx::Session {
                    rx,
                    emitter,
                    config,
                };
                s.declare().await?;
                s.successes(7).await?;
                s.record(ResultKind::Failure, Some(REASON), None, 2).await?;
                s.flush().await?;
                s.wait_successes(7, Duration::from_secs(15)).await;
                s.shutdown().await?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                drop(rotel);
                Ok(Recording::new(s.rx.requests()))
            })
            .await
        );
        let ok = kit::total(&result.points, OUTCOMES, &SUCCESS, &["heartbeat.tenant"]);
        let failed = kit::total(
            &result.points,
            OUTCOMES,
            &[
                ("heartbeat.outcome", crate::ctx::OUTCOME),
                ("heartbeat.reason", REASON),
            ],
            &["heartbeat.tenant"],
        );
        if ok != 7 || failed != 2 {
            return Verdict::fail(format!(
                "through rotel over {protocol}: {ok}/7 successes and {failed}/2 failures arrived ({} requests from rotel)",
                result.requests.len()
            ));
        }
        seen.push(protocol.as_str());
    }
    Verdict::pass(format!(
        "exact totals behind rotel over {}",
        seen.join(" and ")
    ))
}

pub(crate) async fn offers_json(ctx: Arc<Ctx>) -> Verdict {
    if !ctx.info.protocols.contains(&Protocol::HttpJson) {
        return Verdict::na("http/json is not offered (MAY)");
    }
    let b = run!(basic(&ctx, Protocol::HttpJson).await);
    match first_problem(&b.recording.requests) {
        Some(p) => Verdict::fail(p),
        None if b.recording.requests.is_empty() => Verdict::fail("nothing arrived over http/json"),
        None => Verdict::pass(format!(
            "{} requests over http/json",
            b.recording.requests.len()
        )),
    }
}
