//! Keeps freed tensor buffers in the process heap so the next step reuses them.
//!
//! A training or inference step frees and re-allocates the same few buffers of 0.1–2 MB
//! each time. glibc's malloc serves such sizes from fresh `mmap`s (or trims them off the
//! heap top after `free`), so every step touched brand-new pages: on the development VM
//! that cost one page fault per 4 KB, ~470 faults per inference batch, and made batch-1000
//! inference 40% slower (measured with `perf stat -e page-faults` and
//! `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=…:glibc.malloc.trim_threshold=…`).
//! Raising both thresholds once makes freed buffers stay in the heap for reuse; blocks
//! of 32 MiB and more (whole data sets) still get their own mappings and are returned
//! to the system on free. Set `KILN_MALLOC_TUNING=0` to leave malloc's settings alone.

use std::sync::Once;

/// Allocations at least this large still get their own `mmap`.
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
const MMAP_THRESHOLD: usize = 32 << 20;
/// Free memory at the heap top kept before giving it back to the system.
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
const TRIM_THRESHOLD: usize = 256 << 20;

/// Applies the settings once per process (a no-op off glibc).
pub(crate) fn tune_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var("KILN_MALLOC_TUNING").is_ok_and(|v| v == "0") {
            return;
        }
        apply();
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() {
    // SAFETY: `mallopt` only changes malloc's parameters; it is thread-safe in glibc.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() {}
