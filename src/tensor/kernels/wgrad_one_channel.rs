//! The weight gradient of a stride-1 convolution with one input channel per group and
//! a 3x3 (or, on AVX-512, 5x5) kernel, f32: a grayscale image's first layer, such as
//! the MNIST example's `Conv2d(1, 32, 3, 1)`. It reads the NCHW tensors as they are.
//!
//! Why not the window product (`conv_direct::weight_grad`): its product is
//! `[kh·kw] x [c_out]` over the image's positions, so 9 rows for a 3x3 kernel (a
//! register block of 8 rows and one of a single row, latency-bound), and it needs the
//! output gradient channel-last (a transpose of each image's `c_out` planes). On a Zen 4
//! it ran 1.18x PyTorch's time for the MNIST example's first layer. Here a vector of
//! each output-gradient row meets the `kh·kw` shifted vectors of the input rows it
//! multiplies, and `CB` output channels' `kh·kw` sums stay in registers over the whole
//! image; the lanes are added once, at the end.

use super::conv::{ConvElem, ConvGeom, over_batch};
use super::conv_direct::{padded, padded_copy_len, padded_image, window_offsets};
use super::simd::{Capability, capability, detected};
use super::winograd::{f32_view, f32_view_mut};

/// Whether the weight gradient of `g` runs here.
pub(super) fn applies<T: ConvElem>(g: &ConvGeom) -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
        && std::env::var_os("KILN_NO_DIRECT").is_none()
        && g.stride == [1, 1]
        && g.cg() == 1
        && g.n > 0
        && g.ho > 0
        && g.wo > 0
        && g.cog() > 0
        && kernel(g.kh * g.kw).is_some()
}

/// The instruction set and window size a kernel exists for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kernel {
    Avx512K9,
    Avx512K25,
    Avx2K9,
}

impl Kernel {
    /// Lanes per vector.
    fn lanes(self) -> usize {
        match self {
            Kernel::Avx512K9 | Kernel::Avx512K25 => 16,
            Kernel::Avx2K9 => 8,
        }
    }
}

/// The kernel for windows of `kk` elements at the current capability.
fn kernel(kk: usize) -> Option<Kernel> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    match (capability(), kk) {
        (Capability::Avx512, 9) => Some(Kernel::Avx512K9),
        (Capability::Avx512, 25) => Some(Kernel::Avx512K25),
        (Capability::Avx2, 9) => Some(Kernel::Avx2K9),
        _ => None,
    }
}

/// `gw[co][ky][kx] = Σ_n Σ_oy Σ_ox gy[n][co][oy][ox] · x[n][co's channel][oy + ky·d][ox + kx·d]`
/// (the input zero-padded), for `g` accepted by [`applies`].
pub(super) fn weight_grad<T: ConvElem>(g: &ConvGeom, gy: &[T], x: &[T]) -> Vec<T> {
    let kern = kernel(g.kh * g.kw).expect("conv2d weight grad: no one-channel kernel here");
    weight_grad_on(kern, g, gy, x)
}

/// [`weight_grad`] on the kernel `kern`.
fn weight_grad_on<T: ConvElem>(kern: Kernel, g: &ConvGeom, gy: &[T], x: &[T]) -> Vec<T> {
    let kk = g.kh * g.kw;
    let lanes = kern.lanes();
    let (gy, x) = (f32_view(gy), f32_view(x));
    let (hp, wp) = padded(g);
    let off = window_offsets(g, 1, hp, wp, false);
    let (hw, cog) = (g.hw_out(), g.cog());
    let (in_img, out_img) = (g.c_in * g.h * g.w, g.c_out * hw);
    assert!(
        gy.len() >= g.n * out_img && x.len() >= g.n * in_img,
        "conv2d weight grad: {} output-gradient and {} input elements for {g:?}",
        gy.len(),
        x.len()
    );
    // Per task, each weight element's sum as one vector of partial sums.
    let part_len = g.c_out * kk * lanes;
    let tasks_max = crate::tensor::parallel::num_threads().clamp(1, g.n);
    let mut parts = vec![0f32; part_len * tasks_max];
    let flat = flattens(g, lanes);
    let pad_len = padded_copy_len(g);
    let windows_len = if flat { kk * hw } else { 0 };
    // Flattened, window `k` is the contiguous `ho·wo` run at `k·hw` of the copy.
    let flat_off: Vec<usize> = (0..kk).map(|k| k * hw).collect();
    let tasks = over_batch::<f32, f32>(
        g.n,
        part_len,
        pad_len + windows_len,
        &mut parts,
        true,
        &|first, count, part, buf, _| {
            let (pad_buf, windows) = buf.split_at_mut(pad_len);
            for i in first..first + count {
                let xp = padded_image(g, &x[i * in_img..][..in_img], pad_buf);
                for grp in 0..g.groups {
                    let plane = &xp[grp * hp * wp..][..hp * wp];
                    let gyg = &gy[i * out_img + grp * cog * hw..][..cog * hw];
                    let acc = &mut part[grp * cog * kk * lanes..][..cog * kk * lanes];
                    if flat {
                        for (k, &o) in off.iter().enumerate() {
                            let dst = &mut windows[k * hw..][..hw];
                            for (oy, row) in dst.chunks_exact_mut(g.wo).enumerate() {
                                row.copy_from_slice(&plane[o + oy * wp..][..g.wo]);
                            }
                        }
                        let rows = Rows {
                            ho: 1,
                            wo: hw,
                            wp: hw,
                        };
                        group(kern, g, rows, windows, &flat_off, gyg, acc);
                    } else {
                        let rows = Rows {
                            ho: g.ho,
                            wo: g.wo,
                            wp,
                        };
                        group(kern, g, rows, plane, &off, gyg, acc);
                    }
                }
            }
        },
    );
    let mut gw = vec![T::default(); g.c_out * kk];
    let out = f32_view_mut(&mut gw);
    for part in parts.chunks_exact(part_len).take(tasks) {
        for (w, v) in out.iter_mut().zip(part.chunks_exact(lanes)) {
            *w += v.iter().sum::<f32>();
        }
    }
    gw
}

/// Whether [`weight_grad_on`] first copies each image's `kh·kw` windows into contiguous
/// `ho·wo` runs, so the kernel walks the whole image in vectors rather than row by row:
/// where rows leave a vector partly empty (the MNIST example's 26 columns fill 16 + 10
/// lanes of AVX-512's 32, 81%; flattened 676 fill 99%) and enough output channels share
/// the copy (it costs about one channel's multiply-adds). MNIST's first layer, Zen 4,
/// 2 threads: 0.30-0.34 -> 0.23-0.25 ms at AVX-512, 0.25 -> 0.21 ms at AVX2.
fn flattens(g: &ConvGeom, lanes: usize) -> bool {
    g.cog() >= 8 && !g.wo.is_multiple_of(lanes)
}

/// Adds one image's group (`plane`: its padded input plane, or its flattened windows;
/// `gy`: its `c_out / groups` output-gradient planes) to the partial sums `acc`
/// (`[co][k][lane]`), `CB` output channels at a time, walking `rows` of the output
/// gradient against windows `off[k]` of `plane`.
fn group(
    kern: Kernel,
    g: &ConvGeom,
    rows: Rows,
    plane: &[f32],
    off: &[usize],
    gy: &[f32],
    acc: &mut [f32],
) {
    let (hw, kk, lanes) = (g.hw_out(), off.len(), kern.lanes());
    // The last window's last row read: inside the plane.
    let reach = off[kk - 1] + (rows.ho - 1) * rows.wp + rows.wo;
    assert!(
        rows.ho * rows.wo == hw
            && reach <= plane.len()
            && gy.len() == g.cog() * hw
            && acc.len() == g.cog() * kk * lanes,
        "conv2d weight grad: operands do not fit {g:?}"
    );
    assert!(
        detected() >= Capability::Avx2 && (lanes == 8 || detected() == Capability::Avx512),
        "conv2d weight grad: the CPU lacks the kernel's instructions"
    );
    let mut co = 0;
    while co < g.cog() {
        let (y, a) = (gy[co * hw..].as_ptr(), acc[co * kk * lanes..].as_mut_ptr());
        let (p, o) = (plane.as_ptr(), off.as_ptr());
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has the instructions (asserted); the kernels read `CB` planes of
        // `ho x wo` from `y`, the windows `o[k] + oy·wp + ox` (ox < wo) of `p`, all inside
        // the slices (asserted above), and write `CB·kk·lanes` sums of `acc`.
        let done = unsafe {
            match (kern, g.cog() - co) {
                (Kernel::Avx512K9, 3..) => avx512::block::<9, 3>(rows, hw, y, p, o, a),
                (Kernel::Avx512K9, 2) => avx512::block::<9, 2>(rows, hw, y, p, o, a),
                (Kernel::Avx512K9, _) => avx512::block::<9, 1>(rows, hw, y, p, o, a),
                (Kernel::Avx512K25, _) => avx512::block::<25, 1>(rows, hw, y, p, o, a),
                (Kernel::Avx2K9, _) => avx2::block::<9, 1>(rows, hw, y, p, o, a),
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = unreachable!("conv2d weight grad: x86-64 kernels only");
        co += done;
    }
}

/// The output rows a block walks: `ho` rows of `wo` elements (output gradient, rows
/// `wo` apart) against input rows `wp` apart.
#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Rows {
    ho: usize,
    wo: usize,
    wp: usize,
}

/// The kernel for one instruction set: `block::<KK, CB>` adds `CB` output channels'
/// sums and returns `CB`.
macro_rules! one_channel_kernel {
    ($modname:ident, $feature:literal, $lanes:expr, $v:ty,
     $zero:ident, $load:ident, $store:ident, $fmadd:ident, $load_tail:path) => {
        #[cfg(target_arch = "x86_64")]
        mod $modname {
            use std::arch::x86_64::*;

            const L: usize = $lanes;

            /// Adds `CB` consecutive output channels (planes `hw` apart from `gy`) times
            /// the `KK` windows `plane + off[k]` into the sums `acc` (`[CB][KK][L]`).
            ///
            /// # Safety
            /// The CPU must have the module's instructions, the planes and windows must
            /// lie inside their buffers (`off[k] + (ho - 1)·wp + wo` at most the plane's
            /// length) and `acc` hold `CB·KK·L` values.
            #[target_feature(enable = $feature)]
            pub(super) unsafe fn block<const KK: usize, const CB: usize>(
                r: super::Rows,
                hw: usize,
                gy: *const f32,
                plane: *const f32,
                off: *const usize,
                acc: *mut f32,
            ) -> usize {
                // SAFETY: the caller's bounds; tails read only their `n` valid lanes.
                unsafe {
                    let mut sum = [[$zero(); KK]; CB];
                    for (c, s) in sum.iter_mut().enumerate() {
                        for (k, v) in s.iter_mut().enumerate() {
                            *v = $load(acc.add((c * KK + k) * L));
                        }
                    }
                    let off: [usize; KK] = std::array::from_fn(|k| *off.add(k));
                    for oy in 0..r.ho {
                        let (yrow, xrow) = (gy.add(oy * r.wo), plane.add(oy * r.wp));
                        let mut ox = 0;
                        while ox < r.wo {
                            let n = (r.wo - ox).min(L);
                            let yv: [$v; CB] = std::array::from_fn(|c| {
                                let p = yrow.add(c * hw + ox);
                                if n == L { $load(p) } else { $load_tail(p, n) }
                            });
                            for k in 0..KK {
                                let p = xrow.add(off[k] + ox);
                                let xv = if n == L { $load(p) } else { $load_tail(p, n) };
                                for c in 0..CB {
                                    sum[c][k] = $fmadd(yv[c], xv, sum[c][k]);
                                }
                            }
                            ox += L;
                        }
                    }
                    for (c, s) in sum.iter().enumerate() {
                        for (k, v) in s.iter().enumerate() {
                            $store(acc.add((c * KK + k) * L), *v);
                        }
                    }
                }
                CB
            }
        }
    };
}

/// The first `n` (< 16) values at `p`, zeros in the other lanes.
///
/// # Safety
/// AVX-512F, and `n` values readable at `p`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn load_tail_512(p: *const f32, n: usize) -> std::arch::x86_64::__m512 {
    // SAFETY: masked-off lanes are not read.
    unsafe { std::arch::x86_64::_mm512_maskz_loadu_ps(((1u32 << n) - 1) as u16, p) }
}

/// The first `n` (< 8) values at `p`, zeros in the other lanes.
///
/// # Safety
/// AVX2, and `n` values readable at `p`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn load_tail_256(p: *const f32, n: usize) -> std::arch::x86_64::__m256 {
    // SAFETY: AVX2 (the caller's); lanes whose mask sign bit is clear are not read.
    unsafe {
        let mask = super::conv_gemm::avx2::mask_ps(n);
        std::arch::x86_64::_mm256_maskload_ps(p, mask)
    }
}

one_channel_kernel!(
    avx512,
    "avx512f",
    16,
    __m512,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_fmadd_ps,
    super::load_tail_512
);
one_channel_kernel!(
    avx2,
    "avx2,fma",
    8,
    __m256,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_fmadd_ps,
    super::load_tail_256
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::kernels::conv::conv2d_weight_grad;

    /// The plain sum the kernel computes, in f64.
    fn reference(g: &ConvGeom, gy: &[f32], x: &[f32]) -> Vec<f64> {
        let (kk, cog) = (g.kh * g.kw, g.cog());
        let mut gw = vec![0f64; g.c_out * kk];
        for n in 0..g.n {
            for co in 0..g.c_out {
                let ci = co / cog;
                for ky in 0..g.kh {
                    for kx in 0..g.kw {
                        let mut s = 0f64;
                        for oy in 0..g.ho {
                            for ox in 0..g.wo {
                                let iy = (oy + ky * g.dil[0]) as isize - g.pad[0] as isize;
                                let ix = (ox + kx * g.dil[1]) as isize - g.pad[1] as isize;
                                if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                    continue;
                                }
                                let xv = x
                                    [((n * g.c_in + ci) * g.h + iy as usize) * g.w + ix as usize]
                                    as f64;
                                let yv = gy[((n * g.c_out + co) * g.ho + oy) * g.wo + ox] as f64;
                                s += xv * yv;
                            }
                        }
                        gw[co * kk + ky * g.kw + kx] += s;
                    }
                }
            }
        }
        gw
    }

    fn geom(n: usize, c_out: usize, k: usize, hw: [usize; 2], pad: usize, dil: usize) -> ConvGeom {
        let reach = dil * (k - 1);
        ConvGeom {
            n,
            c_in: 1,
            h: hw[0],
            w: hw[1],
            c_out,
            kh: k,
            kw: k,
            stride: [1, 1],
            pad: [pad, pad],
            dil: [dil, dil],
            groups: 1,
            ho: hw[0] + 2 * pad - reach,
            wo: hw[1] + 2 * pad - reach,
        }
    }

    /// [`geom`] with `groups` input channels, one per group.
    fn grouped(mut g: ConvGeom, groups: usize) -> ConvGeom {
        (g.c_in, g.groups) = (groups, groups);
        g
    }

    /// Small integers: every product and sum is exact in f32, so the kernel must match
    /// the reference exactly, with every kernel this CPU runs: row by row and flattened
    /// (8 or more channels a group on rows that leave a vector part empty), one group
    /// or several (depthwise included), padded or not.
    #[test]
    fn matches_the_plain_sum_exactly() {
        let shapes = [
            grouped(geom(2, 6, 3, [11, 13], 1, 1), 6),
            grouped(geom(3, 8, 3, [9, 9], 0, 1), 4),
            grouped(geom(2, 16, 3, [12, 15], 1, 1), 2),
            grouped(geom(2, 16, 5, [12, 21], 2, 1), 2),
            geom(3, 32, 3, [28, 28], 0, 1),
            geom(2, 7, 3, [9, 40], 1, 1),
            geom(1, 4, 3, [5, 3], 2, 1),
            geom(2, 5, 3, [17, 19], 0, 2),
            geom(2, 3, 5, [21, 33], 2, 1),
            geom(4, 1, 3, [8, 8], 1, 1),
        ];
        let kernels = [
            (Kernel::Avx512K9, Capability::Avx512, 3),
            (Kernel::Avx512K25, Capability::Avx512, 5),
            (Kernel::Avx2K9, Capability::Avx2, 3),
        ];
        for (kern, cap, k) in kernels {
            if detected() < cap {
                continue;
            }
            for g in shapes.iter().filter(|g| g.kh == k) {
                let x: Vec<f32> = (0..g.n * g.c_in * g.h * g.w)
                    .map(|i| ((i * 7 + 3) % 11) as f32 - 5.0)
                    .collect();
                let gy: Vec<f32> = (0..g.n * g.c_out * g.ho * g.wo)
                    .map(|i| ((i * 5 + 1) % 9) as f32 - 4.0)
                    .collect();
                let want = reference(g, &gy, &x);
                let got = weight_grad_on(kern, g, &gy, &x);
                let got: Vec<f64> = got.iter().map(|&v| v as f64).collect();
                assert_eq!(got, want, "{g:?} on {kern:?}");
            }
        }
    }

    /// Random data through the public entry point agrees with the plain sum: the MNIST
    /// example's first layer and a depthwise layer (which routes here too).
    #[test]
    fn agrees_through_conv2d_weight_grad() {
        for g in [
            geom(5, 32, 3, [28, 28], 0, 1),
            grouped(geom(3, 24, 3, [20, 18], 1, 1), 24),
        ] {
            agrees_on(&g);
        }
    }

    fn agrees_on(g: &ConvGeom) {
        let g = *g;
        let mut s = 12345u64;
        let mut r = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let x: Vec<f32> = (0..g.n * g.c_in * g.h * g.w).map(|_| r()).collect();
        let gy: Vec<f32> = (0..g.n * g.c_out * g.ho * g.wo).map(|_| r()).collect();
        let want = reference(&g, &gy, &x);
        let got = conv2d_weight_grad(&g, &gy, &x);
        for (a, b) in got.iter().zip(&want) {
            assert!(
                (*a as f64 - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{a} vs {b}"
            );
        }
    }
}
