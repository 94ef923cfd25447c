//! `kiln predict`: classify image files with a trained model.

use super::args::{DatasetName, PredictArgs};
use super::error::CliError;
use super::image_input::{SIDE, load_digit};
use super::model::io_sizes;
use super::model_file::ModelFile;
use kiln::Tensor;

/// One image's result: the classes by falling probability.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// `(class index, probability)`, most likely first.
    pub ranked: Vec<(usize, f64)>,
}

/// Class probabilities for each image in `batch` (`[N, 1, 28, 28]`).
pub fn classify(file: &ModelFile, batch: &Tensor) -> Vec<Prediction> {
    let _guard = kiln::no_grad_guard();
    let probs = file.model.forward(batch).softmax(1);
    let classes = probs.shape()[1];
    probs
        .to_vec::<f32>()
        .chunks(classes)
        .map(|row| {
            let mut ranked: Vec<(usize, f64)> = row.iter().map(|&p| p as f64).enumerate().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            Prediction { ranked }
        })
        .collect()
}

/// `kiln predict`.
pub fn run(args: &PredictArgs) -> Result<(), CliError> {
    let file = ModelFile::load(&args.model, &args.limits)?;
    let (inputs, outputs) = io_sizes(&file.model);
    if outputs == 0 {
        return Err(CliError::BadModel {
            path: args.model.clone(),
            reason: "it has no outputs".into(),
        });
    }
    if inputs != SIDE * SIDE {
        return Err(CliError::BadModel {
            path: args.model.clone(),
            reason: format!(
                "it takes {inputs} inputs, not the {} pixels of a 28×28 image",
                SIDE * SIDE
            ),
        });
    }
    let mut pixels = Vec::with_capacity(args.images.len() * SIDE * SIDE);
    for path in &args.images {
        pixels.extend(load_digit(path, file.normalize, args.max_pixels)?.to_vec::<f32>());
    }
    let batch = Tensor::from_vec(pixels, &[args.images.len(), 1, SIDE, SIDE]);
    let names = file
        .dataset
        .as_deref()
        .and_then(DatasetName::from_name)
        .map(|d| d.classes());
    let label = |c: usize| -> String {
        match names {
            Some(n) if c < n.len() && n == DatasetName::FashionMnist.classes() => n[c].to_string(),
            _ => c.to_string(),
        }
    };
    for (path, p) in args.images.iter().zip(classify(&file, &batch)) {
        let top: Vec<String> = p
            .ranked
            .iter()
            .take(3)
            .map(|&(c, prob)| format!("{} {:.2}%", label(c), 100.0 * prob))
            .collect();
        outln!(
            "{}: {}  (top 3: {})",
            path.display(),
            label(p.ranked[0].0),
            top.join(", ")
        );
    }
    Ok(())
}
