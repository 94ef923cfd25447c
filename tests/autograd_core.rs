//! Core autograd behaviour: backward, accumulation, higher order, no_grad, versions.

use kiln::autograd::{grad, gradcheck};
use kiln::{Tensor, no_grad, tensor};

/// The tests of this binary run one at a time: the RSS test below reads the whole
/// process's resident memory, which the other tests' allocations (on their own threads and
/// malloc arenas) would move.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn tutorial_linear_backward_matches_pytorch() {
    let _serial = serial();
    // w=1, b=0, x=2, y=4: PyTorch prints tensor([-8.]) and tensor([-4.]).
    let w = tensor(&[1.0]).requires_grad_(true);
    let b = tensor(&[0.0]).requires_grad_(true);
    let (x, y) = (tensor(&[2.0]), tensor(&[4.0]));
    let y_pred = &w * &x + &b;
    let loss = (&y_pred - &y).pow_scalar(2.0).sum();
    loss.backward();
    assert_eq!(format!("{}", w.grad().unwrap()), "tensor([-8.])");
    assert_eq!(format!("{}", b.grad().unwrap()), "tensor([-4.])");
}

#[test]
fn gradients_accumulate_until_zeroed() {
    let _serial = serial();
    let x = tensor(&[3.0]).requires_grad_(true);
    for _ in 0..3 {
        (&x * &x).sum().backward();
    }
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![18.0]);
    x.set_grad(None);
    (&x * 2.0).sum().backward();
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![2.0]);
}

/// PyTorch's `AccumulateGrad` layout contract: after `x.sum().backward()` the incoming
/// gradient is an expanded (stride-0) view, but `x.grad` is a dense tensor of its own,
/// so an in-place update touches each element once (PyTorch: `x.grad.add_(1)` gives 2s).
#[test]
fn grad_of_a_sum_is_dense_and_updates_in_place_once_per_element() {
    let _serial = serial();
    let x = Tensor::randn(&[3, 4]).requires_grad_(true);
    x.sum().backward();
    let g = x.grad().unwrap();
    assert!(g.is_contiguous(), "strides {:?}", g.stride());
    g.add_(&Tensor::ones(&[3, 4]));
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![2.0; 12]);
    x.grad().unwrap().mul_scalar_(0.5);
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![1.0; 12]);
}

/// A second backward adds into the same `.grad` buffer, as PyTorch's
/// `variable_grad += new_grad`: a handle taken before sees the sum.
#[test]
fn second_backward_accumulates_into_the_same_grad_tensor() {
    let _serial = serial();
    let x = tensor(&[1.0, 2.0]).requires_grad_(true);
    (&x * &x).sum().backward();
    let first = x.grad().unwrap();
    (&x * 3.0).sum().backward();
    assert_eq!(first.to_vec::<f32>(), vec![5.0, 7.0]);
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![5.0, 7.0]);
}

/// A gradient the caller passes (and keeps) is copied into `.grad`, not aliased: writing
/// to it afterwards leaves `.grad` alone.
#[test]
fn caller_gradient_is_not_aliased_by_grad() {
    let _serial = serial();
    let x = tensor(&[1.0, 2.0]).requires_grad_(true);
    let v = tensor(&[10.0, 20.0]);
    x.backward_with_options(Some(&v), Default::default());
    v.add_(&tensor(&[1.0, 1.0]));
    assert_eq!(x.grad().unwrap().to_vec::<f32>(), vec![10.0, 20.0]);
}

#[test]
fn second_derivative_of_cube_at_two_is_twelve() {
    let _serial = serial();
    let x = Tensor::scalar(2.0f64).requires_grad_(true);
    let y = x.pow_scalar(3.0);
    let dy = grad(&[y], std::slice::from_ref(&x), None, true)[0]
        .clone()
        .unwrap();
    assert_eq!(dy.item(), 12.0);
    let d2y = grad(&[dy], std::slice::from_ref(&x), None, false)[0]
        .clone()
        .unwrap();
    assert_eq!(d2y.item(), 12.0);
}

#[test]
fn no_grad_records_nothing() {
    let _serial = serial();
    let w = tensor(&[1.0]).requires_grad_(true);
    let y = no_grad(|| &w * 2.0);
    assert!(!y.requires_grad());
    assert!(y.is_leaf());
}

#[test]
#[should_panic(expected = "modified by an inplace operation")]
fn inplace_change_of_saved_tensor_is_an_error() {
    let _serial = serial();
    let a = tensor(&[1.0, 2.0]).requires_grad_(true);
    let b = tensor(&[3.0, 4.0]);
    let y = (&a * &b).sum();
    kiln::tensor::kernels::elementwise::zip_assign::<f32>(
        "mul_",
        &b,
        &Tensor::scalar(2.0f32),
        |p, q| p * q,
    );
    y.backward();
}

#[test]
fn gradcheck_broadcast_mul_matmul() {
    let _serial = serial();
    let a = Tensor::randn(&[3, 4]).double();
    let b = Tensor::randn(&[4]).double();
    let c = Tensor::randn(&[4, 2]).double();
    gradcheck(
        |x| x[0].mul(&x[1]).matmul(&x[2]).tanh(),
        &[a, b, c],
        1e-6,
        1e-6,
        1e-5,
    )
    .unwrap();
}

fn resident_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[test]
fn graph_is_freed_when_outputs_drop_over_10000_steps() {
    let _serial = serial();
    let w = Tensor::randn(&[64, 64]).requires_grad_(true);
    let x = Tensor::randn(&[32, 64]);
    let mut weak_nodes = Vec::new();
    let mut rss_at_1000 = None;
    for step in 0..10_000 {
        let loss = x.matmul(&w).relu().mul_scalar(0.5).sum();
        if step % 1000 == 0 {
            weak_nodes.push(std::sync::Arc::downgrade(&loss.grad_fn().unwrap()));
        }
        loss.backward();
        w.set_grad(None);
        if step == 1000 {
            rss_at_1000 = resident_kb();
        }
    }
    // Every recorded node died with its loss: nothing keeps old graphs alive.
    assert!(weak_nodes.iter().all(|n| n.upgrade().is_none()));
    // And resident memory stays flat (9,000 more steps allocate ~1 GB in total).
    if let (Some(before), Some(after)) = (rss_at_1000, resident_kb()) {
        assert!(
            after < before + 16 * 1024,
            "RSS grew from {before} kB to {after} kB"
        );
    }
}

/// `optimizer.zero_grad(set_to_none=False)` zeroes the same `.grad` tensor in place, as
/// PyTorch's `grad.zero_()`: a handle taken before sees zeros, and the next backward
/// accumulates into it.
#[test]
fn zero_grad_keep_zeroes_the_same_tensor() {
    use kiln::optim::{Optimizer, SGD};
    let _serial = serial();
    let w = tensor(&[1.0, 2.0]).requires_grad_(true);
    let mut opt = SGD::new(vec![w.shallow_clone()], 0.1);
    (&w * &w).sum().backward();
    let held = w.grad().unwrap();
    opt.zero_grad_keep();
    assert_eq!(held.to_vec::<f32>(), vec![0.0, 0.0]);
    (&w * 3.0).sum().backward();
    assert_eq!(held.to_vec::<f32>(), vec![3.0, 3.0]);
}
