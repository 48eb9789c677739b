//! `textrescue texts DUMP`: list or export task texts.

use std::path::PathBuf;

use anyhow::Result;

use super::settings::{self, SqlFormatArgs, goes_with};
use super::{DumpArgs, read_dump, warn};
use crate::error::UsageError;
use crate::filter::{Filter, FilterArgs};
use crate::output::{self, Destination, sql};

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:
  textrescue texts buggy_race_bk_20240305.sql.gz --user alice
  textrescue texts nightly.dump -u alice -t 3-MULTI --format json
  textrescue texts nightly.sql.gz -u alice --format server-json -o alice.json
  textrescue texts nightly.sql.gz -u alice --format sql > restore.sql")]
pub struct Args {
    /// The dump: a file, a pg_dump -Fd directory, or - for stdin.
    pub dump: String,
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
    sql: sql::SqlArgs,
    options: crate::dump::ReadOptions,
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
        let mut options = args.dump_args.options();
        options.keep_only(&filter);
        Ok(Settings {
            filter,
            sql,
            options,
        })
    }
}

pub fn run(args: &Args) -> Result<()> {
    let Settings {
        filter,
        sql: sql_args,
        options,
    } = Settings::new(args)?;
    let dump = read_dump(&args.dump, &options)?;
    let (texts, warnings) = dump.texts()?;
    for w in &warnings {
        warn(w);
    }
    let unknown = filter.unknown_names(
        texts.usernames.values().map(String::as_str),
        texts.tasks.values(),
    );
    for w in &unknown {
        warn(&format!("{} has {w}", args.dump));
    }
    // The read kept only the texts that pass the filters.
    let records = texts.records();
    if unknown.is_empty()
        && let Some(hint) = filter.older_backups_hint(records.len())
    {
        warn(&format!("{}: {hint}", args.dump));
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
            let table = dump.texts_database()?.restore_table();
            let script = sql::RestoreScript::new(&args.dump, &table, &sql_args);
            output::sql::write(&records, &script, out)?
        }
    }
    destination.finish()?;
    if records.is_empty() && args.format != TextsFormat::Table {
        warn("no texts match the filters");
    }
    Ok(())
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
