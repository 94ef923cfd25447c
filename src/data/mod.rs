//! Byte-level data layer: IDX files, verified downloads and their errors.
//!
//! This module does not depend on the tensor type; dataset loaders build on it.

pub mod download;
pub mod error;
pub mod idx;

pub use download::{RemoteFile, content_sha256, download_verified, fetch, find_file};
pub use error::DataError;
pub use idx::{IdxArray, IdxData, IdxType, encode_idx_u8, parse_idx, read_idx, write_idx_u8};
