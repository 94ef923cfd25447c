//! Sample orders: random permutations and the split of an epoch into batches.

use std::ops::Range;

use crate::tensor::random::Generator;

/// A uniformly random permutation of `0..n` drawn from `generator`: exactly
/// `torch.randperm(n, generator=g).tolist()` for a generator in the same state.
pub fn randperm(n: usize, generator: &mut Generator) -> Vec<usize> {
    generator
        .randperm(n)
        .into_iter()
        .map(|i| i as usize)
        .collect()
}

/// One draw of `torch.empty((), dtype=torch.int64).random_(generator=g).item()`: a 64-bit
/// draw reduced to `[0, 2^63)`. PyTorch's data loading takes its seeds this way.
pub fn random_seed(generator: &mut Generator) -> u64 {
    generator.next_u64() & (i64::MAX as u64)
}

/// Number of batches of `batch_size` in `n` samples: `ceil(n / batch_size)`, or
/// `floor(n / batch_size)` when the incomplete last batch is dropped.
pub fn num_batches(n: usize, batch_size: usize, drop_last: bool) -> usize {
    if drop_last {
        n / batch_size
    } else {
        n.div_ceil(batch_size)
    }
}

/// One epoch's sample order cut into batches: batch `k` is
/// `order[k * batch_size ..][.. batch_size]`.
#[derive(Clone, Debug)]
pub(crate) struct EpochPlan {
    order: Vec<usize>,
    batch_size: usize,
    batches: usize,
}

impl EpochPlan {
    pub(crate) fn new(order: Vec<usize>, batch_size: usize, drop_last: bool) -> Self {
        let batches = num_batches(order.len(), batch_size, drop_last);
        EpochPlan {
            order,
            batch_size,
            batches,
        }
    }

    /// Number of batches in the epoch.
    pub(crate) fn len(&self) -> usize {
        self.batches
    }

    fn range(&self, k: usize) -> Range<usize> {
        let start = k * self.batch_size;
        start..(start + self.batch_size).min(self.order.len())
    }

    /// The dataset indices of batch `k`.
    pub(crate) fn batch(&self, k: usize) -> &[usize] {
        &self.order[self.range(k)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randperm_is_a_reproducible_permutation() {
        let a = randperm(100, &mut Generator::new(7));
        let b = randperm(100, &mut Generator::new(7));
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        assert_ne!(a, randperm(100, &mut Generator::new(8)));
        assert!(randperm(0, &mut Generator::new(0)).is_empty());
    }

    #[test]
    fn random_seed_is_a_non_negative_i64() {
        let mut g = Generator::new(5);
        for _ in 0..100 {
            assert!(random_seed(&mut g) <= i64::MAX as u64);
        }
    }

    #[test]
    fn plan_cuts_batches() {
        let p = EpochPlan::new((0..5).collect(), 2, false);
        assert_eq!(p.len(), 3);
        assert_eq!(p.batch(2), &[4]);
        let p = EpochPlan::new((0..5).collect(), 2, true);
        assert_eq!(p.len(), 2);
        assert_eq!(p.batch(1), &[2, 3]);
        assert_eq!(num_batches(0, 3, false), 0);
        assert_eq!(num_batches(6, 3, true), 2);
    }
}
