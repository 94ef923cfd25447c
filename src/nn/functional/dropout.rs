//! Inverted dropout.

use crate::autograd::record::{Saved, record};
use crate::tensor::Tensor;
use crate::tensor::kernels::random_fill;

/// Zeroes each element with probability `p` and scales the rest by `1 / (1 - p)`, when
/// `training` (`F.dropout`); the identity otherwise. Draws from the default generator.
///
/// The mask is PyTorch's CPU one for the same seed: PyTorch fills an `empty_like(x)`
/// noise tensor with `bernoulli_(1 - p)`, divides it by `1 - p` in `x`'s dtype and
/// multiplies, and kiln does the same with the same draws. Which draws those are depends
/// on the PyTorch build (see
/// [`BernoulliScalarKernel`](crate::tensor::random::BernoulliScalarKernel)): the pip
/// wheels draw ATen's own 53-bit uniforms on Intel and AMD CPUs alike, and kiln does the
/// same by default, so a kiln program and its PyTorch twin draw the same masks;
/// [`set_bernoulli_scalar_kernel`](crate::tensor::random::set_bernoulli_scalar_kernel)
/// picks one explicitly. `p == 0`, `p == 1`, eval mode and empty inputs draw nothing,
/// as in PyTorch.
pub fn dropout(x: &Tensor, p: f64, training: bool) -> Tensor {
    assert!(
        (0.0..=1.0).contains(&p),
        "dropout probability has to be between 0 and 1, but got {p}"
    );
    if !training || p == 0.0 || x.numel() == 0 {
        return x.shallow_clone();
    }
    if p == 1.0 {
        return x.mul_scalar(0.0);
    }
    let (mask, out) = random_fill::dropout(x, 1.0 - p);
    record(out, &[x], "MulBackward0", move || {
        let mask = Saved::new(&mask);
        move |g: &Tensor, _: &[bool]| vec![Some(g.mul(mask.get()))]
    })
}
