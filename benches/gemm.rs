//! Criterion benchmarks of the f32 gemm kernel. Throughput is `2·m·n·k` elements, so
//! criterion's "elem/s" reads directly as FLOP/s.
//!
//! Shapes are `A(m×k)·B(k×n)` named `m x k x n`; a `T` marks a transposed view of A
//! (`784Tx64x256` is `Xᵀ·dY` of a 784→256 layer on a 64-batch), `_NT` a transposed B.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kiln::tensor::kernels::gemm::{Threads, gemm_f32};
use std::hint::black_box;
use std::time::Duration;

/// `(name, m, k, n, a_transposed, b_transposed)`.
const SHAPES: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("sq512", 512, 512, 512, false, false),
    ("sq1024", 1024, 1024, 1024, false, false),
    ("sq2048", 2048, 2048, 2048, false, false),
    ("64x784x256", 64, 784, 256, false, false),
    ("784Tx64x256", 784, 64, 256, true, false),
    ("64x256x784_NT", 64, 256, 784, false, true),
    ("64x256x128", 64, 256, 128, false, false),
    ("256Tx64x128", 256, 64, 128, true, false),
    ("64x128x256_NT", 64, 128, 256, false, true),
    ("64x128x10", 64, 128, 10, false, false),
    ("128Tx64x10", 128, 64, 10, true, false),
    ("64x10x128_NT", 64, 10, 128, false, true),
];

fn bench_gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm_f32");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for &(name, m, k, n, ta, tb) in SHAPES {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut out = vec![0.0f32; m * n];
        let (a_rs, a_cs) = if ta { (1, m as isize) } else { (k as isize, 1) };
        let (b_rs, b_cs) = if tb { (1, k as isize) } else { (n as isize, 1) };
        group.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        group.bench_function(name, |bench| {
            bench.iter(|| {
                gemm_f32(
                    m,
                    n,
                    k,
                    black_box(&a),
                    a_rs,
                    a_cs,
                    black_box(&b),
                    b_rs,
                    b_cs,
                    &mut out,
                    n as isize,
                    1,
                    false,
                    Threads::Auto,
                );
                black_box(&mut out);
            })
        });
    }
    group.finish();
}

// No plots: criterion's plotting backend needs system fonts, which CI machines lack.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench_gemm
}
criterion_main!(benches);
