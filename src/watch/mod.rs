//! `watch`'s polls: what the live texts table holds now, compared with
//! what the journal last saw, and only the texts that changed fetched and
//! recorded (a new version, a deletion) in one journal transaction.
//!
//! A poll asks the server for every text's id and row version (`xmin`,
//! which every write to the row changes, also one that leaves
//! `modified_at` alone) and nothing else: only rows whose row version
//! changed since the last poll are fetched whole, with their times. The
//! first poll of a run (and the first after the database was down) knows no
//! row versions yet: it asks for each text's times and sha256, computed in
//! the server, and fetches only the texts whose content the journal does
//! not hold. Tables are named as `restore` names them: as data, through views.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::journal::{JournalWriter, PollSummary, Recorded, Sha256, TextMeta};
use crate::restore::live::{Live, Session, psql_failure, unhex};
use crate::restore::script::{SETTINGS_SQL, Tables, render_template};
use crate::signals::Caught;
use crate::texts::Task;

const ROWS_VIEW_SQL: &str = include_str!("rows_view.sql");
const STATE_SQL: &str = include_str!("state.sql");
const VERSIONS_SQL: &str = include_str!("versions.sql");
const TEXTS_SQL: &str = include_str!("texts.sql");
const NAMES_SQL: &str = include_str!("names.sql");

/// At most this many bytes of text are fetched in one query (beyond the
/// first text of each): bounds the memory a poll needs when many texts
/// changed (the first poll of a new journal) or when texts are large.
const FETCH_BUDGET: usize = 4 << 20;

/// A watcher of one live database, writing one journal.
pub struct Watcher {
    psql: Psql,
    journal: JournalWriter,
    /// The row version (`xmin`) each live text had at the last poll of this
    /// run; empty before the first poll, and after the database was down.
    row_versions: HashMap<i64, String>,
}

/// The live database through psql, kept running between polls (one
/// `docker exec` and one connection per run, not per query); started again
/// after a failure.
struct Psql {
    live: Live,
    tables: Tables,
    session: Option<Session>,
    /// How long one query may go unanswered before psql is ended and the
    /// database taken as down: a hung connection must not stop the watch.
    answer_within: Duration,
}

/// One live text as a poll saw it.
struct LiveText {
    meta: TextMeta,
    row_version: String,
    /// The sha256 of its text (the first poll of a run), or its text.
    sha256: Option<Sha256>,
    text: Option<Vec<u8>>,
}

impl Watcher {
    /// A watcher whose queries each get `answer_within` to answer.
    pub(crate) fn new(
        live: Live,
        tables: Tables,
        journal: JournalWriter,
        answer_within: Duration,
    ) -> Watcher {
        Watcher {
            psql: Psql {
                live,
                tables,
                session: None,
                answer_within,
            },
            journal,
            row_versions: HashMap::new(),
        }
    }

    pub fn journal(&self) -> &JournalWriter {
        &self.journal
    }

    pub fn journal_mut(&mut self) -> &mut JournalWriter {
        &mut self.journal
    }

    /// Forget the row versions: the next poll compares contents by hash.
    pub fn forget_row_versions(&mut self) {
        self.row_versions.clear();
    }

    /// Polls once at `at`, recording what changed; nothing is recorded
    /// when the database cannot be read (the error says why).
    pub fn poll(&mut self, at: DateTime<Utc>) -> Result<PollSummary> {
        // A run's first poll asks for every row with its content's hash;
        // the others ask for row versions only.
        let first = self.row_versions.is_empty();
        let answer = if first {
            self.psql.query(STATE_SQL, "textrescue-state ")?
        } else {
            self.psql.query(VERSIONS_SQL, "textrescue-versions ")?
        };
        let names = self.psql.query(NAMES_SQL, "textrescue-names ")?;
        let (users, tasks) = parse_names(&names)?;
        let mut poll = self.journal.begin_poll(at)?;
        poll.record_users(&users)?;
        poll.record_tasks(&tasks)?;
        // Each live row's version, and the rows whose text the journal needs.
        let mut versions: HashMap<i64, String> = HashMap::new();
        let mut wanted: Vec<i64> = Vec::new();
        if first {
            for row in parse_rows(&answer, false)? {
                if poll.record_seen(&row.meta, row.sha256.as_ref())? == Recorded::NeedsText {
                    wanted.push(row.meta.row_id);
                }
                versions.insert(row.meta.row_id, row.row_version);
            }
        } else {
            for (id, version) in parse_versions(&answer)? {
                let unchanged = self.row_versions.get(&id) == Some(&version);
                if !(unchanged && poll.record_unchanged(id)?) {
                    wanted.push(id);
                }
                versions.insert(id, version);
            }
        }
        let mut fetched = HashSet::new();
        let mut left: Vec<i64> = wanted.clone();
        left.sort_unstable();
        left.dedup();
        while !left.is_empty() {
            let answer = self.psql.query(&texts_sql(&left), "textrescue-texts ")?;
            let rows = parse_rows(&answer, true)?;
            drop(answer);
            if rows.is_empty() {
                break; // the rest were deleted since they were seen
            }
            for row in rows {
                let text = row.text.as_deref().unwrap_or_default();
                poll.record_version(&row.meta, text)?;
                fetched.insert(row.meta.row_id);
                versions.insert(row.meta.row_id, row.row_version);
            }
            let last = *fetched.iter().max().expect("rows were fetched");
            left.retain(|id| *id > last);
        }
        // Asked for but gone by the time it was fetched: deleted since.
        for id in wanted.iter().filter(|id| !fetched.contains(id)) {
            poll.record_deleted(*id)?;
            versions.remove(id);
        }
        for id in poll.unaccounted() {
            poll.record_deleted(id)?;
        }
        let summary = poll.commit()?;
        self.row_versions = versions;
        Ok(summary)
    }
}

impl Psql {
    /// Runs `query` (after the settings and the views) in a transaction
    /// rolled back at its end, in the running psql (started if need be);
    /// the line psql printed after `marker`. A psql that fails is ended,
    /// and the next query starts another.
    fn query(&mut self, query: &str, marker: &str) -> Result<String> {
        let mut sql = Vec::new();
        sql.extend_from_slice(SETTINGS_SQL.as_bytes());
        sql.extend_from_slice(b"SET TimeZone = 'UTC';\nSET DateStyle = 'ISO';\n");
        // The server gives up too, so that a query abandoned here does not
        // go on working there.
        let limit_ms = self.answer_within.as_millis();
        sql.extend_from_slice(format!("SET statement_timeout = {limit_ms};\n").as_bytes());
        sql.extend_from_slice(b"BEGIN ISOLATION LEVEL REPEATABLE READ;\n");
        self.tables.target_sql(None, &mut sql)?;
        sql.extend_from_slice(ROWS_VIEW_SQL.as_bytes());
        sql.extend_from_slice(query.as_bytes());
        sql.extend_from_slice(b"ROLLBACK;\n");
        let session = match &mut self.session {
            Some(session) => session,
            None => self.session.insert(self.live.session()?),
        };
        // The server's own limit comes first, with its reason; this one is
        // for a connection that hangs without one.
        let deadline = Instant::now() + self.answer_within + Duration::from_secs(5);
        let answer = session
            .send(&sql)
            .and_then(|()| session.line_starting_before(marker, &Caught::never(), Some(deadline)));
        match answer {
            Ok(Some(line)) => Ok(line),
            Err(e) if Instant::now() >= deadline => {
                let mut session = self.session.take().expect("the session asked");
                session.abandon();
                Err(e)
            }
            Ok(None) | Err(_) => {
                let mut session = self.session.take().expect("the session asked");
                let what = session.what().to_string();
                let (status, stderr) = session.wait();
                Err(psql_failure(&what, status, &stderr))
            }
        }
    }
}

fn texts_sql(ids: &[i64]) -> String {
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    let mut out = Vec::new();
    let budget = FETCH_BUDGET.to_string();
    render_template(
        TEXTS_SQL,
        &[("ids", &list.join(", ")), ("budget", &budget)],
        &mut out,
    )
    .expect("writing to memory");
    String::from_utf8(out).expect("the template is UTF-8")
}

/// The `ID XMIN` pairs of a `versions.sql` answer.
fn parse_versions(answer: &str) -> Result<Vec<(i64, String)>> {
    answer
        .split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (id, version) = pair
                .split_once(' ')
                .with_context(|| format!("{pair:?} is not an id and a row version"))?;
            let id = id
                .parse()
                .with_context(|| format!("{id:?} is not a row id"))?;
            Ok((id, version.to_string()))
        })
        .collect()
}

/// The rows of a `state.sql` or `texts.sql` answer: arrays of id, row
/// version, user id, task id, created_at, modified_at and the hash (state)
/// or the text (texts), hex-encoded. Each text is decoded as soon as it is
/// read, so that a large one is not held twice.
fn parse_rows(json: &str, with_text: bool) -> Result<Vec<LiveText>> {
    // The hex is borrowed from the answer, never copied (it has no escapes).
    type Row<'a> = (
        i64,
        String,
        i64,
        i64,
        String,
        Option<String>,
        Option<&'a str>,
    );
    let mut out = Vec::new();
    let rows: Vec<Row<'_>> =
        serde_json::from_str(json).context("psql's answer is not the rows asked for")?;
    for (row_id, row_version, user_id, task_id, created_at, modified_at, last) in rows {
        let meta = TextMeta {
            row_id,
            user_id,
            task_id,
            created_at,
            modified_at,
        };
        let (sha256, text) = match (last, with_text) {
            (None, false) => (None, None),
            (Some(hex), false) => {
                let sha: Sha256 = unhex(hex)?
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("a sha256 in psql's answer is not 32 bytes"))?;
                (Some(sha), None)
            }
            (Some(hex), true) => (None, Some(unhex(hex)?)),
            (None, true) => bail!("a text is missing from psql's answer"),
        };
        out.push(LiveText {
            meta,
            row_version,
            sha256,
            text,
        });
    }
    Ok(out)
}

/// The users (id, username) and the tasks (id, task) a poll saw.
type Names = (Vec<(i64, String)>, Vec<(i64, Task)>);

/// A `names.sql` answer: the users (id, username) and the tasks. A NULL
/// username is named as a dump's reader names it (`user #ID`), a NULL
/// phase is 0 and a missing is_enabled true, as there too.
fn parse_names(json: &str) -> Result<Names> {
    let (users, tasks): (Vec<Vec<Value>>, Vec<Vec<Value>>) =
        serde_json::from_str(json).context("psql's answer is not the JSON asked for")?;
    let id_of = |v: &Value| {
        v.as_i64()
            .context("an id is not an integer in psql's answer")
    };
    let string_of = |v: &Value| -> Result<Option<String>> {
        match v {
            Value::Null => Ok(None),
            Value::String(hex) => Ok(Some(String::from_utf8_lossy(&unhex(hex)?).into_owned())),
            _ => bail!("a name is not a string in psql's answer"),
        }
    };
    let users = users
        .iter()
        .map(|row| {
            let [id, username] = row.as_slice() else {
                bail!("a user in psql's answer has not 2 fields");
            };
            let id = id_of(id)?;
            let username = string_of(username)?.unwrap_or_else(|| format!("user #{id}"));
            Ok((id, username))
        })
        .collect::<Result<_>>()?;
    let tasks = tasks
        .iter()
        .map(|row| {
            let [id, phase, name, is_enabled] = row.as_slice() else {
                bail!("a task in psql's answer has not 4 fields");
            };
            let task = Task {
                phase: match phase {
                    Value::Null => 0,
                    v => v
                        .as_i64()
                        .context("a phase is not an integer in psql's answer")?,
                },
                name: string_of(name)?.unwrap_or_default(),
                is_enabled: is_enabled.as_bool().unwrap_or(true),
            };
            Ok((id_of(id)?, task))
        })
        .collect::<Result<_>>()?;
    Ok((users, tasks))
}

/// A poll interval as `--every` takes it: a whole number and `s`, `m`,
/// `h` or `d` (`1s`, `30s`, `5m`, `1h`), as every duration option
/// ([`crate::durations::parse`]).
pub fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    crate::durations::parse(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1s").unwrap().as_secs(), 1);
        assert_eq!(parse_interval("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_interval("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_interval("2h").unwrap().as_secs(), 7200);
        for bad in ["", "0s", "5", "m", "1.5m", "-1s", "1w", "1 s"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_are_read_or_refused() {
        let rows = parse_rows(
            r#"[[7,"733",3,4,"2024-03-05 14:22:00+00",null,"6869"]]"#,
            true,
        )
        .unwrap();
        assert_eq!(rows[0].meta.row_id, 7);
        assert_eq!(rows[0].meta.modified_at, None);
        assert_eq!(rows[0].text.as_deref(), Some(&b"hi"[..]));
        let hash = "00".repeat(32);
        let rows = parse_rows(
            &format!(
                r#"[[7,"733",3,4,"2024-03-05 14:22:00+00","2024-03-06 01:00:00+00","{hash}"]]"#
            ),
            false,
        )
        .unwrap();
        assert_eq!(rows[0].sha256, Some([0; 32]));
        assert!(parse_rows(r#"[[7,"733",3,4,"x",null]]"#, true).is_err());
        assert!(parse_rows(r#"[[7,"733",3,4,"x",null,null]]"#, true).is_err());
        assert!(parse_rows(r#"[[7,"733",3,4,"x",null,"0011"]]"#, false).is_err());
        assert!(parse_rows("not json", false).is_err());
        assert_eq!(
            parse_versions("7 733,12 9001").unwrap(),
            [(7, "733".to_string()), (12, "9001".to_string())]
        );
        assert!(parse_versions("").unwrap().is_empty());
        assert!(parse_versions("7733").is_err());
        assert!(parse_versions("x 1").is_err());
    }

    #[test]
    fn names_are_read_or_refused() {
        let (users, tasks) =
            parse_names(r#"[[[1,"616c"],[2,null]],[[3,2,"6d756c7469",false],[4,null,null,null]]]"#)
                .unwrap();
        assert_eq!(
            users,
            vec![(1, "al".to_string()), (2, "user #2".to_string())]
        );
        assert_eq!(tasks[0].1.label(), "2-MULTI");
        assert!(!tasks[0].1.is_enabled);
        assert_eq!((tasks[1].1.phase, tasks[1].1.is_enabled), (0, true));
        assert!(parse_names(r#"[[[1]],[]]"#).is_err());
        assert!(parse_names("[]").is_err());
    }
}
