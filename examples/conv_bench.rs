//! Times kiln's conv2d kernels (forward, input gradient, weight gradient; f32) at the
//! PyTorch MNIST example's shapes, a ResNet-style 3x3, a 1x1 and a depthwise 3x3.
//! `scripts/bench/conv_bench.sh` runs it next to the same measurements in PyTorch
//! (`scripts/bench/conv_bench.py`, same shapes, same order).
//!
//! Run: `cargo run --release --example conv_bench [threads] [filter]` (default 2 threads;
//! `filter` keeps the rows whose name contains it).

use kiln::Tensor;
use kiln::tensor::kernels::conv::{self, ConvGeom};
use std::time::Instant;

fn median_ms(mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut t: Vec<f64> = (0..15)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

/// `(name, batch, c_in, c_out, kernel, size, padding, groups)` of each measured row.
/// `(name, batch, c_in, c_out, kernel, size, padding, groups)`.
type ConvShape = (
    &'static str,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
);

pub const SHAPES: [ConvShape; 5] = [
    ("mnist_conv1_b64_1x32_3x3_28", 64, 1, 32, 3, 28, 0, 1),
    ("mnist_conv2_b64_32x64_3x3_26", 64, 32, 64, 3, 26, 0, 1),
    ("resnet_b8_64x64_3x3_56", 8, 64, 64, 3, 56, 1, 1),
    ("pointwise_b8_64x256_1x1_56", 8, 64, 256, 1, 56, 0, 1),
    ("depthwise_b8_64_3x3_56", 8, 64, 64, 3, 56, 1, 64),
];

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2);
    let filter = args.next().unwrap_or_default();
    kiln::set_num_threads(threads);
    println!(
        "kiln threads={threads} gemm={}",
        kiln::tensor::kernels::gemm::simd_path()
    );
    for (name, n, ci, co, k, h, p, groups) in SHAPES {
        if !name.contains(&filter) {
            continue;
        }
        let ho = h + 2 * p - k + 1;
        let g = ConvGeom {
            n,
            c_in: ci,
            h,
            w: h,
            c_out: co,
            kh: k,
            kw: k,
            stride: [1, 1],
            pad: [p, p],
            dil: [1, 1],
            groups,
            ho,
            wo: ho,
        };
        kiln::manual_seed(0);
        let x = Tensor::randn(&[n, ci, h, h]);
        let w = Tensor::randn(&[co, ci / groups, k, k]);
        let b = Tensor::randn(&[co]);
        let gy = Tensor::randn(&[n, co, ho, ho]);
        let fwd = median_ms(|| drop(std::hint::black_box(conv::forward(&x, &w, Some(&b), &g))));
        let gx = median_ms(|| drop(std::hint::black_box(conv::input_grad(&gy, &w, &g))));
        let gw = median_ms(|| drop(std::hint::black_box(conv::weight_grad(&gy, &x, &g))));
        println!("kiln {name}: forward {fwd:.3} ms, input-grad {gx:.3} ms, weight-grad {gw:.3} ms");
    }
}
