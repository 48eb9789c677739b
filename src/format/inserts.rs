//! The data of INSERT-style dumps (`--inserts`, `--column-inserts`,
//! `--rows-per-insert`). (Being written.)

use anyhow::{Result, bail};

use super::TableName;

/// One INSERT statement: its table, its column list if it has one, its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    pub table: TableName,
    pub columns: Option<Vec<String>>,
    pub rows: Vec<Vec<Option<Vec<u8>>>>,
}

/// The table an `INSERT INTO` statement writes to and its column list if
/// it has one, read from its start without parsing its values.
pub fn target(_statement: &str) -> Option<(TableName, Option<Vec<String>>)> {
    None
}

/// Parses one whole INSERT statement (with its `;`).
pub fn parse(_statement: &str, _standard_conforming_strings: bool) -> Result<Insert> {
    bail!("INSERT-style dumps are not read yet")
}

/// How many rows an INSERT statement holds, without decoding them.
pub fn count_rows(_statement: &str, _standard_conforming_strings: bool) -> Result<u64> {
    bail!("INSERT-style dumps are not read yet")
}
