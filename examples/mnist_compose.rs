//! Port of seed 001's data preparation: MNIST through a `Compose([ToTensor(),
//! Normalize((0.1307,), (0.3081,))])` pipeline, batched by `DataLoader`s
//! (`batch_size=64, shuffle=True` for training, 1000 for testing). Prints the sizes, the
//! first batches' shapes and the first test image's label and normalized statistics.
//!
//! Needs the MNIST files in `data/mnist` (shipped). Run: `cargo run --example mnist_compose`

use kiln::data::transforms::{Compose, Normalize, ToTensor};
use kiln::data::{DataLoader, Dataset, Mnist};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    kiln::manual_seed(0);
    let transform = || {
        Compose::new()
            .then(ToTensor)
            .then(Normalize::new(&[0.1307], &[0.3081]))
    };
    let root = Some(Path::new("data"));
    let train_dataset = Mnist::new(root, true, false)?.with_transform(transform());
    let test_dataset = Mnist::new(root, false, false)?.with_transform(transform());
    println!(
        "train: {} samples, test: {} samples",
        train_dataset.len(),
        test_dataset.len()
    );
    let (image, label) = test_dataset.get(0);
    println!(
        "test[0]: label {label}, {}, mean {:.4}, min {:.4}, max {:.4}",
        image.size(),
        image.mean(),
        image.min(),
        image.max()
    );
    let train_loader = DataLoader::new(train_dataset).batch_size(64).shuffle(true);
    let test_loader = DataLoader::new(test_dataset).batch_size(1000);
    let (data, target) = train_loader.iter().next().unwrap();
    println!("train batch: {} {}", data.size(), target.size());
    let (data, target) = test_loader.iter().next().unwrap();
    println!("test batch: {} {}", data.size(), target.size());
    Ok(())
}
