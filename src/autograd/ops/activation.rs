//! Activation functions: relu, leaky_relu, gelu (erf and tanh forms), softplus.

use crate::autograd::record::{Saved, record};
use crate::float_dispatch;
use crate::tensor::Tensor;
use crate::tensor::kernels::elementwise::map;
use num_traits::Zero;

impl Tensor {
    /// `max(x, 0)` (`torch.relu`); the gradient at 0 is 0.
    pub fn relu(&self) -> Tensor {
        let out = float_dispatch!("relu", self.dtype(), T => map::<T, T>(self, |v: T| if v > T::zero() { v } else { T::zero() }));
        let saved_out = Saved::data(&out);
        record(out, &[self], "ReluBackward0", move || {
            move |g: &Tensor, _: &[bool]| {
                vec![Some(
                    g.mul(&saved_out.get().gt_scalar(0.0).to_dtype(g.dtype())),
                )]
            }
        })
    }
}
