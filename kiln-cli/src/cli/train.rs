//! `kiln train`: the tutorial's training loop with progress, metrics, plots, and
//! checkpoints that make an interrupted run resumable to the same final weights.

use super::args::{ModelKind, TrainArgs};
use super::checkpoint::{Checkpoint, Progress};
use super::config::{RunConfig, optimizer_name};
use super::data::{NORMALIZE, Split, load_split};
use super::dist::{Dist, GradSync};
use super::error::CliError;
use super::eval::{EVAL_BATCH, evaluate, predictions};
use super::grad_stats::GradLog;
use super::info::group_thousands;
use super::metrics::{EpochRecord, append_record, read_records, write_records};
use super::model::{Arch, Classifier, named_state};
use super::model_file::{ModelNote, save_model};
use super::optimizer::{OptimizerConfig, ScheduleConfig};
use super::plots::draw_curves;
use super::progress::{EpochProgress, ProgressMode};
use super::rundir::{RunLock, remove_stale_temps};
use kiln::data::{DataLoader, DistributedSampler, TensorDataset};
use kiln::nn::{Module, Reduction};
use kiln::optim::{LrScheduler, Optimizer};
use kiln::tensor::random::{get_rng_state, set_rng_state};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// How a training run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every epoch ran.
    Finished,
    /// Stopped early on request (Ctrl-C); a checkpoint holds the state.
    Interrupted,
}

/// The files a run writes into `--out`.
pub struct OutFiles {
    /// `model.safetensors`.
    pub model: PathBuf,
    /// `checkpoint.safetensors`.
    pub checkpoint: PathBuf,
    /// `metrics.jsonl`.
    pub metrics: PathBuf,
    /// `curves.png`.
    pub curves: PathBuf,
}

impl OutFiles {
    fn new(dir: &Path) -> Self {
        OutFiles {
            model: dir.join("model.safetensors"),
            checkpoint: dir.join("checkpoint.safetensors"),
            metrics: dir.join("metrics.jsonl"),
            curves: dir.join("curves.png"),
        }
    }
}

fn validate(args: &TrainArgs, config: &RunConfig) -> Result<(), CliError> {
    let usage = |m: String| Err(CliError::Usage(m));
    if args.model == ModelKind::Cnn {
        let mlp_only = [
            ("--hidden", args.hidden.is_some()),
            ("--dropout", args.dropout.is_some()),
            ("--batch-norm", args.batch_norm),
        ];
        if let Some((flag, _)) = mlp_only.iter().find(|(_, given)| *given) {
            return usage(format!(
                "{flag} shapes the MLP; --model cnn is main.py's network (dropout 0.25 and 0.5)"
            ));
        }
    }
    if !(0.0..1.0).contains(&config.dropout) {
        return usage(format!(
            "--dropout must be at least 0 and below 1, not {}",
            config.dropout
        ));
    }
    if config.hidden.contains(&0) {
        return usage("--hidden widths must be positive".into());
    }
    if args.gamma.is_some() && config.lr_step == 0 {
        return usage("--gamma needs --lr-step (the epochs between rate changes)".into());
    }
    schedule_config(config).validate()?;
    optimizer_config(args, config).validate()
}

fn optimizer_config(args: &TrainArgs, config: &RunConfig) -> OptimizerConfig {
    OptimizerConfig {
        name: optimizer_name(args),
        lr: config.lr,
        momentum: args.momentum,
        weight_decay: args.weight_decay,
    }
}

fn schedule_config(config: &RunConfig) -> ScheduleConfig {
    ScheduleConfig {
        step: config.lr_step,
        gamma: config.gamma,
    }
}

/// Running totals of one epoch's training batches.
struct Tally {
    loss_sum: f64,
    correct: u64,
    seen: u64,
    batches: usize,
}

/// The state shared by the epochs of a run.
struct Run<'a> {
    args: &'a TrainArgs,
    config: RunConfig,
    files: OutFiles,
    model: Classifier,
    optimizer: Box<dyn Optimizer>,
    scheduler: Option<Box<dyn LrScheduler>>,
    train: DataLoader<TensorDataset>,
    test: DataLoader<TensorDataset>,
    classes: usize,
    stop: &'a AtomicBool,
    /// Test hook: request a stop after this many batches in this process.
    stop_after: Option<u64>,
    batches_run: u64,
    /// `--grad-stats`'s recorder.
    grad_log: Option<GradLog>,
    /// This process's place in a data-parallel run (`mpirun -np N kiln train`).
    dist: Dist,
    /// Each rank's share of the epochs when distributed.
    sampler: Option<DistributedSampler>,
    /// Gradient averaging across the ranks (nothing for one process).
    sync: GradSync,
}

/// `kiln train`. `stop` is set by the Ctrl-C handler.
pub fn run(args: &TrainArgs, stop: &AtomicBool) -> Result<Outcome, CliError> {
    let dist = Dist::current();
    let config = RunConfig::from_args(args);
    validate(args, &config)?;
    let files = OutFiles::new(&args.out);
    let name = args.data.dataset;
    let load = || -> Result<(Split, Split), CliError> {
        let train = load_split(name, &args.data, true, args.limit)?;
        let test = load_split(name, &args.data, false, args.test_limit)?;
        Ok((train, test))
    };
    // Rank 0 first: it may download the data set the others then read.
    let loaded = if dist.is_main() {
        let r = load();
        dist.barrier_within(3600);
        r
    } else {
        dist.barrier_within(3600);
        load()
    };
    let (train, test) = dist.agree(loaded)?;
    // Only rank 0 writes into --out.
    let setup = if dist.is_main() {
        (|| -> Result<Option<RunLock>, CliError> {
            std::fs::create_dir_all(&args.out).map_err(|e| CliError::file(&args.out, e))?;
            let lock = RunLock::acquire(&args.out)?;
            remove_stale_temps(&args.out);
            if !args.resume && !args.overwrite {
                refuse_to_overwrite(&args.out, &files)?;
            }
            Ok(Some(lock))
        })()
    } else {
        Ok(None)
    };
    let _lock = dist.agree(setup)?;
    // Every rank reads the checkpoint (on a file system they share): the model comes
    // from rank 0 anyway, the optimizer's state must be the same everywhere.
    let resume = if args.resume {
        Some(dist.agree(load_resume(&files.checkpoint, &config, args))?)
    } else {
        None
    };
    if let Some(ck) = &resume
        && ck.progress.batches_done > 0
        && dist.is_distributed()
    {
        return Err(CliError::Usage(
            "the checkpoint was taken mid-epoch by a single process; resume it with one \
             process (data-parallel runs checkpoint at epoch ends only)"
                .into(),
        ));
    }

    kiln::manual_seed(args.seed);
    let arch = Arch {
        model: args.model,
        inputs: 28 * 28,
        hidden: config.hidden.clone(),
        classes: train.classes.len(),
        dropout: config.dropout,
        batch_norm: args.batch_norm,
    };
    let model = arch.build();
    let mut optimizer = optimizer_config(args, &config).build(model.parameters());
    let mut scheduler = schedule_config(&config).build(optimizer.as_mut());
    let mut records = Vec::new();
    if let Some(ck) = &resume {
        dist.agree(ck.restore(
            &files.checkpoint,
            &model,
            optimizer.as_mut(),
            scheduler.as_mut().map(|s| &mut **s as &mut dyn LrScheduler),
        ))?;
        if dist.is_main() {
            records = read_records(&files.metrics)?;
            records.retain(|r| r.epoch <= ck.progress.epochs_done);
            write_records(&files.metrics, &records)?;
        }
    } else if dist.is_main() {
        write_records(&files.metrics, &[])?;
    }
    let sync = GradSync::attach(&dist, &model)?;
    if dist.is_main() {
        announce(args, &train, &test, &model, resume.as_ref(), &dist);
    }
    let classes = train.classes.len();
    let first = resume.as_ref().map_or(1, |c| c.progress.epochs_done + 1);
    let grad_log = if args.grad_stats && dist.is_main() {
        let done = resume.as_ref().map_or((0, 0), |c| {
            (c.progress.epochs_done, c.progress.batches_done)
        });
        Some(GradLog::attach(
            model.named_parameters(),
            &args.out,
            done,
            dist.is_distributed(),
        )?)
    } else {
        None
    };
    let samples = train.dataset.tensors().0.shape()[0];
    let sampler = dist
        .is_distributed()
        .then(|| DistributedSampler::new(samples, dist.world, dist.rank).seed(args.seed));
    let train_loader = DataLoader::new(train.dataset).batch_size(args.batch_size as usize);
    let train_loader = match &sampler {
        Some(s) => train_loader.sampler(s.clone()),
        None => train_loader.shuffle(true),
    };
    let mut run = Run {
        args,
        config,
        files,
        model,
        optimizer,
        scheduler,
        train: train_loader,
        test: DataLoader::new(test_share(test.dataset, &dist)).batch_size(EVAL_BATCH),
        classes,
        stop,
        stop_after: std::env::var("KILN_STOP_AFTER_BATCHES")
            .ok()
            .and_then(|v| v.parse().ok()),
        batches_run: 0,
        grad_log,
        dist,
        sampler,
        sync,
    };
    let mut resume = resume;
    let mut ran = 0;
    for epoch in first..=args.epochs as usize {
        if let Some(ck) = &resume
            && ck.progress.epochs_done + 1 == epoch
        {
            set_rng_state(ck.rng_epoch_start.clone());
        }
        match run.epoch(epoch, resume.take())? {
            Some(record) => records.push(record),
            None => return Ok(Outcome::Interrupted),
        }
        ran += 1;
        if dist.is_main() {
            draw_curves(&run.files.curves, &records)?;
        }
        if dist.any(run.stop.load(Ordering::SeqCst)) {
            errln!("Stopped after epoch {epoch}; continue with the same command and --resume.");
            return Ok(Outcome::Interrupted);
        }
    }
    if !dist.is_main() {
    } else if ran == 0 {
        errln!(
            "Nothing to do: the checkpoint in {} has already finished {} epochs.",
            args.out.display(),
            first - 1
        );
    } else {
        errln!(
            "Saved {} (and metrics.jsonl, curves.png, checkpoint.safetensors)",
            run.files.model.display()
        );
    }
    Ok(Outcome::Finished)
}

/// This rank's share of the test set: one contiguous slice per rank, the whole set for
/// a single process (no padding, so the summed counts are the whole set's).
fn test_share(test: TensorDataset, dist: &Dist) -> TensorDataset {
    if !dist.is_distributed() {
        return test;
    }
    let (x, y) = test.tensors();
    let n = x.shape()[0];
    let (lo, hi) = (n * dist.rank / dist.world, n * (dist.rank + 1) / dist.world);
    TensorDataset::new((
        x.narrow(0, lo as isize, hi - lo),
        y.narrow(0, lo as isize, hi - lo),
    ))
}

/// Refuses to start a fresh run in a directory that holds one.
fn refuse_to_overwrite(dir: &Path, files: &OutFiles) -> Result<(), CliError> {
    let metrics_used = std::fs::metadata(&files.metrics).is_ok_and(|m| m.len() > 0);
    let found = [&files.model, &files.checkpoint]
        .into_iter()
        .find(|p| p.exists())
        .or(metrics_used.then_some(&files.metrics));
    match found {
        Some(p) => Err(CliError::Usage(format!(
            "{} already holds a run ({}); continue it with --resume or replace it with --overwrite",
            dir.display(),
            p.file_name().unwrap_or_default().to_string_lossy()
        ))),
        None => Ok(()),
    }
}

fn load_resume(path: &Path, config: &RunConfig, args: &TrainArgs) -> Result<Checkpoint, CliError> {
    if !path.exists() {
        return Err(CliError::Usage(format!(
            "there is no checkpoint to resume from at {}; run without --resume to start training",
            path.display()
        )));
    }
    let ck = Checkpoint::load(path, args.limits.max_model_bytes, args.keep_going)?;
    if let Some((opt, now, was)) = config.first_difference(&ck.config) {
        return Err(CliError::Usage(format!(
            "{opt} is {now} but the checkpoint in {} was made with {was}; resume with the same \
             options (only --epochs, --threads, --out and the data location may change)",
            path.parent().unwrap_or(path).display()
        )));
    }
    Ok(ck)
}

fn announce(
    args: &TrainArgs,
    train: &Split,
    test: &Split,
    model: &Classifier,
    resume: Option<&Checkpoint>,
    dist: &Dist,
) {
    let n = |s: &Split| s.dataset.tensors().0.shape()[0];
    if dist.is_distributed() {
        errln!(
            "Data-parallel over {} processes: batch {} per process ({} per step)",
            dist.world,
            args.batch_size,
            args.batch_size * dist.world as u64
        );
    }
    errln!(
        "Training a {} {} classifier: {} parameters, {} training and {} test samples, \
         {} thread{}, output in {}",
        train.title,
        match model.kind() {
            ModelKind::Mlp => "MLP",
            ModelKind::Cnn => "CNN",
        },
        group_thousands(model.num_parameters()),
        n(train),
        n(test),
        kiln::get_num_threads(),
        if kiln::get_num_threads() == 1 {
            ""
        } else {
            "s"
        },
        args.out.display()
    );
    if let Some(ck) = resume {
        let p = &ck.progress;
        if p.batches_done > 0 {
            errln!(
                "Resuming epoch {} at batch {}",
                p.epochs_done + 1,
                p.batches_done + 1
            );
        } else {
            errln!("Resuming after epoch {}", p.epochs_done);
        }
    }
}

impl Run<'_> {
    /// Trains one epoch, tests, and saves everything; `None` if stopped part way (after
    /// saving a checkpoint). `resume` carries a mid-epoch checkpoint to continue from.
    fn epoch(
        &mut self,
        epoch: usize,
        resume: Option<Checkpoint>,
    ) -> Result<Option<EpochRecord>, CliError> {
        let rng_epoch_start = get_rng_state();
        if let Some(s) = &self.sampler {
            s.set_epoch(epoch as u64);
        }
        self.model.train();
        let mut batches = self.train.iter();
        let total = self.train.len();
        let mut tally = Tally {
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            batches: 0,
        };
        if let Some(ck) = resume.filter(|c| c.progress.batches_done > 0) {
            // The same shuffle as the interrupted epoch (drawn above from the same
            // generator state); skip what was done and pick up its random stream.
            for _ in 0..ck.progress.batches_done {
                batches.next();
            }
            set_rng_state(ck.state.rng.clone());
            tally = Tally {
                loss_sum: ck.progress.loss_sum,
                correct: ck.progress.correct,
                seen: ck.progress.seen,
                batches: ck.progress.batches_done,
            };
        }
        let mut progress = EpochProgress::new(
            epoch,
            self.args.epochs as usize,
            total,
            if self.dist.is_main() {
                ProgressMode::detect()
            } else {
                ProgressMode::Off
            },
        );
        let start = Instant::now();
        let start_seen = tally.seen;
        for (x, y) in batches {
            self.optimizer.zero_grad();
            self.sync.prepare_forward();
            let output = self.model.forward(&x);
            let loss_t = self.model.loss(&output, &y, Reduction::Mean);
            let loss = loss_t.item();
            // Ranks stop together: one alone would leave the others in the all-reduce.
            let diverged = if self.dist.is_distributed() {
                self.dist.any(!loss.is_finite())
            } else {
                !loss.is_finite()
            };
            if diverged && !self.args.keep_going {
                progress.finish();
                return Err(self.diverged(
                    epoch,
                    tally.batches + 1,
                    total,
                    &format!("the loss is {loss}"),
                ));
            }
            loss_t.backward();
            if let Some(log) = &mut self.grad_log {
                log.record(epoch, tally.batches + 1);
            }
            self.optimizer.step();
            let labels = y.to_vec::<i64>();
            let correct = predictions(&output.detach())
                .iter()
                .zip(&labels)
                .filter(|(p, t)| p == t)
                .count();
            tally.loss_sum += loss;
            tally.correct += correct as u64;
            tally.seen += labels.len() as u64;
            tally.batches += 1;
            progress.batch_done(labels.len(), loss);
            self.batches_run += 1;
            if self.stop_after == Some(self.batches_run) {
                self.stop.store(true, Ordering::SeqCst);
            }
            // A data-parallel run stops at the end of the epoch (checked in `run`).
            if !self.dist.is_distributed()
                && self.stop.load(Ordering::SeqCst)
                && tally.batches < total
            {
                progress.finish();
                if let Some(log) = &mut self.grad_log {
                    log.flush()?;
                }
                self.save_checkpoint(epoch - 1, &tally, rng_epoch_start)?;
                errln!(
                    "Interrupted in epoch {epoch} after batch {}/{total}; saved {}. \
                     Continue with the same command and --resume.",
                    tally.batches,
                    self.files.checkpoint.display()
                );
                return Ok(None);
            }
        }
        let mut totals = [
            tally.loss_sum,
            tally.correct as f64,
            tally.seen as f64,
            tally.batches as f64,
            start_seen as f64,
        ];
        self.dist.sum(&mut totals);
        let tally = Tally {
            loss_sum: totals[0],
            correct: totals[1] as u64,
            seen: totals[2] as u64,
            batches: totals[3] as usize,
        };
        let start_seen = totals[4] as u64;
        let train_seconds = start.elapsed().as_secs_f64();
        progress.finish();
        // scheduler.step() after the epoch, as main.py; the checkpoint saved below holds
        // the stepped rate and counter.
        if let Some(s) = self.scheduler.as_mut() {
            s.step(self.optimizer.as_mut());
        }
        if !self.args.keep_going
            && let Err(why) = super::model::check_finite(&named_state(&self.model))
        {
            return Err(self.diverged(epoch, tally.batches, total, &why));
        }
        // Each rank tests its share of the test set with rank 0's model (its buffers
        // included: the running statistics of the last step are each rank's own), and
        // the sums make the figures of the whole set.
        self.sync.broadcast_buffers();
        let ev = evaluate(&self.model, &self.test, self.classes);
        let (test_loss, test_acc) = if self.dist.is_distributed() {
            let mut sums = [
                ev.loss * ev.total as f64,
                ev.correct as f64,
                ev.total as f64,
            ];
            self.dist.sum(&mut sums);
            (sums[0] / sums[2].max(1.0), sums[1] / sums[2].max(1.0))
        } else {
            (ev.loss, ev.accuracy())
        };
        let record = EpochRecord {
            epoch,
            train_loss: tally.loss_sum / tally.batches.max(1) as f64,
            train_acc: tally.correct as f64 / tally.seen.max(1) as f64,
            test_loss,
            test_acc,
            train_seconds,
            samples_per_sec: (tally.seen - start_seen) as f64 / train_seconds.max(1e-9),
            grad_norms: None,
        };
        if !self.dist.is_main() {
            // Rank 0 saves; the others wait for it.
            self.dist.barrier_within(3600);
            return Ok(Some(record));
        }
        let grad_norms = match &mut self.grad_log {
            Some(log) => Some(log.finish_epoch(epoch)?),
            None => None,
        };
        let record = EpochRecord {
            grad_norms,
            ..record
        };
        outln!(
            "Epoch {epoch}: Loss={:.4}, Train Acc={:.2}%, Test Acc={:.2}%",
            record.train_loss,
            100.0 * record.train_acc,
            100.0 * record.test_acc
        );
        append_record(&self.files.metrics, &record)?;
        let note = ModelNote {
            dataset: Some(self.config.dataset.clone()),
            normalize: Some(NORMALIZE),
        };
        save_model(&self.files.model, &self.model, &note)?;
        let done = Tally {
            loss_sum: 0.0,
            correct: 0,
            seen: 0,
            batches: 0,
        };
        self.save_checkpoint(epoch, &done, get_rng_state())?;
        self.dist.barrier_within(3600);
        Ok(Some(record))
    }

    /// The error for a run that went non-finite; nothing of it was saved, so the files
    /// in --out still hold the last good epoch.
    fn diverged(&self, epoch: usize, batch: usize, total: usize, what: &str) -> CliError {
        let kept = if self.files.checkpoint.exists() {
            format!(
                "{} still holds the last good epoch",
                self.files.checkpoint.display()
            )
        } else {
            "nothing was saved".to_string()
        };
        CliError::Usage(format!(
            "training diverged in epoch {epoch} at batch {batch}/{total}: {what}; stopped ({kept}). \
             Try a lower --lr, or pass --keep-going to train on regardless"
        ))
    }

    fn save_checkpoint(
        &self,
        epochs_done: usize,
        tally: &Tally,
        rng_epoch_start: kiln::Generator,
    ) -> Result<(), CliError> {
        let progress = Progress {
            epochs_done,
            batches_done: tally.batches,
            loss_sum: tally.loss_sum,
            correct: tally.correct,
            seen: tally.seen,
        };
        Checkpoint::capture(
            &self.model,
            self.optimizer.as_ref(),
            self.scheduler.as_deref(),
            self.config.clone(),
            progress,
            rng_epoch_start,
        )
        .save(&self.files.checkpoint)
    }
}
