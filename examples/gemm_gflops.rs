//! Prints kiln's f32 matmul GFLOP/s, timed like `scripts/bench_gemm_pytorch.py`
//! (warm-up, then the median time of single calls over at least `--reps`
//! calls and ~0.3 s), so
//! the two can be run interleaved by `scripts/compare_gemm.sh`.
//!
//! Usage: `cargo run --release --example gemm_gflops -- [--threads auto|single|rayon|N]
//! [--reps R] [--only NAME,...]`. Output: one `name<TAB>GFLOP/s` line per shape.
//! Shapes are `A(m×k)·B(k×n)` named `m x k x n`, with `T` marking a transposed
//! (column-major) view of A or B, as in a backward pass.

use kiln::tensor::kernels::gemm::{Threads, gemm_f32, simd_path};
use std::time::{Duration, Instant};

/// Minimum timing per shape after warm-up.
const BUDGET: Duration = Duration::from_millis(300);

/// `(name, m, k, n, a_transposed, b_transposed)`; keep in sync with the Python script.
const SHAPES: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("sq512", 512, 512, 512, false, false),
    ("sq1024", 1024, 1024, 1024, false, false),
    ("sq2048", 2048, 2048, 2048, false, false),
    ("64x784x256", 64, 784, 256, false, false),
    ("64x784x256_NT", 64, 784, 256, false, true),
    ("784Tx64x256", 784, 64, 256, true, false),
    ("64x256x784_NT", 64, 256, 784, false, true),
    ("64x256x128", 64, 256, 128, false, false),
    ("256Tx64x128", 256, 64, 128, true, false),
    ("64x128x256_NT", 64, 128, 256, false, true),
    ("64x128x10", 64, 128, 10, false, false),
    ("128Tx64x10", 128, 64, 10, true, false),
    ("64x10x128_NT", 64, 10, 128, false, true),
    ("256Tx64x784", 256, 64, 784, true, false),
    ("128Tx64x256", 128, 64, 256, true, false),
    // The MNIST CNN's fc1 (9216 -> 128, batch 64): forward, weight and input gradient.
    ("64x9216x128_NT", 64, 9216, 128, false, true),
    ("128Tx64x9216", 128, 64, 9216, true, false),
    ("64x128x9216", 64, 128, 9216, false, false),
    ("x128x9216x64_NT", 128, 9216, 64, false, true),
    ("x64x9216x128", 64, 9216, 128, false, false),
    ("x9216Tx64x128", 64, 9216, 128, true, false),
    ("y64x1024x128_NT", 64, 1024, 128, false, true),
    ("y64x2048x128_NT", 64, 2048, 128, false, true),
    ("y64x4096x128_NT", 64, 4096, 128, false, true),
    ("y64x2048x512_NT", 64, 2048, 512, false, true),
    ("y256x9216x128_NT", 256, 9216, 128, false, true),
    ("y64x1024x1024_NT", 64, 1024, 1024, false, true),
];

fn main() {
    let mut threads = Threads::Auto;
    let mut reps = 31usize;
    let mut only: Option<Vec<String>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let val = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--threads" => {
                threads = match val.as_str() {
                    "auto" => Threads::Auto,
                    "single" | "1" => Threads::Single,
                    "rayon" => Threads::Rayon(0),
                    n => Threads::Split(n.parse().expect("--threads auto|single|rayon|N")),
                }
            }
            "--reps" => reps = val.parse().expect("--reps N"),
            "--only" => only = Some(val.split(',').map(str::to_owned).collect()),
            _ => panic!("unknown flag {flag}"),
        }
    }
    eprintln!(
        "kiln gemm: simd={} pool_threads={} threads={threads:?}",
        simd_path(),
        kiln::get_num_threads()
    );
    for &(name, m, k, n, ta, tb) in SHAPES {
        if only.as_ref().is_some_and(|o| !o.iter().any(|s| s == name)) {
            continue;
        }
        let secs = time_shape(m, k, n, ta, tb, threads, reps);
        println!("{name}\t{:.2}", 2.0 * (m * n * k) as f64 / secs / 1e9);
    }
}

/// Median seconds per call of one shape.
fn time_shape(m: usize, k: usize, n: usize, ta: bool, tb: bool, t: Threads, reps: usize) -> f64 {
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 104_729) % 1000) as f32 * 1e-3 - 0.5)
        .collect();
    let mut c = vec![0.0f32; m * n];
    // Row-major strides, or column-major for a transposed view.
    let (a_rs, a_cs) = if ta { (1, m as isize) } else { (k as isize, 1) };
    let (b_rs, b_cs) = if tb { (1, k as isize) } else { (n as isize, 1) };
    let mut call = || {
        gemm_f32(
            m, n, k, &a, a_rs, a_cs, &b, b_rs, b_cs, &mut c, n as isize, 1, false, t,
        )
    };
    // Warm up (also starts the thread pool), then time single calls: the median of
    // many calls shrugs off the odd preemption on a shared machine.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(100) {
        call();
    }
    let start = Instant::now();
    let mut times = Vec::new();
    while times.len() < reps.max(1) || (start.elapsed() < BUDGET && times.len() < 5000) {
        let t0 = Instant::now();
        call();
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
