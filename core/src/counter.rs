//! The hot-path counter: one cache line per thread, written only by its owner.
//!
//! Each thread that records on a counter gets its own cache-padded cell the first time it does so.
//! Because only that thread ever writes the cell, an increment is a plain load and store (no
//! locked read-modify-write and no shared cache line), and a collector sums the cells with
//! relaxed loads. A thread that exits leaves its cell behind; the next thread to reuse its id
//! continues from the same value, so no count is ever lost.

use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use thread_local::ThreadLocal;

/// A monotonic counter sharded per thread.
#[derive(Default)]
pub(crate) struct ShardedCounter {
    cells: ThreadLocal<CachePadded<AtomicU64>>,
}

impl ShardedCounter {
    /// Adds `n`. Allocates once per thread (the first time that thread records), never after.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        let cell = self.cells.get_or_default();
        // Only this thread writes `cell`: a load and a store cannot lose an update.
        cell.store(cell.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// The total over every thread that ever recorded.
    pub(crate) fn total(&self) -> u64 {
        self.cells
            .iter()
            .fold(0u64, |sum, cell| sum.wrapping_add(cell.load(Relaxed)))
    }
}

impl std::fmt::Debug for ShardedCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ShardedCounter")
            .field(&self.total())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_from_many_threads_add_up_exactly() {
        let counter = Arc::new(ShardedCounter::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        counter.add(1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.total(), 80_000);
    }

    #[test]
    fn counts_survive_threads_that_exit_and_ids_that_are_reused() {
        let counter = Arc::new(ShardedCounter::default());
        for round in 1..=20u64 {
            let c = Arc::clone(&counter);
            std::thread::spawn(move || c.add(round)).join().unwrap();
        }
        assert_eq!(counter.total(), (1..=20).sum::<u64>());
    }
}
