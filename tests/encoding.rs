//! A dump of a SQL_ASCII database whose texts are not valid UTF-8
//! (fixtures/formats/sql-ascii.sql, made by fixtures/build-sql-ascii with the
//! real pg_dump): such a text is reported, never silently changed. JSON and
//! restore SQL refuse it by id, csv keeps its bytes, the table shows it with
//! a warning.
//!
//! And live databases that are not UTF-8, restored into from a UTF-8 dump:
//! a LATIN1 one takes the characters Latin-1 has (hidden ones such as
//! U+00A0 too) and refuses, naming them, those it has not, before anything
//! changes; a SQL_ASCII one keeps the UTF-8 bytes as they are.
use crate::common;

use std::process::{Command, Output};

use common::fixture;

const LATIN1: &[u8] = b"caf\xe9 au lait, Latin-1";
const FFFE: &[u8] = b"\xff\xfe two bytes no UTF-8 has\nline 2\t\\ backslash";

fn textrescue(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .args(args)
        .output()
        .expect("run textrescue")
}

fn dump() -> String {
    fixture("formats/sql-ascii.sql").display().to_string()
}

/// `texts DUMP -f csv ARGS...` succeeds: the CSV.
fn csv_of(dump: &str, args: &[&str]) -> Vec<u8> {
    let out = textrescue(&[&["texts", dump, "-f", "csv"], args].concat());
    common::assert_ok(&out);
    out.stdout
}

/// Both texts of the fixture that are not UTF-8 are named in `err`.
fn assert_warns_of_both(err: &str) {
    for warning in [
        "text 201 (alice, 0-GET) is not valid UTF-8",
        "text 202 (alice, 1-EDIT) is not valid UTF-8",
    ] {
        assert!(err.contains(warning), "{warning:?} not in {err}");
    }
}

fn assert_refused(args: &[&str], id: u32) -> String {
    let out = textrescue(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("text {id} ")), "{err}");
    assert!(err.contains("not valid UTF-8"), "{err}");
    assert!(err.contains("SQL_ASCII"), "{err}");
    err
}

#[test]
fn the_fixture_is_what_it_says() {
    let bytes = std::fs::read(fixture("formats/sql-ascii.sql")).unwrap();
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"SET client_encoding = 'SQL_ASCII';"));
    assert!(has(b"\tcaf\xe9 au lait, Latin-1\n"));
    assert!(has(
        b"\t\xff\xfe two bytes no UTF-8 has\\nline 2\\t\\\\ backslash\n"
    ));
}

#[test]
fn json_and_server_json_refuse_naming_the_text() {
    let d = dump();
    let err = assert_refused(&["texts", &d, "-f", "json"], 201);
    assert!(err.contains("alice"), "{err}");
    assert!(err.contains("--format csv"), "{err}");
    assert_refused(&["texts", &d, "-f", "json", "--id", "202"], 202);
    assert_refused(&["texts", &d, "-f", "server-json", "-u", "alice"], 201);
    // With -o, no file appears.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("alice.json");
    let o = out.display().to_string();
    assert_refused(
        &["texts", &d, "-f", "server-json", "-u", "alice", "-o", &o],
        201,
    );
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    // The valid texts of the same dump are fine.
    let out = textrescue(&["texts", &d, "-f", "json", "-u", "jose"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[1]["text"], "valid UTF-8 na\u{ef}ve too");
}

#[test]
fn csv_keeps_the_exact_bytes() {
    let out = textrescue(&["texts", &dump(), "-f", "csv"]);
    common::assert_ok(&out);
    assert!(out.stderr.is_empty());
    let rows: Vec<csv::ByteRecord> = csv::ReaderBuilder::new()
        .from_reader(out.stdout.as_slice())
        .byte_records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(&rows[0][0], b"201");
    assert_eq!(&rows[0][7], LATIN1);
    assert_eq!(&rows[1][0], b"202");
    assert_eq!(&rows[1][7], FFFE);
    assert_eq!(&rows[3][7], "valid UTF-8 na\u{ef}ve too".as_bytes());
    // --csv-safe changes only formula starts, not the bytes.
    let safe = textrescue(&["texts", &dump(), "-f", "csv", "--csv-safe"]);
    assert_eq!(safe.stdout, out.stdout);
}

#[test]
fn restore_sql_refuses() {
    let d = dump();
    let err = assert_refused(&["texts", &d, "-f", "sql"], 201);
    assert!(err.contains("--format csv"), "{err}");
    // Only the valid texts: a script.
    let out = textrescue(&["texts", &d, "-f", "sql", "-u", "jose"]);
    common::assert_ok(&out);
    // diff --format sql restores removed texts: the fixture against one
    // without them (the texts table emptied) would need them; it refuses too.
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read(fixture("formats/sql-ascii.sql")).unwrap();
    let start = text
        .windows(22)
        .position(|w| w == b"COPY public.tasktexts ")
        .unwrap();
    let end = start
        + text[start..]
            .windows(3)
            .position(|w| w == b"\n\\.")
            .unwrap();
    let line_end = start + text[start..].iter().position(|&b| b == b'\n').unwrap();
    let emptied = [&text[..=line_end], &text[end + 1..]].concat();
    let new = tmp.path().join("emptied.sql");
    std::fs::write(&new, emptied).unwrap();
    let n = new.display().to_string();
    let out = textrescue(&["texts", &n, "-f", "json"]);
    assert_eq!(
        out.stdout,
        b"[]\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_refused(&["diff", &d, &n, "-f", "sql"], 201);
    assert_refused(&["diff", &d, &n, "-f", "json"], 201);
    // The diff table shows the removed texts, saying which are not UTF-8.
    let out = textrescue(&["diff", &d, &n]);
    assert!(out.status.success());
    assert_warns_of_both(&String::from_utf8_lossy(&out.stderr));
}

#[test]
fn table_shows_it_with_a_warning() {
    let out = textrescue(&["texts", &dump()]);
    common::assert_ok(&out);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("201") && table.contains("202"), "{table}");
    assert!(table.contains("caf\u{fffd} au lait"), "{table}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 2, "{err}");
    assert_warns_of_both(&err);
}

/// Drops the database on drop.
struct DropDb(common::Pg, String);

impl Drop for DropDb {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            self.0.admin_sql(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.1
            ))
        });
    }
}

/// The fixture loaded into a new SQL_ASCII database and dumped again by the
/// real pg_dump, as a custom archive and with --inserts: the archive keeps
/// the bytes (csv exact, json refused), the INSERT form is refused with its
/// line, as a statement that is not UTF-8 cannot be parsed exactly.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn custom_and_insert_dumps_of_a_sql_ascii_database() {
    let pg = common::pg();
    let name = format!("enc_sql_ascii_{}", std::process::id());
    pg.admin_sql(&format!(
        "CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"
    ));
    let _drop = DropDb(pg.clone(), name.clone());
    let load = pg
        .command("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &name, "-f"])
        .arg(fixture("formats/sql-ascii.sql"))
        .output()
        .unwrap();
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    let tmp = tempfile::tempdir().unwrap();
    let dump = |args: &[&str], file: &str| {
        let path = tmp.path().join(file);
        let out = pg
            .command("pg_dump")
            .env_remove("PGCLIENTENCODING")
            .args(["-d", &name, "-f"])
            .arg(&path)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        path.display().to_string()
    };
    let custom = dump(&["-Fc"], "c.dump");
    let out = csv_of(&custom, &["--id", "202"]);
    let rows: Vec<csv::ByteRecord> = csv::Reader::from_reader(out.as_slice())
        .byte_records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(&rows[0][7], FFFE);
    assert_refused(&["texts", &custom, "-f", "json"], 201);

    // The INSERT dump gives the same bytes as the archive (its statements
    // are the dump's encoding, read as bytes), and JSON refuses the same text.
    let inserts = dump(&["--inserts"], "inserts.sql");
    assert_eq!(csv_of(&inserts, &[]), csv_of(&custom, &[]));
    assert_refused(&["texts", &inserts, "-f", "json"], 201);
}

/// Texts whose hidden characters a LATIN1 database can hold (U+00A0,
/// U+00AD, with é and è that show), and texts it cannot (U+1F3F3 U+FE0F,
/// U+200B): ids 5, 6, 7.
const SHOWN: &[(i64, i64, i64, &str)] = &[
    (5, 2, 1, "caf\u{e9}\u{a0}cr\u{e8}me\u{ad}\r\n\tend \\! x\n"),
    (6, 3, 2, "flag \u{1f3f3}\u{fe0f} and\u{a0}more"),
    (7, 2, 3, "zero\u{200b}width"),
];

/// A plain dump (by the real pg_dump) of a UTF-8 database holding [`SHOWN`].
fn utf8_dump(pg: &common::Pg, dir: &std::path::Path) -> std::path::PathBuf {
    let db = pg.create_db("trenc_src");
    db.load_schema_with_people();
    for (id, user, task, text) in SHOWN {
        db.psql(&common::insert_text_sql(
            Some(*id),
            *user,
            *task,
            "2024-03-01 10:00:00+00",
            None,
            text,
        ));
    }
    let path = dir.join("utf8.sql");
    std::fs::write(&path, db.pg_dump(&[])).unwrap();
    path
}

/// The texts of a live database, read back as UTF-8 bytes.
fn live_texts(db: &common::TempDb) -> Vec<(i64, String)> {
    db.query_json("SELECT id, text FROM public.tasktexts ORDER BY id")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn shown(ids: &[i64]) -> Vec<(i64, String)> {
    SHOWN
        .iter()
        .filter(|t| ids.contains(&t.0))
        .map(|t| (t.0, t.3.to_string()))
        .collect()
}

/// A new database in `encoding` with the schema and the people.
fn encoded_db(pg: &common::Pg, prefix: &str, encoding: &str) -> common::TempDb {
    let db = pg.create_db_encoded(prefix, encoding);
    db.load_schema_with_people();
    assert_eq!(db.psql("SHOW server_encoding"), encoding);
    db
}

/// `restore DUMP ARGS` into `db` succeeds, saying `verified`.
fn assert_restore_verifies(
    db: &common::TempDb,
    dump: &std::path::Path,
    args: &[&str],
    verified: &str,
) {
    let out = crate::restore::run(crate::restore::restore(db, dump, args));
    common::assert_ok(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(verified), "{said}");
}

/// `textrescue texts DUMP ARGS --format sql`, run by psql in `db`.
fn script_into(db: &common::TempDb, dump: &std::path::Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .arg("texts")
        .arg(dump)
        .args(args)
        .args(["--format", "sql"])
        .output()
        .unwrap();
    common::assert_ok(&out);
    db.psql_input(&out.stdout)
}

/// A LATIN1 database: the texts whose characters Latin-1 has are restored
/// exactly (U+00A0 and U+00AD too, written as their UTF-8 bytes, which the
/// server converts); a script holding a character it has not (U+FE0F) is
/// refused before anything changes, naming each such character and where
/// it is. `restore` does the same: its plan (and --dry-run) refuses, naming
/// them; the texts Latin-1 has are restored and read back byte for byte.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_latin1_database_takes_what_latin1_has_and_refuses_the_rest_by_name() {
    let pg = common::pg();
    let tmp = tempfile::tempdir().unwrap();
    let dump = utf8_dump(&pg, tmp.path());
    let db = encoded_db(&pg, "trenc_latin1", "LATIN1");

    let out = script_into(&db, &dump, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "textrescue: nothing restored, nothing changed: the database encoding LATIN1 cannot \
             hold 3 characters: U+200B (text id 7), U+FE0F (text id 6), U+1F3F3 (text id 6)"
        ),
        "{err}"
    );
    assert_eq!(live_texts(&db), []);

    let out = script_into(&db, &dump, &["--id", "5"]);
    common::assert_ok(&out);
    assert_eq!(live_texts(&db), shown(&[5]));
    assert_eq!(
        db.psql("SELECT encode(convert_to(text, 'LATIN1'), 'hex') FROM public.tasktexts"),
        "636166e9a06372e86d65ad0d0a09656e64205c2120780a",
        "stored as Latin-1"
    );

    // restore: the plan refuses bob's text by its characters.
    db.psql("DELETE FROM public.tasktexts");
    let out = crate::restore::run(crate::restore::restore(
        &db,
        &dump,
        &["--user", "alice", "--user", "bob", "--dry-run"],
    ));
    let err = crate::restore::assert_step_failed(&out, "step 3 of 6 (plan) failed");
    assert!(
        err.contains("the database encoding LATIN1 cannot hold 3 characters: U+200B (text id 7)"),
        "{err}"
    );
    assert_restore_verifies(
        &db,
        &dump,
        &["--user", "alice", "--id", "5", "--yes"],
        "verified: 1 text read back from the live database, equal to the backup's",
    );
    assert_eq!(live_texts(&db), shown(&[5]));
}

/// A SQL_ASCII database converts nothing: with the script's client_encoding
/// UTF8 it stores each text's UTF-8 bytes as they are, hidden characters
/// (written as their UTF-8 bytes) included, and reads them back the same.
/// The script has nothing to refuse there, and `restore` verifies it.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_sql_ascii_database_keeps_the_utf8_bytes() {
    let pg = common::pg();
    let tmp = tempfile::tempdir().unwrap();
    let dump = utf8_dump(&pg, tmp.path());
    let db = encoded_db(&pg, "trenc_ascii", "SQL_ASCII");

    let out = script_into(&db, &dump, &[]);
    common::assert_ok(&out);
    assert_eq!(live_texts(&db), shown(&[5, 6, 7]));
    assert_eq!(
        db.psql("SELECT octet_length(text) FROM public.tasktexts WHERE id = 6"),
        SHOWN[1].3.len().to_string(),
        "the UTF-8 bytes, one for one"
    );

    db.psql("DELETE FROM public.tasktexts");
    assert_restore_verifies(
        &db,
        &dump,
        &["--user", "alice", "--user", "bob", "--yes"],
        "verified: 3 texts read back from the live database",
    );
    assert_eq!(live_texts(&db), shown(&[5, 6, 7]));
}

/// A database in LATIN1 or SQL_ASCII dumped by the real pg_dump with
/// `--inserts` (and `--rows-per-insert`) reads as its COPY dump does: the
/// INSERT statements are the dump's encoding, read as bytes, and their
/// values come out as the same bytes as COPY's rows. (Before, a statement
/// that was not UTF-8 stopped the read.)
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn inserts_of_a_database_not_in_utf8_read_as_copy_does() {
    let pg = common::pg();
    for encoding in ["LATIN1", "SQL_ASCII"] {
        let db = pg.create_db_encoded("tr_enc_ins", encoding);
        db.load_schema_with_people();
        // E'\351' is one byte: é in LATIN1, and just that byte in SQL_ASCII.
        let out = db.psql_input(
            b"SET client_encoding = 'LATIN1';\n\
              INSERT INTO public.tasktexts (id, created_at, modified_at, user_id, task_id, text)\n\
              SELECT 301, '2024-03-01 14:22:11+00', NULL, u.id, t.id, E'caf\\351 au lait, ''q''\\nline 2'\n\
              FROM public.users u, public.tasks t ORDER BY u.id, t.id LIMIT 1;\n",
        );
        common::assert_ok(&out);
        let tmp = tempfile::tempdir().unwrap();
        // The dump in the database's own encoding, as pg_dump writes it
        // when nothing else is asked for.
        let csv_of = |args: &[&str]| {
            let path = tmp.path().join(format!("{}.sql", args.join("")));
            let dump = db.pg_dump_env(args, &[("PGCLIENTENCODING", encoding)]);
            let set = format!("SET client_encoding = '{encoding}';");
            assert!(common::text(&dump).contains(&set), "{encoding} {args:?}");
            std::fs::write(&path, dump).unwrap();
            csv_of(&path.display().to_string(), &["--id", "301"])
        };
        let copy = csv_of(&[]);
        let want: &[u8] = b"caf\xe9 au lait, 'q'\nline 2";
        assert!(
            copy.windows(want.len()).any(|w| w == want),
            "{encoding}: {}",
            String::from_utf8_lossy(&copy)
        );
        for args in [
            &["--inserts"][..],
            &["--column-inserts"],
            &["--rows-per-insert=5"],
        ] {
            assert_eq!(
                csv_of(args),
                copy,
                "{encoding} {args:?}: the INSERT dump reads as the COPY dump"
            );
        }
    }
}
