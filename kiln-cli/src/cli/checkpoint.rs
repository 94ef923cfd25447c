//! `checkpoint.safetensors`: a library checkpoint ([`kiln::io::Checkpoint`]: model,
//! optimizer state, epoch, random generator) plus what `kiln train` needs to continue
//! exactly where it stopped, after a finished epoch or part way through one (Ctrl-C):
//! the run's settings, its progress in the unfinished epoch, and the generator state at
//! that epoch's start (which replays the epoch's shuffle).

use super::config::RunConfig;
use super::error::CliError;
use kiln::Generator;
use kiln::io::Checkpoint as LibCheckpoint;
use kiln::nn::Module;
use kiln::optim::{LrScheduler, Optimizer};
use serde::{Deserialize, Serialize};
use std::path::Path;

const TRAIN_KEY: &str = "kiln.train";
const RNG_KEY: &str = "kiln.train.rng_epoch_start";

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
struct TrainNote {
    config: RunConfig,
    progress: Progress,
}

/// A resumable training state.
pub struct Checkpoint {
    /// The run's settings.
    pub config: RunConfig,
    /// How far it got.
    pub progress: Progress,
    /// The default generator at the start of the unfinished epoch (before its shuffle).
    pub rng_epoch_start: Generator,
    /// Model, optimizer, finished epochs and the default generator now.
    pub state: LibCheckpoint,
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Checkpoint {
    /// Snapshots a run now (the default generator included, and the learning-rate
    /// scheduler if the run has one).
    pub fn capture(
        model: &dyn Module,
        optimizer: &dyn Optimizer,
        scheduler: Option<&dyn LrScheduler>,
        config: RunConfig,
        progress: Progress,
        rng_epoch_start: Generator,
    ) -> Self {
        Checkpoint {
            state: LibCheckpoint::capture(model, optimizer, scheduler, progress.epochs_done),
            config,
            progress,
            rng_epoch_start,
        }
    }

    /// Writes the checkpoint atomically: a crash mid-write leaves the previous one.
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        let note = TrainNote {
            config: self.config.clone(),
            progress: self.progress.clone(),
        };
        let json = serde_json::to_string(&note).expect("training notes serialize");
        self.state
            .clone()
            .with_extra(TRAIN_KEY, json)
            .with_extra(RNG_KEY, to_hex(&self.rng_epoch_start.state_bytes()))
            .save(path)?;
        Ok(())
    }

    /// Reads a checkpoint written by [`Checkpoint::save`].
    ///
    /// Files over `max_bytes` are refused from their size, and so is a checkpoint whose
    /// weights or optimizer state hold NaN or infinite values (naming the tensor) unless
    /// `allow_non_finite` (`--keep-going`).
    pub fn load(
        path: &Path,
        max_bytes: u64,
        allow_non_finite: bool,
    ) -> Result<Checkpoint, CliError> {
        let bad = |reason: String| CliError::BadCheckpoint {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = kiln::io::read_safetensors_bytes(path, max_bytes)?;
        let (tensors, _) = kiln::io::parse_safetensors(path, &bytes)?;
        if !allow_non_finite {
            super::model::check_finite(&tensors).map_err(bad)?;
        }
        drop(tensors);
        let state = LibCheckpoint::from_bytes(&bytes).map_err(|e| match e {
            kiln::io::IoError::Checkpoint { reason, .. } => bad(reason),
            e => e.into(),
        })?;
        let json = state.extra.get(TRAIN_KEY).ok_or_else(|| {
            bad("it holds no `kiln train` progress (was it written by `kiln train`?)".into())
        })?;
        let note: TrainNote = serde_json::from_str(json)
            .map_err(|e| bad(format!("its training progress is damaged ({e})")))?;
        let rng_epoch_start = state
            .extra
            .get(RNG_KEY)
            .and_then(|h| from_hex(h))
            .and_then(|b| Generator::from_state_bytes(&b).ok())
            .ok_or_else(|| bad("its random-generator state is damaged".into()))?;
        Ok(Checkpoint {
            config: note.config,
            progress: note.progress,
            rng_epoch_start,
            state,
        })
    }

    /// Loads the model, optimizer and scheduler state and sets the default generator to
    /// its state at the moment of the snapshot.
    pub fn restore(
        &self,
        path: &Path,
        model: &dyn Module,
        optimizer: &mut dyn Optimizer,
        scheduler: Option<&mut dyn LrScheduler>,
    ) -> Result<(), CliError> {
        self.state
            .restore(model, optimizer, scheduler)
            .map_err(|e| CliError::BadCheckpoint {
                path: path.to_path_buf(),
                reason: e.to_string().replace(":\n\t", ": ").replace("\n\t", " "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln::Tensor;
    use kiln::nn::Linear;
    use kiln::optim::Adam;
    use kiln::tensor::random::get_rng_state;

    fn config() -> RunConfig {
        RunConfig {
            model: "mlp".into(),
            dataset: "mnist".into(),
            batch_size: 64,
            lr: 1e-3,
            optimizer: "adam".into(),
            momentum: 0.0,
            weight_decay: None,
            lr_step: 0,
            gamma: 0.1,
            hidden: vec![256, 128],
            dropout: 0.2,
            batch_norm: false,
            seed: 0,
            limit: None,
            test_limit: None,
        }
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(
            from_hex(&to_hex(&[0, 1, 0xab, 0xff])).unwrap(),
            [0, 1, 0xab, 0xff]
        );
        assert!(from_hex("abc").is_none());
        assert!(from_hex("zz").is_none());
    }

    #[test]
    fn round_trips_model_optimizer_rng_and_progress() {
        let model = Linear::new(3, 2);
        let mut opt = Adam::new(model.parameters(), 0.01);
        model.forward(&Tensor::ones(&[1, 3])).sum().backward();
        opt.step();
        let mut g = Generator::new(3);
        g.next_u32();
        let progress = Progress {
            epochs_done: 1,
            batches_done: 7,
            loss_sum: 1.0 / 3.0,
            correct: 5,
            seen: 9,
        };
        let ck = Checkpoint::capture(&model, &opt, None, config(), progress.clone(), g.clone());
        let now = get_rng_state();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.safetensors");
        ck.save(&path).unwrap();
        let back = Checkpoint::load(&path, u64::MAX, false).unwrap();
        assert_eq!(back.config, config());
        assert_eq!(back.progress, progress);
        assert_eq!(back.rng_epoch_start, g);
        assert_eq!(back.state.epoch, 1);

        let fresh = Linear::new(3, 2);
        let mut opt2 = Adam::new(fresh.parameters(), 0.5);
        back.restore(&path, &fresh, &mut opt2, None).unwrap();
        assert_eq!(get_rng_state(), now);
        assert_eq!(opt2.lr(0), 0.01);
        assert_eq!(fresh.weight.to_vec::<f32>(), model.weight.to_vec::<f32>());
        let s = &opt2.state_dict().state[&0];
        assert_eq!(s["step"].item(), 1.0);
    }

    #[test]
    fn other_files_are_not_training_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.safetensors");
        let model = Linear::new(1, 1);
        let opt = Adam::new(model.parameters(), 0.1);
        LibCheckpoint::capture(&model, &opt, None, 0)
            .save(&path)
            .unwrap();
        let e = Checkpoint::load(&path, u64::MAX, false)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("is not a usable checkpoint: it holds no `kiln train` progress"),
            "{e}"
        );
        std::fs::write(&path, b"garbage").unwrap();
        let e = Checkpoint::load(&path, u64::MAX, false)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("is not a valid safetensors file"), "{e}");
    }
}
