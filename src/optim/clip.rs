//! Gradient clipping: `clip_grad_norm_` and `clip_grad_value_`.

use crate::tensor::Tensor;
use crate::tensor::kernels::reductions::norm_f64;

/// Scales the gradients of `params` so their joint `norm_type`-norm is at most
/// `max_norm` (`torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
///
/// The norm is the norm of the per-parameter norms (`f64::INFINITY` for the max norm).
/// Gradients are multiplied by `min(1, max_norm / (total + 1e-6))`.
pub fn clip_grad_norm_(params: &[Tensor], max_norm: f64, norm_type: f64) -> f64 {
    let grads: Vec<(Tensor, Tensor)> = params
        .iter()
        .filter_map(|p| p.grad().map(|g| (p.shallow_clone(), g)))
        .collect();
    if grads.is_empty() {
        return 0.0;
    }
    let norms = grads.iter().map(|(_, g)| norm_f64(g, norm_type));
    let total = if norm_type.is_infinite() {
        norms.fold(0.0, f64::max)
    } else {
        norms
            .map(|n| n.powf(norm_type))
            .sum::<f64>()
            .powf(1.0 / norm_type)
    };
    let coef = (max_norm / (total + 1e-6)).min(1.0);
    if coef < 1.0 {
        for (p, g) in grads {
            // Scaled in f64, then rounded to the gradient's dtype once.
            let scaled =
                crate::autograd::no_grad(|| g.double().mul_scalar(coef).to_dtype(g.dtype()));
            p.set_grad(Some(scaled));
        }
    }
    total
}

/// Clamps every gradient element of `params` into `[-clip_value, clip_value]`
/// (`torch.nn.utils.clip_grad_value_`).
pub fn clip_grad_value_(params: &[Tensor], clip_value: f64) {
    for p in params {
        if let Some(g) = p.grad() {
            let c = crate::autograd::no_grad(|| g.clamp(Some(-clip_value), Some(clip_value)));
            p.set_grad(Some(c));
        }
    }
}
