//! Adamax (Adam with the infinity norm).

use super::core::{Groups, ParamState, Validate, check_nonneg, impl_optimizer, options, py_float};
use crate::tensor::kernels::fused::{Update, lerp, run};
use crate::tensor::{Float, Tensor};

options!(
    /// `torch.optim.Adamax` hyper-parameters.
    AdamaxOptions {
        /// Learning rate.
        lr: f64 = 2e-3,
        /// Decay of the first moment.
        beta1: f64 = 0.9,
        /// Decay of the infinity norm.
        beta2: f64 = 0.999,
        /// Added to `|g|` before the maximum.
        eps: f64 = 1e-8,
        /// L2 penalty added to the gradient.
        weight_decay: f64 = 0.0,
        /// Maximise instead of minimise.
        maximize: bool = false,
    }
);

/// Panics with PyTorch's messages unless `lr`, `eps` and `weight_decay` are `>= 0` and
/// both betas in `[0, 1)`: the checks Adamax, NAdam and RAdam share.
pub(crate) fn check_adam_like(lr: f64, eps: f64, beta1: f64, beta2: f64, weight_decay: f64) {
    check_nonneg(lr, "learning rate");
    check_nonneg(eps, "epsilon value");
    for (i, b) in [beta1, beta2].into_iter().enumerate() {
        if !(0.0..1.0).contains(&b) {
            panic!("Invalid beta parameter at index {i}: {}", py_float(b));
        }
    }
    check_nonneg(weight_decay, "weight_decay value");
}

impl Validate for AdamaxOptions {
    fn validate(&self) {
        check_adam_like(self.lr, self.eps, self.beta1, self.beta2, self.weight_decay);
    }
}

/// Adamax (`torch.optim.Adamax`): `m ← lerp(m, g, 1−β1)`,
/// `u ← max(β2 u, |g| + eps)`, `p ← p − lr/(1−β1ᵗ) · m / u`.
pub struct Adamax {
    groups: Groups<AdamaxOptions>,
}

impl Adamax {
    /// `Adamax(params, lr=lr)`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Self {
        Adamax::with_options(
            params,
            AdamaxOptions {
                lr,
                ..Default::default()
            },
        )
    }

    /// `Adamax(params, **options)`; panics like PyTorch on an invalid option.
    pub fn with_options(params: Vec<Tensor>, options: AdamaxOptions) -> Self {
        options.validate();
        Adamax {
            groups: Groups::new(params, options),
        }
    }

    /// Sets `betas` in every group.
    pub fn betas(self, beta1: f64, beta2: f64) -> Self {
        self.map_options(|o| {
            o.beta1 = beta1;
            o.beta2 = beta2;
        })
    }
    /// Sets `eps` in every group.
    pub fn eps(self, eps: f64) -> Self {
        self.map_options(|o| o.eps = eps)
    }
    /// Sets the weight decay in every group.
    pub fn weight_decay(self, wd: f64) -> Self {
        self.map_options(|o| o.weight_decay = wd)
    }
    /// Maximises instead of minimising.
    pub fn maximize(self, on: bool) -> Self {
        self.map_options(|o| o.maximize = on)
    }

    /// The per-parameter buffers a step uses.
    fn state_buffers(_: &AdamaxOptions) -> &'static [&'static str] {
        &["exp_avg", "exp_inf"]
    }

    fn step_impl(&mut self) {
        self.groups.for_each(|o, p, g, state| {
            let st = state.get_or_insert_with(|| ParamState::zeros(p, Self::state_buffers(o)));
            st.step += 1.0;
            let clr = o.lr / (1.0 - o.beta1.powf(st.step));
            run(
                &AdamaxStep { o, clr },
                p,
                g,
                [st.buf("exp_avg"), st.buf("exp_inf")],
            );
        });
    }
}

impl_optimizer!(Adamax, AdamaxOptions);

struct AdamaxStep<'a> {
    o: &'a AdamaxOptions,
    clr: f64,
}

/// `torch.maximum`: NaN if either side is NaN.
#[inline(always)]
pub(crate) fn maximum<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || a > b { a } else { b }
}

impl Update<2> for AdamaxStep<'_> {
    #[inline(always)]
    fn apply<T: Float>(&self, p: &mut [T], g: &[T], [m, u]: [&mut [T]; 2]) {
        let o = self.o;
        let (wd, b2, eps, neg) = (
            T::c(o.weight_decay),
            T::c(o.beta2),
            T::c(o.eps),
            T::c(-self.clr),
        );
        for (((p, &g), m), u) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(u.iter_mut()) {
            let mut g = if o.maximize { -g } else { g };
            if o.weight_decay != 0.0 {
                g += *p * wd;
            }
            *m = lerp(*m, g, 1.0 - o.beta1);
            *u = maximum(*u * b2, g.abs() + eps);
            *p += neg * *m / *u;
        }
    }
}
