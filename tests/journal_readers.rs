//! The readers of a backups folder that use the journal of `watch`, against
//! the real PostgreSQL: a folder with a backup from before the watch, the
//! journal of a running watch while a writer saves, deletes and saves again,
//! a backup taken honestly while it ran, and one crafted to disagree (a real
//! pg_dump of later texts, named with a time the journal covers).
//! `history` puts the journal's versions among the backups' and warns of
//! the crafted backup only; `texts --at` warns of the crafted backup where
//! it is the newest the journal covers, and of the honest one never;
//! `diff --from-time/--to-time` shows the writer's
//! change (and the same warning for a side the journal answers); `restore
//! --at` warns the same way, puts back the bytes that stood then, and its
//! undo command undoes it. Without a server at build time each test is ignored
//! (build.rs).

use crate::common;
use crate::restore::{restore, run_undo};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use common::{TempDb, assert_failed, assert_ok, insert_text_sql, sql_text, text};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use textrescue::journal::JournalReader;

const V1: &str = "first draft\r\n";
const V2: &str = "second – draft \u{10ffff}\n\\.\n";
const V3: &str = "third draft, $1 'quoted'";
const BOB: &str = "bob's only text\t";

/// `textrescue COMMAND --dir DIR --dbname DB` (`backup`, `watch`), with no
/// password or URL from the environment. Shared with tests/texts_at.rs, as
/// the two helpers below.
pub(crate) fn textrescue(db: &TempDb, command: &str, dir: &Path) -> Command {
    let mut c = db.command(env!("CARGO_BIN_EXE_textrescue"));
    c.env_remove("PGPASSWORD")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .arg(command)
        .arg("--dir")
        .arg(dir)
        .args(["--dbname", db.name()])
        .stdin(Stdio::null());
    c
}

/// `textrescue ARGS...`, standard input closed.
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The `ok` polls in the journal of `dir`.
pub(crate) fn ok_polls(dir: &Path) -> u64 {
    match JournalReader::open(dir).unwrap() {
        Some(reader) => reader
            .coverage()
            .unwrap()
            .spans
            .iter()
            .map(|s| s.polls)
            .sum(),
        None => 0,
    }
}

/// Waits until the journal has `more` ok polls more than now.
pub(crate) fn wait_for_polls(dir: &Path, more: u64) {
    let from = ok_polls(dir);
    let started = Instant::now();
    while ok_polls(dir) < from + more {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "watch does not poll"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running `watch --dir DIR --every 1s` of `db`.
pub(crate) fn start_watch(db: &TempDb, dir: &Path) -> Child {
    textrescue(db, "watch", dir)
        .args(["--every", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Ends a watch with SIGTERM, as systemd does; it must end cleanly.
pub(crate) fn stop_watch(running: Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(running.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = running.wait_with_output().unwrap();
    assert!(out.status.success(), "watch ended: {}", text(&out.stderr));
}

fn sha(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The backups in `dir` (not textrescue's own files).
fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
        .collect();
    found.sort();
    found
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_string()
}

/// alice's 3-MULTI text in the live database, byte for byte.
fn alices(db: &TempDb) -> String {
    db.cell_exact("SELECT text FROM public.tasktexts WHERE user_id = 2 AND task_id = 3")
}

/// What the folder was made of.
struct Folder {
    _tmp: TempDir,
    dir: PathBuf,
    /// Times: before the watch; alice's v1, v2, v3 standing.
    before: DateTime<Utc>,
    t1: DateTime<Utc>,
    t2: DateTime<Utc>,
    t3: DateTime<Utc>,
    /// The backup taken while watch ran, and the crafted one.
    honest: String,
    crafted: String,
}

fn make_folder(db: &TempDb) -> Folder {
    db.load_schema_with_people();
    db.psql(&format!(
        "{}{}",
        insert_text_sql(None, 2, 3, "2024-03-01 14:22:11.123456+00", None, V1),
        insert_text_sql(None, 3, 2, "2024-03-01 15:00:00+00", None, BOB),
    ));
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    assert_ok(&textrescue(db, "backup", &dir).output().unwrap());
    let before = Utc::now();
    std::thread::sleep(Duration::from_millis(1100));

    let running = start_watch(db, &dir);
    wait_for_polls(&dir, 2);
    let t1 = Utc::now();
    std::thread::sleep(Duration::from_millis(1100));
    let old = backups(&dir);
    assert_ok(&textrescue(db, "backup", &dir).output().unwrap());
    let honest = backups(&dir)
        .into_iter()
        .find(|b| !old.contains(b))
        .expect("the new backup");
    wait_for_polls(&dir, 1);
    db.psql(&format!(
        "UPDATE public.tasktexts SET text = {}, modified_at = now() WHERE user_id = 2",
        sql_text(V2)
    ));
    wait_for_polls(&dir, 2);
    let t2 = Utc::now();
    // The crafted backup's moment (t1 and 5 s after) is long covered.
    wait_for_polls(&dir, 6);
    db.psql(&format!(
        "UPDATE public.tasktexts SET text = {}, modified_at = now() WHERE user_id = 2",
        sql_text(V3)
    ));
    wait_for_polls(&dir, 2);
    let t3 = Utc::now();
    db.psql("DELETE FROM public.tasktexts WHERE user_id = 3");
    wait_for_polls(&dir, 2);
    stop_watch(running);

    // A real pg_dump of the texts now (alice's v3, bob's gone), named as if
    // taken at t1, when the journal saw alice's v1 and bob's text.
    let crafted = format!("{}_bk_{}.sql", db.name(), t1.format("%Y%m%d-%H%M%S"));
    std::fs::write(dir.join(&crafted), db.pg_dump(&[])).unwrap();
    Folder {
        _tmp: tmp,
        dir,
        before,
        t1,
        t2,
        t3,
        honest: name(&honest),
        crafted,
    }
}

fn warnings(out: &Output) -> Vec<String> {
    text(&out.stderr)
        .lines()
        .filter(|l| l.contains("disagree"))
        .map(String::from)
        .collect()
}

/// The crafted backup's two warnings, each holding every one of `each`:
/// alice's text is not the journal's version, bob's text it lacks.
fn assert_crafted_warnings(out: &Output, each: &[&str]) {
    let said = warnings(out);
    assert_eq!(said.len(), 2, "{}", text(&out.stderr));
    assert!(
        said.iter().all(|w| each.iter().all(|e| w.contains(e))),
        "{each:?} not in each of {said:?}"
    );
    assert!(
        said.iter()
            .any(|w| w.contains("alice 3-MULTI") && w.contains("is not the journal's version")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|w| w.contains("bob 1-EDIT") && w.contains("lacks the text")),
        "{said:?}"
    );
}

/// `textrescue texts DIR --at AT ARGS...`, which must succeed.
fn texts_at(dir: &str, at: DateTime<Utc>, args: &[&str]) -> Output {
    let out = run(&[&["texts", dir, "--at", &rfc3339(at)], args].concat());
    assert_ok(&out);
    out
}

/// `textrescue diff DIR --from-time FROM --to-time TO ARGS... --format json`,
/// which must succeed: the diff, and what it said on stderr.
fn diff_between(
    dir: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    args: &[&str],
) -> (Value, String) {
    let times = ["--from-time", &rfc3339(from), "--to-time", &rfc3339(to)];
    let out = run(&[&["diff", dir], &times[..], args, &["--format", "json"]].concat());
    assert_ok(&out);
    (
        serde_json::from_slice(&out.stdout).unwrap(),
        text(&out.stderr),
    )
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn history_texts_diff_and_restore_read_the_journal() {
    let db = common::pg().create_db("trjreaders");
    let f = make_folder(&db);
    let dir = f.dir.to_str().unwrap();

    // history: the journal's versions among the backups', by time.
    let out = run(&["history", dir, "--format", "json"]);
    assert_ok(&out);
    assert_crafted_warnings(&out, &[&f.crafted]);
    assert!(!text(&out.stderr).contains(&f.honest));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |user: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["username"] == user)
            .unwrap_or_else(|| panic!("no {user} in {rows:#}"))
            .clone()
    };
    let alice = row("alice");
    let versions = alice["versions"].as_array().unwrap();
    let from_journal: Vec<&Value> = versions
        .iter()
        .filter(|v| v["source"] == "journal")
        .collect();
    assert_eq!(
        from_journal
            .iter()
            .map(|v| v["sha256"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [sha(V1), sha(V2), sha(V3)],
        "{alice:#}"
    );
    for v in &from_journal {
        assert!(v["first_seen"].is_string() && v["last_seen"].is_string());
        assert_eq!(v["present"], true);
    }
    assert_eq!(from_journal[1]["length"], V2.chars().count());
    let ats: Vec<&str> = versions.iter().map(|v| v["at"].as_str().unwrap()).collect();
    assert!(ats.is_sorted(), "{ats:?}");
    let place = |wanted: &dyn Fn(&Value) -> bool| versions.iter().position(wanted).unwrap();
    let honest = place(&|v| v["dump"].as_str().unwrap().ends_with(&f.honest));
    assert!(place(&|v| v["sha256"] == sha(V1) && v["source"] == "journal") < honest);
    assert!(honest < place(&|v| v["sha256"] == sha(V2)));
    // A backup version keeps its keys, in their order, and says its source
    // (serde_json here sorts keys: the order is read from the text).
    let raw = text(&out.stdout);
    let object = raw
        .split('{')
        .find(|o| o.contains(&f.honest) && o.contains("\"sha256\""))
        .unwrap();
    let keys: Vec<&str> = object
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
        .collect();
    assert_eq!(
        keys,
        [
            "dump",
            "present",
            "id",
            "modified_at",
            "length",
            "sha256",
            "source",
            "at"
        ]
    );
    let bob = row("bob");
    assert!(
        bob["versions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["source"] == "journal"
                && v["present"] == false
                && v["deleted_at"].is_string()),
        "{bob:#}"
    );
    // The filters apply, to the warnings too; the table marks the journal.
    let out = run(&["history", dir, "--user", "alice"]);
    assert_ok(&out);
    assert_eq!(warnings(&out).len(), 1, "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.contains('▲') && !table.contains("bob"), "{table}");
    // bob's text is gone: restored from the journal as it last saw it.
    let out = run(&["history", dir, "--user", "bob"]);
    assert!(
        text(&out.stdout).contains(&format!("textrescue texts {dir} --at=")),
        "{}",
        text(&out.stdout)
    );

    // texts --at: the newest backup taken inside the journal's coverage at
    // or before the time is compared with the journal at its moment. At
    // t1 that is the crafted one: a warning per text asked for, naming the
    // backup, the text and the journal's polls; the answer is still the
    // journal's, and the exit status 0.
    let out = texts_at(dir, f.t1, &["--format", "json"]);
    assert_crafted_warnings(&out, &[&f.crafted, "polls at"]);
    let texts: Value = serde_json::from_slice(&out.stdout).unwrap();
    let alice_then = texts
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["username"] == "alice");
    assert_eq!(alice_then.unwrap()["text"], V1, "{texts:#}");
    // Only the texts asked for are compared.
    let out = texts_at(dir, f.t1, &["--user", "alice"]);
    let said = warnings(&out);
    assert_eq!(said.len(), 1, "{}", text(&out.stderr));
    assert!(said[0].contains("alice 3-MULTI"), "{said:?}");
    // Later, the newest such backup is the honest one: it agrees.
    for at in [f.t2, f.t3] {
        let out = texts_at(dir, at, &["--format", "json"]);
        assert_eq!(warnings(&out), Vec::<String>::new(), "at {at}");
        assert!(text(&out.stderr).contains("from the journal"));
    }
    // Before the journal the answer is the backup's: nothing to compare.
    let out = texts_at(dir, f.before, &[]);
    assert_eq!(warnings(&out), Vec::<String>::new());

    // diff between two times: the writer's change, each side from the
    // journal; before the journal, from the backup.
    let (diff, err) = diff_between(dir, f.t1, f.t2, &["--user", "alice"]);
    assert_eq!(diff["changed"][0]["old"]["text"], V1, "{diff:#}");
    assert_eq!(diff["changed"][0]["new"]["text"], V2, "{diff:#}");
    assert_eq!(diff["added"], Value::Array(vec![]));
    assert_eq!(err.matches("from the journal, poll at").count(), 2, "{err}");
    // The OLD side is the journal at t1, where the crafted backup is the
    // newest it covers: its disagreement about alice's text is said; the
    // NEW side's backup (the honest one) agrees.
    let said: Vec<&str> = err.lines().filter(|l| l.contains("disagree")).collect();
    assert_eq!(said.len(), 1, "{err}");
    assert!(
        said[0].contains("alice 3-MULTI") && said[0].contains(&f.crafted),
        "{said:?}"
    );
    let (_, err) = diff_between(dir, f.t2, f.t3, &["--user", "alice"]);
    assert!(!err.contains("disagree"), "{err}");
    let (diff, err) = diff_between(dir, f.before, f.t3, &[]);
    assert_eq!(diff["changed"][0]["old"]["text"], V1, "{diff:#}");
    assert_eq!(diff["changed"][0]["new"]["text"], V3, "{diff:#}");
    assert!(err.contains("OLD"));
    assert!(err.contains("from backup "), "{err}");

    // Bad times and combinations are usage errors.
    for args in [
        &[
            "diff",
            dir,
            "--from-time",
            "yesterday",
            "--to-time",
            "2024-03-05 14:22",
        ][..],
        &["diff", dir, "--from-time", "2024-03-05 14:22"],
        &[
            "diff",
            dir,
            dir,
            "--from-time",
            "2024-03-05",
            "--to-time",
            "2024-03-06",
        ],
    ] {
        let out = run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            assert_failed(&out)
        );
    }
    let safety = TempDir::new().unwrap();
    let safety_dir = safety.path().to_str().unwrap();
    // `restore DIR ARGS... --safety-dir SAFETY --yes`, which must succeed
    // taking the texts from `source`.
    let restore_from = |args: &[&str], source: &str| {
        let args = [args, &["--safety-dir", safety_dir, "--yes"]].concat();
        let out = restore(&db, &f.dir, &args).output().unwrap();
        assert_ok(&out);
        assert!(text(&out.stderr).contains(source), "{}", text(&out.stderr));
        out
    };
    for at in ["yesterday", "2024-13-01 10:00"] {
        let out = restore(&db, &f.dir, &["--user", "alice", "--at", at, "--yes"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", assert_failed(&out));
        assert!(text(&out.stderr).contains("is not a time"));
    }

    // restore --at t1 reads the journal, where the crafted backup is the
    // newest it covers: the plan comes with the warning about alice's text.
    let out = restore(
        &db,
        &f.dir,
        &["--user", "alice", "--at", &rfc3339(f.t1), "--dry-run"],
    )
    .output()
    .unwrap();
    assert_ok(&out);
    let said = warnings(&out);
    assert_eq!(said.len(), 1, "{}", text(&out.stderr));
    assert!(
        said[0].contains("alice 3-MULTI") && said[0].contains(&f.crafted),
        "{said:?}"
    );

    // restore --at t2: alice's v2 back, byte for byte; its undo puts v3 back.
    assert_eq!(alices(&db), V3);
    let out = restore_from(
        &[
            "--user",
            "alice",
            "--task",
            "3-MULTI",
            "--at",
            &rfc3339(f.t2),
            "--on-conflict",
            "overwrite",
        ],
        "from the journal",
    );
    assert_eq!(alices(&db), V2);
    let undone = run_undo(&db, &text(&out.stdout));
    assert_ok(&undone);
    assert_eq!(alices(&db), V3);
    // Before the journal: from the backup then (bob's text comes back).
    restore_from(
        &["--user", "bob", "--at", &rfc3339(f.before)],
        "from backup ",
    );
    assert_eq!(
        db.cell_exact("SELECT text FROM public.tasktexts WHERE user_id = 3"),
        BOB
    );
}
