//! Ready-made datasets: [`Mnist`] and [`FashionMnist`] (`torchvision.datasets`), and
//! how their files are found on disk or downloaded.

pub mod locate;
pub mod mnist;
pub mod mnist_options;

pub use locate::{DATA_ENV, SYSTEM_DATA_DIR, download_dirs, search_dirs};
pub use mnist::{Digits, Fashion, FashionMnist, Mnist, MnistLike, MnistVariant};
pub use mnist_options::MnistOptions;
