//! Weight gradient of 3x3, stride-1 convolutions by Winograd's F(2x2, 3x3).
//!
//! A 2x2 block of outputs reads a 4x4 tile `d` of the (padded) input, and
//! `y = Aᵀ [(G w Gᵀ) ⊙ (Bᵀ d B)] A`. The weight gradient is that bilinear form read
//! the other way: `Σ gy·y = Σ w · Gᵀ [(A gy Aᵀ) ⊙ (Bᵀ d B)] G`, so per tile
//! `dw += Gᵀ [(A gy Aᵀ) ⊙ (Bᵀ d B)] G`. Summed over the tiles, the elementwise
//! products become 16 matrix products, one per point `p` of the 4x4 transform:
//! `Û[p] (+)= M[p] · V[p]ᵀ` with `M[p] = [c_out x tiles]` (transformed output
//! gradient) and `V[p] = [c_in x tiles]` (transformed input), then
//! `dw = Gᵀ Û G` once per call. That is 16 multiply-adds per tile and channel pair
//! against 36 for the direct product (2.25x fewer), for two cheap transforms per image.
//!
//! The MNIST example's 32 -> 64 layer spent ~15% of a training step in its weight
//! gradient on the window product ([`super::conv_direct`]), bound by the multiply-adds.
//! Only `f32` routes here: the transforms change the rounding a little (well inside
//! `f32` tolerances), and `f64` users mostly want the exact sums for gradient checks.

use super::conv::{ConvElem, ConvGeom, over_batch, sum_parts};
use super::conv_direct::pad_into;
use super::conv_gemm::{self, transpose};
use super::simd::dispatch;
use crate::tensor::parallel::num_threads;

/// Points of the 4x4 transform.
const P: usize = 16;
/// Bytes of transformed tiles per chunk (`16 * (c_in + c_out)` values a tile): the
/// chunk's products then run from the L2 cache. Measured on the Xeon of session 8 (2 MiB
/// L2), one thread: ResNet's 64 -> 64 at 84 / 112 / 168 / 364 tiles (0.7 / 0.9 / 1.4 /
/// 3 MB) took 11.2 / 11.0 / 12.3 / 12.9 ms, the MNIST 32 -> 64 whole 169-tile images
/// (1 MB) 10.3 ms against 11.5 in halves.
const CHUNK_BYTES: usize = 1 << 20;

/// Whether the weight gradient of `g` runs here.
pub(super) fn applies<T: 'static>(g: &ConvGeom) -> bool {
    conv_gemm::available()
        && std::env::var_os("KILN_NO_WINOGRAD").is_none()
        && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
        && eligible(g)
        // One image on two or more threads would run on one of them: the window
        // product splits its columns instead.
        && (g.n >= 2 || num_threads() < 2)
}

/// The shapes the transform handles, whatever the element type: 3x3, stride 1, no
/// dilation or groups, and enough channels for the products to pay for the transforms
/// (a single input channel, as in the MNIST example's first layer, stays on the window
/// product: the transformed output gradient would be four times the data it reads).
fn eligible(g: &ConvGeom) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.stride == [1, 1]
        && g.dil == [1, 1]
        && g.groups == 1
        && g.c_in >= 8
        && g.c_out >= 8
        && g.n > 0
        && g.ho > 0
        && g.wo > 0
}

/// The distance between two points' matrices of `len` values: one cache line more, so
/// that a tile's 16 writes (one per matrix) never share a cache set. At exact multiples
/// of 4 KiB they did (ResNet's 112-tile chunks of 64 channels: 28 KiB), and the chunk ran
/// 25% slower than at 84 or 168 tiles.
fn point_stride(len: usize) -> usize {
    len + 16
}

/// Tile rows and columns of `g`'s output (2x2 outputs a tile, the last ones partial).
fn tiles(g: &ConvGeom) -> (usize, usize) {
    (g.ho.div_ceil(2), g.wo.div_ceil(2))
}

/// Whether the input already is the `[c_in, 2 * ty + 2, 2 * tx + 2]` zero-padded image
/// the tiles read (input row `r - pad_top` at row `r`).
fn needs_padding(g: &ConvGeom) -> bool {
    let (ty, tx) = tiles(g);
    g.pad != [0, 0] || g.h != 2 * ty + 2 || g.w != 2 * tx + 2
}

/// `o = Bᵀ·[i0, i1, i2, i3]` channel by channel: the 1-D input transform, one
/// contiguous channel run per operand (separate reference arguments keep `noalias`
/// when inlined, so the loop vectorises without overlap checks).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn input_1d<T: ConvElem>(
    i0: &[T],
    i1: &[T],
    i2: &[T],
    i3: &[T],
    o0: &mut [T],
    o1: &mut [T],
    o2: &mut [T],
    o3: &mut [T],
) {
    let n = o0.len();
    let (i0, i1, i2, i3) = (&i0[..n], &i1[..n], &i2[..n], &i3[..n]);
    let (o1, o2, o3) = (&mut o1[..n], &mut o2[..n], &mut o3[..n]);
    for c in 0..n {
        o0[c] = i0[c] - i2[c];
        o1[c] = i1[c] + i2[c];
        o2[c] = i2[c] - i1[c];
        o3[c] = i1[c] - i3[c];
    }
}

/// `o = A·[i0, i1]` channel by channel: the 1-D transform of a pair of outputs'
/// gradients.
#[inline(always)]
fn grad_1d<T: ConvElem>(
    i0: &[T],
    i1: &[T],
    o0: &mut [T],
    o1: &mut [T],
    o2: &mut [T],
    o3: &mut [T],
) {
    let n = o0.len();
    let (i0, i1) = (&i0[..n], &i1[..n]);
    let (o1, o2, o3) = (&mut o1[..n], &mut o2[..n], &mut o3[..n]);
    for c in 0..n {
        o0[c] = i0[c];
        o1[c] = i0[c] + i1[c];
        o2[c] = i0[c] - i1[c];
        o3[c] = -i1[c];
    }
}

/// The four runs of `n` at `start`, `start + stride`, `start + 2 stride` and
/// `start + 3 stride` of `buf` (`stride >= n`): four points of one tile in the
/// point-major layouts.
#[inline(always)]
fn four_at<T>(buf: &mut [T], start: usize, stride: usize, n: usize) -> [&mut [T]; 4] {
    let mut runs = buf[start..].chunks_mut(stride);
    std::array::from_fn(|_| &mut runs.next().expect("four points")[..n])
}

/// Splits `buf` into its first four runs of `n`.
#[inline(always)]
fn four<T>(buf: &mut [T], n: usize) -> [&mut [T]; 4] {
    let (a, rest) = buf.split_at_mut(n);
    let (b, rest) = rest.split_at_mut(n);
    let (c, rest) = rest.split_at_mut(n);
    [a, b, c, &mut rest[..n]]
}

/// `V[p][t][..] = (Bᵀ d B)[p]` for the tiles of tile rows `rows` of the channel-last
/// padded image `xh` (`[hq, wq, c]`); `t` counts from the chunk's first tile, point
/// `p`'s matrix starts at `p * ps`, `tmp` holds `16 * c`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn input_transform<T: ConvElem>(
    xh: &[T],
    wq: usize,
    c: usize,
    tx: usize,
    rows: std::ops::Range<usize>,
    ps: usize,
    v: &mut [T],
    tmp: &mut [T],
) {
    let px = |y: usize, x: usize| &xh[(y * wq + x) * c..][..c];
    for (tr, ty) in rows.enumerate() {
        for t in 0..tx {
            let (y, x) = (2 * ty, 2 * t);
            // Rows first: tmp[col][j] = Bᵀ over the four pixels of column `col`.
            for col in 0..4 {
                let [o0, o1, o2, o3] = four(&mut tmp[col * 4 * c..], c);
                let (a, b, d, e) = (
                    px(y, x + col),
                    px(y + 1, x + col),
                    px(y + 2, x + col),
                    px(y + 3, x + col),
                );
                input_1d(a, b, d, e, o0, o1, o2, o3);
            }
            let tile = (tr * tx + t) * c;
            for j in 0..4 {
                let [o0, o1, o2, o3] = four_at(v, 4 * j * ps + tile, ps, c);
                let u = |col: usize| &tmp[(col * 4 + j) * c..][..c];
                input_1d(u(0), u(1), u(2), u(3), o0, o1, o2, o3);
            }
        }
    }
}

/// `M[p][t][..] = (A gy Aᵀ)[p]` for the tiles of tile rows `rows` of the channel-last
/// output gradient `gh` (`[ho, wo, c]`), point `p` at `p * ps`; missing outputs of partial tiles read as the
/// zeros of `zero` (`c` long). `tmp` holds `8 * c`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn grad_transform<T: ConvElem>(
    gh: &[T],
    ho: usize,
    wo: usize,
    c: usize,
    tx: usize,
    rows: std::ops::Range<usize>,
    ps: usize,
    m: &mut [T],
    zero: &[T],
    tmp: &mut [T],
) {
    let px = |y: usize, x: usize| {
        if y < ho && x < wo {
            &gh[(y * wo + x) * c..][..c]
        } else {
            &zero[..c]
        }
    };
    for (tr, ty) in rows.enumerate() {
        for t in 0..tx {
            let (y, x) = (2 * ty, 2 * t);
            for col in 0..2 {
                let [o0, o1, o2, o3] = four(&mut tmp[col * 4 * c..], c);
                grad_1d(px(y, x + col), px(y + 1, x + col), o0, o1, o2, o3);
            }
            let tile = (tr * tx + t) * c;
            for j in 0..4 {
                let [o0, o1, o2, o3] = four_at(m, 4 * j * ps + tile, ps, c);
                let (a, b) = (&tmp[j * c..][..c], &tmp[(4 + j) * c..][..c]);
                grad_1d(a, b, o0, o1, o2, o3);
            }
        }
    }
}

/// Gradient with respect to the weight (see [`super::conv::conv2d_weight_grad`]) for
/// the shapes [`applies`] accepts.
///
/// Both operands are made channel-last first (one transpose per image), so each
/// transform is a handful of vector operations over a contiguous channel run per tile,
/// and `V[p][t][ci]`, `M[p][t][co]` are the product's row-major `B` and column-major
/// `A`. Point-major, so a product's operands are contiguous: with the tiles outermost
/// (`[t][p][c]`) consecutive rows of `B` were 16 channel runs (4 KiB at 64 channels)
/// apart, one cache set for all of them, and the product ran 1.1x slower than the
/// window product on the Xeon of session 8.
pub(super) fn weight_grad<T: ConvElem>(g: &ConvGeom, gy: &[T], x: &[T]) -> Vec<T> {
    assert!(
        eligible(g),
        "winograd weight grad: unsupported geometry {g:?}"
    );
    let (ci_n, co_n) = (g.c_in, g.c_out);
    let (ty_n, tx_n) = tiles(g);
    let (hq, wq) = (2 * ty_n + 2, 2 * tx_n + 2);
    let per_tile = P * (ci_n + co_n) * std::mem::size_of::<T>();
    let rows_per_chunk = (CHUNK_BYTES / per_tile / tx_n).clamp(1, ty_n);
    let tc = rows_per_chunk * tx_n;
    let hw = g.hw_out();
    let pad_len = if needs_padding(g) { ci_n * hq * wq } else { 0 };
    let (xh_len, gh_len) = (ci_n * hq * wq, co_n * hw);
    let (vs, ms) = (point_stride(tc * ci_n), point_stride(tc * co_n));
    let (v_len, m_len) = (P * vs, P * ms);
    let cmax = ci_n.max(co_n);
    let scratch = pad_len + xh_len + gh_len + v_len + m_len + 17 * cmax;
    let (in_img, out_img) = (g.c_in * g.h * g.w, g.c_out * hw);
    let ulen = P * co_n * ci_n;
    let tasks_max = num_threads().clamp(1, g.n);
    let mut parts = vec![T::default(); ulen * tasks_max];
    let tasks = over_batch(
        g.n,
        ulen,
        scratch,
        &mut parts,
        true,
        &|first, count, u, buf, _| {
            let (pbuf, rest) = buf.split_at_mut(pad_len);
            let (xh, rest) = rest.split_at_mut(xh_len);
            let (gh, rest) = rest.split_at_mut(gh_len);
            let (v, rest) = rest.split_at_mut(v_len);
            let (m, rest) = rest.split_at_mut(m_len);
            let (zero, tmp) = rest.split_at_mut(cmax);
            zero.fill(T::default());
            let mut acc = false;
            for i in 0..count {
                let xi = &x[(first + i) * in_img..][..in_img];
                let xp: &[T] = if pad_len > 0 {
                    pad_into(xi, ci_n, g.h, g.w, pbuf, hq, wq, g.pad);
                    &pbuf[..]
                } else {
                    xi
                };
                transpose(xp, ci_n, hq * wq, hq * wq, xh);
                let gyi = &gy[(first + i) * out_img..][..out_img];
                transpose(gyi, co_n, hw, hw, gh);
                for ty0 in (0..ty_n).step_by(rows_per_chunk) {
                    let rows = ty0..(ty0 + rows_per_chunk).min(ty_n);
                    let t = rows.len() * tx_n;
                    // At the CPU's vector width: compiled for the baseline, the channel
                    // loops ran 4 lanes wide and took longer than the 16 products.
                    dispatch(
                        #[inline(always)]
                        || {
                            input_transform(xh, wq, ci_n, tx_n, rows.clone(), vs, v, tmp);
                            grad_transform(gh, g.ho, g.wo, co_n, tx_n, rows, ms, m, zero, tmp);
                        },
                    );
                    for p in 0..P {
                        T::gemm_rows(
                            co_n,
                            ci_n,
                            t,
                            &m[p * ms..],
                            [1, co_n],
                            &v[p * vs..],
                            ci_n,
                            &mut u[p * co_n * ci_n..][..co_n * ci_n],
                            ci_n,
                            acc,
                        );
                    }
                    acc = true;
                }
            }
        },
    );
    let u = sum_parts(parts, ulen, tasks, None);
    output_transform(&u, co_n, ci_n)
}

/// `dw[co][ci] = Gᵀ Û[co][ci] G` for `Û` laid out `[p][co][ci]`.
fn output_transform<T: ConvElem>(u: &[T], co_n: usize, ci_n: usize) -> Vec<T> {
    let half = T::from(0.5f32);
    let one = T::from(1.0f32);
    let zero = T::default();
    // Gᵀ: row ky holds G[j][ky] over the four points j.
    let gt = [
        [one, half, half, zero],
        [zero, half, -half, zero],
        [zero, half, half, one],
    ];
    let plane = co_n * ci_n;
    let mut dw = vec![zero; plane * 9];
    for (k, out) in dw.chunks_exact_mut(9).enumerate() {
        let mut s = [zero; P];
        for (p, v) in s.iter_mut().enumerate() {
            *v = u[p * plane + k];
        }
        for ky in 0..3 {
            for kx in 0..3 {
                let mut acc = zero;
                for j in 0..4 {
                    for i in 0..4 {
                        acc += gt[ky][j] * s[4 * j + i] * gt[kx][i];
                    }
                }
                out[3 * ky + kx] = acc;
            }
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The weight gradient by its definition, in f64.
    fn naive(g: &ConvGeom, gy: &[f64], x: &[f64]) -> Vec<f64> {
        let mut gw = vec![0.0; g.c_out * g.c_in * 9];
        for n in 0..g.n {
            for co in 0..g.c_out {
                for ci in 0..g.c_in {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let mut s = 0.0;
                            for oy in 0..g.ho {
                                for ox in 0..g.wo {
                                    let (y, xx) = (oy + ky, ox + kx);
                                    let (Some(y), Some(xx)) =
                                        (y.checked_sub(g.pad[0]), xx.checked_sub(g.pad[1]))
                                    else {
                                        continue;
                                    };
                                    if y >= g.h || xx >= g.w {
                                        continue;
                                    }
                                    s += gy[((n * g.c_out + co) * g.ho + oy) * g.wo + ox]
                                        * x[((n * g.c_in + ci) * g.h + y) * g.w + xx];
                                }
                            }
                            gw[((co * g.c_in + ci) * 3 + ky) * 3 + kx] += s;
                        }
                    }
                }
            }
        }
        gw
    }

    fn geom(n: usize, c_in: usize, c_out: usize, h: usize, w: usize, pad: [usize; 2]) -> ConvGeom {
        ConvGeom {
            n,
            c_in,
            h,
            w,
            c_out,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            pad,
            dil: [1, 1],
            groups: 1,
            ho: h + 2 * pad[0] - 2,
            wo: w + 2 * pad[1] - 2,
        }
    }

    use crate::tensor::kernels::conv_gemm::tests::values;

    #[test]
    fn matches_the_definition() {
        if !conv_gemm::available() {
            return;
        }
        // Odd and even outputs, padding 0/1/2, channel counts off the register block,
        // chunks of tile rows (the 40x40 image has 19 tile columns, so ten rows a chunk).
        let cases = [
            geom(2, 8, 8, 6, 6, [0, 0]),
            geom(3, 9, 17, 7, 8, [0, 0]),
            geom(2, 32, 64, 26, 26, [0, 0]),
            geom(2, 12, 10, 5, 9, [1, 1]),
            geom(2, 8, 24, 9, 7, [2, 1]),
            geom(3, 16, 8, 40, 40, [0, 0]),
            geom(1, 8, 8, 3, 3, [0, 0]),
        ];
        for (k, g) in cases.iter().enumerate() {
            let x = values(g.n * g.c_in * g.h * g.w, 2 * k as u64 + 1);
            let gy = values(g.n * g.c_out * g.ho * g.wo, 2 * k as u64 + 2);
            let want = naive(g, &gy, &x);
            let got64 = weight_grad(g, &gy, &x);
            let scale = want.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            for (i, (a, b)) in got64.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12 * scale,
                    "f64 case {k} elem {i}: {a} vs {b}"
                );
            }
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let gy32: Vec<f32> = gy.iter().map(|&v| v as f32).collect();
            let got32 = weight_grad(g, &gy32, &x32);
            for (i, (a, b)) in got32.iter().zip(&want).enumerate() {
                let err = (f64::from(*a) - b).abs();
                assert!(err <= 2e-6 * scale, "f32 case {k} elem {i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn routes_only_the_shapes_it_handles() {
        let g = geom(4, 32, 64, 26, 26, [0, 0]);
        assert!(eligible(&g));
        assert!(!applies::<f64>(&g));
        assert!(!eligible(&geom(4, 1, 32, 28, 28, [0, 0])));
        assert!(!eligible(&ConvGeom { groups: 2, ..g }));
        assert!(!eligible(&ConvGeom {
            stride: [2, 2],
            ho: 12,
            wo: 12,
            ..g
        }));
        assert!(!eligible(&ConvGeom {
            dil: [2, 2],
            ho: 22,
            wo: 22,
            ..g
        }));
    }
}
