//! 2-D convolution kernels (NCHW): im2col + GEMM for the forward, the input gradient
//! (GEMM + col2im) and the weight gradient.
//!
//! Work is split over the batch: each task takes a contiguous run of images and one
//! column buffer that it reuses for all of them (and all groups), so a call allocates
//! one buffer per thread, not one per image. With fewer images than threads the images
//! run in turn and the GEMM itself is threaded instead. A 1x1 convolution with stride 1
//! and no padding needs no columns at all: the image already is the column matrix.
//!
//! The products of a task (one image, one column block) run on the register-blocked
//! AVX-512 or AVX2 kernel of [`conv_gemm`], which reads the column block as it is (no
//! packing); the weight gradient transposes the smaller of its two operands per block so
//! that kernel applies. 1x1 convolutions, threaded products and CPUs without AVX2 use the
//! `gemm` crate. Stride-1 convolutions on AVX2 or AVX-512 skip the columns altogether:
//! [`conv_direct`] reads shifted windows of the image as the column matrix's rows.

use super::conv_direct;
use super::conv_gemm::{self, RowGemm, transpose};
use super::depthwise;
use super::gemm::{Threads, gemm_f32, gemm_f64};
pub(super) use super::im2col::{col2im, im2col};
use super::im2col::{col2im_cols, im2col_cols};
use super::wgrad_one_channel;
use super::winograd_wgrad;
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
    Copy
    + Default
    + Send
    + Sync
    + std::ops::AddAssign
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Neg<Output = Self>
    + From<f32>
    + RowGemm
    + 'static
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
/// inside this CPU's 1 MB L2), at least 64 positions, in equal blocks of whole rows of 16.
fn block_cols(g: &ConvGeom) -> usize {
    let hw = g.hw_out();
    let want = ((128 << 10) / g.kg().max(1)).max(64);
    let blocks = hw.div_ceil(want).max(1);
    hw.div_ceil(blocks).next_multiple_of(16).min(hw).max(1)
}

/// `C (+)= A·B` for a `B` and `C` with unit column stride: the register-blocked kernel
/// ([`conv_gemm`]) for single-threaded products on AVX2 or AVX-512, else the `gemm` crate.
#[allow(clippy::too_many_arguments)]
fn rows_gemm<T: ConvElem>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    a_s: [usize; 2],
    b: &[T],
    b_rs: usize,
    c: &mut [T],
    c_rs: usize,
    acc: bool,
    th: Threads,
) {
    if th == Threads::Single && conv_gemm::available() {
        return T::gemm_rows(m, n, k, a, a_s, b, b_rs, c, c_rs, acc);
    }
    crate_gemm(m, n, k, a, a_s, b, b_rs, c, c_rs, acc, th);
}

/// [`rows_gemm`] on the `gemm` crate always: for 1x1 convolutions, whose `B` is a whole
/// image (thousands of columns, rows far apart), the crate's packing measured as fast
/// or faster (1 thread, 64->256 on 56x56: forward 6.9-8.3 ms vs 8.1-8.9 ms).
#[allow(clippy::too_many_arguments)]
fn crate_gemm<T: ConvElem>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    a_s: [usize; 2],
    b: &[T],
    b_rs: usize,
    c: &mut [T],
    c_rs: usize,
    acc: bool,
    th: Threads,
) {
    let a_s = [a_s[0] as isize, a_s[1] as isize];
    T::gemm(
        m,
        n,
        k,
        a,
        a_s,
        b,
        [b_rs as isize, 1],
        c,
        [c_rs as isize, 1],
        acc,
        th,
    );
}

/// A run of images: `(first_image, images, out_chunk, column_buffer, gemm_threads)`.
type BatchFn<'a, T, O> = dyn Fn(usize, usize, &mut [O], &mut [T], Threads) + Sync + 'a;

/// Runs `f(first_image, images, out_chunk, col, threads)` over runs of images, in
/// parallel when there are at least two images and threads (`out` may be uninitialised
/// memory, `O = MaybeUninit<T>`, for outputs `f` writes whole); `out` holds `per_img`
/// elements per image (or per task, when `per_task` is set: for per-task partial sums).
pub(super) fn over_batch<T: ConvElem, O: Send>(
    n: usize,
    per_img: usize,
    col_len: usize,
    out: &mut [O],
    per_task: bool,
    f: &BatchFn<'_, T, O>,
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
    if conv_direct::applies(g) {
        return conv_direct::forward(g, x, w, bias);
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
                        let acc = bias.is_some();
                        crate_gemm(cog, hw, kg, wg, [kg, 1], src, hw, yg, hw, acc, th);
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
                        let (acc, yb) = (bias.is_some(), &mut yg[p0..]);
                        rows_gemm(cog, m, kg, wg, [kg, 1], col, m, yb, hw, acc, th);
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
    if conv_direct::applies_input_grad(g) {
        return conv_direct::input_grad(g, gy, w);
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
                    if pw {
                        let dst = &mut gxi[grp * cg * hw..][..cg * hw];
                        crate_gemm(kg, hw, cog, a, [1, kg], b, hw, dst, hw, false, th);
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
                        rows_gemm(kg, m, cog, a, [1, kg], &b[p0..], hw, col, m, false, th);
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
    // Depthwise f32 3x3 stride 1 too: its sums stay in registers over the image, where
    // `depthwise`'s per-tap passes read each plane nine times. It splits the batch over
    // the threads, so one image keeps the per-plane kernel.
    if wgrad_one_channel::applies::<T>(g) && (g.n >= 2 || num_threads() < 2) {
        return wgrad_one_channel::weight_grad(g, gy, x);
    }
    if depthwise::applies(g) {
        return depthwise::weight_grad(g, gy, x);
    }
    if winograd_wgrad::applies::<T>(g) {
        return winograd_wgrad::weight_grad(g, gy, x);
    }
    if wgrad_one_channel::applies::<T>(g) {
        return wgrad_one_channel::weight_grad(g, gy, x);
    }
    if conv_direct::applies(g) {
        return conv_direct::weight_grad(g, gy, x);
    }
    if conv_gemm::available() && !g.pointwise() && (g.n >= 2 || num_threads() < 2) {
        return weight_grad_rows(g, gy, x);
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
    sum_parts(parts, wlen, tasks, None)
}

/// The sum of the first `tasks` per-task partial weight gradients of `wlen` elements
/// in `parts`; with `Some((kg, cog))` each group's block of the sum is `[kg, cog]` and
/// comes back transposed to the weight's `[cog, kg]`.
pub(super) fn sum_parts<T: ConvElem>(
    mut parts: Vec<T>,
    wlen: usize,
    tasks: usize,
    transposed: Option<(usize, usize)>,
) -> Vec<T> {
    parts.truncate(wlen * tasks);
    let mut chunks = parts.chunks_exact(wlen);
    let mut sum = chunks.next().expect("one part").to_vec();
    for p in chunks {
        for (a, &b) in sum.iter_mut().zip(p) {
            *a += b;
        }
    }
    let Some((kg, cog)) = transposed else {
        return sum;
    };
    let mut gw = vec![T::default(); wlen];
    for (src, dst) in sum
        .chunks_exact(cog * kg)
        .zip(gw.chunks_exact_mut(cog * kg))
    {
        transpose(src, kg, cog, cog, dst);
    }
    gw
}

/// [`conv2d_weight_grad`] on the register-blocked kernel: per image and column block,
/// the smaller of the two operands (the output-gradient block `[c_out/g, m]` or the
/// column block `[k, m]`) is transposed so the product has a row-major `B`:
/// `gw^T (+)= col · gy^T` or `gw (+)= gy · col^T`. Images are split over the threads,
/// each summing into its own part.
fn weight_grad_rows<T: ConvElem>(g: &ConvGeom, gy: &[T], x: &[T]) -> Vec<T> {
    let (hw, kg, cog, cg) = (g.hw_out(), g.kg(), g.cog(), g.cg());
    let wlen = g.c_out * kg;
    if wlen == 0 || g.n == 0 {
        return vec![T::default(); wlen];
    }
    let pw = g.pointwise();
    // Transpose the output gradient (the part then holds gw^T per group) or the columns.
    let t_gy = cog <= kg;
    let nb = block_cols(g);
    let col_len = if pw { 0 } else { kg * nb };
    let tr_len = nb * if t_gy { cog } else { kg };
    let tasks_max = num_threads().clamp(1, g.n);
    let mut parts = vec![T::default(); wlen * tasks_max];
    let tasks = over_batch(
        g.n,
        wlen,
        col_len + tr_len,
        &mut parts,
        true,
        &|first, count, gw, buf, _| {
            let (col, tr) = buf.split_at_mut(col_len);
            for k in 0..count {
                let xi = &x[(first + k) * g.in_img()..][..g.in_img()];
                let gyi = &gy[(first + k) * g.out_img()..][..g.out_img()];
                for grp in 0..g.groups {
                    let gyg = &gyi[grp * cog * hw..][..cog * hw];
                    let gwg = &mut gw[grp * cog * kg..][..cog * kg];
                    for p0 in (0..hw).step_by(nb) {
                        let m = nb.min(hw - p0);
                        let (cb, cb_rs): (&[T], usize) = if pw {
                            (&xi[grp * cg * hw + p0..], hw)
                        } else {
                            let col = &mut col[..kg * m];
                            im2col_cols(g, xi, grp * cg, col, p0, p0 + m);
                            (col, m)
                        };
                        let acc = k > 0 || p0 > 0;
                        if t_gy {
                            transpose(&gyg[p0..], cog, m, hw, tr);
                            T::gemm_rows(kg, cog, m, cb, [cb_rs, 1], tr, cog, gwg, cog, acc);
                        } else {
                            transpose(cb, kg, m, cb_rs, tr);
                            T::gemm_rows(cog, kg, m, &gyg[p0..], [hw, 1], tr, kg, gwg, kg, acc);
                        }
                    }
                }
            }
        },
    );
    sum_parts(parts, wlen, tasks, t_gy.then_some((kg, cog)))
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
#[path = "conv_tests.rs"]
mod tests;
