//! The `kiln` command-line tool. Everything here serves the binary only; the library
//! never depends on it.

use std::io::Write;

/// `print!` that never panics: output to a closed pipe (`kiln eval | head`) is dropped.
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::write_to(std::io::stdout().lock(), &format!($($t)*)) };
}

/// `println!` that never panics (see [`out!`]).
macro_rules! outln {
    ($($t:tt)*) => { $crate::cli::write_to(std::io::stdout().lock(), &format!("{}\n", format_args!($($t)*))) };
}

/// `eprintln!` that never panics (see [`out!`]).
macro_rules! errln {
    ($($t:tt)*) => { $crate::cli::write_to(std::io::stderr().lock(), &format!("{}\n", format_args!($($t)*))) };
}

/// Writes and flushes `text`, ignoring failures: a reader that went away must not turn
/// into a crash, and training goes on regardless.
pub fn write_to(mut w: impl Write, text: &str) {
    let _ = w.write_all(text.as_bytes()).and_then(|_| w.flush());
}

pub mod args;
pub mod bench;
pub mod bench_rnn;
pub mod bench_simd;
pub mod checkpoint;
pub mod cnn;
pub mod config;
pub mod data;
pub mod dist;
pub mod error;
pub mod eval;
pub mod grad_stats;
pub mod image_input;
pub mod info;
pub mod metrics;
pub mod model;
pub mod model_file;
pub mod optimizer;
pub mod plots;
pub mod predict;
pub mod progress;
pub mod rundir;
pub mod train;

pub use args::{Cli, Command};
pub use error::CliError;
pub use train::Outcome;

/// Runs one parsed command line; `stop` is set when the user presses Ctrl-C.
pub fn run(cli: Cli, stop: &std::sync::atomic::AtomicBool) -> Result<Outcome, CliError> {
    match cli.command {
        Command::Info(a) => {
            out!("{}", info::info_table(&a.file, a.max_model_bytes)?);
            Ok(Outcome::Finished)
        }
        Command::Convert(a) => {
            outln!("{}", convert_message(&a)?);
            Ok(Outcome::Finished)
        }
        Command::Train(a) => train::run(&a, stop),
        Command::Eval(a) => eval::run(&a).map(|_| Outcome::Finished),
        Command::Predict(a) => predict::run(&a).map(|_| Outcome::Finished),
        Command::Bench(a) => bench::run(&a).map(|_| Outcome::Finished),
    }
}

/// Runs `kiln convert` and says what it wrote.
fn convert_message(a: &args::ConvertArgs) -> Result<String, CliError> {
    let what = match kiln::io::convert(&a.input, &a.output)? {
        kiln::io::Converted::Checkpoint => "a kiln training checkpoint".to_string(),
        kiln::io::Converted::Tensors { count, dropped: 0 } => format!("{count} tensors"),
        kiln::io::Converted::Tensors { count, dropped } => {
            format!("{count} tensors ({dropped} non-tensor values left out)")
        }
    };
    let format = match kiln::io::FileFormat::for_saving(&a.output) {
        kiln::io::FileFormat::PyTorch => "PyTorch",
        kiln::io::FileFormat::Safetensors => "safetensors",
    };
    Ok(format!("wrote {} ({format}): {what}", a.output.display()))
}
