//! `unfold` (im2col) and `fold` (col2im) as tensor kernels: the sliding blocks of a
//! `[N, C, H, W]` image as columns `[N, C * kH * kW, L]`, and the sum of such columns
//! back into an image. They share the column loops of [`super::conv`], under a
//! [`ConvGeom`] with one group whose output size is the grid of blocks.

use super::conv::{ConvElem, ConvGeom, col2im, im2col};
use crate::tensor::Tensor;
use crate::tensor::alloc::filled_vec;
use crate::tensor::backend::select;
use crate::tensor::parallel::for_each_chunk_mut;

/// Columns `[n, c_in * kh * kw, ho * wo]` of the contiguous images `x` (`[n, c_in, h, w]`),
/// one image per task.
pub fn unfold_slices<T: ConvElem>(g: &ConvGeom, x: &[T]) -> Vec<T> {
    let (img, cols) = (g.c_in * g.h * g.w, g.c_in * g.kh * g.kw * g.ho * g.wo);
    let mut out = filled_vec(g.n * cols, T::default());
    if cols == 0 {
        return out;
    }
    let geom = ConvGeom { groups: 1, ..*g };
    for_each_chunk_mut(&mut out, cols, |i, part| {
        im2col(&geom, &x[i * img..][..img], 0, part);
    });
    out
}

/// Images `[n, c_in, h, w]` summed from the contiguous columns `cols`
/// (`[n, c_in * kh * kw, ho * wo]`), one image per task.
pub fn fold_slices<T: ConvElem>(g: &ConvGeom, cols: &[T]) -> Vec<T> {
    let (img, per) = (g.c_in * g.h * g.w, g.c_in * g.kh * g.kw * g.ho * g.wo);
    let mut out = filled_vec(g.n * img, T::default());
    if img == 0 {
        return out;
    }
    let geom = ConvGeom { groups: 1, ..*g };
    for_each_chunk_mut(&mut out, img, |i, part| {
        col2im(&geom, &cols[i * per..][..per], 0, part);
    });
    out
}

/// Unrecorded `unfold` of the `[N, C, H, W]` input `x` under the checked geometry `g`
/// (`c_in = C`, `ho * wo` blocks): `[N, C * kH * kW, Ho * Wo]`.
pub fn unfold(x: &Tensor, g: &ConvGeom) -> Tensor {
    select("im2col", &[x]).unfold(x, g)
}

/// Unrecorded `fold` of the `[N, C * kH * kW, L]` columns `cols` into `[N, C, H, W]`
/// under the checked geometry `g`.
pub fn fold(cols: &Tensor, g: &ConvGeom) -> Tensor {
    select("col2im", &[cols]).fold(cols, g)
}

/// The CPU side of the entries above.
pub mod cpu {
    use super::{ConvGeom, fold_slices, unfold_slices};
    use crate::tensor::kernels::conv::cpu::floats;
    use crate::tensor::{DType, Tensor};

    /// [`super::unfold`] on host buffers.
    pub fn unfold(x: &Tensor, g: &ConvGeom) -> Tensor {
        let shape = [g.n, g.c_in * g.kh * g.kw, g.ho * g.wo];
        floats!(x.dtype(), "im2col: \"im2col_out_cpu\"", T => {
            Tensor::from_vec(x.with_contiguous::<T, _>(|d| unfold_slices(g, d)), &shape)
        })
    }

    /// [`super::fold`] on host buffers.
    pub fn fold(cols: &Tensor, g: &ConvGeom) -> Tensor {
        let shape = [g.n, g.c_in, g.h, g.w];
        floats!(cols.dtype(), "col2im: \"col2im_out_cpu\"", T => {
            Tensor::from_vec(cols.with_contiguous::<T, _>(|d| fold_slices(g, d)), &shape)
        })
    }
}
