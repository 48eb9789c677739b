//! `textrescue watch` against the real PostgreSQL and psql: throw-away
//! databases with the race server's schema, texts written as the server
//! writes them (hostile ones included), the journal read back through the
//! library's reader and compared byte for byte with what the live table
//! held. Without a server at build time each test is ignored (build.rs).

use crate::common;
use crate::dockerdb::{Container, docker_ok};

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{NASTY, TempDb, assert_failed, assert_ok, insert_text_sql, sql_text, text};
use tempfile::TempDir;
use textrescue::journal::JournalReader;

fn watch(db: &TempDb, dir: &Path, args: &[&str]) -> Command {
    watch_database(db, db.name(), dir, args)
}

/// `textrescue watch` of database `dbname` on `db`'s server.
fn watch_database(db: &TempDb, dbname: &str, dir: &Path, args: &[&str]) -> Command {
    let mut c = db.command(env!("CARGO_BIN_EXE_textrescue"));
    c.env_remove("PGPASSWORD")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .arg("watch")
        .arg("--dir")
        .arg(dir)
        .args(["--dbname", dbname])
        .args(args)
        .stdin(Stdio::null());
    c
}

/// Texts by id: user, task, created_at, modified_at (UTC, as PostgreSQL
/// prints them) and the text's bytes.
type Texts = BTreeMap<i64, (i64, i64, String, Option<String>, Vec<u8>)>;

fn once(db: &TempDb, dir: &Path) -> Output {
    watch(db, dir, &["--once"]).output().unwrap()
}

/// The live texts, id → (user, task, created_at, modified_at, text bytes),
/// times in UTC as PostgreSQL prints them.
fn live(db: &TempDb) -> Texts {
    // PGTZ: times in UTC, as watch asks for them; texts hex-encoded, so
    // that psql's display cannot change a byte.
    let out = db
        .command("psql")
        .env("PGTZ", "UTC")
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(
            "SELECT coalesce(json_agg(json_build_array(id, user_id, task_id, created_at::text, \
             modified_at::text, encode(convert_to(text, 'UTF8'), 'hex')) ORDER BY id), '[]')::text \
             FROM public.tasktexts",
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ok(&out);
    let json = text(&out.stdout);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    rows.iter()
        .map(|r| {
            let hex = r[5].as_str().unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (
                r[0].as_i64().unwrap(),
                (
                    r[1].as_i64().unwrap(),
                    r[2].as_i64().unwrap(),
                    r[3].as_str().unwrap().to_string(),
                    r[4].as_str().map(String::from),
                    bytes,
                ),
            )
        })
        .collect()
}

/// The journal's texts as they stood at `at` (or at the last poll), in the
/// form of [`live`].
fn journal_at(dir: &Path, at: Option<DateTime<Utc>>) -> Texts {
    let reader = JournalReader::open(dir).unwrap().expect("a journal");
    let snapshot = match at {
        Some(at) => reader.texts_at(at).unwrap().expect("the time is covered"),
        None => reader.latest().unwrap().expect("a poll"),
    };
    snapshot
        .texts
        .iter()
        .map(|v| {
            let m = &v.meta;
            (
                m.row_id,
                (
                    m.user_id,
                    m.task_id,
                    m.created_at.clone(),
                    m.modified_at.clone(),
                    reader.text_of(v).unwrap(),
                ),
            )
        })
        .collect()
}

fn people(prefix: &str) -> TempDb {
    let db = common::pg().create_db(prefix);
    db.load_schema_with_people();
    db
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn each_poll_records_new_versions_and_deletions_byte_for_byte() {
    let db = people("trwatch");
    let mut sql = String::new();
    for (i, t) in NASTY.iter().enumerate() {
        let user = 2 + (i as i64 % 2);
        let task = 1 + (i as i64 / 2) % 4;
        sql += &insert_text_sql(None, user, task, "2024-03-01 14:22:11.123456+00", None, t);
    }
    db.psql(&sql);
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();

    let first = once(&db, dir);
    assert_ok(&first);
    assert!(
        text(&first.stdout).contains(&format!("{} new versions, 0 deletions", NASTY.len())),
        "{}",
        text(&first.stdout)
    );
    assert_eq!(journal_at(dir, None), live(&db));

    // Nothing changed: silence, and no new version.
    let quiet = once(&db, dir);
    assert_ok(&quiet);
    assert_eq!(text(&quiet.stdout), "");

    // A save (modified_at set), a write that leaves modified_at alone, a
    // deletion, and a text deleted and created again under a new id.
    let ids: Vec<i64> = live(&db).keys().copied().collect();
    db.psql(&format!(
        "UPDATE public.tasktexts SET text = {}, modified_at = '2024-03-02 09:00:00+00' WHERE id = {};
         UPDATE public.tasktexts SET text = text || {} WHERE id = {};
         DELETE FROM public.tasktexts WHERE id = {};
         DELETE FROM public.tasktexts WHERE id = {};
         {}",
        sql_text("saved again\n\\.\n"),
        ids[0],
        sql_text(" – and \u{10ffff}"),
        ids[1],
        ids[2],
        ids[3],
        insert_text_sql(None, 2, 4, "2024-03-02 10:00:00+00", None, NASTY[3]),
    ));
    let second = once(&db, dir);
    assert_ok(&second);
    assert!(
        text(&second.stdout).contains("3 new versions, 2 deletions"),
        "{}",
        text(&second.stdout)
    );
    assert_eq!(journal_at(dir, None), live(&db));

    let reader = JournalReader::open(dir).unwrap().unwrap();
    let saved = reader.versions_of(ids[0]).unwrap();
    assert_eq!(saved.len(), 2);
    assert_eq!(reader.text_of(&saved[0]).unwrap(), NASTY[0].as_bytes());
    assert_eq!(reader.text_of(&saved[1]).unwrap(), b"saved again\n\\.\n");
    let untouched_time = reader.versions_of(ids[1]).unwrap();
    assert_eq!(untouched_time.len(), 2, "a write that kept modified_at");
    assert_eq!(
        untouched_time[0].meta.modified_at,
        untouched_time[1].meta.modified_at
    );
    for gone in [ids[2], ids[3]] {
        let versions = reader.versions_of(gone).unwrap();
        assert!(
            versions.last().unwrap().deleted,
            "{gone} recorded as deleted"
        );
    }

    // The names: every student and task as the poll saw them; a renamed
    // student (any name at all) and task are recorded at the next poll.
    let usernames = reader.usernames().unwrap();
    assert_eq!(usernames.get(&2).map(String::as_str), Some("alice"));
    assert_eq!(usernames.len(), 3);
    let tasks = reader.tasks().unwrap();
    assert_eq!(tasks[&3].label(), "3-MULTI");
    assert!(!tasks[&4].is_enabled);
    db.psql(&format!(
        "UPDATE public.users SET username = {} WHERE id = 2;
         UPDATE public.tasks SET name = {}, phase = 7 WHERE id = 3;",
        sql_text(NASTY[1]),
        sql_text("multi – \u{10ffff}"),
    ));
    assert_ok(&once(&db, dir));
    let reader = JournalReader::open(dir).unwrap().unwrap();
    assert_eq!(reader.usernames().unwrap()[&2], NASTY[1]);
    assert_eq!(reader.tasks().unwrap()[&3].name, "multi – \u{10ffff}");
    assert_eq!(reader.tasks().unwrap()[&3].phase, 7);
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_database_that_does_not_answer_fails_once_and_is_recorded() {
    let db = people("trwatchdown");
    let tmp = TempDir::new().unwrap();
    let out = watch_database(&db, "textrescue_no_such_database", tmp.path(), &["--once"])
        .output()
        .unwrap();
    let err = assert_failed(&out);
    assert!(err.contains("does not answer"), "{err}");
    let reader = JournalReader::open(tmp.path()).unwrap().unwrap();
    assert_eq!(reader.coverage().unwrap().db_down_polls, 1);
    assert!(reader.latest().unwrap().is_none());
}

/// `watch --every 1s` running while a writer saves, deletes and creates
/// texts every 2.5 s: every version that stood for two intervals is in the
/// journal with its times, and the journal at a moment in the middle of
/// each state equals the live table then. SIGTERM ends watch, exit 0.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_running_watch_keeps_every_version_that_stood_two_intervals() {
    let db = people("trwatchrun");
    db.psql(&format!(
        "{}{}",
        insert_text_sql(None, 2, 1, "2024-03-01 14:00:00+00", None, "alice's first"),
        insert_text_sql(None, 3, 1, "2024-03-01 14:05:00+00", None, NASTY[4]),
    ));
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().to_path_buf();
    let running: Child = watch(&db, &dir, &["--every", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let step = Duration::from_millis(2500);
    let mut states = Vec::new();
    std::thread::sleep(step);
    let changes: Vec<String> = NASTY
        .iter()
        .enumerate()
        .map(|(i, t)| match i % 3 {
            0 => format!(
                "UPDATE public.tasktexts SET text = {}, modified_at = now() WHERE user_id = 2;",
                sql_text(t)
            ),
            1 => format!(
                "UPDATE public.tasktexts SET text = text || {} WHERE user_id = 3;",
                sql_text(t)
            ),
            _ => format!(
                "DELETE FROM public.tasktexts WHERE user_id = 2; {}",
                insert_text_sql(
                    None,
                    2,
                    1,
                    "2024-03-01 14:00:00+00",
                    Some("2024-03-02 08:00:00+00"),
                    t
                )
            ),
        })
        .collect();
    for change in &changes {
        let state = live(&db);
        let started = Instant::now();
        std::thread::sleep(step / 2);
        states.push((Utc::now(), state));
        std::thread::sleep(step.saturating_sub(started.elapsed()));
        db.psql(change);
    }
    std::thread::sleep(step);
    states.push((Utc::now(), live(&db)));
    std::thread::sleep(Duration::from_millis(1200));
    crate::journal_readers::stop_watch(running);

    for (at, state) in &states {
        assert_eq!(&journal_at(&dir, Some(*at)), state, "the texts at {at}");
    }
    let reader = JournalReader::open(&dir).unwrap().unwrap();
    let mut all = Vec::new();
    for user in [2, 3] {
        for v in reader.versions_for(user, 1).unwrap() {
            all.push(reader.text_of(&v).unwrap());
        }
    }
    for (_, state) in &states {
        for (_, _, _, _, bytes) in state.values() {
            assert!(all.contains(bytes), "a version is in the journal");
        }
    }
}

/// SIGKILL of a running watch at random moments (often inside a poll),
/// each time started again, while the texts change: the journal always
/// opens, and at the end it holds exactly the live texts, each version
/// once.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_watch_killed_at_random_moments_loses_nothing_and_keeps_nothing_twice() {
    let db = people("trwatchkill");
    let mut sql = String::new();
    for i in 0..200 {
        sql += &insert_text_sql(
            None,
            2 + i % 2,
            1 + i % 4,
            "2024-03-01 14:00:00+00",
            None,
            NASTY[i as usize % NASTY.len()],
        );
    }
    db.psql(&sql);
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().to_path_buf();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..8 {
        db.psql(&format!(
            "UPDATE public.tasktexts SET text = text || ' round {round}', modified_at = now() \
             WHERE id % 7 = {};",
            round % 7
        ));
        let running = watch(&db, &dir, &["--every", "1s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100 + random(1500)));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(running.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let _ = running.wait_with_output();
        assert!(
            JournalReader::open(&dir).is_ok(),
            "round {round}: the journal opens"
        );
    }
    assert_ok(&once(&db, &dir));
    assert_eq!(journal_at(&dir, None), live(&db));
    let reader = JournalReader::open(&dir).unwrap().unwrap();
    for (id, (_, _, _, _, now)) in live(&db) {
        let texts: Vec<Vec<u8>> = reader
            .versions_of(id)
            .unwrap()
            .iter()
            .map(|v| reader.text_of(v).unwrap())
            .collect();
        assert!(
            texts.windows(2).all(|w| w[0] != w[1]),
            "{id}: a version recorded twice in a row"
        );
        assert_eq!(
            texts.last(),
            Some(&now),
            "{id}: the last version is the live text"
        );
    }
}

/// The race server's container stopped for a while and started again under
/// a running watch: said once, recorded as a gap, and watching resumes by
/// itself; the versions from before and after are both kept.
#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn a_container_stopped_and_started_again_is_said_once_and_watching_resumes() {
    let c = Container::start();
    let db = c.create_db("trwatchdocker");
    c.load_schema_with_people(&db);
    c.psql(
        &db,
        &insert_text_sql(
            None,
            2,
            1,
            "2024-03-01 14:00:00+00",
            None,
            "before the stop",
        ),
    );
    let tmp = TempDir::new().unwrap();
    let running = Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .env_remove("PGPASSWORD")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .args([
            "watch",
            "--every",
            "1s",
            "--container",
            &c.name,
            "--username",
            "buggy",
        ])
        .args(["--dbname", &db, "--dir"])
        .arg(tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    docker_ok(&["stop", "--time", "1", &c.name]);
    std::thread::sleep(Duration::from_secs(3));
    docker_ok(&["start", &c.name]);
    c.wait_ready();
    c.psql(
        &db,
        "UPDATE public.tasktexts SET text = 'after the start', modified_at = now();",
    );
    std::thread::sleep(Duration::from_secs(4));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(running.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = running.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("does not answer").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("answers again").count(), 1, "{stderr}");
    let reader = JournalReader::open(tmp.path()).unwrap().unwrap();
    let texts: Vec<Vec<u8>> = reader
        .versions_for(2, 1)
        .unwrap()
        .iter()
        .map(|v| reader.text_of(v).unwrap())
        .collect();
    assert_eq!(
        texts,
        [b"before the stop".to_vec(), b"after the start".to_vec()]
    );
    assert_eq!(reader.coverage().unwrap().db_down_polls, 1);
}

/// Texts of 10 MB (more than one fetch holds) come into the journal byte
/// for byte, in memory bounded by the largest text.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn texts_of_ten_megabytes_are_kept_byte_for_byte_in_bounded_memory() {
    let db = people("trwatchhuge");
    let line = "🏎️ a line of a very long text, \\. and $$ and a tab\there\n";
    let huge: String = line.repeat(10 * 1024 * 1024 / line.len() + 1);
    for (user, task) in [(2, 1), (3, 1), (2, 2)] {
        db.psql(&insert_text_sql(
            None,
            user,
            task,
            "2024-03-01 14:00:00+00",
            None,
            &huge,
        ));
    }
    let tmp = TempDir::new().unwrap();
    let measured = common::output_with_peak_rss(&watch(&db, tmp.path(), &["--once"]));
    assert_eq!(measured.code, Some(0), "{}", text(&measured.stderr));
    assert_eq!(journal_at(tmp.path(), None), live(&db));
    eprintln!(
        "watch --once, three texts of 10 MB: peak RSS {} KiB",
        measured.peak_rss_kib
    );
    // A 10 MB text is held as psql's line (hex, 20 MB, stripped of its
    // marker in place), decoded, and compressed: 49 MiB measured
    // (2026-12-06; 75 MiB when the line was copied). Bounded by the
    // largest text, not by how many there are.
    assert!(
        measured.peak_rss_kib < 64 * 1024,
        "watch used {} KiB",
        measured.peak_rss_kib
    );
}

/// A table held locked: the poll's query waits, the server gives it up at
/// `--timeout`, and `--once` fails in about that time, recorded as down.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_locked_table_is_given_up_at_the_timeout() {
    let db = people("trwatchlock");
    let mut locker = db
        .command("psql")
        .args([
            "-X",
            "-c",
            "BEGIN; LOCK TABLE tasktexts IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The lock is held once the locker's session waits in pg_sleep.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while db
        .psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")
        .trim()
        == "0"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the lock was never taken"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let tmp = TempDir::new().unwrap();
    let started = std::time::Instant::now();
    let out = watch(&db, tmp.path(), &["--once", "--timeout", "2s"])
        .output()
        .unwrap();
    let took = started.elapsed();
    locker.kill().unwrap();
    locker.wait().unwrap();
    let err = assert_failed(&out);
    assert!(err.contains("does not answer"), "{err}");
    assert!(err.contains("statement timeout"), "{err}");
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
    let reader = JournalReader::open(tmp.path()).unwrap().unwrap();
    assert_eq!(reader.coverage().unwrap().db_down_polls, 1);
}

/// A psql that never answers (a stand-in for a connection that hangs
/// without an error, which a live server cannot be made to do on cue): the
/// watch ends it at `--timeout` instead of waiting for ever.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_psql_that_never_answers_is_ended_at_the_timeout() {
    use std::os::unix::fs::PermissionsExt;
    let db = people("trwatchhang");
    let tmp = TempDir::new().unwrap();
    let hang = tmp.path().join("hanging-psql");
    std::fs::write(&hang, "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&hang, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    let started = std::time::Instant::now();
    let out = watch(&db, &dir, &["--once", "--timeout", "1s", "--psql"])
        .arg(&hang)
        .output()
        .unwrap();
    let err = assert_failed(&out);
    assert!(err.contains("gave no answer in 6 s"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}
