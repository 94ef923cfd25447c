//! The column loops of convolutions: im2col (an image's sliding windows as the columns
//! of a matrix) and its adjoint col2im, whole or for a block of output positions.

use super::conv::{ConvElem, ConvGeom};

/// The `ox` range `[lo, hi)` whose input column `ox * s + off` lies in `0..w`.
pub(super) fn valid_cols(off: isize, s: usize, w: usize, wo: usize) -> (usize, usize) {
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
pub(super) fn im2col<T: ConvElem>(g: &ConvGeom, x: &[T], c0: usize, col: &mut [T]) {
    im2col_cols(g, x, c0, col, 0, g.hw_out());
}

/// Adds the column matrix `col` back onto channels `c0..c0 + cg` of image `gx`
/// (the adjoint of [`im2col`]).
pub(super) fn col2im<T: ConvElem>(g: &ConvGeom, col: &[T], c0: usize, gx: &mut [T]) {
    col2im_cols(g, col, c0, gx, 0, g.hw_out());
}

/// `(dst_offset, oy, ox0, ox1)` for the output rows that output positions `p0..p1`
/// (row-major over `ho x wo`) cover, each cut to its part of the range. Worked out once
/// per block and reused for every row of the column matrix (no division per row).
fn row_segments(wo: usize, p0: usize, p1: usize) -> Vec<(usize, usize, usize, usize)> {
    let mut segs = Vec::with_capacity((p1 - p0) / wo.max(1) + 2);
    let mut p = p0;
    while p < p1 {
        let (oy, ox0) = (p / wo, p % wo);
        let ox1 = wo.min(ox0 + (p1 - p));
        segs.push((p - p0, oy, ox0, ox1));
        p += ox1 - ox0;
    }
    segs
}

/// `dst.copy_from_slice(src)` for the short runs of im2col (one output row, e.g. 24
/// elements): in blocks of 8 moved as values, so a run costs a few vector moves rather
/// than a `memcpy` call; long runs still go to `memcpy`.
#[inline(always)]
fn copy_run<T: Copy>(dst: &mut [T], src: &[T]) {
    const B: usize = 8;
    let n = dst.len();
    if n >= 8 * B {
        dst.copy_from_slice(src);
        return;
    }
    if n < B {
        dst.copy_from_slice(src);
        return;
    }
    let block = |dst: &mut [T], src: &[T], at: usize| {
        let v: [T; B] = src[at..at + B].try_into().expect("block");
        dst[at..at + B].copy_from_slice(&v);
    };
    for at in (0..n - B).step_by(B) {
        block(dst, src, at);
    }
    // The last block ends at `n` (it may overlap the one before: same values).
    block(dst, src, n - B);
}

/// Columns `p0..p1` of the column matrix of [`im2col`], as a `[cg * kh * kw, p1 - p0]`
/// matrix in `col` (a block of output positions, so a block's columns stay in cache
/// between im2col and the GEMM).
pub(super) fn im2col_cols<T: ConvElem>(
    g: &ConvGeom,
    x: &[T],
    c0: usize,
    col: &mut [T],
    p0: usize,
    p1: usize,
) {
    let (nb, plane) = (p1 - p0, g.h * g.w);
    let [sh, sw] = g.stride;
    let segs = row_segments(g.wo, p0, p1);
    let mut rows = col.chunks_exact_mut(nb);
    for c in 0..g.cg() {
        let xp = &x[(c0 + c) * plane..][..plane];
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = rows.next().expect("column buffer");
                let off = (j * g.dil[1]) as isize - g.pad[1] as isize;
                let (lo, hi) = valid_cols(off, sw, g.w, g.wo);
                for &(at, oy, ox0, ox1) in &segs {
                    let dst = &mut row[at..][..ox1 - ox0];
                    let iy = (oy * sh + i * g.dil[0]) as isize - g.pad[0] as isize;
                    if iy < 0 || iy as usize >= g.h || lo == hi {
                        dst.fill(T::default());
                        continue;
                    }
                    let src = &xp[iy as usize * g.w..][..g.w];
                    let (a, b) = (lo.clamp(ox0, ox1), hi.clamp(ox0, ox1));
                    let b = b.max(a);
                    dst[..a - ox0].fill(T::default());
                    dst[b - ox0..].fill(T::default());
                    if sw == 1 {
                        let s0 = (a as isize + off) as usize;
                        copy_run(&mut dst[a - ox0..b - ox0], &src[s0..s0 + b - a]);
                    } else {
                        for (ox, d) in (a..b).zip(&mut dst[a - ox0..b - ox0]) {
                            *d = src[(ox as isize * sw as isize + off) as usize];
                        }
                    }
                }
            }
        }
    }
}

/// Adds the `[cg * kh * kw, p1 - p0]` block `col` of columns `p0..p1` back onto channels
/// `c0..c0 + cg` of image `gx` (the adjoint of [`im2col_cols`]).
pub(super) fn col2im_cols<T: ConvElem>(
    g: &ConvGeom,
    col: &[T],
    c0: usize,
    gx: &mut [T],
    p0: usize,
    p1: usize,
) {
    let (nb, plane) = (p1 - p0, g.h * g.w);
    let [sh, sw] = g.stride;
    let segs = row_segments(g.wo, p0, p1);
    let mut rows = col.chunks_exact(nb);
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
                for &(at, oy, ox0, ox1) in &segs {
                    let iy = (oy * sh + i * g.dil[0]) as isize - g.pad[0] as isize;
                    if iy < 0 || iy as usize >= g.h {
                        continue;
                    }
                    let (a, b) = (lo.clamp(ox0, ox1), hi.clamp(ox0, ox1));
                    if a >= b {
                        continue;
                    }
                    let src = &row[at + a - ox0..at + b - ox0];
                    let dst = &mut xp[iy as usize * g.w..][..g.w];
                    if sw == 1 {
                        let s0 = (a as isize + off) as usize;
                        for (d, &v) in dst[s0..s0 + b - a].iter_mut().zip(src) {
                            *d += v;
                        }
                    } else {
                        for (ox, &v) in (a..b).zip(src) {
                            dst[(ox as isize * sw as isize + off) as usize] += v;
                        }
                    }
                }
            }
        }
    }
}
