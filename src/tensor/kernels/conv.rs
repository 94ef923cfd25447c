//! 2-D convolution kernels (NCHW): im2col + GEMM for the forward, the input gradient
//! (GEMM + col2im) and the weight gradient.
//!
//! Work is split over the batch: each task takes a contiguous run of images and one
//! column buffer that it reuses for all of them (and all groups), so a call allocates
//! one buffer per thread, not one per image. With fewer images than threads the images
//! run in turn and the GEMM itself is threaded instead. A 1x1 convolution with stride 1
//! and no padding needs no columns at all: the image already is the column matrix.

use super::gemm::{Threads, gemm_f32, gemm_f64};
use crate::tensor::Tensor;
use crate::tensor::backend::select;
use crate::tensor::parallel::{for_each_chunk_mut, num_threads};

/// The shape of one 2-D convolution: input `[n, c_in, h, w]`, weight
/// `[c_out, c_in / groups, kh, kw]`, output `[n, c_out, ho, wo]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride `(height, width)`.
    pub stride: [usize; 2],
    /// Padding before the first row and column (`(top, left)`); the padding after is
    /// implied by the output size.
    pub pad: [usize; 2],
    /// Dilation `(height, width)`.
    pub dil: [usize; 2],
    /// Channel groups.
    pub groups: usize,
    /// Output height.
    pub ho: usize,
    /// Output width.
    pub wo: usize,
}

impl ConvGeom {
    fn cg(&self) -> usize {
        self.c_in / self.groups
    }
    fn cog(&self) -> usize {
        self.c_out / self.groups
    }
    /// Rows of one group's column matrix: `c_in / groups * kh * kw`.
    fn kg(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    fn hw_out(&self) -> usize {
        self.ho * self.wo
    }
    fn in_img(&self) -> usize {
        self.c_in * self.h * self.w
    }
    fn out_img(&self) -> usize {
        self.c_out * self.hw_out()
    }
    /// Whether the input image is its own column matrix.
    fn pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.stride == [1, 1]
            && self.pad == [0, 0]
            && self.ho == self.h
            && self.wo == self.w
    }
    fn col_len(&self) -> usize {
        if self.pointwise() {
            0
        } else {
            self.kg() * self.hw_out()
        }
    }
}

/// The element types the convolution kernels run on (`f32`, `f64`).
pub trait ConvElem: Copy + Default + Send + Sync + std::ops::AddAssign + 'static {
    /// `C (+)= A·B` on strided matrices (see [`gemm_f32`]).
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        a_s: [isize; 2],
        b: &[Self],
        b_s: [isize; 2],
        c: &mut [Self],
        c_s: [isize; 2],
        acc: bool,
        threads: Threads,
    );
}

macro_rules! conv_elem {
    ($t:ty, $g:ident) => {
        impl ConvElem for $t {
            fn gemm(
                m: usize,
                n: usize,
                k: usize,
                a: &[Self],
                a_s: [isize; 2],
                b: &[Self],
                b_s: [isize; 2],
                c: &mut [Self],
                c_s: [isize; 2],
                acc: bool,
                threads: Threads,
            ) {
                if m * n == 0 {
                    return;
                }
                $g(
                    m, n, k, a, a_s[0], a_s[1], b, b_s[0], b_s[1], c, c_s[0], c_s[1], acc, threads,
                )
            }
        }
    };
}
conv_elem!(f32, gemm_f32);
conv_elem!(f64, gemm_f64);

/// The `ox` range `[lo, hi)` whose input column `ox * s + off` lies in `0..w`.
fn valid_cols(off: isize, s: usize, w: usize, wo: usize) -> (usize, usize) {
    let s = s as isize;
    // Smallest ox with ox*s + off >= 0, and first ox with ox*s + off >= w.
    let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
    let hi = if (w as isize) - off <= 0 {
        0
    } else {
        ((w as isize) - off + s - 1) / s
    };
    let lo = (lo as usize).min(wo);
    (lo, (hi as usize).clamp(lo, wo))
}

/// Writes the column matrix `[cg * kh * kw, ho * wo]` of channels `c0..c0 + cg` of one
/// image `x` (`[c_in, h, w]`).
fn im2col<T: ConvElem>(g: &ConvGeom, x: &[T], c0: usize, col: &mut [T]) {
    let (hw, plane) = (g.hw_out(), g.h * g.w);
    let [sh, sw] = g.stride;
    let mut rows = col.chunks_exact_mut(hw);
    for c in 0..g.cg() {
        let xp = &x[(c0 + c) * plane..][..plane];
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = rows.next().expect("column buffer");
                let off = (j * g.dil[1]) as isize - g.pad[1] as isize;
                let (lo, hi) = valid_cols(off, sw, g.w, g.wo);
                for oy in 0..g.ho {
                    let dst = &mut row[oy * g.wo..][..g.wo];
                    let iy = (oy * sh + i * g.dil[0]) as isize - g.pad[0] as isize;
                    if iy < 0 || iy as usize >= g.h || lo == hi {
                        dst.fill(T::default());
                        continue;
                    }
                    let src = &xp[iy as usize * g.w..][..g.w];
                    dst[..lo].fill(T::default());
                    dst[hi..].fill(T::default());
                    if sw == 1 {
                        let s0 = (lo as isize + off) as usize;
                        dst[lo..hi].copy_from_slice(&src[s0..s0 + hi - lo]);
                    } else {
                        for (ox, d) in dst[lo..hi].iter_mut().enumerate() {
                            *d = src[((ox + lo) as isize * sw as isize + off) as usize];
                        }
                    }
                }
            }
        }
    }
}

/// Adds the column matrix `col` back onto channels `c0..c0 + cg` of image `gx`
/// (the adjoint of [`im2col`]).
fn col2im<T: ConvElem>(g: &ConvGeom, col: &[T], c0: usize, gx: &mut [T]) {
    let (hw, plane) = (g.hw_out(), g.h * g.w);
    let [sh, sw] = g.stride;
    let mut rows = col.chunks_exact(hw);
    for c in 0..g.cg() {
        let xp = &mut gx[(c0 + c) * plane..][..plane];
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = rows.next().expect("column buffer");
                let off = (j * g.dil[1]) as isize - g.pad[1] as isize;
                let (lo, hi) = valid_cols(off, sw, g.w, g.wo);
                if lo == hi {
                    continue;
                }
                for oy in 0..g.ho {
                    let iy = (oy * sh + i * g.dil[0]) as isize - g.pad[0] as isize;
                    if iy < 0 || iy as usize >= g.h {
                        continue;
                    }
                    let src = &row[oy * g.wo..][..g.wo];
                    let dst = &mut xp[iy as usize * g.w..][..g.w];
                    for (ox, &v) in src.iter().enumerate().take(hi).skip(lo) {
                        dst[(ox as isize * sw as isize + off) as usize] += v;
                    }
                }
            }
        }
    }
}

/// A run of images: `(first_image, images, out_chunk, column_buffer, gemm_threads)`.
type BatchFn<'a, T> = dyn Fn(usize, usize, &mut [T], &mut [T], Threads) + Sync + 'a;

/// Runs `f(first_image, images, out_chunk, col, threads)` over runs of images, in
/// parallel when there are at least two images and threads; `out` holds `per_img`
/// elements per image (or per task, when `per_task` is set: for per-task partial sums).
fn over_batch<T: ConvElem>(
    n: usize,
    per_img: usize,
    col_len: usize,
    out: &mut [T],
    per_task: bool,
    f: &BatchFn<'_, T>,
) -> usize {
    let threads = num_threads();
    if n < 2 || threads < 2 {
        let mut col = vec![T::default(); col_len];
        f(
            0,
            n,
            &mut out[..per_img * if per_task { 1 } else { n }],
            &mut col,
            Threads::Auto,
        );
        return 1;
    }
    let tasks = threads.min(n);
    let imgs = n.div_ceil(tasks);
    let tasks = n.div_ceil(imgs);
    let chunk = if per_task { per_img } else { imgs * per_img };
    let len = if per_task { chunk * tasks } else { out.len() };
    for_each_chunk_mut(&mut out[..len], chunk, |t, part| {
        let first = t * imgs;
        let count = imgs.min(n - first);
        let mut col = vec![T::default(); col_len];
        f(first, count, part, &mut col, Threads::Single);
    });
    tasks
}

/// Forward convolution of contiguous `x` `[n, c_in, h, w]` with contiguous `w`
/// `[c_out, c_in / groups, kh, kw]` plus an optional bias `[c_out]`; returns the
/// contiguous `[n, c_out, ho, wo]` output.
pub fn conv2d_forward<T: ConvElem>(g: &ConvGeom, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
    let (hw, kg, cog, cg) = (g.hw_out(), g.kg(), g.cog(), g.cg());
    let mut out = vec![T::default(); g.n * g.out_img()];
    if out.is_empty() {
        return out;
    }
    let pw = g.pointwise();
    over_batch(
        g.n,
        g.out_img(),
        g.col_len(),
        &mut out,
        false,
        &|first, count, ys, col, th| {
            for (k, y) in ys.chunks_exact_mut(g.out_img()).take(count).enumerate() {
                let xi = &x[(first + k) * g.in_img()..][..g.in_img()];
                if let Some(b) = bias {
                    for (co, row) in y.chunks_exact_mut(hw).enumerate() {
                        row.fill(b[co]);
                    }
                }
                for grp in 0..g.groups {
                    let src: &[T] = if pw {
                        &xi[grp * cg * hw..][..cg * hw]
                    } else {
                        im2col(g, xi, grp * cg, col);
                        col
                    };
                    T::gemm(
                        cog,
                        hw,
                        kg,
                        &w[grp * cog * kg..][..cog * kg],
                        [kg as isize, 1],
                        src,
                        [hw as isize, 1],
                        &mut y[grp * cog * hw..][..cog * hw],
                        [hw as isize, 1],
                        bias.is_some(),
                        th,
                    );
                }
            }
        },
    );
    out
}

/// Gradient with respect to the input: `gy` `[n, c_out, ho, wo]` (contiguous) and the
/// weight give the contiguous `[n, c_in, h, w]` input gradient.
pub fn conv2d_input_grad<T: ConvElem>(g: &ConvGeom, gy: &[T], w: &[T]) -> Vec<T> {
    let (hw, kg, cog, cg) = (g.hw_out(), g.kg(), g.cog(), g.cg());
    let mut gx = vec![T::default(); g.n * g.in_img()];
    if gx.is_empty() {
        return gx;
    }
    let pw = g.pointwise();
    over_batch(
        g.n,
        g.in_img(),
        g.col_len(),
        &mut gx,
        false,
        &|first, count, gxs, col, th| {
            for (k, gxi) in gxs.chunks_exact_mut(g.in_img()).take(count).enumerate() {
                let gyi = &gy[(first + k) * g.out_img()..][..g.out_img()];
                for grp in 0..g.groups {
                    let a = &w[grp * cog * kg..][..cog * kg];
                    let b = &gyi[grp * cog * hw..][..cog * hw];
                    if pw {
                        let dst = &mut gxi[grp * cg * hw..][..cg * hw];
                        T::gemm(
                            kg,
                            hw,
                            cog,
                            a,
                            [1, kg as isize],
                            b,
                            [hw as isize, 1],
                            dst,
                            [hw as isize, 1],
                            false,
                            th,
                        );
                    } else {
                        T::gemm(
                            kg,
                            hw,
                            cog,
                            a,
                            [1, kg as isize],
                            b,
                            [hw as isize, 1],
                            col,
                            [hw as isize, 1],
                            false,
                            th,
                        );
                        col2im(g, col, grp * cg, gxi);
                    }
                }
            }
        },
    );
    gx
}

/// Gradient with respect to the weight: `gy` `[n, c_out, ho, wo]` and the input `x`
/// (both contiguous) give the contiguous `[c_out, c_in / groups, kh, kw]` gradient.
pub fn conv2d_weight_grad<T: ConvElem>(g: &ConvGeom, gy: &[T], x: &[T]) -> Vec<T> {
    let (hw, kg, cog, cg) = (g.hw_out(), g.kg(), g.cog(), g.cg());
    let wlen = g.c_out * kg;
    let tasks_max = num_threads().clamp(1, g.n.max(1));
    let mut parts = vec![T::default(); wlen * tasks_max];
    if wlen == 0 || g.n == 0 {
        return vec![T::default(); wlen];
    }
    let pw = g.pointwise();
    let tasks = over_batch(
        g.n,
        wlen,
        g.col_len(),
        &mut parts,
        true,
        &|first, count, gw, col, th| {
            for k in 0..count {
                let xi = &x[(first + k) * g.in_img()..][..g.in_img()];
                let gyi = &gy[(first + k) * g.out_img()..][..g.out_img()];
                for grp in 0..g.groups {
                    let src: &[T] = if pw {
                        &xi[grp * cg * hw..][..cg * hw]
                    } else {
                        im2col(g, xi, grp * cg, col);
                        col
                    };
                    T::gemm(
                        cog,
                        kg,
                        hw,
                        &gyi[grp * cog * hw..][..cog * hw],
                        [hw as isize, 1],
                        src,
                        [1, hw as isize],
                        &mut gw[grp * cog * kg..][..cog * kg],
                        [kg as isize, 1],
                        k > 0,
                        th,
                    );
                }
            }
        },
    );
    parts.truncate(wlen * tasks);
    let mut chunks = parts.chunks_exact(wlen);
    let mut gw = chunks.next().expect("one part").to_vec();
    for p in chunks {
        for (a, &b) in gw.iter_mut().zip(p) {
            *a += b;
        }
    }
    gw
}

/// Unrecorded 2-D convolution of the contiguous-able `[N, C_in, H, W]` input `x` with
/// weight `w` and optional bias, shaped by the checked geometry `g`:
/// `[N, C_out, Ho, Wo]`, of `x`'s (float) dtype.
pub fn forward(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, g: &ConvGeom) -> Tensor {
    let mut ts = vec![x, w];
    ts.extend(bias);
    select("conv2d", &ts).conv2d(x, w, bias, g)
}

/// Unrecorded gradient of a convolution with respect to its input, from the upstream
/// gradient `gy` (`[N, C_out, Ho, Wo]`) and the weight: `[N, C_in, H, W]`.
pub fn input_grad(gy: &Tensor, w: &Tensor, g: &ConvGeom) -> Tensor {
    select("conv2d_input_grad", &[gy, w]).conv2d_input_grad(gy, w, g)
}

/// Unrecorded gradient of a convolution with respect to its weight, from the upstream
/// gradient `gy` and the input `x`: `[C_out, C_in / groups, kH, kW]`.
pub fn weight_grad(gy: &Tensor, x: &Tensor, g: &ConvGeom) -> Tensor {
    select("conv2d_weight_grad", &[gy, x]).conv2d_weight_grad(gy, x, g)
}

/// The CPU side of the entries above: dtype dispatch over the slice loops of this file.
pub mod cpu {
    use super::{ConvGeom, conv2d_forward, conv2d_input_grad, conv2d_weight_grad};
    use crate::tensor::{DType, Tensor};

    /// [`super::forward`] on host buffers.
    pub fn forward(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, g: &ConvGeom) -> Tensor {
        let shape = [g.n, g.c_out, g.ho, g.wo];
        macro_rules! run {
            ($t:ty) => {{
                let b = bias.map(|b| b.to_vec::<$t>());
                let v = x.with_contiguous::<$t, _>(|xd| {
                    w.with_contiguous::<$t, _>(|wd| conv2d_forward(g, xd, wd, b.as_deref()))
                });
                Tensor::from_vec(v, &shape)
            }};
        }
        match x.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            d => panic!("conv2d: \"slow_conv2d_cpu\" not implemented for '{d}'"),
        }
    }

    /// [`super::input_grad`] on host buffers.
    pub fn input_grad(gy: &Tensor, w: &Tensor, g: &ConvGeom) -> Tensor {
        let shape = [g.n, g.c_in, g.h, g.w];
        macro_rules! run {
            ($t:ty) => {{
                let v = gy.with_contiguous::<$t, _>(|gd| {
                    w.with_contiguous::<$t, _>(|wd| conv2d_input_grad(g, gd, wd))
                });
                Tensor::from_vec(v, &shape)
            }};
        }
        match gy.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            d => panic!("conv2d_backward: \"slow_conv2d_cpu\" not implemented for '{d}'"),
        }
    }

    /// [`super::weight_grad`] on host buffers.
    pub fn weight_grad(gy: &Tensor, x: &Tensor, g: &ConvGeom) -> Tensor {
        let shape = [g.c_out, g.c_in / g.groups, g.kh, g.kw];
        macro_rules! run {
            ($t:ty) => {{
                let v = gy.with_contiguous::<$t, _>(|gd| {
                    x.with_contiguous::<$t, _>(|xd| conv2d_weight_grad(g, gd, xd))
                });
                Tensor::from_vec(v, &shape)
            }};
        }
        match gy.dtype() {
            DType::F32 => run!(f32),
            DType::F64 => run!(f64),
            d => panic!("conv2d_backward: \"slow_conv2d_cpu\" not implemented for '{d}'"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geom(h: usize, w: usize, k: usize, s: usize, p: usize, d: usize) -> ConvGeom {
        let ho = (h + 2 * p - d * (k - 1) - 1) / s + 1;
        let wo = (w + 2 * p - d * (k - 1) - 1) / s + 1;
        ConvGeom {
            n: 3,
            c_in: 2,
            h,
            w,
            c_out: 2,
            kh: k,
            kw: k,
            stride: [s, s],
            pad: [p, p],
            dil: [d, d],
            groups: 1,
            ho,
            wo,
        }
    }

    /// The direct definition of a convolution, for comparison.
    fn naive(g: &ConvGeom, x: &[f64], w: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; g.n * g.out_img()];
        for b in 0..g.n {
            for co in 0..g.c_out {
                let grp = co / g.cog();
                for oy in 0..g.ho {
                    for ox in 0..g.wo {
                        let mut s = 0.0;
                        for c in 0..g.cg() {
                            for i in 0..g.kh {
                                for j in 0..g.kw {
                                    let iy = (oy * g.stride[0] + i * g.dil[0]) as isize
                                        - g.pad[0] as isize;
                                    let ix = (ox * g.stride[1] + j * g.dil[1]) as isize
                                        - g.pad[1] as isize;
                                    if iy < 0 || ix < 0 || iy as usize >= g.h || ix as usize >= g.w
                                    {
                                        continue;
                                    }
                                    let ci = grp * g.cg() + c;
                                    s += x[((b * g.c_in + ci) * g.h + iy as usize) * g.w
                                        + ix as usize]
                                        * w[((co * g.cg() + c) * g.kh + i) * g.kw + j];
                                }
                            }
                        }
                        out[((b * g.c_out + co) * g.ho + oy) * g.wo + ox] = s;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn forward_matches_the_definition() {
        for (k, s, p, d) in [
            (3, 1, 0, 1),
            (3, 2, 1, 1),
            (2, 3, 2, 2),
            (1, 1, 0, 1),
            (1, 2, 1, 1),
        ] {
            let g = geom(7, 6, k, s, p, d);
            let x: Vec<f64> = (0..g.n * g.in_img())
                .map(|i| ((i * 37) % 11) as f64 - 5.0)
                .collect();
            let w: Vec<f64> = (0..g.c_out * g.kg())
                .map(|i| ((i * 13) % 7) as f64 - 3.0)
                .collect();
            assert_eq!(
                conv2d_forward(&g, &x, &w, None),
                naive(&g, &x, &w),
                "{k} {s} {p} {d}"
            );
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> == <x, col2im(c)> for any x, c.
        let g = geom(5, 6, 3, 2, 1, 1);
        let x: Vec<f64> = (0..g.in_img()).map(|i| (i % 5) as f64 + 0.5).collect();
        let c: Vec<f64> = (0..g.col_len()).map(|i| (i % 3) as f64 - 1.0).collect();
        let mut col = vec![0.0; g.col_len()];
        im2col(&g, &x, 0, &mut col);
        let mut gx = vec![0.0; g.in_img()];
        col2im(&g, &c, 0, &mut gx);
        let lhs: f64 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&gx).map(|(a, b)| a * b).sum();
        assert_eq!(lhs, rhs);
    }
}
