//! Loading the data set a command asks for, as ready-to-batch tensors.

use super::args::{DataArgs, DatasetName};
use super::error::CliError;
use kiln::data::datasets::MnistVariant;
use kiln::data::{FashionMnist, Mnist, TensorDataset};

/// The mean and standard deviation inputs are normalised with (the tutorial's MNIST
/// statistics, used for both data sets so the settings stay the tutorial's).
pub const NORMALIZE: (f64, f64) = (0.1307, 0.3081);

/// One split, normalised: images `f32 [N, 1, 28, 28]`, labels `i64 [N]`.
pub struct Split {
    /// The samples.
    pub dataset: TensorDataset,
    /// Display name, e.g. `MNIST`.
    pub title: &'static str,
    /// Class names by label.
    pub classes: &'static [&'static str; 10],
}

impl DatasetName {
    /// Parses the name as typed on the command line (`fashion-mnist`).
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "mnist" => Some(DatasetName::Mnist),
            "fashion-mnist" => Some(DatasetName::FashionMnist),
            _ => None,
        }
    }

    /// Display name (`MNIST`).
    pub fn title(self) -> &'static str {
        match self {
            DatasetName::Mnist => kiln::data::datasets::Digits::TITLE,
            DatasetName::FashionMnist => kiln::data::datasets::Fashion::TITLE,
        }
    }

    /// Class names by label.
    pub fn classes(self) -> &'static [&'static str; 10] {
        match self {
            DatasetName::Mnist => Mnist::classes(),
            DatasetName::FashionMnist => FashionMnist::classes(),
        }
    }
}

/// Loads the training (`train`) or test split of `name`, keeping the first `limit`
/// samples if given.
pub fn load_split(
    name: DatasetName,
    args: &DataArgs,
    train: bool,
    limit: Option<u64>,
) -> Result<Split, CliError> {
    let root = args.data_dir.as_deref();
    // Only what is used is read: the first `limit` samples, at most `max_samples`.
    let want = limit
        .unwrap_or(u64::MAX)
        .min(args.max_samples.saturating_add(1));
    let want = usize::try_from(want).unwrap_or(usize::MAX);
    // First the headers alone (no samples read): refuse a declared count over the limit
    // before reading any, unless --limit asks for fewer.
    let declared = match name {
        DatasetName::Mnist => Mnist::new_prefix(root, train, args.download, 0)?.1,
        DatasetName::FashionMnist => FashionMnist::new_prefix(root, train, args.download, 0)?.1,
    };
    if declared as u64 > args.max_samples && limit.is_none_or(|l| l > args.max_samples) {
        return Err(CliError::Usage(format!(
            "the {} {} files declare {declared} samples, over the limit of {} \
             (raise it with --max-samples, or use fewer with --limit)",
            name.title(),
            if train { "training" } else { "test" },
            args.max_samples
        )));
    }
    let (images, labels, title, _) = match name {
        DatasetName::Mnist => {
            let (d, declared) = Mnist::new_prefix(root, train, args.download, want)?;
            (
                d.float_images(Some(NORMALIZE)),
                d.labels().shallow_clone(),
                kiln::data::datasets::Digits::TITLE,
                declared,
            )
        }
        DatasetName::FashionMnist => {
            let (d, declared) = FashionMnist::new_prefix(root, train, args.download, want)?;
            (
                d.float_images(Some(NORMALIZE)),
                d.labels().shallow_clone(),
                kiln::data::datasets::Fashion::TITLE,
                declared,
            )
        }
    };
    let n = labels.shape()[0];
    if n == 0 {
        return Err(CliError::Usage(format!(
            "the {title} {} set has no samples",
            if train { "training" } else { "test" }
        )));
    }
    let images = images.narrow(0, 0, n).reshape(&[n, 1, 28, 28]);
    let labels = labels.narrow(0, 0, n);
    Ok(Split {
        dataset: TensorDataset::new((images, labels)),
        title,
        classes: name.classes(),
    })
}
