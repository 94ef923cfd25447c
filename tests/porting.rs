//! The PyTorch porting surface: `clone()` copies as PyTorch's does (the `Clone` trait and
//! `shallow_clone` share), and `cumsum`, `cumprod`, `F::layer_norm`, `F::batch_norm` against PyTorch
//! (`tests/fixtures/norm_scan.json`, made by `scripts/fixtures/gen_norm_scan.py`) with
//! f64 gradchecks.

mod fixture;

use fixture::read_json;
use kiln::autograd::{grad, gradcheck};
use kiln::nn::functional as F;
use kiln::{DType, Tensor};
use serde_json::Value;
use std::sync::OnceLock;

fn data() -> &'static Value {
    static D: OnceLock<Value> = OnceLock::new();
    D.get_or_init(|| read_json("norm_scan.json"))
}

/// A `{shape, dtype, data}` record in its own dtype.
fn t(v: &Value) -> Tensor {
    let shape = fixture::usizes(&v["shape"]);
    let d = v["data"].as_array().expect("data");
    match v["dtype"].as_str().expect("dtype") {
        "float32" => Tensor::from_vec(
            d.iter().map(|x| x.as_f64().unwrap() as f32).collect(),
            &shape,
        ),
        "float64" => Tensor::from_vec(d.iter().map(|x| x.as_f64().unwrap()).collect(), &shape),
        "int64" => Tensor::from_vec(d.iter().map(|x| x.as_i64().unwrap()).collect(), &shape),
        "uint8" => Tensor::from_vec(
            d.iter().map(|x| x.as_u64().unwrap() as u8).collect(),
            &shape,
        ),
        "bool" => Tensor::from_vec(d.iter().map(|x| x.as_bool().unwrap()).collect(), &shape),
        o => panic!("dtype {o}"),
    }
}

fn opt(v: &Value) -> Option<Tensor> {
    (!v.is_null()).then(|| t(v))
}

/// Same shape and dtype, values within `rtol * |want| + atol` (0 and 0: bit for bit).
fn close(what: &str, got: &Tensor, want: &Tensor, rtol: f64, atol: f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype");
    let (g, w) = (got.to_vec::<f64>(), want.to_vec::<f64>());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(
            (a - b).abs() <= rtol * b.abs() + atol,
            "{what}: element {i}: got {a}, PyTorch {b}"
        );
    }
}

/// Tolerances for a composed kiln op against PyTorch's fused kernel, by dtype.
fn tol(x: &Tensor) -> (f64, f64) {
    if x.dtype() == DType::F32 {
        (1e-5, 1e-5)
    } else {
        (1e-12, 1e-12)
    }
}

fn r64(shape: &[usize]) -> Tensor {
    Tensor::randn(shape).double()
}

fn check(f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    gradcheck(f, inputs, 1e-6, 1e-7, 1e-5).unwrap();
}

// ---------------------------------------------------------------- clone

#[test]
fn clone_copies_so_an_in_place_update_leaves_the_original() {
    let w = kiln::tensor(&[[1.0f32, 2.0], [3.0, 4.0]]);
    let c = w.clone();
    assert!(!c.same_tensor(&w));
    c.mul_scalar_(10.0);
    assert_eq!(w.to_vec::<f32>(), [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(c.to_vec::<f32>(), [10.0, 20.0, 30.0, 40.0]);
    // ... and the other way round, from a non-contiguous view.
    let v = w.t();
    let cv = v.clone();
    assert!(cv.is_contiguous());
    w.add_scalar_(1.0);
    assert_eq!(cv.to_vec::<f32>(), [1.0, 3.0, 2.0, 4.0]);
}

#[test]
fn clone_passes_the_gradient_through_as_clone_backward() {
    let w = kiln::tensor(&[1.0f64, -2.0, 3.0]).requires_grad_(true);
    let c = w.clone();
    assert!(c.requires_grad() && !c.is_leaf());
    assert_eq!(c.grad_fn().map(|n| n.name()), Some("CloneBackward0"));
    c.mul(&c).sum().backward();
    assert_eq!(w.grad().unwrap().to_vec::<f64>(), [2.0, -4.0, 6.0]);
    check(|t| t[0].clone().mul_scalar(3.0), &[r64(&[2, 3])]);
    check(|t| t[0].t().clone(), &[r64(&[2, 3])]);
    // Under no_grad the copy has no history.
    let n = kiln::no_grad(|| w.clone());
    assert!(!n.requires_grad());
}

#[test]
fn the_clone_trait_and_shallow_clone_share_the_tensor() {
    let w = kiln::tensor(&[1.0f32, 2.0]).requires_grad_(true);
    let s = w.shallow_clone();
    let c = Clone::clone(&w);
    assert!(s.same_tensor(&w) && c.same_tensor(&w) && s.is_leaf());
    // Containers and derived impls use the trait: handles, not copies.
    let v = vec![w.shallow_clone()];
    let v2 = v.clone();
    assert!(v2[0].same_tensor(&w));
    #[derive(Clone)]
    struct Holder {
        w: Tensor,
    }
    let h = Holder {
        w: w.shallow_clone(),
    }
    .clone();
    assert!(h.w.same_tensor(&w));
    kiln::no_grad(|| s.add_scalar_(1.0));
    assert_eq!(w.to_vec::<f32>(), [2.0, 3.0]);
}

#[test]
#[allow(deprecated)]
fn deep_clone_is_the_old_name_of_clone() {
    let w = kiln::tensor(&[1.0f32, 2.0]);
    let d = w.deep_clone();
    d.add_scalar_(1.0);
    assert_eq!(w.to_vec::<f32>(), [1.0, 2.0]);
}

// ---------------------------------------------------------------- cumsum

#[test]
fn cumsum_matches_pytorch_bit_for_bit() {
    for (i, c) in data()["cumsum"].as_array().unwrap().iter().enumerate() {
        let x = t(&c["x"]);
        let dim = c["dim"].as_i64().unwrap() as isize;
        let what = format!("cumsum case {i} ({:?} {}, dim {dim})", x.shape(), x.dtype());
        if c.get("g").is_none() {
            close(&what, &x.cumsum(dim), &t(&c["out"]), 0.0, 0.0);
            continue;
        }
        let x = x.requires_grad_(true);
        let input = if c["transposed"].as_bool().unwrap() {
            x.t()
        } else {
            x.shallow_clone()
        };
        let y = input.cumsum(dim);
        close(&what, &y, &t(&c["out"]), 0.0, 0.0);
        y.backward_with(&t(&c["g"]));
        close(
            &format!("{what} grad"),
            &x.grad().unwrap(),
            &t(&c["gx"]),
            0.0,
            0.0,
        );
    }
}

#[test]
fn cumsum_gradchecks_and_double_backward() {
    kiln::manual_seed(3);
    for dim in [0, 1, -1] {
        check(|t| t[0].cumsum(dim), &[r64(&[3, 4, 2])]);
    }
    check(|t| t[0].t().cumsum(1).mul(&t[0].t()), &[r64(&[3, 4])]);
    check(|t| t[0].cumsum(0), &[r64(&[])]);
    // Second order: d/dx sum(g * cumsum(x)^2) recorded, then differentiated again.
    let x = r64(&[5]).requires_grad_(true);
    let y = x.cumsum(0);
    let g = grad(&[y.mul(&y).sum()], &[x.shallow_clone()], None, true)[0]
        .clone()
        .unwrap();
    let h = grad(&[g.sum()], &[x.shallow_clone()], None, false)[0]
        .clone()
        .unwrap();
    // d2/dx_i dx_j of sum_k (cumsum_k)^2 summed over i: 2 * sum_i min(n - i, n - j).
    let n = 5.0;
    let want: Vec<f64> = (0..5)
        .map(|j| {
            (0..5)
                .map(|i| 2.0 * (n - f64::max(i as f64, j as f64)))
                .sum()
        })
        .collect();
    assert_eq!(h.to_vec::<f64>(), want);
}

#[test]
#[should_panic(expected = "cumsum: dimension out of range")]
fn cumsum_names_a_bad_dim() {
    kiln::tensor(&[[1.0f32]]).cumsum(2);
}

// ---------------------------------------------------------------- cumprod

/// Tolerances for a cumprod gradient against PyTorch's: bit for bit where both take the
/// same formula (no zeros: a reversed cumulative sum over x); with zeros PyTorch's fixture
/// ran its O(n^2) double-backward path and sums in another order.
fn cumprod_tol(x: &Tensor, has_zero: bool) -> (f64, f64) {
    match (has_zero, x.dtype()) {
        (false, _) => (0.0, 0.0),
        (true, DType::F32) => (1e-5, 1e-6),
        (true, _) => (1e-12, 1e-13),
    }
}

#[test]
fn cumprod_matches_pytorch_with_zeros_in_its_input() {
    let cases = data()["cumprod"].as_array().unwrap();
    assert_eq!(cases.len(), 33);
    for (i, c) in cases.iter().enumerate() {
        let x = t(&c["x"]);
        let dim = c["dim"].as_i64().unwrap() as isize;
        let what = format!(
            "cumprod case {i} ({}, {:?} {}, dim {dim})",
            c["what"],
            x.shape(),
            x.dtype()
        );
        if c.get("g").is_none() {
            close(&what, &x.cumprod(dim), &t(&c["out"]), 0.0, 0.0);
            continue;
        }
        let has_zero = x.eq_scalar(0).to_vec::<bool>().contains(&true);
        let (rtol, atol) = cumprod_tol(&x, has_zero);
        let x = x.requires_grad_(true);
        let input = if c["transposed"].as_bool().unwrap() {
            x.t()
        } else {
            x.shallow_clone()
        };
        let y = input.cumprod(dim);
        close(&what, &y, &t(&c["out"]), 0.0, 0.0);
        // First order, as `backward` computes it (the O(n) kernel).
        let gx = grad(&y, &x, Some(&[t(&c["g"])]), false)[0].clone().unwrap();
        close(&format!("{what} grad"), &gx, &t(&c["gx"]), rtol, atol);
        if c.get("ggx").is_none() {
            continue;
        }
        // With create_graph (the recorded formulas), then differentiated again.
        let y = input.cumprod(dim);
        let gx = grad(&y, &x, Some(&[t(&c["g"])]), true)[0].clone().unwrap();
        close(
            &format!("{what} grad, create_graph"),
            &gx,
            &t(&c["gx"]),
            rtol,
            atol,
        );
        let ggx = grad(&gx, &x, Some(&[t(&c["h"])]), false)[0]
            .clone()
            .unwrap();
        let (r2, a2) = if x.dtype() == DType::F32 {
            (1e-4, 1e-5)
        } else {
            (1e-11, 1e-12)
        };
        close(
            &format!("{what} second derivative"),
            &ggx,
            &t(&c["ggx"]),
            r2,
            a2,
        );
    }
}

#[test]
fn cumprod_gradchecks_with_zeros_and_twice() {
    kiln::manual_seed(4);
    // Multilinear in x, so finite differences are exact enough also at zeros.
    let with_zeros = |shape: &[usize], zeros: &[usize]| {
        let mut v = r64(shape).to_vec::<f64>();
        for &z in zeros {
            v[z] = 0.0;
        }
        Tensor::from_vec(v, shape)
    };
    for dim in [0, 1, -1] {
        check(|t| t[0].cumprod(dim), &[r64(&[3, 4, 2])]);
        check(
            |t| t[0].cumprod(dim),
            &[with_zeros(&[3, 4, 2], &[1, 5, 6, 13, 20, 22])],
        );
    }
    check(|t| t[0].cumprod(0), &[with_zeros(&[6], &[0])]);
    check(|t| t[0].cumprod(0), &[with_zeros(&[6], &[2, 4])]);
    check(|t| t[0].cumprod(0), &[with_zeros(&[6], &[0, 1, 5])]);
    check(
        |t| t[0].t().cumprod(1).mul(&t[0].t()),
        &[with_zeros(&[3, 4], &[4])],
    );
    check(|t| t[0].cumprod(0), &[r64(&[])]);
    // Second order: the recorded gradient (create_graph) passes a gradcheck itself, with and
    // without zeros, and equals the kernel's first-order gradient.
    for x in [r64(&[4, 5]), with_zeros(&[4, 5], &[2, 6, 8, 15, 16, 19])] {
        let w = r64(&[4, 5]);
        let first = |x: &Tensor, create_graph: bool| {
            kiln::autograd::enable_grad(|| {
                let x = if x.requires_grad() {
                    x.shallow_clone()
                } else {
                    x.detach().requires_grad_(true)
                };
                let y = x.cumprod(1).mul(&w).sum();
                grad(&y, &x, None, create_graph)[0].clone().unwrap()
            })
        };
        check(|t| first(&t[0], true), &[x.shallow_clone()]);
        close(
            "graph vs kernel",
            &first(&x, true),
            &first(&x, false),
            1e-12,
            1e-12,
        );
    }
}

#[test]
#[should_panic(expected = "cumprod: dimension out of range")]
fn cumprod_names_a_bad_dim() {
    kiln::tensor(&[[1.0f32]]).cumprod(-3);
}

// ---------------------------------------------------------------- layer_norm

#[test]
fn layer_norm_matches_pytorch() {
    for (i, c) in data()["layer_norm"].as_array().unwrap().iter().enumerate() {
        let x = t(&c["x"]).requires_grad_(true);
        let w = opt(&c["weight"]).map(|w| w.requires_grad_(true));
        let b = opt(&c["bias"]).map(|b| b.requires_grad_(true));
        let ns = fixture::usizes(&c["normalized_shape"]);
        let eps = c["eps"].as_f64().unwrap();
        let (rtol, atol) = tol(&x);
        let what = format!(
            "layer_norm case {i} ({:?} {}, {ns:?})",
            x.shape(),
            x.dtype()
        );
        let y = F::layer_norm(&x, &ns, w.as_ref(), b.as_ref(), eps);
        close(&what, &y, &t(&c["out"]), rtol, atol);
        y.backward_with(&t(&c["g"]));
        check_grads(&what, c, &x, w.as_ref(), b.as_ref(), rtol, atol);
    }
}

#[test]
fn layer_norm_gradchecks() {
    kiln::manual_seed(4);
    check(
        |t| F::layer_norm(&t[0], &[4], Some(&t[1]), Some(&t[2]), 1e-5),
        &[r64(&[3, 4]), r64(&[4]), r64(&[4])],
    );
    check(
        |t| F::layer_norm(&t[0], &[2, 3], Some(&t[1]), None, 1e-3),
        &[r64(&[2, 2, 3]), r64(&[2, 3])],
    );
    check(
        |t| F::layer_norm(&t[0].t(), &[3], None, None, 1e-5),
        &[r64(&[3, 4])],
    );
}

#[test]
#[should_panic(expected = "layer_norm: given normalized_shape=[3]")]
fn layer_norm_names_the_shapes() {
    F::layer_norm(&Tensor::zeros(&[2, 4]), &[3], None, None, 1e-5);
}

// ---------------------------------------------------------------- batch_norm

#[test]
fn batch_norm_matches_pytorch_with_its_running_statistics() {
    for (i, c) in data()["batch_norm"].as_array().unwrap().iter().enumerate() {
        let x = t(&c["x"]).requires_grad_(true);
        let (rm, rv) = (opt(&c["running_mean"]), opt(&c["running_var"]));
        let w = opt(&c["weight"]).map(|w| w.requires_grad_(true));
        let b = opt(&c["bias"]).map(|b| b.requires_grad_(true));
        let training = c["training"].as_bool().unwrap();
        let (rtol, atol) = tol(&x);
        let what = format!(
            "batch_norm case {i} ({:?} {}, training {training})",
            x.shape(),
            x.dtype()
        );
        let y = F::batch_norm(
            &x,
            rm.as_ref(),
            rv.as_ref(),
            w.as_ref(),
            b.as_ref(),
            training,
            c["momentum"].as_f64().unwrap(),
            c["eps"].as_f64().unwrap(),
        );
        close(&what, &y, &t(&c["out"]), rtol, atol);
        y.backward_with(&t(&c["g"]));
        check_grads(&what, c, &x, w.as_ref(), b.as_ref(), rtol, atol);
        if let (Some(rm), Some(rv)) = (rm, rv) {
            close(
                &format!("{what} running_mean"),
                &rm,
                &t(&c["running_mean_after"]),
                rtol,
                atol,
            );
            close(
                &format!("{what} running_var"),
                &rv,
                &t(&c["running_var_after"]),
                rtol,
                atol,
            );
        }
    }
}

#[test]
fn batch_norm_gradchecks_in_training_and_eval() {
    kiln::manual_seed(5);
    let rm = r64(&[3]);
    let rv = r64(&[3]).abs().add_scalar(0.5);
    for training in [true, false] {
        check(
            |t| {
                F::batch_norm(
                    &t[0],
                    Some(&rm),
                    Some(&rv),
                    Some(&t[1]),
                    Some(&t[2]),
                    training,
                    0.1,
                    1e-5,
                )
            },
            &[r64(&[4, 3, 2]), r64(&[3]), r64(&[3])],
        );
        check(
            |t| F::batch_norm(&t[0], None, None, None, None, true, 0.1, 1e-5),
            &[r64(&[5, 3])],
        );
    }
}

#[test]
#[should_panic(expected = "Expected more than 1 value per channel when training")]
fn batch_norm_needs_two_values_per_channel_to_train() {
    F::batch_norm(
        &Tensor::zeros(&[1, 3]),
        None,
        None,
        None,
        None,
        true,
        0.1,
        1e-5,
    );
}

#[test]
#[should_panic(expected = "running_mean and running_var must be defined in evaluation mode")]
fn batch_norm_in_eval_needs_running_statistics() {
    F::batch_norm(
        &Tensor::zeros(&[2, 3]),
        None,
        None,
        None,
        None,
        false,
        0.1,
        1e-5,
    );
}

// ---------------------------------------------------------------- spellings

#[test]
fn shapes_take_minus_one_and_literals() {
    let x = Tensor::arange(0.0, 12.0, 1.0);
    assert_eq!(x.reshape(&[2, -1]).shape(), [2, 6]);
    assert_eq!(x.reshape([-1, 4]).shape(), [3, 4]);
    assert_eq!(x.view(&[3, -1]).shape(), [3, 4]);
    let n: usize = 4;
    assert_eq!(x.reshape(&[n, 3]).shape(), [4, 3]);
    assert_eq!(x.reshape(vec![6i64, 2]).shape(), [6, 2]);
    assert_eq!(x.reshape(x.size()).shape(), [12]);
    assert_eq!(Tensor::ones(&[1]).reshape(()).shape(), [0usize; 0]);
    let c = Tensor::ones(&[3, 1]);
    assert_eq!(c.expand(&[-1, 4]).shape(), [3, 4]);
    assert_eq!(c.expand(&[2, -1, 5]).shape(), [2, 3, 5]);
}

#[test]
#[should_panic(expected = "isn't allowed in a leading, non-existing dimension 0")]
fn expand_refuses_minus_one_in_a_new_leading_dim() {
    Tensor::ones(&[3]).expand(&[-1, 3]);
}

#[test]
#[should_panic(expected = "reshape: only one dimension can be inferred")]
fn reshape_refuses_two_minus_ones() {
    Tensor::ones(&[4]).reshape(&[-1, -1]);
}

#[test]
fn transposes_comparisons_and_dims_as_pytorch_spells_them() {
    let x = kiln::tensor(&[[1.0f32, -2.0, 3.0], [4.0, 5.0, -6.0]]);
    assert_eq!(x.T().shape(), [3, 2]);
    assert_eq!(x.T().to_vec::<f32>(), x.t().to_vec::<f32>());
    let b = Tensor::zeros(&[4, 2, 3]);
    assert_eq!(b.mT().shape(), [4, 3, 2]);
    assert_eq!(b.T().shape(), [3, 2, 4]);
    assert_eq!(x.argmax(1, false).to_vec::<i64>(), [2, 1]);
    assert_eq!(x.argmax(None, false).to_vec::<i64>(), [4]);
    assert_eq!(x.argmin(-1, true).shape(), [2, 1]);
    assert_eq!(
        x.gt(0).to_vec::<bool>(),
        [true, false, true, true, true, false]
    );
    assert_eq!(
        x.le(3.0).to_vec::<bool>(),
        [true, true, true, false, false, true]
    );
    assert_eq!(x.eq(&x.t().t()).to_vec::<bool>(), [true; 6]);
    assert_eq!(
        x.clamp(0.0, None).to_vec::<f32>(),
        [1.0, 0.0, 3.0, 4.0, 5.0, 0.0]
    );
    assert_eq!(
        x.clamp(None, 2.0).to_vec::<f32>(),
        [1.0, -2.0, 2.0, 2.0, 2.0, -6.0]
    );
    assert_eq!(
        x.clamp(-1.0, 1.0).to_vec::<f32>(),
        [1.0, -1.0, 1.0, 1.0, 1.0, -1.0]
    );
    let v = kiln::tensor(&[[1.0f64, 3.0], [2.0, 6.0]]);
    assert_eq!(v.var_dim(1, true, false).to_vec::<f64>(), [2.0, 8.0]);
    assert_eq!(v.var_dim(1, false, true).shape(), [2, 1]);
    assert_eq!(v.std_dim(0, false, false).to_vec::<f64>(), [0.5, 1.5]);
    assert!(x.allclose(&x.add_scalar(1e-7)) && !x.allclose(&x.add_scalar(1e-3)));
    assert!(x.equal(&x.clone()) && !x.equal(&x.t()));
}

#[test]
fn an_integer_tensor_to_an_integer_power_stays_integral() {
    // torch.tensor([1, 2, 3]) ** 2 is int64; uint8 wraps (16 ** 2 == 0); bool ** 2 is int64.
    let i = kiln::tensor(&[1i64, 2, 3]);
    let sq = i.pow(2);
    assert_eq!(
        (sq.dtype(), sq.to_vec::<i64>()),
        (DType::I64, vec![1, 4, 9])
    );
    assert_eq!(i.pow(0).to_vec::<i64>(), [1, 1, 1]);
    let n: usize = 5;
    assert_eq!(i.pow(n).to_vec::<i64>(), [1, 32, 243]);
    assert_eq!(
        kiln::tensor(&[3i64]).pow(39).to_vec::<i64>(),
        [3i64.pow(39)]
    );
    let u = kiln::tensor(&[16u8, 3]).pow(2);
    assert_eq!((u.dtype(), u.to_vec::<u8>()), (DType::U8, vec![0, 9]));
    let b = kiln::tensor(&[true, false]).pow(2);
    assert_eq!((b.dtype(), b.to_vec::<i64>()), (DType::I64, vec![1, 0]));
    // A float exponent gives float32; a float tensor keeps its dtype.
    assert_eq!(i.pow(0.5).dtype(), DType::F32);
    assert_eq!(kiln::tensor(&[2.0f64]).pow(2).to_vec::<f64>(), [4.0]);
    let r = std::panic::catch_unwind(|| kiln::tensor(&[2i64]).pow(-1));
    let e = r.expect_err("a negative integer power must panic");
    let msg = e.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(
        msg.contains("Integers to negative integer powers are not allowed."),
        "{msg}"
    );
}

#[test]
fn losses_take_pytorchs_defaults_and_options_by_name() {
    let (x, y) = (
        kiln::tensor(&[1.0f32, 2.0, 4.0]),
        kiln::tensor(&[0.0f32, 0.0, 0.0]),
    );
    assert_eq!(F::mse_loss(&x, &y).item(), 7.0);
    assert_eq!(
        F::mse_loss_with(&x, &y, kiln::nn::Reduction::Sum).item(),
        21.0
    );
    assert_eq!(F::l1_loss(&x, &y).item(), (7.0f32 / 3.0) as f64);
    let p = kiln::tensor(&[0.5f32]);
    let t1 = kiln::tensor(&[1.0f32]);
    assert!((F::binary_cross_entropy(&p, &t1).item() - 2f64.ln()).abs() < 1e-6);
    let logits = kiln::tensor(&[[1.0f32, 2.0, 0.5], [0.1, 0.2, 3.0]]);
    let target = kiln::tensor(&[1i64, 2]);
    let w = kiln::tensor(&[1.0f32, 2.0, 0.5]);
    let by_name = kiln::nn::CrossEntropyOptions::new()
        .weight(&w)
        .label_smoothing(0.1)
        .reduction(kiln::nn::Reduction::Sum);
    let by_struct = kiln::nn::CrossEntropyOptions {
        weight: Some(w.shallow_clone()),
        label_smoothing: 0.1,
        reduction: kiln::nn::Reduction::Sum,
        ..Default::default()
    };
    assert_eq!(
        F::cross_entropy_with(&logits, &target, &by_name).item(),
        F::cross_entropy_with(&logits, &target, &by_struct).item()
    );
}

#[test]
fn autograd_grad_takes_single_tensors_and_prints_as_a_tuple() {
    let w = kiln::tensor(&[2.0f32]).requires_grad_(true);
    let b = kiln::tensor(&[1.0f32]).requires_grad_(true);
    let unused = kiln::tensor(&[1.0f32]).requires_grad_(true);
    let loss = (&w * &w + &b).sum();
    let g = kiln::autograd::grad_with_options(
        &loss,
        &w,
        None,
        kiln::autograd::BackwardOptions::new().retain_graph(true),
    );
    assert_eq!(g.to_string(), "(tensor([4.]),)");
    let gs = grad(&loss, [&w, &b, &unused], None, false);
    assert_eq!(gs.to_string(), "(tensor([4.]), tensor([1.]), None)");
    assert!(gs[2].is_none());
}

#[test]
#[should_panic(expected = "Set allow_unused=True if this is the desired behavior")]
fn autograd_grad_required_refuses_an_unused_input() {
    let w = kiln::tensor(&[2.0f32]).requires_grad_(true);
    let unused = kiln::tensor(&[1.0f32]).requires_grad_(true);
    grad(&(&w * 2.0).sum(), [&w, &unused], None, false).required();
}

#[test]
fn adamw_is_its_own_type_and_steps_as_adam_with_decoupled_decay() {
    use kiln::optim::{Adam, AdamOptions, AdamW, Optimizer};
    let run = |opt: &mut dyn Optimizer, p: &Tensor| {
        for _ in 0..3 {
            opt.zero_grad();
            p.mul(p).sum().backward();
            opt.step();
        }
        p.to_vec::<f32>()
    };
    let p1 = kiln::tensor(&[1.0f32, -2.0]).requires_grad_(true);
    let mut a: AdamW = AdamW::new(vec![p1.shallow_clone()], 0.1).betas(0.8, 0.99);
    let opts = AdamOptions {
        lr: 0.1,
        beta1: 0.8,
        beta2: 0.99,
        weight_decay: 0.01,
        decoupled_weight_decay: true,
        ..Default::default()
    };
    let p2 = kiln::tensor(&[1.0f32, -2.0]).requires_grad_(true);
    let mut b = Adam::with_options(vec![p2.shallow_clone()], opts);
    assert_eq!(run(&mut a, &p1), run(&mut b, &p2));
    assert_eq!(a.param_groups()[0].options.weight_decay, 0.01);
}

#[test]
fn paths_modules_and_python_formatting() {
    use kiln::nn::{Conv1d, Conv2d, Linear, Module};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.pth");
    let path = path.to_str().unwrap();
    let model = kiln::seq![Linear::new(2, 3), Conv2d::new(1, 2, 3)];
    kiln::save(&model.state_dict(), path).unwrap();
    let back = kiln::load(path).unwrap();
    assert_eq!(back.len(), 4);
    let conv: &Conv2d = model.get_submodule("1").unwrap().downcast_ref().unwrap();
    assert_eq!(conv.bias().shape(), [2]);
    assert!(model.get_submodule("2").is_none());
    assert_eq!(Conv1d::new(1, 4, 3).bias().shape(), [4]);
    assert_eq!(kiln::py::thousands(1234567), "1,234,567");
    assert_eq!(kiln::py::tuple(&[]), "()");
    assert_eq!(kiln::py::bool_str(false), "False");
}

#[test]
fn mnist_options_name_torchvisions_arguments() {
    use kiln::data::{Dataset, Mnist};
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let test_set = Mnist::options().root(root).train(false).load().unwrap();
    assert_eq!(test_set.len(), 10000);
    // With a root, only the root is searched (torchvision's rule): an empty one is refused.
    let empty = tempfile::tempdir().unwrap();
    let Err(err) = Mnist::options().root(empty.path()).load() else {
        panic!("no files there, yet it loaded");
    };
    assert!(
        matches!(err, kiln::data::DataError::DatasetNotFound { .. }),
        "{err}"
    );
}

/// The input, weight and bias gradients of a normalisation case against the fixture's
/// `gx`, `gw`, `gb` (the first two at ten times the tolerance: they sum over the batch).
fn check_grads(
    what: &str,
    c: &serde_json::Value,
    x: &Tensor,
    w: Option<&Tensor>,
    b: Option<&Tensor>,
    rtol: f64,
    atol: f64,
) {
    let grad = |t: &Tensor| t.grad().unwrap_or_else(|| panic!("{what}: no gradient"));
    close(
        &format!("{what} gx"),
        &grad(x),
        &t(&c["gx"]),
        rtol * 10.0,
        atol * 10.0,
    );
    if let Some(w) = w {
        close(
            &format!("{what} gw"),
            &grad(w),
            &t(&c["gw"]),
            rtol * 10.0,
            atol * 10.0,
        );
    }
    if let Some(b) = b {
        close(&format!("{what} gb"), &grad(b), &t(&c["gb"]), rtol, atol);
    }
}
