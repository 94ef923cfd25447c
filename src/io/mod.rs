//! Reading and writing tensors to files: safetensors weights with PyTorch's key names,
//! full training checkpoints, atomic writes.
//!
//! Everything here returns [`IoError`] and never panics, whatever the bytes on disk.

pub mod atomic;
pub mod bounded_read;
pub mod checkpoint;
pub mod error;
pub mod safetensors_file;
pub mod state_dict;

pub use atomic::atomic_write;
pub use bounded_read::{DEFAULT_MAX_FILE_BYTES, open_regular, read_safetensors_bytes};
pub use checkpoint::Checkpoint;
pub use error::IoError;
pub use safetensors_file::{
    load_safetensors, parse_safetensors, save_safetensors, serialize_safetensors,
};
pub use state_dict::{load_state_dict_file, save_state_dict};
