//! Model weights as safetensors files with PyTorch's key names, so a kiln model loads
//! into the equivalent PyTorch module (`model.load_state_dict(load_file(path))`) and a
//! file PyTorch wrote (`save_file(model.state_dict(), path)`) loads into kiln.

use super::error::IoError;
use super::safetensors_file::{load_safetensors, save_safetensors};
use crate::nn::StateDict;
use std::collections::HashMap;
use std::path::Path;

/// Saves a model's `state_dict()` to a safetensors file, atomically, with the
/// `{"format": "pt"}` metadata PyTorch tooling writes (`safetensors.torch.save_model`).
///
/// ```
/// use kiln::nn::{Linear, Module};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("model.safetensors");
/// let model = Linear::new(2, 1);
/// kiln::io::save_state_dict(&path, &model.state_dict()).unwrap();
/// let fresh = Linear::new(2, 1);
/// fresh.load_state_dict(&kiln::io::load_state_dict_file(&path).unwrap(), true).unwrap();
/// assert_eq!(fresh.weight.to_vec::<f32>(), model.weight.to_vec::<f32>());
/// ```
pub fn save_state_dict(path: &Path, state: &StateDict) -> Result<(), IoError> {
    let tensors: Vec<(String, crate::Tensor)> =
        state.iter().map(|(k, t)| (k.clone(), t.clone())).collect();
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    save_safetensors(path, &tensors, Some(meta))
}

/// Loads every tensor of a safetensors file as a [`StateDict`] (keys in file order),
/// ready for `module.load_state_dict`.
pub fn load_state_dict_file(path: &Path) -> Result<StateDict, IoError> {
    Ok(load_safetensors(path)?.into_iter().collect())
}
