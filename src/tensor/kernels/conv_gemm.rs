//! A register-blocked AVX-512 product for the convolution kernels:
//! `C (+)= A·B` where `B` and `C` have unit column stride (rows of contiguous
//! elements) and `A` is any strided matrix.
//!
//! Why not the `gemm` crate here: a convolution's products are many small ones (one
//! per image and column block, e.g. 64x576x288 for the MNIST example's second layer),
//! and the crate packs both operands on every call. Here nothing is packed: the column
//! matrix that im2col writes already is a row-major `B`, the weight (or its transpose)
//! is read as broadcast scalars, and an `MR x (NV*16)` block of `C` stays in registers
//! over a chunk of `KC` rows of `B` (which stays in L1 for all the row blocks of `A`).
//! Only the AVX-512 path exists ([`available`]); elsewhere the callers use the crate.

use super::simd::{Capability, capability, detected};
use std::mem::MaybeUninit;

/// Whether [`gemm_rows`] can run: the CPU has AVX-512 and the level is not capped below.
pub fn available() -> bool {
    cfg!(target_arch = "x86_64") && capability() == Capability::Avx512
}

/// The element types with a register-blocked kernel (`f32`, `f64`).
pub trait RowGemm: Copy + Default + 'static {
    /// `C (+)= A·B` for an `m x k` `A` (element `(i, p)` at `a[i * a_s[0] + p * a_s[1]]`),
    /// a `k x n` `B` (element `(p, j)` at `b[p * b_rs + j]`) and an `m x n` `C` (element
    /// `(i, j)` at `c[i * c_rs + j]`); accumulates into `C` when `acc`, otherwise
    /// overwrites it (zeros when `k == 0`).
    ///
    /// # Panics
    /// If [`available`] is false, or a slice is too short for its shape and strides
    /// (negative strides are not supported).
    #[allow(clippy::too_many_arguments)]
    fn gemm_rows(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        a_s: [usize; 2],
        b: &[Self],
        b_rs: usize,
        c: &mut [Self],
        c_rs: usize,
        acc: bool,
    );

    /// [`RowGemm::gemm_rows`] with rows found through [`Rows`]: row `i` of `A` starts at
    /// `a[a_rows(i)]` (its elements `acs` apart) and row `p` of `B` at `b[b_rows(p)]`
    /// (contiguous). Offset tables let a convolution read shifted windows of an image
    /// as the rows of its column matrix without writing that matrix (see `conv_direct`).
    ///
    /// # Panics
    /// As [`RowGemm::gemm_rows`], and if a table is shorter than its operand's rows.
    #[allow(clippy::too_many_arguments)]
    fn gemm_indirect(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        a_rows: Rows<'_>,
        acs: usize,
        b: &[Self],
        b_rows: Rows<'_>,
        c: &mut [Self],
        c_rs: usize,
        acc: bool,
    );
}

/// Where the rows of an operand start: a fixed stride, or a table of offsets.
#[derive(Clone, Copy, Debug)]
pub enum Rows<'a> {
    /// Row `i` starts at `i * stride`.
    Stride(usize),
    /// Row `i` starts at `offsets[i]`.
    Offsets(&'a [usize]),
}

impl Rows<'_> {
    /// Panics unless `rows` rows of `span` elements (`step` apart inside a row) fit in
    /// `len`.
    fn check(&self, what: &str, len: usize, rows: usize, span: usize, step: usize) {
        if rows == 0 || span == 0 {
            return;
        }
        let last = match *self {
            Rows::Stride(s) => (rows - 1) * s,
            Rows::Offsets(t) => {
                assert!(
                    t.len() >= rows,
                    "conv gemm: {what} has {rows} rows but {} offsets",
                    t.len()
                );
                t[..rows].iter().copied().max().unwrap_or(0)
            }
        } + (span - 1) * step;
        assert!(
            last < len,
            "conv gemm: {what} needs index {last}, but its slice has length {len}"
        );
    }

    fn raw(&self) -> RawRows {
        match *self {
            Rows::Stride(s) => RawRows::Stride(s),
            Rows::Offsets(t) => RawRows::Offsets(t.as_ptr()),
        }
    }
}

/// [`Rows`] after the bounds check, for the unsafe kernels.
#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum RawRows {
    Stride(usize),
    Offsets(*const usize),
}

impl RawRows {
    /// The start of row `i`.
    ///
    /// # Safety
    /// A table must hold at least `i + 1` offsets.
    #[inline(always)]
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    unsafe fn at(self, i: usize) -> usize {
        match self {
            RawRows::Stride(s) => i * s,
            // SAFETY: the caller's bound.
            RawRows::Offsets(t) => unsafe { *t.add(i) },
        }
    }
}

/// Panics unless every element a `rows x cols` matrix with strides `(rs, cs)` addresses
/// is inside `0..len`.
fn fits(what: &str, len: usize, rows: usize, cols: usize, rs: usize, cs: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    let last = (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        last < len,
        "conv gemm: {what} is {rows}x{cols} with strides ({rs}, {cs}), needing index {last}, but its slice has length {len}"
    );
}

/// Columns of `C` per register block: `NV` vectors.
const NV_WIDE: usize = 3;
/// Rows of `C` per register block with [`NV_WIDE`] vectors (8 x 3 = 24 accumulators).
const MR_WIDE: usize = 8;
/// The block for `n` a multiple of four vectors but not of three (e.g. 64 columns):
/// 6 x 4 = 24 accumulators.
const NV_SQ: usize = 4;
const MR_SQ: usize = 6;
/// Rows of `B` per chunk (kept in L1 while all row blocks of `A` pass over it).
const KC: usize = 128;

/// Calls `tile::<mi, nv>` for runtime `mi` (1..=8) and `nv` (1..=4).
macro_rules! call_tile {
    (@m $mi:expr, $nv:expr, $args:tt, $($m:literal)*) => {
        match $mi {
            $($m => call_tile!(@n $m, $nv, $args),)*
            _ => unreachable!("conv gemm: row block"),
        }
    };
    (@n $m:literal, $nv:expr, [$ib:expr, $($arg:expr),*]) => {
        match ($nv, $ib) {
            (1, false) => tile::<$m, 1, false>($($arg),*),
            (2, false) => tile::<$m, 2, false>($($arg),*),
            (3, false) => tile::<$m, 3, false>($($arg),*),
            (4, false) if $m <= 6 => tile::<$m, 4, false>($($arg),*),
            (1, true) => tile::<$m, 1, true>($($arg),*),
            (2, true) => tile::<$m, 2, true>($($arg),*),
            (3, true) => tile::<$m, 3, true>($($arg),*),
            (4, true) if $m <= 6 => tile::<$m, 4, true>($($arg),*),
            _ => unreachable!("conv gemm: column block"),
        }
    };
    ($mi:expr, $nv:expr, $($arg:expr),*) => {
        call_tile!(@m $mi, $nv, [$($arg),*], 1 2 3 4 5 6 7 8)
    };
}

macro_rules! row_gemm_impl {
    ($modname:ident, $t:ty, $lanes:expr, $v:ty, $mask:ty,
     $zero:ident, $set1:ident, $fmadd:ident, $loadu:ident, $storeu:ident,
     $mloadz:ident, $mstore:ident) => {
        #[cfg(target_arch = "x86_64")]
        mod $modname {
            use std::arch::x86_64::*;

            /// Lanes per vector.
            pub(super) const L: usize = $lanes;

            /// One `MR x NV` block of `C` over `kc` rows of `B`; the last vector of each
            /// row is masked by `last`. Row `i` of the block's `A` starts at `arow[i]`
            /// (elements `acs` apart); row `p` of `B` at `b + boff[p]` when `IB`, else at
            /// `b + p * brs`.
            ///
            /// # Safety
            /// AVX-512F must be available, and every addressed element (`MR` rows of `A`
            /// over `kc` columns, `kc` rows of `B` and `MR` rows of `C` over the unmasked
            /// lanes of `NV` vectors) must be in bounds.
            #[inline]
            #[target_feature(enable = "avx512f")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn tile<const MR: usize, const NV: usize, const IB: bool>(
                kc: usize,
                arow: &[*const $t; 8],
                acs: usize,
                b: *const $t,
                brs: usize,
                boff: *const usize,
                c: *mut $t,
                crs: usize,
                last: $mask,
                load: bool,
            ) {
                // SAFETY: the caller guarantees the bounds; masked lanes are not accessed.
                unsafe {
                    let mut acc: [[$v; NV]; MR] = [[$zero(); NV]; MR];
                    if load {
                        for i in 0..MR {
                            let row = c.add(i * crs);
                            for v in 0..NV {
                                acc[i][v] = if v + 1 == NV {
                                    $mloadz(last, row.add(v * L))
                                } else {
                                    $loadu(row.add(v * L))
                                };
                            }
                        }
                    }
                    let mut ap = *arow;
                    let mut bp = b;
                    for p in 0..kc {
                        if IB {
                            bp = b.add(*boff.add(p));
                        }
                        let mut bv: [$v; NV] = [$zero(); NV];
                        for v in 0..NV {
                            bv[v] = if v + 1 == NV {
                                $mloadz(last, bp.add(v * L))
                            } else {
                                $loadu(bp.add(v * L))
                            };
                        }
                        for i in 0..MR {
                            let av = $set1(*ap[i]);
                            for v in 0..NV {
                                acc[i][v] = $fmadd(av, bv[v], acc[i][v]);
                            }
                            ap[i] = ap[i].wrapping_add(acs);
                        }
                        if !IB {
                            bp = bp.wrapping_add(brs);
                        }
                    }
                    for i in 0..MR {
                        let row = c.add(i * crs);
                        for v in 0..NV {
                            if v + 1 == NV {
                                $mstore(row.add(v * L), last, acc[i][v]);
                            } else {
                                $storeu(row.add(v * L), acc[i][v]);
                            }
                        }
                    }
                }
            }

            /// The blocked loops over `C`.
            ///
            /// # Safety
            /// AVX-512F must be available and the operands in bounds (checked by the
            /// caller for the whole product, tables included).
            #[target_feature(enable = "avx512f")]
            #[allow(clippy::too_many_arguments)]
            pub(super) unsafe fn gemm(
                m: usize,
                n: usize,
                k: usize,
                a: *const $t,
                a_rows: super::RawRows,
                acs: usize,
                b: *const $t,
                b_rows: super::RawRows,
                c: *mut $t,
                crs: usize,
                acc: bool,
            ) {
                let (mr, nvmax) = if n % (super::NV_SQ * L) == 0 && n % (super::NV_WIDE * L) != 0 {
                    (super::MR_SQ, super::NV_SQ)
                } else {
                    (super::MR_WIDE, super::NV_WIDE)
                };
                let nr = nvmax * L;
                let chunks = k.div_ceil(super::KC).max(1);
                let kc_len = k.div_ceil(chunks);
                let (ib, brs, boff) = match b_rows {
                    super::RawRows::Stride(s) => (false, s, std::ptr::null()),
                    super::RawRows::Offsets(t) => (true, 0, t),
                };
                // SAFETY: every block below stays inside the `m x n` / `m x k` / `k x n`
                // operands, which the caller checked.
                unsafe {
                    for j0 in (0..n).step_by(nr) {
                        let nj = nr.min(n - j0);
                        let nv = nj.div_ceil(L);
                        let tail = nj - (nv - 1) * L;
                        let last = (((1u32 << tail) - 1) & 0xffff) as $mask;
                        let last = if tail == L { !0 } else { last };
                        if k == 0 {
                            if !acc {
                                for i in 0..m {
                                    std::ptr::write_bytes(c.add(i * crs + j0), 0, nj);
                                }
                            }
                            continue;
                        }
                        let mut k0 = 0;
                        while k0 < k {
                            let kc = kc_len.min(k - k0);
                            let load = acc || k0 > 0;
                            let (bk, bo) = if ib {
                                (b.add(j0), boff.add(k0))
                            } else {
                                (b.add(k0 * brs + j0), boff)
                            };
                            let mut i0 = 0;
                            while i0 < m {
                                let mi = mr.min(m - i0);
                                let mut arow = [a; 8];
                                for (i, r) in arow.iter_mut().enumerate().take(mi) {
                                    *r = a.add(a_rows.at(i0 + i) + k0 * acs);
                                }
                                call_tile!(
                                    mi,
                                    nv,
                                    ib,
                                    kc,
                                    &arow,
                                    acs,
                                    bk,
                                    brs,
                                    bo,
                                    c.add(i0 * crs + j0),
                                    crs,
                                    last,
                                    load
                                );
                                i0 += mi;
                            }
                            k0 += kc;
                        }
                    }
                }
            }
        }

        impl RowGemm for $t {
            fn gemm_rows(
                m: usize,
                n: usize,
                k: usize,
                a: &[Self],
                a_s: [usize; 2],
                b: &[Self],
                b_rs: usize,
                c: &mut [Self],
                c_rs: usize,
                acc: bool,
            ) {
                let (ar, br) = (Rows::Stride(a_s[0]), Rows::Stride(b_rs));
                Self::gemm_indirect(m, n, k, a, ar, a_s[1], b, br, c, c_rs, acc)
            }

            fn gemm_indirect(
                m: usize,
                n: usize,
                k: usize,
                a: &[Self],
                a_rows: Rows<'_>,
                acs: usize,
                b: &[Self],
                b_rows: Rows<'_>,
                c: &mut [Self],
                c_rs: usize,
                acc: bool,
            ) {
                // The safety condition is the CPU's, not the current cap: the cap may be
                // lowered (`set_capability`) between a caller's `available()` and here.
                assert!(
                    cfg!(target_arch = "x86_64") && detected() == Capability::Avx512,
                    "conv gemm: needs AVX-512"
                );
                if m == 0 || n == 0 {
                    return;
                }
                a_rows.check("A", a.len(), m, k, acs);
                b_rows.check("B", b.len(), k, n, 1);
                fits("C", c.len(), m, n, c_rs, 1);
                assert!(
                    m <= 1 || c_rs >= n,
                    "conv gemm: C rows of {n} overlap with row stride {c_rs}"
                );
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU has AVX-512 (asserted) and the three operands (and
                // their offset tables) were checked to fit; `c` is exclusively borrowed.
                unsafe {
                    $modname::gemm(
                        m,
                        n,
                        k,
                        a.as_ptr(),
                        a_rows.raw(),
                        acs,
                        b.as_ptr(),
                        b_rows.raw(),
                        c.as_mut_ptr(),
                        c_rs,
                        acc,
                    )
                }
            }
        }
    };
}

row_gemm_impl!(
    f32_avx512,
    f32,
    16,
    __m512,
    __mmask16,
    _mm512_setzero_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_maskz_loadu_ps,
    _mm512_mask_storeu_ps
);
row_gemm_impl!(
    f64_avx512,
    f64,
    8,
    __m512d,
    __mmask8,
    _mm512_setzero_pd,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_maskz_loadu_pd,
    _mm512_mask_storeu_pd
);

/// `dst[j * rows + i] = src[i * src_rs + j]` for an `rows x cols` block of `src`:
/// the transpose, contiguous, in 8 x 8 tiles so both sides stay in cache lines. `f32`
/// tiles go through AVX registers where the CPU has them (24 shuffles for 64 elements
/// instead of 64 scalar moves; the weight gradient transposes its output gradient once
/// per image, which measured 7% of the MNIST CNN's epoch done element by element).
pub fn transpose<T: Copy + 'static>(
    src: &[T],
    rows: usize,
    cols: usize,
    src_rs: usize,
    dst: &mut [T],
) {
    // SAFETY: `MaybeUninit<T>` has `T`'s layout, and `transpose_uninit` only writes
    // initialised values, so `dst` stays initialised.
    let dst = unsafe {
        std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<MaybeUninit<T>>(), dst.len())
    };
    transpose_uninit(src, rows, cols, src_rs, dst);
}

/// [`transpose`] into possibly uninitialised memory (every element of
/// `dst[..rows * cols]` is written).
pub fn transpose_uninit<T: Copy + 'static>(
    src: &[T],
    rows: usize,
    cols: usize,
    src_rs: usize,
    dst: &mut [MaybeUninit<T>],
) {
    const B: usize = 8;
    const JB: usize = 64;
    fits("transpose source", src.len(), rows, cols, src_rs, 1);
    assert!(
        dst.len() >= rows * cols,
        "conv transpose: destination too short"
    );
    #[cfg(target_arch = "x86_64")]
    let wide = std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
        && detected() >= Capability::Avx2;
    #[cfg(not(target_arch = "x86_64"))]
    let wide = false;
    // Column bands of 64 keep the destination rows being written (64 of `rows`
    // elements) in cache while every row of the source passes: without them, a tall
    // destination (fc1's 9216 x 128) is written 8 elements per line per pass.
    for jb in (0..cols).step_by(JB) {
        for i0 in (0..rows).step_by(B) {
            let i1 = (i0 + B).min(rows);
            for j0 in (jb..(jb + JB).min(cols)).step_by(B) {
                let j1 = (j0 + B).min(cols);
                #[cfg(target_arch = "x86_64")]
                if wide && i1 - i0 == B && j1 - j0 == B {
                    // SAFETY: T is f32 (same TypeId); the 8 x 8 tile's source rows
                    // `i0..i0 + 8` over columns `j0..j0 + 8` were checked to fit by `fits`,
                    // its destination rows `j0..j0 + 8` over `i0..i0 + 8` by the length
                    // assert; the CPU has AVX.
                    unsafe {
                        tile8_f32(
                            src.as_ptr().add(i0 * src_rs + j0).cast(),
                            src_rs,
                            dst.as_mut_ptr().add(j0 * rows + i0).cast(),
                            rows,
                        );
                    }
                    continue;
                }
                for i in i0..i1 {
                    let s = &src[i * src_rs..];
                    for j in j0..j1 {
                        dst[j * rows + i] = MaybeUninit::new(s[j]);
                    }
                }
            }
        }
    }
}

/// Transposes the 8 x 8 `f32` tile at `src` (rows `srs` apart) into `dst` (rows `drs`
/// apart): unpack pairs, shuffle quads, swap 128-bit halves.
///
/// # Safety
/// AVX must be available and both tiles in bounds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn tile8_f32(src: *const f32, srs: usize, dst: *mut f32, drs: usize) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's bounds.
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * srs)));
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let o = [
            _mm256_permute2f128_ps::<0x20>(s0, s4),
            _mm256_permute2f128_ps::<0x20>(s1, s5),
            _mm256_permute2f128_ps::<0x20>(s2, s6),
            _mm256_permute2f128_ps::<0x20>(s3, s7),
            _mm256_permute2f128_ps::<0x31>(s0, s4),
            _mm256_permute2f128_ps::<0x31>(s1, s5),
            _mm256_permute2f128_ps::<0x31>(s2, s6),
            _mm256_permute2f128_ps::<0x31>(s3, s7),
        ];
        for (i, v) in o.into_iter().enumerate() {
            _mm256_storeu_ps(dst.add(i * drs), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(
        m: usize,
        n: usize,
        k: usize,
        a: &[f64],
        a_s: [usize; 2],
        b: &[f64],
        brs: usize,
    ) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += a[i * a_s[0] + p * a_s[1]] * b[p * brs + j];
                }
            }
        }
        c
    }

    /// Every tail of rows, columns and chunks, both block shapes, both strides of `A`,
    /// overwrite and accumulate, f32 and f64, against the definition (small integers,
    /// so the sums are exact in both types).
    #[test]
    fn matches_the_definition_for_every_block_tail() {
        if !available() {
            return;
        }
        for &(m, n, k) in &[
            (1, 1, 1),
            (3, 5, 2),
            (8, 48, 7),
            (9, 49, 130),
            (17, 64, 257),
            (6, 64, 0),
            (13, 33, 300),
            (64, 128, 3),
            (7, 17, 129),
        ] {
            for trans in [false, true] {
                let a_s = if trans { [1, m] } else { [k, 1] };
                let a: Vec<f64> = (0..m * k).map(|i| ((i * 7) % 5) as f64 - 2.0).collect();
                let brs = n + 3;
                let b: Vec<f64> = (0..k * brs).map(|i| ((i * 3) % 7) as f64 - 3.0).collect();
                let want = naive(m, n, k, &a, a_s, &b, brs);
                let crs = n + 1;
                for acc in [false, true] {
                    let mut c = vec![1.0; m * crs];
                    f64::gemm_rows(m, n, k, &a, a_s, &b, brs, &mut c, crs, acc);
                    let af: Vec<f32> = a.iter().map(|&v| v as f32).collect();
                    let bf: Vec<f32> = b.iter().map(|&v| v as f32).collect();
                    let mut cf = vec![1.0f32; m * crs];
                    f32::gemm_rows(m, n, k, &af, a_s, &bf, brs, &mut cf, crs, acc);
                    for i in 0..m {
                        for j in 0..crs {
                            let w = if j < n {
                                want[i * n + j] + if acc { 1.0 } else { 0.0 }
                            } else {
                                1.0 // the gap between rows is not touched
                            };
                            assert_eq!(c[i * crs + j], w, "f64 {m} {n} {k} {trans} {acc}");
                            assert_eq!(cf[i * crs + j] as f64, w, "f32 {m} {n} {k} {trans} {acc}");
                        }
                    }
                }
            }
        }
    }

    /// Offset tables for either operand give the product of the rows they name, for
    /// both block shapes and every tail (rows of `A` and `B` taken out of order and
    /// overlapping, as a convolution's shifted windows overlap).
    #[test]
    fn offset_tables_address_the_rows_they_name() {
        if !available() {
            return;
        }
        for &(m, n, k) in &[
            (1, 1, 1),
            (9, 49, 130),
            (13, 64, 257),
            (6, 33, 5),
            (288, 64, 40),
        ] {
            let src: Vec<f64> = (0..4000).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
            let a_off: Vec<usize> = (0..m).map(|i| (i * 37) % (4000 - k)).collect();
            let b_off: Vec<usize> = (0..k).map(|p| (p * 53 + 11) % (4000 - n)).collect();
            // The same operands written out densely.
            let a: Vec<f64> = (0..m * k).map(|x| src[a_off[x / k] + x % k]).collect();
            let b: Vec<f64> = (0..k * n).map(|x| src[b_off[x / n] + x % n]).collect();
            let want = naive(m, n, k, &a, [k, 1], &b, n);
            let mut c = vec![0.0; m * n];
            let (ra, rb) = (Rows::Offsets(&a_off), Rows::Offsets(&b_off));
            f64::gemm_indirect(m, n, k, &src, ra, 1, &b, Rows::Stride(n), &mut c, n, false);
            assert_eq!(c, want, "A by offsets {m} {n} {k}");
            f64::gemm_indirect(m, n, k, &a, Rows::Stride(k), 1, &src, rb, &mut c, n, false);
            assert_eq!(c, want, "B by offsets {m} {n} {k}");
            let srcf: Vec<f32> = src.iter().map(|&v| v as f32).collect();
            let mut cf = vec![0.0f32; m * n];
            f32::gemm_indirect(m, n, k, &srcf, ra, 1, &srcf, rb, &mut cf, n, false);
            let cf: Vec<f64> = cf.iter().map(|&v| v as f64).collect();
            assert_eq!(cf, want, "both by offsets, f32 {m} {n} {k}");
        }
    }

    #[test]
    #[should_panic(expected = "conv gemm: B needs index")]
    fn an_offset_past_the_end_panics() {
        if !available() {
            panic!("conv gemm: B needs index (no AVX-512 here)");
        }
        let src = vec![0.0f32; 100];
        let mut c = vec![0.0f32; 4];
        let off = [0, 99];
        f32::gemm_indirect(
            2,
            2,
            2,
            &src,
            Rows::Stride(2),
            1,
            &src,
            Rows::Offsets(&off),
            &mut c,
            2,
            false,
        );
    }

    /// f32 blocks take the 8 x 8 register tiles where whole tiles fit and the scalar
    /// loop at the edges; every element lands in its place.
    #[test]
    fn f32_transpose_with_whole_and_partial_tiles() {
        for (rows, cols, rs) in [
            (8, 8, 8),
            (16, 24, 30),
            (19, 13, 13),
            (64, 576, 676),
            (3, 70, 70),
        ] {
            let src: Vec<f32> = (0..rows * rs).map(|i| i as f32).collect();
            let mut dst = vec![-1.0f32; rows * cols];
            transpose(&src, rows, cols, rs, &mut dst);
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(
                        dst[j * rows + i],
                        src[i * rs + j],
                        "{rows}x{cols} ({i}, {j})"
                    );
                }
            }
        }
    }

    #[test]
    fn transpose_of_a_strided_block() {
        let src: Vec<u32> = (0..11 * 20).collect();
        let (rows, cols) = (11, 17);
        let mut dst = vec![0; rows * cols];
        transpose(&src, rows, cols, 20, &mut dst);
        for i in 0..rows {
            for j in 0..cols {
                assert_eq!(dst[j * rows + i], src[i * 20 + j]);
            }
        }
    }
}
