//! Reading and writing tensors to files: safetensors weights, atomic writes.
//!
//! Everything here returns [`IoError`] and never panics, whatever the bytes on disk.

pub mod atomic;
pub mod error;
pub mod safetensors_file;

pub use atomic::atomic_write;
pub use error::IoError;
pub use safetensors_file::{
    load_safetensors, parse_safetensors, save_safetensors, serialize_safetensors,
};
