//! An admin's week, end to end, against a real Docker container
//! `server-db-1` (tests/dockerdb/mod.rs): the walk docs/a-week.md tells.
//!
//! One backups folder gets two old backups from the race server's own cron
//! script (its clock set back a few days), then nightly `textrescue backup
//! --container server-db-1` runs; between nights students delete, overwrite
//! and re-create texts (SQL in the container, as the web app does). Then
//! `history`, `diff` of two nights and the restore SQL piped into `docker
//! exec -i server-db-1 psql` must tell the story and bring the lost texts
//! back byte-exact, with nothing on stderr but what a user needs.
use crate::common::{sql_text, text};
use crate::dockerdb::Container;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const DB: &str = "buggy_race";

/// What alice writes for 3-MULTI on Monday and deletes on Thursday: every
/// kind of character that breaks a naive dump reader or restore script.
const ALICE_MULTI: &str = "Multiplayer notes\r\n\
    \tstep 1: fork\n\\.\n\\! echo pwned\n\
    It's \"quoted\" $$ $tag$ E'\\x41' 🏎️ مرحبا 👩🏽‍💻\n\n";
const ALICE_EDIT_V1: &str = "Edit: changed the colour to red.";
const ALICE_EDIT_V2: &str = "Edit: changed the colour to red, then the wheels to 6.";
const ALICE_EDIT_V3: &str = "Edit (rewritten): my buggy is now blue.";
const BOB_GET: &str = "Got the code with git clone, ran it with flask run.";
const BOB_EDIT: &str = "Edit: I made the buggy\tfaster\\slower.";

/// textrescue with ARGS.
fn tr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs `script` with `bash -o pipefail`, `dir_bin` first on PATH and
/// textrescue's folder next; returns its output (no check).
fn sh(script: &str, dir_bin: &Path, env: &[(&str, &str)]) -> Output {
    let exe = Path::new(env!("CARGO_BIN_EXE_textrescue"));
    let path = format!(
        "{}:{}:{}",
        dir_bin.display(),
        exe.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("bash");
    c.args(["-o", "pipefail", "-c", script])
        .env("PATH", path)
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Prints a step of the story (shown by `cargo nextest run --no-capture`;
/// docs/a-week.md quotes it).
fn show(title: &str, body: &str) {
    println!("\n### {title}\n{body}");
}

/// Students' changes, as the web app makes them.
fn write_text(c: &Container, user: i64, task: i64, body: &str) {
    c.psql(
        DB,
        &format!(
            "INSERT INTO public.tasktexts (created_at, modified_at, user_id, task_id, text) \
             VALUES (now(), NULL, {user}, {task}, {});",
            sql_text(body)
        ),
    );
}

fn overwrite_text(c: &Container, user: i64, task: i64, body: &str) {
    let n = c.psql(
        DB,
        &format!(
            "WITH u AS (UPDATE public.tasktexts SET text = {}, modified_at = now() \
             WHERE user_id = {user} AND task_id = {task} RETURNING 1) SELECT count(*) FROM u",
            sql_text(body)
        ),
    );
    assert_eq!(n, "1");
}

fn delete_text(c: &Container, user: i64, task: i64) {
    let n = c.psql(
        DB,
        &format!(
            "WITH d AS (DELETE FROM public.tasktexts WHERE user_id = {user} AND task_id = {task} \
             RETURNING 1) SELECT count(*) FROM d"
        ),
    );
    assert_eq!(n, "1");
}

/// The one new backup in `dir` since `before`.
fn newest(dir: &Path, before: &[PathBuf]) -> PathBuf {
    let now = backups(dir);
    let new: Vec<_> = now.into_iter().filter(|p| !before.contains(p)).collect();
    assert_eq!(new.len(), 1, "{new:?}");
    new[0].clone()
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("buggy_race_bk_")
        })
        .collect();
    v.sort();
    v
}

/// (username, task) -> text, from `texts --format json` rows.
fn by_pair(rows: &Value) -> std::collections::BTreeMap<(String, String), String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r["username"].as_str().unwrap().to_string(),
                    r["task"].as_str().unwrap().to_string(),
                ),
                r["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn texts_of(dump: &Path) -> Value {
    let out = tr(&["texts", "--format", "json", dump.to_str().unwrap()]);
    ok(&out, "texts");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn pair(user: &str, task: &str) -> (String, String) {
    (user.to_string(), task.to_string())
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn an_admins_week_with_a_real_container() {
    let c = Container::start();
    c.load_schema_with_people(DB);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let dirs = dir.to_str().unwrap();
    // The old cron script's clock: `date +%Y%m%d` says WEEK_DAY.
    let bin = tmp.path().join("bin");
    fs::create_dir(&bin).unwrap();
    fs::write(
        bin.join("date"),
        "#!/bin/sh\nif [ \"$1\" = +%Y%m%d ] && [ -n \"${WEEK_DAY:-}\" ]; then echo \"$WEEK_DAY\"; \
         else exec /bin/date \"$@\"; fi\n",
    )
    .unwrap();
    fs::set_permissions(bin.join("date"), fs::Permissions::from_mode(0o755)).unwrap();
    let day = |back: i64| {
        (chrono::Utc::now() - chrono::Duration::days(back))
            .format("%Y%m%d")
            .to_string()
    };
    // The race server's documented cron script, word for word but for the folder.
    let seed_script = format!(
        "docker exec -t server-db-1 pg_dump -U buggy buggy_race | gzip > {dirs}/buggy_race_bk_$(date +%Y%m%d).sql.gz"
    );
    let nightly = format!(
        "textrescue backup --container server-db-1 --username buggy --dbname buggy_race \
         --dir {dirs} --prefix buggy_race_bk_ --quiet"
    );
    let night = |what: &str| {
        let before = backups(&dir);
        // One backup a second at most, so that names do not need -2.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let out = sh(&nightly, &bin, &[]);
        ok(&out, what);
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "--quiet: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        newest(&dir, &before)
    };

    // Monday: alice and bob write; the old cron script runs at night.
    write_text(&c, 2, 2, ALICE_EDIT_V1);
    write_text(&c, 2, 3, ALICE_MULTI);
    write_text(&c, 3, 1, BOB_GET);
    let before = backups(&dir);
    ok(
        &sh(&seed_script, &bin, &[("WEEK_DAY", &day(3))]),
        "seed script",
    );
    let monday = newest(&dir, &before);
    // Tuesday: alice changes her 1-EDIT, bob writes his.
    overwrite_text(&c, 2, 2, ALICE_EDIT_V2);
    write_text(&c, 3, 2, BOB_EDIT);
    let before = backups(&dir);
    ok(
        &sh(&seed_script, &bin, &[("WEEK_DAY", &day(2))]),
        "seed script",
    );
    let tuesday = newest(&dir, &before);
    // The old backups: CRLF dumps, since `-t` gives pg_dump a terminal.
    let raw = Command::new("gzip")
        .arg("-dc")
        .arg(&monday)
        .output()
        .unwrap();
    assert!(raw.stdout.windows(2).any(|w| w == b"\r\n"));

    // Wednesday: textrescue takes over the nightly backup.
    let wednesday = night("Wednesday's backup");
    // Thursday: alice deletes her 3-MULTI, bob overwrites his 0-GET by
    // mistake, alice deletes her 1-EDIT and writes it anew.
    delete_text(&c, 2, 3);
    overwrite_text(&c, 3, 1, "oops");
    delete_text(&c, 2, 2);
    write_text(&c, 2, 2, ALICE_EDIT_V3);
    let thursday = night("Thursday's backup");
    // Friday: bob deletes his 1-EDIT.
    delete_text(&c, 3, 2);
    let friday = night("Friday's backup");
    let live_friday = c.texts_json(DB);
    assert_eq!(texts_of(&friday), live_friday);

    // Saturday: the admin looks. history tells the story of every text.
    let out = tr(&["history", dirs]);
    let table = ok(&out, "history");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    show(&format!("textrescue history {dirs}"), &table);
    let out = tr(&["history", "--format", "json", dirs]);
    ok(&out, "history --format json");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let history: Value = serde_json::from_slice(&out.stdout).unwrap();
    let nights = [&monday, &tuesday, &wednesday, &thursday, &friday];
    let life = |user: &str, task: &str| -> &Value {
        history
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["username"] == user && e["task"] == task)
            .unwrap_or_else(|| panic!("no {user} {task} in {history}"))
    };
    for e in history.as_array().unwrap() {
        let dumps: Vec<&str> = e["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["dump"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = nights.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(dumps, expected, "every night, oldest first: {e}");
    }
    let present = |e: &Value| -> Vec<bool> {
        e["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["present"] == true)
            .collect()
    };
    let multi = life("alice", "3-MULTI");
    assert_eq!(present(multi), [true, true, true, false, false], "{multi}");
    assert_eq!(multi["last_seen"], wednesday.to_str().unwrap());
    assert_eq!(multi["in_latest"], false);
    let bob_edit = life("bob", "1-EDIT");
    assert_eq!(present(bob_edit), [false, true, true, true, false]);
    assert_eq!(bob_edit["last_seen"], thursday.to_str().unwrap());
    let alice_edit = life("alice", "1-EDIT");
    assert_eq!(present(alice_edit), [true; 5]);
    let ids: Vec<&Value> = alice_edit["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["id"])
        .collect();
    assert_eq!(ids[2], ids[1], "{alice_edit}");
    assert_ne!(ids[3], ids[2], "deleted and written anew: {alice_edit}");
    let lengths: Vec<&Value> = life("bob", "0-GET")["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["length"])
        .collect();
    assert_eq!(lengths[2], &Value::from(BOB_GET.len()));
    assert_eq!(lengths[3], &Value::from(4));

    // The old cron script's Monday backup still has alice's first 1-EDIT.
    let monday_texts = by_pair(&texts_of(&monday));
    assert_eq!(monday_texts[&pair("alice", "1-EDIT")], ALICE_EDIT_V1);
    assert_eq!(monday_texts[&pair("alice", "3-MULTI")], ALICE_MULTI);

    // What changed between Wednesday and Friday.
    let (wed, fri) = (wednesday.to_str().unwrap(), friday.to_str().unwrap());
    let out = tr(&["diff", wed, fri]);
    let diff_table = ok(&out, "diff");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    show(&format!("textrescue diff {wed} {fri}"), &diff_table);
    let out = tr(&["diff", "--format", "json", wed, fri]);
    ok(&out, "diff --format json");
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    let who = |rows: &Value| -> Vec<(String, String)> {
        let mut v: Vec<_> = by_pair(rows).into_keys().collect();
        v.sort();
        v
    };
    assert_eq!(
        who(&diff["removed"]),
        [pair("alice", "3-MULTI"), pair("bob", "1-EDIT")]
    );
    assert_eq!(diff["added"], Value::Array(vec![]));
    let changed: Vec<(String, String)> = diff["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ch| {
            (
                ch["new"]["username"].as_str().unwrap().to_string(),
                ch["new"]["task"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut changed_sorted = changed.clone();
    changed_sorted.sort();
    assert_eq!(
        changed_sorted,
        [pair("alice", "1-EDIT"), pair("bob", "0-GET")]
    );

    // Restore the deleted texts: the diff's restore SQL into the live
    // database, through the container's own psql.
    let psql = "docker exec -i server-db-1 psql -X -q -v ON_ERROR_STOP=1 -U buggy -d buggy_race";
    let restore = format!("textrescue diff {wed} {fri} --format sql | {psql}");
    let out = sh(&restore, &bin, &[]);
    let said = ok(&out, "the restore");
    show(&restore, &format!("{said}{}", text(&out.stderr)));
    // Bob's overwritten 0-GET: his Wednesday text, over today's.
    let restore_bob = format!(
        "textrescue texts {wed} --user bob --task 0-GET --format sql --on-conflict overwrite | {psql}"
    );
    let out_bob = sh(&restore_bob, &bin, &[]);
    let said_bob = ok(&out_bob, "bob's restore");
    show(
        &restore_bob,
        &format!("{said_bob}{}", text(&out_bob.stderr)),
    );
    // On stderr only what the admin needs: textrescue's word on what the
    // script does, and the script's own report (psql's notices).
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(
        lines[0].starts_with("textrescue: warning: the script restores the 2 removed texts; the 2 changed ones stay as they are"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("NOTICE:  restored alice 3-MULTI"),
        "{err}"
    );
    assert!(
        lines[2].starts_with("NOTICE:  restored bob 1-EDIT"),
        "{err}"
    );
    assert_eq!(
        lines[3], "NOTICE:  textrescue: restored 2, skipped 0, overwritten 0 (of 2 texts)",
        "{err}"
    );
    let err = text(&out_bob.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("NOTICE:  overwrote bob 0-GET"),
        "{err}"
    );
    assert_eq!(
        lines[1], "NOTICE:  textrescue: restored 0, skipped 0, overwritten 1 (of 1 texts)",
        "{err}"
    );
    // psql -q: nothing on stdout.
    assert!(said.is_empty() && said_bob.is_empty(), "{said}{said_bob}");

    // The live texts: what was lost is back, byte-exact; alice's own
    // rewrite of 1-EDIT stays.
    let live = by_pair(&c.texts_json(DB));
    let wed_texts = by_pair(&texts_of(&wednesday));
    assert_eq!(live[&pair("alice", "3-MULTI")], ALICE_MULTI);
    assert_eq!(
        live[&pair("alice", "3-MULTI")],
        wed_texts[&pair("alice", "3-MULTI")]
    );
    assert_eq!(live[&pair("bob", "1-EDIT")], BOB_EDIT);
    assert_eq!(live[&pair("bob", "0-GET")], BOB_GET);
    assert_eq!(live[&pair("alice", "1-EDIT")], ALICE_EDIT_V3);
    assert_eq!(live.len(), 4, "{live:?}");

    // Saturday night's backup, diffed with Wednesday's: only alice's own
    // rewrite differs.
    let saturday = night("Saturday's backup");
    let sat = saturday.to_str().unwrap();
    let out = tr(&["diff", "--format", "json", wed, sat]);
    ok(&out, "diff");
    let diff: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(diff["removed"], Value::Array(vec![]), "{diff}");
    assert_eq!(diff["added"], Value::Array(vec![]), "{diff}");
    assert_eq!(diff["changed"].as_array().unwrap().len(), 1, "{diff}");
    assert_eq!(diff["changed"][0]["new"]["text"], ALICE_EDIT_V3);
    let out = tr(&["diff", wed, sat]);
    show(&format!("textrescue diff {wed} {sat}"), &ok(&out, "diff"));
    assert!(!c.runs("pg_dump"), "{}", c.ps());
}
