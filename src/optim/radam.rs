//! RAdam (rectified Adam), with optional decoupled weight decay.

use super::adamax::check_adam_like;
use super::core::{Groups, ParamState, Validate, impl_optimizer, options};
use crate::tensor::kernels::fused::{Update, lerp, run};
use crate::tensor::{Float, Tensor};

options!(
    /// `torch.optim.RAdam` hyper-parameters.
    RAdamOptions {
        /// Learning rate.
        lr: f64 = 1e-3,
        /// Decay of the first moment.
        beta1: f64 = 0.9,
        /// Decay of the second moment.
        beta2: f64 = 0.999,
        /// Added to the denominator.
        eps: f64 = 1e-8,
        /// Weight decay (L2, or decoupled as in AdamW).
        weight_decay: f64 = 0.0,
        /// Decoupled (AdamW-style) weight decay.
        decoupled_weight_decay: bool = false,
        /// Maximise instead of minimise.
        maximize: bool = false,
    }
);

impl Validate for RAdamOptions {
    fn validate(&self) {
        check_adam_like(self.lr, self.eps, self.beta1, self.beta2, self.weight_decay);
    }
}

/// RAdam (`torch.optim.RAdam`): Adam's moments; with `ρ∞ = 2/(1−β2) − 1` and
/// `ρₜ = ρ∞ − 2tβ2ᵗ/(1−β2ᵗ)`, once `ρₜ > 5` the step is
/// `lr · m̂ · sqrt(1−β2ᵗ)/(sqrt(v) + eps) · r` with the variance rectification `r`,
/// and before that the un-adapted `lr · m̂` (`m̂ = m/(1−β1ᵗ)`).
pub struct RAdam {
    groups: Groups<RAdamOptions>,
}

impl RAdam {
    /// `RAdam(params, lr=lr)`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Self {
        RAdam::with_options(
            params,
            RAdamOptions {
                lr,
                ..Default::default()
            },
        )
    }

    /// `RAdam(params, **options)`; panics like PyTorch on an invalid option.
    pub fn with_options(params: Vec<Tensor>, options: RAdamOptions) -> Self {
        options.validate();
        RAdam {
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
    /// Turns decoupled weight decay on or off in every group.
    pub fn decoupled_weight_decay(self, on: bool) -> Self {
        self.map_options(|o| o.decoupled_weight_decay = on)
    }
    /// Maximises instead of minimising.
    pub fn maximize(self, on: bool) -> Self {
        self.map_options(|o| o.maximize = on)
    }

    /// The per-parameter buffers a step uses.
    fn state_buffers(_: &RAdamOptions) -> &'static [&'static str] {
        &["exp_avg", "exp_avg_sq"]
    }

    fn step_impl(&mut self) {
        self.groups.for_each(|o, p, g, state| {
            let st = state.get_or_insert_with(|| ParamState::zeros(p, Self::state_buffers(o)));
            st.step += 1.0;
            let t = st.step;
            let bias1 = 1.0 - o.beta1.powf(t);
            let bias2 = 1.0 - o.beta2.powf(t);
            let rho_inf = 2.0 / (1.0 - o.beta2) - 1.0;
            let rho_t = rho_inf - 2.0 * t * o.beta2.powf(t) / bias2;
            let rect = (rho_t > 5.0).then(|| {
                ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                    / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                    .powf(0.5)
            });
            let k = RAdamStep {
                o,
                bias1,
                bias2_sqrt: bias2.powf(0.5),
                rect,
            };
            run(&k, p, g, [st.buf("exp_avg"), st.buf("exp_avg_sq")]);
        });
    }
}

impl_optimizer!(RAdam, RAdamOptions);

struct RAdamStep<'a> {
    o: &'a RAdamOptions,
    bias1: f64,
    bias2_sqrt: f64,
    /// The rectification, once the variance is tractable (`ρₜ > 5`).
    rect: Option<f64>,
}

impl Update<2> for RAdamStep<'_> {
    #[inline(always)]
    fn apply<T: Float>(&self, p: &mut [T], g: &[T], [m, v]: [&mut [T]; 2]) {
        let o = self.o;
        let (wd, decay) = (T::c(o.weight_decay), T::c(1.0 - o.lr * o.weight_decay));
        let (b2, w2, eps) = (T::c(o.beta2), T::c(1.0 - o.beta2), T::c(o.eps));
        let (bias1, lr, b2s) = (T::c(self.bias1), T::c(o.lr), T::c(self.bias2_sqrt));
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let mut g = if o.maximize { -g } else { g };
            if o.weight_decay != 0.0 {
                if o.decoupled_weight_decay {
                    *p *= decay;
                } else {
                    g += *p * wd;
                }
            }
            *m = lerp(*m, g, 1.0 - o.beta1);
            *v = *v * b2 + w2 * g * g;
            let step = *m / bias1 * lr;
            // `sqrt(1−β2ᵗ) / x` on a tensor is PyTorch's `x.reciprocal() * sqrt(1−β2ᵗ)`.
            *p -= match self.rect {
                Some(r) => step * ((T::one() / (v.sqrt() + eps)) * b2s) * T::c(r),
                None => step,
            };
        }
    }
}
