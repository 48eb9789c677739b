//! Faults during `textrescue restore` (issue 15), against the real
//! PostgreSQL: a student saving the same text while the restore runs, a
//! signal at each step, a full disk for the safety backup. Before the commit
//! every one must leave the live database exactly as it was, say which step
//! failed and exit 1.
//!
//! The moment of a fault is made exact with a stand-in psql (`--psql`): a
//! script that counts its runs (1 reads the live texts, 2 the plan, 3 the
//! restore, 4 the read-back) and, at the chosen run, does something first
//! (a second psql session writes, or textrescue gets a signal), then execs
//! the real psql.

use crate::common;
use crate::restore::{
    NIGHT1, NIGHT2, assert_step_failed, backups_folder, files, night_db, restore, row, run,
    run_undo, state,
};

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TempDb, assert_ok, fixture, text};
use tempfile::TempDir;

/// A psql that, on its `at`-th run, first runs `action` with sh, then is
/// the real psql.
fn psql_doing(dir: &Path, at: u32, action: &str) -> PathBuf {
    psql_doing_at(dir, &[(at, action)])
}

/// A psql that, on each run named in `actions`, first runs its action with
/// sh, then is the real psql.
fn psql_doing_at(dir: &Path, actions: &[(u32, &str)]) -> PathBuf {
    let path = dir.join("psql-standin");
    let count = dir.join("psql-runs");
    let cases: String = actions
        .iter()
        .map(|(at, action)| format!("  {at})\n{action}\n  ;;\n"))
        .collect();
    fs::write(
        &path,
        format!(
            "#!/bin/sh\n\
             n=$(( $(cat '{count}' 2>/dev/null || echo 0) + 1 ))\n\
             echo $n > '{count}'\n\
             case $n in\n{cases}esac\n\
             exec psql \"$@\"\n",
            count = count.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A second psql session, as the server saving a text: `sql` run and committed.
fn writer(sql: &str) -> String {
    format!(
        "psql -X -q -v ON_ERROR_STOP=1 -c \"{}\" >&2",
        sql.replace('"', "\\\"")
    )
}

/// alice saves a new 0-ENV text (the one being restored) after the plan
/// said "restore" and before the restore's transaction: the restore stops
/// (it would otherwise skip or overwrite her save unseen), nothing of it is
/// committed, and her save is there.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_text_saved_between_plan_and_restore_stops_it() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let (tmp, dir) = backups_folder();
    let psql = psql_doing(
        tmp.path(),
        3,
        &writer(
            "INSERT INTO public.tasktexts (created_at, user_id, task_id, text) \
             SELECT now(), 2, id, 'saved while the restore ran' FROM public.tasks \
             WHERE phase = 0 AND lower(name) = 'env'",
        ),
    );
    let mut c = restore(&db, &dir, &["--user", "alice", "--task", "0-ENV", "--yes"]);
    c.arg("--psql")
        .arg(&psql)
        .args(["--on-conflict", "overwrite"]);
    let err = assert_step_failed(&run(c), "step 5 of 6 (restore) failed");
    assert!(err.contains("nothing was committed"), "{err}");
    assert!(
        err.contains("alice 0-ENV (backup id 104) changed in the live database since the plan: a live text id"),
        "{err}"
    );
    assert_eq!(row(&db, 104), serde_json::json!([]));
    assert_eq!(
        db.psql(
            "SELECT text FROM public.tasktexts WHERE user_id = 2 AND task_id = \
             (SELECT id FROM public.tasks WHERE phase = 0 AND lower(name) = 'env')"
        ),
        "saved while the restore ran"
    );
}

/// `restore` of alice's 1-EDIT from night 1 over the live one, through
/// `psql`, the safety backup in `safety_dir`.
fn overwrite_alice_1_edit(db: &TempDb, safety_dir: &Path, psql: &Path) -> Command {
    let backup = fixture(&format!("nights/{NIGHT1}"));
    let mut c = restore(
        db,
        &backup,
        &[
            "--user",
            "alice",
            "--task",
            "1-EDIT",
            "--on-conflict",
            "overwrite",
            "--yes",
            "--safety-dir",
            safety_dir.to_str().unwrap(),
        ],
    );
    c.arg("--psql").arg(psql);
    c
}

/// The plan said "overwrite live text 102"; alice saves 102 again before
/// the transaction: her save is kept, the restore stops.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_live_text_changed_after_the_plan_is_not_overwritten() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let tmp = TempDir::new().unwrap();
    let psql = psql_doing(
        tmp.path(),
        3,
        &writer("UPDATE public.tasktexts SET text = 'her newest save' WHERE id = 102"),
    );
    let c = overwrite_alice_1_edit(&db, tmp.path(), &psql);
    let err = assert_step_failed(&run(c), "step 5 of 6 (restore) failed");
    assert!(err.contains("the live text id 102 was changed"), "{err}");
    assert_eq!(
        db.psql("SELECT text FROM public.tasktexts WHERE id = 102"),
        "her newest save"
    );
}

/// SIGINT to textrescue while psql runs at step `at` (1 choose, 3 plan,
/// 5 restore): exit 1 naming the step and the signal, nothing changed.
fn sigint_at_psql_run(run_no: u32, step: &str) {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let (tmp, dir) = backups_folder();
    let before = state(&db);
    let psql = psql_doing(tmp.path(), run_no, "kill -INT $PPID; sleep 0.2");
    let mut c = restore(&db, &dir, &["--user", "alice", "--task", "0-ENV", "--yes"]);
    c.arg("--psql").arg(&psql);
    let err = assert_step_failed(&run(c), step);
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    assert_eq!(state(&db), before);
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigint_while_choosing_changes_nothing() {
    sigint_at_psql_run(
        1,
        "step 1 of 6 (choosing the texts) failed; nothing was done",
    );
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigint_during_the_plan_changes_nothing() {
    sigint_at_psql_run(
        2,
        "step 3 of 6 (plan) failed; the live database is unchanged",
    );
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigint_during_the_restore_before_commit_changes_nothing() {
    sigint_at_psql_run(3, "step 5 of 6 (restore) failed; nothing was committed");
}

/// Once COMMIT is sent, a signal no longer stops the run: it reads the
/// rows back and reports, exit 0.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigint_after_the_commit_lets_the_run_finish() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let (tmp, dir) = backups_folder();
    let psql = psql_doing(tmp.path(), 4, "kill -INT $PPID; sleep 0.2");
    let mut c = restore(&db, &dir, &["--user", "alice", "--task", "0-ENV", "--yes"]);
    c.arg("--psql").arg(&psql);
    let out = run(c);
    assert_ok(&out);
    assert!(
        text(&out.stdout).contains("verified: 1 text"),
        "{}",
        text(&out.stdout)
    );
}

/// SIGINT while the safety backup's pg_dump runs: the backup is not
/// written, nothing else happens.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigint_during_the_safety_backup_changes_nothing() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let (tmp, dir) = backups_folder();
    let before = state(&db);
    let names = files(&dir);
    let log = tmp.path().join("standin.log");
    let mut c = restore(&db, &dir, &["--user", "alice", "--task", "0-ENV", "--yes"]);
    c.arg("--pg-dump")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bin/pg_dump-standin"))
        .env("STANDIN_MODE", "slow")
        .env("STANDIN_LOG", &log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fs::read_to_string(&log).is_ok_and(|l| l.contains("pid: ")) {
        assert!(Instant::now() < deadline, "pg_dump never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: kill(2) on our own child.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("step 2 of 6 (safety backup) failed"), "{err}");
    assert!(err.contains("SIGINT"), "{err}");
    assert_eq!(files(&dir), names);
    assert_eq!(state(&db), before);
}

/// On a terminal: the question, answered with Enter (no), Ctrl-C, or y.
fn on_a_terminal(db: &crate::common::TempDb, dir: &Path, answer: &str) -> (Option<i32>, String) {
    // A small pty driver: textrescue's stdin and stdout on a terminal; at
    // the question, `answer` is typed ("INT" sends SIGINT instead).
    let driver = r#"
import os, pty, select, signal, subprocess, sys, time
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[2:], stdin=slave, stdout=slave, stderr=slave)
os.close(slave)
seen = b""
def give_up(why):
    # Said on stdout with what the terminal showed; no answer is typed.
    p.kill()
    p.wait()
    sys.stdout.buffer.write(seen + b"\n[pty driver: " + why + b"]\n")
    sys.exit(99)
# The question, however long the steps before it take on a loaded machine
# (the output comes in pieces: a piece may end inside "[y/N]").
deadline = time.monotonic() + 120
while b"[y/N]" not in seen:
    left = deadline - time.monotonic()
    if left <= 0:
        give_up(b"no [y/N] question within 120 s")
    if not select.select([master], [], [], left)[0]:
        continue
    try:
        data = os.read(master, 65536)
    except OSError:
        data = b""
    if not data:
        give_up(b"the terminal closed before the question")
    seen += data
if sys.argv[1] == "INT":
    p.send_signal(signal.SIGINT)
else:
    os.write(master, sys.argv[1].encode() + b"\n")
# Everything to the end: the terminal closes once textrescue has exited.
while True:
    try:
        data = os.read(master, 65536)
    except OSError:
        break
    if not data:
        break
    seen += data
sys.stdout.buffer.write(seen)
sys.exit(p.wait())
"#;
    let mut c = db.command("python3");
    c.env_remove("PGPASSWORD")
        .env("TZ", "UTC")
        .args([
            "-c",
            driver,
            answer,
            env!("CARGO_BIN_EXE_textrescue"),
            "restore",
        ])
        .arg(dir)
        .args(["--user", "alice", "--task", "0-ENV", "--dbname", db.name()])
        // Safety backups named like the nightly ones, as on a race server
        // (database buggy_race): they join the folder's series.
        .args(["--prefix", "buggy_race_bk_"])
        .stdin(Stdio::null());
    let out = c.output().unwrap();
    (out.status.code(), text(&out.stdout))
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn on_a_terminal_the_question_defaults_to_no() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let (_tmp, dir) = backups_folder();
    let before = state(&db);
    let (code, said) = on_a_terminal(&db, &dir, "");
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("Restore as planned? [y/N]"), "{said}");
    assert!(said.contains("step 4 of 6 (confirm) failed"), "{said}");
    assert!(said.contains("not confirmed"), "{said}");
    assert_eq!(state(&db), before);
    let (code, said) = on_a_terminal(&db, &dir, "INT");
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("interrupted by SIGINT"), "{said}");
    assert_eq!(state(&db), before);
    let (code, said) = on_a_terminal(&db, &dir, "y");
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("verified: 1 text"), "{said}");
    // Each run that got as far as the question left its safety backup.
    assert_eq!(files(&dir).len(), 3 + 3, "{:?}", files(&dir));
}

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The safety backup does not fit on the disk: nothing else happens.
#[test]
#[cfg_attr(not(all(has_postgres, is_root)), ignore = "needs PostgreSQL and root")]
fn a_full_disk_for_the_safety_backup_stops_everything() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    db.psql(
        "INSERT INTO public.tasktexts (created_at, user_id, task_id, text)
         SELECT now(), 3, 1, string_agg(md5(random()::text), '')
         FROM generate_series(1, 25000);",
    );
    let (tmp, dir) = backups_folder();
    let tiny = tmp.path().join("tiny");
    fs::create_dir(&tiny).unwrap();
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs"])
        .arg(&tiny)
        .output()
        .unwrap();
    assert!(out.status.success(), "mount: {}", text(&out.stderr));
    let _mount = Mount(tiny.clone());
    let before = state(&db);
    let safety_dir = tiny.to_str().unwrap();
    let out = run(restore(
        &db,
        &dir,
        &[
            "--user",
            "alice",
            "--task",
            "0-ENV",
            "--yes",
            "--safety-dir",
            safety_dir,
        ],
    ));
    let err = assert_step_failed(
        &out,
        "step 2 of 6 (safety backup) failed; nothing else was done",
    );
    assert!(err.contains("No space left on device"), "{err}");
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    assert_eq!(files(&tiny), Vec::<String>::new());
    assert_eq!(state(&db), before);
    let _ = std::io::stdout().flush();
}

/// alice saves 1-EDIT while the restore's transaction runs (her save waits
/// for the restore's lock, or comes before it): whichever way it falls,
/// her save is in the live database at the end, and the restore either
/// stopped before changing anything or reports what it read back. Never a
/// silent exit 0 with her save gone.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_text_saved_during_the_restore_is_not_lost() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let tmp = TempDir::new().unwrap();
    let done = tmp.path().join("writer-done");
    let psql = psql_doing(
        tmp.path(),
        3,
        &format!(
            "( sleep 0.05; {} ; touch '{}' ) &",
            writer("UPDATE public.tasktexts SET text = 'saved during the restore' WHERE id = 102"),
            done.display()
        ),
    );
    let c = overwrite_alice_1_edit(&db, tmp.path(), &psql);
    let out = run(c);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done.exists() {
        assert!(Instant::now() < deadline, "the writer never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        db.psql("SELECT text FROM public.tasktexts WHERE id = 102"),
        "saved during the restore"
    );
    let err = text(&out.stderr);
    match out.status.code() {
        // Her save came after the read-back: it is the newest text.
        Some(0) => assert!(text(&out.stdout).contains("verified: 1 text")),
        Some(1) => assert!(
            err.contains("changed in the live database since the plan")
                || err.contains("step 6 of 6 (verify) failed: the restore was committed, but the live database differs"),
            "{err}"
        ),
        other => panic!("exit {other:?}: {err}"),
    }
}

/// Someone changes the restored text between the commit and the read-back:
/// the read-back differs, so the run fails (exit 1), says the restore was
/// committed and what differs, and still gives the undo command.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_read_back_that_differs_fails_and_gives_the_undo() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let (tmp, dir) = backups_folder();
    let psql = psql_doing(
        tmp.path(),
        4,
        &writer("UPDATE public.tasktexts SET text = 'changed after the commit' WHERE id = 104"),
    );
    let mut c = restore(&db, &dir, &["--user", "alice", "--task", "0-ENV", "--yes"]);
    c.arg("--psql").arg(&psql);
    let out = run(c);
    let err = assert_step_failed(
        &out,
        "step 6 of 6 (verify) failed: the restore was committed, but the live database differs",
    );
    assert!(
        err.contains("alice 0-ENV: live id 104 differs from the backup in text"),
        "{err}"
    );
    assert!(err.contains("to undo it: textrescue restore "), "{err}");
    assert!(
        text(&out.stdout).contains("to undo it: "),
        "{}",
        text(&out.stdout)
    );
}

/// The restore's psql (its third run) loses its connection around COMMIT:
/// `mode` as tests/bin/psql-unanswered takes it; `later` are actions for
/// the runs after it (4: the new connection that waits for the restore's
/// transaction to end, 5: the read-back).
fn commit_unanswered(
    db: &TempDb,
    dir: &Path,
    tmp: &Path,
    mode: &str,
    later: &[(u32, &str)],
) -> std::process::Output {
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bin/psql-unanswered");
    let lose = format!("exec '{}' \"$@\"", standin.display());
    let mut actions = vec![(3, lose.as_str())];
    actions.extend_from_slice(later);
    let psql = psql_doing_at(tmp, &actions);
    let mut c = restore(db, dir, &["--user", "alice", "--task", "0-ENV", "--yes"]);
    c.arg("--psql").arg(&psql).env("STANDIN_UNANSWERED", mode);
    run(c)
}

/// The server commits, the answer is lost: the run says it does not know,
/// reads the rows back on a new connection, finds the restore in, and ends
/// as a restore does (exit 0, verified, the undo command, which works).
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_commit_whose_answer_is_lost_is_read_back_and_found_in() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let night1 = night_db(&pg, NIGHT1);
    let (tmp, dir) = backups_folder();
    let before = state(&db);
    let out = commit_unanswered(&db, &dir, tmp.path(), "after-commit", &[]);
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(
        said.contains("COMMIT was sent, but its answer never came (psql failed: psql: error: server closed the connection unexpectedly)"),
        "{said}"
    );
    assert!(
        said.contains("the restore was committed, only the COMMIT's answer was lost"),
        "{said}"
    );
    assert!(
        said.contains("restored 1, overwrote 0, skipped 0: committed"),
        "{said}"
    );
    assert!(said.contains("verified: 1 text read back"), "{said}");
    assert!(!said.contains("nothing was committed"), "{said}");
    assert_eq!(row(&db, 104), row(&night1, 104));
    assert_ok(&run_undo(&db, &said));
    assert_eq!(state(&db).0, before.0);
}

/// The connection is lost while COMMIT is on its way: the server rolls the
/// transaction back. The read-back finds every text as before: "nothing
/// was committed", exit 1, and no undo command (there is nothing to undo).
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_commit_that_never_arrived_is_read_back_and_found_out() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let (tmp, dir) = backups_folder();
    let before = state(&db);
    let out = commit_unanswered(&db, &dir, tmp.path(), "before-commit", &[]);
    let err = assert_step_failed(
        &out,
        "step 5 of 6 (restore) failed; COMMIT was sent but its answer never came",
    );
    assert!(
        err.contains("read back on a new connection, every text is as before the restore: nothing was committed, the live database is unchanged; the safety backup "),
        "{err}"
    );
    assert!(
        !text(&out.stdout).contains("to undo it"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(state(&db), before);
}

/// The answer is lost and the new connection cannot be had either (the
/// server is gone, say): nobody can tell whether the restore is in, so the
/// run fails and gives the undo command, which works once the database is
/// back (here the restore was in).
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_lost_answer_that_cannot_be_read_back_gives_the_undo() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let (tmp, dir) = backups_folder();
    let before = state(&db);
    let gone = "echo 'psql: error: connection to server failed: Connection refused' >&2; exit 2";
    let out = commit_unanswered(&db, &dir, tmp.path(), "after-commit", &[(4, gone)]);
    let err = assert_step_failed(
        &out,
        "step 5 of 6 (restore) failed: COMMIT was sent but its answer never came",
    );
    assert!(
        err.contains("whether the restore is in cannot be told"),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert!(err.contains("to undo it: textrescue restore "), "{err}");
    let said = text(&out.stdout);
    assert!(said.contains("to undo it: "), "{said}");
    assert_ok(&run_undo(&db, &said));
    assert_eq!(state(&db).0, before.0);
}

/// The answer is lost and, before the read-back, someone else changes the
/// restored text: it is neither the backup's nor what was there before.
/// The run says what the live database holds, fails, gives the undo.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_lost_answer_and_a_text_changed_since_is_reported_as_found() {
    let pg = common::pg();
    let db = night_db(&pg, NIGHT2);
    let (tmp, dir) = backups_folder();
    let change = writer("UPDATE public.tasktexts SET text = 'changed meanwhile' WHERE id = 104");
    let out = commit_unanswered(&db, &dir, tmp.path(), "after-commit", &[(4, &change)]);
    let err = assert_step_failed(
        &out,
        "step 5 of 6 (restore) failed: COMMIT was sent but its answer never came",
    );
    assert!(
        err.contains("neither all as the restore leaves them nor all as before"),
        "{err}"
    );
    let said = text(&out.stdout);
    assert!(
        said.contains("the live database now holds:\n  alice 0-ENV: live id 104 differs from the backup in text (17 bytes, the backup's 39)"),
        "{said}"
    );
    assert!(said.contains("to undo it: "), "{said}");
}
