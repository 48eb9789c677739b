//! The journal's tables (documented for admins in docs/journal.md), the
//! connection settings, and the schema version (`PRAGMA user_version`).

use anyhow::{Context, Result, bail};
use rusqlite::Connection;
use std::time::Duration;

/// The schema this code writes and reads. A journal with another version
/// is refused, never changed: an older tool must not misread a newer file.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a connection waits for another's lock (a checkpoint, the
/// writer's commit) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const CREATE: &str = "
CREATE TABLE polls (
    id           INTEGER PRIMARY KEY,
    at           TEXT NOT NULL,
    run          INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('ok', 'db-down')),
    live_texts   INTEGER NOT NULL DEFAULT 0,
    new_versions INTEGER NOT NULL DEFAULT 0,
    deletions    INTEGER NOT NULL DEFAULT 0,
    note         TEXT
);
CREATE INDEX polls_by_time ON polls (at);
CREATE TABLE texts (
    id         INTEGER PRIMARY KEY,
    row_id     INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    task_id    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (row_id, user_id, task_id, created_at)
);
CREATE INDEX texts_by_student_task ON texts (user_id, task_id);
CREATE TABLE contents (
    id     INTEGER PRIMARY KEY,
    sha256 BLOB NOT NULL,
    size   INTEGER NOT NULL,
    base   INTEGER REFERENCES contents (id),
    depth  INTEGER NOT NULL,
    data   BLOB NOT NULL
);
CREATE UNIQUE INDEX contents_by_sha256 ON contents (sha256);
CREATE TABLE versions (
    id          INTEGER PRIMARY KEY,
    text        INTEGER NOT NULL REFERENCES texts (id),
    modified_at TEXT,
    content     INTEGER NOT NULL REFERENCES contents (id),
    first_poll  INTEGER NOT NULL REFERENCES polls (id),
    last_poll   INTEGER REFERENCES polls (id),
    ended_poll  INTEGER REFERENCES polls (id)
);
CREATE INDEX versions_by_text ON versions (text);
CREATE INDEX versions_current ON versions (text) WHERE ended_poll IS NULL;
CREATE TABLE deletions (
    text INTEGER NOT NULL REFERENCES texts (id),
    poll INTEGER NOT NULL REFERENCES polls (id),
    PRIMARY KEY (text, poll)
) WITHOUT ROWID;
CREATE TABLE users (
    id       INTEGER PRIMARY KEY,
    username TEXT NOT NULL
);
CREATE TABLE tasks (
    id         INTEGER PRIMARY KEY,
    phase      INTEGER NOT NULL,
    name       TEXT NOT NULL,
    is_enabled INTEGER NOT NULL
);
CREATE VIEW version_list AS
SELECT v.id AS version, t.row_id, t.user_id, t.task_id, t.created_at, v.modified_at,
       lower(hex(c.sha256)) AS sha256, c.size,
       f.at AS first_seen,
       coalesce(l.at, (SELECT max(at) FROM polls WHERE status = 'ok')) AS last_seen,
       e.at AS ended,
       EXISTS (SELECT 1 FROM deletions d WHERE d.text = v.text AND d.poll = v.ended_poll)
           AS deleted
FROM versions v
JOIN texts t ON t.id = v.text
JOIN contents c ON c.id = v.content
JOIN polls f ON f.id = v.first_poll
LEFT JOIN polls l ON l.id = v.last_poll
LEFT JOIN polls e ON e.id = v.ended_poll;
";

/// Settings every connection gets.
fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

/// The writer's settings, then the schema created (a new file) or checked.
///
/// WAL: readers read the last committed poll while the writer writes the
/// next. `synchronous=FULL`: each commit (one per poll) is on disk before
/// the poll counts as done, so even a power loss loses at most the poll in
/// progress; with WAL that is one fsync per poll, nothing at a poll a
/// minute. (NORMAL would be enough for SIGKILL, which never loses what the
/// kernel already has, but a power loss could then drop the last polls.)
pub fn prepare_for_writing(conn: &mut Connection) -> Result<()> {
    configure(conn)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("journal: SQLite refused WAL mode (got {mode})");
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    // After a large poll (the first records every text) the log is cut
    // back to this at the next checkpoint instead of keeping its size.
    conn.pragma_update(None, "journal_size_limit", 8 * 1024 * 1024)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let tables: i64 = tx.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if version == 0 && tables == 0 {
        tx.execute_batch(CREATE)
            .context("journal: creating the schema")?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    } else {
        check_version(version)?;
    }
    tx.commit()?;
    Ok(())
}

/// A reader's settings and the schema version checked. False: the file
/// is still empty (a writer is creating it this instant): nothing to read.
pub fn prepare_for_reading(conn: &Connection) -> Result<bool> {
    configure(conn)?;
    // One read transaction: both answers from the same moment, should a
    // writer be creating the schema right now.
    let read = conn.unchecked_transaction()?;
    let tables: i64 = read.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    let version: i64 = read.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    drop(read);
    if version == 0 && tables == 0 {
        return Ok(false);
    }
    check_version(version)?;
    Ok(true)
}

fn check_version(version: i64) -> Result<()> {
    if version != SCHEMA_VERSION {
        bail!(
            "journal: schema version {version}, this textrescue reads version {SCHEMA_VERSION} \
             (a journal from another release of textrescue, or not a journal)"
        );
    }
    Ok(())
}
