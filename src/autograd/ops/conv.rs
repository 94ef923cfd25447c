//! Convolutions (`torch.nn.functional.conv2d` / `conv1d`), NCHW, with their
//! derivatives: input gradient by GEMM + col2im, weight gradient by GEMM against the
//! columns, bias gradient by a sum (kernels in [`crate::tensor::kernels::conv`]).

use crate::autograd::record::{Saved, record};
use crate::tensor::Tensor;
use crate::tensor::kernels::conv::{self, ConvGeom};

/// A pair of per-dimension values `(height, width)`; a single `usize` means both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair(pub usize, pub usize);

impl From<usize> for Pair {
    fn from(v: usize) -> Self {
        Pair(v, v)
    }
}

impl From<(usize, usize)> for Pair {
    fn from((a, b): (usize, usize)) -> Self {
        Pair(a, b)
    }
}

impl From<[usize; 2]> for Pair {
    fn from([a, b]: [usize; 2]) -> Self {
        Pair(a, b)
    }
}

/// Convolution padding (`padding=`): explicit zeros on each side, or `'same'` /
/// `'valid'`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// This many zeros on both sides of each dim (`padding=(ph, pw)`).
    Explicit(usize, usize),
    /// Pad so the output has the input's size (`padding='same'`, stride 1 only); when
    /// the total padding `dilation * (kernel - 1)` is odd the extra zero goes after, as
    /// in PyTorch.
    Same,
    /// No padding (`padding='valid'`).
    Valid,
}

impl From<usize> for Padding {
    fn from(v: usize) -> Self {
        Padding::Explicit(v, v)
    }
}

impl From<(usize, usize)> for Padding {
    fn from((a, b): (usize, usize)) -> Self {
        Padding::Explicit(a, b)
    }
}

impl From<&str> for Padding {
    /// `"same"` or `"valid"`; panics like PyTorch on anything else.
    fn from(s: &str) -> Self {
        match s {
            "same" => Padding::Same,
            "valid" => Padding::Valid,
            other => panic!("Invalid padding string: '{other}'"),
        }
    }
}

/// Options of [`conv2d`] (and [`conv1d`], which uses the width entries): PyTorch's
/// defaults are stride 1, padding 0, dilation 1, groups 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvOptions {
    /// Step between kernel applications.
    pub stride: Pair,
    /// Zero padding.
    pub padding: Padding,
    /// Spacing between kernel taps.
    pub dilation: Pair,
    /// Channel groups: input and output channels split into this many independent parts
    /// (`groups == in_channels` is a depthwise convolution).
    pub groups: usize,
}

impl Default for ConvOptions {
    fn default() -> Self {
        ConvOptions {
            stride: Pair(1, 1),
            padding: Padding::Explicit(0, 0),
            dilation: Pair(1, 1),
            groups: 1,
        }
    }
}

impl ConvOptions {
    /// The defaults (`stride=1, padding=0, dilation=1, groups=1`).
    pub fn new() -> Self {
        ConvOptions::default()
    }
    /// Sets `stride`.
    pub fn stride(mut self, s: impl Into<Pair>) -> Self {
        self.stride = s.into();
        self
    }
    /// Sets `padding` (a size, a pair, `"same"` or `"valid"`).
    pub fn padding(mut self, p: impl Into<Padding>) -> Self {
        self.padding = p.into();
        self
    }
    /// Sets `dilation`.
    pub fn dilation(mut self, d: impl Into<Pair>) -> Self {
        self.dilation = d.into();
        self
    }
    /// Sets `groups`.
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
}

/// 2-D convolution over a `[N, C_in, H, W]` (or unbatched `[C_in, H, W]`) input with a
/// `[C_out, C_in / groups, kH, kW]` weight and optional `[C_out]` bias
/// (`torch.nn.functional.conv2d`); differentiable in all three. The gradients are
/// computed by kernels and carry no graph themselves: no double backward yet.
///
/// # Panics
/// With PyTorch's messages on wrong ranks, channel counts, groups, bias size, dtypes,
/// a kernel larger than the padded input, zero stride or dilation, and `'same'` with a
/// stride above 1.
pub fn conv2d(input: &Tensor, weight: &Tensor, bias: Option<&Tensor>, opts: ConvOptions) -> Tensor {
    assert!(
        input.dim() == 3 || input.dim() == 4,
        "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: {:?}",
        input.shape()
    );
    if input.dim() == 3 {
        return conv2d(&input.unsqueeze(0), weight, bias, opts).squeeze_dim(0);
    }
    assert!(
        weight.dim() == 4,
        "conv2d: expected weight to be 4-dimensional, but got weight of size {:?} instead",
        weight.shape()
    );
    conv_nd(input, weight, bias, opts)
}

/// 1-D convolution over a `[N, C_in, L]` (or unbatched `[C_in, L]`) input with a
/// `[C_out, C_in / groups, k]` weight (`torch.nn.functional.conv1d`); the width entries
/// of `opts` apply. Differentiable in input, weight and bias.
///
/// # Panics
/// As [`conv2d`], with `conv1d` in the messages.
pub fn conv1d(input: &Tensor, weight: &Tensor, bias: Option<&Tensor>, opts: ConvOptions) -> Tensor {
    assert!(
        input.dim() == 2 || input.dim() == 3,
        "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: {:?}",
        input.shape()
    );
    if input.dim() == 2 {
        return conv1d(&input.unsqueeze(0), weight, bias, opts).squeeze_dim(0);
    }
    assert!(
        weight.dim() == 3,
        "conv1d: expected weight to be 3-dimensional, but got weight of size {:?} instead",
        weight.shape()
    );
    let (c, w) = (input.shape()[1], weight.shape()[1]);
    assert!(
        c == w * opts.groups.max(1),
        "Given groups={}, weight of size {:?}, expected input{:?} to have {} channels, but got {c} channels instead",
        opts.groups,
        weight.shape(),
        input.shape(),
        w * opts.groups.max(1)
    );
    let padding = match opts.padding {
        Padding::Explicit(_, p) => Padding::Explicit(0, p),
        p => p,
    };
    let o2 = ConvOptions {
        stride: Pair(1, opts.stride.1),
        padding,
        dilation: Pair(1, opts.dilation.1),
        groups: opts.groups,
    };
    conv_nd(&input.unsqueeze(2), &weight.unsqueeze(2), bias, o2).squeeze_dim(2)
}

/// The checked geometry of a 4-D convolution.
fn geometry(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, o: &ConvOptions) -> ConvGeom {
    let (xs, ws) = (x.shape(), w.shape());
    let g = o.groups;
    assert!(g > 0, "non-positive groups is not supported");
    assert!(
        o.stride.0 > 0 && o.stride.1 > 0,
        "non-positive stride is not supported"
    );
    assert!(
        o.dilation.0 > 0 && o.dilation.1 > 0,
        "dilation should be greater than zero"
    );
    assert!(
        ws[0] % g == 0,
        "Given groups={g}, expected weight to be divisible by {g} at dimension 0, but got weight of size [{ws:?}] instead"
    );
    assert!(
        xs[1] == ws[1] * g,
        "Given groups={g}, weight of size {ws:?}, expected input{xs:?} to have {} channels, but got {} channels instead",
        ws[1] * g,
        xs[1]
    );
    if let Some(b) = bias {
        assert!(
            b.dim() == 1 && b.numel() == ws[0],
            "Given weight of size {ws:?}, expected bias to be 1-dimensional with {} elements, but got bias of size {:?} instead",
            ws[0],
            b.shape()
        );
    }
    for (what, t) in [("weight", Some(w)), ("bias", bias)] {
        if let Some(t) = t {
            assert!(
                t.dtype() == x.dtype(),
                "Input type ({}) and {what} type ({}) should be the same",
                x.dtype(),
                t.dtype()
            );
        }
    }
    let (kh, kw) = (ws[2], ws[3]);
    let ext = [
        o.dilation.0 * (kh.max(1) - 1) + 1,
        o.dilation.1 * (kw.max(1) - 1) + 1,
    ];
    // (before, after) padding per dim.
    let pads = match o.padding {
        Padding::Explicit(a, b) => [[a, a], [b, b]],
        Padding::Valid => [[0, 0], [0, 0]],
        Padding::Same => {
            assert!(
                o.stride == Pair(1, 1),
                "padding='same' is not supported for strided convolutions"
            );
            let t = [ext[0] - 1, ext[1] - 1];
            [[t[0] / 2, t[0] - t[0] / 2], [t[1] / 2, t[1] - t[1] / 2]]
        }
    };
    let padded = [
        xs[2] + pads[0][0] + pads[0][1],
        xs[3] + pads[1][0] + pads[1][1],
    ];
    assert!(
        padded[0] >= ext[0] && padded[1] >= ext[1],
        "Calculated padded input size per channel: ({} x {}). Kernel size: ({} x {}). Kernel size can't be greater than actual input size",
        padded[0],
        padded[1],
        ext[0],
        ext[1]
    );
    ConvGeom {
        n: xs[0],
        c_in: xs[1],
        h: xs[2],
        w: xs[3],
        c_out: ws[0],
        kh,
        kw,
        stride: [o.stride.0, o.stride.1],
        pad: [pads[0][0], pads[1][0]],
        dil: [o.dilation.0, o.dilation.1],
        groups: g,
        ho: (padded[0] - ext[0]) / o.stride.0 + 1,
        wo: (padded[1] - ext[1]) / o.stride.1 + 1,
    }
}

/// The recorded 4-D convolution.
fn conv_nd(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, o: ConvOptions) -> Tensor {
    let g = geometry(x, w, bias, &o);
    let out = conv::forward(x, w, bias, &g);
    let mut inputs = vec![x, w];
    inputs.extend(bias);
    record(out, &inputs, "ConvolutionBackward0", || {
        let (sx, sw) = (Saved::new(x), Saved::new(w));
        move |gy: &Tensor, need: &[bool]| {
            let (x, w) = (sx.get(), sw.get());
            let gy = gy.detach();
            let gx = need[0].then(|| conv::input_grad(&gy, w, &g));
            let gw = need[1].then(|| conv::weight_grad(&gy, x, &g));
            let mut out = vec![gx, gw];
            if need.len() > 2 {
                out.push(need[2].then(|| gy.sum_dims(&[0, 2, 3], false)));
            }
            out
        }
    })
}
