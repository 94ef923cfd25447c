//! `kiln train --grad-stats`: each layer's gradient norm after every backward, recorded
//! by [`kiln::nn::utils::GradStats`]'s hooks (in a data-parallel run, read from `.grad`
//! after backward: the averaged gradients), written to `grad_norms.jsonl` (one line per
//! batch), averaged per epoch into `metrics.jsonl`, and drawn as `grad_norms.png`.

use super::error::CliError;
use super::plots::{FONT, plot_err, register_fonts};
use kiln::nn::utils::{GradStats, layer_grad_norms};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One backward's per-layer gradient norms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradRow {
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based batch within the epoch.
    pub batch: usize,
    /// Layer names (a parameter name without its last part: `layers.0`).
    pub layers: Vec<String>,
    /// Each layer's gradient norm; `None` where it was not finite (JSON has no NaN).
    pub norms: Vec<Option<f64>>,
}

/// Where the norms come from.
enum Source {
    /// The hooks, as each gradient is accumulated.
    Hooks(GradStats),
    /// `.grad` after backward: under DDP the hooks run before the averages are written.
    Grads(Vec<(String, kiln::Tensor)>),
}

/// The recorder of a training run.
pub struct GradLog {
    source: Source,
    path: PathBuf,
    plot: PathBuf,
    epoch_rows: Vec<GradRow>,
}

impl GradLog {
    /// Hooks every named parameter; the files go into `dir`. A fresh run (`done` =
    /// `(0, 0)`) starts an empty `grad_norms.jsonl`; a resumed one keeps the rows up to
    /// `done` = (epochs finished, batches finished of the next epoch). With
    /// `averaged` (a data-parallel run), the norms are read from `.grad` after each
    /// backward, when they hold the averages over the ranks, instead of from hooks.
    pub fn attach(
        named: Vec<(String, kiln::Tensor)>,
        dir: &Path,
        done: (usize, usize),
        averaged: bool,
    ) -> Result<Self, CliError> {
        let path = dir.join("grad_norms.jsonl");
        let kept: Vec<GradRow> = read_rows(&path)?
            .into_iter()
            .filter(|r| r.epoch <= done.0 || (r.epoch == done.0 + 1 && r.batch <= done.1))
            .collect();
        write_rows(&path, &kept)?;
        Ok(GradLog {
            source: if averaged {
                Source::Grads(named)
            } else {
                Source::Hooks(GradStats::attach(named))
            },
            path,
            plot: dir.join("grad_norms.png"),
            epoch_rows: Vec::new(),
        })
    }

    /// Records the norms the last backward left, as batch `batch` of `epoch`.
    pub fn record(&mut self, epoch: usize, batch: usize) {
        let layer_norms = match &self.source {
            Source::Hooks(stats) => stats.layer_norms(),
            Source::Grads(named) => layer_grad_norms(named),
        };
        self.epoch_rows.push(GradRow {
            epoch,
            batch,
            layers: layer_norms.iter().map(|(n, _)| n.clone()).collect(),
            norms: layer_norms
                .iter()
                .map(|&(_, v)| v.is_finite().then_some(v))
                .collect(),
        });
    }

    /// Appends the rows recorded since the last call to the file (as an interrupted
    /// epoch must before its checkpoint is written) and returns every row on file.
    pub fn flush(&mut self) -> Result<Vec<GradRow>, CliError> {
        let mut all = read_rows(&self.path)?;
        all.append(&mut self.epoch_rows);
        write_rows(&self.path, &all)?;
        Ok(all)
    }

    /// Flushes, redraws the plot, and returns each layer's mean norm over epoch `epoch`
    /// (non-finite values skipped, rows of an interrupted part included), in layer order.
    pub fn finish_epoch(&mut self, epoch: usize) -> Result<Vec<(String, f64)>, CliError> {
        let all = self.flush()?;
        draw_grad_norms(&self.plot, &all)?;
        let this_epoch: Vec<GradRow> = all.into_iter().filter(|r| r.epoch == epoch).collect();
        Ok(epoch_means(&this_epoch))
    }
}

/// Each layer's mean over `rows`, skipping non-finite entries.
pub fn epoch_means(rows: &[GradRow]) -> Vec<(String, f64)> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    first
        .layers
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let vals: Vec<f64> = rows.iter().filter_map(|r| r.norms[i]).collect();
            let mean = if vals.is_empty() {
                f64::NAN
            } else {
                vals.iter().sum::<f64>() / vals.len() as f64
            };
            (name.clone(), mean)
        })
        .collect()
}

fn read_rows(path: &Path) -> Result<Vec<GradRow>, CliError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(CliError::file(path, e)),
    }
}

fn write_rows(path: &Path, rows: &[GradRow]) -> Result<(), CliError> {
    let mut text = String::new();
    for r in rows {
        text.push_str(&serde_json::to_string(r).expect("a gradient row always serializes"));
        text.push('\n');
    }
    kiln::io::atomic_write(path, text.as_bytes())?;
    Ok(())
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Draws every layer's gradient norm against the training step on a log scale: the
/// picture in which vanishing (falling towards the input) or exploding gradients show.
pub fn draw_grad_norms(path: &Path, rows: &[GradRow]) -> Result<(), CliError> {
    register_fonts();
    let err = plot_err(path);
    let layers: Vec<String> = rows.first().map(|r| r.layers.clone()).unwrap_or_default();
    let series: Vec<Vec<(f64, f64)>> = (0..layers.len())
        .map(|i| {
            rows.iter()
                .enumerate()
                .filter_map(|(step, r)| {
                    r.norms
                        .get(i)
                        .copied()
                        .flatten()
                        .filter(|v| *v > 0.0)
                        .map(|v| (step as f64 + 1.0, v))
                })
                .collect()
        })
        .collect();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(_, v) in series.iter().flatten() {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        (lo, hi) = (1e-3, 1.0);
    }
    let (lo, hi) = (lo / 1.5, hi * 1.5);
    let steps = rows.len().max(2) as f64;
    let root = BitMapBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Gradient norm per layer", (FONT, 22))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(1.0..steps, (lo..hi).log_scale())
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("training step (batch)")
        .y_desc("‖grad‖ (log scale)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .label_style((FONT, 14))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, (name, pts)) in layers.iter().zip(&series).enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let label = if name.is_empty() { "(top level)" } else { name };
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize, batch: usize, norms: &[Option<f64>]) -> GradRow {
        GradRow {
            epoch,
            batch,
            layers: vec!["layers.0".into(), "layers.2".into()],
            norms: norms.to_vec(),
        }
    }

    #[test]
    fn epoch_means_skip_non_finite_values() {
        let rows = [
            row(1, 1, &[Some(1.0), Some(4.0)]),
            row(1, 2, &[Some(3.0), None]),
        ];
        assert_eq!(
            epoch_means(&rows),
            vec![("layers.0".to_string(), 2.0), ("layers.2".to_string(), 4.0)]
        );
        let nan = epoch_means(&[row(1, 1, &[None, None])]);
        assert!(nan[0].1.is_nan());
        assert!(epoch_means(&[]).is_empty());
    }

    #[test]
    fn rows_round_trip_and_the_plot_draws_with_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.jsonl");
        let rows = vec![
            row(1, 1, &[Some(0.5), None]),
            row(1, 2, &[Some(0.25), Some(2.0)]),
        ];
        write_rows(&p, &rows).unwrap();
        assert_eq!(read_rows(&p).unwrap(), rows);
        let png = dir.path().join("g.png");
        draw_grad_norms(&png, &rows).unwrap();
        assert!(std::fs::metadata(&png).unwrap().len() > 1000);
        draw_grad_norms(&png, &[]).unwrap();
    }
}
