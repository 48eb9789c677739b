//! What `inspect` says of one dump: its format-neutral summary (format,
//! compression, versions, databases, tables and row counts, completeness,
//! damage) and what it holds of the race server (texts table, texts,
//! students, newest change), in one flat report, JSON's shape.

use serde::Serialize;

use crate::dump::Dump;
use crate::input::Source;

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

/// The entry of a dump that could not be read at all.
pub fn unreadable(path: &str, error: String) -> Report {
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

/// The report of a dump read with `--salvage` and row counts.
pub fn report(d: &Dump) -> Report {
    let wanted = d.wanted_database.as_deref();
    let mut error = None;
    let chosen = match wanted {
        Some(name) => match d.database(name) {
            Ok(db) => Some(db),
            Err(e) => {
                error = Some(format!("{e:#}"));
                None
            }
        },
        None => d.texts_database().ok(),
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
            d.texts_database().err().map(|e| format!("{e:#}"))
        }
        None => None,
    };
    let with_texts = chosen.filter(|db| db.texts_table.is_some());
    let texts = with_texts.map(|db| &db.texts);
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
        texts: with_texts.map(|db| db.texts_count),
        students: texts.map(|t| t.students),
        newest_text_change: with_texts
            .and_then(|db| db.newest_text_change.as_ref().map(|c| c.rfc3339.clone())),
        error,
    }
}
