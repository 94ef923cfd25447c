//! Embedding lookup and its adjoint (scatter-add of rows), each recorded so that
//! gradients of any order flow.

use crate::autograd::record::{Saved, record};
use crate::tensor::backend::check_same_device;
use crate::tensor::kernels::embedding as kernel;
use crate::tensor::{DType, Tensor};

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
    check_same_device("embedding", &[indices, weight]);
    let (num, dim) = (weight.shape()[0], weight.shape()[1]);
    let rows = checked_rows(indices, num);
    let mut shape = indices.size();
    shape.push(dim);
    let out = kernel::forward(weight, &rows, &shape);
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
    let rows = checked_rows(indices, num);
    let out = kernel::backward(grad, &rows, num, padding);
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
