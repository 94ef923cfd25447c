//! The fused per-step gate kernels of the recurrent layers and their derivatives, and
//! the branch-free `exp` / `sigmoid` / `tanh` they use.
//!
//! Each function handles one time step's rows: it reads the pre-activations a GEMM
//! accumulated, applies every gate's nonlinearity and the state update in one pass, and
//! writes the activations back in place (they are what the backward needs). The loops run
//! inside [`dispatch`], so they are compiled for each SIMD level; the math is plain
//! `+ - * /` in a fixed order (no fused multiply-add), so every level gives the same bits.

use crate::tensor::Float;
use crate::tensor::kernels::simd::dispatch;

/// The element types the recurrent kernels run on, with their fast activations.
pub trait GateFloat: Float {
    /// `1 / (1 + exp(-x))`.
    fn sigmoid(x: Self) -> Self;
    /// `tanh x`.
    fn tanh_fast(x: Self) -> Self;
}

/// `exp(x)` for f32, Cephes' polynomial after a `2^n` range reduction; the argument is
/// clamped to `[-87, 88]` so the result is always finite and normal (relative error
/// about 2 ulp). Branch-free, so a loop of it vectorises.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest through the 1.5 * 2^23 trick (no libm call, vectorises): the
    // shifted value holds `n` in its low mantissa bits, so the integer comes from its
    // bits too. (`n as i32` is a saturating, NaN-checked conversion that LLVM does one
    // lane at a time, which kept this whole loop scalar.)
    let shifted = x * std::f32::consts::LOG2_E + 12_582_912.0;
    let n = shifted - 12_582_912.0;
    let n_int = shifted.to_bits() as i32 - 12_582_912f32.to_bits() as i32;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * (r * r) + r + 1.0;
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    y * scale
}

impl GateFloat for f32 {
    #[inline(always)]
    fn sigmoid(x: f32) -> f32 {
        1.0 / (1.0 + exp_f32(-x))
    }
    #[inline(always)]
    fn tanh_fast(x: f32) -> f32 {
        let a = x.abs();
        let e = exp_f32(-2.0 * a);
        let big = (1.0 - e) / (1.0 + e);
        // Near zero `1 - e` cancels: the Taylor series is exact to f32 there.
        let a2 = a * a;
        let small = a * (1.0 - a2 * (1.0 / 3.0) + a2 * a2 * (2.0 / 15.0));
        let t = if a < 0.0625 { small } else { big };
        t.copysign(x)
    }
}

impl GateFloat for f64 {
    #[inline(always)]
    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }
    #[inline(always)]
    fn tanh_fast(x: f64) -> f64 {
        x.tanh()
    }
}

/// Elman step: `pre` (`[rows * h]`) becomes `tanh(pre)` or `relu(pre)` in place.
pub fn simple_forward<T: GateFloat>(pre: &mut [T], relu: bool) {
    dispatch(
        #[inline(always)]
        || {
            if relu {
                for v in pre.iter_mut() {
                    *v = if *v > T::zero() { *v } else { T::zero() };
                }
            } else {
                for v in pre.iter_mut() {
                    *v = T::tanh_fast(*v);
                }
            }
        },
    )
}

/// Derivative of [`simple_forward`]: `dpre = dh * (1 - a^2)` (tanh) or `dh * [a > 0]`.
pub fn simple_backward<T: GateFloat>(act: &[T], dh: &[T], dpre: &mut [T], relu: bool) {
    dispatch(
        #[inline(always)]
        || {
            for ((d, &a), &g) in dpre.iter_mut().zip(act).zip(dh) {
                *d = if relu {
                    if a > T::zero() { g } else { T::zero() }
                } else {
                    g * (T::one() - a * a)
                };
            }
        },
    )
}

/// LSTM step over `rows` rows of `h` units. `gates` (`[rows, 4h]`, order i, f, g, o)
/// holds the pre-activations and receives the activations; `c` holds `c_{t-1}` and
/// receives `c_t`; `c_prev` receives a copy of `c_{t-1}`, `tanh_c` receives `tanh(c_t)`
/// and `m` receives `o * tanh(c_t)`.
pub fn lstm_forward<T: GateFloat>(
    h: usize,
    gates: &mut [T],
    c: &mut [T],
    c_prev: &mut [T],
    tanh_c: &mut [T],
    m: &mut [T],
) {
    dispatch(
        #[inline(always)]
        || {
            let rows = c.len() / h.max(1);
            for r in 0..rows {
                let (g, cells) = (&mut gates[r * 4 * h..(r + 1) * 4 * h], r * h..(r + 1) * h);
                let (gi, rest) = g.split_at_mut(h);
                let (gf, rest) = rest.split_at_mut(h);
                let (gg, go) = rest.split_at_mut(h);
                let (cp, tc) = (&mut c_prev[cells.clone()], &mut tanh_c[cells.clone()]);
                lstm_row(gi, gf, gg, go, &mut c[cells.clone()], cp, tc, &mut m[cells]);
            }
        },
    )
}

/// One row of [`lstm_forward`]. A function of its own, not a loop in the caller: its
/// `&mut` slices are known not to overlap (LLVM keeps that when it inlines it), so the
/// vectorised loop needs no run-time overlap checks; inside the caller's closure it had
/// to test the eight slices pairwise on every row, which cost more than the row's
/// arithmetic at `h = 128`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lstm_row<T: GateFloat>(
    gi: &mut [T],
    gf: &mut [T],
    gg: &mut [T],
    go: &mut [T],
    c: &mut [T],
    cp: &mut [T],
    tc: &mut [T],
    m: &mut [T],
) {
    let n = gi.len();
    let (gf, gg, go) = (&mut gf[..n], &mut gg[..n], &mut go[..n]);
    let (c, cp, tc, m) = (&mut c[..n], &mut cp[..n], &mut tc[..n], &mut m[..n]);
    for j in 0..n {
        let i = T::sigmoid(gi[j]);
        let f = T::sigmoid(gf[j]);
        let gv = T::tanh_fast(gg[j]);
        let o = T::sigmoid(go[j]);
        let cpv = c[j];
        let cn = f * cpv + i * gv;
        let t = T::tanh_fast(cn);
        gi[j] = i;
        gf[j] = f;
        gg[j] = gv;
        go[j] = o;
        cp[j] = cpv;
        c[j] = cn;
        tc[j] = t;
        m[j] = o * t;
    }
}

/// Derivative of [`lstm_forward`]: from `dm` (the gradient of `o * tanh(c_t)`) and `dc`
/// (that of `c_t` from later steps; receives that of `c_{t-1}`), writes the gradient of
/// the four pre-activations into `dgates`.
pub fn lstm_backward<T: GateFloat>(
    h: usize,
    gates: &[T],
    c_prev: &[T],
    tanh_c: &[T],
    dm: &[T],
    dc: &mut [T],
    dgates: &mut [T],
) {
    dispatch(
        #[inline(always)]
        || {
            for r in 0..dc.len() / h.max(1) {
                let (g4, cells) = (r * 4 * h..(r + 1) * 4 * h, r * h..(r + 1) * h);
                let g = &gates[g4.clone()];
                let (di, rest) = dgates[g4].split_at_mut(h);
                let (df, rest) = rest.split_at_mut(h);
                let (dg, d_o) = rest.split_at_mut(h);
                let (gi, gf, gg, go) = (&g[..h], &g[h..2 * h], &g[2 * h..3 * h], &g[3 * h..]);
                let cp = &c_prev[cells.clone()];
                let (tc, dmr) = (&tanh_c[cells.clone()], &dm[cells.clone()]);
                let dcr = &mut dc[cells];
                lstm_backward_row(gi, gf, gg, go, cp, tc, dmr, dcr, di, df, dg, d_o);
            }
        },
    )
}

/// One row of [`lstm_backward`] (a function for the reason given at [`lstm_row`]; the
/// slices are separate arguments because LLVM knows only a reference *argument* to be
/// unaliased, not one inside an array): the activations i, f, g, o, then `c_{t-1}`,
/// `tanh(c_t)`, `dm`, `dc`, and the four gradients written.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lstm_backward_row<T: GateFloat>(
    gi: &[T],
    gf: &[T],
    gg: &[T],
    go: &[T],
    cp: &[T],
    tc: &[T],
    dm: &[T],
    dc: &mut [T],
    di: &mut [T],
    df: &mut [T],
    dgg: &mut [T],
    d_o: &mut [T],
) {
    let n = dc.len();
    let (gi, gf, gg, go) = (&gi[..n], &gf[..n], &gg[..n], &go[..n]);
    let (cp, tc, dm) = (&cp[..n], &tc[..n], &dm[..n]);
    let (di, df, dgg, d_o) = (&mut di[..n], &mut df[..n], &mut dgg[..n], &mut d_o[..n]);
    let one = T::one();
    for j in 0..n {
        let (i, f, gv, o) = (gi[j], gf[j], gg[j], go[j]);
        let t = tc[j];
        let dct = dc[j] + dm[j] * o * (one - t * t);
        d_o[j] = dm[j] * t * o * (one - o);
        di[j] = dct * gv * i * (one - i);
        dgg[j] = dct * i * (one - gv * gv);
        df[j] = dct * cp[j] * f * (one - f);
        dc[j] = dct * f;
    }
}

/// GRU step over `rows` rows of `h` units. `gates` (`[rows, 3h]`, order r, z, n) holds
/// the input pre-activations `W_i x + b_i` and receives the activations; `gh` holds
/// `W_h h_{t-1} + b_h`; `h_prev` is `h_{t-1}`; `h_new` receives `h_t` and `ghn` the
/// `W_hn h + b_hn` part (which the derivative of `r` needs).
pub fn gru_forward<T: GateFloat>(
    h: usize,
    gates: &mut [T],
    gh: &[T],
    h_prev: &[T],
    h_new: &mut [T],
    ghn: &mut [T],
) {
    dispatch(
        #[inline(always)]
        || {
            for r in 0..h_new.len() / h.max(1) {
                let (g3, cells) = (r * 3 * h..(r + 1) * 3 * h, r * h..(r + 1) * h);
                let ghr = &gh[g3.clone()];
                let (gr, rest) = gates[g3].split_at_mut(h);
                let (gz, gn) = rest.split_at_mut(h);
                let (hr, hz, hh) = (&ghr[..h], &ghr[h..2 * h], &ghr[2 * h..]);
                let hp = &h_prev[cells.clone()];
                let (hn, gn_saved) = (&mut h_new[cells.clone()], &mut ghn[cells]);
                gru_row(gr, gz, gn, hr, hz, hh, hp, hn, gn_saved);
            }
        },
    )
}

/// One row of [`gru_forward`] (a function, with one argument per slice, for the reasons
/// given at [`lstm_row`] and [`lstm_backward_row`]): the r, z, n pre-activations
/// (receive the activations), the hidden projections for r, z, n, `h_{t-1}`, `h_t` and
/// the saved `W_hn h + b_hn`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gru_row<T: GateFloat>(
    gr: &mut [T],
    gz: &mut [T],
    gn: &mut [T],
    ghr: &[T],
    ghz: &[T],
    ghh: &[T],
    hp: &[T],
    hn: &mut [T],
    ghn: &mut [T],
) {
    let n = hn.len();
    let (gr, gz, gn, ghn) = (&mut gr[..n], &mut gz[..n], &mut gn[..n], &mut ghn[..n]);
    let (ghr, ghz, ghh, hp) = (&ghr[..n], &ghz[..n], &ghh[..n], &hp[..n]);
    for j in 0..n {
        let r = T::sigmoid(gr[j] + ghr[j]);
        let z = T::sigmoid(gz[j] + ghz[j]);
        let hn_part = ghh[j];
        let nv = T::tanh_fast(gn[j] + r * hn_part);
        gr[j] = r;
        gz[j] = z;
        gn[j] = nv;
        ghn[j] = hn_part;
        hn[j] = nv + z * (hp[j] - nv);
    }
}

/// Derivative of [`gru_forward`]: `dh` holds the gradient of `h_t` and receives the part
/// of `h_{t-1}`'s that flows through `z * h_{t-1}` (the GEMM adds the rest); `dgx` and
/// `dgh` receive the gradients of the input and hidden pre-activations.
pub fn gru_backward<T: GateFloat>(
    h: usize,
    gates: &[T],
    ghn: &[T],
    h_prev: &[T],
    dh: &mut [T],
    dgx: &mut [T],
    dgh: &mut [T],
) {
    dispatch(
        #[inline(always)]
        || {
            for r in 0..dh.len() / h.max(1) {
                let (g3, cells) = (r * 3 * h..(r + 1) * 3 * h, r * h..(r + 1) * h);
                let g = &gates[g3.clone()];
                let (gr, gz, gn) = (&g[..h], &g[h..2 * h], &g[2 * h..]);
                let (ghn_r, hp) = (&ghn[cells.clone()], &h_prev[cells.clone()]);
                let (xr, rest) = dgx[g3.clone()].split_at_mut(h);
                let (xz, xn) = rest.split_at_mut(h);
                let (hr, rest) = dgh[g3].split_at_mut(h);
                let (hz, hn) = rest.split_at_mut(h);
                gru_backward_row(
                    gr,
                    gz,
                    gn,
                    ghn_r,
                    hp,
                    &mut dh[cells],
                    xr,
                    xz,
                    xn,
                    hr,
                    hz,
                    hn,
                );
            }
        },
    )
}

/// One row of [`gru_backward`] (a function, one argument per slice, as
/// [`lstm_backward_row`]): the activations r, z, n, the saved `W_hn h + b_hn`, `h_{t-1}`,
/// `dh`, then the input and hidden pre-activation gradients for r, z, n.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gru_backward_row<T: GateFloat>(
    gr: &[T],
    gz: &[T],
    gn: &[T],
    ghn: &[T],
    hp: &[T],
    dh: &mut [T],
    dxr: &mut [T],
    dxz: &mut [T],
    dxn: &mut [T],
    dhr: &mut [T],
    dhz: &mut [T],
    dhn: &mut [T],
) {
    let n = dh.len();
    let (gr, gz, gn, ghn, hp) = (&gr[..n], &gz[..n], &gn[..n], &ghn[..n], &hp[..n]);
    let (dxr, dxz, dxn) = (&mut dxr[..n], &mut dxz[..n], &mut dxn[..n]);
    let (dhr, dhz, dhn) = (&mut dhr[..n], &mut dhz[..n], &mut dhn[..n]);
    let one = T::one();
    for j in 0..n {
        let (r, z, nv) = (gr[j], gz[j], gn[j]);
        let d = dh[j];
        let dn = d * (one - z) * (one - nv * nv);
        let dz = d * (hp[j] - nv) * z * (one - z);
        let dr = dn * ghn[j] * r * (one - r);
        dxr[j] = dr;
        dxz[j] = dz;
        dxn[j] = dn;
        dhr[j] = dr;
        dhz[j] = dz;
        dhn[j] = dn * r;
        dh[j] = d * z;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_activations_match_std() {
        let mut worst = (0f32, 0f32);
        for k in -20_000..=20_000 {
            let x = k as f32 * 1e-3;
            let s = (1.0 / (1.0 + (-(x as f64)).exp())) as f32;
            worst.0 = worst
                .0
                .max((f32::sigmoid(x) - s).abs() / s.abs().max(1e-30));
            let t = (x as f64).tanh() as f32;
            worst.1 = worst
                .1
                .max((f32::tanh_fast(x) - t).abs() / t.abs().max(1e-30));
        }
        assert!(worst.0 < 1e-6 && worst.1 < 1e-6, "{worst:?}");
        assert_eq!(f32::tanh_fast(0.0), 0.0);
        let tiny = f32::sigmoid(-1e9);
        assert!((0.0..1e-37).contains(&tiny) && f32::sigmoid(1e9) == 1.0);
        assert!(f32::tanh_fast(1e9) == 1.0 && f32::tanh_fast(-1e9) == -1.0);
    }
}
