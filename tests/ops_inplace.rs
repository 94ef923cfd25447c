//! In-place ops: values, versions, PyTorch's autograd rules, and rebased histories.

use kiln::autograd::gradcheck;
use kiln::{DType, Tensor, no_grad, tensor};

fn panic_message(f: impl FnOnce()) -> String {
    let err =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn assert_panics_with(f: impl FnOnce(), want: &str) {
    let msg = panic_message(f);
    assert!(
        msg.contains(want),
        "panic message {msg:?} does not contain {want:?}"
    );
}

#[test]
fn arithmetic_updates_values_and_bumps_the_version() {
    let x = tensor(&[[1.0, 2.0], [3.0, 4.0]]);
    let v0 = x.storage().version();
    let r = x.add_(&tensor(&[10.0, 20.0]));
    assert!(r.same_tensor(&x), "in-place ops return self");
    assert_eq!(x.to_vec::<f32>(), vec![11.0, 22.0, 13.0, 24.0]);
    assert!(x.storage().version() > v0);
    x.sub_(&tensor(&[[1.0], [3.0]]))
        .mul_scalar_(2.0)
        .div_(&tensor(&[2.0, 4.0]))
        .add_scalar_(1.0)
        .sub_scalar_(0.5)
        .div_scalar_(0.5);
    // ((11-1)*2/2 + 0.5) / 0.5 = 21, ((22-1)*2/4 + 0.5) / 0.5 = 22, ...
    assert_eq!(x.to_vec::<f32>(), vec![21.0, 22.0, 21.0, 22.0]);
    x.mul_(&x);
    assert_eq!(x.to_vec::<f32>(), vec![441.0, 484.0, 441.0, 484.0]);
    x.add_scaled_(&tensor(&[1.0, 2.0]), -0.5);
    assert_eq!(x.to_vec::<f32>(), vec![440.5, 483.0, 440.5, 483.0]);
    x.clamp_(Some(450.0), None);
    assert_eq!(x.to_vec::<f32>(), vec![450.0, 483.0, 450.0, 483.0]);
}

#[test]
fn fill_zero_and_copy() {
    let x = Tensor::ones(&[2, 3]);
    x.fill_(2.5);
    assert_eq!(x.to_vec::<f32>(), vec![2.5; 6]);
    x.zero_();
    assert_eq!(x.to_vec::<f32>(), vec![0.0; 6]);
    // copy_ broadcasts and converts dtype.
    x.copy_(&Tensor::from_vec(vec![1i64, 2, 3], &[3]));
    assert_eq!(x.to_vec::<f32>(), vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    let i = Tensor::zeros_dtype(&[2], DType::I64);
    i.copy_(&tensor(&[1.7, -2.7]));
    assert_eq!(i.to_vec::<i64>(), vec![1, -2]);
    let ints = Tensor::from_vec(vec![1i64, 5], &[2]);
    ints.add_scalar_(2)
        .mul_(&Tensor::from_vec(vec![3i64, 2], &[2]));
    assert_eq!(ints.to_vec::<i64>(), vec![9, 14]);
}

#[test]
fn writes_through_a_view_reach_the_base() {
    let base = Tensor::zeros(&[2, 3]);
    let t = base.t();
    t.add_(&tensor(&[1.0, 2.0]));
    assert_eq!(base.to_vec::<f32>(), vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
}

#[test]
fn optimizer_update_on_a_leaf_is_allowed_under_no_grad() {
    let w = tensor(&[1.0, 2.0]).requires_grad_(true);
    (&w * &w).sum().backward();
    no_grad(|| {
        w.sub_(&w.grad().unwrap().mul_scalar(0.1));
        w.grad().unwrap().zero_();
    });
    assert_eq!(w.to_vec::<f32>(), vec![0.8, 1.6]);
    assert!(w.is_leaf() && w.requires_grad());
    assert_eq!(w.grad().unwrap().to_vec::<f32>(), vec![0.0, 0.0]);
}

#[test]
fn leaf_that_requires_grad_panics_in_grad_mode() {
    let msg = "a leaf Variable that requires grad is being used in an in-place operation.";
    let w = || tensor(&[1.0, 2.0]).requires_grad_(true);
    assert_panics_with(|| drop(w().add_scalar_(1.0)), &format!("add_: {msg}"));
    assert_panics_with(
        || drop(w().mul_(&tensor(&[2.0, 2.0]))),
        &format!("mul_: {msg}"),
    );
    assert_panics_with(|| drop(w().zero_()), &format!("zero_: {msg}"));
    assert_panics_with(|| drop(w().fill_(1.0)), &format!("fill_: {msg}"));
    assert_panics_with(
        || drop(w().copy_(&tensor(&[0.0]))),
        &format!("copy_: {msg}"),
    );
    assert_panics_with(
        || drop(w().clamp_(Some(0.0), None)),
        &format!("clamp_: {msg}"),
    );
}

#[test]
#[should_panic(expected = "modified by an inplace operation")]
fn modifying_a_saved_tensor_breaks_backward() {
    let a = tensor(&[1.0, 2.0]).requires_grad_(true);
    let b = tensor(&[3.0, 4.0]);
    let y = (&a * &b).sum();
    b.mul_scalar_(2.0);
    y.backward();
}

#[test]
#[should_panic(expected = "modified by an inplace operation")]
fn modifying_a_saved_output_breaks_backward() {
    let a = tensor(&[1.0, 2.0]).requires_grad_(true);
    let h = &a * 2.0;
    let y = h.exp();
    let s = (&y * 1.0).sum();
    // exp saved its output for backward; writing to it (here under no_grad, where the
    // write itself is allowed) makes that backward fail, as in PyTorch.
    no_grad(|| y.add_scalar_(1.0));
    s.backward();
}

#[test]
fn non_leaf_history_is_rebased_like_pytorch() {
    let a = tensor(&[1.0, -2.0, 3.0]).requires_grad_(true);
    let b = tensor(&[0.5, 4.0, -1.0]).requires_grad_(true);
    let h = &a * 2.0;
    h.mul_(&b).add_(&a).clamp_(Some(-3.0), Some(3.0));
    assert_eq!(h.grad_fn().unwrap().name(), "ClampBackward1");
    h.sum().backward();
    let (ga, gb) = (a.grad().unwrap(), b.grad().unwrap());
    // The same computation out of place.
    let a2 = tensor(&[1.0, -2.0, 3.0]).requires_grad_(true);
    let b2 = tensor(&[0.5, 4.0, -1.0]).requires_grad_(true);
    let y = (&a2 * 2.0).mul(&b2).add(&a2).clamp(Some(-3.0), Some(3.0));
    y.sum().backward();
    assert_eq!(h.to_vec::<f32>(), y.to_vec::<f32>());
    assert_eq!(ga.to_vec::<f32>(), a2.grad().unwrap().to_vec::<f32>());
    assert_eq!(gb.to_vec::<f32>(), b2.grad().unwrap().to_vec::<f32>());
}

#[test]
fn a_plain_tensor_joins_the_graph_when_the_other_operand_requires_grad() {
    let w = tensor(&[1.0, 2.0]).requires_grad_(true);
    let z = Tensor::zeros(&[2]);
    z.add_(&w).mul_(&w);
    assert!(!z.is_leaf() && z.requires_grad());
    assert_eq!(z.grad_fn().unwrap().name(), "MulBackward0");
    z.sum().backward();
    assert_eq!(w.grad().unwrap().to_vec::<f32>(), vec![2.0, 4.0]);
}

#[test]
fn self_aliasing_operands_use_the_old_value() {
    let a = tensor(&[3.0]).requires_grad_(true);
    let h = &a * 1.0;
    h.mul_(&h);
    h.sum().backward();
    assert_eq!(a.grad().unwrap().to_vec::<f32>(), vec![6.0]);
}

#[test]
fn overwrites_cut_the_old_history() {
    let a = tensor(&[1.0, 2.0]).requires_grad_(true);
    let src = tensor(&[5.0]).requires_grad_(true);
    let h = &a * 3.0;
    h.copy_(&src.double());
    assert_eq!(h.grad_fn().unwrap().name(), "CopyBackwards");
    (&h * &tensor(&[1.0, 2.0])).sum().backward();
    assert_eq!(a.grad().unwrap().to_vec::<f32>(), vec![0.0, 0.0]);
    assert_eq!(src.grad().unwrap().dtype(), DType::F32);
    assert_eq!(src.grad().unwrap().to_vec::<f32>(), vec![3.0]);

    let b = tensor(&[1.0, 2.0]).requires_grad_(true);
    let h = &b * 3.0;
    h.zero_();
    assert_eq!(h.grad_fn().unwrap().name(), "ZeroBackward0");
    h.add_(&b).sum().backward();
    assert_eq!(b.grad().unwrap().to_vec::<f32>(), vec![1.0, 1.0]);
    let h = &b * 3.0;
    h.fill_(7.0);
    assert!(h.requires_grad());
    assert_eq!(h.to_vec::<f32>(), vec![7.0, 7.0]);
}

#[test]
fn gradcheck_through_in_place_ops() {
    let a = Tensor::from_vec(vec![0.3, -1.2, 0.8, 2.0, -0.1, 0.6], &[2, 3]);
    let b = Tensor::from_vec(vec![1.5, -0.7, 0.9], &[3]);
    gradcheck(
        |x| {
            let h = x[0].mul_scalar(1.0);
            h.mul_(&x[1])
                .add_(&x[0].exp())
                .div_(&x[1].abs().add_scalar(1.0))
                .sub_scalar_(0.25)
                .mul_scalar_(-2.0)
                .add_scaled_(&x[1], 0.5)
                .clamp_(Some(-10.0), Some(10.0));
            h
        },
        &[a, b],
        1e-6,
        1e-7,
        1e-5,
    )
    .unwrap();
}

#[test]
fn misuse_panics_name_the_op() {
    assert_panics_with(
        || drop(Tensor::zeros(&[3]).add_(&Tensor::ones(&[2, 3]))),
        "add_: output with shape [3] doesn't match the broadcast shape [2, 3]",
    );
    assert_panics_with(
        || drop(Tensor::zeros_dtype(&[3], DType::I64).add_(&Tensor::ones(&[3]))),
        "add_: result type float32 can't be cast to the desired output type int64",
    );
    assert_panics_with(
        || drop(Tensor::zeros_dtype(&[3], DType::I64).div_scalar_(2.0)),
        "div_: result type float32 can't be cast to the desired output type int64",
    );
    assert_panics_with(
        || drop(Tensor::zeros_dtype(&[3], DType::I64).add_scalar_(0.5)),
        "add_: result type float32 can't be cast",
    );
    assert_panics_with(
        || drop(Tensor::zeros(&[2]).copy_(&Tensor::ones(&[3]))),
        "copy_: the size of tensor a (2) must match the size of tensor b (3)",
    );
    // A view that requires grad shares storage with its base: rebasing only the view's
    // history would leave the base's stale, so it is refused.
    let w = tensor(&[[1.0, 2.0], [3.0, 4.0]]).requires_grad_(true);
    let h = &w * 2.0;
    let v = h.t();
    assert_panics_with(
        move || drop(v.add_scalar_(1.0)),
        "add_: in-place operation on a tensor (shape [2, 2]) that requires grad and shares its storage",
    );
    // So is an output its op saved for backward (PyTorch fails later, at backward).
    let y = (&w * 1.0).exp();
    assert_panics_with(
        move || drop(y.mul_scalar_(2.0)),
        "mul_: in-place operation on a tensor",
    );
}

/// PyTorch refuses in-place arithmetic on a tensor whose elements share memory (an
/// expanded view): `torch.ones(1).expand(3).add_(torch.ones(3))` raises "more than one
/// element of the written-to tensor refers to a single memory location". Filling such a
/// view is idempotent and allowed.
#[test]
fn inplace_arithmetic_on_an_expanded_view_panics_but_fill_is_allowed() {
    let e = Tensor::ones(&[1]).expand(&[3]);
    let msg = panic_message(|| drop(e.add_(&Tensor::ones(&[3]))));
    assert!(
        msg.contains("add_") && msg.contains("refers to a single memory location"),
        "{msg}"
    );
    let msg = panic_message(|| drop(e.mul_scalar_(2.0)));
    assert!(msg.contains("mul_"), "{msg}");
    assert_eq!(e.to_vec::<f32>(), vec![1.0; 3]);
    e.fill_(5.0);
    assert_eq!(e.to_vec::<f32>(), vec![5.0; 3]);
    e.zero_();
    assert_eq!(e.to_vec::<f32>(), vec![0.0; 3]);
    // A size-1 dimension with stride 0 is not an overlap.
    let one = Tensor::ones(&[1, 3]).expand(&[1, 3]);
    one.add_(&Tensor::ones(&[1, 3]));
    assert_eq!(one.to_vec::<f32>(), vec![2.0; 3]);
}
