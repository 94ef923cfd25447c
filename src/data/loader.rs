//! [`DataLoader`]: batches, shuffling and background prefetching over a [`Dataset`]
//! (`torch.utils.data.DataLoader`).

use std::sync::Arc;

use parking_lot::Mutex;

use super::collate::{Collate, DefaultCollate};
use super::dataset::Dataset;
use super::distributed::Sampler;
use super::sampler::{EpochPlan, num_batches, random_seed, randperm};
use super::workers::Workers;
use crate::tensor::random::{Generator, with_global};

/// Iterates over a dataset in batches, like `torch.utils.data.DataLoader`.
///
/// Options are set builder-style and match PyTorch's defaults: `batch_size` 1, no
/// shuffling, the incomplete last batch kept, `num_workers` 0 (batches are built on the
/// calling thread), `prefetch_factor` 2.
///
/// ```
/// use kiln::data::{DataLoader, TensorDataset};
/// use kiln::{Generator, Tensor};
///
/// let x = Tensor::rand(&[10, 3]);
/// let y = Tensor::from_vec((0..10i64).collect(), &[10]);
/// let loader = DataLoader::new(TensorDataset::new((x, y)))
///     .batch_size(4)
///     .shuffle(true)
///     .generator(Generator::new(123));
/// assert_eq!(loader.len(), 3);
/// for (features, labels) in &loader {
///     assert_eq!(features.shape()[1], 3);
///     assert_eq!(features.shape()[0], labels.shape()[0]);
/// }
/// ```
///
/// Each call to [`DataLoader::iter`] is one epoch. With `shuffle(true)` every epoch
/// draws a fresh permutation, so epochs differ but a run is reproducible. With
/// `num_workers(n)`, `n` threads build batches ahead of time; the batches and their order
/// are the same for every `n`.
///
/// The batch order is PyTorch's for the same seed, epoch after epoch, and the loader
/// consumes the same draws from the generators as `torch.utils.data.DataLoader`, so the
/// random numbers drawn after (or between) epochs agree too:
///
/// * every epoch first draws a base seed (`random_()` on an int64 scalar, PyTorch's
///   worker seed) from the loader's generator, or from the default generator when none
///   was given — also without shuffling;
/// * without a generator, shuffling draws a second seed from the default generator
///   (seeded by [`crate::manual_seed`]), seeds a fresh [`Generator`] with it and takes
///   `randperm(n)` from that (PyTorch's `RandomSampler` with `generator=None`);
/// * with [`DataLoader::generator`] or [`DataLoader::seed`], the permutation comes from
///   that generator, and when the epoch runs out (as PyTorch's sampler does at its last
///   batch) it draws one more, discarded, permutation from it.
///
/// PyTorch draws the sampler's seed lazily, at the first batch; kiln draws it when the
/// epoch starts, which differs only if the program draws from the default generator
/// between starting an epoch and taking its first batch.
pub struct DataLoader<D, C = DefaultCollate> {
    dataset: Arc<D>,
    collate: Arc<C>,
    batch_size: usize,
    shuffle: bool,
    drop_last: bool,
    num_workers: usize,
    prefetch_factor: usize,
    generator: Option<Arc<Mutex<Generator>>>,
    sampler: Option<Arc<dyn Sampler>>,
}

impl<D: Dataset> DataLoader<D> {
    /// A loader over `dataset` with PyTorch's default options. To share a dataset
    /// between loaders, pass an `Arc<D>` (which is a `Dataset` too).
    pub fn new(dataset: D) -> Self {
        DataLoader {
            dataset: Arc::new(dataset),
            collate: Arc::new(DefaultCollate),
            batch_size: 1,
            shuffle: false,
            drop_last: false,
            num_workers: 0,
            prefetch_factor: 2,
            generator: None,
            sampler: None,
        }
    }
}

impl<D: Dataset, C> DataLoader<D, C> {
    /// Samples per batch (default 1). Panics if zero.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        assert!(
            batch_size > 0,
            "DataLoader: batch_size should be a positive integer value, but got batch_size=0"
        );
        self.batch_size = batch_size;
        self
    }

    /// Whether to visit the samples in a new random order every epoch (default false).
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Whether to drop the last batch when it is smaller than `batch_size` (default false).
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Number of background threads building batches (default 0: build them on the
    /// calling thread when asked for).
    pub fn num_workers(mut self, num_workers: usize) -> Self {
        self.num_workers = num_workers;
        self
    }

    /// Batches each worker may have in flight (default 2). Panics if zero.
    pub fn prefetch_factor(mut self, prefetch_factor: usize) -> Self {
        assert!(
            prefetch_factor > 0,
            "DataLoader: prefetch_factor should be a positive integer, but got 0"
        );
        self.prefetch_factor = prefetch_factor;
        self
    }

    /// The generator shuffling draws from (PyTorch's `generator=`). Without one the
    /// default generator is used.
    pub fn generator(mut self, generator: Generator) -> Self {
        self.generator = Some(Arc::new(Mutex::new(generator)));
        self
    }

    /// Shorthand for `generator(Generator::new(seed))`.
    pub fn seed(self, seed: u64) -> Self {
        self.generator(Generator::new(seed))
    }

    /// Takes each epoch's sample order from `sampler` (PyTorch's `sampler=`), for example
    /// a [`super::DistributedSampler`]. The loader still draws its per-epoch base seed as
    /// PyTorch's does. Panics if combined with `shuffle(true)`, as PyTorch raises.
    pub fn sampler(mut self, sampler: impl Sampler + 'static) -> Self {
        self.sampler = Some(Arc::new(sampler));
        self
    }

    /// Replaces how samples are batched (PyTorch's `collate_fn=`).
    pub fn collate_fn<C2: Collate<D::Item>>(self, collate: C2) -> DataLoader<D, C2> {
        DataLoader {
            dataset: self.dataset,
            collate: Arc::new(collate),
            batch_size: self.batch_size,
            shuffle: self.shuffle,
            drop_last: self.drop_last,
            num_workers: self.num_workers,
            prefetch_factor: self.prefetch_factor,
            generator: self.generator,
            sampler: self.sampler,
        }
    }

    /// Number of batches per epoch (`len(loader)`).
    pub fn len(&self) -> usize {
        num_batches(self.epoch_len(), self.batch_size, self.drop_last)
    }

    /// Whether an epoch yields no batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dataset.
    pub fn dataset(&self) -> &Arc<D> {
        &self.dataset
    }

    /// Samples per epoch: the sampler's length, else the dataset's.
    fn epoch_len(&self) -> usize {
        match &self.sampler {
            Some(s) => s.len(),
            None => self.dataset.len(),
        }
    }

    /// This epoch's sample order, drawn as `iter(loader)` and its sampler draw it in
    /// PyTorch: the base seed, then (when shuffling) the permutation.
    fn epoch_order(&self) -> Vec<usize> {
        let n = self.dataset.len();
        match &self.generator {
            Some(g) => random_seed(&mut g.lock()),
            None => with_global(random_seed),
        };
        if let Some(sampler) = &self.sampler {
            assert!(
                !self.shuffle,
                "DataLoader: sampler option is mutually exclusive with shuffle"
            );
            return sampler.indices();
        }
        if !self.shuffle {
            return (0..n).collect();
        }
        match &self.generator {
            Some(g) => randperm(n, &mut g.lock()),
            None => {
                let seed = with_global(random_seed);
                randperm(n, &mut Generator::new(seed))
            }
        }
    }

    /// When shuffling with the loader's own generator, the batch at which PyTorch's
    /// `RandomSampler` runs out and draws its discarded extra permutation: the last batch
    /// when it is incomplete and kept, else the request past the last batch.
    fn trailing_draw(&self, plan: &EpochPlan) -> Option<TrailingDraw> {
        if self.sampler.is_some() {
            return None;
        }
        let generator = Arc::clone(self.generator.as_ref().filter(|_| self.shuffle)?);
        let n = self.dataset.len();
        let at = if !self.drop_last && !n.is_multiple_of(self.batch_size) {
            plan.len() - 1
        } else {
            plan.len()
        };
        Some(TrailingDraw { generator, n, at })
    }
}

impl<D, C> DataLoader<D, C>
where
    D: Dataset + 'static,
    C: Collate<D::Item> + 'static,
{
    /// Starts an epoch: an iterator over its batches. With workers, they start
    /// building batches right away and are stopped when the iterator is dropped.
    pub fn iter(&self) -> Iter<D, C> {
        let plan = EpochPlan::new(self.epoch_order(), self.batch_size, self.drop_last);
        let trailing = self.trailing_draw(&plan);
        let source = if self.num_workers == 0 {
            Source::Inline {
                dataset: Arc::clone(&self.dataset),
                collate: Arc::clone(&self.collate),
            }
        } else {
            let capacity = self.num_workers * self.prefetch_factor;
            let workers = Workers::spawn(&self.dataset, &self.collate, self.num_workers, capacity);
            for k in 0..plan.len().min(capacity) {
                workers.submit(k, plan.batch(k).to_vec());
            }
            Source::Workers { workers, capacity }
        };
        Iter {
            plan,
            next: 0,
            source,
            trailing,
        }
    }
}

impl<D, C> IntoIterator for &DataLoader<D, C>
where
    D: Dataset + 'static,
    C: Collate<D::Item> + 'static,
{
    type Item = C::Batch;
    type IntoIter = Iter<D, C>;

    fn into_iter(self) -> Iter<D, C> {
        self.iter()
    }
}

enum Source<D: Dataset, C: Collate<D::Item>> {
    Inline {
        dataset: Arc<D>,
        collate: Arc<C>,
    },
    Workers {
        workers: Workers<C::Batch>,
        capacity: usize,
    },
}

/// The permutation PyTorch's sampler draws, and throws away, when it runs out.
struct TrailingDraw {
    generator: Arc<Mutex<Generator>>,
    n: usize,
    at: usize,
}

/// One epoch of a [`DataLoader`]: yields its batches in order.
pub struct Iter<D: Dataset, C: Collate<D::Item>> {
    plan: EpochPlan,
    next: usize,
    source: Source<D, C>,
    trailing: Option<TrailingDraw>,
}

impl<D, C> Iterator for Iter<D, C>
where
    D: Dataset + 'static,
    C: Collate<D::Item> + 'static,
{
    type Item = C::Batch;

    fn next(&mut self) -> Option<C::Batch> {
        let k = self.next;
        if self.trailing.as_ref().is_some_and(|t| t.at == k) {
            let t = self.trailing.take().expect("checked above");
            t.generator.lock().randperm(t.n);
        }
        if k >= self.plan.len() {
            return None;
        }
        self.next += 1;
        Some(match &mut self.source {
            Source::Inline { dataset, collate } => collate.fetch(&**dataset, self.plan.batch(k)),
            Source::Workers { workers, capacity } => {
                let batch = workers.take(k);
                let ahead = k + *capacity;
                if ahead < self.plan.len() {
                    workers.submit(ahead, self.plan.batch(ahead).to_vec());
                }
                batch
            }
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.plan.len() - self.next;
        (left, Some(left))
    }
}

impl<D, C> ExactSizeIterator for Iter<D, C>
where
    D: Dataset + 'static,
    C: Collate<D::Item> + 'static,
{
}
