//! RMSprop, plain or centred, with optional momentum.

use super::core::{Groups, ParamState, impl_optimizer, options};
use crate::tensor::kernels::fused::{Update, lerp, run};
use crate::tensor::{Float, Tensor};

options!(
    /// `torch.optim.RMSprop` hyper-parameters.
    RMSpropOptions {
        /// Learning rate.
        lr: f64 = 1e-2,
        /// Smoothing constant of the squared-gradient average.
        alpha: f64 = 0.99,
        /// Added to the denominator.
        eps: f64 = 1e-8,
        /// L2 penalty added to the gradient.
        weight_decay: f64 = 0.0,
        /// Momentum factor.
        momentum: f64 = 0.0,
        /// Normalise by the estimated variance instead of the raw second moment.
        centered: bool = false,
        /// Maximise instead of minimise.
        maximize: bool = false,
    }
);

/// RMSprop (`torch.optim.RMSprop`): `v ← α v + (1−α) g²`; centred subtracts the squared
/// running mean of `g`; `avg = sqrt(v) + eps`; then either `p ← p − lr·g/avg` or
/// `b ← μ b + g/avg`, `p ← p − lr·b`.
pub struct RMSprop {
    groups: Groups<RMSpropOptions>,
}

impl RMSprop {
    /// `RMSprop(params, lr=lr)`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Self {
        RMSprop::with_options(
            params,
            RMSpropOptions {
                lr,
                ..Default::default()
            },
        )
    }

    /// `RMSprop(params, **options)`.
    pub fn with_options(params: Vec<Tensor>, options: RMSpropOptions) -> Self {
        super::core::Validate::validate(&options);
        RMSprop {
            groups: Groups::new(params, options),
        }
    }

    /// Sets `alpha` in every group.
    pub fn alpha(self, a: f64) -> Self {
        self.map_options(|o| o.alpha = a)
    }
    /// Sets `eps` in every group.
    pub fn eps(self, eps: f64) -> Self {
        self.map_options(|o| o.eps = eps)
    }
    /// Sets the weight decay in every group.
    pub fn weight_decay(self, wd: f64) -> Self {
        self.map_options(|o| o.weight_decay = wd)
    }
    /// Sets the momentum in every group.
    pub fn momentum(self, m: f64) -> Self {
        self.map_options(|o| o.momentum = m)
    }
    /// Turns the centred variant on or off in every group.
    pub fn centered(self, on: bool) -> Self {
        self.map_options(|o| o.centered = on)
    }

    /// The per-parameter buffers a step uses (all three, whatever the options).
    fn state_buffers(_: &RMSpropOptions) -> &'static [&'static str] {
        &["square_avg", "momentum_buffer", "grad_avg"]
    }

    fn step_impl(&mut self) {
        self.groups.for_each(|o, p, g, state| {
            let st = state.get_or_insert_with(|| ParamState::zeros(p, Self::state_buffers(o)));
            st.step += 1.0;
            let bufs = [
                st.buf("square_avg"),
                st.buf("momentum_buffer"),
                st.buf("grad_avg"),
            ];
            run(&RmsStep(o), p, g, bufs);
        });
    }
}

impl_optimizer!(RMSprop, RMSpropOptions);

struct RmsStep<'a>(&'a RMSpropOptions);

impl Update<3> for RmsStep<'_> {
    #[inline(always)]
    fn apply<T: Float>(&self, p: &mut [T], g: &[T], [v, b, ga]: [&mut [T]; 3]) {
        let o = self.0;
        let (alpha, one_minus) = (T::c(o.alpha), T::c(1.0 - o.alpha));
        let (eps, mu, neg_lr) = (T::c(o.eps), T::c(o.momentum), T::c(-o.lr));
        for ((((p, &g), v), b), ga) in p
            .iter_mut()
            .zip(g)
            .zip(v.iter_mut())
            .zip(b.iter_mut())
            .zip(ga.iter_mut())
        {
            let mut g = if o.maximize { -g } else { g };
            if o.weight_decay != 0.0 {
                g += *p * T::c(o.weight_decay);
            }
            *v = *v * alpha + one_minus * g * g;
            let avg = if o.centered {
                *ga = lerp(*ga, g, 1.0 - o.alpha);
                (*v - *ga * *ga).sqrt()
            } else {
                v.sqrt()
            } + eps;
            if o.momentum > 0.0 {
                *b = *b * mu + g / avg;
                *p += neg_lr * *b;
            } else {
                *p += neg_lr * g / avg;
            }
        }
    }
}

impl super::core::Validate for RMSpropOptions {
    fn validate(&self) {
        use super::core::check_nonneg;
        check_nonneg(self.lr, "learning rate");
        check_nonneg(self.eps, "epsilon value");
        check_nonneg(self.momentum, "momentum value");
        check_nonneg(self.weight_decay, "weight_decay value");
        check_nonneg(self.alpha, "alpha value");
    }
}
