//! `kiln::distributed` under MPI. Not run by `cargo test` (it needs the `mpi` feature and
//! `mpirun`): `scripts/mpi_tests.sh` builds it and runs each scenario under
//! `mpirun --oversubscribe -np 2` and `-np 3`:
//!
//! * `collectives`: all_reduce (sum, avg, max, min, product; f32, f64, i64), broadcast,
//!   all_gather, all_gather_into_tensor, barrier, rank / world size / local rank;
//! * `ddp`: N ranks of batch B against one process of batch N * B for 25 SGD-with-momentum
//!   steps (parameters equal within 1e-5 relative per tensor) and against one process
//!   accumulating the N batches of B (DDP's own grouping of the sums: bit for bit for
//!   N = 2, within 1e-6 per tensor for N = 3), `no_sync` gradient accumulation,
//!   several buckets, the rank-0 broadcast at start; prints a hash of the final
//!   parameters so the script can check that two runs are bit-identical;
//! * `mismatch`: rank 1's model differs; every rank gets the error naming the parameter;
//! * `buffers`: `broadcast_buffers` on and off against a lone BatchNorm1d, bit for bit;
//! * `unused`: `find_unused_parameters` (parameters unused on some or all ranks) against
//!   hand-averaged local gradients, and PyTorch's error without it;
//! * `buckets`: `bucket_cap_mb`: the bucket assignment of several models and caps equals
//!   PyTorch's, bad caps are refused, and five buckets train as two (bit for bit for N = 2,
//!   within 1e-6 per tensor for N = 3);
//! * `ddp_cnn`: the `ddp` exactness check (1e-5 relative per tensor against one process
//!   of batch N * B) for a convolutional network, 20 steps;
//! * `stall`: rank 1 never joins a barrier; the watchdog stops rank 0 after
//!   `KILN_DIST_TIMEOUT`;
//! * `spin`: all-reduces forever (the script kills one rank with `kill -9`).

use std::time::Duration;

#[path = "distributed/buckets.rs"]
mod buckets;
#[path = "distributed/conv.rs"]
mod conv;
#[path = "distributed/features.rs"]
mod features;

use kiln::data::{DataLoader, DistributedSampler, TensorDataset};
use kiln::distributed::{self as dist, DistError, DistributedDataParallel, ReduceOp};
use kiln::nn::functional::cross_entropy;
use kiln::nn::{Linear, Module, ReLU, Sequential};
use kiln::optim::{Optimizer, SGD};
use kiln::{DType, Tensor, seq};

fn check(cond: bool, what: &str) {
    if !cond {
        eprintln!("rank {}: FAILED: {what}", dist::get_rank());
        std::process::exit(1);
    }
}

fn collectives() -> usize {
    let (rank, world) = (dist::get_rank(), dist::get_world_size());
    let w = world as f64;
    check(rank < world, "rank < world_size");
    check(dist::get_local_rank() == rank, "local rank on one machine");
    check(dist::get_local_world_size() == world, "local world size");
    let sum_ranks = w * (w - 1.0) / 2.0;
    for dtype in [DType::F32, DType::F64] {
        let t = Tensor::full_dtype(&[2, 3], rank as f64 + 1.0, dtype);
        dist::all_reduce(&t, ReduceOp::Sum);
        check(
            t.to_vec::<f64>() == vec![sum_ranks + w; 6],
            "all_reduce sum",
        );
        let t = Tensor::full_dtype(&[4], rank as f64, dtype);
        dist::all_reduce(&t, ReduceOp::Avg);
        check(
            t.to_vec::<f64>() == vec![sum_ranks / w; 4],
            "all_reduce avg",
        );
        let t = Tensor::full_dtype(&[3], rank as f64 + 2.0, dtype);
        dist::all_reduce(&t, ReduceOp::Product);
        let prod: f64 = (0..world).map(|r| r as f64 + 2.0).product();
        check(t.to_vec::<f64>() == vec![prod; 3], "all_reduce product");
    }
    let t = Tensor::from_vec(vec![rank as i64, -(rank as i64), 7], &[3]);
    dist::all_reduce(&t, ReduceOp::Max);
    check(
        t.to_vec::<i64>() == vec![world as i64 - 1, 0, 7],
        "all_reduce max i64",
    );
    let t = Tensor::from_vec(vec![rank as i64, -(rank as i64), 7], &[3]);
    dist::all_reduce(&t, ReduceOp::Min);
    check(
        t.to_vec::<i64>() == vec![0, 1 - world as i64, 7],
        "all_reduce min i64",
    );
    // A view into a larger tensor: only its elements change.
    let base = Tensor::full(&[3, 4], 1.0);
    let row = base.narrow(0, 1, 1);
    dist::all_reduce(&row, ReduceOp::Sum);
    let v = base.to_vec::<f32>();
    check(
        v[..4] == [1.0; 4] && v[4..8] == [w as f32; 4] && v[8..] == [1.0; 4],
        "all_reduce of a view",
    );

    let t = Tensor::full(&[5], rank as f64 * 10.0 + 3.0);
    let src = world - 1;
    dist::broadcast(&t, src);
    check(
        t.to_vec::<f32>() == vec![src as f32 * 10.0 + 3.0; 5],
        "broadcast",
    );

    let mine = Tensor::from_vec(vec![rank as f32, rank as f32 + 0.5], &[2]);
    let out = Tensor::zeros(&[world * 2]);
    dist::all_gather_into_tensor(&out, &mine);
    let want: Vec<f32> = (0..world)
        .flat_map(|r| [r as f32, r as f32 + 0.5])
        .collect();
    check(out.to_vec::<f32>() == want, "all_gather_into_tensor");
    let list: Vec<Tensor> = (0..world).map(|_| Tensor::zeros(&[2])).collect();
    dist::all_gather(&list, &mine);
    for (r, t) in list.iter().enumerate() {
        check(
            t.to_vec::<f32>() == vec![r as f32, r as f32 + 0.5],
            "all_gather",
        );
    }
    dist::barrier();
    11
}

fn mlp() -> Sequential {
    // The last layers fill the 1 MiB first bucket, the 600 x 600 weight opens a second.
    seq![
        Linear::new(20, 600),
        ReLU::new(),
        Linear::new(600, 600),
        ReLU::new(),
        Linear::new(600, 10),
    ]
}

fn data(n: usize) -> TensorDataset<(Tensor, Tensor)> {
    kiln::manual_seed(1234);
    let x = Tensor::randn(&[n, 20]);
    let y = Tensor::from_vec((0..n as i64).map(|i| (i * 7 + 3) % 10).collect(), &[n]);
    TensorDataset::new((x, y))
}

const STEPS: usize = 25;

/// DDP against one process doing DDP's arithmetic (the same per-rank sums, added and
/// divided by N), per tensor, for N > 2: only the order MPI adds the N ranks' sums in
/// differs (measured 2.8e-7 for N = 3).
const GROUPED_TOLERANCE: f64 = 1e-6;

/// Trains `model` (already wrapped or not) for STEPS steps of batch `batch` from the
/// share (`replicas`, `rank`) of one shuffled epoch; returns the final parameters.
fn train(model: &dyn Module, params: Vec<Tensor>, batch: usize, replicas: usize, rank: usize) {
    let ds = data(600);
    let sampler = DistributedSampler::new(600, replicas, rank).seed(17);
    let loader = DataLoader::new(ds).batch_size(batch).sampler(sampler);
    let mut opt = SGD::new(params, 0.05).momentum(0.9);
    for (x, y) in loader.iter().take(STEPS) {
        opt.zero_grad();
        let loss = cross_entropy(&model.forward(&x), &y);
        loss.backward();
        opt.step();
    }
}

/// Per parameter tensor, the largest difference relative to the tensor's largest
/// magnitude (`max|a - b| / max|b|`); the worst over the tensors.
fn max_rel_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| {
            let diff = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            let scale = b.iter().map(|y| y.abs()).fold(0.0f32, f32::max);
            diff as f64 / (scale as f64).max(1e-30)
        })
        .fold(0.0, f64::max)
}

/// The largest elementwise `|a - b| / max(|b|, 1e-3)`, reported alongside.
fn max_elementwise_rel(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(&x, &y)| ((x - y).abs() as f64) / (y.abs() as f64).max(1e-3))
        .fold(0.0, f64::max)
}

fn tensors(ts: &[Tensor]) -> Vec<Vec<f32>> {
    ts.iter().map(|p| p.to_vec::<f32>()).collect()
}

fn flat(model: &dyn Module) -> Vec<Vec<f32>> {
    tensors(&model.parameters())
}

/// What DDP computes, in one process: each step runs the N ranks' batches of `batch`
/// (the shares of the same shuffled epoch) one after another, each loss a mean over
/// its batch, accumulates the gradients and divides them by N.
fn train_accumulating(model: &Sequential, batch: usize, world: usize) {
    let loaders: Vec<_> = (0..world)
        .map(|r| {
            DataLoader::new(data(600))
                .batch_size(batch)
                .sampler(DistributedSampler::new(600, world, r).seed(17))
        })
        .collect();
    let mut shares: Vec<_> = loaders.iter().map(|l| l.iter()).collect();
    let mut opt = SGD::new(model.parameters(), 0.05).momentum(0.9);
    for _ in 0..STEPS {
        opt.zero_grad();
        for share in &mut shares {
            let (x, y) = share.next().expect("a batch per rank");
            cross_entropy(&model.forward(&x), &y).backward();
        }
        kiln::no_grad(|| {
            for p in model.parameters() {
                p.set_grad(Some(p.grad().unwrap().div_scalar(world as f64)));
            }
        });
        opt.step();
    }
}

fn ddp() -> usize {
    let (rank, world) = (dist::get_rank(), dist::get_world_size());
    const B: usize = 8;
    // The reference: one process, batch N * B, the same permutation.
    kiln::manual_seed(7);
    let single = mlp();
    train(&single, single.parameters(), world * B, 1, 0);
    let want = flat(&single);
    // DDP's own arithmetic in one process: the same sums in the same grouping.
    kiln::manual_seed(7);
    let accumulating = mlp();
    train_accumulating(&accumulating, B, world);
    let same_grouping = flat(&accumulating);

    // Every rank seeds differently: DDP must broadcast rank 0's initial parameters.
    kiln::manual_seed(7 + rank as u64 * 1000);
    let model = DistributedDataParallel::new(mlp()).expect("same model on every rank");
    check(model.bucket_sizes().len() >= 2, "several gradient buckets");
    let params = model.parameters();
    train(&model, params, B, world, rank);
    let got = flat(model.module());
    let rel = max_rel_diff(&got, &want);
    let grouped = max_elementwise_rel(&got, &same_grouping);
    if rank == 0 {
        eprintln!(
            "ddp: {world} ranks x batch {B} vs 1 x {}: after {STEPS} steps max relative difference \
             {rel:.3e} (per tensor), {:.3e} (per element, |b| floored at 1e-3); one process \
             accumulating the {world} batches of {B} vs 1 x {}: {:.3e} per tensor, {:.3e} per \
             element; DDP vs that accumulation: {:.3e} per tensor, {grouped:.3e} per element",
            world * B,
            max_elementwise_rel(&got, &want),
            world * B,
            max_rel_diff(&same_grouping, &want),
            max_elementwise_rel(&same_grouping, &want),
            max_rel_diff(&got, &same_grouping),
        );
    }
    check(
        rel <= 1e-5,
        "DDP equals single-process training within 1e-5",
    );
    // Two ranks' sums add in one order only: bit for bit. With more, MPI's reduction
    // order (segments of a ring, recursive halving) is not the accumulation's.
    if world == 2 {
        check(
            grouped == 0.0,
            "DDP equals one process accumulating the ranks' batches, bit for bit",
        );
    } else {
        check(
            max_rel_diff(&got, &same_grouping) <= GROUPED_TOLERANCE,
            "DDP equals one process accumulating the ranks' batches within 1e-6",
        );
    }
    // Every rank holds the same parameters, bit for bit.
    let got: Vec<f32> = got.into_iter().flatten().collect();
    let bits: Vec<f64> = got.iter().map(|v| v.to_bits() as f64).collect();
    let t = Tensor::from_vec(bits.clone(), &[bits.len()]);
    let lo = t.clone();
    dist::all_reduce(&t, ReduceOp::Max);
    dist::all_reduce(&lo, ReduceOp::Min);
    check(
        t.to_vec::<f64>() == lo.to_vec::<f64>(),
        "ranks agree bit for bit",
    );
    let hash = got.iter().fold(0xcbf29ce484222325u64, |h, v| {
        (h ^ v.to_bits() as u64).wrapping_mul(0x100000001b3)
    });
    if rank == 0 {
        println!("params-hash {hash:016x}");
    }

    // no_sync: two micro-batches accumulated locally, averaged at the second backward,
    // equal one process accumulating the two N * B batches.
    kiln::manual_seed(99);
    let single = mlp();
    let ds = data(600);
    let batch = |lo: usize, n: usize| {
        let idx = Tensor::from_vec((lo as i64..(lo + n) as i64).collect(), &[n]);
        let (x, y) = ds.tensors();
        (x.index_select(0, &idx), y.index_select(0, &idx))
    };
    for m in 0..2 {
        let (x, y) = batch(m * world * B, world * B);
        cross_entropy(&single.forward(&x), &y).backward();
    }
    let grads = |m: &dyn Module| -> Vec<Vec<f32>> {
        m.parameters()
            .iter()
            .map(|p| p.grad().unwrap().to_vec::<f32>())
            .collect()
    };
    let want = grads(&single);
    kiln::manual_seed(99);
    let model = DistributedDataParallel::new(mlp()).unwrap();
    for m in 0..2 {
        let (x, y) = batch(m * world * B + rank * B, B);
        if m == 0 {
            let _g = model.no_sync();
            cross_entropy(&model.forward(&x), &y).backward();
        } else {
            cross_entropy(&model.forward(&x), &y).backward();
        }
    }
    // Each rank's loss is a mean over B, the reference's over N * B: the averaged
    // gradient equals the reference's.
    let rel = max_rel_diff(&grads(&model), &want);
    check(
        rel <= 1e-5,
        "no_sync accumulation equals single-process accumulation",
    );
    3
}

fn mismatch() -> usize {
    let rank = dist::get_rank();
    let hidden = if rank == 1 { 31 } else { 30 };
    let model = seq![
        Linear::new(4, 8),
        ReLU::new(),
        Linear::new(8, hidden),
        Linear::new(hidden, 2)
    ];
    match DistributedDataParallel::new(model) {
        Err(e @ DistError::ModelMismatch { .. }) => {
            let msg = e.to_string();
            check(
                msg.contains("`2.weight` [30, 8]")
                    && msg.contains("`2.weight` [31, 8]")
                    && msg.contains("rank 1"),
                &format!("mismatch message: {msg}"),
            );
            if rank == 0 {
                eprintln!("mismatch: {msg}");
            }
        }
        Err(e) => check(false, &format!("wrong error {e}")),
        Ok(_) => check(false, "mismatched models accepted"),
    }
    1
}

fn main() {
    let scenario = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    dist::init_process_group().expect("init_process_group");
    let rank = dist::get_rank();
    let passed = match scenario.as_str() {
        "collectives" => collectives(),
        "ddp" => ddp(),
        "mismatch" => mismatch(),
        "buffers" => features::buffers(),
        "unused" => features::unused(),
        "buckets" => buckets::buckets(),
        "ddp_cnn" => conv::ddp_cnn(),
        "all" => {
            collectives()
                + ddp()
                + mismatch()
                + features::buffers()
                + features::unused()
                + buckets::buckets()
                + conv::ddp_cnn()
        }
        "stall" => {
            if rank == 1 {
                std::thread::sleep(Duration::from_secs(120));
            }
            dist::barrier();
            check(false, "the barrier returned without rank 1");
            0
        }
        "spin" => {
            let t = Tensor::ones(&[1000]);
            std::fs::write(
                format!("{}/rank{rank}.pid", std::env::var("KILN_TEST_DIR").unwrap()),
                std::process::id().to_string(),
            )
            .unwrap();
            loop {
                dist::all_reduce(&t, ReduceOp::Max);
            }
        }
        s => panic!("unknown scenario {s}"),
    };
    dist::barrier();
    if rank == 0 {
        println!("{passed} passed, 0 failed");
    }
}
