//! What a backup holds, as the whole restore checks it against: every
//! table's row count (the counts `inspect` shows), the SHA-256 of every
//! task text (the bytes `texts` reads), and the race server's schema
//! version (`alembic_version`). One pass over the backup with the format
//! readers, keeping 40 bytes per text: bounded memory whatever its size.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Result, anyhow, bail};
use sha2::{Digest, Sha256};

use crate::dump::{DEFAULT_TEXTS_TABLES, Summary, SummarySink};
use crate::format::{self, Interest, Meta, Row, TableName, Visitor};
use crate::input::{self, Opened, Source};
use crate::progress::Progress;

/// A text's SHA-256, `None` for SQL NULL.
pub type TextSha = Option<[u8; 32]>;

/// One database of the backup as the check wants it.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// The database's name, where the dump says it.
    pub name: Option<String>,
    /// Every table with data and its rows, in dump order.
    pub tables: Vec<(TableName, u64)>,
    /// The texts table, if the backup has one.
    pub texts_table: Option<TableName>,
    /// Each text's SHA-256 by its id.
    pub texts: HashMap<i64, TextSha>,
    /// `alembic_version.version_num`: `None` without the table.
    pub alembic: Option<Vec<String>>,
}

/// What the pass keeps for each database of the summary.
#[derive(Default)]
struct PerDatabase {
    texts_table: Option<TableName>,
    texts: HashMap<i64, TextSha>,
    alembic: Option<Vec<String>>,
}

enum Current {
    None,
    Texts { id: usize, text: usize },
    Alembic { version: usize },
}

struct Sink<'a> {
    summary: SummarySink<PerDatabase>,
    texts_table: Option<&'a str>,
    current: Current,
    /// Rows handed over in the table being read.
    rows: u64,
    stop: &'a AtomicBool,
}

fn is_texts_table(table: &TableName, wanted: Option<&str>) -> bool {
    match wanted {
        Some(wanted) => match wanted.split_once('.') {
            Some((schema, name)) => table.schema == schema && table.name == name,
            None => table.name == wanted,
        },
        None => DEFAULT_TEXTS_TABLES.contains(&table.name.as_str()),
    }
}

impl Visitor for Sink<'_> {
    fn meta(&mut self, meta: Meta) {
        self.summary.meta(meta);
    }

    fn begin_data(&mut self, table: &TableName, columns: &[String]) -> Interest {
        let interest = self.summary.begin_data(table, columns);
        let col = |name: &str| columns.iter().position(|c| c == name);
        self.current = Current::None;
        self.rows = 0;
        if is_texts_table(table, self.texts_table)
            && self.summary.current_mut().texts_table.is_none()
            && let (Some(id), Some(text)) = (col("id"), col("text"))
        {
            self.summary.current_mut().texts_table = Some(table.clone());
            self.current = Current::Texts { id, text };
            return Interest::Rows;
        }
        if table.name == "alembic_version"
            && let Some(version) = col("version_num")
        {
            self.summary
                .current_mut()
                .alembic
                .get_or_insert_with(Vec::new);
            self.current = Current::Alembic { version };
            return Interest::Rows;
        }
        interest
    }

    fn row(&mut self, row: &Row) -> Result<()> {
        if self.stop.load(Ordering::Relaxed) {
            bail!("stopped");
        }
        self.rows += 1;
        match self.current {
            Current::None => {}
            Current::Texts { id, text } => {
                let id_bytes = row
                    .get(id)?
                    .ok_or_else(|| anyhow!("a text without an id"))?;
                let id: i64 = std::str::from_utf8(&id_bytes)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| anyhow!("a text whose id is not a number"))?;
                let sha = row.get(text)?.map(|t| Sha256::digest(&t).into());
                self.summary.current_mut().texts.insert(id, sha);
            }
            Current::Alembic { version } => {
                if let Some(v) = row.get(version)? {
                    let v = String::from_utf8_lossy(&v).into_owned();
                    self.summary
                        .current_mut()
                        .alembic
                        .get_or_insert_with(Vec::new)
                        .push(v);
                }
            }
        }
        Ok(())
    }

    fn end_data(&mut self, rows: Option<u64>) {
        let handed_over = !matches!(self.current, Current::None);
        self.current = Current::None;
        self.summary
            .end_data(rows.or(handed_over.then_some(self.rows)));
    }
}

/// Reads `source` whole: every database's tables, texts and schema
/// version. Fails on a damaged or incomplete backup. `stop` ends the read
/// early (an interrupted drill).
pub fn read(
    source: &Source,
    texts_table: Option<&str>,
    stop: &Arc<AtomicBool>,
) -> Result<(Summary, Vec<Expected>)> {
    let opened = input::open(source, &Progress::hidden())?;
    read_opened(opened, &source.display(), texts_table, stop)
}

/// [`read`] of a backup already opened (`shown` names it in messages).
pub fn read_opened(
    opened: Opened,
    shown: &str,
    texts_table: Option<&str>,
    stop: &Arc<AtomicBool>,
) -> Result<(Summary, Vec<Expected>)> {
    let summary = SummarySink::new(opened.format(), opened.compression(), true);
    let mut sink = Sink {
        summary: summary.with_per_database(),
        texts_table,
        current: Current::None,
        rows: 0,
        stop,
    };
    let result = format::read(opened, &mut sink);
    let (summary, per) = sink.summary.finish_with_per_database();
    result.map_err(|e| anyhow!("{shown}: {e:#}"))?;
    if !summary.ended {
        bail!(
            "{}: the backup is incomplete: it ends without pg_dump's closing line, so data is missing",
            shown
        );
    }
    if !summary.unread.is_empty() {
        bail!(
            "{}: {} statement(s) of table data cannot be read: {}",
            shown,
            summary.unread.len(),
            summary.unread[0]
        );
    }
    let databases = summary
        .databases
        .iter()
        .zip(per)
        .map(|(db, p)| Expected {
            name: db.name.clone(),
            tables: db
                .tables
                .iter()
                .map(|t| (t.name.clone(), t.rows.unwrap_or(0)))
                .collect(),
            texts_table: p.texts_table,
            texts: p.texts,
            alembic: p.alembic,
        })
        .collect();
    Ok((summary, databases))
}

/// The database of a pg_dumpall backup to restore: `wanted`
/// (`--database`), else the only one with a texts table; a single
/// database's backup has one.
pub fn choose(databases: Vec<Expected>, wanted: Option<&str>) -> Result<Expected> {
    if let Some(wanted) = wanted {
        let names: Vec<String> = databases.iter().filter_map(|d| d.name.clone()).collect();
        return databases
            .into_iter()
            .find(|d| d.name.as_deref() == Some(wanted))
            .ok_or_else(|| {
                anyhow!(
                    "the backup has no database {wanted:?}; it has: {}",
                    names.join(", ")
                )
            });
    }
    if databases.len() == 1 {
        return Ok(databases.into_iter().next().expect("one"));
    }
    let names: Vec<String> = databases
        .iter()
        .filter(|d| !d.tables.is_empty())
        .filter_map(|d| d.name.clone())
        .collect();
    let mut with_texts: Vec<Expected> = databases
        .into_iter()
        .filter(|d| d.texts_table.is_some())
        .collect();
    if with_texts.len() == 1 {
        return Ok(with_texts.pop().expect("one"));
    }
    bail!(
        "the backup holds several databases ({}): choose one with --database",
        names.join(", ")
    )
}
