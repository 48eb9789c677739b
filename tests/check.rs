//! `textrescue check DIR`: a folder of real pg_dump backups (the fixtures,
//! named with today's dates), real drill records and a real journal; each
//! problem its own line and exit 1, all well exit 0; the metrics file read
//! by Prometheus's own text-format parser (the `prometheus-client` Python
//! package), and never seen half-written.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use textrescue::drills::{self, DrillRecord};
use textrescue::folder_names::{backup_name, stamp};
use textrescue::journal::JournalWriter;

use crate::common::fixture;

const PREFIX: &str = "buggy_race_bk_";

/// A copy of fixture `source` in `dir`, named as taken at `when`.
pub fn put(dir: &Path, source: &str, when: DateTime<Utc>) -> PathBuf {
    let extension = if source.ends_with(".dump") {
        ".dump"
    } else {
        ".sql.gz"
    };
    let path = dir.join(backup_name(PREFIX, &stamp(when), 0, extension));
    fs::copy(fixture(source), &path).unwrap();
    path
}

fn ago(hours: i64) -> DateTime<Utc> {
    Utc::now() - TimeDelta::hours(hours)
}

/// A healthy folder: a backup a day for four days (the newest an hour
/// old), a drill that passed yesterday, a journal polled just now.
pub fn healthy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, night) in [
        "nights/buggy_race_bk_20240304.sql.gz",
        "nights/buggy_race_bk_20240305.sql.gz",
        "nights/buggy_race_bk_20240306-021500.sql.gz",
        "formats/plain.sql.gz",
    ]
    .iter()
    .enumerate()
    {
        put(dir.path(), night, ago(1 + 24 * (3 - i as i64)));
    }
    drills::append(dir.path(), &drill(ago(24), true)).unwrap();
    poll(dir.path(), Utc::now() - TimeDelta::seconds(30));
    dir
}

fn drill(finished: DateTime<Utc>, success: bool) -> DrillRecord {
    DrillRecord {
        started_at: finished - TimeDelta::seconds(40),
        finished_at: finished,
        backup: "buggy_race_bk_20240306-021500.sql.gz".into(),
        backup_bytes: 33_292,
        restore_seconds: success.then_some(31.25),
        success,
        failures: if success {
            vec![]
        } else {
            vec!["table users: 3 rows, the backup has 4".into()]
        },
    }
}

/// Records an `ok` poll at `at` in `dir`'s journal.
pub fn poll(dir: &Path, at: DateTime<Utc>) {
    let mut journal = JournalWriter::open(dir).unwrap();
    journal.begin_poll(at).unwrap().commit().unwrap();
}

fn check(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .arg("check")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn lines(out: &Output) -> Vec<String> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn problems(out: &Output) -> Vec<String> {
    lines(out)
        .into_iter()
        .filter(|l| l.starts_with("problem: "))
        .collect()
}

/// Exit 1 and exactly one problem line, containing `wanted`.
fn one_problem(out: &Output, wanted: &str) {
    let found = problems(out);
    assert_eq!(out.status.code(), Some(1), "{found:?}");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains(wanted), "{found:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("textrescue: 1 problem found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_healthy_folder_is_one_all_well_line_and_exit_0() {
    let dir = healthy();
    let out = check(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", lines(&out));
    let all = lines(&out);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0].starts_with("all well: "), "{all:?}");
    assert!(all[0].contains("reads back complete"), "{all:?}");
    assert!(all[0].contains("4 backups"), "{all:?}");
    assert!(
        all[0].contains("last drill 1d ago passed (restore 31.2 s)"),
        "{all:?}"
    );
    assert!(all[0].contains("journal polled"), "{all:?}");
    // --quiet: nothing at all.
    let out = check(dir.path(), &["--quiet"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_stale_backup_is_one_problem() {
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "nights/buggy_race_bk_20240304.sql.gz",
        Utc::now() - TimeDelta::seconds(5),
    );
    one_problem(
        &check(dir.path(), &["--max-age", "1s"]),
        "s old: older than --max-age 1s",
    );
    // The default limit: 26 hours.
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "formats/plain.sql.gz", ago(27));
    one_problem(
        &check(dir.path(), &[]),
        "is 1d 3h old: older than --max-age 26h",
    );
    assert_eq!(
        check(dir.path(), &["--max-age", "2d"]).status.code(),
        Some(0)
    );
}

#[test]
fn a_shrunken_backup_is_one_problem() {
    let dir = healthy();
    // Taken after the others, a quarter of their size: tables went missing.
    put(dir.path(), "formats/no-texts.sql.gz", ago(0));
    let out = check(dir.path(), &[]);
    one_problem(&out, "less than half the median (");
    assert!(
        problems(&out)[0].contains("KiB) of the 4 backups of the 7 days before it"),
        "{:?}",
        problems(&out)
    );
}

#[test]
fn a_newest_backup_that_does_not_read_back_is_one_problem() {
    for (damaged, wanted) in [
        ("damaged/truncated.sql.gz", "the gzip data is truncated"),
        ("formats/custom.dump", "truncated"),
    ] {
        // Alone in its folder: nothing to compare its size with.
        let dir = tempfile::tempdir().unwrap();
        let path = put(dir.path(), damaged, ago(0));
        if damaged.ends_with(".dump") {
            // A custom archive cut short: same size class, so only the cut shows.
            let bytes = fs::read(&path).unwrap();
            fs::write(&path, &bytes[..bytes.len() * 3 / 4]).unwrap();
        }
        one_problem(&check(dir.path(), &[]), wanted);
        let found = problems(&check(dir.path(), &[]));
        assert!(
            found[0].contains("does not read back complete"),
            "{found:?}"
        );
    }
}

#[test]
fn a_failed_last_drill_is_one_problem() {
    let dir = healthy();
    drills::append(dir.path(), &drill(ago(2), false)).unwrap();
    one_problem(
        &check(dir.path(), &[]),
        "failed: table users: 3 rows, the backup has 4",
    );
}

#[test]
fn an_old_drill_is_one_problem_and_none_is_a_note_unless_required() {
    let dir = healthy();
    drills::append(dir.path(), &drill(ago(24 * 9), true)).unwrap();
    one_problem(
        &check(dir.path(), &[]),
        "the last restore drill was 9d ago: older than --max-drill-age 8d",
    );
    assert_eq!(
        check(dir.path(), &["--max-drill-age", "10d"]).status.code(),
        Some(0)
    );

    let dir = healthy();
    fs::remove_file(dir.path().join(drills::DRILLS_FILE)).unwrap();
    let out = check(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(lines(&out)[0].starts_with("note: no restore drill recorded"));
    one_problem(
        &check(dir.path(), &["--require-drill"]),
        "no restore drill was ever recorded",
    );
}

#[test]
fn a_journal_not_polled_lately_is_one_problem() {
    let dir = healthy();
    fs::remove_file(dir.path().join(textrescue::journal::JOURNAL_FILE)).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = fs::remove_file(
            dir.path()
                .join(format!("{}{suffix}", textrescue::journal::JOURNAL_FILE)),
        );
    }
    poll(dir.path(), ago(2));
    one_problem(
        &check(dir.path(), &[]),
        "the journal's last poll was 2h ago: older than --max-poll-age 10m",
    );
    assert_eq!(
        check(dir.path(), &["--max-poll-age", "3h"]).status.code(),
        Some(0)
    );
}

#[test]
fn every_problem_has_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    for (i, night) in [
        "nights/buggy_race_bk_20240304.sql.gz",
        "nights/buggy_race_bk_20240305.sql.gz",
        "nights/buggy_race_bk_20240306-021500.sql.gz",
    ]
    .iter()
    .enumerate()
    {
        put(dir.path(), night, ago(24 * (3 - i as i64)));
    }
    put(dir.path(), "formats/no-texts.sql.gz", ago(2));
    drills::append(dir.path(), &drill(ago(24 * 9), false)).unwrap();
    poll(dir.path(), ago(2));
    let out = check(dir.path(), &["--max-age", "1s"]);
    let found = problems(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("textrescue: 5 problems found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Stale, shrunken, the drill failed, the drill is old, the journal is old.
    assert_eq!(found.len(), 5, "{found:?}");
    for wanted in [
        "--max-age 1s",
        "less than half the median",
        "failed: table users",
        "--max-drill-age 8d",
        "--max-poll-age 10m",
    ] {
        assert_eq!(
            found.iter().filter(|l| l.contains(wanted)).count(),
            1,
            "{wanted}: {found:?}"
        );
    }
}

#[test]
fn no_backups_or_no_folder_is_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    one_problem(&check(dir.path(), &[]), "there is no backup in");
    let out = check(&dir.path().join("missing"), &[]);
    one_problem(&out, "cannot check");
}

#[test]
fn bad_durations_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0s", "1.5h", "26", "1w"] {
        let out = check(dir.path(), &["--max-age", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
    let out = check(dir.path(), &["--ping", "hc-ping.com/x"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Parses every text in `texts` with Prometheus's own text-format parser
/// (the `prometheus-client` Python package): for each, the samples as
/// `name{labels} value` lines, or the parser's error. The tests that call it
/// are skipped where build.rs found no package (`has_prometheus_client`).
pub fn prometheus_parse(texts: &[String]) -> Vec<Result<BTreeSet<String>, String>> {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for text in json.load(sys.stdin):
    try:
        samples = []
        for family in text_string_to_metric_families(text):
            if family.type != "gauge":
                raise ValueError(family.name + " is a " + family.type)
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                v = int(s.value) if float(s.value).is_integer() else s.value
                samples.append(f"{s.name}{{{labels}}} {v}")
        out.append({"ok": samples})
    except Exception as e:
        out.append({"error": repr(e)})
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), texts).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 with prometheus_client failed (.ci/run installs the package)"
    );
    let parsed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    parsed
        .into_iter()
        .map(|v| match v.get("ok") {
            Some(samples) => Ok(samples
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()),
            None => Err(v["error"].to_string()),
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(has_prometheus_client),
    ignore = "needs the prometheus-client Python package (then touch build.rs)"
)]
fn the_metrics_file_parses_with_prometheus_own_parser() {
    let dir = healthy();
    let metrics = tempfile::tempdir().unwrap();
    let file = metrics.path().join("textrescue.prom");
    let out = check(dir.path(), &["--prometheus", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{:?}", lines(&out));
    let text = fs::read_to_string(&file).unwrap();
    let parsed = prometheus_parse(std::slice::from_ref(&text));
    let samples = parsed[0].clone().unwrap();
    let label = format!(
        "{{dir=\"{}\"}}",
        fs::canonicalize(dir.path()).unwrap().display()
    );
    let newest = ago(1).timestamp();
    let has = |name: &str, value: &str| {
        assert!(
            samples.contains(&format!("{name}{label} {value}")),
            "{name} {value} not in {samples:?}"
        );
    };
    has("textrescue_backups_retained", "4");
    has("textrescue_backup_size_bytes", "33352");
    has("textrescue_check_success", "1");
    has("textrescue_restore_drill_success", "1");
    has("textrescue_restore_drill_duration_seconds", "31.25");
    let stamp = samples
        .iter()
        .find(|s| s.starts_with("textrescue_backup_last_success_timestamp_seconds"))
        .unwrap();
    let value: f64 = stamp.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((value - newest as f64).abs() <= 2.0, "{stamp} vs {newest}");
    assert_eq!(samples.len(), 8, "{samples:?}");
    let mode = fs::metadata(&file).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o644
    );

    // A failing check says so in the same file.
    drills::append(dir.path(), &drill(ago(2), false)).unwrap();
    let out = check(dir.path(), &["--prometheus", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = fs::read_to_string(&file).unwrap();
    let samples = prometheus_parse(&[text])[0].clone().unwrap();
    assert!(samples.contains(&format!("textrescue_check_success{label} 0")));
    assert!(samples.contains(&format!("textrescue_restore_drill_success{label} 0")));
    // The last drill that passed is still the one that passed.
    assert!(samples.contains(&format!(
        "textrescue_restore_drill_duration_seconds{label} 31.25"
    )));
}

#[test]
#[cfg_attr(
    not(has_prometheus_client),
    ignore = "needs the prometheus-client Python package (then touch build.rs)"
)]
fn the_metrics_file_is_never_seen_half_written() {
    let dir = healthy();
    let metrics = tempfile::tempdir().unwrap();
    let file = metrics.path().join("textrescue.prom");
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (file, done) = (file.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            let mut reads = 0u64;
            while !done.load(Ordering::SeqCst) {
                if let Ok(text) = fs::read_to_string(&file) {
                    reads += 1;
                    seen.insert(text);
                }
            }
            (seen, reads)
        })
    };
    for i in 0..30 {
        // The file changes each time: a drill's outcome and time.
        drills::append(
            dir.path(),
            &drill(ago(2) + TimeDelta::seconds(i), i % 3 != 0),
        )
        .unwrap();
        check(dir.path(), &["--prometheus", file.to_str().unwrap()]);
    }
    done.store(true, Ordering::SeqCst);
    let (seen, reads) = reader.join().unwrap();
    assert!(reads > 30, "{reads} reads");
    assert!(seen.len() > 5, "{} different files seen", seen.len());
    let texts: Vec<String> = seen.into_iter().collect();
    let parsed = prometheus_parse(&texts);
    for (text, samples) in texts.iter().zip(parsed) {
        let samples = samples.unwrap_or_else(|e| panic!("{e} in {text:?}"));
        assert_eq!(samples.len(), 8, "{text}");
        assert!(text.ends_with('\n'));
    }
    let left: Vec<_> = fs::read_dir(metrics.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "a temporary file was left behind");
}
