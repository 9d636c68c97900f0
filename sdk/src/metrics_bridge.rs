//! The `metrics` bridge: [`MetricsRecorder`] sends `counter!`, `gauge!` and `histogram!` through
//! the Heartbeat pipeline. Its user-facing documentation is on the type.

use crate::Heartbeat;
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SetRecorderError, SharedString, Unit,
};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The longest instrument name OpenTelemetry accepts.
const MAX_NAME_LEN: usize = 255;
/// Prefixed to a sanitized name that does not start with an ASCII letter.
const NAME_PREFIX: &str = "metric_";
/// Advisory bucket boundaries, in seconds, for histograms described in [`Unit::Seconds`]: those
/// of the OpenTelemetry `http.server.request.duration` convention.
const SECONDS_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A [`metrics::Recorder`] that sends the application's `counter!`, `gauge!` and `histogram!`
/// through the Heartbeat OTLP pipeline, beside the outcome counter (or through any
/// OpenTelemetry [`Meter`]). Cheap to clone: clones share their instruments and series.
///
/// Install it once with [`MetricsRecorder::install`], or scope it with
/// [`metrics::with_local_recorder`] in tests. Libraries should not install it.
///
/// # Examples
///
/// ```
/// use metrics::{Unit, counter, describe_histogram, gauge, histogram};
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// # fn main() -> Result<(), heartbeat::BuildError> {
/// // Any Heartbeat works; this one is attached to a provider that has no reader.
/// let (hb, _driver) = heartbeat::Heartbeat::builder()
///     .with_meter_provider(SdkMeterProvider::default())
///     .build()?;
/// let recorder = heartbeat::MetricsRecorder::new(&hb);
///
/// // Scoped to this thread and closure, as in tests.
/// metrics::with_local_recorder(&recorder, || {
///     describe_histogram!("job.duration", Unit::Seconds, "Time to run one job.");
///     counter!("jobs.started", "queue" => "email").increment(1);
///     gauge!("jobs.in_flight").increment(1.0);
///     histogram!("job.duration").record(0.25);
///     gauge!("jobs.in_flight").decrement(1.0);
/// });
/// # Ok(()) }
/// ```
///
/// An application installs it once, globally, at start-up:
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let hb = heartbeat::Heartbeat::builder()
///     .with_service_name("messenger-api")
///     .with_endpoint("http://127.0.0.1:4318")
///     .install()?;
/// heartbeat::MetricsRecorder::new(&hb)
///     .install()
///     .map_err(|_| "a metrics recorder was already installed")?;
///
/// metrics::counter!("http.requests", "route" => "/send").increment(1);
/// # Ok(()) }
/// ```
///
/// # Mapping
///
/// | `metrics` | OpenTelemetry instrument | exported as |
/// |---|---|---|
/// | counter (`increment`, `absolute`) | `u64` observable counter | monotonic sum |
/// | gauge (`set`, `increment`, `decrement`) | `f64` observable gauge | gauge |
/// | histogram (`record`) | `f64` histogram | explicit-bucket histogram |
/// | labels | attributes | |
/// | `describe_*!` description and [`Unit`] | description and [UCUM] unit (see below) | |
///
/// Counters and gauges keep their value in one atomic per series, read by the instrument's
/// callback when the pipeline collects; the `metrics` handle's hot path is that one atomic
/// operation, with no attribute lookup inside the OpenTelemetry SDK. For gauges this is also
/// what makes `increment` and `decrement` correct: a synchronous OpenTelemetry gauge records
/// the last value *recorded*, so two threads incrementing at once could record their results
/// out of order and leave a stale value, whereas the callback always reads the current sum.
/// `absolute` raises a counter to at least the given value, as `metrics` specifies. Histograms
/// record synchronously into an OpenTelemetry histogram. A histogram described in
/// [`Unit::Seconds`] advises the bucket boundaries of the OpenTelemetry HTTP duration
/// conventions (5 ms to 10 s) instead of the SDK's defaults, which suit milliseconds; views
/// override either.
///
/// Units map to UCUM: `Count` → `{count}`, `Percent` → `%`, `Seconds` → `s`, `Milliseconds` →
/// `ms`, `Microseconds` → `us`, `Nanoseconds` → `ns`, `Bytes` → `By`, `Kibibytes` → `KiBy`,
/// `Mebibytes` → `MiBy`, `Gibibytes` → `GiBy`, `Tebibytes` → `TiBy`, `BitsPerSecond` → `bit/s`,
/// `KilobitsPerSecond` → `kbit/s` (and `Mbit/s`, `Gbit/s`, `Tbit/s`), `CountPerSecond` →
/// `{count}/s`.
///
/// # Names
///
/// `metrics` names are free-form; OpenTelemetry instrument names must match
/// `^[A-Za-z][A-Za-z0-9_.\-/]{0,254}$`. Each character outside `[A-Za-z0-9_.-/]` becomes `_`
/// (`"http requests"` → `"http_requests"`, `"latency µs"` → `"latency__s"`), a name that does
/// not then start with an ASCII letter gets the prefix `metric_` (`"2xx"` → `"metric_2xx"`, `""`
/// → `"metric_"`), and the result is cut to 255 characters. Names that sanitize alike share one
/// instrument, and labels that differ only in order are one series; when a label key repeats,
/// its last value wins.
///
/// # Registration
///
/// Each instrument is created once, when the first key with its name registers, with the
/// description and unit given to `describe_*!` *before* that: call the `describe_*!` macros at
/// start-up, before the metrics are first used. A description given later is ignored, because
/// an OpenTelemetry instrument's description cannot change. Handles are cached per
/// [`metrics::Key`], so `counter!("x").increment(1)` in a loop looks the key up in a map
/// without creating anything; a handle kept in a variable skips even that. Every instrument
/// is subject to the provider's cardinality limit (2000 series by default in the OpenTelemetry
/// SDK). The `metrics` metadata (level, target, module) is not exported.
///
/// [UCUM]: https://ucum.org/ucum
#[derive(Clone)]
pub struct MetricsRecorder {
    inner: Arc<Inner>,
}

struct Inner {
    meter: Meter,
    /// `false` for a disabled [`Heartbeat`]: every handle is then a no-op.
    enabled: bool,
    /// Keeps an owned pipeline's driver running for as long as the recorder may record.
    _heartbeat: Option<Heartbeat>,
    counters: RwLock<Table<CounterSeries>>,
    gauges: RwLock<Table<GaugeSeries>>,
    histograms: RwLock<Table<HistogramSeries>>,
}

impl MetricsRecorder {
    /// A recorder on the Heartbeat pipeline: its meter, provider and export. It keeps a clone
    /// of `heartbeat`, so an owned pipeline keeps exporting for as long as the recorder lives.
    /// On a disabled Heartbeat every handle it returns is a no-op.
    pub fn new(heartbeat: &Heartbeat) -> Self {
        Self::with_parts(
            heartbeat.meter(),
            heartbeat.is_enabled(),
            Some(heartbeat.clone()),
        )
    }

    /// A recorder on any OpenTelemetry meter, for an application that runs its own pipeline.
    pub fn from_meter(meter: Meter) -> Self {
        Self::with_parts(meter, true, None)
    }

    fn with_parts(meter: Meter, enabled: bool, heartbeat: Option<Heartbeat>) -> Self {
        Self {
            inner: Arc::new(Inner {
                meter,
                enabled,
                _heartbeat: heartbeat,
                counters: RwLock::default(),
                gauges: RwLock::default(),
                histograms: RwLock::default(),
            }),
        }
    }

    /// Installs this recorder as the process-wide `metrics` recorder. Do this once, in the
    /// application's `main`; metrics recorded before it are lost.
    ///
    /// # Errors
    /// [`SetRecorderError`] when a recorder is already installed; it holds this recorder, which
    /// [`SetRecorderError::into_inner`] gives back.
    pub fn install(self) -> Result<(), SetRecorderError<Self>> {
        metrics::set_global_recorder(self)
    }

    fn register<S: Series>(&self, table: &RwLock<Table<S>>, key: &Key) -> Arc<S> {
        if let Some(series) = read(table).handles.get(key) {
            return Arc::clone(series);
        }
        // Creating the instrument under the table's write lock is safe: the SDK runs
        // collection callbacks under its own lock, and they read only their family's list.
        let mut guard = write(table);
        let table = &mut *guard;
        if let Some(series) = table.handles.get(key) {
            return Arc::clone(series);
        }
        let descriptions = &table.descriptions;
        let family = table
            .families
            .entry(instrument_name(key.name()).into_owned())
            .or_insert_with_key(|name| Family {
                shared: S::family(&self.inner.meter, name, descriptions.get(name)),
                series: Map::default(),
            });
        let labels = label_set(key);
        let series = match family.series.get(&labels) {
            Some(series) => Arc::clone(series),
            None => {
                let attributes = labels
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                    .collect();
                let series = S::series(&family.shared, attributes);
                family.series.insert(labels, Arc::clone(&series));
                series
            }
        };
        table.handles.insert(key.clone(), Arc::clone(&series));
        series
    }

    fn describe<S: Series>(
        table: &RwLock<Table<S>>,
        key: &KeyName,
        unit: Option<Unit>,
        text: SharedString,
    ) {
        let name = instrument_name(key.as_str()).into_owned();
        write(table)
            .descriptions
            .insert(name, Description { unit, text });
    }
}

impl fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("MetricsRecorder")
            .field("enabled", &inner.enabled)
            .field("counters", &read(&inner.counters).families.len())
            .field("gauges", &read(&inner.gauges).families.len())
            .field("histograms", &read(&inner.histograms).families.len())
            .finish()
    }
}

impl Recorder for MetricsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        Self::describe(&self.inner.counters, &key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        Self::describe(&self.inner.gauges, &key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        Self::describe(&self.inner.histograms, &key, unit, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        if !self.inner.enabled {
            return Counter::noop();
        }
        Counter::from_arc(self.register(&self.inner.counters, key))
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        if !self.inner.enabled {
            return Gauge::noop();
        }
        Gauge::from_arc(self.register(&self.inner.gauges, key))
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        if !self.inner.enabled {
            return Histogram::noop();
        }
        Histogram::from_arc(self.register(&self.inner.histograms, key))
    }
}

/// One kind of metric: the handles given out, the instruments by name, and the descriptions
/// waiting for their instrument.
struct Table<S: Series> {
    /// The cache that makes a repeated `counter!("x")` one map lookup.
    handles: Map<Key, Arc<S>>,
    families: Map<String, Family<S>>,
    descriptions: Map<String, Description>,
}

impl<S: Series> Default for Table<S> {
    fn default() -> Self {
        Self {
            handles: Map::default(),
            families: Map::default(),
            descriptions: Map::default(),
        }
    }
}

/// One instrument and its series, by label set.
struct Family<S: Series> {
    shared: S::Family,
    series: Map<LabelSet, Arc<S>>,
}

/// Label pairs sorted by key, one per key: a series' identity within its instrument.
type LabelSet = Vec<(String, String)>;

#[derive(Clone)]
struct Description {
    unit: Option<Unit>,
    text: SharedString,
}

impl Description {
    fn unit(description: Option<&Self>) -> Option<&'static str> {
        description.and_then(|d| d.unit).map(ucum)
    }

    fn text(description: Option<&Self>) -> Option<String> {
        description
            .map(|d| d.text.to_string())
            .filter(|t| !t.is_empty())
    }
}

/// A series of one metric kind, and how its instrument is made.
trait Series: Send + Sync + Sized + 'static {
    /// What the series of one instrument share: the instrument, or the list its callback reads.
    type Family: Send + Sync;
    fn family(meter: &Meter, name: &str, description: Option<&Description>) -> Self::Family;
    fn series(family: &Self::Family, attributes: Vec<KeyValue>) -> Arc<Self>;
}

/// The series an observable instrument's callback reports.
type Observed<S> = Arc<RwLock<Vec<Arc<S>>>>;

struct CounterSeries {
    attributes: Vec<KeyValue>,
    value: AtomicU64,
}

impl Series for CounterSeries {
    type Family = Observed<Self>;

    fn family(meter: &Meter, name: &str, description: Option<&Description>) -> Self::Family {
        let observed: Self::Family = Arc::default();
        let list = Arc::clone(&observed);
        let mut builder =
            meter
                .u64_observable_counter(name.to_owned())
                .with_callback(move |observer| {
                    for series in read(&list).iter() {
                        observer.observe(series.value.load(Relaxed), &series.attributes);
                    }
                });
        if let Some(unit) = Description::unit(description) {
            builder = builder.with_unit(unit);
        }
        if let Some(text) = Description::text(description) {
            builder = builder.with_description(text);
        }
        builder.build();
        observed
    }

    fn series(family: &Self::Family, attributes: Vec<KeyValue>) -> Arc<Self> {
        let series = Arc::new(Self {
            attributes,
            value: AtomicU64::new(0),
        });
        write(family).push(Arc::clone(&series));
        series
    }
}

impl CounterFn for CounterSeries {
    fn increment(&self, value: u64) {
        self.value.fetch_add(value, Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.value.fetch_max(value, Relaxed);
    }
}

struct GaugeSeries {
    attributes: Vec<KeyValue>,
    /// An `f64`, as its bits.
    value: AtomicU64,
}

impl GaugeSeries {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let mut current = self.value.load(Relaxed);
        loop {
            let next = f(f64::from_bits(current)).to_bits();
            match self
                .value
                .compare_exchange_weak(current, next, Relaxed, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }
}

impl Series for GaugeSeries {
    type Family = Observed<Self>;

    fn family(meter: &Meter, name: &str, description: Option<&Description>) -> Self::Family {
        let observed: Self::Family = Arc::default();
        let list = Arc::clone(&observed);
        let mut builder =
            meter
                .f64_observable_gauge(name.to_owned())
                .with_callback(move |observer| {
                    for series in read(&list).iter() {
                        let value = f64::from_bits(series.value.load(Relaxed));
                        observer.observe(value, &series.attributes);
                    }
                });
        if let Some(unit) = Description::unit(description) {
            builder = builder.with_unit(unit);
        }
        if let Some(text) = Description::text(description) {
            builder = builder.with_description(text);
        }
        builder.build();
        observed
    }

    fn series(family: &Self::Family, attributes: Vec<KeyValue>) -> Arc<Self> {
        let series = Arc::new(Self {
            attributes,
            value: AtomicU64::new(0.0_f64.to_bits()),
        });
        write(family).push(Arc::clone(&series));
        series
    }
}

impl GaugeFn for GaugeSeries {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }

    fn set(&self, value: f64) {
        self.value.store(value.to_bits(), Relaxed);
    }
}

struct HistogramSeries {
    histogram: opentelemetry::metrics::Histogram<f64>,
    attributes: Vec<KeyValue>,
}

impl Series for HistogramSeries {
    type Family = opentelemetry::metrics::Histogram<f64>;

    fn family(meter: &Meter, name: &str, description: Option<&Description>) -> Self::Family {
        let mut builder = meter.f64_histogram(name.to_owned());
        if let Some(unit) = Description::unit(description) {
            builder = builder.with_unit(unit);
        }
        if let Some(text) = Description::text(description) {
            builder = builder.with_description(text);
        }
        if description.and_then(|d| d.unit) == Some(Unit::Seconds) {
            builder = builder.with_boundaries(SECONDS_BOUNDARIES.to_vec());
        }
        builder.build()
    }

    fn series(family: &Self::Family, attributes: Vec<KeyValue>) -> Arc<Self> {
        Arc::new(Self {
            histogram: family.clone(),
            attributes,
        })
    }
}

impl HistogramFn for HistogramSeries {
    fn record(&self, value: f64) {
        self.histogram.record(value, &self.attributes);
    }
}

/// The OpenTelemetry instrument name for a `metrics` name; see the module docs' rules.
pub(crate) fn instrument_name(name: &str) -> Cow<'_, str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/');
    let valid = name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(allowed);
    if valid {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len().min(MAX_NAME_LEN) + NAME_PREFIX.len());
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.push_str(NAME_PREFIX);
    }
    out.extend(name.chars().map(|c| if allowed(c) { c } else { '_' }));
    // Every character is ASCII now, so any byte index is a character boundary.
    out.truncate(MAX_NAME_LEN);
    Cow::Owned(out)
}

/// The UCUM unit for a `metrics` unit.
pub(crate) fn ucum(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "{count}",
        Unit::Percent => "%",
        Unit::Seconds => "s",
        Unit::Milliseconds => "ms",
        Unit::Microseconds => "us",
        Unit::Nanoseconds => "ns",
        Unit::Tebibytes => "TiBy",
        Unit::Gibibytes => "GiBy",
        Unit::Mebibytes => "MiBy",
        Unit::Kibibytes => "KiBy",
        Unit::Bytes => "By",
        Unit::TerabitsPerSecond => "Tbit/s",
        Unit::GigabitsPerSecond => "Gbit/s",
        Unit::MegabitsPerSecond => "Mbit/s",
        Unit::KilobitsPerSecond => "kbit/s",
        Unit::BitsPerSecond => "bit/s",
        Unit::CountPerSecond => "{count}/s",
    }
}

/// The key's labels sorted by key; when a key repeats, its last value wins.
fn label_set(key: &Key) -> LabelSet {
    let mut labels: LabelSet = key
        .labels()
        .rev()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect();
    // Stable: of equal keys the first kept is the last given.
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    labels.dedup_by(|a, b| a.0 == b.0);
    labels
}

/// Reads through a poisoned lock: every write leaves the maps consistent.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::{instrument_name, label_set, ucum};
    use metrics::{Key, Label, Unit};

    #[test]
    fn valid_names_are_kept_as_they_are() {
        for name in [
            "http.requests",
            "a",
            "Queue-depth/v1_total",
            &"a".repeat(255),
        ] {
            assert!(matches!(instrument_name(name), std::borrow::Cow::Borrowed(n) if n == name));
        }
    }

    #[test]
    fn invalid_characters_become_underscores() {
        assert_eq!(instrument_name("http requests"), "http_requests");
        assert_eq!(instrument_name("latency µs"), "latency__s");
        assert_eq!(instrument_name("a:b{c}"), "a_b_c_");
    }

    #[test]
    fn names_not_starting_with_a_letter_are_prefixed() {
        assert_eq!(instrument_name("2xx"), "metric_2xx");
        assert_eq!(instrument_name("_private"), "metric__private");
        assert_eq!(instrument_name(" x"), "metric__x");
        assert_eq!(instrument_name(""), "metric_");
        assert_eq!(instrument_name("é"), "metric__");
    }

    #[test]
    fn long_names_are_cut_to_255_characters() {
        assert_eq!(instrument_name(&"a".repeat(300)), "a".repeat(255));
        let cut = instrument_name(&"9".repeat(300)).into_owned();
        assert_eq!(cut.len(), 255);
        assert!(cut.starts_with("metric_999"));
        let wide = instrument_name(&"é".repeat(300)).into_owned();
        assert_eq!(wide, format!("metric_{}", "_".repeat(248)));
    }

    #[test]
    fn units_map_to_ucum() {
        let cases = [
            (Unit::Count, "{count}"),
            (Unit::Percent, "%"),
            (Unit::Seconds, "s"),
            (Unit::Milliseconds, "ms"),
            (Unit::Microseconds, "us"),
            (Unit::Nanoseconds, "ns"),
            (Unit::Tebibytes, "TiBy"),
            (Unit::Gibibytes, "GiBy"),
            (Unit::Mebibytes, "MiBy"),
            (Unit::Kibibytes, "KiBy"),
            (Unit::Bytes, "By"),
            (Unit::TerabitsPerSecond, "Tbit/s"),
            (Unit::GigabitsPerSecond, "Gbit/s"),
            (Unit::MegabitsPerSecond, "Mbit/s"),
            (Unit::KilobitsPerSecond, "kbit/s"),
            (Unit::BitsPerSecond, "bit/s"),
            (Unit::CountPerSecond, "{count}/s"),
        ];
        for (unit, expected) in cases {
            assert_eq!(ucum(unit), expected, "{unit:?}");
        }
    }

    #[test]
    fn label_sets_are_sorted_and_the_last_repeated_key_wins() {
        let key = Key::from_parts(
            "x",
            vec![
                Label::new("b", "1"),
                Label::new("a", "first"),
                Label::new("c", "3"),
                Label::new("a", "last"),
            ],
        );
        let expected: Vec<(String, String)> = [("a", "last"), ("b", "1"), ("c", "3")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(label_set(&key), expected);
    }
}
