//! Elementwise loss kernels whose forward is not a composition of public ops.

use crate::tensor::Tensor;
use crate::tensor::backend::select;

/// `-(t log x + (1 - t) log(1 - x))` elementwise for probabilities `x` and targets `t`
/// of the same float dtype, each log clamped at -100 (`F.binary_cross_entropy`,
/// unreduced). Panics if an element of `x` lies outside `[0, 1]`.
pub fn binary_cross_entropy(x: &Tensor, t: &Tensor) -> Tensor {
    select("binary_cross_entropy", &[x, t]).binary_cross_entropy(x, t)
}

/// The CPU loops behind the functions above.
pub mod cpu {
    use crate::float_dispatch;
    use crate::tensor::Tensor;
    use crate::tensor::kernels::elementwise::zip;

    /// See [`super::binary_cross_entropy`].
    pub fn binary_cross_entropy(x: &Tensor, t: &Tensor) -> Tensor {
        float_dispatch!("binary_cross_entropy", x.dtype(), T => {
            zip::<T, T>("binary_cross_entropy", x, t, |x, y| {
                assert!(
                    (0.0..=1.0).contains(&x),
                    "binary_cross_entropy: all elements of input should be between 0 and 1"
                );
                let lx = x.ln().max(-100.0);
                let l1x = (1.0 - x).ln().max(-100.0);
                -(y * lx + (1.0 - y) * l1x)
            })
        })
    }
}
