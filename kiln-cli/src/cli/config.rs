//! The settings that decide a training run's result. A checkpoint records them, and
//! `--resume` refuses to continue under different ones.

use super::args::TrainArgs;
use serde::{Deserialize, Serialize};

/// Everything that changes the numbers a run produces (not `--epochs`, `--threads`,
/// `--out` or where the data lives).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
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
    /// `--hidden`.
    pub hidden: Vec<usize>,
    /// `--dropout`.
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
    /// The settings of a `kiln train` command line.
    pub fn from_args(a: &TrainArgs) -> Self {
        RunConfig {
            dataset: value_name(&a.data.dataset),
            batch_size: a.batch_size,
            lr: a.lr,
            optimizer: value_name(&a.optimizer),
            momentum: a.momentum,
            weight_decay: a.weight_decay,
            hidden: a.hidden.clone(),
            dropout: a.dropout,
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
        assert_eq!(
            parse("kiln train --dataset fashion-mnist").dataset,
            "fashion-mnist"
        );
    }
}
