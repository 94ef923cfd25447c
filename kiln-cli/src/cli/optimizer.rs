//! Building the optimizer `--optimizer` names, with PyTorch's defaults for everything
//! the command line does not set.

use super::args::OptimizerName;
use super::error::CliError;
use kiln::Tensor;
use kiln::optim::{
    ASGD, Adadelta, Adagrad, Adam, AdamW, Adamax, LrScheduler, NAdam, Optimizer, RAdam, RMSprop,
    Rprop, SGD, StepLR,
};

/// PyTorch's default learning rate of each optimizer (`torch.optim.X(params)`).
pub fn default_lr(name: OptimizerName) -> f64 {
    match name {
        OptimizerName::Adadelta => 1.0,
        OptimizerName::Adamax | OptimizerName::Nadam => 2e-3,
        OptimizerName::Adagrad
        | OptimizerName::Rmsprop
        | OptimizerName::Asgd
        | OptimizerName::Rprop => 1e-2,
        OptimizerName::Sgd | OptimizerName::Adam | OptimizerName::Adamw | OptimizerName::Radam => {
            1e-3
        }
    }
}

/// The learning-rate schedule of a run: `StepLR(step_size, gamma)`, or none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScheduleConfig {
    /// `step_size` in epochs; 0 means no schedule.
    pub step: u64,
    /// `gamma`.
    pub gamma: f64,
}

impl ScheduleConfig {
    /// Checks the numbers.
    pub fn validate(&self) -> Result<(), CliError> {
        if !(self.gamma.is_finite() && self.gamma > 0.0) {
            return Err(CliError::Usage(format!(
                "--gamma must be a positive number, not {}",
                self.gamma
            )));
        }
        Ok(())
    }

    /// The scheduler over `opt` (applying its initial step, as PyTorch's constructor
    /// does), or `None` for a constant rate.
    pub fn build(&self, opt: &mut dyn Optimizer) -> Option<Box<dyn LrScheduler>> {
        (self.step > 0).then(|| {
            Box::new(StepLR::new(opt, self.step as usize, self.gamma)) as Box<dyn LrScheduler>
        })
    }
}

/// The optimizer settings of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptimizerConfig {
    /// Which optimizer.
    pub name: OptimizerName,
    /// Learning rate.
    pub lr: f64,
    /// Momentum (sgd and rmsprop only).
    pub momentum: f64,
    /// Weight decay; `None` keeps the optimizer's default (0, or 0.01 for AdamW).
    pub weight_decay: Option<f64>,
}

impl OptimizerConfig {
    /// Checks the numbers before anything is built.
    pub fn validate(&self) -> Result<(), CliError> {
        let usage = |m: String| Err(CliError::Usage(m));
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return usage(format!("--lr must be a positive number, not {}", self.lr));
        }
        if !(self.momentum.is_finite() && self.momentum >= 0.0) {
            return usage(format!(
                "--momentum must be 0 or more, not {}",
                self.momentum
            ));
        }
        if self.momentum != 0.0 && !matches!(self.name, OptimizerName::Sgd | OptimizerName::Rmsprop)
        {
            return usage("--momentum applies only to --optimizer sgd and rmsprop".into());
        }
        if let Some(wd) = self.weight_decay
            && !(wd.is_finite() && wd >= 0.0)
        {
            return usage(format!("--weight-decay must be 0 or more, not {wd}"));
        }
        if self.weight_decay.is_some_and(|wd| wd != 0.0) && self.name == OptimizerName::Rprop {
            return usage(
                "--optimizer rprop has no weight decay (PyTorch's Rprop has none)".into(),
            );
        }
        Ok(())
    }

    /// The optimizer over `params`.
    pub fn build(&self, params: Vec<Tensor>) -> Box<dyn Optimizer> {
        let wd = self.weight_decay.unwrap_or(0.0);
        match self.name {
            OptimizerName::Sgd => Box::new(
                SGD::new(params, self.lr)
                    .momentum(self.momentum)
                    .weight_decay(wd),
            ),
            OptimizerName::Adagrad => Box::new(Adagrad::new(params, self.lr).weight_decay(wd)),
            OptimizerName::Rmsprop => Box::new(
                RMSprop::new(params, self.lr)
                    .momentum(self.momentum)
                    .weight_decay(wd),
            ),
            OptimizerName::Adam => Box::new(Adam::new(params, self.lr).weight_decay(wd)),
            OptimizerName::Adamw => {
                let opt = AdamW::new(params, self.lr);
                Box::new(match self.weight_decay {
                    Some(wd) => opt.weight_decay(wd),
                    None => opt,
                })
            }
            OptimizerName::Adadelta => Box::new(Adadelta::new(params, self.lr).weight_decay(wd)),
            OptimizerName::Adamax => Box::new(Adamax::new(params, self.lr).weight_decay(wd)),
            OptimizerName::Nadam => Box::new(NAdam::new(params, self.lr).weight_decay(wd)),
            OptimizerName::Radam => Box::new(RAdam::new(params, self.lr).weight_decay(wd)),
            OptimizerName::Asgd => Box::new(ASGD::new(params, self.lr).weight_decay(wd)),
            OptimizerName::Rprop => Box::new(Rprop::new(params, self.lr)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(name: OptimizerName) -> OptimizerConfig {
        OptimizerConfig {
            name,
            lr: 0.01,
            momentum: 0.0,
            weight_decay: None,
        }
    }

    #[test]
    fn every_optimizer_builds_and_steps() {
        use clap::ValueEnum;
        for name in OptimizerName::value_variants() {
            let p = Tensor::ones(&[3]).requires_grad_(true);
            let mut opt = cfg(*name).build(vec![p.shallow_clone()]);
            (&p * &p).sum().backward();
            opt.step();
            assert!(p.to_vec::<f32>()[0] < 1.0, "{name:?} did not descend");
            assert_eq!(opt.lr(0), 0.01);
        }
    }

    #[test]
    fn pytorch_defaults_for_every_optimizer() {
        use clap::ValueEnum;
        // torch.optim.X([p]).defaults["lr"], torch 2.x.
        let want = [
            ("sgd", 1e-3),
            ("adagrad", 1e-2),
            ("rmsprop", 1e-2),
            ("adam", 1e-3),
            ("adamw", 1e-3),
            ("adadelta", 1.0),
            ("adamax", 2e-3),
            ("nadam", 2e-3),
            ("radam", 1e-3),
            ("asgd", 1e-2),
            ("rprop", 1e-2),
        ];
        for (name, lr) in want {
            let n = OptimizerName::from_str(name, false).unwrap();
            assert_eq!(default_lr(n), lr, "{name}");
        }
        assert_eq!(OptimizerName::value_variants().len(), want.len());
        let sd = cfg(OptimizerName::Adadelta)
            .build(vec![Tensor::ones(&[1]).requires_grad_(true)])
            .state_dict();
        assert_eq!(sd.param_groups[0].options["rho"], 0.9);
        assert_eq!(sd.param_groups[0].options["eps"], 1e-6);
    }

    #[test]
    fn step_lr_multiplies_each_step_epochs() {
        let p = Tensor::ones(&[1]).requires_grad_(true);
        let mut opt = cfg(OptimizerName::Adadelta).build(vec![p]);
        let mut s = ScheduleConfig {
            step: 2,
            gamma: 0.5,
        }
        .build(opt.as_mut())
        .unwrap();
        let mut lrs = vec![];
        for _ in 0..4 {
            s.step(opt.as_mut());
            lrs.push(opt.lr(0));
        }
        assert_eq!(lrs, [0.01, 0.005, 0.005, 0.0025]);
        let none = ScheduleConfig {
            step: 0,
            gamma: 0.1,
        };
        assert!(none.build(opt.as_mut()).is_none());
        assert!(
            ScheduleConfig {
                step: 1,
                gamma: -1.0
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn adamw_keeps_pytorch_default_decay() {
        let sd = cfg(OptimizerName::Adamw)
            .build(vec![Tensor::ones(&[1]).requires_grad_(true)])
            .state_dict();
        assert_eq!(sd.param_groups[0].options["weight_decay"], 0.01);
    }

    #[test]
    fn bad_numbers_are_usage_errors() {
        let mut c = cfg(OptimizerName::Adam);
        c.momentum = 0.9;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("sgd and rmsprop")
        );
        c.momentum = 0.0;
        c.lr = -1.0;
        assert!(c.validate().is_err());
        c.lr = 0.1;
        c.weight_decay = Some(f64::NAN);
        assert!(c.validate().is_err());
    }
}
