//! Criterion benches of the workloads behind kiln's speed claims: one training step of the
//! tutorial's MNIST classifier (batch 64 and 256), inference at batch 1000, a step of a
//! deeper/wider MLP, and elementwise/reduction throughput on 16M elements.
//!
//! `kiln bench` runs the same workloads end to end (whole epochs) next to PyTorch's.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kiln::Tensor;
use kiln::nn::Module;
use kiln::nn::models::{digit_classifier, mlp};
use kiln::optim::{Adam, Optimizer};
use std::hint::black_box;

fn train_step(c: &mut Criterion) {
    for batch in [64usize, 256] {
        kiln::manual_seed(0);
        let model = digit_classifier();
        let mut opt = Adam::new(model.parameters(), 1e-3);
        let x = Tensor::rand(&[batch, 784]);
        let y = Tensor::randint(0, 10, &[batch]);
        c.bench_function(&format!("mnist_train_step_b{batch}"), |b| {
            b.iter(|| {
                opt.zero_grad();
                let loss = kiln::nn::functional::cross_entropy(&model.forward(&x), &y);
                loss.backward();
                opt.step();
            })
        });
    }
}

fn inference(c: &mut Criterion) {
    let model = digit_classifier();
    model.eval();
    let x = Tensor::rand(&[1000, 784]);
    let mut g = c.benchmark_group("inference");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("mnist_b1000", |b| {
        b.iter(|| kiln::no_grad(|| black_box(model.forward(&x))))
    });
    g.finish();
}

fn deep_mlp_step(c: &mut Criterion) {
    let model = mlp(784, 1024, 4, 10);
    let mut opt = Adam::new(model.parameters(), 1e-3);
    let x = Tensor::rand(&[256, 784]);
    let y = Tensor::randint(0, 10, &[256]);
    let mut g = c.benchmark_group("deep_mlp");
    g.sample_size(10);
    g.bench_function("4x1024_step_b256", |b| {
        b.iter(|| {
            opt.zero_grad();
            kiln::nn::functional::cross_entropy(&model.forward(&x), &y).backward();
            opt.step();
        })
    });
    g.finish();
}

fn memory_bound(c: &mut Criterion) {
    let n = 16 * 1024 * 1024;
    let x = Tensor::rand(&[n]);
    let y = Tensor::zeros(&[n]);
    let mut g = c.benchmark_group("memory_bound_16m");
    g.sample_size(20);
    // In place, as PyTorch's `out=` variants: a fresh 64 MB buffer per call would measure
    // the kernel's page-fault cost rather than the kernel.
    g.throughput(Throughput::Bytes((2 * n * 4) as u64));
    g.bench_function("copy", |b| b.iter(|| black_box(y.copy_(&x))));
    g.bench_function("mul_scalar_inplace", |b| {
        b.iter(|| black_box(y.mul_scalar_(1.0)))
    });
    g.bench_function("add_inplace", |b| b.iter(|| black_box(y.add_(&x))));
    g.throughput(Throughput::Bytes((n * 4) as u64));
    g.bench_function("sum", |b| b.iter(|| black_box(x.sum())));
    g.finish();
}

// No plots: criterion's plotting backend needs system fonts, which CI machines lack.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = train_step, inference, deep_mlp_step, memory_bound
}
criterion_main!(benches);
