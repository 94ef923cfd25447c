//! 2-D pooling (`max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d`) over `[N, C, H, W]`
//! or `[C, H, W]`, with derivatives: max pooling sends each gradient to its window's
//! argmax, as PyTorch does; average pooling spreads it over the window. The gradients
//! carry no graph themselves (no double backward yet).

use super::conv::Pair;
use crate::autograd::record::{Saved, record};
use crate::tensor::Tensor;
use crate::tensor::kernels::pool::{self, AvgMode, PoolGeom};

/// Options of [`max_pool2d`] (`stride` defaults to the kernel size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPoolOptions {
    /// Window size.
    pub kernel_size: Pair,
    /// Step between windows (`None`: the kernel size).
    pub stride: Option<Pair>,
    /// Implicit `-inf` padding on both sides (at most half the effective kernel).
    pub padding: Pair,
    /// Spacing between window taps.
    pub dilation: Pair,
    /// Round the output size up instead of down.
    pub ceil_mode: bool,
}

impl MaxPoolOptions {
    /// `kernel_size` with PyTorch's defaults (stride = kernel, padding 0, dilation 1).
    pub fn new(kernel_size: impl Into<Pair>) -> Self {
        MaxPoolOptions {
            kernel_size: kernel_size.into(),
            stride: None,
            padding: Pair(0, 0),
            dilation: Pair(1, 1),
            ceil_mode: false,
        }
    }
    /// Sets `stride`.
    pub fn stride(mut self, s: impl Into<Pair>) -> Self {
        self.stride = Some(s.into());
        self
    }
    /// Sets `padding`.
    pub fn padding(mut self, p: impl Into<Pair>) -> Self {
        self.padding = p.into();
        self
    }
    /// Sets `dilation`.
    pub fn dilation(mut self, d: impl Into<Pair>) -> Self {
        self.dilation = d.into();
        self
    }
    /// Sets `ceil_mode`.
    pub fn ceil_mode(mut self, on: bool) -> Self {
        self.ceil_mode = on;
        self
    }
}

/// Options of [`avg_pool2d`] (`stride` defaults to the kernel size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPoolOptions {
    /// Window size.
    pub kernel_size: Pair,
    /// Step between windows (`None`: the kernel size).
    pub stride: Option<Pair>,
    /// Implicit zero padding on both sides (at most half the kernel).
    pub padding: Pair,
    /// Round the output size up instead of down.
    pub ceil_mode: bool,
    /// Count the padding zeros in the divisor (default true).
    pub count_include_pad: bool,
    /// Divide every window sum by this instead.
    pub divisor_override: Option<usize>,
}

impl AvgPoolOptions {
    /// `kernel_size` with PyTorch's defaults (stride = kernel, padding 0,
    /// `ceil_mode=False`, `count_include_pad=True`, no divisor override).
    pub fn new(kernel_size: impl Into<Pair>) -> Self {
        AvgPoolOptions {
            kernel_size: kernel_size.into(),
            stride: None,
            padding: Pair(0, 0),
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }
    /// Sets `stride`.
    pub fn stride(mut self, s: impl Into<Pair>) -> Self {
        self.stride = Some(s.into());
        self
    }
    /// Sets `padding`.
    pub fn padding(mut self, p: impl Into<Pair>) -> Self {
        self.padding = p.into();
        self
    }
    /// Sets `ceil_mode`.
    pub fn ceil_mode(mut self, on: bool) -> Self {
        self.ceil_mode = on;
        self
    }
    /// Sets `count_include_pad`.
    pub fn count_include_pad(mut self, on: bool) -> Self {
        self.count_include_pad = on;
        self
    }
    /// Sets `divisor_override`.
    pub fn divisor_override(mut self, d: usize) -> Self {
        self.divisor_override = Some(d);
        self
    }
}

/// PyTorch's `pooling_output_shape`.
fn out_size(n: usize, k: usize, p: usize, s: usize, d: usize, ceil: bool) -> isize {
    let num =
        (n + 2 * p) as isize - (d * (k - 1)) as isize - 1 + if ceil { s as isize - 1 } else { 0 };
    let mut o = num.div_euclid(s as isize) + 1;
    if ceil && (o - 1) * s as isize >= (n + p) as isize {
        o -= 1;
    }
    o
}

/// Checks the input and options and returns the geometry.
#[allow(clippy::too_many_arguments)]
fn geometry(
    op: &str,
    x: &Tensor,
    k: Pair,
    stride: Option<Pair>,
    pad: Pair,
    dil: Pair,
    ceil: bool,
) -> PoolGeom {
    assert!(
        x.dim() == 3 || x.dim() == 4,
        "{op}: Expected 3D or 4D (batch mode) tensor for input, but got input of size: {:?}",
        x.shape()
    );
    assert!(
        k.0 > 0 && k.1 > 0,
        "{op}: kernel_size must be greater than zero"
    );
    let s = stride.unwrap_or(k);
    assert!(s.0 > 0 && s.1 > 0, "{op}: stride must be greater than zero");
    assert!(
        dil.0 > 0 && dil.1 > 0,
        "{op}: dilation must be greater than zero"
    );
    for (p, kk, d) in [(pad.0, k.0, dil.0), (pad.1, k.1, dil.1)] {
        assert!(
            p <= ((kk - 1) * d).div_ceil(2),
            "pad should be at most half of effective kernel size, but got pad={p}, kernel_size={kk} and dilation={d}"
        );
    }
    let r = x.dim();
    let (h, w) = (x.shape()[r - 2], x.shape()[r - 1]);
    let ho = out_size(h, k.0, pad.0, s.0, dil.0, ceil);
    let wo = out_size(w, k.1, pad.1, s.1, dil.1, ceil);
    let c = x.shape()[r - 3];
    assert!(
        ho >= 1 && wo >= 1,
        "Given input size: ({c}x{h}x{w}). Calculated output size: ({c}x{}x{}). Output size is too small",
        ho.max(0),
        wo.max(0)
    );
    PoolGeom {
        planes: x.shape()[..r - 2].iter().product(),
        h,
        w,
        ho: ho as usize,
        wo: wo as usize,
        k: [k.0, k.1],
        stride: [s.0, s.1],
        pad: [pad.0, pad.1],
        dil: [dil.0, dil.1],
    }
}

/// Max pooling (`torch.nn.functional.max_pool2d`).
///
/// # Panics
/// With PyTorch's messages on a wrong rank, padding above half the effective kernel, or
/// an empty output.
pub fn max_pool2d(input: &Tensor, opts: MaxPoolOptions) -> Tensor {
    max_pool2d_with_indices(input, opts).0
}

/// Max pooling returning also the argmax of each window as a flat `h * W + w` index into
/// its input plane (`max_pool2d(..., return_indices=True)`), int64.
pub fn max_pool2d_with_indices(input: &Tensor, opts: MaxPoolOptions) -> (Tensor, Tensor) {
    let o = opts;
    let g = geometry(
        "max_pool2d",
        input,
        o.kernel_size,
        o.stride,
        o.padding,
        o.dilation,
        o.ceil_mode,
    );
    let (out, idx) = pool::max_forward(input, &g);
    let idx_t = idx.shallow_clone();
    let out = record(out, &[input], "MaxPool2DWithIndicesBackward0", || {
        let si = Saved::data(&idx_t);
        move |gy: &Tensor, _: &[bool]| vec![Some(pool::max_backward(gy, si.get(), &g))]
    });
    (out, idx)
}

/// Average pooling (`torch.nn.functional.avg_pool2d`).
///
/// # Panics
/// As [`max_pool2d`], and on a zero `divisor_override`.
pub fn avg_pool2d(input: &Tensor, opts: AvgPoolOptions) -> Tensor {
    let o = opts;
    assert!(
        o.divisor_override != Some(0),
        "avg_pool2d: divisor must be not zero"
    );
    let g = geometry(
        "avg_pool2d",
        input,
        o.kernel_size,
        o.stride,
        o.padding,
        Pair(1, 1),
        o.ceil_mode,
    );
    let m = AvgMode {
        count_include_pad: o.count_include_pad,
        divisor_override: o.divisor_override,
    };
    let out = pool::avg_forward(input, &g, m);
    record(out, &[input], "AvgPool2DBackward0", || {
        move |gy: &Tensor, _: &[bool]| vec![Some(pool::avg_backward(gy, &g, m))]
    })
}

/// Adaptive average pooling to `output_size` (`torch.nn.functional.adaptive_avg_pool2d`):
/// output cell `o` of a dim of size `n` averages inputs `floor(o·n/out)` to
/// `ceil((o+1)·n/out)`.
///
/// # Panics
/// On a wrong rank, an empty input plane, or a zero output size.
pub fn adaptive_avg_pool2d(input: &Tensor, output_size: impl Into<Pair>) -> Tensor {
    let os = output_size.into();
    let x = input;
    assert!(
        x.dim() == 3 || x.dim() == 4,
        "adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {:?}",
        x.shape()
    );
    let r = x.dim();
    let (h, w) = (x.shape()[r - 2], x.shape()[r - 1]);
    assert!(
        h > 0 && w > 0,
        "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has sizes {:?} with dimension {} being empty",
        x.shape(),
        if h == 0 { r - 2 } else { r - 1 }
    );
    assert!(
        os.0 > 0 && os.1 > 0,
        "adaptive_avg_pool2d: output_size must be greater than zero, got {os:?}"
    );
    let g = PoolGeom {
        planes: x.shape()[..r - 2].iter().product(),
        h,
        w,
        ho: os.0,
        wo: os.1,
        k: [1, 1],
        stride: [1, 1],
        pad: [0, 0],
        dil: [1, 1],
    };
    let out = pool::adaptive_avg_forward(x, &g);
    record(out, &[x], "AdaptiveAvgPool2DBackward0", || {
        move |gy: &Tensor, _: &[bool]| vec![Some(pool::adaptive_avg_backward(gy, &g))]
    })
}
