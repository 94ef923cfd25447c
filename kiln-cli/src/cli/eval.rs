//! Measuring a classifier on a labelled set, and the `kiln eval` command.

use super::args::{DatasetName, EvalArgs};
use super::data::load_split;
use super::error::CliError;
use super::model::Classifier;
use super::model_file::ModelFile;
use super::plots::draw_confusion;
use kiln::data::{DataLoader, TensorDataset};
use kiln::nn::{Module, Reduction};
use std::fmt::Write as _;

/// Batch size for evaluation (the tutorial's test loader uses 1000).
pub const EVAL_BATCH: usize = 1000;

/// What a pass over a labelled set measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean loss per sample (cross entropy of the MLP's logits, negative log-likelihood
    /// of the CNN's log-probabilities: the same number for the same probabilities).
    pub loss: f64,
    /// Samples classified correctly.
    pub correct: u64,
    /// Samples seen.
    pub total: u64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
}

impl Evaluation {
    /// Fraction classified correctly.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.total.max(1) as f64
    }

    /// Per class: (correct, samples of that class).
    pub fn per_class(&self) -> Vec<(u64, u64)> {
        self.confusion
            .iter()
            .enumerate()
            .map(|(c, row)| (row[c], row.iter().sum()))
            .collect()
    }
}

/// Number of samples in each batch's predictions that equal the labels, and the
/// predictions themselves.
pub fn predictions(logits: &kiln::Tensor) -> Vec<i64> {
    logits.argmax(Some(1), false).to_vec::<i64>()
}

/// Runs `model` (in eval mode, without gradients) over `loader`.
pub fn evaluate(
    model: &Classifier,
    loader: &DataLoader<TensorDataset>,
    classes: usize,
) -> Evaluation {
    let was_training = model.is_training();
    model.eval();
    let _guard = kiln::no_grad_guard();
    let mut confusion = vec![vec![0u64; classes]; classes];
    let (mut loss, mut correct, mut total) = (0.0f64, 0u64, 0u64);
    for (x, y) in loader {
        let logits = model.forward(&x);
        loss += model.loss(&logits, &y, Reduction::Sum).item();
        for (p, t) in predictions(&logits).into_iter().zip(y.to_vec::<i64>()) {
            if (p as usize) < classes && (t as usize) < classes {
                confusion[t as usize][p as usize] += 1;
            }
            correct += u64::from(p == t);
            total += 1;
        }
    }
    model.train_mode(was_training);
    Evaluation {
        loss: loss / total.max(1) as f64,
        correct,
        total,
        confusion,
    }
}

/// The report `kiln eval` prints.
pub fn report(ev: &Evaluation, classes: &[&str]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Test Loss={:.4}, Test Acc={:.2}% ({}/{})",
        ev.loss,
        100.0 * ev.accuracy(),
        ev.correct,
        ev.total
    );
    let _ = writeln!(s, "\nPer-class accuracy:");
    let width = classes.iter().map(|c| c.chars().count()).max().unwrap_or(0);
    for ((c, t), name) in ev.per_class().into_iter().zip(classes) {
        let acc = if t == 0 {
            0.0
        } else {
            100.0 * c as f64 / t as f64
        };
        let _ = writeln!(s, "  {name:<width$}  {acc:6.2}%  ({c}/{t})");
    }
    let _ = writeln!(
        s,
        "\nConfusion matrix (rows: true class, columns: predicted class):"
    );
    let cell = ev
        .confusion
        .iter()
        .flatten()
        .map(|v| v.to_string().len())
        .max()
        .unwrap_or(1)
        .max(2);
    let _ = write!(s, "    ");
    for p in 0..ev.confusion.len() {
        let _ = write!(s, " {p:>cell$}");
    }
    let _ = writeln!(s);
    for (t, row) in ev.confusion.iter().enumerate() {
        let _ = write!(s, "  {t:>2}");
        for v in row {
            let _ = write!(s, " {v:>cell$}");
        }
        let _ = writeln!(s);
    }
    s
}

/// `kiln eval`.
pub fn run(args: &EvalArgs) -> Result<(), CliError> {
    let file = ModelFile::load(&args.model, &args.limits)?;
    let name = args
        .dataset
        .or_else(|| file.dataset.and_then(|d| DatasetName::from_name(&d)))
        .unwrap_or(DatasetName::Mnist);
    let data = super::args::DataArgs {
        dataset: name,
        data_dir: args.data_dir.clone(),
        download: args.download,
        max_samples: super::args::MAX_SAMPLES.max(args.limit.unwrap_or(0)),
    };
    let split = load_split(name, &data, false, args.limit)?;
    let (inputs, outputs) = super::model::io_sizes(&file.model);
    let pixels = 28 * 28;
    if inputs != pixels {
        return Err(CliError::BadModel {
            path: args.model.clone(),
            reason: format!(
                "it takes {inputs} inputs, not the {pixels} pixels of a {} image",
                split.title
            ),
        });
    }
    if outputs != split.classes.len() {
        return Err(CliError::BadModel {
            path: args.model.clone(),
            reason: format!(
                "it has {outputs} outputs but {} has {} classes",
                split.title,
                split.classes.len()
            ),
        });
    }
    let n = split.dataset.tensors().0.shape()[0];
    let loader = DataLoader::new(split.dataset).batch_size(EVAL_BATCH);
    let ev = evaluate(&file.model, &loader, split.classes.len());
    outln!(
        "{} on {} test ({n} samples)",
        args.model.display(),
        split.title
    );
    out!("{}", report(&ev, &split.classes[..]));
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => args
            .model
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default(),
    };
    let png = out.join("confusion.png");
    std::fs::create_dir_all(&out).map_err(|e| CliError::file(&out, e))?;
    draw_confusion(
        &png,
        &ev.confusion,
        &format!(
            "{} test: {:.2}% correct",
            split.title,
            100.0 * ev.accuracy()
        ),
    )?;
    outln!("\nWrote {}", png.display());
    Ok(())
}
