//! The register-blocked loops of [`super::RowGemm`], written once for every instruction
//! set: `row_gemm_kernel!` expands to one module per element type of an ISA module
//! (`avx512.rs`, `avx2.rs`), which supplies the vector type, the intrinsics, the masked
//! loads and stores, the lane mask of a column tail and the choice of register block.
//!
//! Each output element is one sequential fused multiply-add chain along `k` (stored to
//! `C` and reloaded between chunks of [`super::KC`] rows, which rounds nothing), so the
//! blocking changes the speed and never the result: every ISA gives the same bits.

/// One kernel module `$modname` for element `$t` in vectors `$v` of `$lanes` lanes with
/// lane masks `$mask`: `$mload(ptr, mask)` / `$mstore(ptr, mask, v)` touch only the
/// masked lanes, `$mask_of(tail)` is the mask of the first `tail` lanes.
/// `$block(m, n, lanes)` picks the `(rows, vectors)` register block of a product, and
/// `tiles` lists every `rows: vectors...` pair its blocks can leave (each is compiled).
macro_rules! row_gemm_kernel {
    ($modname:ident, $feature:tt, $t:ty, $lanes:expr, $v:ty, $mask:ty,
     $zero:ident, $set1:ident, $fmadd:ident, $loadu:ident, $storeu:ident,
     $mload:ident, $mstore:ident, $mask_of:ident,
     $block:ident,
     tiles: [$($m:literal: $($nv:literal)*),*]) => {
        pub(in super::super) mod $modname {
            use super::*;
            use crate::tensor::kernels::conv_gemm::{KC, RawRows};

            /// Lanes per vector.
            const L: usize = $lanes;

            /// One `MR x NV` block of `C` over `kc` rows of `B`; unless `full`, the last
            /// vector of each row is masked by `last`. Row `i` of the block's `A` starts
            /// at `arow[i]` (elements `acs` apart); row `p` of `B` at `b + boff[p]` when
            /// `IB`, else at `b + p * brs`.
            ///
            /// # Safety
            /// The ISA's features must be available, and every addressed element (`MR`
            /// rows of `A` over `kc` columns, `kc` rows of `B` and `MR` rows of `C` over
            /// the unmasked lanes of `NV` vectors) must be in bounds.
            #[inline]
            #[target_feature(enable = $feature)]
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
                full: bool,
                load: bool,
            ) {
                // Unmasked accesses where the tail is a whole vector: AVX2's masked
                // stores are microcoded on AMD (tens of cycles each).
                let masked = |v: usize| -> bool { v + 1 == NV && !full };
                // SAFETY: the caller guarantees the bounds; masked lanes are not accessed.
                unsafe {
                    let mut acc: [[$v; NV]; MR] = [[$zero(); NV]; MR];
                    if load {
                        for (i, acc) in acc.iter_mut().enumerate() {
                            let row = c.add(i * crs);
                            for (v, acc) in acc.iter_mut().enumerate() {
                                *acc = if masked(v) {
                                    $mload(row.add(v * L), last)
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
                        for (v, x) in bv.iter_mut().enumerate() {
                            *x = if masked(v) {
                                $mload(bp.add(v * L), last)
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
                    for (i, acc) in acc.iter().enumerate() {
                        let row = c.add(i * crs);
                        for (v, &x) in acc.iter().enumerate() {
                            if masked(v) {
                                $mstore(row.add(v * L), last, x);
                            } else {
                                $storeu(row.add(v * L), x);
                            }
                        }
                    }
                }
            }

            /// The blocked loops over `C` (the operands as in
            /// [`RowGemm::gemm_indirect`](crate::tensor::kernels::conv_gemm::RowGemm::gemm_indirect)).
            ///
            /// # Safety
            /// The ISA's features must be available and the operands in bounds (checked
            /// by the caller for the whole product, tables included).
            #[target_feature(enable = $feature)]
            #[allow(clippy::too_many_arguments)]
            pub(in super::super) unsafe fn gemm(
                m: usize,
                n: usize,
                k: usize,
                a: *const $t,
                a_rows: RawRows,
                acs: usize,
                b: *const $t,
                b_rows: RawRows,
                c: *mut $t,
                crs: usize,
                acc: bool,
            ) {
                let (mr, nvmax) = $block(m, n, L);
                let nr = nvmax * L;
                let chunks = k.div_ceil(KC).max(1);
                let kc_len = k.div_ceil(chunks);
                let (ib, brs, boff) = match b_rows {
                    RawRows::Stride(s) => (false, s, std::ptr::null()),
                    RawRows::Offsets(t) => (true, 0, t),
                };
                // SAFETY: every block below stays inside the `m x n` / `m x k` / `k x n`
                // operands, which the caller checked.
                unsafe {
                    for j0 in (0..n).step_by(nr) {
                        let nj = nr.min(n - j0);
                        let nv = nj.div_ceil(L);
                        let tail = nj - (nv - 1) * L;
                        let (last, full) = ($mask_of(tail), tail == L);
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
                                let ci = c.add(i0 * crs + j0);
                                match (mi, nv, ib) {
                                    $($(
                                        ($m, $nv, false) => tile::<$m, $nv, false>(
                                            kc, &arow, acs, bk, brs, bo, ci, crs, last, full, load,
                                        ),
                                        ($m, $nv, true) => tile::<$m, $nv, true>(
                                            kc, &arow, acs, bk, brs, bo, ci, crs, last, full, load,
                                        ),
                                    )*)*
                                    _ => unreachable!("conv gemm: block {mi} x {nv}"),
                                }
                                i0 += mi;
                            }
                            k0 += kc;
                        }
                    }
                }
            }
        }
    };
}
