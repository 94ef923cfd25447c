//! Scans: `cumsum` and `cumprod` along a dim, forward and derivative (the gradient of a
//! cumulative sum is the cumulative sum of the gradient taken from the other end; a
//! cumulative product's is PyTorch's `cumprod_backward`, exact with zeros).

use crate::autograd::mode::is_grad_enabled;
use crate::autograd::record::{Saved, record, record_out};
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

/// The recorded cumulative product along the resolved `dim`.
fn cumprod_along(x: &Tensor, dim: usize) -> Tensor {
    let out = reductions::cumprod(&x.detach(), dim);
    record_out(out, &[x], "CumprodBackward0", |out: &Tensor| {
        let saved_out = Saved::data(out);
        let sx = Saved::new(x);
        move |g: &Tensor, _: &[bool]| {
            let x = sx.get();
            if x.numel() <= 1 || x.shape()[dim] == 1 {
                return vec![Some(g.shallow_clone())];
            }
            let gi = if !is_grad_enabled() {
                reductions::cumprod_backward(&x.detach(), saved_out.get(), &g.detach(), dim)
            } else if !x.eq_scalar(0).to_vec::<bool>().contains(&true) {
                // PyTorch's formula without zeros, recorded: sum_{j >= k} out_j g_j / x_k.
                cumsum_along(&cumprod_along(x, dim).mul(g), dim, true).div(x)
            } else {
                cumprod_backward_graph(x, g, dim)
            };
            vec![Some(gi)]
        }
    })
}

/// The gradient of `cumprod(x, dim)` from recorded ops, exact with zeros (for double
/// backward): `C[k, j] = prod_{i <= j, i != k} x_i` is the cumulative product of the run
/// with `x_k` replaced by 1, and element `k` gets `sum_{j >= k} g_j C[k, j]`.
fn cumprod_backward_graph(x: &Tensor, g: &Tensor, dim: usize) -> Tensor {
    let d = dim as isize;
    let n = x.shape()[dim];
    let xt = x.transpose(d, -1).unsqueeze(-2);
    let mut rows = xt.size();
    let last = rows.len() - 2;
    rows[last] = n;
    let eye = Tensor::eye(n).to_dtype(DType::Bool);
    let one = Tensor::scalar_dtype(1.0, x.dtype());
    let omitted = Tensor::where_(&eye, &one, &xt.expand(&rows)).cumprod(-1);
    let before_k: Vec<bool> = (0..n * n).map(|e| e % n < e / n).collect();
    let before_k = Tensor::from_vec(before_k, &[n, n]);
    omitted
        .mul(&g.transpose(d, -1).unsqueeze(-2))
        .masked_fill(&before_k, 0.0)
        .sum_dim(-1, false)
        .transpose(d, -1)
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

    /// The cumulative product along `dim` (`torch.cumprod(x, dim)`, `x.cumprod(dim)`;
    /// negative dims count from the end). Bool and integer inputs give int64, as in
    /// PyTorch; float32 accumulates in float64 as PyTorch's CPU kernel does. The gradient
    /// is PyTorch's `cumprod_backward`, exact when the input has zeros (no division by
    /// them), and differentiable again.
    ///
    /// ```
    /// let x = kiln::tensor(&[[1.0f32, 2.0, 3.0], [4.0, 0.0, 6.0]]);
    /// assert_eq!(x.cumprod(1).to_vec::<f32>(), [1.0, 2.0, 6.0, 4.0, 0.0, 0.0]);
    /// assert_eq!(x.cumprod(0).to_vec::<f32>(), [1.0, 2.0, 3.0, 4.0, 0.0, 18.0]);
    /// ```
    ///
    /// # Panics
    /// If `dim` is out of range (PyTorch's message).
    pub fn cumprod(&self, dim: isize) -> Tensor {
        let d = normalize_dim(dim, self.dim(), "cumprod");
        if self.dim() == 0 {
            return self.reshape(&[1]).cumprod(0).reshape(());
        }
        let x = if self.dtype().is_float() {
            self.shallow_clone()
        } else {
            self.to_dtype(DType::I64)
        };
        cumprod_along(&x, d)
    }
}
