//! Recurrent layers: `RNN` (tanh / relu), `LSTM` (with `proj_size`) and `GRU`.
//!
//! # The signature of a stateful layer
//!
//! [`Module::forward`] takes one tensor and returns one, so a recurrent layer there runs
//! from zero initial states and returns only its output (what a `Sequential` can chain).
//! The PyTorch call `output, h_n = rnn(x, h0)` / `output, (h_n, c_n) = lstm(x, (h0, c0))`
//! is the inherent `forward_with`, with the state optional and returned as a tuple of the
//! same shape:
//!
//! ```
//! use kiln::nn::{LSTM, Linear, Module, RnnOptions};
//! use kiln::Tensor;
//!
//! #[derive(Module)]
//! struct Classifier {
//!     lstm: LSTM,
//!     fc: Linear,
//! }
//!
//! impl Classifier {
//!     fn forward(&self, x: &Tensor) -> Tensor {
//!         let (_output, (h_n, _c_n)) = self.lstm.forward_with(x, None);
//!         self.fc.forward(&h_n.select(0, -1))
//!     }
//! }
//!
//! let net = Classifier {
//!     lstm: LSTM::with_options(28, 64, RnnOptions::new().batch_first(true)),
//!     fc: Linear::new(64, 10),
//! };
//! assert_eq!(net.forward(&Tensor::randn(&[5, 28, 28])).shape(), &[5, 10]);
//! assert_eq!(net.lstm.named_parameters()[0].0, "weight_ih_l0");
//! ```
//!
//! Packed input (`nn::utils::rnn::pack_padded_sequence`) goes through `forward_packed`,
//! which returns a [`PackedSequence`] in place of the output tensor.
//!
//! Each layer and direction runs as one fused op over the whole sequence
//! ([`crate::nn::functional::rnn_layer`]).

use super::functional::{self, LayerWeights, Mode};
use super::init;
use super::module::{Module, TrainingFlag};
use super::utils::rnn::PackedSequence;
use crate::tensor::{DType, Device, Tensor};

/// The nonlinearity of a plain [`RNN`] (`nonlinearity='tanh'` or `'relu'`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Nonlinearity {
    /// `tanh` (the default).
    #[default]
    Tanh,
    /// `relu`.
    Relu,
}

/// The keyword arguments of `nn.RNN` / `nn.LSTM` / `nn.GRU` (and their `dtype=`), with
/// PyTorch's defaults; set them with the builder methods.
#[derive(Clone, Debug)]
pub struct RnnOptions {
    /// Stacked layers (`num_layers=1`).
    pub num_layers: usize,
    /// Whether the layers have `bias_ih` / `bias_hh` (`bias=True`).
    pub bias: bool,
    /// Input and output are `[B, T, *]` instead of `[T, B, *]` (`batch_first=False`).
    pub batch_first: bool,
    /// Dropout on each layer's output but the last, in training (`dropout=0`).
    pub dropout: f64,
    /// Run a second, reversed direction and concatenate (`bidirectional=False`).
    pub bidirectional: bool,
    /// LSTM only: project `h` to this size (`proj_size=0`, none).
    pub proj_size: usize,
    /// RNN only: `tanh` or `relu`.
    pub nonlinearity: Nonlinearity,
    /// The parameters' dtype (`dtype=torch.float32`).
    pub dtype: DType,
}

impl Default for RnnOptions {
    fn default() -> Self {
        RnnOptions {
            num_layers: 1,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
            proj_size: 0,
            nonlinearity: Nonlinearity::Tanh,
            dtype: DType::F32,
        }
    }
}

impl RnnOptions {
    /// PyTorch's defaults.
    pub fn new() -> Self {
        RnnOptions::default()
    }
    /// `num_layers=`.
    pub fn num_layers(mut self, n: usize) -> Self {
        self.num_layers = n;
        self
    }
    /// `bias=`.
    pub fn bias(mut self, on: bool) -> Self {
        self.bias = on;
        self
    }
    /// `batch_first=`.
    pub fn batch_first(mut self, on: bool) -> Self {
        self.batch_first = on;
        self
    }
    /// `dropout=`.
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
    /// `bidirectional=`.
    pub fn bidirectional(mut self, on: bool) -> Self {
        self.bidirectional = on;
        self
    }
    /// `proj_size=` (LSTM only).
    pub fn proj_size(mut self, p: usize) -> Self {
        self.proj_size = p;
        self
    }
    /// `nonlinearity=` (RNN only).
    pub fn nonlinearity(mut self, n: Nonlinearity) -> Self {
        self.nonlinearity = n;
        self
    }
    /// `dtype=`.
    pub fn dtype(mut self, d: DType) -> Self {
        self.dtype = d;
        self
    }
}

/// The parameters of one layer and direction. `w_hr` is the LSTM projection.
#[derive(Clone, Debug)]
pub struct RnnParams {
    /// `weight_ih_l{k}`: `[gates * hidden, input]`.
    pub w_ih: Tensor,
    /// `weight_hh_l{k}`: `[gates * hidden, h]`.
    pub w_hh: Tensor,
    /// `bias_ih_l{k}`.
    pub b_ih: Option<Tensor>,
    /// `bias_hh_l{k}`.
    pub b_hh: Option<Tensor>,
    /// `weight_hr_l{k}`: `[proj_size, hidden]`.
    pub w_hr: Option<Tensor>,
}

impl RnnParams {
    fn weights(&self) -> LayerWeights<'_> {
        LayerWeights {
            w_ih: &self.w_ih,
            w_hh: &self.w_hh,
            b_ih: self.b_ih.as_ref(),
            b_hh: self.b_hh.as_ref(),
            w_hr: self.w_hr.as_ref(),
        }
    }
    fn visit(&self, suffix: &str, f: &mut dyn FnMut(&str, &Tensor)) {
        f(&format!("weight_ih{suffix}"), &self.w_ih);
        f(&format!("weight_hh{suffix}"), &self.w_hh);
        if let Some(b) = &self.b_ih {
            f(&format!("bias_ih{suffix}"), b);
        }
        if let Some(b) = &self.b_hh {
            f(&format!("bias_hh{suffix}"), b);
        }
        if let Some(w) = &self.w_hr {
            f(&format!("weight_hr{suffix}"), w);
        }
    }
}

/// Fills every tensor with U(-1/sqrt(hidden), 1/sqrt(hidden)) in order, as
/// `RNNBase.reset_parameters` / `RNNCellBase.reset_parameters` do.
pub(crate) fn reset_uniform(params: &[&Tensor], hidden: usize) {
    let stdv = if hidden > 0 {
        1.0 / (hidden as f64).sqrt()
    } else {
        0.0
    };
    for p in params {
        init::uniform_(p, -stdv, stdv);
    }
}

pub(crate) fn param(shape: &[usize], dtype: DType) -> Tensor {
    Tensor::zeros_on(shape, dtype, Device::Cpu)
}

/// What the three layer types share.
#[derive(Clone, Debug)]
struct RnnBase {
    mode: Mode,
    input_size: usize,
    hidden_size: usize,
    options: RnnOptions,
    params: Vec<RnnParams>,
    training: TrainingFlag,
}

type State = (Tensor, Option<Tensor>);

impl RnnBase {
    fn new(name: &str, mode: Mode, input_size: usize, hidden_size: usize, o: RnnOptions) -> Self {
        assert!(
            (0.0..=1.0).contains(&o.dropout),
            "{name}: dropout should be a number in range [0, 1] representing the probability of an element being zeroed, got {}",
            o.dropout
        );
        assert!(
            hidden_size > 0,
            "{name}: hidden_size must be greater than zero"
        );
        assert!(
            o.num_layers > 0,
            "{name}: num_layers must be greater than zero"
        );
        assert!(
            o.proj_size == 0 || mode == Mode::Lstm,
            "{name}: proj_size argument is only supported for LSTM, not RNN or GRU"
        );
        assert!(
            o.proj_size < hidden_size,
            "{name}: proj_size has to be smaller than hidden_size"
        );
        if o.dropout > 0.0 && o.num_layers == 1 {
            eprintln!(
                "UserWarning: dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects num_layers greater than 1, but got dropout={} and num_layers=1",
                o.dropout
            );
        }
        let gate = mode.gates() * hidden_size;
        let real = if o.proj_size > 0 {
            o.proj_size
        } else {
            hidden_size
        };
        let dirs = if o.bidirectional { 2 } else { 1 };
        let mut params = Vec::new();
        for layer in 0..o.num_layers {
            for _ in 0..dirs {
                let input = if layer == 0 { input_size } else { real * dirs };
                params.push(RnnParams {
                    w_ih: param(&[gate, input], o.dtype),
                    w_hh: param(&[gate, real], o.dtype),
                    b_ih: o.bias.then(|| param(&[gate], o.dtype)),
                    b_hh: o.bias.then(|| param(&[gate], o.dtype)),
                    w_hr: (o.proj_size > 0).then(|| param(&[o.proj_size, hidden_size], o.dtype)),
                });
            }
        }
        let base = RnnBase {
            mode,
            input_size,
            hidden_size,
            options: o,
            params,
            training: TrainingFlag::new(),
        };
        let mut all = Vec::new();
        base.visit(&mut |_, t| all.push(t.shallow_clone()));
        reset_uniform(&all.iter().collect::<Vec<_>>(), hidden_size);
        for t in &all {
            t.requires_grad_(true);
        }
        base
    }

    fn dirs(&self) -> usize {
        if self.options.bidirectional { 2 } else { 1 }
    }

    fn out_size(&self) -> usize {
        if self.options.proj_size > 0 {
            self.options.proj_size
        } else {
            self.hidden_size
        }
    }

    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        let d = self.dirs();
        for (i, p) in self.params.iter().enumerate() {
            let rev = if i % d == 1 { "_reverse" } else { "" };
            p.visit(&format!("_l{}{rev}", i / d), f);
        }
    }

    fn extra_repr(&self) -> String {
        let o = &self.options;
        let mut s = format!("{}, {}", self.input_size, self.hidden_size);
        if o.proj_size != 0 {
            s += &format!(", proj_size={}", o.proj_size);
        }
        if o.num_layers != 1 {
            s += &format!(", num_layers={}", o.num_layers);
        }
        if !o.bias {
            s += ", bias=False";
        }
        if o.batch_first {
            s += ", batch_first=True";
        }
        if o.dropout != 0.0 {
            s += &format!(", dropout={}", o.dropout);
        }
        if o.bidirectional {
            s += ", bidirectional=True";
        }
        s
    }

    /// The stack over packed rows `data` `[N, input]`; `h0` `[L * D, B, h]`.
    fn run_rows(
        &self,
        data: &Tensor,
        batch_sizes: &[usize],
        h0: Option<&Tensor>,
        c0: Option<&Tensor>,
    ) -> (Tensor, State) {
        let name = self.name();
        assert!(
            data.dim() == 2 && data.shape()[1] == self.input_size,
            "{name}: input.size(-1) must be equal to input_size. Expected {}, got {}",
            self.input_size,
            data.shape().last().copied().unwrap_or(0)
        );
        let (d, ho, b) = (
            self.dirs(),
            self.out_size(),
            batch_sizes.first().copied().unwrap_or(0),
        );
        let ld = self.options.num_layers * d;
        let check = |t: &Tensor, size: usize, what: &str| {
            assert!(
                t.shape() == [ld, b, size],
                "{name}: Expected {what} size [{ld}, {b}, {size}], got {:?}",
                t.shape()
            )
        };
        h0.inspect(|t| check(t, ho, "hidden"));
        c0.inspect(|t| check(t, self.hidden_size, "cell"));
        let lstm = self.mode == Mode::Lstm;
        let zeros = |size: usize| Tensor::zeros_on(&[b, size], data.dtype(), data.device());
        let mut layer_in = data.shallow_clone();
        let (mut hs, mut cs) = (Vec::with_capacity(ld), Vec::with_capacity(ld));
        for l in 0..self.options.num_layers {
            let mut outs = Vec::with_capacity(d);
            for dir in 0..d {
                let i = l * d + dir;
                let h = h0.map_or_else(|| zeros(ho), |t| t.select(0, i as isize));
                let c = lstm.then(|| {
                    c0.map_or_else(|| zeros(self.hidden_size), |t| t.select(0, i as isize))
                });
                let r = functional::rnn_layer(
                    self.mode,
                    &layer_in,
                    batch_sizes,
                    dir == 1,
                    &h,
                    c.as_ref(),
                    self.params[i].weights(),
                );
                outs.push(r.output);
                hs.push(r.h_n);
                cs.extend(r.c_n);
            }
            let out = if d == 1 {
                outs.remove(0)
            } else {
                Tensor::cat(&outs, 1)
            };
            let last = l + 1 == self.options.num_layers;
            layer_in = if last {
                out
            } else {
                functional::dropout(&out, self.options.dropout, self.training.get())
            };
        }
        let h_n = Tensor::stack(&hs, 0);
        let c_n = lstm.then(|| Tensor::stack(&cs, 0));
        (layer_in, (h_n, c_n))
    }

    /// A padded `[T, B, input]` batch (or `[B, T, input]`, or unbatched `[T, input]`).
    fn run(&self, x: &Tensor, h0: Option<&Tensor>, c0: Option<&Tensor>) -> (Tensor, State) {
        let name = self.name();
        assert!(
            x.dim() == 2 || x.dim() == 3,
            "{name}: Expected input to be 2D or 3D, got {}D instead",
            x.dim()
        );
        if x.dim() == 2 {
            let un = |t: Option<&Tensor>| {
                t.map(|t| {
                assert!(t.dim() == 2, "{name}: For unbatched 2-D input, hx should also be 2-D but got {}-D tensor", t.dim());
                t.unsqueeze(1)
            })
            };
            let (h, c) = (un(h0), un(c0));
            let xb = x.unsqueeze(if self.options.batch_first { 0 } else { 1 });
            let (out, (h_n, c_n)) = self.run(&xb, h.as_ref(), c.as_ref());
            let out = out.squeeze_dim(if self.options.batch_first { 0 } else { 1 });
            return (out, (h_n.squeeze_dim(1), c_n.map(|c| c.squeeze_dim(1))));
        }
        let x = if self.options.batch_first {
            x.transpose(0, 1)
        } else {
            x.shallow_clone()
        };
        let (t, b, i) = (x.shape()[0], x.shape()[1], x.shape()[2]);
        assert!(
            t > 0 && b > 0,
            "{name}: expected a non-empty sequence and batch, got input {:?}",
            x.shape()
        );
        let rows = x.contiguous().reshape(&[t * b, i]);
        let (out, state) = self.run_rows(&rows, &vec![b; t], h0, c0);
        let out = out.reshape(&[t, b, out.shape()[1]]);
        let out = if self.options.batch_first {
            out.transpose(0, 1)
        } else {
            out
        };
        (out, state)
    }

    fn run_packed(
        &self,
        x: &PackedSequence,
        h0: Option<&Tensor>,
        c0: Option<&Tensor>,
    ) -> (PackedSequence, State) {
        let sort = |t: Option<&Tensor>| match (&x.sorted_indices, t) {
            (Some(idx), Some(t)) => Some(t.index_select(1, idx)),
            (_, t) => t.cloned(),
        };
        let (h, c) = (sort(h0), sort(c0));
        let (data, (h_n, c_n)) = self.run_rows(&x.data, &x.batch_sizes, h.as_ref(), c.as_ref());
        let unsort = |t: Tensor| match &x.unsorted_indices {
            Some(idx) => t.index_select(1, idx),
            None => t,
        };
        let out = PackedSequence {
            data,
            batch_sizes: x.batch_sizes.clone(),
            sorted_indices: x.sorted_indices.clone(),
            unsorted_indices: x.unsorted_indices.clone(),
        };
        (out, (unsort(h_n), c_n.map(unsort)))
    }

    fn name(&self) -> &'static str {
        match self.mode {
            Mode::Lstm => "LSTM",
            Mode::Gru => "GRU",
            _ => "RNN",
        }
    }
}

macro_rules! recurrent_layer {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name {
            base: RnnBase,
        }

        impl $name {
            /// Input features per step (`input_size`).
            pub fn input_size(&self) -> usize {
                self.base.input_size
            }
            /// Hidden units (`hidden_size`).
            pub fn hidden_size(&self) -> usize {
                self.base.hidden_size
            }
            /// The keyword arguments it was built with.
            pub fn options(&self) -> &RnnOptions {
                &self.base.options
            }
            /// The parameters of every layer and direction, in PyTorch's order
            /// (`layer * num_directions + direction`).
            pub fn layer_params(&self) -> &[RnnParams] {
                &self.base.params
            }
        }

        impl Module for $name {
            fn forward(&self, input: &Tensor) -> Tensor {
                self.base.run(input, None, None).0
            }
            fn visit_own_parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
                self.base.visit(f)
            }
            fn extra_repr(&self) -> String {
                self.base.extra_repr()
            }
            fn set_own_training(&self, on: bool) {
                self.base.training.set(on)
            }
            fn own_training(&self) -> Option<bool> {
                Some(self.base.training.get())
            }
        }
    };
}

recurrent_layer!(
    /// An Elman RNN, `h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)` (or relu)
    /// (`nn.RNN`). Parameters as PyTorch names and draws them (U(±1/sqrt(hidden)) in
    /// `named_parameters` order), so a PyTorch `state_dict` loads as is and
    /// `kiln::manual_seed(s)` gives the weights `torch.manual_seed(s)` gives.
    RNN
);
recurrent_layer!(
    /// A long short-term memory layer (`nn.LSTM`): gates `i, f, g, o` stacked in that
    /// order in `weight_ih_l{k}` / `weight_hh_l{k}`, with an optional projection
    /// `weight_hr_l{k}` (`proj_size`). Names, shapes and initial draws are PyTorch's.
    LSTM
);
recurrent_layer!(
    /// A gated recurrent unit layer (`nn.GRU`): gates `r, z, n` in that order, with
    /// `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))` as in PyTorch.
    GRU
);

impl RNN {
    /// `nn.RNN(input_size, hidden_size)`.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        RNN::with_options(input_size, hidden_size, RnnOptions::new())
    }
    /// `nn.RNN(input_size, hidden_size, **options)`.
    pub fn with_options(input_size: usize, hidden_size: usize, options: RnnOptions) -> Self {
        let mode = match options.nonlinearity {
            Nonlinearity::Tanh => Mode::Tanh,
            Nonlinearity::Relu => Mode::Relu,
        };
        RNN {
            base: RnnBase::new("RNN", mode, input_size, hidden_size, options),
        }
    }
    /// `output, h_n = rnn(input, h_0)`: `input` `[T, B, input_size]` (`[B, T, ..]` when
    /// `batch_first`, or unbatched `[T, input_size]`), `h_0` `[num_layers * D, B, hidden]`
    /// (zeros when `None`); `output` is `[T, B, D * hidden]`.
    pub fn forward_with(&self, input: &Tensor, h0: Option<&Tensor>) -> (Tensor, Tensor) {
        let (out, (h, _)) = self.base.run(input, h0, None);
        (out, h)
    }
    /// `rnn(packed, h_0)` for a [`PackedSequence`].
    pub fn forward_packed(
        &self,
        input: &PackedSequence,
        h0: Option<&Tensor>,
    ) -> (PackedSequence, Tensor) {
        let (out, (h, _)) = self.base.run_packed(input, h0, None);
        (out, h)
    }
}

impl GRU {
    /// `nn.GRU(input_size, hidden_size)`.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        GRU::with_options(input_size, hidden_size, RnnOptions::new())
    }
    /// `nn.GRU(input_size, hidden_size, **options)`.
    pub fn with_options(input_size: usize, hidden_size: usize, options: RnnOptions) -> Self {
        GRU {
            base: RnnBase::new("GRU", Mode::Gru, input_size, hidden_size, options),
        }
    }
    /// `output, h_n = gru(input, h_0)`, shapes as [`RNN::forward_with`].
    pub fn forward_with(&self, input: &Tensor, h0: Option<&Tensor>) -> (Tensor, Tensor) {
        let (out, (h, _)) = self.base.run(input, h0, None);
        (out, h)
    }
    /// `gru(packed, h_0)` for a [`PackedSequence`].
    pub fn forward_packed(
        &self,
        input: &PackedSequence,
        h0: Option<&Tensor>,
    ) -> (PackedSequence, Tensor) {
        let (out, (h, _)) = self.base.run_packed(input, h0, None);
        (out, h)
    }
}

impl LSTM {
    /// `nn.LSTM(input_size, hidden_size)`.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        LSTM::with_options(input_size, hidden_size, RnnOptions::new())
    }
    /// `nn.LSTM(input_size, hidden_size, **options)`.
    pub fn with_options(input_size: usize, hidden_size: usize, options: RnnOptions) -> Self {
        LSTM {
            base: RnnBase::new("LSTM", Mode::Lstm, input_size, hidden_size, options),
        }
    }
    /// `output, (h_n, c_n) = lstm(input, (h_0, c_0))`: `h_0` `[num_layers * D, B, h]`
    /// (`h` = `proj_size` if set, else `hidden_size`), `c_0` `[num_layers * D, B, hidden]`,
    /// both zeros when `None`; `output` is `[T, B, D * h]`.
    pub fn forward_with(
        &self,
        input: &Tensor,
        state: Option<(&Tensor, &Tensor)>,
    ) -> (Tensor, (Tensor, Tensor)) {
        let (out, (h, c)) = self.base.run(input, state.map(|s| s.0), state.map(|s| s.1));
        (out, (h, c.expect("LSTM: cell state")))
    }
    /// `lstm(packed, (h_0, c_0))` for a [`PackedSequence`].
    pub fn forward_packed(
        &self,
        input: &PackedSequence,
        state: Option<(&Tensor, &Tensor)>,
    ) -> (PackedSequence, (Tensor, Tensor)) {
        let (out, (h, c)) = self
            .base
            .run_packed(input, state.map(|s| s.0), state.map(|s| s.1));
        (out, (h, c.expect("LSTM: cell state")))
    }
}
