//! `torchvision.datasets.MNIST(root=..., train=..., download=..., transform=...)` with
//! named options: [`MnistLike::options`] and [`MnistOptions`].

use super::mnist::{MnistLike, MnistVariant};
use crate::data::error::DataError;
use crate::data::transforms::Transform;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// A deferred `with_transform` call (the transform's type is erased until `load`).
type ApplyTransform<V> = Box<dyn FnOnce(MnistLike<V>) -> MnistLike<V>>;

/// The keyword arguments of `torchvision.datasets.MNIST` (and `FashionMNIST`), set by
/// name, then [`MnistOptions::load`]. Defaults are torchvision's: no root (kiln then
/// searches its usual places, see [`MnistLike::search_dirs`]), `train = true`,
/// `download = false`, no transform.
///
/// ```no_run
/// use kiln::data::datasets::Mnist;
/// use kiln::data::transforms::{Compose, Normalize, ToTensor};
/// let test_set = Mnist::options()
///     .root("data")
///     .train(false)
///     .download(true)
///     .transform(Compose::new().then(ToTensor).then(Normalize::new(&[0.1307], &[0.3081])))
///     .load()?;
/// # Ok::<(), kiln::data::DataError>(())
/// ```
pub struct MnistOptions<V> {
    root: Option<PathBuf>,
    train: bool,
    download: bool,
    transform: Option<ApplyTransform<V>>,
    variant: PhantomData<fn() -> V>,
}

impl<V: MnistVariant> MnistLike<V> {
    /// Named options for loading a split ([`MnistOptions`]), as torchvision's keyword
    /// arguments: `Mnist::options().root("data").train(true).download(true).load()?`.
    pub fn options() -> MnistOptions<V> {
        MnistOptions {
            root: None,
            train: true,
            download: false,
            transform: None,
            variant: PhantomData,
        }
    }
}

impl<V: MnistVariant> MnistOptions<V> {
    /// `root=`: where the files are looked for and downloaded to.
    pub fn root(mut self, root: impl AsRef<Path>) -> Self {
        self.root = Some(root.as_ref().to_path_buf());
        self
    }

    /// `train=`: the training split (`true`, the default) or the test split.
    pub fn train(mut self, train: bool) -> Self {
        self.train = train;
        self
    }

    /// `download=`: fetch the files when they are missing (default `false`).
    pub fn download(mut self, download: bool) -> Self {
        self.download = download;
        self
    }

    /// `transform=`: applied to every image `get` returns ([`MnistLike::with_transform`]).
    pub fn transform(mut self, transform: impl Transform + 'static) -> Self {
        self.transform = Some(Box::new(move |d: MnistLike<V>| d.with_transform(transform)));
        self
    }

    /// Loads the split ([`MnistLike::new`] with these options).
    ///
    /// # Errors
    /// As [`MnistLike::new`]: files missing (and `download` off), a failed download, or
    /// malformed files.
    pub fn load(self) -> Result<MnistLike<V>, DataError> {
        let d = MnistLike::new(self.root.as_deref(), self.train, self.download)?;
        Ok(match self.transform {
            Some(t) => t(d),
            None => d,
        })
    }
}
