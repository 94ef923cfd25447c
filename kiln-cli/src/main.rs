//! `kiln`: the command-line tool. See `kiln --help`.

#[macro_use]
mod cli;

use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit status after Ctrl-C (128 + SIGINT), as shells report it.
const INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // Under mpirun, join the job first: it sets each rank's threads to cores / local
    // ranks, which --threads then overrides.
    if matches!(args.command, cli::Command::Train(_))
        && let Err(e) = cli::dist::Dist::init()
    {
        errln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let threads = match &args.command {
        cli::Command::Train(t) => t.threads.map(|n| n as usize),
        cli::Command::Bench(b) => Some(b.threads),
        _ => None,
    };
    if let Some(n) = threads {
        kiln::set_num_threads(n);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    // While training, a first Ctrl-C asks to stop after the current batch (with a
    // checkpoint) and a second one quits at once. Other commands keep the default.
    if matches!(args.command, cli::Command::Train(_)) {
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(INTERRUPTED.into());
            }
            errln!("\nStopping after this batch (press Ctrl-C again to quit at once)...");
        });
    }
    match cli::run(args, &stop) {
        Ok(cli::Outcome::Finished) => ExitCode::SUCCESS,
        Ok(cli::Outcome::Interrupted) => ExitCode::from(INTERRUPTED),
        Err(e) => {
            errln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
