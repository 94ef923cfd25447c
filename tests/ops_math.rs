//! Math ops: finite-difference gradchecks (first and second order), PyTorch fixtures for
//! values and gradients, tie and kink rules, and misuse panics.
//!
//! Fixture numbers come from torch 2.15 in float64; each test quotes the expression.
//! Gradients there are of `(y * w).sum()` with `w = arange(1, y.numel() + 1)` shaped as
//! `y`, which [`vg`] reproduces.

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
                x.clone()
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

/// Values and gradient of `(f(x) * w).sum()` as the fixtures were made.
fn vg(
    f: impl Fn(&Tensor) -> Tensor,
    data: &[f64],
    shape: &[usize],
) -> (Vec<f64>, Vec<usize>, Vec<f64>) {
    let x = Tensor::from_slice(data, shape).requires_grad_(true);
    let y = f(&x);
    let w = Tensor::arange_dtype(1.0, y.numel() as f64 + 1.0, 1.0, DType::F64).reshape(y.shape());
    y.mul(&w).sum().backward();
    (y.to_vec(), y.size(), x.grad().expect("grad").to_vec())
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

fn fixture(
    f: impl Fn(&Tensor) -> Tensor,
    x: &[f64],
    shape: &[usize],
    y: &[f64],
    y_shape: &[usize],
    g: &[f64],
) {
    let (gy, gs, gg) = vg(f, x, shape);
    close(&gy, y, 1e-13);
    assert_eq!(gs, y_shape);
    close(&gg, g, 1e-12);
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
    check(|x| x[0].add(&x[1]), &[a.clone(), b.clone()]);
    check(|x| x[0].sub(&x[1]), &[a.clone(), col.clone()]);
    check(|x| x[0].mul(&x[1]), &[col.clone(), b.clone()]);
    check(
        |x| x[0].div(&x[1]),
        &[a.clone(), away_from_zero(&[4], 7, 0.5)],
    );
    let base = a.abs().add_scalar(0.5);
    check(|x| x[0].pow(&x[1]), &[base.clone(), b.clone()]);
    check(|x| x[0].pow(&x[1]), &[base.t(), randn(&[3], 8)]);
    // minimum/maximum away from ties: b differs from a by at least 0.25 everywhere.
    let off = away_from_zero(&[3, 4], 9, 0.25);
    let other = a.add(&off);
    check(|x| x[0].minimum(&x[1]), &[a.clone(), other.clone()]);
    check(|x| x[0].maximum(&x[1]), &[a.clone(), other.clone()]);
    check(
        |x| x[0].t().maximum(&x[1]),
        &[a.clone(), randn(&[3], 10).add_scalar(0.05)],
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

const XA: [f64; 8] = [-3.0, -1.5, -0.5, 0.0, 0.25, 1.0, 2.5, 25.0];

#[test]
fn activations_match_pytorch() {
    // F.leaky_relu(x, 0.1): the gradient at 0 is the slope.
    fixture(
        |x| x.leaky_relu(0.1),
        &XA,
        &[8],
        &[
            -0.30000000000000004,
            -0.15000000000000002,
            -0.05,
            0.0,
            0.25,
            1.0,
            2.5,
            25.0,
        ],
        &[8],
        &[0.1, 0.2, 0.30000000000000004, 0.4, 5.0, 6.0, 7.0, 8.0],
    );
    // F.relu(x): the gradient at 0 is 0.
    fixture(
        |x| x.relu(),
        &XA,
        &[8],
        &[0.0, 0.0, 0.0, 0.0, 0.25, 1.0, 2.5, 25.0],
        &[8],
        &[0.0, 0.0, 0.0, 0.0, 5.0, 6.0, 7.0, 8.0],
    );
    // F.gelu(x)
    fixture(
        |x| x.gelu(),
        &XA,
        &[8],
        &[
            -0.00404969409489031,
            -0.10021080190328704,
            -0.15426876936299344,
            0.0,
            0.14967658142073093,
            0.841344746068543,
            2.4844758366855597,
            25.0,
        ],
        &[8],
        &[
            -0.01194564720418392,
            -0.2549383844599592,
            0.39751462603151133,
            2.0,
            3.4768667744181805,
            6.499892823526118,
            7.263277601357016,
            8.0,
        ],
    );
    // F.gelu(x, approximate='tanh')
    fixture(
        |x| x.gelu_tanh(),
        &XA,
        &[8],
        &[
            -0.0036373920817729943,
            -0.10042842301976707,
            -0.15428599017485606,
            0.0,
            0.149675350701685,
            0.8411919906082768,
            2.484915733910001,
            25.0,
        ],
        &[8],
        &[
            -0.011584166630969648,
            -0.25542158630286615,
            0.39789028939607296,
            2.0,
            3.476770475755302,
            6.497784503074696,
            7.265661033488662,
            8.0,
        ],
    );
    // F.softplus(x)
    fixture(
        |x| x.softplus(1.0, 20.0),
        &XA,
        &[8],
        &[
            0.04858735157374206,
            0.2014132779827524,
            0.4740769841801067,
            std::f64::consts::LN_2, // torch printed 0.6931471805599453
            0.8259394198788436,
            1.3132616875182228,
            2.5788897342925496,
            25.0,
        ],
        &[8],
        &[
            0.04742587317756679,
            0.36485104761271264,
            1.1326220063944363,
            2.0,
            2.8108825044289905,
            4.38635147178003,
            6.468992739851296,
            8.0,
        ],
    );
    // F.softplus(x, beta=2, threshold=5)
    fixture(
        |x| x.softplus(2.0, 5.0),
        &XA,
        &[8],
        &[
            0.0012378425688652247,
            0.02429367578687103,
            0.15663084375911143,
            0.34657359027997264,
            0.48703849209005334,
            1.0634640055214863,
            2.503357674244559,
            25.0,
        ],
        &[8],
        &[
            0.0024726231566347748,
            0.09485174635513358,
            0.8068242641099854,
            2.0,
            3.1122966560092733,
            5.284782467867294,
            6.953150043530006,
            8.0,
        ],
    );
    // F.silu(x)
    fixture(
        |x| x.silu(),
        &XA,
        &[8],
        &[
            -0.14227761953270035,
            -0.2736382857095345,
            -0.1887703343990727,
            0.0,
            0.14054412522144952,
            0.7310585786300049,
            2.3103545499468914,
            24.9999999996528,
        ],
        &[8],
        &[
            -0.08810410601516962,
            -0.08258830859828589,
            0.7801164380920445,
            2.0,
            3.1185501078509885,
            5.566023071228921,
            7.695807779390687,
            8.000000002666496,
        ],
    );
    // torch.erf(x)
    fixture(
        |x| x.erf(),
        &XA,
        &[8],
        &[
            -0.9999779095030014,
            -0.9661051464753108,
            -0.5204998778130465,
            0.0,
            0.27632639016823696,
            0.8427007929497149,
            0.999593047982555,
            1.0,
        ],
        &[8],
        &[
            0.00013925305194674786,
            0.23786057844725872,
            2.6363477368063344,
            4.51351666838205,
            5.300070646880571,
            2.490644984523568,
            0.01524798961246897,
            3.322720850911917e-271,
        ],
    );
}

#[test]
fn gelu_f32_matches_pytorch() {
    // F.gelu(x.float())
    let want = [
        -0.004050225019454956,
        -0.10021086037158966,
        -0.1542687714099884,
        0.0,
        0.14967657625675201,
        0.8413447141647339,
        2.48447585105896,
        25.0,
    ];
    let y = Tensor::from_slice(&XA, &[8]).float().gelu();
    assert_eq!(y.dtype(), DType::F32);
    close(&y.to_vec::<f64>(), &want, 2e-6);
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
fn prod_matches_pytorch_with_zeros() {
    let xp = [2.0, 0.0, 3.0, 4.0, 5.0, 6.0];
    // x.prod(1)
    fixture(
        |x| x.prod_dim(1, false),
        &xp,
        &[2, 3],
        &[0.0, 120.0],
        &[2],
        &[0.0, 6.0, 0.0, 60.0, 48.0, 40.0],
    );
    // x.prod(0, keepdim=True)
    fixture(
        |x| x.prod_dim(0, true),
        &xp,
        &[2, 3],
        &[8.0, 0.0, 18.0],
        &[1, 3],
        &[4.0, 10.0, 18.0, 2.0, 0.0, 9.0],
    );
    // x.prod()
    fixture(
        |x| x.prod(),
        &xp,
        &[2, 3],
        &[0.0],
        &[],
        &[0.0, 720.0, 0.0, 0.0, 0.0, 0.0],
    );
    fixture(
        |x| x.prod(),
        &[2.0, 0.0, 3.0, 0.0],
        &[4],
        &[0.0],
        &[],
        &[0.0, 0.0, 0.0, 0.0],
    );
    fixture(
        |x| x.prod(),
        &[2.0, -1.5, 3.0, 0.5],
        &[2, 2],
        &[-4.5],
        &[],
        &[-2.25, 3.0, -1.5, -9.0],
    );
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
fn var_std_match_pytorch() {
    let xv = [1.0, 2.0, 4.0, 3.0, 5.0, 9.0];
    // x.var(1)
    fixture(
        |x| x.var_dims(&[1], 1.0, false),
        &xv,
        &[2, 3],
        &[2.333333333333333, 9.333333333333332],
        &[2],
        &[
            -1.3333333333333335,
            -0.3333333333333335,
            1.6666666666666665,
            -5.333333333333334,
            -1.333333333333334,
            6.666666666666666,
        ],
    );
    // x.var(0, correction=0, keepdim=True)
    fixture(
        |x| x.var_dims(&[0], 0.0, true),
        &xv,
        &[2, 3],
        &[1.0, 2.25, 6.25],
        &[1, 3],
        &[-1.0, -3.0, -7.5, 1.0, 3.0, 7.5],
    );
    // x.var()
    fixture(
        |x| x.var(),
        &xv,
        &[2, 3],
        &[8.0],
        &[],
        &[-1.2000000000000002, -0.8, 0.0, -0.4, 0.4, 2.0],
    );
    // x.std(1)
    fixture(
        |x| x.std_dims(&[1], 1.0, false),
        &xv,
        &[2, 3],
        &[1.5275252316519465, 3.055050463303893],
        &[2],
        &[
            -0.43643578047198484,
            -0.10910894511799625,
            0.5455447255899809,
            -0.8728715609439697,
            -0.2182178902359925,
            1.0910894511799618,
        ],
    );
    // x.std(correction=0)
    fixture(
        |x| x.std_dims(&[], 0.0, false),
        &xv,
        &[2, 3],
        &[2.581988897471611],
        &[],
        &[
            -0.19364916731037082,
            -0.12909944487358055,
            0.0,
            -0.06454972243679027,
            0.06454972243679027,
            0.32274861218395134,
        ],
    );
    // A constant row: std 0, gradient 0 (not NaN).
    fixture(
        |x| x.std_dims(&[1], 1.0, false),
        &[2.0, 2.0, 2.0, 1.0, 2.0, 3.0],
        &[2, 3],
        &[0.0, 1.0],
        &[2],
        &[0.0, 0.0, 0.0, -1.0, 0.0, 1.0],
    );
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

#[test]
fn logsumexp_matches_pytorch_and_is_stable() {
    // x.logsumexp(1) with huge and -inf entries.
    fixture(
        |x| x.logsumexp(&[1], false),
        &[1.0, 2.0, 3.0, 1000.0, 1000.0, f64::NEG_INFINITY],
        &[2, 3],
        &[3.4076059644443806, 1000.6931471805599],
        &[2],
        &[
            0.09003057317038043,
            0.24472847105479759,
            0.6652409557748217,
            1.000000000000055,
            1.000000000000055,
            0.0,
        ],
    );
    let xs = [1.0, 2.0, 3.0, -1.0, 0.5, 2.0];
    // x.logsumexp((0, 1))
    fixture(
        |x| x.logsumexp(&[0, 1], false),
        &xs,
        &[2, 3],
        &[3.678792038314891],
        &[],
        &[
            0.06864602586035237,
            0.18659924469212555,
            0.5072293360507878,
            0.009290229352878631,
            0.04163591935173002,
            0.18659924469212555,
        ],
    );
    // x.logsumexp(0, keepdim=True)
    fixture(
        |x| x.logsumexp(&[0], true),
        &xs,
        &[2, 3],
        &[1.1269280110429727, 2.2014132779827524, 3.313261687518223],
        &[1, 3],
        &[
            0.8807970779778823,
            1.6351489523872873,
            2.1931757358900144,
            0.11920292202211753,
            0.3648510476127127,
            0.8068242641099852,
        ],
    );
    // torch.ones(2, 0).logsumexp(1) is -inf.
    assert_eq!(
        Tensor::ones(&[2, 0]).logsumexp(&[1], false).to_vec::<f64>(),
        vec![f64::NEG_INFINITY; 2]
    );
    // Integers are promoted to float32: torch.tensor([1, 2]).logsumexp(0) = 2.3133.
    let i = Tensor::from_vec(vec![1i64, 2], &[2]).logsumexp(&[0], false);
    assert_eq!(i.dtype(), DType::F32);
    assert!((i.item() - (1f64.exp() + 2f64.exp()).ln()).abs() < 1e-6);
}

const XN: [f64; 9] = [3.0, -4.0, 0.0, 1.0, 2.0, -2.0, 0.0, 0.0, 0.0];

#[test]
fn norms_match_pytorch_including_zero_rows() {
    // torch.linalg.vector_norm(x, p, dim=1); the last row is all zeros.
    let cases: [(f64, [f64; 3], [f64; 9]); 7] = [
        (
            2.0,
            [5.0, 3.0, 0.0],
            [
                0.6,
                -0.8,
                0.0,
                0.6666666666666666,
                1.3333333333333333,
                -1.3333333333333333,
                0.0,
                0.0,
                0.0,
            ],
        ),
        (
            1.0,
            [7.0, 5.0, 0.0],
            [1.0, -1.0, 0.0, 2.0, 2.0, -2.0, 0.0, 0.0, 0.0],
        ),
        (
            f64::INFINITY,
            [4.0, 2.0, 0.0],
            [0.0, -1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0],
        ),
        (
            f64::NEG_INFINITY,
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
        (
            3.0,
            [4.497941445275415, 2.571281590658235, 0.0],
            [
                0.4448513517305356,
                -0.7908468475209521,
                0.0,
                0.3025037165480277,
                1.2100148661921108,
                -1.2100148661921108,
                0.0,
                0.0,
                0.0,
            ],
        ),
        (
            1.5,
            [5.584250376480029, 3.5387186276812526, 0.0],
            [
                0.7329564758289748,
                -0.8463452372482761,
                0.0,
                1.0631804438113088,
                1.5035642028877994,
                -1.5035642028877994,
                0.0,
                0.0,
                0.0,
            ],
        ),
        (
            0.5,
            [13.928203230275509, 14.656854249492378, 0.0],
            [
                2.154700538379252,
                -1.8660254037844386,
                0.0,
                7.65685424949238,
                5.414213562373094,
                -5.414213562373094,
                0.0,
                0.0,
                0.0,
            ],
        ),
    ];
    for (p, y, g) in cases {
        fixture(|x| x.norm_dims(p, &[1], false), &XN, &[3, 3], &y, &[3], &g);
    }
    // p = 0 counts non-zeros and has a zero gradient.
    let (y, _, g) = vg(|x| x.norm_dims(0.0, &[1], false), &XN, &[3, 3]);
    assert_eq!(y, vec![2.0, 3.0, 0.0]);
    assert_eq!(g, vec![0.0; 9]);
    // x.norm()
    fixture(
        |x| x.norm(2.0),
        &XN,
        &[3, 3],
        &[5.830951894845301],
        &[],
        &[
            0.5144957554275265,
            -0.6859943405700353,
            0.0,
            0.17149858514250882,
            0.34299717028501764,
            -0.34299717028501764,
            0.0,
            0.0,
            0.0,
        ],
    );
    // torch.zeros(3).norm(): gradient 0 at the zero vector.
    fixture(|x| x.norm(2.0), &[0.0; 3], &[3], &[0.0], &[], &[0.0; 3]);
    // torch.linalg.vector_norm(x, 3, dim=0, keepdim=True)
    fixture(
        |x| x.norm_dims(3.0, &[0], true),
        &XN,
        &[3, 3],
        &[3.0365889718756622, 4.160167646103808, 2.0],
        &[1, 3],
        &[
            0.9760464552457488,
            -1.848963398268359,
            0.0,
            0.10844960613841653,
            0.4622408495670898,
            -3.0,
            0.0,
            0.0,
            0.0,
        ],
    );
}

// ---------------------------------------------------------------- max/min: ties and indices

const XM: [f64; 6] = [1.0, 3.0, 3.0, 2.0, 2.0, 0.0];

#[test]
fn max_min_tie_rules_match_pytorch() {
    // x.max(): ties share the gradient evenly.
    fixture(
        |x| x.max(),
        &XM,
        &[2, 3],
        &[3.0],
        &[],
        &[0.0, 0.5, 0.5, 0.0, 0.0, 0.0],
    );
    fixture(
        |x| x.min(),
        &[1.0, 3.0, 1.0, 2.0, 2.0, 1.0],
        &[2, 3],
        &[1.0],
        &[],
        &[
            0.3333333333333333,
            0.0,
            0.3333333333333333,
            0.0,
            0.0,
            0.3333333333333333,
        ],
    );
    // x.amax(1), x.amin(0, keepdim=True), x.amax((0, 1))
    fixture(
        |x| x.amax(&[1], false),
        &XM,
        &[2, 3],
        &[3.0, 2.0],
        &[2],
        &[0.0, 0.5, 0.5, 1.0, 1.0, 0.0],
    );
    fixture(
        |x| x.amin(&[0], true),
        &XM,
        &[2, 3],
        &[1.0, 2.0, 0.0],
        &[1, 3],
        &[1.0, 0.0, 0.0, 0.0, 2.0, 3.0],
    );
    fixture(
        |x| x.amax(&[0, 1], false),
        &XM,
        &[2, 3],
        &[3.0],
        &[],
        &[0.0, 0.5, 0.5, 0.0, 0.0, 0.0],
    );
    // x.max(1)[0], x.min(1, keepdim=True)[0]: the whole gradient goes to the first index.
    fixture(
        |x| x.max_dim(1, false).0,
        &XM,
        &[2, 3],
        &[3.0, 2.0],
        &[2],
        &[0.0, 1.0, 0.0, 2.0, 0.0, 0.0],
    );
    fixture(
        |x| x.min_dim(1, true).0,
        &XM,
        &[2, 3],
        &[1.0, 0.0],
        &[2, 1],
        &[1.0, 0.0, 0.0, 0.0, 0.0, 2.0],
    );
}

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
    // relu'(0) = 0, leaky_relu'(0) = slope, abs'(0) = 0, clamp passes at its bounds,
    // minimum/maximum split ties in half.
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
    assert_eq!(x.grad().unwrap().to_vec::<f64>(), vec![1.0, 1.0]);
    let (a, b) = (z(), z());
    a.maximum(&b).sum().backward();
    assert_eq!(a.grad().unwrap().to_vec::<f64>(), vec![0.5, 0.5]);
    assert_eq!(b.grad().unwrap().to_vec::<f64>(), vec![0.5, 0.5]);
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
