//! The live database as `restore` reaches it: psql, locally or through
//! `docker exec -i NAME psql`, connected as `backup` connects (the same
//! connection settings, the password only in the child's environment), and
//! the live texts read back for comparing with a backup's. Every query
//! sets what makes its literals safe first ([`SETTINGS_SQL`]) and names the
//! live tables only through the views of [`Tables::target_sql`]: no
//! schema or table name, from the dump or the live database, is ever SQL.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

use super::script::{Chars, SETTINGS_SQL, Tables, render_template};
use crate::backup::conn::{Conn, client_command};
use crate::escape;
use crate::quote::string_literal;
use crate::signals::Caught;

/// How to run psql against the live database.
#[derive(Debug, Clone)]
pub struct Live {
    pub conn: Conn,
    /// The psql to run (with a container: its path inside the container).
    pub psql: String,
    /// `Some((docker binary, container))`: through `docker exec -i`.
    pub container: Option<(String, String)>,
}

impl Live {
    /// psql reading SQL on stdin: no psqlrc, unaligned tuples only, stop at
    /// the first error, never a password prompt; in its own process group,
    /// so that a Ctrl-C on the terminal reaches textrescue alone, which
    /// decides what happens to the transaction.
    fn command(&self) -> Command {
        let mut psql_args: Vec<String> = [
            self.psql.as_str(),
            "-X",
            "-q",
            "-A",
            "-t",
            "--no-password",
            "-v",
            "ON_ERROR_STOP=1",
        ]
        .map(String::from)
        .to_vec();
        psql_args.extend(self.conn.pg_dump_args());
        let mut cmd = client_command(&self.conn, self.container.as_ref(), &[], &psql_args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        cmd
    }

    fn describe(&self) -> String {
        match &self.container {
            Some((_, c)) => format!("psql in the container {c}"),
            None => "psql".into(),
        }
    }

    /// Starts psql; SQL is then sent with [`Session::send`].
    pub fn session(&self) -> Result<Session> {
        let mut child = self
            .command()
            .spawn()
            .with_context(|| format!("cannot run {}", self.describe()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            while let Ok(n) = reader.read_until(b'\n', &mut line) {
                // The line itself is handed on, not a copy: a line can be a
                // whole 10 MB text, hex-encoded.
                let text = match String::from_utf8(std::mem::take(&mut line)) {
                    Ok(text) => text,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                };
                if n == 0 || tx.send(text).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = stderr.take(16 << 20).read_to_end(&mut all);
            String::from_utf8_lossy(&all).into_owned()
        });
        Ok(Session {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: Some(stderr),
            what: self.describe(),
        })
    }

    /// Runs `sql` to its end and returns the line that starts with `marker`
    /// (without it). Nothing is committed unless `sql` commits.
    pub fn query(&self, sql: &[u8], marker: &str, interrupt: &Caught) -> Result<String> {
        let mut session = self.session()?;
        session.send(sql)?;
        session.close_input();
        let line = session.line_starting(marker, interrupt)?;
        let (status, stderr) = session.wait();
        match line {
            Some(line) if status.success() => Ok(line),
            _ => Err(psql_failure(&self.describe(), status, &stderr)),
        }
    }

    /// The live texts with these ids.
    pub(crate) fn rows_by_id(
        &self,
        tables: &Tables,
        ids: &[i64],
        interrupt: &Caught,
    ) -> Result<Vec<LiveRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        self.rows(
            tables,
            &format!("t.id = ANY (ARRAY[{}]::bigint[])", list.join(", ")),
            Chars::default(),
            interrupt,
        )
    }

    /// The live texts of these students (usernames, any case).
    pub(crate) fn rows_of_users(
        &self,
        tables: &Tables,
        usernames: &[String],
        interrupt: &Caught,
    ) -> Result<Vec<LiveRow>> {
        let list: Vec<String> = usernames.iter().map(|u| string_literal(u)).collect();
        let mut chars = Chars::default();
        for u in usernames {
            chars.add(u, || "a username asked for".into());
        }
        self.rows(
            tables,
            &format!(
                "lower(u.username) = ANY (SELECT lower(x) FROM unnest(ARRAY[{}]::text[]) x)",
                list.join(", ")
            ),
            chars,
            interrupt,
        )
    }

    /// The rows matching `condition` (SQL of ours, names only as
    /// literals), read through the views of [`Tables::target_sql`] in a
    /// transaction that is rolled back: no name from the dump or the live
    /// database is ever SQL here.
    fn rows(
        &self,
        tables: &Tables,
        condition: &str,
        chars: Chars,
        interrupt: &Caught,
    ) -> Result<Vec<LiveRow>> {
        let mut chars = chars;
        tables.add_chars(&mut chars);
        let mut sql = Vec::new();
        sql.extend_from_slice(SETTINGS_SQL.as_bytes());
        sql.extend_from_slice(b"BEGIN;\n");
        chars.check_sql(&mut sql)?;
        tables.target_sql(None, &mut sql)?;
        render_template(include_str!("rows.sql"), &[("where", condition)], &mut sql)?;
        sql.extend_from_slice(b"ROLLBACK;\n");
        let json = self.query(&sql, "textrescue-rows ", interrupt)?;
        let rows: Vec<LiveRowJson> =
            serde_json::from_str(&json).context("psql's answer is not the JSON asked for")?;
        rows.into_iter().map(LiveRow::try_from).collect()
    }
}

/// Why psql failed: its first `ERROR:` or `FATAL:` line (with the `DETAIL`
/// and `HINT` lines after it), else the end of its stderr.
pub fn psql_failure(what: &str, status: ExitStatus, stderr: &str) -> anyhow::Error {
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("ERROR:") || l.contains("FATAL:") || l.contains("error:"));
    let why = match start {
        Some(i) => {
            let mut why = vec![lines[i].trim()];
            why.extend(
                lines[i + 1..]
                    .iter()
                    .take_while(|l| l.starts_with("DETAIL:") || l.starts_with("HINT:"))
                    .map(|l| l.trim()),
            );
            why.join(" ")
        }
        None => lines
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map_or_else(
                || format!("it ended with {status}"),
                |l| l.trim().to_string(),
            ),
    };
    // What psql says may quote a student's name: nothing in it may drive
    // the terminal.
    anyhow!("{what} failed: {}", escape::visible(&why))
}

/// A running psql: SQL goes in, lines come out.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    what: String,
}

impl Session {
    pub fn send(&mut self, sql: &[u8]) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow!("{}'s input is closed", self.what))?;
        stdin
            .write_all(sql)
            .and_then(|()| stdin.flush())
            .with_context(|| format!("{} stopped reading", self.what))
    }

    /// End of input: psql ends once it has run what it was sent. Without a
    /// COMMIT, a transaction it began is rolled back.
    pub fn close_input(&mut self) {
        self.stdin = None;
    }

    /// Waits for a line of psql's output that starts with `marker`; `None`
    /// when psql ended first. A signal to textrescue ends the wait.
    pub fn line_starting(&mut self, marker: &str, interrupt: &Caught) -> Result<Option<String>> {
        self.line_starting_before(marker, interrupt, None)
    }

    /// [`Session::line_starting`], giving up at `deadline` (an error that
    /// says how long psql gave no answer).
    pub fn line_starting_before(
        &mut self,
        marker: &str,
        interrupt: &Caught,
        deadline: Option<Instant>,
    ) -> Result<Option<String>> {
        let started = Instant::now();
        loop {
            interrupt.check()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                bail!(
                    "{} gave no answer in {} s",
                    self.what,
                    started.elapsed().as_secs()
                );
            }
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(mut line) if line.starts_with(marker) => {
                    // In place, not copied: the line can be a whole 10 MB
                    // text, hex-encoded.
                    let end = line.trim_end_matches(['\n', '\r']).len();
                    line.truncate(end);
                    line.replace_range(..marker.len(), "");
                    return Ok(Some(line));
                }
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
            }
        }
    }

    /// Closes psql's input and waits for it; its exit status and stderr.
    pub fn wait(&mut self) -> (ExitStatus, String) {
        self.close_input();
        let status = self.child.wait().expect("wait for psql");
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        (status, stderr)
    }

    /// Stops psql before it commits: its input closes and it is ended, so
    /// its connection closes and the server rolls the transaction back.
    pub fn abandon(&mut self) {
        self.close_input();
        let _ = self.child.kill();
        let _ = self.wait();
    }

    pub fn what(&self) -> &str {
        &self.what
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.stdin.is_some() || matches!(self.child.try_wait(), Ok(None)) {
            self.abandon();
        }
    }
}

#[derive(Deserialize)]
struct LiveRowJson {
    id: i64,
    username: Option<String>,
    phase: Option<i64>,
    task_name: Option<String>,
    created_at: Option<String>,
    modified_at: Option<String>,
    text: String,
}

/// A live text, with its student and task by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRow {
    pub id: i64,
    pub username: Option<String>,
    pub phase: Option<i64>,
    pub task_name: Option<String>,
    /// UTC, `YYYY-MM-DDTHH:MM:SS.ffffff`.
    pub created_at: Option<String>,
    pub modified_at: Option<String>,
    pub text: Vec<u8>,
}

impl TryFrom<LiveRowJson> for LiveRow {
    type Error = anyhow::Error;

    fn try_from(j: LiveRowJson) -> Result<LiveRow> {
        Ok(LiveRow {
            id: j.id,
            username: j.username,
            phase: j.phase,
            task_name: j.task_name,
            created_at: j.created_at,
            modified_at: j.modified_at,
            text: unhex(&j.text)?,
        })
    }
}

/// Bytes from PostgreSQL's `encode(..., 'hex')`.
pub fn unhex(hex: &str) -> Result<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        bail!("odd hex from psql");
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).context("bad hex from psql"))
        .collect()
}

/// Live rows by (lower-case username, phase, lower-case task name): how the
/// restore program matches a backup's text to the live one in its way.
pub fn by_key(rows: Vec<LiveRow>) -> HashMap<(String, i64, String), LiveRow> {
    let mut map = HashMap::new();
    for row in rows {
        if let (Some(u), Some(p), Some(t)) = (&row.username, row.phase, &row.task_name) {
            map.entry((u.to_lowercase(), p, t.to_lowercase()))
                .or_insert(row);
        }
    }
    map
}
