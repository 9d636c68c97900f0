//! The hot path does not allocate: once a thread has recorded on an outcome (its first record
//! allocates that thread's cell), every further record on it makes zero heap allocations.
//!
//! A counting global allocator wraps the system one. It counts only on threads that opted in,
//! so the test harness's own threads cannot disturb the count; the test checks that the counter
//! does see an allocation, so a broken counter cannot make it pass.
//!
//! Needs no feature: only the runtime-free core is used.

// A `#[global_allocator]` must `unsafe impl GlobalAlloc`; the unsafe code is confined to that
// impl, which forwards every call unchanged to `System`.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use heartbeat::{OutcomeResult, Registry};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// Allocations (including reallocations) made on counting threads.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // `const` and without `Drop`: reading it never allocates, so the allocator may use it.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

struct CountingAllocator;

impl CountingAllocator {
    fn note(&self) {
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, SeqCst);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments; counting touches only
// an atomic and a const thread-local, neither of which allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.note();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.note();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.note();
        // SAFETY: `ptr` and `layout` came from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` came from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// How many allocations `f` makes on this thread.
fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(SeqCst);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(SeqCst) - before
}

const N: u64 = 100_000;

/// One test, so that nothing else runs in this binary while it counts.
#[test]
fn hot_path_makes_no_heap_allocation_after_the_first_record_on_a_thread() {
    // The counter works: a heap allocation on this thread is seen.
    let boxed = allocations_during(|| drop(black_box(Box::new(black_box(7_u64)))));
    assert!(boxed >= 1, "the counting allocator missed a Box allocation");

    let registry = Registry::new();
    let send = registry
        .outcome("message.send")
        .with_attribute("surface", "web_messenger")
        .with_reasons(["timeout", "rejected"])
        .build()
        .unwrap();
    let acme = send.tenant("acme"); // admits the tenant
    send.success_for("acme");

    // Warm-up: the first record on this thread allocates the thread's cell of each counter.
    send.success();
    send.failure();
    send.failure_with("timeout");
    acme.success();

    let hot = allocations_during(|| {
        for i in 0..N {
            let s = black_box(&send);
            s.success();
            s.failure();
            s.failure_with(black_box("timeout"));
            s.record(i % 2 == 0);
            black_box(&acme).success();
            s.success_for(black_box("acme"));
        }
    });
    assert_eq!(
        hot, 0,
        "{hot} heap allocations in {N} rounds of hot-path records"
    );

    // Every record landed (so the loop above really recorded).
    let mut counts = Vec::new();
    registry.collect(|s| {
        let own = |v: Option<&str>| v.map(str::to_owned);
        counts.push((s.result(), own(s.reason()), own(s.tenant()), s.value()));
    });
    let count = |result, reason, tenant| {
        counts
            .iter()
            .find(|c| c.0 == result && c.1.as_deref() == reason && c.2.as_deref() == tenant)
            .map(|c| c.3)
    };
    let (ok, fail) = (OutcomeResult::Success, OutcomeResult::Failure);
    assert_eq!(count(ok, None, None), Some(1 + N + N / 2));
    assert_eq!(count(fail, Some("unspecified"), None), Some(1 + N + N / 2));
    assert_eq!(count(fail, Some("timeout"), None), Some(1 + N));
    assert_eq!(count(ok, None, Some("acme")), Some(2 + 2 * N));
}
