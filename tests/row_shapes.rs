//! Every row shape pg_dump writes (fixtures/shapes/, from a real pg_dump 15
//! by fixtures/build-shapes): a table whose columns were all dropped
//! (`INSERT ... DEFAULT VALUES`, a COPY without a column list), identity
//! and generated columns, inheritance, partitions with and without
//! `--load-via-partition-root`, `--rows-per-insert`,
//! `--on-conflict-do-nothing`, custom archives. Each dump reads completely,
//! with PostgreSQL's own row count for every table and its texts (also
//! through a partitioned copy of the texts table, `--table parted_texts`).
//! And one statement the reader cannot follow loses nothing else.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::{Command, Output};

use anyhow::Result;
use common::{fixture, inflated};
use serde_json::Value;
use textrescue::dump::{self, ReadOptions};
use textrescue::format::{self, Interest, Meta, Row, TableName, Visitor};
use textrescue::input::{self, Source};
use textrescue::progress::Progress;

/// Every dump fixtures/build-shapes writes; `true` where the partitions'
/// rows are written into their root (`--load-via-partition-root`).
const DUMPS: [(&str, bool); 11] = [
    ("copy.sql.gz", false),
    ("inserts.sql.gz", false),
    ("column-inserts.sql.gz", false),
    ("rows-per-insert.sql.gz", false),
    ("on-conflict.sql.gz", false),
    ("rows-on-conflict.sql.gz", false),
    ("load-via-root.sql.gz", true),
    ("load-via-root-inserts.sql.gz", true),
    ("custom.dump", false),
    ("custom-inserts.dump", false),
    ("custom-load-via-root.dump", true),
];

fn shape(name: &str) -> std::path::PathBuf {
    fixture(&format!("shapes/{name}"))
}

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(shape("expected.json")).unwrap()).unwrap()
}

fn textrescue(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .env("TZ", "UTC")
        .args(args)
        .output()
        .expect("run textrescue")
}

/// One field as the reader gives it.
type Field = Option<Vec<u8>>;

/// Every row of every table, by column name, as a reader hands them over.
#[derive(Default)]
struct AllRows {
    columns: Vec<String>,
    table: Option<TableName>,
    rows: BTreeMap<String, Vec<Vec<(String, Field)>>>,
    counts: BTreeMap<String, u64>,
    unread: Vec<String>,
    complete: bool,
}

impl Visitor for AllRows {
    fn meta(&mut self, meta: Meta) {
        match meta {
            Meta::Unread(u) => self.unread.push(u.to_string()),
            Meta::Complete => self.complete = true,
            _ => {}
        }
    }

    fn begin_data(&mut self, table: &TableName, columns: &[String]) -> Interest {
        self.table = Some(table.clone());
        self.columns = columns.to_vec();
        Interest::Rows
    }

    fn row(&mut self, row: &Row) -> Result<()> {
        let table = self.table.as_ref().unwrap().to_string();
        let fields = if self.columns.is_empty() {
            // A table without columns: COPY gives an empty line (one empty
            // field), an INSERT ... DEFAULT VALUES no field at all.
            let empty = match row.len() {
                0 => true,
                1 => row.get(0)?.is_some_and(|f| f.is_empty()),
                _ => false,
            };
            assert!(empty, "a row of {table}, which has no columns");
            Vec::new()
        } else {
            assert_eq!(row.len(), self.columns.len(), "a row of {table}");
            (0..row.len())
                .map(|i| Ok((self.columns[i].clone(), row.get(i)?.map(|f| f.into_owned()))))
                .collect::<Result<_>>()?
        };
        self.rows.entry(table).or_default().push(fields);
        Ok(())
    }

    fn end_data(&mut self, rows: Option<u64>) {
        let table = self.table.take().unwrap().to_string();
        *self.counts.entry(table).or_default() += rows.expect("every row counted");
    }
}

fn read_all(path: &Path) -> AllRows {
    let opened = input::open(&Source::Path(path.to_path_buf()), &Progress::hidden()).unwrap();
    let mut all = AllRows::default();
    format::read(opened, &mut all).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    all
}

/// PostgreSQL's row counts, each partition's under its root when `via_root`;
/// tables without rows left out (an INSERT dump has nothing of them).
fn expected_counts(via_root: bool) -> BTreeMap<String, u64> {
    let e = expected();
    let roots = e["roots"].as_object().unwrap();
    let mut counts = BTreeMap::new();
    for (table, n) in e["counts"].as_object().unwrap() {
        let n = n.as_u64().unwrap();
        let table = match roots.get(table) {
            Some(root) if via_root => root.as_str().unwrap().to_string(),
            _ => table.clone(),
        };
        if n > 0 {
            *counts.entry(table).or_default() += n;
        }
    }
    counts
}

#[test]
fn the_fixtures_hold_each_shape() {
    let e = expected();
    assert_eq!(e["pg_dump"].as_str().unwrap().split('.').next(), Some("15"));
    let text = |name: &str| String::from_utf8(inflated(&shape(name))).unwrap();
    let has = |name: &str, needle: &str| {
        assert!(text(name).contains(needle), "{name} lacks {needle:?}");
    };
    has(
        "inserts.sql.gz",
        "\nINSERT INTO public.dropped_all DEFAULT VALUES;\n",
    );
    has(
        "rows-per-insert.sql.gz",
        "\nINSERT INTO public.dropped_all DEFAULT VALUES;\n",
    );
    has(
        "copy.sql.gz",
        "\nCOPY public.dropped_all  FROM stdin;\n\n\n\n\n\\.\n",
    );
    has(
        "inserts.sql.gz",
        "INSERT INTO public.identity_always OVERRIDING SYSTEM VALUE VALUES (1, 'note 1');",
    );
    has(
        "inserts.sql.gz",
        "INSERT INTO public.generated_cols VALUES (1, DEFAULT, 'row 1', DEFAULT);",
    );
    has(
        "column-inserts.sql.gz",
        "INSERT INTO public.generated_cols (a, t) VALUES (1, 'row 1');",
    );
    has(
        "copy.sql.gz",
        "COPY public.generated_cols (a, t) FROM stdin;",
    );
    has(
        "copy.sql.gz",
        "COPY public.dropped_middle (id, kept) FROM stdin;",
    );
    has(
        "on-conflict.sql.gz",
        "INSERT INTO public.inherit_parent VALUES (1, 'parent one') ON CONFLICT DO NOTHING;",
    );
    has(
        "rows-on-conflict.sql.gz",
        "\t(3, 'child three', 30),\n\t(4, 'child four', 40),\n\t(5, NULL, NULL) ON CONFLICT DO NOTHING;",
    );
    has(
        "copy.sql.gz",
        "ALTER TABLE ONLY public.parted_texts ATTACH PARTITION public.parted_texts_high FOR VALUES FROM (115) TO (MAXVALUE);",
    );
    has(
        "copy.sql.gz",
        "COPY public.parted_texts_high (text, task_id, user_id, modified_at, created_at, id) FROM stdin;",
    );
    has(
        "load-via-root.sql.gz",
        "COPY public.parted_texts (text, task_id, user_id, modified_at, created_at, id) FROM stdin;",
    );
    has(
        "load-via-root-inserts.sql.gz",
        "-- load via partition root public.parted_texts\n\nINSERT INTO public.parted_texts VALUES\n\t('",
    );
}

/// Each dump, read for all its rows: complete, nothing unread, every
/// table's count PostgreSQL's, every row as long as its columns.
#[test]
fn every_dump_reads_whole_with_postgresqls_counts() {
    for (name, via_root) in DUMPS {
        let all = read_all(&shape(name));
        assert!(all.complete, "{name}: not complete");
        assert!(all.unread.is_empty(), "{name}: {:?}", all.unread);
        let got: BTreeMap<String, u64> = all.counts.into_iter().filter(|(_, n)| *n > 0).collect();
        assert_eq!(got, expected_counts(via_root), "{name}");
        // The table whose columns were all dropped, before the race
        // server's tables in the dump, and every table after it.
        assert_eq!(got["public.dropped_all"], 4, "{name}");

        // And the summary of a read as `inspect` does it says the same.
        let options = ReadOptions {
            count_rows: true,
            count_texts_only: true,
            ..ReadOptions::default()
        };
        let d = dump::read(&Source::Path(shape(name)), &options).unwrap();
        assert!(d.summary.complete && d.summary.unread.is_empty(), "{name}");
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for t in &d.summary.databases[0].tables {
            *counts.entry(t.name.to_string()).or_default() += t.rows.unwrap();
        }
        counts.retain(|_, n| *n > 0);
        assert_eq!(counts, expected_counts(via_root), "{name} (summary)");
    }
}

/// The same values from every shape: each table's rows, by column name
/// (generated columns aside, which COPY leaves out), as the COPY dump's.
#[test]
fn every_shape_gives_the_values_copy_gives() {
    let roots: HashMap<String, String> = expected()["roots"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    // Rows of each table (partitions under their root), sorted, with only
    // the columns COPY writes.
    let normal = |all: AllRows, copy_columns: &HashMap<String, Vec<String>>| {
        let mut by_root: BTreeMap<String, Vec<Vec<(String, Field)>>> = BTreeMap::new();
        for (table, rows) in all.rows {
            let root = roots.get(&table).cloned().unwrap_or(table);
            let keep = copy_columns.get(&root).cloned().unwrap_or_default();
            by_root
                .entry(root)
                .or_default()
                .extend(rows.into_iter().map(|row| {
                    let mut row: Vec<_> =
                        row.into_iter().filter(|(c, _)| keep.contains(c)).collect();
                    row.sort();
                    row
                }));
        }
        for rows in by_root.values_mut() {
            rows.sort();
        }
        by_root
    };
    let copy = read_all(&shape("copy.sql.gz"));
    let mut copy_columns: HashMap<String, Vec<String>> = HashMap::new();
    for rows in copy.rows.iter() {
        let root = roots.get(rows.0).cloned().unwrap_or(rows.0.clone());
        let columns: Vec<String> = rows.1[0].iter().map(|(c, _)| c.clone()).collect();
        copy_columns.entry(root).or_default().extend(columns);
    }
    assert!(!copy_columns["public.generated_cols"].contains(&"doubled".to_string()));
    let want = normal(copy, &copy_columns);
    assert_eq!(want["public.dropped_all"].len(), 4);
    for (name, _) in &DUMPS[1..] {
        let got = normal(read_all(&shape(name)), &copy_columns);
        for (table, rows) in &want {
            assert_eq!(got.get(table), Some(rows), "{name}: {table}");
        }
    }
}

#[test]
fn texts_are_postgresqls_also_through_a_partitioned_texts_table() {
    let want = &expected()["texts"];
    for (name, _) in DUMPS {
        let path = shape(name).display().to_string();
        for table in [None, Some("parted_texts")] {
            let mut args = vec!["texts", path.as_str(), "--format", "json"];
            args.extend(table.iter().flat_map(|t| ["--table", *t]));
            let out = textrescue(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{args:?}: {err}");
            assert!(err.is_empty(), "{args:?}: {err}");
            let got: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(&got, want, "{args:?}");
        }
    }
}

/// A real dump with one INSERT changed so that the reader cannot follow it.
/// A stand-in: no pg_dump writes an INSERT this reader cannot read (that is
/// the point of the fixtures above), yet a reader that stops at one loses
/// the rest of the dump, so one is made by editing a single statement.
fn with_unreadable_insert(dir: &Path, from: &str, to: &str) -> (String, u64) {
    let text = String::from_utf8(inflated(&shape("inserts.sql.gz"))).unwrap();
    let at = text.find(from).unwrap_or_else(|| panic!("{from:?}"));
    let line = text[..at].matches('\n').count() as u64 + 1;
    let path = dir.join(format!("unreadable-{line}.sql"));
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    (path.display().to_string(), line)
}

#[test]
fn a_statement_not_read_loses_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let want: Vec<Value> = expected()["texts"].as_array().unwrap().clone();

    // In a table textrescue does not read: the texts are whole, with a
    // warning that names the line and the table; inspect says incomplete.
    let (kinds, line) = with_unreadable_insert(
        dir.path(),
        "INSERT INTO public.kinds VALUES (2, ",
        "INSERT INTO public.kinds VALUES (2 + 0, ",
    );
    let out = textrescue(&["texts", &kinds, "--format", "json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("line {line}")) && err.contains("public.kinds"),
        "{err}"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        Value::Array(want.clone())
    );
    let out = textrescue(&["inspect", &kinds, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = &report[0];
    assert_eq!(report["complete"], false);
    let problem = report["problem"].as_str().unwrap();
    assert!(
        problem.contains(&format!("line {line}")) && problem.contains("public.kinds"),
        "{problem}"
    );
    assert_eq!(report["texts"], want.len());
    let rows = |table: &str| {
        report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["name"] == table)
            .map(|t| t["rows"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(rows("public.kinds"), 2, "the two other rows of kinds");
    assert_eq!(rows("public.users"), expected_counts(false)["public.users"]);

    // In the texts table: texts fails (exit 1) and says where; --salvage
    // gives every other text, with the usernames of the users table after it.
    let (texts, line) = with_unreadable_insert(
        dir.path(),
        "INSERT INTO public.tasktexts VALUES (103, ",
        "INSERT INTO public.tasktexts VALUES (103 + 0, ",
    );
    let out = textrescue(&["texts", &texts, "--format", "json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    for needle in [
        format!("line {line}"),
        "public.tasktexts".into(),
        "--salvage".into(),
    ] {
        assert!(err.contains(&needle), "{needle}: {err}");
    }
    let out = textrescue(&["texts", &texts, "--format", "json", "--salvage"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("line {line}")) && err.contains("every row but those statements'"),
        "{err}"
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let without_103: Vec<Value> = want.iter().filter(|t| t["id"] != 103).cloned().collect();
    assert_eq!(got, Value::Array(without_103));
}

/// An indexed `.sql.gz` (what `backup` writes) is read by its tables'
/// names; the partitions of a partitioned texts table have their own, and
/// their rows are still read.
#[test]
fn an_indexed_copy_finds_the_texts_in_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let want = &expected()["texts"];
    for name in ["copy.sql.gz", "load-via-root.sql.gz"] {
        let indexed = dir.path().join(format!("indexed-{name}"));
        let indexed = indexed.display().to_string();
        let out = textrescue(&[
            "reindex",
            &shape(name).display().to_string(),
            "-o",
            &indexed,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            common::index_of(Path::new(&indexed)).is_some(),
            "{name}: indexed"
        );
        let out = textrescue(&[
            "texts",
            &indexed,
            "--table",
            "parted_texts",
            "--format",
            "json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        let count = |v: &Value| v.as_array().unwrap().len();
        assert!(
            &got == want,
            "{name}: {} texts, not {}",
            count(&got),
            count(want)
        );
    }
}
