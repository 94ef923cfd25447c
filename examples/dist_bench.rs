//! Measures kiln's collectives against MPI's own `MPI_Allreduce` and the time a
//! data-parallel step spends in gradient averaging. Run under mpirun:
//!
//! ```text
//! cargo build --release --features mpi --example dist_bench
//! mpirun -np 2 target/release/examples/dist_bench [iterations] [mlp|cnn]
//! ```
//!
//! For the MNIST MLP (784-256-128-10, 235,146 parameters) or main.py's CNN (1,199,882
//! parameters) it times, per call (median and minimum over `iterations`):
//! `MPI_Allreduce` on a host buffer of each gradient bucket's size (the bare cost of the
//! step's communication); `kiln::distributed::all_reduce` on a tensor of all the
//! gradients; a training step (forward, backward, SGD) of batch 64 with and without
//! `DistributedDataParallel`, whose difference is the communication the step exposes;
//! and, from [`DistributedDataParallel::stats`], the time per step DDP spends inside
//! `MPI_Allreduce`, copying gradients into buckets and averages out, and blocked on
//! the communication thread.

use std::time::Instant;

use kiln::distributed::{self as dist, DistributedDataParallel, ReduceOp};
use kiln::nn::functional::cross_entropy;
use kiln::nn::{Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential};
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

/// main.py's network (without its dropouts, which change nothing in the timing).
fn cnn() -> Sequential {
    seq![
        Conv2d::new(1, 32, 3),
        ReLU::new(),
        Conv2d::new(32, 64, 3),
        ReLU::new(),
        MaxPool2d::new(2),
        Flatten::new(),
        Linear::new(9216, 128),
        ReLU::new(),
        Linear::new(128, 10),
    ]
}

/// (Median, minimum, mean) seconds of `iters` runs of `f` after 10 untimed ones, with a
/// barrier before each (so every rank starts together and the time is the collective's,
/// not the skew between ranks). On a loaded machine the minimum is the cleaner figure.
fn median(iters: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
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
    (t[iters / 2], t[0], t.iter().sum::<f64>() / iters as f64)
}

fn main() {
    dist::init_process_group().expect("init_process_group");
    let mut args = std::env::args().skip(1);
    let iters: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let which = args.next().unwrap_or_else(|| "mlp".into());
    let (build, input): (fn() -> Sequential, Vec<usize>) = match which.as_str() {
        "mlp" => (mlp, vec![64, 784]),
        "cnn" => (cnn, vec![64, 1, 28, 28]),
        other => panic!("dist_bench: unknown model {other} (mlp or cnn)"),
    };
    let (rank, world) = (dist::get_rank(), dist::get_world_size());
    let model = build();
    let sizes: Vec<usize> = model.parameters().iter().map(|p| p.numel()).collect();
    let n: usize = sizes.iter().sum();
    let probe = DistributedDataParallel::new(build()).unwrap();
    let buckets = probe.bucket_sizes();
    drop(probe);

    let mut bufs: Vec<Vec<f32>> = buckets.iter().map(|&k| vec![1.0f32; k]).collect();
    let raw = median(iters, || {
        for b in &mut bufs {
            dist::raw_all_reduce_f32(b);
        }
    });
    let mut host = vec![1.0f32; n];
    let raw_one = median(iters, || dist::raw_all_reduce_f32(&mut host));
    let t = Tensor::ones(&[n]);
    let kiln_one = median(iters, || dist::all_reduce(&t, ReduceOp::Sum));
    // What `kiln train` adds per step: the ranks agree the loss is finite.
    let flag = Tensor::from_vec(vec![0.0f64], &[1]);
    let kiln_flag = median(iters, || dist::all_reduce(&flag, ReduceOp::Sum));

    let x = Tensor::randn(&input);
    let y = Tensor::from_vec((0..64i64).map(|i| i % 10).collect(), &[64]);
    let step = |m: &dyn Module, opt: &mut SGD| {
        opt.zero_grad();
        cross_entropy(&m.forward(&x), &y).backward();
        opt.step();
    };
    let plain = build();
    let mut opt = SGD::new(plain.parameters(), 0.01);
    let local = median(iters, || step(&plain, &mut opt));
    // The control: the same step, then MPI's own all-reduce of the buckets' sizes with
    // nothing of kiln around it. What DDP's step costs beyond this is kiln's overhead;
    // what this costs beyond the step alone is MPI plus the ranks' skew after compute.
    let plain_raw = median(iters, || {
        step(&plain, &mut opt);
        for b in &mut bufs {
            dist::raw_all_reduce_f32(b);
        }
    });
    let ddp = DistributedDataParallel::new(build()).unwrap();
    let mut opt = SGD::new(ddp.parameters(), 0.01);
    for _ in 0..10 {
        step(&ddp, &mut opt);
    }
    let before = ddp.stats();
    let synced = median(iters, || step(&ddp, &mut opt));
    let after = ddp.stats();

    if rank == 0 {
        let us = |s: f64| s * 1e6;
        let per = |d: std::time::Duration, d0: std::time::Duration| {
            us((d - d0).as_secs_f64()) / (after.backwards - before.backwards) as f64
        };
        println!(
            "{which}: world {world}, {} threads per rank, {n} f32 gradients ({:.2} MB) in {} \
             tensors, buckets {buckets:?}; median / min",
            kiln::get_num_threads(),
            n as f64 * 4.0 / 1e6,
            sizes.len(),
        );
        let row = |what: &str, t: (f64, f64, f64), base: Option<(f64, f64, f64)>| {
            let vs = base.map_or(String::new(), |b| {
                format!(
                    "  ({:+.1}% / {:+.1}% vs the bare MPI row)",
                    100.0 * (t.0 / b.0 - 1.0),
                    100.0 * (t.1 / b.1 - 1.0)
                )
            });
            println!("{what:<40} {:9.1} / {:9.1} us{vs}", us(t.0), us(t.1));
        };
        row("MPI_Allreduce, the buckets' sizes:", raw, None);
        row("MPI_Allreduce, one buffer of all:", raw_one, None);
        row(
            "kiln all_reduce, one tensor of all:",
            kiln_one,
            Some(raw_one),
        );
        row("kiln all_reduce, one f64:", kiln_flag, None);
        row("step without DDP (batch 64):", local, None);
        row("step, then bare MPI_Allreduce:", plain_raw, None);
        row("step with DDP (batch 64):", synced, Some(plain_raw));
        println!(
            "exposed communication per step: {:.1} / {:.1} us",
            us(synced.0 - local.0),
            us(synced.1 - local.1)
        );
        let in_mpi = per(after.allreduce, before.allreduce);
        println!(
            "inside DDP, mean per step: MPI_Allreduce {in_mpi:.1} us ({:+.1}% vs the bare \
             buckets' mean {:.1} us), copy-in {:.1} us, averages out {:.1} us, blocked on the comm \
             thread {:.1} us",
            100.0 * (in_mpi / us(raw.2) - 1.0),
            us(raw.2),
            per(after.copy_in, before.copy_in),
            per(after.copy_out, before.copy_out),
            per(after.waited, before.waited),
        );
    }
}
