//! A register-blocked product for the convolution kernels, on AVX-512 or AVX2+FMA:
//! `C (+)= A·B` where `B` and `C` have unit column stride (rows of contiguous
//! elements) and `A` is any strided matrix.
//!
//! Why not the `gemm` crate here: a convolution's products are many small ones (one
//! per image and column block, e.g. 64x576x288 for the MNIST example's second layer),
//! and the crate packs both operands on every call. Here nothing is packed: the column
//! matrix that im2col writes already is a row-major `B`, the weight (or its transpose)
//! is read as broadcast scalars, and an `MR x (NV * lanes)` block of `C` stays in
//! registers over a chunk of `KC` rows of `B` (which stays in L1 for all the row blocks
//! of `A`). The loops are written once (`conv_gemm/kernel.rs`) and instantiated per
//! instruction set with its register blocks (`avx512.rs`: 8 x 3 zmm, `avx2.rs`: 6 x 2
//! ymm); the level in effect picks one per call. Without AVX2 ([`available`] false) the
//! callers use the crate.

use super::simd::{Capability, capability, detected};
use std::mem::MaybeUninit;

#[macro_use]
mod kernel;
#[cfg(target_arch = "x86_64")]
pub(super) mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(test)]
pub(super) mod tests;

/// Whether [`RowGemm::gemm_rows`] can run: the CPU has AVX2 and FMA (or AVX-512) and the
/// level is not capped below AVX2.
pub fn available() -> bool {
    cfg!(target_arch = "x86_64") && capability() >= Capability::Avx2
}

/// The element types with a register-blocked kernel (`f32`, `f64`).
pub trait RowGemm: Copy + Default + 'static {
    /// `C (+)= A·B` for an `m x k` `A` (element `(i, p)` at `a[i * a_s[0] + p * a_s[1]]`),
    /// a `k x n` `B` (element `(p, j)` at `b[p * b_rs + j]`) and an `m x n` `C` (element
    /// `(i, j)` at `c[i * c_rs + j]`); accumulates into `C` when `acc`, otherwise
    /// overwrites it (zeros when `k == 0`).
    ///
    /// # Panics
    /// If the CPU has no AVX2 and FMA, or a slice is too short for its shape and strides
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

/// Rows of `B` per chunk (kept in L1 while all row blocks of `A` pass over it).
const KC: usize = 128;

/// The kernel for the level in effect: AVX-512 at that level, else AVX2 (also when the
/// level was capped below AVX2 after a caller's [`available`]; the CPU still has it).
fn kernel_now() -> Capability {
    if capability() == Capability::Avx512 {
        Capability::Avx512
    } else {
        Capability::Avx2
    }
}

/// The element types' kernels, by instruction set.
trait Kernels: Sized {
    /// Runs the `kernel` (AVX-512 or AVX2) instantiation of the blocked loops.
    ///
    /// # Safety
    /// The CPU must have `kernel`'s features and the operands (tables included) must be
    /// in bounds for the shape, `c` writable and not aliased.
    #[allow(clippy::too_many_arguments)]
    unsafe fn run(
        kernel: Capability,
        m: usize,
        n: usize,
        k: usize,
        a: *const Self,
        a_rows: RawRows,
        acs: usize,
        b: *const Self,
        b_rows: RawRows,
        c: *mut Self,
        c_rs: usize,
        acc: bool,
    );
}

macro_rules! kernels_for {
    ($t:ty, $module:ident) => {
        impl Kernels for $t {
            unsafe fn run(
                kernel: Capability,
                m: usize,
                n: usize,
                k: usize,
                a: *const Self,
                a_rows: RawRows,
                acs: usize,
                b: *const Self,
                b_rows: RawRows,
                c: *mut Self,
                c_rs: usize,
                acc: bool,
            ) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the caller's conditions, which are the kernels'.
                unsafe {
                    if kernel == Capability::Avx512 {
                        avx512::$module::gemm(m, n, k, a, a_rows, acs, b, b_rows, c, c_rs, acc)
                    } else {
                        avx2::$module::gemm(m, n, k, a, a_rows, acs, b, b_rows, c, c_rs, acc)
                    }
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let _ = (kernel, m, n, k, a, a_rows, acs, b, b_rows, c, c_rs, acc);
                    unreachable!("conv gemm: no kernel on this architecture");
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
                gemm_with(
                    kernel_now(),
                    m,
                    n,
                    k,
                    a,
                    a_rows,
                    acs,
                    b,
                    b_rows,
                    c,
                    c_rs,
                    acc,
                )
            }
        }
    };
}

kernels_for!(f32, ps);
kernels_for!(f64, pd);

/// [`RowGemm::gemm_indirect`] on the `kernel` (AVX-512 or AVX2) instantiation, whatever
/// the level in effect (the tests run both).
///
/// # Panics
/// If the CPU lacks `kernel`'s features, or as [`RowGemm::gemm_indirect`].
#[allow(clippy::too_many_arguments)]
fn gemm_with<T: Kernels>(
    kernel: Capability,
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    a_rows: Rows<'_>,
    acs: usize,
    b: &[T],
    b_rows: Rows<'_>,
    c: &mut [T],
    c_rs: usize,
    acc: bool,
) {
    // The safety condition is the CPU's, not the current cap: the cap may be lowered
    // (`set_capability`) between a caller's `available()` and here.
    assert!(
        cfg!(target_arch = "x86_64") && kernel >= Capability::Avx2 && detected() >= kernel,
        "conv gemm: needs {} (the CPU has {})",
        kernel.name(),
        detected().name()
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
    // SAFETY: the CPU has the kernel's features (asserted) and the three operands (and
    // their offset tables) were checked to fit; `c` is exclusively borrowed.
    unsafe {
        T::run(
            kernel,
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
