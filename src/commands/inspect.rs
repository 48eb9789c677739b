//! `textrescue inspect DUMP...`: what a dump is and what it holds.
//!
//! Reads each dump without keeping text contents, so memory stays small
//! whatever the dump's size. A damaged or incomplete dump is still
//! described (with `complete: false` and what is wrong), and makes the exit
//! status 1, so that `inspect` doubles as a check of last night's backup.

use std::io::Write;

use anyhow::{Result, bail};

use super::{DumpArgs, warn};
use crate::counts::plural;
use crate::dump;
use crate::input::Source;
use crate::inspect::{report, unreadable};
use crate::output;

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:
  textrescue inspect /buggy/server/db/backups/buggy_race_bk_20240305.sql.gz
  textrescue inspect backups/*.sql.gz --format json")]
pub struct Args {
    /// The dumps: files, pg_dump -Fd directories, or - for stdin.
    #[arg(required = true)]
    pub dumps: Vec<String>,
    #[arg(short, long, value_enum, default_value_t = InspectFormat::Table)]
    pub format: InspectFormat,
    #[command(flatten)]
    pub dump_args: DumpArgs,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectFormat {
    Table,
    Json,
}

pub fn run(args: &Args) -> Result<()> {
    let mut reports = Vec::new();
    let mut failed = 0;
    for path in &args.dumps {
        let mut options = args.dump_args.options();
        options.count_texts_only = true;
        options.count_rows = true;
        options.salvage = true;
        let report = match dump::read(&Source::from_arg(path), &options) {
            Ok(d) => report(&d),
            Err(e) => unreadable(path, format!("{e:#}")),
        };
        if let Some(error) = &report.error {
            eprintln!("textrescue: {}", crate::escape::message(&error.to_string()));
        }
        if let Some(problem) = &report.problem {
            warn(problem);
        }
        if let Some(problem) = &report.texts_problem {
            warn(problem);
        }
        if report.error.is_some()
            || !report.complete
            || report.problem.is_some()
            || report.texts_problem.is_some()
        {
            failed += 1;
        }
        reports.push(report);
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        InspectFormat::Json => output::inspect::write_json(&reports, &mut out)?,
        InspectFormat::Table => {
            for r in &reports {
                output::inspect::write_table(r, &mut out)?;
            }
        }
    }
    out.flush()?;
    if failed > 0 {
        bail!(
            "{failed} of {} dump{} {} damaged, incomplete or unreadable",
            args.dumps.len(),
            plural(args.dumps.len()),
            if failed == 1 { "is" } else { "are" }
        );
    }
    Ok(())
}
