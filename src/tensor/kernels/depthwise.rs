//! Direct kernels for depthwise convolutions (`groups == c_in`, one input channel per
//! group, any channel multiplier): each output plane is a small stencil over one input
//! plane, which im2col + GEMM would run as `groups` matrix products of one row each.
//!
//! Every plane is first copied into a zero-padded scratch plane, so the stencil loops
//! have no bounds checks and, at stride 1, run along contiguous rows with all taps of
//! an output vector accumulated in registers (3x3 is unrolled). The input gradient at
//! stride 1 is the same stencil over the padded output gradient with the kernel
//! flipped; at other strides it scatters row by row. The weight gradient runs per output
//! channel over the whole batch, with explicit accumulator lanes. Loops are compiled per
//! SIMD level (named `#[target_feature]` functions around `#[inline(always)]` bodies, as
//! in `reduce.rs`); their order is fixed, so every level gives the same bits.

use super::conv::{ConvElem, ConvGeom};
use crate::tensor::alloc::vec_with_capacity;
use crate::tensor::parallel::{for_each_chunk_mut, num_threads};
use std::mem::MaybeUninit;

/// Whether [`forward`] and friends handle this geometry: one input channel per group
/// and more than one group.
pub fn applies(g: &ConvGeom) -> bool {
    g.groups > 1
        && g.groups == g.c_in
        && g.c_out.is_multiple_of(g.groups)
        && g.ho > 0
        && g.wo > 0
        && g.kh > 0
        && g.kw > 0
}

/// Copies plane `src` (`sh x sw`) into `dst` (`ph x pw`) shifted by `(top, left)`:
/// `dst[r][c] = src[r - top][c - left]`, zero outside `src`.
#[allow(clippy::too_many_arguments)]
fn pad_plane<T: ConvElem>(
    src: &[T],
    sh: usize,
    sw: usize,
    top: isize,
    left: isize,
    dst: &mut [T],
    ph: usize,
    pw: usize,
) {
    let (lo, hi) = window_columns(left, sw, pw);
    for (r, row) in dst[..ph * pw].chunks_exact_mut(pw).enumerate() {
        let sr = r as isize - top;
        if sr < 0 || sr >= sh as isize {
            row.fill(T::default());
        } else {
            row[..lo].fill(T::default());
            row[hi..].fill(T::default());
        }
    }
    copy_window(src, sh, sw, top, left, dst, ph, pw);
}

/// The stencil `out[oy][ox] = init + sum_ij k[i][j] * p[oy*s + i*d][ox*s + j*d]` over the
/// padded plane `p` (`pw` wide), for `ho x wo` outputs.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn stencil<T: ConvElem>(
    p: &[T],
    pw: usize,
    k: &[T],
    kh: usize,
    kw: usize,
    s: [usize; 2],
    d: [usize; 2],
    init: T,
    out: &mut [T],
    wo: usize,
) {
    let ho = out.len() / wo.max(1);
    if kh == 3 && kw == 3 && s[1] == 1 {
        let (d0, d1) = (d[0], d[1]);
        for oy in 0..ho {
            let r0 = &p[oy * s[0] * pw..];
            let (a, b, c) = (r0, &r0[d0 * pw..], &r0[2 * d0 * pw..]);
            let (a, b, c) = (&a[..wo + 2 * d1], &b[..wo + 2 * d1], &c[..wo + 2 * d1]);
            let row = &mut out[oy * wo..][..wo];
            for (ox, o) in row.iter_mut().enumerate() {
                let mut v = init;
                v += k[0] * a[ox];
                v += k[1] * a[ox + d1];
                v += k[2] * a[ox + 2 * d1];
                v += k[3] * b[ox];
                v += k[4] * b[ox + d1];
                v += k[5] * b[ox + 2 * d1];
                v += k[6] * c[ox];
                v += k[7] * c[ox + d1];
                v += k[8] * c[ox + 2 * d1];
                *o = v;
            }
        }
        return;
    }
    for oy in 0..ho {
        let row = &mut out[oy * wo..][..wo];
        row.fill(init);
        for i in 0..kh {
            let src = &p[(oy * s[0] + i * d[0]) * pw..][..pw];
            for j in 0..kw {
                let kv = k[i * kw + j];
                if s[1] == 1 {
                    for (o, &x) in row.iter_mut().zip(&src[j * d[1]..][..wo]) {
                        *o += kv * x;
                    }
                } else {
                    for (ox, o) in row.iter_mut().enumerate() {
                        *o += kv * src[ox * s[1] + j * d[1]];
                    }
                }
            }
        }
    }
}

/// Scatter form of the input gradient for strides above 1: `gx[iy][ix] += k[i][j] *
/// gy[oy][ox]` into the padded plane `p` (`pw` wide, zeroed by the caller).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn scatter<T: ConvElem>(
    gy: &[T],
    wo: usize,
    k: &[T],
    kh: usize,
    kw: usize,
    s: [usize; 2],
    d: [usize; 2],
    p: &mut [T],
    pw: usize,
) {
    let ho = gy.len() / wo.max(1);
    for oy in 0..ho {
        let src = &gy[oy * wo..][..wo];
        for i in 0..kh {
            let dst = &mut p[(oy * s[0] + i * d[0]) * pw..][..pw];
            for j in 0..kw {
                let kv = k[i * kw + j];
                for (ox, &v) in src.iter().enumerate() {
                    dst[ox * s[1] + j * d[1]] += kv * v;
                }
            }
        }
    }
}

const LANES: usize = 16;

/// `acc[i*kw + j] += sum_{oy,ox} gy[oy][ox] * p[oy*s + i*d][ox*s + j*d]`, with
/// [`LANES`] accumulator lanes per tap (summed at the end, in a fixed order).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn taps<T: ConvElem>(
    gy: &[T],
    wo: usize,
    p: &[T],
    pw: usize,
    kh: usize,
    kw: usize,
    s: [usize; 2],
    d: [usize; 2],
    acc: &mut [T],
) {
    let ho = gy.len() / wo.max(1);
    let mut lanes = vec![[T::default(); LANES]; kh * kw];
    for oy in 0..ho {
        let g = &gy[oy * wo..][..wo];
        for i in 0..kh {
            let src = &p[(oy * s[0] + i * d[0]) * pw..][..pw];
            for j in 0..kw {
                let l = &mut lanes[i * kw + j];
                if s[1] == 1 {
                    let x = &src[j * d[1]..][..wo];
                    let (gc, xc) = (g.chunks_exact(LANES), x.chunks_exact(LANES));
                    let (gr, xr) = (gc.remainder(), xc.remainder());
                    for (gv, xv) in gc.zip(xc) {
                        for ((a, &u), &v) in l.iter_mut().zip(gv).zip(xv) {
                            *a += u * v;
                        }
                    }
                    for (t, (&a, &b)) in gr.iter().zip(xr).enumerate() {
                        l[t] += a * b;
                    }
                } else {
                    for (ox, &a) in g.iter().enumerate() {
                        l[ox % LANES] += a * src[ox * s[1] + j * d[1]];
                    }
                }
            }
        }
    }
    for (a, l) in acc.iter_mut().zip(&lanes) {
        let mut t = T::default();
        for &v in l {
            t += v;
        }
        *a += t;
    }
}

/// The columns `lo..hi` of a `pw`-wide row that a `sw`-wide source row shifted right by
/// `left` covers (`0 <= c - left < sw`).
fn window_columns(left: isize, sw: usize, pw: usize) -> (usize, usize) {
    let lo = left.clamp(0, pw as isize) as usize;
    let hi = (left + sw as isize).clamp(lo as isize, pw as isize) as usize;
    (lo, hi)
}

/// [`pad_plane`] without the zero fill: copies the part of `src` that lands inside
/// `dst` and leaves every other cell as it is. Per-row fills of a few border cells were
/// a fifth of the depthwise stencils' time (one small `memset` call each).
#[allow(clippy::too_many_arguments)]
fn copy_window<T: ConvElem>(
    src: &[T],
    sh: usize,
    sw: usize,
    top: isize,
    left: isize,
    dst: &mut [T],
    ph: usize,
    pw: usize,
) {
    let (lo, hi) = window_columns(left, sw, pw);
    let s0 = (lo as isize - left) as usize;
    for r in 0..ph {
        let sr = r as isize - top;
        if sr < 0 || sr >= sh as isize {
            continue;
        }
        let s = &src[sr as usize * sw..][..sw];
        dst[r * pw + lo..r * pw + hi].copy_from_slice(&s[s0..s0 + hi - lo]);
    }
}

/// Stride-1 stencil over a flat padded plane: `out[q] = init + sum_t k[t] * p[q + offs[t]]`
/// (each output row is `pw` long; the columns past the valid width are dropped later).
#[inline(always)]
fn flat_stencil<T: ConvElem>(p: &[T], offs: &[usize], k: &[T], init: T, out: &mut [T]) {
    let n = out.len();
    if let ([o0, o1, o2, o3, o4, o5, o6, o7, o8], [k0, k1, k2, k3, k4, k5, k6, k7, k8]) = (offs, k)
    {
        let (a0, a1, a2) = (&p[*o0..][..n], &p[*o1..][..n], &p[*o2..][..n]);
        let (a3, a4, a5) = (&p[*o3..][..n], &p[*o4..][..n], &p[*o5..][..n]);
        let (a6, a7, a8) = (&p[*o6..][..n], &p[*o7..][..n], &p[*o8..][..n]);
        for (q, o) in out.iter_mut().enumerate() {
            let mut v = init;
            v += *k0 * a0[q];
            v += *k1 * a1[q];
            v += *k2 * a2[q];
            v += *k3 * a3[q];
            v += *k4 * a4[q];
            v += *k5 * a5[q];
            v += *k6 * a6[q];
            v += *k7 * a7[q];
            v += *k8 * a8[q];
            *o = v;
        }
        return;
    }
    out.fill(init);
    for (&o, &kv) in offs.iter().zip(k) {
        for (a, &x) in out.iter_mut().zip(&p[o..][..n]) {
            *a += kv * x;
        }
    }
}

/// Stride-1 weight taps over flat planes: `acc[t] += sum_q gy[q] * p[q + offs[t]]`, with
/// `gy` zero in the columns past the valid width; [`LANES`] accumulator lanes per tap.
#[inline(always)]
fn flat_taps<T: ConvElem>(gy: &[T], p: &[T], offs: &[usize], acc: &mut [T]) {
    let n = gy.len();
    for (&o, a) in offs.iter().zip(acc.iter_mut()) {
        let x = &p[o..][..n];
        let mut l = [T::default(); LANES];
        let (gc, xc) = (gy.chunks_exact(LANES), x.chunks_exact(LANES));
        let (gr, xr) = (gc.remainder(), xc.remainder());
        for (gv, xv) in gc.zip(xc) {
            // Fixed-length views: one vector operation per lane block.
            let (gv, xv): (&[T; LANES], &[T; LANES]) =
                (gv.try_into().expect("lanes"), xv.try_into().expect("lanes"));
            for t in 0..LANES {
                l[t] += gv[t] * xv[t];
            }
        }
        for ((s, &u), &v) in l.iter_mut().zip(gr).zip(xr) {
            *s += u * v;
        }
        let mut t = T::default();
        for v in l {
            t += v;
        }
        *a += t;
    }
}

/// Defines `$name` calling the `#[inline(always)]` body `$body` at the CPU's best level.
macro_rules! leveled {
    ($name:ident, $v4:ident, $v3:ident, $body:ident, ($($a:ident: $t:ty),*)) => {
        #[allow(clippy::too_many_arguments)]
        fn $name<T: ConvElem>($($a: $t),*) {
            #[cfg(target_arch = "x86_64")]
            {
                use super::simd::{Capability, capability};
                match capability() {
                    // SAFETY: `capability()` never exceeds what the CPU has.
                    Capability::Avx512 => unsafe { $v4($($a),*) },
                    // SAFETY: as above.
                    Capability::Avx2 => unsafe { $v3($($a),*) },
                    Capability::Default => $body($($a),*),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            $body($($a),*)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx,avx2,fma,avx512f,avx512bw,avx512dq,avx512vl")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $v4<T: ConvElem>($($a: $t),*) {
            $body($($a),*)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx,avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $v3<T: ConvElem>($($a: $t),*) {
            $body($($a),*)
        }
    };
}

leveled!(stencil_at, stencil_v4, stencil_v3, stencil,
    (p: &[T], pw: usize, k: &[T], kh: usize, kw: usize, s: [usize; 2], d: [usize; 2], init: T, out: &mut [T], wo: usize));
leveled!(scatter_at, scatter_v4, scatter_v3, scatter,
    (gy: &[T], wo: usize, k: &[T], kh: usize, kw: usize, s: [usize; 2], d: [usize; 2], p: &mut [T], pw: usize));
leveled!(flat_stencil_at, flat_stencil_v4, flat_stencil_v3, flat_stencil,
    (p: &[T], offs: &[usize], k: &[T], init: T, out: &mut [T]));
leveled!(flat_taps_at, flat_taps_v4, flat_taps_v3, flat_taps,
    (gy: &[T], p: &[T], offs: &[usize], acc: &mut [T]));
leveled!(taps_at, taps_v4, taps_v3, taps,
    (gy: &[T], wo: usize, p: &[T], pw: usize, kh: usize, kw: usize, s: [usize; 2], d: [usize; 2], acc: &mut [T]));

/// The padded plane a stencil over `ho x wo` outputs reads: `(rows, cols)`.
fn padded_dims(g: &ConvGeom) -> (usize, usize) {
    (
        (g.ho - 1) * g.stride[0] + g.dil[0] * (g.kh - 1) + 1,
        (g.wo - 1) * g.stride[1] + g.dil[1] * (g.kw - 1) + 1,
    )
}

/// Planes per task: a few tasks per thread, so uneven planes balance out.
fn planes_per_task(planes: usize) -> usize {
    planes.div_ceil(num_threads().max(1) * 4).max(1)
}

/// A stride-1 stencil laid out flat: output `oh x ow` read from a padded plane
/// `(oh + d0 (kh - 1)) x pw`, `pw = ow + d1 (kw - 1)`, with slack after it so the last
/// row's dropped columns stay in bounds.
struct Flat {
    oh: usize,
    ow: usize,
    ph: usize,
    pw: usize,
    offs: Vec<usize>,
}

impl Flat {
    fn new(g: &ConvGeom, oh: usize, ow: usize) -> Flat {
        let pw = ow + g.dil[1] * (g.kw - 1);
        let offs = (0..g.kh)
            .flat_map(|i| (0..g.kw).map(move |j| (i, j)))
            .map(|(i, j)| i * g.dil[0] * pw + j * g.dil[1])
            .collect();
        Flat {
            oh,
            ow,
            ph: oh + g.dil[0] * (g.kh - 1),
            pw,
            offs,
        }
    }
    fn pad_len(&self) -> usize {
        self.ph * self.pw + self.pw
    }
    /// Pads `src` (`sh x sw`, shifted by `(top, left)`) into `pad`, runs the stencil and
    /// writes the valid `oh x ow` into `out` (all of it: `out` may be uninitialised).
    /// `pad` must be zero outside the window `src` lands in: a zeroed buffer reused for
    /// planes of the same shape and shift (the borders and the slack are never written).
    #[allow(clippy::too_many_arguments)]
    fn run<T: ConvElem>(
        &self,
        src: &[T],
        sh: usize,
        sw: usize,
        top: isize,
        left: isize,
        k: &[T],
        init: T,
        pad: &mut [T],
        flat: &mut [T],
        out: &mut [MaybeUninit<T>],
    ) {
        let (ph, pw) = (self.ph, self.pw);
        copy_window(src, sh, sw, top, left, &mut pad[..ph * pw], ph, pw);
        flat_stencil_at(pad, &self.offs, k, init, &mut flat[..self.oh * pw]);
        for (o, f) in out.chunks_exact_mut(self.ow).zip(flat.chunks_exact(pw)) {
            o.write_copy_of_slice(&f[..self.ow]);
        }
    }
}

/// Depthwise forward (see [`applies`]): contiguous `x` `[n, c_in, h, w]`, `w`
/// `[c_out, 1, kh, kw]`, optional bias; returns `[n, c_out, ho, wo]`.
pub fn forward<T: ConvElem>(g: &ConvGeom, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
    let (plane_in, plane_out, kk) = (g.h * g.w, g.ho * g.wo, g.kh * g.kw);
    let mult = g.c_out / g.c_in;
    let len = g.n * g.c_out * plane_out;
    if len == 0 {
        return Vec::new();
    }
    // Every plane is written whole below, so the output is not zeroed first (a memset
    // of the whole output on one thread cost ~15% of this kernel).
    let mut out = vec_with_capacity(len);
    let (ph, pw) = padded_dims(g);
    let unit = g.stride == [1, 1];
    let fl = Flat::new(g, g.ho, g.wo);
    let per = planes_per_task(g.n * g.c_out);
    for_each_chunk_mut(
        &mut out.spare_capacity_mut()[..len],
        per * plane_out,
        |t, part| {
            let mut pad = vec![T::default(); if unit { fl.pad_len() } else { ph * pw }];
            let mut flat = vec![T::default(); if unit { fl.oh * fl.pw } else { 0 }];
            for (k, y) in part.chunks_exact_mut(plane_out).enumerate() {
                let plane = t * per + k;
                let (b, co) = (plane / g.c_out, plane % g.c_out);
                let ci = co / mult;
                let src = &x[(b * g.c_in + ci) * plane_in..][..plane_in];
                let init = bias.map_or(T::default(), |b| b[co]);
                let kern = &w[co * kk..][..kk];
                let (top, left) = (g.pad[0] as isize, g.pad[1] as isize);
                if unit {
                    fl.run(src, g.h, g.w, top, left, kern, init, &mut pad, &mut flat, y);
                } else {
                    pad_plane(src, g.h, g.w, top, left, &mut pad, ph, pw);
                    let y = zeroed(y);
                    stencil_at(&pad, pw, kern, g.kh, g.kw, g.stride, g.dil, init, y, g.wo);
                }
            }
        },
    );
    // SAFETY: the chunks cover `out[..len]` and every plane of each was written.
    unsafe { out.set_len(len) };
    out
}

/// `buf` zeroed, as initialised memory.
fn zeroed<T: ConvElem>(buf: &mut [MaybeUninit<T>]) -> &mut [T] {
    for v in buf.iter_mut() {
        v.write(T::default());
    }
    // SAFETY: every element was just initialised; `MaybeUninit<T>` has `T`'s layout.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<T>(), buf.len()) }
}

/// `buf` as possibly uninitialised memory (for [`Flat::run`], which writes it whole).
fn uninit_view<T>(buf: &mut [T]) -> &mut [MaybeUninit<T>] {
    // SAFETY: `MaybeUninit<T>` has `T`'s layout, and only initialised values are stored
    // through the view, so `buf` stays initialised.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<MaybeUninit<T>>(), buf.len()) }
}

/// Depthwise input gradient: contiguous `gy` `[n, c_out, ho, wo]` and `w` give
/// `[n, c_in, h, w]`.
pub fn input_grad<T: ConvElem>(g: &ConvGeom, gy: &[T], w: &[T]) -> Vec<T> {
    let (plane_in, plane_out, kk) = (g.h * g.w, g.ho * g.wo, g.kh * g.kw);
    let mult = g.c_out / g.c_in;
    let len = g.n * g.c_in * plane_in;
    if len == 0 {
        return Vec::new();
    }
    // Written whole below (see `forward`).
    let mut gx = vec_with_capacity(len);
    let per = planes_per_task(g.n * g.c_in);
    let unit = g.stride == [1, 1];
    // Stride 1: the stencil over gy padded by dil*(k-1) - pad, kernel flipped.
    let top = (g.dil[0] * (g.kh - 1)) as isize - g.pad[0] as isize;
    let left = (g.dil[1] * (g.kw - 1)) as isize - g.pad[1] as isize;
    let fl = Flat::new(g, g.h, g.w);
    let (ph, pw) = padded_dims(g);
    for_each_chunk_mut(
        &mut gx.spare_capacity_mut()[..len],
        per * plane_in,
        |t, part| {
            let mut pad = vec![T::default(); if unit { fl.pad_len() } else { ph * pw }];
            let mut flat = vec![T::default(); if unit { fl.oh * fl.pw } else { 0 }];
            let mut flip = vec![T::default(); kk];
            let mut acc = vec![T::default(); if mult > 1 && unit { plane_in } else { 0 }];
            for (k, dst) in part.chunks_exact_mut(plane_in).enumerate() {
                let plane = t * per + k;
                let (b, ci) = (plane / g.c_in, plane % g.c_in);
                // Zeroed once unless the first channel's stencil writes it whole.
                let dst = if unit {
                    let src = &gy[(b * g.c_out + ci * mult) * plane_out..][..plane_out];
                    let kern = &w[ci * mult * kk..][..kk];
                    for (f, &v) in flip.iter_mut().zip(kern.iter().rev()) {
                        *f = v;
                    }
                    let zero = T::default();
                    fl.run(
                        src, g.ho, g.wo, top, left, &flip, zero, &mut pad, &mut flat, dst,
                    );
                    // SAFETY: `Flat::run` wrote every element of `dst`.
                    unsafe {
                        std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<T>(), dst.len())
                    }
                } else {
                    zeroed(dst)
                };
                if !unit {
                    pad.fill(T::default());
                }
                for m in 0..mult {
                    let co = ci * mult + m;
                    let src = &gy[(b * g.c_out + co) * plane_out..][..plane_out];
                    let kern = &w[co * kk..][..kk];
                    if unit {
                        if m == 0 {
                            continue;
                        }
                        for (f, &v) in flip.iter_mut().zip(kern.iter().rev()) {
                            *f = v;
                        }
                        let (zero, acc) = (T::default(), uninit_view(&mut acc));
                        fl.run(
                            src, g.ho, g.wo, top, left, &flip, zero, &mut pad, &mut flat, acc,
                        );
                        for (a, &v) in dst.iter_mut().zip(acc.iter()) {
                            // SAFETY: `Flat::run` just wrote all of `acc`.
                            *a += unsafe { v.assume_init() };
                        }
                    } else {
                        scatter_at(src, g.wo, kern, g.kh, g.kw, g.stride, g.dil, &mut pad, pw);
                    }
                }
                if !unit {
                    // Crop the padded plane back to the input.
                    for r in 0..g.h {
                        let pr = r + g.pad[0];
                        let row = &mut dst[r * g.w..][..g.w];
                        for (c, v) in row.iter_mut().enumerate() {
                            let pc = c + g.pad[1];
                            *v = if pr < ph && pc < pw {
                                pad[pr * pw + pc]
                            } else {
                                T::default()
                            };
                        }
                    }
                }
            }
        },
    );
    // SAFETY: the chunks cover `gx[..len]` and every plane of each was written.
    unsafe { gx.set_len(len) };
    gx
}

/// Depthwise weight gradient: contiguous `gy` `[n, c_out, ho, wo]` and `x`
/// `[n, c_in, h, w]` give `[c_out, 1, kh, kw]`; each task owns output channels and
/// sums over the whole batch.
pub fn weight_grad<T: ConvElem>(g: &ConvGeom, gy: &[T], x: &[T]) -> Vec<T> {
    let (plane_in, plane_out, kk) = (g.h * g.w, g.ho * g.wo, g.kh * g.kw);
    let mult = g.c_out / g.c_in;
    let mut gw = vec![T::default(); g.c_out * kk];
    if gw.is_empty() || g.n == 0 {
        return gw;
    }
    let unit = g.stride == [1, 1];
    let fl = Flat::new(g, g.ho, g.wo);
    let (ph, pw) = if unit { (fl.ph, fl.pw) } else { padded_dims(g) };
    let per = planes_per_task(g.c_out);
    for_each_chunk_mut(&mut gw, per * kk, |t, part| {
        let mut pad = vec![T::default(); if unit { fl.pad_len() } else { ph * pw }];
        // The flat output gradient, zero past the valid width of each row.
        let mut gflat = vec![T::default(); if unit { g.ho * pw } else { 0 }];
        for (k, acc) in part.chunks_exact_mut(kk).enumerate() {
            let co = t * per + k;
            let ci = co / mult;
            for b in 0..g.n {
                let src = &x[(b * g.c_in + ci) * plane_in..][..plane_in];
                pad_plane(
                    src,
                    g.h,
                    g.w,
                    g.pad[0] as isize,
                    g.pad[1] as isize,
                    &mut pad[..ph * pw],
                    ph,
                    pw,
                );
                let gyp = &gy[(b * g.c_out + co) * plane_out..][..plane_out];
                if unit {
                    pad[ph * pw..].fill(T::default());
                    for (f, r) in gflat.chunks_exact_mut(pw).zip(gyp.chunks_exact(g.wo)) {
                        f[..g.wo].copy_from_slice(r);
                        f[g.wo..].fill(T::default());
                    }
                    flat_taps_at(&gflat, &pad, &fl.offs, acc);
                } else {
                    taps_at(gyp, g.wo, &pad, pw, g.kh, g.kw, g.stride, g.dil, acc);
                }
            }
        }
    });
    gw
}
