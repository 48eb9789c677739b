//! `watch`'s polls: what the live texts table holds now, compared with
//! what the journal last saw, and only the texts that changed fetched and
//! recorded (a new version, a deletion) in one journal transaction.
//!
//! A poll asks the server for every text's id, row version (`xmin`, which
//! every write to the row changes, also one that leaves `modified_at`
//! alone), student, task and times, never the texts themselves: only rows
//! whose row version changed since the last poll are fetched whole. The
//! first poll of a run (and the first after the database was down) knows no
//! row versions yet: it asks for each text's sha256, computed in the
//! server, and fetches only the texts whose content the journal does not
//! hold. Tables are named as `restore` names them: as data, through views.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::journal::{JournalWriter, PollSummary, Recorded, Sha256, TextMeta};
use crate::restore::live::{Live, unhex};
use crate::restore::script::{SETTINGS_SQL, Tables, render_template};
use crate::signals::Caught;
use crate::texts::Task;

const ROWS_VIEW_SQL: &str = include_str!("rows_view.sql");
const STATE_SQL: &str = include_str!("state.sql");
const TEXTS_SQL: &str = include_str!("texts.sql");
const NAMES_SQL: &str = include_str!("names.sql");

/// At most this many texts are fetched in one query (bounds the memory a
/// poll needs when every text changed: the first poll of a new journal).
const FETCH_BATCH: usize = 200;

/// A watcher of one live database, writing one journal.
pub struct Watcher {
    live: Live,
    tables: Tables,
    journal: JournalWriter,
    /// The row version (`xmin`) each live text had at the last poll of this
    /// run; empty before the first poll, and after the database was down.
    row_versions: HashMap<i64, String>,
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
    pub(crate) fn new(live: Live, tables: Tables, journal: JournalWriter) -> Watcher {
        Watcher {
            live,
            tables,
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
        let by_hash = self.row_versions.is_empty();
        let state = query(
            &self.live,
            &self.tables,
            &state_sql(by_hash),
            "textrescue-state ",
        )?;
        let live = parse_rows(&state, false)?;
        let names = query(&self.live, &self.tables, NAMES_SQL, "textrescue-names ")?;
        let (users, tasks) = parse_names(&names)?;
        let mut poll = self.journal.begin_poll(at)?;
        poll.record_users(&users)?;
        poll.record_tasks(&tasks)?;
        let mut wanted = Vec::new();
        for row in &live {
            let recorded = if by_hash {
                poll.record_seen(&row.meta, row.sha256.as_ref())?
            } else if self.row_versions.get(&row.meta.row_id) == Some(&row.row_version) {
                poll.record_seen(&row.meta, None)?
            } else {
                Recorded::NeedsText
            };
            if recorded == Recorded::NeedsText {
                wanted.push(row.meta.row_id);
            }
        }
        let mut versions: HashMap<i64, String> = live
            .into_iter()
            .map(|row| (row.meta.row_id, row.row_version))
            .collect();
        let mut fetched = HashSet::new();
        for ids in wanted.chunks(FETCH_BATCH) {
            let answer = query(
                &self.live,
                &self.tables,
                &texts_sql(ids),
                "textrescue-texts ",
            )?;
            for row in parse_rows(&answer, true)? {
                let text = row.text.as_deref().unwrap_or_default();
                poll.record_version(&row.meta, text)?;
                fetched.insert(row.meta.row_id);
                versions.insert(row.meta.row_id, row.row_version);
            }
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

/// Runs `query` (after the settings and the views) in a transaction rolled
/// back at its end; the line psql printed after `marker`.
fn query(live: &Live, tables: &Tables, query: &str, marker: &str) -> Result<String> {
    let mut sql = Vec::new();
    sql.extend_from_slice(SETTINGS_SQL.as_bytes());
    sql.extend_from_slice(b"SET TimeZone = 'UTC';\nSET DateStyle = 'ISO';\n");
    sql.extend_from_slice(b"BEGIN ISOLATION LEVEL REPEATABLE READ;\n");
    tables.target_sql(None, &mut sql)?;
    sql.extend_from_slice(ROWS_VIEW_SQL.as_bytes());
    sql.extend_from_slice(query.as_bytes());
    sql.extend_from_slice(b"ROLLBACK;\n");
    live.query(&sql, marker, &Caught::never())
}

fn state_sql(hashes: bool) -> String {
    let mut out = Vec::new();
    render_template(
        STATE_SQL,
        &[("hashes", if hashes { "true" } else { "false" })],
        &mut out,
    )
    .expect("writing to memory");
    String::from_utf8(out).expect("the template is UTF-8")
}

fn texts_sql(ids: &[i64]) -> String {
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    let mut out = Vec::new();
    render_template(TEXTS_SQL, &[("ids", &list.join(", "))], &mut out).expect("writing to memory");
    String::from_utf8(out).expect("the template is UTF-8")
}

/// The rows of a `state.sql` or `texts.sql` answer: arrays of id, row
/// version, user id, task id, created_at, modified_at and the hash (state)
/// or the text (texts), hex-encoded.
fn parse_rows(json: &str, with_text: bool) -> Result<Vec<LiveText>> {
    let rows: Vec<Vec<Value>> =
        serde_json::from_str(json).context("psql's answer is not the JSON asked for")?;
    rows.into_iter()
        .map(|row| {
            let [
                id,
                row_version,
                user_id,
                task_id,
                created_at,
                modified_at,
                last,
            ] = <[Value; 7]>::try_from(row)
                .map_err(|_| anyhow::anyhow!("a row of psql's answer has not 7 fields"))?;
            let int = |v: &Value, what: &str| {
                v.as_i64()
                    .with_context(|| format!("{what} is not an integer in psql's answer"))
            };
            let string = |v: Value, what: &str| match v {
                Value::String(s) => Ok(s),
                _ => bail!("{what} is not a string in psql's answer"),
            };
            let meta = TextMeta {
                row_id: int(&id, "id")?,
                user_id: int(&user_id, "user_id")?,
                task_id: int(&task_id, "task_id")?,
                created_at: string(created_at, "created_at")?,
                modified_at: match modified_at {
                    Value::Null => None,
                    v => Some(string(v, "modified_at")?),
                },
            };
            let row_version = string(row_version, "xmin")?;
            let (sha256, text) = match (last, with_text) {
                (Value::Null, false) => (None, None),
                (Value::String(hex), false) => {
                    let bytes = unhex(&hex)?;
                    let sha: Sha256 = bytes.try_into().map_err(|_| {
                        anyhow::anyhow!("a sha256 in psql's answer is not 32 bytes")
                    })?;
                    (Some(sha), None)
                }
                (Value::String(hex), true) => (None, Some(unhex(&hex)?)),
                _ => bail!("a text is missing from psql's answer"),
            };
            Ok(LiveText {
                meta,
                row_version,
                sha256,
                text,
            })
        })
        .collect()
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

/// A poll interval as `--every` takes it: a whole number and `s`, `m` or
/// `h` (`1s`, `30s`, `5m`, `1h`).
pub fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration: say 1s, 30s, 5m or 1h"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s:?} is not a duration: say 1s, 30s, 5m or 1h")),
    };
    if seconds == 0 {
        return Err("the interval must be at least 1s".into());
    }
    Ok(std::time::Duration::from_secs(seconds))
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
        for bad in ["", "0s", "5", "m", "1.5m", "-1s", "1d", "1 s"] {
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
