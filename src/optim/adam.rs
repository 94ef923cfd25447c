//! Adam and AdamW (decoupled weight decay), with AMSGrad.

use super::Optimizer;
use super::core::{Groups, ParamState, impl_optimizer, options};
use crate::tensor::kernels::fused::{Update, lerp, run};
use crate::tensor::{Float, Tensor};

options!(
    /// `torch.optim.Adam` / `AdamW` hyper-parameters.
    AdamOptions {
        /// Learning rate.
        lr: f64 = 1e-3,
        /// Decay of the first moment.
        beta1: f64 = 0.9,
        /// Decay of the second moment.
        beta2: f64 = 0.999,
        /// Added to the denominator.
        eps: f64 = 1e-8,
        /// Weight decay (L2 in Adam, decoupled in AdamW).
        weight_decay: f64 = 0.0,
        /// Use the running maximum of the second moment.
        amsgrad: bool = false,
        /// Maximise instead of minimise.
        maximize: bool = false,
        /// Decoupled (AdamW-style) weight decay.
        decoupled_weight_decay: bool = false,
    }
);

/// Adam (`torch.optim.Adam`):
/// `m ← lerp(m, g, 1−β1)`, `v ← β2 v + (1−β2) g²`,
/// `p ← p − lr/(1−β1ᵗ) · m / (sqrt(v)/sqrt(1−β2ᵗ) + eps)`.
pub struct Adam {
    groups: Groups<AdamOptions>,
}

/// AdamW (`torch.optim.AdamW`): Adam with `p ← p (1 − lr·wd)` before the update
/// instead of adding `wd·p` to the gradient; weight decay defaults to 0.01. Its own type
/// (`let opt: AdamW = AdamW::new(..)`), an [`Adam`] with decoupled weight decay inside: it
/// derefs to that `Adam` for `param_groups` and the rest.
pub struct AdamW(Adam);

impl AdamW {
    /// `AdamW(params, lr=lr)` (weight decay 0.01).
    pub fn new(params: Vec<Tensor>, lr: f64) -> AdamW {
        AdamW(Adam::with_options(
            params,
            AdamOptions {
                lr,
                weight_decay: 0.01,
                decoupled_weight_decay: true,
                ..Default::default()
            },
        ))
    }

    /// Sets `betas` in every group.
    pub fn betas(self, beta1: f64, beta2: f64) -> Self {
        AdamW(self.0.betas(beta1, beta2))
    }
    /// Sets `eps` in every group.
    pub fn eps(self, eps: f64) -> Self {
        AdamW(self.0.eps(eps))
    }
    /// Sets the (decoupled) weight decay in every group.
    pub fn weight_decay(self, wd: f64) -> Self {
        AdamW(self.0.weight_decay(wd))
    }
    /// Turns AMSGrad on or off in every group.
    pub fn amsgrad(self, on: bool) -> Self {
        AdamW(self.0.amsgrad(on))
    }
    /// Maximises instead of minimising.
    pub fn maximize(self, on: bool) -> Self {
        AdamW(self.0.maximize(on))
    }
    /// The `Adam` inside (decoupled weight decay set).
    pub fn into_inner(self) -> Adam {
        self.0
    }
}

impl std::ops::Deref for AdamW {
    type Target = Adam;
    fn deref(&self) -> &Adam {
        &self.0
    }
}

impl std::ops::DerefMut for AdamW {
    fn deref_mut(&mut self) -> &mut Adam {
        &mut self.0
    }
}

impl Optimizer for AdamW {
    fn step(&mut self) {
        self.0.step()
    }
    fn num_groups(&self) -> usize {
        self.0.num_groups()
    }
    fn group_params(&self, group: usize) -> &[Tensor] {
        self.0.group_params(group)
    }
    fn lr(&self, group: usize) -> f64 {
        self.0.lr(group)
    }
    fn set_lr(&mut self, group: usize, lr: f64) {
        self.0.set_lr(group, lr)
    }
    fn state_dict(&self) -> super::OptimizerState {
        self.0.state_dict()
    }
    fn load_state_dict(&mut self, state: &super::OptimizerState) -> Result<(), super::OptimError> {
        self.0.load_state_dict(state)
    }
}

impl Adam {
    /// `Adam(params, lr=lr)`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Self {
        Adam::with_options(
            params,
            AdamOptions {
                lr,
                ..Default::default()
            },
        )
    }

    /// `Adam(params, **options)`.
    pub fn with_options(params: Vec<Tensor>, options: AdamOptions) -> Self {
        super::core::Validate::validate(&options);
        Adam {
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
    /// Turns AMSGrad on or off in every group.
    pub fn amsgrad(self, on: bool) -> Self {
        self.map_options(|o| o.amsgrad = on)
    }
    /// Maximises instead of minimising.
    pub fn maximize(self, on: bool) -> Self {
        self.map_options(|o| o.maximize = on)
    }

    /// The per-parameter buffers a step under `o` uses.
    fn state_buffers(o: &AdamOptions) -> &'static [&'static str] {
        if o.amsgrad {
            &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
        } else {
            &["exp_avg", "exp_avg_sq"]
        }
    }

    fn step_impl(&mut self) {
        self.groups.for_each(|o, p, g, state| {
            let st = state.get_or_insert_with(|| ParamState::zeros(p, Self::state_buffers(o)));
            st.step += 1.0;
            let t = st.step;
            let k = AdamStep {
                o,
                bias1: 1.0 - o.beta1.powf(t),
                bias2_sqrt: (1.0 - o.beta2.powf(t)).sqrt(),
            };
            let (m, v) = (st.buf("exp_avg"), st.buf("exp_avg_sq"));
            if o.amsgrad {
                run(&k, p, g, [m, v, st.buf("max_exp_avg_sq")]);
            } else {
                run(&k, p, g, [m, v]);
            }
        });
    }
}

impl_optimizer!(Adam, AdamOptions);

struct AdamStep<'a> {
    o: &'a AdamOptions,
    bias1: f64,
    bias2_sqrt: f64,
}

impl AdamStep<'_> {
    /// One element: returns the new parameter; updates the moments in place.
    #[inline(always)]
    fn elem<T: Float>(&self, p: T, g: T, m: &mut T, v: &mut T, vmax: Option<&mut T>) -> T {
        let o = self.o;
        let mut g = if o.maximize { -g } else { g };
        let mut p = p;
        if o.weight_decay != 0.0 {
            if o.decoupled_weight_decay {
                p *= T::c(1.0 - o.lr * o.weight_decay);
            } else {
                g += p * T::c(o.weight_decay);
            }
        }
        *m = lerp(*m, g, 1.0 - o.beta1);
        // addcmul order: value * g * g.
        *v = *v * T::c(o.beta2) + T::c(1.0 - o.beta2) * g * g;
        let second = match vmax {
            Some(mx) => {
                if *v > *mx {
                    *mx = *v;
                }
                *mx
            }
            None => *v,
        };
        let denom = second.sqrt() / T::c(self.bias2_sqrt) + T::c(o.eps);
        p + T::c(-(o.lr / self.bias1)) * *m / denom
    }
}

impl Update<2> for AdamStep<'_> {
    #[inline(always)]
    fn apply<T: Float>(&self, p: &mut [T], g: &[T], [m, v]: [&mut [T]; 2]) {
        let o = self.o;
        if o.maximize || o.weight_decay != 0.0 || (1.0 - o.beta1).abs() >= 0.5 {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *p = self.elem(*p, g, m, v, None);
            }
            return;
        }
        // The common case with every constant hoisted, so the loop vectorises; the
        // arithmetic is `elem`'s, operation for operation.
        let (w1, b2, w2) = (T::c(1.0 - o.beta1), T::c(o.beta2), T::c(1.0 - o.beta2));
        let (b2s, eps, step) = (
            T::c(self.bias2_sqrt),
            T::c(o.eps),
            T::c(-(o.lr / self.bias1)),
        );
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m += w1 * (g - *m);
            *v = *v * b2 + w2 * g * g;
            let denom = v.sqrt() / b2s + eps;
            *p += step * *m / denom;
        }
    }
}

impl Update<3> for AdamStep<'_> {
    #[inline(always)]
    fn apply<T: Float>(&self, p: &mut [T], g: &[T], [m, v, mx]: [&mut [T]; 3]) {
        for ((((p, &g), m), v), mx) in p
            .iter_mut()
            .zip(g)
            .zip(m.iter_mut())
            .zip(v.iter_mut())
            .zip(mx.iter_mut())
        {
            *p = self.elem(*p, g, m, v, Some(mx));
        }
    }
}

impl super::core::Validate for AdamOptions {
    fn validate(&self) {
        use super::core::{check_nonneg, py_float};
        check_nonneg(self.lr, "learning rate");
        check_nonneg(self.eps, "epsilon value");
        for (i, b) in [self.beta1, self.beta2].into_iter().enumerate() {
            if !(0.0..1.0).contains(&b) {
                panic!("Invalid beta parameter at index {i}: {}", py_float(b));
            }
        }
        check_nonneg(self.weight_decay, "weight_decay value");
    }
}
