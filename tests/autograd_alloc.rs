//! Heap allocations per op, counted by a global allocator, under `no_grad` and in grad mode.
//!
//! Its own test binary because `#[global_allocator]` is process-wide. Counts are per thread
//! (a thread-local flag marks the thread being measured), so the test harness's other threads
//! and kiln's worker pool do not disturb them; the inputs are small enough that every op
//! here runs on the calling thread.
//!
//! Run with `cargo test --test autograd_alloc -- --nocapture` to see the table.

use kiln::{Tensor, no_grad};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

fn counted() {
    // `try_with`: the allocator runs during thread teardown too, after TLS is gone.
    if MEASURING.try_with(|m| m.get()).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        counted();
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        counted();
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        counted();
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread (its result is dropped outside the count).
fn count<R>(f: impl FnOnce() -> R) -> usize {
    ALLOCS.store(0, Ordering::Relaxed);
    MEASURING.with(|m| m.set(true));
    let r = f();
    MEASURING.with(|m| m.set(false));
    let n = ALLOCS.load(Ordering::Relaxed);
    drop(r);
    n
}

type Op = fn(&Tensor, &Tensor) -> Tensor;

fn ops() -> Vec<(&'static str, Op)> {
    vec![
        ("add", |a, b| a.add(b)),
        ("mul", |a, b| a.mul(b)),
        ("matmul", |a, b| a.matmul(b)),
        ("relu", |a, _| a.relu()),
        ("neg", |a, _| a.neg()),
        ("exp", |a, _| a.exp()),
        ("sum", |a, _| a.sum()),
    ]
}

/// Allocation counts for each op on 8x8 f32 inputs: (name, inputs without requires_grad,
/// inputs that require grad under `no_grad`, the same in grad mode).
fn table() -> Vec<(&'static str, usize, usize, usize)> {
    let a = Tensor::randn(&[8, 8]).requires_grad_(true);
    let b = Tensor::randn(&[8, 8]).requires_grad_(true);
    let (pa, pb) = (a.detach(), b.detach());
    ops()
        .into_iter()
        .map(|(name, f)| {
            // Warm up once so lazily initialised state (thread pools, TLS) is not counted.
            drop(f(&a, &b));
            drop(no_grad(|| f(&a, &b)));
            let plain = count(|| f(&pa, &pb));
            let off = no_grad(|| count(|| f(&a, &b)));
            let on = count(|| f(&a, &b));
            (name, plain, off, on)
        })
        .collect()
}

#[test]
fn no_grad_allocates_nothing_for_autograd() {
    let t = table();
    println!(
        "size_of::<TensorImpl>() = {} bytes",
        std::mem::size_of::<kiln::tensor::TensorImpl>()
    );
    println!("op      plain  no_grad  grad");
    for (name, plain, off, on) in &t {
        println!("{name:<7} {plain:>5}  {off:>7}  {on:>4}");
    }
    // relu, exp and neg are the same kind of op (one elementwise map into a new result);
    // neg saves nothing for backward, so one that costs more under no_grad saved eagerly
    // (before the fix, relu and exp built `Saved::data(&out)` outside `record`).
    let of = |n: &str| t.iter().find(|r| r.0 == n).unwrap().2;
    for op in ["relu", "exp"] {
        assert!(
            of(op) <= of("neg"),
            "{op} allocates {} times under no_grad, neg {}",
            of(op),
            of("neg")
        );
    }
    for (name, plain, off, on) in t {
        // The bound: under no_grad an op on tensors that require grad must allocate exactly
        // what it allocates on plain tensors (its result and scratch space), nothing for
        // the graph: no node, no saved tensors, no autograd metadata.
        assert_eq!(
            off, plain,
            "{name}: {off} allocations under no_grad, {plain} without requires_grad"
        );
        assert!(
            off < on,
            "{name}: {off} allocations under no_grad, {on} in grad mode"
        );
    }
}
