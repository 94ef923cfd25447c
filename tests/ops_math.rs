//! Math ops: finite-difference gradchecks (first and second order), tie and kink rules,
//! and misuse panics.
//!
//! Values and gradients compared with PyTorch are in `ops_math_pytorch.rs`.

use kiln::autograd::{enable_grad, grad, gradcheck};
use kiln::{DType, Generator, Tensor};

/// Deterministic standard-normal f64 input.
fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn_with(shape, DType::F64, &mut Generator::new(seed))
}

/// A random f64 input with every element at least `margin` away from 0.
fn away_from_zero(shape: &[usize], seed: u64, margin: f64) -> Tensor {
    let x = randn(shape, seed);
    x.sign().mul(&x.abs().add_scalar(margin))
}

fn check(f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    gradcheck(f, inputs, 1e-6, 1e-7, 1e-5).unwrap();
}

/// Checks the second derivative of `f` by finite differences of its recorded gradient,
/// and that the recorded (composite) gradient equals the plain (fused) one.
fn gradgradcheck(f: impl Fn(&Tensor) -> Tensor, x: &Tensor) {
    let first = |x: &Tensor, create_graph: bool| -> Tensor {
        enable_grad(|| {
            let x = if x.requires_grad() {
                x.shallow_clone()
            } else {
                x.detach().requires_grad_(true)
            };
            let y = f(&x);
            let w = Tensor::arange_dtype(1.0, y.numel() as f64 + 1.0, 1.0, DType::F64)
                .reshape(y.shape());
            grad(&[y.mul(&w).sum()], &[x], None, create_graph)[0]
                .clone()
                .expect("gradient")
        })
    };
    let plain = first(x, false).to_vec::<f64>();
    let recorded = first(x, true).to_vec::<f64>();
    close(&recorded, &plain, 1e-12);
    gradcheck(
        |xs| first(&xs[0], true),
        std::slice::from_ref(x),
        1e-6,
        1e-6,
        1e-5,
    )
    .unwrap();
}

/// Values and gradient of `(f(x) * w).sum()`, with `w = 1, 2, 3, ...` shaped as `f(x)`.
fn vg(
    f: impl Fn(&Tensor) -> Tensor,
    data: &[f64],
    shape: &[usize],
) -> (Vec<f64>, Vec<usize>, Vec<f64>) {
    let x = Tensor::from_slice(data, shape).requires_grad_(true);
    let y = f(&x);
    let w = Tensor::arange_dtype(1.0, y.numel() as f64 + 1.0, 1.0, DType::F64).reshape(y.shape());
    y.mul(&w).sum().backward();
    (
        y.to_vec(),
        y.size().to_vec(),
        x.grad().expect("grad").to_vec(),
    )
}

fn close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "length: {got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= tol * (1.0 + w.abs());
        assert!(
            ok,
            "element {i}: got {g}, want {w}\n got {got:?}\nwant {want:?}"
        );
    }
}

// ---------------------------------------------------------------- existing unary/binary

#[test]
fn gradcheck_unary_ops() {
    let x = randn(&[3, 4], 1);
    let pos = x.abs().add_scalar(0.3);
    check(|x| x[0].exp(), std::slice::from_ref(&x));
    check(|x| x[0].sin(), std::slice::from_ref(&x));
    check(|x| x[0].cos(), std::slice::from_ref(&x));
    check(|x| x[0].tanh(), std::slice::from_ref(&x));
    check(|x| x[0].sigmoid(), std::slice::from_ref(&x));
    check(|x| x[0].neg(), std::slice::from_ref(&x));
    check(|x| x[0].log(), std::slice::from_ref(&pos));
    check(|x| x[0].log1p(), std::slice::from_ref(&pos));
    check(|x| x[0].sqrt(), std::slice::from_ref(&pos));
    check(|x| x[0].rsqrt(), std::slice::from_ref(&pos));
    check(|x| x[0].abs(), &[away_from_zero(&[3, 4], 2, 0.1)]);
    check(|x| x[0].pow_scalar(3.0), std::slice::from_ref(&x));
    check(|x| x[0].pow_scalar(-1.5), std::slice::from_ref(&pos));
    check(|x| x[0].pow_scalar(2.0), std::slice::from_ref(&x));
}

#[test]
fn gradcheck_unary_ops_on_transposed_input() {
    // The closures transpose a [4, 3] leaf, so every kernel sees a strided view.
    let x = randn(&[4, 3], 3);
    let pos = x.abs().add_scalar(0.3);
    check(
        |x| x[0].t().exp().mul(&x[0].t().sin()),
        std::slice::from_ref(&x),
    );
    check(
        |x| x[0].t().tanh().add(&x[0].t().sigmoid()),
        std::slice::from_ref(&x),
    );
    check(
        |x| x[0].t().log().add(&x[0].t().rsqrt()),
        std::slice::from_ref(&pos),
    );
    check(
        |x| x[0].t().sqrt().mul(&x[0].t().log1p()),
        std::slice::from_ref(&pos),
    );
}

#[test]
fn gradcheck_binary_ops_with_broadcasting() {
    let a = randn(&[3, 4], 4);
    let b = randn(&[4], 5);
    let col = randn(&[3, 1], 6);
    check(|x| x[0].add(&x[1]), &[a.shallow_clone(), b.shallow_clone()]);
    check(
        |x| x[0].sub(&x[1]),
        &[a.shallow_clone(), col.shallow_clone()],
    );
    check(
        |x| x[0].mul(&x[1]),
        &[col.shallow_clone(), b.shallow_clone()],
    );
    check(
        |x| x[0].div(&x[1]),
        &[a.shallow_clone(), away_from_zero(&[4], 7, 0.5)],
    );
    let base = a.abs().add_scalar(0.5);
    check(
        |x| x[0].pow(&x[1]),
        &[base.shallow_clone(), b.shallow_clone()],
    );
    check(|x| x[0].pow(&x[1]), &[base.t(), randn(&[3], 8)]);
    // minimum/maximum away from ties: b differs from a by at least 0.25 everywhere.
    let off = away_from_zero(&[3, 4], 9, 0.25);
    let other = a.add(&off);
    check(
        |x| x[0].minimum(&x[1]),
        &[a.shallow_clone(), other.shallow_clone()],
    );
    check(
        |x| x[0].maximum(&x[1]),
        &[a.shallow_clone(), other.shallow_clone()],
    );
    check(
        |x| x[0].t().maximum(&x[1]),
        &[a.shallow_clone(), randn(&[3], 10).add_scalar(0.05)],
    );
}

#[test]
fn gradcheck_clamp_away_from_bounds() {
    // Values kept at least 0.05 from both bounds.
    let x = Tensor::from_vec(vec![-2.0, -0.4, 0.1, 0.3, 0.55, 1.7], &[2, 3]);
    check(
        |x| x[0].clamp(Some(-0.5), Some(0.5)),
        std::slice::from_ref(&x),
    );
    check(
        |x| x[0].t().clamp(Some(0.0), None),
        std::slice::from_ref(&x),
    );
    check(|x| x[0].clamp(None, Some(0.2)), std::slice::from_ref(&x));
}

#[test]
fn gradcheck_sum_and_mean_with_dims() {
    let x = randn(&[2, 3, 4], 11);
    check(|x| x[0].sum(), std::slice::from_ref(&x));
    check(|x| x[0].sum_dims(&[1], false), std::slice::from_ref(&x));
    check(|x| x[0].sum_dims(&[0, -1], true), std::slice::from_ref(&x));
    check(|x| x[0].mean(), std::slice::from_ref(&x));
    check(|x| x[0].mean_dims(&[2], true), std::slice::from_ref(&x));
    check(
        |x| x[0].mean_dims(&[-3, 1], false),
        std::slice::from_ref(&x),
    );
    check(
        |x| x[0].transpose(0, 2).mean_dims(&[1], false),
        std::slice::from_ref(&x),
    );
}

// ---------------------------------------------------------------- activations

#[test]
fn gradcheck_activations() {
    // Away from the kinks of relu/leaky_relu and the softplus threshold.
    let x = away_from_zero(&[3, 4], 12, 0.05);
    check(|x| x[0].relu(), std::slice::from_ref(&x));
    check(|x| x[0].leaky_relu(0.1), std::slice::from_ref(&x));
    check(|x| x[0].gelu(), std::slice::from_ref(&x));
    check(|x| x[0].gelu_tanh(), std::slice::from_ref(&x));
    check(|x| x[0].softplus(1.0, 20.0), std::slice::from_ref(&x));
    check(|x| x[0].softplus(2.0, 1.0), std::slice::from_ref(&x));
    check(|x| x[0].silu(), std::slice::from_ref(&x));
    check(|x| x[0].erf(), std::slice::from_ref(&x));
    check(
        |x| x[0].t().gelu().mul(&x[0].t().softplus(1.0, 20.0)),
        std::slice::from_ref(&x),
    );
}

#[test]
fn second_order_activations() {
    let x = away_from_zero(&[2, 3], 13, 0.05);
    gradgradcheck(|x| x.gelu(), &x);
    gradgradcheck(|x| x.gelu_tanh(), &x);
    gradgradcheck(|x| x.softplus(1.0, 20.0), &x);
    gradgradcheck(|x| x.softplus(2.0, 1.0), &x);
    gradgradcheck(|x| x.silu(), &x);
    gradgradcheck(|x| x.erf(), &x);
    gradgradcheck(|x| x.leaky_relu(0.2).mul(x), &x);
    gradgradcheck(|x| x.relu().mul(x), &x);
}

// ---------------------------------------------------------------- prod, var, std, logsumexp, norm

#[test]
fn gradcheck_reductions() {
    let x = randn(&[3, 4], 14);
    let nz = away_from_zero(&[3, 4], 15, 0.2);
    check(|x| x[0].prod(), std::slice::from_ref(&nz));
    check(|x| x[0].prod_dim(1, false), std::slice::from_ref(&nz));
    check(|x| x[0].t().prod_dim(0, true), std::slice::from_ref(&nz));
    check(|x| x[0].var(), std::slice::from_ref(&x));
    check(|x| x[0].var_dims(&[1], 0.0, true), std::slice::from_ref(&x));
    check(
        |x| x[0].t().var_dims(&[0], 1.0, false),
        std::slice::from_ref(&x),
    );
    check(|x| x[0].std(), std::slice::from_ref(&x));
    check(
        |x| x[0].std_dims(&[0], 1.0, false),
        std::slice::from_ref(&x),
    );
    check(|x| x[0].logsumexp(&[1], false), std::slice::from_ref(&x));
    check(|x| x[0].t().logsumexp(&[], true), std::slice::from_ref(&x));
    check(|x| x[0].logsumexp(&[0, 1], false), std::slice::from_ref(&x));
    for p in [2.0, 1.0, 3.0, 1.5, 0.5, f64::INFINITY, f64::NEG_INFINITY] {
        check(|x| x[0].norm(p), std::slice::from_ref(&nz));
        check(|x| x[0].norm_dims(p, &[1], true), std::slice::from_ref(&nz));
        check(
            |x| x[0].t().norm_dims(p, &[-1], false),
            std::slice::from_ref(&nz),
        );
    }
}

#[test]
fn gradcheck_prod_with_zeros() {
    // A product is a polynomial, so finite differences across a zero are exact enough.
    let one_zero = Tensor::from_vec(vec![2.0, 0.0, 3.0, -1.5, 0.5, 4.0], &[2, 3]);
    let two_zeros = Tensor::from_vec(vec![2.0, 0.0, 0.0, -1.5, 0.5, 4.0], &[2, 3]);
    for x in [&one_zero, &two_zeros] {
        check(|x| x[0].prod(), std::slice::from_ref(x));
        check(|x| x[0].prod_dim(1, false), std::slice::from_ref(x));
        check(|x| x[0].t().prod_dim(1, true), std::slice::from_ref(x));
    }
}

#[test]
fn second_order_reductions() {
    let x = randn(&[2, 3], 16);
    let nz = away_from_zero(&[2, 3], 17, 0.2);
    gradgradcheck(|x| x.prod_dim(1, false), &nz);
    gradgradcheck(|x| x.prod(), &nz);
    gradgradcheck(
        |x| x.prod_dim(1, false),
        &Tensor::from_vec(vec![2.0, 0.0, 3.0, -1.5, 0.5, 4.0], &[2, 3]),
    );
    gradgradcheck(
        |x| x.prod(),
        &Tensor::from_vec(vec![2.0, 0.0, 0.0, -1.5, 0.5, 4.0], &[2, 3]),
    );
    gradgradcheck(|x| x.var_dims(&[1], 1.0, false), &x);
    gradgradcheck(|x| x.std_dims(&[0], 0.0, true), &x);
    gradgradcheck(|x| x.logsumexp(&[1], false), &x);
    gradgradcheck(|x| x.norm(2.0), &x);
    gradgradcheck(|x| x.norm_dims(3.0, &[1], false), &nz);
    gradgradcheck(|x| x.norm_dims(1.5, &[0], false), &nz);
    gradgradcheck(|x| x.amax(&[1], false).mul(&x.amin(&[1], false)), &x);
    gradgradcheck(|x| x.max_dim(0, false).0.pow_scalar(2.0), &x);
}

#[test]
fn prod_of_integers_is_i64() {
    let x = Tensor::from_vec(vec![1i64, 2, 3, 4], &[2, 2]);
    assert_eq!(x.prod().dtype(), DType::I64);
    assert_eq!(x.prod().item(), 24.0);
    assert_eq!(x.prod_dim(0, false).to_vec::<i64>(), vec![3, 8]);
    let b = Tensor::from_vec(vec![true, true, false], &[3]);
    assert_eq!(b.prod().dtype(), DType::I64);
}

#[test]
fn var_with_too_few_elements_is_inf_or_nan() {
    // torch.ones(3).var(correction=3) is nan; torch.tensor([1., 2.]).var(correction=5) is inf.
    assert!(Tensor::ones(&[3]).var_dims(&[], 3.0, false).item().is_nan());
    assert_eq!(
        Tensor::from_vec(vec![1.0f32, 2.0], &[2])
            .var_dims(&[], 5.0, false)
            .item(),
        f64::INFINITY
    );
    assert!(Tensor::ones(&[1]).var().item().is_nan());
}

// ---------------------------------------------------------------- max/min: ties and indices

const XM: [f64; 6] = [1.0, 3.0, 3.0, 2.0, 2.0, 0.0];

#[test]
fn indices_are_first_occurrences_like_pytorch() {
    let x = Tensor::from_slice(&XM, &[2, 3]);
    let (v, i) = x.max_dim(1, false);
    assert_eq!(v.to_vec::<f64>(), vec![3.0, 2.0]);
    assert_eq!(i.dtype(), DType::I64);
    assert_eq!(i.to_vec::<i64>(), vec![1, 0]);
    assert_eq!(x.min_dim(1, false).1.to_vec::<i64>(), vec![0, 2]);
    assert_eq!(x.max_dim(0, false).1.to_vec::<i64>(), vec![1, 0, 0]);
    assert_eq!(x.max_dim(-1, true).1.shape(), &[2, 1]);
    assert_eq!(x.argmax(None, false).item(), 1.0);
    assert_eq!(x.argmax(Some(1), false).to_vec::<i64>(), vec![1, 0]);
    assert_eq!(x.argmin(Some(0), false).to_vec::<i64>(), vec![0, 1, 1]);
    assert_eq!(x.argmin(None, false).item(), 5.0);
    assert_eq!(x.argmax(None, true).shape(), &[1, 1]);
    assert_eq!(x.argmax(Some(0), true).shape(), &[1, 3]);
    // 0-D inputs: torch.tensor(5.).max(0) is (5., 0).
    let s = Tensor::scalar(5.0f64);
    let (v, i) = s.max_dim(0, true);
    assert_eq!((v.shape(), v.item(), i.item()), (&[][..], 5.0, 0.0));
    assert_eq!(s.argmax(Some(0), true).item(), 0.0);
}

#[test]
fn nan_propagates_through_extrema() {
    // torch.tensor([1., nan, 3., nan]): max(0) is (nan, 1), argmax 1, min(0) is (nan, 1).
    let x = Tensor::from_vec(vec![1.0, f64::NAN, 3.0, f64::NAN], &[4]);
    let (v, i) = x.max_dim(0, false);
    assert!(v.item().is_nan());
    assert_eq!(i.item(), 1.0);
    assert_eq!(x.argmax(None, false).item(), 1.0);
    assert_eq!(x.min_dim(0, false).1.item(), 1.0);
    assert!(x.amax(&[0], false).item().is_nan());
    assert!(x.max().item().is_nan());
    // max() sends the gradient to the NaN entries (PyTorch: [0, 1, 0] for [1, nan, 2]).
    let (_, _, g) = vg(|x| x.max(), &[1.0, f64::NAN, 2.0], &[3]);
    assert_eq!(g, vec![0.0, 1.0, 0.0]);
}

#[test]
fn extrema_keep_integer_and_bool_dtypes() {
    let x = Tensor::from_vec(vec![3i64, -1, 7, 7], &[2, 2]);
    assert_eq!(x.max().to_vec::<i64>(), vec![7]);
    assert_eq!(x.amin(&[1], false).to_vec::<i64>(), vec![-1, 7]);
    assert_eq!(x.max_dim(1, false).0.to_vec::<i64>(), vec![3, 7]);
    let b = Tensor::from_vec(vec![false, true], &[2]);
    assert_eq!(b.amax(&[0], false).to_vec::<bool>(), vec![true]);
    assert_eq!(b.max_dim(0, false).1.item(), 1.0);
}

#[test]
fn kinks_follow_pytorch() {
    // relu'(0) = 0, leaky_relu'(0) = slope, abs'(0) = 0, clamp's gradient is 0 at its
    // bounds (PyTorch 2.15: x.clamp(-1, 1) at x = [-1, 1] gives [0, 0]), minimum/maximum
    // split ties in half.
    let z = || Tensor::zeros_dtype(&[2], DType::F64).requires_grad_(true);
    let x = z();
    x.relu().sum().backward();
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![0.0, 0.0]);
    let x = z();
    x.leaky_relu(0.01).sum().backward();
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![0.01, 0.01]);
    let x = z();
    x.abs().sum().backward();
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![0.0, 0.0]);
    let x = Tensor::from_vec(vec![-1.0, 1.0], &[2]).requires_grad_(true);
    x.clamp(Some(-1.0), Some(1.0)).sum().backward();
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![0.0, 0.0]);
    let (a, b) = (z(), z());
    a.maximum(&b).sum().backward();
    assert_eq!(a.grad().unwrap().to_vec::<f64>(), vec![0.5, 0.5]);
    assert_eq!(b.grad().unwrap().to_vec::<f64>(), vec![0.5, 0.5]);
}

#[test]
fn relu_nan_gradient_is_the_same_when_the_backward_is_recorded() {
    // PyTorch's threshold_backward passes g at NaN; the create_graph path must agree.
    let x = Tensor::from_vec(vec![f64::NAN, -1.0, 0.0, 2.0], &[4]).requires_grad_(true);
    let y = x.relu();
    assert!(y.to_vec::<f64>()[0].is_nan());
    let g = grad(&[y.sum()], std::slice::from_ref(&x), None, true);
    assert_eq!(
        g[0].as_ref().unwrap().to_vec::<f64>(),
        vec![1.0, 0.0, 0.0, 1.0]
    );
    let g = grad(&[x.relu().sum()], std::slice::from_ref(&x), None, false);
    assert_eq!(
        g[0].as_ref().unwrap().to_vec::<f64>(),
        vec![1.0, 0.0, 0.0, 1.0]
    );
}

#[test]
fn max_dim_values_line_up_with_indices_on_every_dim() {
    // torch.arange(24.).reshape(2, 3, 4).max(0).values is 12..23 in order.
    let x = Tensor::arange_dtype(0.0, 24.0, 1.0, DType::F64).reshape(&[2, 3, 4]);
    let want: Vec<f64> = (12..24).map(f64::from).collect();
    assert_eq!(x.max_dim(0, false).0.to_vec::<f64>(), want);
    let p = Tensor::randn_dtype(&[2, 3, 4], DType::F64).permute(&[2, 0, 1]);
    for d in 0..3isize {
        for keep in [false, true] {
            for (v, i) in [p.max_dim(d, keep), p.min_dim(d, keep)] {
                // The values are the input gathered at the indices.
                let ik = if keep {
                    i.shallow_clone()
                } else {
                    i.unsqueeze(d)
                };
                let picked = p.gather(d, &ik);
                let picked = if keep { picked } else { picked.squeeze_dim(d) };
                assert_eq!(
                    v.to_vec::<f64>(),
                    picked.to_vec::<f64>(),
                    "dim {d} keep {keep}"
                );
            }
            let a = Tensor::randn_dtype(&[2, 3, 4], DType::F64).requires_grad_(true);
            check(
                move |x| x[0].permute(&[2, 0, 1]).max_dim(d, keep).0,
                std::slice::from_ref(&a),
            );
        }
    }
}

#[test]
fn gradcheck_maximum_minimum_with_a_nan_free_gap() {
    let a = Tensor::from_vec(vec![1.0, -2.0, 3.0, 0.5], &[4]).requires_grad_(true);
    let b = Tensor::from_vec(vec![0.0, -1.0, 4.0, -0.5], &[4]).requires_grad_(true);
    check(
        |x| x[0].minimum(&x[1]),
        &[a.shallow_clone(), b.shallow_clone()],
    );
    check(|x| x[0].maximum(&x[1]).mul(&x[0]), &[a, b]);
}

#[test]
fn element_count_overflow_panics_naming_the_shape() {
    let big = [1usize << 32, 1 << 32];
    assert_eq!(
        panic_message(|| drop(Tensor::zeros(&big))),
        "zeros: Storage size calculation overflowed with sizes=[4294967296, 4294967296]"
    );
    assert_eq!(
        panic_message(|| drop(Tensor::ones_dtype(&[1 << 61], DType::F64))),
        "ones: Storage size calculation overflowed with sizes=[2305843009213693952]"
    );
    assert_eq!(
        panic_message(|| drop(Tensor::randn_dtype(&[1 << 62], DType::F32))),
        "normal_: Storage size calculation overflowed with sizes=[4611686018427387904]"
    );
    assert_eq!(
        panic_message(|| drop(Tensor::ones(&[1, 1]).expand(&big))),
        "numel: integer multiplication overflow for shape [4294967296, 4294967296]"
    );
    assert_eq!(
        panic_message(|| drop(Tensor::ones(&[0]).reshape(&[1usize << 32, 1 << 32, 0]))),
        "numel: integer multiplication overflow for shape [4294967296, 4294967296, 0]"
    );
    // An empty shape with huge dims is fine, as in PyTorch.
    let empty = Tensor::from_vec(Vec::<f32>::new(), &[0, 1 << 40, 1 << 40]);
    assert_eq!(empty.numel(), 0);
}

// ---------------------------------------------------------------- misuse panics

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
fn reduction_misuse_names_the_op_and_dims() {
    let x = || Tensor::ones(&[2, 3]);
    assert_panics_with(
        || drop(x().amax(&[5], false)),
        "amax: dimension out of range (expected to be in range of [-2, 1], but got 5)",
    );
    assert_panics_with(
        || drop(x().amin(&[-3], false)),
        "amin: dimension out of range",
    );
    assert_panics_with(
        || drop(x().var_dims(&[0, -2], 1.0, false)),
        "var: dim 0 appears multiple times in the list of dims [0, -2]",
    );
    assert_panics_with(
        || drop(x().logsumexp(&[2], false)),
        "logsumexp: dimension out of range",
    );
    assert_panics_with(
        || drop(x().norm_dims(2.0, &[1, 1], false)),
        "linalg.vector_norm: dim 1 appears multiple times",
    );
    assert_panics_with(
        || drop(x().prod_dim(2, false)),
        "prod: dimension out of range",
    );
    assert_panics_with(
        || drop(x().max_dim(-4, false)),
        "max: dimension out of range",
    );
    assert_panics_with(
        || drop(x().argmin(Some(3), false)),
        "argmin: dimension out of range",
    );
    assert_panics_with(
        || drop(Tensor::ones(&[2, 0]).amax(&[1], false)),
        "amax(): Expected reduction dim 1 to have non-zero size",
    );
    assert_panics_with(
        || drop(Tensor::ones(&[2, 0]).max_dim(1, false)),
        "max(): Expected reduction dim 1 to have non-zero size",
    );
    assert_panics_with(
        || drop(Tensor::ones(&[0]).max()),
        "max(): Expected reduction dim to be specified for input.numel() == 0",
    );
    assert_panics_with(
        || drop(Tensor::ones(&[0]).argmax(None, false)),
        "argmax(): Expected reduction dim to be specified",
    );
    assert_panics_with(
        || drop(Tensor::ones(&[0]).norm(f64::INFINITY)),
        "linalg.vector_norm: cannot compute the inf norm on an empty tensor",
    );
    let ints = || Tensor::from_vec(vec![1i64, 2], &[2]);
    assert_panics_with(
        || drop(ints().norm(2.0)),
        "linalg.vector_norm: Expected a floating point tensor as input. Got torch.int64",
    );
    assert_panics_with(
        || drop(ints().var()),
        "var: std and var only support floating point dtypes (got torch.int64)",
    );
    assert_panics_with(
        || drop(ints().std()),
        "std: std and var only support floating point dtypes",
    );
}

#[test]
fn elementwise_misuse_names_the_op() {
    let ints = || Tensor::from_vec(vec![1i64, 2], &[2]);
    assert_panics_with(
        || drop(ints().gelu()),
        "gelu: not implemented for dtype torch.int64",
    );
    assert_panics_with(
        || drop(ints().leaky_relu(0.1)),
        "leaky_relu: not implemented for dtype torch.int64",
    );
    assert_panics_with(
        || drop(ints().softplus(1.0, 20.0)),
        "softplus: not implemented for dtype torch.int64",
    );
    assert_panics_with(
        || drop(Tensor::ones(&[2, 3]).add(&Tensor::ones(&[4]))),
        "add: the size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1",
    );
    // erf promotes integers like the other float functions.
    assert_eq!(ints().erf().dtype(), DType::F32);
}

#[test]
fn pytorch_spellings_sum_dim_pow_squeeze_iter() {
    let x = kiln::tensor(&[[1.0f32, 2.0], [3.0, 4.0]]);
    assert_eq!(x.sum_dim(0, false).to_vec::<f32>(), [4.0, 6.0]);
    assert_eq!(x.mean_dim(-1, true).size(), [2, 1]);
    assert_eq!(x.pow(2).to_vec::<f32>(), [1.0, 4.0, 9.0, 16.0]);
    assert_eq!(x.pow(&x).to_vec::<f32>(), [1.0, 4.0, 27.0, 256.0]);
    assert_eq!(Tensor::zeros(&[1, 3, 1]).squeeze_dims(&[0, -1]).size(), [3]);
    assert_eq!(
        Tensor::zeros(&[1, 3, 1]).squeeze_dims(&[1]).size(),
        [1, 3, 1]
    );
    let y = kiln::tensor(&[10.0f32, 20.0]);
    let pairs: Vec<(Vec<f32>, f32)> = x
        .iter()
        .zip(&y)
        .map(|(xi, yi)| (xi.to_vec(), yi.item() as f32))
        .collect();
    assert_eq!(pairs, [(vec![1.0, 2.0], 10.0), (vec![3.0, 4.0], 20.0)]);
    assert_eq!(x.clamp_min(2.5).to_vec::<f32>(), [2.5, 2.5, 3.0, 4.0]);
}

/// A short row broadcast over a contiguous operand (`[R, L] - [L]`, either side, offset
/// views, rows not dividing the kernel's repeat period, enough elements for several
/// threads) gives each element `f(a, b)` of its own row position.
#[test]
fn short_row_broadcasts_match_the_elementwise_definition() {
    for (rows, len) in [
        (5000usize, 24usize),
        (3001, 7),
        (1200, 127),
        (50, 1),
        (2, 5),
    ] {
        for dtype in [DType::F64, DType::I64] {
            let big = Tensor::arange_dtype(0.0, ((rows + 1) * len) as f64, 1.0, dtype)
                .reshape(&[rows + 1, len][..]);
            // Rows 1.. of `big`: dense with an offset.
            let a = big.narrow(0, 1, rows);
            let r = Tensor::arange_dtype(0.0, len as f64, 1.0, dtype).mul_scalar(3.0);
            let (av, rv) = (a.to_vec::<f64>(), r.to_vec::<f64>());
            let got_ar = a.sub(&r).to_vec::<f64>();
            let got_ra = r.sub(&a).to_vec::<f64>();
            for (i, (&x, (&g1, &g2))) in av.iter().zip(got_ar.iter().zip(&got_ra)).enumerate() {
                let y = rv[i % len];
                assert_eq!(g1, x - y, "{rows}x{len} {dtype:?} a - r at {i}");
                assert_eq!(g2, y - x, "{rows}x{len} {dtype:?} r - a at {i}");
            }
        }
    }
}
