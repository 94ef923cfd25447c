//! kiln's caching allocator for tensor buffers, like PyTorch's CPU caching allocator.
//!
//! A training or inference step frees and re-allocates the same few buffers of 0.1–2 MB
//! each time. glibc's malloc serves such sizes from fresh `mmap`s (or trims them off the
//! heap top after `free`), so every step touched brand-new pages: one page fault per
//! 4 KB, and batch-1000 inference 40% slower. Rather than change the host program's
//! malloc settings, kiln keeps the buffers itself: when a tensor's storage is dropped,
//! a buffer of [`MIN_BLOCK`] to [`MAX_BLOCK`] bytes goes into a free list for its size
//! class, and the next kernel output of that class takes it back (warm, already mapped).
//!
//! Size classes: four per power of two (a request is rounded up by at most 25%).
//! Thread-safe (one mutex, taken only for buffers of [`MIN_BLOCK`] bytes or more).
//! Bounded: at most [`cache_limit`] bytes are kept, 256 MiB unless `KILN_CACHE_BYTES`
//! or [`set_cache_limit`] says otherwise (0 turns caching off); past the limit the
//! least recently freed blocks go back to the system. [`empty_cache`] frees them all.

use parking_lot::Mutex;
use std::alloc::Layout;
use std::collections::{HashMap, HashSet};
use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Buffers smaller than this are left to malloc (its bins reuse them well).
pub const MIN_BLOCK: usize = 64 << 10;
/// Buffers larger than this (whole data sets) are never cached.
pub const MAX_BLOCK: usize = 32 << 20;
/// The default bound on cached bytes.
pub const DEFAULT_LIMIT: usize = 256 << 20;

/// A freed block: its address and when it was freed (for least-recently-freed eviction).
struct Block {
    ptr: *mut u8,
    stamp: u64,
}

// SAFETY: a cached block is owned by the cache alone; nothing else points at it.
unsafe impl Send for Block {}

#[derive(Default)]
struct Cache {
    /// Free blocks by (alignment, class bytes), oldest first.
    lists: HashMap<(usize, usize), Vec<Block>>,
    total: usize,
    clock: u64,
    /// Addresses of the blocks handed out and not yet back. Only these are taken back:
    /// other vectors whose capacity happens to be a class size (a `collect` that grew by
    /// doubling) would otherwise fill the cache with blocks nobody asks for. Vectors
    /// freed outside a tensor never come back, so the set is cleared when it grows past
    /// [`MAX_LIVE`] (a stale entry only lets one such vector in; the layout check keeps
    /// that sound).
    live: HashSet<usize>,
}

/// The most handed-out addresses remembered.
const MAX_LIVE: usize = 1 << 16;

static CACHE: Mutex<Option<Cache>> = Mutex::new(None);
/// `usize::MAX` until read from the environment.
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

static HITS: AtomicUsize = AtomicUsize::new(0);
static MISSES: AtomicUsize = AtomicUsize::new(0);

/// Counters of the cache since the process started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheStats {
    /// Allocations served from a cached block.
    pub hits: usize,
    /// Allocations of a cached size class that found no block.
    pub misses: usize,
    /// Bytes held in free blocks now.
    pub cached_bytes: usize,
}

/// The cache's counters now.
pub fn cache_stats() -> CacheStats {
    CacheStats {
        hits: HITS.load(Relaxed),
        misses: MISSES.load(Relaxed),
        cached_bytes: cached_bytes(),
    }
}

/// The most bytes the cache keeps.
pub fn cache_limit() -> usize {
    let v = LIMIT.load(Relaxed);
    if v != usize::MAX {
        return v;
    }
    let v = std::env::var("KILN_CACHE_BYTES")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(DEFAULT_LIMIT)
        .min(usize::MAX - 1);
    LIMIT.store(v, Relaxed);
    v
}

/// Sets the most bytes the cache keeps (0 disables it), freeing blocks beyond it.
pub fn set_cache_limit(bytes: usize) {
    LIMIT.store(bytes.min(usize::MAX - 1), Relaxed);
    if let Some(c) = CACHE.lock().as_mut() {
        c.shrink_to(bytes);
    }
}

/// Bytes held in free blocks now.
pub fn cached_bytes() -> usize {
    CACHE.lock().as_ref().map_or(0, |c| c.total)
}

/// Returns every cached block to the system (`torch.cuda.empty_cache()`'s CPU analog).
pub fn empty_cache() {
    if let Some(c) = CACHE.lock().as_mut() {
        c.shrink_to(0);
    }
}

/// The class a request of `bytes` is rounded up to, if it is cached at all.
fn class_of(bytes: usize) -> Option<usize> {
    if !(MIN_BLOCK..=MAX_BLOCK).contains(&bytes) {
        return None;
    }
    let step = (1usize << (usize::BITS - 1 - bytes.leading_zeros())) / 4;
    Some(bytes.next_multiple_of(step))
}

impl Cache {
    fn shrink_to(&mut self, limit: usize) {
        while self.total > limit {
            let Some((&key, _)) = self
                .lists
                .iter()
                .filter(|(_, l)| !l.is_empty())
                .min_by_key(|(_, l)| l[0].stamp)
            else {
                break;
            };
            let b = self.lists.get_mut(&key).expect("list").remove(0);
            self.total -= key.1;
            // SAFETY: the block was allocated by the global allocator with this layout
            // (see `recycle`) and is owned by the cache.
            unsafe { std::alloc::dealloc(b.ptr, Layout::from_size_align_unchecked(key.1, key.0)) };
        }
    }
}

/// An empty vector with room for at least `n` elements: a cached block of `n`'s class
/// when there is one, else a fresh allocation of the class size (so that it is cached
/// when the tensor holding it is dropped).
pub fn vec_with_capacity<T>(n: usize) -> Vec<T> {
    let elem = size_of::<T>();
    let Some(class) = n.checked_mul(elem).and_then(class_of) else {
        return Vec::with_capacity(n);
    };
    if class % elem != 0 || cache_limit() == 0 {
        return Vec::with_capacity(n);
    }
    let mut guard = CACHE.lock();
    let c = guard.get_or_insert_with(Cache::default);
    let taken = c
        .lists
        .get_mut(&(align_of::<T>(), class))
        .and_then(|l| l.pop());
    (if taken.is_some() { &HITS } else { &MISSES }).fetch_add(1, Relaxed);
    let v = match taken {
        Some(b) => {
            c.total -= class;
            // SAFETY: the block came from a `Vec` whose buffer had exactly this size and
            // alignment (the key), allocated by the global allocator; it is now ours.
            unsafe { Vec::from_raw_parts(b.ptr.cast::<T>(), 0, class / elem) }
        }
        None => Vec::with_capacity(class / elem),
    };
    if c.live.len() >= MAX_LIVE {
        c.live.clear();
    }
    c.live.insert(v.as_ptr() as usize);
    v
}

/// A vector of `n` copies of `value`, in a cached block when there is one.
pub fn filled_vec<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v = vec_with_capacity(n);
    v.resize(n, value);
    v
}

/// Takes back the buffer of `v` into the cache if its size is a class and it fits under
/// the limit; otherwise frees it.
pub fn recycle<T>(v: Vec<T>) {
    let bytes = v.capacity() * size_of::<T>();
    if size_of::<T>() == 0 || class_of(bytes) != Some(bytes) {
        return;
    }
    let limit = cache_limit();
    if bytes > limit {
        return;
    }
    let mut guard = CACHE.lock();
    let c = guard.get_or_insert_with(Cache::default);
    if !c.live.remove(&(v.as_ptr() as usize)) {
        return;
    }
    let mut v = std::mem::ManuallyDrop::new(v);
    let ptr = v.as_mut_ptr().cast::<u8>();
    c.clock += 1;
    let stamp = c.clock;
    c.lists
        .entry((align_of::<T>(), bytes))
        .or_default()
        .push(Block { ptr, stamp });
    c.total += bytes;
    c.shrink_to(limit);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache is process-wide: the tests that look at its contents take turns.
    static LOCK: Mutex<()> = Mutex::new(());

    #[test]
    fn classes_round_up_by_at_most_a_quarter() {
        assert_eq!(class_of(MIN_BLOCK - 1), None);
        assert_eq!(class_of(MAX_BLOCK + 1), None);
        for bytes in [
            MIN_BLOCK,
            65_537,
            100_000,
            1 << 20,
            (1 << 20) + 1,
            3_000_000,
        ] {
            let c = class_of(bytes).unwrap();
            assert!(c >= bytes && c * 4 <= bytes * 5 + 4 * 64, "{bytes} -> {c}");
            assert_eq!(class_of(c), Some(c), "a class is its own class");
        }
    }

    #[test]
    fn a_freed_buffer_is_reused_by_the_next_of_its_class() {
        let _g = LOCK.lock();
        let v: Vec<f32> = vec_with_capacity(300_000);
        let p = v.as_ptr();
        recycle(v);
        // A slightly smaller request of the same class gets the same block back.
        let w: Vec<f32> = vec_with_capacity(299_000);
        assert_eq!(w.as_ptr(), p);
        assert!(w.capacity() >= 300_000);
        // Another dtype of the same alignment and byte size may take it too; a
        // different alignment may not.
        recycle(w);
        let x: Vec<f64> = vec_with_capacity(150_000);
        assert_ne!(x.as_ptr().cast::<f32>(), p);
        recycle(x);
        empty_cache();
        assert_eq!(cached_bytes(), 0);
    }

    #[test]
    fn the_bound_is_kept() {
        let _g = LOCK.lock();
        let old = cache_limit();
        set_cache_limit(1 << 20);
        for _ in 0..8 {
            recycle(vec_with_capacity::<u8>(400_000));
        }
        assert!(cached_bytes() <= 1 << 20);
        set_cache_limit(0);
        assert_eq!(cached_bytes(), 0);
        let v: Vec<u8> = vec_with_capacity(400_000);
        recycle(v);
        assert_eq!(cached_bytes(), 0, "a zero limit caches nothing");
        set_cache_limit(old);
    }

    #[test]
    fn tensor_buffers_come_back_through_storage_drop() {
        let _g = LOCK.lock();
        empty_cache();
        let t = crate::Tensor::zeros(&[512, 512]);
        let p = t.with_contiguous(|s: &[f32]| s.as_ptr());
        drop(t);
        assert!(cached_bytes() >= 512 * 512 * 4);
        let u = (&crate::Tensor::ones(&[512, 512]) * 2.0).exp();
        let _ = u;
        let again: Vec<f32> = vec_with_capacity(512 * 512);
        let _ = (p, again);
        empty_cache();
    }
}
