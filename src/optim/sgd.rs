//! Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

use super::core::{Groups, ParamState, impl_optimizer, options};
use crate::tensor::kernels::fused::{Update, run};
use crate::tensor::{Float, Tensor};

options!(
    /// `torch.optim.SGD` hyper-parameters (defaults as in PyTorch: lr 1e-3).
    SgdOptions {
        /// Learning rate.
        lr: f64 = 1e-3,
        /// Momentum factor.
        momentum: f64 = 0.0,
        /// Dampening for momentum.
        dampening: f64 = 0.0,
        /// L2 penalty added to the gradient.
        weight_decay: f64 = 0.0,
        /// Nesterov momentum.
        nesterov: bool = false,
        /// Maximise instead of minimise.
        maximize: bool = false,
    }
);

/// Stochastic gradient descent (`torch.optim.SGD`).
///
/// `g ← grad + wd·p`; with momentum `b ← g` on the first step, else
/// `b ← μ b + (1 − dampening) g`, and `g ← g + μ b` (Nesterov) or `g ← b`; then `p ← p − lr·g`.
pub struct SGD {
    groups: Groups<SgdOptions>,
}

impl SGD {
    /// `SGD(params, lr=lr)`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Self {
        SGD::with_options(
            params,
            SgdOptions {
                lr,
                ..Default::default()
            },
        )
    }

    /// `SGD(params, **options)`.
    pub fn with_options(params: Vec<Tensor>, options: SgdOptions) -> Self {
        super::core::Validate::validate(&options);
        assert!(
            !options.nesterov || (options.momentum > 0.0 && options.dampening == 0.0),
            "SGD: Nesterov momentum requires a momentum and zero dampening"
        );
        SGD {
            groups: Groups::new(params, options),
        }
    }

    /// Sets the momentum of every group.
    pub fn momentum(self, m: f64) -> Self {
        self.map_options(|o| o.momentum = m)
    }
    /// Sets the dampening of every group.
    pub fn dampening(self, d: f64) -> Self {
        self.map_options(|o| o.dampening = d)
    }
    /// Sets the weight decay of every group.
    pub fn weight_decay(self, wd: f64) -> Self {
        self.map_options(|o| o.weight_decay = wd)
    }
    /// Turns on Nesterov momentum in every group.
    pub fn nesterov(self, on: bool) -> Self {
        self.map_options(|o| o.nesterov = on)
    }
    /// Maximises instead of minimising.
    pub fn maximize(self, on: bool) -> Self {
        self.map_options(|o| o.maximize = on)
    }

    /// The per-parameter buffers a step under `o` uses: none without momentum.
    fn state_buffers(o: &SgdOptions) -> &'static [&'static str] {
        if o.momentum == 0.0 {
            &[]
        } else {
            &["momentum_buffer"]
        }
    }

    fn step_impl(&mut self) {
        self.groups.for_each(|o, p, g, state| {
            if o.momentum == 0.0 {
                run(&Plain(o), p, g, []);
                return;
            }
            let first = state.is_none();
            let st = state.get_or_insert_with(|| ParamState::zeros(p, Self::state_buffers(o)));
            st.step += 1.0;
            run(&Momentum { o, first }, p, g, [st.buf("momentum_buffer")]);
        });
    }
}

impl_optimizer!(SGD, SgdOptions);

fn decayed<T: Float>(o: &SgdOptions, p: T, g: T) -> T {
    let g = if o.maximize { -g } else { g };
    if o.weight_decay != 0.0 {
        g + p * T::c(o.weight_decay)
    } else {
        g
    }
}

struct Plain<'a>(&'a SgdOptions);

impl Update<0> for Plain<'_> {
    #[inline(always)]
    fn apply<T: Float>(&self, p: &mut [T], g: &[T], _: [&mut [T]; 0]) {
        let lr = T::c(self.0.lr);
        for (p, &g) in p.iter_mut().zip(g) {
            *p -= lr * decayed(self.0, *p, g);
        }
    }
}

struct Momentum<'a> {
    o: &'a SgdOptions,
    first: bool,
}

impl Update<1> for Momentum<'_> {
    #[inline(always)]
    fn apply<T: Float>(&self, p: &mut [T], g: &[T], [b]: [&mut [T]; 1]) {
        let o = self.o;
        let (lr, mu, damp) = (T::c(o.lr), T::c(o.momentum), T::c(1.0 - o.dampening));
        for ((p, &g), b) in p.iter_mut().zip(g).zip(b.iter_mut()) {
            let d = decayed(o, *p, g);
            *b = if self.first { d } else { *b * mu + d * damp };
            let step = if o.nesterov { d + *b * mu } else { *b };
            *p -= lr * step;
        }
    }
}

impl super::core::Validate for SgdOptions {
    fn validate(&self) {
        use super::core::check_nonneg;
        check_nonneg(self.lr, "learning rate");
        check_nonneg(self.momentum, "momentum value");
        check_nonneg(self.weight_decay, "weight_decay value");
    }
}
