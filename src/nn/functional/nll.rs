//! `cross_entropy` and `nll_loss` with PyTorch's options: class weights, `ignore_index`,
//! label smoothing, probability targets, and the weighted-mean rule (divide by the sum
//! of the target classes' weights, leaving ignored rows out).
//!
//! Cross entropy with class targets is one fused op: a single pass computes each row's
//! log-sum-exp and loss, and a single backward node produces
//! `coeff * ((1-ε) w_t (p - onehot) + ε/C (W p - w))`.

use super::Reduction;
use crate::autograd::mode::is_grad_enabled;
use crate::autograd::record::{Saved, record};
use crate::tensor::backend::check_same_device;
use crate::tensor::kernels::nll::{self as kernel, NllPlan};
use crate::tensor::{DType, Tensor};

/// Options of `cross_entropy` / `nll_loss` (PyTorch's keyword arguments).
#[derive(Clone, Debug)]
pub struct CrossEntropyOptions {
    /// A weight per class (`weight=`), shape `[C]`.
    pub weight: Option<Tensor>,
    /// Target value whose rows are left out (`ignore_index=-100`).
    pub ignore_index: i64,
    /// How per-sample losses are combined (`reduction='mean'`).
    pub reduction: Reduction,
    /// Mixes the target with the uniform distribution (`label_smoothing=0.0`).
    pub label_smoothing: f64,
}

impl Default for CrossEntropyOptions {
    fn default() -> Self {
        CrossEntropyOptions {
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
            label_smoothing: 0.0,
        }
    }
}

impl CrossEntropyOptions {
    /// PyTorch's defaults, to set keyword arguments on by name:
    /// `F.cross_entropy(x, t, weight=w, label_smoothing=0.1)` is
    /// `F::cross_entropy_with(&x, &t, &CrossEntropyOptions::new().weight(&w).label_smoothing(0.1))`.
    ///
    /// ```
    /// use kiln::nn::functional as F;
    /// use kiln::nn::CrossEntropyOptions;
    /// let (x, t) = (kiln::tensor(&[[2.0f32, 0.0]]), kiln::Tensor::from_vec(vec![0i64], &[1]));
    /// let opts = CrossEntropyOptions::new().label_smoothing(0.1).ignore_index(-1);
    /// assert!(F::cross_entropy_with(&x, &t, &opts).item() > F::cross_entropy(&x, &t).item());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// `weight=w`: a weight per class (shape `[C]`; the handle is shared, not copied).
    pub fn weight(mut self, w: &Tensor) -> Self {
        self.weight = Some(w.shallow_clone());
        self
    }

    /// `ignore_index=i`.
    pub fn ignore_index(mut self, i: i64) -> Self {
        self.ignore_index = i;
        self
    }

    /// `reduction=...`.
    pub fn reduction(mut self, r: Reduction) -> Self {
        self.reduction = r;
        self
    }

    /// `label_smoothing=e`.
    pub fn label_smoothing(mut self, e: f64) -> Self {
        self.label_smoothing = e;
        self
    }
}

/// Cross entropy of logits `input` (`[N, C]`, `[C]` or `[N, C, d...]`) against class
/// indices (i64, `[N]`/`[]`/`[N, d...]`) or class probabilities (same shape as input),
/// with the default options (`F.cross_entropy(input, target)`).
pub fn cross_entropy(input: &Tensor, target: &Tensor) -> Tensor {
    cross_entropy_with(input, target, &CrossEntropyOptions::default())
}

/// `nll_loss(log_softmax(input))` with options (`F.cross_entropy(input, target, ...)`).
pub fn cross_entropy_with(input: &Tensor, target: &Tensor, opts: &CrossEntropyOptions) -> Tensor {
    assert!(
        (0.0..=1.0).contains(&opts.label_smoothing),
        "cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: {}",
        opts.label_smoothing
    );
    if target.dtype().is_float() {
        return cross_entropy_probs(input, target, opts);
    }
    let (x, t, out_shape) = flatten_classes("cross_entropy", input, target);
    fused_cross_entropy(&x, &t, &out_shape, opts)
}

/// Negative log-likelihood of log-probabilities `input` against class indices
/// (`F.nll_loss(input, target)`).
pub fn nll_loss(input: &Tensor, target: &Tensor) -> Tensor {
    nll_loss_with(input, target, &CrossEntropyOptions::default())
}

/// `nll_loss` with weights, `ignore_index` and reduction (label smoothing must be 0).
pub fn nll_loss_with(input: &Tensor, target: &Tensor, opts: &CrossEntropyOptions) -> Tensor {
    assert!(
        opts.label_smoothing == 0.0,
        "nll_loss: label_smoothing is not an option of nll_loss"
    );
    let (x, t, out_shape) = flatten_classes("nll_loss", input, target);
    let (m, c) = (x.shape()[0], x.shape()[1]);
    let p = plan("nll_loss", &t, c, opts);
    // coefficient matrix: -w_t at (i, t_i) for kept rows.
    let mut b = vec![0.0f64; m * c];
    for i in 0..m {
        if p.valid[i] {
            b[i * c + p.targets[i] as usize] = -p.w(p.targets[i] as usize);
        }
    }
    let b = Tensor::from_vec(b, &[m, c]).to_dtype(x.dtype());
    let per_row = x.mul(&b).sum_dims(&[1], false);
    match opts.reduction {
        Reduction::None => per_row.reshape(&out_shape),
        Reduction::Sum => per_row.sum(),
        Reduction::Mean => per_row.sum().div_scalar(p.denom),
    }
}

/// Reshapes `input` to `[M, C]` and the i64 `target` to `[M]`; returns the shape an
/// unreduced loss takes (the target's shape).
fn flatten_classes(op: &str, input: &Tensor, target: &Tensor) -> (Tensor, Vec<i64>, Vec<usize>) {
    check_same_device(op, &[input, target]);
    assert!(
        target.dtype() == DType::I64,
        "{op}: expected target of dtype torch.int64 (class indices) or a float tensor of \
         probabilities, got {}",
        target.dtype()
    );
    let x = if input.dtype().is_float() {
        input.shallow_clone()
    } else {
        input.float()
    };
    let (x2, want): (Tensor, Vec<usize>) = match x.dim() {
        1 => (x.unsqueeze(0), vec![]),
        2 => (x.shallow_clone(), vec![x.shape()[0]]),
        d if d > 2 => {
            let mut perm: Vec<isize> = vec![0];
            perm.extend(2..d as isize);
            perm.push(1);
            let c = x.shape()[1] as isize;
            let mut want = vec![x.shape()[0]];
            want.extend_from_slice(&x.shape()[2..]);
            (x.permute(&perm).reshape_infer(&[-1, c]), want)
        }
        _ => panic!("{op}: input must have at least 1 dimension, got a 0-D tensor"),
    };
    assert!(
        target.shape() == want.as_slice(),
        "{op}: expected target of shape {want:?} for input of shape {:?}, got {:?}",
        input.shape(),
        target.shape()
    );
    (x2, target.to_vec::<i64>(), want)
}

/// The kernel's per-row plan for `opts`.
fn plan(op: &str, targets: &[i64], c: usize, opts: &CrossEntropyOptions) -> NllPlan {
    NllPlan::new(op, targets, c, opts.weight.as_ref(), opts.ignore_index)
}

/// The per-row upstream coefficient for reduction `r` from the incoming gradient.
fn coefficients(g: &Tensor, r: Reduction, m: usize, denom: f64) -> Vec<f64> {
    match r {
        Reduction::None => g.contiguous().to_vec::<f64>(),
        Reduction::Sum => vec![g.item(); m],
        Reduction::Mean => vec![g.item() / denom; m],
    }
}

fn fused_cross_entropy(
    x: &Tensor,
    targets: &[i64],
    out_shape: &[usize],
    opts: &CrossEntropyOptions,
) -> Tensor {
    let m = x.shape()[0];
    let c = x.shape()[1];
    let plan = std::sync::Arc::new(plan("cross_entropy", targets, c, opts));
    let (eps, red) = (opts.label_smoothing, opts.reduction);
    let (losses, lse) = kernel::forward(x, &plan, eps);
    let total = || losses.to_vec::<f64>().iter().sum::<f64>();
    let out = match red {
        Reduction::None => losses.reshape(out_shape),
        Reduction::Sum => Tensor::scalar_dtype(total(), x.dtype()),
        Reduction::Mean => Tensor::scalar_dtype(total() / plan.denom, x.dtype()),
    };
    record(out, &[x], "NllLossBackward0", || {
        let sx = Saved::new(x);
        move |g: &Tensor, _: &[bool]| {
            let x = sx.get();
            if is_grad_enabled() {
                return vec![Some(ce_grad_graph(g, x, &plan, eps, red))];
            }
            let coeff = coefficients(g, red, m, plan.denom);
            vec![Some(kernel::backward(x, &plan, eps, &lse, &coeff))]
        }
    })
}

/// The same gradient built from differentiable ops, for `create_graph` backward passes.
fn ce_grad_graph(g: &Tensor, x: &Tensor, p: &NllPlan, eps: f64, red: Reduction) -> Tensor {
    let (m, c) = (x.shape()[0], x.shape()[1]);
    let share = eps / c as f64;
    let mut a = vec![0.0f64; m];
    let mut b = vec![0.0f64; m * c];
    for i in 0..m {
        if !p.valid[i] {
            continue;
        }
        let t = p.targets[i] as usize;
        a[i] = (1.0 - eps) * p.w(t) + share * p.wsum;
        b[i * c + t] += (1.0 - eps) * p.w(t);
        for j in 0..c {
            b[i * c + j] += share * p.w(j);
        }
    }
    let a = Tensor::from_vec(a, &[m, 1]).to_dtype(x.dtype());
    let b = Tensor::from_vec(b, &[m, c]).to_dtype(x.dtype());
    let coeff = match red {
        Reduction::None => g.reshape(&[m, 1]),
        Reduction::Sum => g.reshape(&[1, 1]),
        Reduction::Mean => g.reshape(&[1, 1]).div_scalar(p.denom),
    };
    coeff.mul(&x.softmax(1).mul(&a).sub(&b))
}

/// Cross entropy against class probabilities (float targets shaped like `input`).
fn cross_entropy_probs(input: &Tensor, target: &Tensor, opts: &CrossEntropyOptions) -> Tensor {
    assert!(
        input.shape() == target.shape(),
        "cross_entropy: expected probability target of shape {:?}, got {:?}",
        input.shape(),
        target.shape()
    );
    let class_dim: isize = if input.dim() == 1 { 0 } else { 1 };
    let c = input.shape()[class_dim as usize];
    let logp = input.log_softmax(class_dim);
    let mut target = target.shallow_clone();
    if opts.label_smoothing > 0.0 {
        target = target
            .mul_scalar(1.0 - opts.label_smoothing)
            .add_scalar(opts.label_smoothing / c as f64);
    }
    let mut prod = logp.mul(&target);
    if let Some(w) = &opts.weight {
        let mut shape = vec![1usize; input.dim()];
        shape[class_dim as usize] = c;
        prod = prod.mul(&w.reshape(&shape));
    }
    match opts.reduction {
        Reduction::None => prod.sum_dims(&[class_dim], false).neg(),
        Reduction::Sum => prod.sum().neg(),
        Reduction::Mean => prod
            .sum()
            .neg()
            .div_scalar((input.numel() / c.max(1)) as f64),
    }
}
