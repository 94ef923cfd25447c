//! Progress of one training epoch on stderr: an `indicatif` bar (batches, running loss,
//! samples/s, ETA) on a terminal, plain periodic lines otherwise (logs, CI, pipes).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often the plain (non-terminal) output prints a line.
const PLAIN_INTERVAL: Duration = Duration::from_secs(10);

/// Progress display for one epoch.
pub struct EpochProgress {
    bar: Option<ProgressBar>,
    label: String,
    total_batches: usize,
    batches: usize,
    samples: usize,
    loss_sum: f64,
    start: Instant,
    last_line: Instant,
    interval: Duration,
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live bar (stderr is a terminal).
    Bar,
    /// A line every so often.
    Plain,
    /// Nothing.
    Off,
}

impl ProgressMode {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Plain
        }
    }
}

impl EpochProgress {
    /// Starts the display for epoch `epoch` of `epochs`, which has `total_batches` batches.
    pub fn new(epoch: usize, epochs: usize, total_batches: usize, mode: ProgressMode) -> Self {
        let label = format!("Epoch {epoch}/{epochs}");
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(total_batches as u64),
                ProgressDrawTarget::stderr_with_hz(10),
            );
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30.cyan/blue}] {pos}/{len} batches  {msg}  ETA {eta}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar.set_prefix(label.clone());
            bar
        });
        let now = Instant::now();
        EpochProgress {
            bar,
            label,
            total_batches,
            batches: 0,
            samples: 0,
            loss_sum: 0.0,
            start: now,
            last_line: now,
            interval: if mode == ProgressMode::Off {
                Duration::MAX
            } else {
                PLAIN_INTERVAL
            },
        }
    }

    /// Records one finished batch of `samples` samples with mean loss `loss`.
    pub fn batch_done(&mut self, samples: usize, loss: f64) {
        self.batches += 1;
        self.samples += samples;
        self.loss_sum += loss;
        if let Some(bar) = &self.bar {
            bar.set_position(self.batches as u64);
            if self.batches.is_multiple_of(10) || self.batches == self.total_batches {
                bar.set_message(self.status());
            }
        } else if self.last_line.elapsed() >= self.interval {
            self.last_line = Instant::now();
            let left = self.total_batches.saturating_sub(self.batches);
            let per_batch = self.start.elapsed().as_secs_f64() / self.batches as f64;
            errln!(
                "{} batch {}/{}  {}  ETA {:.0}s",
                self.label,
                self.batches,
                self.total_batches,
                self.status(),
                per_batch * left as f64
            );
        }
    }

    fn status(&self) -> String {
        format!(
            "loss {:.4}  {:.0} samples/s",
            self.running_loss(),
            self.samples_per_sec()
        )
    }

    /// Mean loss of the batches so far.
    pub fn running_loss(&self) -> f64 {
        self.loss_sum / self.batches.max(1) as f64
    }

    /// Samples per second since the epoch started.
    pub fn samples_per_sec(&self) -> f64 {
        self.samples as f64 / self.start.elapsed().as_secs_f64().max(1e-9)
    }

    /// Removes the bar (so the epoch summary line that follows stands alone).
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_loss_is_the_mean_of_batch_losses() {
        let mut p = EpochProgress::new(1, 1, 3, ProgressMode::Off);
        p.batch_done(64, 1.0);
        p.batch_done(64, 2.0);
        assert!((p.running_loss() - 1.5).abs() < 1e-12);
        assert!(p.samples_per_sec() > 0.0);
        p.finish();
    }
}
