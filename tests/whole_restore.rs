//! `textrescue restore BACKUP --whole-database --into NEWDB [--swap]`
//! against the local PostgreSQL (and, in the tests named `container_*`,
//! the Docker container `server-db-1`): every format textrescue writes and
//! pg_dump writes loaded and checked; a backup whose load differs from what
//! it holds fails naming the table; `--swap` waits for the live database to
//! be free, then switches.

use crate::common::{NASTY, Pg, TempDb, assert_ok, insert_text_sql, pg, text, texts_json_sql};
use crate::dockerdb::Container;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn textrescue(pg: &Pg) -> Command {
    let mut c = pg.command(env!("CARGO_BIN_EXE_textrescue"));
    c.env_remove("TEXTRESCUE_DATABASE_URL")
        .env("TZ", "UTC")
        .stdin(Stdio::null());
    c
}

/// The nasty texts (ids from 100; every other one modified, if
/// `modified`) and a schema version, as SQL for a database with the people.
fn race_texts_sql(modified: bool) -> String {
    let mut sql = String::new();
    for (i, t) in NASTY.iter().enumerate() {
        sql += &insert_text_sql(
            Some(100 + i as i64),
            2 + (i as i64 % 2),
            1 + (i as i64 % 3),
            "2024-03-01 14:22:11.123456+00",
            (modified && i % 2 == 0).then_some("2024-03-06 09:10:00.5+00"),
            t,
        );
    }
    sql + "INSERT INTO public.alembic_version VALUES ('3f2a9c1b7d4e');"
}

/// A database of the race server's schema: three people, the nasty texts,
/// a schema version.
pub fn race_db(pg: &Pg, prefix: &str) -> TempDb {
    let db = pg.create_db(prefix);
    db.load_schema_with_people();
    db.psql(&race_texts_sql(true));
    db
}

/// A database that is someone else's: a table `mine` holding `x`, to be
/// left alone.
pub fn db_of_someone_else(pg: &Pg, prefix: &str, x: i32) -> TempDb {
    let db = pg.create_db(prefix);
    db.psql(&format!(
        "CREATE TABLE mine (x int); INSERT INTO mine VALUES ({x});"
    ));
    db
}

/// The texts of database `name` as `texts --format json` gives them,
/// byte-exact.
pub fn texts_of(pg: &Pg, name: &str) -> serde_json::Value {
    let sql = texts_json_sql("public.tasktexts");
    let out = pg
        .command("psql")
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", name, "-c"])
        .arg(format!(
            "SELECT encode(convert_to(({sql})::text, 'UTF8'), 'hex')"
        ))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hex = text(&out.stdout);
    let hex = hex.trim();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    serde_json::from_slice(&bytes).unwrap()
}

/// A database name of this test run, dropped with the value.
pub struct Dropped<'a>(pub &'a Pg, pub String);

impl Drop for Dropped<'_> {
    fn drop(&mut self) {
        let _ = self.0.admin_sql(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.1
        ));
    }
}

fn new_name(tag: &str) -> String {
    format!(
        "w_{tag}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// The backup `textrescue backup --dir DIR` wrote.
fn backup_in(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".sql.gz") || n.ends_with(".dump")
        })
        .unwrap()
}

/// `textrescue restore --whole-database EXTRA... --dbname LIVE --into INTO BACKUP`.
fn restore_whole(pg: &Pg, extra: &[&str], live: &str, into: &str, backup: &Path) -> Output {
    textrescue(pg)
        .args(["restore", "--whole-database"])
        .args(extra)
        .args(["--dbname", live, "--into", into])
        .arg(backup)
        .output()
        .unwrap()
}

/// Waits up to 20 s for `done`; panics with `what` if it never is.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The backups of `db` in every format: textrescue's plain and custom, and
/// pg_dump's plain, custom, tar and directory, and a `pg_dump --create`
/// script (its `\connect` must not reach psql).
fn every_format(pg: &Pg, db: &TempDb, dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for format in ["plain", "custom"] {
        let out_dir = dir.join(format!("textrescue-{format}"));
        let out = textrescue(pg)
            .args([
                "backup",
                "--quiet",
                "--format",
                format,
                "--dbname",
                db.name(),
                "--dir",
            ])
            .arg(&out_dir)
            .output()
            .unwrap();
        assert_ok(&out);
        all.push(backup_in(&out_dir));
    }
    all.push(write(&dir.join("p.sql"), &db.pg_dump(&["-Fp"])));
    all.push(write(&dir.join("c.dump"), &db.pg_dump(&["-Fc"])));
    all.push(write(&dir.join("t.tar"), &db.pg_dump(&["-Ft"])));
    let d = dir.join("d.dir");
    db.pg_dump(&["-Fd", "-f", d.to_str().unwrap()]);
    all.push(d);
    all.push(write(
        &dir.join("create.sql"),
        &db.pg_dump(&["-Fp", "--create"]),
    ));
    all
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn every_format_restores_whole_and_checks() {
    let pg = pg();
    let db = race_db(&pg, "whole_src");
    let want = texts_of(&pg, db.name());
    let tmp = tempfile::tempdir().unwrap();
    for backup in every_format(&pg, &db, tmp.path()) {
        let into = Dropped(&pg, new_name("into"));
        let out = restore_whole(&pg, &[], db.name(), &into.1, &backup);
        assert_ok(&out);
        let said = text(&out.stdout);
        assert!(said.contains("row counts: "), "{backup:?}: {said}");
        assert!(
            said.contains("each table as many as the backup holds"),
            "{said}"
        );
        assert!(
            said.contains(&format!(
                "texts: {} texts of public.tasktexts, each byte for byte",
                NASTY.len()
            )),
            "{backup:?}: {said}"
        );
        assert!(said.contains("ALTER DATABASE"), "{said}");
        assert_eq!(texts_of(&pg, &into.1), want, "{backup:?}");
        // The live database is untouched (a --create script's \connect never ran).
        assert_eq!(texts_of(&pg, db.name()), want);
    }
}

/// A race database (`prefix`), a plain backup of it with `slipped_in`
/// added after the data, restored with `--whole-database` into a new
/// database (`tag`): the restore must fail (exit 1); its stderr and stdout.
fn restore_tampered(prefix: &str, slipped_in: &str, tag: &str) -> (String, String) {
    let pg = pg();
    let db = race_db(&pg, prefix);
    let tmp = tempfile::tempdir().unwrap();
    let dump = text(&db.pg_dump(&["-Fp"]));
    let end = dump.rfind("-- PostgreSQL database dump complete").unwrap();
    let tampered = format!("{}{slipped_in}{}", &dump[..end], &dump[end..]);
    assert_ne!(tampered, dump);
    let file = tmp.path().join("tampered.sql.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(tampered.as_bytes()).unwrap();
    write(&file, &gz.finish().unwrap());
    let into = Dropped(&pg, new_name(tag));
    let out = restore_whole(&pg, &[], db.name(), &into.1, &file);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    (text(&out.stderr), text(&out.stdout))
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_backup_that_loads_other_rows_than_it_holds_fails_naming_the_table() {
    // A statement slipped in after the data: the rows the backup holds are
    // not the ones a load gives.
    let (err, said) = restore_tampered(
        "whole_tamper",
        "DELETE FROM public.tasktexts WHERE id = 101;\n",
        "tampered",
    );
    assert!(
        err.contains("table public.tasktexts: 8 rows restored, the backup has 9"),
        "{err}"
    );
    assert!(err.contains("the live database was not touched"), "{err}");
    assert!(!said.contains("ALTER DATABASE"));
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_text_changed_by_one_byte_and_a_table_emptied_are_both_named() {
    // As many texts as the backup holds, one of them a byte longer (its
    // digest differs), and another table emptied: the two are counted and
    // hashed by different sessions, and both are said.
    let (err, _) = restore_tampered(
        "whole_tamper_text",
        "UPDATE public.tasktexts SET text = text || 'x' WHERE id = 102;\n\
         DELETE FROM public.alembic_version;\n",
        "tampered_text",
    );
    assert!(
        err.contains("table public.tasktexts: 1 text differ from the backup's (id 102)"),
        "{err}"
    );
    assert!(
        err.contains("table public.alembic_version: 0 rows restored, the backup has 1"),
        "{err}"
    );
    // The texts table's rows are all there: no count of it is said.
    assert!(!err.contains("rows restored, the backup has 9"), "{err}");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn the_new_database_must_be_new() {
    let pg = pg();
    let db = race_db(&pg, "whole_exists");
    let taken = db_of_someone_else(&pg, "whole_taken", 7);
    let tmp = tempfile::tempdir().unwrap();
    let file = write(&tmp.path().join("c.dump"), &db.pg_dump(&["-Fc"]));
    let out = restore_whole(&pg, &[], db.name(), taken.name(), &file);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("exists already"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(taken.psql("SELECT x FROM mine"), "7");
}

#[test]
fn whole_database_usage() {
    for (args, why) in [
        (vec!["--whole-database"], "--into"),
        (vec!["--into", "x"], "--whole-database"),
        (vec!["--swap"], "--whole-database"),
        (
            vec!["--whole-database", "--into", "x", "--user", "alice"],
            "filter",
        ),
    ] {
        let out = container_textrescue(&["restore", "backup.sql.gz"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(why),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

fn hold_session(pg: &Pg, db: &str) -> std::process::Child {
    let child = pg
        .command("psql")
        .args(["-X", "-d", db, "-c", "SELECT pg_sleep(120)"])
        .env("PGAPPNAME", "held-by-test")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the session never came", || {
        pg.admin_sql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND application_name = 'held-by-test'"
        )) == "1"
    });
    child
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn swap_waits_for_the_live_database_to_be_free_then_switches() {
    let pg = pg();
    let live = race_db(&pg, "whole_live");
    let tmp = tempfile::tempdir().unwrap();
    let file = write(&tmp.path().join("c.dump"), &live.pg_dump(&["-Fc"]));
    let want = texts_of(&pg, live.name());
    // After the backup: a text gone, one changed.
    live.psql("DELETE FROM public.tasktexts WHERE id = 100; UPDATE public.tasktexts SET text = 'x' WHERE id = 103;");
    assert_ne!(texts_of(&pg, live.name()), want);

    let mut held = hold_session(&pg, live.name());
    let first = Dropped(&pg, new_name("swap1"));
    let out = restore_whole(&pg, &["--swap"], live.name(), &first.1, &file);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("1 other session is connected"), "{err}");
    assert!(err.contains("application held-by-test"), "{err}");
    assert!(
        text(&out.stdout).contains("ALTER DATABASE"),
        "the switch is still shown"
    );
    assert_eq!(texts_of(&pg, &first.1), want, "the restored one stays");
    let _ = held.kill();
    let _ = held.wait();
    pg.admin_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'held-by-test'");
    wait_until("the live database's sessions never ended", || {
        pg.admin_sql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}'",
            live.name()
        )) == "0"
    });

    let second = Dropped(&pg, new_name("swap2"));
    let out = restore_whole(&pg, &["--swap"], live.name(), &second.1, &file);
    assert_ok(&out);
    let said = text(&out.stdout);
    let old = said
        .lines()
        .find_map(|l| l.split("is kept as ").nth(1))
        .unwrap_or_else(|| panic!("{said}"))
        .trim()
        .to_string();
    let old = Dropped(&pg, old);
    assert!(
        old.1.starts_with(&format!("{}_old_", live.name())),
        "{}",
        old.1
    );
    assert_eq!(
        texts_of(&pg, live.name()),
        want,
        "the live database is the backup's"
    );
    assert!(!pg.database_exists(&second.1));
    assert_ne!(texts_of(&pg, &old.1), want, "the old one is kept as it was");
}

// ---- In the container ----

/// `textrescue ARGS...` with no local connection settings: everything goes
/// through the container.
pub fn container_textrescue(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_textrescue"));
    for var in [
        "PGPASSWORD",
        "PGPASSFILE",
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
    ] {
        c.env_remove(var);
    }
    c.env_remove("TEXTRESCUE_DATABASE_URL")
        .env("TZ", "UTC")
        .args(args)
        .stdin(Stdio::null());
    c
}

/// The arguments that reach database `db` in container `c` as user buggy.
pub fn container_conn<'a>(c: &'a Container, db: &'a str) -> [&'a str; 6] {
    [
        "--container",
        c.name.as_str(),
        "--username",
        "buggy",
        "--dbname",
        db,
    ]
}

/// A database in the container like [`race_db`] (no text modified).
pub fn container_race_db(c: &Container, name: &str) -> String {
    let db = c.create_db(name);
    c.load_schema_with_people(&db);
    c.psql(&db, &race_texts_sql(false));
    db
}

/// `textrescue restore --whole-database --into INTO EXTRA... BACKUP CONN...`.
fn container_restore(into: &str, extra: &[&str], backup: &Path, conn: &[&str]) -> Output {
    container_textrescue(&["restore", "--whole-database", "--into", into])
        .args(extra)
        .arg(backup)
        .args(conn)
        .output()
        .unwrap()
}

/// `docker ARGS...`, which must succeed: its stdout.
pub fn docker_out(args: &[&str]) -> Vec<u8> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        text(&out.stderr)
    );
    out.stdout
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn container_every_format_restores_whole_through_docker_exec() {
    let c = Container::start();
    let db = container_race_db(&c, "whole_src");
    let want = c.texts_json(&db);
    let tmp = tempfile::tempdir().unwrap();
    let conn = container_conn(&c, &db);
    let mut backups = Vec::new();
    for format in ["plain", "custom"] {
        let dir = tmp.path().join(format);
        assert_ok(
            &container_textrescue(&["backup", "--quiet", "--format", format, "--dir"])
                .arg(&dir)
                .args(conn)
                .output()
                .unwrap(),
        );
        backups.push(backup_in(&dir));
    }
    for (flag, name) in [("-Fp", "p.sql"), ("-Fc", "c.dump"), ("-Ft", "t.tar")] {
        let bytes = docker_out(&["exec", &c.name, "pg_dump", "-U", "buggy", flag, &db]);
        backups.push(write(&tmp.path().join(name), &bytes));
    }
    docker_out(&[
        "exec",
        &c.name,
        "pg_dump",
        "-U",
        "buggy",
        "-Fd",
        "-f",
        "/tmp/d.dir",
        &db,
    ]);
    let d = tmp.path().join("d.dir");
    docker_out(&["cp", &format!("{}:/tmp/d.dir", c.name), d.to_str().unwrap()]);
    backups.push(d);
    for (i, backup) in backups.iter().enumerate() {
        let into = format!("whole_into_{i}");
        let out = container_restore(&into, &[], backup, &conn);
        assert_ok(&out);
        let said = text(&out.stdout);
        assert!(said.contains("in the container server-db-1"), "{said}");
        assert!(
            said.contains("texts: 9 texts of public.tasktexts"),
            "{backup:?}: {said}"
        );
        assert!(said.contains("docker exec -i server-db-1 psql"), "{said}");
        assert_eq!(c.texts_json(&into), want, "{backup:?}");
        assert_eq!(
            c.psql(
                "postgres",
                &format!(
                    "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{into}'"
                )
            ),
            "buggy",
            "owned as the live database is"
        );
    }
    // pg_dumpall: only the chosen database's part is loaded.
    c.psql("postgres", "CREATE DATABASE other OWNER buggy");
    c.psql(
        "other",
        "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2);",
    );
    let all = write(
        &tmp.path().join("all.sql"),
        &docker_out(&["exec", &c.name, "pg_dumpall", "-U", "buggy"]),
    );
    let out = container_restore("from_all", &["--database", &db], &all, &conn);
    assert_ok(&out);
    assert_eq!(c.texts_json("from_all"), want);
    assert_eq!(
        c.psql(
            "from_all",
            "SELECT count(*) FROM pg_class WHERE relname = 't'"
        ),
        "0",
        "nothing of the other database"
    );
    let out = container_restore("other_back", &["--database", "other"], &all, &conn);
    assert_ok(&out);
    assert_eq!(c.psql("other_back", "SELECT sum(x) FROM t"), "3");
    let left = text(&docker_out(&["exec", &c.name, "sh", "-c", "ls /tmp"]));
    assert!(
        !left.contains("textrescue-load"),
        "copies left behind: {left}"
    );
}
