//! Finite-difference gradient checking in f64, like `torch.autograd.gradcheck`.

use super::engine::grad;
use super::mode::no_grad;
use crate::tensor::{DType, Tensor};

/// Compares autograd's gradients of `f` at `inputs` with central finite differences.
///
/// Every input must be f64. The scalar checked is `sum(f(inputs) * w)` for a fixed
/// pseudo-random weight `w`, so every output element takes part. Returns `Err` with the
/// largest mismatch when any gradient element differs by more than
/// `atol + rtol * |numerical|`.
pub fn gradcheck(
    f: impl Fn(&[Tensor]) -> Tensor,
    inputs: &[Tensor],
    eps: f64,
    atol: f64,
    rtol: f64,
) -> Result<(), String> {
    for (i, x) in inputs.iter().enumerate() {
        if x.dtype() != DType::F64 {
            return Err(format!(
                "gradcheck: input {i} has dtype {}; use f64",
                x.dtype()
            ));
        }
    }
    let leaves: Vec<Tensor> = inputs
        .iter()
        .map(|x| x.detach().contiguous().clone().requires_grad_(true))
        .collect();
    // Keep the caller's layouts (e.g. non-contiguous views) for the analytical pass.
    let views: Vec<Tensor> = inputs
        .iter()
        .zip(&leaves)
        .map(|(x, l)| {
            if x.is_contiguous() {
                l.shallow_clone()
            } else {
                l.reshape(x.shape())
            }
        })
        .collect();
    let out = f(&views);
    let weights: Vec<f64> = (0..out.numel())
        .map(|i| 0.5 + ((i * 7919) % 13) as f64 / 13.0)
        .collect();
    let w = Tensor::from_vec(weights, out.shape());
    let scalar = |xs: &[Tensor]| -> f64 { no_grad(|| f(xs).mul(&w).sum().item()) };
    let analytic = grad(&[out.mul(&w).sum()], &leaves, None, false);
    for (i, x) in leaves.iter().enumerate() {
        let base = x.to_vec::<f64>();
        let ga = analytic[i]
            .as_ref()
            .map(|g| g.to_vec::<f64>())
            .unwrap_or_else(|| vec![0.0; base.len()]);
        for j in 0..base.len() {
            let probe = |delta: f64| {
                let mut v = base.clone();
                v[j] += delta;
                let mut xs: Vec<Tensor> = leaves.iter().map(|l| l.detach()).collect();
                xs[i] = Tensor::from_vec(v, x.shape());
                scalar(&xs)
            };
            let numeric = (probe(eps) - probe(-eps)) / (2.0 * eps);
            let diff = (numeric - ga[j]).abs();
            if diff > atol + rtol * numeric.abs() {
                return Err(format!(
                    "gradcheck: input {i}, element {j}: numerical {numeric:.8} vs analytical {:.8}",
                    ga[j]
                ));
            }
        }
    }
    Ok(())
}
