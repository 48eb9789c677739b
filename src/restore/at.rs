//! `restore DIR --at TIME`: the texts of a backups folder as they stood at
//! a time ([`crate::at_time`]): from the journal of `watch` where it covers
//! the time, else from the newest backup dated before it. A backup chosen
//! is read as `--from` reads one; the journal's texts become the one
//! source [`super::select`] chooses from, so the rest of the restore
//! (safety backup, plan, confirmation, transaction, read-back, undo) is
//! the same.

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::select::Chosen;
use super::{Settings, warn};
use crate::at_time::{self, Source};
use crate::dump::DEFAULT_TEXTS_TABLES;
use crate::format::TableName;
use crate::journal::JOURNAL_FILE;
use crate::texts::Texts;

/// Where the texts at `--at` come from.
pub enum AtSource {
    /// A backup: read as `--from` reads it.
    Backup(PathBuf),
    /// The journal's texts at the time.
    Journal(JournalTexts),
}

/// The journal's texts at the time, as select's one backup.
pub struct JournalTexts {
    pub table: TableName,
    pub texts: Vec<Chosen>,
    /// What the texts come from, for the plan and the script's header.
    pub source: String,
}

/// Chooses the source for `--at`; stderr says which.
pub fn choose(settings: &Settings) -> Result<Option<AtSource>> {
    let Some(at) = settings.at else {
        return Ok(None);
    };
    let mut warnings = Vec::new();
    let chosen = at_time::choose(&settings.source, at, &settings.filter, &mut warnings);
    for w in &warnings {
        warn(w);
    }
    let chosen = chosen?;
    eprintln!(
        "textrescue: --at: {}",
        crate::escape::message(&chosen.describe(at))
    );
    Ok(Some(match chosen {
        Source::Backup { path, .. } => AtSource::Backup(path),
        Source::Journal { texts, poll } => {
            // The texts come from the journal: say where a backup it covers
            // disagrees with it about them (as `texts --at` does).
            let source = &settings.source;
            for w in at_time::disagreements(source, at, &settings.filter, &settings.read_options)? {
                warn(&w);
            }
            let journal = settings.source.join(JOURNAL_FILE);
            AtSource::Journal(JournalTexts {
                table: table(settings.read_options.table.as_deref()),
                texts: chosen_of(&texts, &journal)?,
                source: format!(
                    "{} at {} (poll at {})",
                    journal.display(),
                    at.format("%Y-%m-%d %H:%M:%S%.f UTC"),
                    poll.at.format("%Y-%m-%d %H:%M:%S%.6f UTC")
                ),
            })
        }
    }))
}

/// The journal does not record the texts table's name: `--table`'s, else
/// the server's.
fn table(named: Option<&str>) -> TableName {
    match named.map(|t| t.split_once('.').unwrap_or(("public", t))) {
        Some((schema, name)) => TableName::new(schema, name),
        None => TableName::new("public", DEFAULT_TEXTS_TABLES[0]),
    }
}

/// The journal's texts (already filtered) as texts to restore.
fn chosen_of(texts: &Texts, journal: &std::path::Path) -> Result<Vec<Chosen>> {
    let mut chosen = Vec::with_capacity(texts.rows.len());
    for record in texts.records() {
        let (Some(username), Some(task)) = (record.username, record.task) else {
            bail!(
                "{}: text id {} has no student or task name in the journal; restore finds \
                 students and tasks by name",
                journal.display(),
                record.text.id
            );
        };
        chosen.push(Chosen {
            backup: journal.to_path_buf(),
            text: record.text.clone(),
            username: username.to_string(),
            task: task.clone(),
        });
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_servers_unless_named() {
        assert_eq!(table(None), TableName::new("public", "tasktexts"));
        assert_eq!(table(Some("texts")), TableName::new("public", "texts"));
        assert_eq!(table(Some("race.texts")), TableName::new("race", "texts"));
    }
}
