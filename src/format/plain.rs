//! Plain SQL scripts from `pg_dump` and `pg_dumpall`, read in one pass.
//!
//! The script is mostly small SQL statements around the table data, which
//! comes either as `COPY ... FROM stdin;` blocks (the default) or as INSERT
//! statements (`--inserts` and friends). This reader follows the SQL just
//! closely enough to never mistake quoted text for a statement: it tracks
//! quotes, dollar quotes and comments line by line, recognises the few
//! statements that matter (COPY, CREATE TABLE for column lists, INSERT,
//! ALTER TABLE for partitions, `SET standard_conforming_strings`, psql's
//! `\connect`), and hands table data to the visitor. Only CREATE TABLE,
//! ALTER TABLE and INSERT statements are read whole, one at a time, by the
//! SQL scanner (`ddl`, `inserts`).
//!
//! A statement of table data that the reader cannot follow (an INSERT it
//! cannot parse, a COPY header it cannot read) is reported as
//! [`Meta::Unread`] with its line and table, and reading goes on at the
//! next statement: one such statement never loses the rest of the dump.

use std::collections::HashMap;
use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};

use super::copy_text::Splitter;
use super::lines::LineReader;
use super::{Interest, Meta, Row, TableName, Unread, Visitor, ddl, inserts};
use crate::indexed_gzip::Positions;
use crate::sql_scan::{
    LineStart, QuoteState, StatementKind, classify, parse_copy_header, parse_table_name,
};
use crate::stream::{DumpRead, Uncounted};

pub fn read(input: Box<dyn Read + Send>, visitor: &mut dyn Visitor) -> Result<()> {
    read_in_part(Box::new(Uncounted(input)), None, visitor)
}

/// [`read`] of a dump with some tables' rows cut out (the chosen members of
/// an indexed `.sql.gz`): `positions` says where its lines are in the whole
/// dump, so that messages give the dump's line numbers, and a table whose
/// rows were cut out ends with `end_data(None)`, as one passed over.
pub fn read_in_part(
    input: Box<dyn DumpRead + Send>,
    positions: Option<Positions>,
    visitor: &mut dyn Visitor,
) -> Result<()> {
    let mut reader = PlainReader {
        lines: LineReader::new(input),
        positions,
        visitor,
        quotes: QuoteState::default(),
        pending: None,
        insert_run: None,
        definitions: HashMap::new(),
        data_of: None,
        standard_strings: true,
        cluster: false,
    };
    reader.run()
}

struct PlainReader<'v, R> {
    lines: LineReader<R>,
    /// Where the lines read are in the whole dump, when some were cut out.
    positions: Option<Positions>,
    visitor: &'v mut dyn Visitor,
    quotes: QuoteState,
    /// A statement that has begun but not yet ended.
    pending: Option<Pending>,
    /// Consecutive INSERTs into one table form one run of its data.
    insert_run: Option<InsertRun>,
    /// Column lists from CREATE TABLE, for INSERTs without one.
    definitions: HashMap<TableName, Vec<String>>,
    /// The table whose data pg_dump's last `-- Data for Name: ...; Type:
    /// TABLE DATA` comment announces: with `--load-via-partition-root`, a
    /// partition's INSERTs name its root, but without a column list their
    /// values are in the partition's column order.
    data_of: Option<TableName>,
    standard_strings: bool,
    /// pg_dumpall output: complete only at the cluster's closing line.
    cluster: bool,
}

struct Pending {
    kind: StatementKind,
    first_line: u64,
    /// The statement's bytes, in the dump's encoding (`SET client_encoding`):
    /// values are read as bytes, as COPY rows are.
    text: Vec<u8>,
}

struct InsertRun {
    table: TableName,
    interest: Interest,
    columns: usize,
    rows: u64,
}

impl<R: DumpRead> PlainReader<'_, R> {
    /// The number in the whole dump of line `line` of the input.
    fn dump_line(&self, line: u64) -> u64 {
        self.positions.as_ref().map_or(line, |p| p.dump_line(line))
    }

    fn run(&mut self) -> Result<()> {
        loop {
            let line_no = self.dump_line(self.lines.line_number() + 1);
            let Some(line) = self.lines.next_line()? else {
                break;
            };
            // Owned only when a statement keeps its text; most lines are
            // looked at and dropped.
            if self.pending.is_none() && self.quotes.is_normal() {
                match classify(line) {
                    LineStart::Blank => continue,
                    LineStart::Comment => {
                        let comment = String::from_utf8_lossy(line).into_owned();
                        self.comment(&comment);
                        continue;
                    }
                    LineStart::MetaCommand => {
                        let command = String::from_utf8_lossy(line).into_owned();
                        self.end_insert_run();
                        self.meta_command(&command);
                        continue;
                    }
                    LineStart::Copy => {
                        let header = String::from_utf8_lossy(line).into_owned();
                        self.end_insert_run();
                        self.copy_block(&header, line_no)?;
                        continue;
                    }
                    LineStart::Statement(kind) => {
                        if kind != StatementKind::Insert {
                            end_run(&mut self.insert_run, self.visitor);
                        }
                        self.pending = Some(Pending {
                            kind,
                            first_line: line_no,
                            text: Vec::new(),
                        });
                    }
                }
            }
            let ends = self.quotes.scan_line(line, self.standard_strings);
            let pending = self.pending.as_mut().expect("a statement is pending");
            if pending.kind != StatementKind::Other {
                if !pending.text.is_empty() {
                    pending.text.push(b'\n');
                }
                pending.text.extend_from_slice(line);
            } else if line.starts_with(b"SET standard_conforming_strings") {
                self.standard_strings = !line.ends_with(b"off;");
            }
            if ends {
                let done = self.pending.take().expect("a statement is pending");
                self.statement(done)?;
            }
        }
        if let Some(p) = &self.pending {
            bail!(
                "the dump ends inside a statement that begins at line {}: it is truncated",
                p.first_line
            );
        }
        self.end_insert_run();
        Ok(())
    }

    fn comment(&mut self, line: &str) {
        let text = line.trim_start_matches('-').trim();
        if text.starts_with("Name: ") || text.starts_with("Data for Name: ") {
            // Another object: the INSERTs of one table's data end (those of
            // two partitions into their root are two runs, each in its
            // partition's column order).
            self.end_insert_run();
            self.data_of = data_comment_table(text);
        } else if let Some(v) = text.strip_prefix("Dumped from database version ") {
            self.visitor.meta(Meta::ServerVersion(v.trim().to_string()));
        } else if let Some(v) = text.strip_prefix("Dumped by pg_dump version ") {
            self.visitor.meta(Meta::PgDumpVersion(v.trim().to_string()));
        } else if text == "PostgreSQL database cluster dump" {
            self.cluster = true;
            self.visitor.meta(Meta::Cluster);
        } else if text == "PostgreSQL database cluster dump complete"
            || (text == "PostgreSQL database dump complete" && !self.cluster)
        {
            self.visitor.meta(Meta::Complete);
        }
    }

    fn meta_command(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        if words.next() != Some("\\connect") {
            return; // \restrict, \unrestrict and the like change no data.
        }
        let target = words.find(|w| !w.starts_with('-'));
        if let Some(name) = target.and_then(connect_target) {
            self.visitor.meta(Meta::Database(name));
        }
    }

    /// Whether lines were cut out of the input between `copy_line` (a COPY
    /// header's) and the line just read (the `\.` ending its rows).
    fn rows_cut_out(&self, copy_line: u64) -> bool {
        let end = self.lines.line_number();
        self.dump_line(end) - self.dump_line(copy_line) != end - copy_line
    }

    /// Reports a statement of table data that was not read.
    fn unread(&mut self, line_no: u64, table: Option<TableName>, reason: String) {
        self.visitor.meta(Meta::Unread(Unread {
            place: format!("line {line_no}"),
            table,
            reason,
        }));
    }

    fn copy_block(&mut self, header: &str, line_no: u64) -> Result<()> {
        let (table, mut columns) = match parse_copy_header(header) {
            Ok(read) => read,
            Err(e) => {
                // Its rows end at `\.` as any COPY's: passed over, and the
                // dump read on after them.
                let table = header
                    .trim_start()
                    .strip_prefix("COPY ")
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|name| parse_table_name(name.as_bytes()));
                let skipped = self.lines.skip_copy_block()?;
                if !skipped.ended {
                    bail!(
                        "the dump ends inside the data of the COPY at line {line_no}: it is truncated"
                    );
                }
                self.unread(
                    line_no,
                    table,
                    format!("cannot read the COPY header {header:?} ({e:#}); its {} rows are passed over", skipped.rows),
                );
                return Ok(());
            }
        };
        if columns.is_empty() {
            columns = self.definitions.get(&table).cloned().unwrap_or_default();
        }
        let interest = self.visitor.begin_data(&table, &columns);
        let copy_line = self.lines.line_number();
        let rows = match interest {
            Interest::Count | Interest::PassOver => {
                let skipped = self.lines.skip_copy_block()?;
                if !skipped.ended {
                    bail!(
                        "the dump ends inside the data of {table} (COPY at line {line_no}, after {} rows): it is truncated",
                        skipped.rows
                    );
                }
                if self.rows_cut_out(copy_line) {
                    // The rows were cut out of what is read: not counted.
                    self.visitor.end_data(None);
                    return Ok(());
                }
                skipped.rows
            }
            Interest::Rows => {
                let mut splitter = Splitter::default();
                let mut rows = 0u64;
                loop {
                    let Some((line, terminated)) = self.lines.next_line_with_end()? else {
                        bail!(
                            "the dump ends inside the data of {table} (COPY at line {line_no}, after {rows} rows): it is truncated"
                        );
                    };
                    if line == b"\\." {
                        break;
                    }
                    if !terminated {
                        bail!(
                            "the dump ends inside the data of {table} (COPY at line {line_no}, after {rows} rows; \
                             the next row is cut short at line {}): it is truncated",
                            self.dump_line(self.lines.line_number())
                        );
                    }
                    rows += 1;
                    splitter
                        .split(line, columns.len())
                        .and_then(|row| self.visitor.row(&row))
                        .with_context(|| {
                            let line = self.dump_line(self.lines.line_number());
                            format!("line {line}, row {rows} of {table}")
                        })?;
                }
                if rows == 0 && self.rows_cut_out(copy_line) {
                    // Rows wanted, but the index had them cut out (a
                    // partition of a table read, by a name of its own):
                    // not counted, so that the reader of the dump knows.
                    self.visitor.end_data(None);
                    return Ok(());
                }
                rows
            }
        };
        self.visitor.end_data(Some(rows));
        Ok(())
    }

    fn statement(&mut self, statement: Pending) -> Result<()> {
        match statement.kind {
            StatementKind::Other => Ok(()),
            StatementKind::CreateTable => {
                // Names as the SQL scanner reads them (bytes that are not
                // UTF-8 shown as U+FFFD), so that they match its COPY and
                // INSERT targets; the race server's names are ASCII.
                let text = String::from_utf8_lossy(&statement.text);
                if let Some(d) = ddl::create_table(&text) {
                    let parents: Vec<&[String]> = d
                        .inherits
                        .iter()
                        .map(|p| self.definitions.get(p).map_or(&[][..], Vec::as_slice))
                        .collect();
                    let columns = d.columns_after(&parents);
                    self.definitions.insert(d.table, columns);
                } else if let Some((partition, parent)) = ddl::partition_of(&text) {
                    // pg_dump before 12: the partition takes its parent's columns.
                    if let Some(columns) = self.definitions.get(&parent).cloned() {
                        self.definitions.insert(partition.clone(), columns);
                    }
                    self.visitor.meta(Meta::PartitionOf { partition, parent });
                }
                Ok(())
            }
            StatementKind::AlterTable => {
                if let Some((partition, parent)) =
                    ddl::attach_partition(&String::from_utf8_lossy(&statement.text))
                {
                    self.visitor.meta(Meta::PartitionOf { partition, parent });
                }
                Ok(())
            }
            StatementKind::Insert => self.insert(&statement.text, statement.first_line),
            // Its rows follow as any COPY's, and must be read as rows, not
            // as SQL (which a quote in them would throw out of step).
            StatementKind::Copy if statement.text.trim_ascii_end().ends_with(b"FROM stdin;") => {
                let header = String::from_utf8_lossy(&statement.text).into_owned();
                self.end_insert_run();
                self.copy_block(&header, statement.first_line)
            }
            StatementKind::Copy => Ok(()),
        }
    }

    fn insert(&mut self, text: &[u8], line_no: u64) -> Result<()> {
        let Some((table, listed)) = inserts::target(text) else {
            self.end_insert_run();
            self.unread(
                line_no,
                None,
                "cannot read the table an INSERT statement writes to".to_string(),
            );
            return Ok(());
        };
        if self.insert_run.as_ref().is_some_and(|r| r.table != table) {
            self.end_insert_run();
        }
        if self.insert_run.is_none() {
            let partition = self.data_of.as_ref().filter(|&of| *of != table);
            let columns = listed
                .or_else(|| partition.and_then(|p| self.definitions.get(p).cloned()))
                .or_else(|| self.definitions.get(&table).cloned())
                .unwrap_or_default();
            let interest = self.visitor.begin_data(&table, &columns);
            self.insert_run = Some(InsertRun {
                table: table.clone(),
                interest,
                columns: columns.len(),
                rows: 0,
            });
        }
        let run = self.insert_run.as_mut().expect("an insert run is open");
        // The whole statement is read before any of its rows is handed on:
        // one that does not read is passed over whole, and the run goes on.
        let read = match run.interest {
            Interest::Count | Interest::PassOver => {
                inserts::count_rows(text, self.standard_strings).map(|n| {
                    run.rows += n;
                    None
                })
            }
            Interest::Rows => inserts::parse(text, self.standard_strings).and_then(|insert| {
                match insert
                    .rows
                    .iter()
                    .find(|row| run.columns != 0 && row.len() != run.columns)
                {
                    Some(row) => Err(anyhow!(
                        "a row has {} values for {} columns",
                        row.len(),
                        run.columns
                    )),
                    None => Ok(Some(insert.rows)),
                }
            }),
        };
        match read {
            Err(e) => self.unread(line_no, Some(table), format!("{e:#}")),
            Ok(None) => {}
            Ok(Some(rows)) => {
                for row in &rows {
                    run.rows += 1;
                    self.visitor
                        .row(&Row::decoded(row))
                        .with_context(|| format!("line {line_no}, row {} of {table}", run.rows))?;
                }
            }
        }
        Ok(())
    }

    fn end_insert_run(&mut self) {
        end_run(&mut self.insert_run, self.visitor);
    }
}

fn end_run(run: &mut Option<InsertRun>, visitor: &mut dyn Visitor) {
    if let Some(run) = run.take() {
        visitor.end_data(Some(run.rows));
    }
}

/// The table of a `Data for Name: t; Type: TABLE DATA; Schema: s; ...`
/// comment (names as they are, unquoted); `None` for any other object.
fn data_comment_table(text: &str) -> Option<TableName> {
    let rest = text.strip_prefix("Data for Name: ")?;
    let (name, rest) = rest.split_once("; Type: TABLE DATA; Schema: ")?;
    let schema = rest.split_once(';').map_or(rest, |(schema, _)| schema);
    Some(TableName::new(schema, name))
}

/// The database a `\connect` names: a plain name, a quoted one, or a
/// connection string such as `"dbname='buggy_race'"`.
fn connect_target(word: &str) -> Option<String> {
    let unquoted = if word.len() >= 2 && word.starts_with('"') && word.ends_with('"') {
        word[1..word.len() - 1].replace("\"\"", "\"")
    } else if word.len() >= 2 && word.starts_with('\'') && word.ends_with('\'') {
        word[1..word.len() - 1].replace("''", "'")
    } else {
        word.to_string()
    };
    if let Some(rest) = unquoted.strip_prefix("dbname=") {
        let rest = rest.split_whitespace().next().unwrap_or("");
        let name = rest.trim_matches('\'').replace("\\'", "'");
        return Some(name);
    }
    Some(unquoted)
}

#[cfg(test)]
mod tests;
