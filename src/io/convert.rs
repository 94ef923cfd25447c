//! `kiln convert IN OUT`: a weights or checkpoint file from one format to the other,
//! each chosen by extension ([`FileFormat`]).

use super::checkpoint::Checkpoint;
use super::error::IoError;
use super::format::FileFormat;
use super::pt::{PtValue, parse_pt, save_pt_state_dict};
use super::safetensors_file::{parse_safetensors, save_safetensors};
use crate::nn::StateDict;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::path::Path;

/// What [`convert`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Converted {
    /// A kiln training checkpoint, whole (model, optimizer, scheduler, epoch, rng, notes).
    Checkpoint,
    /// Named tensors (a state dict); `dropped` counts the non-tensor values of a
    /// PyTorch file (epochs, hyper-parameters, ...) that safetensors cannot hold.
    Tensors {
        /// Tensors written.
        count: usize,
        /// Non-tensor values left out.
        dropped: usize,
    },
}

fn count_leaves(v: &PtValue) -> usize {
    match v {
        PtValue::Tensor(_) => 0,
        PtValue::List(xs) | PtValue::Tuple(xs) => xs.iter().map(count_leaves).sum(),
        PtValue::Dict(items) | PtValue::OrderedDict(items) => {
            items.iter().map(|(_, x)| count_leaves(x)).sum()
        }
        _ => 1,
    }
}

/// Reads `input` (safetensors or a `torch.save` file) and writes its content to
/// `output` in the format `output`'s extension names.
///
/// A kiln checkpoint (either format) converts whole. Anything else converts as named
/// tensors: a state dict keeps its keys and order; a nested PyTorch file
/// (`{'model': ..., 'optimizer': ...}`) is flattened to dotted keys (`model.0.weight`).
/// safetensors metadata is kept when writing safetensors.
///
/// ```
/// use kiln::io::{Converted, convert, load_state_dict_file, save_state_dict};
/// use kiln::nn::{Linear, Module};
/// let dir = tempfile::tempdir().unwrap();
/// let (st, pt) = (dir.path().join("m.safetensors"), dir.path().join("m.pt"));
/// save_state_dict(&st, &Linear::new(2, 1).state_dict()).unwrap();
/// assert_eq!(convert(&st, &pt).unwrap(), Converted::Tensors { count: 2, dropped: 0 });
/// assert_eq!(load_state_dict_file(&pt).unwrap().keys().count(), 2);
/// ```
pub fn convert(input: &Path, output: &Path) -> Result<Converted, IoError> {
    let (_, bytes) = super::read_weights_file(input, super::DEFAULT_MAX_FILE_BYTES)?;
    let (tensors, metadata, dropped): (Vec<(String, Tensor)>, HashMap<String, String>, usize) =
        match FileFormat::for_loading(input, &bytes) {
            FileFormat::Safetensors => {
                let (tensors, meta) = parse_safetensors(input, &bytes)?;
                if meta.contains_key("kiln.checkpoint") {
                    Checkpoint::from_bytes(&bytes)?.save(output)?;
                    return Ok(Converted::Checkpoint);
                }
                (tensors, meta, 0)
            }
            FileFormat::PyTorch => {
                let value = parse_pt(input, &bytes)?;
                if value.get("format").and_then(PtValue::as_str) == Some("kiln-checkpoint") {
                    Checkpoint::load(input)?.save(output)?;
                    return Ok(Converted::Checkpoint);
                }
                let tensors = match value.to_state_dict() {
                    Ok(sd) => sd.into_iter().collect(),
                    Err(_) => value.flat_tensors(),
                };
                (tensors, HashMap::new(), count_leaves(&value))
            }
        };
    let count = tensors.len();
    match FileFormat::for_saving(output) {
        FileFormat::PyTorch => {
            let sd: StateDict = tensors.into_iter().collect();
            save_pt_state_dict(output, &sd)?;
        }
        FileFormat::Safetensors => {
            save_safetensors(output, &tensors, (!metadata.is_empty()).then_some(metadata))?;
        }
    }
    Ok(Converted::Tensors { count, dropped })
}
