//! A global allocator that counts live heap bytes, for the memory tests: include it with
//! `mod counting_alloc;` in a test binary whose every test may share the count (it is process
//! wide). It forwards every call unchanged to `System`.
// A `#[global_allocator]` must `unsafe impl GlobalAlloc`; the unsafe code is confined to that
// impl.
#![allow(unsafe_code, dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static ALLOCATED: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

struct Counting;

fn bytes(layout: Layout) -> u64 {
    u64::try_from(layout.size()).unwrap_or(u64::MAX)
}

// SAFETY: every method forwards to `System` with the caller's arguments; counting touches only
// atomics, which do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(bytes(layout), Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(bytes(layout), Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(u64::try_from(new_size).unwrap_or(u64::MAX), Relaxed);
        FREED.fetch_add(bytes(layout), Relaxed);
        // SAFETY: `ptr` and `layout` came from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREED.fetch_add(bytes(layout), Relaxed);
        // SAFETY: `ptr` and `layout` came from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap bytes allocated and not yet freed, by the whole process.
pub(crate) fn live_bytes() -> i64 {
    let allocated = i64::try_from(ALLOCATED.load(Relaxed)).unwrap_or(i64::MAX);
    let freed = i64::try_from(FREED.load(Relaxed)).unwrap_or(i64::MAX);
    allocated - freed
}

/// Heap bytes allocated so far, freed or not.
pub(crate) fn allocated_bytes() -> u64 {
    ALLOCATED.load(Relaxed)
}
