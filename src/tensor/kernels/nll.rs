//! The fused cross entropy over class indices: one pass for each row's log-sum-exp and
//! loss, one for the input gradient `coeff * ((1-ε) w_t (p - onehot) + ε/C (W p - w))`.

use crate::tensor::Tensor;
use crate::tensor::backend::select;

/// Per-row bookkeeping of a class-index loss, shared by its forward and backward passes.
#[derive(Clone, Debug)]
pub struct NllPlan {
    /// The target class of each row.
    pub targets: Vec<i64>,
    /// Whether each row counts (its target is not `ignore_index`).
    pub valid: Vec<bool>,
    /// A weight per class, if given.
    pub weight: Option<Vec<f64>>,
    /// Sum of all class weights (C without weights).
    pub wsum: f64,
    /// Denominator of the mean: the kept rows' target weights (or their count).
    pub denom: f64,
}

impl NllPlan {
    /// The plan for `targets` over `c` classes; panics, naming `op`, on a weight of the
    /// wrong shape or a kept target out of range, with PyTorch's messages.
    pub fn new(
        op: &str,
        targets: &[i64],
        c: usize,
        weight: Option<&Tensor>,
        ignore_index: i64,
    ) -> NllPlan {
        let weight = weight.map(|w| {
            assert!(
                w.shape() == [c],
                "{op}: weight tensor should be defined either for all {c} classes or no \
                 classes but got weight tensor of shape: {:?}",
                w.shape()
            );
            w.to_vec::<f64>()
        });
        let valid: Vec<bool> = targets.iter().map(|&t| t != ignore_index).collect();
        for (&t, &v) in targets.iter().zip(&valid) {
            assert!(
                !v || (0..c as i64).contains(&t),
                "{op}: Target {t} is out of bounds (number of classes {c})"
            );
        }
        let wsum = weight.as_ref().map_or(c as f64, |w| w.iter().sum());
        let denom = targets
            .iter()
            .zip(&valid)
            .filter(|(_, v)| **v)
            .map(|(&t, _)| weight.as_ref().map_or(1.0, |w| w[t as usize]))
            .sum();
        NllPlan {
            targets: targets.to_vec(),
            valid,
            weight,
            wsum,
            denom,
        }
    }

    /// The weight of `class` (1 without weights).
    pub fn w(&self, class: usize) -> f64 {
        self.weight.as_ref().map_or(1.0, |w| w[class])
    }
}

/// Cross entropy of the float `[M, C]` logits `x` with label smoothing `eps`: each
/// row's loss (0 for ignored rows) and log-sum-exp, both `[M]` in `x`'s dtype.
pub fn forward(x: &Tensor, plan: &NllPlan, eps: f64) -> (Tensor, Tensor) {
    select("cross_entropy", &[x]).cross_entropy(x, plan, eps)
}

/// The gradient of [`forward`] with respect to `x`, given the saved log-sum-exps and
/// each row's upstream coefficient (`[M, C]`, `x`'s dtype).
pub fn backward(x: &Tensor, plan: &NllPlan, eps: f64, lse: &Tensor, coeff: &[f64]) -> Tensor {
    select("cross_entropy_backward", &[x, lse]).cross_entropy_backward(x, plan, eps, lse, coeff)
}

/// The CPU loops behind the functions above.
pub mod cpu {
    use super::NllPlan;
    use crate::float_dispatch;
    use crate::tensor::{Float, Tensor};

    /// Row losses and log-sum-exps of the fused cross entropy.
    fn ce_rows<T: Float>(x: &[T], c: usize, p: &NllPlan, eps: f64) -> (Vec<T>, Vec<T>) {
        let m = p.targets.len();
        let (mut losses, mut lses) = (vec![T::zero(); m], vec![T::zero(); m]);
        let (keep, share) = (T::c(1.0 - eps), T::c(eps / c as f64));
        for i in 0..m {
            if !p.valid[i] {
                continue;
            }
            let row = &x[i * c..(i + 1) * c];
            let max = row.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
            let lse = max + row.iter().map(|&v| (v - max).exp()).sum::<T>().ln();
            let t = p.targets[i] as usize;
            let mut loss = keep * T::c(p.w(t)) * (lse - row[t]);
            if eps > 0.0 {
                let smooth: T = match &p.weight {
                    None => row.iter().map(|&v| lse - v).sum(),
                    Some(w) => row
                        .iter()
                        .zip(w)
                        .map(|(&v, &wc)| T::c(wc) * (lse - v))
                        .sum(),
                };
                loss += share * smooth;
            }
            losses[i] = loss;
            lses[i] = lse;
        }
        (losses, lses)
    }

    /// Raw gradient of the fused cross entropy given each row's upstream coefficient.
    fn ce_grad<T: Float>(
        x: &[T],
        c: usize,
        p: &NllPlan,
        eps: f64,
        lse: &[T],
        coeff: &[T],
    ) -> Vec<T> {
        let mut out = vec![T::zero(); x.len()];
        let (keep, share) = (T::c(1.0 - eps), T::c(eps / c as f64));
        for i in 0..p.targets.len() {
            if !p.valid[i] {
                continue;
            }
            let t = p.targets[i] as usize;
            let wt = keep * T::c(p.w(t)) * coeff[i];
            let scale = wt + share * T::c(p.wsum) * coeff[i];
            let (row, o) = (&x[i * c..(i + 1) * c], &mut out[i * c..(i + 1) * c]);
            for (oj, &v) in o.iter_mut().zip(row) {
                *oj = (v - lse[i]).exp() * scale;
            }
            o[t] -= wt;
            if eps > 0.0 {
                for (j, oj) in o.iter_mut().enumerate() {
                    *oj -= share * T::c(p.w(j)) * coeff[i];
                }
            }
        }
        out
    }

    /// See [`super::forward`].
    pub fn forward(x: &Tensor, plan: &NllPlan, eps: f64) -> (Tensor, Tensor) {
        let (m, c) = (x.shape()[0], x.shape()[1]);
        float_dispatch!("cross_entropy", x.dtype(), T => {
            let (losses, lse) = x.with_contiguous(|s: &[T]| ce_rows(s, c, plan, eps));
            (Tensor::from_vec(losses, &[m]), Tensor::from_vec(lse, &[m]))
        })
    }

    /// See [`super::backward`].
    pub fn backward(x: &Tensor, plan: &NllPlan, eps: f64, lse: &Tensor, coeff: &[f64]) -> Tensor {
        let (m, c) = (x.shape()[0], x.shape()[1]);
        float_dispatch!("cross_entropy_backward", x.dtype(), T => {
            let coeff: Vec<T> = coeff.iter().map(|&v| T::c(v)).collect();
            let l = lse.to_vec::<T>();
            let v = x.with_contiguous(|s: &[T]| ce_grad(s, c, plan, eps, &l, &coeff));
            Tensor::from_vec(v, &[m, c])
        })
    }
}
