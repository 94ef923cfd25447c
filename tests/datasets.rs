//! MNIST and Fashion-MNIST loading, transforms against PyTorch fixtures, and typed
//! errors for missing or corrupt files.
//!
//! The MNIST training set is decoded once per binary (a `OnceLock`) to keep debug runs
//! fast. Expected numbers come from `scripts/fixtures/gen_transforms.py` (PyTorch) or
//! from reading the files with NumPy.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flate2::Compression;
use flate2::write::GzEncoder;
use kiln::data::datasets::{FashionMnist, Mnist};
use kiln::data::transforms::{Compose, Normalize, ToTensor, Transform, to_tensor};
use kiln::data::{DataError, DataLoader, Dataset, TensorDataset, encode_idx_u8};
use kiln::{DType, Tensor};
use rayon::prelude::*;

fn data_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn train() -> &'static Mnist {
    static TRAIN: OnceLock<Mnist> = OnceLock::new();
    TRAIN.get_or_init(|| Mnist::new(Some(&data_root()), true, false).expect("MNIST train set"))
}

/// The training set as the tutorial normalizes it, converted once.
fn train_normalized() -> &'static TensorDataset {
    static DS: OnceLock<TensorDataset> = OnceLock::new();
    DS.get_or_init(|| train().clone().into_tensor_dataset(Some((0.1307, 0.3081))))
}

fn fixture() -> &'static serde_json::Value {
    static F: OnceLock<serde_json::Value> = OnceLock::new();
    F.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transforms.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

fn fx_f64(key: &str) -> f64 {
    fixture()[key].as_f64().unwrap()
}

fn fx_bits(key: &str) -> Vec<u32> {
    let v = fixture()[key].as_array().unwrap();
    v.iter()
        .map(|b| b.as_i64().unwrap() as i32 as u32)
        .collect()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.to_vec::<f32>().iter().map(|f| f.to_bits()).collect()
}

#[test]
fn mnist_train_loads_with_known_labels() {
    let m = train();
    assert_eq!(m.len(), 60000);
    assert_eq!(
        (m.images().shape(), m.images().dtype()),
        (&[60000usize, 28, 28][..], DType::U8)
    );
    assert_eq!(
        (m.labels().shape(), m.labels().dtype()),
        (&[60000usize][..], DType::I64)
    );
    let first: Vec<i64> = (0..10).map(|i| m.get(i).1).collect();
    assert_eq!(first, vec![5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    // u8 pixels lie in 0..=255; both ends occur (`contains` is a fast byte search).
    let ends = m
        .images()
        .with_contiguous(|px: &[u8]| (px.contains(&0), px.contains(&255)));
    assert_eq!(ends, (true, true));
    assert_eq!(Mnist::classes()[3], "3 - three");
}

#[test]
fn mnist_test_split_from_the_default_search_path() {
    // `cargo test` runs in the crate root, so `./data/mnist` is on the default path.
    let m = Mnist::new(None, false, false).expect("MNIST test set in ./data/mnist");
    assert_eq!(m.len(), 10000);
    let first: Vec<i64> = m.labels().to_vec::<i64>()[..10].to_vec();
    assert_eq!(first, vec![7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
}

#[test]
fn transforms_match_pytorch_bit_for_bit() {
    let px = Tensor::from_vec((0..=255u8).collect(), &[16, 16]);
    let t = to_tensor(&px);
    assert_eq!(t.shape(), &[1, 16, 16]);
    assert_eq!(bits(&t), fx_bits("to_tensor_bits"));
    let tutorial = Compose::new()
        .then(ToTensor)
        .then(Normalize::new(&[0.1307], &[0.3081]));
    assert_eq!(bits(&tutorial.apply(&px)), fx_bits("mnist_normalized_bits"));

    let rgb: Vec<f32> = fixture()["rgb_input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let want: Vec<f32> = fixture()["rgb_normalized"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let imagenet = Normalize::new(&[0.485, 0.456, 0.406], &[0.229, 0.224, 0.225]);
    let got = imagenet.apply(&Tensor::from_vec(rgb, &[2, 3, 2, 2]));
    assert_eq!(got.to_vec::<f32>(), want);
}

#[test]
fn normalized_train_set_has_mean_zero_and_std_one() {
    let x = &train_normalized().tensors().0;
    assert_eq!(
        (x.shape(), x.dtype()),
        (&[60000usize, 1, 28, 28][..], DType::F32)
    );
    // Partial sums per chunk in parallel: this test runs unoptimised.
    let (sum, sq, first) = x.with_contiguous(|v: &[f32]| {
        let first: f64 = v[..784].iter().map(|&f| f64::from(f)).sum();
        let (s, q) = v
            .par_chunks(1 << 16)
            .map(|c| {
                c.iter().fold((0f64, 0f64), |(s, q), &f| {
                    let f = f64::from(f);
                    (s + f, q + f * f)
                })
            })
            .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        (s, q, first)
    });
    let n = x.numel() as f64;
    let mean = sum / n;
    let std = ((sq - n * mean * mean) / (n - 1.0)).sqrt();
    assert!(mean.abs() < 1e-3);
    assert!(
        (mean - fx_f64("mnist_train_normalized_mean")).abs() < 1e-9,
        "{mean}"
    );
    assert!(
        (std - fx_f64("mnist_train_normalized_std")).abs() < 1e-9,
        "{std}"
    );
    assert!(
        (first - fx_f64("mnist_train_first_image_sum")).abs() < 1e-6,
        "{first}"
    );
}

#[test]
fn tensor_dataset_fast_path_equals_the_tutorial_pipeline() {
    let norm = (0.1307, 0.3081);
    let fast = DataLoader::new(train_normalized().clone()).batch_size(64);
    let per_image = DataLoader::new(
        train().clone().with_transform(
            Compose::new()
                .then(ToTensor)
                .then(Normalize::new(&[norm.0], &[norm.1])),
        ),
    )
    .batch_size(64);
    assert_eq!((fast.len(), per_image.len()), (938, 938));
    for ((fx, fy), (sx, sy)) in fast.iter().zip(per_image.iter()).take(3) {
        assert_eq!(
            (fx.shape(), fx.dtype()),
            (&[64usize, 1, 28, 28][..], DType::F32)
        );
        assert_eq!(fx.shape(), sx.shape());
        assert_eq!(bits(&fx), bits(&sx));
        assert_eq!(
            (fy.dtype(), fy.to_vec::<i64>()),
            (sy.dtype(), sy.to_vec::<i64>())
        );
    }
}

#[test]
fn raw_images_batch_as_u8() {
    let loader = DataLoader::new(train().clone()).batch_size(5);
    let (x, y) = loader.iter().next().unwrap();
    assert_eq!((x.shape(), x.dtype()), (&[5usize, 28, 28][..], DType::U8));
    assert_eq!(y.to_vec::<i64>(), vec![5, 0, 4, 1, 9]);
    let (img, label) = train().get(2);
    assert_eq!((img.shape(), label), (&[28usize, 28][..], 4));
}

#[test]
fn fashion_mnist_from_the_debian_package() {
    let debian = Path::new("/usr/share/datasets/fashion-mnist");
    if !debian.join("t10k-labels-idx1-ubyte.gz").is_file() {
        println!("note: dataset-fashion-mnist is not installed; skipping the Fashion-MNIST test");
        return;
    }
    assert!(FashionMnist::search_dirs(None).contains(&debian.to_path_buf()));
    let f = FashionMnist::new(None, false, false).expect("Fashion-MNIST test set");
    assert_eq!(f.len(), 10000);
    let labels = f.labels().to_vec::<i64>();
    assert_eq!(labels[..10], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    let mut counts = [0usize; 10];
    labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [1000; 10]);
    let sum: u64 = f
        .images()
        .with_contiguous(|p: &[u8]| p.iter().map(|&b| u64::from(b)).sum());
    assert_eq!(sum, 573_469_082);
    assert_eq!(FashionMnist::classes()[9], "Ankle boot");
}

#[test]
fn not_found_lists_the_places_searched() {
    let dir = tempfile::tempdir().unwrap();
    let err = Mnist::new(Some(dir.path()), true, false).unwrap_err();
    let DataError::DatasetNotFound {
        searched, files, ..
    } = &err
    else {
        panic!("expected DatasetNotFound, got {err:?}");
    };
    assert_eq!(searched, &Mnist::search_dirs(Some(dir.path())));
    assert_eq!(files[0], "train-images-idx3-ubyte.gz");
    let msg = err.to_string();
    for d in searched {
        assert!(msg.contains(&d.display().to_string()), "{msg}");
    }
    assert!(msg.contains("--download"), "{msg}");
}

#[test]
fn download_without_a_writable_directory_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Mnist::new(Some(&file), false, true).unwrap_err();
    assert!(matches!(err, DataError::NoWritableDir { .. }), "{err:?}");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A temp dir holding a test split with the given images and labels files.
fn split(images: &[u8], labels: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t10k-images-idx3-ubyte.gz"), gzip(images)).unwrap();
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte.gz"), gzip(labels)).unwrap();
    dir
}

fn load(dir: &tempfile::TempDir) -> Result<Mnist, DataError> {
    Mnist::new(Some(dir.path()), false, false)
}

#[test]
fn a_small_valid_split_loads() {
    let images = encode_idx_u8(&[2, 28, 28], &[9; 2 * 784]).unwrap();
    let labels = encode_idx_u8(&[2], &[3, 9]).unwrap();
    let m = load(&split(&images, &labels)).unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m.labels().to_vec::<i64>(), vec![3, 9]);
    let x = m.float_images(None);
    assert_eq!((x.shape(), x.dtype()), (&[2usize, 784][..], DType::F32));
    assert_eq!(x.to_vec::<f32>()[0], 9.0 / 255.0);
}

#[test]
fn corrupt_files_give_typed_errors() {
    let images = encode_idx_u8(&[2, 28, 28], &[0; 2 * 784]).unwrap();
    let labels = encode_idx_u8(&[2], &[1, 2]).unwrap();

    // Not gzip data at all behind a gzip magic.
    let dir = split(&images, &labels);
    let path = dir.path().join("t10k-images-idx3-ubyte.gz");
    std::fs::write(&path, [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    let err = load(&dir).unwrap_err();
    assert!(
        matches!(err.innermost(), DataError::CorruptGzip { .. }),
        "{err:?}"
    );

    // Truncated payload.
    let err = load(&split(&images[..images.len() - 10], &labels)).unwrap_err();
    assert!(
        matches!(err.innermost(), DataError::Truncated { .. }),
        "{err:?}"
    );

    // Wrong image size.
    let small = encode_idx_u8(&[2, 27, 28], &[0; 2 * 27 * 28]).unwrap();
    let err = load(&split(&small, &labels)).unwrap_err();
    assert!(
        matches!(err.innermost(), DataError::BadDims { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("t10k-images"), "{err}");

    // Labels with two dimensions.
    let flat = encode_idx_u8(&[2, 1], &[1, 2]).unwrap();
    let err = load(&split(&images, &flat)).unwrap_err();
    assert!(
        matches!(err.innermost(), DataError::BadDims { .. }),
        "{err:?}"
    );

    // Counts disagree.
    let three = encode_idx_u8(&[3], &[1, 2, 3]).unwrap();
    let err = load(&split(&images, &three)).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LengthMismatch {
                images: 2,
                labels: 3,
                ..
            }
        ),
        "{err:?}"
    );

    // A label that is not a digit.
    let bad = encode_idx_u8(&[2], &[1, 10]).unwrap();
    let err = load(&split(&images, &bad)).unwrap_err();
    assert!(
        matches!(
            err.innermost(),
            DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                classes: 10
            }
        ),
        "{err:?}"
    );

    // 32-bit integer labels instead of bytes.
    let mut ints = vec![0, 0, 0x0C, 1, 0, 0, 0, 2];
    ints.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
    let err = load(&split(&images, &ints)).unwrap_err();
    assert!(
        matches!(err.innermost(), DataError::WrongElementType { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("i32"), "{err}");
}

/// One MNIST epoch at batch 64, shuffled, through the TensorDataset fast path.
/// Run with `cargo test --release --test datasets -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run in release"]
fn time_one_mnist_epoch() {
    let ds = train_normalized();
    for workers in [0, 1, 2] {
        let loader = DataLoader::new(ds.clone())
            .batch_size(64)
            .shuffle(true)
            .seed(0)
            .num_workers(workers);
        let start = std::time::Instant::now();
        let mut n = 0;
        for (x, y) in &loader {
            n += x.shape()[0];
            assert_eq!(y.shape()[0], x.shape()[0]);
        }
        println!(
            "num_workers={workers}: {n} samples in {:?}",
            start.elapsed()
        );
    }
    let tutorial = Compose::new()
        .then(ToTensor)
        .then(Normalize::new(&[0.1307], &[0.3081]));
    let per_image = train().clone().with_transform(tutorial);
    for workers in [0, 2] {
        let loader = DataLoader::new(per_image.clone())
            .batch_size(64)
            .shuffle(true)
            .seed(0)
            .num_workers(workers);
        let start = std::time::Instant::now();
        let n: usize = loader.iter().map(|(x, _)| x.shape()[0]).sum();
        println!(
            "per-image transforms, num_workers={workers}: {n} samples in {:?}",
            start.elapsed()
        );
    }
}
