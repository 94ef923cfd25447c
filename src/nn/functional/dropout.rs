//! Inverted dropout.

use crate::autograd::record::record;
use crate::float_dispatch;
use crate::tensor::Tensor;
use crate::tensor::kernels::elementwise::zip;
use crate::tensor::random::with_global;

/// Zeroes each element with probability `p` and scales the rest by `1 / (1 - p)`, when
/// `training` (`F.dropout`); the identity otherwise. Draws from the default generator.
pub fn dropout(x: &Tensor, p: f64, training: bool) -> Tensor {
    assert!(
        (0.0..=1.0).contains(&p),
        "dropout probability has to be between 0 and 1, but got {p}"
    );
    if !training || p == 0.0 {
        return x.clone();
    }
    if p == 1.0 {
        return x.mul_scalar(0.0);
    }
    let keep = 1.0 - p;
    let n = x.numel();
    let mask = float_dispatch!("dropout", x.dtype(), T => {
        let scale = (1.0 / keep) as T;
        let m: Vec<T> = with_global(|g| {
            (0..n).map(|_| if g.uniform_f64() < keep { scale } else { 0.0 }).collect()
        });
        Tensor::from_vec(m, x.shape())
    });
    let out =
        float_dispatch!("dropout", x.dtype(), T => zip::<T, T>("dropout", x, &mask, |a, b| a * b));
    record(out, &[x], "MulBackward0", move || {
        move |g: &Tensor, _: &[bool]| vec![Some(g.mul(&mask))]
    })
}
