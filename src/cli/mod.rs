//! The `kiln` command-line tool. Everything here serves the binary only; the library
//! never depends on it.

pub mod args;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod image_input;
pub mod info;
pub mod metrics;
pub mod model;
pub mod optimizer;
pub mod plots;
pub mod progress;

pub use args::{Cli, Command};
pub use error::CliError;

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Info(a) => {
            print!("{}", info::info_table(&a.file)?);
            Ok(())
        }
        Command::Train(_) | Command::Eval(_) | Command::Predict(_) => Err(CliError::Usage(
            "this command is not available yet".to_string(),
        )),
    }
}
