//! `textrescue backup --container` against a real Docker Engine and a real
//! PostgreSQL container named `server-db-1` (tests/dockerdb/mod.rs; `bash
//! .ci/docker-up` starts the engine and builds the image): success, every
//! way the container can fail a backup, signals, and the race server's own
//! cron script against the same container.
//!
//! tests/backup.rs keeps a stand-in docker client (tests/bin/docker) only
//! for what a real engine cannot be made to show: it turns the silent
//! mistakes (`-t`, `-e NAME=VALUE`, exec without `-i`) into failures and
//! records the client's command line; a real engine accepts all three.
use crate::common;
use crate::dockerdb;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{NASTY, assert_ok, insert_text_sql, text};
use dockerdb::{Container, NAME, docker, docker_ok};

const LOCK_FILE: &str = ".textrescue-backup.lock";

/// The schema, people and the nasty texts (plus 100 kB of one) in `db`.
fn load_fixture(c: &Container, db: &str) {
    c.load_schema_with_people(db);
    let mut sql = String::new();
    for (i, t) in NASTY.iter().enumerate() {
        let modified = (i % 2 == 0).then_some("2024-03-06 09:10:00.5+00");
        sql += &insert_text_sql(
            None,
            2 + (i as i64 % 2),
            1 + (i as i64 % 4),
            "2024-03-01 14:22:11.123456+00",
            modified,
            t,
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
    c.psql(db, &sql);
}

/// `textrescue backup --container NAME --username buggy --dbname DB --dir DIR`,
/// with no PG* variable of the host's (pg_dump runs in the container).
fn backup(container: &str, db: &str, dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_textrescue"));
    for var in ["PGPASSWORD", "PGPASSFILE", "PGHOST", "PGPORT", "PGUSER"] {
        c.env_remove(var);
    }
    c.env_remove("TEXTRESCUE_DATABASE_URL")
        .args(["backup", "--container", container])
        .args(["--username", "buggy", "--dbname", db, "--dir"])
        .arg(dir)
        .stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("run textrescue")
}

/// A failed backup: exit 1, one line on stderr that says no backup was
/// written, nothing on stdout.
fn assert_failed(out: &Output) -> String {
    let err = common::assert_failed(out);
    assert!(err.contains("no backup written"), "{err}");
    err
}

/// A failed backup (as [`assert_failed`]) whose line holds `why`, and no
/// file left in `dir`.
fn assert_failed_leaving_nothing(out: &Output, why: &str, dir: &Path) {
    let err = assert_failed(out);
    assert!(err.contains(why), "{why:?} not in {err}");
    assert!(entries(dir).is_empty(), "{:?}", entries(dir));
}

/// A backup that failed because the container stopped under pg_dump.
fn assert_stopped_while_dumping(out: &Output, dir: &Path) {
    assert_failed_leaving_nothing(
        out,
        &format!("container {NAME} stopped while pg_dump was running"),
        dir,
    );
}

/// A container with a new database `name` holding the schema and people.
fn container_with_db(name: &str) -> (Container, String) {
    let c = Container::start();
    let db = c.create_db(name);
    c.load_schema_with_people(&db);
    (c, db)
}

/// A scratch folder and the backups folder `b` in it (not made yet).
fn backups_folder() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    (tmp, dir)
}

/// The race server's documented nightly script, word for word but for the
/// database and the folder: `-t` gives pg_dump a terminal, `| gzip` hides
/// its exit status.
fn seed_cron_script(db: &str, dir: &Path) -> Output {
    let script = format!(
        "docker exec -t server-db-1 pg_dump -U buggy {db} | gzip > {}/{db}_bk_$(date +%Y%m%d).sql.gz",
        dir.display()
    );
    Command::new("bash")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The decompressed bytes of a gzip file, by gzip itself.
fn gunzip(file: &Path) -> Vec<u8> {
    Command::new("gzip")
        .arg("-dc")
        .arg(file)
        .output()
        .unwrap()
        .stdout
}

/// The names in `dir` besides the lock file (none when `dir` is missing).
fn entries(dir: &Path) -> BTreeSet<String> {
    match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != LOCK_FILE)
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

fn only_backup(dir: &Path) -> PathBuf {
    let names = entries(dir);
    assert_eq!(names.len(), 1, "{names:?}");
    dir.join(names.first().unwrap())
}

/// The size of the temporary file a running backup writes (0 if none yet).
fn partial_size(dir: &Path) -> u64 {
    entries(dir)
        .iter()
        .filter(|n| n.starts_with(".textrescue-partial-"))
        .filter_map(|n| fs::metadata(dir.join(n)).ok())
        .map(|m| m.len())
        .sum()
}

fn textrescue(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn texts_json(path: &Path) -> serde_json::Value {
    let out = textrescue(&["texts", "--format", "json", path.to_str().unwrap()]);
    assert_ok(&out);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Starts a backup (stdout and stderr piped) in its own process group, as
/// a shell starts a foreground job: a signal to the group is what Ctrl-C
/// on a terminal sends.
fn spawn_backup(container: &str, db: &str, dir: &Path) -> Child {
    let mut c = backup(container, db, dir);
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    c.spawn().unwrap()
}

/// Waits until the backup in `dir` has written at least `bytes` into its
/// temporary file: pg_dump is then streaming.
fn wait_for_partial(dir: &Path, bytes: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while partial_size(dir) < bytes {
        assert!(
            Instant::now() < deadline,
            "the backup never wrote {bytes} bytes: {:?}",
            entries(dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn backup_from_a_real_container_reads_back_equal_to_the_live_rows() {
    let c = Container::start();
    let db = c.create_db("backup_ok");
    load_fixture(&c, &db);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    let out = run(backup(&c.name, &db, &dir));
    assert_ok(&out);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let file = only_backup(&dir);
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("backup_ok_bk_") && name.ends_with(".sql.gz"),
        "{name}"
    );
    let summary = text(&out.stdout);
    assert_eq!(summary.lines().count(), 1, "{summary}");
    assert!(
        summary.contains(&format!("{} texts (public.tasktexts)", NASTY.len() + 1)),
        "{summary}"
    );
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Byte-exact, LF line ends (`-i`, never `-t`), pg_dump's own last line.
    let live = c.texts_json(&db);
    assert_eq!(live.as_array().unwrap().len(), NASTY.len() + 1);
    assert_eq!(texts_json(&file), live);
    let sql = gunzip(&file);
    assert!(text(&sql).contains("\n-- PostgreSQL database dump complete\n"));
    assert!(!sql.windows(2).any(|w| w == b"\r\n"));

    // --format custom from the same container.
    let mut cmd = backup(&c.name, &db, &dir);
    cmd.args(["--format", "custom", "--quiet"]);
    let out = run(cmd);
    assert_ok(&out);
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let custom = entries(&dir)
        .into_iter()
        .find(|n| n.ends_with(".dump"))
        .expect("a .dump");
    assert_eq!(texts_json(&dir.join(custom)), live);
    assert!(!c.runs("pg_dump"), "{}", c.ps());
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn no_such_container_is_one_clear_line() {
    dockerdb::require_engine();
    let missing = format!("textrescue-no-such-container-{}", std::process::id());
    let _ = docker(&["rm", "--force", &missing]);
    let tmp = tempfile::tempdir().unwrap();
    assert_failed_leaving_nothing(
        &run(backup(&missing, "buggy_race", tmp.path())),
        &format!("there is no container named {missing}"),
        tmp.path(),
    );
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn stopped_container_is_one_clear_line() {
    let c = Container::start();
    docker_ok(&["stop", &c.name]);
    let tmp = tempfile::tempdir().unwrap();
    assert_failed_leaving_nothing(
        &run(backup(&c.name, "buggy_race", tmp.path())),
        &format!("container {NAME} is not running"),
        tmp.path(),
    );
    // A paused one says so.
    docker_ok(&["start", &c.name]);
    c.wait_ready();
    docker_ok(&["pause", &c.name]);
    let out = run(backup(&c.name, "buggy_race", tmp.path()));
    docker_ok(&["unpause", &c.name]);
    assert_failed_leaving_nothing(&out, &format!("container {NAME} is paused"), tmp.path());
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn missing_database_is_one_clear_line() {
    let c = Container::start();
    let tmp = tempfile::tempdir().unwrap();
    assert_failed_leaving_nothing(
        &run(backup(&c.name, "no_such_db", tmp.path())),
        "database \"no_such_db\" does not exist",
        tmp.path(),
    );
    assert!(!c.runs("pg_dump"), "{}", c.ps());
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn container_killed_in_the_middle_of_a_large_dump_leaves_nothing() {
    let (c, db) = container_with_db("backup_kill");
    c.fill_large(&db, 96);
    let (_tmp, dir) = backups_folder();
    let child = spawn_backup(&c.name, &db, &dir);
    wait_for_partial(&dir, 1 << 20);
    assert!(c.runs("pg_dump"), "{}", c.ps());
    docker_ok(&["kill", &c.name]);
    let out = child.wait_with_output().unwrap();
    assert_stopped_while_dumping(&out, &dir);
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn container_stopped_in_the_middle_of_a_dump_leaves_nothing() {
    // pg_dump waits for a lock, so the dump cannot end before docker's stop
    // timeout (1 s here), after which docker kills the container.
    let (c, db) = container_with_db("backup_stop");
    let lock = c.hold_lock(&db, "public.tasktexts");
    let (_tmp, dir) = backups_folder();
    let child = spawn_backup(&c.name, &db, &dir);
    c.wait_for_lock_waiter(&db, "public.tasktexts");
    docker_ok(&["stop", "--time", "1", &c.name]);
    let out = child.wait_with_output().unwrap();
    drop(lock);
    assert_stopped_while_dumping(&out, &dir);
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn docker_stop_lets_a_running_dump_finish_within_its_timeout() {
    // `docker stop` sends PostgreSQL SIGTERM, a "smart" shutdown: it waits
    // for connected clients, so a pg_dump that ends before docker's timeout
    // gives a complete backup, the container stopping after it.
    let c = Container::start();
    let db = c.create_db("backup_smart");
    load_fixture(&c, &db);
    c.fill_large(&db, 32);
    let live = c.texts_json(&db);
    let (_tmp, dir) = backups_folder();
    let child = spawn_backup(&c.name, &db, &dir);
    wait_for_partial(&dir, 1 << 20);
    docker_ok(&["stop", "--time", "120", &c.name]);
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
    assert_eq!(texts_json(&only_backup(&dir)), live);
    let running = docker_ok(&["inspect", "--format", "{{.State.Running}}", &c.name]);
    assert_eq!(running.trim(), "false");
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn sigterm_during_a_docker_backup_leaves_no_file_and_no_pg_dump() {
    signal_during_a_docker_backup(libc::SIGTERM, "SIGTERM", false);
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn ctrl_c_during_a_docker_backup_leaves_no_file_and_no_pg_dump() {
    signal_during_a_docker_backup(libc::SIGINT, "SIGINT", false);
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn sigterm_during_a_large_docker_dump_leaves_no_file_and_no_pg_dump() {
    signal_during_a_docker_backup(libc::SIGTERM, "SIGTERM", true);
}

/// Signals textrescue's process group (what a terminal's Ctrl-C does for
/// SIGINT; systemd's stop sends SIGTERM) while pg_dump runs in the
/// container: waiting for a lock (no output yet), or in the middle of a
/// large dump. Then no file is left, and no pg_dump runs in the container:
/// ending the `docker exec` client alone would leave it running there.
fn signal_during_a_docker_backup(signal: libc::c_int, name: &str, large: bool) {
    let (c, db) = container_with_db("backup_signal");
    let lock = if large {
        c.fill_large(&db, 96);
        None
    } else {
        Some(c.hold_lock(&db, "public.tasktexts"))
    };
    let (_tmp, dir) = backups_folder();
    let child = spawn_backup(&c.name, &db, &dir);
    if large {
        wait_for_partial(&dir, 1 << 20);
    } else {
        c.wait_for_lock_waiter(&db, "public.tasktexts");
    }
    assert!(c.runs("pg_dump"), "{}", c.ps());
    let started = Instant::now();
    // SAFETY: kill(2) on the process group of our own child.
    assert_eq!(
        unsafe { libc::kill(-(child.id() as libc::pid_t), signal) },
        0
    );
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_failed_leaving_nothing(&out, name, &dir);
    assert!(!c.runs("pg_dump"), "pg_dump left running:\n{}", c.ps());
    drop(lock);
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn the_seed_cron_script_against_the_same_container_is_read_by_texts_inspect_history() {
    // The race server's nightly script ([`seed_cron_script`]): `-t` gives
    // pg_dump a terminal, so the dump has CRLF line ends.
    let c = Container::start();
    load_fixture(&c, "buggy_race");
    let live = c.texts_json("buggy_race");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    fs::create_dir(&dir).unwrap();
    assert_ok(&seed_cron_script("buggy_race", &dir));
    let file = only_backup(&dir);
    assert!(
        gunzip(&file).windows(2).any(|w| w == b"\r\n"),
        "a dump through docker exec -t has CRLF"
    );

    assert_eq!(texts_json(&file), live);

    let out = textrescue(&["inspect", "--format", "json", file.to_str().unwrap()]);
    assert_ok(&out);
    let inspect: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let one = &inspect[0];
    assert_eq!(one["format"], "plain", "{one}");
    assert_eq!(one["compression"], "gzip", "{one}");
    assert_eq!(one["complete"], true, "{one}");
    assert_eq!(one["texts"], NASTY.len() + 1, "{one}");
    assert!(
        one["pg_dump_version"].as_str().unwrap().starts_with("15."),
        "{one}"
    );

    // textrescue's own backup beside it; history reads both.
    let mut cmd = backup(&c.name, "buggy_race", &dir);
    cmd.args(["--prefix", "buggy_race_bk_", "--quiet"]);
    assert_ok(&run(cmd));
    let out = textrescue(&["history", "--format", "json", dir.to_str().unwrap()]);
    assert_ok(&out);
    // Only the fixture's doubled texts are worth a word (not the backup's
    // lock file beside them).
    for line in text(&out.stderr).lines() {
        assert!(
            line.contains("student/task pairs have more than one text"),
            "{line}"
        );
    }
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = history.as_array().unwrap();
    // One entry per student and task (the fixture has several texts for
    // some; history follows the newest).
    let pairs: BTreeSet<(String, String)> = live
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["username"].to_string(), t["task"].to_string()))
        .collect();
    assert_eq!(entries.len(), pairs.len(), "{history}");
    for e in entries {
        let versions = e["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 2, "{e}");
        assert!(versions.iter().all(|v| v["present"] == true), "{e}");
        assert_eq!(
            versions[0]["sha256"], versions[1]["sha256"],
            "the same text in both: {e}"
        );
        assert_eq!(e["in_latest"], true, "{e}");
    }
    assert_eq!(
        entries[0]["versions"][0]["dump"].as_str().unwrap(),
        file.to_str().unwrap(),
        "the seed script's backup (a date-only name, of today) comes first"
    );
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn the_seed_cron_script_hides_a_failed_dump_that_textrescue_reports() {
    // What the seed script writes when pg_dump fails (here: no database):
    // a "backup" that is pg_dump's error message through the terminal.
    // textrescue reads it and says what it is; its own backup fails loudly.
    let c = Container::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let out = seed_cron_script("no_such_db", &dir);
    assert!(out.status.success(), "the pipe hides the failure");
    let file = only_backup(&dir);
    let out = textrescue(&["inspect", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.contains("holds an error message, not a dump") && first.contains("no_such_db"),
        "{err}"
    );
    let err = assert_failed(&run(backup(&c.name, "no_such_db", &dir)));
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(entries(&dir).len(), 1);
}
