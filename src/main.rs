//! The `textrescue` binary: parses the command line and runs one command.
//! Exit status: 0 success, 1 failure, 2 usage error.

use std::io;
use std::process::ExitCode;

use clap::Parser;
use textrescue::cli::{Cli, Command};
use textrescue::commands;
use textrescue::error::UsageError;
use textrescue::escape;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Texts(a) => commands::texts::run(a),
        Command::Diff(a) => commands::diff::run(a),
        Command::History(a) => commands::history::run(a),
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Backup(a) => commands::backup::run(a),
        Command::Check(a) => commands::check::run(a),
        Command::Copy(a) => commands::copy::run(a),
        Command::Restore(a) => commands::restore::run(a),
        Command::Drill(a) => commands::drill::run(a),
        Command::Reindex(a) => commands::reindex::run(a),
        Command::Watch(a) => commands::watch::run(a),
        Command::Completions(a) => commands::completions::completions(a),
        Command::Man(a) => commands::completions::man(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("textrescue: {}", escape::message(&format!("{e:#}")));
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("textrescue: {}", escape::message(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// `textrescue texts ... | head` is not an error. (The csv and JSON
/// writers wrap the I/O error in their own, which does not always give it
/// as its source.)
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<csv::Error>().is_some_and(|e| {
                matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::BrokenPipe)
            })
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(io::ErrorKind::BrokenPipe))
    })
}
