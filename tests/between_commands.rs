//! The seams between commands: a backups folder that `backup` writes and
//! `history` reads, `--output` that never names an input, a closed stdout,
//! usage errors, names that match nothing, text made safe for a terminal
//! and server JSON in ASCII. On the committed fixtures (real pg_dump
//! output); no server needed.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use common::fixture;
use serde_json::Value;

const NIGHTS: [&str; 3] = [
    "buggy_race_bk_20240304.sql.gz",
    "buggy_race_bk_20240305.sql.gz",
    "buggy_race_bk_20240306-021500.sql.gz",
];

fn night(i: usize) -> PathBuf {
    fixture(&format!("nights/{}", NIGHTS[i]))
}

fn textrescue() -> Command {
    let mut c = Command::cargo_bin("textrescue").unwrap();
    c.env("TZ", "UTC");
    c
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn nights_in(dir: &Path) {
    for (i, name) in NIGHTS.iter().enumerate() {
        std::fs::copy(night(i), dir.join(name)).unwrap();
    }
}

fn history_json(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn dumps_of(rows: &[Value]) -> Vec<String> {
    rows[0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            Path::new(v["dump"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

// ---- 1. A backups folder -------------------------------------------------

/// The lock, a partial backup left by a killed run and an index file are
/// the tool's own: never read, never reported. Another file gets one warning.
#[test]
fn history_of_a_backups_folder_is_silent_about_the_tools_own_files() {
    let dir = tempfile::tempdir().unwrap();
    nights_in(dir.path());
    std::fs::write(dir.path().join(".textrescue-backup.lock"), "4242\n").unwrap();
    // What a killed backup leaves: a cut gzip under the partial name.
    let night = std::fs::read(night(1)).unwrap();
    std::fs::write(
        dir.path()
            .join(".textrescue-partial-4242-buggy_race_bk_20240307-021500.sql.gz"),
        &night[..night.len() / 2],
    )
    .unwrap();
    std::fs::write(dir.path().join(".textrescue-index-1"), "x").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "buy milk\n").unwrap();

    let out = textrescue()
        .args(["history", "--user", "alice", "-f", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    let rows = history_json(&out);
    assert_eq!(dumps_of(&rows), NIGHTS);
    let err = stderr(&out);
    assert!(!err.contains(".textrescue"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("notes.txt")).count(),
        1,
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Backups of two databases in one folder: one timeline at a time, the
/// newest one's by default, `--prefix` for the other; history says so.
#[test]
fn backups_of_two_databases_in_one_folder_are_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    nights_in(dir.path());
    std::fs::copy(
        night(0),
        dir.path().join("staging_bk_20240310-010000.sql.gz"),
    )
    .unwrap();
    std::fs::copy(
        night(1),
        dir.path().join("staging_bk_20240311-010000.sql.gz"),
    )
    .unwrap();

    let out = textrescue()
        .args(["history", "--user", "alice", "-f", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    let rows = history_json(&out);
    assert_eq!(
        dumps_of(&rows),
        [
            "staging_bk_20240310-010000.sql.gz",
            "staging_bk_20240311-010000.sql.gz"
        ]
    );
    let err = stderr(&out);
    assert!(err.contains("buggy_race_bk_"), "{err}");
    assert!(err.contains("staging_bk_"), "{err}");
    assert!(err.contains("--prefix"), "{err}");

    let out = textrescue()
        .args(["history", "--user", "alice", "-f", "json"])
        .args(["--prefix", "buggy_race_bk_"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(dumps_of(&history_json(&out)), NIGHTS);

    let out = textrescue()
        .args(["history", "--user", "alice", "--prefix", "prod_bk_"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("prod_bk_") && err.contains("buggy_race_bk_"),
        "{err}"
    );
}

// ---- 2. --output never names an input -------------------------------------

fn assert_refused(out: &Output, what: &str) {
    assert_eq!(out.status.code(), Some(2), "{what}: {}", stderr(out));
    assert!(stderr(out).contains("input"), "{what}: {}", stderr(out));
    assert!(out.stdout.is_empty(), "{what}");
}

#[test]
fn output_that_is_an_input_is_a_usage_error_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.sql.gz");
    std::fs::copy(night(1), &copy).unwrap();
    let original = std::fs::read(&copy).unwrap();
    let link = dir.path().join("link.sql.gz");
    std::os::unix::fs::symlink(&copy, &link).unwrap();
    let hard = dir.path().join("hard.csv");
    std::fs::hard_link(&copy, &hard).unwrap();

    for target in [&copy, &link, &hard] {
        let out = textrescue()
            .args(["texts", "--user", "alice", "-f", "csv"])
            .arg(&copy)
            .arg("-o")
            .arg(target)
            .output()
            .unwrap();
        assert_refused(&out, &target.display().to_string());
    }
    // Through a link the other way round, and from standard input.
    let out = textrescue()
        .args(["texts", "-f", "csv"])
        .arg(&link)
        .arg("-o")
        .arg(&copy)
        .output()
        .unwrap();
    assert_refused(&out, "input is a link");
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("textrescue"))
        .args(["texts", "-", "-f", "csv", "-o"])
        .arg(&copy)
        .stdin(std::fs::File::open(&copy).unwrap())
        .output()
        .unwrap();
    assert_refused(&out, "stdin");

    // diff: either dump.
    let other = dir.path().join("other.sql.gz");
    std::fs::copy(night(0), &other).unwrap();
    for target in [&other, &copy] {
        let out = textrescue()
            .args(["diff", "-f", "json"])
            .arg(&other)
            .arg(&copy)
            .arg("-o")
            .arg(target)
            .output()
            .unwrap();
        assert_refused(&out, "diff");
    }
    // history: a dump found in a directory.
    let out = textrescue()
        .args(["history", "-f", "json"])
        .arg(dir.path())
        .arg("-o")
        .arg(&other)
        .output()
        .unwrap();
    assert_refused(&out, "history");

    assert_eq!(
        std::fs::read(&copy).unwrap(),
        original,
        "the dump is intact"
    );
    assert_eq!(
        std::fs::read(&other).unwrap(),
        std::fs::read(night(0)).unwrap()
    );
}

#[test]
fn output_that_is_a_file_of_a_directory_dump_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dir");
    std::fs::create_dir(&dump).unwrap();
    for entry in std::fs::read_dir(fixture("formats/dir")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dump.join(entry.file_name())).unwrap();
    }
    let toc = std::fs::read(dump.join("toc.dat")).unwrap();
    let out = textrescue()
        .args(["texts", "-f", "csv"])
        .arg(&dump)
        .arg("-o")
        .arg(dump.join("toc.dat"))
        .output()
        .unwrap();
    assert_refused(&out, "toc.dat");
    assert_eq!(std::fs::read(dump.join("toc.dat")).unwrap(), toc);
}

#[test]
fn output_goes_through_an_unpredictable_temporary_file_never_a_link() {
    let dir = tempfile::tempdir().unwrap();
    // A link planted at the target: the link is replaced, what it points
    // at is never written.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let target = dir.path().join("alice.json");
    std::os::unix::fs::symlink(&victim, &target).unwrap();
    let out = textrescue()
        .args(["texts", "-u", "alice", "-f", "json"])
        .arg(night(1))
        .arg("-o")
        .arg(&target)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(std::fs::symlink_metadata(&target).unwrap().is_file());
    let v: Value = serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 5);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");

    // A missing folder is named as the target's folder.
    let missing = dir.path().join("gone");
    let out = textrescue()
        .args(["texts", "-u", "alice", "-f", "json"])
        .arg(night(1))
        .arg("-o")
        .arg(missing.join("alice.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("the folder {} does not exist", missing.display())),
        "{err}"
    );
    assert!(!err.contains(".textrescue-"), "{err}");
}

// ---- 3. history's restore commands -----------------------------------------

#[test]
fn history_restore_commands_write_distinct_files() {
    let dir = tempfile::tempdir().unwrap();
    nights_in(dir.path());
    // Night 1 alone has alice's 0-ENV and bob's texts that are gone later?
    // Use nights 1 and 3 and every student: several texts are gone.
    let out = textrescue()
        .args(["history"])
        .arg(dir.path().join(NIGHTS[0]))
        .arg(dir.path().join(NIGHTS[2]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    let commands: Vec<&str> = table
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("textrescue texts "))
        .collect();
    assert!(commands.len() >= 2, "{table}");
    let mut files: Vec<&str> = commands
        .iter()
        .map(|c| {
            c.split_whitespace()
                .find_map(|w| w.strip_prefix("--output="))
                .expect(c)
        })
        .collect();
    assert!(!table.contains("> restore.sql"), "{table}");
    let n = files.len();
    files.sort();
    files.dedup();
    assert_eq!(files.len(), n, "{table}");

    // Each command works as printed (run in a scratch folder).
    let work = tempfile::tempdir().unwrap();
    for c in &commands {
        let words: Vec<&str> = c.split_whitespace().collect();
        let out = textrescue()
            .current_dir(work.path())
            .args(&words[1..])
            .output()
            .unwrap();
        assert!(out.status.success(), "{c}: {}", stderr(&out));
    }
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), n);
}

// ---- 4. A closed standard output -------------------------------------------

/// Runs with stdout a pipe whose reader is already closed.
fn closed_stdout(args: &[&std::ffi::OsStr]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("textrescue"));
    cmd.env("TZ", "UTC").args(args).stdout(writer);
    cmd.output().unwrap()
}

#[test]
fn a_closed_stdout_ends_quietly_with_status_0_in_every_format() {
    let n1 = night(0).into_os_string();
    let n2 = night(1).into_os_string();
    let dir = fixture("nights").into_os_string();
    let s = |x: &str| std::ffi::OsString::from(x);
    let mut runs: Vec<Vec<std::ffi::OsString>> = Vec::new();
    for f in ["table", "csv", "json", "sql"] {
        runs.push(vec![s("texts"), n2.clone(), s("-f"), s(f)]);
    }
    runs.push(vec![
        s("texts"),
        n2.clone(),
        s("-f"),
        s("server-json"),
        s("-u"),
        s("chloe"),
    ]);
    for f in ["table", "csv", "json"] {
        runs.push(vec![s("diff"), n1.clone(), n2.clone(), s("-f"), s(f)]);
    }
    // (overwrite: without it the script's warning about changed texts shows.)
    runs.push(vec![
        s("diff"),
        n1.clone(),
        n2.clone(),
        s("-f"),
        s("sql"),
        s("--on-conflict"),
        s("overwrite"),
    ]);
    runs.push(vec![s("diff"), n1.clone(), n2.clone(), s("--text")]);
    for f in ["table", "json"] {
        runs.push(vec![s("history"), dir.clone(), s("-f"), s(f)]);
        runs.push(vec![s("inspect"), n1.clone(), n2.clone(), s("-f"), s(f)]);
    }
    for args in &runs {
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let out = closed_stdout(&refs);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

// ---- 5. Options that do nothing, dates that do not parse -------------------

#[test]
fn options_that_do_nothing_and_bad_dates_are_usage_errors() {
    let n = night(1).display().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["texts", &n, "--check"],
        vec!["texts", &n, "-f", "json", "--check"],
        vec!["texts", &n, "-f", "csv", "--on-conflict", "overwrite"],
        vec!["texts", &n, "--on-conflict", "skip"],
        vec!["diff", &n, &n, "--check"],
        vec!["diff", &n, &n, "-f", "json", "--on-conflict", "error"],
        vec!["texts", &n, "-u", "alice", "-f", "json", "--partial"],
        vec!["texts", &n, "--since", "last tuesday"],
        vec!["texts", &n, "--until", "2024-13-01"],
        vec!["diff", &n, &n, "--since", "yesterday"],
        vec!["history", &n, "--until", "soon"],
    ];
    for args in cases {
        let out = textrescue().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // With --format sql they are fine.
    textrescue()
        .args(["texts", &n, "-u", "alice", "-f", "sql", "--check"])
        .args(["--on-conflict", "overwrite"])
        .assert()
        .success();
    textrescue()
        .args(["texts", &n, "-u", "alice", "-f", "server-json", "--partial"])
        .args(["--task", "0-GET"])
        .assert()
        .success();
}

// ---- 6. Names that match nothing --------------------------------------------

#[test]
fn a_user_or_task_that_names_nothing_gets_the_nearest_names() {
    let n = night(1).display().to_string();
    let out = textrescue()
        .args(["texts", &n, "--user", "alise", "-f", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("\"alise\""), "{err}");
    assert!(err.contains("alice"), "{err}");

    let out = textrescue()
        .args(["texts", &n, "--task", "3-MULTY", "-f", "json"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(err.contains("3-MULTY"), "{err}");
    assert!(err.contains("3-MULTI"), "{err}");

    let out = textrescue()
        .args(["texts", &n, "--task", "COSTS", "-f", "json"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(err.contains("4-COST"), "{err}");

    // The student and the task exist, the text does not: history finds
    // older backups.
    let n3 = night(2).display().to_string();
    let out = textrescue()
        .args(["texts", &n3, "--user", "alice", "--task", "0-ENV"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("textrescue history"), "{err}");
    assert!(!err.contains("nearest"), "{err}");

    // diff and history warn too.
    let n1 = night(0).display().to_string();
    let out = textrescue()
        .args(["diff", &n1, &n, "--user", "alise"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("alice"), "{}", stderr(&out));
    let out = textrescue()
        .args(["history", &n1, &n, "--user", "alise"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("alice"), "{}", stderr(&out));
}

// ---- 10. Terminal output escapes invisible and reordering characters -------

/// fixtures/formats/plain.sql with text 101's first line replaced.
fn plain_with_text_101(dir: &Path, text: &str) -> PathBuf {
    let plain = std::fs::read_to_string(fixture("formats/plain.sql")).unwrap();
    let old = "101\t2024-02-26 09:15:02.123456+00\t\\N\t2\t1\tCloned the repo from GitHub.";
    assert!(plain.contains(old));
    let new = format!("101\t2024-02-26 09:15:02.123456+00\t\\N\t2\t1\t{text}");
    let path = dir.join(format!("plain-{}.sql", text.len()));
    std::fs::write(&path, plain.replacen(old, &new, 1)).unwrap();
    path
}

#[test]
fn terminal_output_escapes_bidi_separators_and_zero_width_characters() {
    let dir = tempfile::tempdir().unwrap();
    let nasty = "ok\u{202e}evil\u{2066}x\u{2028}y\u{2029}z\u{200b}w\u{feff}v";
    let dump = plain_with_text_101(dir.path(), nasty);
    let out = textrescue()
        .args(["texts", "--id", "101"])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    for c in [
        '\u{202e}', '\u{2066}', '\u{2028}', '\u{2029}', '\u{200b}', '\u{feff}',
    ] {
        assert!(!table.contains(c), "{c:?} in {table}");
    }
    assert!(table.contains("\\u{202e}"), "{table}");

    let clean = fixture("formats/plain.sql");
    let out = textrescue()
        .args(["diff", "--text"])
        .arg(&clean)
        .arg(&dump)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains("\\u{2028}"), "{shown}");
    for c in [
        '\u{202e}', '\u{2066}', '\u{2028}', '\u{2029}', '\u{200b}', '\u{feff}',
    ] {
        assert!(!shown.contains(c), "{c:?} in {shown}");
    }

    // A username that reorders what follows it, in the table, history and diff.
    let plain = std::fs::read_to_string(&dump).unwrap();
    let renamed = dir.path().join("renamed.sql");
    std::fs::write(
        &renamed,
        plain.replacen("\nalice\t", "\nal\u{202e}ice\u{200b}\t", 1),
    )
    .unwrap();
    for args in [
        vec!["texts", "--id", "101"],
        vec!["history", "--id", "101"],
        vec!["diff", "--id", "101", "--text"],
    ] {
        let mut c = textrescue();
        c.args(&args);
        if args[0] == "diff" {
            c.arg(&clean);
        }
        let out = c.arg(&renamed).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let shown = String::from_utf8(out.stdout).unwrap();
        assert!(
            shown.contains("al\\u{202e}ice\\u{200b}"),
            "{args:?}: {shown}"
        );
        assert!(
            !shown.contains('\u{202e}') && !shown.contains('\u{200b}'),
            "{args:?}: {shown}"
        );
    }
}

/// File names are chosen by whoever can write to the backups folder (or
/// the bucket): warnings and errors that name them show what would drive
/// the terminal or reorder the line as escapes, from every command that
/// reads a folder or a file.
#[test]
fn warnings_and_errors_escape_the_file_names_they_show() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "buggy_race_bk_20240308\u{202e}zg.lqs\u{1b}[2J.sql.gz";
    std::fs::write(dir.path().join(bad), b"garbage").unwrap();
    std::fs::copy(night(1), dir.path().join("buggy_race_bk_20240304.sql.gz")).unwrap();
    let file = dir.path().join(bad);
    for (args, exit) in [
        (vec!["history".into(), dir.path().to_path_buf()], true),
        (vec!["texts".into(), file.clone()], false),
        (vec!["inspect".into(), file.clone()], false),
    ] {
        let out = textrescue().args(&args).output().unwrap();
        assert_eq!(out.status.success(), exit, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("buggy_race_bk_20240308\\u{202e}zg.lqs\\u{1b}[2J.sql.gz"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains('\u{202e}') && !err.contains('\u{1b}'),
            "{args:?}: {err}"
        );
    }
}

// ---- Part 5. server-json in ASCII ------------------------------------------

#[test]
fn server_json_is_pure_ascii_and_means_the_same() {
    // chloe has texts beyond the BMP (emoji) and accented letters.
    let out = textrescue()
        .args(["texts", "-u", "chloe", "-f", "server-json"])
        .arg(night(1))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        out.stdout.is_ascii(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(text.contains("\\ud83"), "a surrogate pair: {text}");
    let server: Value = serde_json::from_slice(&out.stdout).unwrap();

    let json: Value = serde_json::from_slice(
        &textrescue()
            .args(["texts", "-u", "chloe", "-f", "json"])
            .arg(night(1))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let want: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    let got: Vec<&str> = server
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(got, want);
    assert!(want.iter().any(|t| !t.is_ascii()));
}

// ---- 1 again, end to end: the folder `backup` writes -----------------------

/// `backup --dir B` twice (the second within the same second gets a `-N`
/// name), then `history B`: no warning about the lock or anything else, and
/// both backups in the timeline.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn history_reads_the_folder_backup_writes_without_a_warning() {
    let pg = common::pg();
    let db = pg.create_db("seams");
    db.load_schema_with_people();
    db.psql(&common::insert_text_sql(
        None,
        2,
        1,
        "2024-03-01 14:22:11.123456+00",
        None,
        "alice's text",
    ));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    for _ in 0..2 {
        let out = db
            .command(assert_cmd::cargo::cargo_bin("textrescue").to_str().unwrap())
            .env_remove("PGPASSWORD")
            .args(["backup", "--quiet", "--dir"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert!(dir.join(".textrescue-backup.lock").exists());
    let out = textrescue()
        .args(["history", "-f", "json"])
        .arg(&dir)
        .output()
        .unwrap();
    let rows = history_json(&out);
    assert_eq!(stderr(&out), "");
    assert_eq!(rows.len(), 1);
    let dumps = dumps_of(&rows);
    assert_eq!(dumps.len(), 2, "{dumps:?}");
    assert!(
        dumps
            .iter()
            .all(|d| d.starts_with(&format!("{}_bk_", db.name()))),
        "{dumps:?}"
    );
}
