//! kiln's training checkpoint as the nested dict PyTorch users save:
//!
//! ```text
//! {'format': 'kiln-checkpoint', 'version': 1,
//!  'model': OrderedDict(state_dict),
//!  'optimizer': {'state': {0: {'step': tensor, 'exp_avg': tensor, ...}, ...},
//!                'param_groups': [{'lr': 0.001, ..., 'params': [0, 1]}]},
//!  'scheduler': None or {'last_epoch': 3, 'base_lrs': [..], '_last_lr': [..], ...},
//!  'epoch': 7, 'rng': uint8 tensor (the generator state), 'extra': {str: str}}
//! ```
//!
//! `optimizer` and `scheduler` are laid out as PyTorch's `state_dict()`s are (hyper-
//! parameters as kiln names them); `torch.load(path, weights_only=True)` reads it all.

use super::value::PtValue;
use crate::io::Checkpoint;
use crate::nn::StateDict;
use crate::optim::{GroupState, OptimizerState, SchedulerState};
use crate::tensor::random::Generator;
use crate::tensor::{DType, Tensor};
use std::collections::{BTreeMap, BTreeSet};

const FORMAT: &str = "kiln-checkpoint";
const VERSION: i64 = 1;
const SCHED_KEYS: [&str; 3] = ["last_epoch", "base_lrs", "_last_lr"];

fn s(k: &str) -> PtValue {
    PtValue::Str(k.into())
}

fn floats(v: &[f64]) -> PtValue {
    PtValue::List(v.iter().map(|&x| PtValue::Float(x)).collect())
}

/// The checkpoint as a nested dict; fails only if a scheduler value is named like
/// one of the scheduler's own fields.
pub(crate) fn checkpoint_to_pt(ck: &Checkpoint) -> Result<PtValue, String> {
    let state = PtValue::Dict(
        ck.optimizer
            .state
            .iter()
            .map(|(i, m)| {
                let per = m
                    .iter()
                    .map(|(k, t)| (s(k), PtValue::Tensor(t.shallow_clone())))
                    .collect();
                (PtValue::Int(*i as i64), PtValue::Dict(per))
            })
            .collect(),
    );
    let groups = PtValue::List(
        ck.optimizer
            .param_groups
            .iter()
            .map(|g| {
                let mut items: Vec<(PtValue, PtValue)> = g
                    .options
                    .iter()
                    .map(|(k, v)| (s(k), PtValue::Float(*v)))
                    .collect();
                items.push((
                    s("params"),
                    PtValue::List(g.params.iter().map(|&p| PtValue::Int(p as i64)).collect()),
                ));
                PtValue::Dict(items)
            })
            .collect(),
    );
    let scheduler = match &ck.scheduler {
        None => PtValue::None,
        Some(sc) => {
            let mut items = vec![
                (s("last_epoch"), PtValue::Int(sc.last_epoch)),
                (s("base_lrs"), floats(&sc.base_lrs)),
                (s("_last_lr"), floats(&sc.last_lr)),
            ];
            for (k, v) in &sc.values {
                if SCHED_KEYS.contains(&k.as_str()) {
                    return Err(format!("scheduler value '{k}' clashes with a field"));
                }
                items.push((s(k), PtValue::Float(*v)));
            }
            PtValue::Dict(items)
        }
    };
    let rng = ck.rng.state_bytes();
    let n = rng.len();
    Ok(PtValue::Dict(vec![
        (s("format"), s(FORMAT)),
        (s("version"), PtValue::Int(VERSION)),
        (s("model"), PtValue::from_state_dict(&ck.model)),
        (
            s("optimizer"),
            PtValue::Dict(vec![(s("state"), state), (s("param_groups"), groups)]),
        ),
        (s("scheduler"), scheduler),
        (s("epoch"), PtValue::Int(ck.epoch as i64)),
        (s("rng"), PtValue::Tensor(Tensor::from_vec(rng, &[n]))),
        (
            s("extra"),
            PtValue::Dict(ck.extra.iter().map(|(k, v)| (s(k), s(v))).collect()),
        ),
    ]))
}

fn field<'v>(v: &'v PtValue, key: &str) -> Result<&'v PtValue, String> {
    v.get(key).ok_or_else(|| format!("it has no '{key}' entry"))
}

fn float_list(v: &PtValue, what: &str) -> Result<Vec<f64>, String> {
    v.as_seq()
        .ok_or_else(|| format!("{what} is {}, not a list", v.kind()))?
        .iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| format!("{what} holds {}", x.kind()))
        })
        .collect()
}

fn index(v: &PtValue, what: &str) -> Result<usize, String> {
    v.as_int()
        .and_then(|i| usize::try_from(i).ok())
        .ok_or_else(|| format!("{what} is {}, not an index", v.kind()))
}

/// Reads the nested dict [`checkpoint_to_pt`] writes, checking every part.
pub(crate) fn checkpoint_from_pt(v: &PtValue) -> Result<Checkpoint, String> {
    if v.items().is_none() {
        return Err(format!("the file holds {}, not a dict", v.kind()));
    }
    let format = field(v, "format")?.as_str().unwrap_or("");
    let version = field(v, "version")?.as_int().unwrap_or(-1);
    if format != FORMAT || version != VERSION {
        return Err(format!(
            "unsupported format '{format}' version {version} (this kiln reads {FORMAT} version {VERSION})"
        ));
    }
    let model: StateDict = field(v, "model")?
        .to_state_dict()
        .map_err(|e| format!("model: {e}"))?;

    let opt = field(v, "optimizer")?;
    let mut optimizer = OptimizerState::default();
    let mut seen = BTreeSet::new();
    let groups = field(opt, "param_groups")?
        .as_seq()
        .ok_or("optimizer param_groups is not a list")?;
    for (gi, g) in groups.iter().enumerate() {
        let items = g.items().ok_or(format!("param group {gi} is not a dict"))?;
        let mut options = BTreeMap::new();
        let mut params = Vec::new();
        for (k, x) in items {
            let k = k
                .as_str()
                .ok_or(format!("param group {gi} has a non-string key"))?;
            if k == "params" {
                for p in x
                    .as_seq()
                    .ok_or(format!("group {gi} params is not a list"))?
                {
                    let p = index(p, "a parameter index")?;
                    if !seen.insert(p) {
                        return Err(format!(
                            "optimizer parameter {p} is listed twice (group {gi})"
                        ));
                    }
                    params.push(p);
                }
            } else {
                let f = x
                    .as_f64()
                    .ok_or(format!("group {gi} option '{k}' is {}", x.kind()))?;
                options.insert(k.to_string(), f);
            }
        }
        optimizer.param_groups.push(GroupState { options, params });
    }
    let state = field(opt, "state")?
        .items()
        .ok_or("optimizer state is not a dict")?;
    for (i, m) in state {
        let i = index(i, "an optimizer state key")?;
        if !seen.contains(&i) {
            return Err(format!(
                "optimizer state for parameter {i}, which no group holds"
            ));
        }
        let mut per = BTreeMap::new();
        for (k, t) in m
            .items()
            .ok_or(format!("state of parameter {i} is not a dict"))?
        {
            let k = k.as_str().ok_or("a non-string optimizer state key")?;
            let t = t
                .as_tensor()
                .filter(|t| t.dtype().is_float() && (k != "step" || t.numel() == 1))
                .ok_or(format!(
                    "optimizer state '{k}' of parameter {i} is not a float tensor"
                ))?;
            per.insert(k.to_string(), t.shallow_clone());
        }
        if optimizer.state.insert(i, per).is_some() {
            return Err(format!("optimizer state for parameter {i} is listed twice"));
        }
    }

    let scheduler = match field(v, "scheduler")? {
        PtValue::None => None,
        sc => {
            let last_epoch = field(sc, "last_epoch")?
                .as_int()
                .ok_or("scheduler last_epoch is not an int")?;
            let mut values = BTreeMap::new();
            for (k, x) in sc.items().ok_or("scheduler is not a dict")? {
                let k = k.as_str().ok_or("a non-string scheduler key")?;
                if !SCHED_KEYS.contains(&k) {
                    let f = x
                        .as_f64()
                        .ok_or(format!("scheduler value '{k}' is {}", x.kind()))?;
                    values.insert(k.to_string(), f);
                }
            }
            Some(SchedulerState {
                last_epoch,
                base_lrs: float_list(field(sc, "base_lrs")?, "base_lrs")?,
                last_lr: float_list(field(sc, "_last_lr")?, "_last_lr")?,
                values,
            })
        }
    };
    let epoch = index(field(v, "epoch")?, "epoch")?;
    let rng_t = field(v, "rng")?
        .as_tensor()
        .filter(|t| t.dtype() == DType::U8 && t.dim() == 1)
        .ok_or("rng is not a 1-D uint8 tensor")?;
    let rng = Generator::from_state_bytes(&rng_t.to_vec::<u8>()).map_err(|e| e.to_string())?;
    let mut extra = BTreeMap::new();
    for (k, x) in field(v, "extra")?.items().ok_or("extra is not a dict")? {
        match (k.as_str(), x.as_str()) {
            (Some(k), Some(x)) => {
                extra.insert(k.to_string(), x.to_string());
            }
            _ => return Err("extra holds a non-string".into()),
        }
    }
    Ok(Checkpoint {
        model,
        optimizer,
        scheduler,
        epoch,
        rng,
        extra,
    })
}
