//! Hooks for the benchmarks (`benches/watch.rs`): the receiver's decode, validation and
//! storing, and the judge's tick, without a server or a database.

use crate::judge::Judge;
use crate::receiver::http::{Format, decode};
use crate::rulefile::RuleFile;
use crate::store::Store;

/// The ingest path of one watch: decode, validate, store.
#[derive(Debug)]
pub struct Ingestor {
    store: Store,
    judge: Judge,
}

impl Ingestor {
    /// An empty store and a judge for `rules`, started at `now_ms`.
    pub fn new(rules: &RuleFile, now_ms: i64) -> Self {
        Self {
            store: Store::new(crate::service::DEFAULT_MAX_SERIES, now_ms),
            judge: Judge::new(rules, now_ms, 60_000),
        }
    }

    /// Decodes an OTLP/HTTP protobuf body, validates and stores it at `now_ms`; returns the
    /// points accepted.
    ///
    /// # Errors
    /// The decoding error's text.
    pub fn ingest_protobuf(&mut self, body: &[u8], now_ms: i64) -> Result<u64, String> {
        let request = decode(body, Format::Protobuf)?;
        let mut batch = crate::ingest::validate(request, now_ms);
        self.store.ingest(&mut batch, now_ms);
        Ok(batch.accepted)
    }

    /// One judge tick at `now_ms`; returns the alerts that fired or resolved.
    pub fn tick(&mut self, now_ms: i64) -> usize {
        self.judge.tick(&mut self.store, now_ms).events.len()
    }

    /// Series tracked.
    pub fn series(&self) -> usize {
        self.store.len()
    }

    /// Bytes held by the store, by its own count (structs, heap, index).
    pub fn store_bytes(&self) -> usize {
        self.store.approx_bytes()
    }
}
