//! 2-D convolution kernels (NCHW): im2col + GEMM for the forward, the input gradient
//! (GEMM + col2im) and the weight gradient.
//!
//! Work is split over the batch: each task takes a contiguous run of images and one
//! column buffer that it reuses for all of them (and all groups), so a call allocates
//! one buffer per thread, not one per image. With fewer images than threads the images
//! run in turn and the GEMM itself is threaded instead. A 1x1 convolution with stride 1
//! and no padding needs no columns at all: the image already is the column matrix.

use super::depthwise;
use super::gemm::{Threads, gemm_f32, gemm_f64};
pub(super) use super::im2col::{col2im, im2col};
use super::im2col::{col2im_cols, im2col_cols};
use crate::tensor::Tensor;
use crate::tensor::alloc::filled_vec;
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
    pub(super) fn cg(&self) -> usize {
        self.c_in / self.groups
    }
    pub(super) fn cog(&self) -> usize {
        self.c_out / self.groups
    }
    /// Rows of one group's column matrix: `c_in / groups * kh * kw`.
    pub(super) fn kg(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    pub(super) fn hw_out(&self) -> usize {
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
pub trait ConvElem:
    Copy + Default + Send + Sync + std::ops::AddAssign + std::ops::Mul<Output = Self> + 'static
{
    /// Runs `f` on this thread's reusable scratch buffer of `len` elements (contents
    /// unspecified), so column buffers are not allocated and zeroed on every call.
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
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

/// The largest column buffer kept between calls, per thread, in bytes.
const SCRATCH_MAX: usize = 64 << 20;

macro_rules! conv_elem {
    ($t:ty, $g:ident) => {
        impl ConvElem for $t {
            fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
                thread_local! {
                    static BUF: std::cell::RefCell<Vec<$t>> = const { std::cell::RefCell::new(Vec::new()) };
                }
                // Kept up to 64 MiB a thread; bigger (or re-entrant) requests allocate.
                if len * std::mem::size_of::<$t>() > SCRATCH_MAX {
                    return f(&mut vec![0.0; len]);
                }
                BUF.with(|cell| match cell.try_borrow_mut() {
                    Ok(mut v) => {
                        if v.len() < len {
                            v.resize(len, 0.0);
                        }
                        f(&mut v[..len])
                    }
                    Err(_) => f(&mut vec![0.0; len]),
                })
            }
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

/// Output positions per column block: about 128 K elements of columns (512 KB in f32,
/// inside this CPU's 1 MB L2), at least 64 positions and whole rows of 16.
fn block_cols(g: &ConvGeom) -> usize {
    let hw = g.hw_out();
    let want = ((128 << 10) / g.kg().max(1)).max(64).next_multiple_of(16);
    want.min(hw).max(1)
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
        T::with_scratch(col_len, |col| {
            f(
                0,
                n,
                &mut out[..per_img * if per_task { 1 } else { n }],
                col,
                // One thread: a single-threaded product, in column blocks.
                if threads < 2 {
                    Threads::Single
                } else {
                    Threads::Auto
                },
            )
        });
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
        T::with_scratch(col_len, |col| f(first, count, part, col, Threads::Single));
    });
    tasks
}

/// Forward convolution of contiguous `x` `[n, c_in, h, w]` with contiguous `w`
/// `[c_out, c_in / groups, kh, kw]` plus an optional bias `[c_out]`; returns the
/// contiguous `[n, c_out, ho, wo]` output.
pub fn conv2d_forward<T: ConvElem>(g: &ConvGeom, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
    if depthwise::applies(g) {
        return depthwise::forward(g, x, w, bias);
    }
    let (hw, kg, cog, cg) = (g.hw_out(), g.kg(), g.cog(), g.cg());
    let mut out = filled_vec(g.n * g.out_img(), T::default());
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
                    let wg = &w[grp * cog * kg..][..cog * kg];
                    let yg = &mut y[grp * cog * hw..][..cog * hw];
                    if pw {
                        let src = &xi[grp * cg * hw..][..cg * hw];
                        let (hs, acc) = (hw as isize, bias.is_some());
                        T::gemm(
                            cog,
                            hw,
                            kg,
                            wg,
                            [kg as isize, 1],
                            src,
                            [hs, 1],
                            yg,
                            [hs, 1],
                            acc,
                            th,
                        );
                        continue;
                    }
                    let nb = if th == Threads::Single {
                        block_cols(g)
                    } else {
                        hw
                    };
                    for p0 in (0..hw).step_by(nb) {
                        let m = nb.min(hw - p0);
                        let col = &mut col[..kg * m];
                        im2col_cols(g, xi, grp * cg, col, p0, p0 + m);
                        T::gemm(
                            cog,
                            m,
                            kg,
                            wg,
                            [kg as isize, 1],
                            col,
                            [m as isize, 1],
                            &mut yg[p0..],
                            [hw as isize, 1],
                            bias.is_some(),
                            th,
                        );
                    }
                }
            }
        },
    );
    out
}

/// Gradient with respect to the input: `gy` `[n, c_out, ho, wo]` (contiguous) and the
/// weight give the contiguous `[n, c_in, h, w]` input gradient.
pub fn conv2d_input_grad<T: ConvElem>(g: &ConvGeom, gy: &[T], w: &[T]) -> Vec<T> {
    if depthwise::applies(g) {
        return depthwise::input_grad(g, gy, w);
    }
    let (hw, kg, cog, cg) = (g.hw_out(), g.kg(), g.cog(), g.cg());
    let mut gx = filled_vec(g.n * g.in_img(), T::default());
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
                    let hs = hw as isize;
                    if pw {
                        let dst = &mut gxi[grp * cg * hw..][..cg * hw];
                        T::gemm(
                            kg,
                            hw,
                            cog,
                            a,
                            [1, kg as isize],
                            b,
                            [hs, 1],
                            dst,
                            [hs, 1],
                            false,
                            th,
                        );
                        continue;
                    }
                    let nb = if th == Threads::Single {
                        block_cols(g)
                    } else {
                        hw
                    };
                    for p0 in (0..hw).step_by(nb) {
                        let m = nb.min(hw - p0);
                        let col = &mut col[..kg * m];
                        let ms = m as isize;
                        T::gemm(
                            kg,
                            m,
                            cog,
                            a,
                            [1, kg as isize],
                            &b[p0..],
                            [hs, 1],
                            col,
                            [ms, 1],
                            false,
                            th,
                        );
                        col2im_cols(g, col, grp * cg, gxi, p0, p0 + m);
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
    if depthwise::applies(g) {
        return depthwise::weight_grad(g, gy, x);
    }
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
                    let gyg = &gyi[grp * cog * hw..][..cog * hw];
                    let gwg = &mut gw[grp * cog * kg..][..cog * kg];
                    let (hs, ks) = (hw as isize, kg as isize);
                    if pw {
                        let src = &xi[grp * cg * hw..][..cg * hw];
                        T::gemm(
                            cog,
                            kg,
                            hw,
                            gyg,
                            [hs, 1],
                            src,
                            [1, hs],
                            gwg,
                            [ks, 1],
                            k > 0,
                            th,
                        );
                        continue;
                    }
                    let nb = if th == Threads::Single {
                        block_cols(g)
                    } else {
                        hw
                    };
                    for p0 in (0..hw).step_by(nb) {
                        let m = nb.min(hw - p0);
                        let col = &mut col[..kg * m];
                        im2col_cols(g, xi, grp * cg, col, p0, p0 + m);
                        let acc = k > 0 || p0 > 0;
                        let ms = m as isize;
                        T::gemm(
                            cog,
                            kg,
                            m,
                            &gyg[p0..],
                            [hs, 1],
                            col,
                            [1, ms],
                            gwg,
                            [ks, 1],
                            acc,
                            th,
                        );
                    }
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
    use super::{ConvElem, ConvGeom, conv2d_forward, conv2d_input_grad, conv2d_weight_grad};
    use crate::tensor::{BufferElement, DType, Tensor};

    /// Runs `$body` with `$T` the float type of `$dt`; panics with PyTorch's message
    /// (`$what not implemented for 'Int'`) for other dtypes.
    macro_rules! floats {
        ($dt:expr, $what:expr, $T:ident => $body:expr) => {
            match $dt {
                DType::F32 => {
                    type $T = f32;
                    $body
                }
                DType::F64 => {
                    type $T = f64;
                    $body
                }
                d => panic!(
                    "{} not implemented for '{}'",
                    $what,
                    $crate::tensor::kernels::conv::cpu::scalar_name(d)
                ),
            }
        };
    }
    pub(crate) use floats;

    /// ATen's scalar-type name of a dtype (`'Long'` for int64), as its kernel messages
    /// spell it.
    pub fn scalar_name(d: DType) -> &'static str {
        match d {
            DType::F32 => "Float",
            DType::F64 => "Double",
            DType::I64 => "Long",
            DType::U8 => "Byte",
            DType::Bool => "Bool",
        }
    }

    /// `f` on the contiguous data of `a` and `b`, as a tensor of `shape`.
    fn on_pair<T: ConvElem + BufferElement>(
        a: &Tensor,
        b: &Tensor,
        shape: &[usize],
        f: impl FnOnce(&[T], &[T]) -> Vec<T>,
    ) -> Tensor {
        let v = a.with_contiguous::<T, _>(|ad| b.with_contiguous::<T, _>(|bd| f(ad, bd)));
        Tensor::from_vec(v, shape)
    }

    /// [`super::forward`] on host buffers.
    pub fn forward(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, g: &ConvGeom) -> Tensor {
        let shape = [g.n, g.c_out, g.ho, g.wo];
        floats!(x.dtype(), "conv2d: \"slow_conv2d_cpu\"", T => {
            let b = bias.map(|b| b.to_vec::<T>());
            on_pair::<T>(x, w, &shape, |xd, wd| conv2d_forward(g, xd, wd, b.as_deref()))
        })
    }

    /// [`super::input_grad`] on host buffers.
    pub fn input_grad(gy: &Tensor, w: &Tensor, g: &ConvGeom) -> Tensor {
        let shape = [g.n, g.c_in, g.h, g.w];
        floats!(gy.dtype(), "conv2d_backward: \"slow_conv2d_cpu\"", T => {
            on_pair::<T>(gy, w, &shape, |gd, wd| conv2d_input_grad(g, gd, wd))
        })
    }

    /// [`super::weight_grad`] on host buffers.
    pub fn weight_grad(gy: &Tensor, x: &Tensor, g: &ConvGeom) -> Tensor {
        let shape = [g.c_out, g.c_in / g.groups, g.kh, g.kw];
        floats!(gy.dtype(), "conv2d_backward: \"slow_conv2d_cpu\"", T => {
            on_pair::<T>(gy, x, &shape, |gd, xd| conv2d_weight_grad(g, gd, xd))
        })
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

    /// Depthwise geometries (direct kernels): forward against the definition, the two
    /// gradients through `<F(x, w), u> = <x, G(u, w)> = <w, H(u, x)>`.
    #[test]
    fn depthwise_kernels_match_the_definition_and_its_adjoints() {
        for (k, s, p, d, mult) in [
            (3, 1, 1, 1, 1),
            (3, 1, 0, 1, 2),
            (3, 2, 1, 1, 1),
            (2, 1, 2, 2, 1),
            (3, 3, 2, 1, 3),
            (1, 1, 0, 1, 1),
            (4, 2, 1, 2, 2),
        ] {
            let mut g = geom(7, 6, k, s, p, d);
            g.c_in = 3;
            g.groups = 3;
            g.c_out = 3 * mult;
            assert!(depthwise::applies(&g));
            let x: Vec<f64> = (0..g.n * g.in_img())
                .map(|i| ((i * 37) % 11) as f64 - 5.0)
                .collect();
            let w: Vec<f64> = (0..g.c_out * g.kg())
                .map(|i| ((i * 13) % 7) as f64 - 3.0)
                .collect();
            let u: Vec<f64> = (0..g.n * g.out_img())
                .map(|i| ((i * 17) % 5) as f64 - 2.0)
                .collect();
            let y = conv2d_forward(&g, &x, &w, None);
            assert_eq!(y, naive(&g, &x, &w), "{k} {s} {p} {d} {mult}");
            let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
            let fu = dot(&y, &u);
            assert_eq!(
                dot(&x, &conv2d_input_grad(&g, &u, &w)),
                fu,
                "gx {k} {s} {p} {d} {mult}"
            );
            assert_eq!(
                dot(&w, &conv2d_weight_grad(&g, &u, &x)),
                fu,
                "gw {k} {s} {p} {d} {mult}"
            );
        }
    }

    /// Blocks of columns are the matching columns of the whole matrix, for blocks that
    /// start and end mid-row; col2im over the blocks adds up to col2im of the whole.
    #[test]
    fn column_blocks_are_slices_of_the_column_matrix() {
        for (k, s, p, d) in [(3, 1, 1, 1), (3, 2, 1, 1), (2, 3, 2, 2), (1, 2, 1, 1)] {
            let g = geom(7, 6, k, s, p, d);
            let x: Vec<f64> = (0..g.in_img()).map(|i| (i % 7) as f64 - 3.0).collect();
            let (hw, kg) = (g.hw_out(), g.kg());
            let mut full = vec![0.0; kg * hw];
            im2col(&g, &x, 0, &mut full);
            let mut back = vec![0.0; g.in_img()];
            col2im(&g, &full, 0, &mut back);
            for nb in [1, 3, 5, hw] {
                let mut sum = vec![0.0; g.in_img()];
                for p0 in (0..hw).step_by(nb) {
                    let m = nb.min(hw - p0);
                    let mut col = vec![f64::NAN; kg * m];
                    im2col_cols(&g, &x, 0, &mut col, p0, p0 + m);
                    for r in 0..kg {
                        assert_eq!(
                            col[r * m..][..m],
                            full[r * hw + p0..][..m],
                            "{k} {s} {p} {d} {nb}"
                        );
                    }
                    col2im_cols(&g, &col, 0, &mut sum, p0, p0 + m);
                }
                assert_eq!(sum, back, "{k} {s} {p} {d} {nb}");
            }
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
