//! The `metrics` bridge, end to end: `counter!`/`gauge!`/`histogram!` through a
//! `MetricsRecorder` into a Heartbeat attached to an OpenTelemetry SDK provider whose periodic
//! reader exports to the SDK's in-memory exporter; every assertion reads the exported data.
//!
//! `cargo test -p heartbeat-sdk --features metrics,testing --test metrics_bridge`
#![cfg(all(feature = "metrics", feature = "testing"))]
#![allow(clippy::expect_used, clippy::panic)]

use heartbeat::semconv::{ATTR_OUTCOME, ATTR_RESULT, METRIC_OUTCOMES, SCOPE_NAME};
use heartbeat::{Heartbeat, MetricsRecorder};
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
    with_local_recorder,
};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, Gauge, Histogram, Metric, MetricData, ResourceMetrics, Sum,
};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, InMemoryMetricExporterBuilder, PeriodicReader, SdkMeterProvider,
    Temporality,
};

/// An SDK provider exporting to memory on demand, with a Heartbeat attached to it.
struct Pipeline {
    exporter: InMemoryMetricExporter,
    provider: SdkMeterProvider,
    heartbeat: Heartbeat,
}

impl Pipeline {
    fn new() -> Self {
        Self::with_temporality(Temporality::Cumulative)
    }

    fn with_temporality(temporality: Temporality) -> Self {
        Self::build(temporality, false)
    }

    fn build(temporality: Temporality, disabled: bool) -> Self {
        let exporter = InMemoryMetricExporterBuilder::new()
            .with_temporality(temporality)
            .build();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let (heartbeat, _driver) = Heartbeat::builder()
            .with_meter_provider(provider.clone())
            .with_environment([("OTEL_SERVICE_NAME", "metrics-bridge-test")])
            .with_disabled(disabled)
            .build()
            .expect("a Heartbeat attached to the test provider");
        Self {
            exporter,
            provider,
            heartbeat,
        }
    }

    fn recorder(&self) -> MetricsRecorder {
        MetricsRecorder::new(&self.heartbeat)
    }

    /// Flushes and returns what the flush exported (nothing when there was no data).
    fn flush(&self) -> Vec<ResourceMetrics> {
        self.exporter.reset();
        self.provider.force_flush().expect("the flush exports");
        self.exporter.get_finished_metrics().expect("exports")
    }

    /// Exports now and returns that export.
    fn export(&self) -> ResourceMetrics {
        let mut exports = self.flush();
        assert_eq!(exports.len(), 1, "one export per flush");
        exports.remove(0)
    }
}

fn find<'a>(rm: &'a ResourceMetrics, name: &str) -> Option<&'a Metric> {
    rm.scope_metrics()
        .flat_map(|scope| scope.metrics())
        .find(|m| m.name() == name)
}

fn metric<'a>(rm: &'a ResourceMetrics, name: &str) -> &'a Metric {
    find(rm, name).unwrap_or_else(|| panic!("no metric {name:?} in {:?}", names(rm)))
}

fn names(rm: &ResourceMetrics) -> Vec<String> {
    let mut names: Vec<String> = rm
        .scope_metrics()
        .flat_map(|scope| scope.metrics())
        .map(|m| m.name().to_owned())
        .collect();
    names.sort();
    names
}

/// The exported names outside the `heartbeat.` namespace (the SDK's own metrics, which other
/// tests cover): here, exactly the bridged metrics.
fn bridged_names(rm: &ResourceMetrics) -> Vec<String> {
    names(rm)
        .into_iter()
        .filter(|name| !name.starts_with("heartbeat."))
        .collect()
}

fn u64_sum(m: &Metric) -> &Sum<u64> {
    match m.data() {
        AggregatedMetrics::U64(MetricData::Sum(sum)) => sum,
        other => panic!("{} is not a u64 sum: {other:?}", m.name()),
    }
}

fn f64_gauge(m: &Metric) -> &Gauge<f64> {
    match m.data() {
        AggregatedMetrics::F64(MetricData::Gauge(gauge)) => gauge,
        other => panic!("{} is not an f64 gauge: {other:?}", m.name()),
    }
}

fn f64_histogram(m: &Metric) -> &Histogram<f64> {
    match m.data() {
        AggregatedMetrics::F64(MetricData::Histogram(histogram)) => histogram,
        other => panic!("{} is not an f64 histogram: {other:?}", m.name()),
    }
}

type Attributes = Vec<(String, String)>;

fn attributes<'a>(kvs: impl Iterator<Item = &'a KeyValue>) -> Attributes {
    let mut out: Attributes = kvs
        .map(|kv| (kv.key.as_str().to_owned(), kv.value.as_str().into_owned()))
        .collect();
    out.sort();
    out
}

fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A sum's points as (attributes, value), sorted.
fn sum_points(m: &Metric) -> Vec<(Attributes, u64)> {
    let mut points: Vec<_> = u64_sum(m)
        .data_points()
        .map(|p| (attributes(p.attributes()), p.value()))
        .collect();
    points.sort();
    points
}

fn gauge_points(m: &Metric) -> Vec<(Attributes, f64)> {
    let mut points: Vec<_> = f64_gauge(m)
        .data_points()
        .map(|p| (attributes(p.attributes()), p.value()))
        .collect();
    points.sort_by(|a, b| a.0.cmp(&b.0));
    points
}

#[test]
fn counters_export_a_monotonic_cumulative_sum_per_label_set() {
    let p = Pipeline::new();
    with_local_recorder(&p.recorder(), || {
        counter!("requests", "route" => "/send").increment(3);
        counter!("requests", "route" => "/send").increment(2);
        counter!("requests", "route" => "/read").increment(1);
    });

    let rm = p.export();
    let requests = metric(&rm, "requests");
    let sum = u64_sum(requests);
    assert!(sum.is_monotonic());
    assert_eq!(sum.temporality(), Temporality::Cumulative);
    assert_eq!(
        sum_points(requests),
        vec![
            (attrs(&[("route", "/read")]), 1),
            (attrs(&[("route", "/send")]), 5),
        ]
    );
}

#[test]
fn counter_handles_for_one_key_share_one_series() {
    let p = Pipeline::new();
    let recorder = p.recorder();
    let (first, second) = with_local_recorder(&recorder, || {
        (
            counter!("jobs", "queue" => "email"),
            counter!("jobs", "queue" => "email"),
        )
    });
    first.increment(4);
    second.increment(6);

    let rm = p.export();
    assert_eq!(
        sum_points(metric(&rm, "jobs")),
        vec![(attrs(&[("queue", "email")]), 10)]
    );
}

#[test]
fn counter_totals_keep_growing_across_exports() {
    let p = Pipeline::new();
    let recorder = p.recorder();
    with_local_recorder(&recorder, || counter!("ticks").increment(2));
    assert_eq!(sum_points(metric(&p.export(), "ticks")), vec![(vec![], 2)]);

    with_local_recorder(&recorder, || counter!("ticks").increment(5));
    assert_eq!(sum_points(metric(&p.export(), "ticks")), vec![(vec![], 7)]);
}

#[test]
fn counters_export_the_increase_per_interval_under_delta_temporality() {
    let p = Pipeline::with_temporality(Temporality::Delta);
    let recorder = p.recorder();
    with_local_recorder(&recorder, || counter!("ticks").increment(5));
    let first = p.export();
    assert_eq!(
        u64_sum(metric(&first, "ticks")).temporality(),
        Temporality::Delta
    );
    assert_eq!(sum_points(metric(&first, "ticks")), vec![(vec![], 5)]);

    with_local_recorder(&recorder, || counter!("ticks").increment(2));
    assert_eq!(sum_points(metric(&p.export(), "ticks")), vec![(vec![], 2)]);
}

#[test]
fn counter_absolute_raises_the_total_and_never_lowers_it() {
    let p = Pipeline::new();
    with_local_recorder(&p.recorder(), || {
        let c = counter!("synced");
        c.absolute(10);
        c.absolute(7);
        c.increment(1);
    });

    let rm = p.export();
    assert_eq!(sum_points(metric(&rm, "synced")), vec![(vec![], 11)]);
}

#[test]
fn gauges_export_the_value_after_set_increment_and_decrement() {
    let p = Pipeline::new();
    with_local_recorder(&p.recorder(), || {
        gauge!("queue.depth", "queue" => "email").set(10.0);
        gauge!("queue.depth", "queue" => "email").increment(2.5);
        gauge!("queue.depth", "queue" => "email").decrement(4.0);
        gauge!("queue.depth", "queue" => "sms").decrement(1.0);
    });

    let rm = p.export();
    assert_eq!(
        gauge_points(metric(&rm, "queue.depth")),
        vec![
            (attrs(&[("queue", "email")]), 8.5),
            (attrs(&[("queue", "sms")]), -1.0),
        ]
    );
}

#[test]
fn gauge_increments_from_many_threads_are_all_counted() {
    let p = Pipeline::new();
    let in_flight = with_local_recorder(&p.recorder(), || gauge!("in_flight"));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    in_flight.increment(1.0);
                }
                for _ in 0..500 {
                    in_flight.decrement(1.0);
                }
            });
        }
    });

    let rm = p.export();
    assert_eq!(
        gauge_points(metric(&rm, "in_flight")),
        vec![(vec![], 2000.0)]
    );
}

#[test]
fn histograms_export_count_sum_min_and_max() {
    let p = Pipeline::new();
    with_local_recorder(&p.recorder(), || {
        let h = histogram!("payload.size", "kind" => "text");
        h.record(0.5);
        h.record(1.5);
        h.record(3.0);
        h.record_many(2.0, 4);
    });

    let rm = p.export();
    let m = metric(&rm, "payload.size");
    let points: Vec<_> = f64_histogram(m).data_points().collect();
    assert_eq!(points.len(), 1);
    let point = points[0];
    assert_eq!(attributes(point.attributes()), attrs(&[("kind", "text")]));
    assert_eq!(point.count(), 7);
    assert_eq!(point.sum(), 13.0);
    assert_eq!(point.min(), Some(0.5));
    assert_eq!(point.max(), Some(3.0));
}

#[test]
fn descriptions_and_units_come_from_describe() {
    let p = Pipeline::new();
    with_local_recorder(&p.recorder(), || {
        describe_counter!("bytes.sent", Unit::Bytes, "Bytes written to sockets.");
        describe_gauge!("cpu.busy", Unit::Percent, "Share of time the CPU was busy.");
        describe_histogram!("render.time", Unit::Milliseconds, "Time to render a page.");
        counter!("bytes.sent").increment(512);
        gauge!("cpu.busy").set(42.0);
        histogram!("render.time").record(12.0);
    });

    let rm = p.export();
    let described = |name: &str| {
        let m = metric(&rm, name);
        (m.description().to_owned(), m.unit().to_owned())
    };
    assert_eq!(
        described("bytes.sent"),
        ("Bytes written to sockets.".to_owned(), "By".to_owned())
    );
    assert_eq!(
        described("cpu.busy"),
        ("Share of time the CPU was busy.".to_owned(), "%".to_owned())
    );
    assert_eq!(
        described("render.time"),
        ("Time to render a page.".to_owned(), "ms".to_owned())
    );
}

#[test]
fn histograms_in_seconds_get_second_scale_buckets() {
    let p = Pipeline::new();
    with_local_recorder(&p.recorder(), || {
        describe_histogram!("job.duration", Unit::Seconds, "Time to run one job.");
        describe_histogram!("page.weight", Unit::Kibibytes, "Size of one page.");
        histogram!("job.duration").record(0.2);
        histogram!("page.weight").record(0.2);
    });

    let rm = p.export();
    let bounds = |name: &str| -> Vec<f64> {
        let m = metric(&rm, name);
        f64_histogram(m)
            .data_points()
            .next()
            .map(|p| p.bounds().collect())
            .unwrap_or_default()
    };
    assert_eq!(metric(&rm, "job.duration").unit(), "s");
    assert_eq!(
        bounds("job.duration"),
        [
            0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
        ]
    );
    assert_eq!(metric(&rm, "page.weight").unit(), "KiBy");
    assert_eq!(
        bounds("page.weight"),
        [
            0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0,
            7500.0, 10000.0
        ],
        "other units keep the SDK's default buckets"
    );
}

#[test]
fn a_description_given_after_first_use_is_ignored() {
    let p = Pipeline::new();
    with_local_recorder(&p.recorder(), || {
        counter!("late").increment(1);
        describe_counter!("late", Unit::Count, "Too late to change the instrument.");
        counter!("late").increment(1);
    });

    let rm = p.export();
    let late = metric(&rm, "late");
    assert_eq!((late.description(), late.unit()), ("", ""));
    assert_eq!(sum_points(late), vec![(vec![], 2)]);
}

#[test]
fn invalid_names_are_sanitized() {
    let p = Pipeline::new();
    with_local_recorder(&p.recorder(), || {
        describe_counter!("http requests", Unit::Count, "Requests served.");
        counter!("http requests", "method" => "GET").increment(2);
        gauge!("2xx ratio").set(0.5);
        histogram!("latency µs").record(3.0);
    });

    let rm = p.export();
    assert_eq!(
        bridged_names(&rm),
        ["http_requests", "latency__s", "metric_2xx_ratio"]
    );
    let requests = metric(&rm, "http_requests");
    assert_eq!(
        (requests.description(), requests.unit()),
        ("Requests served.", "{count}")
    );
    assert_eq!(sum_points(requests), vec![(attrs(&[("method", "GET")]), 2)]);
    assert_eq!(
        gauge_points(metric(&rm, "metric_2xx_ratio")),
        vec![(vec![], 0.5)]
    );
}

#[test]
fn names_that_sanitize_alike_share_one_instrument() {
    let p = Pipeline::new();
    with_local_recorder(&p.recorder(), || {
        counter!("http requests").increment(1);
        counter!("http_requests").increment(2);
    });

    let rm = p.export();
    assert_eq!(sum_points(metric(&rm, "http_requests")), vec![(vec![], 3)]);
}

#[test]
fn labels_in_another_order_are_the_same_series() {
    let p = Pipeline::new();
    with_local_recorder(&p.recorder(), || {
        counter!("hits", "a" => "1", "b" => "2").increment(1);
        counter!("hits", "b" => "2", "a" => "1").increment(1);
    });

    let rm = p.export();
    assert_eq!(
        sum_points(metric(&rm, "hits")),
        vec![(attrs(&[("a", "1"), ("b", "2")]), 2)]
    );
}

#[test]
fn bridged_metrics_and_outcomes_arrive_in_the_same_export() {
    let p = Pipeline::new();
    let send = p
        .heartbeat
        .outcome("message.send")
        .build()
        .expect("a valid outcome");
    send.success();
    send.success();
    with_local_recorder(&p.recorder(), || {
        counter!("requests", "route" => "/send").increment(3);
    });

    let rm = p.export();
    let scopes: Vec<_> = rm.scope_metrics().map(|s| s.scope().name()).collect();
    assert_eq!(scopes, [SCOPE_NAME], "one scope: the Heartbeat meter");
    assert_eq!(bridged_names(&rm), ["requests"]);
    let outcomes = sum_points(metric(&rm, METRIC_OUTCOMES));
    let success = attrs(&[(ATTR_OUTCOME, "message.send"), (ATTR_RESULT, "success")]);
    let (successes, failures): (Vec<_>, Vec<_>) = outcomes.iter().partition(|(a, _)| *a == success);
    assert_eq!(successes, [&(success.clone(), 2)]);
    assert!(
        failures
            .iter()
            .all(|(a, v)| *v == 0 && a.contains(&(ATTR_RESULT.to_owned(), "failure".to_owned()))),
        "only the declared zero failure series besides: {failures:?}"
    );
    assert_eq!(
        sum_points(metric(&rm, "requests")),
        vec![(attrs(&[("route", "/send")]), 3)]
    );
}

#[test]
fn a_disabled_heartbeat_makes_every_handle_a_no_op() {
    let p = Pipeline::build(Temporality::Cumulative, true);
    assert!(!p.heartbeat.is_enabled());
    with_local_recorder(&p.recorder(), || {
        counter!("ignored").increment(1);
        gauge!("ignored.gauge").set(1.0);
        histogram!("ignored.histogram").record(1.0);
    });

    let exported: Vec<String> = p.flush().iter().flat_map(bridged_names).collect();
    assert_eq!(exported, Vec::<String>::new());
}

#[test]
fn a_recorder_works_on_any_meter() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let recorder = MetricsRecorder::from_meter(provider.meter("app"));
    with_local_recorder(&recorder, || counter!("standalone").increment(9));

    provider.force_flush().expect("the flush exports");
    let exports = exporter.get_finished_metrics().expect("exports");
    let rm = exports.last().expect("an export");
    let scopes: Vec<_> = rm.scope_metrics().map(|s| s.scope().name()).collect();
    assert_eq!(scopes, ["app"]);
    assert_eq!(sum_points(metric(rm, "standalone")), vec![(vec![], 9)]);
}

/// The only test that touches the process-wide recorder.
#[test]
fn installing_twice_fails_and_gives_the_recorder_back() {
    let p = Pipeline::new();
    p.recorder().install().expect("the first install succeeds");

    let error = p.recorder().install().expect_err("a second install fails");
    assert_eq!(
        error.to_string(),
        "attempted to set a recorder after the metrics system was already initialized"
    );
    let returned: MetricsRecorder = error.into_inner();
    with_local_recorder(&returned, || counter!("given.back").increment(1));

    let rm = p.export();
    assert_eq!(sum_points(metric(&rm, "given.back")), vec![(vec![], 1)]);
}
