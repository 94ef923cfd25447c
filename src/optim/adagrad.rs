//! Adagrad.

use super::core::{Groups, ParamState, impl_optimizer, options};
use crate::tensor::kernels::fused::{Update, run};
use crate::tensor::{Float, Tensor};

options!(
    /// `torch.optim.Adagrad` hyper-parameters.
    AdagradOptions {
        /// Learning rate.
        lr: f64 = 1e-2,
        /// Learning-rate decay per step.
        lr_decay: f64 = 0.0,
        /// L2 penalty added to the gradient.
        weight_decay: f64 = 0.0,
        /// Starting value of the squared-gradient sum.
        initial_accumulator_value: f64 = 0.0,
        /// Added to the denominator.
        eps: f64 = 1e-10,
        /// Maximise instead of minimise.
        maximize: bool = false,
    }
);

/// Adagrad (`torch.optim.Adagrad`): `s ← s + g²`,
/// `p ← p − lr/(1 + (t−1)·lr_decay) · g / (sqrt(s) + eps)`.
pub struct Adagrad {
    groups: Groups<AdagradOptions>,
}

impl Adagrad {
    /// `Adagrad(params, lr=lr)`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Self {
        Adagrad::with_options(
            params,
            AdagradOptions {
                lr,
                ..Default::default()
            },
        )
    }

    /// `Adagrad(params, **options)`.
    pub fn with_options(params: Vec<Tensor>, options: AdagradOptions) -> Self {
        super::core::Validate::validate(&options);
        Adagrad {
            groups: Groups::new(params, options),
        }
    }

    /// Sets the learning-rate decay in every group.
    pub fn lr_decay(self, d: f64) -> Self {
        self.map_options(|o| o.lr_decay = d)
    }
    /// Sets the weight decay in every group.
    pub fn weight_decay(self, wd: f64) -> Self {
        self.map_options(|o| o.weight_decay = wd)
    }
    /// Sets `eps` in every group.
    pub fn eps(self, eps: f64) -> Self {
        self.map_options(|o| o.eps = eps)
    }
    /// Sets the initial accumulator value (applies to state created afterwards).
    pub fn initial_accumulator_value(self, v: f64) -> Self {
        self.map_options(|o| o.initial_accumulator_value = v)
    }

    /// The per-parameter buffers a step uses.
    fn state_buffers(_: &AdagradOptions) -> &'static [&'static str] {
        &["sum"]
    }

    fn step_impl(&mut self) {
        self.groups.for_each(|o, p, g, state| {
            let st = state.get_or_insert_with(|| {
                let s = ParamState::zeros(p, Self::state_buffers(o));
                if o.initial_accumulator_value != 0.0 {
                    crate::nn::init::constant_(s.buf("sum"), o.initial_accumulator_value);
                }
                s
            });
            st.step += 1.0;
            let clr = o.lr / (1.0 + (st.step - 1.0) * o.lr_decay);
            run(&AdagradStep { o, clr }, p, g, [st.buf("sum")]);
        });
    }
}

impl_optimizer!(Adagrad, AdagradOptions);

struct AdagradStep<'a> {
    o: &'a AdagradOptions,
    clr: f64,
}

impl Update<1> for AdagradStep<'_> {
    #[inline(always)]
    fn apply<T: Float>(&self, p: &mut [T], g: &[T], [s]: [&mut [T]; 1]) {
        let o = self.o;
        let (wd, eps, neg) = (T::c(o.weight_decay), T::c(o.eps), T::c(-self.clr));
        for ((p, &g), s) in p.iter_mut().zip(g).zip(s.iter_mut()) {
            let mut g = if o.maximize { -g } else { g };
            if o.weight_decay != 0.0 {
                g += *p * wd;
            }
            *s += g * g;
            let std = s.sqrt() + eps;
            *p += neg * g / std;
        }
    }
}

impl super::core::Validate for AdagradOptions {
    fn validate(&self) {
        use super::core::check_nonneg;
        check_nonneg(self.lr, "learning rate");
        check_nonneg(self.lr_decay, "lr_decay value");
        check_nonneg(self.weight_decay, "weight_decay value");
        check_nonneg(
            self.initial_accumulator_value,
            "initial_accumulator_value value",
        );
        check_nonneg(self.eps, "epsilon value");
    }
}
