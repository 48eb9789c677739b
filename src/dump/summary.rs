//! What any dump is, whoever reads it: its format, versions and compression,
//! its databases and each one's tables with their row counts, whether it is
//! complete, the statements of table data that were not read, and what
//! damage stopped its reading. Format-neutral: built by a
//! [`SummarySink`] from what any format's reader reports, and all that
//! `inspect` shows apart from the texts.

use crate::codec::Compression;
use crate::format::{Interest, Meta, Row, TableName, Unread, Visitor};
use crate::input::Format;

/// A summary of one dump.
#[derive(Debug, Clone)]
pub struct Summary {
    pub format: Format,
    /// Compression around the whole dump (`pg_dump | gzip`).
    pub compression: Compression,
    /// Compression of the data inside an archive, as its header says.
    pub data_compression: Compression,
    pub pg_dump_version: Option<String>,
    pub server_version: Option<String>,
    /// The archive format version of a custom, tar or directory dump.
    pub archive_version: Option<String>,
    /// pg_dumpall output (several databases).
    pub cluster: bool,
    /// Everything was read: the dump's closing line or the archive's end
    /// was reached, and no statement of table data was left unread.
    pub complete: bool,
    /// The dump's closing line or the archive's end was reached (whether
    /// or not every statement before it was read).
    pub ended: bool,
    /// Statements of table data that were not read, in dump order: their
    /// rows are in no count.
    pub unread: Vec<Unread>,
    /// Partitions and their parents (partition, parent), as the dump says.
    pub partitions: Vec<(TableName, TableName)>,
    /// In dump order; a dump that names no database has one, unnamed.
    pub databases: Vec<DatabaseSummary>,
    /// Set with `--salvage` when reading stopped early: what went wrong.
    pub damage: Option<String>,
}

impl Summary {
    /// The partitioned table at the root of `table`, or `table` itself
    /// when it is no partition.
    pub fn root_of(&self, table: &TableName) -> TableName {
        let mut root = table;
        // Bounded: a cycle (no real dump has one) cannot hang.
        for _ in 0..=self.partitions.len() {
            match self.partitions.iter().find(|(p, _)| p == root) {
                Some((_, parent)) => root = parent,
                None => break,
            }
        }
        root.clone()
    }

    /// Both compressions in words: `gzip`, `none`, `zstd (data)`,
    /// `gzip, lz4 (data)`.
    pub fn compression_label(&self) -> String {
        match (self.compression, self.data_compression) {
            (outer, Compression::None) => outer.name().to_string(),
            (Compression::None, data) => format!("{} (data)", data.name()),
            (outer, data) => format!("{}, {} (data)", outer.name(), data.name()),
        }
    }
}

/// One database's part of a dump.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseSummary {
    /// The name, where the dump says it (archives, `\connect`).
    pub name: Option<String>,
    /// Every table with data, in dump order.
    pub tables: Vec<TableStat>,
}

/// A table's data as the dump holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStat {
    pub name: TableName,
    /// `None` when the table was passed over without counting.
    pub rows: Option<u64>,
}

/// Builds a [`Summary`] from what a format reader reports. It wants no
/// rows; the rows of every table are counted when `count_rows`, otherwise
/// a reader that can pass over a table's data does. A sink built on it
/// may keep its own state for each database with it (`T`, see
/// [`SummarySink::with_per_database`]), so that the one list of
/// databases is the summary's.
pub struct SummarySink<T = ()> {
    summary: Summary,
    count_rows: bool,
    /// The table whose data is being read.
    current_table: Option<TableName>,
    /// One per database of `summary`, in the same order.
    per_database: Vec<T>,
}

impl SummarySink {
    pub fn new(format: Format, compression: Compression, count_rows: bool) -> SummarySink {
        SummarySink {
            summary: Summary {
                format,
                compression,
                data_compression: Compression::None,
                pg_dump_version: None,
                server_version: None,
                archive_version: None,
                cluster: false,
                complete: false,
                ended: false,
                unread: Vec::new(),
                partitions: Vec::new(),
                databases: vec![DatabaseSummary::default()],
                damage: None,
            },
            count_rows,
            current_table: None,
            per_database: vec![()],
        }
    }

    /// The same sink, keeping a `T` for each database.
    pub fn with_per_database<T: Default>(self) -> SummarySink<T> {
        SummarySink {
            per_database: self
                .summary
                .databases
                .iter()
                .map(|_| T::default())
                .collect(),
            summary: self.summary,
            count_rows: self.count_rows,
            current_table: self.current_table,
        }
    }

    pub fn finish(self) -> Summary {
        self.summary
    }
}

impl<T: Default> SummarySink<T> {
    /// The summary so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The database the data read now belongs to.
    pub fn current_database(&self) -> &DatabaseSummary {
        self.summary
            .databases
            .last()
            .expect("a summary has a database")
    }

    /// The state kept for each database, in the summary's order.
    pub fn per_database(&self) -> &[T] {
        &self.per_database
    }

    /// The state kept for the database the data read now belongs to.
    pub fn current_mut(&mut self) -> &mut T {
        self.per_database
            .last_mut()
            .expect("a summary has a database")
    }

    /// The summary, and the state kept for each of its databases.
    pub fn finish_with_per_database(self) -> (Summary, Vec<T>) {
        (self.summary, self.per_database)
    }
}

impl<T: Default> Visitor for SummarySink<T> {
    fn meta(&mut self, meta: Meta) {
        let s = &mut self.summary;
        match meta {
            Meta::PgDumpVersion(v) => {
                s.pg_dump_version.get_or_insert(v);
            }
            Meta::ServerVersion(v) => {
                s.server_version.get_or_insert(v);
            }
            Meta::ArchiveVersion(v) => s.archive_version = Some(v),
            Meta::DataCompression(c) => s.data_compression = c,
            Meta::Cluster => s.cluster = true,
            Meta::Complete => {
                s.ended = true;
                s.complete = s.unread.is_empty();
            }
            Meta::Unread(unread) => {
                s.complete = false;
                s.unread.push(unread);
            }
            // The rows are still counted under the table the dump names.
            Meta::PartitionOf { partition, parent } => s.partitions.push((partition, parent)),
            Meta::Database(name) => {
                let current = s.databases.last_mut().expect("a summary has a database");
                // The part before the first database's name holds no data
                // (pg_dumpall writes roles there): it is that database's.
                if current.name.is_none() && current.tables.is_empty() {
                    current.name = Some(name);
                } else if current.name.as_deref() != Some(name.as_str()) {
                    s.databases.push(DatabaseSummary {
                        name: Some(name),
                        tables: Vec::new(),
                    });
                    self.per_database.push(T::default());
                }
            }
        }
    }

    fn begin_data(&mut self, table: &TableName, _columns: &[String]) -> Interest {
        self.current_table = Some(table.clone());
        if self.count_rows {
            Interest::Count
        } else {
            Interest::PassOver
        }
    }

    fn row(&mut self, _row: &Row) -> anyhow::Result<()> {
        Ok(())
    }

    fn end_data(&mut self, rows: Option<u64>) {
        if let Some(name) = self.current_table.take() {
            self.summary
                .databases
                .last_mut()
                .expect("a summary has a database")
                .tables
                .push(TableStat { name, rows });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_split_at_each_new_name_and_the_first_takes_the_part_before() {
        let mut sink = SummarySink::new(Format::Plain, Compression::Gzip, true);
        sink.meta(Meta::Cluster);
        sink.meta(Meta::Database("template1".into()));
        sink.meta(Meta::Database("race".into()));
        let t = TableName::new("public", "users");
        assert_eq!(sink.begin_data(&t, &[]), Interest::Count);
        sink.end_data(Some(3));
        sink.meta(Meta::Database("race".into()));
        sink.meta(Meta::DataCompression(Compression::Zstd));
        let s = sink.finish();
        let names: Vec<_> = s.databases.iter().map(|d| d.name.as_deref()).collect();
        assert_eq!(names, [Some("template1"), Some("race")]);
        assert_eq!(s.databases[1].tables[0].rows, Some(3));
        assert_eq!(s.compression_label(), "gzip, zstd (data)");
    }

    #[test]
    fn a_statement_not_read_makes_the_dump_incomplete() {
        let mut sink = SummarySink::new(Format::Plain, Compression::None, true);
        sink.meta(Meta::Unread(Unread {
            place: "line 7".into(),
            table: Some(TableName::new("public", "t")),
            reason: "why".into(),
        }));
        sink.meta(Meta::Complete);
        let s = sink.finish();
        assert!(s.ended && !s.complete);
        assert_eq!(s.unread.len(), 1);
    }
}
