//! Unit tests of the register-blocked kernels (each instruction set the CPU has, called
//! directly, so no test depends on the global level) and of the transposes.

use super::*;

/// The kernels this CPU runs: AVX2, and AVX-512 where it has it.
fn kernels() -> Vec<Capability> {
    [Capability::Avx2, Capability::Avx512]
        .into_iter()
        .filter(|&k| cfg!(target_arch = "x86_64") && detected() >= k)
        .collect()
}

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

/// Every tail of rows, columns and chunks, every block shape of both kernels, both
/// strides of `A`, overwrite and accumulate, f32 and f64, against the definition (small
/// integers, so the sums are exact in both types).
#[test]
fn matches_the_definition_for_every_block_tail() {
    for kernel in kernels() {
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
            (5, 16, 9),
            (11, 24, 4),
            (4, 7, 3),
        ] {
            for trans in [false, true] {
                let a_s = if trans { [1, m] } else { [k, 1] };
                let a: Vec<f64> = (0..m * k).map(|i| ((i * 7) % 5) as f64 - 2.0).collect();
                let brs = n + 3;
                let b: Vec<f64> = (0..k * brs).map(|i| ((i * 3) % 7) as f64 - 3.0).collect();
                let want = naive(m, n, k, &a, a_s, &b, brs);
                let crs = n + 1;
                let (ar, br) = (Rows::Stride(a_s[0]), Rows::Stride(brs));
                for acc in [false, true] {
                    let mut c = vec![1.0; m * crs];
                    gemm_with(kernel, m, n, k, &a, ar, a_s[1], &b, br, &mut c, crs, acc);
                    let af: Vec<f32> = a.iter().map(|&v| v as f32).collect();
                    let bf: Vec<f32> = b.iter().map(|&v| v as f32).collect();
                    let mut cf = vec![1.0f32; m * crs];
                    gemm_with(kernel, m, n, k, &af, ar, a_s[1], &bf, br, &mut cf, crs, acc);
                    let what = format!("{} {m} {n} {k} {trans} {acc}", kernel.name());
                    for i in 0..m {
                        for j in 0..crs {
                            let w = if j < n {
                                want[i * n + j] + if acc { 1.0 } else { 0.0 }
                            } else {
                                1.0 // the gap between rows is not touched
                            };
                            assert_eq!(c[i * crs + j], w, "f64 {what}");
                            assert_eq!(cf[i * crs + j] as f64, w, "f32 {what}");
                        }
                    }
                }
            }
        }
    }
}

/// Pseudo-random values in (-1, 1), not exactly summable (also the Winograd tests').
pub(in crate::tensor::kernels) fn values(len: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// `C (+)= A·B` as one `mul_add` chain along `k` per element, starting from zero (or
/// from `C` when `acc`): the order the kernels promise, so they must match bit for bit.
#[allow(clippy::too_many_arguments)]
fn fma_chain<T: Copy + Default + MulAdd>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    a_off: &[usize],
    acs: usize,
    b: &[T],
    b_off: &[usize],
    c: &mut [T],
    crs: usize,
    acc: bool,
) {
    for i in 0..m {
        for j in 0..n {
            let mut s = if acc { c[i * crs + j] } else { T::default() };
            for p in 0..k {
                s = a[a_off[i] + p * acs].mul_add(b[b_off[p] + j], s);
            }
            c[i * crs + j] = s;
        }
    }
}

trait MulAdd {
    fn mul_add(self, b: Self, c: Self) -> Self;
}

impl MulAdd for f32 {
    fn mul_add(self, b: f32, c: f32) -> f32 {
        f32::mul_add(self, b, c)
    }
}

impl MulAdd for f64 {
    fn mul_add(self, b: f64, c: f64) -> f64 {
        f64::mul_add(self, b, c)
    }
}

/// Odd shapes (`m`, `n`, `k` off every block; `n` under a vector; `k = 0`; `k` over a
/// chunk), strided and offset-table operands, overwrite and accumulate, on every kernel
/// the CPU has: bit for bit the sequential fma chain (so AVX2 and AVX-512 agree too).
#[test]
fn every_kernel_is_the_sequential_fma_chain() {
    fn check<T: Kernels + MulAdd + Copy + Default + PartialEq + std::fmt::Debug>(
        conv: impl Fn(f64) -> T,
    ) {
        for kernel in kernels() {
            for &(m, n, k) in &[
                (1, 1, 1),
                (1, 3, 5),
                (5, 7, 11),
                (7, 5, 0),
                (6, 16, 13),
                (4, 24, 129),
                (13, 40, 37),
                (9, 9, 260),
                (23, 57, 3),
                (2, 100, 17),
            ] {
                let src: Vec<T> = values(40_000, (m * 31 + n * 7 + k) as u64)
                    .into_iter()
                    .map(&conv)
                    .collect();
                let acs = 2;
                // Tables into the first half of `src`, strides from the second.
                let a_off: Vec<usize> = (0..m).map(|i| (i * 37) % (2000 - 2 * k)).collect();
                let b_off: Vec<usize> = (0..k).map(|p| (p * 53 + 11) % (2000 - n)).collect();
                let a_rs: Vec<usize> = (0..m).map(|i| i * (2 * k + 1)).collect();
                let b_rs: Vec<usize> = (0..k).map(|p| p * (n + 2)).collect();
                let crs = n + 3;
                let init: Vec<T> = values(m * crs, 99).into_iter().map(&conv).collect();
                for acc in [false, true] {
                    for (ra, rb, ao, bo, b) in [
                        (
                            Rows::Offsets(&a_off),
                            Rows::Offsets(&b_off),
                            &a_off,
                            &b_off,
                            &src[..],
                        ),
                        (
                            Rows::Stride(2 * k + 1),
                            Rows::Stride(n + 2),
                            &a_rs,
                            &b_rs,
                            &src[20_000..],
                        ),
                    ] {
                        let mut want = init.clone();
                        fma_chain(m, n, k, &src, ao, acs, b, bo, &mut want, crs, acc);
                        let mut got = init.clone();
                        gemm_with(kernel, m, n, k, &src, ra, acs, b, rb, &mut got, crs, acc);
                        assert_eq!(got, want, "{} {m} {n} {k} {acc} {rb:?}", kernel.name());
                    }
                }
            }
        }
    }
    check(|v| v as f32);
    check(|v| v);
}

/// Offset tables for either operand give the product of the rows they name, for
/// both block shapes and every tail (rows of `A` and `B` taken out of order and
/// overlapping, as a convolution's shifted windows overlap).
#[test]
fn offset_tables_address_the_rows_they_name() {
    for kernel in kernels() {
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
            let (sa, sb) = (Rows::Stride(k), Rows::Stride(n));
            let what = format!("{} {m} {n} {k}", kernel.name());
            gemm_with(kernel, m, n, k, &src, ra, 1, &b, sb, &mut c, n, false);
            assert_eq!(c, want, "A by offsets {what}");
            gemm_with(kernel, m, n, k, &a, sa, 1, &src, rb, &mut c, n, false);
            assert_eq!(c, want, "B by offsets {what}");
            let srcf: Vec<f32> = src.iter().map(|&v| v as f32).collect();
            let mut cf = vec![0.0f32; m * n];
            gemm_with(kernel, m, n, k, &srcf, ra, 1, &srcf, rb, &mut cf, n, false);
            let cf: Vec<f64> = cf.iter().map(|&v| v as f64).collect();
            assert_eq!(cf, want, "both by offsets, f32 {what}");
        }
    }
}

/// The trait runs the kernel of the level in effect, whichever that is.
#[test]
fn the_trait_runs_at_the_current_level() {
    if !available() {
        return;
    }
    let (m, n, k) = (7, 19, 33);
    let a: Vec<f32> = values(m * k, 1).into_iter().map(|v| v as f32).collect();
    let b: Vec<f32> = values(k * n, 2).into_iter().map(|v| v as f32).collect();
    let mut c = vec![0.0f32; m * n];
    f32::gemm_rows(m, n, k, &a, [k, 1], &b, n, &mut c, n, false);
    let mut want = vec![0.0f32; m * n];
    let (ao, bo): (Vec<usize>, Vec<usize>) = (
        (0..m).map(|i| i * k).collect(),
        (0..k).map(|p| p * n).collect(),
    );
    fma_chain(m, n, k, &a, &ao, 1, &b, &bo, &mut want, n, false);
    assert_eq!(c, want);
}

#[test]
#[should_panic(expected = "conv gemm: B needs index")]
fn an_offset_past_the_end_panics() {
    if kernels().is_empty() {
        panic!("conv gemm: B needs index (no AVX2 here)");
    }
    let src = vec![0.0f32; 100];
    let mut c = vec![0.0f32; 4];
    let off = [0, 99];
    let (ra, rb) = (Rows::Stride(2), Rows::Offsets(&off));
    gemm_with(
        Capability::Avx2,
        2,
        2,
        2,
        &src,
        ra,
        1,
        &src,
        rb,
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
