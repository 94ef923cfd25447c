//! `model.safetensors`: the trained weights under PyTorch's key names, plus a small
//! JSON note in the file's metadata (which data set, which normalisation) that PyTorch
//! ignores.

use super::args::ModelLimits;
use super::error::CliError;
use super::model::{Classifier, check_finite, classifier_from_tensors, named_state};
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
    ///
    /// The file is checked from its header before its body is read (regular file, at
    /// most `limits.max_model_bytes`); weights that are NaN or infinite, a
    /// normalisation with a non-positive or non-finite std, and more than
    /// `limits.max_layers` layers are refused.
    pub fn load(path: &Path, limits: &ModelLimits) -> Result<ModelFile, CliError> {
        let (format, bytes) = kiln::io::read_weights_file(path, limits.max_model_bytes)?;
        let (tensors, metadata) = match format {
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
        drop(bytes);
        let note: ModelNote = metadata
            .get(META_KEY)
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        let bad = |reason: String| CliError::BadModel {
            path: path.to_path_buf(),
            reason,
        };
        check_finite(&tensors).map_err(bad)?;
        let normalize = note.normalize.unwrap_or(super::data::NORMALIZE);
        let (mean, std) = normalize;
        if !(mean.is_finite() && std.is_finite() && std > 0.0) {
            return Err(bad(format!(
                "its normalize metadata (mean {mean}, std {std}) needs a finite mean and a positive std"
            )));
        }
        let model = classifier_from_tensors(path, tensors, limits.max_layers)?;
        Ok(ModelFile {
            model,
            dataset: note.dataset,
            normalize,
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
