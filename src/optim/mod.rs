//! Optimizers and learning-rate schedulers (`torch.optim`).
//!
//! Every update is one fused pass over each parameter's storage: the parameter is
//! write-locked, its gradient read, and the per-parameter state (plain tensors) updated
//! in the same loop, with PyTorch's formulas in PyTorch's order. No tensor is allocated
//! per step.

mod adadelta;
mod adagrad;
mod adam;
mod adamax;
mod asgd;
mod clip;
mod core;
mod error;
mod nadam;
mod radam;
mod rmsprop;
mod rprop;
pub mod scheduler;
mod sgd;

pub use adadelta::{Adadelta, AdadeltaOptions};
pub use adagrad::{Adagrad, AdagradOptions};
pub use adam::{Adam, AdamOptions, AdamW};
pub use adamax::{Adamax, AdamaxOptions};
pub use asgd::{ASGD, AsgdOptions};
pub use clip::{clip_grad_norm_, clip_grad_value_};
pub use core::{GroupOptions, GroupState, OptimizerState, ParamGroup, ParamState};
pub use error::OptimError;
pub use nadam::{NAdam, NAdamOptions};
pub use radam::{RAdam, RAdamOptions};
pub use rmsprop::{RMSprop, RMSpropOptions};
pub use rprop::{Rprop, RpropOptions};
pub use scheduler::{
    CosineAnnealingLR, ExponentialLR, LinearLR, LrScheduler, MultiStepLR, PlateauMode,
    ReduceLROnPlateau, SchedulerState, StepLR, ThresholdMode,
};
pub use sgd::{SGD, SgdOptions};

use crate::tensor::Tensor;

/// An optimizer over groups of parameters (`torch.optim.Optimizer`).
pub trait Optimizer {
    /// Applies one update to every parameter that has a gradient (`optimizer.step()`).
    fn step(&mut self);

    /// Number of parameter groups.
    fn num_groups(&self) -> usize;

    /// The parameters of group `group`.
    fn group_params(&self, group: usize) -> &[Tensor];

    /// The learning rate of group `group` (`param_groups[i]['lr']`).
    fn lr(&self, group: usize) -> f64;

    /// Sets the learning rate of group `group`.
    fn set_lr(&mut self, group: usize, lr: f64);

    /// Hyper-parameters and per-parameter state (`optimizer.state_dict()`); parameters
    /// are numbered in group order, as in PyTorch. The tensors are copies.
    fn state_dict(&self) -> OptimizerState;

    /// Restores hyper-parameters and state (`optimizer.load_state_dict(sd)`).
    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<(), OptimError>;

    /// Every group's learning rate.
    fn lrs(&self) -> Vec<f64> {
        (0..self.num_groups()).map(|g| self.lr(g)).collect()
    }

    /// All parameters, group by group.
    fn params(&self) -> Vec<Tensor> {
        (0..self.num_groups())
            .flat_map(|g| self.group_params(g).to_vec())
            .collect()
    }

    /// Clears every gradient (`optimizer.zero_grad()`, which sets them to `None`).
    fn zero_grad(&mut self) {
        for p in self.params() {
            p.set_grad(None);
        }
    }

    /// `optimizer.zero_grad(set_to_none=False)`: replaces gradients with zeros.
    fn zero_grad_keep(&mut self) {
        for p in self.params() {
            if let Some(g) = p.grad() {
                // PyTorch zeroes the same tensor in place (`grad.detach_(); grad.zero_()`),
                // so handles on it see the zeros; a recorded gradient (from a
                // `create_graph` backward) is replaced by plain zeros instead.
                if g.requires_grad() || !g.is_contiguous() {
                    p.set_grad(Some(g.detach().zeros_like()));
                } else {
                    g.zero_();
                }
            }
        }
    }
}
