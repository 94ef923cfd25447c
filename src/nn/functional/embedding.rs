//! Embedding lookup and its adjoint (scatter-add of rows), each recorded so that
//! gradients of any order flow.

use crate::autograd::record::{Saved, record};
use crate::float_dispatch;
use crate::tensor::{DType, Tensor};
use num_traits::Zero;

fn checked_rows(indices: &Tensor, num: usize) -> Vec<usize> {
    assert!(
        indices.dtype() == DType::I64,
        "embedding: expected indices of dtype torch.int64, got {}",
        indices.dtype()
    );
    indices
        .to_vec::<i64>()
        .into_iter()
        .map(|i| {
            assert!(
                (0..num as i64).contains(&i),
                "embedding: index {i} is out of range for an embedding of {num} rows"
            );
            i as usize
        })
        .collect()
}

/// Rows of `weight` (`[num, dim]`) picked by the i64 `indices`; the result has shape
/// `indices.shape + [dim]` (`F.embedding`). Rows at `padding_idx` get no gradient.
pub fn embedding(indices: &Tensor, weight: &Tensor, padding_idx: Option<usize>) -> Tensor {
    assert!(
        weight.dim() == 2,
        "embedding: weight must be 2-D, got {:?}",
        weight.shape()
    );
    let (num, dim) = (weight.shape()[0], weight.shape()[1]);
    let rows = checked_rows(indices, num);
    let mut shape = indices.size();
    shape.push(dim);
    let out = float_dispatch!("embedding", weight.dtype(), T => weight.with_contiguous(|w: &[T]| {
        let mut v = Vec::with_capacity(rows.len() * dim);
        for &r in &rows {
            v.extend_from_slice(&w[r * dim..(r + 1) * dim]);
        }
        Tensor::from_vec(v, &shape)
    }));
    record(out, &[weight], "EmbeddingBackward0", || {
        let idx = Saved::new(indices);
        move |g: &Tensor, _: &[bool]| vec![Some(embedding_backward(g, idx.get(), num, padding_idx))]
    })
}

/// The adjoint of [`embedding`]: sums the rows of `grad` into a `[num, dim]` tensor.
fn embedding_backward(
    grad: &Tensor,
    indices: &Tensor,
    num: usize,
    padding: Option<usize>,
) -> Tensor {
    let dim = grad.shape()[grad.dim() - 1];
    let rows = checked_rows(indices, num);
    let out = float_dispatch!("embedding_backward", grad.dtype(), T => grad.with_contiguous(|g: &[T]| {
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
    }));
    record(out, &[grad], "EmbeddingDenseBackward0", || {
        let si = Saved::new(indices);
        move |gg: &Tensor, _: &[bool]| {
            let idx = si.get();
            let mut e = embedding(idx, gg, None);
            if let Some(p) = padding {
                let keep = idx.ne_scalar(p as f64).unsqueeze(-1).to_dtype(gg.dtype());
                e = e.mul(&keep);
            }
            vec![Some(e)]
        }
    })
}
