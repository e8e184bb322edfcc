//! Cache hints: asking the processor to start loading memory a tick is
//! about to read, so that a fleet worker can overlap the cache misses of
//! its next vehicle with the tick of the current one. A hint only: on a
//! target without one it does nothing, and it never changes a result.

/// Bytes in a cache line, the step between two hints.
const LINE: usize = 64;

/// Hints that the memory of `s` will be read soon.
#[inline]
pub fn prefetch_slice<T>(s: &[T]) {
    prefetch_bytes(s.as_ptr().cast(), std::mem::size_of_val(s));
}

/// Hints that `v` itself (not what it points to) will be read soon.
#[inline]
pub fn prefetch_value<T>(v: &T) {
    prefetch_bytes(std::ptr::from_ref(v).cast(), std::mem::size_of::<T>());
}

/// Hints that the `len` bytes from `p` will be read soon.
#[inline]
pub fn prefetch_bytes(p: *const u8, len: usize) {
    for off in (0..len).step_by(LINE) {
        prefetch(p.wrapping_add(off));
    }
}

#[inline]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing the program sees,
    // whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above: `prfm` never faults.
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}
