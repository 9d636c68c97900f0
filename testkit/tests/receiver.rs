//! The fault receiver on its own: what it records and how it answers, driven by hand-built
//! OTLP requests over HTTP (protobuf, JSON, gzip) and gRPC, so that a case's verdict can be
//! trusted to describe the emitter and not the receiver.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::time::Duration;

use heartbeat_testkit::{
    Fault, Outage, Probe, Receiver, ReceiverOptions, Replied, Rule, Transport, total,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message;

const LIMIT: Duration = Duration::from_secs(10);

/// An OTLP/JSON request: one cumulative point of `heartbeat.outcomes` with value `value`.
fn json(value: u64) -> String {
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"receiver-test"}}}}]}},
        "scopeMetrics":[{{"scope":{{"name":"heartbeat"}},"metrics":[{{"name":"heartbeat.outcomes","unit":"{{outcome}}",
        "sum":{{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{{
          "attributes":[{{"key":"heartbeat.outcome","value":{{"stringValue":"conformance.check"}}}},
                        {{"key":"heartbeat.result","value":{{"stringValue":"success"}}}}],
          "startTimeUnixNano":"1763700000000000000","timeUnixNano":"{}","asInt":"{value}"}}]}}}}]}}]}}]}}"#,
        1_763_700_060_000_000_000u64 + value
    )
}

fn request(value: u64) -> ExportMetricsServiceRequest {
    serde_json::from_str(&json(value)).unwrap()
}

async fn post(rx: &Receiver, content_type: &str, gzip: bool, body: Vec<u8>) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .post(format!("{}/v1/metrics", rx.endpoint()))
        .header("content-type", content_type)
        .timeout(LIMIT);
    let body = if gzip {
        r = r.header("content-encoding", "gzip");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&body).unwrap();
        enc.finish().unwrap()
    } else {
        body
    };
    r.body(body).send().await.unwrap()
}

const SUCCESS: [(&str, &str); 2] = [
    ("heartbeat.outcome", "conformance.check"),
    ("heartbeat.result", "success"),
];

#[tokio::test]
async fn protobuf_json_and_gzip_bodies_are_recorded_decoded_and_accepted() {
    let rx = Receiver::start(ReceiverOptions::default()).await.unwrap();
    let a = post(
        &rx,
        "application/x-protobuf",
        false,
        request(1).encode_to_vec(),
    )
    .await;
    let b = post(&rx, "application/json", false, json(2).into_bytes()).await;
    let c = post(
        &rx,
        "application/x-protobuf",
        true,
        request(3).encode_to_vec(),
    )
    .await;
    assert_eq!(
        (
            a.status().as_u16(),
            b.status().as_u16(),
            c.status().as_u16()
        ),
        (200, 200, 200)
    );
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    assert!(
        reqs.iter()
            .all(|r| r.request.is_some() && r.problem.is_none())
    );
    assert!(
        reqs.iter()
            .all(|r| r.path == "/v1/metrics" && r.transport == Transport::Http)
    );
    assert!(reqs[1].json.is_some() && reqs[0].json.is_none());
    assert!(!reqs[0].compressed && reqs[2].compressed);
    assert_eq!(reqs[2].header("content-encoding"), Some("gzip"));
    // Cumulative: the latest point of the series counts.
    assert_eq!(
        total(
            &heartbeat_testkit::points(&reqs),
            "heartbeat.outcomes",
            &SUCCESS,
            &[]
        ),
        3
    );
}

#[tokio::test]
async fn an_undecodable_body_is_answered_400_and_recorded_with_the_problem() {
    let rx = Receiver::start(ReceiverOptions::default()).await.unwrap();
    let r = post(
        &rx,
        "application/x-protobuf",
        false,
        b"\xff\xff not protobuf".to_vec(),
    )
    .await;
    assert_eq!(r.status(), 400);
    let rec = &rx.requests()[0];
    assert_eq!(rec.reply, Replied::Status(400));
    assert!(
        rec.problem.as_deref().unwrap().contains("invalid protobuf"),
        "{:?}",
        rec.problem
    );
}

#[tokio::test]
async fn a_scripted_status_answers_once_with_retry_after_then_the_receiver_accepts_again() {
    let rx = Receiver::start(ReceiverOptions::default()).await.unwrap();
    rx.push(Rule {
        when: Probe::Any,
        fault: Fault::Http {
            status: 503,
            retry_after: Some("2".to_owned()),
        },
        times: 1,
    });
    let first = post(
        &rx,
        "application/x-protobuf",
        false,
        request(1).encode_to_vec(),
    )
    .await;
    assert_eq!(first.status(), 503);
    assert_eq!(first.headers()["retry-after"], "2");
    assert_eq!(
        first.headers()["access-control-expose-headers"],
        "Retry-After"
    );
    let second = post(
        &rx,
        "application/x-protobuf",
        false,
        request(1).encode_to_vec(),
    )
    .await;
    assert_eq!(second.status(), 200);
    let reqs = rx.requests();
    assert_eq!(reqs[0].reply, Replied::Status(503));
    assert!(!reqs[0].accepted() && reqs[1].accepted());
    // Refused data is never counted.
    assert_eq!(
        total(
            &heartbeat_testkit::points(&reqs[..1]),
            "heartbeat.outcomes",
            &SUCCESS,
            &[]
        ),
        0
    );
}

#[tokio::test]
async fn a_probe_refuses_only_the_request_carrying_the_data() {
    let rx = Receiver::start(ReceiverOptions::default()).await.unwrap();
    rx.push(Rule {
        when: Probe::Carrying {
            metric: "heartbeat.outcomes".to_owned(),
            attributes: SUCCESS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            at_least: 5,
        },
        fault: Fault::PartialSuccess { rejected: 1 },
        times: 1,
    });
    assert_eq!(
        post(&rx, "application/json", false, json(4).into_bytes())
            .await
            .status(),
        200
    );
    let partial = post(&rx, "application/json", false, json(5).into_bytes()).await;
    assert_eq!(partial.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&partial.bytes().await.unwrap()).unwrap();
    assert_eq!(body["partialSuccess"]["rejectedDataPoints"], "1");
    let replies: Vec<Replied> = rx.requests().iter().map(|r| r.reply.clone()).collect();
    assert_eq!(replies, vec![Replied::Ok, Replied::PartialSuccess(1)]);
    assert_eq!(rx.rules_left(), 0);
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_answered_413() {
    let rx = Receiver::start(ReceiverOptions {
        max_body: Some(64),
        ..ReceiverOptions::default()
    })
    .await
    .unwrap();
    let r = post(&rx, "application/json", false, json(1).into_bytes()).await;
    assert_eq!(r.status(), 413);
    assert_eq!(rx.requests()[0].reply, Replied::Status(413));
}

#[tokio::test]
async fn a_refused_outage_closes_the_port_and_healing_opens_it_again() {
    let rx = Receiver::start(ReceiverOptions::default()).await.unwrap();
    rx.set_outage(Outage::Refuse);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = reqwest::Client::new()
        .post(format!("{}/v1/metrics", rx.endpoint()))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.unwrap_err().is_connect());
    rx.set_outage(Outage::None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ok = post(
        &rx,
        "application/x-protobuf",
        false,
        request(1).encode_to_vec(),
    )
    .await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_hung_collector_never_answers() {
    let rx = Receiver::start(ReceiverOptions::default()).await.unwrap();
    rx.set_outage(Outage::Hang);
    let hung = reqwest::Client::new()
        .post(format!("{}/v1/metrics", rx.endpoint()))
        .header("content-type", "application/x-protobuf")
        .body(request(1).encode_to_vec())
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());
    assert_eq!(rx.requests()[0].reply, Replied::Unanswered);
}

#[tokio::test]
async fn grpc_calls_are_recorded_and_a_retry_info_travels_in_the_status_details() {
    let rx = Receiver::start(ReceiverOptions::default()).await.unwrap();
    let mut client = MetricsServiceClient::connect(rx.endpoint()).await.unwrap();
    client.export(request(1)).await.unwrap();
    rx.push(Rule {
        when: Probe::Any,
        fault: Fault::Grpc {
            code: 14,
            retry_delay: Some(Duration::from_millis(1500)),
        },
        times: 1,
    });
    let status = client.export(request(2)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    use tonic_types::StatusExt;
    let delay = status.get_details_retry_info().and_then(|r| r.retry_delay);
    assert_eq!(delay, Some(Duration::from_millis(1500)));
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.transport == Transport::Grpc));
    assert_eq!(
        reqs[0].path,
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
    );
    assert_eq!(reqs[1].reply, Replied::Grpc(14));
}

#[tokio::test]
async fn forwarding_one_in_n_drops_the_others_silently() {
    let upstream = Receiver::start(ReceiverOptions::default()).await.unwrap();
    let rx = Receiver::start(ReceiverOptions::default()).await.unwrap();
    rx.forward(Some(format!("{}/v1/metrics", upstream.endpoint())), 3);
    for v in 1..=6 {
        let r = post(&rx, "application/json", false, json(v).into_bytes()).await;
        assert_eq!(r.status(), 200);
    }
    assert!(upstream.wait_for(LIMIT, |reqs| reqs.len() >= 2).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Requests 1 and 4 (one in three) went on, as protobuf.
    let forwarded = upstream.requests();
    assert_eq!(forwarded.len(), 2);
    assert!(
        forwarded
            .iter()
            .all(|r| r.header("content-type") == Some("application/x-protobuf"))
    );
    assert_eq!(
        total(
            &heartbeat_testkit::points(&forwarded),
            "heartbeat.outcomes",
            &SUCCESS,
            &[]
        ),
        4
    );
}
