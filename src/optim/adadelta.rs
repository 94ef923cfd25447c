//! Adadelta.

use super::core::{Groups, ParamState, Validate, check_nonneg, impl_optimizer, options, py_float};
use crate::tensor::kernels::fused::{Update, run};
use crate::tensor::{Float, Tensor};

options!(
    /// `torch.optim.Adadelta` hyper-parameters.
    AdadeltaOptions {
        /// Learning rate (scales the computed delta).
        lr: f64 = 1.0,
        /// Decay of the running averages.
        rho: f64 = 0.9,
        /// Added inside both square roots.
        eps: f64 = 1e-6,
        /// L2 penalty added to the gradient.
        weight_decay: f64 = 0.0,
        /// Maximise instead of minimise.
        maximize: bool = false,
    }
);

impl Validate for AdadeltaOptions {
    fn validate(&self) {
        check_nonneg(self.lr, "learning rate");
        if !(0.0..=1.0).contains(&self.rho) {
            panic!("Invalid rho value: {}", py_float(self.rho));
        }
        check_nonneg(self.eps, "epsilon value");
        check_nonneg(self.weight_decay, "weight_decay value");
    }
}

/// Adadelta (`torch.optim.Adadelta`): `v ← ρ v + (1−ρ) g²`,
/// `δ = sqrt(u + eps) / sqrt(v + eps) · g`, `u ← ρ u + (1−ρ) δ²`, `p ← p − lr·δ`.
pub struct Adadelta {
    groups: Groups<AdadeltaOptions>,
}

impl Adadelta {
    /// `Adadelta(params, lr=lr)`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Self {
        Adadelta::with_options(
            params,
            AdadeltaOptions {
                lr,
                ..Default::default()
            },
        )
    }

    /// `Adadelta(params, **options)`; panics like PyTorch on an invalid option.
    pub fn with_options(params: Vec<Tensor>, options: AdadeltaOptions) -> Self {
        options.validate();
        Adadelta {
            groups: Groups::new(params, options),
        }
    }

    /// Sets `rho` in every group.
    pub fn rho(self, rho: f64) -> Self {
        self.map_options(|o| o.rho = rho)
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
    fn state_buffers(_: &AdadeltaOptions) -> &'static [&'static str] {
        &["square_avg", "acc_delta"]
    }

    fn step_impl(&mut self) {
        self.groups.for_each(|o, p, g, state| {
            let st = state.get_or_insert_with(|| ParamState::zeros(p, Self::state_buffers(o)));
            st.step += 1.0;
            run(
                &AdadeltaStep(o),
                p,
                g,
                [st.buf("square_avg"), st.buf("acc_delta")],
            );
        });
    }
}

impl_optimizer!(Adadelta, AdadeltaOptions);

struct AdadeltaStep<'a>(&'a AdadeltaOptions);

impl Update<2> for AdadeltaStep<'_> {
    #[inline(always)]
    fn apply<T: Float>(&self, p: &mut [T], g: &[T], [v, u]: [&mut [T]; 2]) {
        let o = self.0;
        let (rho, one_minus, eps) = (T::c(o.rho), T::c(1.0 - o.rho), T::c(o.eps));
        let (wd, neg_lr) = (T::c(o.weight_decay), T::c(-o.lr));
        for (((p, &g), v), u) in p.iter_mut().zip(g).zip(v.iter_mut()).zip(u.iter_mut()) {
            let mut g = if o.maximize { -g } else { g };
            if o.weight_decay != 0.0 {
                g += *p * wd;
            }
            *v = *v * rho + one_minus * g * g;
            let std = (*v + eps).sqrt();
            let delta = (*u + eps).sqrt() / std * g;
            *u = *u * rho + one_minus * delta * delta;
            *p += neg_lr * delta;
        }
    }
}
