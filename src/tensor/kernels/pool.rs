//! 2-D pooling kernels over contiguous `[planes, h, w]` data (planes = batch × channels):
//! max (with PyTorch's argmax indices), average and adaptive average, forward and input
//! gradient, parallel over planes.

use super::conv::ConvElem;
use crate::tensor::Tensor;
use crate::tensor::backend::select;
use crate::tensor::parallel::for_each_chunk_mut;

/// The element types pooling runs on (`f32`, `f64`).
pub trait PoolElem: ConvElem + PartialOrd + std::ops::Div<Output = Self> {
    /// `n` as this type.
    fn from_usize(n: usize) -> Self;
    /// Negative infinity.
    fn neg_inf() -> Self;
    /// Whether the value is NaN.
    fn nan(self) -> bool;
}

macro_rules! pool_elem {
    ($($t:ident),*) => {$(
        impl PoolElem for $t {
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            fn neg_inf() -> Self {
                $t::NEG_INFINITY
            }
            fn nan(self) -> bool {
                self.is_nan()
            }
        }
    )*};
}
pool_elem!(f32, f64);

/// The shape of one 2-D pooling: input planes `h × w`, output `ho × wo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    /// Number of planes (batch × channels).
    pub planes: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output height.
    pub ho: usize,
    /// Output width.
    pub wo: usize,
    /// Kernel `(height, width)`.
    pub k: [usize; 2],
    /// Stride.
    pub stride: [usize; 2],
    /// Padding.
    pub pad: [usize; 2],
    /// Dilation (max pooling only).
    pub dil: [usize; 2],
}

/// Planes per parallel chunk: enough work per task to pay for the hand-off.
fn plane_chunk(planes: usize, plane_len: usize) -> usize {
    let per = (1usize << 14).div_ceil(plane_len.max(1));
    crate::tensor::parallel::chunk_len(planes, per, 1)
}

/// Max pooling: the flat `ih * w + iw` index of each window's maximum (NaN wins, the
/// first maximum wins ties), `[planes, ho, wo]`.
pub fn max_pool2d_indices<T: PoolElem>(g: &PoolGeom, x: &[T]) -> Vec<i64> {
    let (plane, out) = (g.h * g.w, g.ho * g.wo);
    // A cached block: fresh pages here were 1.3% of the MNIST CNN's step in page faults.
    let mut idx = crate::tensor::alloc::filled_vec(g.planes * out, 0i64);
    let chunk = plane_chunk(g.planes, plane);
    // The common 2x2 window at stride 2 whose windows all lie inside the plane.
    let pool2x2 = g.k == [2, 2]
        && g.stride == [2, 2]
        && g.pad == [0, 0]
        && g.dil == [1, 1]
        && 2 * g.ho <= g.h
        && 2 * g.wo <= g.w;
    for_each_chunk_mut(&mut idx, chunk * out, |c, part| {
        for (p, o) in part.chunks_exact_mut(out).enumerate() {
            let xp = &x[(c * chunk + p) * plane..][..plane];
            if pool2x2 {
                indices_2x2(xp, g.w, o, g.ho, g.wo);
                continue;
            }
            for oy in 0..g.ho {
                let mut ih0 = (oy * g.stride[0]) as isize - g.pad[0] as isize;
                let ih1 = (ih0 + ((g.k[0] - 1) * g.dil[0]) as isize + 1).min(g.h as isize);
                while ih0 < 0 {
                    ih0 += g.dil[0] as isize;
                }
                for ox in 0..g.wo {
                    let mut iw0 = (ox * g.stride[1]) as isize - g.pad[1] as isize;
                    let iw1 = (iw0 + ((g.k[1] - 1) * g.dil[1]) as isize + 1).min(g.w as isize);
                    while iw0 < 0 {
                        iw0 += g.dil[1] as isize;
                    }
                    let mut best = ih0 * g.w as isize + iw0;
                    let mut val = T::neg_inf();
                    for ih in (ih0..ih1).step_by(g.dil[0]) {
                        for iw in (iw0..iw1).step_by(g.dil[1]) {
                            let i = ih * g.w as isize + iw;
                            let v = xp[i as usize];
                            if v > val || v.nan() {
                                val = v;
                                best = i;
                            }
                        }
                    }
                    o[oy * g.wo + ox] = best as i64;
                }
            }
        }
    });
    idx
}

/// [`max_pool2d_indices`] of one plane (`w` wide) for 2x2 windows at stride 2, every
/// window inside the plane: the same scan order and rules (NaN wins, first maximum wins
/// ties) with the four taps unrolled.
fn indices_2x2<T: PoolElem>(xp: &[T], w: usize, o: &mut [i64], ho: usize, wo: usize) {
    for oy in 0..ho {
        let r0 = 2 * oy * w;
        let (a, b) = (&xp[r0..][..2 * wo], &xp[r0 + w..][..2 * wo]);
        for (ox, d) in o[oy * wo..][..wo].iter_mut().enumerate() {
            let i = 2 * ox;
            let mut best = r0 + i;
            let mut val = T::neg_inf();
            for (v, at) in [
                (a[i], r0 + i),
                (a[i + 1], r0 + i + 1),
                (b[i], r0 + w + i),
                (b[i + 1], r0 + w + i + 1),
            ] {
                if v > val || v.nan() {
                    val = v;
                    best = at;
                }
            }
            *d = best as i64;
        }
    }
}

/// The values at max pooling's indices: `x[plane][idx]` for each output, `[planes, ho,
/// wo]`, parallel over planes as the indices are.
fn gather_planes<T: PoolElem>(g: &PoolGeom, x: &[T], idx: &[i64], plane: usize) -> Vec<T> {
    let out = g.ho * g.wo;
    let mut vals = vec![T::default(); idx.len()];
    if out == 0 {
        return vals;
    }
    let chunk = plane_chunk(g.planes, plane);
    for_each_chunk_mut(&mut vals, chunk * out, |c, part| {
        for (p, o) in part.chunks_exact_mut(out).enumerate() {
            let q = c * chunk + p;
            let xp = &x[q * plane..][..plane];
            for (v, &i) in o.iter_mut().zip(&idx[q * out..][..out]) {
                *v = xp[i as usize];
            }
        }
    });
    vals
}

/// A `len`-element vector of zeros into which `f(chunk_index, chunk)` then scatters,
/// chunk by chunk in parallel. The block comes from the tensor cache and each thread
/// zeroes its own chunks while they are in its cache (`vec![0; n]` zeroed fresh pages on
/// one thread: 1.5% of the MNIST CNN's step in max pooling's backward).
fn zeroed_chunks<T: PoolElem>(
    len: usize,
    chunk: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    let mut v = crate::tensor::alloc::vec_with_capacity(len);
    for_each_chunk_mut(
        &mut v.spare_capacity_mut()[..len],
        chunk.max(1),
        |c, part| {
            for x in part.iter_mut() {
                x.write(T::default());
            }
            // SAFETY: every element of `part` was just initialised, and `MaybeUninit<T>`
            // has `T`'s layout.
            let part = unsafe {
                std::slice::from_raw_parts_mut(part.as_mut_ptr().cast::<T>(), part.len())
            };
            f(c, part);
        },
    );
    // SAFETY: the chunks cover `0..len` and each was initialised above.
    unsafe { v.set_len(len) };
    v
}

/// The input gradient of max pooling: each output's gradient added at its argmax.
pub fn max_pool2d_backward<T: PoolElem>(g: &PoolGeom, gy: &[T], idx: &[i64]) -> Vec<T> {
    let (plane, out) = (g.h * g.w, g.ho * g.wo);
    let chunk = plane_chunk(g.planes, plane);
    zeroed_chunks(g.planes * plane, chunk * plane, |c, part| {
        for (p, gp) in part.chunks_exact_mut(plane).enumerate() {
            let base = (c * chunk + p) * out;
            for (&i, &v) in idx[base..base + out].iter().zip(&gy[base..base + out]) {
                gp[i as usize] += v;
            }
        }
    })
}

/// Options of average pooling beyond the geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgMode {
    /// Count padded zeros in the divisor.
    pub count_include_pad: bool,
    /// Divide by this instead.
    pub divisor_override: Option<usize>,
}

/// Window `[start, end)` of one output along one dim, and the padded window length.
fn avg_window(o: usize, s: usize, p: usize, k: usize, n: usize) -> (usize, usize, usize) {
    let start = (o * s) as isize - p as isize;
    let end = (start + k as isize).min((n + p) as isize);
    let padded = (end - start) as usize;
    (
        start.max(0) as usize,
        end.min(n as isize).max(0) as usize,
        padded,
    )
}

/// Runs `f(output_index, (h0, h1), (w0, w1), divisor)` for each non-empty window.
fn avg_windows(
    g: &PoolGeom,
    m: AvgMode,
    mut f: impl FnMut(usize, (usize, usize), (usize, usize), usize),
) {
    for oy in 0..g.ho {
        let (h0, h1, ph) = avg_window(oy, g.stride[0], g.pad[0], g.k[0], g.h);
        for ox in 0..g.wo {
            let (w0, w1, pw) = avg_window(ox, g.stride[1], g.pad[1], g.k[1], g.w);
            if h0 >= h1 || w0 >= w1 {
                continue;
            }
            let div = match (m.divisor_override, m.count_include_pad) {
                (Some(d), _) => d,
                (None, true) => ph * pw,
                (None, false) => (h1 - h0) * (w1 - w0),
            };
            f(oy * g.wo + ox, (h0, h1), (w0, w1), div);
        }
    }
}

/// Average pooling forward, `[planes, ho, wo]` (PyTorch's divisor rules).
pub fn avg_pool2d<T: PoolElem>(g: &PoolGeom, m: AvgMode, x: &[T]) -> Vec<T> {
    let (plane, out) = (g.h * g.w, g.ho * g.wo);
    let mut y = vec![T::default(); g.planes * out];
    let chunk = plane_chunk(g.planes, plane);
    for_each_chunk_mut(&mut y, chunk * out, |c, part| {
        for (p, yp) in part.chunks_exact_mut(out).enumerate() {
            let xp = &x[(c * chunk + p) * plane..][..plane];
            avg_windows(g, m, |o, (h0, h1), (w0, w1), div| {
                let mut s = T::default();
                for row in xp[h0 * g.w..h1 * g.w].chunks_exact(g.w) {
                    for &v in &row[w0..w1] {
                        s += v;
                    }
                }
                yp[o] = s / T::from_usize(div);
            });
        }
    });
    y
}

/// The input gradient of [`avg_pool2d`].
pub fn avg_pool2d_backward<T: PoolElem>(g: &PoolGeom, m: AvgMode, gy: &[T]) -> Vec<T> {
    let (plane, out) = (g.h * g.w, g.ho * g.wo);
    let chunk = plane_chunk(g.planes, plane);
    zeroed_chunks(g.planes * plane, chunk * plane, |c, part| {
        for (p, gp) in part.chunks_exact_mut(plane).enumerate() {
            let gyp = &gy[(c * chunk + p) * out..][..out];
            avg_windows(g, m, |o, (h0, h1), (w0, w1), div| {
                let v = gyp[o] / T::from_usize(div);
                for row in gp[h0 * g.w..h1 * g.w].chunks_exact_mut(g.w) {
                    for d in &mut row[w0..w1] {
                        *d += v;
                    }
                }
            });
        }
    })
}

/// Adaptive window `[floor(o·n/out), ceil((o+1)·n/out))`.
fn adaptive(o: usize, out: usize, n: usize) -> (usize, usize) {
    (o * n / out, ((o + 1) * n).div_ceil(out))
}

/// The geometry of an adaptive pooling (only `planes, h, w, ho, wo` matter).
fn adaptive_windows(g: &PoolGeom, mut f: impl FnMut(usize, (usize, usize), (usize, usize))) {
    for oy in 0..g.ho {
        let hr = adaptive(oy, g.ho, g.h);
        for ox in 0..g.wo {
            f(oy * g.wo + ox, hr, adaptive(ox, g.wo, g.w));
        }
    }
}

/// Adaptive average pooling forward, `[planes, ho, wo]`.
pub fn adaptive_avg_pool2d<T: PoolElem>(g: &PoolGeom, x: &[T]) -> Vec<T> {
    let (plane, out) = (g.h * g.w, g.ho * g.wo);
    let mut y = vec![T::default(); g.planes * out];
    let chunk = plane_chunk(g.planes, plane);
    for_each_chunk_mut(&mut y, chunk * out, |c, part| {
        for (p, yp) in part.chunks_exact_mut(out).enumerate() {
            let xp = &x[(c * chunk + p) * plane..][..plane];
            adaptive_windows(g, |o, (h0, h1), (w0, w1)| {
                let mut s = T::default();
                for row in xp[h0 * g.w..h1 * g.w].chunks_exact(g.w) {
                    for &v in &row[w0..w1] {
                        s += v;
                    }
                }
                yp[o] = s / T::from_usize((h1 - h0) * (w1 - w0));
            });
        }
    });
    y
}

/// The input gradient of [`adaptive_avg_pool2d`].
pub fn adaptive_avg_pool2d_backward<T: PoolElem>(g: &PoolGeom, gy: &[T]) -> Vec<T> {
    let (plane, out) = (g.h * g.w, g.ho * g.wo);
    let chunk = plane_chunk(g.planes, plane);
    zeroed_chunks(g.planes * plane, chunk * plane, |c, part| {
        for (p, gp) in part.chunks_exact_mut(plane).enumerate() {
            let gyp = &gy[(c * chunk + p) * out..][..out];
            adaptive_windows(g, |o, (h0, h1), (w0, w1)| {
                let v = gyp[o] / T::from_usize((h1 - h0) * (w1 - w0));
                for row in gp[h0 * g.w..h1 * g.w].chunks_exact_mut(g.w) {
                    for d in &mut row[w0..w1] {
                        *d += v;
                    }
                }
            });
        }
    })
}

/// `x`'s shape with its last two dims replaced by `(a, b)`.
fn with_plane(x: &Tensor, a: usize, b: usize) -> Vec<usize> {
    let mut s = x.shape().to_vec();
    let r = s.len();
    s[r - 2] = a;
    s[r - 1] = b;
    s
}

/// Unrecorded max pooling of `x` (`[.., H, W]`, float) under `g`: the maxima and, as
/// int64, each window's argmax as a flat `h * W + w` index into its input plane.
pub fn max_forward(x: &Tensor, g: &PoolGeom) -> (Tensor, Tensor) {
    select("max_pool2d", &[x]).max_pool2d(x, g)
}

/// Unrecorded input gradient of max pooling: each upstream gradient of `gy` sent to the
/// argmax `idx` (from [`max_forward`]) of its window; `[.., H, W]`.
pub fn max_backward(gy: &Tensor, idx: &Tensor, g: &PoolGeom) -> Tensor {
    select("max_pool2d_backward", &[gy, idx]).max_pool2d_backward(gy, idx, g)
}

/// Unrecorded average pooling of `x` under `g` and mode `m`.
pub fn avg_forward(x: &Tensor, g: &PoolGeom, m: AvgMode) -> Tensor {
    select("avg_pool2d", &[x]).avg_pool2d(x, g, m)
}

/// Unrecorded input gradient of average pooling: `gy` spread over each window.
pub fn avg_backward(gy: &Tensor, g: &PoolGeom, m: AvgMode) -> Tensor {
    select("avg_pool2d_backward", &[gy]).avg_pool2d_backward(gy, g, m)
}

/// Unrecorded adaptive average pooling of `x` to `g.ho × g.wo`.
pub fn adaptive_avg_forward(x: &Tensor, g: &PoolGeom) -> Tensor {
    select("adaptive_avg_pool2d", &[x]).adaptive_avg_pool2d(x, g)
}

/// Unrecorded input gradient of adaptive average pooling.
pub fn adaptive_avg_backward(gy: &Tensor, g: &PoolGeom) -> Tensor {
    select("adaptive_avg_pool2d_backward", &[gy]).adaptive_avg_pool2d_backward(gy, g)
}

/// The CPU side of the entries above: dtype dispatch over the slice loops of this file.
pub mod cpu {
    use super::{AvgMode, PoolGeom, with_plane};
    use crate::tensor::kernels::conv::cpu::floats;
    use crate::tensor::{DType, Tensor};

    /// [`super::max_forward`] on host buffers.
    pub fn max_pool2d(x: &Tensor, g: &PoolGeom) -> (Tensor, Tensor) {
        let shape = with_plane(x, g.ho, g.wo);
        let plane = g.h * g.w;
        floats!(x.dtype(), "\"max_pool2d\"", T => {
            x.with_contiguous::<T, _>(|x| {
                let idx = super::max_pool2d_indices(g, x);
                let vals = super::gather_planes(g, x, &idx, plane);
                (Tensor::from_vec(vals, &shape), Tensor::from_vec(idx, &shape))
            })
        })
    }

    /// [`super::max_backward`] on host buffers.
    pub fn max_pool2d_backward(gy: &Tensor, idx: &Tensor, g: &PoolGeom) -> Tensor {
        let shape = with_plane(gy, g.h, g.w);
        floats!(gy.dtype(), "\"max_pool2d_backward\"", T => {
            let v = idx.with_contiguous::<i64, _>(|idx| {
                gy.with_contiguous::<T, _>(|d| super::max_pool2d_backward(g, d, idx))
            });
            Tensor::from_vec(v, &shape)
        })
    }

    /// [`super::avg_forward`] on host buffers.
    pub fn avg_pool2d(x: &Tensor, g: &PoolGeom, m: AvgMode) -> Tensor {
        let shape = with_plane(x, g.ho, g.wo);
        floats!(x.dtype(), "\"avg_pool2d\"", T => {
            Tensor::from_vec(x.with_contiguous::<T, _>(|d| super::avg_pool2d(g, m, d)), &shape)
        })
    }

    /// [`super::avg_backward`] on host buffers.
    pub fn avg_pool2d_backward(gy: &Tensor, g: &PoolGeom, m: AvgMode) -> Tensor {
        let shape = with_plane(gy, g.h, g.w);
        floats!(gy.dtype(), "\"avg_pool2d_backward\"", T => {
            let v = gy.with_contiguous::<T, _>(|d| super::avg_pool2d_backward(g, m, d));
            Tensor::from_vec(v, &shape)
        })
    }

    /// [`super::adaptive_avg_forward`] on host buffers.
    pub fn adaptive_avg_pool2d(x: &Tensor, g: &PoolGeom) -> Tensor {
        let shape = with_plane(x, g.ho, g.wo);
        floats!(x.dtype(), "\"adaptive_avg_pool2d\"", T => {
            Tensor::from_vec(x.with_contiguous::<T, _>(|d| super::adaptive_avg_pool2d(g, d)), &shape)
        })
    }

    /// [`super::adaptive_avg_backward`] on host buffers.
    pub fn adaptive_avg_pool2d_backward(gy: &Tensor, g: &PoolGeom) -> Tensor {
        let shape = with_plane(gy, g.h, g.w);
        floats!(gy.dtype(), "\"adaptive_avg_pool2d_backward\"", T => {
            let v = gy.with_contiguous::<T, _>(|d| super::adaptive_avg_pool2d_backward(g, d));
            Tensor::from_vec(v, &shape)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unrolled 2x2 path keeps the general scan's rules: the first maximum wins a
    /// tie, NaN wins (the last NaN of a window), all -inf picks the first tap; odd
    /// planes drop their last row and column.
    #[test]
    fn two_by_two_windows_follow_the_general_rules() {
        let (h, w) = (5, 7);
        let nan = f64::NAN;
        let ninf = f64::NEG_INFINITY;
        let mut x: Vec<f64> = (0..h * w).map(|i| ((i * 5) % 4) as f64).collect();
        x[0..2].copy_from_slice(&[nan, nan]);
        x[2..4].copy_from_slice(&[ninf, ninf]);
        x[w + 2..w + 4].copy_from_slice(&[ninf, ninf]);
        x[4..6].copy_from_slice(&[3.0, 3.0]);
        let g = PoolGeom {
            planes: 1,
            h,
            w,
            ho: h / 2,
            wo: w / 2,
            k: [2, 2],
            stride: [2, 2],
            pad: [0, 0],
            dil: [1, 1],
        };
        let got = max_pool2d_indices(&g, &x);
        let mut want = Vec::new();
        for oy in 0..g.ho {
            for ox in 0..g.wo {
                let (mut best, mut val) = ((2 * oy) * w + 2 * ox, ninf);
                for i in 0..2 {
                    for j in 0..2 {
                        let at = (2 * oy + i) * w + 2 * ox + j;
                        if x[at] > val || x[at].is_nan() {
                            (best, val) = (at, x[at]);
                        }
                    }
                }
                want.push(best as i64);
            }
        }
        assert_eq!(got, want);
        assert_eq!(&got[..3], &[1, 2, 4]);
    }
}
