//! `--format sql`: the records as the restore script that
//! [`crate::restore::script`] writes, for `psql -v ON_ERROR_STOP=1 -d LIVE -f FILE`.
//! This module only hands the records on, with the settings the command
//! line gave (`--on-conflict`, `--check`: [`ScriptSettings`]).

use std::io::Write;

use anyhow::Result;

use crate::format::TableName;
use crate::restore::script;
pub use crate::restore::script::OnConflict;
pub use crate::restore::script::ScriptSettings;
use crate::texts::Record;

/// The script to write: where its texts come from and go, and how.
pub struct RestoreScript<'a>(script::RestoreScript<'a>);

impl<'a> RestoreScript<'a> {
    /// `source`: the dump, named in the header; `table`: the live texts table.
    pub fn new(
        source: &'a str,
        table: &'a TableName,
        settings: &ScriptSettings,
    ) -> RestoreScript<'a> {
        RestoreScript(script::RestoreScript {
            source,
            table,
            settings: *settings,
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
