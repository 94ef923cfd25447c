//! Convolutions (`torch.nn.functional.conv2d` / `conv1d` / `conv_transpose2d`), NCHW,
//! with their derivatives. Three bilinear products do all the work (kernels in
//! [`crate::tensor::kernels::conv`]): the convolution `F(x, w)`, its transpose
//! `G(u, w)` (the input gradient, GEMM + col2im) and the weight product `H(u, x)` (the
//! weight gradient). Each is recorded with the other two as its derivatives, so
//! gradients of any order work; the bias gradient is a sum.

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
/// (`torch.nn.functional.conv2d`); differentiable in all three, to any order (the
/// gradients are themselves recorded convolution products).
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

/// The argument checks shared by convolutions and transposed convolutions (PyTorch's
/// messages): positive groups, stride and dilation, channel counts, bias size, dtypes.
#[allow(clippy::too_many_arguments)]
fn check_args(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: usize,
    stride: Pair,
    dilation: Pair,
    transposed: bool,
) {
    let (xs, ws) = (x.shape(), w.shape());
    assert!(g > 0, "non-positive groups is not supported");
    assert!(
        stride.0 > 0 && stride.1 > 0,
        "non-positive stride is not supported"
    );
    assert!(
        dilation.0 > 0 && dilation.1 > 0,
        "dilation should be greater than zero"
    );
    assert!(
        ws[0] % g == 0,
        "Given groups={g}, expected weight to be divisible by {g} at dimension 0, but got weight of size [{ws:?}] instead"
    );
    let (channels, bias_len, given, given_w) = if transposed {
        (
            ws[0],
            ws[1] * g,
            "transposed=1".to_string(),
            "transposed=1, weight",
        )
    } else {
        (ws[1] * g, ws[0], format!("groups={g}"), "weight")
    };
    assert!(
        xs[1] == channels,
        "Given {given}, weight of size {ws:?}, expected input{xs:?} to have {channels} channels, but got {} channels instead",
        xs[1]
    );
    if let Some(b) = bias {
        assert!(
            b.dim() == 1 && b.numel() == bias_len,
            "Given {given_w} of size {ws:?}, expected bias to be 1-dimensional with {bias_len} elements, but got bias of size {:?} instead",
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
}

/// The checked geometry of a 4-D convolution.
fn geometry(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, o: &ConvOptions) -> ConvGeom {
    let (xs, ws) = (x.shape(), w.shape());
    let g = o.groups;
    check_args(x, w, bias, g, o.stride, o.dilation, false);
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

/// PyTorch's node name for the products inside a convolution's gradient.
const BB: &str = "ConvolutionBackwardBackward0";

/// The recorded 4-D convolution.
fn conv_nd(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, o: ConvOptions) -> Tensor {
    let g = geometry(x, w, bias, &o);
    convolution(x, w, bias, g, "ConvolutionBackward0")
}

/// The convolution kernel `F(x, w) (+ bias)`, recorded. Its derivatives are the two
/// other recorded products below, so gradients of any order flow through the three.
/// Recorded under `name` (PyTorch names every product in a gradient
/// `ConvolutionBackwardBackward0`).
fn convolution(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: ConvGeom,
    name: &'static str,
) -> Tensor {
    let out = conv::forward(x, w, bias, &g);
    let mut inputs = vec![x, w];
    inputs.extend(bias);
    record(out, &inputs, name, || {
        let (sx, sw) = (Saved::new(x), Saved::new(w));
        move |gy: &Tensor, need: &[bool]| {
            let (x, w) = (sx.get(), sw.get());
            let gx = need[0].then(|| transposed(gy, w, None, g, BB));
            let gw = need[1].then(|| weight_product(gy, x, g));
            let mut out = vec![gx, gw];
            if need.len() > 2 {
                out.push(need[2].then(|| bias_grad(gy)));
            }
            out
        }
    })
}

/// The bias gradient `g.sum((0, 2, 3))`, summed over each plane first (contiguous runs)
/// and then over the batch: the one-step sum over dims 0, 2, 3 permutes `g` into a copy.
fn bias_grad(g: &Tensor) -> Tensor {
    g.sum_dims(&[2, 3], false).sum_dims(&[0], false)
}

/// The transposed product `G(u, w)` (a convolution's input gradient, and the forward
/// of a transposed convolution) `(+ bias)`, recorded under `name`.
/// `<G(u, w), v> = <u, F(v, w)>`, so its derivatives are `F(v, w)` and `H(u, v)`.
fn transposed(
    u: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    g: ConvGeom,
    name: &'static str,
) -> Tensor {
    let out = conv::input_grad(u, w, &g);
    if let Some(b) = bias {
        out.add_(&b.detach().reshape(&[1, g.c_in, 1, 1]));
    }
    let mut inputs = vec![u, w];
    inputs.extend(bias);
    record(out, &inputs, name, || {
        let (su, sw) = (Saved::new(u), Saved::new(w));
        move |v: &Tensor, need: &[bool]| {
            let (u, w) = (su.get(), sw.get());
            let gu = need[0].then(|| convolution(v, w, None, g, BB));
            let gw = need[1].then(|| weight_product(u, v, g));
            let mut out = vec![gu, gw];
            if need.len() > 2 {
                out.push(need[2].then(|| bias_grad(v)));
            }
            out
        }
    })
}

/// The weight product `H(u, x)` (a convolution's weight gradient), recorded.
/// `<H(u, x), m> = <u, F(x, m)>`, so its derivatives are `F(x, m)` and `G(u, m)`.
fn weight_product(u: &Tensor, x: &Tensor, g: ConvGeom) -> Tensor {
    let out = conv::weight_grad(u, x, &g);
    record(out, &[u, x], "ConvolutionBackwardBackward0", || {
        let (su, sx) = (Saved::new(u), Saved::new(x));
        move |m: &Tensor, need: &[bool]| {
            let (u, x) = (su.get(), sx.get());
            let gu = need[0].then(|| convolution(x, m, None, g, BB));
            let gx = need[1].then(|| transposed(u, m, None, g, BB));
            vec![gu, gx]
        }
    })
}

/// Options of [`conv_transpose2d`]: PyTorch's defaults are stride 1, padding 0,
/// output_padding 0, dilation 1, groups 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTransposeOptions {
    /// Step between kernel applications (of the convolution this transposes).
    pub stride: Pair,
    /// `dilation * (kernel_size - 1) - padding` zeros are added to both sides of the
    /// input (the padding of the convolution this transposes).
    pub padding: Pair,
    /// Extra size added to one side of the output (smaller than stride or dilation).
    pub output_padding: Pair,
    /// Spacing between kernel taps.
    pub dilation: Pair,
    /// Channel groups.
    pub groups: usize,
}

impl Default for ConvTransposeOptions {
    fn default() -> Self {
        ConvTransposeOptions {
            stride: Pair(1, 1),
            padding: Pair(0, 0),
            output_padding: Pair(0, 0),
            dilation: Pair(1, 1),
            groups: 1,
        }
    }
}

impl ConvTransposeOptions {
    /// The defaults (`stride=1, padding=0, output_padding=0, dilation=1, groups=1`).
    pub fn new() -> Self {
        ConvTransposeOptions::default()
    }
    /// Sets `stride`.
    pub fn stride(mut self, s: impl Into<Pair>) -> Self {
        self.stride = s.into();
        self
    }
    /// Sets `padding`.
    pub fn padding(mut self, p: impl Into<Pair>) -> Self {
        self.padding = p.into();
        self
    }
    /// Sets `output_padding`.
    pub fn output_padding(mut self, p: impl Into<Pair>) -> Self {
        self.output_padding = p.into();
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

/// 2-D transposed convolution ("deconvolution") of a `[N, C_in, H, W]` (or unbatched
/// `[C_in, H, W]`) input with a `[C_in, C_out / groups, kH, kW]` weight and optional
/// `[C_out]` bias (`torch.nn.functional.conv_transpose2d`): the gradient of
/// [`conv2d`] with respect to its input. The output is
/// `[N, C_out, (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1, ...]`.
/// Differentiable in all three, to any order.
///
/// # Panics
/// With PyTorch's messages on wrong ranks, channel counts, groups, bias size, dtypes,
/// zero stride or dilation, an output padding not below stride or dilation, and an
/// output size below one.
pub fn conv_transpose2d(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    opts: ConvTransposeOptions,
) -> Tensor {
    assert!(
        input.dim() == 3 || input.dim() == 4,
        "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: {:?}",
        input.shape()
    );
    if input.dim() == 3 {
        return conv_transpose2d(&input.unsqueeze(0), weight, bias, opts).squeeze_dim(0);
    }
    assert!(
        weight.dim() == 4,
        "conv_transpose2d: expected weight to be 4-dimensional, but got weight of size {:?} instead",
        weight.shape()
    );
    let g = transposed_geometry(input, weight, bias, &opts);
    transposed(input, weight, bias, g, "ConvolutionBackward0")
}

/// The checked geometry of a transposed convolution, as the convolution it transposes:
/// that convolution's input is this one's output.
fn transposed_geometry(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    o: &ConvTransposeOptions,
) -> ConvGeom {
    let (xs, ws) = (x.shape(), w.shape());
    let g = o.groups;
    check_args(x, w, bias, g, o.stride, o.dilation, true);
    let c_out = ws[1] * g;
    let (s, d, op) = (o.stride, o.dilation, o.output_padding);
    assert!(
        (op.0 < s.0 || op.0 < d.0) && (op.1 < s.1 || op.1 < d.1),
        "output padding must be smaller than either stride or dilation, but got output_padding_height: {} output_padding_width: {} stride_height: {} stride_width: {} dilation_height: {} dilation_width: {}",
        op.0,
        op.1,
        s.0,
        s.1,
        d.0,
        d.1
    );
    let (kh, kw) = (ws[2], ws[3]);
    let size = |len: usize, s: usize, p: usize, d: usize, k: usize, op: usize| {
        (len as isize - 1) * s as isize - 2 * p as isize
            + (d * (k.max(1) - 1)) as isize
            + op as isize
            + 1
    };
    let oh = size(xs[2], s.0, o.padding.0, d.0, kh, op.0);
    let ow = size(xs[3], s.1, o.padding.1, d.1, kw, op.1);
    assert!(
        oh > 0 && ow > 0,
        "Given input size per channel: ({} x {}). Calculated output size per channel: ({oh} x {ow}). Output size is too small",
        xs[2],
        xs[3]
    );
    ConvGeom {
        n: xs[0],
        c_in: c_out,
        h: oh as usize,
        w: ow as usize,
        c_out: ws[0],
        kh,
        kw,
        stride: [s.0, s.1],
        pad: [o.padding.0, o.padding.1],
        dil: [d.0, d.1],
        groups: g,
        ho: xs[2],
        wo: xs[3],
    }
}
