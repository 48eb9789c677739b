//! `textrescue diff OLD NEW`: texts added, removed and changed between two
//! dumps (the matching is [`crate::diff`]'s); or `diff DIR --from-time T1
//! --to-time T2`: between the texts of one backups folder at two times
//! (each side from [`crate::at_time`]: the journal or a backup).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};

use super::settings::{self, SqlFormatArgs, goes_with};
use super::{DumpArgs, read_dump, warn};
use crate::at_time;
use crate::counts::plural;
use crate::diff::{compare, restore_records};
use crate::dump::{DEFAULT_TEXTS_TABLES, Dump, ReadOptions};
use crate::error::UsageError;
use crate::filter::Filter;
use crate::filter::FilterArgs;
use crate::format::TableName;
use crate::output::diff::Colour;
use crate::output::sql::{self, OnConflict};
use crate::output::{self, Destination};
use crate::texts::Texts;

#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Texts are matched on (student id, task id): a text deleted and written again \
is `changed`, with both ids; a renamed student or task is matched and shown with both names. \
A filter keeps a text when its OLD or its NEW version passes it.

With --from-time and --to-time, OLD is a backups folder and there is no NEW: each side is the \
texts as they stood at that time, from the folder's journal (of textrescue watch) where it \
covers the time, else from the newest backup in the folder dated before it (stderr says which).

Exit status: 0 whether or not the dumps differ, 1 failure (e.g. a damaged dump), 2 usage error.

Examples:
  textrescue diff buggy_race_bk_20240304.sql.gz buggy_race_bk_20240305.sql.gz
  textrescue diff old.sql.gz new.sql.gz --user alice --text
  textrescue diff old.sql.gz new.sql.gz --format json -o changes.json
  textrescue diff old.sql.gz new.sql.gz --format sql > restore-removed.sql
  textrescue diff old.sql.gz new.sql.gz --format sql \\
      --on-conflict overwrite > restore-all.sql
  textrescue diff /var/backups/buggy --from-time '2024-03-05 09:00' \\
      --to-time '2024-03-05 14:00' --user alice --text"
)]
pub struct Args {
    /// The older dump: a file, a pg_dump -Fd directory, or - for stdin;
    /// with --from-time, a backups folder.
    pub old: String,
    /// The newer dump (none with --from-time).
    #[arg(required_unless_present = "from_time")]
    pub new: Option<String>,
    /// With a backups folder as OLD: the older side is its texts as they
    /// stood at TIME (RFC 3339, or YYYY-MM-DD HH:MM[:SS] in UTC).
    #[arg(long, value_name = "TIME", requires = "to_time")]
    pub from_time: Option<String>,
    /// The newer side: the folder's texts as they stood at TIME.
    #[arg(long, value_name = "TIME", requires = "from_time")]
    pub to_time: Option<String>,
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
    if args.old == "-" && args.new.as_deref() == Some("-") {
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
    let times = times(args)?;
    let (old_name, new_name) = match &times {
        Some((from, to)) => (at_name(&args.old, *from), at_name(&args.old, *to)),
        None => (args.old.clone(), args.new.clone().unwrap_or_default()),
    };
    settings::not_an_input(args.output.as_deref(), &[&args.old, &new_name])?;
    // A text is kept when either version passes the filters, so the read
    // keeps only what both versions pass or fail alike: whose text it is.
    let mut options = args.dump_args.options();
    options.keep_only(&filter.of_students());
    let quiet = crate::dump::ReadOptions {
        progress: false,
        ..options.clone()
    };
    let (mut old_side, mut new_side) = match &times {
        None => {
            // Both dumps at once, one per core; one progress bar (NEW's) at most.
            let (old_dump, new_dump) = rayon::join(
                || read_dump(&args.old, &quiet),
                || read_dump(&new_name, &options),
            );
            (Side::Dump(old_dump?), Side::Dump(new_dump?))
        }
        Some((from, to)) => (
            at_side(&args.old, *from, "OLD", &filter, &quiet)?,
            at_side(&args.old, *to, "NEW", &filter, &quiet)?,
        ),
    };
    // `--user` found its students by each dump's own usernames: one renamed
    // between the dumps needs his texts in the other dump too.
    let named = [&old_side, &new_side].map(|side| {
        side.texts()
            .map(|(texts, _)| filter.user_ids_named(&texts.usernames))
            .unwrap_or_default()
    });
    let rereads = filter.rereads(&named);
    for ((arg, side), keep) in [(&old_name, &mut old_side), (&new_name, &mut new_side)]
        .into_iter()
        .zip(rereads)
    {
        if let (Some(keep), Side::Dump(dump)) = (keep, side) {
            let mut again = quiet.clone();
            again.keep_only(&keep);
            let source = match &times {
                // The backup chosen for the time.
                Some(_) => crate::input::Source::Path(PathBuf::from(&dump.source.display())),
                None => crate::input::Source::from_arg(arg),
            };
            // Not through read_dump: its warnings were given once.
            *dump = crate::dump::read(&source, &again)?;
        }
    }
    let (old_texts, old_warnings) = old_side.texts()?;
    let (new_texts, new_warnings) = new_side.texts()?;
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
        warn(&format!("neither {old_name} nor {new_name} has {w}"));
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
                &old_name,
                &new_name,
                args.text.then_some(colour),
                out,
            )?
        }
        DiffFormat::Json => output::diff::write_json(&comparison, &old_name, &new_name, out)?,
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
                    old_name
                ));
            }
            // OLD's texts table: the live server has the same schema.
            let table = old_side.table()?;
            let script = sql::RestoreScript::new(&old_name, &table, &sql_args);
            output::sql::write(&records, &script, out)?
        }
    }
    destination.finish()?;
    Ok(())
}

/// One side of the diff: a dump read, or the journal's texts at a time.
enum Side {
    Dump(Dump),
    Journal(Texts),
}

impl Side {
    fn texts(&self) -> Result<(&Texts, Vec<String>)> {
        match self {
            Side::Dump(dump) => dump.texts(),
            Side::Journal(texts) => Ok((texts, Vec::new())),
        }
    }

    /// The live texts table a restore script writes to.
    fn table(&self) -> Result<TableName> {
        match self {
            Side::Dump(dump) => Ok(dump.texts_database()?.restore_table()),
            // The journal does not name the table: the server's.
            Side::Journal(_) => Ok(TableName::new("public", DEFAULT_TEXTS_TABLES[0])),
        }
    }
}

/// `--from-time` and `--to-time`, checked: with a backups folder as OLD
/// and no NEW.
fn times(args: &Args) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>> {
    let (Some(from), Some(to)) = (&args.from_time, &args.to_time) else {
        return Ok(None);
    };
    if args.new.is_some() {
        return Err(UsageError(
            "--from-time and --to-time compare one backups folder at two times: give the folder \
             alone, without NEW"
                .into(),
        )
        .into());
    }
    if !settings::is_backups_folder(&args.old) {
        return Err(UsageError(
            "--from-time and --to-time go with a backups folder (one holding the journal of \
             textrescue watch, or backups)"
                .into(),
        )
        .into());
    }
    let parse = |option, value| at_time::parse_time_of(option, value).map_err(settings::as_usage);
    Ok(Some((parse("--from-time", from)?, parse("--to-time", to)?)))
}

/// What messages call a folder at a time: `DIR@2024-03-05T14:22:00Z`.
fn at_name(dir: &str, at: DateTime<Utc>) -> String {
    format!("{dir}@{}", at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// The folder's texts at `at`, from the journal or a backup; stderr says
/// which (`which`: OLD or NEW).
fn at_side(
    dir: &str,
    at: DateTime<Utc>,
    which: &str,
    filter: &Filter,
    options: &ReadOptions,
) -> Result<Side> {
    let mut warnings = Vec::new();
    let chosen = at_time::choose(Path::new(dir), at, &filter.of_students(), &mut warnings);
    for w in &warnings {
        warn(w);
    }
    let chosen = chosen?;
    eprintln!(
        "textrescue: {which} ({}): {}",
        at_name(dir, at),
        chosen.describe(at)
    );
    Ok(match chosen {
        at_time::Source::Journal { texts, .. } => {
            // As `texts --at`: where a backup the journal covers disagrees
            // with it about the texts compared, say so.
            for w in at_time::disagreements(Path::new(dir), at, filter, options)? {
                warn(&w);
            }
            Side::Journal(texts)
        }
        at_time::Source::Backup { path, .. } => {
            Side::Dump(read_dump(&path.to_string_lossy(), options)?)
        }
    })
}
