//! DDP's `bucket_cap_mb` (scenario `buckets` of tests/distributed.rs): the bucket
//! assignment against PyTorch's, and training that does not depend on it (bit for bit
//! with 2 ranks).

use kiln::distributed::{self as dist, DdpOptions, DistributedDataParallel};
use kiln::nn::{Linear, Module};
use kiln::{DType, Tensor, seq};

use super::{GROUPED_TOLERANCE, check, flat, max_rel_diff, mlp, train};

/// A model whose parameters have chosen dtypes and sizes (its forward is never run).
struct Mixed(Vec<(String, Tensor)>);

impl Module for Mixed {
    fn forward(&self, input: &Tensor) -> Tensor {
        input.shallow_clone()
    }

    fn visit_own_parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        for (n, t) in &self.0 {
            f(n, t);
        }
    }
}

fn mixed() -> Mixed {
    let p = |name: &str, n: usize, dtype: DType| {
        let t = Tensor::zeros_dtype(&[n], dtype);
        t.requires_grad_(true);
        (name.to_string(), t)
    };
    Mixed(vec![
        p("a", 1000, DType::F32),
        p("b", 1000, DType::F64),
        p("c", 2000, DType::F32),
        p("d", 100, DType::F64),
    ])
}

fn sizes(model: impl Module, options: DdpOptions) -> Vec<usize> {
    DistributedDataParallel::with_options(model, options)
        .unwrap()
        .bucket_sizes()
}

/// The expected lists follow PyTorch's `compute_bucket_assignment_by_size` as the bucket
/// rebuild after the first iteration calls it (torch/csrc/distributed/c10d/reducer.cpp):
/// parameters in gradient-ready order (the reverse of definition order here), one open
/// bucket per dtype, a parameter added first and the bucket closed once its bytes reach
/// the limit; limits `[first, cap]` per dtype, with `first` = 1 MiB
/// (`_DEFAULT_FIRST_BUCKET_BYTES`) only when `bucket_cap_mb` is left at `None`, else
/// `first` = cap = `int(bucket_cap_mb * 1024 * 1024)`; closed buckets first, then the open
/// ones. Each bucket is listed by its elements.
pub fn buckets() -> usize {
    let mut passed = 0;
    let cases: Vec<(&str, Vec<usize>, Vec<usize>)> = vec![
        // mlp(), reversed, in bytes (f32): 4.bias 40, 4.weight 24000, 2.bias 2400,
        // 2.weight 1440000, 0.bias 2400, 0.weight 48000. Default: the first bucket
        // reaches 1 MiB with 2.weight (10 + 6000 + 600 + 360000 elements), the rest
        // (600 + 12000) stays open under 25 MiB.
        (
            "mlp default",
            sizes(mlp(), DdpOptions::new()),
            vec![366_610, 12_600],
        ),
        // An explicit 25 MiB applies to the first bucket too: one bucket of everything.
        (
            "mlp 25 MiB",
            sizes(mlp(), DdpOptions::new().bucket_cap_mb(25.0)),
            vec![379_210],
        ),
        // 0.01 MiB = 10485 bytes: 40 + 24000 closes [10, 6000]; 2400 + 1440000 closes
        // [600, 360000]; 2400 + 48000 closes [600, 12000].
        (
            "mlp 0.01 MiB",
            sizes(mlp(), DdpOptions::new().bucket_cap_mb(0.01)),
            vec![6_010, 360_600, 12_600],
        ),
        // 0.0001 MiB = 104 bytes: 40 alone stays open, + 24000 closes; then every
        // parameter closes its own bucket.
        (
            "mlp 0.0001 MiB",
            sizes(mlp(), DdpOptions::new().bucket_cap_mb(0.0001)),
            vec![6_010, 600, 360_000, 600, 12_000],
        ),
        // A small MLP, reversed, in bytes: 40, 2560, 256, 16384, 256, 8192 (27688 in all).
        (
            "small default",
            sizes(small(), DdpOptions::new()),
            vec![6_922],
        ),
        // 0.002 MiB = 2097 bytes: 40 + 2560 closes [10, 640]; 256 + 16384 closes
        // [64, 4096]; 256 + 8192 closes [64, 2048].
        (
            "small 0.002 MiB",
            sizes(small(), DdpOptions::new().bucket_cap_mb(0.002)),
            vec![650, 4_160, 2_112],
        ),
        // 0.01 MiB = 10485 bytes: 40 + 2560 + 256 + 16384 = 19240 closes the first four;
        // 256 + 8192 = 8448 stays open.
        (
            "small 0.01 MiB",
            sizes(small(), DdpOptions::new().bucket_cap_mb(0.01)),
            vec![4_810, 2_112],
        ),
        // Mixed dtypes, reversed: d f64 800 bytes, c f32 8000, b f64 8000, a f32 4000.
        // 0.005 MiB = 5242 bytes: d stays open (f64); c closes alone (f32); b joins d and
        // closes it (8800); a (4000) stays open.
        (
            "mixed 0.005 MiB",
            sizes(mixed(), DdpOptions::new().bucket_cap_mb(0.005)),
            vec![2_000, 1_100, 1_000],
        ),
        // 0.0005 MiB = 524 bytes: every parameter closes its own bucket.
        (
            "mixed 0.0005 MiB",
            sizes(mixed(), DdpOptions::new().bucket_cap_mb(0.0005)),
            vec![100, 2_000, 1_000, 1_000],
        ),
    ];
    for (what, got, want) in &cases {
        check(
            got == want,
            &format!("bucket sizes of {what}: {got:?}, PyTorch's {want:?}"),
        );
        passed += 1;
    }

    // The panics are expected: keep their messages off stderr.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-9] {
        let r = std::panic::catch_unwind(|| DdpOptions::new().bucket_cap_mb(bad));
        let msg = r.err().and_then(|e| e.downcast_ref::<String>().cloned());
        check(
            msg.is_some_and(|m| m.contains("bucket_cap_mb") && m.contains(&format!("{bad}"))),
            &format!("bucket_cap_mb({bad}) refused with a message naming it"),
        );
    }
    std::panic::set_hook(hook);
    passed += 1;

    // Training does not depend on the buckets: five buckets against two, bit for bit.
    let (rank, world) = (dist::get_rank(), dist::get_world_size());
    let run = |options: DdpOptions| {
        kiln::manual_seed(21);
        let model = DistributedDataParallel::with_options(mlp(), options).unwrap();
        train(&model, model.parameters(), 8, world, rank);
        (model.bucket_sizes().len(), flat(model.module()))
    };
    let (n_default, default) = run(DdpOptions::new());
    let (n_small, small_cap) = run(DdpOptions::new().bucket_cap_mb(0.0001));
    check(n_default == 2 && n_small == 5, "two and five buckets");
    let bits_equal = default
        .iter()
        .flatten()
        .zip(small_cap.iter().flatten())
        .all(|(a, b)| a.to_bits() == b.to_bits());
    let rel = max_rel_diff(&small_cap, &default);
    // Two ranks' gradients add in one order only. With more, where an element falls in
    // its bucket decides the order MPI adds the ranks in (ring segments, recursive
    // halving), so other buckets round differently.
    if world == 2 {
        check(
            bits_equal,
            "training with bucket_cap_mb=0.0001 equals the default bit for bit",
        );
    } else {
        check(
            rel <= GROUPED_TOLERANCE,
            "training with bucket_cap_mb=0.0001 equals the default within 1e-6",
        );
    }
    if rank == 0 {
        eprintln!(
            "buckets: {} assignments as PyTorch's; {world} ranks, 5 buckets vs 2 after {} steps: \
             bit-identical {bits_equal}, max relative difference {rel:.3e} per tensor",
            cases.len(),
            super::STEPS
        );
    }
    passed + 1
}

fn small() -> impl Module {
    seq![
        Linear::new(32, 64),
        Linear::new(64, 64),
        Linear::new(64, 10)
    ]
}
