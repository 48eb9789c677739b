//! `textrescue texts DIR --at TIME` against the real PostgreSQL: a backups
//! folder with a backup taken before `watch` began and the journal of a
//! running watch; the texts at a time inside the journal equal the live
//! texts then (names, tasks and texts byte for byte, through every filter
//! and format), and a time before the journal comes from the backup.
//! Without a server at build time each test is ignored (build.rs).

use crate::common;
use crate::journal_readers::{start_watch, stop_watch, textrescue, wait_for_polls};

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use common::{NASTY, assert_failed, assert_ok, insert_text_sql, sql_text, text};
use serde_json::Value;
use tempfile::TempDir;

/// `texts DIR --at AT ARGS...`.
fn texts_at(dir: &Path, at: DateTime<Utc>, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .arg("texts")
        .arg(dir)
        .arg("--at")
        .arg(at.to_rfc3339_opts(SecondsFormat::Micros, true))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    assert_ok(out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The texts of `json` (a `texts --format json` array) that `keep` keeps.
fn only(json: &Value, keep: impl Fn(&Value) -> bool) -> Value {
    Value::Array(
        json.as_array()
            .unwrap()
            .iter()
            .filter(|t| keep(t))
            .cloned()
            .collect(),
    )
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn texts_at_a_time_come_from_the_journal_or_the_backup_before() {
    let db = common::pg().create_db("trtextsat");
    db.load_schema_with_people();
    let mut sql = String::new();
    for (i, t) in NASTY.iter().enumerate() {
        let user = 2 + (i as i64 % 2);
        let task = 1 + (i as i64 / 2) % 4;
        sql += &insert_text_sql(None, user, task, "2024-03-01 14:22:11.123456+00", None, t);
    }
    db.psql(&sql);
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    assert_ok(&textrescue(&db, "backup", dir).output().unwrap());
    std::thread::sleep(Duration::from_millis(50));
    let before_journal = (Utc::now(), db.texts_json("public.tasktexts"));

    let running = start_watch(&db, dir);
    wait_for_polls(dir, 2);
    let first = (Utc::now(), db.texts_json("public.tasktexts"));
    wait_for_polls(dir, 1);
    let ids: Vec<i64> = first
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    db.psql(&format!(
        "UPDATE public.tasktexts SET text = {}, modified_at = '2024-03-02 09:00:00+00' WHERE id = {};
         UPDATE public.tasktexts SET text = text || {} WHERE id = {};
         DELETE FROM public.tasktexts WHERE id = {};
         {}",
        sql_text("saved again\n\\.\n"),
        ids[0],
        sql_text(" – and \u{10ffff}"),
        ids[1],
        ids[2],
        insert_text_sql(None, 2, 4, "2024-03-02 10:00:00+00", None, NASTY[6]),
    ));
    wait_for_polls(dir, 2);
    let second = (Utc::now(), db.texts_json("public.tasktexts"));
    wait_for_polls(dir, 1);
    stop_watch(running);
    assert_ne!(first.1, second.1);

    // Inside the journal: the live texts then, said to be from the journal.
    for (at, live) in [&first, &second] {
        let out = texts_at(dir, *at, &["--format", "json"]);
        assert_eq!(&json_of(&out), live, "the texts at {at}");
        assert!(
            text(&out.stderr).contains("from the journal, poll at"),
            "{}",
            text(&out.stderr)
        );
    }
    // Before the journal: the backup taken then.
    let out = texts_at(dir, before_journal.0, &["--format", "json"]);
    assert_eq!(json_of(&out), before_journal.1);
    let err = text(&out.stderr);
    assert!(err.contains("from backup "), "{err}");
    assert!(err.contains("the journal does not cover"), "{err}");

    // The filters, as for a dump.
    let (at, live) = &second;
    let alice = only(live, |t| t["username"] == "alice");
    assert_eq!(
        json_of(&texts_at(dir, *at, &["-u", "ALICE", "--format", "json"])),
        alice
    );
    assert_eq!(
        json_of(&texts_at(dir, *at, &["--user-id", "2", "--format", "json"])),
        alice
    );
    assert_eq!(
        json_of(&texts_at(dir, *at, &["-t", "3-multi", "--format", "json"])),
        only(live, |t| t["task"] == "3-MULTI")
    );
    let id = ids[1].to_string();
    assert_eq!(
        json_of(&texts_at(dir, *at, &["--id", &id, "--format", "json"])),
        only(live, |t| t["id"] == ids[1])
    );
    assert_eq!(
        json_of(&texts_at(
            dir,
            *at,
            &["--since", "2024-03-02", "--format", "json"]
        )),
        only(live, |t| t["modified_at"].is_string()
            || t["created_at"].as_str() >= Some("2024-03-02"))
    );

    // Every format gives what it gives for a backup of the same texts.
    let now_dir = TempDir::new().unwrap();
    assert_ok(&textrescue(&db, "backup", now_dir.path()).output().unwrap());
    let backup = std::fs::read_dir(now_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
        .expect("a backup");
    for args in [
        &["--format", "table"][..],
        &["--format", "csv"],
        &["--format", "server-json", "-u", "alice"],
        &["--format", "sql"],
    ] {
        let from_journal = texts_at(dir, *at, args);
        assert_ok(&from_journal);
        let from_backup = Command::new(env!("CARGO_BIN_EXE_textrescue"))
            .arg("texts")
            .arg(&backup)
            .args(args)
            .output()
            .unwrap();
        assert_ok(&from_backup);
        let mut journal_out = text(&from_journal.stdout);
        let mut backup_out = text(&from_backup.stdout);
        if args[1] == "sql" {
            // The header names the source.
            journal_out = journal_out
                .lines()
                .filter(|l| !l.starts_with("--"))
                .collect();
            backup_out = backup_out
                .lines()
                .filter(|l| !l.starts_with("--"))
                .collect();
        }
        assert_eq!(journal_out, backup_out, "{args:?}");
    }

    // --at goes with a folder, and a time.
    let out = Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .arg("texts")
        .arg(&backup)
        .args(["--at", "2024-03-05 14:22"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", assert_failed(&out));
    let out = Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .arg("texts")
        .arg(dir)
        .args(["--at", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", assert_failed(&out));
}
