//! NAdam (Adam with Nesterov momentum), with optional decoupled weight decay.

use super::adamax::check_adam_like;
use super::core::{Groups, ParamState, Validate, check_nonneg, impl_optimizer, options};
use crate::tensor::kernels::fused::{Update, lerp, run};
use crate::tensor::{Float, Tensor};

options!(
    /// `torch.optim.NAdam` hyper-parameters.
    NAdamOptions {
        /// Learning rate.
        lr: f64 = 2e-3,
        /// Decay of the first moment.
        beta1: f64 = 0.9,
        /// Decay of the second moment.
        beta2: f64 = 0.999,
        /// Added to the denominator.
        eps: f64 = 1e-8,
        /// Weight decay (L2, or decoupled as in AdamW).
        weight_decay: f64 = 0.0,
        /// Momentum decay `ψ` of the momentum schedule.
        momentum_decay: f64 = 4e-3,
        /// Decoupled (AdamW-style) weight decay (NAdamW).
        decoupled_weight_decay: bool = false,
        /// Maximise instead of minimise.
        maximize: bool = false,
    }
);

impl Validate for NAdamOptions {
    fn validate(&self) {
        check_adam_like(self.lr, self.eps, self.beta1, self.beta2, self.weight_decay);
        check_nonneg(self.momentum_decay, "momentum_decay value");
    }
}

/// NAdam (`torch.optim.NAdam`): with `μₜ = β1 (1 − ½·0.96^(t·ψ))` and `Πₜ = μ1⋯μₜ`,
/// `m ← lerp(m, g, 1−β1)`, `v ← β2 v + (1−β2) g²`, `d = sqrt(v/(1−β2ᵗ)) + eps`,
/// `p ← p − lr(1−μₜ)/(1−Πₜ) · g/d − lr·μₜ₊₁/(1−Πₜμₜ₊₁) · m/d`.
pub struct NAdam {
    groups: Groups<NAdamOptions>,
}

impl NAdam {
    /// `NAdam(params, lr=lr)`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Self {
        NAdam::with_options(
            params,
            NAdamOptions {
                lr,
                ..Default::default()
            },
        )
    }

    /// `NAdam(params, **options)`; panics like PyTorch on an invalid option.
    pub fn with_options(params: Vec<Tensor>, options: NAdamOptions) -> Self {
        options.validate();
        let mut groups = Groups::new(params, options);
        groups.scalars = &["mu_product"];
        NAdam { groups }
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
    /// Sets the momentum decay in every group.
    pub fn momentum_decay(self, d: f64) -> Self {
        self.map_options(|o| o.momentum_decay = d)
    }
    /// Turns decoupled weight decay on or off in every group.
    pub fn decoupled_weight_decay(self, on: bool) -> Self {
        self.map_options(|o| o.decoupled_weight_decay = on)
    }
    /// Maximises instead of minimising.
    pub fn maximize(self, on: bool) -> Self {
        self.map_options(|o| o.maximize = on)
    }

    /// The per-parameter state a step uses (`mu_product` is a scalar).
    fn state_buffers(_: &NAdamOptions) -> &'static [&'static str] {
        &["exp_avg", "exp_avg_sq", "mu_product"]
    }

    fn step_impl(&mut self) {
        self.groups.for_each(|o, p, g, state| {
            let st = state.get_or_insert_with(|| {
                let mut s = ParamState::zeros(p, &["exp_avg", "exp_avg_sq"]);
                s.set_scalar("mu_product", 1.0);
                s
            });
            st.step += 1.0;
            let t = st.step;
            let mu = o.beta1 * (1.0 - 0.5 * 0.96f64.powf(t * o.momentum_decay));
            let mu_next = o.beta1 * (1.0 - 0.5 * 0.96f64.powf((t + 1.0) * o.momentum_decay));
            // PyTorch keeps the product in a 0-D float32 tensor.
            let mu_product = (st.scalar("mu_product") as f32 * mu as f32) as f64;
            st.set_scalar("mu_product", mu_product);
            let k = NAdamStep {
                o,
                bias2: 1.0 - o.beta2.powf(t),
                grad_coef: -o.lr * (1.0 - mu) / (1.0 - mu_product),
                avg_coef: (-o.lr * mu_next) / (1.0 - mu_product * mu_next),
            };
            run(&k, p, g, [st.buf("exp_avg"), st.buf("exp_avg_sq")]);
        });
    }
}

impl_optimizer!(NAdam, NAdamOptions);

struct NAdamStep<'a> {
    o: &'a NAdamOptions,
    bias2: f64,
    grad_coef: f64,
    avg_coef: f64,
}

impl Update<2> for NAdamStep<'_> {
    #[inline(always)]
    fn apply<T: Float>(&self, p: &mut [T], g: &[T], [m, v]: [&mut [T]; 2]) {
        let o = self.o;
        let (wd, decay) = (T::c(o.weight_decay), T::c(1.0 - o.lr * o.weight_decay));
        let (b2, w2, bias2, eps) = (
            T::c(o.beta2),
            T::c(1.0 - o.beta2),
            T::c(self.bias2),
            T::c(o.eps),
        );
        let (cg, cm) = (T::c(self.grad_coef), T::c(self.avg_coef));
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
            let denom = (*v / bias2).sqrt() + eps;
            *p += cg * g / denom;
            *p += cm * *m / denom;
        }
    }
}
