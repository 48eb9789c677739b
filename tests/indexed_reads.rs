//! Indexed `.sql.gz` in use: `textrescue backup` writes one (gzip and psql
//! take it as any `.sql.gz`), and the readers inflate every member of it on
//! every core, with the same output, line numbers and damage reports as a
//! read of the whole file; an index that does not agree is passed over
//! silently.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{NASTY, assert_ok, insert_text_sql, pg, text};
use flate2::Compression;
use flate2::write::GzEncoder;
use textrescue::indexed_gzip::{FOOTER_LEN, IndexedGzWriter, Member};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_textrescue"))
}

/// The one `.sql.gz` in `dir`.
fn only_backup(dir: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".sql.gz"))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

/// A plain backup made by `textrescue backup` is an indexed `.sql.gz` that
/// the real gzip checks and that `gunzip -c | psql` restores to the same
/// database, texts byte for byte.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn backup_writes_an_indexed_sql_gz_that_gunzip_and_psql_restore() {
    let pg = pg();
    let db = pg.create_db("tr_idx_backup");
    db.load_schema_with_people();
    let mut sql = String::new();
    for (i, t) in NASTY.iter().enumerate() {
        sql += &insert_text_sql(
            None,
            2 + (i as i64 % 2),
            1 + (i as i64 % 4),
            "2024-03-05 10:00:00+00",
            None,
            t,
        );
    }
    // Over one member's 16 MiB, so that the texts' rows span members.
    sql += &insert_text_sql(
        None,
        2,
        3,
        "2024-03-06 10:00:00+00",
        None,
        &"17 MiB of text\t\\\n".repeat(17 << 16),
    );
    db.psql(&sql);
    let dir = tempfile::tempdir().unwrap();
    let mut c = db.command(env!("CARGO_BIN_EXE_textrescue"));
    c.env_remove("PGPASSWORD")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .arg("backup")
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null());
    assert_ok(&c.output().unwrap());
    let file = only_backup(dir.path());

    let index = common::index_of(&file).expect("the backup has an index that agrees");
    assert!(index.members.len() > 3, "{}", index.members.len());
    assert!(
        index
            .tables()
            .iter()
            .any(|t| common::table_is(t, "tasktexts"))
    );
    let t = Command::new("gzip").arg("-t").arg(&file).output().unwrap();
    assert!(t.status.success(), "gzip -t: {}", text(&t.stderr));
    let gunzip = Command::new("gzip").arg("-dc").arg(&file).output().unwrap();
    assert_ok(&gunzip);
    assert_eq!(gunzip.stdout.len() as u64, index.dump_len);

    let restored = pg.create_db("tr_idx_restored");
    let out = restored.psql_input(&gunzip.stdout);
    assert!(out.status.success(), "psql: {}", text(&out.stderr));
    assert_eq!(
        restored.texts_json_string("public.tasktexts"),
        db.texts_json_string("public.tasktexts")
    );
    assert_eq!(
        restored.psql("SELECT count(*) FROM users"),
        db.psql("SELECT count(*) FROM users")
    );
    // And textrescue reads the texts back from it as from the database.
    let out = bin()
        .args(["texts", "--format", "json"])
        .arg(&file)
        .output()
        .unwrap();
    assert_ok(&out);
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read, db.texts_json("public.tasktexts"));
}

/// `args` run in `dir` (so that the dump's name in messages is the same
/// whichever copy is read): exit status, stdout, stderr.
fn run_in(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin().current_dir(dir).args(args).output().unwrap();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// The commands that read a dump for its texts, and `inspect`, on
/// `dump.sql.gz`.
const READS: &[&[&str]] = &[
    &["texts", "dump.sql.gz"],
    &["texts", "--format", "json", "dump.sql.gz"],
    &["texts", "--user", "alice", "--format", "csv", "dump.sql.gz"],
    &["texts", "--table", "users", "dump.sql.gz"],
    &["diff", "dump.sql.gz", "dump.sql.gz"],
    &["history", "dump.sql.gz"],
    &["inspect", "dump.sql.gz"],
    &["inspect", "--format", "json", "dump.sql.gz"],
];

/// Two folders with `dump.sql.gz`: `bytes` as one gzip member, and as an
/// indexed `.sql.gz` (what `textrescue backup` writes).
fn single_and_indexed(bytes: &[u8]) -> (tempfile::TempDir, tempfile::TempDir) {
    let single = tempfile::tempdir().unwrap();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes).unwrap();
    std::fs::write(single.path().join("dump.sql.gz"), gz.finish().unwrap()).unwrap();
    let indexed = tempfile::tempdir().unwrap();
    let mut gz = IndexedGzWriter::new(Vec::new(), Compression::default());
    for chunk in bytes.chunks(7919) {
        gz.write_all(chunk).unwrap();
    }
    std::fs::write(indexed.path().join("dump.sql.gz"), gz.finish().unwrap()).unwrap();
    (single, indexed)
}

fn assert_same_reads(single: &Path, indexed: &Path, what: &str) {
    for args in READS {
        assert_eq!(
            run_in(indexed, args),
            run_in(single, args),
            "{what}: {args:?} on the indexed copy"
        );
    }
}

/// Every plain fixture, indexed: `texts`, `diff` and `history` print the
/// same, fail the same and exit the same as on the fixture as one gzip
/// stream, while reading only some members (most fixtures have tables
/// besides the three read).
#[test]
fn reads_of_an_indexed_copy_are_the_reads_of_the_whole_file() {
    let mut cut = 0;
    for name in crate::indexed_gzip::PLAIN_FIXTURES {
        let bytes = common::inflated(&common::fixture(name));
        let (single, indexed) = single_and_indexed(&bytes);
        let file = indexed.path().join("dump.sql.gz");
        let index = common::index_of(&file).unwrap_or_else(|| panic!("{name}: no index"));
        let texts = |t: &[u8]| {
            ["tasktexts", "task_texts", "users", "tasks"]
                .iter()
                .any(|w| common::table_is(t, w))
        };
        if index.plan(texts).len() < index.members.len() {
            cut += 1;
        }
        assert_same_reads(single.path(), indexed.path(), name);
    }
    assert!(
        cut >= 5,
        "only {cut} fixtures have rows the readers leave out"
    );
}

/// A dump with a table of `other_rows` rows before the texts, whose
/// second text has `bad_created_at` for its created_at.
fn dump_with_other_table(other_rows: usize, bad_created_at: &str) -> Vec<u8> {
    let data = |table: &str| {
        format!(
            "\n--\n-- Data for Name: {table}; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n"
        )
    };
    let mut d = String::from(
        "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\n\
         CREATE TABLE public.other (\n    id integer,\n    v text\n);\n",
    );
    d += &data("other");
    d += "COPY public.other (id, v) FROM stdin;\n";
    for i in 0..other_rows {
        d += &format!(
            "{i}\trow {i} of a table that texts never reads {}\n",
            i * 7919 % 10007
        );
    }
    d += "\\.\n";
    d += &data("tasktexts");
    d +=
        "COPY public.tasktexts (id, created_at, modified_at, user_id, task_id, text) FROM stdin;\n";
    d += "1\t2024-03-01 10:00:00+00\t\\N\t2\t1\tfirst\n";
    d += &format!("2\t{bad_created_at}\t\\N\t2\t1\tsecond\n");
    d += "\\.\n";
    d += &data("users");
    d += "COPY public.users (id, username) FROM stdin;\n2\talice\n\\.\n";
    d += "\n--\n-- PostgreSQL database dump complete\n--\n\n";
    d.into_bytes()
}

/// A bad row in the texts, after rows the indexed read leaves out, is
/// reported at its line in the dump, as when the whole file is read.
#[test]
fn line_numbers_in_messages_are_the_dumps() {
    let bytes = dump_with_other_table(5000, "not a time");
    let (single, indexed) = single_and_indexed(&bytes);
    assert_same_reads(single.path(), indexed.path(), "a bad created_at");
    let (code, _, err) = run_in(indexed.path(), &["texts", "dump.sql.gz"]);
    assert_eq!(code, Some(1));
    let line = common::text(&bytes)
        .lines()
        .position(|l| l.starts_with("2\tnot a time"))
        .unwrap()
        + 1;
    assert!(err.contains(&format!("line {line},")), "line {line}: {err}");
    // And the good dump reads the same both ways, texts and all.
    let (single, indexed) =
        single_and_indexed(&dump_with_other_table(5000, "2024-03-02 10:00:00+00"));
    assert_same_reads(single.path(), indexed.path(), "good");
    let (code, out, _) = run_in(
        indexed.path(),
        &["texts", "--format", "json", "dump.sql.gz"],
    );
    assert_eq!(code, Some(0));
    assert!(out.contains("second"), "{out}");
}

/// The member of `table`'s rows with the most compressed bytes.
fn member_of(file: &Path, table: &str) -> Member {
    common::index_of(file)
        .unwrap()
        .members
        .into_iter()
        .filter(|m| {
            m.table
                .as_deref()
                .is_some_and(|t| common::table_is(t, table))
        })
        .max_by_key(|m| m.compressed_len)
        .unwrap_or_else(|| panic!("no member of {table}"))
}

fn flip_byte(file: &Path, at: u64) {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[at as usize] ^= 0x55;
    std::fs::write(file, bytes).unwrap();
}

/// Every member is inflated, whatever its label: with a member of a table
/// the readers pass over damaged, `texts` on the indexed file fails as a
/// read of the same file as one stream does, and so does `inspect`.
#[test]
fn a_damaged_member_of_any_table_is_damage() {
    let (_, indexed) = single_and_indexed(&dump_with_other_table(50_000, "2024-03-02 10:00:00+00"));
    let file = indexed.path().join("dump.sql.gz");
    let other = member_of(&file, "other");
    flip_byte(&file, other.compressed_offset + other.compressed_len / 2);
    assert!(common::index_of(&file).is_some(), "the index still agrees");
    let (code, _, err) = run_in(
        indexed.path(),
        &["texts", "--format", "json", "dump.sql.gz"],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("damaged"), "{err}");
    let streamed = bin()
        .args(["texts", "-"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    let e = common::assert_failed(&streamed);
    assert!(e.contains("damaged"), "{e}");
    let (code, _, err) = run_in(indexed.path(), &["inspect", "dump.sql.gz"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("damaged"), "{err}");
}

/// A damaged member of the texts' rows is damage, said with where it is.
#[test]
fn a_damaged_member_of_the_texts_is_reported_as_damage() {
    let (_, indexed) = single_and_indexed(&dump_with_other_table(10, "2024-03-02 10:00:00+00"));
    let file = indexed.path().join("dump.sql.gz");
    let texts = member_of(&file, "tasktexts");
    flip_byte(&file, texts.compressed_offset + texts.compressed_len - 12);
    assert!(common::index_of(&file).is_some(), "the index still agrees");
    let out = bin()
        .current_dir(indexed.path())
        .args(["texts", "dump.sql.gz"])
        .output()
        .unwrap();
    let e = common::assert_failed(&out);
    assert!(
        e.contains("damaged") && e.contains(&format!("at byte {}", texts.compressed_offset)),
        "{e}"
    );
}

/// An index that does not agree with its file (a byte of it changed) is
/// passed over: the file is read as one gzip stream, with not a word
/// about the index.
#[test]
fn a_corrupted_index_is_passed_over_silently() {
    let bytes = common::inflated(&common::fixture("nights/buggy_race_bk_20240305.sql.gz"));
    let (single, indexed) = single_and_indexed(&bytes);
    let file = indexed.path().join("dump.sql.gz");
    let len = std::fs::metadata(&file).unwrap().len();
    flip_byte(&file, len - FOOTER_LEN as u64 - 20);
    assert!(common::index_of(&file).is_none());
    assert_same_reads(single.path(), indexed.path(), "a corrupted index");
    let (code, _, err) = run_in(indexed.path(), &["inspect", "dump.sql.gz"]);
    assert_eq!((code, err.as_str()), (Some(0), ""));
}
