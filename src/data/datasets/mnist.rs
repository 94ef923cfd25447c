//! MNIST and Fashion-MNIST (`torchvision.datasets.MNIST` / `FashionMNIST`).

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::locate::{download_dirs, download_into, find_all, search_dirs};
use crate::data::batch::Collatable;
use crate::data::dataset::{Dataset, TensorDataset};
use crate::data::download::{
    FASHION_MNIST_FILES, FASHION_MNIST_MIRRORS, MNIST_FILES, MNIST_MIRRORS, RemoteFile,
};
use crate::data::error::DataError;
use crate::data::gather::{index_row, select_rows};
use crate::data::idx::{IdxArray, IdxType, read_idx_prefix};
use crate::data::transforms::{Transform, pixel_table};
use crate::tensor::Tensor;
use crate::tensor::kernels::copy;

/// Image side length in pixels.
pub const SIDE: usize = 28;

/// Number of classes.
pub const NUM_CLASSES: usize = 10;

/// What tells MNIST and Fashion-MNIST apart: names, files and classes.
pub trait MnistVariant: Send + Sync + 'static {
    /// Folder name under a data directory, e.g. `mnist`.
    const NAME: &'static str;
    /// Display name, e.g. `MNIST`.
    const TITLE: &'static str;
    /// torchvision's folder name (`root/<dir>/raw` holds the files).
    const TORCHVISION_DIR: &'static str;
    /// Train images, train labels, test images, test labels.
    const FILES: [RemoteFile; 4];
    /// Download mirrors, in order.
    const MIRRORS: &'static [&'static str];
    /// Class names, indexed by label.
    const CLASSES: [&'static str; NUM_CLASSES];
}

/// Handwritten digits (LeCun, Cortes and Burges).
#[derive(Clone, Copy, Debug)]
pub struct Digits;

impl MnistVariant for Digits {
    const NAME: &'static str = "mnist";
    const TITLE: &'static str = "MNIST";
    const TORCHVISION_DIR: &'static str = "MNIST";
    const FILES: [RemoteFile; 4] = MNIST_FILES;
    const MIRRORS: &'static [&'static str] = MNIST_MIRRORS;
    const CLASSES: [&'static str; NUM_CLASSES] = [
        "0 - zero",
        "1 - one",
        "2 - two",
        "3 - three",
        "4 - four",
        "5 - five",
        "6 - six",
        "7 - seven",
        "8 - eight",
        "9 - nine",
    ];
}

/// Zalando's Fashion-MNIST clothing images.
#[derive(Clone, Copy, Debug)]
pub struct Fashion;

impl MnistVariant for Fashion {
    const NAME: &'static str = "fashion-mnist";
    const TITLE: &'static str = "Fashion-MNIST";
    const TORCHVISION_DIR: &'static str = "FashionMNIST";
    const FILES: [RemoteFile; 4] = FASHION_MNIST_FILES;
    const MIRRORS: &'static [&'static str] = FASHION_MNIST_MIRRORS;
    const CLASSES: [&'static str; NUM_CLASSES] = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ];
}

/// The MNIST digits: 60,000 training and 10,000 test images of 28×28 pixels.
pub type Mnist = MnistLike<Digits>;

/// Fashion-MNIST: 60,000 training and 10,000 test clothing images of 28×28 pixels.
pub type FashionMnist = MnistLike<Fashion>;

/// One split of MNIST or Fashion-MNIST, held in memory as tensors: images `u8
/// [N, 28, 28]` and labels `i64 [N]`.
///
/// As a [`Dataset`] a sample is `(image, label)`: the `u8 [28, 28]` image passed through
/// the transform if one is set (`with_transform`), and the label as `i64`. For training,
/// [`MnistLike::into_tensor_dataset`] converts everything once up front, which makes
/// batches nearly free. Cloning is cheap: clones share the tensors.
pub struct MnistLike<V> {
    images: Tensor,
    labels: Tensor,
    transform: Option<Arc<dyn Transform>>,
    variant: PhantomData<fn() -> V>,
}

fn type_name(t: IdxType) -> String {
    format!("{t:?}").to_lowercase()
}

/// Checks an IDX array is `u8` with `dims.len() == rank` and trailing dims `tail`.
fn check_u8(
    a: IdxArray,
    rank: usize,
    tail: &[usize],
    expected: &str,
) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let ty = a.data.idx_type();
    if ty != IdxType::U8 {
        return Err(DataError::WrongElementType {
            expected: "u8".into(),
            got: type_name(ty),
        });
    }
    if a.dims.len() != rank || a.dims[1..] != *tail {
        return Err(DataError::BadDims {
            expected: expected.into(),
            got: a.dims,
        });
    }
    let dims = a.dims.clone();
    Ok((dims, a.into_u8().unwrap_or_default()))
}

impl<V: MnistVariant> MnistLike<V> {
    /// Loads the training (`train = true`) or test split, like
    /// `torchvision.datasets.MNIST(root, train, download=download)`.
    ///
    /// The files are searched in [`MnistLike::search_dirs`]`(root)`, gzipped or not.
    /// If they are missing and `download` is true they are fetched, verified, into
    /// `root/<name>` (or `$KILN_DATA/<name>`, else `./data/<name>`: the first writable
    /// one). Otherwise the error is [`DataError::DatasetNotFound`], listing the places
    /// searched. Malformed files give typed errors (see [`MnistLike::from_files`]).
    pub fn new(root: Option<&Path>, train: bool, download: bool) -> Result<Self, DataError> {
        Self::new_prefix(root, train, download, usize::MAX).map(|(d, _)| d)
    }

    /// [`MnistLike::new`] reading only the first `max_items` samples of the split, so
    /// that a file whose header declares far more costs only what is asked for. Returns
    /// the dataset and the number of samples its files declare.
    pub fn new_prefix(
        root: Option<&Path>,
        train: bool,
        download: bool,
        max_items: usize,
    ) -> Result<(Self, usize), DataError> {
        let wanted = Self::remote_files(train);
        let names: Vec<&str> = wanted.iter().map(|f| f.name).collect();
        let dirs = Self::search_dirs(root);
        let paths = match find_all(&dirs, &names)? {
            Some(paths) => paths,
            None if download => {
                download_into(V::TITLE, &download_dirs(root, V::NAME), &wanted, V::MIRRORS)?
            }
            None => {
                let split = if train { "train" } else { "test" };
                return Err(DataError::DatasetNotFound {
                    dataset: format!("{} ({split})", V::TITLE),
                    files: names.iter().map(|n| n.to_string()).collect(),
                    searched: dirs,
                });
            }
        };
        Self::from_files_prefix(&paths[0], &paths[1], max_items)
    }

    /// The directories [`MnistLike::new`] searches, in order (see
    /// [`crate::data::datasets::search_dirs`]).
    pub fn search_dirs(root: Option<&Path>) -> Vec<PathBuf> {
        search_dirs(root, V::NAME, V::TORCHVISION_DIR)
    }

    /// The image and label files of a split.
    pub fn remote_files(train: bool) -> [RemoteFile; 2] {
        let f = V::FILES;
        if train { [f[0], f[1]] } else { [f[2], f[3]] }
    }

    /// Loads a split from an image file and a label file (IDX, gzipped or not).
    ///
    /// Fails with a typed [`DataError`] if either file cannot be read or parsed, is
    /// not `u8`, the images are not `N×28×28` or the labels not `N`, the counts
    /// differ ([`DataError::LengthMismatch`]) or a label is 10 or more
    /// ([`DataError::LabelOutOfRange`]). File-specific errors are wrapped in
    /// [`DataError::InFile`] naming the file.
    pub fn from_files(images: &Path, labels: &Path) -> Result<Self, DataError> {
        Self::from_files_prefix(images, labels, usize::MAX).map(|(d, _)| d)
    }

    /// [`MnistLike::from_files`] reading only the first `max_items` samples (see
    /// [`read_idx_prefix`]); also returns the number of samples the files declare.
    pub fn from_files_prefix(
        images: &Path,
        labels: &Path,
        max_items: usize,
    ) -> Result<(Self, usize), DataError> {
        let img_dims = format!("N×{SIDE}×{SIDE}");
        let (img, declared) = read_idx_prefix(images, max_items)?;
        let (dims, pixels) =
            check_u8(img, 3, &[SIDE, SIDE], &img_dims).map_err(|e| e.in_file(images))?;
        let (lab, ldeclared) = read_idx_prefix(labels, max_items)?;
        let (ldims, raw_labels) = check_u8(lab, 1, &[], "N").map_err(|e| e.in_file(labels))?;
        if declared != ldeclared {
            return Err(DataError::LengthMismatch {
                images_path: images.to_path_buf(),
                images: declared,
                labels_path: labels.to_path_buf(),
                labels: ldeclared,
            });
        }
        if let Some((index, &label)) = raw_labels
            .iter()
            .enumerate()
            .find(|&(_, &l)| usize::from(l) >= NUM_CLASSES)
        {
            let e = DataError::LabelOutOfRange {
                index,
                label: u64::from(label),
                classes: NUM_CLASSES,
            };
            return Err(e.in_file(labels));
        }
        let labels: Vec<i64> = raw_labels.into_iter().map(i64::from).collect();
        let data = Self::from_tensors(
            Tensor::from_vec(pixels, &dims),
            Tensor::from_vec(labels, &ldims),
        );
        Ok((data, declared))
    }

    fn from_tensors(images: Tensor, labels: Tensor) -> Self {
        MnistLike {
            images,
            labels,
            transform: None,
            variant: PhantomData,
        }
    }

    /// Applies `transform` to every image `get` returns (torchvision's `transform=`),
    /// e.g. `Compose::new().then(ToTensor).then(Normalize::new(&[0.1307], &[0.3081]))`.
    pub fn with_transform(mut self, transform: impl Transform + 'static) -> Self {
        self.transform = Some(Arc::new(transform));
        self
    }

    /// All images, `u8 [N, 28, 28]`.
    pub fn images(&self) -> &Tensor {
        &self.images
    }

    /// All labels, `i64 [N]`.
    pub fn labels(&self) -> &Tensor {
        &self.labels
    }

    /// The class names, indexed by label.
    pub fn classes() -> &'static [&'static str; NUM_CLASSES] {
        &V::CLASSES
    }

    /// All images as `f32 [N, 784]` in `[0, 1]`, or normalized with `(mean, std)`:
    /// bit-identical to `ToTensor` then `Normalize([mean], [std])` on each image, and
    /// computed through a 256-entry table in one parallel pass.
    pub fn float_images(&self, normalize: Option<(f64, f64)>) -> Tensor {
        let table = pixel_table(normalize);
        copy::byte_table(&self.images, &table, &[self.images.shape()[0], SIDE * SIDE])
    }

    /// The split as a [`TensorDataset`] of `(images f32 [N, 1, 28, 28], labels i64 [N])`,
    /// converted once with [`MnistLike::float_images`]: the same samples the tutorial's
    /// `ToTensor` + `Normalize((mean,), (std,))` pipeline gives, but batches are gathered
    /// with one copy instead of per-image transforms.
    pub fn into_tensor_dataset(self, normalize: Option<(f64, f64)>) -> TensorDataset {
        let n = self.images.shape()[0];
        let x = self.float_images(normalize).reshape(&[n, 1, SIDE, SIDE]);
        TensorDataset::new((x, self.labels))
    }
}

impl<V: MnistVariant> Dataset for MnistLike<V> {
    type Item = (Tensor, i64);

    fn len(&self) -> usize {
        self.labels.shape()[0]
    }

    fn get(&self, index: usize) -> (Tensor, i64) {
        let image = index_row(&self.images, index);
        let image = match &self.transform {
            Some(t) => t.apply(&image),
            None => image,
        };
        (image, index_row(&self.labels, index).item() as i64)
    }

    fn get_batch(&self, indices: &[usize]) -> Option<<(Tensor, i64) as Collatable>::Batch> {
        // A transform may change shapes per image, so only raw images are gathered here.
        self.transform.is_none().then(|| {
            (
                select_rows(&self.images, indices),
                select_rows(&self.labels, indices),
            )
        })
    }
}

impl<V> Clone for MnistLike<V> {
    fn clone(&self) -> Self {
        MnistLike {
            images: self.images.shallow_clone(),
            labels: self.labels.shallow_clone(),
            transform: self.transform.clone(),
            variant: PhantomData,
        }
    }
}

impl<V: MnistVariant> fmt::Debug for MnistLike<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {{ samples: {}, transform: {} }}",
            V::TITLE,
            self.labels.shape()[0],
            self.transform.is_some()
        )
    }
}
