//! DataLoader behaviour: batch counts, shuffling, coverage, workers, collation, and the
//! tutorial's ToyDataset.
//!
//! Only `global_generator_drives_shuffle_without_a_generator` may touch the process-wide
//! generator in this binary (tests run in parallel); everything else seeds its own.

use std::collections::BTreeMap;

use kiln::data::{Collatable, DataLoader, Dataset, TensorDataset, index_row, random_split};
use kiln::{DType, Generator, Tensor};

/// `n` samples: features `[i, 10 i]` (f32) and label `i` (i64), so a batch's labels name
/// the samples in it.
fn numbered(n: usize) -> TensorDataset<(Tensor, Tensor)> {
    let x: Vec<f32> = (0..n).flat_map(|i| [i as f32, 10.0 * i as f32]).collect();
    TensorDataset::new((
        Tensor::from_vec(x, &[n, 2]),
        Tensor::from_vec((0..n as i64).collect(), &[n]),
    ))
}

fn ids(y: &Tensor) -> Vec<i64> {
    y.to_vec::<i64>()
}

fn epoch<D, C>(loader: &DataLoader<D, C>) -> Vec<Vec<i64>>
where
    D: Dataset + 'static,
    C: kiln::data::Collate<D::Item, Batch = (Tensor, Tensor)> + 'static,
{
    loader.iter().map(|(_, y)| ids(&y)).collect()
}

#[test]
fn batch_counts_with_and_without_drop_last() {
    for (n, bs, keep, drop) in [
        (10, 3, 4, 3),
        (9, 3, 3, 3),
        (1, 4, 1, 0),
        (0, 2, 0, 0),
        (5, 2, 3, 2),
    ] {
        let keep_loader = DataLoader::new(numbered(n)).batch_size(bs);
        let drop_loader = DataLoader::new(numbered(n)).batch_size(bs).drop_last(true);
        assert_eq!(keep_loader.len(), keep, "n={n} bs={bs}");
        assert_eq!(drop_loader.len(), drop, "n={n} bs={bs} drop_last");
        assert_eq!(keep_loader.iter().count(), keep);
        assert_eq!(drop_loader.iter().count(), drop);
        assert_eq!(keep_loader.iter().len(), keep);
        let sizes: Vec<usize> = keep_loader.iter().map(|(x, _)| x.shape()[0]).collect();
        assert_eq!(sizes.iter().sum::<usize>(), n);
        if n % bs != 0 && n > 0 {
            assert_eq!(*sizes.last().unwrap(), n % bs);
        }
        assert!(drop_loader.iter().all(|(x, _)| x.shape()[0] == bs));
    }
}

#[test]
fn unshuffled_order_is_sequential() {
    let loader = DataLoader::new(numbered(5)).batch_size(2);
    assert_eq!(epoch(&loader), vec![vec![0, 1], vec![2, 3], vec![4]]);
    // Features travel with their labels.
    let (x, _) = loader.iter().nth(1).unwrap();
    assert_eq!(x.to_vec::<f32>(), vec![2.0, 20.0, 3.0, 30.0]);
}

#[test]
fn shuffle_is_reproducible_and_differs_across_epochs() {
    let make = |seed| {
        DataLoader::new(numbered(40))
            .batch_size(8)
            .shuffle(true)
            .seed(seed)
    };
    let (a, b) = (make(7), make(7));
    let a1 = epoch(&a);
    let a2 = epoch(&a);
    assert_eq!(a1, epoch(&b), "same seed, same first epoch");
    assert_eq!(a2, epoch(&b), "same seed, same second epoch");
    assert_ne!(a1, a2, "a new permutation every epoch");
    assert_ne!(a1, epoch(&make(8)), "another seed, another order");
    let sequential: Vec<i64> = (0..40).collect();
    assert_ne!(a1.concat(), sequential);
}

#[test]
fn every_sample_once_per_epoch() {
    let loader = DataLoader::new(numbered(23))
        .batch_size(4)
        .shuffle(true)
        .seed(1);
    for _ in 0..3 {
        let mut seen = epoch(&loader).concat();
        seen.sort_unstable();
        assert_eq!(seen, (0..23).collect::<Vec<_>>());
    }
    let dropping = DataLoader::new(numbered(23))
        .batch_size(4)
        .shuffle(true)
        .drop_last(true)
        .seed(1);
    let mut seen = epoch(&dropping).concat();
    assert_eq!(seen.len(), 20);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 20, "no sample twice");
}

/// A dataset without a batch fast path, so workers run `get` + collate per sample.
struct PerSample(usize);

impl Dataset for PerSample {
    type Item = (Tensor, i64);

    fn len(&self) -> usize {
        self.0
    }

    fn get(&self, i: usize) -> (Tensor, i64) {
        (Tensor::from_vec(vec![i as f64; 3], &[3]), i as i64)
    }
}

#[test]
fn results_do_not_depend_on_num_workers() {
    for drop_last in [false, true] {
        let fast = |w| {
            let loader = DataLoader::new(numbered(50))
                .batch_size(7)
                .shuffle(true)
                .drop_last(drop_last)
                .seed(3)
                .num_workers(w);
            (0..2)
                .flat_map(|_| {
                    loader
                        .iter()
                        .map(|(x, y)| (x.to_vec::<f32>(), ids(&y)))
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        };
        let reference = fast(0);
        assert_eq!(reference.len(), if drop_last { 14 } else { 16 });
        assert_eq!(fast(1), reference);
        assert_eq!(fast(3), reference);

        let slow = |w| {
            let loader = DataLoader::new(PerSample(31))
                .batch_size(4)
                .shuffle(true)
                .drop_last(drop_last)
                .seed(9)
                .num_workers(w)
                .prefetch_factor(1);
            loader
                .iter()
                .map(|(x, y)| (x.to_vec::<f64>(), ids(&y)))
                .collect::<Vec<_>>()
        };
        let reference = slow(0);
        assert_eq!(slow(1), reference);
        assert_eq!(slow(3), reference);
    }
}

#[test]
fn an_epoch_can_be_abandoned_with_workers_running() {
    let loader = DataLoader::new(numbered(100)).batch_size(2).num_workers(3);
    let first = loader.iter().next().unwrap();
    assert_eq!(ids(&first.1), vec![0, 1]);
    assert_eq!(loader.iter().count(), 50);
}

struct Faulty;

impl Dataset for Faulty {
    type Item = i64;

    fn len(&self) -> usize {
        8
    }

    fn get(&self, i: usize) -> i64 {
        assert!(i != 5, "sample 5 is broken");
        i as i64
    }
}

#[test]
#[should_panic(expected = "sample 5 is broken")]
fn a_worker_panic_reaches_the_training_loop() {
    let loader = DataLoader::new(Faulty).batch_size(2).num_workers(2);
    for _ in &loader {}
}

#[test]
fn default_collation_shapes_and_dtypes() {
    let loader = DataLoader::new(PerSample(5)).batch_size(2);
    let (x, y) = loader.iter().next().unwrap();
    assert_eq!((x.shape(), x.dtype()), (&[2usize, 3][..], DType::F64));
    assert_eq!((y.shape(), y.dtype()), (&[2usize][..], DType::I64));

    let images = TensorDataset::new(Tensor::from_vec(vec![7u8; 4 * 2 * 3], &[4, 2, 3]));
    let batch = DataLoader::new(images).batch_size(3).iter().next().unwrap();
    assert_eq!(
        (batch.shape(), batch.dtype()),
        (&[3usize, 2, 3][..], DType::U8)
    );

    // The TensorDataset fast path gives exactly what get + collate gives.
    let ds = numbered(6);
    let (fx, fy) = ds.get_batch(&[5, 0, 3]).unwrap();
    let (sx, sy) = <(Tensor, Tensor)>::collate(vec![ds.get(5), ds.get(0), ds.get(3)]);
    assert_eq!(
        (fx.shape(), fx.to_vec::<f32>()),
        (sx.shape(), sx.to_vec::<f32>())
    );
    assert_eq!(
        (fy.shape(), fy.to_vec::<i64>()),
        (sy.shape(), sy.to_vec::<i64>())
    );
}

#[test]
fn custom_collate_fn() {
    let loader = DataLoader::new(PerSample(5))
        .batch_size(2)
        .collate_fn(|s: Vec<(Tensor, i64)>| s.iter().map(|(_, y)| y).sum::<i64>());
    assert_eq!(loader.iter().collect::<Vec<_>>(), vec![1, 5, 4]);
}

#[test]
fn subsets_from_random_split_load_their_own_samples() {
    let parts = random_split(numbered(10), &[8, 2], &mut Generator::new(42));
    let train: Vec<i64> = parts[0].indices().iter().map(|&i| i as i64).collect();
    let loader = DataLoader::new(parts[0].clone()).batch_size(3);
    assert_eq!(epoch(&loader).concat(), train);
    assert_eq!(loader.len(), 3);
}

/// The tutorial's dataset, written as a user would.
struct ToyDataset {
    features: Tensor,
    labels: Tensor,
}

impl ToyDataset {
    fn new(x: Tensor, y: Tensor) -> Self {
        ToyDataset {
            features: x,
            labels: y,
        }
    }
}

impl Dataset for ToyDataset {
    type Item = (Tensor, Tensor);

    fn get(&self, index: usize) -> (Tensor, Tensor) {
        let one_x = index_row(&self.features, index);
        let one_y = index_row(&self.labels, index);
        (one_x, one_y)
    }

    fn len(&self) -> usize {
        self.labels.shape()[0]
    }
}

#[test]
fn tutorial_toy_dataset() {
    let x_train = kiln::tensor(&[
        [-1.2, 3.1],
        [-0.9, 2.9],
        [-0.5, 2.6],
        [2.3, -1.1],
        [2.7, -1.5],
    ]);
    let y_train = kiln::tensor(&[0, 0, 0, 1, 1]);
    let x_test = kiln::tensor(&[[-0.8, 2.8], [2.6, -1.6]]);
    let y_test = kiln::tensor(&[0, 1]);
    let train_ds = ToyDataset::new(x_train.shallow_clone(), y_train.shallow_clone());
    let test_ds = ToyDataset::new(x_test, y_test);
    assert_eq!(train_ds.len(), 5);

    let train_loader = DataLoader::new(train_ds)
        .batch_size(2)
        .shuffle(true)
        .num_workers(0)
        .generator(Generator::new(123));
    let test_loader = DataLoader::new(test_ds).batch_size(2).shuffle(false);
    assert_eq!(train_loader.len(), 3);
    assert_eq!(test_loader.len(), 1);

    let rows = x_train.to_vec::<f32>();
    let labels = y_train.to_vec::<i64>();
    let mut seen = BTreeMap::new();
    for (idx, (x, y)) in train_loader.iter().enumerate() {
        let want = if idx < 2 { 2 } else { 1 };
        assert_eq!(x.shape(), &[want, 2]);
        assert_eq!((y.shape(), y.dtype()), (&[want][..], DType::I64));
        // Each row arrives with its own label.
        let xs = x.to_vec::<f32>();
        for (k, label) in y.to_vec::<i64>().into_iter().enumerate() {
            let row = &xs[2 * k..2 * k + 2];
            let i = (0..5).find(|&i| &rows[2 * i..2 * i + 2] == row).unwrap();
            assert_eq!(labels[i], label);
            *seen.entry(i).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 5);
    assert!(seen.values().all(|&c| c == 1));

    let (x, y) = test_loader.iter().next().unwrap();
    assert_eq!(x.shape(), &[2, 2]);
    assert_eq!(y.to_vec::<i64>(), vec![0, 1]);

    let mut drop_loader = DataLoader::new(ToyDataset::new(x_train, y_train))
        .batch_size(2)
        .shuffle(true)
        .drop_last(true)
        .seed(123);
    assert_eq!(drop_loader.len(), 2);
    assert_eq!(drop_loader.iter().count(), 2);
    drop_loader = drop_loader.drop_last(false);
    assert_eq!(drop_loader.iter().count(), 3);
}

#[test]
fn global_generator_drives_shuffle_without_a_generator() {
    let loader = DataLoader::new(numbered(30)).batch_size(5).shuffle(true);
    kiln::manual_seed(123);
    let a = epoch(&loader);
    kiln::manual_seed(123);
    assert_eq!(epoch(&loader), a);
    assert_ne!(epoch(&loader), a);
}

#[test]
fn shared_dataset_through_arc() {
    let ds = std::sync::Arc::new(numbered(6));
    let a = DataLoader::new(ds.clone()).batch_size(4);
    let b = DataLoader::new(ds).batch_size(6);
    assert_eq!((a.len(), b.len()), (2, 1));
    assert_eq!(epoch(&b), vec![(0..6).collect::<Vec<i64>>()]);
}
