//! Whole-sequence recurrent layers (Elman tanh/relu, LSTM with optional projection, GRU)
//! for one layer and one direction, forward and backward through time.
//!
//! The layout is PyTorch's packed one: the input is `[N, input]` with the rows of time
//! step `t` at `offsets[t]..offsets[t] + batch_sizes[t]` and `batch_sizes`
//! non-increasing (an unpacked `[T, B, input]` batch is the case `batch_sizes = [B; T]`).
//! The forward does one GEMM for every step's input projection (`x W_ih^T + b_ih (+ b_hh)`
//! into one `[N, gates]` buffer), then per step one GEMM `h_{t-1} W_hh^T` accumulated into
//! that step's rows and one fused gate kernel ([`gates`]) that leaves the activations in
//! place. The backward walks the steps in reverse with one gate-derivative kernel and one
//! GEMM per step, writing into buffers allocated once for the whole sequence, and finishes
//! with one GEMM each for the input, `W_ih` and `W_hh` gradients.

pub mod gates;

use crate::tensor::backend::select;
use crate::tensor::kernels::gemm::{Threads, gemm_f32, gemm_f64};
use crate::tensor::{BufferElement, Tensor};
use gates::GateFloat;
use std::any::Any;

/// Which recurrence a layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RnnMode {
    /// `h_t = tanh(W_ih x + b_ih + W_hh h + b_hh)`.
    Tanh,
    /// `h_t = relu(W_ih x + b_ih + W_hh h + b_hh)`.
    Relu,
    /// LSTM, gates `i, f, g, o`.
    Lstm,
    /// GRU, gates `r, z, n`.
    Gru,
}

impl RnnMode {
    /// How many gate blocks of `hidden` rows the weights stack (1, 4 or 3).
    pub fn gates(self) -> usize {
        match self {
            RnnMode::Tanh | RnnMode::Relu => 1,
            RnnMode::Lstm => 4,
            RnnMode::Gru => 3,
        }
    }
}

/// The shape of one layer-direction's run.
#[derive(Clone, Debug)]
pub struct RnnPlan {
    /// The recurrence.
    pub mode: RnnMode,
    /// Rows per time step, non-increasing, the first one the batch size.
    pub batch_sizes: Vec<usize>,
    /// Walk the steps from last to first (the reverse direction of a bidirectional layer).
    pub reverse: bool,
    /// Hidden units (`hidden_size`).
    pub hidden: usize,
    /// LSTM projection size (`proj_size`), 0 for none.
    pub proj: usize,
}

impl RnnPlan {
    /// The size of `h` (and of each output row): `proj` if set, else `hidden`.
    pub fn out_size(&self) -> usize {
        if self.proj > 0 {
            self.proj
        } else {
            self.hidden
        }
    }
    /// The batch size (rows of the first step).
    pub fn batch(&self) -> usize {
        self.batch_sizes.first().copied().unwrap_or(0)
    }
    /// Total rows `N` (the sum of `batch_sizes`).
    pub fn rows(&self) -> usize {
        self.batch_sizes.iter().sum()
    }
    fn offsets(&self) -> Vec<usize> {
        let mut acc = 0;
        self.batch_sizes
            .iter()
            .map(|b| {
                let o = acc;
                acc += b;
                o
            })
            .collect()
    }
    fn order(&self) -> Vec<usize> {
        let t = self.batch_sizes.len();
        if self.reverse {
            (0..t).rev().collect()
        } else {
            (0..t).collect()
        }
    }
}

/// A layer-direction's weights (`weight_ih_l{k}`, `weight_hh_l{k}`, biases, `weight_hr_l{k}`).
#[derive(Clone, Copy, Debug)]
pub struct RnnWeights<'a> {
    /// `[gates * hidden, input]`.
    pub w_ih: &'a Tensor,
    /// `[gates * hidden, out_size]`.
    pub w_hh: &'a Tensor,
    /// `[gates * hidden]`.
    pub b_ih: Option<&'a Tensor>,
    /// `[gates * hidden]`.
    pub b_hh: Option<&'a Tensor>,
    /// LSTM projection `[proj, hidden]`.
    pub w_hr: Option<&'a Tensor>,
}

/// What the forward keeps for the backward (activations of every step), opaque to the
/// layers above; a device backend stores its own buffers here.
pub struct RnnSaved(pub Box<dyn Any + Send + Sync>);

/// The outputs of [`forward`].
pub struct RnnForward {
    /// `[N, out_size]`, every step's `h_t`.
    pub out: Tensor,
    /// `[B, out_size]`, each sequence's last `h`.
    pub h_n: Tensor,
    /// `[B, hidden]`, each sequence's last `c` (LSTM).
    pub c_n: Option<Tensor>,
    /// The activations the backward reads.
    pub saved: RnnSaved,
}

/// The gradients [`backward`] returns, shaped like the inputs and weights.
pub struct RnnGrads {
    /// Of the input `[N, input]`.
    pub x: Tensor,
    /// Of `h_0`.
    pub h0: Tensor,
    /// Of `c_0` (LSTM).
    pub c0: Option<Tensor>,
    /// Of `w_ih`.
    pub w_ih: Tensor,
    /// Of `w_hh`.
    pub w_hh: Tensor,
    /// Of `b_ih` (when the layer has biases).
    pub b_ih: Option<Tensor>,
    /// Of `b_hh`.
    pub b_hh: Option<Tensor>,
    /// Of `w_hr`.
    pub w_hr: Option<Tensor>,
}

/// Runs the layer over the whole sequence: `x` `[N, input]`, `h0` `[B, out_size]`, `c0`
/// `[B, hidden]` for an LSTM (all of one float dtype, shapes already checked).
pub fn forward(
    plan: &RnnPlan,
    x: &Tensor,
    h0: &Tensor,
    c0: Option<&Tensor>,
    w: RnnWeights<'_>,
) -> RnnForward {
    select("rnn", &[x, h0, w.w_ih, w.w_hh]).rnn_forward(plan, x, h0, c0, w)
}

/// Backpropagates through the whole sequence from the gradients of `out` (`[N, out_size]`),
/// `h_n` and `c_n`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    plan: &RnnPlan,
    saved: &RnnSaved,
    x: &Tensor,
    w: RnnWeights<'_>,
    d_out: &Tensor,
    d_hn: &Tensor,
    d_cn: Option<&Tensor>,
) -> RnnGrads {
    select("rnn_backward", &[x, d_out, d_hn, w.w_ih])
        .rnn_backward(plan, saved, x, w, d_out, d_hn, d_cn)
}

/// The CPU loops behind [`forward`] and [`backward`].
pub mod cpu {
    use super::*;
    use crate::float_dispatch;

    /// See [`super::forward`].
    pub fn forward(
        plan: &RnnPlan,
        x: &Tensor,
        h0: &Tensor,
        c0: Option<&Tensor>,
        w: RnnWeights<'_>,
    ) -> RnnForward {
        float_dispatch!("rnn", x.dtype(), T => forward_t::<T>(plan, x, h0, c0, w))
    }

    /// See [`super::backward`].
    pub fn backward(
        plan: &RnnPlan,
        saved: &RnnSaved,
        x: &Tensor,
        w: RnnWeights<'_>,
        d_out: &Tensor,
        d_hn: &Tensor,
        d_cn: Option<&Tensor>,
    ) -> RnnGrads {
        float_dispatch!("rnn_backward", x.dtype(), T => backward_t::<T>(plan, saved, x, w, d_out, d_hn, d_cn))
    }
}

/// f32 / f64 with their GEMM.
trait RnnFloat: GateFloat + BufferElement + Send + Sync + 'static {
    /// `C (+)= A·B` with element strides, on kiln's threads.
    #[allow(clippy::too_many_arguments)]
    fn mm(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        a_s: (isize, isize),
        b: &[Self],
        b_s: (isize, isize),
        c: &mut [Self],
        c_rs: isize,
        acc: bool,
    );
}

impl RnnFloat for f32 {
    fn mm(
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        a_s: (isize, isize),
        b: &[f32],
        b_s: (isize, isize),
        c: &mut [f32],
        c_rs: isize,
        acc: bool,
    ) {
        gemm_f32(
            m,
            n,
            k,
            a,
            a_s.0,
            a_s.1,
            b,
            b_s.0,
            b_s.1,
            c,
            c_rs,
            1,
            acc,
            Threads::Auto,
        )
    }
}

impl RnnFloat for f64 {
    fn mm(
        m: usize,
        n: usize,
        k: usize,
        a: &[f64],
        a_s: (isize, isize),
        b: &[f64],
        b_s: (isize, isize),
        c: &mut [f64],
        c_rs: isize,
        acc: bool,
    ) {
        gemm_f64(
            m,
            n,
            k,
            a,
            a_s.0,
            a_s.1,
            b,
            b_s.0,
            b_s.1,
            c,
            c_rs,
            1,
            acc,
            Threads::Auto,
        )
    }
}

/// The typed activations one forward keeps.
struct Saved<T> {
    /// `[N, gates * hidden]` activations.
    gates: Vec<T>,
    /// `[N, out_size]`: `h_{t-1}` of every row.
    h_prev: Vec<T>,
    /// LSTM `[N, hidden]`: `c_{t-1}` of every row.
    c_prev: Vec<T>,
    /// LSTM `[N, hidden]`: `tanh(c_t)`.
    tanh_c: Vec<T>,
    /// LSTM with projection `[N, hidden]`: `o * tanh(c_t)` before the projection.
    m: Vec<T>,
    /// GRU `[N, hidden]`: `W_hn h_{t-1} + b_hn`.
    ghn: Vec<T>,
    /// The `[N, input]` input.
    x: Vec<T>,
}

impl<T> Drop for Saved<T> {
    /// The activations go back to kiln's buffer cache: they are plain vectors, not tensor
    /// storage, so dropping them would hand them to malloc and the next forward would
    /// fault in fresh pages (perf: ~7% of an LSTM training step).
    fn drop(&mut self) {
        for v in [
            &mut self.gates,
            &mut self.h_prev,
            &mut self.c_prev,
            &mut self.tanh_c,
            &mut self.m,
            &mut self.ghn,
        ] {
            crate::tensor::alloc::recycle(std::mem::take(v));
        }
    }
}

fn vec_of<T: RnnFloat>(t: Option<&Tensor>) -> Option<Vec<T>> {
    t.map(|t| t.gather_vec::<T>())
}

fn zeros<T: RnnFloat>(n: usize) -> Vec<T> {
    crate::tensor::alloc::filled_vec(n, T::zero())
}

fn forward_t<T: RnnFloat>(
    plan: &RnnPlan,
    x: &Tensor,
    h0: &Tensor,
    c0: Option<&Tensor>,
    w: RnnWeights<'_>,
) -> RnnForward {
    let (mode, h, ho) = (plan.mode, plan.hidden, plan.out_size());
    let gh = mode.gates() * h;
    let (n, b, input) = (plan.rows(), plan.batch(), x.shape()[1]);
    let lstm = mode == RnnMode::Lstm;
    let xv = x.gather_vec::<T>();
    let w_ih = w.w_ih.gather_vec::<T>();
    let w_hh = w.w_hh.gather_vec::<T>();
    let w_hr = vec_of::<T>(w.w_hr);
    // The input projection of every step: one GEMM onto rows pre-filled with the biases
    // (both biases for the layers that add them together; GRU keeps b_hh apart).
    let mut bias_row = zeros::<T>(gh);
    for bias in [w.b_ih, if mode == RnnMode::Gru { None } else { w.b_hh }]
        .into_iter()
        .flatten()
    {
        for (o, v) in bias_row.iter_mut().zip(bias.gather_vec::<T>()) {
            *o += v;
        }
    }
    let mut pre = crate::tensor::alloc::vec_with_capacity::<T>(n * gh);
    for _ in 0..n {
        pre.extend_from_slice(&bias_row);
    }
    T::mm(
        n,
        gh,
        input,
        &xv,
        (input as isize, 1),
        &w_ih,
        (1, input as isize),
        &mut pre,
        gh as isize,
        true,
    );
    let b_hh = if mode == RnnMode::Gru {
        vec_of::<T>(w.b_hh)
    } else {
        None
    };
    let mut h_cur = h0.gather_vec::<T>();
    let mut c_cur = if lstm {
        c0.expect("rnn: LSTM needs c0").gather_vec::<T>()
    } else {
        Vec::new()
    };
    let mut out = zeros::<T>(n * ho);
    let mut h_prev = zeros::<T>(n * ho);
    let per_row = |on: bool| if on { zeros::<T>(n * h) } else { Vec::new() };
    let (mut c_prev, mut tanh_c) = (per_row(lstm), per_row(lstm));
    let mut m = per_row(lstm && plan.proj > 0);
    let mut ghn = per_row(mode == RnnMode::Gru);
    let mut gh_step = if mode == RnnMode::Gru {
        zeros::<T>(b * gh)
    } else {
        Vec::new()
    };
    let offsets = plan.offsets();
    for t in plan.order() {
        let (bt, off) = (plan.batch_sizes[t], offsets[t]);
        let rows = off..off + bt;
        let hp = &mut h_prev[rows.start * ho..rows.end * ho];
        hp.copy_from_slice(&h_cur[..bt * ho]);
        let hp = &h_prev[rows.start * ho..rows.end * ho];
        let g = &mut pre[rows.start * gh..rows.end * gh];
        let o_rows = &mut out[rows.start * ho..rows.end * ho];
        match mode {
            RnnMode::Tanh | RnnMode::Relu => {
                T::mm(
                    bt,
                    gh,
                    ho,
                    hp,
                    (ho as isize, 1),
                    &w_hh,
                    (1, ho as isize),
                    g,
                    gh as isize,
                    true,
                );
                gates::simple_forward(g, mode == RnnMode::Relu);
                o_rows.copy_from_slice(g);
            }
            RnnMode::Lstm => {
                T::mm(
                    bt,
                    gh,
                    ho,
                    hp,
                    (ho as isize, 1),
                    &w_hh,
                    (1, ho as isize),
                    g,
                    gh as isize,
                    true,
                );
                let hr = rows.start * h..rows.end * h;
                let cp = &mut c_prev[hr.clone()];
                let tc = &mut tanh_c[hr.clone()];
                match &w_hr {
                    None => gates::lstm_forward(h, g, &mut c_cur[..bt * h], cp, tc, o_rows),
                    Some(w_hr) => {
                        let mr = &mut m[hr];
                        gates::lstm_forward(h, g, &mut c_cur[..bt * h], cp, tc, mr);
                        T::mm(
                            bt,
                            ho,
                            h,
                            mr,
                            (h as isize, 1),
                            w_hr,
                            (1, h as isize),
                            o_rows,
                            ho as isize,
                            false,
                        );
                    }
                }
            }
            RnnMode::Gru => {
                let ghs = &mut gh_step[..bt * gh];
                match &b_hh {
                    Some(bh) => ghs.chunks_exact_mut(gh).for_each(|r| r.copy_from_slice(bh)),
                    None => ghs.fill(T::zero()),
                }
                T::mm(
                    bt,
                    gh,
                    ho,
                    hp,
                    (ho as isize, 1),
                    &w_hh,
                    (1, ho as isize),
                    ghs,
                    gh as isize,
                    true,
                );
                gates::gru_forward(
                    h,
                    g,
                    ghs,
                    hp,
                    o_rows,
                    &mut ghn[rows.start * h..rows.end * h],
                );
            }
        }
        h_cur[..bt * ho].copy_from_slice(o_rows);
    }
    let saved = Saved {
        gates: pre,
        h_prev,
        c_prev,
        tanh_c,
        m,
        ghn,
        x: xv,
    };
    RnnForward {
        out: Tensor::from_vec(out, &[n, ho]),
        h_n: Tensor::from_vec(h_cur, &[b, ho]),
        c_n: lstm.then(|| Tensor::from_vec(c_cur, &[b, h])),
        saved: RnnSaved(Box::new(saved)),
    }
}

fn col_sum<T: RnnFloat>(rows: &[T], width: usize) -> Vec<T> {
    let mut s = zeros::<T>(width);
    for r in rows.chunks_exact(width) {
        for (o, &v) in s.iter_mut().zip(r) {
            *o += v;
        }
    }
    s
}

fn backward_t<T: RnnFloat>(
    plan: &RnnPlan,
    saved: &RnnSaved,
    x: &Tensor,
    w: RnnWeights<'_>,
    d_out: &Tensor,
    d_hn: &Tensor,
    d_cn: Option<&Tensor>,
) -> RnnGrads {
    let s: &Saved<T> = saved
        .0
        .downcast_ref()
        .expect("rnn_backward: saved activations of another dtype");
    let (mode, h, ho) = (plan.mode, plan.hidden, plan.out_size());
    let gh = mode.gates() * h;
    let (n, b, input) = (plan.rows(), plan.batch(), x.shape()[1]);
    let lstm = mode == RnnMode::Lstm;
    let gru = mode == RnnMode::Gru;
    let w_ih = w.w_ih.gather_vec::<T>();
    let w_hh = w.w_hh.gather_vec::<T>();
    let w_hr = vec_of::<T>(w.w_hr);
    let dout = d_out.gather_vec::<T>();
    let mut dh = d_hn.gather_vec::<T>();
    let mut dc = if lstm {
        d_cn.map_or_else(|| zeros::<T>(b * h), |t| t.gather_vec::<T>())
    } else {
        Vec::new()
    };
    let mut dgx = zeros::<T>(n * gh);
    let mut dgh = if gru { zeros::<T>(n * gh) } else { Vec::new() };
    let mut dh_all = if w_hr.is_some() {
        zeros::<T>(n * ho)
    } else {
        Vec::new()
    };
    let mut dm = if w_hr.is_some() {
        zeros::<T>(b * h)
    } else {
        Vec::new()
    };
    let offsets = plan.offsets();
    for t in plan.order().into_iter().rev() {
        let (bt, off) = (plan.batch_sizes[t], offsets[t]);
        let (r0, r1) = (off, off + bt);
        let dh_rows = &mut dh[..bt * ho];
        for (d, &g) in dh_rows.iter_mut().zip(&dout[r0 * ho..r1 * ho]) {
            *d += g;
        }
        let dg = &mut dgx[r0 * gh..r1 * gh];
        let act = &s.gates[r0 * gh..r1 * gh];
        match mode {
            RnnMode::Tanh | RnnMode::Relu => {
                gates::simple_backward(act, dh_rows, dg, mode == RnnMode::Relu)
            }
            RnnMode::Lstm => {
                let hr = r0 * h..r1 * h;
                let dmr: &[T] = match &w_hr {
                    None => dh_rows,
                    Some(w_hr) => {
                        dh_all[r0 * ho..r1 * ho].copy_from_slice(dh_rows);
                        let d = &mut dm[..bt * h];
                        T::mm(
                            bt,
                            h,
                            ho,
                            dh_rows,
                            (ho as isize, 1),
                            w_hr,
                            (h as isize, 1),
                            d,
                            h as isize,
                            false,
                        );
                        d
                    }
                };
                gates::lstm_backward(
                    h,
                    act,
                    &s.c_prev[hr.clone()],
                    &s.tanh_c[hr],
                    dmr,
                    &mut dc[..bt * h],
                    dg,
                );
            }
            RnnMode::Gru => {
                let hr = r0 * h..r1 * h;
                let dgr = &mut dgh[r0 * gh..r1 * gh];
                gates::gru_backward(
                    h,
                    act,
                    &s.ghn[hr.clone()],
                    &s.h_prev[r0 * ho..r1 * ho],
                    dh_rows,
                    dg,
                    dgr,
                );
            }
        }
        // dh_{t-1} = dgates_h · W_hh (GRU adds it to the z * dh part already there).
        let dgr: &[T] = if gru {
            &dgh[r0 * gh..r1 * gh]
        } else {
            &dgx[r0 * gh..r1 * gh]
        };
        T::mm(
            bt,
            ho,
            gh,
            dgr,
            (gh as isize, 1),
            &w_hh,
            (ho as isize, 1),
            &mut dh[..bt * ho],
            ho as isize,
            gru,
        );
    }
    let dgh_all: &[T] = if gru { &dgh } else { &dgx };
    let mut dx = zeros::<T>(n * input);
    T::mm(
        n,
        input,
        gh,
        &dgx,
        (gh as isize, 1),
        &w_ih,
        (input as isize, 1),
        &mut dx,
        input as isize,
        false,
    );
    let mut dw_ih = zeros::<T>(gh * input);
    T::mm(
        gh,
        input,
        n,
        &dgx,
        (1, gh as isize),
        &s.x,
        (input as isize, 1),
        &mut dw_ih,
        input as isize,
        false,
    );
    let mut dw_hh = zeros::<T>(gh * ho);
    T::mm(
        gh,
        ho,
        n,
        dgh_all,
        (1, gh as isize),
        &s.h_prev,
        (ho as isize, 1),
        &mut dw_hh,
        ho as isize,
        false,
    );
    let dw_hr = w_hr.as_ref().map(|_| {
        let mut d = zeros::<T>(ho * h);
        T::mm(
            ho,
            h,
            n,
            &dh_all,
            (1, ho as isize),
            &s.m,
            (h as isize, 1),
            &mut d,
            h as isize,
            false,
        );
        Tensor::from_vec(d, &[ho, h])
    });
    let db_ih = w.b_ih.map(|_| Tensor::from_vec(col_sum(&dgx, gh), &[gh]));
    let db_hh = w
        .b_hh
        .map(|_| Tensor::from_vec(col_sum(dgh_all, gh), &[gh]));
    // The step buffers back to the cache (see `Saved`'s drop).
    for v in [dgx, dgh, dh_all, dm] {
        crate::tensor::alloc::recycle(v);
    }
    RnnGrads {
        x: Tensor::from_vec(dx, &[n, input]),
        h0: Tensor::from_vec(dh, &[b, ho]),
        c0: lstm.then(|| Tensor::from_vec(dc, &[b, h])),
        w_ih: Tensor::from_vec(dw_ih, &[gh, input]),
        w_hh: Tensor::from_vec(dw_hh, &[gh, ho]),
        b_ih: db_ih,
        b_hh: db_hh,
        w_hr: dw_hr,
    }
}
