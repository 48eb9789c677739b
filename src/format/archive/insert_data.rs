//! Table data an archive stores as INSERT statements (`pg_dump -Fc
//! --inserts` and friends): handed to the plain reader as a small script,
//! after the CREATE TABLE of the table (and of those it inherits from), so
//! that rows without a column list are read by the table's columns. A
//! partition's data may name its partitioned table
//! (`--load-via-partition-root`); a statement the plain reader cannot read
//! is reported with the TOC entry it is in.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use anyhow::{Context, Result, bail};

use super::{Toc, TocEntry};
use crate::format::{Interest, Meta, Row, TableName, Visitor, ddl, plain};

impl Toc {
    /// The CREATE TABLE of the table an entry's data belongs to, after
    /// those of the tables it inherits from (pg_dump lists only a child's
    /// own columns), so that the plain reader knows all its columns.
    fn definitions_of(&self, data: &TocEntry) -> Vec<&str> {
        let mut defns = Vec::new();
        self.definitions_within(data, 0, &mut defns);
        defns
    }

    /// [`Toc::definitions_of`], `depth` parents down: a damaged TOC whose
    /// tables inherit from each other in a circle cannot recurse forever.
    fn definitions_within<'t>(&'t self, data: &TocEntry, depth: usize, defns: &mut Vec<&'t str>) {
        let Some(defn) = self.table_definition(data) else {
            return;
        };
        if depth < 16
            && let Some(definition) = ddl::create_table(defn)
        {
            for parent in &definition.inherits {
                if let Some(e) = self.entries.iter().find(|e| {
                    e.desc == "TABLE" && e.tag == parent.name && e.namespace == parent.schema
                }) {
                    self.definitions_within(e, depth + 1, defns);
                }
            }
        }
        defns.push(defn);
    }

    /// The columns of the table an entry's data belongs to, all of them
    /// (a child's after its parents').
    fn columns_of(&self, data: &TocEntry) -> Option<Vec<String>> {
        let mut columns: HashMap<TableName, Vec<String>> = HashMap::new();
        let mut last = None;
        for defn in self.definitions_of(data) {
            let d = ddl::create_table(defn)?;
            let parents: Vec<&[String]> = d
                .inherits
                .iter()
                .map(|p| columns.get(p).map_or(&[][..], Vec::as_slice))
                .collect();
            let all = d.columns_after(&parents);
            columns.insert(d.table.clone(), all);
            last = Some(d.table);
        }
        columns.remove(&last?)
    }
}

/// Data stored as INSERT statements (`pg_dump --inserts` into an archive):
/// a small SQL script, read by the plain reader after the table's CREATE
/// TABLE (for its columns) and the dump's `standard_conforming_strings`.
pub(super) fn read_insert_data(
    toc: &Toc,
    entry: &TocEntry,
    table: &TableName,
    data: &mut dyn Read,
    visitor: &mut dyn Visitor,
) -> Result<()> {
    let place = || {
        format!(
            "the data of {table} (TOC entry {}, INSERT statements)",
            entry.dump_id
        )
    };
    let mut script = Vec::new();
    for defn in toc.definitions_of(entry) {
        script.extend_from_slice(defn.as_bytes());
        script.push(b'\n');
    }
    if !toc.std_strings {
        script.extend_from_slice(b"SET standard_conforming_strings = off;\n");
    }
    data.read_to_end(&mut script).with_context(place)?;
    let columns = toc.columns_of(entry).unwrap_or_default();
    let mut one_table = OneTable {
        inner: visitor,
        entry: entry.dump_id,
        columns: &columns,
        begun: None,
        other: None,
    };
    plain::read(Box::new(Cursor::new(script)), &mut one_table).with_context(place)?;
    if let Some(other) = one_table.other {
        bail!("{}: an INSERT into {other}, another table", place());
    }
    if one_table.begun.is_none() {
        // No INSERT at all: the table is empty.
        visitor.begin_data(table, &columns);
        visitor.end_data(Some(0));
    }
    Ok(())
}

/// Passes on the data of one table from the plain reader's reading of the
/// entry's INSERT statements, and the statements it could not read; notes
/// any other table. The table is the one the first INSERT names: the
/// entry's, or with `--load-via-partition-root` its partitioned table's.
struct OneTable<'v, 't> {
    inner: &'v mut dyn Visitor,
    /// The TOC entry's dump id, for messages.
    entry: i64,
    /// The columns of the table's CREATE TABLE, for INSERTs without a list.
    columns: &'t [String],
    begun: Option<TableName>,
    other: Option<TableName>,
}

impl Visitor for OneTable<'_, '_> {
    fn meta(&mut self, meta: Meta) {
        if let Meta::Unread(mut unread) = meta {
            // Its line is a line of the entry's data (after its CREATE TABLE).
            unread.place = format!("TOC entry {}, {}", self.entry, unread.place);
            self.inner.meta(Meta::Unread(unread));
        }
    }

    fn begin_data(&mut self, table: &TableName, columns: &[String]) -> Interest {
        if self.begun.as_ref().is_some_and(|t| t != table) {
            self.other.get_or_insert_with(|| table.clone());
            return Interest::PassOver;
        }
        self.begun = Some(table.clone());
        let columns = if columns.is_empty() {
            self.columns
        } else {
            columns
        };
        self.inner.begin_data(table, columns)
    }

    fn row(&mut self, row: &Row) -> Result<()> {
        if self.other.is_some() {
            return Ok(());
        }
        self.inner.row(row)
    }

    fn end_data(&mut self, rows: Option<u64>) {
        if self.other.is_none() {
            self.inner.end_data(rows);
        }
    }
}
