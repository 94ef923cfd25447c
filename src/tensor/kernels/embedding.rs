//! Embedding lookup (a row gather) and its adjoint (a row scatter-add).

use crate::tensor::Tensor;
use crate::tensor::backend::select;

/// Rows of the 2-D float `weight` at `rows` (already bounds-checked), as a contiguous
/// tensor of shape `shape` (`rows.len() * dim` elements).
pub fn forward(weight: &Tensor, rows: &[usize], shape: &[usize]) -> Tensor {
    select("embedding", &[weight]).embedding(weight, rows, shape)
}

/// Row `k` of `grad` (`[.., dim]`, one row per entry of `rows`) summed into row
/// `rows[k]` of a zero `[num, dim]` tensor; rows equal to `padding` are skipped.
pub fn backward(grad: &Tensor, rows: &[usize], num: usize, padding: Option<usize>) -> Tensor {
    select("embedding_backward", &[grad]).embedding_backward(grad, rows, num, padding)
}

/// The CPU loops behind the functions above.
pub mod cpu {
    use crate::float_dispatch;
    use crate::tensor::Tensor;
    use num_traits::Zero;

    /// See [`super::forward`].
    pub fn forward(weight: &Tensor, rows: &[usize], shape: &[usize]) -> Tensor {
        let dim = weight.shape()[1];
        float_dispatch!("embedding", weight.dtype(), T => weight.with_contiguous(|w: &[T]| {
            let mut v = Vec::with_capacity(rows.len() * dim);
            for &r in rows {
                v.extend_from_slice(&w[r * dim..(r + 1) * dim]);
            }
            Tensor::from_vec(v, shape)
        }))
    }

    /// See [`super::backward`].
    pub fn backward(grad: &Tensor, rows: &[usize], num: usize, padding: Option<usize>) -> Tensor {
        let dim = grad.shape()[grad.dim() - 1];
        float_dispatch!("embedding_backward", grad.dtype(), T => grad.with_contiguous(|g: &[T]| {
            let mut v = vec![T::zero(); num * dim];
            for (k, &r) in rows.iter().enumerate() {
                if Some(r) == padding {
                    continue;
                }
                for (o, &x) in v[r * dim..(r + 1) * dim].iter_mut().zip(&g[k * dim..(k + 1) * dim]) {
                    *o += x;
                }
            }
            Tensor::from_vec(v, &[num, dim])
        }))
    }
}
