//! `kiln info FILE`: what a weights file (safetensors or PyTorch `.pt`/`.pth`/`.bin`)
//! holds, as a table.

use super::args::{MAX_LAYERS, ModelKind};
use super::error::CliError;
use super::model::{Classifier, classifier_from_tensors, layer_summary};
use kiln::io::{FileFormat, parse_pt, parse_safetensors};
use kiln::nn::Module;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

/// Reads a weights file and returns the table `kiln info` prints: one row per tensor
/// (name, dtype, shape, element count), then the parameter count and any metadata. A
/// nested PyTorch file (`{'model': ..., 'optimizer': ...}`) lists its tensors by dotted
/// path (`model.0.weight`). A file holding a network `kiln eval` can run (the MLP or
/// the CNN) gets a second table: its layers in forward order, each with its output shape
/// and parameter count.
pub fn info_table(path: &Path, max_bytes: u64) -> Result<String, CliError> {
    let (format, bytes) = kiln::io::read_weights_file(path, max_bytes)?;
    let (mut tensors, metadata) = match format {
        FileFormat::Safetensors => parse_safetensors(path, &bytes)?,
        FileFormat::PyTorch => (parse_pt(path, &bytes)?.flat_tensors(), HashMap::new()),
    };
    tensors.sort_by_key(|(name, _)| natural_key(name));
    let rows: Vec<[String; 4]> = tensors
        .iter()
        .map(|(name, t)| {
            let shape = t
                .size()
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(" x ");
            [
                name.clone(),
                t.dtype().torch_name().to_string(),
                format!("[{shape}]"),
                group_thousands(t.numel()),
            ]
        })
        .collect();
    let header = ["tensor", "dtype", "shape", "elements"];
    let mut width = header.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 4]| {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2],
            w3 = width[3]
        );
    };
    line(&mut out, header);
    let total_width = width.iter().sum::<usize>() + 6;
    let _ = writeln!(out, "{}", "-".repeat(total_width));
    for r in &rows {
        line(&mut out, [&r[0], &r[1], &r[2], &r[3]]);
    }
    let _ = writeln!(out, "{}", "-".repeat(total_width));
    let is_param = |name: &str, t: &kiln::Tensor| {
        t.dtype().is_float() && !name.ends_with("running_mean") && !name.ends_with("running_var")
    };
    let params: usize = tensors
        .iter()
        .filter(|(n, t)| is_param(n, t))
        .map(|(_, t)| t.numel())
        .sum();
    let all: usize = tensors.iter().map(|(_, t)| t.numel()).sum();
    let _ = write!(
        out,
        "{} tensors, {} parameters",
        tensors.len(),
        group_thousands(params)
    );
    if all > params {
        let _ = write!(
            out,
            " (and {} other elements)",
            group_thousands(all - params)
        );
    }
    let _ = writeln!(out);
    let mut meta: Vec<_> = metadata.into_iter().collect();
    meta.sort();
    for (k, v) in meta {
        let _ = writeln!(out, "metadata {k} = {v}");
    }
    if let Ok(model) = classifier_from_tensors(path, tensors, MAX_LAYERS) {
        out.push_str(&layer_table(&model));
    }
    Ok(out)
}

/// The layers of a model `kiln eval` can run, in forward order, with each one's output
/// shape and parameter count.
fn layer_table(model: &Classifier) -> String {
    let rows: Vec<[String; 4]> = layer_summary(model)
        .into_iter()
        .map(|[n, l, s, c]| {
            let c = group_thousands(c.parse().unwrap_or(0));
            [n, l, s, c]
        })
        .collect();
    let header = ["layer", "module", "output", "parameters"].map(String::from);
    let mut width = [0; 4];
    for r in std::iter::once(&header).chain(&rows) {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let what = match model.kind() {
        ModelKind::Mlp => "the tutorial's MLP (kiln train --model mlp)",
        ModelKind::Cnn => "the CNN of PyTorch's mnist/main.py (kiln train --model cnn)",
    };
    let mut out = format!("\nLayers of {what}:\n");
    for r in std::iter::once(&header).chain(&rows) {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2],
            w3 = width[3]
        );
    }
    let _ = writeln!(
        out,
        "{} parameters",
        group_thousands(model.num_parameters())
    );
    out
}

/// Sort key that orders `layers.10.weight` after `layers.2.bias` and a layer's weight
/// before its bias, as PyTorch lists them.
fn natural_key(name: &str) -> Vec<(u8, u64, String)> {
    name.split('.')
        .map(|part| match part.parse::<u64>() {
            Ok(n) => (0, n, String::new()),
            Err(_) => {
                let rank = match part {
                    "weight" => 1,
                    "bias" => 2,
                    _ => 3,
                };
                (rank, 0, part.to_string())
            }
        })
        .collect()
}

/// `235146` -> `235,146`.
pub fn group_thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln::Tensor;

    #[test]
    fn groups_digits() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(235146), "235,146");
    }

    #[test]
    fn table_lists_tensors_and_counts_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        let tensors = vec![
            ("layers.10.weight".to_string(), Tensor::zeros(&[3, 4])),
            ("layers.2.bias".to_string(), Tensor::zeros(&[3])),
            ("layers.2.weight".to_string(), Tensor::zeros(&[3, 4])),
            ("layers.2.running_mean".to_string(), Tensor::zeros(&[3])),
        ];
        kiln::io::save_safetensors(&p, &tensors, None).unwrap();
        let t = info_table(&p, u64::MAX).unwrap();
        let names: Vec<&str> = t
            .lines()
            .skip(2)
            .take(4)
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "layers.2.weight",
                "layers.2.bias",
                "layers.2.running_mean",
                "layers.10.weight"
            ]
        );
        assert!(t.contains("layers.2.weight        float32  [3 x 4]"), "{t}");
        assert!(
            t.contains("4 tensors, 27 parameters (and 3 other elements)"),
            "{t}"
        );
    }
}
