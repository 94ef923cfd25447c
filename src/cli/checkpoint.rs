//! `checkpoint.safetensors`: everything needed to continue a run exactly where it
//! stopped, after a finished epoch or part way through one (Ctrl-C). Model weights,
//! optimizer state and random-generator states are tensors; the run's settings and
//! progress are JSON in the file's metadata.

use super::config::RunConfig;
use super::error::CliError;
use kiln::Generator;
use kiln::Tensor;
use kiln::io::{parse_safetensors, save_safetensors};
use kiln::optim::{GroupState, OptimizerState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const META_KEY: &str = "kiln.checkpoint";
const FORMAT: u32 = 1;

/// Where a run stands.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Epochs finished.
    pub epochs_done: usize,
    /// Batches finished of the next epoch (0 at an epoch boundary).
    pub batches_done: usize,
    /// Sum of the batch losses so far in the unfinished epoch.
    pub loss_sum: f64,
    /// Correct training predictions so far in the unfinished epoch.
    pub correct: u64,
    /// Training samples seen so far in the unfinished epoch.
    pub seen: u64,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    format: u32,
    config: RunConfig,
    progress: Progress,
    param_groups: Vec<(BTreeMap<String, f64>, Vec<usize>)>,
}

/// A resumable training state.
pub struct Checkpoint {
    /// The run's settings.
    pub config: RunConfig,
    /// How far it got.
    pub progress: Progress,
    /// The default generator at the start of the unfinished epoch (before its shuffle).
    pub rng_epoch_start: Generator,
    /// The default generator now.
    pub rng_now: Generator,
    /// The model's state dict.
    pub model: Vec<(String, Tensor)>,
    /// The optimizer's state dict.
    pub optimizer: OptimizerState,
}

fn rng_tensor(g: &Generator) -> Tensor {
    let b = g.state_bytes();
    let n = b.len();
    Tensor::from_vec(b, &[n])
}

impl Checkpoint {
    /// Writes the checkpoint atomically: a crash mid-write leaves the previous one.
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        let mut tensors: Vec<(String, Tensor)> = self
            .model
            .iter()
            .map(|(k, t)| (format!("model.{k}"), t.clone()))
            .collect();
        for (i, state) in &self.optimizer.state {
            for (name, t) in state {
                tensors.push((format!("optimizer.{i}.{name}"), t.clone()));
            }
        }
        tensors.push(("rng.epoch_start".into(), rng_tensor(&self.rng_epoch_start)));
        tensors.push(("rng.now".into(), rng_tensor(&self.rng_now)));
        let meta = Meta {
            format: FORMAT,
            config: self.config.clone(),
            progress: self.progress.clone(),
            param_groups: self
                .optimizer
                .param_groups
                .iter()
                .map(|g| (g.options.clone(), g.params.clone()))
                .collect(),
        };
        let json = serde_json::to_string(&meta).expect("checkpoint metadata serializes");
        save_safetensors(
            path,
            &tensors,
            Some(HashMap::from([(META_KEY.to_string(), json)])),
        )?;
        Ok(())
    }

    /// Reads a checkpoint written by [`Checkpoint::save`].
    pub fn load(path: &Path) -> Result<Checkpoint, CliError> {
        let bad = |reason: String| CliError::BadCheckpoint {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| CliError::file(path, e))?;
        let (tensors, metadata) = parse_safetensors(path, &bytes)?;
        let json = metadata.get(META_KEY).ok_or_else(|| {
            bad("it has no kiln training state (was it written by `kiln train`?)".into())
        })?;
        let meta: Meta = serde_json::from_str(json)
            .map_err(|e| bad(format!("its training state is damaged ({e})")))?;
        if meta.format != FORMAT {
            return Err(bad(format!(
                "it has format version {}, this kiln reads {FORMAT}",
                meta.format
            )));
        }
        let mut model = Vec::new();
        let mut state: BTreeMap<usize, BTreeMap<String, Tensor>> = BTreeMap::new();
        let (mut epoch_start, mut now) = (None, None);
        for (name, t) in tensors {
            if let Some(k) = name.strip_prefix("model.") {
                model.push((k.to_string(), t));
            } else if let Some(rest) = name.strip_prefix("optimizer.") {
                let (i, buf) = rest
                    .split_once('.')
                    .and_then(|(i, b)| Some((i.parse::<usize>().ok()?, b)))
                    .ok_or_else(|| bad(format!("unexpected tensor '{name}'")))?;
                state.entry(i).or_default().insert(buf.to_string(), t);
            } else if name == "rng.epoch_start" || name == "rng.now" {
                let g = (t.dtype() == kiln::DType::U8)
                    .then(|| Generator::from_state_bytes(&t.to_vec::<u8>()))
                    .flatten()
                    .ok_or_else(|| bad(format!("tensor '{name}' is not a generator state")))?;
                if name == "rng.now" {
                    now = Some(g);
                } else {
                    epoch_start = Some(g);
                }
            } else {
                return Err(bad(format!("unexpected tensor '{name}'")));
            }
        }
        let (Some(rng_epoch_start), Some(rng_now)) = (epoch_start, now) else {
            return Err(bad("it lacks the random-generator state".into()));
        };
        Ok(Checkpoint {
            config: meta.config,
            progress: meta.progress,
            rng_epoch_start,
            rng_now,
            model,
            optimizer: OptimizerState {
                state,
                param_groups: meta
                    .param_groups
                    .into_iter()
                    .map(|(options, params)| GroupState { options, params })
                    .collect(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln::optim::{Adam, Optimizer};

    fn config() -> RunConfig {
        RunConfig {
            dataset: "mnist".into(),
            batch_size: 64,
            lr: 1e-3,
            optimizer: "adam".into(),
            momentum: 0.0,
            weight_decay: None,
            hidden: vec![256, 128],
            dropout: 0.2,
            batch_norm: false,
            seed: 0,
            limit: None,
            test_limit: None,
        }
    }

    #[test]
    fn round_trips_model_optimizer_rng_and_progress() {
        let p = Tensor::randn(&[2, 3]).requires_grad_(true);
        let mut opt = Adam::new(vec![p.clone()], 0.01);
        (&p * &p).sum().backward();
        opt.step();
        let mut g = Generator::new(3);
        g.next_u32();
        let ck = Checkpoint {
            config: config(),
            progress: Progress {
                epochs_done: 1,
                batches_done: 7,
                loss_sum: 1.0 / 3.0,
                correct: 5,
                seen: 9,
            },
            rng_epoch_start: Generator::new(1),
            rng_now: g.clone(),
            model: vec![("layers.0.weight".into(), p.detach())],
            optimizer: opt.state_dict(),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.safetensors");
        ck.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.config, ck.config);
        assert_eq!(back.progress, ck.progress);
        assert_eq!(back.rng_now, g);
        assert_eq!(back.rng_epoch_start, Generator::new(1));
        assert_eq!(back.model[0].1.to_vec::<f32>(), p.to_vec::<f32>());
        let q = Tensor::zeros(&[2, 3]).requires_grad_(true);
        let mut opt2 = Adam::new(vec![q], 0.5);
        opt2.load_state_dict(&back.optimizer).unwrap();
        assert_eq!(opt2.lr(0), 0.01);
        let s = &opt2.state_dict().state[&0];
        assert_eq!(s["step"].item(), 1.0);
        assert_eq!(
            s["exp_avg"].to_vec::<f32>(),
            opt.state_dict().state[&0]["exp_avg"].to_vec::<f32>()
        );
    }

    #[test]
    fn plain_weights_file_is_not_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        save_safetensors(&path, &[("w".into(), Tensor::zeros(&[1]))], None).unwrap();
        let e = Checkpoint::load(&path).err().unwrap().to_string();
        assert!(
            e.contains("is not a usable checkpoint: it has no kiln training state"),
            "{e}"
        );
        std::fs::write(&path, b"garbage").unwrap();
        let e = Checkpoint::load(&path).err().unwrap().to_string();
        assert!(e.contains("is not a valid safetensors file"), "{e}");
    }
}
