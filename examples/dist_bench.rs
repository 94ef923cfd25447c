//! Measures kiln's collectives against MPI's own `MPI_Allreduce` and the time a
//! data-parallel step spends in gradient averaging. Run under mpirun:
//!
//! ```text
//! cargo build --release --features mpi --example dist_bench
//! mpirun -np 2 target/release/examples/dist_bench [iterations]
//! ```
//!
//! For the MNIST MLP (784-256-128-10, 235,146 parameters) it times, per call, the median
//! over `iterations` of: `MPI_Allreduce` on a host buffer of all the gradients;
//! `kiln::distributed::all_reduce` on a tensor of that size; one all-reduce per parameter
//! tensor; and a training step (forward, backward, SGD) of batch 64 with and without
//! `DistributedDataParallel`, whose difference is the communication the step exposes.

use std::time::Instant;

use kiln::distributed::{self as dist, DistributedDataParallel, ReduceOp};
use kiln::nn::functional::cross_entropy;
use kiln::nn::{Linear, Module, ReLU, Sequential};
use kiln::optim::{Optimizer, SGD};
use kiln::{Tensor, seq};

fn mlp() -> Sequential {
    seq![
        Linear::new(784, 256),
        ReLU::new(),
        Linear::new(256, 128),
        ReLU::new(),
        Linear::new(128, 10),
    ]
}

/// (Median, minimum) seconds of `iters` runs of `f` after 10 untimed ones, with a
/// barrier before each (so every rank starts together and the time is the collective's,
/// not the skew between ranks). On a loaded machine the minimum is the cleaner figure.
fn median(iters: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..10 {
        f();
    }
    let mut t: Vec<f64> = (0..iters)
        .map(|_| {
            dist::barrier();
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[iters / 2], t[0])
}

fn main() {
    dist::init_process_group().expect("init_process_group");
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let (rank, world) = (dist::get_rank(), dist::get_world_size());
    let model = mlp();
    let sizes: Vec<usize> = model.parameters().iter().map(|p| p.numel()).collect();
    let n: usize = sizes.iter().sum();

    let mut host = vec![1.0f32; n];
    let raw = median(iters, || dist::raw_all_reduce_f32(&mut host));
    let t = Tensor::ones(&[n]);
    let kiln_one = median(iters, || dist::all_reduce(&t, ReduceOp::Sum));
    let per_param: Vec<Tensor> = sizes.iter().map(|&k| Tensor::ones(&[k])).collect();
    let kiln_each = median(iters, || {
        for p in &per_param {
            dist::all_reduce(p, ReduceOp::Sum);
        }
    });
    let mut raw_each_bufs: Vec<Vec<f32>> = sizes.iter().map(|&k| vec![1.0f32; k]).collect();
    let raw_each = median(iters, || {
        for b in &mut raw_each_bufs {
            dist::raw_all_reduce_f32(b);
        }
    });

    let x = Tensor::randn(&[64, 784]);
    let y = Tensor::from_vec((0..64i64).map(|i| i % 10).collect(), &[64]);
    let step = |m: &dyn Module, opt: &mut SGD| {
        opt.zero_grad();
        cross_entropy(&m.forward(&x), &y).backward();
        opt.step();
    };
    let plain = mlp();
    let mut opt = SGD::new(plain.parameters(), 0.01);
    let local = median(iters, || step(&plain, &mut opt));
    let ddp = DistributedDataParallel::new(mlp()).unwrap();
    let mut opt = SGD::new(ddp.parameters(), 0.01);
    let synced = median(iters, || step(&ddp, &mut opt));

    if rank == 0 {
        let us = |s: f64| s * 1e6;
        println!(
            "world {world}, {} threads per rank, {n} f32 gradients ({:.2} MB) in {} tensors, {} bucket(s); median / min",
            kiln::get_num_threads(),
            n as f64 * 4.0 / 1e6,
            sizes.len(),
            ddp.bucket_sizes().len()
        );
        let row = |what: &str, t: (f64, f64), base: Option<(f64, f64)>| {
            let vs = base.map_or(String::new(), |b| {
                format!(
                    "  ({:+.1}% / {:+.1}% vs MPI)",
                    100.0 * (t.0 / b.0 - 1.0),
                    100.0 * (t.1 / b.1 - 1.0)
                )
            });
            println!("{what:<36} {:9.1} / {:9.1} us{vs}", us(t.0), us(t.1));
        };
        row("MPI_Allreduce, one buffer:", raw, None);
        row("kiln all_reduce, one tensor:", kiln_one, Some(raw));
        row("MPI_Allreduce, per tensor:", raw_each, None);
        row("kiln all_reduce, per tensor:", kiln_each, Some(raw_each));
        row("step without DDP (batch 64):", local, None);
        row("step with DDP (batch 64):", synced, None);
        println!(
            "exposed communication per step: {:.1} / {:.1} us",
            us(synced.0 - local.0),
            us(synced.1 - local.1)
        );
    }
}
