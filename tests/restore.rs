//! `textrescue restore` against the real PostgreSQL and the real psql and
//! pg_dump: throw-away databases loaded from the nightly fixtures (see
//! fixtures/README.md), a folder of those nights as the backups folder, and
//! every step checked from outside: the live rows, the safety backup, the
//! undo command run as printed. Faults (a concurrent writer, signals, a full
//! disk) are in tests/restore_faults.rs, Docker in tests/restore_docker.rs.
//!
//! Without a server at build time each test is ignored (build.rs).

use crate::common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{NASTY, Pg, TempDb, assert_ok, fixture, text};
use serde_json::Value;
use tempfile::TempDir;

pub const NIGHT1: &str = "buggy_race_bk_20240304.sql.gz";
pub const NIGHT2: &str = "buggy_race_bk_20240305.sql.gz";
pub const NIGHT3: &str = "buggy_race_bk_20240306-021500.sql.gz";

/// A database loaded from a night's plain dump.
pub fn night_db(pg: &Pg, night: &str) -> TempDb {
    let mut sql = Vec::new();
    flate2::read::MultiGzDecoder::new(
        std::fs::File::open(fixture(&format!("nights/{night}"))).unwrap(),
    )
    .read_to_end(&mut sql)
    .unwrap();
    let db = pg.create_db("trrestore");
    let out = db.psql_input(&sql);
    assert!(
        out.status.success(),
        "loading {night}: {}",
        text(&out.stderr)
    );
    db
}

/// A backups folder holding the three nights.
pub fn backups_folder() -> (TempDir, PathBuf) {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    for night in [NIGHT1, NIGHT2, NIGHT3] {
        std::fs::copy(fixture(&format!("nights/{night}")), dir.join(night)).unwrap();
    }
    (tmp, dir)
}

/// `textrescue restore SOURCE ARGS... --dbname DB` with PGHOST/PGPORT/PGUSER
/// for `db`, standard input closed.
pub fn restore(db: &TempDb, source: &Path, args: &[&str]) -> Command {
    let mut c = db.command(env!("CARGO_BIN_EXE_textrescue"));
    c.env_remove("PGPASSWORD")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .env("TZ", "UTC")
        .arg("restore")
        .arg(source)
        .args(args)
        .args(["--dbname", db.name()])
        .stdin(Stdio::null());
    c
}

pub fn run(mut c: Command) -> Output {
    c.output().expect("run textrescue")
}

/// Everything a restore could change: every text and the id sequence.
pub fn state(db: &TempDb) -> (Value, String) {
    (
        db.query_json(
            "SELECT id, created_at, modified_at, user_id, task_id, text \
             FROM public.tasktexts ORDER BY id",
        ),
        db.psql("SELECT last_value || ' ' || is_called FROM public.tasktexts_id_seq"),
    )
}

/// The text row with this id, as PostgreSQL's json (`[]` when none).
pub fn row(db: &TempDb, id: i64) -> Value {
    db.query_json(&format!(
        "SELECT id, created_at, modified_at, user_id, task_id, text \
         FROM public.tasktexts WHERE id = {id}"
    ))
}

/// The files in `dir` besides the backups lock.
pub fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != ".textrescue-backup.lock")
        .collect();
    names.sort();
    names
}

/// The safety backups (named after the live database) in `dir`.
pub fn safety_backups(dir: &Path, db: &TempDb) -> Vec<String> {
    files(dir)
        .into_iter()
        .filter(|n| n.starts_with(&format!("{}_bk_", db.name())))
        .collect()
}

/// The undo command a successful restore printed, run as printed (by bash),
/// with textrescue for `textrescue`.
pub fn run_undo(db: &TempDb, stdout: &str) -> Output {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("to undo it: "))
        .unwrap_or_else(|| panic!("no undo command in:\n{stdout}"));
    let command = line
        .strip_prefix("textrescue ")
        .unwrap_or_else(|| panic!("{line}"));
    let mut c = db.command("bash");
    c.env_remove("PGPASSWORD")
        .env("TZ", "UTC")
        .arg("-c")
        .arg(format!("\"$TEXTRESCUE\" {command}"))
        .env("TEXTRESCUE", env!("CARGO_BIN_EXE_textrescue"))
        .stdin(Stdio::null());
    c.output().unwrap()
}

/// A failed restore as the admin sees it: exit 1 and the step that failed.
pub fn assert_step_failed(out: &Output, step: &str) -> String {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1: {}\nstdout: {}\nstderr: {err}",
        out.status,
        text(&out.stdout)
    );
    assert!(err.starts_with("textrescue: "), "{err}");
    assert!(err.contains(step), "{step} in {err}");
    err
}

/// Night 2 lost alice's 0-ENV (104): restored from the folder (night 1 is
/// the newest backup that has it) with its id, bytes and times; verified;
/// the safety backup is a real backup of the live database before; the
/// undo command, run as printed, removes it again.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_deleted_text_comes_back_verified_and_the_undo_removes_it() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let night1 = night_db(&pg, NIGHT1);
    let (_tmp, dir) = backups_folder();
    let before = state(&db);
    assert_eq!(row(&db, 104), Value::Array(vec![]));

    let out = run(restore(
        &db,
        &dir,
        &["--user", "ALICE", "--task", "0-env", "--yes"],
    ));
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(
        said.contains("  restore    alice 0-ENV")
            && said.contains(
                "backup id 104 -> live id 104, 39 bytes  [buggy_race_bk_20240304.sql.gz]"
            ),
        "{said}"
    );
    assert!(
        said.contains("restored 1, overwrote 0, skipped 0: committed"),
        "{said}"
    );
    assert!(
        said.contains(
            "verified: 1 text read back from the live database, equal to the backup's byte for byte"
        ),
        "{said}"
    );
    assert_eq!(row(&db, 104), row(&night1, 104));

    // The safety backup: one new backup in the folder, 0600, of the live
    // database as it was before.
    let safety = safety_backups(&dir, &db);
    assert_eq!(safety.len(), 1, "{:?}", files(&dir));
    let safety = dir.join(&safety[0]);
    assert!(
        said.contains(&format!("safety backup: {}", safety.display())),
        "{said}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&safety).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let json = |path: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_textrescue"))
            .args(["texts", "--format", "json"])
            .arg(path)
            .env("TZ", "UTC")
            .output()
            .unwrap();
        assert_ok(&out);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    assert_eq!(json(&safety), json(&fixture(&format!("nights/{NIGHT2}"))));

    // The undo command names the safety backup and exactly the text added.
    let undo_line = said
        .lines()
        .find(|l| l.starts_with("to undo it: "))
        .unwrap();
    assert!(
        undo_line.contains(&format!(
            "restore {} --user=alice --id=104 --on-conflict=overwrite --delete-absent --dbname={} --yes",
            safety.display(),
            db.name()
        )),
        "{undo_line}"
    );
    let undone = run_undo(&db, &said);
    assert_ok(&undone);
    assert!(
        text(&undone.stdout).contains("deleted 1: committed"),
        "{}",
        text(&undone.stdout)
    );
    assert_eq!(
        state(&db).0,
        before.0,
        "the undo puts the texts back as they were"
    );
}

/// --dry-run shows the plan and stops: no safety backup, nothing changed.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn dry_run_shows_the_plan_and_changes_nothing() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let (_tmp, dir) = backups_folder();
    let before = state(&db);
    let names = files(&dir);
    let out = run(restore(
        &db,
        &dir,
        &[
            "--user",
            "alice",
            "--user",
            "bob",
            "--task",
            "0-ENV",
            "--task",
            "3-MULTI",
            "--dry-run",
        ],
    ));
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(said.contains("  restore    alice 0-ENV"), "{said}");
    // bob's 3-MULTI was deleted and written again (136): the newest backup
    // has it as live: nothing to do.
    assert!(
        said.contains("unchanged: bob 3-MULTI: the live text id 136"),
        "{said}"
    );
    assert!(
        said.contains("would restore 1, overwrite 0, skip 0"),
        "{said}"
    );
    assert!(said.contains("--dry-run: nothing was changed"), "{said}");
    assert!(!said.contains("safety backup"), "{said}");
    assert_eq!(state(&db), before);
    assert_eq!(files(&dir), names);
}

/// Without a terminal to ask on, --yes is required: a usage error (exit 2)
/// before anything is read or written; at least one --user too.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn without_a_terminal_yes_is_required() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let (_tmp, dir) = backups_folder();
    let before = state(&db);
    let names = files(&dir);
    let out = run(restore(&db, &dir, &["--user", "alice", "--task", "0-ENV"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--yes"), "{}", text(&out.stderr));
    let out = run(restore(&db, &dir, &["--task", "0-ENV", "--yes"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--user"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(state(&db), before);
    assert_eq!(files(&dir), names);
}

/// alice's 1-EDIT (102) was overwritten in night 2, and she has changed it
/// again since: the folder holds two versions, so restore lists them and
/// asks for --from (nothing done, not even a safety backup); with --from
/// night 1 and --on-conflict overwrite her night-1 text is back in row 102,
/// and the undo puts her latest text back.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn an_overwritten_text_with_several_versions_needs_from() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let night1 = night_db(&pg, NIGHT1);
    db.psql(
        "UPDATE public.tasktexts SET text = text || E'\\nedited again today', \
         modified_at = '2024-03-07 09:00:00.25+00' WHERE id = 102",
    );
    let (_tmp, dir) = backups_folder();
    let before = state(&db);
    let names = files(&dir);

    let out = run(restore(
        &db,
        &dir,
        &["--user", "alice", "--task", "1-EDIT", "--yes"],
    ));
    let err = assert_step_failed(&out, "step 1 of 6 (choosing the texts) failed");
    assert!(err.contains("--from=BACKUP"), "{err}");
    assert!(err.contains("alice 1-EDIT (live: id 102"), "{err}");
    assert!(err.contains(&format!("--from={NIGHT1}: id 102")), "{err}");
    assert!(err.contains(&format!("--from={NIGHT3}: id 102")), "{err}");
    assert_eq!(state(&db), before);
    assert_eq!(
        files(&dir),
        names,
        "no safety backup before the choice is made"
    );

    let out = run(restore(
        &db,
        &dir,
        &[
            "--user",
            "alice",
            "--task",
            "1-EDIT",
            "--from",
            NIGHT1,
            "--on-conflict",
            "overwrite",
            "--yes",
        ],
    ));
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(said.contains("  overwrite  alice 1-EDIT"), "{said}");
    assert!(said.contains("live id 102: "), "{said}");
    assert!(
        said.contains(" lines  [buggy_race_bk_20240304.sql.gz]"),
        "{said}"
    );
    assert!(said.contains("verified: 1 text"), "{said}");
    assert_eq!(row(&db, 102), row(&night1, 102));
    let undo_line = said
        .lines()
        .find(|l| l.starts_with("to undo it: "))
        .unwrap();
    assert!(
        undo_line.contains("--id=102 --on-conflict=overwrite --dbname="),
        "{undo_line}"
    );
    assert!(!undo_line.contains("--delete-absent"), "{undo_line}");
    assert_ok(&run_undo(&db, &said));
    assert_eq!(state(&db).0, before.0);
}

/// With --on-conflict skip (the default) a live text in the way is kept
/// and the plan says so; nothing is written, so there is nothing to undo.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_live_text_in_the_way_is_skipped_by_default() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let before = state(&db);
    let backup = fixture(&format!("nights/{NIGHT1}"));
    let tmp = TempDir::new().unwrap();
    let safety_dir = tmp.path().to_str().unwrap();
    let out = run(restore(
        &db,
        &backup,
        &[
            "--user",
            "alice",
            "--task",
            "1-EDIT",
            "--yes",
            "--safety-dir",
            safety_dir,
        ],
    ));
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(said.contains("  skip       alice 1-EDIT"), "{said}");
    assert!(said.contains("live id 102 kept"), "{said}");
    assert!(said.contains("nothing to change"), "{said}");
    assert_eq!(state(&db), before);
    assert_eq!(safety_backups(tmp.path(), &db).len(), 1);
}

/// Night 3 renamed dmitri to dmitry: restoring dmitri's texts from night 1
/// aborts at the plan, naming the student, and changes nothing. A task that
/// is gone from the live database aborts the same way.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_renamed_student_or_a_missing_task_aborts_and_changes_nothing() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT3);
    let before = state(&db);
    let backup = fixture(&format!("nights/{NIGHT1}"));
    let tmp = TempDir::new().unwrap();
    let safety_dir = tmp.path().to_str().unwrap();
    let out = run(restore(
        &db,
        &backup,
        &["--user", "dmitri", "--yes", "--safety-dir", safety_dir],
    ));
    let err = assert_step_failed(
        &out,
        "step 3 of 6 (plan) failed; the live database is unchanged",
    );
    assert!(err.contains("no student with username 'dmitri'"), "{err}");
    assert!(err.contains("the safety backup"), "{err}");
    assert_eq!(state(&db), before);

    // alice 0-ENV's task is deleted on the live server (with its texts).
    db.psql(
        "DELETE FROM public.tasktexts WHERE task_id = (SELECT id FROM public.tasks WHERE phase = 0 AND lower(name) = 'env');
         DELETE FROM public.tasks WHERE phase = 0 AND lower(name) = 'env';",
    );
    let before = state(&db);
    let out = run(restore(
        &db,
        &backup,
        &["--user", "alice", "--yes", "--safety-dir", safety_dir],
    ));
    let err = assert_step_failed(&out, "step 3 of 6 (plan) failed");
    assert!(err.contains("no task 0-ENV"), "{err}");
    assert_eq!(state(&db), before);
}

/// Hostile usernames and texts (quotes, psql meta-commands, `\.`, CR,
/// bidi, `$$`): a backup of them taken by textrescue itself, the texts
/// deleted, then restored byte for byte and verified; nothing in them runs.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn hostile_usernames_and_texts_restore_byte_exact() {
    let pg = common::pg();
    let db = pg.create_db("trrestore_nasty");
    db.load_schema_with_people();
    let tmp = TempDir::new().unwrap();
    let pwned = tmp.path().join("pwned");
    let names = [
        format!("eve'; \\! touch {}\n", pwned.display()),
        "\\.\r$$ :x".to_string(),
        format!("\u{202e}mallory $(touch {}) `x`", pwned.display()),
    ];
    let mut sql = String::new();
    for (i, name) in names.iter().enumerate() {
        sql += &format!(
            "INSERT INTO public.users (id, username, created_at, is_admin, is_student) \
             VALUES ({}, {}, now(), false, true);",
            10 + i,
            common::sql_text(name)
        );
    }
    for (i, t) in NASTY.iter().enumerate() {
        let evil = t.replace("/tmp/x", &pwned.display().to_string());
        sql += &common::insert_text_sql(
            Some(200 + i as i64),
            10 + (i as i64 % 3),
            1 + (i as i64 / 3),
            "2024-03-01 14:22:11.123456+00",
            (i % 2 == 0).then_some("2024-03-06 09:10:00.5+05:30"),
            &evil,
        );
    }
    db.psql(&sql);
    let backups = tmp.path().join("backups");
    let out = db
        .command(env!("CARGO_BIN_EXE_textrescue"))
        .args(["backup", "--quiet", "--dir"])
        .arg(&backups)
        .args(["--prefix", "nasty_bk_"])
        .output()
        .unwrap();
    assert_ok(&out);
    let before = state(&db);
    db.psql("DELETE FROM public.tasktexts WHERE id >= 200");

    let mut args = vec![];
    for name in &names {
        args.extend(["--user", name.as_str()]);
    }
    args.extend(["--yes", "--prefix", "nasty_bk_"]);
    let out = run(restore(&db, &backups, &args));
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!("verified: {} texts", NASTY.len())),
        "{said}"
    );
    assert_eq!(state(&db).0, before.0);
    assert!(!pwned.exists(), "a meta-command ran");
    // Nothing a terminal would hide reaches the output.
    assert!(
        !said.contains('\r') && !said.contains('\u{202e}'),
        "{said:?}"
    );
}

/// A schema named with a reserved word (`end`), a table name that needs
/// quoting: restore quotes every identifier.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_schema_named_end_is_quoted() {
    let pg = common::pg();
    let db = pg.create_db("trrestore_end");
    db.load_schema_with_people();
    db.psql(
        "ALTER SCHEMA public RENAME TO \"end\";
         ALTER TABLE \"end\".tasktexts RENAME TO \"Task Texts\";",
    );
    db.psql(
        "INSERT INTO \"end\".\"Task Texts\" (id, created_at, user_id, task_id, text) \
         VALUES (5, '2024-03-01 10:00:00+00', 2, 1, 'in the end');",
    );
    let tmp = TempDir::new().unwrap();
    let dump = tmp.path().join("end_bk_20240301.sql");
    std::fs::write(&dump, db.pg_dump(&[])).unwrap();
    db.psql("DELETE FROM \"end\".\"Task Texts\"");
    let out = run(restore(
        &db,
        &dump,
        &["--user", "alice", "--yes", "--table", "end.Task Texts"],
    ));
    assert_ok(&out);
    assert_eq!(
        db.psql("SELECT text FROM \"end\".\"Task Texts\" WHERE id = 5"),
        "in the end"
    );
}

/// `--database-url` with a password on the command line: psql and the
/// safety backup's pg_dump get it in their environment only, no output
/// shows it, and the undo command names the database by its parts.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_password_reaches_psql_and_pg_dump_only_through_their_environment() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let (tmp, dir) = backups_folder();
    let log = tmp.path().join("argv.log");
    let psql = tmp.path().join("psql-logging");
    std::fs::write(
        &psql,
        format!(
            "#!/bin/sh\nprintf 'psql argv: %s\\n' \"$*\" >> '{log}'\n\
             [ -n \"$PGPASSWORD\" ] && echo 'psql PGPASSWORD: set' >> '{log}'\n\
             exec psql \"$@\"\n",
            log = log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&psql, std::fs::Permissions::from_mode(0o755)).unwrap();
    let url = format!(
        "postgres://{}:s3cret-pw@{}:{}/{}",
        pg.user,
        pg.host,
        pg.port,
        db.name()
    );
    let mut c = db.command(env!("CARGO_BIN_EXE_textrescue"));
    c.env_remove("PGPASSWORD")
        .env_remove("PGDATABASE")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .env("STANDIN_MODE", "record")
        .env("STANDIN_LOG", &log)
        .arg("restore")
        .arg(&dir)
        .args([
            "--user",
            "alice",
            "--task",
            "0-ENV",
            "--yes",
            "--database-url",
            &url,
        ])
        .arg("--psql")
        .arg(&psql)
        .arg("--pg-dump")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bin/pg_dump-standin"))
        .stdin(Stdio::null());
    let out = run(c);
    assert_ok(&out);
    let said = text(&out.stdout);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains("s3cret"), "{logged}");
    assert_eq!(
        logged.matches("psql PGPASSWORD: set").count(),
        4,
        "{logged}"
    );
    assert!(logged.contains("PGPASSWORD: set"), "{logged}");
    assert!(!said.contains("s3cret") && !text(&out.stderr).contains("s3cret"));
    assert!(
        said.contains(&format!(
            "--host={} --port={} --username={} --dbname={} ",
            pg.host,
            pg.port,
            pg.user,
            db.name()
        )),
        "{said}"
    );
}
