//! `textrescue diff OLD NEW`: texts added, removed and changed between two
//! dumps (the matching is [`crate::diff`]'s).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;

use super::settings::{self, SqlFormatArgs, goes_with};
use super::{DumpArgs, read_dump, warn};
use crate::counts::plural;
use crate::diff::{compare, restore_records};
use crate::error::UsageError;
use crate::filter::FilterArgs;
use crate::output::diff::Colour;
use crate::output::sql::{self, OnConflict};
use crate::output::{self, Destination};

#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Texts are matched on (student id, task id): a text deleted and written again \
is `changed`, with both ids; a renamed student or task is matched and shown with both names. \
A filter keeps a text when its OLD or its NEW version passes it.

Exit status: 0 whether or not the dumps differ, 1 failure (e.g. a damaged dump), 2 usage error.

Examples:
  textrescue diff buggy_race_bk_20240304.sql.gz buggy_race_bk_20240305.sql.gz
  textrescue diff old.sql.gz new.sql.gz --user alice --text
  textrescue diff old.sql.gz new.sql.gz --format json -o changes.json
  textrescue diff old.sql.gz new.sql.gz --format sql > restore-removed.sql
  textrescue diff old.sql.gz new.sql.gz --format sql \\
      --on-conflict overwrite > restore-all.sql"
)]
pub struct Args {
    /// The older dump: a file, a pg_dump -Fd directory, or - for stdin.
    pub old: String,
    /// The newer dump.
    pub new: String,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// `sql` restores the removed texts (with --on-conflict overwrite, also
    /// the changed ones as they were in OLD).
    #[arg(short, long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
    /// With --format table: show a unified diff of each changed text
    /// (coloured when stdout is a terminal).
    #[arg(long)]
    pub text: bool,
    /// With --format csv: put a ' before every username, task or text that
    /// starts with =, +, -, @, a tab or a carriage return, so that a
    /// spreadsheet shows it instead of running it as a formula. This ALTERS
    /// the texts: for opening in a spreadsheet only, never for restoring.
    #[arg(long)]
    pub csv_safe: bool,
    /// Write to FILE instead of stdout (it appears only when complete).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub sql: SqlFormatArgs,
    #[command(flatten)]
    pub dump_args: DumpArgs,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFormat {
    Table,
    Json,
    /// A `status` column (added, removed, changed-old, changed-new), then the
    /// columns of `texts --format csv`.
    Csv,
    /// Restore SQL for psql: the removed texts (and changed ones with
    /// --on-conflict overwrite).
    Sql,
}

pub fn run(args: &Args) -> Result<()> {
    // Every usage check first.
    let sql_args = args.sql.sql(args.format == DiffFormat::Sql)?;
    if args.old == "-" && args.new == "-" {
        return Err(UsageError("OLD and NEW cannot both be standard input (-)".into()).into());
    }
    goes_with(
        args.text,
        args.format == DiffFormat::Table,
        "--text goes with --format table",
    )?;
    goes_with(
        args.csv_safe,
        args.format == DiffFormat::Csv,
        "--csv-safe goes with --format csv",
    )?;
    args.sql
        .check_goes_with_sql(args.format == DiffFormat::Sql)?;
    let filter = settings::filter(&args.filter)?;
    settings::not_an_input(args.output.as_deref(), &[&args.old, &args.new])?;
    // A text is kept when either version passes the filters, so the read
    // keeps only what both versions pass or fail alike: whose text it is.
    let mut options = args.dump_args.options();
    options.keep_only(&filter.of_students());
    let quiet = crate::dump::ReadOptions {
        progress: false,
        ..options.clone()
    };
    // Both dumps at once, one per core; one progress bar (NEW's) at most.
    let (old_dump, new_dump) = rayon::join(
        || read_dump(&args.old, &quiet),
        || read_dump(&args.new, &options),
    );
    let (mut old_dump, mut new_dump) = (old_dump?, new_dump?);
    // `--user` found its students by each dump's own usernames: one renamed
    // between the dumps needs his texts in the other dump too.
    let named = [&old_dump, &new_dump].map(|d| {
        d.texts_database()
            .map(|db| filter.user_ids_named(&db.texts.usernames))
            .unwrap_or_default()
    });
    let rereads = filter.rereads(&named);
    for ((arg, dump), keep) in [(&args.old, &mut old_dump), (&args.new, &mut new_dump)]
        .into_iter()
        .zip(rereads)
    {
        if let Some(keep) = keep {
            let mut again = quiet.clone();
            again.keep_only(&keep);
            // Not through read_dump: its warnings were given once.
            *dump = crate::dump::read(&crate::input::Source::from_arg(arg), &again)?;
        }
    }
    let (old_texts, old_warnings) = old_dump.texts()?;
    let (new_texts, new_warnings) = new_dump.texts()?;
    for w in old_warnings.iter().chain(&new_warnings) {
        warn(w);
    }
    // A name is unknown when neither dump has it.
    let unknown = filter.unknown_names(
        old_texts
            .usernames
            .values()
            .chain(new_texts.usernames.values())
            .map(String::as_str),
        old_texts.tasks.values().chain(new_texts.tasks.values()),
    );
    for w in &unknown {
        warn(&format!("neither {} nor {} has {w}", args.old, args.new));
    }
    let comparison = compare(old_texts, new_texts, &filter);

    let mut destination = Destination::open(args.output.as_deref())?;
    let out = destination.writer();
    match args.format {
        DiffFormat::Table => {
            super::warn_not_utf8(
                comparison
                    .removed
                    .iter()
                    .chain(comparison.changed.iter().flat_map(|(o, n)| [o, n]))
                    .chain(&comparison.added),
            );
            let colour = if args.output.is_none() && std::io::stdout().is_terminal() {
                Colour::Ansi
            } else {
                Colour::Never
            };
            output::diff::write_table(
                &comparison,
                &args.old,
                &args.new,
                args.text.then_some(colour),
                out,
            )?
        }
        DiffFormat::Json => output::diff::write_json(&comparison, &args.old, &args.new, out)?,
        DiffFormat::Csv => output::diff::write_csv(&comparison, out, args.csv_safe)?,
        DiffFormat::Sql => {
            let records = restore_records(
                &comparison,
                new_texts,
                sql_args.on_conflict == OnConflict::Overwrite,
            );
            if sql_args.on_conflict != OnConflict::Overwrite && !comparison.changed.is_empty() {
                warn(&format!(
                    "the script restores the {} removed text{}; the {} changed one{} stay as they are \
                     (--on-conflict overwrite puts them back as they were in {})",
                    comparison.removed.len(),
                    plural(comparison.removed.len()),
                    comparison.changed.len(),
                    plural(comparison.changed.len()),
                    args.old
                ));
            }
            // OLD's texts table: the live server has the same schema.
            let table = old_dump.texts_database()?.restore_table();
            let script = sql::RestoreScript::new(&args.old, &table, &sql_args);
            output::sql::write(&records, &script, out)?
        }
    }
    destination.finish()?;
    Ok(())
}
