//! `unfold` (`torch.nn.functional.unfold`, im2col) and `fold` (`F.fold`, col2im) as
//! differentiable tensor ops. Each is the other's adjoint, so each one's derivative is
//! the other (kernels in [`crate::tensor::kernels::unfold`]), to any order.

use super::conv::Pair;
use crate::autograd::record::record;
use crate::tensor::Tensor;
use crate::tensor::kernels::conv::ConvGeom;
use crate::tensor::kernels::unfold;

/// Options of [`unfold`] and [`fold`]: the kernel size and PyTorch's defaults
/// `dilation=1, padding=0, stride=1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoldOptions {
    /// Size of the sliding blocks `(kH, kW)`.
    pub kernel_size: Pair,
    /// Spacing between the elements of a block.
    pub dilation: Pair,
    /// Implicit zeros on both sides of each spatial dim.
    pub padding: Pair,
    /// Step between blocks.
    pub stride: Pair,
}

impl FoldOptions {
    /// Blocks of `kernel_size` with `dilation=1, padding=0, stride=1`.
    pub fn new(kernel_size: impl Into<Pair>) -> Self {
        FoldOptions {
            kernel_size: kernel_size.into(),
            dilation: Pair(1, 1),
            padding: Pair(0, 0),
            stride: Pair(1, 1),
        }
    }
    /// Sets `dilation`.
    pub fn dilation(mut self, d: impl Into<Pair>) -> Self {
        self.dilation = d.into();
        self
    }
    /// Sets `padding`.
    pub fn padding(mut self, p: impl Into<Pair>) -> Self {
        self.padding = p.into();
        self
    }
    /// Sets `stride`.
    pub fn stride(mut self, s: impl Into<Pair>) -> Self {
        self.stride = s.into();
        self
    }

    fn check(&self) {
        let (k, d, p, s) = (self.kernel_size, self.dilation, self.padding, self.stride);
        assert!(
            k.0 > 0 && k.1 > 0,
            "kernel size should be greater than zero, but got kernel_height: {} kernel_width: {}",
            k.0,
            k.1
        );
        assert!(
            d.0 > 0 && d.1 > 0,
            "dilation should be greater than zero, but got dilation_height: {} dilation_width: {}",
            d.0,
            d.1
        );
        assert!(
            s.0 > 0 && s.1 > 0,
            "stride should be greater than zero, but got stride_height: {} stride_width: {}",
            s.0,
            s.1
        );
        let _ = p;
    }

    /// The number of blocks along a dim of `len` elements (may be zero or negative).
    fn blocks(&self, len: [usize; 2]) -> [isize; 2] {
        let f = |len: usize, k: usize, d: usize, p: usize, s: usize| {
            (len as isize + 2 * p as isize - (d * (k - 1)) as isize - 1).div_euclid(s as isize) + 1
        };
        let o = self;
        [
            f(
                len[0],
                o.kernel_size.0,
                o.dilation.0,
                o.padding.0,
                o.stride.0,
            ),
            f(
                len[1],
                o.kernel_size.1,
                o.dilation.1,
                o.padding.1,
                o.stride.1,
            ),
        ]
    }

    fn geom(&self, n: usize, c: usize, hw: [usize; 2], blocks: [usize; 2]) -> ConvGeom {
        ConvGeom {
            n,
            c_in: c,
            h: hw[0],
            w: hw[1],
            c_out: c,
            kh: self.kernel_size.0,
            kw: self.kernel_size.1,
            stride: [self.stride.0, self.stride.1],
            pad: [self.padding.0, self.padding.1],
            dil: [self.dilation.0, self.dilation.1],
            groups: 1,
            ho: blocks[0],
            wo: blocks[1],
        }
    }
}

fn pair_str(p: Pair) -> String {
    format!("({}, {})", p.0, p.1)
}

/// The sliding local blocks of a `[N, C, H, W]` (or unbatched `[C, H, W]`) input as
/// columns (`torch.nn.functional.unfold`, im2col): `[N, C * kH * kW, L]`, `L` blocks in
/// row-major order, channel-major rows. Differentiable (its gradient is [`fold`]).
///
/// # Panics
/// With PyTorch's messages on a wrong rank, zero kernel size, stride or dilation, a
/// non-float dtype, and fewer than one block along a dim.
pub fn unfold(input: &Tensor, opts: FoldOptions) -> Tensor {
    assert!(
        input.dim() == 3 || input.dim() == 4,
        "Input Error: Only 3D or 4D input Tensors are supported (got {}D)",
        input.dim()
    );
    if input.dim() == 3 {
        return unfold(&input.unsqueeze(0), opts).squeeze_dim(0);
    }
    opts.check();
    let s = input.shape();
    let b = opts.blocks([s[2], s[3]]);
    assert!(
        b[0] >= 1 && b[1] >= 1,
        "Given input with spatial size ({}, {}), kernel_size={}, dilation={}, padding={}, calculated shape of the array of sliding blocks as ({}, {}), but its components must be at least one.",
        s[2],
        s[3],
        pair_str(opts.kernel_size),
        pair_str(opts.dilation),
        pair_str(opts.padding),
        b[0],
        b[1]
    );
    let g = opts.geom(s[0], s[1], [s[2], s[3]], [b[0] as usize, b[1] as usize]);
    unfold_op(input, g)
}

/// Sums `[N, C * kH * kW, L]` (or unbatched `[C * kH * kW, L]`) columns of sliding
/// blocks into a `[N, C, H, W]` image of `output_size = (H, W)`
/// (`torch.nn.functional.fold`, col2im); overlapping entries add up. Differentiable
/// (its gradient is [`unfold`]).
///
/// # Panics
/// With PyTorch's messages on a wrong rank, a channel dim not divisible by `kH * kW`,
/// and `L` not the number of blocks that fit `output_size`.
pub fn fold(input: &Tensor, output_size: impl Into<Pair>, opts: FoldOptions) -> Tensor {
    let out = output_size.into();
    let s = input.shape();
    assert!(
        (input.dim() == 2 || input.dim() == 3)
            && s[input.dim() - 2] != 0
            && s[input.dim() - 1] != 0,
        "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions for input, but got: {s:?}"
    );
    if input.dim() == 2 {
        return fold(&input.unsqueeze(0), out, opts).squeeze_dim(0);
    }
    opts.check();
    let k = opts.kernel_size;
    assert!(
        s[1].is_multiple_of(k.0 * k.1),
        "Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got input.size(1)={} and kernel_size={}",
        s[1],
        pair_str(k)
    );
    assert!(
        out.0 > 0 && out.1 > 0,
        "Expected output spatial size to be positive, but got: output_size={}",
        pair_str(out)
    );
    let b = opts.blocks([out.0, out.1]);
    assert!(
        b[0] >= 1 && b[1] >= 1 && (b[0] * b[1]) as usize == s[2],
        "Given output_size={}, kernel_size={}, dilation={}, padding={}, stride={}, expected size of input's dimension 2 to match the calculated number of sliding blocks {} * {} = {}, but got input.size(2)={}.",
        pair_str(out),
        pair_str(k),
        pair_str(opts.dilation),
        pair_str(opts.padding),
        pair_str(opts.stride),
        b[0],
        b[1],
        b[0] * b[1],
        s[2]
    );
    let g = opts.geom(
        s[0],
        s[1] / (k.0 * k.1),
        [out.0, out.1],
        [b[0] as usize, b[1] as usize],
    );
    fold_op(input, g)
}

fn unfold_op(x: &Tensor, g: ConvGeom) -> Tensor {
    record(unfold::unfold(x, &g), &[x], "Im2ColBackward0", || {
        move |gy: &Tensor, _: &[bool]| vec![Some(fold_op(gy, g))]
    })
}

fn fold_op(cols: &Tensor, g: ConvGeom) -> Tensor {
    record(unfold::fold(cols, &g), &[cols], "Col2ImBackward0", || {
        move |gy: &Tensor, _: &[bool]| vec![Some(unfold_op(gy, g))]
    })
}
