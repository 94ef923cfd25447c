//! One recurrent layer-direction over a whole sequence as a single recorded op.

use crate::autograd::record::{Saved, record};
use crate::tensor::Tensor;
use crate::tensor::kernels::rnn::{self, RnnMode, RnnPlan, RnnWeights};

pub use crate::tensor::kernels::rnn::RnnMode as Mode;

/// The weights of one layer-direction (PyTorch's `weight_ih_l{k}`, `weight_hh_l{k}`,
/// `bias_ih_l{k}`, `bias_hh_l{k}`, `weight_hr_l{k}`).
#[derive(Clone, Copy, Debug)]
pub struct LayerWeights<'a> {
    /// `[gates * hidden, input]`.
    pub w_ih: &'a Tensor,
    /// `[gates * hidden, h]`, `h` the projection size if any, else `hidden`.
    pub w_hh: &'a Tensor,
    /// `[gates * hidden]`.
    pub b_ih: Option<&'a Tensor>,
    /// `[gates * hidden]`.
    pub b_hh: Option<&'a Tensor>,
    /// LSTM's `[proj_size, hidden]` projection.
    pub w_hr: Option<&'a Tensor>,
}

/// What [`rnn_layer`] returns.
#[derive(Clone, Debug)]
pub struct LayerOutput {
    /// `[N, h]`: every step's hidden state, in the input's row order.
    pub output: Tensor,
    /// `[B, h]`: each sequence's final hidden state.
    pub h_n: Tensor,
    /// `[B, hidden]`: each sequence's final cell state (LSTM).
    pub c_n: Option<Tensor>,
}

/// Runs one layer in one direction over a packed sequence: `x` is `[N, input]` with the
/// rows of step `t` after those of steps `0..t`, `batch_sizes[t]` of them (non-increasing;
/// `[B; T]` for an ordinary `[T, B, input]` batch), `h0` is `[B, h]` and `c0` (LSTM) `[B, hidden]`.
/// `reverse` walks the steps from last to first, as the backward direction of a
/// bidirectional layer does.
///
/// The whole sequence is one autograd node (`RnnLayerBackward0`) whose backward runs
/// through time in the kernel ([`crate::tensor::kernels::rnn`]); it gives the gradients of
/// the input, the initial states and every weight, but is not itself differentiable
/// (no double backward), like PyTorch's fused cuDNN path.
///
/// # Panics
/// If the shapes or dtypes disagree, naming `rnn` and the shapes.
pub fn rnn_layer(
    mode: RnnMode,
    x: &Tensor,
    batch_sizes: &[usize],
    reverse: bool,
    h0: &Tensor,
    c0: Option<&Tensor>,
    w: LayerWeights<'_>,
) -> LayerOutput {
    let gates = mode.gates();
    let (gh, input) = (w.w_ih.shape()[0], w.w_ih.shape()[1]);
    let hidden = gh / gates;
    let proj = w.w_hr.map_or(0, |p| p.shape()[0]);
    let ho = if proj > 0 { proj } else { hidden };
    let b = batch_sizes.first().copied().unwrap_or(0);
    let n: usize = batch_sizes.iter().sum();
    assert!(
        !batch_sizes.is_empty()
            && batch_sizes.windows(2).all(|p| p[0] >= p[1])
            && batch_sizes[batch_sizes.len() - 1] > 0,
        "rnn: batch_sizes must be non-empty, non-increasing and positive, got {batch_sizes:?}"
    );
    assert!(
        x.shape() == [n, input],
        "rnn: input must have shape [{n}, {input}], got {:?}",
        x.shape()
    );
    assert!(
        gh % gates == 0 && w.w_hh.shape() == [gh, ho],
        "rnn: weight_hh must have shape [{gh}, {ho}], got {:?}",
        w.w_hh.shape()
    );
    assert!(
        h0.shape() == [b, ho],
        "rnn: Expected hidden size [{b}, {ho}], got {:?}",
        h0.shape()
    );
    if mode == RnnMode::Lstm {
        let c = c0.expect("rnn: LSTM needs a cell state");
        assert!(
            c.shape() == [b, hidden],
            "rnn: Expected cell size [{b}, {hidden}], got {:?}",
            c.shape()
        );
    }
    if let Some(p) = w.w_hr {
        assert!(
            mode == RnnMode::Lstm && p.shape() == [proj, hidden],
            "rnn: weight_hr must be [{proj}, {hidden}] and LSTM only, got {:?}",
            p.shape()
        );
    }
    let mut inputs: Vec<&Tensor> = vec![x, h0];
    inputs.extend(c0.filter(|_| mode == RnnMode::Lstm));
    inputs.extend([w.w_ih, w.w_hh]);
    inputs.extend(w.b_ih);
    inputs.extend(w.b_hh);
    inputs.extend(w.w_hr);
    for bias in [w.b_ih, w.b_hh].into_iter().flatten() {
        assert!(
            bias.shape() == [gh],
            "rnn: bias must have shape [{gh}], got {:?}",
            bias.shape()
        );
    }
    crate::tensor::backend::check_same_device("rnn", &inputs);
    for t in &inputs {
        assert!(
            t.dtype() == x.dtype(),
            "rnn: expected every tensor to be {}, got {}",
            x.dtype(),
            t.dtype()
        );
    }
    let plan = RnnPlan {
        mode,
        batch_sizes: batch_sizes.to_vec(),
        reverse,
        hidden,
        proj,
    };
    let kw = RnnWeights {
        w_ih: w.w_ih,
        w_hh: w.w_hh,
        b_ih: w.b_ih,
        b_hh: w.b_hh,
        w_hr: w.w_hr,
    };
    let c0 = c0.filter(|_| mode == RnnMode::Lstm);
    let f = rnn::forward(&plan, x, h0, c0, kw);
    let mut parts = vec![f.out.reshape(&[n * ho]), f.h_n.reshape(&[b * ho])];
    parts.extend(f.c_n.as_ref().map(|c| c.reshape(&[b * hidden])));
    let flat = if parts.len() == 1 {
        parts.remove(0)
    } else {
        Tensor::cat(&parts, 0)
    };
    let saved = f.saved;
    let has = (
        c0.is_some(),
        w.b_ih.is_some(),
        w.b_hh.is_some(),
        w.w_hr.is_some(),
    );
    let flat = record(flat, &inputs, "RnnLayerBackward0", || {
        let w_ih = Saved::new(w.w_ih);
        let w_hh = Saved::new(w.w_hh);
        let w_hr = w.w_hr.map(Saved::new);
        let b_ih = w.b_ih.map(|t| t.detach());
        let b_hh = w.b_hh.map(|t| t.detach());
        let x_meta = x.detach();
        move |g: &Tensor, _needs: &[bool]| {
            let g = g.contiguous();
            let d_out = g.narrow(0, 0, n * ho).reshape(&[n, ho]);
            let d_hn = g.narrow(0, (n * ho) as isize, b * ho).reshape(&[b, ho]);
            let d_cn = has.0.then(|| {
                g.narrow(0, ((n + b) * ho) as isize, b * hidden)
                    .reshape(&[b, hidden])
            });
            let kw = RnnWeights {
                w_ih: w_ih.get(),
                w_hh: w_hh.get(),
                b_ih: b_ih.as_ref(),
                b_hh: b_hh.as_ref(),
                w_hr: w_hr.as_ref().map(|s| s.get()),
            };
            let gr = rnn::backward(&plan, &saved, &x_meta, kw, &d_out, &d_hn, d_cn.as_ref());
            let mut out = vec![Some(gr.x), Some(gr.h0)];
            if has.0 {
                out.push(gr.c0);
            }
            out.extend([Some(gr.w_ih), Some(gr.w_hh)]);
            if has.1 {
                out.push(gr.b_ih);
            }
            if has.2 {
                out.push(gr.b_hh);
            }
            if has.3 {
                out.push(gr.w_hr);
            }
            out
        }
    });
    let output = flat.narrow(0, 0, n * ho).reshape(&[n, ho]);
    let h_n = flat.narrow(0, (n * ho) as isize, b * ho).reshape(&[b, ho]);
    let c_n = has.0.then(|| {
        flat.narrow(0, ((n + b) * ho) as isize, b * hidden)
            .reshape(&[b, hidden])
    });
    LayerOutput { output, h_n, c_n }
}
