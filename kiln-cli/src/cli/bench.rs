//! `kiln bench`: the workloads of `scripts/bench_pytorch.py`, timed the same way (median
//! of repeats after a warm-up) and printed as one JSON object with the same keys, so
//! `scripts/compare.py` can put the two side by side.

use super::error::CliError;
use kiln::data::datasets::Mnist;
use kiln::nn::models::{digit_classifier, mlp};
use kiln::nn::{Module, Sequential};
use kiln::optim::{Adam, Optimizer};
use kiln::{Generator, Tensor};
use std::time::Instant;

/// Options of `kiln bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Threads for kiln's pool (PyTorch's script takes the same --threads).
    #[arg(long, default_value_t = 2, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=super::args::MAX_THREADS))]
    pub threads: usize,
    /// One repeat instead of three for the epoch timings.
    #[arg(long)]
    pub quick: bool,
    /// Run only the workloads whose result key starts with this (e.g. `mnist_epoch_b64`),
    /// for profiling one of them.
    #[arg(long)]
    pub only: Option<String>,
}

impl BenchArgs {
    /// True when `key` is selected by `--only`, or is a group (`mnist`) whose keys may be:
    /// the group check and the row check use the same test, so `--only mnist_epoch_b64`
    /// reaches the MNIST group and then only its batch-64 row.
    fn wants(&self, key: &str) -> bool {
        self.only
            .as_deref()
            .is_none_or(|o| key.starts_with(o) || o.starts_with(key))
    }
}

pub(crate) fn median_secs(repeats: usize, warmup: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let mut t: Vec<f64> = (0..repeats)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// One shuffled epoch, exactly as the PyTorch script's `train_epoch`.
fn train_epoch(
    model: &Sequential,
    opt: &mut Adam,
    x: &Tensor,
    y: &Tensor,
    batch: usize,
    g: &mut Generator,
) {
    model.train();
    let n = x.shape()[0];
    let perm = Tensor::randperm_with(n, g);
    let mut i = 0;
    while i < n {
        let idx = perm.narrow(0, i as isize, batch.min(n - i));
        opt.zero_grad();
        let loss = kiln::nn::functional::cross_entropy(
            &model.forward(&x.index_select(0, &idx)),
            &y.index_select(0, &idx),
        );
        loss.backward();
        opt.step();
        i += batch;
    }
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs every workload and prints the JSON line.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    kiln::manual_seed(0);
    let reps = if args.quick { 1 } else { 3 };
    let mut out = serde_json::Map::new();
    out.insert(
        "library".into(),
        format!("kiln {}", env!("CARGO_PKG_VERSION")).into(),
    );
    out.insert("threads".into(), args.threads.into());
    if ["mnist", "inference", "deep"].iter().any(|k| args.wants(k)) {
        mnist_workloads(args, reps, &mut out)?;
    }
    if args.wants("gemm") {
        gemm_rates(&mut out);
    }
    if args.wants("elementwise") || args.wants("sum") || args.wants("memcpy") {
        bandwidths(&mut out);
    }
    if args.wants("conv") {
        conv_passes(args, &mut out);
    }
    if args.wants("rnn") {
        super::bench_rnn::rows(&mut out);
    }
    if args.wants("simd") {
        super::bench_simd::rows(&mut out);
    }
    out.insert("peak_rss_mb".into(), peak_rss_mb().into());
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}

/// The MNIST epochs, inference and the deep-MLP step.
fn mnist_workloads(args: &BenchArgs, reps: usize, out: &mut Results) -> Result<(), CliError> {
    let train = Mnist::new(None, true, false)?;
    let test = Mnist::new(None, false, false)?;
    let x = train.float_images(Some((0.1307, 0.3081)));
    let y = train.labels().shallow_clone();
    let xt = test.float_images(Some((0.1307, 0.3081)));
    let mut g = Generator::new(0);
    let mut model = digit_classifier();
    for batch in [64usize, 256] {
        if args.wants(&format!("mnist_epoch_b{batch}")) {
            model = digit_classifier();
            let mut opt = Adam::new(model.parameters(), 1e-3);
            let t = median_secs(reps, 1, || {
                train_epoch(&model, &mut opt, &x, &y, batch, &mut g)
            });
            out.insert(format!("mnist_epoch_b{batch}_s"), t.into());
        }
    }
    if args.wants("inference") {
        model.eval();
        let n_test = xt.shape()[0];
        let t = median_secs(reps * 3, 1, || {
            kiln::no_grad(|| {
                for i in (0..n_test).step_by(1000) {
                    let batch = xt.narrow(0, i as isize, 1000.min(n_test - i));
                    std::hint::black_box(model.forward(&batch));
                }
            })
        });
        out.insert(
            "inference_b1000_samples_per_s".into(),
            (n_test as f64 / t).into(),
        );
    }
    if args.wants("deep") {
        let deep = mlp(784, 1024, 4, 10);
        let mut dopt = Adam::new(deep.parameters(), 1e-3);
        let (xb, yb) = (x.narrow(0, 0, 256), y.narrow(0, 0, 256));
        let t = median_secs(10, 2, || {
            dopt.zero_grad();
            kiln::nn::functional::cross_entropy(&deep.forward(&xb), &yb).backward();
            dopt.step();
        });
        out.insert("deep_mlp_step_b256_s".into(), t.into());
    }
    Ok(())
}

/// `(key, batch, c_in, c_out, kernel, size, padding, groups)` of the conv rows; the
/// same list is in `scripts/bench_pytorch.py` and `examples/conv_bench.rs`.
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

const CONV_SHAPES: [ConvShape; 5] = [
    ("conv_mnist1_b64_1x32_3x3_28", 64, 1, 32, 3, 28, 0, 1),
    ("conv_mnist2_b64_32x64_3x3_26", 64, 32, 64, 3, 26, 0, 1),
    ("conv_resnet_b8_64x64_3x3_56", 8, 64, 64, 3, 56, 1, 1),
    ("conv_pointwise_b8_64x256_1x1_56", 8, 64, 256, 1, 56, 0, 1),
    ("conv_depthwise_b8_64_3x3_56", 8, 64, 64, 3, 56, 1, 64),
];

/// Forward, input-gradient and weight-gradient time (ms, f32, median of 15 after 3
/// warm-ups) of each conv shape: `<key>_fwd_ms`, `_gx_ms`, `_gw_ms`. The gradients are
/// the kernels the conv's backward calls (PyTorch's side: `convolution_backward` with
/// one output mask each).
fn conv_passes(args: &BenchArgs, out: &mut Results) {
    use kiln::nn::functional::{ConvOptions, conv2d};
    use kiln::tensor::kernels::conv::{self, ConvGeom};
    for (key, n, ci, co, k, h, p, groups) in CONV_SHAPES {
        if !args.wants(key) {
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
        let x = Tensor::randn(&[n, ci, h, h]);
        let w = Tensor::randn(&[co, ci / groups, k, k]);
        let b = Tensor::randn(&[co]);
        let gy = Tensor::randn(&[n, co, ho, ho]);
        let o = ConvOptions::new().padding(p).groups(groups);
        let ms = |f: &mut dyn FnMut()| median_secs(15, 3, f) * 1e3;
        let fwd = ms(&mut || {
            kiln::no_grad(|| std::hint::black_box(conv2d(&x, &w, Some(&b), o)));
        });
        let gx = ms(&mut || drop(std::hint::black_box(conv::input_grad(&gy, &w, &g))));
        let gw = ms(&mut || drop(std::hint::black_box(conv::weight_grad(&gy, &x, &g))));
        out.insert(format!("{key}_fwd_ms"), fwd.into());
        out.insert(format!("{key}_gx_ms"), gx.into());
        out.insert(format!("{key}_gw_ms"), gw.into());
    }
}

type Results = serde_json::Map<String, serde_json::Value>;

fn gemm_rates(out: &mut Results) {
    for (m, k, n) in [
        (64, 784, 256),
        (512, 512, 512),
        (1024, 1024, 1024),
        (2048, 2048, 2048),
    ] {
        let (a, b) = (Tensor::randn(&[m, k]), Tensor::randn(&[k, n]));
        let t = median_secs(if m < 2048 { 5 } else { 3 }, 1, || {
            std::hint::black_box(a.matmul(&b));
        });
        out.insert(
            format!("gemm_{m}x{k}x{n}_gflops"),
            (2.0 * (m * k * n) as f64 / t / 1e9).into(),
        );
    }
}

fn bandwidths(out: &mut Results) {
    let big = Tensor::randn(&[16 * 1024 * 1024]);
    let dst = big.zeros_like();
    let bytes = (big.numel() * 4) as f64;
    let t_copy = median_secs(10, 1, || {
        dst.copy_(&big);
    });
    // In place (reads and writes one buffer), as PyTorch's `dst.mul_(1.0)`.
    let t = median_secs(10, 1, || {
        dst.mul_scalar_(1.0);
    });
    out.insert(
        "elementwise_mul_16m_gbps".into(),
        (2.0 * bytes / t / 1e9).into(),
    );
    let t = median_secs(10, 1, || {
        std::hint::black_box(big.sum());
    });
    out.insert("sum_16m_gbps".into(), (bytes / t / 1e9).into());
    out.insert(
        "memcpy_16m_gbps".into(),
        (2.0 * bytes / t_copy / 1e9).into(),
    );
}
