//! Learning-rate schedulers (`torch.optim.lr_scheduler`), with PyTorch's recursive
//! ("chainable") formulas. Each takes the optimizer at construction (applying the
//! initial step, as PyTorch's constructor does) and again at every `step`.

use super::Optimizer;
use super::error::OptimError;
use std::collections::BTreeMap;

/// A scheduler that updates an optimizer's learning rates once per `step`.
pub trait LrScheduler {
    /// Advances one epoch and writes the new rates into `opt` (`scheduler.step()`).
    fn step(&mut self, opt: &mut dyn Optimizer);
    /// The rates last written (`scheduler.get_last_lr()`).
    fn get_last_lr(&self) -> Vec<f64>;
    /// Number of `step` calls so far (`scheduler.last_epoch`).
    fn last_epoch(&self) -> i64;
    /// The changing part of the scheduler (`scheduler.state_dict()`); the constructor
    /// arguments (step size, gamma, ...) are not included: a resumed run rebuilds the
    /// scheduler with them and then loads this.
    fn state_dict(&self) -> SchedulerState;
    /// Restores what [`LrScheduler::state_dict`] returned (`scheduler.load_state_dict`).
    /// Nothing changes when an error is returned.
    fn load_state_dict(&mut self, state: &SchedulerState) -> Result<(), OptimError>;
}

/// A scheduler's `state_dict()`: epoch counter, base and last rates (one per parameter
/// group), and scheduler-specific counters by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SchedulerState {
    /// `last_epoch`.
    pub last_epoch: i64,
    /// `base_lrs`, the rates the schedule starts from.
    pub base_lrs: Vec<f64>,
    /// `_last_lr`, the rates after the last step.
    pub last_lr: Vec<f64>,
    /// Counters of schedulers that keep more (`best`, `num_bad_epochs`, ... of
    /// `ReduceLROnPlateau`).
    pub values: BTreeMap<String, f64>,
}

fn check_groups(expected: usize, state: &SchedulerState) -> Result<(), OptimError> {
    for got in [state.base_lrs.len(), state.last_lr.len()] {
        if got != expected {
            return Err(OptimError::SchedulerGroups { expected, got });
        }
    }
    Ok(())
}

/// Shared bookkeeping: base rates, epoch counter, last rates.
#[derive(Clone, Debug)]
struct Base {
    base_lrs: Vec<f64>,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

impl Base {
    fn new(opt: &dyn Optimizer) -> Self {
        Base {
            base_lrs: opt.lrs(),
            last_epoch: -1,
            last_lr: opt.lrs(),
        }
    }

    /// Advances the epoch and applies `rule(epoch, group, current_lr, base_lr)`.
    fn advance(&mut self, opt: &mut dyn Optimizer, rule: impl Fn(i64, f64, f64) -> f64) {
        self.last_epoch += 1;
        for g in 0..opt.num_groups() {
            let lr = rule(self.last_epoch, opt.lr(g), self.base_lrs[g]);
            opt.set_lr(g, lr);
        }
        self.last_lr = opt.lrs();
    }
}

macro_rules! scheduler_impl {
    ($name:ident) => {
        impl LrScheduler for $name {
            fn step(&mut self, opt: &mut dyn Optimizer) {
                let s = self.clone();
                self.base.advance(opt, |e, lr, base| s.rule(e, lr, base));
            }
            fn get_last_lr(&self) -> Vec<f64> {
                self.base.last_lr.clone()
            }
            fn last_epoch(&self) -> i64 {
                self.base.last_epoch
            }
            fn state_dict(&self) -> SchedulerState {
                SchedulerState {
                    last_epoch: self.base.last_epoch,
                    base_lrs: self.base.base_lrs.clone(),
                    last_lr: self.base.last_lr.clone(),
                    values: BTreeMap::new(),
                }
            }
            fn load_state_dict(&mut self, state: &SchedulerState) -> Result<(), OptimError> {
                check_groups(self.base.base_lrs.len(), state)?;
                self.base.last_epoch = state.last_epoch;
                self.base.base_lrs = state.base_lrs.clone();
                self.base.last_lr = state.last_lr.clone();
                Ok(())
            }
        }
    };
}

/// Multiplies the rate by `gamma` every `step_size` epochs (`StepLR`).
#[derive(Clone, Debug)]
pub struct StepLR {
    base: Base,
    step_size: i64,
    gamma: f64,
}

impl StepLR {
    /// `StepLR(optimizer, step_size, gamma)`.
    pub fn new(opt: &mut dyn Optimizer, step_size: usize, gamma: f64) -> Self {
        let mut s = StepLR {
            base: Base::new(opt),
            step_size: step_size as i64,
            gamma,
        };
        s.step(opt);
        s
    }
    fn rule(&self, e: i64, lr: f64, _: f64) -> f64 {
        if e == 0 || e % self.step_size != 0 {
            lr
        } else {
            lr * self.gamma
        }
    }
}
scheduler_impl!(StepLR);

/// Multiplies the rate by `gamma` at each milestone epoch (`MultiStepLR`).
#[derive(Clone, Debug)]
pub struct MultiStepLR {
    base: Base,
    milestones: Vec<i64>,
    gamma: f64,
}

impl MultiStepLR {
    /// `MultiStepLR(optimizer, milestones, gamma)`; repeated milestones compound.
    pub fn new(opt: &mut dyn Optimizer, milestones: &[usize], gamma: f64) -> Self {
        let mut s = MultiStepLR {
            base: Base::new(opt),
            milestones: milestones.iter().map(|&m| m as i64).collect(),
            gamma,
        };
        s.step(opt);
        s
    }
    fn rule(&self, e: i64, lr: f64, _: f64) -> f64 {
        let count = self.milestones.iter().filter(|&&m| m == e).count();
        if count == 0 {
            lr
        } else {
            lr * self.gamma.powi(count as i32)
        }
    }
}
scheduler_impl!(MultiStepLR);

/// Multiplies the rate by `gamma` every epoch (`ExponentialLR`).
#[derive(Clone, Debug)]
pub struct ExponentialLR {
    base: Base,
    gamma: f64,
}

impl ExponentialLR {
    /// `ExponentialLR(optimizer, gamma)`.
    pub fn new(opt: &mut dyn Optimizer, gamma: f64) -> Self {
        let mut s = ExponentialLR {
            base: Base::new(opt),
            gamma,
        };
        s.step(opt);
        s
    }
    fn rule(&self, e: i64, lr: f64, _: f64) -> f64 {
        if e == 0 { lr } else { lr * self.gamma }
    }
}
scheduler_impl!(ExponentialLR);

/// Cosine annealing from the base rate to `eta_min` over `t_max` epochs
/// (`CosineAnnealingLR`), continuing periodically afterwards.
#[derive(Clone, Debug)]
pub struct CosineAnnealingLR {
    base: Base,
    t_max: i64,
    eta_min: f64,
}

impl CosineAnnealingLR {
    /// `CosineAnnealingLR(optimizer, T_max, eta_min)`.
    pub fn new(opt: &mut dyn Optimizer, t_max: usize, eta_min: f64) -> Self {
        let mut s = CosineAnnealingLR {
            base: Base::new(opt),
            t_max: t_max as i64,
            eta_min,
        };
        s.step(opt);
        s
    }
    fn rule(&self, e: i64, lr: f64, base: f64) -> f64 {
        use std::f64::consts::PI;
        let (t, m) = (self.t_max as f64, self.eta_min);
        if e == 0 {
            lr
        } else if (e - 1 - self.t_max).rem_euclid(2 * self.t_max) == 0 {
            lr + (base - m) * (1.0 - (PI / t).cos()) / 2.0
        } else {
            (1.0 + (PI * e as f64 / t).cos()) / (1.0 + (PI * (e - 1) as f64 / t).cos()) * (lr - m)
                + m
        }
    }
}
scheduler_impl!(CosineAnnealingLR);

/// Scales the rate linearly from `start_factor` to `end_factor` over `total_iters`
/// epochs (`LinearLR`; PyTorch's defaults are 1/3, 1.0, 5).
#[derive(Clone, Debug)]
pub struct LinearLR {
    base: Base,
    start_factor: f64,
    end_factor: f64,
    total_iters: i64,
}

impl LinearLR {
    /// `LinearLR(optimizer, start_factor, end_factor, total_iters)`.
    pub fn new(
        opt: &mut dyn Optimizer,
        start_factor: f64,
        end_factor: f64,
        total_iters: usize,
    ) -> Self {
        assert!(
            start_factor > 0.0 && start_factor <= 1.0,
            "LinearLR: starting multiplicative factor expected to be greater than 0 and less or equal to 1."
        );
        assert!(
            (0.0..=1.0).contains(&end_factor),
            "LinearLR: ending multiplicative factor expected to be between 0 and 1."
        );
        let mut s = LinearLR {
            base: Base::new(opt),
            start_factor,
            end_factor,
            total_iters: total_iters as i64,
        };
        s.step(opt);
        s
    }
    fn rule(&self, e: i64, lr: f64, _: f64) -> f64 {
        if e == 0 {
            return lr * self.start_factor;
        }
        if e > self.total_iters {
            return lr;
        }
        let (s, f) = (self.start_factor, self.end_factor);
        lr * (1.0 + (f - s) / (self.total_iters as f64 * s + (e - 1) as f64 * (f - s)))
    }
}
scheduler_impl!(LinearLR);

/// Whether lower (`Min`) or higher (`Max`) metrics are better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlateauMode {
    /// Lower is better (loss).
    Min,
    /// Higher is better (accuracy).
    Max,
}

/// How `threshold` is applied when judging improvement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdMode {
    /// Relative to the best value.
    Rel,
    /// Absolute difference.
    Abs,
}

/// Cuts the rate by `factor` when a metric stops improving for `patience` epochs
/// (`ReduceLROnPlateau`; defaults: min, factor 0.1, patience 10, threshold 1e-4 rel,
/// cooldown 0, min_lr 0, eps 1e-8).
#[derive(Clone, Debug)]
pub struct ReduceLROnPlateau {
    /// Better direction.
    pub mode: PlateauMode,
    /// Multiplier applied on a plateau.
    pub factor: f64,
    /// Bad epochs tolerated before cutting.
    pub patience: usize,
    /// Minimum significant improvement.
    pub threshold: f64,
    /// Relative or absolute threshold.
    pub threshold_mode: ThresholdMode,
    /// Epochs to wait after a cut.
    pub cooldown: usize,
    /// Lower bound of the rate, per group.
    pub min_lrs: Vec<f64>,
    /// Changes smaller than this are ignored.
    pub eps: f64,
    best: f64,
    num_bad_epochs: usize,
    cooldown_counter: usize,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

impl ReduceLROnPlateau {
    /// `ReduceLROnPlateau(optimizer)` with PyTorch's defaults; adjust the public fields
    /// or use the builders.
    pub fn new(opt: &dyn Optimizer) -> Self {
        ReduceLROnPlateau {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lrs: vec![0.0; opt.num_groups()],
            eps: 1e-8,
            best: f64::INFINITY,
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_epoch: 0,
            last_lr: opt.lrs(),
        }
    }

    /// Sets the mode (and resets the best value accordingly).
    pub fn mode(mut self, mode: PlateauMode) -> Self {
        self.mode = mode;
        self.best = match mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        };
        self
    }
    /// Sets the reduction factor.
    pub fn factor(mut self, f: f64) -> Self {
        assert!(f < 1.0, "ReduceLROnPlateau: Factor should be < 1.0.");
        self.factor = f;
        self
    }
    /// Sets the patience.
    pub fn patience(mut self, p: usize) -> Self {
        self.patience = p;
        self
    }
    /// Sets the threshold and its mode.
    pub fn threshold(mut self, t: f64, mode: ThresholdMode) -> Self {
        self.threshold = t;
        self.threshold_mode = mode;
        self
    }
    /// Sets the cooldown.
    pub fn cooldown(mut self, c: usize) -> Self {
        self.cooldown = c;
        self
    }
    /// Sets the same minimum rate for every group.
    pub fn min_lr(mut self, m: f64) -> Self {
        self.min_lrs.iter_mut().for_each(|v| *v = m);
        self
    }

    fn is_better(&self, a: f64) -> bool {
        let (b, t) = (self.best, self.threshold);
        match (self.mode, self.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < b * (1.0 - t),
            (PlateauMode::Min, ThresholdMode::Abs) => a < b - t,
            (PlateauMode::Max, ThresholdMode::Rel) => a > b * (t + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > b + t,
        }
    }

    /// Records `metric` for this epoch and cuts the rates on a plateau.
    pub fn step(&mut self, opt: &mut dyn Optimizer, metric: f64) {
        self.last_epoch += 1;
        if self.is_better(metric) {
            self.best = metric;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.patience {
            for g in 0..opt.num_groups() {
                let old = opt.lr(g);
                let new = (old * self.factor).max(self.min_lrs[g]);
                if old - new > self.eps {
                    opt.set_lr(g, new);
                }
            }
            self.cooldown_counter = self.cooldown;
            self.num_bad_epochs = 0;
        }
        self.last_lr = opt.lrs();
    }

    /// The rates after the last step.
    pub fn get_last_lr(&self) -> Vec<f64> {
        self.last_lr.clone()
    }

    /// The changing state: `best`, `num_bad_epochs`, `cooldown_counter` (in `values`),
    /// the epoch counter and the last rates (`scheduler.state_dict()`). `base_lrs` holds
    /// `min_lrs`.
    pub fn state_dict(&self) -> SchedulerState {
        let values = [
            ("best", self.best),
            ("num_bad_epochs", self.num_bad_epochs as f64),
            ("cooldown_counter", self.cooldown_counter as f64),
        ];
        SchedulerState {
            last_epoch: self.last_epoch,
            base_lrs: self.min_lrs.clone(),
            last_lr: self.last_lr.clone(),
            values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    /// Restores [`ReduceLROnPlateau::state_dict`]; nothing changes on error.
    pub fn load_state_dict(&mut self, state: &SchedulerState) -> Result<(), OptimError> {
        check_groups(self.min_lrs.len(), state)?;
        let get = |key: &str| {
            state
                .values
                .get(key)
                .copied()
                .ok_or_else(|| OptimError::SchedulerValue(key.to_string()))
        };
        let count = |key: &str| {
            let v = get(key)?;
            if v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64 {
                Ok(v as usize)
            } else {
                Err(OptimError::SchedulerValue(key.to_string()))
            }
        };
        let (best, bad, cool) = (
            get("best")?,
            count("num_bad_epochs")?,
            count("cooldown_counter")?,
        );
        self.best = best;
        self.num_bad_epochs = bad;
        self.cooldown_counter = cool;
        self.last_epoch = state.last_epoch;
        self.min_lrs = state.base_lrs.clone();
        self.last_lr = state.last_lr.clone();
        Ok(())
    }
}
