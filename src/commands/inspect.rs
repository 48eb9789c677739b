//! `textrescue inspect DUMP...`: what a dump is and what it holds.
//!
//! Reads each dump without keeping text contents, so memory stays small
//! whatever the dump's size. A damaged or incomplete dump is still
//! described (with `complete: false` and what is wrong), and makes the exit
//! status 1, so that `inspect` doubles as a check of last night's backup.

use std::io::Write;

use anyhow::{Result, bail};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::{DumpArgs, warn};
use crate::dump::{self, Dump};
use crate::input::Source;

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

#[derive(Serialize)]
pub struct Report {
    pub path: String,
    /// `None` where the dump could not be opened.
    pub format: Option<String>,
    pub compression: Option<String>,
    pub archive_version: Option<String>,
    pub pg_dump_version: Option<String>,
    pub server_version: Option<String>,
    pub database: Option<String>,
    /// Every database of a pg_dumpall script.
    pub databases: Vec<String>,
    pub complete: bool,
    /// What is wrong with a damaged dump.
    pub problem: Option<String>,
    /// Every table with data, of every database.
    pub tables: Vec<TableReport>,
    pub texts_table: Option<String>,
    /// Why there is no texts table where one was asked for (`--table`) or a
    /// table of its name lacks its columns.
    pub texts_problem: Option<String>,
    pub texts: Option<usize>,
    pub students: Option<usize>,
    pub newest_text_change: Option<String>,
    /// Only where the dump could not be read at all, or `--database` names
    /// no database of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct TableReport {
    /// The database the table belongs to, where the dump names it.
    pub database: Option<String>,
    pub name: String,
    pub rows: Option<u64>,
}

pub fn run(args: &Args) -> Result<()> {
    let mut reports = Vec::new();
    let mut failed = 0;
    for path in &args.dumps {
        let mut options = args.dump_args.options();
        options.skip_text_content = true;
        options.count_rows = true;
        options.salvage = true;
        let report = match dump::read(&Source::from_arg(path), &options) {
            Ok(d) => report(&d, args.dump_args.database.as_deref()),
            Err(e) => unreadable(path, format!("{e:#}")),
        };
        if let Some(error) = &report.error {
            eprintln!("textrescue: {error}");
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
        InspectFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &reports)?;
            writeln!(out)?;
        }
        InspectFormat::Table => {
            for r in &reports {
                write_table(r, &mut out)?;
            }
        }
    }
    out.flush()?;
    if failed > 0 {
        bail!(
            "{failed} of {} dump{} {} damaged, incomplete or unreadable",
            args.dumps.len(),
            if args.dumps.len() == 1 { "" } else { "s" },
            if failed == 1 { "is" } else { "are" }
        );
    }
    Ok(())
}

/// The entry of a dump that could not be read at all.
fn unreadable(path: &str, error: String) -> Report {
    Report {
        path: Source::from_arg(path).display(),
        format: None,
        compression: None,
        archive_version: None,
        pg_dump_version: None,
        server_version: None,
        database: None,
        databases: Vec::new(),
        complete: false,
        problem: None,
        tables: Vec::new(),
        texts_table: None,
        texts_problem: None,
        texts: None,
        students: None,
        newest_text_change: None,
        error: Some(error),
    }
}

fn report(d: &Dump, wanted: Option<&str>) -> Report {
    let mut error = None;
    let chosen = match wanted {
        Some(name) => match d.database(name) {
            Ok(db) => Some(db),
            Err(e) => {
                error = Some(format!("{e:#}"));
                None
            }
        },
        None => d.texts_database(None).ok(),
    };
    let db = match wanted {
        Some(_) => chosen,
        None => chosen.or(d.databases.first()),
    };
    let any_texts = d.databases.iter().any(|db| db.texts_table.is_some());
    let texts_problem = match chosen {
        _ if error.is_some() => None,
        Some(db) if db.texts_table.is_some() => None,
        // --database chose one without a (usable) texts table.
        Some(db) => db.texts_problem.clone().or_else(|| {
            d.wanted_table.as_ref().map(|t| {
                format!(
                    "database {} has no table {t:?} (named by --table)",
                    db.name.as_deref().unwrap_or("?")
                )
            })
        }),
        // A --table naming nothing usable, or a texts table lacking columns;
        // a dump without any texts table is no problem (the setting was off).
        None if !any_texts
            && (d.wanted_table.is_some()
                || d.databases.iter().any(|db| db.texts_problem.is_some())) =>
        {
            d.texts_database(None).err().map(|e| format!("{e:#}"))
        }
        None => None,
    };
    let texts = chosen
        .filter(|db| db.texts_table.is_some())
        .map(|db| &db.texts);
    let summary = &d.summary;
    Report {
        path: d.source.display(),
        format: Some(summary.format.name().to_string()),
        compression: Some(summary.compression_label()),
        archive_version: summary.archive_version.clone(),
        pg_dump_version: summary.pg_dump_version.clone(),
        server_version: summary.server_version.clone(),
        database: db.and_then(|db| db.name.clone()),
        databases: summary
            .databases
            .iter()
            .filter_map(|db| db.name.clone())
            .collect(),
        complete: summary.complete && summary.damage.is_none(),
        problem: summary.damage.clone(),
        tables: summary
            .databases
            .iter()
            .flat_map(|db| {
                db.tables.iter().map(|t| TableReport {
                    database: db.name.clone(),
                    name: t.name.to_string(),
                    rows: t.rows,
                })
            })
            .collect(),
        texts_table: chosen.and_then(|db| db.texts_table.as_ref().map(|t| t.to_string())),
        texts_problem,
        texts: texts.map(|t| t.rows.len()),
        students: texts.map(|t| t.students),
        newest_text_change: texts.and_then(|t| t.newest_change().map(|c| c.rfc3339.clone())),
        error,
    }
}

fn write_table(r: &Report, out: &mut dyn Write) -> Result<()> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut facts = Table::new();
    facts.load_preset(UTF8_FULL_CONDENSED);
    facts.add_row(["path", r.path.as_str()]);
    if let Some(error) = &r.error {
        facts.add_row(["error", error.as_str()]);
    }
    facts.add_row(["format", opt(&r.format).as_str()]);
    facts.add_row(["compression", opt(&r.compression).as_str()]);
    if let Some(v) = &r.archive_version {
        facts.add_row(["archive version", v.as_str()]);
    }
    facts.add_row(["pg_dump version", opt(&r.pg_dump_version).as_str()]);
    facts.add_row(["server version", opt(&r.server_version).as_str()]);
    facts.add_row(["database", opt(&r.database).as_str()]);
    if r.databases.len() > 1 {
        facts.add_row(["databases", r.databases.join(", ").as_str()]);
    }
    let complete = match &r.problem {
        None if r.complete => "yes".to_string(),
        None => "no".to_string(),
        Some(p) => format!("no: {p}"),
    };
    facts.add_row(["complete", complete.as_str()]);
    let texts_table = match (&r.texts_table, &r.texts_problem) {
        (Some(t), _) => t.clone(),
        (None, Some(p)) => format!("- ({p})"),
        (None, None) => "-".into(),
    };
    facts.add_row(["texts table", texts_table.as_str()]);
    let count = |v: Option<usize>| v.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    facts.add_row(["texts", count(r.texts).as_str()]);
    facts.add_row(["students", count(r.students).as_str()]);
    facts.add_row(["newest text change", opt(&r.newest_text_change).as_str()]);
    writeln!(out, "{facts}")?;
    if r.tables.is_empty() {
        return Ok(());
    }
    // A cluster dump's tables come with their database.
    let several = r.databases.len() > 1;
    let mut tables = Table::new();
    tables.load_preset(UTF8_FULL_CONDENSED);
    if several {
        tables.set_header(["database", "table", "rows"]);
    } else {
        tables.set_header(["table", "rows"]);
    }
    for t in &r.tables {
        let rows = t.rows.map_or_else(|| "-".to_string(), |r| r.to_string());
        if several {
            tables.add_row([opt(&t.database), t.name.clone(), rows]);
        } else {
            tables.add_row([t.name.clone(), rows]);
        }
    }
    writeln!(out, "{tables}")?;
    Ok(())
}
