//! `--format json`: an array of the ROW objects of docs/texts.md.

use std::io::Write;

use anyhow::Result;

use super::JsonRow;
use crate::texts::Record;

pub fn write(records: &[Record<'_>], out: &mut dyn Write) -> Result<()> {
    let rows = records
        .iter()
        .map(JsonRow::new)
        .collect::<Result<Vec<_>>>()?;
    serde_json::to_writer_pretty(&mut *out, &rows)?;
    writeln!(out)?;
    Ok(())
}
