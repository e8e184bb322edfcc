//! A record length read from disk is checked before anything is allocated
//! for it: a damaged length must cost a skipped record, not gigabytes.
//!
//! Its own test binary, because it counts allocations through the global
//! allocator: the largest single allocation made while the outbox opens a
//! directory whose only record claims to be 4 GiB long.

#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use tcu_link::outbox::Outbox;

struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the
// only addition is recording the size asked for.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

#[test]
fn a_record_length_read_from_disk_is_checked_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    // A record marker, then a length of almost 4 GiB, then a few bytes.
    let mut bytes = vec![0xF5, b'T', b'C', b'R'];
    bytes.extend_from_slice(&(u32::MAX - 16).to_le_bytes());
    bytes.extend_from_slice(&[0u8; 64]);
    std::fs::write(dir.path().join("seg-0000000000.log"), &bytes).unwrap();
    LARGEST.store(0, Ordering::Relaxed);
    let mut o = Outbox::new(Some(dir.path()), 64 << 20, 16);
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < 16 << 20,
        "opening the outbox allocated {largest} bytes at once"
    );
    let d = o.take_dropped().expect("the damaged record is reported");
    assert_eq!(d.count, 1, "{d:?}");
    assert!(o.is_empty());
}
