//! Writing the journal: the one writer (an exclusive `flock` on
//! [`JOURNAL_LOCK_FILE`]) records each poll in one SQLite transaction, so a
//! poll is in the journal whole or not at all.
//!
//! A version's last poll is written only when it ends (replaced or
//! deleted): while it is current it was seen by every `ok` poll since its
//! first, which a poll's commit checks (every current text must be
//! accounted for). So an unchanged text costs no write at all.

use super::contents::ContentRef;
use super::poll::PollWriter;
use super::{JOURNAL_FILE, JOURNAL_LOCK_FILE, Poll, Sha256, TextMeta, format_time, schema};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, SubsecRound, Utc};
use nix::fcntl::{Flock, FlockArg};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::Path;

/// The file a new journal is made in before it takes its name.
const NEW_JOURNAL_FILE: &str = ".textrescue-journal.sqlite.new";

/// Makes a new journal at `path`: its schema is written (and WAL mode set)
/// in [`NEW_JOURNAL_FILE`], which is closed and synced, then renamed to
/// `path`. A writer killed while it makes the file leaves no journal that
/// readers cannot open (SQLite's switch to WAL mode leaves a rollback
/// journal behind that only a writer can undo, so read-only readers would
/// fail on it), only the new file, which the next writer (holding the
/// lock, as the caller does) removes and makes again.
fn create(dir: &Path, path: &Path) -> Result<()> {
    let new = dir.join(NEW_JOURNAL_FILE);
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let file = dir.join(format!("{NEW_JOURNAL_FILE}{suffix}"));
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("journal: removing {}", file.display()));
            }
        }
    }
    let mut conn =
        Connection::open(&new).with_context(|| format!("journal: creating {}", new.display()))?;
    schema::prepare_for_writing(&mut conn)
        .with_context(|| format!("journal: {}", new.display()))?;
    // Closing the only connection checkpoints the log into the file and
    // removes it: the file alone is the journal.
    conn.close()
        .map_err(|(_, e)| e)
        .with_context(|| format!("journal: closing {}", new.display()))?;
    File::open(&new)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("journal: syncing {}", new.display()))?;
    std::fs::rename(&new, path)
        .with_context(|| format!("journal: renaming {} to {}", new.display(), path.display()))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("journal: syncing {}", dir.display()))?;
    Ok(())
}

/// What the journal holds as a row's current version.
#[derive(Debug, Clone)]
pub(super) struct Current {
    /// `texts.id`: the row's identity (row id, student, task, created_at).
    pub text: i64,
    /// `versions.id`.
    pub version: i64,
    pub meta: TextMeta,
    pub content: ContentRef,
    pub sha256: Sha256,
}

/// The journal of one backups folder, open for writing.
pub struct JournalWriter {
    conn: Connection,
    /// Held while the writer lives; the kernel drops it if the process dies.
    _lock: Flock<File>,
    run: i64,
    last_poll: Option<Poll>,
    /// The last `ok` poll's id: it saw every current version.
    last_ok: Option<i64>,
    /// By row id.
    current: HashMap<i64, Current>,
}

impl JournalWriter {
    /// Opens (creating if needed) the journal in backups folder `dir`,
    /// taking the writer's lock; fails at once if another writer holds it.
    pub fn open(dir: &Path) -> Result<JournalWriter> {
        let lock_path = dir.join(JOURNAL_LOCK_FILE);
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("journal: opening {}", lock_path.display()))?;
        let lock = match Flock::lock(lock_file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => bail!(
                "journal: another watcher is writing {} (it holds {})",
                dir.join(JOURNAL_FILE).display(),
                lock_path.display()
            ),
            Err((_, e)) => bail!("journal: locking {}: {e}", lock_path.display()),
        };
        let path = dir.join(JOURNAL_FILE);
        if !path.exists() {
            create(dir, &path)?;
        }
        let mut conn = Connection::open(&path)
            .with_context(|| format!("journal: opening {}", path.display()))?;
        schema::prepare_for_writing(&mut conn)
            .with_context(|| format!("journal: {}", path.display()))?;
        let run: i64 = conn.query_row("SELECT coalesce(max(run), 0) + 1 FROM polls", [], |r| {
            r.get(0)
        })?;
        let last_poll = conn
            .query_row(
                "SELECT id, at, run, status FROM polls ORDER BY id DESC LIMIT 1",
                [],
                super::reader::poll_from_row,
            )
            .optional()?
            .transpose()?;
        let last_ok = conn.query_row("SELECT max(id) FROM polls WHERE status = 'ok'", [], |r| {
            r.get(0)
        })?;
        let current = load_current(&conn)?;
        Ok(JournalWriter {
            conn,
            _lock: lock,
            run,
            last_poll,
            last_ok,
            current,
        })
    }

    /// This writer's run number (one per open): coverage never spans runs.
    pub fn run(&self) -> i64 {
        self.run
    }

    /// The last poll recorded (by any run), if any.
    pub fn last_poll(&self) -> Option<&Poll> {
        self.last_poll.as_ref()
    }

    /// Every text the journal holds as live, with its current version's
    /// sha256: the poller fetches only texts whose row differs from this.
    pub fn current(&self) -> impl Iterator<Item = (&TextMeta, &Sha256)> {
        self.current.values().map(|c| (&c.meta, &c.sha256))
    }

    /// Row `row_id`'s current version, if the journal holds it as live.
    pub fn current_of(&self, row_id: i64) -> Option<(&TextMeta, &Sha256)> {
        self.current.get(&row_id).map(|c| (&c.meta, &c.sha256))
    }

    /// Starts the poll made at `at` (kept to the microsecond; it must be
    /// after the last poll's). Dropping the poll without
    /// [`PollWriter::commit`] leaves the journal as it was.
    pub fn begin_poll(&mut self, at: DateTime<Utc>) -> Result<PollWriter<'_>> {
        let at = self.next_poll_time(at)?;
        let tx = Transaction::new(&mut self.conn, TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO polls (at, run, status) VALUES (?1, ?2, 'ok')",
            params![format_time(at), self.run],
        )?;
        let poll = Poll {
            id: tx.last_insert_rowid(),
            at,
            run: self.run,
            ok: true,
        };
        Ok(PollWriter::new(
            tx,
            poll,
            WriterState {
                current: &mut self.current,
                last_poll: &mut self.last_poll,
                last_ok: &mut self.last_ok,
            },
        ))
    }

    /// Records that the poll at `at` found the database down (`note`
    /// says how): the time since the last `ok` poll is not covered.
    pub fn record_down(&mut self, at: DateTime<Utc>, note: &str) -> Result<Poll> {
        let at = self.next_poll_time(at)?;
        self.conn.execute(
            "INSERT INTO polls (at, run, status, note) VALUES (?1, ?2, 'db-down', ?3)",
            params![format_time(at), self.run, note],
        )?;
        let poll = Poll {
            id: self.conn.last_insert_rowid(),
            at,
            run: self.run,
            ok: false,
        };
        self.last_poll = Some(poll.clone());
        Ok(poll)
    }

    /// Copies the write-ahead log into the journal file and empties it
    /// (SQLite also does this by itself every 1,000 pages).
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn next_poll_time(&self, at: DateTime<Utc>) -> Result<DateTime<Utc>> {
        let at = at.trunc_subsecs(6);
        if let Some(last) = &self.last_poll
            && at <= last.at
        {
            bail!(
                "journal: poll time {} is not after the last poll's ({}): has the clock gone back?",
                format_time(at),
                format_time(last.at)
            );
        }
        Ok(at)
    }
}

/// The current versions, from the `versions_current` index.
fn load_current(conn: &Connection) -> Result<HashMap<i64, Current>> {
    let mut statement = conn.prepare(
        "SELECT t.id, v.id, t.row_id, t.user_id, t.task_id, t.created_at, v.modified_at,
                c.id, c.depth, c.sha256
         FROM versions v JOIN texts t ON t.id = v.text JOIN contents c ON c.id = v.content
         WHERE v.ended_poll IS NULL",
    )?;
    let rows = statement.query_map([], |r| {
        let sha: Vec<u8> = r.get(9)?;
        Ok((
            Current {
                text: r.get(0)?,
                version: r.get(1)?,
                meta: TextMeta::from_columns(r, 2)?,
                content: ContentRef {
                    id: r.get(7)?,
                    depth: r.get(8)?,
                },
                sha256: [0; 32],
            },
            sha,
        ))
    })?;
    let mut current = HashMap::new();
    for row in rows {
        let (mut entry, sha) = row?;
        entry.sha256 = sha
            .try_into()
            .map_err(|_| anyhow::anyhow!("journal: a content's sha256 is not 32 bytes"))?;
        if let Some(other) = current.insert(entry.meta.row_id, entry) {
            bail!(
                "journal: row {} has two current versions (damaged journal)",
                other.meta.row_id
            );
        }
    }
    Ok(current)
}

/// The writer's state that a poll reads and its commit moves on.
pub(super) struct WriterState<'a> {
    pub current: &'a mut HashMap<i64, Current>,
    pub last_poll: &'a mut Option<Poll>,
    pub last_ok: &'a mut Option<i64>,
}
