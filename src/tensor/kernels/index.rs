//! Raw indexing kernels: selecting, adding and scattering slices along one dimension,
//! gathering by an index tensor, and concatenation.
//!
//! Most kernels see a contiguous tensor as `[outer, n, inner]` around the indexed
//! dimension, so every move is a `copy_from_slice` of an `inner`-long run.

use super::PAR_THRESHOLD;
use crate::tensor::layout::{Layout, contiguous_strides};
use crate::tensor::parallel::for_each_chunk_mut;
use crate::tensor::{BufferElement, DType, Tensor};
use std::ops::Add;

/// Runs `$body` with `$T` bound to the Rust type of `$dtype`, for every dtype (bool
/// included): for kernels that only move elements around.
#[macro_export]
#[doc(hidden)]
macro_rules! any_dispatch {
    ($dtype:expr, $T:ident => $body:expr) => {
        $crate::dtype_dispatch!(
            "dispatch", $dtype, $T => $body;
            F32 => f32, F64 => f64, I64 => i64, U8 => u8, Bool => bool
        )
    };
}

/// `(outer, n, inner)`: the products of the dims before `dim`, `dim` itself, and after.
pub fn split_at_dim(shape: &[usize], dim: usize) -> (usize, usize, usize) {
    (
        shape[..dim].iter().product(),
        shape[dim],
        shape[dim + 1..].iter().product(),
    )
}

/// The values of an i64 index tensor as offsets, checked against `size`; panics naming
/// `op`, the bad index and the size, as PyTorch does.
pub fn checked_indices(op: &str, index: &Tensor, dim: usize, size: usize) -> Vec<usize> {
    assert!(
        index.dtype() == DType::I64,
        "{op}(): Expected dtype int64 for index, but got {}",
        index.dtype()
    );
    index
        .gather_vec::<i64>()
        .into_iter()
        .map(|i| {
            assert!(
                i >= 0 && (i as usize) < size,
                "{op}(): index {i} is out of bounds for dimension {dim} with size {size}"
            );
            i as usize
        })
        .collect()
}

/// Fills every `inner`-long row of `out` with `f(row_number, row)`, in parallel when large.
fn fill_rows<T: Send>(out: &mut [T], inner: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if inner == 0 {
        return;
    }
    if out.len() < PAR_THRESHOLD {
        out.chunks_mut(inner).enumerate().for_each(|(r, o)| f(r, o));
    } else {
        let rows = (super::par_chunk(out.len()) / inner).max(1);
        for_each_chunk_mut(out, rows * inner, |i, block| {
            for (j, o) in block.chunks_mut(inner).enumerate() {
                f(i * rows + j, o);
            }
        });
    }
}

/// `x` with only the entries `idx` along `dim` (`index_select`); `x.dim() >= 1`.
pub fn index_select<T: BufferElement>(x: &Tensor, dim: usize, idx: &[usize]) -> Tensor {
    let (outer, n, inner) = split_at_dim(x.shape(), dim);
    let k = idx.len();
    let mut shape = x.size();
    shape[dim] = k;
    let out = x.with_contiguous(|s: &[T]| {
        let mut out = vec![T::default(); outer * k * inner];
        fill_rows(&mut out, inner, |r, o| {
            let src = ((r / k) * n + idx[r % k]) * inner;
            o.copy_from_slice(&s[src..src + inner]);
        });
        out
    });
    Tensor::from_vec(out, &shape)
}

/// A contiguous copy of `base` with the slices of `src` added at `idx` along `dim`
/// (`index_add`); `src` has `base`'s shape except `idx.len()` at `dim`.
pub fn index_add<T: BufferElement + Add<Output = T>>(
    base: &Tensor,
    dim: usize,
    idx: &[usize],
    src: &Tensor,
) -> Tensor {
    let (outer, n, inner) = split_at_dim(base.shape(), dim);
    let k = idx.len();
    let mut out = base.gather_vec::<T>();
    if inner > 0 && n > 0 {
        src.with_contiguous(|s: &[T]| {
            // Repeated indices add into one row, so only distinct `outer` blocks run in
            // parallel.
            let block = |(o, s): (&mut [T], &[T])| {
                for (j, &i) in idx.iter().enumerate() {
                    let d = &mut o[i * inner..(i + 1) * inner];
                    for (d, &v) in d.iter_mut().zip(&s[j * inner..(j + 1) * inner]) {
                        *d = *d + v;
                    }
                }
            };
            if k == 0 {
                return;
            }
            if out.len() < PAR_THRESHOLD || outer == 1 {
                out.chunks_mut(n * inner)
                    .zip(s.chunks(k * inner))
                    .for_each(block);
            } else {
                for_each_chunk_mut(&mut out, n * inner, |i, o| {
                    block((o, &s[i * k * inner..(i + 1) * k * inner]))
                });
            }
        });
    }
    Tensor::from_vec(out, base.shape())
}

/// A walk over `shape` (the index tensor's shape) whose storage offsets follow
/// `strides` from `offset`, with `dim` pinned at 0 (the index value supplies it).
fn pinned_walk(shape: &[usize], strides: &[usize], offset: usize, dim: usize) -> Layout {
    let mut s = strides.to_vec();
    s[dim] = 0;
    Layout::new(shape.to_vec(), s, offset)
}

/// `out[p] = x[p with dim replaced by idx[p]]` over every position `p` of an index of
/// shape `index_shape` (`gather`); `idx` holds the checked index values in row-major order.
pub fn gather<T: BufferElement>(
    x: &Tensor,
    dim: usize,
    idx: &[usize],
    index_shape: &[usize],
) -> Tensor {
    let l = x.layout();
    let step = l.strides()[dim];
    let buf = x.storage().read();
    let data = T::slice(&buf).expect("gather: dtype");
    let mut out = Vec::with_capacity(idx.len());
    let mut k = 0;
    pinned_walk(index_shape, l.strides(), l.offset(), dim).for_each_index(|off| {
        out.push(data[off + idx[k] * step]);
        k += 1;
    });
    drop(buf);
    Tensor::from_vec(out, index_shape)
}

/// A contiguous copy of `base` with `src[p]` added at `p with dim replaced by idx[p]` for
/// every position `p` of the index (`scatter_add`); `src` may be larger than the index.
pub fn scatter_add<T: BufferElement + Add<Output = T>>(
    base: &Tensor,
    dim: usize,
    idx: &[usize],
    index_shape: &[usize],
    src: &Tensor,
) -> Tensor {
    let sl = src.layout();
    let vals = src
        .with_layout(Layout::new(
            index_shape.to_vec(),
            sl.strides().to_vec(),
            sl.offset(),
        ))
        .gather_vec::<T>();
    let mut out = base.gather_vec::<T>();
    let strides = contiguous_strides(base.shape());
    let step = strides[dim];
    let mut k = 0;
    pinned_walk(index_shape, &strides, 0, dim).for_each_index(|off| {
        let o = &mut out[off + idx[k] * step];
        *o = *o + vals[k];
        k += 1;
    });
    Tensor::from_vec(out, base.shape())
}

/// Concatenation along `dim` of tensors of one dtype whose shapes agree elsewhere.
pub fn cat<T: BufferElement>(parts: &[Tensor], dim: usize) -> Tensor {
    let mut shape = parts[0].size();
    shape[dim] = parts.iter().map(|t| t.shape()[dim]).sum();
    let (outer, total, inner) = split_at_dim(&shape, dim);
    let mut out = vec![T::default(); outer * total * inner];
    let row = total * inner;
    let mut at = 0;
    for t in parts {
        let run = t.shape()[dim] * inner;
        if run > 0 {
            t.with_contiguous(|s: &[T]| {
                for (o, s) in out.chunks_mut(row).zip(s.chunks(run)) {
                    o[at..at + run].copy_from_slice(s);
                }
            });
        }
        at += run;
    }
    Tensor::from_vec(out, &shape)
}

/// Zeros of `shape` with `src` written at `start, start + step, ...` along `dim` (the
/// adjoint of slicing); `src` has `shape` except at `dim`.
pub fn slice_scatter_zeros<T: BufferElement>(
    src: &Tensor,
    shape: &[usize],
    dim: usize,
    start: usize,
    step: usize,
) -> Tensor {
    let (outer, n, inner) = split_at_dim(shape, dim);
    let len = src.shape()[dim];
    let mut out = vec![T::default(); outer * n * inner];
    if len > 0 && inner > 0 {
        src.with_contiguous(|s: &[T]| {
            for (o, s) in out.chunks_mut(n * inner).zip(s.chunks(len * inner)) {
                if step == 1 {
                    o[start * inner..(start + len) * inner].copy_from_slice(s);
                } else {
                    for (j, s) in s.chunks(inner).enumerate() {
                        let at = (start + j * step) * inner;
                        o[at..at + inner].copy_from_slice(s);
                    }
                }
            }
        });
    }
    Tensor::from_vec(out, shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_select_rows_and_columns() {
        let x = Tensor::from_vec((0..6i64).collect(), &[2, 3]);
        assert_eq!(
            index_select::<i64>(&x, 1, &[2, 0, 2]).to_vec::<i64>(),
            vec![2, 0, 2, 5, 3, 5]
        );
        assert_eq!(
            index_select::<i64>(&x, 0, &[1]).to_vec::<i64>(),
            vec![3, 4, 5]
        );
    }

    #[test]
    fn index_add_accumulates_repeats() {
        let base = Tensor::from_vec(vec![0u8; 3], &[3]);
        let src = Tensor::from_vec(vec![1u8, 2, 4], &[3]);
        assert_eq!(
            index_add::<u8>(&base, 0, &[2, 2, 0], &src).to_vec::<u8>(),
            vec![4, 0, 3]
        );
    }

    #[test]
    fn gather_then_scatter_add_on_transposed_input() {
        // x^T = [[0, 3], [1, 4], [2, 5]]
        let x = Tensor::from_vec((0..6i64).collect(), &[2, 3]);
        let xt = x.with_layout(x.layout().permuted(&[1, 0]));
        let g = gather::<i64>(&xt, 1, &[1, 1, 0], &[3, 1]);
        assert_eq!(g.to_vec::<i64>(), vec![3, 4, 2]);
        let base = Tensor::from_vec(vec![0i64; 6], &[3, 2]);
        let s = scatter_add::<i64>(&base, 1, &[1, 1, 0], &[3, 1], &xt);
        assert_eq!(s.to_vec::<i64>(), vec![0, 0, 0, 1, 2, 0]);
    }

    #[test]
    fn cat_and_slice_scatter_bools() {
        let a = Tensor::from_vec(vec![true, false], &[2, 1]);
        let b = Tensor::from_vec(vec![false, false, true, true], &[2, 2]);
        let c = cat::<bool>(&[a, b], 1);
        assert_eq!(c.shape(), &[2, 3]);
        assert_eq!(
            c.to_vec::<bool>(),
            vec![true, false, false, false, true, true]
        );
        let z = slice_scatter_zeros::<bool>(&Tensor::from_vec(vec![true; 2], &[2]), &[5], 0, 1, 3);
        assert_eq!(z.to_vec::<bool>(), vec![false, true, false, false, true]);
    }
}
