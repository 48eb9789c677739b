//! Shared support for integration tests that need a real PostgreSQL
//! (`mod common;` in a test file). Only std + tempfile + serde_json.
//!
//! Connection: PGHOST / PGPORT / PGUSER (defaults 127.0.0.1, 5432, postgres).
//! Tests that need a server are marked ignored when none answered at build
//! time (build.rs), so the runner counts them as skipped. Every command runs with `PGTZ=UTC` and
//! `PGCLIENTENCODING=UTF8` unless a test overrides them (see [`TempDb::pg_dump_env`]).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A path under the crate's `fixtures/` directory.
#[allow(dead_code)]
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

/// A reachable PostgreSQL server.
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct Pg {
    pub host: String,
    pub port: String,
    pub user: String,
}

fn env_or(name: &str, default: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => default.to_string(),
    }
}

/// The local PostgreSQL. Tests that call this carry
/// `#[cfg_attr(not(has_postgres), ignore = "...")]` (see build.rs), so they
/// run only where a server answered when the tests were built; a server that
/// does not answer now is a failure, never a silent pass.
#[allow(dead_code)]
pub fn pg() -> Pg {
    let pg = Pg {
        host: env_or("PGHOST", "127.0.0.1"),
        port: env_or("PGPORT", "5432"),
        user: env_or("PGUSER", "postgres"),
    };
    let why = match pg
        .command("psql")
        .env("PGCONNECT_TIMEOUT", "5")
        .args(["-X", "-Atc", "select 1", "-d", "postgres"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "1" => {
            return pg;
        }
        Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
        Err(e) => format!("cannot run psql: {e}"),
    };
    panic!(
        "no PostgreSQL at {}:{} (user {}): {why}\n\
         (a server answered when the tests were built; `touch build.rs` after stopping one)",
        pg.host, pg.port, pg.user
    );
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Identifier-safe unique name: prefix + pid + counter + nanos, at most 63 bytes.
fn unique_name(prefix: &str) -> String {
    let mut p: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if p.is_empty() || p.starts_with(|c: char| c.is_ascii_digit()) {
        p.insert_str(0, "t_");
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tail = format!(
        "_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos
    );
    p.truncate(63 - tail.len());
    p + &tail
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn run_with_input(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input); // the child may exit early on error
    });
    let out = child.wait_with_output().expect("wait for child");
    writer.join().unwrap();
    out
}

impl Pg {
    /// `program` with PGHOST/PGPORT/PGUSER, PGTZ=UTC, PGCLIENTENCODING=UTF8 set and
    /// PGDATABASE removed. Use it to run textrescue or pg tools against this server.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("PGHOST", &self.host)
            .env("PGPORT", &self.port)
            .env("PGUSER", &self.user)
            .env("PGTZ", "UTC")
            .env("PGCLIENTENCODING", "UTF8")
            .env_remove("PGDATABASE")
            .env_remove("PGSERVICE")
            .env_remove("PGOPTIONS");
        c
    }

    /// SQL run in the `postgres` database; panics on failure.
    pub fn admin_sql(&self, sql: &str) -> String {
        let mut c = self.command("psql");
        c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", "postgres"]);
        checked(run_with_input(c, sql.as_bytes()), sql)
    }

    /// A new, empty UTF-8 database, dropped (WITH (FORCE)) when the value is dropped.
    pub fn create_db(&self, prefix: &str) -> TempDb {
        self.create_db_encoded(prefix, "UTF8")
    }

    /// As [`Pg::create_db`], in `encoding` (`LATIN1`, `SQL_ASCII`, ...).
    pub fn create_db_encoded(&self, prefix: &str, encoding: &str) -> TempDb {
        let name = unique_name(prefix);
        self.admin_sql(&format!(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C'",
            quote_ident(&name)
        ));
        TempDb {
            pg: self.clone(),
            name,
        }
    }

    pub fn database_exists(&self, name: &str) -> bool {
        let lit = name.replace('\'', "''");
        self.admin_sql(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{lit}'"
        )) == "1"
    }
}

fn checked(out: Output, what: &str) -> String {
    if !out.status.success() {
        panic!(
            "command failed ({}) for:\n{}\n--- stderr:\n{}",
            out.status,
            truncate(what, 2000),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut s = String::from_utf8(out.stdout).expect("psql output is UTF-8");
    if s.ends_with('\n') {
        s.pop();
    }
    s
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

/// A throw-away database; dropped on `Drop`.
#[allow(dead_code)]
#[derive(Debug)]
pub struct TempDb {
    pg: Pg,
    name: String,
}

impl TempDb {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pg(&self) -> &Pg {
        &self.pg
    }

    /// [`Pg::command`] with PGDATABASE set to this database.
    pub fn command(&self, program: &str) -> Command {
        let mut c = self.pg.command(program);
        c.env("PGDATABASE", &self.name);
        c
    }

    /// Runs SQL (any number of statements, fed on stdin) with
    /// `psql -X -q -v ON_ERROR_STOP=1 -At`; returns stdout without its final
    /// newline; panics with stderr on failure. Not byte-exact for every text
    /// (psql drops U+10FFFF when printing): for texts use [`TempDb::query_json`].
    pub fn psql(&self, sql: &str) -> String {
        checked(self.psql_input(sql.as_bytes()), sql)
    }

    /// `psql -X -v ON_ERROR_STOP=1 -d DB` reading `input` on stdin; no panic.
    pub fn psql_input(&self, input: &[u8]) -> Output {
        let mut c = self.pg.command("psql");
        c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", &self.name]);
        run_with_input(c, input)
    }

    /// `psql -X -v ON_ERROR_STOP=1 -d DB -f PATH`, as a user runs a restore
    /// script; returns the output (no panic) so tests can check failures.
    pub fn psql_file(&self, path: impl AsRef<Path>) -> Output {
        self.pg
            .command("psql")
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-d", &self.name, "-f"])
            .arg(path.as_ref())
            .stdin(Stdio::null())
            .output()
            .expect("run psql")
    }

    /// Loads `fixtures/schema.sql` (the race server's schema).
    pub fn load_schema(&self) {
        let out = self.psql_file(fixture("schema.sql"));
        checked(out, "fixtures/schema.sql");
    }

    /// Loads the schema plus a minimal population: users admin (id 1), alice (2),
    /// bob (3); tasks 0-GET (1), 1-EDIT (2), 3-MULTI (3), 4-AUTOFLAG (4, disabled).
    pub fn load_schema_with_people(&self) {
        self.load_schema();
        self.psql(
            "INSERT INTO public.users (username, created_at, is_admin, is_student, id) VALUES
               ('admin', '2024-01-15 08:00:00+00', true, false, 1),
               ('alice', '2024-01-20 10:00:00.5+00', false, true, 2),
               ('bob', '2024-01-20 10:01:00+00', false, true, 3);
             SELECT setval('public.users_id_seq', 3);
             INSERT INTO public.tasks (id, created_at, phase, name, title, is_enabled, sort_position) VALUES
               (1, '2024-01-10 12:00:00+00', 0, 'GET', 'Get the code', true, 10),
               (2, '2024-01-10 12:00:00+00', 1, 'EDIT', 'Edit', true, 20),
               (3, '2024-01-10 12:00:00+00', 3, 'MULTI', 'Multi', true, 30),
               (4, '2024-01-10 12:00:00+00', 4, 'AUTOFLAG', 'Auto flag', false, 40);
             SELECT setval('public.tasks_id_seq', 4);",
        );
    }

    /// Stdout of `pg_dump -d DB ARGS...` (PGTZ=UTC); panics on failure.
    pub fn pg_dump(&self, args: &[&str]) -> Vec<u8> {
        self.pg_dump_env(args, &[])
    }

    /// As [`TempDb::pg_dump`] with extra environment, e.g. `[("PGTZ", "Asia/Kolkata")]`.
    pub fn pg_dump_env(&self, args: &[&str], env: &[(&str, &str)]) -> Vec<u8> {
        let mut c = self.pg.command("pg_dump");
        c.args(["-d", &self.name]).args(args).stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("run pg_dump");
        if !out.status.success() {
            panic!(
                "pg_dump {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out.stdout
    }

    /// The text of the one cell a query returns (json, jsonb or text), fetched
    /// byte-exact: it travels hex-encoded, because psql's display of text is
    /// not exact (psql 15 drops U+10FFFF from what it prints).
    pub fn cell_exact(&self, sql: &str) -> String {
        let sql = sql.trim().trim_end_matches(';');
        let hex = self.psql(&format!(
            "SELECT encode(convert_to(({sql}\n)::text, 'UTF8'), 'hex')"
        ));
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex from psql"))
            .collect();
        String::from_utf8(bytes).expect("UTF-8 from PostgreSQL")
    }

    /// [`TempDb::cell_exact`] parsed as JSON. (serde_json here sorts object keys;
    /// to check key order, look at the string from `cell_exact`.)
    pub fn json_value(&self, sql: &str) -> serde_json::Value {
        let s = self.cell_exact(sql);
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("bad JSON from psql ({e}): {s}"))
    }

    /// The rows of a query as a JSON array of objects keyed by column name
    /// (`json_agg` of the rows, in the query's order). Byte-exact for text.
    pub fn query_json(&self, sql: &str) -> serde_json::Value {
        let sql = sql.trim().trim_end_matches(';');
        self.json_value(&format!(
            "SELECT coalesce(json_agg(q), '[]'::json) FROM ({sql}\n) q"
        ))
    }

    /// The database's texts exactly as `texts --format json` gives them, ordered by
    /// id (timestamps in the session zone, UTC unless PGTZ was changed).
    /// `table` is `public.tasktexts` for the race server.
    pub fn texts_json(&self, table: &str) -> serde_json::Value {
        self.json_value(&texts_json_sql(table))
    }

    /// As [`TempDb::texts_json`], the JSON text as PostgreSQL writes it (keys in
    /// the documented key order, like the files in fixtures/expected/ without their final newline).
    pub fn texts_json_string(&self, table: &str) -> String {
        self.cell_exact(&texts_json_sql(table))
    }
}

/// SQL giving one json cell: the texts of `table` as textrescue's `texts --format
/// json` (keys id, username, user_id, task, task_id, created_at, modified_at, text).
#[allow(dead_code)]
pub fn texts_json_sql(table: &str) -> String {
    format!(
        "SELECT coalesce(json_agg(json_build_object('id', t.id, 'username', u.username,
           'user_id', t.user_id, 'task', k.phase || '-' || upper(k.name), 'task_id', t.task_id,
           'created_at', t.created_at, 'modified_at', t.modified_at, 'text', t.text)
           ORDER BY t.id), '[]'::json)
         FROM {table} t JOIN public.users u ON u.id = t.user_id
         JOIN public.tasks k ON k.id = t.task_id"
    )
}

impl Drop for TempDb {
    fn drop(&mut self) {
        // Never panic in drop; a leftover database is only clutter.
        let _ = self
            .pg
            .command("psql")
            .args(["-X", "-q", "-d", "postgres", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&self.name)
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// SQL expression for an arbitrary string, safe whatever it holds (quotes,
/// backslashes, `$$`, psql meta-commands, any Unicode):
/// `convert_from(decode('<hex>','hex'),'UTF8')`.
/// PostgreSQL text cannot hold NUL: panics if `s` contains '\0'.
#[allow(dead_code)]
pub fn sql_text(s: &str) -> String {
    assert!(!s.contains('\0'), "PostgreSQL text cannot hold NUL");
    let mut hex = String::with_capacity(s.len() * 2);
    for b in s.as_bytes() {
        hex.push_str(&format!("{b:02x}"));
    }
    format!("convert_from(decode('{hex}','hex'),'UTF8')")
}

/// `INSERT INTO public.tasktexts ...` for one text. `id: None` takes the next
/// sequence value; timestamps are timestamptz literals such as
/// `"2024-03-01 14:22:11.123456+00"`.
#[allow(dead_code)]
pub fn insert_text_sql(
    id: Option<i64>,
    user_id: i64,
    task_id: i64,
    created_at: &str,
    modified_at: Option<&str>,
    text: &str,
) -> String {
    let ts = |t: &str| format!("'{}'::timestamptz", t.replace('\'', "''"));
    let modified = modified_at.map(ts).unwrap_or_else(|| "NULL".into());
    let id = id
        .map(|i| i.to_string())
        .unwrap_or_else(|| "DEFAULT".into());
    format!(
        "INSERT INTO public.tasktexts (id, created_at, modified_at, user_id, task_id, text) \
         VALUES ({id}, {}, {modified}, {user_id}, {task_id}, {});",
        ts(created_at),
        sql_text(text)
    )
}

/// What [`output_with_peak_rss`] returns.
pub struct MeasuredOutput {
    /// The exit code (128 + the signal's number if one ended the process).
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Peak resident memory of the command in KiB, as `tests/bin/peak-rss`
    /// measures it (wait4's rusage, started from a small launcher: see
    /// there why not from the test process).
    pub peak_rss_kib: i64,
}

/// Runs `cmd` like `Command::output` (standard input closed), through
/// `tests/bin/peak-rss`, and measures its peak memory.
pub fn output_with_peak_rss(cmd: &Command) -> MeasuredOutput {
    let peak_file = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bin/peak-rss"))
        .arg(peak_file.path())
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null())
        .output()
        .expect("run tests/bin/peak-rss (needs python3)");
    let peak = std::fs::read_to_string(peak_file.path()).unwrap();
    MeasuredOutput {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
        peak_rss_kib: peak
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("peak-rss wrote {peak:?}")),
    }
}

/// Bytes as text for messages.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A textrescue run that succeeded; its output in the message if not.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "textrescue failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A failed run as a user must see it: exit 1, one line on stderr saying
/// why, nothing on stdout. Returns the line.
pub fn assert_failed(out: &Output) -> String {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1, got {}: stdout {} stderr {err}",
        out.status,
        text(&out.stdout),
    );
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err}");
    assert!(err.starts_with("textrescue: "), "{err}");
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    err
}

/// Texts that break naive dump handling: COPY escapes, `\.` lines, psql
/// meta-commands, quotes and dollar quotes, Unicode beyond the BMP, bidi and
/// control characters, a line that looks like the end of a dump.
pub const NASTY: &[&str] = &[
    "",
    "\\N",
    "a\tb\nc\r\nd\re",
    "line\n\\.\nmore\n\\.",
    "\\! echo pwned\n\\i /etc/passwd\n\\copy users to '/tmp/x'",
    "It's \"quoted\" $$ $tag$ x $tag$ E'\\x41'",
    "🏎️ مرحبا שלום 👩🏽‍💻 \u{202e}rtl\u{202c} \u{10ffff}",
    "\u{1}\u{2}\u{1f}\u{7f} trailing  \n\n",
    "-- PostgreSQL database dump complete\n",
];

/// Whether a table named `raw` (as a `COPY` line writes it, quotes and all)
/// is `wanted`, given as `NAME` (any schema) or `SCHEMA.NAME`, unquoted.
pub fn table_is(raw: &[u8], wanted: &str) -> bool {
    let Some(table) = textrescue::sql_scan::parse_table_name(raw) else {
        return false;
    };
    match wanted.split_once('.') {
        Some((schema, name)) => table.schema == schema && table.name == name,
        None => table.name == wanted,
    }
}

/// A dump file's bytes, inflated when it is gzip (one member or many).
pub fn inflated(path: &std::path::Path) -> Vec<u8> {
    use std::io::Read;
    let raw = std::fs::read(path).unwrap();
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    }
}

/// The index of an indexed `.sql.gz`, where it agrees with the file.
pub fn index_of(path: &std::path::Path) -> Option<textrescue::indexed_gzip::Index> {
    textrescue::indexed_gzip::Index::read(&std::fs::File::open(path).unwrap()).unwrap()
}
