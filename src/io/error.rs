//! The typed error for file input and output.

use std::path::PathBuf;

/// What went wrong reading or writing a tensor file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// The operating system refused a read or write.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a valid safetensors file.
    #[error("{path} is not a valid safetensors file: {reason}")]
    Format {
        /// The file (empty for in-memory buffers).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor has an element type kiln does not hold.
    #[error(
        "tensor '{name}' has dtype {dtype}, which kiln cannot load (it holds F32, F64, I64, U8, BOOL)"
    )]
    UnsupportedDtype {
        /// Tensor name.
        name: String,
        /// The dtype as the file names it.
        dtype: String,
    },
    /// A checkpoint or state dict does not fit what it is loaded into.
    #[error("{0}")]
    Mismatch(String),
    /// A valid safetensors file that is not a valid kiln checkpoint.
    #[error("{path} is not a valid kiln checkpoint: {reason}")]
    Checkpoint {
        /// The file (`<memory>` for in-memory buffers).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The bytes are not a valid PyTorch (`torch.save`) file.
    #[error("{path} is not a valid PyTorch file: {reason}")]
    PtFormat {
        /// The file (`<memory>` for in-memory buffers).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The pickle names a global that `torch.load(weights_only=True)` refuses: loading
    /// it in PyTorch without `weights_only` could run arbitrary code. Nothing was run.
    #[error(
        "{path}: refusing to load global {global}, which torch.load(weights_only=True) also refuses (it could run code); kiln runs no code from a file"
    )]
    ForbiddenGlobal {
        /// The file.
        path: PathBuf,
        /// `module.name` of the global (`posix.system`, `builtins.eval`, ...).
        global: String,
    },
    /// A valid PyTorch file with something kiln does not load (a quantized or sparse
    /// tensor, a complex number, the legacy pre-1.6 format, ...).
    #[error("{path}: {what} is not supported by kiln")]
    PtUnsupported {
        /// The file.
        path: PathBuf,
        /// What kiln met.
        what: String,
    },
    /// The model refused the checkpoint's state dict (keys and shapes named).
    #[error(transparent)]
    Model(#[from] crate::nn::NnError),
    /// The optimizer or scheduler refused the checkpoint's state.
    #[error(transparent)]
    Optimizer(#[from] crate::optim::OptimError),
    /// The path is not a regular file (a directory, FIFO, device...), so it is not read.
    #[error("{path} is {kind}, not a file kiln reads")]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is ("a directory", "a FIFO", "a device").
        kind: &'static str,
    },
    /// The file is larger than the limit it is read under.
    #[error("{path} is {bytes} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
}

impl IoError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        IoError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
