//! Plug-ins of the pipeline: what else a [`Heartbeat`](super::Heartbeat) reports besides the
//! outcomes (the dead-man's beats and statuses), without the pipeline knowing what they are.
//!
//! A plug-in is registered once per pipeline, the first time it is asked for
//! ([`Heartbeat::plugin`](super::Heartbeat::plugin)). The pipeline then
//! - asks it for its sums at every collection ([`Plugin::collect`]): they ride in the same batch
//!   as the outcomes, so a delta export that fails loses none of them either;
//! - has it register what a batch does not carry (gauges) on the pipeline's meter
//!   ([`Plugin::register`]), or everything when the pipeline is attached to an application's
//!   provider and so has no batch of its own;
//! - tells it how each export went ([`Plugin::exported`]);
//! - stops it first on [`Heartbeat::shutdown`](super::Heartbeat::shutdown)
//!   ([`Plugin::shutdown`]), so that the final export carries what the stop changed.

use super::health::ExportFailure;
use heartbeat_core::otlp::Batch;
use opentelemetry::metrics::Meter;
use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};

/// What [`Plugin::shutdown`] returns: a stop bounded by the caller's deadline.
pub(crate) type Stopping<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Something that contributes series to every export of a pipeline.
pub(crate) trait Plugin: Send + Sync + 'static {
    /// Pushes this plug-in's sums into a batch being collected, as *cumulative* values since the
    /// registry started ([`Batch::push_sum`]); a delta pipeline turns them into deltas.
    fn collect(&self, batch: &mut Batch);

    /// Registers asynchronous instruments on `meter`: those a batch cannot carry (gauges), and
    /// with `sums` also what [`Plugin::collect`] pushes (the pipeline is attached to an
    /// application's provider, whose reader collects them).
    fn register(&self, meter: &Meter, sums: bool);

    /// The result of an export: `Ok` when the collector accepted it, else why it failed.
    fn exported(&self, result: Result<(), ExportFailure>) {
        let _ = result;
    }

    /// Stops on purpose, before the final export of [`Heartbeat::shutdown`](super::Heartbeat::shutdown).
    fn shutdown(&self) -> Stopping<'_>;
}

struct Entry {
    plugin: Arc<dyn Plugin>,
    /// The same value, for [`Plugins::get_or_register`] to find it by type.
    any: Arc<dyn Any + Send + Sync>,
}

/// The plug-ins of one pipeline.
#[derive(Default)]
pub(crate) struct Plugins(RwLock<Vec<Entry>>);

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins")
            .field("count", &self.read().len())
            .finish()
    }
}

impl Plugins {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Entry>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The plug-in of type `P`, registered (and its instruments on `meter`) the first time.
    pub(crate) fn get_or_register<P: Plugin + Default>(
        &self,
        meter: Option<(&Meter, bool)>,
    ) -> Arc<P> {
        if let Some(found) = find::<P>(&self.read()) {
            return found;
        }
        let mut list = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = find::<P>(&list) {
            return found;
        }
        let plugin = Arc::new(P::default());
        if let Some((meter, sums)) = meter {
            plugin.register(meter, sums);
        }
        list.push(Entry {
            plugin: Arc::clone(&plugin) as Arc<dyn Plugin>,
            any: Arc::clone(&plugin) as Arc<dyn Any + Send + Sync>,
        });
        plugin
    }

    /// Every plug-in's sums, into `batch`.
    pub(crate) fn collect(&self, batch: &mut Batch) {
        for entry in self.read().iter() {
            entry.plugin.collect(batch);
        }
    }

    /// Tells every plug-in how an export went.
    pub(crate) fn exported(&self, result: Result<(), ExportFailure>) {
        for entry in self.read().iter() {
            entry.plugin.exported(result);
        }
    }

    /// Stops every plug-in, one after the other.
    pub(crate) async fn shutdown(&self) {
        let all: Vec<Arc<dyn Plugin>> = self.read().iter().map(|e| Arc::clone(&e.plugin)).collect();
        for plugin in all {
            plugin.shutdown().await;
        }
    }
}

fn find<P: Plugin>(list: &[Entry]) -> Option<Arc<P>> {
    list.iter()
        .find_map(|e| Arc::clone(&e.any).downcast::<P>().ok())
}
