//! Reading the journal, read-only, while a writer may be writing (WAL: a
//! reader sees the polls committed when its read began): the texts as they
//! stood at a time, a text's versions, and which times the journal covers.
//!
//! The journal covers a time T when an `ok` poll at or before T is followed
//! by an `ok` poll of the same writer run (or T is a poll's own time): a
//! version that stood a whole interval was seen. After the last poll, over
//! a `db-down` poll, or between two runs of the writer, it does not.

use super::contents::ContentReader;
use super::{JOURNAL_FILE, Poll, Sha256, TextMeta, format_time, parse_time, schema};
use crate::texts::Task;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Params, Row, params};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

/// One version of a text: its row as the server had it, its content, and
/// the polls that saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// `versions.id`: increasing in the order versions were recorded.
    pub id: i64,
    pub meta: TextMeta,
    pub sha256: Sha256,
    /// The text's length in bytes.
    pub size: u64,
    /// The poll that first saw it.
    pub first_seen: Poll,
    /// The last poll that saw it (the last `ok` poll while it is current).
    pub last_seen: Poll,
    /// The poll that found it replaced or deleted (None: current).
    pub ended: Option<Poll>,
    /// Whether it ended because its row was deleted.
    pub deleted: bool,
    /// `contents.id`, for [`JournalReader::text_of`].
    content: i64,
}

/// The texts as they stood at a time: as the `ok` poll `poll` saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub poll: Poll,
    /// By row id.
    pub texts: Vec<Version>,
}

/// Consecutive `ok` polls of one writer run: the journal knows every
/// version that stood from `from.at` to `to.at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub from: Poll,
    pub to: Poll,
    pub polls: u64,
}

/// Which times the journal covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    pub first_poll: Option<Poll>,
    pub last_poll: Option<Poll>,
    /// In time order; between two spans (and outside them) is a gap.
    pub spans: Vec<Span>,
    pub db_down_polls: u64,
}

impl Coverage {
    /// Whether the journal knows the texts as they stood at `at`.
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        self.spans.iter().any(|s| s.from.at <= at && at <= s.to.at)
    }

    /// The uncovered times between spans: (end of one, start of the next).
    pub fn gaps(&self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        self.spans
            .windows(2)
            .map(|pair| (pair[0].to.at, pair[1].from.at))
            .collect()
    }
}

/// The journal of a backups folder, open read-only.
pub struct JournalReader {
    conn: Connection,
    contents: RefCell<ContentReader>,
}

impl JournalReader {
    /// The journal in backups folder `dir`, or None where there is none
    /// (or it is an empty file a writer is about to fill).
    pub fn open(dir: &Path) -> Result<Option<JournalReader>> {
        let path = dir.join(JOURNAL_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("journal: opening {}", path.display()))?;
        let has_schema = schema::prepare_for_reading(&conn)
            .with_context(|| format!("journal: {}", path.display()))?;
        if !has_schema {
            return Ok(None);
        }
        Ok(Some(JournalReader {
            conn,
            contents: RefCell::new(ContentReader::default()),
        }))
    }

    /// Which times the journal covers (one pass over the polls).
    pub fn coverage(&self) -> Result<Coverage> {
        let tx = self.conn.unchecked_transaction()?;
        let mut coverage = Coverage::default();
        let mut statement = tx.prepare("SELECT id, at, run, status FROM polls ORDER BY id")?;
        let mut rows = statement.query([])?;
        let mut open: Option<Span> = None;
        while let Some(row) = rows.next()? {
            let poll = poll_from_row(row)??;
            coverage.first_poll.get_or_insert_with(|| poll.clone());
            coverage.last_poll = Some(poll.clone());
            if !poll.ok {
                coverage.db_down_polls += 1;
                coverage.spans.extend(open.take());
                continue;
            }
            match &mut open {
                Some(span) if span.to.run == poll.run => {
                    span.to = poll;
                    span.polls += 1;
                }
                _ => {
                    coverage.spans.extend(open.take());
                    open = Some(Span {
                        from: poll.clone(),
                        to: poll,
                        polls: 1,
                    });
                }
            }
        }
        coverage.spans.extend(open);
        Ok(coverage)
    }

    /// The texts as they stood at `at`, or None where the journal does not
    /// cover `at` (see the module's doc).
    pub fn texts_at(&self, at: DateTime<Utc>) -> Result<Option<Snapshot>> {
        // One read transaction: every query sees the same polls.
        let tx = self.conn.unchecked_transaction()?;
        let at_text = format_time(at);
        let before = tx
            .query_row(
                "SELECT id, at, run, status FROM polls WHERE status = 'ok' AND at <= ?1
                 ORDER BY at DESC LIMIT 1",
                [&at_text],
                poll_from_row,
            )
            .optional()?
            .transpose()?;
        let Some(poll) = before else {
            return Ok(None);
        };
        if poll.at != at {
            let next = tx
                .query_row(
                    "SELECT id, at, run, status FROM polls WHERE id > ?1 ORDER BY id LIMIT 1",
                    [poll.id],
                    poll_from_row,
                )
                .optional()?
                .transpose()?;
            match next {
                Some(next) if next.ok && next.run == poll.run => {}
                _ => return Ok(None),
            }
        }
        self.snapshot_of(poll).map(Some)
    }

    /// The texts as the last `ok` poll saw them, however long ago (None:
    /// no `ok` poll yet). Whether that still holds is for the caller to
    /// judge from the poll's time and [`JournalReader::coverage`].
    pub fn latest(&self) -> Result<Option<Snapshot>> {
        let _read = self.conn.unchecked_transaction()?;
        let last = self
            .conn
            .query_row(
                "SELECT id, at, run, status FROM polls WHERE status = 'ok'
                 ORDER BY id DESC LIMIT 1",
                [],
                poll_from_row,
            )
            .optional()?
            .transpose()?;
        match last {
            Some(poll) => self.snapshot_of(poll).map(Some),
            None => Ok(None),
        }
    }

    /// The versions current at `ok` poll `poll`.
    fn snapshot_of(&self, poll: Poll) -> Result<Snapshot> {
        let texts = self.query_versions(
            "v.first_poll <= ?1 AND (v.ended_poll IS NULL OR v.ended_poll > ?1)
             ORDER BY t.row_id",
            params![poll.id],
        )?;
        Ok(Snapshot { poll, texts })
    }

    /// Every version of row `row_id`, oldest first.
    pub fn versions_of(&self, row_id: i64) -> Result<Vec<Version>> {
        self.query_versions("t.row_id = ?1 ORDER BY v.id", params![row_id])
    }

    /// Every version of every row of student `user_id`'s text for task
    /// `task_id` (a text deleted and created again is a new row), oldest
    /// first.
    pub fn versions_for(&self, user_id: i64, task_id: i64) -> Result<Vec<Version>> {
        self.query_versions(
            "t.user_id = ?1 AND t.task_id = ?2 ORDER BY v.id",
            params![user_id, task_id],
        )
    }

    /// Every version's row (no text, no polls), by student and task, one
    /// at a time: a pass over the whole journal in little memory.
    pub fn for_each_version_meta(
        &self,
        mut each: impl FnMut(&TextMeta) -> Result<()>,
    ) -> Result<()> {
        let _read = self.conn.unchecked_transaction()?;
        let mut statement = self.conn.prepare_cached(
            "SELECT t.row_id, t.user_id, t.task_id, t.created_at, v.modified_at
             FROM versions v JOIN texts t ON t.id = v.text
             ORDER BY t.user_id, t.task_id, v.id",
        )?;
        let mut rows = statement.query([])?;
        while let Some(r) = rows.next()? {
            each(&TextMeta::from_columns(r, 0)?)?;
        }
        Ok(())
    }

    /// The versions current at some `ok` poll from `p0` to `p1` (of any
    /// text), by student and task, oldest first.
    pub fn versions_between(&self, p0: &Poll, p1: &Poll) -> Result<Vec<Version>> {
        self.query_versions(
            "v.first_poll <= ?2 AND (v.ended_poll IS NULL OR v.ended_poll > ?1)
             ORDER BY t.user_id, t.task_id, v.id",
            params![p0.id, p1.id],
        )
    }

    /// The `ok` polls that bracket the times from `from` to `to`: the last
    /// at or before `from` and the first at or after `to`, of one run with
    /// only `ok` polls between them; None where the journal does not cover
    /// the whole of that time (see the module's doc). A version current at
    /// neither poll nor between them did not stand in that time.
    pub fn bracket(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Option<(Poll, Poll)>> {
        let tx = self.conn.unchecked_transaction()?;
        let poll = |sql: &str, at: DateTime<Utc>| -> Result<Option<Poll>> {
            tx.query_row(sql, [format_time(at)], poll_from_row)
                .optional()?
                .transpose()
        };
        let Some(before) = poll(
            "SELECT id, at, run, status FROM polls WHERE status = 'ok' AND at <= ?1
             ORDER BY at DESC LIMIT 1",
            from,
        )?
        else {
            return Ok(None);
        };
        let Some(after) = poll(
            "SELECT id, at, run, status FROM polls WHERE at >= ?1 ORDER BY at LIMIT 1",
            to,
        )?
        else {
            return Ok(None);
        };
        if !after.ok || after.run != before.run {
            return Ok(None);
        }
        let gaps: i64 = tx.query_row(
            "SELECT count(*) FROM polls WHERE id > ?1 AND id < ?2 AND (status != 'ok' OR run != ?3)",
            params![before.id, after.id, before.run],
            |r| r.get(0),
        )?;
        Ok((gaps == 0).then_some((before, after)))
    }

    /// A version's text, byte for byte (checked against its sha256).
    /// Reading a text's versions oldest first decompresses one frame each.
    pub fn text_of(&self, version: &Version) -> Result<Vec<u8>> {
        self.contents.borrow_mut().read(&self.conn, version.content)
    }

    /// The students' usernames, as the last poll that saw each had it.
    pub fn usernames(&self) -> Result<HashMap<i64, String>> {
        let mut statement = self.conn.prepare_cached("SELECT id, username FROM users")?;
        let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The tasks, as the last poll that saw each had it.
    pub fn tasks(&self) -> Result<HashMap<i64, Task>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT id, phase, name, is_enabled FROM tasks")?;
        let rows = statement.query_map([], |r| {
            Ok((
                r.get(0)?,
                Task {
                    phase: r.get(1)?,
                    name: r.get(2)?,
                    is_enabled: r.get(3)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Versions matching `filter` (an SQL condition over `v`, `t`, with
    /// its ORDER BY), with their polls.
    fn query_versions(&self, filter: &str, params: impl Params) -> Result<Vec<Version>> {
        let sql = format!(
            "SELECT v.id, t.row_id, t.user_id, t.task_id, t.created_at, v.modified_at,
                    c.id, c.sha256, c.size,
                    f.id, f.at, f.run, f.status,
                    l.id, l.at, l.run, l.status,
                    e.id, e.at, e.run, e.status,
                    EXISTS (SELECT 1 FROM deletions d WHERE d.text = v.text AND d.poll = v.ended_poll)
             FROM versions v
             JOIN texts t ON t.id = v.text
             JOIN contents c ON c.id = v.content
             JOIN polls f ON f.id = v.first_poll
             LEFT JOIN polls l ON l.id = coalesce(v.last_poll,
                 (SELECT max(id) FROM polls WHERE status = 'ok'))
             LEFT JOIN polls e ON e.id = v.ended_poll
             WHERE {filter}"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let mut rows = statement.query(params)?;
        let mut versions = Vec::new();
        while let Some(r) = rows.next()? {
            let sha: Vec<u8> = r.get(7)?;
            let ended = match r.get::<_, Option<i64>>(17)? {
                Some(_) => Some(poll_at(r, 17)??),
                None => None,
            };
            versions.push(Version {
                id: r.get(0)?,
                meta: TextMeta::from_columns(r, 1)?,
                content: r.get(6)?,
                sha256: sha
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("journal: a content's sha256 is not 32 bytes"))?,
                size: r.get::<_, i64>(8)? as u64,
                first_seen: poll_at(r, 9)??,
                last_seen: poll_at(r, 13)??,
                ended,
                deleted: r.get(21)?,
            });
        }
        Ok(versions)
    }
}

/// A poll from columns `id, at, run, status` (the outer error: SQLite's;
/// the inner: a time the journal cannot read).
pub(super) fn poll_from_row(row: &Row) -> rusqlite::Result<Result<Poll>> {
    poll_at(row, 0)
}

fn poll_at(row: &Row, first: usize) -> rusqlite::Result<Result<Poll>> {
    let id: i64 = row.get(first)?;
    let at: String = row.get(first + 1)?;
    let run: i64 = row.get(first + 2)?;
    let status: String = row.get(first + 3)?;
    Ok(parse_time(&at).map(|at| Poll {
        id,
        at,
        run,
        ok: status == "ok",
    }))
}
