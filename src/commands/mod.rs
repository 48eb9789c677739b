//! One module per subcommand, each with its arguments and a short `run`.

pub mod backup;
pub mod completions;
pub mod diff;
pub mod history;
pub mod inspect;
pub mod reindex;
pub mod restore;
pub mod texts;

use anyhow::Result;

use crate::dump::{self, Dump, ReadOptions};
use crate::input::Source;

/// How to read a dump: shared by every command that takes one.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DumpArgs {
    /// The texts table, if not `tasktexts` or `task_texts` (NAME or SCHEMA.NAME).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// In pg_dumpall output: the database to read (default: the one with a texts table).
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// On a damaged dump, output the rows read before the damage (and say where it stopped).
    #[arg(long)]
    pub salvage: bool,
}

impl DumpArgs {
    pub fn options(&self) -> ReadOptions {
        ReadOptions {
            table: self.table.clone(),
            database: self.database.clone(),
            salvage: self.salvage,
            progress: true,
            ..ReadOptions::default()
        }
    }
}

/// Reads a dump and reports salvage damage and warnings on stderr.
pub fn read_dump(arg: &str, options: &ReadOptions) -> Result<Dump> {
    let dump = dump::read(&Source::from_arg(arg), options)?;
    if let Some(damage) = &dump.summary.damage {
        warn(&format!(
            "--salvage: {damage}; what follows holds only the rows read before that point"
        ));
    }
    Ok(dump)
}

/// For the table formats, which show text with U+FFFD for bytes that are
/// not UTF-8: says which texts that happens to, so that it is never silent.
pub fn warn_not_utf8<'a, 'r: 'a>(records: impl IntoIterator<Item = &'a crate::texts::Record<'r>>) {
    for r in records {
        if std::str::from_utf8(&r.text.text).is_err() {
            warn(&format!(
                "text {} ({}, {}) is not valid UTF-8 (a SQL_ASCII database?): the table shows \
                 U+FFFD for its bad bytes; --format csv keeps them exact",
                r.text.id,
                crate::output::escape::visible(&r.username_or_id()),
                crate::output::escape::visible(&r.task_label())
            ));
        }
    }
}

pub fn warn(message: &str) {
    eprintln!("textrescue: warning: {message}");
}
