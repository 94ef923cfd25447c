//! Unit tests of the convolution kernels (`conv.rs`): against the direct definition
//! and the adjoint identities.

use super::*;

fn geom(h: usize, w: usize, k: usize, s: usize, p: usize, d: usize) -> ConvGeom {
    let ho = (h + 2 * p - d * (k - 1) - 1) / s + 1;
    let wo = (w + 2 * p - d * (k - 1) - 1) / s + 1;
    ConvGeom {
        n: 3,
        c_in: 2,
        h,
        w,
        c_out: 2,
        kh: k,
        kw: k,
        stride: [s, s],
        pad: [p, p],
        dil: [d, d],
        groups: 1,
        ho,
        wo,
    }
}

/// The direct definition of a convolution, for comparison.
fn naive(g: &ConvGeom, x: &[f64], w: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; g.n * g.out_img()];
    for b in 0..g.n {
        for co in 0..g.c_out {
            let grp = co / g.cog();
            for oy in 0..g.ho {
                for ox in 0..g.wo {
                    let mut s = 0.0;
                    for c in 0..g.cg() {
                        for i in 0..g.kh {
                            for j in 0..g.kw {
                                let iy =
                                    (oy * g.stride[0] + i * g.dil[0]) as isize - g.pad[0] as isize;
                                let ix =
                                    (ox * g.stride[1] + j * g.dil[1]) as isize - g.pad[1] as isize;
                                if iy < 0 || ix < 0 || iy as usize >= g.h || ix as usize >= g.w {
                                    continue;
                                }
                                let ci = grp * g.cg() + c;
                                s += x[((b * g.c_in + ci) * g.h + iy as usize) * g.w + ix as usize]
                                    * w[((co * g.cg() + c) * g.kh + i) * g.kw + j];
                            }
                        }
                    }
                    out[((b * g.c_out + co) * g.ho + oy) * g.wo + ox] = s;
                }
            }
        }
    }
    out
}

#[test]
fn forward_matches_the_definition() {
    for (k, s, p, d) in [
        (3, 1, 0, 1),
        (3, 2, 1, 1),
        (2, 3, 2, 2),
        (1, 1, 0, 1),
        (1, 2, 1, 1),
    ] {
        let g = geom(7, 6, k, s, p, d);
        let x: Vec<f64> = (0..g.n * g.in_img())
            .map(|i| ((i * 37) % 11) as f64 - 5.0)
            .collect();
        let w: Vec<f64> = (0..g.c_out * g.kg())
            .map(|i| ((i * 13) % 7) as f64 - 3.0)
            .collect();
        assert_eq!(
            conv2d_forward(&g, &x, &w, None),
            naive(&g, &x, &w),
            "{k} {s} {p} {d}"
        );
    }
}

/// Depthwise geometries (direct kernels): forward against the definition, the two
/// gradients through `<F(x, w), u> = <x, G(u, w)> = <w, H(u, x)>`.
#[test]
fn depthwise_kernels_match_the_definition_and_its_adjoints() {
    for (k, s, p, d, mult) in [
        (3, 1, 1, 1, 1),
        (3, 1, 0, 1, 2),
        (3, 2, 1, 1, 1),
        (2, 1, 2, 2, 1),
        (3, 3, 2, 1, 3),
        (1, 1, 0, 1, 1),
        (4, 2, 1, 2, 2),
    ] {
        let mut g = geom(7, 6, k, s, p, d);
        g.c_in = 3;
        g.groups = 3;
        g.c_out = 3 * mult;
        assert!(depthwise::applies(&g));
        let x: Vec<f64> = (0..g.n * g.in_img())
            .map(|i| ((i * 37) % 11) as f64 - 5.0)
            .collect();
        let w: Vec<f64> = (0..g.c_out * g.kg())
            .map(|i| ((i * 13) % 7) as f64 - 3.0)
            .collect();
        let u: Vec<f64> = (0..g.n * g.out_img())
            .map(|i| ((i * 17) % 5) as f64 - 2.0)
            .collect();
        let y = conv2d_forward(&g, &x, &w, None);
        assert_eq!(y, naive(&g, &x, &w), "{k} {s} {p} {d} {mult}");
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
        let fu = dot(&y, &u);
        assert_eq!(
            dot(&x, &conv2d_input_grad(&g, &u, &w)),
            fu,
            "gx {k} {s} {p} {d} {mult}"
        );
        assert_eq!(
            dot(&w, &conv2d_weight_grad(&g, &u, &x)),
            fu,
            "gw {k} {s} {p} {d} {mult}"
        );
    }
}

/// Geometries with more channels than one register block and longer products than
/// one chunk (the register-blocked kernel's row, column and depth tails), grouped
/// and pointwise ones among them: forward against the definition, both gradients
/// through the adjoint identities, on one thread and split over the batch (exact
/// small integers, so f64 sums agree bit for bit).
#[test]
fn blocked_products_match_the_definition_and_its_adjoints() {
    let before = num_threads();
    for (c_in, c_out, k, s, p, d, groups, hw) in [
        (1, 32, 3, 1, 0, 1, 1, 12),
        (20, 37, 3, 1, 1, 1, 1, 11),
        (16, 70, 1, 1, 0, 1, 1, 9),
        (9, 13, 1, 2, 1, 1, 1, 8),
        (12, 18, 3, 2, 1, 2, 3, 13),
        (30, 8, 2, 1, 2, 1, 2, 7),
        // Stride 1 by windows (conv_direct): dilated, grouped, padded to the reach.
        (6, 10, 3, 1, 2, 2, 2, 9),
        (4, 16, 2, 1, 1, 1, 1, 5),
    ] {
        let mut g = geom(hw, hw + 1, k, s, p, d);
        g.c_in = c_in;
        g.c_out = c_out;
        g.groups = groups;
        let x: Vec<f64> = (0..g.n * g.in_img())
            .map(|i| ((i * 37) % 11) as f64 - 5.0)
            .collect();
        let w: Vec<f64> = (0..g.c_out * g.kg())
            .map(|i| ((i * 13) % 7) as f64 - 3.0)
            .collect();
        let u: Vec<f64> = (0..g.n * g.out_img())
            .map(|i| ((i * 17) % 5) as f64 - 2.0)
            .collect();
        let want = naive(&g, &x, &w);
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>();
        let fu = dot(&want, &u);
        for threads in [1, 2] {
            crate::tensor::parallel::set_num_threads(threads);
            let what = format!("{c_in} {c_out} {k} {s} {p} {d} {groups} threads {threads}");
            assert_eq!(conv2d_forward(&g, &x, &w, None), want, "{what}");
            let gx = conv2d_input_grad(&g, &u, &w);
            assert_eq!(dot(&x, &gx), fu, "gx {what}");
            let gw = conv2d_weight_grad(&g, &u, &x);
            assert_eq!(dot(&w, &gw), fu, "gw {what}");
            // f32 on the same integers: every partial sum is exact below 2^24.
            let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
            let back = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
            assert_eq!(
                back(conv2d_forward(&g, &f(&x), &f(&w), None)),
                want,
                "f32 {what}"
            );
            assert_eq!(
                back(conv2d_input_grad(&g, &f(&u), &f(&w))),
                gx,
                "f32 gx {what}"
            );
            assert_eq!(
                back(conv2d_weight_grad(&g, &f(&u), &f(&x))),
                gw,
                "f32 gw {what}"
            );
        }
    }
    crate::tensor::parallel::set_num_threads(before);
}

/// Blocks of columns are the matching columns of the whole matrix, for blocks that
/// start and end mid-row; col2im over the blocks adds up to col2im of the whole.
#[test]
fn column_blocks_are_slices_of_the_column_matrix() {
    for (k, s, p, d) in [(3, 1, 1, 1), (3, 2, 1, 1), (2, 3, 2, 2), (1, 2, 1, 1)] {
        let g = geom(7, 6, k, s, p, d);
        let x: Vec<f64> = (0..g.in_img()).map(|i| (i % 7) as f64 - 3.0).collect();
        let (hw, kg) = (g.hw_out(), g.kg());
        let mut full = vec![0.0; kg * hw];
        im2col(&g, &x, 0, &mut full);
        let mut back = vec![0.0; g.in_img()];
        col2im(&g, &full, 0, &mut back);
        for nb in [1, 3, 5, hw] {
            let mut sum = vec![0.0; g.in_img()];
            for p0 in (0..hw).step_by(nb) {
                let m = nb.min(hw - p0);
                let mut col = vec![f64::NAN; kg * m];
                im2col_cols(&g, &x, 0, &mut col, p0, p0 + m);
                for r in 0..kg {
                    assert_eq!(
                        col[r * m..][..m],
                        full[r * hw + p0..][..m],
                        "{k} {s} {p} {d} {nb}"
                    );
                }
                col2im_cols(&g, &col, 0, &mut sum, p0, p0 + m);
            }
            assert_eq!(sum, back, "{k} {s} {p} {d} {nb}");
        }
    }
}

#[test]
fn col2im_is_the_adjoint_of_im2col() {
    // <im2col(x), c> == <x, col2im(c)> for any x, c.
    let g = geom(5, 6, 3, 2, 1, 1);
    let x: Vec<f64> = (0..g.in_img()).map(|i| (i % 5) as f64 + 0.5).collect();
    let c: Vec<f64> = (0..g.col_len()).map(|i| (i % 3) as f64 - 1.0).collect();
    let mut col = vec![0.0; g.col_len()];
    im2col(&g, &x, 0, &mut col);
    let mut gx = vec![0.0; g.in_img()];
    col2im(&g, &c, 0, &mut gx);
    let lhs: f64 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
    let rhs: f64 = x.iter().zip(&gx).map(|(a, b)| a * b).sum();
    assert_eq!(lhs, rhs);
}

/// Winograd F(2x2, 3x3) (`winograd.rs`) against the existing kernels (the f64 paths,
/// which never route there): odd sizes (partial edge tiles), padding 0, 1, 2 and
/// uneven, channel counts off the vector width, batches of 1 to 3, with and without
/// bias, images of more tiles than one block, on one thread and two, the f32 runs at
/// every level the CPU has. Exact on small
/// integers in f64 (the transforms' halves and quarters are exact), and within 1e-5
/// relative on random f32 data.
#[test]
fn winograd_matches_the_other_kernels() {
    use super::super::simd::{Capability, set_capability, tests::LEVEL_LOCK};
    use super::super::winograd;
    let _level = LEVEL_LOCK.lock();
    let before = num_threads();
    for (c_in, c_out, h, w, pad, n, with_bias) in [
        (1, 3, 5, 5, [0, 0], 1, false),
        (3, 5, 7, 6, [1, 1], 2, true),
        (17, 20, 9, 11, [2, 2], 3, true),
        (20, 33, 13, 8, [1, 0], 1, false),
        (5, 7, 3, 4, [0, 2], 2, true),
        (32, 64, 26, 26, [0, 0], 2, true),
        (32, 64, 31, 30, [1, 1], 1, true),
    ] {
        let mut g = geom(h, w, 3, 1, 0, 1);
        g.pad = pad;
        (g.ho, g.wo) = (h + 2 * pad[0] - 2, w + 2 * pad[1] - 2);
        (g.n, g.c_in, g.c_out) = (n, c_in, c_out);
        let x: Vec<f64> = (0..n * g.in_img())
            .map(|i| ((i * 37) % 11) as f64 - 5.0)
            .collect();
        let wt: Vec<f64> = (0..c_out * g.kg())
            .map(|i| ((i * 13) % 7) as f64 - 3.0)
            .collect();
        let b: Vec<f64> = (0..c_out).map(|i| (i % 5) as f64 - 2.0).collect();
        let gy: Vec<f64> = (0..n * g.out_img())
            .map(|i| ((i * 17) % 5) as f64 - 2.0)
            .collect();
        let bias = with_bias.then_some(&b[..]);
        let want = conv2d_forward(&g, &x, &wt, bias);
        let want_gx = conv2d_input_grad(&g, &gy, &wt);
        let mut rng = crate::tensor::random::Generator::new(7);
        let f = |v: &[f64], rng: &mut crate::tensor::random::Generator| -> (Vec<f32>, Vec<f64>) {
            let r: Vec<f32> = v.iter().map(|&a| a as f32 + rng.uniform_f32()).collect();
            let back = r.iter().map(|&a| f64::from(a)).collect();
            (r, back)
        };
        let (xf, xd) = f(&x, &mut rng);
        let (wf, wd) = f(&wt, &mut rng);
        let (bf, bd) = f(&b, &mut rng);
        let (gf, gd) = f(&gy, &mut rng);
        let want_f = conv2d_forward(&g, &xd, &wd, with_bias.then_some(&bd[..]));
        let want_fgx = conv2d_input_grad(&g, &gd, &wd);
        let close = |got: Vec<f32>, want: &[f64], what: &str| {
            let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            assert_eq!(got.len(), want.len(), "{what}");
            for (i, (&a, &e)) in got.iter().zip(want).enumerate() {
                let err = (f64::from(a) - e).abs();
                assert!(err <= 1e-5 * scale, "{what}: [{i}] {a} vs {e}");
            }
        };
        for threads in [1, 2] {
            crate::tensor::parallel::set_num_threads(threads);
            let what = format!("{c_in}->{c_out} {h}x{w} pad {pad:?} n {n} threads {threads}");
            assert_eq!(winograd::forward(&g, &x, &wt, bias), want, "{what}");
            assert_eq!(winograd::input_grad(&g, &gy, &wt), want_gx, "gx {what}");
            let bias_f = with_bias.then_some(&bf[..]);
            // The f32 transforms have a kernel per level (portable, AVX2, AVX-512).
            for cap in Capability::ALL {
                if set_capability(cap) != cap {
                    continue;
                }
                let what = format!("{what} at {}", cap.name());
                close(winograd::forward(&g, &xf, &wf, bias_f), &want_f, &what);
                close(winograd::input_grad(&g, &gf, &wf), &want_fgx, &what);
            }
            set_capability(Capability::Avx512);
        }
    }
    crate::tensor::parallel::set_num_threads(before);
}
