//! A visitor that wants every table's rows and decodes every field, so that
//! the readers run their full paths. Shared with tests/fuzz_regressions.rs,
//! which replays the corpus through the same visitor.

use anyhow::Result;
use textrescue::format::{Interest, Meta, Row, TableName, Visitor};

#[derive(Default)]
pub struct WantAll {
    /// Pass over every table instead (the skipping paths).
    pub skip: bool,
}

impl WantAll {
    /// One visitor wanting every table's rows, one skipping them: a reader
    /// run with each goes down both of its paths.
    pub fn wanting_and_skipping() -> [WantAll; 2] {
        [WantAll { skip: false }, WantAll { skip: true }]
    }
}

impl Visitor for WantAll {
    fn meta(&mut self, _meta: Meta) {}

    fn begin_data(&mut self, _table: &TableName, _columns: &[String]) -> Interest {
        if self.skip {
            Interest::Count
        } else {
            Interest::Rows
        }
    }

    fn row(&mut self, row: &Row) -> Result<()> {
        for i in 0..row.len() {
            row.get(i)?;
        }
        Ok(())
    }

    fn end_data(&mut self, _rows: Option<u64>) {}
}

/// A [`WantAll`] that lets a reader which can seek pass over the tables it
/// skips unread ([`Interest::PassOver`]), as `textrescue texts FILE` does:
/// a custom archive file is then read by seeking (the `custom_file` target).
pub struct Seeking(pub WantAll);

impl Visitor for Seeking {
    fn meta(&mut self, meta: Meta) {
        self.0.meta(meta);
    }

    fn begin_data(&mut self, table: &TableName, columns: &[String]) -> Interest {
        match self.0.begin_data(table, columns) {
            Interest::Count => Interest::PassOver,
            interest => interest,
        }
    }

    fn row(&mut self, row: &Row) -> Result<()> {
        self.0.row(row)
    }

    fn end_data(&mut self, rows: Option<u64>) {
        self.0.end_data(rows);
    }
}
