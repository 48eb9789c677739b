//! `textrescue backup` against the real PostgreSQL (tests/common/mod.rs), with
//! stand-in programs from tests/bin: `pg_dump-standin` (records its argv, or
//! fails in chosen ways) and `docker`, a stand-in docker client kept only
//! for what a real Docker Engine cannot be made to show (see
//! `docker_mode_with_stand_in_docker`). Docker mode against a real engine is
//! in tests/docker.rs.
use crate::common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{NASTY, Pg, TempDb, assert_failed, assert_ok, insert_text_sql, pg, text};

const LOCK_FILE: &str = ".textrescue-backup.lock";

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("bin")
}

fn standin() -> String {
    bin_dir().join("pg_dump-standin").display().to_string()
}

/// A database with the race server's schema, people and nasty texts.
fn fixture_db(pg: &Pg) -> TempDb {
    let db = pg.create_db("backup");
    db.load_schema_with_people();
    let mut sql = String::new();
    for (i, text) in NASTY.iter().enumerate() {
        let modified = (i % 2 == 0).then_some("2024-03-06 09:10:00.5+00");
        sql += &insert_text_sql(
            None,
            2 + (i as i64 % 2),
            1 + (i as i64 % 4),
            "2024-03-01 14:22:11.123456+00",
            modified,
            text,
        );
    }
    sql += &insert_text_sql(
        None,
        2,
        3,
        "2024-03-02 10:00:00+00",
        None,
        &"100 kB of text\t\\ ".repeat(6000),
    );
    db.psql(&sql);
    db
}

/// `textrescue backup --dir DIR` with PGHOST/PGPORT/PGUSER/PGDATABASE for `db`.
fn backup(db: &TempDb, dir: &Path) -> Command {
    let mut c = db.command(env!("CARGO_BIN_EXE_textrescue"));
    c.env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .arg("backup")
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("run textrescue")
}

/// The names in `dir` besides the lock file.
fn entries(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != LOCK_FILE)
        .collect()
}

/// The one backup in `dir`.
fn only_backup(dir: &Path) -> PathBuf {
    let names = entries(dir);
    assert_eq!(names.len(), 1, "{names:?}");
    dir.join(names.first().unwrap())
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn texts_json(path: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .args(["texts", "--format", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The stamp part of a new backup's name: YYYYMMDD-HHMMSS.
fn assert_backup_name(path: &Path, prefix: &str, ext: &str) {
    let name = path.file_name().unwrap().to_str().unwrap();
    let stamp = name
        .strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(ext))
        .unwrap_or_else(|| panic!("{name} is not {prefix}...{ext}"));
    assert_eq!(stamp.len(), 15, "{name}");
    assert!(chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d-%H%M%S").is_ok());
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn plain_backup_reads_back_equal_to_the_live_rows() {
    let pg = pg();
    let db = fixture_db(&pg);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new").join("backups");
    let out = run(backup(&db, &dir));
    assert_ok(&out);
    let file = only_backup(&dir);
    assert_backup_name(&file, &format!("{}_bk_", db.name()), ".sql.gz");
    // The summary: one line with the path, the size and the texts count.
    let summary = text(&out.stdout);
    assert_eq!(summary.lines().count(), 1, "{summary}");
    assert!(summary.contains(&file.display().to_string()), "{summary}");
    assert!(summary.contains("bytes"), "{summary}");
    assert!(
        summary.contains(&format!("{} texts", NASTY.len() + 1)),
        "{summary}"
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    // Modes: the file 0600, the directory it created 0700.
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(LOCK_FILE)), 0o600);
    // Byte-exact texts.
    assert_eq!(texts_json(&file), db.texts_json("public.tasktexts"));
    // Really gzip: gunzip gives a plain dump with LF line ends.
    let gunzip = Command::new("gzip").arg("-dc").arg(&file).output().unwrap();
    assert_ok(&gunzip);
    assert!(text(&gunzip.stdout).contains("-- PostgreSQL database dump complete\n"));

    // --quiet: nothing on success; a second run in the same second gets a
    // new name, never replacing the first.
    let mut c = backup(&db, &dir);
    c.arg("--quiet");
    let out = run(c);
    assert_ok(&out);
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let mut c = backup(&db, &dir);
    c.arg("--quiet");
    assert_ok(&run(c));
    assert_eq!(entries(&dir).len(), 3, "{:?}", entries(&dir));
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn custom_backup_reads_back_equal_to_the_live_rows() {
    let pg = pg();
    let db = fixture_db(&pg);
    let tmp = tempfile::tempdir().unwrap();
    let mut c = backup(&db, tmp.path());
    c.args(["--format", "custom", "--prefix", "buggy_race_bk_"]);
    let out = run(c);
    assert_ok(&out);
    let file = only_backup(tmp.path());
    assert_backup_name(&file, "buggy_race_bk_", ".dump");
    assert_eq!(mode(&file), 0o600);
    assert!(fs::read(&file).unwrap().starts_with(b"PGDMP"));
    assert_eq!(texts_json(&file), db.texts_json("public.tasktexts"));
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_database_without_texts_table_is_backed_up() {
    let pg = pg();
    let db = pg.create_db("backup_notexts");
    db.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1);");
    let tmp = tempfile::tempdir().unwrap();
    let out = run(backup(&db, tmp.path()));
    assert_ok(&out);
    assert!(text(&out.stdout).contains("no texts table"));
    only_backup(tmp.path());
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn wrong_database_fails_and_leaves_nothing() {
    let pg = pg();
    let db = pg.create_db("backup_wrongdb");
    let tmp = tempfile::tempdir().unwrap();
    let mut c = backup(&db, tmp.path());
    c.args(["--dbname", "no_such_database_here"]);
    let err = assert_failed(&run(c));
    assert!(err.contains("pg_dump"), "{err}");
    assert!(err.contains("no_such_database_here"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn unreachable_server_fails_and_leaves_nothing() {
    let pg = pg();
    let db = pg.create_db("backup_unreachable");
    let tmp = tempfile::tempdir().unwrap();
    let mut c = backup(&db, tmp.path());
    c.args(["--host", "127.0.0.1", "--port", "1"]);
    let err = assert_failed(&run(c));
    assert!(err.contains("pg_dump failed"), "{err}");
    assert!(err.contains("port 1"), "{err}");
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn pg_dump_killed_midway_leaves_nothing() {
    let pg = pg();
    let db = fixture_db(&pg);
    let tmp = tempfile::tempdir().unwrap();
    let mut c = backup(&db, tmp.path());
    c.args(["--pg-dump", &standin()])
        .env("STANDIN_MODE", "kill");
    let err = assert_failed(&run(c));
    assert!(err.contains("killed by signal 9 (SIGKILL)"), "{err}");
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn truncated_dump_with_exit_0_or_exit_1_without_message_fails() {
    let pg = pg();
    let db = fixture_db(&pg);
    let tmp = tempfile::tempdir().unwrap();
    // Exit status 0, but the dump stops in the middle: caught by reading back.
    let mut c = backup(&db, tmp.path());
    c.args(["--pg-dump", &standin()])
        .env("STANDIN_MODE", "truncate");
    let err = assert_failed(&run(c));
    assert!(err.contains("does not read back"), "{err}");
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
    // A whole dump, but exit status 1: the exit status is the truth.
    let mut c = backup(&db, tmp.path());
    c.args(["--pg-dump", &standin(), "--format", "custom"])
        .env("STANDIN_MODE", "fail-quietly");
    let err = assert_failed(&run(c));
    assert!(err.contains("exit status 1"), "{err}");
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn password_in_database_url_is_in_no_argv_or_output() {
    let pg = pg();
    let db = fixture_db(&pg);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    let log = tmp.path().join("argv.log");
    let password = "s3cr3t-P%40ss";
    let url = format!(
        "postgres://{}:{password}@{}:{}/{}",
        pg.user,
        pg.host,
        pg.port,
        db.name()
    );
    // From the environment variable, so not even in textrescue's argv.
    let mut c = backup(&db, &dir);
    c.args(["--pg-dump", &standin()])
        .env_remove("PGDATABASE")
        .env("STANDIN_MODE", "record")
        .env("STANDIN_LOG", &log)
        .env("TEXTRESCUE_DATABASE_URL", &url);
    let out = run(c);
    assert_ok(&out);
    // And on the command line.
    let mut c = backup(&db, &dir);
    c.args(["--pg-dump", &standin(), "--database-url", &url, "--quiet"])
        .env_remove("PGDATABASE")
        .env("STANDIN_MODE", "record")
        .env("STANDIN_LOG", &log);
    let out2 = run(c);
    assert_ok(&out2);
    let logged = fs::read_to_string(&log).unwrap();
    for secret in ["s3cr3t", "P@ss", "P%40ss"] {
        assert!(!logged.contains(secret), "{logged}");
        for o in [&out, &out2] {
            assert!(!text(&o.stdout).contains(secret));
            assert!(!text(&o.stderr).contains(secret));
        }
    }
    let argv = format!(
        "argv: --no-password --format=plain --host {} --port {} --username {} --dbname {}",
        pg.host,
        pg.port,
        pg.user,
        db.name()
    );
    assert_eq!(logged.matches(&argv).count(), 2, "{logged}");
    assert_eq!(logged.matches("PGPASSWORD: set").count(), 2, "{logged}");
    assert_eq!(logged.matches("PGPASSFILE: unset").count(), 2, "{logged}");
    // Named after the URL's database.
    for name in entries(&dir) {
        assert!(name.starts_with(&format!("{}_bk_", db.name())), "{name}");
    }

    // A failing run with the URL does not show the password either.
    let bad = format!(
        "postgres://{}:{password}@127.0.0.1:1/{}",
        pg.user,
        db.name()
    );
    let mut c = backup(&db, &dir);
    c.args(["--database-url", &bad]);
    let err = assert_failed(&run(c));
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn docker_mode_with_stand_in_docker() {
    // Only what a real engine cannot be made to show (tests/docker.rs has
    // the rest, against a real one): a real engine silently accepts `-t`
    // (the dump gets CRLF and pg_dump's errors), exec without `-i`, and
    // `-e NAME=VALUE` (the password on the command line), and does not tell
    // a client's argv or whether a variable came through `-e NAME`.
    // tests/bin/docker makes each of those a failure and records argv and
    // the variables passed, then runs the command here with only PATH and
    // the `-e` variables in its environment, like a container.
    let pg = pg();
    let db = fixture_db(&pg);
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("docker.log");
    let dir = tmp.path().join("b");
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let url = format!(
        "postgres://{}:hunter2-secret@{}:{}/{}",
        pg.user,
        pg.host,
        pg.port,
        db.name()
    );
    let mut c = backup(&db, &dir);
    c.args(["--container", "buggy-race-db", "--database-url", &url])
        .args(["--prefix", "buggy_race_bk_"])
        .env("PATH", &path)
        .env("DOCKER_STANDIN_CONTAINER", "buggy-race-db")
        .env("DOCKER_STANDIN_LOG", &log);
    let out = run(c);
    assert_ok(&out);
    let file = only_backup(&dir);
    assert_backup_name(&file, "buggy_race_bk_", ".sql.gz");
    assert_eq!(texts_json(&file), db.texts_json("public.tasktexts"));
    let logged = fs::read_to_string(&log).unwrap();
    assert!(!logged.contains("hunter2"), "{logged}");
    // pg_dump runs through `sh -c`, which reports its process id first (so
    // that a failed or interrupted run can end it inside the container).
    assert!(
        logged.starts_with("argv: exec -i -e PGPASSWORD buggy-race-db sh -c "),
        "{logged}"
    );
    assert!(logged.contains(" sh pg_dump --no-password "), "{logged}");
    assert!(logged.contains("env PGPASSWORD: passed"), "{logged}");

    // --docker chooses the binary; separate options, no password.
    let mut c = backup(&db, &dir);
    c.args([
        "--container",
        "buggy-race-db",
        "--dbname",
        db.name(),
        "--quiet",
    ])
    .args([
        "--host",
        &pg.host,
        "--port",
        &pg.port,
        "--username",
        &pg.user,
    ])
    .arg("--docker")
    .arg(bin_dir().join("docker"))
    .env("DOCKER_STANDIN_CONTAINER", "buggy-race-db");
    assert_ok(&run(c));
    assert_eq!(entries(&dir).len(), 2);
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn retention_keeps_exactly_what_it_should() {
    let pg = pg();
    let db = fixture_db(&pg);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let p = "buggy_race_bk_";
    // Backups dated 2015, older than the one the test takes, which is
    // always kept and takes today's day, week and month: each rule keeps
    // one more than it keeps of these, whatever today's date. ISO weeks:
    // 2015-03-09..15 is W11, 2015-03-02..08 is W10, 2015-02-23..03-01 is W09.
    let backups = [
        "20150312-020000.sql.gz", // Thu W11, March: daily, weekly, monthly
        "20150312.sql.gz",        // old cron name, same day, older: removed
        "20150311-020000.dump",   // Wed W11: daily
        "20150310-020000.sql.gz", // Tue W11: daily
        "20150309-020000.sql.gz", // Mon W11: removed
        "20150305-020000.sql.gz", // Thu W10: weekly
        "20150303.sql.gz",        // W10: removed
        "20150228-020000.sql.gz", // Sat W09, February: monthly
        "20150227-020000.sql.gz", // removed
        "20150131-020000.sql.gz", // January: removed (only 2 months besides today's)
        "20141231.sql.gz",        // removed
    ];
    let kept = [
        "20150312-020000.sql.gz",
        "20150311-020000.dump",
        "20150310-020000.sql.gz",
        "20150305-020000.sql.gz",
        "20150228-020000.sql.gz",
    ];
    let unrelated = [
        "notes.txt",
        "buggy_race_bk_20150301-020000.sql.gz.bak",
        "buggy_race_bk_20150301.sql",
        "buggy_race_bk_2015030.sql.gz",
        "buggy_race_bk_20150230-020000.sql.gz",
        "buggy_race_bk_20150301_020000.sql.gz",
        "other_bk_20150301-020000.sql.gz",
        "xbuggy_race_bk_20150301.sql.gz",
        ".buggy_race_bk_20150301.sql.gz",
    ];
    for name in backups {
        fs::write(dir.join(format!("{p}{name}")), b"old backup").unwrap();
    }
    for name in unrelated {
        fs::write(dir.join(name), b"not ours").unwrap();
    }
    // A directory with a backup's name is no backup.
    fs::create_dir(dir.join("buggy_race_bk_20150301-020000.dump")).unwrap();
    let before = entries(dir);

    let keep_args = [
        "--prefix",
        p,
        "--keep-daily",
        "4",
        "--keep-weekly",
        "3",
        "--keep-monthly",
        "3",
    ];
    // --dry-run: says what it would remove, removes nothing.
    let mut c = backup(&db, dir);
    c.args(keep_args).arg("--dry-run");
    let out = run(c);
    assert_ok(&out);
    let stdout = text(&out.stdout);
    let would: BTreeSet<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("would remove "))
        .map(|l| {
            Path::new(l)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let expected_removed: BTreeSet<String> = backups
        .iter()
        .filter(|b| !kept.contains(b))
        .map(|b| format!("{p}{b}"))
        .collect();
    assert_eq!(would, expected_removed, "{stdout}");
    let after_dry = entries(dir);
    let dry_backup: Vec<&String> = after_dry.difference(&before).collect();
    assert_eq!(dry_backup.len(), 1, "only the new backup appeared");
    assert!(after_dry.is_superset(&before));

    // For real: the dry run's backup (older than the new one, the same day) goes too.
    let mut c = backup(&db, dir);
    c.args(keep_args);
    let out = run(c);
    assert_ok(&out);
    assert!(
        text(&out.stdout).contains("removed 7 old backups"),
        "{}",
        text(&out.stdout)
    );
    let after = entries(dir);
    let new: Vec<&String> = after.difference(&after_dry).collect();
    assert_eq!(new.len(), 1, "{after:?}");
    let mut expected: BTreeSet<String> = kept.iter().map(|k| format!("{p}{k}")).collect();
    expected.extend(unrelated.iter().map(|u| u.to_string()));
    expected.insert("buggy_race_bk_20150301-020000.dump".into());
    expected.insert(new[0].clone());
    assert_eq!(after, expected);

    // No --keep-* option: nothing removed.
    let mut c = backup(&db, dir);
    c.args(["--prefix", p, "--quiet"]);
    assert_ok(&run(c));
    assert_eq!(entries(dir).len(), expected.len() + 1);
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn retention_runs_only_after_a_successful_backup() {
    let pg = pg();
    let db = pg.create_db("backup_retention_fail");
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("buggy_race_bk_20240101.sql.gz");
    fs::write(&old, b"old").unwrap();
    let mut c = backup(&db, tmp.path());
    c.args(["--prefix", "buggy_race_bk_", "--keep-daily", "0"])
        .args(["--host", "127.0.0.1", "--port", "1"]);
    assert_failed(&run(c));
    assert!(old.exists());
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn lock_contention_fails_or_waits_clearly() {
    let pg = pg();
    let db = pg.create_db("backup_lock");
    db.load_schema();
    let tmp = tempfile::tempdir().unwrap();
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(tmp.path().join(LOCK_FILE))
        .unwrap();
    lock.lock().unwrap();
    // Default --lock-timeout 0: fails at once.
    let started = Instant::now();
    let err = assert_failed(&run(backup(&db, tmp.path())));
    assert!(err.contains("another textrescue backup"), "{err}");
    assert!(err.contains("--lock-timeout"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Waits, then gives up.
    let mut c = backup(&db, tmp.path());
    c.args(["--lock-timeout", "1"]);
    let started = Instant::now();
    let err = assert_failed(&run(c));
    assert!(err.contains("gave up after 1 s"), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(entries(tmp.path()).is_empty());
    // Waits, and goes on once the lock is free.
    let mut c = backup(&db, tmp.path());
    c.args(["--lock-timeout", "30"]);
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    lock.unlock().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
    only_backup(tmp.path());
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigterm_during_a_slow_pg_dump_leaves_nothing() {
    signal_during_a_slow_pg_dump(libc::SIGTERM, "SIGTERM");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigint_during_a_slow_pg_dump_leaves_nothing() {
    signal_during_a_slow_pg_dump(libc::SIGINT, "SIGINT");
}

fn signal_during_a_slow_pg_dump(signal: libc::c_int, name: &str) {
    let pg = pg();
    let db = pg.create_db("backup_signal");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    let log = tmp.path().join("standin.log");
    let mut c = backup(&db, &dir);
    c.args(["--pg-dump", &standin()])
        .env("STANDIN_MODE", "slow")
        .env("STANDIN_LOG", &log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    // Wait until the stand-in has started writing into the temporary file.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let started = fs::read_to_string(&log).is_ok_and(|l| l.contains("pid: "));
        let partial = dir.exists() && !entries(&dir).is_empty();
        if started && partial {
            break;
        }
        assert!(Instant::now() < deadline, "the stand-in never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let pid = child.id() as libc::pid_t;
    let started = Instant::now();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = assert_failed(&out);
    assert!(err.contains(name), "{err}");
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
    // The stand-in (and its sleep) were ended too.
    let logged = fs::read_to_string(&log).unwrap();
    let standin_pid = logged.trim().strip_prefix("pid: ").unwrap();
    let stat = fs::read_to_string(format!("/proc/{standin_pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .trim_start()
        .chars()
        .next();
    assert!(matches!(state, None | Some('Z')), "still running: {stat}");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn stale_temporary_files_are_removed_by_the_next_run() {
    let pg = pg();
    let db = pg.create_db("backup_stale");
    db.load_schema();
    let tmp = tempfile::tempdir().unwrap();
    let stale = tmp
        .path()
        .join(".textrescue-partial-12345-x_bk_20240101-000000.sql.gz");
    fs::write(&stale, b"half").unwrap();
    let mut c = backup(&db, tmp.path());
    c.arg("--quiet");
    assert_ok(&run(c));
    assert!(!stale.exists());
    only_backup(tmp.path());
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn usage_errors_exit_2() {
    let pg = pg();
    let db = pg.create_db("backup_usage");
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        vec!["--prefix", "a/b"],
        vec!["--database-url", "mysql://u:pw@h/db"],
        vec!["--database-url", "postgres://u:pw@h/db", "--host", "x"],
        vec!["--container", "c"],
        vec!["--dry-run"],
        vec!["--dbname", "postgres://u:pw@h/db"],
    ] {
        let mut c = backup(&db, tmp.path());
        c.args(&args).env_remove("PGDATABASE");
        let out = run(c);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).contains("pw@"), "{}", text(&out.stderr));
    }
    assert!(entries(tmp.path()).is_empty());
}
