//! A visitor that wants every table's rows and decodes every field, so that
//! the readers run their full paths.

use anyhow::Result;
use textrescue::format::{Interest, Meta, TableName, Visitor, copy_text};

#[derive(Default)]
pub struct WantAll {
    pub rows: u64,
    pub bytes: usize,
    /// Pass over every table instead (the skipping paths).
    pub skip: bool,
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
        self.rows += 1;
        for field in copy_text::fields(line) {
            if let Some(v) = copy_text::decode(field)? {
                self.bytes += v.len();
            }
        }
        Ok(())
    }

    fn value_row(&mut self, values: &[Option<Vec<u8>>]) -> Result<()> {
        self.rows += 1;
        self.bytes += values.iter().flatten().map(Vec::len).sum::<usize>();
        Ok(())
    }

    fn end_data(&mut self, _rows: u64) {}
}
