//! Stride-1 convolutions without a column matrix.
//!
//! With stride 1, row `(ci, ky, kx)` of the column matrix is input channel `ci`
//! shifted by `ky * dil_h` rows and `kx * dil_w` columns. Number the output positions
//! on the (padded) input's width instead of the output's, `p = oy * Wp + ox`, and that
//! row becomes one contiguous window of the image starting at
//! `ci * Hp * Wp + ky * dil_h * Wp + kx * dil_w`. So the product reads the image
//! through a table of row offsets ([`Rows::Offsets`]) instead of im2col copying it
//! `kh * kw` times into columns. The `Wp - wo` positions at the end of each row that
//! are not outputs are computed and dropped (26 against 24 for the MNIST example's
//! second layer: 8% more multiply-adds, against writing and reading a column matrix
//! nine times the image), and the weight gradient reads zeros there.
//!
//! The input gradient is the same product on the output gradient padded by
//! `dil * (k - 1) - pad` with the kernel flipped and its channels transposed; the weight
//! gradient reads the image windows as the rows of `A` against the transposed output
//! gradient. Used where [`conv_gemm`] runs (AVX2 or AVX-512) and images can be split over the
//! threads; everything else takes the im2col path of `conv.rs`.

use super::conv::{ConvElem, ConvGeom, over_batch, sum_parts};
use super::conv_gemm::{self, Rows, transpose};
use super::winograd;
use crate::tensor::alloc::{filled_vec, vec_with_capacity};
use crate::tensor::parallel::num_threads;
use std::mem::MaybeUninit;

/// Whether the forward and weight gradient of `g` run here.
pub(super) fn applies(g: &ConvGeom) -> bool {
    conv_gemm::available()
        && std::env::var("KILN_NO_DIRECT").is_err()
        && g.stride == [1, 1]
        && !(g.kh == 1 && g.kw == 1)
        && g.n > 0
        && g.hw_out() > 0
        && g.cg() > 0
        && g.cog() > 0
        && (g.n >= 2 || num_threads() < 2)
}

/// Whether the input gradient of `g` runs here: as [`applies`], with no more padding
/// than the kernel's reach (else the flipped product would need negative padding), and
/// more than one input channel per group. With one, the flipped product has a single
/// row, so every element of `B` it reads feeds one multiply-add; im2col's product
/// (`kh * kw` rows) measured twice as fast for the MNIST example's 1->32 layer (b64,
/// 2 threads: 0.29-0.36 against 0.68-0.70 ms on AVX-512, 0.37 against 0.84-1.08 on AVX2).
pub(super) fn applies_input_grad(g: &ConvGeom) -> bool {
    let reach = [g.dil[0] * (g.kh - 1), g.dil[1] * (g.kw - 1)];
    applies(g)
        && g.cg() > 1
        && g.pad[0] <= reach[0]
        && g.pad[1] <= reach[1]
        && g.ho <= g.h + g.pad[0]
        && g.wo <= g.w + g.pad[1]
        && g.h * g.w > 0
}

/// The padded input's height and width: the output's plus the kernel's reach.
pub(super) fn padded(g: &ConvGeom) -> (usize, usize) {
    (g.ho + g.dil[0] * (g.kh - 1), g.wo + g.dil[1] * (g.kw - 1))
}

/// Row offsets of the windows of a `[c, hp, wp]` image: `(ci, ky, kx)` in order, with
/// the kernel flipped when `flip` (for the input gradient).
pub(super) fn window_offsets(
    g: &ConvGeom,
    c: usize,
    hp: usize,
    wp: usize,
    flip: bool,
) -> Vec<usize> {
    let mut off = Vec::with_capacity(c * g.kh * g.kw);
    for ci in 0..c {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let (y, x) = if flip {
                    (g.kh - 1 - ky, g.kw - 1 - kx)
                } else {
                    (ky, kx)
                };
                off.push(ci * hp * wp + y * g.dil[0] * wp + x * g.dil[1]);
            }
        }
    }
    off
}

/// Copies the `[c, h, w]` image `src` into the zeroed `[c, hp, wp]` `dst` at row `top`
/// and column `left`, clipping what falls outside.
#[allow(clippy::too_many_arguments)]
pub(super) fn pad_into<T: ConvElem>(
    src: &[T],
    c: usize,
    h: usize,
    w: usize,
    dst: &mut [T],
    hp: usize,
    wp: usize,
    [top, left]: [usize; 2],
) {
    let (rows, cols) = (
        h.min(hp.saturating_sub(top)),
        w.min(wp.saturating_sub(left)),
    );
    // Only the border is zeroed: the image rows are overwritten anyway (a full fill
    // of the output gradient's padded copy was 13 MB of memset per MNIST CNN batch).
    let zero = T::default();
    for (ch, plane) in dst[..c * hp * wp].chunks_exact_mut(hp * wp).enumerate() {
        let body = top.min(hp)..(top + rows).min(hp);
        plane[..body.start * wp].fill(zero);
        plane[body.end * wp..].fill(zero);
        for y in 0..rows {
            let row = &mut plane[(y + top) * wp..][..wp];
            let (l, r) = (left.min(wp), (left + cols).min(wp));
            row[..l].fill(zero);
            row[r..].fill(zero);
            row[l..r].copy_from_slice(&src[(ch * h + y) * w..][..cols]);
        }
    }
}

/// The image of `g`'s input `xi` as the `[c_in, hp, wp]` padded image the windows read:
/// `xi` itself when there is no padding, else a padded copy in `buf`.
pub(super) fn padded_image<'a, T: ConvElem>(
    g: &ConvGeom,
    xi: &'a [T],
    buf: &'a mut [T],
) -> &'a [T] {
    let (hp, wp) = padded(g);
    if padded_copy_len(g) == 0 {
        return xi;
    }
    pad_into(xi, g.c_in, g.h, g.w, buf, hp, wp, g.pad);
    &buf[..g.c_in * hp * wp]
}

/// Elements of the padded copy [`padded_image`] needs: none when the input already is
/// the padded image.
pub(super) fn padded_copy_len(g: &ConvGeom) -> usize {
    let (hp, wp) = padded(g);
    if g.pad == [0, 0] && hp == g.h && wp == g.w {
        0
    } else {
        g.c_in * hp * wp
    }
}

/// Positions of the virtual product for an `h x w` output on rows `wp` apart.
fn virtual_len(h: usize, w: usize, wp: usize) -> usize {
    (h - 1) * wp + w
}

/// Forward convolution (see [`super::conv::conv2d_forward`]) by windows.
pub(super) fn forward<T: ConvElem>(g: &ConvGeom, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
    if winograd::applies::<T>(g) {
        return winograd::forward(g, x, w, bias);
    }
    let (hp, wp) = padded(g);
    let (hw, kg, cog, cg) = (g.hw_out(), g.kg(), g.cog(), g.cg());
    let nv = virtual_len(g.ho, g.wo, wp);
    let off = window_offsets(g, cg, hp, wp, false);
    let pad_len = padded_copy_len(g);
    let (in_img, out_img) = (g.c_in * g.h * g.w, g.c_out * hw);
    // Every output element is written below: zeroing the output first was 5% of the
    // MNIST CNN's step (a 9 MB memset per batch on one thread).
    let len = g.n * out_img;
    let mut out = vec_with_capacity(len);
    over_batch(
        g.n,
        out_img,
        pad_len + cog * nv,
        &mut out.spare_capacity_mut()[..len],
        false,
        &|first, count, ys: &mut [MaybeUninit<T>], buf, _| {
            let (pbuf, cv) = buf.split_at_mut(pad_len);
            for (i, y) in ys.chunks_exact_mut(out_img).take(count).enumerate() {
                let xp = padded_image(g, &x[(first + i) * in_img..][..in_img], pbuf);
                for grp in 0..g.groups {
                    let wg = &w[grp * cog * kg..][..cog * kg];
                    let xg = &xp[grp * cg * hp * wp..];
                    let rows = Rows::Offsets(&off);
                    T::gemm_indirect(
                        cog,
                        nv,
                        kg,
                        wg,
                        Rows::Stride(kg),
                        1,
                        xg,
                        rows,
                        cv,
                        nv,
                        false,
                    );
                    for co in 0..cog {
                        let b = bias.map_or(T::default(), |b| b[grp * cog + co]);
                        let dst = &mut y[(grp * cog + co) * hw..][..hw];
                        for (oy, row) in dst.chunks_exact_mut(g.wo).enumerate() {
                            let src = &cv[co * nv + oy * wp..][..g.wo];
                            for (d, &s) in row.iter_mut().zip(src) {
                                let mut v = s;
                                v += b;
                                d.write(v);
                            }
                        }
                    }
                }
            }
        },
    );
    // SAFETY: the loops above wrote every element of `out[..len]`: each image's
    // `c_out` planes of `ho` rows of `wo` (a panic there drops `out` empty).
    unsafe { out.set_len(len) };
    out
}

/// Gradient with respect to the input (see [`super::conv::conv2d_input_grad`]): the
/// product of the flipped, channel-transposed weight with windows of the output
/// gradient padded by the kernel's reach less the padding.
pub(super) fn input_grad<T: ConvElem>(g: &ConvGeom, gy: &[T], w: &[T]) -> Vec<T> {
    if winograd::applies_input_grad::<T>(g) {
        return winograd::input_grad(g, gy, w);
    }
    let (kg, cog, cg, khw) = (g.kg(), g.cog(), g.cg(), g.kh * g.kw);
    let reach = [g.dil[0] * (g.kh - 1), g.dil[1] * (g.kw - 1)];
    let (hq, wq) = (g.h + reach[0], g.w + reach[1]);
    let shift = [reach[0] - g.pad[0], reach[1] - g.pad[1]];
    let nv = virtual_len(g.h, g.w, wq);
    let off = window_offsets(g, cog, hq, wq, true);
    // wt[grp][ci][co][ky][kx] = w[grp * cog + co][ci][ky][kx]
    let mut wt = vec![T::default(); g.c_out * kg];
    for grp in 0..g.groups {
        for co in 0..cog {
            for ci in 0..cg {
                let src = &w[((grp * cog + co) * cg + ci) * khw..][..khw];
                wt[((grp * cg + ci) * cog + co) * khw..][..khw].copy_from_slice(src);
            }
        }
    }
    let (in_img, out_img) = (g.c_in * g.h * g.w, g.c_out * g.hw_out());
    let pad_len = g.c_out * hq * wq;
    let mut gx = filled_vec(g.n * in_img, T::default());
    over_batch(
        g.n,
        in_img,
        pad_len + cg * nv,
        &mut gx,
        false,
        &|first, count, gxs, buf, _| {
            let (gp, cv) = buf.split_at_mut(pad_len);
            for (i, gxi) in gxs.chunks_exact_mut(in_img).take(count).enumerate() {
                let gyi = &gy[(first + i) * out_img..][..out_img];
                pad_into(gyi, g.c_out, g.ho, g.wo, gp, hq, wq, shift);
                for grp in 0..g.groups {
                    let a = &wt[grp * cg * cog * khw..][..cg * cog * khw];
                    let b = &gp[grp * cog * hq * wq..];
                    let (ar, br) = (Rows::Stride(cog * khw), Rows::Offsets(&off));
                    T::gemm_indirect(cg, nv, cog * khw, a, ar, 1, b, br, cv, nv, false);
                    for ci in 0..cg {
                        let dst = &mut gxi[(grp * cg + ci) * g.h * g.w..][..g.h * g.w];
                        for (y, row) in dst.chunks_exact_mut(g.w).enumerate() {
                            row.copy_from_slice(&cv[ci * nv + y * wq..][..g.w]);
                        }
                    }
                }
            }
        },
    );
    gx
}

/// Gradient with respect to the weight (see [`super::conv::conv2d_weight_grad`]):
/// `gw^T (+)= windows · gy_v^T` per image, where `gy_v^T` is the output gradient
/// transposed onto the virtual positions (zeros where there is no output).
pub(super) fn weight_grad<T: ConvElem>(g: &ConvGeom, gy: &[T], x: &[T]) -> Vec<T> {
    let (hp, wp) = padded(g);
    let (hw, kg, cog, cg) = (g.hw_out(), g.kg(), g.cog(), g.cg());
    let nv = virtual_len(g.ho, g.wo, wp);
    let off = window_offsets(g, cg, hp, wp, false);
    let pad_len = padded_copy_len(g);
    let (in_img, out_img, wlen) = (g.c_in * g.h * g.w, g.c_out * hw, g.c_out * kg);
    let tasks_max = num_threads().clamp(1, g.n);
    let mut parts = vec![T::default(); wlen * tasks_max];
    let tasks = over_batch(
        g.n,
        wlen,
        pad_len + nv * cog,
        &mut parts,
        true,
        &|first, count, gw, buf, _| {
            let (pbuf, gt) = buf.split_at_mut(pad_len);
            for i in 0..count {
                let xp = padded_image(g, &x[(first + i) * in_img..][..in_img], pbuf);
                let gyi = &gy[(first + i) * out_img..][..out_img];
                for grp in 0..g.groups {
                    let gyg = &gyi[grp * cog * hw..][..cog * hw];
                    for oy in 0..g.ho {
                        let row = &mut gt[oy * wp * cog..];
                        transpose(&gyg[oy * g.wo..], cog, g.wo, hw, row);
                        if oy + 1 < g.ho {
                            row[g.wo * cog..wp * cog].fill(T::default());
                        }
                    }
                    let a = &xp[grp * cg * hp * wp..];
                    let gwg = &mut gw[grp * kg * cog..][..kg * cog];
                    let (ar, br) = (Rows::Offsets(&off), Rows::Stride(cog));
                    T::gemm_indirect(kg, cog, nv, a, ar, 1, gt, br, gwg, cog, i > 0);
                }
            }
        },
    );
    sum_parts(parts, wlen, tasks, Some((kg, cog)))
}
