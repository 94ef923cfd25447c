//! Winograd F(2x2, 3x3) convolutions: 3x3 kernels, stride 1, dilation 1, one group.
//!
//! Each 2x2 block of outputs comes from the 4x4 input tile under it with 16
//! multiplications per (input, output) channel pair instead of 36: the tile is
//! transformed (`V = Bᵀ d B`), the kernel once per call (`U = G g Gᵀ`), the 16 points
//! are multiplied and summed over the input channels, and the 4x4 result is folded back
//! to 2x2 (`Y = Aᵀ M A`). Summed over the channels, the 16 points are 16 independent
//! matrix products `M[p] = U[p] · V[p]` (`[c_out x c_in] · [c_in x tiles]`) on the
//! register-blocked kernel of [`conv_gemm`]: 2.25 times fewer multiply-adds than the
//! window product of `conv_direct`, for transforms that are additions only and linear
//! in the channel counts rather than in their product.
//!
//! An image's tiles run in blocks small enough that a block's transformed input and
//! products stay in L2 between the transform, the 16 products and the output transform.
//! The input gradient is the same convolution, of the output gradient padded by
//! `2 - pad` with the kernel flipped and its channels transposed (as in
//! `conv_direct::input_grad`), so one routine serves both. `KILN_NO_WINOGRAD` turns it
//! off, for A/B comparisons in one binary.

use super::conv::{ConvElem, ConvGeom, over_batch};
use super::conv_direct::pad_into;
use super::conv_gemm;
use super::gemm::Threads;
use super::simd::{Capability, capability, dispatch};
use crate::tensor::alloc::vec_with_capacity;
use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
mod avx2;

/// Whether the forward of `g` (already accepted by `conv_direct::applies`) runs here.
///
/// Shapes: 3x3, stride 1, dilation 1, one group, f32, and at least [`MIN_CHANNELS`]
/// channels on both sides (the MNIST example's first layer, 1 -> 32, stays on the
/// window product, whose multiply-adds there are fewer than Winograd's transforms).
pub(super) fn applies<T: ConvElem>(g: &ConvGeom) -> bool {
    enabled::<T>(g) && g.c_in >= MIN_CHANNELS && g.c_out >= MIN_CHANNELS
}

/// Whether the input gradient of `g` (already accepted by
/// `conv_direct::applies_input_grad`) runs here: as [`applies`], the channels swapped.
pub(super) fn applies_input_grad<T: ConvElem>(g: &ConvGeom) -> bool {
    enabled::<T>(g) && g.c_in >= MIN_CHANNELS && g.c_out >= MIN_CHANNELS
}

/// The fewest input and output channels routed here.
const MIN_CHANNELS: usize = 16;

fn enabled<T: ConvElem>(g: &ConvGeom) -> bool {
    // f64 keeps the window product: its products are half as wide per vector, and
    // nothing measured it here.
    std::mem::size_of::<T>() == 4
        && std::env::var_os("KILN_NO_WINOGRAD").is_none()
        && (g.kh, g.kw) == (3, 3)
        && g.stride == [1, 1]
        && g.dil == [1, 1]
        && g.groups == 1
        && g.ho > 0
        && g.wo > 0
}

/// One Winograd convolution: `c_in`-channel `h x w` images, each placed at `shift`
/// (rows, columns) in a plane of zeros, give `c_out`-channel `ho x wo` outputs with
/// `out[y][x] = sum plane[y + ky][x + kx] · k[ky][kx]`.
#[derive(Clone, Copy, Debug)]
struct Plan {
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
    shift: [usize; 2],
    ho: usize,
    wo: usize,
}

impl Plan {
    /// Tile rows and columns: 2x2 outputs each, the last ones partial for odd sizes.
    fn tiles(&self) -> (usize, usize) {
        (self.ho.div_ceil(2), self.wo.div_ceil(2))
    }

    /// The zero-padded plane every tile reads inside: `2 * tiles + 2` each way.
    fn plane(&self) -> (usize, usize) {
        let (th, tw) = self.tiles();
        (2 * th + 2, 2 * tw + 2)
    }

    /// Elements of the padded copy of an image: none when the image already is the plane,
    /// or when the AVX2 or AVX-512 transform reads the image itself (`direct`), its masked
    /// loads supplying the zeros of the plane around it.
    fn copy_len(&self, direct: bool) -> usize {
        let (hp, wp) = self.plane();
        if direct || (self.shift == [0, 0] && (hp, wp) == (self.h, self.w)) {
            0
        } else {
            self.c_in * hp * wp
        }
    }

    /// Tiles per block: as many as keep the block's transformed input and products
    /// (`16 * (c_in + c_out)` elements a tile) inside [`BLOCK_BYTES`], in equal blocks
    /// rounded up to whole vectors of the product's columns.
    fn block(&self, elem: usize) -> usize {
        let (th, tw) = self.tiles();
        let tiles = th * tw;
        let per_tile = 16 * (self.c_in + self.c_out) * elem;
        let want = (BLOCK_BYTES / per_tile).max(16);
        let blocks = tiles.div_ceil(want);
        tiles.div_ceil(blocks).next_multiple_of(16).min(tiles)
    }
}

/// Bytes of transformed input and products per block of tiles: this CPU's L2 (1 MiB a
/// core). Half and a third of that measured no faster (the MNIST example's second layer
/// then runs an image in two or three blocks; one block is its 144 tiles).
const BLOCK_BYTES: usize = 1 << 20;

/// Forward convolution (see [`super::conv::conv2d_forward`]) of a geometry [`applies`]
/// accepts.
pub(super) fn forward<T: ConvElem>(g: &ConvGeom, x: &[T], w: &[T], bias: Option<&[T]>) -> Vec<T> {
    let plan = Plan {
        c_in: g.c_in,
        c_out: g.c_out,
        h: g.h,
        w: g.w,
        shift: g.pad,
        ho: g.ho,
        wo: g.wo,
    };
    let u = transform_weight(g.c_out, g.c_in, |co, ci| {
        let k = &w[(co * g.c_in + ci) * 9..][..9];
        std::array::from_fn(|i| k[i])
    });
    run(&plan, g.n, x, &u, bias)
}

/// Gradient with respect to the input (see [`super::conv::conv2d_input_grad`]) of a
/// geometry [`applies_input_grad`] accepts: the forward of the output gradient, placed
/// at `2 - pad`, with `k'[ci][co] = flip(w[co][ci])`.
pub(super) fn input_grad<T: ConvElem>(g: &ConvGeom, gy: &[T], w: &[T]) -> Vec<T> {
    let plan = Plan {
        c_in: g.c_out,
        c_out: g.c_in,
        h: g.ho,
        w: g.wo,
        shift: [2 - g.pad[0], 2 - g.pad[1]],
        ho: g.h,
        wo: g.w,
    };
    let u = transform_weight(g.c_in, g.c_out, |ci, co| {
        let k = &w[(co * g.c_in + ci) * 9..][..9];
        std::array::from_fn(|i| k[8 - i])
    });
    run(&plan, g.n, gy, &u, None)
}

/// `U = G g Gᵀ` of every kernel `kernel(o, i)` (row-major 3x3), as 16 row-major
/// `[c_out x c_in]` matrices, point `p = 4 * row + column` at `p * c_out * c_in`.
fn transform_weight<T: ConvElem>(
    c_out: usize,
    c_in: usize,
    kernel: impl Fn(usize, usize) -> [T; 9],
) -> Vec<T> {
    let half = T::from(0.5f32);
    // G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]] applied to 3 values.
    let g3 = |a: T, b: T, c: T| [a, half * (a + b + c), half * (a - b + c), c];
    let mut u = vec![T::default(); 16 * c_out * c_in];
    for o in 0..c_out {
        for i in 0..c_in {
            let k = kernel(o, i);
            let cols: [[T; 4]; 3] = std::array::from_fn(|x| g3(k[x], k[3 + x], k[6 + x]));
            for r in 0..4 {
                let row = g3(cols[0][r], cols[1][r], cols[2][r]);
                for (c, &v) in row.iter().enumerate() {
                    u[((4 * r + c) * c_out + o) * c_in + i] = v;
                }
            }
        }
    }
    u
}

/// The distance between two points' matrices of `len` values: one cache line more, so
/// that a tile's 16 points (one per matrix) never share a cache set, as they did at
/// multiples of 4 KiB (see `winograd_wgrad::point_stride`).
fn point_stride(len: usize) -> usize {
    len + 16
}

/// Runs `plan` on `n` images `x` with the transformed weight `u`, adding `bias`.
fn run<T: ConvElem>(plan: &Plan, n: usize, x: &[T], u: &[T], bias: Option<&[T]>) -> Vec<T> {
    let p = *plan;
    let (th, tw) = p.tiles();
    let (hp, wp) = p.plane();
    let tiles = th * tw;
    let nb = p.block(std::mem::size_of::<T>());
    // The input gradient's output gradient padded by 2 was 12 MB of copies per MNIST CNN
    // batch, bound by memory bandwidth (a tenth of that pass).
    let direct = direct_input::<T>();
    let copy_len = p.copy_len(direct);
    let (v_len, m_len) = (
        16 * point_stride(p.c_in * nb),
        16 * point_stride(p.c_out * nb),
    );
    let (in_img, out_img) = (p.c_in * p.h * p.w, p.c_out * p.ho * p.wo);
    // Every output element is written by `transform_output`: no zeroing first (a memset
    // of the whole batch's output, ~1% of the MNIST CNN's step).
    let len = n * out_img;
    let mut out = vec_with_capacity(len);
    over_batch(
        n,
        out_img,
        copy_len + v_len + m_len,
        &mut out.spare_capacity_mut()[..len],
        false,
        &|first, count, ys: &mut [MaybeUninit<T>], buf, threads| {
            let (plane, rest) = buf.split_at_mut(copy_len);
            let (v, rest) = rest.split_at_mut(v_len);
            let m = &mut rest[..m_len];
            for (i, y) in ys.chunks_exact_mut(out_img).take(count).enumerate() {
                let xi = &x[(first + i) * in_img..][..in_img];
                let img: &[T] = if copy_len == 0 {
                    xi
                } else {
                    pad_into(xi, p.c_in, p.h, p.w, plane, hp, wp, p.shift);
                    plane
                };
                for t0 in (0..tiles).step_by(nb) {
                    let t1 = (t0 + nb).min(tiles);
                    let k = t1 - t0;
                    let (vs, ms) = (point_stride(p.c_in * k), point_stride(p.c_out * k));
                    let (v, m) = (&mut v[..16 * vs], &mut m[..16 * ms]);
                    dispatch(
                        #[inline(always)]
                        || transform_input(&p, img, direct, t0, t1, v),
                    );
                    for q in 0..16 {
                        product(
                            p.c_out,
                            k,
                            p.c_in,
                            &u[q * p.c_out * p.c_in..][..p.c_out * p.c_in],
                            &v[q * vs..][..p.c_in * k],
                            &mut m[q * ms..][..p.c_out * k],
                            threads,
                        );
                    }
                    dispatch(
                        #[inline(always)]
                        || transform_output(&p, m, t0, t1, bias, y),
                    );
                }
            }
        },
    );
    // SAFETY: `transform_output` wrote every element of each image's `c_out` planes of
    // `ho x wo` (its tile rows cover all rows, their columns all columns).
    unsafe { out.set_len(len) };
    out
}

/// `c = a · b` for row-major `a` `[m x k]`, `b` `[k x n]`, `c` `[m x n]`: the
/// register-blocked kernel where it runs single-threaded, else the `gemm` crate.
fn product<T: ConvElem>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    b: &[T],
    c: &mut [T],
    threads: Threads,
) {
    if threads == Threads::Single && conv_gemm::available() {
        T::gemm_rows(m, n, k, a, [k, 1], b, n, c, n, false);
    } else {
        let (ks, ns) = (k as isize, n as isize);
        T::gemm(m, n, k, a, [ks, 1], b, [ns, 1], c, [ns, 1], false, threads);
    }
}

/// The tile rows that tiles `t0..t1` (numbered row by row) touch, each with the first
/// and last-plus-one tile column and the block column of its first tile.
fn tile_rows(
    t0: usize,
    t1: usize,
    tw: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    (t0 / tw..t1.div_ceil(tw)).map(move |ty| {
        let (lo, hi) = (t0.max(ty * tw) - ty * tw, t1.min(ty * tw + tw) - ty * tw);
        (ty, lo, hi, ty * tw + lo - t0)
    })
}

/// Four disjoint equal-length slices `q0, q0 + step, q0 + 2 * step, q0 + 3 * step`
/// of the `len`-element matrices in `v`.
#[inline(always)]
fn four<T>(v: &mut [T], len: usize, q0: usize, step: usize) -> [&mut [T]; 4] {
    let mut it = v.chunks_exact_mut(len).skip(q0).step_by(step);
    std::array::from_fn(|_| it.next().expect("16 points"))
}

/// `(a, b, c, d) = (a - c, b + c, c - b, b - d)`, elementwise: `Bᵀ` applied to four
/// rows (or columns) in place.
#[inline(always)]
fn bt<T: ConvElem>([a, b, c, d]: [&mut [T]; 4]) {
    for (((a, b), c), d) in a
        .iter_mut()
        .zip(b.iter_mut())
        .zip(c.iter_mut())
        .zip(d.iter_mut())
    {
        let (d0, d1, d2, d3) = (*a, *b, *c, *d);
        *a = d0 - d2;
        *b = d1 + d2;
        *c = d2 - d1;
        *d = d1 - d3;
    }
}

/// `(a, b) = (a + b + c, b - c - d)`, elementwise: `Aᵀ` applied to four rows (or
/// columns) in place, the two results in the first two.
#[inline(always)]
fn at<T: ConvElem>([a, b, c, d]: [&mut [T]; 4]) {
    for (((a, b), c), d) in a.iter_mut().zip(b.iter_mut()).zip(c.iter()).zip(d.iter()) {
        let (m0, m1, m2, m3) = (*a, *b, *c, *d);
        *a = m0 + m1 + m2;
        *b = m1 - m2 - m3;
    }
}

/// `V = Bᵀ d B` of tiles `t0..t1` of every channel of `img` into `v` (the padded plane;
/// with `direct`, on AVX2 or AVX-512, the image itself)
/// (16 matrices `[c_in x (t1 - t0)]`, point `q = 4 * row + column` at `q * point_stride`), with
/// `Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`.
///
/// The 16 points of each tile are first gathered (strided copies, as short as a tile
/// row), then transformed in place down and across over whole matrices: the additions
/// run on long contiguous slices, which vectorise, where tile rows (12 tiles for the
/// MNIST example) are shorter than the loops' vector steps.
#[inline(always)]
fn transform_input<T: ConvElem>(
    p: &Plan,
    img: &[T],
    direct: bool,
    t0: usize,
    t1: usize,
    v: &mut [T],
) {
    let (_, tw) = p.tiles();
    let k = t1 - t0;
    let len = point_stride(p.c_in * k);
    #[cfg(target_arch = "x86_64")]
    if direct {
        // `direct` (decided once in `run`, which then made no padded copy) is
        // `direct_input`'s answer, so the casts hold.
        let (img, v) = (f32_view(img), f32_view_mut(v));
        // `img` is the image itself (`run` made no padded copy): plane row `y` is image
        // row `y - shift[0]`, plane column `x` image column `x - shift[1]`, zeros outside.
        let (h, w) = (p.h, p.w);
        let [top, left] = p.shift.map(|s| s as isize);
        for ci in 0..p.c_in {
            let chan = &img[ci * h * w..][..h * w];
            for (ty, lo, hi, col) in tile_rows(t0, t1, tw) {
                let n = hi - lo;
                let rows: [Option<&[f32]>; 4] = std::array::from_fn(|r| {
                    let y = (2 * ty + r) as isize - top;
                    (0..h as isize)
                        .contains(&y)
                        .then(|| &chan[y as usize * w..][..w])
                });
                let base = v.as_mut_ptr().wrapping_add(ci * k + col);
                let dst = std::array::from_fn(|q| base.wrapping_add(q * len));
                let first = (2 * lo) as isize - left;
                // SAFETY: `direct_input` saw at least AVX2, and AVX-512 is taken only at
                // that level (which the CPU then has); each row is a whole image row of
                // `w` columns, and every point's matrix holds `col + n` of the block's `k`
                // tiles and one more element: the next segment's first tile (written
                // after this one), the next channel's, or the point's padding.
                unsafe {
                    if avx512_transforms() {
                        avx512::input_tiles(rows, first, n, dst)
                    } else {
                        avx2::input_tiles(img, rows, first, n, dst)
                    }
                };
            }
        }
        return;
    }
    let (hp, wp) = p.plane();
    for ci in 0..p.c_in {
        let chan = &img[ci * hp * wp..][..hp * wp];
        for (ty, lo, hi, col) in tile_rows(t0, t1, tw) {
            let n = hi - lo;
            for r in 0..4 {
                let row = &chan[(2 * ty + r) * wp + 2 * lo..][..2 * n + 2];
                for c in 0..4 {
                    let dst = &mut v[(4 * r + c) * len + ci * k + col..][..n];
                    for (d, &x) in dst.iter_mut().zip(row[c..].iter().step_by(2)) {
                        *d = x;
                    }
                }
            }
        }
    }
    for c in 0..4 {
        bt(four(v, len, c, 4));
    }
    for r in 0..4 {
        bt(four(v, len, 4 * r, 1));
    }
}

/// `Y = Aᵀ M A` of the block's products `m` (16 matrices `[c_out x (t1 - t0)]`, as `v`) into
/// the outputs `y` (`[c_out, ho, wo]`) plus `bias`, with
/// `Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]`: in place over whole matrices (as in
/// [`transform_input`]), leaving the 2x2 outputs in points 0, 1, 4 and 5, then
/// scattered to the image, dropping the row and column of partial edge tiles that
/// fall outside.
#[inline(always)]
fn transform_output<T: ConvElem>(
    p: &Plan,
    m: &mut [T],
    t0: usize,
    t1: usize,
    bias: Option<&[T]>,
    y: &mut [MaybeUninit<T>],
) {
    let (_, tw) = p.tiles();
    let k = t1 - t0;
    let len = point_stride(p.c_out * k);
    #[cfg(target_arch = "x86_64")]
    if let (Some(m), Some(y)) = (as_f32(m), as_f32_uninit(y)) {
        let bias = bias.and_then(as_f32);
        for co in 0..p.c_out {
            let b = bias.map_or(0.0, |b| b[co]);
            let yc = &mut y[co * p.ho * p.wo..][..p.ho * p.wo];
            for (ty, lo, hi, col) in tile_rows(t0, t1, tw) {
                let n = hi - lo;
                let cols = p.wo.min(2 * hi) - 2 * lo;
                let two = 2 * ty + 1 < p.ho;
                let out = &mut yc[2 * ty * p.wo + 2 * lo..][..cols + if two { p.wo } else { 0 }];
                let src = std::array::from_fn(|q| m[q * len + co * k + col..][..n].as_ptr());
                let row0 = out.as_mut_ptr().cast::<f32>();
                let row1 = row0.wrapping_add(p.wo);
                // SAFETY: `as_f32` checked the CPU (AVX-512 only at that level); each
                // point's slice holds the `n` tiles, and `out` the `cols` columns of both
                // rows (of one when `!two`).
                unsafe {
                    if avx512_transforms() {
                        avx512::output_tiles(src, n, b, [row0, row1], cols, two)
                    } else {
                        avx2::output_tiles(src, n, b, [row0, row1], cols, two)
                    }
                };
            }
        }
        return;
    }
    for c in 0..4 {
        at(four(m, len, c, 4));
    }
    for r in 0..2 {
        at(four(m, len, 4 * r, 1));
    }
    let m = &*m;
    for co in 0..p.c_out {
        let b = bias.map_or(T::default(), |b| b[co]);
        let yc = &mut y[co * p.ho * p.wo..][..p.ho * p.wo];
        for (ty, lo, hi, col) in tile_rows(t0, t1, tw) {
            let n = hi - lo;
            for r in 0..2 {
                let oy = 2 * ty + r;
                if oy >= p.ho {
                    break;
                }
                let pt = |c: usize| &m[(4 * r + c) * len + co * k + col..][..n];
                let (left, right) = (pt(0), pt(1));
                let row = &mut yc[oy * p.wo..][2 * lo..p.wo.min(2 * hi)];
                let mut pairs = row.chunks_exact_mut(2);
                for ((d, &a), &c) in (&mut pairs).zip(left).zip(right) {
                    d[0].write(a + b);
                    d[1].write(c + b);
                }
                if let [last] = pairs.into_remainder() {
                    last.write(left[n - 1] + b);
                }
            }
        }
    }
}

/// Whether the AVX-512 transforms run: the level in effect is AVX-512 (which the CPU
/// then has). At AVX2 the AVX2 ones run; below it (or for f64) the portable loops.
fn avx512_transforms() -> bool {
    cfg!(target_arch = "x86_64") && capability() == Capability::Avx512
}

/// Whether the input transform of `T` reads the image itself: `f32` at AVX2 or above,
/// where the vector transforms run (their masked loads supply the plane's zeros).
fn direct_input<T: 'static>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
        && cfg!(target_arch = "x86_64")
        && capability() >= Capability::Avx2
}

/// `s` as `f32`s when `T` is `f32` and the vector transforms (AVX2 or AVX-512) can run.
fn as_f32<T: 'static>(s: &[T]) -> Option<&[f32]> {
    // SAFETY: `T` is `f32`.
    direct_input::<T>().then(|| unsafe { &*(s as *const [T] as *const [f32]) })
}

/// `s` as `f32`s, `T` being `f32` (checked).
pub(super) fn f32_view<T: 'static>(s: &[T]) -> &[f32] {
    assert!(std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>());
    // SAFETY: `T` is `f32`.
    unsafe { &*(s as *const [T] as *const [f32]) }
}

/// [`f32_view`] of a mutable slice.
pub(super) fn f32_view_mut<T: 'static>(s: &mut [T]) -> &mut [f32] {
    assert!(std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>());
    // SAFETY: `T` is `f32`.
    unsafe { &mut *(s as *mut [T] as *mut [f32]) }
}

/// [`as_f32`] of a slice of outputs not yet written.
fn as_f32_uninit<T: 'static>(s: &mut [MaybeUninit<T>]) -> Option<&mut [MaybeUninit<f32>]> {
    // SAFETY: `T` is `f32`, and `MaybeUninit` keeps its layout.
    direct_input::<T>()
        .then(|| unsafe { &mut *(s as *mut [MaybeUninit<T>] as *mut [MaybeUninit<f32>]) })
}

/// The f32 transforms on AVX-512, one tile row segment at a time, its tiles in the
/// lanes: a tile row is too short (12 tiles for the MNIST example) for the portable
/// loops' vector steps, and its columns must be split into even and odd ones, which
/// two-source permutes do in registers.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// The low `n` lanes (of 16).
    fn mask(n: usize) -> __mmask16 {
        if n >= 16 { 0xffff } else { (1u16 << n) - 1 }
    }

    /// The lanes `l < count` whose column `first + l` lies in `0..w`.
    fn window_mask(first: isize, count: usize, w: usize) -> __mmask16 {
        let lo = (-first).clamp(0, 16) as usize;
        let hi = (w as isize - first).clamp(0, count.min(16) as isize) as usize;
        if hi <= lo { 0 } else { mask(hi) & !mask(lo) }
    }

    /// `V = Bᵀ d B` of `n` tiles of four rows `src[r]` (whole image rows, `None` for rows
    /// of zeros above or below the image) whose first tile starts at column `first` (< 0
    /// or past the row's end where the plane's zeros are): point `q` of tile `j` goes to
    /// `dst[q] + j`. Columns outside the row are masked off, never read.
    ///
    /// # Safety
    /// AVX-512F must be available and every `dst[q]` writable for `n`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn input_tiles(
        src: [Option<&[f32]>; 4],
        first: isize,
        n: usize,
        dst: [*mut f32; 16],
    ) {
        // Columns 2j + c of the tile row for lanes j, from the two vectors of 32 columns.
        let idx: [__m512i; 4] = std::array::from_fn(|c| {
            let c = c as i32;
            _mm512_setr_epi32(
                c,
                c + 2,
                c + 4,
                c + 6,
                c + 8,
                c + 10,
                c + 12,
                c + 14,
                c + 16,
                c + 18,
                c + 20,
                c + 22,
                c + 24,
                c + 26,
                c + 28,
                c + 30,
            )
        });
        let mut j = 0;
        while j < n {
            // 15 tiles a step: their 32 columns fill the two vectors.
            let nn = (n - j).min(15);
            let cnt = 2 * nn + 2;
            let start = first + 2 * j as isize;
            let mut d = [[_mm512_setzero_ps(); 4]; 4];
            for (row, src) in d.iter_mut().zip(src) {
                let Some(src) = src else { continue };
                let w = src.len();
                let m0 = window_mask(start, cnt, w);
                let m1 = window_mask(start + 16, cnt.saturating_sub(16), w);
                let p = src.as_ptr().wrapping_offset(start);
                // SAFETY: a lane is loaded only when its column is inside `src`.
                let (lo, hi) = unsafe {
                    (
                        _mm512_maskz_loadu_ps(m0, p),
                        _mm512_maskz_loadu_ps(m1, p.wrapping_add(16)),
                    )
                };
                for (c, x) in row.iter_mut().enumerate() {
                    *x = _mm512_permutex2var_ps(lo, idx[c], hi);
                }
            }
            let bt = |[a, b, c, e]: [__m512; 4]| {
                [
                    _mm512_sub_ps(a, c),
                    _mm512_add_ps(b, c),
                    _mm512_sub_ps(c, b),
                    _mm512_sub_ps(b, e),
                ]
            };
            let down: [[__m512; 4]; 4] = {
                let cols: [[__m512; 4]; 4] =
                    std::array::from_fn(|c| bt([d[0][c], d[1][c], d[2][c], d[3][c]]));
                std::array::from_fn(|r| std::array::from_fn(|c| cols[c][r]))
            };
            let sm = mask(nn);
            for (r, row) in down.into_iter().enumerate() {
                for (c, x) in bt(row).into_iter().enumerate() {
                    // SAFETY: the caller's bounds; masked-off lanes are not written.
                    unsafe { _mm512_mask_storeu_ps(dst[4 * r + c].wrapping_add(j), sm, x) };
                }
            }
            j += nn;
        }
    }

    /// `Y = Aᵀ M A + bias` of `n` tiles whose point `q` is at `src[q] + j` (tile `j`),
    /// written to the first `cols` columns of `rows[0]` and, when `two`, `rows[1]`.
    ///
    /// # Safety
    /// AVX-512F must be available, every `src[q]` readable for `n` elements, the rows
    /// writable for `cols <= 2 n` (the second only when `two`).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn output_tiles(
        src: [*const f32; 16],
        n: usize,
        bias: f32,
        rows: [*mut f32; 2],
        cols: usize,
        two: bool,
    ) {
        let b = _mm512_set1_ps(bias);
        let lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        let hi_idx =
            _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        let at = |[a, c, d, e]: [__m512; 4]| {
            [
                _mm512_add_ps(_mm512_add_ps(a, c), d),
                _mm512_sub_ps(_mm512_sub_ps(c, d), e),
            ]
        };
        let mut j = 0;
        while j < n {
            let nn = (n - j).min(16);
            let lm = mask(nn);
            // SAFETY: the caller's bounds; masked-off lanes are not read.
            let m: [__m512; 16] = std::array::from_fn(|q| unsafe {
                _mm512_maskz_loadu_ps(lm, src[q].wrapping_add(j))
            });
            let cols4: [[__m512; 2]; 4] =
                std::array::from_fn(|c| at([m[c], m[4 + c], m[8 + c], m[12 + c]]));
            let left = cols - 2 * j;
            let (m0, m1) = (mask(left), mask(left.saturating_sub(16)));
            for (r, &row) in rows.iter().enumerate().take(if two { 2 } else { 1 }) {
                let [e, o] = at([cols4[0][r], cols4[1][r], cols4[2][r], cols4[3][r]]);
                let (e, o) = (_mm512_add_ps(e, b), _mm512_add_ps(o, b));
                let p = row.wrapping_add(2 * j);
                // SAFETY: the caller's bounds; masked-off lanes are not written.
                unsafe {
                    _mm512_mask_storeu_ps(p, m0, _mm512_permutex2var_ps(e, lo_idx, o));
                    _mm512_mask_storeu_ps(
                        p.wrapping_add(16),
                        m1,
                        _mm512_permutex2var_ps(e, hi_idx, o),
                    );
                }
            }
            j += nn;
        }
    }
}
