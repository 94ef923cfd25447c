//! Scans: `cumsum` along a dim, forward and derivative (the gradient of a cumulative sum
//! is the cumulative sum of the gradient taken from the other end).

use crate::autograd::record::record;
use crate::tensor::kernels::reductions;
use crate::tensor::layout::normalize_dim;
use crate::tensor::{DType, Tensor};

/// The recorded scan along the resolved `dim`; its backward is the scan from the other end,
/// itself recorded, so double backward works.
fn cumsum_along(x: &Tensor, dim: usize, reverse: bool) -> Tensor {
    let out = reductions::cumsum(&x.detach(), dim, reverse);
    record(out, &[x], "CumsumBackward0", move || {
        move |g: &Tensor, _: &[bool]| vec![Some(cumsum_along(g, dim, !reverse))]
    })
}

impl Tensor {
    /// The cumulative sum along `dim` (`torch.cumsum(x, dim)`, `x.cumsum(dim)`; negative
    /// dims count from the end). Bool and integer inputs give int64, as in PyTorch; float32
    /// accumulates in float64 as PyTorch's CPU kernel does, so the values are PyTorch's.
    ///
    /// ```
    /// let x = kiln::tensor(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    /// assert_eq!(x.cumsum(1).to_vec::<f32>(), [1.0, 3.0, 6.0, 4.0, 9.0, 15.0]);
    /// assert_eq!(x.cumsum(-2).to_vec::<f32>(), [1.0, 2.0, 3.0, 5.0, 7.0, 9.0]);
    /// ```
    ///
    /// # Panics
    /// If `dim` is out of range (PyTorch's message).
    pub fn cumsum(&self, dim: isize) -> Tensor {
        let d = normalize_dim(dim, self.dim(), "cumsum");
        if self.dim() == 0 {
            return self.reshape(&[1]).cumsum(0).reshape(());
        }
        let x = if self.dtype().is_float() {
            self.shallow_clone()
        } else {
            self.to_dtype(DType::I64)
        };
        cumsum_along(&x, d, false)
    }
}
