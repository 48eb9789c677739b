//! Schema and table names that psql or a dollar-quoted body would take for
//! code (`$textrescue$`, `$$`, `$x$`, `\!`, `\i`, `:name`, quotes, a
//! newline), in a real database and in the real pg_dump's dump of it: the
//! restore script (`texts --format sql | psql`) and `textrescue restore`
//! (its plan, `--dry-run`, the restore, the read-back and the undo) run no
//! meta-command and restore every text byte-exact into the right table.
//!
//! Every name holds `\! touch MARKER` and `\i INCLUDE` (INCLUDE is a file
//! holding `\! touch MARKER`): a name that psql ever ran would leave the
//! marker file.

use crate::common;
use crate::restore::{restore, run, run_undo};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{Pg, TempDb, assert_ok, text};
use serde_json::Value;
use tempfile::TempDir;

/// A marker file that a `\!` that ran would create, and a file that an
/// `\i` that ran would read (it creates the marker too).
struct Marker {
    _dir: TempDir,
    marker: PathBuf,
    include: PathBuf,
}

impl Marker {
    fn new() -> Marker {
        // Short paths: a name holds at most 63 bytes.
        let dir = tempfile::Builder::new()
            .prefix("trh")
            .tempdir_in("/tmp")
            .unwrap();
        let marker = dir.path().join("m");
        let include = dir.path().join("i");
        std::fs::write(&include, format!("\\! touch {}\n", marker.display())).unwrap();
        Marker {
            _dir: dir,
            marker,
            include,
        }
    }

    fn m(&self) -> String {
        self.marker.display().to_string()
    }

    fn i(&self) -> String {
        self.include.display().to_string()
    }

    fn assert_untouched(&self, what: &str) {
        assert!(
            !self.marker.exists(),
            "{what} ran a meta-command from a name"
        );
    }
}

/// The race server's schema and people, its texts table renamed to
/// `table` and the schema to `schema` (through `format('%I')`, the names
/// as hex: the test's own SQL holds nothing of them), and two texts.
fn hostile_db(pg: &Pg, schema: &str, table: &str, m: &Marker) -> TempDb {
    let db = pg.create_db("trhostile");
    db.load_schema_with_people();
    db.psql(&common::insert_text_sql(
        Some(5),
        2,
        1,
        "2024-03-01 10:00:00.123456+00",
        None,
        &format!("hello\n\\! touch {}\n", m.m()),
    ));
    db.psql(&common::insert_text_sql(
        Some(6),
        3,
        2,
        "2024-03-01 11:00:00+00",
        Some("2024-03-02 12:00:00+00"),
        "it's $$ $textrescue$ :'name' \u{202e}rtl\u{a0}\r\n\\i x\n",
    ));
    if table != "tasktexts" {
        db.psql(&format!(
            "DO $t$ BEGIN EXECUTE format('ALTER TABLE public.tasktexts RENAME TO %I', {}); END $t$",
            common::sql_text(table)
        ));
    }
    db.psql(&format!(
        "DO $t$ BEGIN EXECUTE format('ALTER SCHEMA public RENAME TO %I', {}); END $t$",
        common::sql_text(schema)
    ));
    db
}

/// `"schema"."table"` for the test's own queries (a quoted identifier is
/// one token for psql: nothing in it is a meta-command).
fn quoted(schema: &str, table: &str) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    format!("{}.{}", q(schema), q(table))
}

fn texts(db: &TempDb, schema: &str, table: &str) -> Value {
    db.query_json(&format!(
        "SELECT id, created_at, modified_at, user_id, task_id, text FROM {} ORDER BY id",
        quoted(schema, table)
    ))
}

fn empty(db: &TempDb, schema: &str, table: &str) {
    db.psql(&format!("DELETE FROM {}", quoted(schema, table)));
}

/// `textrescue texts DUMP --table SCHEMA.TABLE --format sql | psql`, a
/// real pipe, as an admin types it (the names reach bash as variables).
fn pipe_into_psql(db: &TempDb, dump: &Path, schema: &str, table: &str) -> Output {
    db.command("bash")
        .arg("-c")
        .arg(
            "set -o pipefail; \"$TEXTRESCUE\" texts \"$DUMP\" --table \"$TABLE\" --format sql \
             | psql -X -v ON_ERROR_STOP=1",
        )
        .env("TEXTRESCUE", env!("CARGO_BIN_EXE_textrescue"))
        .env("DUMP", dump)
        .env("TABLE", format!("{schema}.{table}"))
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The whole round: the dump (plain or a custom archive) restored through
/// the script piped into psql, then by `restore` (dry run, restore, undo).
/// `strings_off`: the database has `standard_conforming_strings` off (a
/// backslash in a plain literal escapes the quote after it) until a script
/// or query sets it.
fn round(schema: &str, table: &str, custom: bool, undo: bool, strings_off: bool, m: &Marker) {
    let pg = common::pg();
    let db = hostile_db(&pg, schema, table, m);
    if strings_off {
        db.psql(&format!(
            "ALTER DATABASE \"{}\" SET standard_conforming_strings = off",
            db.name()
        ));
        assert_eq!(db.psql("SHOW standard_conforming_strings"), "off");
    }
    let before = texts(&db, schema, table);
    assert_eq!(before.as_array().unwrap().len(), 2);
    let tmp = TempDir::new().unwrap();
    let dump = tmp
        .path()
        .join(if custom { "live.dump" } else { "live.sql" });
    let dumped = if custom {
        db.pg_dump(&["-Fc"])
    } else {
        db.pg_dump(&[])
    };
    std::fs::write(&dump, dumped).unwrap();

    // The script, piped into psql.
    empty(&db, schema, table);
    let out = pipe_into_psql(&db, &dump, schema, table);
    m.assert_untouched("texts --format sql | psql");
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("restored 2, skipped 0, overwritten 0"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(texts(&db, schema, table), before);

    // restore: the plan alone, then the restore, read back.
    empty(&db, schema, table);
    let table_arg = format!("{schema}.{table}");
    let args = ["--table", &table_arg, "--user", "alice", "--user", "bob"];
    let out = run(restore(&db, &dump, &[&args[..], &["--dry-run"]].concat()));
    m.assert_untouched("restore --dry-run");
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(
        said.contains("would restore 2, overwrite 0, skip 0"),
        "{said}"
    );
    assert!(said.contains("--dry-run: nothing was changed"), "{said}");
    assert_eq!(texts(&db, schema, table), Value::Array(vec![]));

    let out = run(restore(&db, &dump, &[&args[..], &["--yes"]].concat()));
    m.assert_untouched("restore");
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(
        said.contains("verified: 2 texts read back from the live database"),
        "{said}"
    );
    assert_eq!(texts(&db, schema, table), before);

    if undo {
        // The undo deletes the two texts again: the deletions go through
        // the same views.
        let undone = run_undo(&db, &said);
        m.assert_untouched("the undo");
        assert_ok(&undone);
        assert!(
            text(&undone.stdout).contains("deleted 2: committed"),
            "{}",
            text(&undone.stdout)
        );
        assert_eq!(texts(&db, schema, table), Value::Array(vec![]));
    }
    m.assert_untouched("the round");
    // Nothing the script made outlives it.
    assert_eq!(
        db.psql("SELECT count(*) FROM pg_class WHERE relname LIKE 'textrescue%'"),
        "0"
    );
}

/// The schema of the issue: its name ends the `DO $textrescue$` block of a
/// script that pastes names into it, and psql runs the rest as `\!`.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_schema_named_to_end_the_do_block() {
    let m = Marker::new();
    let schema = format!("s$textrescue$\\! touch {} #", m.m());
    round(&schema, "tasktexts", false, true, false, &m);
}

/// Dollar quotes of every kind, `\i`, a psql variable and quotes, in both
/// the schema and the texts table's name, one of them a backslash and a
/// quote, in a database with `standard_conforming_strings` off.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn dollar_quotes_meta_commands_and_quotes_in_both_names() {
    let m = Marker::new();
    let schema = format!("$$ $x$ :name \\i {} \\'", m.i());
    let table = format!("t$textrescue$'\"\\! touch {}", m.m());
    round(&schema, &table, false, true, true, &m);
}

/// A newline in each name: after one, a name could begin a line of the
/// script with `\!`, or end a `--` comment that shows it. (pg_dump's plain
/// output breaks its COPY line at such a newline, which textrescue's plain
/// reader does not follow: the custom archive keeps the names whole.)
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_newline_in_each_name() {
    let m = Marker::new();
    let schema = format!("a\n\\! touch {}\n-- x", m.m());
    let table = format!("q'\"\n\\i {} :'name' $x$", m.i());
    round(&schema, &table, true, false, false, &m);
    // A plain dump writes such a name inside its `COPY` line, which then
    // spans two lines: the rows after it are still read as rows.
    round(&schema, &table, false, false, false, &m);
}

/// Another table whose name holds a line end (its `COPY` over two lines in
/// a plain dump) and whose row holds a quote, dumped before the texts
/// table: read as SQL, the quote would swallow the texts table's rows; they
/// are rows, the texts are all there, and inspect counts the table under
/// its name, escaped.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_line_end_in_another_tables_name_hides_no_texts() {
    let m = Marker::new();
    let pg = common::pg();
    let db = hostile_db(&pg, "race", "tasktexts", &m);
    let name = "a\nCOPY public.tasktexts (id, text) FROM stdin;\n\u{1b}[2J";
    db.psql(&format!(
        "DO $t$ BEGIN EXECUTE format('CREATE TABLE race.%I (a text)', {0});
         EXECUTE format('INSERT INTO race.%I VALUES (%L), (%L)', {0}, 'it''s', E'9\\tEVIL'); END $t$",
        common::sql_text(name)
    ));
    let tmp = TempDir::new().unwrap();
    let dump = tmp.path().join("live.sql");
    std::fs::write(&dump, db.pg_dump(&[])).unwrap();
    let raw = std::fs::read(&dump).unwrap();
    assert!(
        raw.windows(13).any(|w| w == b"COPY race.\"a\n"),
        "the name's line end is in the COPY line"
    );
    let read = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_textrescue"))
            .args(args)
            .arg(&dump)
            .output()
            .unwrap();
        assert_ok(&out);
        text(&out.stdout)
    };
    let json: Value = serde_json::from_str(&read(&[
        "texts",
        "--table",
        "race.tasktexts",
        "--format",
        "json",
    ]))
    .unwrap();
    let ids: Vec<i64> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [5, 6]);
    let shown = read(&["inspect"]);
    assert!(
        shown.contains("race.a\\nCOPY public.tasktexts (id, text) FROM stdin;\\n\\u{1b}[2J"),
        "{shown}"
    );
    assert!(!shown.contains('\u{1b}'), "{shown}");
    let json: Value = serde_json::from_str(&read(&["inspect", "--format", "json"])).unwrap();
    let tables = json.to_string();
    assert!(
        tables.contains(&serde_json::to_string(&format!("race.{name}")).unwrap()[1..]),
        "{tables}"
    );
}

/// The script shows the names in its comments, escaped, and holds them
/// nowhere else but in the literal of the INSERT into `textrescue_target`.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn the_script_holds_the_names_only_as_literals() {
    let m = Marker::new();
    let schema = format!("a\n\\! touch {} $textrescue$", m.m());
    let pg = common::pg();
    let db = hostile_db(&pg, &schema, "tasktexts", &m);
    let tmp = TempDir::new().unwrap();
    let dump = tmp.path().join("live.dump");
    std::fs::write(&dump, db.pg_dump(&["-Fc"])).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .arg("texts")
        .arg(&dump)
        .args(["--format", "sql"])
        .output()
        .unwrap();
    assert_ok(&out);
    let sql = text(&out.stdout);
    let meta: Vec<&str> = sql.lines().filter(|l| l.starts_with('\\')).collect();
    assert_eq!(
        meta,
        ["\\set ON_ERROR_STOP on", "\\set ON_ERROR_ROLLBACK off"]
    );
    assert!(
        sql.contains(&format!(
            "-- Restores 2 task texts into a\\n\\\\! touch {} $textrescue$.tasktexts\n",
            m.m()
        )),
        "{sql}"
    );
    assert!(
        sql.contains(&format!(
            "VALUES (array_to_string(ARRAY['a', E'\\n', '\\! touch {} $textrescue$'], ''), \
             'tasktexts');\n",
            m.m()
        )),
        "{sql}"
    );
    // The marker's path is in the name's literal and its comment, and in
    // the text of id 5 (a literal), nowhere else.
    assert_eq!(sql.matches(&m.m()).count(), 3, "{sql}");
    m.assert_untouched("writing the script");
}
