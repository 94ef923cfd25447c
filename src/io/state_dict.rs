//! Model weights with PyTorch's key names, as safetensors or PyTorch (`torch.save`)
//! files by extension, so a kiln model loads into the equivalent PyTorch module
//! (`model.load_state_dict(torch.load(path))` or `load_file(path)`) and a file PyTorch
//! wrote (`torch.save(model.state_dict(), path)` or `save_file(...)`) loads into kiln.

use super::error::IoError;
use super::format::FileFormat;
use super::pt::{parse_pt, save_pt_state_dict};
use super::safetensors_file::{parse_safetensors, save_safetensors};
use crate::nn::StateDict;
use std::collections::HashMap;
use std::path::Path;

/// Saves a model's `state_dict()` atomically, in the format the extension names
/// ([`FileFormat::for_saving`]): `.pt`/`.pth`/`.bin` as `torch.save` writes a state
/// dict (an `OrderedDict` of tensors), anything else as safetensors with the
/// `{"format": "pt"}` metadata PyTorch tooling writes (`safetensors.torch.save_model`).
///
/// ```
/// use kiln::nn::{Linear, Module};
/// let dir = tempfile::tempdir().unwrap();
/// let model = Linear::new(2, 1);
/// for name in ["model.safetensors", "model.pth"] {
///     let path = dir.path().join(name);
///     kiln::io::save_state_dict(&path, &model.state_dict()).unwrap();
///     let fresh = Linear::new(2, 1);
///     fresh.load_state_dict(&kiln::io::load_state_dict_file(&path).unwrap()).unwrap();
///     assert_eq!(fresh.weight.to_vec::<f32>(), model.weight.to_vec::<f32>());
/// }
/// ```
pub fn save_state_dict(path: impl AsRef<Path>, state: &StateDict) -> Result<(), IoError> {
    let path = path.as_ref();
    match FileFormat::for_saving(path) {
        FileFormat::PyTorch => save_pt_state_dict(path, state),
        FileFormat::Safetensors => {
            let tensors: Vec<(String, crate::Tensor)> = state
                .iter()
                .map(|(k, t)| (k.clone(), t.shallow_clone()))
                .collect();
            let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
            save_safetensors(path, &tensors, Some(meta))
        }
    }
}

/// Loads a state dict (keys in file order), ready for `module.load_state_dict`, from
/// a safetensors file or a `torch.save` file holding a dict of tensors
/// ([`FileFormat::for_loading`] decides).
pub fn load_state_dict_file(path: impl AsRef<Path>) -> Result<StateDict, IoError> {
    let path = path.as_ref();
    let (_, bytes) = super::read_weights_file(path, super::DEFAULT_MAX_FILE_BYTES)?;
    parse_state_dict(path, &bytes)
}

/// `torch.save(state_dict, path)`: [`save_state_dict`] in PyTorch's argument order; the
/// extension picks the format (`.pt`/`.pth`/`.bin`: PyTorch's zip, else safetensors).
///
/// ```
/// use kiln::nn::{Linear, Module};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("model.pth");
/// let model = Linear::new(2, 1);
/// kiln::save(&model.state_dict(), &path).unwrap();
/// let fresh = Linear::new(2, 1);
/// fresh.load_state_dict(&kiln::load(&path).unwrap()).unwrap();
/// assert_eq!(fresh.weight.to_vec::<f32>(), model.weight.to_vec::<f32>());
/// ```
pub fn save(state: &StateDict, path: impl AsRef<Path>) -> Result<(), IoError> {
    save_state_dict(path, state)
}

/// `torch.load(path)` of a state dict: [`load_state_dict_file`] (any path type, e.g. `&str`).
pub fn load(path: impl AsRef<Path>) -> Result<StateDict, IoError> {
    load_state_dict_file(path)
}

/// [`load_state_dict_file`] on bytes already read; `path` picks the format and labels
/// errors.
pub fn parse_state_dict(path: &Path, bytes: &[u8]) -> Result<StateDict, IoError> {
    match FileFormat::for_loading(path, bytes) {
        FileFormat::PyTorch => {
            parse_pt(path, bytes)?
                .to_state_dict()
                .map_err(|reason| IoError::PtFormat {
                    path: path.to_path_buf(),
                    reason,
                })
        }
        FileFormat::Safetensors => Ok(parse_safetensors(path, bytes)?.0.into_iter().collect()),
    }
}
