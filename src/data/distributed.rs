//! [`Sampler`]s: the order a [`super::DataLoader`] visits its dataset in, and
//! [`DistributedSampler`] (`torch.utils.data.DistributedSampler`), which gives each of
//! several data-parallel processes its own equal share of every epoch.
//!
//! The sampler needs no MPI: it is told its `rank` and `num_replicas` (which a program
//! under `mpirun` gets from `kiln::distributed`, with the `mpi` feature).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::sampler::randperm;
use crate::tensor::random::Generator;

/// The order of one epoch over a dataset (`torch.utils.data.Sampler`): given to
/// [`super::DataLoader::sampler`], it replaces the loader's own sequential or shuffled order.
pub trait Sampler: Send + Sync {
    /// The dataset indices of the next epoch, in order (PyTorch's `iter(sampler)`).
    fn indices(&self) -> Vec<usize>;
    /// How many indices an epoch yields (`len(sampler)`).
    fn len(&self) -> usize;
    /// Whether an epoch yields no index.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Splits every epoch of a dataset of `dataset_len` samples among `num_replicas`
/// processes, exactly as `torch.utils.data.DistributedSampler`:
///
/// * with `shuffle` (the default) the epoch's order is `torch.randperm(dataset_len,
///   generator=g)` for a generator seeded with `seed + epoch`, so every rank draws the
///   same permutation and [`DistributedSampler::set_epoch`] changes it;
/// * without `drop_last` (the default) the order is padded by repeating its start until
///   its length divides by `num_replicas`; with it, the tail that does not divide is cut;
/// * rank `r` takes positions `r, r + num_replicas, r + 2 * num_replicas, ...`.
///
/// Clones share the epoch, so a clone handed to a [`super::DataLoader`] follows
/// `set_epoch` calls on the original.
///
/// ```
/// use kiln::data::{DataLoader, DistributedSampler, Sampler, TensorDataset};
/// use kiln::Tensor;
///
/// let ds = TensorDataset::new(Tensor::arange(0.0, 10.0, 1.0));
/// let sampler = DistributedSampler::new(10, 3, 1).seed(7);
/// assert_eq!(sampler.len(), 4); // ceil(10 / 3), padded by repetition
/// let loader = DataLoader::new(ds).batch_size(2).sampler(sampler.clone());
/// for epoch in 0..2 {
///     sampler.set_epoch(epoch);
///     assert_eq!(loader.iter().count(), 2);
/// }
/// ```
#[derive(Clone, Debug)]
pub struct DistributedSampler {
    dataset_len: usize,
    num_replicas: usize,
    rank: usize,
    shuffle: bool,
    seed: u64,
    drop_last: bool,
    epoch: Arc<AtomicU64>,
}

impl DistributedSampler {
    /// The share of process `rank` among `num_replicas` of a dataset of `dataset_len`
    /// samples, with PyTorch's defaults: shuffled, seed 0, epoch 0, padded.
    ///
    /// Panics, as PyTorch raises, if `rank >= num_replicas` (or `num_replicas` is 0).
    pub fn new(dataset_len: usize, num_replicas: usize, rank: usize) -> Self {
        assert!(
            rank < num_replicas,
            "DistributedSampler: Invalid rank {rank}, rank should be in the interval [0, {}]",
            num_replicas as i64 - 1
        );
        DistributedSampler {
            dataset_len,
            num_replicas,
            rank,
            shuffle: true,
            seed: 0,
            drop_last: false,
            epoch: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Whether each epoch is a fresh permutation (default true).
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// The seed that, plus the epoch, seeds the permutation (default 0). It must be the
    /// same on every rank.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Whether to cut the epoch's tail instead of padding it (default false).
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Sets the epoch the next [`Sampler::indices`] shuffles for (`sampler.set_epoch`):
    /// call it before each epoch, or every epoch repeats the same order.
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of processes sharing the dataset.
    pub fn num_replicas(&self) -> usize {
        self.num_replicas
    }

    /// Samples per rank and epoch (PyTorch's `num_samples`).
    fn num_samples(&self) -> usize {
        let (n, r) = (self.dataset_len, self.num_replicas);
        if self.drop_last && !n.is_multiple_of(r) {
            // ceil((n - r) / r), as PyTorch's math.ceil on a float; 0 when n < r.
            n.saturating_sub(r).div_ceil(r)
        } else {
            n.div_ceil(r)
        }
    }
}

impl Sampler for DistributedSampler {
    fn indices(&self) -> Vec<usize> {
        let n = self.dataset_len;
        let mut order: Vec<usize> = if self.shuffle {
            let seed = self.seed.wrapping_add(self.epoch());
            randperm(n, &mut Generator::new(seed))
        } else {
            (0..n).collect()
        };
        let total = self.num_samples() * self.num_replicas;
        if self.drop_last || order.is_empty() {
            order.truncate(total);
        } else {
            // Padding by repetition of the order's start, as often as needed.
            while order.len() < total {
                let take = (total - order.len()).min(n);
                order.extend_from_within(..take);
            }
        }
        order
            .into_iter()
            .skip(self.rank)
            .step_by(self.num_replicas)
            .collect()
    }

    fn len(&self) -> usize {
        self.num_samples()
    }
}
