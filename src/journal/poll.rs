//! One poll being written: what it saw of each text, in one transaction.
//! Nothing reaches the file, nor the writer's idea of what is current,
//! before [`PollWriter::commit`]; dropping the poll rolls it back.

use super::contents::{self, ContentReader, ContentRef};
use super::writer::{Current, WriterState};
use super::{Poll, Sha256, TextMeta, sha256_of};
use crate::texts::Task;
use anyhow::{Result, bail};
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::{HashMap, HashSet};

/// What recording a text in a poll did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The journal's current version is this one: nothing written.
    Unchanged,
    /// A new version (the row's previous one, if any, ends at this poll).
    NewVersion,
    /// [`PollWriter::record_seen`] only: the content is not in the journal;
    /// fetch the text and call [`PollWriter::record_version`] for it.
    NeedsText,
}

/// What a committed poll recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollSummary {
    pub poll: Poll,
    /// Texts live after the poll.
    pub live_texts: usize,
    pub new_versions: usize,
    pub deletions: usize,
}

/// A poll in progress (from [`super::JournalWriter::begin_poll`]). Every
/// text the journal holds as live must be recorded (seen, as a version, or
/// deleted) before the poll commits: a poll that forgot one would make the
/// journal say it stood when nobody looked.
pub struct PollWriter<'a> {
    tx: Transaction<'a>,
    state: WriterState<'a>,
    poll: Poll,
    /// Rows changed in this poll: their new current version (None: deleted).
    changes: HashMap<i64, Option<Current>>,
    /// Rows recorded in this poll (each at most once).
    accounted: HashSet<i64>,
    new_versions: usize,
    deletions: usize,
    contents: ContentReader,
}

impl<'a> PollWriter<'a> {
    pub(super) fn new(tx: Transaction<'a>, poll: Poll, state: WriterState<'a>) -> PollWriter<'a> {
        PollWriter {
            tx,
            state,
            poll,
            changes: HashMap::new(),
            accounted: HashSet::new(),
            new_versions: 0,
            deletions: 0,
            contents: ContentReader::default(),
        }
    }

    /// This poll (its id and time).
    pub fn poll(&self) -> &Poll {
        &self.poll
    }

    /// A row the poll found unchanged since the last poll of this run (its
    /// row version is the same): nothing is written. False where the
    /// journal does not hold the row as live: then its text is needed.
    pub fn record_unchanged(&mut self, row_id: i64) -> Result<bool> {
        if !self.state.current.contains_key(&row_id) {
            return Ok(false);
        }
        self.claim(row_id)?;
        Ok(true)
    }

    /// A row the poll saw whose text was not fetched: its row as the
    /// server has it, and its content's sha256 where the poll computed one
    /// in the server (None: the row is taken as unchanged if its row is). Unchanged: nothing written. Its row
    /// changed but the content is one the journal holds: a new version
    /// without the text. Else [`Recorded::NeedsText`], and the row is not
    /// recorded yet.
    pub fn record_seen(&mut self, meta: &TextMeta, sha256: Option<&Sha256>) -> Result<Recorded> {
        self.claim(meta.row_id)?;
        let current = self.state.current.get(&meta.row_id);
        if let Some(current) = current
            && current.meta == *meta
            && sha256.is_none_or(|sha| *sha == current.sha256)
        {
            return Ok(Recorded::Unchanged);
        }
        let known = match sha256 {
            Some(sha) => contents::find(&self.tx, sha)?.map(|content| (content, *sha)),
            None => None,
        };
        match known {
            Some((content, sha)) => {
                self.new_version(meta, content, sha)?;
                Ok(Recorded::NewVersion)
            }
            None => {
                self.accounted.remove(&meta.row_id);
                Ok(Recorded::NeedsText)
            }
        }
    }

    /// A row the poll saw, with its text.
    pub fn record_version(&mut self, meta: &TextMeta, text: &[u8]) -> Result<Recorded> {
        self.claim(meta.row_id)?;
        let sha256 = sha256_of(text);
        let current = self.state.current.get(&meta.row_id);
        if let Some(current) = current
            && current.meta == *meta
            && current.sha256 == sha256
        {
            return Ok(Recorded::Unchanged);
        }
        let content = match contents::find(&self.tx, &sha256)? {
            Some(content) => content,
            None => {
                let base = match current {
                    Some(current) => Some(current.content),
                    None => self.latest_of_student_task(meta)?,
                };
                let base_text = match base {
                    Some(base) => Some(self.contents.read(&self.tx, base.id)?),
                    None => None,
                };
                let previous = base.zip(base_text.as_deref());
                contents::insert(&self.tx, &sha256, text, previous)?
            }
        };
        self.new_version(meta, content, sha256)?;
        Ok(Recorded::NewVersion)
    }

    /// Row `row_id` is gone from the database. False (nothing written)
    /// where the journal does not hold it as live.
    pub fn record_deleted(&mut self, row_id: i64) -> Result<bool> {
        self.claim(row_id)?;
        let Some(current) = self.state.current.get(&row_id) else {
            return Ok(false);
        };
        let (text, version) = (current.text, current.version);
        self.end_version(version)?;
        self.tx.execute(
            "INSERT INTO deletions (text, poll) VALUES (?1, ?2)",
            params![text, self.poll.id],
        )?;
        self.changes.insert(row_id, None);
        self.deletions += 1;
        Ok(true)
    }

    /// The students' usernames as the poll saw them (user id, username).
    /// Only a row that is new or changed is written; a student gone from
    /// the database keeps its last name (older versions still name it).
    pub fn record_users(&mut self, users: &[(i64, String)]) -> Result<()> {
        let mut upsert = self.tx.prepare_cached(
            "INSERT INTO users (id, username) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET username = excluded.username
             WHERE username IS NOT excluded.username",
        )?;
        for (id, username) in users {
            upsert.execute(params![id, username])?;
        }
        Ok(())
    }

    /// The tasks as the poll saw them, written as [`PollWriter::record_users`]
    /// writes users.
    pub fn record_tasks(&mut self, tasks: &[(i64, Task)]) -> Result<()> {
        let mut upsert = self.tx.prepare_cached(
            "INSERT INTO tasks (id, phase, name, is_enabled) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET
                 phase = excluded.phase, name = excluded.name, is_enabled = excluded.is_enabled
             WHERE phase IS NOT excluded.phase OR name IS NOT excluded.name
                 OR is_enabled IS NOT excluded.is_enabled",
        )?;
        for (id, task) in tasks {
            upsert.execute(params![id, task.phase, task.name, task.is_enabled])?;
        }
        Ok(())
    }

    /// The rows the journal holds as live that this poll has not recorded
    /// yet: the poll cannot commit while there are any.
    pub fn unaccounted(&self) -> Vec<i64> {
        let mut rows: Vec<i64> = self
            .state
            .current
            .keys()
            .filter(|row| !self.accounted.contains(row))
            .copied()
            .collect();
        rows.sort_unstable();
        rows
    }

    /// Writes the poll to the journal (on disk when this returns).
    pub fn commit(mut self) -> Result<PollSummary> {
        let missing = self.unaccounted();
        if !missing.is_empty() {
            let shown: Vec<String> = missing.iter().take(10).map(i64::to_string).collect();
            bail!(
                "journal: poll at {} did not record {} live text(s) (row ids {}{}): \
                 nothing of it was written",
                super::format_time(self.poll.at),
                missing.len(),
                shown.join(", "),
                if missing.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                }
            );
        }
        let mut live = self.state.current.len();
        for (row_id, change) in &self.changes {
            let was_live = self.state.current.contains_key(row_id);
            match (was_live, change.is_some()) {
                (false, true) => live += 1,
                (true, false) => live -= 1,
                _ => {}
            }
        }
        self.tx.execute(
            "UPDATE polls SET live_texts = ?1, new_versions = ?2, deletions = ?3 WHERE id = ?4",
            params![
                live as i64,
                self.new_versions as i64,
                self.deletions as i64,
                self.poll.id
            ],
        )?;
        self.tx.commit()?;
        for (row_id, change) in self.changes.drain() {
            match change {
                Some(current) => self.state.current.insert(row_id, current),
                None => self.state.current.remove(&row_id),
            };
        }
        *self.state.last_poll = Some(self.poll.clone());
        *self.state.last_ok = Some(self.poll.id);
        Ok(PollSummary {
            poll: self.poll,
            live_texts: live,
            new_versions: self.new_versions,
            deletions: self.deletions,
        })
    }

    /// Marks `row_id` recorded in this poll; twice is the poller's mistake.
    fn claim(&mut self, row_id: i64) -> Result<()> {
        if !self.accounted.insert(row_id) {
            bail!("journal: row {row_id} recorded twice in one poll");
        }
        Ok(())
    }

    /// The newest content of the same student and task (a text deleted and
    /// created again, as the server's texts upload does): a good base.
    fn latest_of_student_task(&self, meta: &TextMeta) -> Result<Option<ContentRef>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT c.id, c.depth FROM versions v
                 JOIN texts t ON t.id = v.text JOIN contents c ON c.id = v.content
                 WHERE t.user_id = ?1 AND t.task_id = ?2 ORDER BY v.id DESC LIMIT 1",
            )?
            .query_row(params![meta.user_id, meta.task_id], |r| {
                Ok(ContentRef {
                    id: r.get(0)?,
                    depth: r.get(1)?,
                })
            })
            .optional()?)
    }

    /// A new current version of `meta.row_id`, ending the one before.
    fn new_version(&mut self, meta: &TextMeta, content: ContentRef, sha256: Sha256) -> Result<()> {
        if let Some(current) = self.state.current.get(&meta.row_id) {
            let version = current.version;
            self.end_version(version)?;
        }
        let text = self.text_id(meta)?;
        self.tx
            .prepare_cached(
                "INSERT INTO versions (text, modified_at, content, first_poll)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![text, meta.modified_at, content.id, self.poll.id])?;
        let version = self.tx.last_insert_rowid();
        self.changes.insert(
            meta.row_id,
            Some(Current {
                text,
                version,
                meta: meta.clone(),
                content,
                sha256,
            }),
        );
        self.new_versions += 1;
        Ok(())
    }

    /// Version `version` was last seen at the last `ok` poll (every poll
    /// records every live text) and ends at this one.
    fn end_version(&self, version: i64) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE versions SET last_poll = ?1, ended_poll = ?2 WHERE id = ?3")?
            .execute(params![*self.state.last_ok, self.poll.id, version])?;
        Ok(())
    }

    /// The `texts` row of this identity (row id, student, task,
    /// created_at), added if new.
    fn text_id(&self, meta: &TextMeta) -> Result<i64> {
        let existing = self
            .tx
            .prepare_cached(
                "SELECT id FROM texts
                 WHERE row_id = ?1 AND user_id = ?2 AND task_id = ?3 AND created_at = ?4",
            )?
            .query_row(
                params![meta.row_id, meta.user_id, meta.task_id, meta.created_at],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = existing {
            return Ok(id);
        }
        self.tx
            .prepare_cached(
                "INSERT INTO texts (row_id, user_id, task_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                meta.row_id,
                meta.user_id,
                meta.task_id,
                meta.created_at
            ])?;
        Ok(self.tx.last_insert_rowid())
    }
}
