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
    pub format: String,
    pub compression: String,
    pub archive_version: Option<String>,
    pub pg_dump_version: Option<String>,
    pub server_version: Option<String>,
    pub database: Option<String>,
    /// Every database of a pg_dumpall script.
    pub databases: Vec<String>,
    pub complete: bool,
    /// What is wrong with a damaged dump.
    pub problem: Option<String>,
    pub tables: Vec<TableReport>,
    pub texts_table: Option<String>,
    pub texts: Option<usize>,
    pub students: Option<usize>,
    pub newest_text_change: Option<String>,
}

#[derive(Serialize)]
pub struct TableReport {
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
        match dump::read(&Source::from_arg(path), &options) {
            Ok(d) => {
                let report = report(&d, args.dump_args.database.as_deref());
                if !report.complete || report.problem.is_some() {
                    failed += 1;
                }
                reports.push(report);
            }
            Err(e) => {
                failed += 1;
                eprintln!("textrescue: {e:#}");
            }
        }
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

fn report(d: &Dump, wanted: Option<&str>) -> Report {
    let chosen = d.texts_database(wanted).ok();
    let db = chosen.or(d.databases.first());
    let texts = chosen
        .filter(|db| db.texts_table.is_some())
        .map(|db| &db.texts);
    if let Some(problem) = &d.damage {
        warn(problem);
    }
    Report {
        path: d.source.display(),
        format: d.format.name().to_string(),
        compression: d.compression.clone(),
        archive_version: d.archive_version.clone(),
        pg_dump_version: d.pg_dump_version.clone(),
        server_version: d.server_version.clone(),
        database: db.and_then(|db| db.name.clone()),
        databases: d
            .databases
            .iter()
            .filter_map(|db| db.name.clone())
            .collect(),
        complete: d.complete && d.damage.is_none(),
        problem: d.damage.clone(),
        tables: db
            .map(|db| {
                db.tables
                    .iter()
                    .map(|t| TableReport {
                        name: t.name.to_string(),
                        rows: t.rows,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        texts_table: chosen.and_then(|db| db.texts_table.as_ref().map(|t| t.to_string())),
        texts: texts.map(|t| t.rows.len()),
        students: texts.map(|t| t.students),
        newest_text_change: texts.and_then(|t| t.newest_change().map(|c| c.rfc3339.clone())),
    }
}

fn write_table(r: &Report, out: &mut dyn Write) -> Result<()> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut facts = Table::new();
    facts.load_preset(UTF8_FULL_CONDENSED);
    facts.add_row(["path", r.path.as_str()]);
    facts.add_row(["format", r.format.as_str()]);
    facts.add_row(["compression", r.compression.as_str()]);
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
    facts.add_row(["texts table", opt(&r.texts_table).as_str()]);
    let count = |v: Option<usize>| v.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    facts.add_row(["texts", count(r.texts).as_str()]);
    facts.add_row(["students", count(r.students).as_str()]);
    facts.add_row(["newest text change", opt(&r.newest_text_change).as_str()]);
    writeln!(out, "{facts}")?;
    let mut tables = Table::new();
    tables.load_preset(UTF8_FULL_CONDENSED);
    tables.set_header(["table", "rows"]);
    for t in &r.tables {
        let rows = t.rows.map_or_else(|| "-".to_string(), |r| r.to_string());
        tables.add_row([t.name.clone(), rows]);
    }
    writeln!(out, "{tables}")?;
    Ok(())
}
