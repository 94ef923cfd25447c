//! ASGD (averaged stochastic gradient descent).

use super::core::{Groups, ParamState, Validate, check_nonneg, impl_optimizer, options};
use crate::tensor::kernels::fused::{Update, run};
use crate::tensor::{Float, Tensor};

options!(
    /// `torch.optim.ASGD` hyper-parameters.
    AsgdOptions {
        /// Learning rate.
        lr: f64 = 1e-2,
        /// Decay term.
        lambd: f64 = 1e-4,
        /// Power of the step-size schedule.
        alpha: f64 = 0.75,
        /// Step at which averaging starts.
        t0: f64 = 1e6,
        /// L2 penalty added to the gradient.
        weight_decay: f64 = 0.0,
        /// Maximise instead of minimise.
        maximize: bool = false,
    }
);

impl Validate for AsgdOptions {
    fn validate(&self) {
        check_nonneg(self.lr, "learning rate");
        check_nonneg(self.lambd, "lambd value");
        check_nonneg(self.alpha, "alpha value");
        check_nonneg(self.weight_decay, "weight_decay value");
    }
}

/// ASGD (`torch.optim.ASGD`): `p ← p (1 − λη) − η g`, then the average
/// `ax ← ax + μ (p − ax)` (`ax ← p` while `μ = 1`), with `η ← lr / (1 + λ·lr·t)^α` and
/// `μ ← 1 / max(1, t − t0)` for the next step. The averaged parameters are
/// [`ASGD::averaged`].
pub struct ASGD {
    groups: Groups<AsgdOptions>,
}

impl ASGD {
    /// `ASGD(params, lr=lr)`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Self {
        ASGD::with_options(
            params,
            AsgdOptions {
                lr,
                ..Default::default()
            },
        )
    }

    /// `ASGD(params, **options)`; panics like PyTorch on an invalid option.
    pub fn with_options(params: Vec<Tensor>, options: AsgdOptions) -> Self {
        options.validate();
        let mut groups = Groups::new(params, options);
        groups.scalars = &["eta", "mu"];
        ASGD { groups }
    }

    /// Sets `lambd` in every group.
    pub fn lambd(self, lambd: f64) -> Self {
        self.map_options(|o| o.lambd = lambd)
    }
    /// Sets `alpha` in every group.
    pub fn alpha(self, alpha: f64) -> Self {
        self.map_options(|o| o.alpha = alpha)
    }
    /// Sets `t0` in every group.
    pub fn t0(self, t0: f64) -> Self {
        self.map_options(|o| o.t0 = t0)
    }
    /// Sets the weight decay in every group.
    pub fn weight_decay(self, wd: f64) -> Self {
        self.map_options(|o| o.weight_decay = wd)
    }
    /// Maximises instead of minimising.
    pub fn maximize(self, on: bool) -> Self {
        self.map_options(|o| o.maximize = on)
    }

    /// The averaged value of parameter `index` (global, in group order; `state['ax']`),
    /// once it has been stepped.
    pub fn averaged(&self, index: usize) -> Option<&Tensor> {
        self.param_state(index).map(|s| s.buf("ax"))
    }

    /// The per-parameter state a step uses (`eta` and `mu` are scalars).
    fn state_buffers(_: &AsgdOptions) -> &'static [&'static str] {
        &["ax", "eta", "mu"]
    }

    fn step_impl(&mut self) {
        self.groups.for_each(|o, p, g, state| {
            let st = state.get_or_insert_with(|| {
                let mut s = ParamState::zeros(p, &["ax"]);
                s.set_scalar("eta", o.lr as f32 as f64);
                s.set_scalar("mu", 1.0);
                s
            });
            st.step += 1.0;
            let k = AsgdStep {
                o,
                eta: st.scalar("eta"),
                average: st.scalar("mu") != 1.0,
                mu: st.scalar("mu"),
            };
            run(&k, p, g, [st.buf("ax")]);
            // Both are 0-D float32 tensors in PyTorch.
            let t = st.step;
            let eta = o.lr / (1.0 + o.lambd * o.lr * t).powf(o.alpha);
            st.set_scalar("eta", eta as f32 as f64);
            st.set_scalar("mu", (1.0 / f64::max(1.0, t - o.t0)) as f32 as f64);
        });
    }
}

impl_optimizer!(ASGD, AsgdOptions);

struct AsgdStep<'a> {
    o: &'a AsgdOptions,
    eta: f64,
    /// `μ ≠ 1`: average; otherwise copy the parameter.
    average: bool,
    mu: f64,
}

impl Update<1> for AsgdStep<'_> {
    #[inline(always)]
    fn apply<T: Float>(&self, p: &mut [T], g: &[T], [ax]: [&mut [T]; 1]) {
        let o = self.o;
        let (wd, decay) = (T::c(o.weight_decay), T::c(1.0 - o.lambd * self.eta));
        let (neg_eta, mu) = (T::c(-self.eta), T::c(self.mu));
        for ((p, &g), ax) in p.iter_mut().zip(g).zip(ax.iter_mut()) {
            let mut g = if o.maximize { -g } else { g };
            if o.weight_decay != 0.0 {
                g += *p * wd;
            }
            *p *= decay;
            *p += neg_eta * g;
            if self.average {
                *ax += (*p - *ax) * mu;
            } else {
                *ax = *p;
            }
        }
    }
}
