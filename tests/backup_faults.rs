//! Faults during `textrescue backup` (issue 8): pg_dump killed midway, a
//! file-size limit and a full filesystem, SIGINT/SIGTERM to textrescue while
//! pg_dump runs and while the file is read back, a read-only DIR, a DIR that
//! is a file, a lock file that cannot be created. Every case must exit 1
//! with one line on stderr, leave no file under a backup's name and no
//! temporary file, and leave the earlier backups byte-identical.
//!
//! Needs the real PostgreSQL (tests/common/mod.rs). Cases that need root (a
//! tmpfs, a bind mount, `chattr +i`) are ignored when the tests were not
//! built as root (build.rs); as root, a step that cannot be taken fails.
use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Pg, TempDb, assert_failed, pg, text};

const LOCK_FILE: &str = ".textrescue-backup.lock";
const PARTIAL_PREFIX: &str = ".textrescue-partial-";
const PREFIX: &str = "buggy_race_bk_";

fn standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bin/pg_dump-standin")
}

/// A root-only step that failed although the test runs as root (build.rs
/// decided `is_root`): a failure, never a silent pass.
fn cannot(why: &str) -> ! {
    panic!("{why}")
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A small database: what the earlier backups are taken of.
fn small_db(pg: &Pg) -> TempDb {
    let db = pg.create_db("faults_small");
    db.load_schema_with_people();
    db.psql(&common::insert_text_sql(
        Some(7),
        2,
        2,
        "2024-03-01 14:22:11+00",
        None,
        "an earlier text",
    ));
    db
}

/// A database whose gzip-compressed dump is several hundred KiB (random
/// hex does not compress much).
fn big_db(pg: &Pg) -> TempDb {
    let db = pg.create_db("faults_big");
    db.load_schema_with_people();
    db.psql(
        "INSERT INTO public.tasktexts (created_at, user_id, task_id, text)
         SELECT now(), 2, 1, string_agg(md5(random()::text), '')
         FROM generate_series(1, 25000);",
    );
    db
}

/// `textrescue backup --dir DIR --prefix PREFIX` for `db`.
fn backup_args(db: &TempDb, dir: &Path) -> Vec<String> {
    vec![
        "backup".into(),
        "--dir".into(),
        dir.display().to_string(),
        "--prefix".into(),
        PREFIX.into(),
        "--dbname".into(),
        db.name().into(),
    ]
}

fn command(db: &TempDb, program: &str) -> Command {
    let mut c = db.command(program);
    c.env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .stdin(Stdio::null());
    c
}

fn backup(db: &TempDb, dir: &Path) -> Command {
    let mut c = command(db, env!("CARGO_BIN_EXE_textrescue"));
    c.args(backup_args(db, dir));
    c
}

/// Two earlier backups of `small` in DIR: one taken now, and a copy of it
/// under an older name.
fn earlier_backups(small: &TempDb, dir: &Path) {
    let out = backup(small, dir).arg("--quiet").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let names = snapshot(dir);
    assert_eq!(names.len(), 1, "{:?}", names.keys());
    let (_, bytes) = names.into_iter().next().unwrap();
    fs::write(dir.join(format!("{PREFIX}20240301-020000.sql.gz")), bytes).unwrap();
}

/// Every file in DIR but the lock file, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != LOCK_FILE)
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// DIR holds exactly what it held before: no new backup, no temporary file,
/// the earlier backups byte-identical.
fn assert_untouched(dir: &Path, before: &BTreeMap<String, Vec<u8>>) {
    let after = snapshot(dir);
    let names: Vec<&String> = after.keys().collect();
    assert!(
        !names.iter().any(|n| n.starts_with(PARTIAL_PREFIX)),
        "temporary file left: {names:?}"
    );
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    assert!(after == *before, "an earlier backup changed");
}

/// Sets up DIR with earlier backups; returns (tempdir, DIR, snapshot).
fn setup(pg: &Pg) -> (tempfile::TempDir, PathBuf, BTreeMap<String, Vec<u8>>) {
    let small = small_db(pg);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    earlier_backups(&small, &dir);
    let before = snapshot(&dir);
    assert_eq!(before.len(), 2);
    (tmp, dir, before)
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn pg_dump_killed_midway() {
    let pg = pg();
    let (_tmp, dir, before) = setup(&pg);
    let db = big_db(&pg);
    let mut c = backup(&db, &dir);
    c.arg("--pg-dump")
        .arg(standin())
        .env("STANDIN_MODE", "kill");
    let err = assert_failed(&c.output().unwrap());
    assert!(err.contains("killed by signal 9 (SIGKILL)"), "{err}");
    assert!(err.contains("no backup written"), "{err}");
    assert_untouched(&dir, &before);
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn file_size_limit() {
    let pg = pg();
    let (_tmp, dir, before) = setup(&pg);
    let db = big_db(&pg);
    // 64 KiB; without SIGXFSZ caught, textrescue would be killed (exit 153)
    // and leave its temporary file.
    let mut c = command(&db, "bash");
    c.arg("-c")
        .arg("ulimit -f 64 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_textrescue"))
        .args(backup_args(&db, &dir));
    let err = assert_failed(&c.output().unwrap());
    assert!(err.contains("File too large"), "{err}");
    assert!(err.contains("ulimit -f"), "{err}");
    assert!(err.contains("no backup written"), "{err}");
    assert_untouched(&dir, &before);
}

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn mount(args: &[&str], target: &Path) -> Mount {
    let out = Command::new("mount")
        .args(args)
        .arg(target)
        .output()
        .unwrap();
    if !out.status.success() {
        cannot(&format!(
            "mount {args:?} is not permitted here: {}",
            text(&out.stderr).trim()
        ));
    }
    Mount(target.to_path_buf())
}

#[test]
#[cfg_attr(not(all(has_postgres, is_root)), ignore = "needs PostgreSQL and root")]
fn filesystem_full() {
    let pg = pg();
    let small = small_db(&pg);
    let db = big_db(&pg);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tiny");
    fs::create_dir(&dir).unwrap();
    let _mount = mount(&["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs"], &dir);
    earlier_backups(&small, &dir);
    let before = snapshot(&dir);
    let err = assert_failed(&backup(&db, &dir).output().unwrap());
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("no backup written"), "{err}");
    assert_untouched(&dir, &before);
    // The space is free again: a small backup still works.
    let out = backup(&small, &dir).arg("--quiet").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
#[cfg_attr(not(all(has_postgres, is_root)), ignore = "needs PostgreSQL and root")]
fn read_only_bind_mount() {
    let pg = pg();
    let (tmp, dir, before) = setup(&pg);
    let db = small_db(&pg);
    let ro = tmp.path().join("ro");
    fs::create_dir(&ro).unwrap();
    let _bind = mount(&["--bind", "-o", "ro", &dir.display().to_string()], &ro);
    let err = assert_failed(&backup(&db, &ro).output().unwrap());
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(err.contains("no backup written"), "{err}");
    assert_untouched(&ro, &before);
    assert_untouched(&dir, &before);
}

/// Removes the immutable attribute on drop.
struct Immutable(PathBuf);

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
#[cfg_attr(not(all(has_postgres, is_root)), ignore = "needs PostgreSQL and root")]
fn immutable_directory() {
    let pg = pg();
    let (_tmp, dir, before) = setup(&pg);
    let db = small_db(&pg);
    match Command::new("chattr").arg("+i").arg(&dir).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => cannot(&format!("chattr +i failed: {}", text(&o.stderr).trim())),
        Err(e) => cannot(&format!("cannot run chattr: {e}")),
    }
    let _guard = Immutable(dir.clone());
    // The lock file exists (and is not itself immutable): the temporary file
    // is what cannot be created.
    let err = assert_failed(&backup(&db, &dir).output().unwrap());
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(err.contains("no backup written"), "{err}");
    assert_untouched(&dir, &before);
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn directory_not_writable_for_the_user() {
    let pg = pg();
    let (tmp, dir, before) = setup(&pg);
    let db = small_db(&pg);
    let mut c;
    if is_root() {
        // Root writes through any mode bits: run as nobody instead.
        if Command::new("setpriv").arg("--version").output().is_err() {
            cannot("no setpriv to run textrescue as nobody");
        }
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        c = command(&db, "setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_textrescue"),
        ]);
    } else {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
        c = command(&db, env!("CARGO_BIN_EXE_textrescue"));
    }
    c.args(backup_args(&db, &dir));
    let out = c.output().unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let err = assert_failed(&out);
    assert!(err.contains("Permission denied"), "{err}");
    assert!(err.contains("no backup written"), "{err}");
    assert_untouched(&dir, &before);
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn dir_is_a_file() {
    let pg = pg();
    let db = small_db(&pg);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("backups");
    fs::write(&file, b"not a directory").unwrap();
    let err = assert_failed(&backup(&db, &file).output().unwrap());
    assert!(err.contains("not a directory"), "{err}");
    let err = assert_failed(&backup(&db, &file.join("sub")).output().unwrap());
    assert!(err.to_lowercase().contains("not a directory"), "{err}");
    assert_eq!(fs::read(&file).unwrap(), b"not a directory");
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn lock_file_cannot_be_created() {
    let pg = pg();
    let (tmp, dir, before) = setup(&pg);
    let db = small_db(&pg);
    // A directory under the lock file's name.
    fs::remove_file(dir.join(LOCK_FILE)).unwrap();
    fs::create_dir(dir.join(LOCK_FILE)).unwrap();
    let err = assert_failed(&backup(&db, &dir).output().unwrap());
    assert!(err.contains("cannot open the lock file"), "{err}");
    assert!(err.contains("Is a directory"), "{err}");
    fs::remove_dir(dir.join(LOCK_FILE)).unwrap();
    // A dangling symlink into a directory that does not exist.
    std::os::unix::fs::symlink("/nonexistent/textrescue/lock", dir.join(LOCK_FILE)).unwrap();
    let err = assert_failed(&backup(&db, &dir).output().unwrap());
    assert!(err.contains("cannot open the lock file"), "{err}");
    assert!(err.contains("no backup written"), "{err}");
    fs::remove_file(dir.join(LOCK_FILE)).unwrap();
    // A symlink to a file of someone else's: never followed, so never
    // truncated or written.
    let victim = tmp.path().join("victim");
    fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join(LOCK_FILE)).unwrap();
    let err = assert_failed(&backup(&db, &dir).output().unwrap());
    assert!(err.contains("cannot open the lock file"), "{err}");
    assert!(err.contains("no backup written"), "{err}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    fs::remove_file(dir.join(LOCK_FILE)).unwrap();
    assert_untouched(&dir, &before);
}

fn wait_for(what: &str, child: &mut Child, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("textrescue ended ({status}) before {what}");
        }
        assert!(Instant::now() < deadline, "never saw {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Is process `pid` reading a temporary backup file (open read-only)?
fn reading_partial(pid: u32) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        let target = fs::read_link(fd.path()).unwrap_or_default();
        let is_partial = target
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(PARTIAL_PREFIX));
        let info = fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok());
        is_partial && flags.is_some_and(|f| f & libc::O_ACCMODE as u32 == libc::O_RDONLY as u32)
    })
}

/// Sends `signal` to the running backup, expects a prompt, clean failure.
fn interrupt(
    mut child: Child,
    signal: libc::c_int,
    name: &str,
    dir: &Path,
    before: &BTreeMap<String, Vec<u8>>,
    within: Duration,
) {
    let sent = Instant::now();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
    let mut out = String::new();
    let mut err = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(sent.elapsed() < within, "took {:?} to stop", sent.elapsed());
    let err = assert_failed(&Output {
        status,
        stdout: out.into_bytes(),
        stderr: err.into_bytes(),
    });
    assert!(err.contains(name), "{err}");
    assert!(err.contains("no backup written"), "{err}");
    assert_untouched(dir, before);
}

fn signal_while_pg_dump_runs(signal: libc::c_int, name: &str) {
    let pg = pg();
    let (tmp, dir, before) = setup(&pg);
    let db = small_db(&pg);
    let log = tmp.path().join("standin.log");
    let mut c = backup(&db, &dir);
    c.arg("--pg-dump")
        .arg(standin())
        .env("STANDIN_MODE", "slow")
        .env("STANDIN_LOG", &log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    wait_for("pg_dump writing", &mut child, || {
        fs::read_to_string(&log).is_ok_and(|l| l.contains("pid: "))
            && snapshot(&dir).keys().any(|n| n.starts_with(PARTIAL_PREFIX))
    });
    std::thread::sleep(Duration::from_millis(100));
    interrupt(child, signal, name, &dir, &before, Duration::from_secs(5));
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigint_while_pg_dump_runs() {
    signal_while_pg_dump_runs(libc::SIGINT, "SIGINT");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigterm_while_pg_dump_runs() {
    signal_while_pg_dump_runs(libc::SIGTERM, "SIGTERM");
}

/// A complete plain dump of `db` with `rows` more texts: big enough that
/// reading it back takes a while.
fn inflated_dump(db: &TempDb, rows: usize) -> Vec<u8> {
    let dump = text(&db.pg_dump(&[]));
    let copy = dump
        .find("COPY public.tasktexts ")
        .expect("the COPY of tasktexts");
    let line_end = copy + dump[copy..].find('\n').unwrap() + 1;
    let mut out = Vec::with_capacity(dump.len() + rows * 80);
    out.extend_from_slice(&dump.as_bytes()[..line_end]);
    // Columns as in fixtures/schema.sql's tasktexts, ids far from the real ones.
    let columns = &dump[copy..line_end];
    assert!(
        columns.contains("(id, created_at, modified_at, user_id, task_id, text)"),
        "{columns}"
    );
    for i in 0..rows {
        writeln!(
            out,
            "{}\t2024-03-01 14:22:11+00\t\\N\t2\t2\ttext number {i} of many, read back slowly",
            1_000_000 + i
        )
        .unwrap();
    }
    out.extend_from_slice(&dump.as_bytes()[line_end..]);
    out
}

fn signal_while_reading_back(signal: libc::c_int, name: &str) {
    let pg = pg();
    let (tmp, dir, before) = setup(&pg);
    let db = small_db(&pg);
    let dump_file = tmp.path().join("inflated.sql");
    fs::write(&dump_file, inflated_dump(&db, 1_500_000)).unwrap();
    let mut c = backup(&db, &dir);
    c.arg("--pg-dump")
        .arg(standin())
        .env("STANDIN_MODE", "cat")
        .env("STANDIN_FILE", &dump_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let pid = child.id();
    wait_for("the read-back", &mut child, || reading_partial(pid));
    std::thread::sleep(Duration::from_millis(100));
    // Reading this dump back takes seconds; the signal must not wait for it.
    interrupt(
        child,
        signal,
        name,
        &dir,
        &before,
        Duration::from_millis(1500),
    );
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigint_while_reading_back() {
    signal_while_reading_back(libc::SIGINT, "SIGINT");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigterm_while_reading_back() {
    signal_while_reading_back(libc::SIGTERM, "SIGTERM");
}
