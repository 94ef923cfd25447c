//! Times kiln's conv2d kernels (forward, input gradient, weight gradient; f32) at the
//! PyTorch MNIST example's shapes. `scripts/bench/conv_bench.sh` runs it next to the
//! same measurements in PyTorch.
//!
//! Run: `cargo run --release --example conv_bench [threads]` (default 2).

use kiln::tensor::kernels::conv::{
    ConvGeom, conv2d_forward, conv2d_input_grad, conv2d_weight_grad,
};
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

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    kiln::set_num_threads(threads);
    println!(
        "kiln threads={threads} gemm={}",
        kiln::tensor::kernels::gemm::simd_path()
    );
    for (n, ci, co, h) in [(64, 1, 32, 28), (64, 32, 64, 26)] {
        let g = ConvGeom {
            n,
            c_in: ci,
            h,
            w: h,
            c_out: co,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            pad: [0, 0],
            dil: [1, 1],
            groups: 1,
            ho: h - 2,
            wo: h - 2,
        };
        let x: Vec<f32> = (0..n * ci * h * h)
            .map(|i| ((i * 7919) % 97) as f32 / 97.0 - 0.5)
            .collect();
        let w: Vec<f32> = (0..co * ci * 9)
            .map(|i| ((i * 31) % 17) as f32 / 17.0 - 0.5)
            .collect();
        let b = vec![0.1f32; co];
        let gy: Vec<f32> = (0..n * co * (h - 2) * (h - 2))
            .map(|i| ((i * 13) % 23) as f32 / 23.0 - 0.5)
            .collect();
        let fwd = median_ms(|| drop(std::hint::black_box(conv2d_forward(&g, &x, &w, Some(&b)))));
        let gx = median_ms(|| drop(std::hint::black_box(conv2d_input_grad(&g, &gy, &w))));
        let gw = median_ms(|| drop(std::hint::black_box(conv2d_weight_grad(&g, &gy, &x))));
        println!(
            "kiln conv2d {n}x{ci}->{co} 3x3 on {h}x{h}: forward {fwd:.3} ms, input-grad {gx:.3} ms, weight-grad {gw:.3} ms"
        );
    }
}
