//! The settings that decide a training run's result. A checkpoint records them, and
//! `--resume` refuses to continue under different ones.

use super::args::{ModelKind, OptimizerName, TrainArgs};
use super::optimizer::default_lr;
use serde::{Deserialize, Serialize};

/// The MLP's hidden widths when `--hidden` is not given (the tutorial's).
pub const HIDDEN: [usize; 2] = [256, 128];
/// The MLP's dropout when `--dropout` is not given (the tutorial's).
pub const DROPOUT: f64 = 0.2;
/// PyTorch's `StepLR` gamma.
pub const STEP_LR_GAMMA: f64 = 0.1;

fn mlp() -> String {
    "mlp".into()
}

fn step_lr_gamma() -> f64 {
    STEP_LR_GAMMA
}

/// `--optimizer`, or the model's default: Adam for the MLP (the tutorial's), Adadelta for
/// the CNN (main.py's).
pub fn optimizer_name(a: &TrainArgs) -> OptimizerName {
    a.optimizer.unwrap_or(match a.model {
        ModelKind::Mlp => OptimizerName::Adam,
        ModelKind::Cnn => OptimizerName::Adadelta,
    })
}

/// Everything that changes the numbers a run produces (not `--epochs`, `--threads`,
/// `--out` or where the data lives).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// `--model`, as typed (checkpoints from before it existed are MLPs).
    #[serde(default = "mlp")]
    pub model: String,
    /// `--dataset`, as typed.
    pub dataset: String,
    /// `--batch-size`.
    pub batch_size: u64,
    /// `--lr`.
    pub lr: f64,
    /// `--optimizer`, as typed.
    pub optimizer: String,
    /// `--momentum`.
    pub momentum: f64,
    /// `--weight-decay`.
    pub weight_decay: Option<f64>,
    /// `--lr-step` (0: a constant rate).
    #[serde(default)]
    pub lr_step: u64,
    /// `--gamma`.
    #[serde(default = "step_lr_gamma")]
    pub gamma: f64,
    /// `--hidden` (empty for the CNN).
    pub hidden: Vec<usize>,
    /// `--dropout` (0 for the CNN, whose rates are main.py's).
    pub dropout: f64,
    /// `--batch-norm`.
    pub batch_norm: bool,
    /// `--seed`.
    pub seed: u64,
    /// `--limit`.
    pub limit: Option<u64>,
    /// `--test-limit`.
    pub test_limit: Option<u64>,
}

fn value_name<T: clap::ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

impl RunConfig {
    /// The settings of a `kiln train` command line, defaults filled in.
    pub fn from_args(a: &TrainArgs) -> Self {
        let optimizer = optimizer_name(a);
        let cnn = a.model == ModelKind::Cnn;
        RunConfig {
            model: value_name(&a.model),
            dataset: value_name(&a.data.dataset),
            batch_size: a.batch_size,
            lr: a.lr.unwrap_or(default_lr(optimizer)),
            optimizer: value_name(&optimizer),
            momentum: a.momentum,
            weight_decay: a.weight_decay,
            lr_step: a.lr_step.unwrap_or(if cnn { 1 } else { 0 }),
            gamma: a.gamma.unwrap_or(if cnn { 0.7 } else { STEP_LR_GAMMA }),
            hidden: if cnn {
                Vec::new()
            } else {
                a.hidden.clone().unwrap_or_else(|| HIDDEN.to_vec())
            },
            dropout: if cnn {
                0.0
            } else {
                a.dropout.unwrap_or(DROPOUT)
            },
            batch_norm: a.batch_norm,
            seed: a.seed,
            limit: a.limit,
            test_limit: a.test_limit,
        }
    }

    /// The first setting in which `self` (this command line) differs from `saved`, as
    /// `(option, now, saved)`.
    pub fn first_difference(&self, saved: &RunConfig) -> Option<(&'static str, String, String)> {
        let opt = |v: &Option<u64>| v.map_or("none".to_string(), |v| v.to_string());
        let wd = |v: &Option<f64>| v.map_or("default".to_string(), |v| v.to_string());
        let list = |v: &[usize]| {
            v.iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let pairs = [
            ("--model", self.model.clone(), saved.model.clone()),
            ("--dataset", self.dataset.clone(), saved.dataset.clone()),
            (
                "--batch-size",
                self.batch_size.to_string(),
                saved.batch_size.to_string(),
            ),
            ("--lr", self.lr.to_string(), saved.lr.to_string()),
            (
                "--optimizer",
                self.optimizer.clone(),
                saved.optimizer.clone(),
            ),
            (
                "--momentum",
                self.momentum.to_string(),
                saved.momentum.to_string(),
            ),
            (
                "--weight-decay",
                wd(&self.weight_decay),
                wd(&saved.weight_decay),
            ),
            (
                "--lr-step",
                self.lr_step.to_string(),
                saved.lr_step.to_string(),
            ),
            ("--gamma", self.gamma.to_string(), saved.gamma.to_string()),
            ("--hidden", list(&self.hidden), list(&saved.hidden)),
            (
                "--dropout",
                self.dropout.to_string(),
                saved.dropout.to_string(),
            ),
            (
                "--batch-norm",
                self.batch_norm.to_string(),
                saved.batch_norm.to_string(),
            ),
            ("--seed", self.seed.to_string(), saved.seed.to_string()),
            ("--limit", opt(&self.limit), opt(&saved.limit)),
            (
                "--test-limit",
                opt(&self.test_limit),
                opt(&saved.test_limit),
            ),
        ];
        pairs.into_iter().find(|(_, now, was)| now != was)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::Cli;
    use clap::Parser;

    fn parse(line: &str) -> RunConfig {
        let cli = Cli::parse_from(line.split_whitespace());
        match cli.command {
            crate::cli::Command::Train(a) => RunConfig::from_args(&a),
            _ => unreachable!(),
        }
    }

    #[test]
    fn epochs_and_threads_may_change_but_not_the_model() {
        let a = parse("kiln train --epochs 1");
        assert_eq!(
            a.first_difference(&parse("kiln train --epochs 3 --threads 1")),
            None
        );
        let d = parse("kiln train --hidden 64")
            .first_difference(&a)
            .unwrap();
        assert_eq!(d, ("--hidden", "64".into(), "256,128".into()));
        assert_eq!(a.optimizer, "adam");
        assert_eq!((a.lr, a.lr_step), (1e-3, 0));
        let c = parse("kiln train --model cnn");
        assert_eq!(
            (c.optimizer.as_str(), c.lr, c.lr_step, c.gamma),
            ("adadelta", 1.0, 1, 0.7)
        );
        assert_eq!(c.first_difference(&a).unwrap().0, "--model");
        assert_eq!(parse("kiln train --optimizer adagrad").lr, 0.01);
        // A checkpoint written before --model and --lr-step existed is an MLP's.
        let mut old = serde_json::to_value(&a).unwrap();
        for k in ["model", "lr_step", "gamma"] {
            old.as_object_mut().unwrap().remove(k);
        }
        let old: RunConfig = serde_json::from_value(old).unwrap();
        assert_eq!(old.first_difference(&a), None);
        assert_eq!(
            parse("kiln train --dataset fashion-mnist").dataset,
            "fashion-mnist"
        );
    }
}
