//! The journal's texts as the domain has texts: a [`Snapshot`] turned into
//! [`Texts`] (rows, usernames, tasks), so that everything that reads a
//! dump's texts (the filters, the output writers) reads the journal's the
//! same way.

use anyhow::{Context, Result};

use super::{JournalReader, Snapshot};
use crate::filter::Filter;
use crate::texts::{TaskText, Texts, Timestamp};

impl JournalReader {
    /// The texts of `snapshot`, named with the journal's usernames and
    /// tasks. With `keep`, only the texts that pass it, as a dump read
    /// with `ReadOptions::keep_only` holds them: a text that fails is
    /// never decompressed.
    pub fn texts_of(&self, snapshot: &Snapshot, keep: Option<&Filter>) -> Result<Texts> {
        let mut texts = Texts {
            usernames: self.usernames()?,
            tasks: self.tasks()?,
            ..Texts::default()
        };
        texts.students = texts.usernames.len();
        for version in &snapshot.texts {
            let meta = &version.meta;
            let timestamp = |value: &str| {
                Timestamp::parse_pg(value)
                    .with_context(|| format!("journal: text row {}", meta.row_id))
            };
            let mut row = TaskText {
                id: meta.row_id,
                user_id: meta.user_id,
                task_id: meta.task_id,
                created_at: timestamp(&meta.created_at)?,
                modified_at: meta.modified_at.as_deref().map(timestamp).transpose()?,
                text: Vec::new(),
            };
            if let Some(filter) = keep
                && !(filter.matches_row(&row) && filter.matches(&texts.record(&row)))
            {
                continue;
            }
            row.text = self.text_of(version)?;
            texts.rows.push(row);
        }
        Ok(texts)
    }
}
