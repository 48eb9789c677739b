//! `textrescue texts` and `inspect` on the committed fixtures (real pg_dump
//! output; see fixtures/README.md). These need no PostgreSQL server: the
//! expected values were made by PostgreSQL itself when the fixtures were built.

use crate::common;

use assert_cmd::Command;
use common::fixture;
use serde_json::Value;

const NIGHT1: &str = "nights/buggy_race_bk_20240304.sql.gz";
const NIGHT2: &str = "nights/buggy_race_bk_20240305.sql.gz";
const NIGHT3: &str = "nights/buggy_race_bk_20240306-021500.sql.gz";

fn textrescue() -> Command {
    let mut c = Command::cargo_bin("textrescue").unwrap();
    c.env("TZ", "UTC");
    c
}

fn run_ok(args: &[&str]) -> Vec<u8> {
    let out = textrescue().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "textrescue {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn json_of(args: &[&str]) -> Value {
    serde_json::from_slice(&run_ok(args)).unwrap()
}

fn expected(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(&format!("expected/{name}"))).unwrap()).unwrap()
}

fn path(p: &str) -> String {
    fixture(p).display().to_string()
}

/// The same texts as PostgreSQL's own json_agg, byte for byte in every text.
#[test]
fn every_night_matches_postgresql() {
    for (night, exp) in [
        (NIGHT1, "buggy_race_bk_20240304.json"),
        (NIGHT2, "buggy_race_bk_20240305.json"),
        (NIGHT3, "buggy_race_bk_20240306-021500.json"),
    ] {
        let got = json_of(&["texts", &path(night), "--format", "json"]);
        assert_eq!(got, expected(exp), "{night}");
    }
}

#[test]
fn json_keys_are_in_spec_order() {
    let out = String::from_utf8(run_ok(&[
        "texts",
        &path(NIGHT2),
        "--id",
        "101",
        "-f",
        "json",
    ]))
    .unwrap();
    let keys = [
        "\"id\"",
        "\"username\"",
        "\"user_id\"",
        "\"task\"",
        "\"task_id\"",
        "\"created_at\"",
        "\"modified_at\"",
        "\"text\"",
    ];
    let positions: Vec<usize> = keys.iter().map(|k| out.find(k).expect(k)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{out}");
}

#[test]
fn plain_gzip_crlf_multimember_and_dumpall_give_the_same_texts() {
    let want = expected("buggy_race_bk_20240305.json");
    for f in [
        "formats/plain.sql",
        "formats/plain.sql.gz",
        "formats/crlf.sql.gz",
        "formats/multi-member.sql.gz",
        "formats/dumpall.sql",
    ] {
        assert_eq!(json_of(&["texts", &path(f), "-f", "json"]), want, "{f}");
    }
    assert_eq!(
        json_of(&[
            "texts",
            &path("formats/dumpall-two-texts.sql"),
            "--database",
            "trfx_buggy_race",
            "-f",
            "json"
        ]),
        want
    );
}

#[test]
fn timestamps_keep_the_dump_offset() {
    let got = json_of(&["texts", &path("formats/tz-offset.sql.gz"), "-f", "json"]);
    assert_eq!(got, expected("tz-offset.json"));
    assert!(got[0]["created_at"].as_str().unwrap().ends_with("+05:30"));
}

#[test]
fn stdin_is_read_when_the_dump_is_a_dash() {
    let data = std::fs::read(fixture(NIGHT2)).unwrap();
    let out = textrescue()
        .args(["texts", "-", "-f", "json"])
        .write_stdin(data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got, expected("buggy_race_bk_20240305.json"));
}

#[test]
fn csv_holds_every_text_byte_exact() {
    let out = run_ok(&["texts", &path(NIGHT2), "-f", "csv"]);
    let mut reader = csv::ReaderBuilder::new().from_reader(out.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "id",
            "username",
            "user_id",
            "task",
            "task_id",
            "created_at",
            "modified_at",
            "text"
        ]
    );
    let want = expected("buggy_race_bk_20240305.json");
    let want = want.as_array().unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), want.len());
    for (row, w) in rows.iter().zip(want) {
        assert_eq!(row[0], w["id"].to_string());
        assert_eq!(&row[1], w["username"].as_str().unwrap());
        assert_eq!(&row[3], w["task"].as_str().unwrap());
        assert_eq!(&row[5], w["created_at"].as_str().unwrap());
        assert_eq!(&row[6], w["modified_at"].as_str().unwrap_or(""));
        assert_eq!(&row[7], w["text"].as_str().unwrap(), "text {}", w["id"]);
    }
}

#[test]
fn server_json_is_the_servers_own_format() {
    let got = json_of(&[
        "texts",
        &path(NIGHT2),
        "--user",
        "ALICE",
        "-f",
        "server-json",
    ]);
    assert_eq!(got, expected("night2-server.json"));
}

#[test]
fn server_json_needs_exactly_one_user_and_no_other_filter_unless_partial() {
    let n2 = path(NIGHT2);
    textrescue()
        .args(["texts", &n2, "-f", "server-json"])
        .assert()
        .code(2);
    textrescue()
        .args([
            "texts",
            &n2,
            "-u",
            "alice",
            "-u",
            "bob",
            "-f",
            "server-json",
        ])
        .assert()
        .code(2);
    textrescue()
        .args([
            "texts",
            &n2,
            "-u",
            "alice",
            "-t",
            "1-EDIT",
            "-f",
            "server-json",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--partial"));
    let got = json_of(&[
        "texts",
        &n2,
        "-u",
        "alice",
        "-t",
        "1-EDIT",
        "-f",
        "server-json",
        "--partial",
    ]);
    assert_eq!(got.as_array().unwrap().len(), 1);
    assert_eq!(got[0]["task_name"], "1-EDIT");
}

fn ids(args: &[&str]) -> Vec<i64> {
    let mut full = vec!["texts", args[0], "-f", "json"];
    full.extend_from_slice(&args[1..]);
    json_of(&full)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn filters_combine_with_and_and_repeat_as_or() {
    let n2 = path(NIGHT2);
    let want = expected("buggy_race_bk_20240305.json");
    let want = want.as_array().unwrap();
    let expect = |pred: &dyn Fn(&Value) -> bool| -> Vec<i64> {
        want.iter()
            .filter(|r| pred(r))
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        ids(&[&n2, "-u", "Alice"]),
        expect(&|r| r["username"] == "alice")
    );
    assert_eq!(
        ids(&[&n2, "-u", "alice", "-u", "bob"]),
        expect(&|r| r["username"] == "alice" || r["username"] == "bob")
    );
    assert_eq!(
        ids(&[&n2, "-t", "3-multi"]),
        expect(&|r| r["task"] == "3-MULTI")
    );
    assert_eq!(ids(&[&n2, "-t", "env"]), expect(&|r| r["task"] == "0-ENV"));
    assert_eq!(
        ids(&[&n2, "-u", "bob", "-t", "3-MULTI"]),
        expect(&|r| r["username"] == "bob" && r["task"] == "3-MULTI")
    );
    assert_eq!(ids(&[&n2, "--id", "101", "--id", "136"]), vec![101, 136]);
    assert!(ids(&[&n2, "-u", "nobody"]).is_empty());
    textrescue()
        .args(["texts", &n2, "-u", "nobody"])
        .assert()
        .success()
        .stderr(predicates::str::contains("no student named \"nobody\""));
}

#[test]
fn date_filters_use_whole_days_and_the_chosen_field() {
    let n2 = path(NIGHT2);
    let want = expected("buggy_race_bk_20240305.json");
    let want = want.as_array().unwrap();
    let day = |v: &Value| v.as_str().map(|s| s[..10].to_string());
    let changed = |r: &Value| {
        day(&r["modified_at"])
            .or_else(|| day(&r["created_at"]))
            .unwrap()
    };
    let expect = |pred: &dyn Fn(&Value) -> bool| -> Vec<i64> {
        want.iter()
            .filter(|r| pred(r))
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let since = expect(&|r| changed(r).as_str() >= "2024-03-01");
    assert!(!since.is_empty() && since.len() < want.len());
    assert_eq!(ids(&[&n2, "--since", "2024-03-01"]), since);
    assert_eq!(
        ids(&[&n2, "--until", "2024-02-29"]),
        expect(&|r| changed(r).as_str() <= "2024-02-29")
    );
    assert_eq!(
        ids(&[&n2, "--since", "2024-03-01", "--date-field", "created"]),
        expect(&|r| day(&r["created_at"]).unwrap().as_str() >= "2024-03-01")
    );
    assert_eq!(
        ids(&[&n2, "--since", "2000-01-01", "--date-field", "modified"]),
        expect(&|r| !r["modified_at"].is_null())
    );
    // Whole days: `--since D --until D` is every text changed on D, from
    // 00:00 to the last microsecond, for every day the dump has. At least
    // one of those texts was changed after noon, so an `--until` that
    // stopped at the start of its day would lose it.
    let changed_time = |r: &Value| {
        r["modified_at"]
            .as_str()
            .or(r["created_at"].as_str())
            .unwrap()
            .to_string()
    };
    assert!(
        want.iter().any(|r| changed_time(r)[11..13] >= *"12"),
        "the fixture has a text changed in an afternoon"
    );
    let mut days: Vec<String> = want.iter().map(changed).collect();
    days.sort();
    days.dedup();
    for d in &days {
        let on_day = expect(&|r| changed(r) == *d);
        assert!(!on_day.is_empty());
        assert_eq!(ids(&[&n2, "--since", d, "--until", d]), on_day, "{d}");
    }
    textrescue()
        .args(["texts", &n2, "--since", "last week"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--since"));
}

#[test]
fn table_output_is_readable_and_safe() {
    let out = String::from_utf8(run_ok(&["texts", &path(NIGHT2), "-u", "dmitri"])).unwrap();
    assert!(out.contains("dmitri") && out.contains("1-EDIT"), "{out}");
    // Text 115 holds every control character; none may reach the terminal raw.
    assert!(!out.bytes().any(|b| b < 0x20 && b != b'\n'), "{out:?}");
    assert!(out.trim_end().ends_with("texts"));
}

#[test]
fn output_file_is_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alice.json");
    run_ok(&[
        "texts",
        &path(NIGHT2),
        "-u",
        "alice",
        "-f",
        "json",
        "-o",
        file.to_str().unwrap(),
    ]);
    let got: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(got.as_array().unwrap().len(), 5);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file is left"
    );
}

#[test]
fn a_dump_of_the_texts_table_alone_works_with_a_warning() {
    let out = textrescue()
        .args(["texts", &path("formats/texts-only.sql"), "-f", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("usernames are unknown"));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = expected("buggy_race_bk_20240305.json");
    assert_eq!(
        got.as_array().unwrap().len(),
        want.as_array().unwrap().len()
    );
    assert!(got[0]["username"].is_null());
    assert_eq!(got[0]["text"], want[0]["text"]);
}

/// Every damaged input: exit status 1, one message saying what is wrong.
#[test]
fn damaged_inputs_fail_clearly() {
    for (file, says) in [
        ("damaged/empty.sql.gz", "is empty"),
        ("damaged/zero-bytes.sql.gz", "is empty"),
        ("damaged/truncated.sql.gz", "truncated"),
        (
            "damaged/cut-in-copy.sql",
            "ends inside the data of public.tasktexts",
        ),
        ("damaged/error-message.sql.gz", "error message"),
        ("damaged/not-a-dump.txt.gz", "not a pg_dump output"),
        ("damaged/no-trailer.sql", "incomplete"),
        ("formats/no-texts.sql.gz", "no texts table"),
        ("formats/dumpall-two-texts.sql", "--database"),
        ("does/not/exist.sql.gz", "cannot open"),
    ] {
        let out = textrescue()
            .args(["texts", &path(file), "-f", "json"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {err}");
        assert!(err.contains(says), "{file}: {err}");
        assert!(
            out.stdout.is_empty(),
            "{file}: nothing is output as if complete"
        );
    }
}

#[test]
fn the_cut_line_is_named() {
    textrescue()
        .args(["texts", &path("damaged/cut-in-copy.sql")])
        .assert()
        .code(1)
        .stderr(predicates::str::is_match(r"line \d+").unwrap())
        .stderr(predicates::str::contains("after 5 rows"));
}

#[test]
fn salvage_outputs_the_rows_before_the_damage() {
    let out = textrescue()
        .args([
            "texts",
            &path("damaged/cut-in-copy.sql"),
            "--salvage",
            "-f",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--salvage"));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), 5);
    // The rows kept are exactly the plain dump's first five, unchanged.
    let plain = json_of(&["texts", &path("formats/plain.sql"), "-f", "json"]);
    for row in got {
        let same = plain
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == row["id"])
            .unwrap();
        assert_eq!(row["text"], same["text"]);
    }
}

#[test]
fn inspect_describes_a_dump() {
    let got = json_of(&["inspect", &path(NIGHT2), "-f", "json"]);
    let r = &got[0];
    assert_eq!(r["format"], "plain");
    assert_eq!(r["compression"], "gzip");
    assert_eq!(r["complete"], true);
    assert!(r["pg_dump_version"].as_str().unwrap().starts_with("15."));
    assert!(r["server_version"].as_str().unwrap().starts_with("15."));
    assert_eq!(
        r["texts"],
        expected("buggy_race_bk_20240305.json")
            .as_array()
            .unwrap()
            .len()
    );
    assert_eq!(r["students"], 6);
    let tables = r["tables"].as_array().unwrap();
    let rows = |name: &str| {
        tables
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["rows"].clone())
    };
    assert_eq!(rows("public.tasktexts"), Some(r["texts"].clone()));
    assert_eq!(rows("public.users"), Some(7.into()));
    assert_eq!(rows("public.tasks"), Some(8.into()));
    for key in ["path", "database", "newest_text_change"] {
        assert!(r.get(key).is_some(), "{key}");
    }
}

#[test]
fn inspect_reports_damage_and_fails() {
    let out = textrescue()
        .args([
            "inspect",
            &path(NIGHT1),
            &path("damaged/cut-in-copy.sql"),
            "-f",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got[0]["complete"], true);
    assert_eq!(got[1]["complete"], false);
    assert!(
        got[1]["problem"]
            .as_str()
            .unwrap()
            .contains("public.tasktexts")
    );
}

#[test]
fn inspect_lists_the_databases_of_a_cluster_dump() {
    let got = json_of(&["inspect", &path("formats/dumpall.sql"), "-f", "json"]);
    assert_eq!(got[0]["database"], "trfx_buggy_race");
    let dbs: Vec<&str> = got[0]["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(dbs.contains(&"trfx_other_app"), "{dbs:?}");
    assert_eq!(got[0]["complete"], true);
}

#[test]
fn usage_errors_exit_2_and_completions_and_man_exist() {
    textrescue().args(["texts"]).assert().code(2);
    textrescue()
        .args(["texts", "x", "--format", "yaml"])
        .assert()
        .code(2);
    textrescue()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicates::str::contains("textrescue"));
    textrescue()
        .args(["man"])
        .assert()
        .success()
        .stdout(predicates::str::contains(".TH"))
        .stdout(predicates::str::contains("textrescue\\-texts"));
}

#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    let out = textrescue()
        .args(["texts", &path(NIGHT2), "-f", "json"])
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The texts table under another name or schema: `task_texts` is found by
/// default, anything else with `--table NAME` or `--table SCHEMA.NAME`.
#[test]
fn the_texts_table_can_have_another_name_and_schema() {
    let plain = std::fs::read_to_string(fixture("formats/plain.sql")).unwrap();
    let want = expected("buggy_race_bk_20240305.json");
    let dir = tempfile::tempdir().unwrap();
    let renamed = |to: &str| {
        let p = dir.path().join(format!("{to}.sql"));
        // Only the statement at a line start: text 121 holds the same words.
        let sql = plain.replace("\nCOPY public.tasktexts (", &format!("\nCOPY {to} ("));
        std::fs::write(&p, sql).unwrap();
        p.display().to_string()
    };
    let underscored = renamed("public.task_texts");
    assert_eq!(json_of(&["texts", &underscored, "-f", "json"]), want);
    let odd = renamed("school.notes");
    textrescue()
        .args(["texts", &odd])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("no texts table"));
    assert_eq!(
        json_of(&["texts", &odd, "--table", "notes", "-f", "json"]),
        want
    );
    assert_eq!(
        json_of(&["texts", &odd, "--table", "school.notes", "-f", "json"]),
        want
    );
    textrescue()
        .args(["texts", &odd, "--table", "public.notes"])
        .assert()
        .code(1);
}

/// On a terminal, a read that takes more than a second shows a progress bar
/// on stderr. `script` (util-linux) gives textrescue a pseudo-terminal; the
/// dump arrives slowly through a pipe so that the read lasts long enough.
#[test]
fn a_progress_bar_shows_on_a_terminal_for_a_long_read() {
    let bin = assert_cmd::cargo::cargo_bin("textrescue");
    let inner = format!(
        "(head -c 20000 {dump}; sleep 2; tail -c +20001 {dump}) | {bin} texts - -f json -o /dev/null",
        dump = path(NIGHT2),
        bin = bin.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qfec", &inner, "/dev/null"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("KiB") || shown.contains(" B/s"),
        "no progress bar in: {shown:?}"
    );
}

/// `-o` on something that is not a regular file (a device, a named pipe) is
/// written in place: renaming the finished export over it would replace
/// the device itself (an early version turned /dev/null into a file).
#[test]
fn output_to_a_device_or_fifo_writes_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    run_ok(&[
        "texts",
        &path(NIGHT2),
        "-u",
        "alice",
        "-f",
        "json",
        "-o",
        fifo.to_str().unwrap(),
    ]);
    let got: Value = serde_json::from_slice(&reader.join().unwrap()).unwrap();
    assert_eq!(got.as_array().unwrap().len(), 5);
    assert!(
        std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
        "the FIFO is still a FIFO"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file beside it"
    );
}
