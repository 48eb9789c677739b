//! `textrescue texts DUMP`: list or export task texts.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::settings::{self, SqlFormatArgs, goes_with};
use super::{DumpArgs, read_dump, warn};
use crate::at_time;
use crate::dump::{DEFAULT_TEXTS_TABLES, Dump};
use crate::error::UsageError;
use crate::filter::{Filter, FilterArgs};
use crate::format::TableName;
use crate::output::{self, Destination, sql};
use crate::texts::Texts;

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:
  textrescue texts buggy_race_bk_20240305.sql.gz --user alice
  textrescue texts nightly.dump -u alice -t 3-MULTI --format json
  textrescue texts nightly.sql.gz -u alice --format server-json -o alice.json
  textrescue texts nightly.sql.gz -u alice --format sql > restore.sql
  textrescue texts /var/backups/buggy --at '2024-03-05 14:22' -u alice")]
pub struct Args {
    /// The dump: a file, a pg_dump -Fd directory, or - for stdin; with
    /// --at, a backups folder.
    pub dump: String,
    /// With a backups folder: the texts as they stood at TIME, given in
    /// RFC 3339 (2024-03-05T14:22:00+01:00) or as YYYY-MM-DD HH:MM[:SS] in
    /// UTC. From the folder's journal (of textrescue watch) where it covers
    /// TIME, else from the newest backup in the folder dated before TIME.
    /// Where the journal answers, a warning names each text asked for that
    /// the newest backup taken inside the journal's coverage at or before
    /// TIME holds otherwise than the journal did then.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[arg(short, long, value_enum, default_value_t = TextsFormat::Table)]
    pub format: TextsFormat,
    /// Write to FILE instead of stdout (it appears only when complete).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// With --format server-json: allow filters besides the one --user (the
    /// upload replaces ALL of the student's texts with the file's).
    #[arg(long)]
    pub partial: bool,
    /// With --format csv: put a ' before every username, task or text that
    /// starts with =, +, -, @, a tab or a carriage return, so that a
    /// spreadsheet shows it instead of running it as a formula. This ALTERS
    /// the texts: for opening in a spreadsheet only, never for restoring.
    #[arg(long)]
    pub csv_safe: bool,
    #[command(flatten)]
    pub sql: SqlFormatArgs,
    #[command(flatten)]
    pub dump_args: DumpArgs,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextsFormat {
    Table,
    Csv,
    Json,
    /// The race server's own texts JSON, for its "Load texts as JSON" upload.
    ServerJson,
    /// Restore SQL for psql.
    Sql,
}

/// `texts`'s settings, every usage check made.
struct Settings {
    filter: Filter,
    sql: sql::ScriptSettings,
    options: crate::dump::ReadOptions,
    at: Option<DateTime<Utc>>,
}

impl Settings {
    fn new(args: &Args) -> Result<Settings> {
        let sql = args.sql.sql(args.format == TextsFormat::Sql)?;
        let filter = settings::filter(&args.filter)?;
        goes_with(
            args.csv_safe,
            args.format == TextsFormat::Csv,
            "--csv-safe goes with --format csv",
        )?;
        if args.format == TextsFormat::ServerJson {
            check_server_json(&filter, args.partial)?;
        }
        goes_with(
            args.partial,
            args.format == TextsFormat::ServerJson,
            "--partial goes with --format server-json",
        )?;
        args.sql
            .check_goes_with_sql(args.format == TextsFormat::Sql)?;
        settings::not_an_input(args.output.as_deref(), &[&args.dump])?;
        let at = settings::at_time(args.at.as_deref(), &args.dump)?;
        let mut options = args.dump_args.options();
        options.keep_only(&filter);
        Ok(Settings {
            filter,
            sql,
            options,
            at,
        })
    }
}

pub fn run(args: &Args) -> Result<()> {
    let Settings {
        filter,
        sql: sql_args,
        options,
        at,
    } = Settings::new(args)?;
    let read = match at {
        None => Read::Dump(read_dump(&args.dump, &options)?, args.dump.clone()),
        Some(at) => {
            let mut warnings = Vec::new();
            let chosen = at_time::choose(Path::new(&args.dump), at, &filter, &mut warnings);
            for w in &warnings {
                warn(w);
            }
            let chosen = chosen?;
            eprintln!(
                "textrescue: {}",
                crate::escape::message(&chosen.describe(at))
            );
            match chosen {
                at_time::Source::Journal { texts, .. } => {
                    // The answer is the journal's: say where a backup it
                    // covers disagrees with it about the texts asked for.
                    for w in at_time::disagreements(Path::new(&args.dump), at, &filter, &options)? {
                        warn(&w);
                    }
                    Read::Journal(texts, format!("{} (journal)", args.dump))
                }
                at_time::Source::Backup { path, .. } => {
                    let path = path.to_string_lossy().into_owned();
                    Read::Dump(read_dump(&path, &options)?, path)
                }
            }
        }
    };
    // The texts, what to call where they came from, and the live table a
    // restore script writes to.
    let (texts, source, table) = match &read {
        Read::Dump(dump, source) => {
            let (texts, warnings) = dump.texts()?;
            for w in &warnings {
                warn(w);
            }
            (texts, source, dump.texts_database()?.restore_table())
        }
        // The journal does not name the table: the server's.
        Read::Journal(texts, source) => (
            texts,
            source,
            TableName::new("public", DEFAULT_TEXTS_TABLES[0]),
        ),
    };
    let unknown = filter.unknown_names(
        texts.usernames.values().map(String::as_str),
        texts.tasks.values(),
    );
    for w in &unknown {
        warn(&format!("{source} has {w}"));
    }
    // The read kept only the texts that pass the filters.
    let records = texts.records();
    if unknown.is_empty()
        && let Some(hint) = filter.older_backups_hint(records.len())
    {
        warn(&format!("{source}: {hint}"));
    }
    let mut destination = Destination::open(args.output.as_deref())?;
    let out = destination.writer();
    match args.format {
        TextsFormat::Table => {
            super::warn_not_utf8(&records);
            output::table::write(&records, out)?
        }
        TextsFormat::Csv => output::csv::write(&records, out, args.csv_safe)?,
        TextsFormat::Json => output::json::write(&records, out)?,
        TextsFormat::ServerJson => output::server_json::write(&records, out)?,
        TextsFormat::Sql => {
            let script = sql::RestoreScript::new(source, &table, &sql_args);
            output::sql::write(&records, &script, out)?
        }
    }
    destination.finish()?;
    if records.is_empty() && args.format != TextsFormat::Table {
        warn("no texts match the filters");
    }
    Ok(())
}

/// What was read: a dump, or the journal's texts; each with the name
/// messages give it.
enum Read {
    Dump(Dump, String),
    Journal(Texts, String),
}

/// The server's upload replaces all of one student's texts, so a file for
/// it must hold exactly one student's, and all of them unless --partial.
fn check_server_json(filter: &Filter, partial: bool) -> Result<()> {
    if filter.users().len() != 1 {
        return Err(UsageError(
            "--format server-json needs exactly one --user: the server's upload replaces all of that student's texts"
                .into(),
        )
        .into());
    }
    if filter.has_more_than_users() && !partial {
        return Err(UsageError(
            "--format server-json with --task, --since, --until or --id would upload only some of the student's \
             texts, and the upload deletes the others; add --partial if that is what you want"
                .into(),
        )
        .into());
    }
    Ok(())
}
