//! How a product is cut into blocks for kiln's threads: a pure function of the shape
//! and the thread count, so the choice can be tested for any machine.

use super::PARALLEL_THRESHOLD;

/// Each block of a split product should carry at least this many multiply-adds: half
/// of [`PARALLEL_THRESHOLD`], so a product just above the threshold splits in two, as
/// measured there, and bigger ones in proportion to their work.
pub const MIN_TASK_WORK: usize = PARALLEL_THRESHOLD / 2;

/// Block edges fall on multiples of this many rows or columns (keeps the
/// micro-kernel's SIMD tiles full); no block is smaller than one grain each way.
pub const GRAIN: usize = 16;

/// How a product's `C` (`m×n`) is cut into `tasks` blocks: `stripes` horizontal stripes
/// of rows, each cut into column blocks (`tasks / stripes` of them, one more for the
/// first `tasks % stripes` stripes). A pure function of the shape and the thread count
/// ([`split_plan`]), so the choice can be tested for any machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitPlan {
    m: usize,
    n: usize,
    /// How many blocks (tasks for the pool), at most the thread count.
    pub tasks: usize,
    /// How many row stripes the blocks sit in.
    pub stripes: usize,
}

impl SplitPlan {
    /// The rows and columns of block `i < tasks`. Blocks tile `C` exactly once.
    pub fn block(&self, i: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let (r, p) = (self.stripes, self.tasks);
        let (base, extra) = (p / r, p % r);
        // Stripe `s` holds blocks `first(s)..first(s + 1)`.
        let first = |s: usize| s * base + s.min(extra);
        let s = (0..r).rfind(|&s| first(s) <= i).expect("block index");
        let rows = grain_range(self.m, r, s);
        let cols = grain_range(self.n, first(s + 1) - first(s), i - first(s));
        (rows, cols)
    }
}

/// Part `j` of `parts` near-equal pieces of `0..len`, cut on [`GRAIN`] multiples.
fn grain_range(len: usize, parts: usize, j: usize) -> std::ops::Range<usize> {
    let units = len.div_ceil(GRAIN);
    let (base, extra) = (units / parts, units % parts);
    let at = |j: usize| ((j * base + j.min(extra)) * GRAIN).min(len);
    at(j)..at(j + 1)
}

/// How many blocks `C = A·B` (`m×k` times `k×n`) is cut into on `threads` threads, and
/// how (see [`Threads::Auto`](super::Threads::Auto)).
///
/// Tasks: as many as there are threads, unless the work allows fewer: products below
/// [`PARALLEL_THRESHOLD`] run as one task, others get at most one task per
/// [`MIN_TASK_WORK`] multiply-adds and per [`GRAIN`]×[`GRAIN`] tile of `C`.
/// Shape: whole-width row stripes for a transposed `A` with `n > 2m` (a weight gradient
/// `g^T x`, measured 1.1–1.25× faster so on two threads) while stripes keep 32 rows;
/// else whole-height column blocks while they keep 128 columns, or row stripes of 32
/// rows; else (many threads, small `C`) a grid whose slowest block costs least,
/// counting its multiply-adds and the packing of its rows of `A` and columns of `B`.
pub fn split_plan(m: usize, n: usize, k: usize, a_transposed: bool, threads: usize) -> SplitPlan {
    let one = SplitPlan {
        m,
        n,
        tasks: 1,
        stripes: 1,
    };
    let work = m.saturating_mul(n).saturating_mul(k);
    if threads < 2 || work < PARALLEL_THRESHOLD {
        return one;
    }
    let (mu, nu) = (m.div_ceil(GRAIN), n.div_ceil(GRAIN));
    let p = threads.min(work / MIN_TASK_WORK).min(mu.saturating_mul(nu));
    if p < 2 {
        return one;
    }
    let plan = |stripes| SplitPlan {
        m,
        n,
        tasks: p,
        stripes,
    };
    if a_transposed && n > 2 * m && m / p >= 32 {
        return plan(p);
    }
    if n / p >= 128 {
        return plan(1);
    }
    if m / p >= 32 {
        return plan(p);
    }
    // The slowest block's cost in multiply-adds per unit of `k`: its area plus the
    // packing of its panels of A and B (~16 multiply-adds per packed element).
    let cost = |r: usize| {
        let rows = m.div_ceil(GRAIN).div_ceil(r) * GRAIN;
        let cols = n.div_ceil(GRAIN).div_ceil(p / r) * GRAIN;
        let (rows, cols) = (rows.min(m), cols.min(n));
        rows * cols + 16 * (rows + cols)
    };
    let best = (1..=p.min(mu))
        .filter(|&r| p.div_ceil(r) <= nu)
        .min_by_key(|&r| cost(r))
        .expect("p <= mu * nu leaves a stripe count");
    plan(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(name, m, n, k, a_transposed)` shapes the plan tests cover: the MNIST MLP's
    /// forward products and their input and weight gradients at batch 64 and 256,
    /// im2col convolutions, and squares.
    const PLAN_SHAPES: &[(&str, usize, usize, usize, bool)] = &[
        ("fc1 64x784x256", 64, 256, 784, false),
        ("fc1 dx 64x256x784", 64, 784, 256, false),
        ("fc1 dW 256Tx64x784", 256, 784, 64, true),
        ("fc2 64x256x128", 64, 128, 256, false),
        ("fc2 dx 64x128x256", 64, 256, 128, false),
        ("fc2 dW 128Tx64x256", 128, 256, 64, true),
        ("fc3 64x128x10", 64, 10, 128, false),
        ("fc3 dx 64x10x128", 64, 128, 10, false),
        ("fc3 dW 10Tx64x128", 10, 128, 64, true),
        ("fc1 b256", 256, 256, 784, false),
        ("fc1 dx b256", 256, 784, 256, false),
        ("fc1 dW b256", 256, 784, 256, true),
        ("fc2 b256", 256, 128, 256, false),
        ("fc2 dW b256", 128, 256, 256, true),
        ("fc3 b256", 256, 10, 128, false),
        ("conv 64x(32*9)x(26*26)", 64, 676, 288, false),
        ("conv dW 64x(26*26)Tx(32*9)", 64, 288, 676, false),
        ("conv dx (32*9)Tx64x(26*26)", 288, 676, 64, true),
        ("conv 32x9x676", 32, 676, 9, false),
        ("sq512", 512, 512, 512, false),
        ("sq1024", 1024, 1024, 1024, false),
        ("sq2048", 2048, 2048, 2048, false),
    ];

    /// The task count the work allows on unlimited threads (the plan's contract).
    fn allowed(m: usize, n: usize, k: usize) -> usize {
        if m * n * k < PARALLEL_THRESHOLD {
            1
        } else {
            (m * n * k / MIN_TASK_WORK)
                .min(m.div_ceil(GRAIN) * n.div_ceil(GRAIN))
                .max(1)
        }
    }

    #[test]
    fn plans_use_every_thread_the_work_allows() {
        for &(name, m, n, k, at) in PLAN_SHAPES {
            for t in 1..=64 {
                let p = split_plan(m, n, k, at, t);
                let want = t.min(allowed(m, n, k));
                assert_eq!(p.tasks, want, "{name} on {t} threads: {p:?}");
                // The blocks tile C: inside it, non-empty, disjoint, areas summing to m·n.
                let blocks: Vec<_> = (0..p.tasks).map(|i| p.block(i)).collect();
                let mut area = 0;
                for (i, (r, c)) in blocks.iter().enumerate() {
                    assert!(
                        !r.is_empty() && !c.is_empty(),
                        "{name} t={t} block {i} empty"
                    );
                    assert!(r.end <= m && c.end <= n, "{name} t={t} block {i} outside C");
                    area += r.len() * c.len();
                    for (r2, c2) in &blocks[..i] {
                        let rows_meet = r.start < r2.end && r2.start < r.end;
                        let cols_meet = c.start < c2.end && c2.start < c.end;
                        assert!(!(rows_meet && cols_meet), "{name} t={t}: blocks overlap");
                    }
                }
                assert_eq!(area, m * n, "{name} t={t}: blocks do not cover C");
                // And no block is far above its fair share.
                let max = blocks.iter().map(|(r, c)| r.len() * c.len()).max().unwrap();
                assert!(
                    max <= 3 * (m * n).div_ceil(p.tasks),
                    "{name} t={t}: a block of {max} of {} elements",
                    m * n
                );
            }
        }
    }

    #[test]
    fn mnist_products_split_past_two_threads() {
        // Measured before this plan: one thread at 3, 4, 8 and 16 threads for the first
        // layer, at 8+ for its input gradient and at 16 for its weight gradient.
        for t in [3, 4, 8, 16] {
            assert_eq!(split_plan(64, 256, 784, false, t).tasks, t);
            assert_eq!(split_plan(64, 784, 256, false, t).tasks, t);
            assert_eq!(split_plan(256, 784, 64, true, t).tasks, t);
        }
        // The small products still run where the work allows.
        assert_eq!(split_plan(64, 10, 128, false, 64).tasks, 1);
        assert_eq!(split_plan(64, 128, 256, false, 64).tasks, 4);
    }
}
