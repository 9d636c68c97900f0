//! Beats counted through a real collector: the SDK exports OTLP/HTTP protobuf to rotel, which
//! forwards to the test sink on 127.0.0.1. The rotel binary comes from `HEARTBEAT_ROTEL` (set by
//! scripts/test.sh); without it the test says so and returns.
#![cfg(feature = "http-proto")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use heartbeat::semconv::{ATTR_EMITTER, METRIC_BEATS, METRIC_EMITTER_STATUS};
use heartbeat::{Heartbeat, Protocol};
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
use std::collections::HashSet;
use std::time::Duration;
use support::otlp::attr;
use support::{Rotel, Sink, TEST_LIMIT, TestResult, WAIT_LIMIT, bounded, rotel_or_skip};

/// `(value, service.instance.id)` of every point of the sum or gauge `metric` for `emitter`
/// that the sink accepted, in arrival order.
fn points(sink: &Sink, metric: &str, emitter: &str) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for export in sink.accepted_exports() {
        for rm in &export.resource_metrics {
            let resource = rm.resource.as_ref().map(|r| r.attributes.as_slice());
            let instance = attr(resource.unwrap_or_default(), "service.instance.id");
            for m in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
                let dps = match &m.data {
                    Some(Data::Sum(s)) if m.name == metric => &s.data_points,
                    Some(Data::Gauge(g)) if m.name == metric => &g.data_points,
                    _ => continue,
                };
                for dp in dps {
                    if attr(&dp.attributes, ATTR_EMITTER).as_deref() != Some(emitter) {
                        continue;
                    }
                    if let Some(Value::AsInt(v)) = dp.value {
                        out.push((v, instance.clone().unwrap_or_default()));
                    }
                }
            }
        }
    }
    out
}

fn values(sink: &Sink, metric: &str, emitter: &str) -> Vec<i64> {
    points(sink, metric, emitter)
        .into_iter()
        .map(|(v, _)| v)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beats_are_counted_through_rotel() -> TestResult {
    let Some(bin) = rotel_or_skip("beats_are_counted_through_rotel") else {
        return Ok(());
    };
    bounded(TEST_LIMIT, async {
        let sink = Sink::start().await?;
        let rotel = Rotel::start(&bin, &sink).await?;
        let hb = Heartbeat::builder()
            .with_environment(Vec::<(String, String)>::new())
            .with_service_name("deadman-rotel")
            .with_endpoint(rotel.http_endpoint())
            .with_protocol(Protocol::HttpProtobuf)
            .with_export_timeout(Duration::from_secs(5))
            .install()?;
        let beat = hb
            .deadman("api")
            .with_cadence(Duration::from_millis(100))
            .start()?;
        let worker = hb
            .deadman("worker")
            .with_cadence(Duration::from_millis(200))
            .start()?;

        // rotel may still be starting: the first exports can fail; cumulative counts catch up.
        sink.wait_until("ten beats of `api` through rotel", WAIT_LIMIT, |s| {
            values(s, METRIC_BEATS, "api").last() >= Some(&10)
        })
        .await?;
        sink.wait_until("beats of `worker` through rotel", WAIT_LIMIT, |s| {
            values(s, METRIC_BEATS, "worker").last() >= Some(&3)
        })
        .await?;
        let stopped_at = {
            let api = beat.health();
            beat.stop().await?;
            api.beats as i64
        };
        worker.stop().await?;
        sink.wait_until("the stopped status through rotel", WAIT_LIMIT, |s| {
            values(s, METRIC_EMITTER_STATUS, "api").last() == Some(&2)
                && values(s, METRIC_BEATS, "api").last() == Some(&stopped_at)
        })
        .await?;
        hb.shutdown().await?;

        // Loss accounting: the count never goes back within one instance, and ends where the
        // emitter says it stopped.
        let api = points(&sink, METRIC_BEATS, "api");
        assert!(api.windows(2).all(|w| w[0].0 <= w[1].0), "{api:?}");
        assert_eq!(api.last().map(|p| p.0), Some(stopped_at));
        let instances: HashSet<&str> = api.iter().map(|(_, i)| i.as_str()).collect();
        assert_eq!(instances.len(), 1, "{instances:?}");
        assert_eq!(instances.iter().next().map(|i| i.len()), Some(32));
        rotel.stop();
        Ok(())
    })
    .await
}
