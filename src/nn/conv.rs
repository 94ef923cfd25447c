//! Convolution layers: `Conv2d`, `Conv1d` and `ConvTranspose2d`.

use super::init;
use super::module::{Module, TrainingFlag, training_hooks};
use crate::autograd::ops::conv::{
    ConvOptions, ConvTransposeOptions, Padding, Pair, conv_transpose2d, conv1d, conv2d,
};
use crate::tensor::Tensor;

/// PyTorch's `reset_parameters` for convolutions: weight by `kaiming_uniform_(a=sqrt(5))`,
/// then bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), in that order from the default generator.
/// The bias has `bias_len` entries (the output channels), if any.
fn init_params(weight_shape: &[usize], bias_len: Option<usize>) -> (Tensor, Option<Tensor>) {
    let weight = Tensor::zeros(weight_shape);
    init::kaiming_uniform_(&weight, 5f64.sqrt(), init::FanMode::FanIn, "leaky_relu");
    let bias = bias_len.map(|len| {
        let b = Tensor::zeros(&[len]);
        let (fan_in, _) = init::calculate_fan_in_and_fan_out(&weight);
        let bound = if fan_in > 0 {
            1.0 / (fan_in as f64).sqrt()
        } else {
            0.0
        };
        init::uniform_(&b, -bound, bound);
        super::Parameter::new(b)
    });
    (super::Parameter::new(weight), bias)
}

fn check_channels(kind: &str, in_c: usize, out_c: usize, o: &ConvOptions) {
    assert!(o.groups > 0, "{kind}: groups must be a positive integer");
    assert!(
        in_c.is_multiple_of(o.groups),
        "in_channels must be divisible by groups"
    );
    assert!(
        out_c.is_multiple_of(o.groups),
        "out_channels must be divisible by groups"
    );
    if o.padding == Padding::Same {
        assert!(
            o.stride == Pair(1, 1),
            "padding='same' is not supported for strided convolutions"
        );
    }
}

/// PyTorch's tuple repr: `(3, 3)` or, for one dim, `(3,)`.
fn tuple(v: &[usize]) -> String {
    match v {
        [a] => format!("({a},)"),
        _ => format!(
            "({})",
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), ...)`, with the non-default options.
fn conv_repr(in_c: usize, out_c: usize, k: &[usize], o: &ConvOptions, bias: bool) -> String {
    let two = k.len() == 2;
    let pick = |p: Pair| if two { vec![p.0, p.1] } else { vec![p.1] };
    let mut s = format!(
        "{in_c}, {out_c}, kernel_size={}, stride={}",
        tuple(k),
        tuple(&pick(o.stride))
    );
    match o.padding {
        Padding::Same => s.push_str(", padding=same"),
        Padding::Valid => s.push_str(", padding=valid"),
        Padding::Explicit(a, b) => {
            let p = pick(Pair(a, b));
            if p.iter().any(|&x| x != 0) {
                s.push_str(&format!(", padding={}", tuple(&p)));
            }
        }
    }
    let d = pick(o.dilation);
    if d.iter().any(|&x| x != 1) {
        s.push_str(&format!(", dilation={}", tuple(&d)));
    }
    if o.groups != 1 {
        s.push_str(&format!(", groups={}", o.groups));
    }
    if !bias {
        s.push_str(", bias=False");
    }
    s
}

/// A 2-D convolution layer over `[N, C_in, H, W]` (`nn.Conv2d`, zero padding).
///
/// `weight` is `[out_channels, in_channels / groups, kH, kW]` and `bias` `[out_channels]`;
/// both drawn as PyTorch draws them (weight `kaiming_uniform_(a=sqrt(5))`, then bias
/// U(±1/sqrt(fan_in))), so after `kiln::manual_seed(s)` the layer holds what
/// `torch.manual_seed(s); nn.Conv2d(...)` holds.
#[derive(Clone, Debug)]
pub struct Conv2d {
    /// The `[out, in / groups, kH, kW]` weight (a parameter).
    pub weight: Tensor,
    /// The `[out]` bias, if any (a parameter).
    pub bias: Option<Tensor>,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size `(kH, kW)`.
    pub kernel_size: Pair,
    /// Stride, padding, dilation and groups.
    pub options: ConvOptions,
    training: TrainingFlag,
}

impl Conv2d {
    /// `nn.Conv2d(in_channels, out_channels, kernel_size)` with a bias and default options.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: impl Into<Pair>) -> Self {
        Conv2d::with_options(
            in_channels,
            out_channels,
            kernel_size,
            ConvOptions::new(),
            true,
        )
    }

    /// `nn.Conv2d(in, out, kernel_size, stride=, padding=, dilation=, groups=, bias=)`.
    ///
    /// # Panics
    /// If `groups` does not divide both channel counts, or `'same'` padding is combined
    /// with a stride above 1 (PyTorch's messages).
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Pair>,
        options: ConvOptions,
        bias: bool,
    ) -> Self {
        let k = kernel_size.into();
        check_channels("Conv2d", in_channels, out_channels, &options);
        let (weight, bias) = init_params(
            &[out_channels, in_channels / options.groups, k.0, k.1],
            bias.then_some(out_channels),
        );
        Conv2d {
            weight,
            bias,
            in_channels,
            out_channels,
            kernel_size: k,
            options,
            training: TrainingFlag::new(),
        }
    }
}

impl Module for Conv2d {
    fn forward(&self, input: &Tensor) -> Tensor {
        conv2d(input, &self.weight, self.bias.as_ref(), self.options)
    }
    fn visit_own_parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        f("weight", &self.weight);
        if let Some(b) = &self.bias {
            f("bias", b);
        }
    }
    fn extra_repr(&self) -> String {
        let k = [self.kernel_size.0, self.kernel_size.1];
        conv_repr(
            self.in_channels,
            self.out_channels,
            &k,
            &self.options,
            self.bias.is_some(),
        )
    }
    training_hooks!();
}

/// A 1-D convolution layer over `[N, C_in, L]` (`nn.Conv1d`, zero padding); the width
/// entries of its [`ConvOptions`] apply.
///
/// `weight` is `[out_channels, in_channels / groups, k]`, initialised as [`Conv2d`]'s.
#[derive(Clone, Debug)]
pub struct Conv1d {
    /// The `[out, in / groups, k]` weight (a parameter).
    pub weight: Tensor,
    /// The `[out]` bias, if any (a parameter).
    pub bias: Option<Tensor>,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size.
    pub kernel_size: usize,
    /// Stride, padding, dilation and groups (width entries).
    pub options: ConvOptions,
    training: TrainingFlag,
}

impl Conv1d {
    /// `nn.Conv1d(in_channels, out_channels, kernel_size)` with a bias and default options.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: usize) -> Self {
        Conv1d::with_options(
            in_channels,
            out_channels,
            kernel_size,
            ConvOptions::new(),
            true,
        )
    }

    /// `nn.Conv1d(in, out, kernel_size, stride=, padding=, dilation=, groups=, bias=)`.
    ///
    /// # Panics
    /// As [`Conv2d::with_options`].
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        options: ConvOptions,
        bias: bool,
    ) -> Self {
        check_channels("Conv1d", in_channels, out_channels, &options);
        let (weight, bias) = init_params(
            &[out_channels, in_channels / options.groups, kernel_size],
            bias.then_some(out_channels),
        );
        Conv1d {
            weight,
            bias,
            in_channels,
            out_channels,
            kernel_size,
            options,
            training: TrainingFlag::new(),
        }
    }
}

impl Module for Conv1d {
    fn forward(&self, input: &Tensor) -> Tensor {
        conv1d(input, &self.weight, self.bias.as_ref(), self.options)
    }
    fn visit_own_parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        f("weight", &self.weight);
        if let Some(b) = &self.bias {
            f("bias", b);
        }
    }
    fn extra_repr(&self) -> String {
        conv_repr(
            self.in_channels,
            self.out_channels,
            &[self.kernel_size],
            &self.options,
            self.bias.is_some(),
        )
    }
    training_hooks!();
}

/// A 2-D transposed convolution layer over `[N, C_in, H, W]` (`nn.ConvTranspose2d`,
/// zero padding): the gradient of a [`Conv2d`] with respect to its input, as used to
/// upsample.
///
/// `weight` is `[in_channels, out_channels / groups, kH, kW]` and `bias`
/// `[out_channels]`, drawn as PyTorch draws them (fan-in from the weight's dim 1, so
/// after `kiln::manual_seed(s)` the layer holds what `torch.manual_seed(s);
/// nn.ConvTranspose2d(...)` holds).
#[derive(Clone, Debug)]
pub struct ConvTranspose2d {
    /// The `[in, out / groups, kH, kW]` weight (a parameter).
    pub weight: Tensor,
    /// The `[out]` bias, if any (a parameter).
    pub bias: Option<Tensor>,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size `(kH, kW)`.
    pub kernel_size: Pair,
    /// Stride, padding, output padding, dilation and groups.
    pub options: ConvTransposeOptions,
    training: TrainingFlag,
}

impl ConvTranspose2d {
    /// `nn.ConvTranspose2d(in_channels, out_channels, kernel_size)` with a bias and
    /// default options.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: impl Into<Pair>) -> Self {
        ConvTranspose2d::with_options(
            in_channels,
            out_channels,
            kernel_size,
            ConvTransposeOptions::new(),
            true,
        )
    }

    /// `nn.ConvTranspose2d(in, out, kernel_size, stride=, padding=, output_padding=,
    /// groups=, bias=, dilation=)`.
    ///
    /// # Panics
    /// If `groups` does not divide both channel counts (PyTorch's messages).
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Pair>,
        options: ConvTransposeOptions,
        bias: bool,
    ) -> Self {
        let k = kernel_size.into();
        let as_conv = ConvOptions::new().groups(options.groups);
        check_channels("ConvTranspose2d", in_channels, out_channels, &as_conv);
        let (weight, bias) = init_params(
            &[in_channels, out_channels / options.groups, k.0, k.1],
            bias.then_some(out_channels),
        );
        ConvTranspose2d {
            weight,
            bias,
            in_channels,
            out_channels,
            kernel_size: k,
            options,
            training: TrainingFlag::new(),
        }
    }

    /// `forward(input, output_size=)`: picks the output padding that makes the output
    /// `output_size` (`(H, W)`) big.
    ///
    /// # Panics
    /// If `output_size` is outside the sizes this layer can produce from `input`
    /// (PyTorch's message).
    pub fn forward_with_output_size(&self, input: &Tensor, output_size: impl Into<Pair>) -> Tensor {
        let want = output_size.into();
        let s = input.shape();
        let (h, w) = (s[s.len() - 2], s[s.len() - 1]);
        let o = self.options;
        let min = |len: usize, st: usize, p: usize, d: usize, k: usize| {
            ((len as isize - 1) * st as isize - 2 * p as isize + (d * (k - 1)) as isize + 1).max(0)
                as usize
        };
        let lo = [
            min(h, o.stride.0, o.padding.0, o.dilation.0, self.kernel_size.0),
            min(w, o.stride.1, o.padding.1, o.dilation.1, self.kernel_size.1),
        ];
        let hi = [lo[0] + o.stride.0 - 1, lo[1] + o.stride.1 - 1];
        assert!(
            (lo[0]..=hi[0]).contains(&want.0) && (lo[1]..=hi[1]).contains(&want.1),
            "requested an output size of [{}, {}], but valid sizes range from {lo:?} to {hi:?} (for an input of {:?})",
            want.0,
            want.1,
            &s[s.len() - 2..]
        );
        let opts = o.output_padding((want.0 - lo[0], want.1 - lo[1]));
        conv_transpose2d(input, &self.weight, self.bias.as_ref(), opts)
    }
}

impl Module for ConvTranspose2d {
    fn forward(&self, input: &Tensor) -> Tensor {
        conv_transpose2d(input, &self.weight, self.bias.as_ref(), self.options)
    }
    fn visit_own_parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        f("weight", &self.weight);
        if let Some(b) = &self.bias {
            f("bias", b);
        }
    }
    fn extra_repr(&self) -> String {
        let o = &self.options;
        let t = |p: Pair| tuple(&[p.0, p.1]);
        let mut s = format!(
            "{}, {}, kernel_size={}, stride={}",
            self.in_channels,
            self.out_channels,
            t(self.kernel_size),
            t(o.stride)
        );
        if o.padding != Pair(0, 0) {
            s.push_str(&format!(", padding={}", t(o.padding)));
        }
        if o.dilation != Pair(1, 1) {
            s.push_str(&format!(", dilation={}", t(o.dilation)));
        }
        if o.output_padding != Pair(0, 0) {
            s.push_str(&format!(", output_padding={}", t(o.output_padding)));
        }
        if o.groups != 1 {
            s.push_str(&format!(", groups={}", o.groups));
        }
        if self.bias.is_none() {
            s.push_str(", bias=False");
        }
        s
    }
    training_hooks!();
}

/// `layer.bias` without the `Option`, as on [`super::Linear::bias`].
macro_rules! bias_getter {
    ($($t:ident),*) => {$(
        impl $t {
            #[doc = concat!("The bias (`", stringify!($t), ".bias`); panics if the layer was made \
                with `bias=False` (the `bias` field is the `Option` itself).")]
            pub fn bias(&self) -> &Tensor {
                self.bias.as_ref().unwrap_or_else(|| {
                    panic!(
                        "{}(in_channels={}, out_channels={}, bias=False) has no bias",
                        stringify!($t),
                        self.in_channels,
                        self.out_channels
                    )
                })
            }
        }
    )*};
}
bias_getter!(Conv1d, Conv2d, ConvTranspose2d);
