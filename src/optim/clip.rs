//! Gradient clipping: `clip_grad_norm_` and `clip_grad_value_`.

use crate::tensor::Tensor;

/// Scales the gradients of `params` so their joint `norm_type`-norm is at most
/// `max_norm` (`torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
///
/// The norm is the norm of the per-parameter norms (`f64::INFINITY` for the max norm).
/// Gradients are multiplied by `min(1, max_norm / (total + 1e-6))`.
pub fn clip_grad_norm_(params: &[Tensor], max_norm: f64, norm_type: f64) -> f64 {
    let grads: Vec<(Tensor, Vec<f64>)> = params
        .iter()
        .filter_map(|p| p.grad().map(|g| (p.clone(), g.to_vec::<f64>())))
        .collect();
    if grads.is_empty() {
        return 0.0;
    }
    let total = if norm_type.is_infinite() {
        grads
            .iter()
            .flat_map(|(_, g)| g.iter().map(|v| v.abs()))
            .fold(0.0, f64::max)
    } else {
        grads
            .iter()
            .map(|(_, g)| {
                g.iter()
                    .map(|v| v.abs().powf(norm_type))
                    .sum::<f64>()
                    .powf(1.0 / norm_type)
            })
            .map(|n| n.powf(norm_type))
            .sum::<f64>()
            .powf(1.0 / norm_type)
    };
    let coef = (max_norm / (total + 1e-6)).min(1.0);
    if coef < 1.0 {
        for (p, g) in grads {
            let old = p.grad().expect("grad");
            let scaled: Vec<f64> = g.iter().map(|v| v * coef).collect();
            p.set_grad(Some(
                Tensor::from_vec(scaled, old.shape()).to_dtype(old.dtype()),
            ));
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
