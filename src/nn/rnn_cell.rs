//! One-step recurrent cells: `RNNCell`, `LSTMCell`, `GRUCell`.
//!
//! A cell is a one-step layer: its `forward_with` takes the input of one step
//! (`[B, input]`, or unbatched `[input]`) and the optional previous state, and returns
//! the next state (`h'`, or `(h', c')` for the LSTM cell), as `cell(x, hx)` does in
//! PyTorch. [`Module::forward`] starts from zero state. It runs the same fused kernel as
//! the layers, over one step.

use super::functional::{self, LayerWeights, Mode};
use super::module::{Module, TrainingFlag};
use super::rnn::{Nonlinearity, param, reset_uniform};
use crate::tensor::{DType, Tensor};

/// The parameters every cell holds (`weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`).
#[derive(Clone, Debug)]
pub struct CellParams {
    /// `[gates * hidden, input]`.
    pub weight_ih: Tensor,
    /// `[gates * hidden, hidden]`.
    pub weight_hh: Tensor,
    /// `[gates * hidden]`, if the cell has biases.
    pub bias_ih: Option<Tensor>,
    /// `[gates * hidden]`, if the cell has biases.
    pub bias_hh: Option<Tensor>,
}

#[derive(Clone, Debug)]
struct CellBase {
    name: &'static str,
    mode: Mode,
    input_size: usize,
    hidden_size: usize,
    p: CellParams,
    training: TrainingFlag,
}

impl CellBase {
    fn new(
        name: &'static str,
        mode: Mode,
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        dtype: DType,
    ) -> Self {
        let gate = mode.gates() * hidden_size;
        let p = CellParams {
            weight_ih: param(&[gate, input_size], dtype),
            weight_hh: param(&[gate, hidden_size], dtype),
            bias_ih: bias.then(|| param(&[gate], dtype)),
            bias_hh: bias.then(|| param(&[gate], dtype)),
        };
        let mut all = vec![&p.weight_ih, &p.weight_hh];
        all.extend(p.bias_ih.as_ref());
        all.extend(p.bias_hh.as_ref());
        reset_uniform(&all, hidden_size);
        for t in all {
            t.requires_grad_(true);
        }
        CellBase {
            name,
            mode,
            input_size,
            hidden_size,
            p,
            training: TrainingFlag::new(),
        }
    }

    fn step(&self, x: &Tensor, h: Option<&Tensor>, c: Option<&Tensor>) -> (Tensor, Option<Tensor>) {
        let name = self.name;
        assert!(
            x.dim() == 1 || x.dim() == 2,
            "{name}: Expected input to be 1D or 2D, got {}D instead",
            x.dim()
        );
        if x.dim() == 1 {
            let (h2, c2) = self.step(
                &x.unsqueeze(0),
                h.map(|t| t.unsqueeze(0)).as_ref(),
                c.map(|t| t.unsqueeze(0)).as_ref(),
            );
            return (h2.squeeze_dim(0), c2.map(|c| c.squeeze_dim(0)));
        }
        let b = x.shape()[0];
        assert!(
            x.shape()[1] == self.input_size,
            "{name}: input has inconsistent input_size: got {} expected {}",
            x.shape()[1],
            self.input_size
        );
        let zeros = || Tensor::zeros_on(&[b, self.hidden_size], x.dtype(), x.device());
        let h = h.cloned().unwrap_or_else(zeros);
        let c = (self.mode == Mode::Lstm).then(|| c.cloned().unwrap_or_else(zeros));
        let w = LayerWeights {
            w_ih: &self.p.weight_ih,
            w_hh: &self.p.weight_hh,
            b_ih: self.p.bias_ih.as_ref(),
            b_hh: self.p.bias_hh.as_ref(),
            w_hr: None,
        };
        let r = functional::rnn_layer(self.mode, x, &[b], false, &h, c.as_ref(), w);
        (r.h_n, r.c_n)
    }

    fn visit(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        f("weight_ih", &self.p.weight_ih);
        f("weight_hh", &self.p.weight_hh);
        if let Some(b) = &self.p.bias_ih {
            f("bias_ih", b);
        }
        if let Some(b) = &self.p.bias_hh {
            f("bias_hh", b);
        }
    }

    fn extra_repr(&self) -> String {
        let mut s = format!("{}, {}", self.input_size, self.hidden_size);
        if self.p.bias_ih.is_none() {
            s += ", bias=False";
        }
        if self.mode == Mode::Relu {
            s += ", nonlinearity=relu";
        }
        s
    }
}

macro_rules! cell {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name {
            base: CellBase,
        }

        impl $name {
            /// The parameters (`weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`).
            pub fn params(&self) -> &CellParams {
                &self.base.p
            }
            /// Input features (`input_size`).
            pub fn input_size(&self) -> usize {
                self.base.input_size
            }
            /// Hidden units (`hidden_size`).
            pub fn hidden_size(&self) -> usize {
                self.base.hidden_size
            }
        }

        impl Module for $name {
            fn forward(&self, input: &Tensor) -> Tensor {
                self.base.step(input, None, None).0
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

cell!(
    /// `h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)` (or relu), one step (`nn.RNNCell`).
    RNNCell
);
cell!(
    /// One LSTM step (`nn.LSTMCell`), gates `i, f, g, o`.
    LSTMCell
);
cell!(
    /// One GRU step (`nn.GRUCell`), gates `r, z, n`.
    GRUCell
);

impl RNNCell {
    /// `nn.RNNCell(input_size, hidden_size)`.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        RNNCell::with_options(
            input_size,
            hidden_size,
            true,
            Nonlinearity::Tanh,
            DType::F32,
        )
    }
    /// `nn.RNNCell(input_size, hidden_size, bias, nonlinearity, dtype=)`.
    pub fn with_options(
        input_size: usize,
        hidden_size: usize,
        bias: bool,
        nonlinearity: Nonlinearity,
        dtype: DType,
    ) -> Self {
        let mode = match nonlinearity {
            Nonlinearity::Tanh => Mode::Tanh,
            Nonlinearity::Relu => Mode::Relu,
        };
        RNNCell {
            base: CellBase::new("RNNCell", mode, input_size, hidden_size, bias, dtype),
        }
    }
    /// `h' = cell(input, hx)`; `hx` is zeros when `None`.
    pub fn forward_with(&self, input: &Tensor, hx: Option<&Tensor>) -> Tensor {
        self.base.step(input, hx, None).0
    }
}

impl GRUCell {
    /// `nn.GRUCell(input_size, hidden_size)`.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        GRUCell::with_options(input_size, hidden_size, true, DType::F32)
    }
    /// `nn.GRUCell(input_size, hidden_size, bias, dtype=)`.
    pub fn with_options(input_size: usize, hidden_size: usize, bias: bool, dtype: DType) -> Self {
        GRUCell {
            base: CellBase::new("GRUCell", Mode::Gru, input_size, hidden_size, bias, dtype),
        }
    }
    /// `h' = cell(input, hx)`; `hx` is zeros when `None`.
    pub fn forward_with(&self, input: &Tensor, hx: Option<&Tensor>) -> Tensor {
        self.base.step(input, hx, None).0
    }
}

impl LSTMCell {
    /// `nn.LSTMCell(input_size, hidden_size)`.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        LSTMCell::with_options(input_size, hidden_size, true, DType::F32)
    }
    /// `nn.LSTMCell(input_size, hidden_size, bias, dtype=)`.
    pub fn with_options(input_size: usize, hidden_size: usize, bias: bool, dtype: DType) -> Self {
        LSTMCell {
            base: CellBase::new("LSTMCell", Mode::Lstm, input_size, hidden_size, bias, dtype),
        }
    }
    /// `(h', c') = cell(input, (h, c))`; zeros when `None`.
    pub fn forward_with(&self, input: &Tensor, hx: Option<(&Tensor, &Tensor)>) -> (Tensor, Tensor) {
        let (h, c) = self.base.step(input, hx.map(|s| s.0), hx.map(|s| s.1));
        (h, c.expect("LSTMCell: cell state"))
    }
}
