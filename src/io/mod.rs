//! Reading and writing tensors to files: safetensors and PyTorch (`torch.save`) weights
//! with PyTorch's key names, chosen by extension; full training checkpoints; atomic writes.
//!
//! Everything here returns [`IoError`] and never panics, whatever the bytes on disk.

pub mod atomic;
pub mod bounded_read;
pub mod checkpoint;
pub mod convert;
pub mod error;
pub mod format;
pub mod pt;
pub mod safetensors_file;
pub mod state_dict;

pub use atomic::atomic_write;
pub use bounded_read::{
    DEFAULT_MAX_FILE_BYTES, open_regular, read_safetensors_bytes, read_weights_file,
};
pub use checkpoint::Checkpoint;
pub use convert::{Converted, convert};
pub use error::IoError;
pub use format::FileFormat;
pub use pt::{
    PtValue, load_pt, load_pt_state_dict, parse_pt, save_pt, save_pt_state_dict, serialize_pt,
};
pub use safetensors_file::{
    load_safetensors, parse_safetensors, save_safetensors, serialize_safetensors,
};
pub use state_dict::{load, load_state_dict_file, parse_state_dict, save, save_state_dict};
