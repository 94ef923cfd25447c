//! The [`Dataset`] trait and the generic datasets built on it: [`TensorDataset`],
//! [`Subset`] and [`random_split`].

use std::sync::Arc;

use super::batch::Collatable;
use super::gather::{index_row, select_rows};
use super::sampler::randperm;
use crate::tensor::Tensor;
use crate::tensor::random::Generator;

/// A map-style dataset: `len()` samples, each fetched by index
/// (`torch.utils.data.Dataset` with `__len__` and `__getitem__`).
///
/// ```
/// use kiln::data::{DataLoader, Dataset};
/// use kiln::Tensor;
///
/// struct Squares;
/// impl Dataset for Squares {
///     type Item = (Tensor, i64);
///     fn len(&self) -> usize { 4 }
///     fn get(&self, i: usize) -> (Tensor, i64) {
///         (Tensor::from_vec(vec![i as f32], &[1]), (i * i) as i64)
///     }
/// }
///
/// let loader = DataLoader::new(Squares).batch_size(3);
/// let sizes: Vec<Vec<usize>> = loader.iter().map(|(x, _)| x.size().to_vec()).collect();
/// assert_eq!(sizes, vec![vec![3, 1], vec![1, 1]]);
/// ```
///
/// Datasets are shared with the loader's worker threads, hence `Send + Sync`.
pub trait Dataset: Send + Sync {
    /// One sample, e.g. `(features, label)`.
    type Item;

    /// Number of samples (`len(dataset)`).
    fn len(&self) -> usize;

    /// Sample `index` (`dataset[index]`); panics if `index >= len()`.
    fn get(&self, index: usize) -> Self::Item;

    /// Whether the dataset has no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Optional fast path for [`crate::data::DefaultCollate`]: the samples at `indices`
    /// already batched, e.g. with one row gather per tensor instead of `get` + stack.
    ///
    /// When it returns `Some`, the value must equal
    /// `Collatable::collate(indices.iter().map(|&i| self.get(i)).collect())`.
    /// The default returns `None`, which makes the loader fall back to exactly that.
    fn get_batch(&self, indices: &[usize]) -> Option<<Self::Item as Collatable>::Batch>
    where
        Self::Item: Collatable,
    {
        let _ = indices;
        None
    }
}

impl<D: Dataset + ?Sized> Dataset for Arc<D> {
    type Item = D::Item;

    fn len(&self) -> usize {
        (**self).len()
    }

    fn get(&self, index: usize) -> D::Item {
        (**self).get(index)
    }

    fn get_batch(&self, indices: &[usize]) -> Option<<D::Item as Collatable>::Batch>
    where
        D::Item: Collatable,
    {
        (**self).get_batch(indices)
    }
}

/// The tensors a [`TensorDataset`] holds: one [`Tensor`], a tuple of two or three, or a
/// `Vec` of any number. A sample (and a batch) has the same form.
pub trait TensorTuple: Collatable<Batch = Self> + Clone + Send + Sync {
    /// The tensors, in order.
    fn tensors(&self) -> Vec<&Tensor>;

    /// The same form with every tensor replaced by `f(tensor)`.
    fn map(&self, f: impl FnMut(&Tensor) -> Tensor) -> Self;
}

impl TensorTuple for Tensor {
    fn tensors(&self) -> Vec<&Tensor> {
        vec![self]
    }

    fn map(&self, mut f: impl FnMut(&Tensor) -> Tensor) -> Self {
        f(self)
    }
}

impl TensorTuple for (Tensor, Tensor) {
    fn tensors(&self) -> Vec<&Tensor> {
        vec![&self.0, &self.1]
    }

    fn map(&self, mut f: impl FnMut(&Tensor) -> Tensor) -> Self {
        (f(&self.0), f(&self.1))
    }
}

impl TensorTuple for (Tensor, Tensor, Tensor) {
    fn tensors(&self) -> Vec<&Tensor> {
        vec![&self.0, &self.1, &self.2]
    }

    fn map(&self, mut f: impl FnMut(&Tensor) -> Tensor) -> Self {
        (f(&self.0), f(&self.1), f(&self.2))
    }
}

impl TensorTuple for Vec<Tensor> {
    fn tensors(&self) -> Vec<&Tensor> {
        self.iter().collect()
    }

    fn map(&self, f: impl FnMut(&Tensor) -> Tensor) -> Self {
        self.iter().map(f).collect()
    }
}

/// Samples are the rows (first-dimension entries) of several tensors of equal length
/// (`torch.utils.data.TensorDataset(features, labels)`).
///
/// The tensors are made contiguous and detached once at construction, so a batch is
/// gathered with one row copy per tensor ([`Dataset::get_batch`]). Samples and batches
/// carry no autograd history.
///
/// ```
/// use kiln::data::{Dataset, TensorDataset};
/// use kiln::Tensor;
/// let ds = TensorDataset::new((Tensor::zeros(&[5, 2]), Tensor::from_vec(vec![0i64, 0, 0, 1, 1], &[5])));
/// let (x, y) = ds.get(3);
/// assert_eq!((x.shape(), y.item()), (&[2usize][..], 1.0));
/// ```
#[derive(Clone, Debug)]
pub struct TensorDataset<T = (Tensor, Tensor)> {
    tensors: T,
    len: usize,
}

impl<T: TensorTuple> TensorDataset<T> {
    /// A dataset over `tensors`, which must all have the same first dimension.
    ///
    /// Panics on a 0-d tensor, an empty `Vec`, or differing first dimensions
    /// ("Size mismatch between tensors", as in PyTorch).
    pub fn new(tensors: T) -> Self {
        let all = tensors.tensors();
        assert!(
            !all.is_empty(),
            "TensorDataset: at least one tensor is needed"
        );
        let sizes: Vec<Vec<usize>> = all.iter().map(|t| t.size().to_vec()).collect();
        assert!(
            sizes.iter().all(|s| !s.is_empty()),
            "TensorDataset: every tensor needs a first dimension, got shapes {sizes:?}"
        );
        let len = sizes[0][0];
        assert!(
            sizes.iter().all(|s| s[0] == len),
            "TensorDataset: Size mismatch between tensors (shapes {sizes:?})"
        );
        let tensors = tensors.map(|t| t.detach().contiguous());
        TensorDataset { tensors, len }
    }

    /// The whole tensors.
    pub fn tensors(&self) -> &T {
        &self.tensors
    }
}

impl<T: TensorTuple> Dataset for TensorDataset<T> {
    type Item = T;

    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, index: usize) -> T {
        self.tensors.map(|t| index_row(t, index))
    }

    fn get_batch(&self, indices: &[usize]) -> Option<T> {
        Some(self.tensors.map(|t| select_rows(t, indices)))
    }
}

/// The samples of `dataset` at `indices`, in that order (`torch.utils.data.Subset`).
#[derive(Clone, Debug)]
pub struct Subset<D> {
    dataset: Arc<D>,
    indices: Vec<usize>,
}

impl<D: Dataset> Subset<D> {
    /// A view of `dataset` restricted to `indices`. Panics if an index is out of range.
    pub fn new(dataset: Arc<D>, indices: Vec<usize>) -> Self {
        let n = dataset.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            panic!("Subset: index {bad} is out of range for a dataset of length {n}");
        }
        Subset { dataset, indices }
    }

    /// The indices into the underlying dataset.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The underlying dataset.
    pub fn dataset(&self) -> &Arc<D> {
        &self.dataset
    }
}

impl<D: Dataset> Dataset for Subset<D> {
    type Item = D::Item;

    fn len(&self) -> usize {
        self.indices.len()
    }

    fn get(&self, index: usize) -> D::Item {
        self.dataset.get(self.indices[index])
    }

    fn get_batch(&self, indices: &[usize]) -> Option<<D::Item as Collatable>::Batch>
    where
        D::Item: Collatable,
    {
        let mapped: Vec<usize> = indices.iter().map(|&i| self.indices[i]).collect();
        self.dataset.get_batch(&mapped)
    }
}

/// Splits `dataset` into non-overlapping random subsets of the given lengths
/// (`torch.utils.data.random_split(dataset, lengths, generator)`).
///
/// The samples are shuffled with one permutation of `0..len` drawn from `generator`
/// and cut in order: subset `k` takes the next `lengths[k]` indices. The permutation is
/// `torch.randperm(len, generator=generator)`, so the subsets hold the same indices as
/// PyTorch's for a generator in the same state. PyTorch's default (`generator` omitted)
/// is the default generator: `kiln::tensor::random::with_global(|g| random_split(ds, lengths, g))`.
/// Panics, like PyTorch's `ValueError`, if the lengths do not sum to `dataset.len()`.
pub fn random_split<D: Dataset>(
    dataset: D,
    lengths: &[usize],
    generator: &mut Generator,
) -> Vec<Subset<D>> {
    let total: usize = lengths.iter().sum();
    assert_eq!(
        total,
        dataset.len(),
        "random_split: Sum of input lengths does not equal the length of the input dataset!"
    );
    let perm = randperm(total, generator);
    let dataset = Arc::new(dataset);
    let mut start = 0;
    lengths
        .iter()
        .map(|&len| {
            let indices = perm[start..start + len].to_vec();
            start += len;
            Subset::new(Arc::clone(&dataset), indices)
        })
        .collect()
}

/// [`random_split`] with fractions summing to 1, sized as PyTorch does: each split gets
/// `floor(len * fraction)` samples and the remainder is dealt one by one, round-robin,
/// from the first split on.
///
/// Panics if a fraction is outside `[0, 1]` or the fractions do not sum to 1.
pub fn random_split_fractions<D: Dataset>(
    dataset: D,
    fractions: &[f64],
    generator: &mut Generator,
) -> Vec<Subset<D>> {
    let sum: f64 = fractions.iter().sum();
    assert!(
        (sum - 1.0).abs() <= 1e-9 && sum <= 1.0 + 1e-9,
        "random_split: fractions must sum to 1, got {fractions:?} (sum {sum})"
    );
    let n = dataset.len();
    let mut lengths: Vec<usize> = fractions
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            assert!(
                (0.0..=1.0).contains(&f),
                "random_split: Fraction at index {i} is not between 0 and 1"
            );
            (n as f64 * f).floor() as usize
        })
        .collect();
    let remainder = n - lengths.iter().sum::<usize>();
    let k = lengths.len();
    for i in 0..remainder {
        lengths[i % k] += 1;
    }
    random_split(dataset, &lengths, generator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(n: usize) -> TensorDataset<(Tensor, Tensor)> {
        TensorDataset::new((
            Tensor::from_vec((0..2 * n).map(|v| v as f32).collect(), &[n, 2]),
            Tensor::from_vec((0..n as i64).collect(), &[n]),
        ))
    }

    #[test]
    fn tensor_dataset_rows_and_batches_agree() {
        let d = ds(5);
        assert_eq!(d.len(), 5);
        let (x, y) = d.get(2);
        assert_eq!(x.to_vec::<f32>(), vec![4.0, 5.0]);
        assert_eq!(y.item(), 2.0);
        let (bx, by) = d.get_batch(&[4, 1]).unwrap();
        let (cx, cy) = <(Tensor, Tensor)>::collate(vec![d.get(4), d.get(1)]);
        assert_eq!(bx.to_vec::<f32>(), cx.to_vec::<f32>());
        assert_eq!(bx.shape(), cx.shape());
        assert_eq!(by.to_vec::<i64>(), cy.to_vec::<i64>());
    }

    #[test]
    #[should_panic(expected = "Size mismatch between tensors")]
    fn tensor_dataset_checks_lengths() {
        TensorDataset::new((Tensor::zeros(&[3, 2]), Tensor::zeros(&[4])));
    }

    #[test]
    fn random_split_partitions_the_dataset() {
        let parts = random_split(ds(10), &[7, 3], &mut Generator::new(1));
        assert_eq!(parts[0].len(), 7);
        assert_eq!(parts[1].len(), 3);
        let mut all: Vec<usize> = parts.iter().flat_map(|p| p.indices().to_vec()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        let (_, y) = parts[1].get(0);
        assert_eq!(y.item() as usize, parts[1].indices()[0]);
        let again = random_split(ds(10), &[7, 3], &mut Generator::new(1));
        assert_eq!(again[0].indices(), parts[0].indices());
    }

    #[test]
    fn random_split_fractions_deal_the_remainder_round_robin() {
        let parts = random_split_fractions(ds(10), &[0.33, 0.33, 0.34], &mut Generator::new(0));
        let lens: Vec<usize> = parts.iter().map(Dataset::len).collect();
        // floor gives 3, 3, 3; the one left over goes to the first split.
        assert_eq!(lens, vec![4, 3, 3]);
    }

    #[test]
    #[should_panic(expected = "Sum of input lengths does not equal")]
    fn random_split_checks_the_sum() {
        random_split(ds(4), &[1, 2], &mut Generator::new(0));
    }
}
