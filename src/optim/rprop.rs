//! Rprop (resilient backpropagation).

use super::core::{Groups, ParamState, Validate, check_nonneg, impl_optimizer, options, py_float};
use crate::tensor::kernels::fused::{Update, run};
use crate::tensor::{Float, Tensor};

options!(
    /// `torch.optim.Rprop` hyper-parameters (`etas` and `step_sizes` as pairs of fields).
    RpropOptions {
        /// Learning rate: the initial per-element step size.
        lr: f64 = 1e-2,
        /// Multiplicative decrease of the step size on a sign change (`etas[0]`).
        etaminus: f64 = 0.5,
        /// Multiplicative increase of the step size otherwise (`etas[1]`).
        etaplus: f64 = 1.2,
        /// Smallest step size (`step_sizes[0]`).
        step_size_min: f64 = 1e-6,
        /// Largest step size (`step_sizes[1]`).
        step_size_max: f64 = 50.0,
        /// Maximise instead of minimise.
        maximize: bool = false,
    }
);

impl Validate for RpropOptions {
    fn validate(&self) {
        check_nonneg(self.lr, "learning rate");
        let (minus, plus) = (self.etaminus, self.etaplus);
        if !(0.0 < minus && minus < 1.0 && 1.0 < plus) {
            panic!(
                "Invalid eta values: {}, {}",
                py_float(minus),
                py_float(plus)
            );
        }
    }
}

/// Rprop (`torch.optim.Rprop`): per element, the step size grows by `etaplus` while
/// `g·prev > 0`, shrinks by `etaminus` on a sign change (and that step is skipped,
/// `g ← 0`), is clamped to `step_sizes`, and `p ← p − sign(g)·step_size`.
pub struct Rprop {
    groups: Groups<RpropOptions>,
}

impl Rprop {
    /// `Rprop(params, lr=lr)`.
    pub fn new(params: Vec<Tensor>, lr: f64) -> Self {
        Rprop::with_options(
            params,
            RpropOptions {
                lr,
                ..Default::default()
            },
        )
    }

    /// `Rprop(params, **options)`; panics like PyTorch on an invalid option.
    pub fn with_options(params: Vec<Tensor>, options: RpropOptions) -> Self {
        options.validate();
        Rprop {
            groups: Groups::new(params, options),
        }
    }

    /// Sets `etas` in every group.
    pub fn etas(self, etaminus: f64, etaplus: f64) -> Self {
        self.map_options(|o| {
            o.etaminus = etaminus;
            o.etaplus = etaplus;
        })
    }
    /// Sets `step_sizes` (minimum, maximum) in every group.
    pub fn step_sizes(self, min: f64, max: f64) -> Self {
        self.map_options(|o| {
            o.step_size_min = min;
            o.step_size_max = max;
        })
    }
    /// Maximises instead of minimising.
    pub fn maximize(self, on: bool) -> Self {
        self.map_options(|o| o.maximize = on)
    }

    /// The per-parameter buffers a step uses.
    fn state_buffers(_: &RpropOptions) -> &'static [&'static str] {
        &["prev", "step_size"]
    }

    fn step_impl(&mut self) {
        self.groups.for_each(|o, p, g, state| {
            let st = state.get_or_insert_with(|| {
                let s = ParamState::zeros(p, Self::state_buffers(o));
                crate::nn::init::constant_(s.buf("step_size"), o.lr);
                s
            });
            st.step += 1.0;
            run(&RpropStep(o), p, g, [st.buf("prev"), st.buf("step_size")]);
        });
    }
}

impl_optimizer!(Rprop, RpropOptions);

struct RpropStep<'a>(&'a RpropOptions);

impl Update<2> for RpropStep<'_> {
    #[inline(always)]
    fn apply<T: Float>(&self, p: &mut [T], g: &[T], [prev, size]: [&mut [T]; 2]) {
        let o = self.0;
        let (plus, minus) = (T::c(o.etaplus), T::c(o.etaminus));
        let (lo, hi) = (T::c(o.step_size_min), T::c(o.step_size_max));
        let (zero, one) = (T::zero(), T::one());
        for (((p, &g), prev), size) in p
            .iter_mut()
            .zip(g)
            .zip(prev.iter_mut())
            .zip(size.iter_mut())
        {
            let g = if o.maximize { -g } else { g };
            let s = g * *prev;
            // `sign(g·prev)` mapped to the factors; NaN stays NaN, as in PyTorch.
            let factor = if s > zero {
                plus
            } else if s < zero {
                minus
            } else if s == zero {
                one
            } else {
                s
            };
            // `clamp_(min, max)`, NaN propagating.
            let z = *size * factor;
            *size = if z < lo {
                lo
            } else if z > hi {
                hi
            } else {
                z
            };
            let g = if factor == minus { zero } else { g };
            let sign = if g > zero {
                one
            } else if g < zero {
                -one
            } else {
                zero
            };
            *p += -(sign * *size);
            *prev = g;
        }
    }
}
