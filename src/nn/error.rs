//! Errors from loading state into modules.

use std::fmt;

/// A key whose tensor shape differs between a checkpoint and the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// The dotted parameter or buffer name.
    pub key: String,
    /// The shape in the state dict being loaded.
    pub checkpoint: Vec<usize>,
    /// The shape in the current model.
    pub model: Vec<usize>,
}

/// Why `load_state_dict` refused a state dict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NnError {
    /// Missing/unexpected keys (in strict mode) or shape mismatches, all named.
    StateDict {
        /// The model's class name.
        module: String,
        /// Keys the model has and the state dict lacks.
        missing: Vec<String>,
        /// Keys the state dict has and the model lacks.
        unexpected: Vec<String>,
        /// Keys present in both with different shapes.
        mismatched: Vec<ShapeMismatch>,
    },
}

fn quoted(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NnError::StateDict {
                module,
                missing,
                unexpected,
                mismatched,
            } => {
                write!(f, "Error(s) in loading state_dict for {module}:")?;
                if !missing.is_empty() {
                    write!(f, "\n\tMissing key(s) in state_dict: {}.", quoted(missing))?;
                }
                if !unexpected.is_empty() {
                    write!(
                        f,
                        "\n\tUnexpected key(s) in state_dict: {}.",
                        quoted(unexpected)
                    )?;
                }
                for m in mismatched {
                    write!(
                        f,
                        "\n\tsize mismatch for {}: copying a param with shape {:?} from checkpoint, \
                         the shape in current model is {:?}.",
                        m.key, m.checkpoint, m.model
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for NnError {}
