//! `--format sql`: restore SQL for `psql -v ON_ERROR_STOP=1 -f`. (Being written.)

use std::io::Write;

use anyhow::{Result, bail};

use crate::texts::Record;

/// What to do where the live database already has a text for the student and task.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnConflict {
    /// Leave the live text as it is and say so.
    #[default]
    Skip,
    /// Replace the live text with the backup's (the live row keeps its id).
    Overwrite,
    /// Abort the whole restore; nothing changes.
    Error,
}

/// The options of `--format sql`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SqlArgs {
    /// With --format sql: what to do where the live database already has a
    /// text for that student and task.
    #[arg(long, value_enum, default_value_t = OnConflict::Skip)]
    pub on_conflict: OnConflict,
    /// With --format sql: the same script, ending in ROLLBACK: it reports
    /// what it would do and changes nothing.
    #[arg(long)]
    pub check: bool,
}

/// Everything the script's header and statements need besides the texts.
pub struct RestoreScript<'a> {
    /// The dump the texts come from, for the header.
    pub source: &'a str,
    /// The live texts table, e.g. `public.tasktexts`.
    pub table: &'a str,
    pub args: &'a SqlArgs,
}

pub fn write(
    _records: &[Record<'_>],
    _script: &RestoreScript<'_>,
    _out: &mut dyn Write,
) -> Result<()> {
    bail!("--format sql is not written yet")
}
