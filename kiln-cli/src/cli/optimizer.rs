//! Building the optimizer `--optimizer` names, with PyTorch's defaults for everything
//! the command line does not set.

use super::args::OptimizerName;
use super::error::CliError;
use kiln::Tensor;
use kiln::optim::{Adagrad, Adam, AdamW, Optimizer, RMSprop, SGD};

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
            let mut opt = cfg(*name).build(vec![p.clone()]);
            (&p * &p).sum().backward();
            opt.step();
            assert!(p.to_vec::<f32>()[0] < 1.0, "{name:?} did not descend");
            assert_eq!(opt.lr(0), 0.01);
        }
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
