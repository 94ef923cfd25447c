//! Criterion benchmarks of a fork-join from the calling thread: kiln's pool against
//! rayon's (the hand-off cost every parallel kernel pays), and one 64K-element
//! elementwise op that uses the pool, as in a training step.
//!
//! Run with `cargo bench --bench parallel`; see `src/tensor/parallel.rs` for why kiln
//! keeps its own pool.

use criterion::{Criterion, criterion_group, criterion_main};
use kiln::Tensor;
use kiln::tensor::parallel::run_tasks;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn bench_fork_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("fork_join_2_tasks");
    group
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    let hits = AtomicUsize::new(0);
    group.bench_function("kiln_run_tasks", |b| {
        b.iter(|| {
            run_tasks(2, &|i| {
                hits.fetch_add(black_box(i), Ordering::Relaxed);
            })
        })
    });
    group.bench_function("rayon_join_from_outside", |b| {
        b.iter(|| {
            rayon::join(
                || hits.fetch_add(black_box(1), Ordering::Relaxed),
                || hits.fetch_add(black_box(2), Ordering::Relaxed),
            )
        })
    });
    group.finish();
}

fn bench_small_elementwise(c: &mut Criterion) {
    let (a, b) = (Tensor::randn(&[256, 256]), Tensor::randn(&[256, 256]));
    c.bench_function("mul_256x256", |bench| bench.iter(|| black_box(a.mul(&b))));
}

// No plots: criterion's plotting backend needs system fonts, which CI machines lack.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench_fork_join, bench_small_elementwise
}
criterion_main!(benches);
