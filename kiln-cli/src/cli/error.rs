//! The one error type of the command-line tool: every failure the user can cause (a
//! missing file, a corrupt model, an unreadable image) ends as one of these, printed as
//! `error: <one sentence>` with a non-zero exit status.

use kiln::data::DataError;
use kiln::io::IoError;
use std::path::PathBuf;

/// What went wrong in a `kiln` command; `Display` is one clear sentence.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A tensor file could not be read or written.
    #[error("{0}")]
    Io(#[from] IoError),
    /// A data set could not be found, downloaded or parsed.
    #[error("{0}")]
    Data(#[from] DataError),
    /// An input image could not be opened or decoded.
    #[error("cannot read image {}: {reason}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file or directory the command needs could not be accessed.
    #[error("cannot access {}: {source}", path.display())]
    File {
        /// The file or directory.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A model file holds tensors that do not make a classifier kiln can run.
    #[error("{} is not a usable model: {reason}", path.display())]
    BadModel {
        /// The model file.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// A checkpoint file is damaged or was not written by `kiln train`.
    #[error("{} is not a usable checkpoint: {reason}", path.display())]
    BadCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A plot could not be drawn or written.
    #[error("cannot draw {}: {reason}", path.display())]
    Plot {
        /// The image being written.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The options given do not make sense together (clap checks each one alone).
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// A [`CliError::File`] for `path`.
    pub fn file(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CliError::File {
            path: path.into(),
            source,
        }
    }
}
