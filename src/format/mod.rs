//! Reading pg_dump's formats: bytes in, table rows out. Every reader walks
//! its input once and reports to one sink, the [`Visitor`], in dump order:
//! facts ([`Meta`]), and each table's columns, rows (one [`Row`] type
//! whatever the format stores) and end; its [`Interest`] says what a table
//! costs (rows decoded, only counted, or passed over). Nothing here knows
//! about students or texts: that is `dump`.
//!
//! One file per format, as pg_dump has: `plain`, `archive` (what the
//! archive formats share) and `custom`, `tar`, `directory`; `copy_text`
//! (COPY rows), `inserts` and `ddl` (statements), `lines` (the line reader).
//! A new format is one new file plus one arm in [`read`] (docs/formats.md).

pub mod archive;
pub mod copy_text;
pub mod custom;
pub mod ddl;
pub mod directory;
pub mod inserts;
pub mod lines;
pub mod plain;
pub mod tar;

use std::borrow::Cow;
use std::fmt;

use anyhow::Result;

use crate::codec::Compression;
use crate::input::{Format, Opened};
use crate::progress::Progress;
pub use crate::sql_scan::TableName;

/// A fact about the dump as a whole, reported where the reader finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meta {
    /// `-- Dumped by pg_dump version 15.14`, or the archive header's.
    PgDumpVersion(String),
    /// `-- Dumped from database version 15.4`, or the archive header's.
    ServerVersion(String),
    /// The archive format version of a custom, tar or directory dump: `1.14`.
    ArchiveVersion(String),
    /// Compression of the data inside an archive, as its header says.
    DataCompression(Compression),
    /// The data that follows belongs to this database: the archive header's
    /// name, or a `\connect` in a pg_dump --create or pg_dumpall script.
    Database(String),
    /// This is pg_dumpall output: several databases, `\connect` between them.
    Cluster,
    /// The dump's closing line (or the archive's end) was reached: nothing
    /// is missing from what pg_dump wrote.
    Complete,
    /// A statement of table data the reader could not follow (an INSERT it
    /// cannot parse, a COPY header it cannot read): its rows are not read
    /// and not counted, and reading went on at the next statement, so that
    /// one such statement never loses the rest of the dump.
    Unread(Unread),
    /// `partition` is a partition of `parent` (pg_dump's `ALTER TABLE ONLY
    /// parent ATTACH PARTITION partition`, or `CREATE TABLE partition
    /// PARTITION OF parent` before PostgreSQL 12's pg_dump): its rows are
    /// rows of the partitioned table.
    PartitionOf {
        partition: TableName,
        parent: TableName,
    },
}

/// A statement of table data that was not read ([`Meta::Unread`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    /// Where it is: `line 1234`, or in an archive `TOC entry 12, line 3`.
    pub place: String,
    /// The table it writes to, when that much could be read.
    pub table: Option<TableName>,
    /// Why it was not read.
    pub reason: String,
}

impl fmt::Display for Unread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.table {
            Some(t) => write!(
                f,
                "{}: a statement of the data of {t} was not read: {}",
                self.place, self.reason
            ),
            None => write!(
                f,
                "{}: a statement of table data was not read: {}",
                self.place, self.reason
            ),
        }
    }
}

/// What the visitor wants of a table's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Hand each row over ([`Visitor::row`]).
    Rows,
    /// No rows, but their number, counted at scanning speed.
    Count,
    /// Neither rows nor their number: a reader that can pass over the data
    /// unread does so and ends the table with `end_data(None)`; the others
    /// count the rows as for [`Interest::Count`].
    PassOver,
}

/// One row of a table's data, whatever the format stores: COPY text (its
/// fields still escaped, decoded when asked for) or values an INSERT reader
/// has already decoded. A field is decoded only when asked for, so that a
/// visitor pays only for the fields it reads.
pub struct Row<'a> {
    fields: Fields<'a>,
}

enum Fields<'a> {
    /// A COPY line and where its fields are in it.
    Copy {
        line: &'a [u8],
        spans: &'a [(usize, usize)],
    },
    Decoded(&'a [Option<Vec<u8>>]),
}

impl<'a> Row<'a> {
    /// A COPY line already split by [`copy_text::Splitter`].
    pub(crate) fn copy(line: &'a [u8], spans: &'a [(usize, usize)]) -> Row<'a> {
        Row {
            fields: Fields::Copy { line, spans },
        }
    }

    /// Values already decoded (`None` is SQL NULL).
    pub fn decoded(values: &'a [Option<Vec<u8>>]) -> Row<'a> {
        Row {
            fields: Fields::Decoded(values),
        }
    }

    /// How many fields the row has.
    pub fn len(&self) -> usize {
        match &self.fields {
            Fields::Copy { spans, .. } => spans.len(),
            Fields::Decoded(values) => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Field `i` decoded: `None` for SQL NULL. Fails on a broken escape.
    ///
    /// # Panics
    /// When `i` is not below [`Row::len`].
    pub fn get(&self, i: usize) -> Result<Option<Cow<'a, [u8]>>> {
        match &self.fields {
            Fields::Copy { line, spans } => {
                let (start, end) = spans[i];
                copy_text::decode(&line[start..end])
            }
            Fields::Decoded(values) => Ok(values[i].as_deref().map(Cow::Borrowed)),
        }
    }
}

/// Receives what a format reader finds, in dump order.
pub trait Visitor {
    fn meta(&mut self, meta: Meta);

    /// A table's data begins. `columns` are its columns in data order
    /// (from the COPY header, the INSERT column list or the table's
    /// definition); empty when the dump does not say.
    fn begin_data(&mut self, table: &TableName, columns: &[String]) -> Interest;

    /// One row, only between `begin_data` returning [`Interest::Rows`] and
    /// `end_data`. When `begin_data` had columns, the row has that many
    /// fields (the reader checks).
    fn row(&mut self, row: &Row) -> Result<()>;

    /// The table's data ended after `rows` rows; `None` when it was passed
    /// over uncounted ([`Interest::PassOver`]).
    fn end_data(&mut self, rows: Option<u64>);
}

/// Reads an opened dump to the end with the reader of its format.
pub fn read(opened: Opened, visitor: &mut dyn Visitor) -> Result<()> {
    read_with_progress(opened, visitor, &Progress::hidden())
}

/// [`read`], counting on `progress` what `input::open` did not wrap: the
/// files of a directory dump.
pub fn read_with_progress(
    opened: Opened,
    visitor: &mut dyn Visitor,
    progress: &Progress,
) -> Result<()> {
    match opened {
        Opened::Directory(dir) => directory::read_counted(&dir, visitor, progress),
        Opened::Stream {
            format,
            reader,
            file,
            positions,
            ..
        } => match format {
            Format::Plain => plain::read_in_part(reader, positions, visitor),
            Format::Custom => custom::read(reader, file.as_deref(), visitor),
            Format::Tar => tar::read(reader, visitor),
            Format::Directory => {
                anyhow::bail!("a directory dump is read from its directory, not a stream")
            }
        },
    }
}
