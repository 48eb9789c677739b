//! The journal of `watch`: every version of every text the live database
//! showed at a poll, and every deletion, in one SQLite file in the backups
//! folder ([`JOURNAL_FILE`]). This module owns the file and its schema;
//! it knows nothing of PostgreSQL: the poller hands it what a poll saw.
//!
//! - [`JournalWriter`] (one per journal, held by a lock file): a
//!   transaction per poll ([`PollWriter`]), so a writer killed at any
//!   instant loses at most the poll in progress;
//! - [`JournalReader`] (read-only, any number, while the writer writes):
//!   the texts as they stood at a time, a text's versions, what times the
//!   journal covers;
//! - versions are stored once per content (sha256) and zstd-compressed
//!   against the version before them (`codec`, `contents`); the schema
//!   and its version are in `schema` (documented in docs/journal.md).

mod codec;
mod contents;
mod poll;
mod reader;
mod records;
mod schema;
mod writer;

#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod tests;

pub use poll::{PollSummary, PollWriter, Recorded};
pub use reader::{Coverage, JournalReader, Snapshot, Span, Version};
pub use writer::JournalWriter;

use chrono::{DateTime, NaiveDateTime, Utc};

/// The journal's file and the writer's lock, named with the other files of
/// a backups folder.
pub use crate::folder_names::{JOURNAL_FILE, JOURNAL_LOCK_FILE};

/// A text's row as the poll saw it, without its text: the server's
/// `tasktexts` columns, timestamps as PostgreSQL prints them (kept exactly,
/// never parsed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TextMeta {
    /// `tasktexts.id`. A text deleted and created again gets a new one.
    pub row_id: i64,
    pub user_id: i64,
    pub task_id: i64,
    pub created_at: String,
    /// None where the server has NULL (the column allows it).
    pub modified_at: Option<String>,
}

impl TextMeta {
    /// The row read from five columns of a query, from `first` on:
    /// row_id, user_id, task_id, created_at, modified_at.
    fn from_columns(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<TextMeta> {
        Ok(TextMeta {
            row_id: r.get(first)?,
            user_id: r.get(first + 1)?,
            task_id: r.get(first + 2)?,
            created_at: r.get(first + 3)?,
            modified_at: r.get(first + 4)?,
        })
    }
}

/// A sha256 of a text's bytes.
pub type Sha256 = [u8; 32];

/// The sha256 of `text`, as the journal keys contents.
pub fn sha256_of(text: &[u8]) -> Sha256 {
    use sha2::Digest;
    sha2::Sha256::digest(text).into()
}

/// A poll: when it ran and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    /// Increasing with time.
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Which writer run made it: coverage never spans two runs (the watcher
    /// was not looking in between).
    pub run: i64,
    /// Whether the database answered (false: `db-down`, nothing known).
    pub ok: bool,
}

/// How poll times are stored: UTC, microseconds, sortable as text and
/// understood by SQLite's date functions.
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

fn format_time(at: DateTime<Utc>) -> String {
    at.format(TIME_FORMAT).to_string()
}

fn parse_time(text: &str) -> anyhow::Result<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text, TIME_FORMAT)
        .map_err(|e| anyhow::anyhow!("journal: bad poll time {text:?}: {e}"))?;
    Ok(naive.and_utc())
}
