//! `textrescue inspect` on real dumps and on damage made from them in the
//! test (files removed from a `-Fd` directory, an archive cut inside its
//! TOC, a CRLF conversion as `docker exec -t` makes): every path gets an
//! entry, what could be read is reported, what is wrong is named.

use crate::common;

use std::path::{Path, PathBuf};

use common::fixture;
use serde_json::Value;

const NIGHT2: &str = "nights/buggy_race_bk_20240305.sql.gz";

fn textrescue() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("textrescue").unwrap();
    c.env("TZ", "UTC");
    c
}

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = textrescue().args(args).output().unwrap();
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}\nstderr: {}",
                String::from_utf8_lossy(&self.stdout),
                self.stderr
            )
        })
    }
}

fn path(p: &str) -> String {
    fixture(p).display().to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `(database, table) -> rows` of an inspect report.
fn tables(report: &Value) -> Vec<(Option<String>, String, Option<u64>)> {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["database"].as_str().map(String::from),
                t["name"].as_str().unwrap().to_string(),
                t["rows"].as_u64(),
            )
        })
        .collect()
}

#[test]
fn database_naming_no_database_is_an_error_listing_them() {
    let r = run(&[
        "inspect",
        &path("formats/dumpall.sql"),
        "--database",
        "nope",
        "-f",
        "json",
    ]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    for name in ["\"nope\"", "trfx_buggy_race", "trfx_other_app", "postgres"] {
        assert!(r.stderr.contains(name), "{name} not in: {}", r.stderr);
    }
    let report = &r.json()[0];
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("no database \"nope\""),
        "{report}"
    );
    // The same message as `texts` gives.
    let texts = run(&["texts", &path("formats/dumpall.sql"), "--database", "nope"]);
    assert_eq!(texts.code, Some(1));
    assert!(texts.stderr.contains("trfx_other_app"), "{}", texts.stderr);

    // A plain pg_dump names no database at all.
    let r = run(&["inspect", &path(NIGHT2), "--database", "buggy_race"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("no database \"buggy_race\""),
        "{}",
        r.stderr
    );
    // One that exists is fine.
    let r = run(&[
        "inspect",
        &path("formats/dumpall.sql"),
        "--database",
        "trfx_other_app",
        "-f",
        "json",
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.json()[0]["database"], "trfx_other_app");
}

#[test]
fn a_cluster_dump_shows_every_databases_tables() {
    let r = run(&["inspect", &path("formats/dumpall.sql"), "-f", "json"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let report = &r.json()[0];
    let all = tables(report);
    let of = |db: &str| -> Vec<(String, Option<u64>)> {
        all.iter()
            .filter(|t| t.0.as_deref() == Some(db))
            .map(|t| (t.1.clone(), t.2))
            .collect()
    };
    let race = of("trfx_buggy_race");
    let other = of("trfx_other_app");
    assert_eq!(race.len(), 12, "{all:?}");
    assert_eq!(other.len(), 11, "{all:?}");
    assert!(race.contains(&("public.tasktexts".into(), Some(33))));
    assert!(other.contains(&("public.users".into(), Some(7))));
    assert!(!other.iter().any(|t| t.0 == "public.tasktexts"));
    assert_eq!(all.len(), race.len() + other.len());
    // The texts are still those of the database that has them.
    assert_eq!(report["database"], "trfx_buggy_race");
    assert_eq!(report["texts"], 33);

    // The table view names the database of every table.
    let r = run(&["inspect", &path("formats/dumpall.sql")]);
    let out = String::from_utf8(r.stdout).unwrap();
    let line = out
        .lines()
        .find(|l| l.contains("trfx_other_app") && l.contains("public.settings"))
        .unwrap_or_else(|| panic!("no line for trfx_other_app's settings in:\n{out}"));
    assert!(line.contains('5'), "{line}");
}

#[test]
fn json_has_an_entry_for_every_path_with_an_error_where_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such.sql.gz");
    let r = run(&[
        "inspect",
        &path(NIGHT2),
        s(&missing),
        &path("damaged/not-a-dump.txt.gz"),
        &path("damaged/cut-in-copy.sql"),
        "-f",
        "json",
    ]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let got = r.json();
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[0]["path"], path(NIGHT2));
    assert!(got[0].get("error").is_none(), "{}", got[0]);
    assert_eq!(got[0]["complete"], true);

    assert_eq!(got[1]["path"], s(&missing));
    assert!(
        got[1]["error"].as_str().unwrap().contains("cannot open"),
        "{}",
        got[1]
    );
    assert_eq!(got[1]["complete"], false);
    assert_eq!(got[1]["tables"], Value::Array(vec![]));

    assert_eq!(got[2]["path"], path("damaged/not-a-dump.txt.gz"));
    assert!(
        got[2]["error"].as_str().unwrap().contains("not a pg_dump"),
        "{}",
        got[2]
    );

    // Damaged but read: described, without an error key.
    assert!(got[3].get("error").is_none(), "{}", got[3]);
    assert_eq!(got[3]["complete"], false);
    // Every key of a report is in every entry.
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "error")
            .cloned()
            .collect();
        k.sort();
        k
    };
    for entry in got {
        assert_eq!(keys(entry), keys(&got[0]));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A `-Fd` dump whose data files for `buggies` (3451) and `racetracks` (3455)
/// were lost.
fn dir_without_two_files() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump");
    copy_dir(&fixture("formats/dir"), &dump);
    std::fs::remove_file(dump.join("3451.dat.gz")).unwrap();
    std::fs::remove_file(dump.join("3455.dat.gz")).unwrap();
    (dir, dump)
}

#[test]
fn a_directory_dump_with_missing_files_reports_the_rest_and_names_each_missing_file() {
    let (_dir, dump) = dir_without_two_files();
    let r = run(&["inspect", s(&dump), "-f", "json"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let report = &r.json()[0];
    assert_eq!(report["complete"], false);
    let problem = report["problem"].as_str().unwrap();
    for named in [
        "3451.dat",
        "public.buggies",
        "3455.dat",
        "public.racetracks",
    ] {
        assert!(problem.contains(named), "{named} not in: {problem}");
    }
    let got: Vec<(String, Option<u64>)> = tables(report).into_iter().map(|t| (t.1, t.2)).collect();
    // Every table whose file is there, with its rows, in TOC order.
    let whole = run(&["inspect", &path("formats/dir"), "-f", "json"]).json();
    let want: Vec<(String, Option<u64>)> = tables(&whole[0])
        .into_iter()
        .map(|t| (t.1, t.2))
        .filter(|t| t.0 != "public.buggies" && t.0 != "public.racetracks")
        .collect();
    assert_eq!(want.len(), 10);
    assert_eq!(got, want);
    assert_eq!(report["texts"], 33);

    // texts: an error naming both files; with --salvage, the texts.
    let r = run(&["texts", s(&dump), "-f", "json"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("3451.dat") && r.stderr.contains("3455.dat"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
    let r = run(&["texts", s(&dump), "--salvage", "-f", "json"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("3455.dat"), "{}", r.stderr);
    let want: Value = serde_json::from_slice(
        &std::fs::read(fixture("expected/buggy_race_bk_20240305.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(r.json(), want);
}

#[test]
fn a_damaged_archive_still_reports_its_header() {
    let whole = run(&["inspect", &path("formats/custom.dump"), "-f", "json"]).json();
    let whole = &whole[0];
    let archive = std::fs::read(fixture("formats/custom.dump")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Cut inside the TOC (its first entries follow the ~150-byte header).
    let cut = dir.path().join("cut.dump");
    std::fs::write(&cut, &archive[..1000]).unwrap();
    let r = run(&["inspect", s(&cut), "-f", "json"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let report = &r.json()[0];
    assert_eq!(report["complete"], false);
    assert!(report.get("error").is_none(), "{report}");
    for key in [
        "format",
        "compression",
        "archive_version",
        "pg_dump_version",
        "server_version",
        "database",
    ] {
        assert!(!whole[key].is_null(), "{key}");
        assert_eq!(report[key], whole[key], "{key}");
    }
    assert!(
        report["problem"].as_str().unwrap().contains("TOC entry"),
        "{report}"
    );
}

/// What `docker exec -t` does to a binary dump: every LF becomes CRLF.
fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 11 / 10);
    for &b in bytes {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[test]
fn a_crlf_converted_binary_dump_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "formats/custom.dump",
        "formats/custom-z0.dump",
        "formats/tar.tar",
        "formats/plain.sql.gz",
    ] {
        let bytes = crlf(&std::fs::read(fixture(name)).unwrap());
        assert!(bytes.contains(&b'\n'), "{name}: no LF to convert");
        let p = dir.path().join("converted");
        std::fs::write(&p, &bytes).unwrap();
        for args in [
            vec!["inspect", s(&p)],
            vec!["texts", s(&p)],
            vec!["texts", s(&p), "--salvage"],
        ] {
            let r = run(&args);
            assert_eq!(r.code, Some(1), "{name} {args:?}: {}", r.stderr);
            assert!(
                r.stderr
                    .contains("looks like a CRLF conversion of a binary file"),
                "{name} {args:?}: {}",
                r.stderr
            );
        }
        // From standard input too.
        let out = textrescue()
            .args(["texts", "-"])
            .write_stdin(bytes)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name} from stdin: {stderr}");
        assert!(
            stderr.contains("looks like a CRLF conversion of a binary file"),
            "{name} from stdin: {stderr}"
        );
    }
    // The repair the message gives restores an archive byte for byte.
    let original = std::fs::read(fixture("formats/custom.dump")).unwrap();
    let converted = dir.path().join("converted.dump");
    std::fs::write(&converted, crlf(&original)).unwrap();
    let r = run(&["texts", s(&converted)]);
    let repair = r
        .stderr
        .split("restores this one exactly: ")
        .nth(1)
        .and_then(|rest| rest.split(" < FILE > FIXED").next())
        .unwrap_or_else(|| panic!("no repair command in: {}", r.stderr));
    let fixed = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{repair} < \"$0\"",))
        .arg(&converted)
        .output()
        .unwrap();
    assert!(fixed.status.success(), "{repair}");
    assert!(
        fixed.stdout == original,
        "{repair} does not restore the archive"
    );

    // A plain dump with CRLF line ends is no binary file: it reads.
    let r = run(&["texts", &path("formats/crlf.sql.gz"), "-f", "json"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!r.stderr.contains("CRLF conversion"), "{}", r.stderr);
}

#[test]
fn table_naming_a_table_without_the_texts_columns_says_so() {
    for args in [
        vec!["inspect", "--table", "users"],
        vec!["texts", "--table", "users"],
        vec!["inspect", "--table", "public.users", "-f", "json"],
    ] {
        let mut args = args.clone();
        let dump = path("formats/plain.sql");
        args.insert(1, &dump);
        let r = run(&args);
        assert_eq!(r.code, Some(1), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("public.users")
                && r.stderr.contains("lacks the texts table's columns")
                && r.stderr.contains("user_id"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(
            !r.stderr.contains("IS_STORING_STUDENT_TASK_TEXTS"),
            "{args:?}: {}",
            r.stderr
        );
    }
    // So does texts with --database choosing the database.
    let r = run(&[
        "texts",
        &path("formats/dumpall.sql"),
        "--database",
        "trfx_buggy_race",
        "--table",
        "users",
    ]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("lacks the texts table's columns"),
        "{}",
        r.stderr
    );
    // A --table that names no table at all says that instead.
    let r = run(&["inspect", &path("formats/plain.sql"), "--table", "notes"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("\"notes\""), "{}", r.stderr);
}
