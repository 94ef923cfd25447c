//! Full training checkpoints: model, optimizer state, scheduler, epoch, random generator
//! and free-form notes in ONE safetensors file, so training resumes bit-identically.
//!
//! Layout: tensors `model.<key>` (the model's state dict, PyTorch key names),
//! `optim.state.<i>.<name>` (per-parameter optimizer state, `step` included, as in
//! PyTorch's optimizer `state_dict`) and `rng` (the generator state as bytes); the
//! scalars (hyper-parameters, scheduler counters, epoch, notes) are JSON under the
//! metadata key `kiln.checkpoint`. Writes are atomic; reading checks every part and
//! returns a typed [`IoError`], whatever the bytes.

use super::atomic::atomic_write;
use super::error::IoError;
use super::format::FileFormat;
use super::pt::{checkpoint_from_pt, checkpoint_to_pt, parse_pt, save_pt};
use super::safetensors_file::{parse_safetensors, serialize_safetensors};
use crate::nn::{Module, NnError, ShapeMismatch, StateDict};
use crate::optim::{
    GroupState, LrScheduler, OptimError, Optimizer, OptimizerState, SchedulerState,
};
use crate::tensor::random::{Generator, get_rng_state, set_rng_state};
use crate::tensor::{DType, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

const META_KEY: &str = "kiln.checkpoint";
const FORMAT: &str = "kiln-checkpoint";
const VERSION: u32 = 1;

/// Everything needed to resume training where it stopped.
///
/// ```
/// use kiln::io::Checkpoint;
/// use kiln::nn::{Linear, Module};
/// use kiln::optim::{Adam, LrScheduler, Optimizer, StepLR};
///
/// let model = Linear::new(3, 2);
/// let mut opt = Adam::new(model.parameters(), 1e-3);
/// let mut sched = StepLR::new(&mut opt, 10, 0.5);
/// let ck = Checkpoint::capture(&model, &opt, Some(&sched), 4).with_extra("note", "demo");
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("ck.safetensors");
/// ck.save(&path).unwrap();
///
/// let back = Checkpoint::load(&path).unwrap();
/// back.restore(&model, &mut opt, Some(&mut sched)).unwrap();
/// assert_eq!((back.epoch, back.extra["note"].as_str()), (4, "demo"));
/// ```
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The model's `state_dict()`.
    pub model: StateDict,
    /// The optimizer's `state_dict()`.
    pub optimizer: OptimizerState,
    /// The learning-rate scheduler's `state_dict()`, if training uses one.
    pub scheduler: Option<SchedulerState>,
    /// The epoch (or step) count the run had reached.
    pub epoch: usize,
    /// The default random generator (`torch.get_rng_state()`), for dropout and shuffling.
    pub rng: Generator,
    /// Free-form notes (run name, metrics, ...).
    pub extra: BTreeMap<String, String>,
}

impl Checkpoint {
    /// Snapshots a training run: the model's and optimizer's state dicts, the
    /// scheduler's if given, `epoch`, and the default random generator.
    pub fn capture(
        model: &dyn Module,
        optimizer: &dyn Optimizer,
        scheduler: Option<&dyn LrScheduler>,
        epoch: usize,
    ) -> Checkpoint {
        Checkpoint {
            model: model.state_dict(),
            optimizer: optimizer.state_dict(),
            scheduler: scheduler.map(|s| s.state_dict()),
            epoch,
            rng: get_rng_state(),
            extra: BTreeMap::new(),
        }
    }

    /// Adds a note, builder style.
    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// Loads the checkpoint into a (fresh or running) model, optimizer and scheduler,
    /// and restores the default random generator.
    ///
    /// The model's keys and shapes and the scheduler's group count are checked before
    /// anything changes, and each of model, optimizer and scheduler loads all or
    /// nothing. A checkpoint without scheduler state is an error when `scheduler` is
    /// given; a checkpoint's scheduler state is ignored when it is not
    /// (`ReduceLROnPlateau`, which is not an [`LrScheduler`], loads
    /// `checkpoint.scheduler` through its own `load_state_dict`).
    pub fn restore(
        &self,
        model: &dyn Module,
        optimizer: &mut dyn Optimizer,
        scheduler: Option<&mut dyn LrScheduler>,
    ) -> Result<(), IoError> {
        check_model(model, &self.model)?;
        if scheduler.is_some() {
            let state = self.scheduler.as_ref().ok_or_else(|| {
                IoError::Mismatch("the checkpoint has no scheduler state to restore".into())
            })?;
            let groups = optimizer.num_groups();
            if state.base_lrs.len() != groups || state.last_lr.len() != groups {
                return Err(OptimError::SchedulerGroups {
                    expected: groups,
                    got: state.base_lrs.len(),
                }
                .into());
            }
        }
        optimizer.load_state_dict(&self.optimizer)?;
        if let (Some(s), Some(state)) = (scheduler, &self.scheduler) {
            s.load_state_dict(state)?;
        }
        model.load_state_dict(&self.model)?;
        set_rng_state(self.rng.clone());
        Ok(())
    }

    /// Encodes the checkpoint as safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, IoError> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (k, t) in self.model.iter() {
            tensors.push((format!("model.{k}"), t.shallow_clone()));
        }
        let mut state_keys = Vec::new();
        for (i, m) in &self.optimizer.state {
            for (k, t) in m {
                tensors.push((format!("optim.state.{i}.{k}"), t.shallow_clone()));
            }
            state_keys.push(ParamKeys {
                param: *i,
                keys: m.keys().cloned().collect(),
            });
        }
        let rng = self.rng.state_bytes();
        let n = rng.len();
        tensors.push(("rng".into(), Tensor::from_vec(rng, &[n])));
        let header = Header {
            format: FORMAT.into(),
            version: VERSION,
            epoch: self.epoch as u64,
            model_keys: self.model.keys().cloned().collect(),
            optimizer: OptimHeader {
                param_groups: self
                    .optimizer
                    .param_groups
                    .iter()
                    .map(|g| GroupHeader {
                        options: g
                            .options
                            .iter()
                            .map(|(k, v)| (k.clone(), Num(*v)))
                            .collect(),
                        params: g.params.clone(),
                    })
                    .collect(),
                state: state_keys,
            },
            scheduler: self.scheduler.as_ref().map(|s| SchedHeader {
                last_epoch: s.last_epoch,
                base_lrs: s.base_lrs.iter().map(|&v| Num(v)).collect(),
                last_lr: s.last_lr.iter().map(|&v| Num(v)).collect(),
                values: s.values.iter().map(|(k, v)| (k.clone(), Num(*v))).collect(),
            }),
            extra: self.extra.clone(),
        };
        let json = serde_json::to_string(&header).map_err(|e| IoError::Checkpoint {
            path: "".into(),
            reason: format!("cannot encode the header: {e}"),
        })?;
        // One metadata entry only: a HashMap's order is random, and a checkpoint's bytes
        // should depend on its content alone.
        let meta = HashMap::from([(META_KEY.to_string(), json)]);
        serialize_safetensors(&tensors, Some(meta))
    }

    /// Writes the checkpoint to `path` atomically: a crash mid-write leaves the
    /// previous file intact. `.pt`/`.pth`/`.bin` write the nested dict PyTorch users
    /// save (`{'model': ..., 'optimizer': ..., 'epoch': ...}`, see [`crate::io::pt`]),
    /// which `torch.load(path, weights_only=True)` reads; anything else safetensors.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), IoError> {
        let path = path.as_ref();
        match FileFormat::for_saving(path) {
            FileFormat::Safetensors => atomic_write(path, &self.to_bytes()?),
            FileFormat::PyTorch => {
                let value = checkpoint_to_pt(self).map_err(|reason| IoError::Checkpoint {
                    path: path.to_path_buf(),
                    reason,
                })?;
                save_pt(path, &value)
            }
        }
    }

    /// Reads and validates a checkpoint file (either format, as [`Checkpoint::save`]
    /// writes them).
    pub fn load(path: impl AsRef<Path>) -> Result<Checkpoint, IoError> {
        let path = path.as_ref();
        let (format, bytes) = super::read_weights_file(path, super::DEFAULT_MAX_FILE_BYTES)?;
        match format {
            FileFormat::Safetensors => decode(path, &bytes),
            FileFormat::PyTorch => {
                checkpoint_from_pt(&parse_pt(path, &bytes)?).map_err(|reason| IoError::Checkpoint {
                    path: path.to_path_buf(),
                    reason,
                })
            }
        }
    }

    /// Decodes and validates checkpoint bytes (from [`Checkpoint::to_bytes`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, IoError> {
        decode(Path::new("<memory>"), bytes)
    }
}

/// Fails, naming the keys, unless `state` has exactly the model's keys and shapes.
fn check_model(model: &dyn Module, state: &StateDict) -> Result<(), NnError> {
    let own = model.state_dict();
    let missing: Vec<String> = own
        .keys()
        .filter(|k| !state.contains_key(k))
        .cloned()
        .collect();
    let unexpected: Vec<String> = state
        .keys()
        .filter(|k| !own.contains_key(k))
        .cloned()
        .collect();
    let mismatched: Vec<ShapeMismatch> = own
        .iter()
        .filter_map(|(k, t)| {
            let src = state.get(k)?;
            (src.shape() != t.shape()).then(|| ShapeMismatch {
                key: k.clone(),
                checkpoint: src.size().to_vec(),
                model: t.size().to_vec(),
            })
        })
        .collect();
    if missing.is_empty() && unexpected.is_empty() && mismatched.is_empty() {
        Ok(())
    } else {
        Err(NnError::StateDict {
            module: model.type_name(),
            missing,
            unexpected,
            mismatched,
        })
    }
}

/// An f64 in JSON; infinities and NaN (e.g. `ReduceLROnPlateau`'s initial `best`) are
/// written as the strings `"inf"`, `"-inf"`, `"nan"`, which JSON numbers cannot hold.
#[derive(Clone, Copy, Debug)]
struct Num(f64);

impl Serialize for Num {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_finite() {
            s.serialize_f64(v)
        } else if v.is_nan() {
            s.serialize_str("nan")
        } else if v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            F(f64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::F(v) => Ok(Num(v)),
            Raw::S(s) => match s.as_str() {
                "inf" => Ok(Num(f64::INFINITY)),
                "-inf" => Ok(Num(f64::NEG_INFINITY)),
                "nan" => Ok(Num(f64::NAN)),
                other => Err(serde::de::Error::custom(format!(
                    "expected a number, \"inf\", \"-inf\" or \"nan\", got \"{other}\""
                ))),
            },
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
    epoch: u64,
    model_keys: Vec<String>,
    optimizer: OptimHeader,
    scheduler: Option<SchedHeader>,
    extra: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptimHeader {
    param_groups: Vec<GroupHeader>,
    state: Vec<ParamKeys>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupHeader {
    options: BTreeMap<String, Num>,
    params: Vec<usize>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamKeys {
    param: usize,
    keys: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchedHeader {
    last_epoch: i64,
    base_lrs: Vec<Num>,
    last_lr: Vec<Num>,
    values: BTreeMap<String, Num>,
}

fn decode(path: &Path, bytes: &[u8]) -> Result<Checkpoint, IoError> {
    let bad = |reason: String| IoError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let (tensors, meta) = parse_safetensors(path, bytes)?;
    let json = meta
        .get(META_KEY)
        .ok_or_else(|| bad(format!("the metadata has no '{META_KEY}' entry")))?;
    let header: Header =
        serde_json::from_str(json).map_err(|e| bad(format!("the header is invalid: {e}")))?;
    if header.format != FORMAT || header.version != VERSION {
        return Err(bad(format!(
            "unsupported format {} version {} (this kiln reads {FORMAT} version {VERSION})",
            header.format, header.version
        )));
    }
    let mut pool: HashMap<String, Tensor> = HashMap::with_capacity(tensors.len());
    for (name, t) in tensors {
        if pool.insert(name.clone(), t).is_some() {
            return Err(bad(format!("tensor '{name}' appears twice")));
        }
    }
    let mut take = |name: String| {
        pool.remove(&name)
            .ok_or_else(|| bad(format!("tensor '{name}' is missing")))
    };

    let mut model = StateDict::new();
    for key in &header.model_keys {
        if model.contains_key(key) {
            return Err(bad(format!("model key '{key}' is listed twice")));
        }
        model.insert(key.clone(), take(format!("model.{key}"))?);
    }

    let mut optimizer = OptimizerState::default();
    let mut seen = BTreeSet::new();
    for (gi, g) in header.optimizer.param_groups.iter().enumerate() {
        for &p in &g.params {
            if !seen.insert(p) {
                return Err(bad(format!(
                    "optimizer parameter {p} is listed twice (group {gi})"
                )));
            }
        }
        optimizer.param_groups.push(GroupState {
            options: g.options.iter().map(|(k, v)| (k.clone(), v.0)).collect(),
            params: g.params.clone(),
        });
    }
    for ParamKeys { param, keys } in &header.optimizer.state {
        if !seen.contains(param) {
            return Err(bad(format!(
                "optimizer state for parameter {param}, which no group holds"
            )));
        }
        if optimizer.state.contains_key(param) {
            return Err(bad(format!(
                "optimizer state for parameter {param} is listed twice"
            )));
        }
        let mut m = BTreeMap::new();
        for k in keys {
            let t = take(format!("optim.state.{param}.{k}"))?;
            let ok = if k == "step" {
                t.numel() == 1 && t.dtype().is_float()
            } else {
                t.dtype().is_float()
            };
            if !ok {
                return Err(bad(format!(
                    "optimizer state '{k}' of parameter {param} has dtype {} and shape {:?}",
                    t.dtype(),
                    t.shape()
                )));
            }
            m.insert(k.clone(), t);
        }
        optimizer.state.insert(*param, m);
    }

    let scheduler = header.scheduler.map(|s| SchedulerState {
        last_epoch: s.last_epoch,
        base_lrs: s.base_lrs.iter().map(|n| n.0).collect(),
        last_lr: s.last_lr.iter().map(|n| n.0).collect(),
        values: s.values.iter().map(|(k, v)| (k.clone(), v.0)).collect(),
    });

    let rng_t = take("rng".into())?;
    if rng_t.dtype() != DType::U8 || rng_t.dim() != 1 {
        return Err(bad(format!(
            "tensor 'rng' has dtype {} and shape {:?}, expected a 1-D uint8 tensor",
            rng_t.dtype(),
            rng_t.shape()
        )));
    }
    let rng = Generator::from_state_bytes(&rng_t.to_vec::<u8>()).map_err(|e| bad(e.to_string()))?;

    if let Some(name) = pool.keys().min() {
        return Err(bad(format!("unexpected tensor '{name}'")));
    }
    let epoch = usize::try_from(header.epoch)
        .map_err(|_| bad(format!("epoch {} does not fit this platform", header.epoch)))?;
    Ok(Checkpoint {
        model,
        optimizer,
        scheduler,
        epoch,
        rng,
        extra: header.extra,
    })
}
