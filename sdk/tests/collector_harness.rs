//! Self-test of the integration-test harness (`tests/support`), without the heartbeat SDK:
//! hand-built OTLP requests go to the [`support::Sink`] directly and through the real `rotel-agent`
//! collector, and the sink must report exactly what was sent.

mod support;

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message;
use reqwest::StatusCode;
use support::otlp::{self, AggregationTemporality, ExportMetricsServiceRequest};
use support::{Reply, Rotel, Sink, TEST_LIMIT, TestResult, WAIT_LIMIT, bounded};

const METRIC: &str = "harness.outcomes";
const RESOURCE: &[(&str, &str)] = &[
    ("service.name", "harness"),
    ("deployment.environment", "test"),
];

/// Two series of a cumulative sum, reported twice: `ok` 7 then 10, `error` 2 then 3.
/// The current totals are therefore 10 (`ok`), 3 (`error`) and 13 (all).
fn cumulative_exports() -> [ExportMetricsServiceRequest; 2] {
    let start = otlp::now_unix_nanos();
    let report = |t: u64, ok: i64, error: i64| {
        otlp::sum_request(
            RESOURCE,
            METRIC,
            AggregationTemporality::Cumulative,
            vec![
                otlp::int_point(&[("outcome", "ok")], ok, start, t),
                otlp::int_point(&[("outcome", "error")], error, start, t),
            ],
        )
    };
    [report(start + 1_000, 7, 2), report(start + 2_000, 10, 3)]
}

fn delta_export(value: i64) -> ExportMetricsServiceRequest {
    let t = otlp::now_unix_nanos();
    otlp::sum_request(
        RESOURCE,
        METRIC,
        AggregationTemporality::Delta,
        vec![otlp::int_point(&[("outcome", "ok")], value, t, t + 1)],
    )
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// POSTs a protobuf body, gzip-compressed when asked, and returns the response.
async fn post_protobuf(
    url: &str,
    export: &ExportMetricsServiceRequest,
    compress: bool,
) -> Result<reqwest::Response, support::BoxError> {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-protobuf");
    let body = export.encode_to_vec();
    request = if compress {
        request
            .header("content-encoding", "gzip")
            .body(gzip(&body)?)
    } else {
        request.body(body)
    };
    Ok(request.send().await?)
}

fn assert_cumulative_totals(sink: &Sink) {
    assert_eq!(
        sink.sum_total(METRIC, &[("outcome", "ok")]),
        Some(10),
        "{}",
        sink.describe()
    );
    assert_eq!(
        sink.sum_total(METRIC, &[("outcome", "error")]),
        Some(3),
        "{}",
        sink.describe()
    );
    assert_eq!(sink.sum_total(METRIC, &[]), Some(13), "{}", sink.describe());
    assert_eq!(sink.sum_total(METRIC, &[("outcome", "timeout")]), None);
}

fn assert_resource_forwarded(sink: &Sink) {
    let resource = sink.last_resource_attributes().unwrap_or_default();
    assert_eq!(
        otlp::attr(&resource, "service.name").as_deref(),
        Some("harness")
    );
    assert_eq!(
        otlp::attr(&resource, "deployment.environment").as_deref(),
        Some("test")
    );
}

#[tokio::test]
async fn sink_decodes_protobuf_and_totals_the_latest_cumulative_point_per_series() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let exports = cumulative_exports();
        for export in &exports {
            let response = post_protobuf(&sink.metrics_url(), export, false).await?;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                response.headers().get("content-type").map(|v| v.as_bytes()),
                Some(&b"application/x-protobuf"[..])
            );
        }
        assert_eq!(sink.request_count(), 2);
        let first = &sink.requests()[0];
        assert_eq!(first.path, "/v1/metrics");
        assert_eq!(first.content_type(), Some("application/x-protobuf"));
        assert_eq!(first.decoded.as_ref().ok(), Some(&exports[0]));
        assert_cumulative_totals(&sink);
        assert_resource_forwarded(&sink);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn sink_decodes_gzip_bodies() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let [first, second] = cumulative_exports();
        let response = post_protobuf(&sink.metrics_url(), &first, true).await?;
        assert_eq!(response.status(), StatusCode::OK);
        let response = post_protobuf(&sink.metrics_url(), &second, true).await?;
        assert_eq!(response.status(), StatusCode::OK);

        let recorded = &sink.requests()[1];
        assert_eq!(recorded.content_encoding(), Some("gzip"));
        assert_ne!(
            recorded.raw_body.as_ref(),
            second.encode_to_vec().as_slice()
        );
        assert_eq!(
            recorded.body.as_deref().ok(),
            Some(second.encode_to_vec().as_slice())
        );
        assert_eq!(recorded.decoded.as_ref().ok(), Some(&second));
        assert_cumulative_totals(&sink);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn sink_adds_up_delta_points() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        for value in [4, 5, 6] {
            let response = post_protobuf(&sink.metrics_url(), &delta_export(value), false).await?;
            assert_eq!(response.status(), StatusCode::OK);
        }
        assert_eq!(sink.sum_total(METRIC, &[("outcome", "ok")]), Some(15));
        assert_eq!(sink.sum_points(METRIC).len(), 3);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn sink_answers_scripted_503_with_retry_after_then_accepts() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        sink.fail_next(2, Reply::unavailable(1));
        let export = delta_export(5);

        for _ in 0..2 {
            let response = post_protobuf(&sink.metrics_url(), &export, false).await?;
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                response.headers().get("retry-after").map(|v| v.as_bytes()),
                Some(&b"1"[..])
            );
        }
        assert_eq!(sink.scripted_left(), 0);
        let response = post_protobuf(&sink.metrics_url(), &export, false).await?;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("retry-after").is_none());

        // All three were recorded, but only the accepted one counts toward the total.
        assert_eq!(sink.request_count(), 3);
        let statuses: Vec<u16> = sink.requests().iter().map(|r| r.status.as_u16()).collect();
        assert_eq!(statuses, [503, 503, 200]);
        assert_eq!(sink.sum_total(METRIC, &[]), Some(5));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn sink_answers_scripted_400_and_drops_the_data() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        sink.fail_next(1, Reply::bad_request());
        let response = post_protobuf(&sink.metrics_url(), &delta_export(5), false).await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(sink.request_count(), 1);
        assert_eq!(sink.sum_total(METRIC, &[]), None);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn sink_rejects_an_undecodable_body_with_400() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let response = reqwest::Client::new()
            .post(sink.metrics_url())
            .header("content-type", "application/x-protobuf")
            .body(vec![0xff_u8; 16])
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let recorded = &sink.requests()[0];
        assert!(
            recorded.decoded.is_err(),
            "garbage decoded as {:?}",
            recorded.decoded
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn rotel_forwards_otlp_http_protobuf_exports_to_the_sink() -> TestResult {
    let Some(bin) = support::rotel_or_skip("rotel_forwards_otlp_http_protobuf_exports_to_the_sink")
    else {
        return Ok(());
    };
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let rotel = Rotel::start(&bin, &sink).await?;
        for export in cumulative_exports() {
            let response = post_protobuf(&rotel.http_metrics_url(), &export, false).await?;
            assert_eq!(response.status(), StatusCode::OK, "{}", rotel.output());
        }
        sink.wait_until("all four points through rotel", WAIT_LIMIT, |s| {
            s.sum_points(METRIC).len() >= 4
        })
        .await?;
        assert_eq!(sink.sum_points(METRIC).len(), 4, "{}", sink.describe());
        assert_cumulative_totals(&sink);
        assert_resource_forwarded(&sink);
        assert!(
            sink.requests()
                .iter()
                .all(|r| r.content_type() == Some("application/x-protobuf")),
            "{}",
            sink.describe()
        );
        rotel.stop();
        Ok(())
    })
    .await
}

#[tokio::test]
async fn rotel_forwards_otlp_grpc_exports_to_the_sink() -> TestResult {
    let Some(bin) = support::rotel_or_skip("rotel_forwards_otlp_grpc_exports_to_the_sink") else {
        return Ok(());
    };
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let rotel = Rotel::start(&bin, &sink).await?;
        let mut client = MetricsServiceClient::connect(rotel.grpc_endpoint()).await?;
        for export in cumulative_exports() {
            let response = client.export(export).await?.into_inner();
            assert_eq!(response.partial_success, None, "{}", rotel.output());
        }
        sink.wait_until("all four points through rotel", WAIT_LIMIT, |s| {
            s.sum_points(METRIC).len() >= 4
        })
        .await?;
        assert_eq!(sink.sum_points(METRIC).len(), 4, "{}", sink.describe());
        assert_cumulative_totals(&sink);
        assert_resource_forwarded(&sink);
        rotel.stop();
        Ok(())
    })
    .await
}

#[tokio::test]
async fn rotel_retries_an_export_the_sink_answered_with_503() -> TestResult {
    let Some(bin) = support::rotel_or_skip("rotel_retries_an_export_the_sink_answered_with_503")
    else {
        return Ok(());
    };
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        sink.fail_next(1, Reply::unavailable(1));
        let rotel = Rotel::start(&bin, &sink).await?;
        let response = post_protobuf(&rotel.http_metrics_url(), &delta_export(5), false).await?;
        assert_eq!(response.status(), StatusCode::OK, "{}", rotel.output());

        sink.wait_until("the retried export to be accepted", WAIT_LIMIT, |s| {
            s.sum_total(METRIC, &[]).is_some()
        })
        .await?;
        let statuses: Vec<u16> = sink.requests().iter().map(|r| r.status.as_u16()).collect();
        assert_eq!(statuses.first(), Some(&503), "{}", sink.describe());
        assert_eq!(statuses.last(), Some(&200), "{}", sink.describe());
        assert_eq!(sink.sum_total(METRIC, &[]), Some(5), "{}", sink.describe());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn rotel_is_killed_and_reaped_on_drop() -> TestResult {
    let Some(bin) = support::rotel_or_skip("rotel_is_killed_and_reaped_on_drop") else {
        return Ok(());
    };
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let rotel = Rotel::start(&bin, &sink).await?;
        let pid = rotel.pid();
        let http = rotel.http_addr();
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        drop(rotel);
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "rotel {pid} still exists"
        );
        assert!(
            tokio::net::TcpStream::connect(http).await.is_err(),
            "{http} still accepts"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn rotel_start_names_the_variable_when_the_binary_is_missing() -> TestResult {
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let missing = std::path::Path::new("/nonexistent/rotel-agent");
        let Err(error) = Rotel::start(missing, &sink).await else {
            return Err("a missing rotel binary started".into());
        };
        let message = error.to_string();
        assert!(message.contains("/nonexistent/rotel-agent"), "{message}");
        assert!(message.contains("HEARTBEAT_ROTEL"), "{message}");
        Ok(())
    })
    .await
}
