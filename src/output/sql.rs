//! `--format sql`: the records as the restore script that
//! [`crate::restore::script`] writes, for `psql -v ON_ERROR_STOP=1 -d LIVE -f FILE`.
//! This module only holds the command line's options for it (`--on-conflict`,
//! `--check`) and hands the records on.

use std::io::Write;

use anyhow::Result;

use crate::format::TableName;
pub use crate::restore::script::OnConflict;
use crate::restore::script::{self, ScriptSettings};
use crate::texts::Record;

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

impl SqlArgs {
    pub fn settings(&self) -> ScriptSettings {
        ScriptSettings {
            on_conflict: self.on_conflict,
            check: self.check,
        }
    }
}

/// The script to write: where its texts come from and go, and how.
pub struct RestoreScript<'a>(script::RestoreScript<'a>);

impl<'a> RestoreScript<'a> {
    /// `source`: the dump, named in the header; `table`: the live texts table.
    pub fn new(source: &'a str, table: &'a TableName, args: &SqlArgs) -> RestoreScript<'a> {
        RestoreScript(script::RestoreScript {
            source,
            table,
            settings: args.settings(),
        })
    }
}

/// Writes a script that restores `records` into the live database under
/// `--on-conflict`, or with `--check` reports what it would do.
pub fn write(
    records: &[Record<'_>],
    script: &RestoreScript<'_>,
    out: &mut dyn Write,
) -> Result<()> {
    script::write(records, &script.0, out)
}
