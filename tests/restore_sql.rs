//! `--format sql` proven against a real PostgreSQL: the restore scripts that
//! `textrescue` writes are run with the real `psql -X -v ON_ERROR_STOP=1 -f`
//! against throw-away databases loaded from the nightly fixtures (see
//! fixtures/README.md), and the rows are read back byte-exact.
//!
//! Without a server at build time each test is ignored (build.rs); CI runs them all.

use crate::common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use common::{Pg, TempDb, fixture};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use tempfile::TempDir;

const NIGHT1: &str = "nights/buggy_race_bk_20240304.sql.gz";
const NIGHT2: &str = "nights/buggy_race_bk_20240305.sql.gz";
const NIGHT3: &str = "nights/buggy_race_bk_20240306-021500.sql.gz";

const ROWS_WHERE: &str = "SELECT id, created_at, modified_at, user_id, task_id, text \
                          FROM public.tasktexts WHERE";
const ROWS: &str = "SELECT id, created_at, modified_at, user_id, task_id, text \
                    FROM public.tasktexts ORDER BY id";

fn textrescue() -> Command {
    let mut c = Command::cargo_bin("textrescue").unwrap();
    c.env("TZ", "UTC");
    c
}

/// `textrescue texts DUMP ARGS... --format sql -o DIR/NAME`; returns the path.
fn restore_sql(dump: &Path, args: &[&str], dir: &TempDir, name: &str) -> PathBuf {
    let path = dir.path().join(name);
    let out = textrescue()
        .arg("texts")
        .arg(dump)
        .args(args)
        .args(["--format", "sql", "-o"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "textrescue texts {dump:?} {args:?} --format sql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// A database loaded from a night's plain dump (gunzipped, fed to psql).
fn night_db(pg: &Pg, night: &str, dir: &TempDir) -> TempDb {
    let mut sql = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(fixture(night)).unwrap())
        .read_to_end(&mut sql)
        .unwrap();
    let path = dir.path().join("night.sql");
    std::fs::write(&path, sql).unwrap();
    let db = pg.create_db("trrs");
    let out = db.psql_file(&path);
    assert!(
        out.status.success(),
        "loading {night}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

/// psql's stdout and stderr (NOTICEs and errors land on stderr).
fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok(db: &TempDb, script: &Path) -> String {
    let out = db.psql_file(script);
    let text = output_text(&out);
    assert!(out.status.success(), "restore script failed:\n{text}");
    text
}

fn run_fails(db: &TempDb, script: &Path) -> String {
    let out = db.psql_file(script);
    let text = output_text(&out);
    assert!(
        !out.status.success(),
        "restore script should have failed:\n{text}"
    );
    text
}

/// The rows with this id, as PostgreSQL's json.
fn row(db: &TempDb, id: i64) -> Value {
    db.query_json(&format!(
        "SELECT id, created_at, modified_at, user_id, task_id, text \
         FROM public.tasktexts WHERE id = {id}"
    ))
}

/// Everything that a restore could change: the texts and the id sequence.
fn state(db: &TempDb) -> (Value, String) {
    (
        db.query_json(ROWS),
        db.psql("SELECT last_value || ' ' || is_called FROM public.tasktexts_id_seq"),
    )
}

/// The next id the server's plain INSERT would get, after a successful one.
fn plain_insert_works(db: &TempDb) {
    let id = db.psql(
        "INSERT INTO public.tasktexts (created_at, user_id, task_id, text) \
         VALUES (now(), (SELECT min(id) FROM public.users), (SELECT min(id) FROM public.tasks), \
                 'written after the restore') RETURNING id",
    );
    let max = db.psql("SELECT max(id) FROM public.tasktexts");
    assert_eq!(id, max, "the new row got the highest id");
}

/// Each of `wanted` is in what psql said.
fn assert_said(said: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(said.contains(w), "{w:?} not in what psql said:\n{said}");
    }
}

/// The server, a scratch folder and a database loaded from `night`.
fn night_setup(night: &str) -> (Pg, TempDir, TempDb) {
    let pg = common::pg();
    let dir = TempDir::new().unwrap();
    let db = night_db(&pg, night, &dir);
    (pg, dir, db)
}

/// Night 2 lost alice's 0-ENV (104): restored from night 1 with its id,
/// bytes and times; night 3 lost chloe's 0-GET (110): restored from night 2.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn restores_a_deleted_text_into_a_later_night() {
    let (pg, dir, db) = night_setup(NIGHT2);
    let night1 = night_db(&pg, NIGHT1, &dir);
    assert_eq!(row(&db, 104), Value::Array(vec![]));

    let script = restore_sql(
        &fixture(NIGHT1),
        &["--user", "ALICE", "--task", "0-env"],
        &dir,
        "r.sql",
    );
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(
        text.contains("-- [1/1] student alice, task 0-ENV, backup id 104"),
        "{text}"
    );
    assert_said(
        &run_ok(&db, &script),
        &[
            "restored alice 0-ENV (backup id 104) as id 104",
            "textrescue: restored 1, skipped 0, overwritten 0",
        ],
    );
    assert_eq!(row(&db, 104), row(&night1, 104));
    plain_insert_works(&db);

    let db3 = night_db(&pg, NIGHT3, &dir);
    let night2 = night_db(&pg, NIGHT2, &dir);
    let script = restore_sql(&fixture(NIGHT2), &["--id", "110"], &dir, "r110.sql");
    assert_said(
        &run_ok(&db3, &script),
        &["restored 1, skipped 0, overwritten 0"],
    );
    assert_eq!(row(&db3, 110), row(&night2, 110));
}

/// A rebuilt server: the same students and tasks under other ids (and a task
/// name in another case). Texts are matched by username and phase-name; the
/// backup's user_id/task_id are not used.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn students_and_tasks_are_found_by_name_not_by_backup_id() {
    let pg = common::pg();
    let dir = TempDir::new().unwrap();
    let night1 = night_db(&pg, NIGHT1, &dir);
    let db = pg.create_db("trrs_rebuilt");
    db.load_schema();
    db.psql(
        "INSERT INTO public.users (username, created_at, is_admin, is_student, id) VALUES
           ('bob', now(), false, true, 40), ('alice', now(), false, true, 50);
         INSERT INTO public.tasks (id, created_at, phase, name, title, is_enabled, sort_position) VALUES
           (20, now(), 0, 'ENV', 'Env', true, 1), (21, now(), 1, 'edit', 'Edit', true, 2),
           (22, now(), 0, 'get', 'Get', true, 3);",
    );
    let script = restore_sql(
        &fixture(NIGHT1),
        &["--user", "alice", "--task", "0-ENV", "--task", "1-EDIT"],
        &dir,
        "r.sql",
    );
    assert_said(
        &run_ok(&db, &script),
        &["restored 2, skipped 0, overwritten 0"],
    );
    let got = db.query_json(ROWS);
    let want = night1.query_json(&format!("{ROWS_WHERE} id IN (102, 104) ORDER BY id"));
    assert_eq!(got.as_array().unwrap().len(), 2);
    for (g, w) in got.as_array().unwrap().iter().zip(want.as_array().unwrap()) {
        for key in ["id", "text", "created_at", "modified_at"] {
            assert_eq!(g[key], w[key], "{key}");
        }
        assert_eq!(g["user_id"], 50);
    }
    assert_eq!(got[0]["task_id"], 21);
    assert_eq!(got[1]["task_id"], 20);
    plain_insert_works(&db);
}

/// Bob deleted his 3-MULTI (107) and wrote a new one (136): skip keeps 136,
/// overwrite puts 107's text and times into row 136, error changes nothing.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_text_written_again_is_skipped_overwritten_or_refused() {
    // skip (the default)
    let (pg, dir, db) = night_setup(NIGHT2);
    let night1 = night_db(&pg, NIGHT1, &dir);
    let old = row(&night1, 107)[0].clone();
    let before = state(&db);
    let live = row(&db, 136);
    let script = restore_sql(&fixture(NIGHT1), &["--id", "107"], &dir, "skip.sql");
    assert_said(
        &run_ok(&db, &script),
        &[
            "skipped bob 3-MULTI (backup id 107): the live database already has a text for this student and task (id 136)",
            "restored 0, skipped 1, overwritten 0",
        ],
    );
    assert_eq!(row(&db, 136), live);
    assert_eq!(state(&db).0, before.0);

    // overwrite: the live row keeps its id, takes the backup's text and times
    let script = restore_sql(
        &fixture(NIGHT1),
        &["--id", "107", "--id", "104", "--on-conflict", "overwrite"],
        &dir,
        "overwrite.sql",
    );
    assert_said(
        &run_ok(&db, &script),
        &[
            "overwrote bob 3-MULTI (backup id 107): the live text id 136",
            "restored 1, skipped 0, overwritten 1",
        ],
    );
    let now = row(&db, 136)[0].clone();
    for key in ["text", "created_at", "modified_at", "user_id", "task_id"] {
        assert_eq!(now[key], old[key], "{key}");
    }
    assert_eq!(now["text"], "\\N");
    assert_eq!(row(&db, 107), Value::Array(vec![]));
    assert_eq!(row(&db, 104), row(&night1, 104));

    // error: aborts everything, even the text that could be restored (104)
    let db = night_db(&pg, NIGHT2, &dir);
    let before = state(&db);
    let script = restore_sql(
        &fixture(NIGHT1),
        &["--id", "104", "--id", "107", "--on-conflict", "error"],
        &dir,
        "error.sql",
    );
    assert_said(
        &run_fails(&db, &script),
        &["nothing restored, nothing changed: bob already has a text for task 3-MULTI (id 136)"],
    );
    assert_eq!(state(&db), before);
}

/// Night 3 renamed dmitri to dmitry and task 4-COST to 4-COSTS: a script
/// from night 2 names what is missing and changes nothing.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_missing_student_or_task_aborts_everything() {
    let (_pg, dir, db) = night_setup(NIGHT3);
    db.psql("DELETE FROM public.tasktexts WHERE id IN (101, 114)");
    let before = state(&db);

    let script = restore_sql(
        &fixture(NIGHT2),
        &["--id", "101", "--id", "114"],
        &dir,
        "u.sql",
    );
    assert_said(
        &run_fails(&db, &script),
        &[
            "no student with username 'dmitri'",
            "nothing restored, nothing changed",
        ],
    );
    assert_eq!(state(&db), before);

    let script = restore_sql(&fixture(NIGHT2), &["--task", "4-COST"], &dir, "t.sql");
    assert_said(&run_fails(&db, &script), &["no task 4-COST"]);
    assert_eq!(state(&db), before);

    // Even run without -v ON_ERROR_STOP=1, the script stops and changes nothing.
    let out = db
        .command("psql")
        .args(["-X", "-f"])
        .arg(&script)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", output_text(&out));
    assert!(output_text(&out).contains("no task 4-COST"));
    assert_eq!(state(&db), before);
}

/// --check says what it would do and leaves rows and sequence as they were.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn check_reports_and_changes_nothing() {
    let (_pg, dir, db) = night_setup(NIGHT2);
    // A taken backup id too: 102 is alive in night 2 (overwritten); moving
    // it to another task (4-AUTOFLAG) frees alice's 1-EDIT but not the id.
    db.psql("UPDATE public.tasktexts SET task_id = 8 WHERE id = 102");
    let before = state(&db);
    let args = [
        "--id",
        "102",
        "--id",
        "104",
        "--id",
        "107",
        "--on-conflict",
        "overwrite",
    ];
    let script = restore_sql(
        &fixture(NIGHT1),
        &[&args[..], &["--check"]].concat(),
        &dir,
        "check.sql",
    );
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.trim_end().ends_with("ROLLBACK;"));
    assert_said(
        &run_ok(&db, &script),
        &[
            "would restore alice 0-ENV (backup id 104) as id 104",
            "would restore alice 1-EDIT (backup id 102) as id 138 (a new id: the backup id is taken)",
            "would overwrite bob 3-MULTI (backup id 107)",
            "textrescue --check: would restore 2, skip 0, overwrite 1 (of 3 texts); nothing was changed",
        ],
    );
    assert_eq!(state(&db), before);

    // The same without --check does it, and 102 takes id 138 from the sequence.
    let script = restore_sql(&fixture(NIGHT1), &args, &dir, "real.sql");
    assert_said(
        &run_ok(&db, &script),
        &[
            "restored alice 1-EDIT (backup id 102) as id 138 (a new id",
            "restored 2, skipped 0, overwritten 1",
        ],
    );
    plain_insert_works(&db);
}

/// Every text of a night into an emptied table, with the id sequence reset
/// as on a rebuilt server: every byte, id and time comes back, and the
/// server's next plain INSERT succeeds.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_whole_night_restores_exactly_into_an_empty_table() {
    let pg = common::pg();
    let dir = TempDir::new().unwrap();
    for night in [NIGHT1, NIGHT2] {
        let db = night_db(&pg, night, &dir);
        let before = db.query_json(ROWS);
        assert!(before.as_array().unwrap().len() > 30);
        db.psql(
            "DELETE FROM public.tasktexts; \
             SELECT setval('public.tasktexts_id_seq', 1, false);",
        );
        let script = restore_sql(&fixture(night), &[], &dir, "all.sql");
        let n = before.as_array().unwrap().len();
        assert_said(
            &run_ok(&db, &script),
            &[&format!("restored {n}, skipped 0, overwritten 0")],
        );
        assert_eq!(db.query_json(ROWS), before, "{night}");
        assert_eq!(
            db.psql("SELECT nextval('public.tasktexts_id_seq') > max(id) FROM public.tasktexts"),
            "t"
        );
        plain_insert_works(&db);
    }
}

/// What a restore script must look like to a person and to psql: no line
/// but our two `\set` lines begins with a backslash, no byte but LF is a
/// control or otherwise hidden character, and each of `lines` (a line of a
/// text, as the script shows it) is there to read on a line of its own.
fn assert_readable_and_inert(sql: &str, lines: &[&str]) {
    let meta: Vec<&str> = sql
        .lines()
        .filter(|l| l.trim_start().starts_with('\\'))
        .collect();
    assert_eq!(
        meta,
        ["\\set ON_ERROR_STOP on", "\\set ON_ERROR_ROLLBACK off"],
        "{sql}"
    );
    let hidden: Vec<char> = sql
        .chars()
        .filter(|&c| {
            c != '\n'
                && (c.is_control()
                    || (c.is_whitespace() && c != ' ')
                    || matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF))
        })
        .collect();
    assert!(hidden.is_empty(), "hidden characters {hidden:?} in\n{sql}");
    let first_literal = sql.find('\'').unwrap();
    let settings = sql.find("SET standard_conforming_strings = on;").unwrap();
    assert!(
        sql.find("SET client_encoding = 'UTF8';").unwrap() < first_literal
            && settings < sql.find("BEGIN;").unwrap(),
        "the settings come first"
    );
    assert!(sql[..settings].is_ascii());
    for line in lines {
        assert!(
            sql.lines().any(|l| l.trim_start().starts_with(line)),
            "{line:?} is not a line of\n{sql}"
        );
    }
}

/// A database with the schema and the people, and (for a test whose texts
/// hold `\! touch MARKER`) a file that such a line, if it ran, would create:
/// removed first.
fn people_db(pg: &Pg, prefix: &str) -> (TempDb, PathBuf) {
    let marker = std::env::temp_dir().join(format!("textrescue_{prefix}_{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let db = pg.create_db(prefix);
    db.load_schema_with_people();
    (db, marker)
}

/// `db` out through real pg_dump and in through `--format sql -o DIR/NAME`:
/// the script's path and text.
fn dumped_script(db: &TempDb, dir: &TempDir, name: &str) -> (PathBuf, String) {
    let dump = dir.path().join("d.sql");
    std::fs::write(&dump, db.pg_dump(&[])).unwrap();
    let script = restore_sql(&dump, &[], dir, name);
    let sql = std::fs::read_to_string(&script).unwrap();
    (script, sql)
}

/// A text, a username and a task name full of psql meta-commands (`\!`,
/// `\i`, `\.`, `\restrict`, `\unrestrict`, after LF, CRLF and a lone CR),
/// quotes, dollar quotes and invisible characters: the script shows them
/// all, runs none, and restores them byte-exact.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn psql_meta_commands_in_texts_and_names_do_not_run() {
    let pg = common::pg();
    let dir = TempDir::new().unwrap();
    let (db, marker) = people_db(&pg, "trrs_meta");
    let m = marker.display().to_string();
    let nasty_user = format!("eve\n\\! touch {m}\n:'x'\r\\unrestrict k\u{202e}'$$");
    let nasty_task = "x'\n\\! id\r\\.\u{200b}";
    db.psql(&format!(
        "INSERT INTO public.users (username, created_at, is_admin, is_student, id) \
         VALUES ({}, now(), false, true, 9); \
         INSERT INTO public.tasks (id, created_at, phase, name, is_enabled) \
         VALUES (9, now(), 7, {}, true)",
        common::sql_text(&nasty_user),
        common::sql_text(nasty_task)
    ));
    let text = format!(
        "\\! touch {m}\n\\! touch {m}\r\n\\i /etc/passwd\n\\copy users to '{m}'\n\\gexec\n\\.\n\
         :foo :'foo' :\"foo\" $$ $x$ ' \\\\ -- /* \n\\o {m}\n\\set ON_ERROR_STOP 0\nselect 1 \\gexec\n\
         \\restrict abc\n\\! touch {m}\n\\unrestrict abc\r\\! touch {m}\r\n\\.\r\n\
         E'\\x41' it''s 'quoted' \u{202e}gnp.exe\u{202c} zero\u{200b}width \u{2028}sep \
         שלום עולם 🏳️\u{fe0f}\u{200d}🌈\t\u{1b}[2J\u{7f}\n\\! touch {m}"
    );
    db.psql(&common::insert_text_sql(
        Some(5),
        9,
        9,
        "2024-03-01 10:00:00+00",
        None,
        &text,
    ));
    db.psql(&common::insert_text_sql(
        Some(6),
        2,
        1,
        "2024-03-01 10:00:00.000001+00",
        Some("2024-03-02 00:00:00+00"),
        &format!("'; \\! touch {m}\n"),
    ));
    db.psql(&common::insert_text_sql(
        Some(7),
        3,
        1,
        "2024-03-01 10:00:00+00",
        None,
        "A plain text,\nas students write it.\n",
    ));
    let before = db.query_json(ROWS);
    let (script, sql) = dumped_script(&db, &dir, "meta.sql");
    let touch = format!("'\\! touch {m}', E'\\n',");
    assert_readable_and_inert(
        &sql,
        &[
            &touch,
            "'\\.', E'\\n',",
            "'\\restrict abc', E'\\n',",
            "'\\unrestrict abc', E'\\r',",
            "'\\.', E'\\r\\n',",
            "'E''\\x41'' it''''s ''quoted'' ', convert_from(decode('e280ae', 'hex'), 'UTF8'), 'gnp.exe', \
             convert_from(decode('e280ac', 'hex'), 'UTF8'), ' zero', convert_from(decode('e2808b', 'hex'), 'UTF8'), 'width ', \
             convert_from(decode('e280a8', 'hex'), 'UTF8'), 'sep שלום עולם 🏳', \
             convert_from(decode('efb88fefb88fe2808d', 'hex'), 'UTF8'), '🌈', E'\\t\\u001B', '[2J', E'\\u007F\\n',",
            "'A plain text,', E'\\n',",
            "'as students write it.', E'\\n'",
        ],
    );
    assert!(
        sql.contains(&format!(
            "VALUES (1, array_to_string(ARRAY['eve', E'\\n', '\\! touch {m}', E'\\n', \
             ':''x''', E'\\r', '\\unrestrict k', convert_from(decode('e280ae', 'hex'), 'UTF8'), '''$$'], ''), 7, \
             array_to_string(ARRAY['x''', E'\\n', '\\! id', E'\\r', '\\.', convert_from(decode('e2808b', 'hex'), 'UTF8')], ''), 5,"
        )),
        "{sql}"
    );
    db.psql("DELETE FROM public.tasktexts");
    let said = run_ok(&db, &script);
    assert!(!marker.exists(), "the script ran a meta-command:\n{said}");
    assert_said(&said, &["restored 3, skipped 0, overwritten 0"]);
    assert_eq!(db.query_json(ROWS), before);
    assert_eq!(
        db.query_json("SELECT text FROM public.tasktexts WHERE id = 5")[0]["text"],
        Value::String(text.clone())
    );
}

/// Pieces of text that psql, SQL or a terminal could take for something
/// else; `marker` is a file that a `\!` that ran would create.
fn nasty_fragment(marker: &str) -> impl Strategy<Value = String> + use<> {
    let touch = format!("\n\\! touch {marker}\n");
    prop_oneof![
        Just("\n\\.\n".to_string()),
        Just(touch),
        Just("\r\\! echo pwned".to_string()),
        Just("\r\n\\i /etc/passwd".to_string()),
        Just("\n\\restrict x\n".to_string()),
        Just("\n\\unrestrict x\n".to_string()),
        Just("\\.".to_string()),
        Just("\\! echo pwned".to_string()),
        Just("\\i /etc/passwd".to_string()),
        Just("\\copy users to '/tmp/x'".to_string()),
        Just("\\gexec".to_string()),
        Just("'".to_string()),
        Just("''".to_string()),
        Just("\"".to_string()),
        Just("$$".to_string()),
        Just("$textrescue$".to_string()),
        Just("\\".to_string()),
        Just("\\\\".to_string()),
        Just("\\N".to_string()),
        Just("\r\n".to_string()),
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just("\t".to_string()),
        Just(":foo".to_string()),
        Just(":'foo'".to_string()),
        Just(":\"foo\"".to_string()),
        Just("--".to_string()),
        Just("/*".to_string()),
        Just("*/".to_string()),
        Just(";".to_string()),
        Just("E'\\x41'".to_string()),
        Just("E'".to_string()),
        Just("U&'\\0041'".to_string()),
        Just("\u{202e}".to_string()),
        Just("\u{2066}".to_string()),
        Just("\u{200b}".to_string()),
        Just("\u{feff}".to_string()),
        Just("\u{2028}".to_string()),
        Just("\u{85}".to_string()),
        Just("\u{1b}[2J".to_string()),
        Just("\u{7f}".to_string()),
        Just("\u{e0041}".to_string()),
        Just("\u{10ffff}".to_string()),
        Just("🏳️‍🌈".to_string()),
        Just("שלום עולם".to_string()),
        Just("مرحبا".to_string()),
        "[a-z ]{0,8}",
    ]
}

fn nasty_text(marker: &str) -> impl Strategy<Value = String> + use<> {
    prop_oneof![
        1 => any::<String>().prop_map(|s| s.replace('\0', "")),
        4 => prop::collection::vec(nasty_fragment(marker), 0..16).prop_map(|v| v.concat()),
        1 => "\\PC{0,40}".prop_map(|s| s.replace('\0', "")),
    ]
}

/// A username: `u` (so it matches no other user's, case aside) and up to
/// 70 characters of nasty fragments.
fn nasty_username(marker: &str) -> impl Strategy<Value = String> + use<> {
    prop::collection::vec(nasty_fragment(marker), 0..6)
        .prop_map(|v| format!("u{}", v.concat()).chars().take(70).collect())
}

/// Random texts (and usernames) go into a database, out through real
/// pg_dump, through textrescue's restore SQL and back: byte for byte, and
/// no meta-command in them runs.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn random_texts_restore_byte_exact() {
    let pg = common::pg();
    let dir = TempDir::new().unwrap();
    let (db, marker) = people_db(&pg, "trrs_prop");
    let m = marker.display().to_string();
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(
                prop::collection::vec(nasty_text(&m), 1..4),
                nasty_username(&m),
            ),
            |(texts, username)| {
                db.psql(&format!(
                    "DELETE FROM public.tasktexts; UPDATE public.users SET username = {} WHERE id = 3",
                    common::sql_text(&username)
                ));
                for (i, text) in texts.iter().enumerate() {
                    let (user, task) = [(2, 1), (3, 2), (2, 4)][i];
                    db.psql(&common::insert_text_sql(
                        Some(200 + i as i64),
                        user,
                        task,
                        "2024-03-01 10:00:00.123456+00",
                        (i == 1).then_some("2024-03-02 11:00:00.5+00"),
                        text,
                    ));
                }
                let before = db.query_json(ROWS);
                let (script, sql) = dumped_script(&db, &dir, "p.sql");
                assert_readable_and_inert(&sql, &[]);
                db.psql("DELETE FROM public.tasktexts");
                let out = db.psql_file(&script);
                prop_assert!(out.status.success(), "{}", output_text(&out));
                prop_assert!(!marker.exists(), "a meta-command ran:\n{}", sql);
                let after = db.query_json(ROWS);
                prop_assert_eq!(&after, &before);
                for (i, text) in texts.iter().enumerate() {
                    prop_assert_eq!(
                        after[i]["text"].as_str().unwrap().as_bytes(),
                        text.as_bytes()
                    );
                }
                Ok::<(), TestCaseError>(())
            },
        )
        .unwrap();
}

/// A long text of many short lines, each with a tab and a CR: a flat list
/// for PostgreSQL's parser, restored exactly.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_text_of_many_lines_restores_exactly() {
    let pg = common::pg();
    let dir = TempDir::new().unwrap();
    let (db, _) = people_db(&pg, "trrs_long");
    let text: String = (0..40_000)
        .map(|i| format!("{i}\tline with a tab\u{200b} and CRLF\r\n"))
        .collect();
    db.psql(&common::insert_text_sql(
        Some(300),
        2,
        1,
        "2024-03-01 10:00:00+00",
        None,
        &text,
    ));
    let before = db.query_json(ROWS);
    let (script, sql) = dumped_script(&db, &dir, "long.sql");
    assert_readable_and_inert(
        &sql,
        &[
            "'39999', E'\\t', 'line with a tab', convert_from(decode('e2808b', 'hex'), 'UTF8'), ' and CRLF', E'\\r\\n'",
        ],
    );
    db.psql("DELETE FROM public.tasktexts");
    assert_said(&run_ok(&db, &script), &["restored 1, skipped 0"]);
    assert_eq!(db.query_json(ROWS), before);
}
