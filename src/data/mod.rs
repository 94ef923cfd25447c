//! Data: datasets, data loaders and transforms (`torch.utils.data`, `torchvision`),
//! over a byte layer of IDX files and verified downloads.
//!
//! ```
//! use kiln::data::{DataLoader, TensorDataset};
//! use kiln::Tensor;
//! let x = Tensor::rand(&[5, 2]);
//! let y = Tensor::from_vec(vec![0i64, 0, 0, 1, 1], &[5]);
//! let loader = DataLoader::new(TensorDataset::new((x, y))).batch_size(2).shuffle(true);
//! assert_eq!(loader.len(), 3);
//! for (features, labels) in &loader {
//!     assert_eq!(features.shape()[0], labels.shape()[0]);
//! }
//! ```

pub mod batch;
pub mod collate;
pub mod dataset;
pub mod datasets;
pub mod distributed;
pub mod download;
pub mod error;
pub mod gather;
pub mod idx;
pub mod loader;
pub mod sampler;
pub mod transforms;
mod workers;

pub use batch::Collatable;
pub use collate::{Collate, DefaultCollate};
pub use dataset::{
    Dataset, Subset, TensorDataset, TensorTuple, random_split, random_split_fractions,
};
pub use datasets::{FashionMnist, Mnist};
pub use distributed::{DistributedSampler, Sampler};
pub use download::{RemoteFile, content_sha256, download_verified, fetch, find_file};
pub use error::DataError;
pub use gather::{index_row, select_rows, stack};
pub use idx::{
    IdxArray, IdxData, IdxType, encode_idx_u8, parse_idx, read_idx, read_idx_prefix, write_idx_u8,
};
pub use loader::DataLoader;
pub use sampler::randperm;
pub use transforms::{Compose, Normalize, ToTensor, Transform, to_tensor};
