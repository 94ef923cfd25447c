//! The [`Collate`] trait: how a [`crate::data::DataLoader`] turns the samples of one
//! batch into the value it yields (`collate_fn` in PyTorch).

use super::batch::Collatable;
use super::dataset::Dataset;

/// Turns a list of samples into a batch (PyTorch's `collate_fn`).
///
/// [`DefaultCollate`] batches by sample type (see [`Collatable`]); any closure
/// `Fn(Vec<T>) -> B` is a `Collate<T>` too:
///
/// ```
/// use kiln::data::{DataLoader, TensorDataset};
/// use kiln::Tensor;
/// let ds = TensorDataset::new((Tensor::zeros(&[5, 2]), Tensor::zeros(&[5])));
/// let sizes = DataLoader::new(ds)
///     .batch_size(2)
///     .collate_fn(|samples: Vec<(Tensor, Tensor)>| samples.len());
/// assert_eq!(sizes.iter().collect::<Vec<_>>(), vec![2, 2, 1]);
/// ```
pub trait Collate<T>: Send + Sync {
    /// What the loader yields per batch. It may cross to the loader's thread.
    type Batch: Send + 'static;

    /// Batches `samples` (in loader order).
    fn collate(&self, samples: Vec<T>) -> Self::Batch;

    /// Fetches and batches the samples of `dataset` at `indices`. The default gets each
    /// sample and calls [`Collate::collate`]; an implementation may take a shortcut
    /// that gives the same result.
    fn fetch<D: Dataset<Item = T> + ?Sized>(&self, dataset: &D, indices: &[usize]) -> Self::Batch {
        self.collate(indices.iter().map(|&i| dataset.get(i)).collect())
    }
}

/// PyTorch's `default_collate`: stacks tensors, turns numbers into 1-D tensors and
/// recurses into tuples and `Vec`s (see [`Collatable`]).
///
/// It uses a dataset's [`Dataset::get_batch`] fast path when there is one, so a
/// [`crate::data::TensorDataset`] batch costs one row gather per tensor.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultCollate;

impl<T> Collate<T> for DefaultCollate
where
    T: Collatable,
    T::Batch: Send + 'static,
{
    type Batch = T::Batch;

    fn collate(&self, samples: Vec<T>) -> T::Batch {
        T::collate(samples)
    }

    fn fetch<D: Dataset<Item = T> + ?Sized>(&self, dataset: &D, indices: &[usize]) -> T::Batch {
        dataset
            .get_batch(indices)
            .unwrap_or_else(|| T::collate(indices.iter().map(|&i| dataset.get(i)).collect()))
    }
}

impl<T, B, F> Collate<T> for F
where
    F: Fn(Vec<T>) -> B + Send + Sync,
    B: Send + 'static,
{
    type Batch = B;

    fn collate(&self, samples: Vec<T>) -> B {
        self(samples)
    }
}
