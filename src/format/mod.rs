//! Reading pg_dump's formats: bytes in, table rows out.
//!
//! Every reader walks its input once and reports what it finds to a
//! [`Visitor`]: facts about the dump ([`Meta`]), and for each table's data
//! its columns and then its rows. The visitor answers [`Interest::Skip`] for
//! tables it does not need; their rows are then only counted, never decoded.
//! Nothing here knows about students or texts: that is `dump` and `texts`.
//!
//! One file per format: `plain` (SQL scripts from pg_dump and pg_dumpall,
//! COPY or INSERT data), `custom` (`-Fc`), `tar` (`-Ft`) and `directory`
//! (`-Fd`). `copy_text` decodes COPY's text format, `inserts` the values of
//! INSERT statements, `frames` LZ4 and zstd streams.

pub mod copy_text;
pub mod custom;
pub mod ddl;
pub mod directory;
pub mod frames;
pub mod inserts;
pub mod lines;
pub mod plain;
pub mod tar;

use std::fmt;

use anyhow::Result;

use crate::input::{Format, Opened};
use crate::progress::Progress;

/// A table as the dump names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub schema: String,
    pub name: String,
}

impl TableName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> TableName {
        TableName {
            schema: schema.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// A fact about the dump as a whole, reported where the reader finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meta {
    /// `-- Dumped by pg_dump version 15.14`, or the archive header's.
    PgDumpVersion(String),
    /// `-- Dumped from database version 15.4`, or the archive header's.
    ServerVersion(String),
    /// The archive format version of a custom, tar or directory dump: `1.14`.
    ArchiveVersion(String),
    /// Compression of the data inside an archive: `gzip`, `lz4`, `zstd`, `none`.
    DataCompression(String),
    /// The data that follows belongs to this database: the archive header's
    /// name, or a `\connect` in a pg_dump --create or pg_dumpall script.
    Database(String),
    /// This is pg_dumpall output: several databases, `\connect` between them.
    Cluster,
    /// The dump's closing line (or the archive's end) was reached: nothing
    /// is missing from what pg_dump wrote.
    Complete,
}

/// What the visitor wants of a table's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Count them only, at scanning speed.
    Skip,
    /// Hand each row over.
    Rows,
}

/// Receives what a format reader finds, in dump order.
pub trait Visitor {
    fn meta(&mut self, meta: Meta);

    /// A table's data begins. `columns` are its columns in data order
    /// (from the COPY header, the INSERT column list or the table's
    /// definition); empty when the dump does not say.
    fn begin_data(&mut self, table: &TableName, columns: &[String]) -> Interest;

    /// One row in COPY text format, without its line end. Only called
    /// between `begin_data` returning [`Interest::Rows`] and `end_data`.
    fn copy_row(&mut self, line: &[u8]) -> Result<()>;

    /// One row whose values the reader has already decoded (INSERT data).
    /// `None` is SQL NULL.
    fn value_row(&mut self, values: &[Option<Vec<u8>>]) -> Result<()>;

    /// The table's data ended after `rows` rows.
    fn end_data(&mut self, rows: u64);

    /// Whether the rows of skipped tables must be counted (`inspect`). When
    /// not, a reader that can seek passes over their data unread.
    fn counts_skipped_rows(&self) -> bool {
        true
    }

    /// A skipped table's data was passed over without counting its rows;
    /// ends the table in place of `end_data`.
    fn end_data_unread(&mut self) {}
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
    match opened.format {
        Format::Plain => plain::read(opened.reader, visitor),
        Format::Custom => custom::read(opened.reader, opened.seekable.as_deref(), visitor),
        Format::Tar => tar::read(opened.reader, visitor),
        Format::Directory => directory::read_counted(
            opened
                .directory
                .as_deref()
                .expect("a directory dump has its directory"),
            visitor,
            progress,
        ),
    }
}
