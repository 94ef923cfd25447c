//! `model.safetensors`: the trained weights under PyTorch's key names, plus a small
//! JSON note in the file's metadata (which data set, which normalisation) that PyTorch
//! ignores.

use super::error::CliError;
use super::model::{Classifier, classifier_from_tensors, named_state};
use kiln::io::{FileFormat, parse_pt, parse_safetensors, save_safetensors};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

const META_KEY: &str = "kiln.model";

/// What a model file says about how its model was trained.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelNote {
    /// The data set's command-line name (`mnist`).
    pub dataset: Option<String>,
    /// Input normalisation `(mean, std)`.
    pub normalize: Option<(f64, f64)>,
}

/// A loaded model file.
pub struct ModelFile {
    /// The classifier, in eval mode.
    pub model: Classifier,
    /// The data set it was trained on, when the file says.
    pub dataset: Option<String>,
    /// Its input normalisation (the tutorial's MNIST statistics when the file does not say).
    pub normalize: (f64, f64),
}

impl ModelFile {
    /// Reads a model file written by `kiln train` (or a PyTorch state dict of the same
    /// kind of network saved with safetensors or `torch.save`: `.pt`/`.pth`/`.bin`,
    /// which carry no note, so the defaults apply).
    pub fn load(path: &Path) -> Result<ModelFile, CliError> {
        let bytes = std::fs::read(path).map_err(|e| CliError::file(path, e))?;
        let (tensors, metadata) = match FileFormat::for_loading(path, &bytes) {
            FileFormat::Safetensors => parse_safetensors(path, &bytes)?,
            FileFormat::PyTorch => {
                let state = parse_pt(path, &bytes)?.to_state_dict().map_err(|reason| {
                    CliError::BadModel {
                        path: path.to_path_buf(),
                        reason,
                    }
                })?;
                (state.into_iter().collect(), HashMap::new())
            }
        };
        let note: ModelNote = metadata
            .get(META_KEY)
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        let model = classifier_from_tensors(path, tensors)?;
        Ok(ModelFile {
            model,
            dataset: note.dataset,
            normalize: note.normalize.unwrap_or(super::data::NORMALIZE),
        })
    }
}

/// Writes `model`'s state dict to `path` atomically, with `note` in the metadata.
pub fn save_model(path: &Path, model: &Classifier, note: &ModelNote) -> Result<(), CliError> {
    let json = serde_json::to_string(note).expect("a model note serializes");
    save_safetensors(
        path,
        &named_state(model),
        Some(HashMap::from([(META_KEY.to_string(), json)])),
    )?;
    Ok(())
}
