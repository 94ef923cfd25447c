//! Raw copies along the first dimension: one row as a view, several rows as one
//! batch, and stacking samples.
//!
//! These are the data pipeline's hot path, so they copy whole rows with `memcpy`
//! instead of going element by element. They work on every dtype and record no
//! autograd history: data loading produces inputs, not intermediate results.

use crate::tensor::kernels::copy;
use crate::tensor::{Layout, Tensor};

fn check_index(op: &str, index: usize, size: usize) {
    assert!(
        index < size,
        "{op}: index {index} is out of bounds for dimension 0 with size {size}"
    );
}

fn first_dim(op: &str, t: &Tensor) -> usize {
    assert!(
        t.dim() > 0,
        "{op}: expected a tensor with at least one dimension, got a 0-d tensor"
    );
    t.shape()[0]
}

/// `t[index]`: entry `index` of the first dimension as a view sharing `t`'s storage
/// (no copy, no autograd history).
///
/// Panics if `t` is 0-d or `index` is out of bounds, like PyTorch's `IndexError`.
pub fn index_row(t: &Tensor, index: usize) -> Tensor {
    let n = first_dim("index_row", t);
    check_index("index_row", index, n);
    let layout: Layout = t.layout().narrowed(0, index, 1, 1).squeezed(0);
    t.with_layout(layout)
}

/// The rows of `t` at `indices`, in that order, copied into one new contiguous
/// tensor of shape `[indices.len(), t.shape()[1..]]` (`t.index_select(0, indices)`).
///
/// A strided `t` is made contiguous first, which copies it whole: callers on a hot
/// path (like [`crate::data::TensorDataset`]) keep their tensors contiguous.
pub fn select_rows(t: &Tensor, indices: &[usize]) -> Tensor {
    let n = first_dim("select_rows", t);
    for &i in indices {
        check_index("select_rows", i, n);
    }
    copy::select_rows(t, indices)
}

/// Joins equally shaped tensors along a new first dimension (`torch.stack(tensors)`),
/// promoting mixed dtypes the way PyTorch does. The result is a new contiguous tensor
/// with no autograd history.
///
/// Panics on an empty list or on tensors of different shapes, with PyTorch's messages.
pub fn stack(tensors: &[Tensor]) -> Tensor {
    let first = tensors
        .first()
        .expect("stack expects a non-empty TensorList");
    let shape = first.shape();
    let mut dtype = first.dtype();
    for (i, t) in tensors.iter().enumerate().skip(1) {
        assert!(
            t.shape() == shape,
            "stack expects each tensor to be equal size, but got {:?} at entry 0 and {:?} at \
             entry {i}",
            shape,
            t.shape()
        );
        dtype = dtype.promote(t.dtype());
    }
    if tensors.iter().any(|t| t.dtype() != dtype) {
        let cast: Vec<Tensor> = tensors.iter().map(|t| t.detach().to_dtype(dtype)).collect();
        return stack(&cast);
    }
    copy::stack(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::DType;

    #[test]
    fn index_row_is_a_view_of_the_right_row() {
        let t = Tensor::from_vec((0..6i64).collect(), &[3, 2]);
        let r = index_row(&t, 1);
        assert_eq!(r.shape(), &[2]);
        assert_eq!(r.to_vec::<i64>(), vec![2, 3]);
        assert!(r.storage().same(t.storage()));
        let v = Tensor::from_vec(vec![7u8, 8, 9], &[3]);
        assert_eq!(index_row(&v, 2).shape(), &[] as &[usize]);
        assert_eq!(index_row(&v, 2).item(), 9.0);
    }

    #[test]
    #[should_panic(expected = "index 3 is out of bounds for dimension 0 with size 3")]
    fn index_row_out_of_bounds() {
        index_row(&Tensor::zeros(&[3, 2]), 3);
    }

    #[test]
    fn select_rows_copies_rows_in_order() {
        let t = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[4, 3]);
        let s = select_rows(&t, &[3, 0, 3]);
        assert_eq!(s.shape(), &[3, 3]);
        assert_eq!(
            s.to_vec::<f32>(),
            vec![9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 9.0, 10.0, 11.0]
        );
        // A transposed (strided) source gives the rows of its logical view.
        let tt = t.t();
        assert_eq!(
            select_rows(&tt, &[2]).to_vec::<f32>(),
            vec![2.0, 5.0, 8.0, 11.0]
        );
        assert_eq!(select_rows(&t, &[]).shape(), &[0, 3]);
    }

    #[test]
    fn stack_adds_a_first_dimension_and_promotes() {
        let a = Tensor::from_vec(vec![1i64, 2], &[2]);
        let b = Tensor::from_vec(vec![3i64, 4], &[2]);
        let s = stack(&[a.shallow_clone(), b]);
        assert_eq!(s.shape(), &[2, 2]);
        assert_eq!(s.dtype(), DType::I64);
        assert_eq!(s.to_vec::<i64>(), vec![1, 2, 3, 4]);
        let f = Tensor::from_vec(vec![0.5f32, 1.5], &[2]);
        let m = stack(&[a, f]);
        assert_eq!(m.dtype(), DType::F32);
        assert_eq!(m.to_vec::<f32>(), vec![1.0, 2.0, 0.5, 1.5]);
        let scalars = stack(&[Tensor::scalar(1.0f64), Tensor::scalar(2.0f64)]);
        assert_eq!(scalars.shape(), &[2]);
    }

    #[test]
    #[should_panic(
        expected = "stack expects each tensor to be equal size, but got [2] at entry 0 and [3] at entry 1"
    )]
    fn stack_rejects_unequal_shapes() {
        stack(&[Tensor::zeros(&[2]), Tensor::zeros(&[3])]);
    }
}
