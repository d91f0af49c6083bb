//! Heap accounting for the tests that prove log streaming stays bounded: a wrapper around the
//! system allocator that tracks, per thread, the bytes currently allocated and their peak.
//! Per thread, because the test harness runs other tests concurrently on other threads.
//!
//! The kit does not install it (a library that did would impose it on every binary linking
//! it); a provider's test build does, in its `lib.rs`:
//!
//! ```ignore
//! #[cfg(test)]
//! #[global_allocator]
//! static ALLOC: exlogare_kit::testing::alloc::Counting = exlogare_kit::testing::alloc::Counting;
//! ```
//!
//! Without it, [`reset_peak`] panics rather than let a bound be checked against nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// The counting allocator; see the module documentation for how to install it.
pub struct Counting;

thread_local! {
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// Set by the first allocation through [`Counting`]: it is the global allocator.
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn track(delta: isize) {
    // `try_with`: during thread teardown the slots may be gone; those frees do not matter.
    let _ = CURRENT.try_with(|c| {
        let now = c.get() + delta;
        c.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        track(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Starts a measurement on this thread; returns the current level.
pub fn reset_peak() -> isize {
    // Any test has allocated by now (its name, the harness's channels), so a false here means
    // another allocator is the global one.
    assert!(
        INSTALLED.load(Ordering::Relaxed),
        "Counting is not the global allocator: install it as the documentation of exlogare_kit::testing::alloc shows"
    );
    let now = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(now));
    now
}

/// Peak bytes allocated on this thread above `start` since [`reset_peak`].
pub fn peak_since(start: isize) -> isize {
    PEAK.with(Cell::get) - start
}
