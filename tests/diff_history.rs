//! `textrescue diff` and `textrescue history` against the nightly fixtures,
//! checked against what PostgreSQL held each night (fixtures/expected/).
use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use assert_cmd::Command;
use common::fixture;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const NIGHTS: [&str; 3] = [
    "buggy_race_bk_20240304",
    "buggy_race_bk_20240305",
    "buggy_race_bk_20240306-021500",
];

fn night(i: usize) -> String {
    fixture(&format!("nights/{}.sql.gz", NIGHTS[i]))
        .display()
        .to_string()
}

/// What PostgreSQL held at night `i`: ROWs as `texts --format json` gives them.
fn expected(i: usize) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture(&format!("expected/{}.json", NIGHTS[i]))).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

type Key = (i64, i64);

fn key(row: &Value) -> Key {
    (
        row["user_id"].as_i64().unwrap(),
        row["task_id"].as_i64().unwrap(),
    )
}

fn id(row: &Value) -> i64 {
    row["id"].as_i64().unwrap()
}

fn by_key(rows: &[Value]) -> BTreeMap<Key, Value> {
    let map: BTreeMap<Key, Value> = rows.iter().map(|r| (key(r), r.clone())).collect();
    assert_eq!(map.len(), rows.len(), "one text per student and task");
    map
}

/// The diff json that the expected texts of two nights imply.
fn expected_diff(old: usize, new: usize, keep: &dyn Fn(&Value) -> bool) -> Value {
    let (o, n) = (by_key(&expected(old)), by_key(&expected(new)));
    let same = |a: &Value, b: &Value| {
        ["id", "created_at", "modified_at", "text"]
            .iter()
            .all(|k| a[k] == b[k])
    };
    let mut added: Vec<Value> = n
        .iter()
        .filter(|(k, r)| !o.contains_key(k) && keep(r))
        .map(|(_, r)| r.clone())
        .collect();
    let mut removed: Vec<Value> = o
        .iter()
        .filter(|(k, r)| !n.contains_key(k) && keep(r))
        .map(|(_, r)| r.clone())
        .collect();
    let mut changed: Vec<(Value, Value)> = o
        .iter()
        .filter_map(|(k, a)| n.get(k).map(|b| (a.clone(), b.clone())))
        .filter(|(a, b)| !same(a, b) && (keep(a) || keep(b)))
        .collect();
    added.sort_by_key(id);
    removed.sort_by_key(id);
    changed.sort_by_key(|(a, _)| id(a));
    json!({
        "old": night(old),
        "new": night(new),
        "added": added,
        "removed": removed,
        "changed": changed.into_iter().map(|(a, b)| json!({"old": a, "new": b})).collect::<Vec<_>>(),
    })
}

fn textrescue() -> Command {
    let mut c = Command::cargo_bin("textrescue").unwrap();
    c.env("TZ", "UTC");
    c
}

fn run_ok(args: &[&str]) -> String {
    let out = textrescue().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn diff_json(old: usize, new: usize, extra: &[&str]) -> Value {
    let (o, n) = (night(old), night(new));
    let mut args = vec!["diff", o.as_str(), n.as_str(), "--format", "json"];
    args.extend(extra);
    serde_json::from_str(&run_ok(&args)).unwrap()
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array().unwrap().iter().map(id).collect()
}

fn changed_ids(d: &Value) -> Vec<(i64, i64)> {
    d["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (id(&c["old"]), id(&c["new"])))
        .collect()
}

#[test]
fn diff_json_is_what_postgresql_held() {
    for (old, new) in [(0, 1), (1, 2), (0, 2), (2, 0)] {
        let got = diff_json(old, new, &[]);
        assert_eq!(
            got,
            expected_diff(old, new, &|_| true),
            "nights {old} → {new}"
        );
    }
    // And the facts of fixtures/README.md.
    let d = diff_json(0, 1, &[]);
    assert_eq!(ids(&d["removed"]), [104]);
    assert_eq!(ids(&d["added"]), [137]);
    assert_eq!(changed_ids(&d), [(102, 102), (107, 136)]);
    let d = diff_json(1, 2, &[]);
    assert_eq!(ids(&d["removed"]), [110]);
    assert!(d["added"].as_array().unwrap().is_empty());
    assert!(d["changed"].as_array().unwrap().is_empty());
}

#[test]
fn diff_json_has_exactly_the_spec_keys_in_order() {
    let (o, n) = (night(0), night(1));
    let out = run_ok(&["diff", &o, &n, "-f", "json"]);
    let keys = [
        "\"old\"",
        "\"new\"",
        "\"added\"",
        "\"removed\"",
        "\"changed\"",
    ];
    let at: Vec<usize> = keys.iter().map(|k| out.find(k).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 5);
    let row = &v["changed"][0]["old"];
    let row_keys: Vec<&String> = row.as_object().unwrap().keys().collect();
    assert_eq!(row_keys.len(), 8);
}

#[test]
fn identical_dumps_differ_in_nothing_and_exit_0() {
    let d = diff_json(1, 1, &[]);
    assert_eq!(d, expected_diff(1, 1, &|_| true));
    assert!(d["changed"].as_array().unwrap().is_empty());
    let (o, n) = (night(1), night(1));
    let out = run_ok(&["diff", &o, &n]);
    assert!(
        out.contains("0 removed, 0 changed, 0 added, 33 unchanged"),
        "{out}"
    );
}

#[test]
fn diff_filters_keep_a_text_when_either_version_matches() {
    let d = diff_json(0, 1, &["--user", "ALICE"]);
    assert_eq!(
        d,
        expected_diff(0, 1, &|r| r["username"] == "alice"),
        "--user"
    );
    assert_eq!(ids(&d["removed"]), [104]);
    assert_eq!(changed_ids(&d), [(102, 102)]);

    let d = diff_json(0, 1, &["--task", "3-multi"]);
    assert_eq!(changed_ids(&d), [(107, 136)]);
    assert!(d["removed"].as_array().unwrap().is_empty());

    // --id matches the old or the new version of a pair.
    assert_eq!(
        changed_ids(&diff_json(0, 1, &["--id", "107"])),
        [(107, 136)]
    );
    assert_eq!(
        changed_ids(&diff_json(0, 1, &["--id", "136"])),
        [(107, 136)]
    );

    // Changed on or after 4 March: the new versions and the added text.
    let d = diff_json(0, 1, &["--since", "2024-03-04"]);
    let since = |r: &Value| {
        let changed = if r["modified_at"].is_null() {
            &r["created_at"]
        } else {
            &r["modified_at"]
        };
        changed.as_str().unwrap() >= "2024-03-04"
    };
    assert_eq!(d, expected_diff(0, 1, &since));
    assert_eq!(ids(&d["added"]), [137]);
    assert!(d["removed"].as_array().unwrap().is_empty());
    assert_eq!(changed_ids(&d), [(102, 102), (107, 136)]);
}

#[test]
fn renamed_student_and_task_are_matched_and_shown_with_both_names() {
    // Night 3 renames dmitri (id 5) to dmitry and COST to COSTS: their texts
    // are the same texts, neither removed nor added.
    for user in ["dmitri", "dmitry"] {
        let d = diff_json(1, 2, &["--user", user]);
        assert_eq!(
            d,
            json!({"old": night(1), "new": night(2), "added": [], "removed": [], "changed": []}),
            "--user {user}"
        );
    }
    let d = diff_json(0, 2, &["--task", "COST"]);
    assert!(d["added"].as_array().unwrap().is_empty());
    assert!(d["removed"].as_array().unwrap().is_empty());
    let (o, n) = (night(1), night(2));
    let table = run_ok(&["diff", &o, &n]);
    assert!(table.contains("dmitri → dmitry"), "{table}");
    assert!(table.contains("4-COST → 4-COSTS"), "{table}");
    assert!(
        table.contains("1 removed, 0 changed, 0 added, 32 unchanged"),
        "{table}"
    );
    let table = run_ok(&["diff", &o, &n, "--user", "dmitry"]);
    assert!(table.contains("dmitri → dmitry"), "{table}");
    assert!(table.contains("no differences"), "{table}");
}

#[test]
fn diff_table_counts_first_then_a_line_per_text() {
    let (o, n) = (night(0), night(1));
    let out = run_ok(&["diff", &o, &n]);
    let counts = out
        .find("1 removed, 2 changed, 1 added, 30 unchanged")
        .unwrap();
    let first_row = out.find("removed ").unwrap_or(usize::MAX);
    assert!(counts < out.find('│').unwrap(), "{out}");
    assert!(first_row < usize::MAX);
    assert!(out.contains("107 → 136"), "{out}");
    assert!(out.contains("re-created"), "{out}");
    assert!(
        !out.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn diff_text_shows_unified_diffs_of_changes() {
    let (o, n) = (night(0), night(1));
    let out = run_ok(&["diff", &o, &n, "--text"]);
    let old = by_key(&expected(0));
    let new = by_key(&expected(1));
    let before = old[&(2, 2)]["text"].as_str().unwrap();
    let after = new[&(2, 2)]["text"].as_str().unwrap();
    assert!(out.contains("@@ -1,3 +1,3 @@"), "{out}");
    for line in before.lines() {
        assert!(out.contains(&format!("\n-{line}\n")), "-{line:?} in {out}");
    }
    for line in after.lines() {
        assert!(out.contains(&format!("\n+{line}\n")), "+{line:?} in {out}");
    }
    assert!(out.contains(&format!("--- {o} (id 107)")), "{out}");
    assert!(out.contains(&format!("+++ {n} (id 136)")), "{out}");
    assert!(out.contains("\n-\\N\n"), "{out}");
    assert!(out.contains("\n+\\N rewritten after deleting\n"), "{out}");
    assert!(!out.contains('\x1b'));

    let usage = textrescue()
        .args(["diff", &o, &n, "--text", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn diff_csv_parses_with_a_status_column() {
    let (o, n) = (night(0), night(1));
    let out = textrescue()
        .args(["diff", &o, &n, "--format", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut reader = csv::ReaderBuilder::new().from_reader(out.stdout.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "status",
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
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let got: Vec<(&str, &str)> = rows.iter().map(|r| (&r[0], &r[1])).collect();
    assert_eq!(
        got,
        [
            ("removed", "104"),
            ("changed-old", "102"),
            ("changed-new", "102"),
            ("changed-old", "107"),
            ("changed-new", "136"),
            ("added", "137"),
        ]
    );
    let old = by_key(&expected(0));
    // Byte-exact: 104 is made of lone CRs.
    assert_eq!(&rows[0][8], old[&(2, 3)]["text"].as_str().unwrap());
    assert_eq!(&rows[3][8], "\\N");
}

#[test]
fn diff_output_file_and_damaged_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.json");
    let (o, n) = (night(0), night(1));
    let out = textrescue()
        .args(["diff", &o, &n, "-f", "json", "-o"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    let v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(v, expected_diff(0, 1, &|_| true));

    let damaged = fixture("damaged/truncated.sql.gz");
    let out = textrescue()
        .args(["diff", &o])
        .arg(&damaged)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));
}

// ---------------------------------------------------------------- history

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The history json that the expected texts imply, for dumps holding the
/// given nights at the given paths (in order), keyed by (user_id, task_id).
fn expected_history(nights: &[(usize, String)]) -> BTreeMap<Key, Value> {
    let maps: Vec<BTreeMap<Key, Value>> =
        nights.iter().map(|(i, _)| by_key(&expected(*i))).collect();
    let keys: BTreeSet<Key> = maps.iter().flat_map(|m| m.keys().copied()).collect();
    let mut out = BTreeMap::new();
    for k in keys {
        let mut versions = Vec::new();
        let (mut username, mut task, mut last) = (Value::Null, Value::Null, None);
        for (m, (_, path)) in maps.iter().zip(nights) {
            match m.get(&k) {
                Some(r) => {
                    username = r["username"].clone();
                    task = r["task"].clone();
                    last = Some(path.clone());
                    let text = r["text"].as_str().unwrap();
                    versions.push(json!({
                        "dump": path, "present": true, "id": r["id"],
                        "modified_at": r["modified_at"],
                        "length": text.chars().count(), "sha256": sha256(text),
                    }));
                }
                None => versions.push(json!({
                    "dump": path, "present": false, "id": null,
                    "modified_at": null, "length": null, "sha256": null,
                })),
            }
        }
        let in_latest = maps.last().unwrap().contains_key(&k);
        out.insert(
            k,
            json!({
                "username": username, "user_id": k.0, "task": task, "task_id": k.1,
                "versions": versions, "last_seen": last.unwrap(), "in_latest": in_latest,
            }),
        );
    }
    out
}

const HISTORY_KEYS: [&str; 7] = [
    "username",
    "user_id",
    "task",
    "task_id",
    "versions",
    "last_seen",
    "in_latest",
];

fn history_by_key(stdout: &[u8]) -> BTreeMap<Key, Value> {
    let v: Value = serde_json::from_slice(stdout).unwrap();
    let rows = v.as_array().unwrap();
    let map: BTreeMap<Key, Value> = rows.iter().map(|r| (key(r), r.clone())).collect();
    assert_eq!(map.len(), rows.len(), "one object per student and task");
    for r in rows {
        assert_eq!(r.as_object().unwrap().len(), HISTORY_KEYS.len());
    }
    // Exactly the documented keys, in their order (serde_json's Map sorts them).
    let text = String::from_utf8_lossy(stdout);
    if let Some(first) = text.find('{') {
        let at: Vec<usize> = HISTORY_KEYS
            .iter()
            .map(|k| first + text[first..].find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    }
    map
}

/// `textrescue history ARGS... PATHS...`.
fn history(args: &[&str], paths: &[&Path]) -> std::process::Output {
    textrescue()
        .arg("history")
        .args(args)
        .args(paths)
        .output()
        .unwrap()
}

/// chloe's 0-GET in the history of `paths`, which must succeed.
fn chloes_history(paths: &[&Path]) -> BTreeMap<Key, Value> {
    let out = history(&["-f", "json", "-u", "chloe", "-t", "0-GET"], paths);
    assert!(out.status.success());
    history_by_key(&out.stdout)
}

fn copy(from: &Path, to: &Path, mtime_days_ago: u64) {
    std::fs::copy(from, to).unwrap();
    let f = std::fs::File::options().write(true).open(to).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(mtime_days_ago * 86400))
        .unwrap();
}

/// A directory with the three nights (mtimes in the reverse order of their
/// names' dates), an unrelated file and the dumps' README.
fn nights_dir() -> (tempfile::TempDir, Vec<(usize, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let mut nights = Vec::new();
    for (i, name) in NIGHTS.iter().enumerate() {
        let to = dir.path().join(format!("{name}.sql.gz"));
        copy(Path::new(&night(i)), &to, i as u64 + 1);
        nights.push((i, to.display().to_string()));
    }
    std::fs::write(dir.path().join("notes.txt"), "buy milk\n").unwrap();
    std::fs::create_dir(dir.path().join("old")).unwrap();
    (dir, nights)
}

#[test]
fn history_of_a_directory_is_what_postgresql_held() {
    let (dir, nights) = nights_dir();
    let out = history(&["--format", "json"], &[dir.path()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: skipped"), "{stderr}");
    assert!(stderr.contains("notes.txt"), "{stderr}");
    let got = history_by_key(&out.stdout);
    assert_eq!(got, expected_history(&nights));
    // The facts of fixtures/README.md.
    let (first, second, third) = (&nights[0].1, &nights[1].1, &nights[2].1);
    assert_eq!(got[&(2, 3)]["last_seen"], json!(first)); // 104 deleted at night 2
    assert_eq!(got[&(2, 3)]["in_latest"], json!(false));
    assert_eq!(got[&(4, 1)]["last_seen"], json!(second)); // 110 deleted at night 3
    assert_eq!(got[&(4, 1)]["in_latest"], json!(false));
    assert_eq!(got[&(3, 4)]["versions"][1]["id"], json!(136)); // 107 re-created
    assert_eq!(got[&(4, 7)]["versions"][0]["present"], json!(false)); // 137 new
    assert_eq!(got[&(5, 2)]["username"], json!("dmitry")); // newest name
    assert_eq!(got[&(2, 6)]["task"], json!("4-COSTS"));
    assert_eq!(got[&(2, 1)]["last_seen"], json!(third));
    assert_eq!(got[&(2, 1)]["in_latest"], json!(true));
}

#[test]
fn history_filters_match_any_dump() {
    let (dir, nights) = nights_dir();
    let all = expected_history(&nights);
    let run = |args: &[&str]| {
        let out = history(&[&["-f", "json"], args].concat(), &[dir.path()]);
        assert!(out.status.success());
        history_by_key(&out.stdout)
    };
    // dmitri is dmitry in the newest dump: either name finds his texts.
    for user in ["dmitri", "DMITRY"] {
        let got = run(&["--user", user]);
        let want: BTreeMap<Key, Value> = all
            .iter()
            .filter(|(k, _)| k.0 == 5)
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        assert_eq!(got, want, "--user {user}");
    }
    let got = run(&["--user", "alice", "--task", "0-env"]);
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), [(2, 3)]);
    let got = run(&["--id", "136"]);
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), [(3, 4)]);
    assert_eq!(got[&(3, 4)]["versions"][0]["id"], json!(107));
}

#[test]
fn history_orders_by_the_date_in_names_else_by_mtime() {
    let dir = tempfile::tempdir().unwrap();
    // Names say night 3 is older than night 1; mtimes say the opposite.
    let a = dir.path().join("x_20240310.sql.gz");
    let b = dir.path().join("x_20240311-000000.dump");
    copy(Path::new(&night(2)), &a, 1);
    copy(Path::new(&night(0)), &b, 5);
    let got = chloes_history(&[&b, &a]);
    let want = expected_history(&[(2, a.display().to_string()), (0, b.display().to_string())]);
    assert_eq!(got[&(4, 1)], want[&(4, 1)]);
    assert_eq!(got[&(4, 1)]["in_latest"], json!(true));

    // Without dates in the names, modification time decides.
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a-newest.sql.gz");
    let z = dir.path().join("z-oldest.sql.gz");
    copy(Path::new(&night(2)), &a, 1);
    copy(Path::new(&night(0)), &z, 5);
    let got = chloes_history(&[dir.path()]);
    let want = expected_history(&[(0, z.display().to_string()), (2, a.display().to_string())]);
    assert_eq!(got[&(4, 1)], want[&(4, 1)]);
    assert_eq!(got[&(4, 1)]["last_seen"], json!(z.display().to_string()));
    assert_eq!(got[&(4, 1)]["in_latest"], json!(false));
}

#[test]
fn history_reports_a_damaged_dump_shows_the_others_and_exits_1() {
    let (dir, nights) = nights_dir();
    let damaged: PathBuf = dir.path().join("buggy_race_bk_20240307.sql.gz");
    std::fs::copy(fixture("damaged/truncated.sql.gz"), &damaged).unwrap();
    let out = history(&["-f", "json"], &[dir.path()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&damaged.display().to_string()), "{stderr}");
    assert!(stderr.contains("truncated"), "{stderr}");
    assert!(stderr.contains("notes.txt"), "{stderr}");
    assert_eq!(history_by_key(&out.stdout), expected_history(&nights));

    let out = history(&[], &[dir.path()]);
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("left out"), "{table}");
}

#[test]
fn history_table_shows_timelines_and_how_to_restore() {
    let (dir, nights) = nights_dir();
    let out = history(&["-u", "alice"], &[dir.path()]);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let line = |task: &str| {
        table
            .lines()
            .find(|l| l.contains(&format!(" {task} ")))
            .unwrap_or_else(|| panic!("{task} in {table}"))
            .to_string()
    };
    assert!(line("0-ENV").contains("● ○ ○"), "{table}");
    assert!(line("1-EDIT").contains("● ◆ ●"), "{table}");
    assert!(line("0-GET").contains("● ● ●"), "{table}");
    let restore = format!(
        "textrescue texts {} --user=alice --task=0-ENV --format=sql --output=restore-alice-0-ENV.sql",
        nights[0].1
    );
    assert!(table.contains(&restore), "{table}");
    assert!(!out.stderr.contains(&0x1b));

    // The restore command works.
    let parts: Vec<&str> = restore.split_whitespace().collect();
    let out = textrescue()
        .args(&parts[1..parts.len() - 2])
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ids(&v), [104]);
}

#[test]
fn history_of_a_file_that_is_no_dump_named_explicitly_fails() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "buy milk\n").unwrap();
    let out = history(&[], &[Path::new(&night(0)), &notes]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pg_dump output"));
    let empty = tempfile::tempdir().unwrap();
    let out = history(&[], &[empty.path()]);
    assert_eq!(out.status.code(), Some(1));
}

// ---------------------------------------------------------------- diff --format sql

/// A database loaded from night `i` (needs a PostgreSQL; see tests/common).
fn night_db(pg: &common::Pg, i: usize, dir: &Path) -> common::TempDb {
    use std::io::Read;
    let mut sql = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(night(i)).unwrap())
        .read_to_end(&mut sql)
        .unwrap();
    let path = dir.join(format!("night{i}.sql"));
    std::fs::write(&path, sql).unwrap();
    let db = pg.create_db("trdiff");
    let out = db.psql_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

/// `diff OLD NEW --format sql ARGS... -o SCRIPT`, which must succeed, then
/// the script run by psql in `db`, which must too: what diff said on stderr.
fn diff_sql_into(
    db: &common::TempDb,
    old: &str,
    new: &str,
    args: &[&str],
    script: &Path,
) -> String {
    let out = textrescue()
        .args(["diff", old, new, "--format", "sql"])
        .args(args)
        .arg("-o")
        .arg(script)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}");
    let ran = db.psql_file(script);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    said
}

/// The live texts by (user_id, task_id): (id, text).
fn live_texts(db: &common::TempDb) -> BTreeMap<Key, (i64, String)> {
    let rows = db.query_json("SELECT id, user_id, task_id, text FROM public.tasktexts");
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| (key(r), (id(r), r["text"].as_str().unwrap().to_string())))
        .collect()
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn diff_sql_restores_what_night_3_lost_since_night_1() {
    let pg = common::pg();
    let dir = tempfile::tempdir().unwrap();
    let (o, n) = (night(0), night(2));
    let night1: BTreeMap<Key, Value> = by_key(&expected(0));
    let night3: BTreeMap<Key, Value> = by_key(&expected(2));

    // Default (skip): the removed texts come back; the changed ones stay.
    let db = night_db(&pg, 2, dir.path());
    let said = diff_sql_into(&db, &o, &n, &[], &dir.path().join("removed.sql"));
    assert!(said.contains("--on-conflict overwrite"));
    let live = live_texts(&db);
    for (k, removed_id) in [((2, 3), 104), ((4, 1), 110)] {
        assert_eq!(live[&k].0, removed_id);
        assert_eq!(live[&k].1, night1[&k]["text"].as_str().unwrap());
    }
    for k in [(2, 2), (3, 4)] {
        assert_eq!(
            live[&k].1,
            night3[&k]["text"].as_str().unwrap(),
            "{k:?} kept"
        );
    }
    assert_eq!(live.len(), night3.len() + 2);

    // With overwrite: every text of night 1 as it was; 137 (added) stays.
    let db = night_db(&pg, 2, dir.path());
    diff_sql_into(
        &db,
        &o,
        &n,
        &["--on-conflict", "overwrite"],
        &dir.path().join("all.sql"),
    );
    let live = live_texts(&db);
    for (k, row) in &night1 {
        assert_eq!(live[k].1, row["text"].as_str().unwrap(), "{k:?}");
    }
    assert_eq!(live[&(4, 7)].0, 137);
    assert_eq!(live.len(), night1.len() + 1);
}
