//! How much heap a run needs: a counting allocator that keeps, per thread,
//! the bytes that thread has allocated and not yet freed, and its highest
//! value.
//!
//! The [`pool`](crate::pool) trains each run on a thread of its own (its
//! one-thread rayon pool), so the peak of that thread over the run is the
//! run's peak heap, even with other runs going on beside it. A binary opts
//! in by installing the allocator:
//!
//! ```ignore
//! #[global_allocator]
//! static HEAP: runner::CountingAllocator = runner::CountingAllocator;
//! ```
//!
//! Without it, [`thread_peak`] gives `None` and runs record no peak. The
//! figure is heap bytes requested (what the program holds), not resident
//! memory: the allocator's own overhead and the stacks are not in it.

// The one `unsafe` of this crate: `GlobalAlloc` is an unsafe trait. Every
// method hands the request to `System` unchanged and only counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// The system allocator, counting each thread's live and peak bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    // Signed: a thread may free memory another thread allocated (a value
    // moved to it), which takes its own count below what it allocated.
    // Const-initialised without a destructor, so the allocator may touch
    // them at any time, thread teardown included.
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn count(delta: i64) {
    // `try_with`: never panic inside the allocator.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn to_i64(size: usize) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

// SAFETY: every method forwards its arguments to `System`, which upholds
// the `GlobalAlloc` contract; the counting touches only thread-locals that
// never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            INSTALLED.store(true, Ordering::Relaxed);
            count(to_i64(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            INSTALLED.store(true, Ordering::Relaxed);
            count(to_i64(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) };
        count(-to_i64(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(to_i64(new_size) - to_i64(layout.size()));
        }
        p
    }
}

/// Runs `f` on this thread and returns its result with the most heap it
/// held at once, in bytes above what the thread held when `f` began
/// (`None` unless [`CountingAllocator`] is the global allocator).
/// Allocations of other threads, `f`'s rayon tasks on other threads
/// included, are not counted: give `f` a thread of its own.
pub fn thread_peak<T>(f: impl FnOnce() -> T) -> (T, Option<u64>) {
    let start = LIVE.try_with(Cell::get).unwrap_or(0);
    let outer_peak = PEAK.try_with(|peak| peak.replace(start)).unwrap_or(0);
    let value = f();
    let peak = PEAK.try_with(Cell::get).unwrap_or(start);
    // Nested measurements leave the outer one's peak as it would be.
    let _ = PEAK.try_with(|p| p.set(p.get().max(outer_peak)));
    let bytes = u64::try_from(peak - start).unwrap_or(0);
    (value, INSTALLED.load(Ordering::Relaxed).then_some(bytes))
}
