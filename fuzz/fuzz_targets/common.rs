//! A visitor that wants every table's rows and decodes every field, so that
//! the readers run their full paths. Shared with tests/fuzz_regressions.rs,
//! which replays the corpus through the same visitor.

use anyhow::Result;
use textrescue::format::{Interest, Meta, TableName, Visitor, copy_text};

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
            Interest::Skip
        } else {
            Interest::Rows
        }
    }

    fn copy_row(&mut self, line: &[u8]) -> Result<()> {
        for field in copy_text::fields(line) {
            copy_text::decode(field)?;
        }
        Ok(())
    }

    fn value_row(&mut self, _values: &[Option<Vec<u8>>]) -> Result<()> {
        Ok(())
    }

    fn end_data(&mut self, _rows: u64) {}
}

/// A [`WantAll`] that lets a reader which can seek pass over the tables it
/// skips unread, as `textrescue texts FILE` does (it wants no row counts):
/// a custom archive file is then read by seeking (the `custom_file` target).
pub struct Seeking(pub WantAll);

impl Visitor for Seeking {
    fn meta(&mut self, meta: Meta) {
        self.0.meta(meta);
    }

    fn begin_data(&mut self, table: &TableName, columns: &[String]) -> Interest {
        self.0.begin_data(table, columns)
    }

    fn copy_row(&mut self, line: &[u8]) -> Result<()> {
        self.0.copy_row(line)
    }

    fn value_row(&mut self, values: &[Option<Vec<u8>>]) -> Result<()> {
        self.0.value_row(values)
    }

    fn end_data(&mut self, rows: u64) {
        self.0.end_data(rows);
    }

    fn counts_skipped_rows(&self) -> bool {
        false
    }
}
