//! Memory that does not grow with the dump: `texts --user` keeps only the
//! chosen student's texts whatever the size of the texts table (with an
//! index the users are read first; without one the undecided texts go to a
//! temporary file past a bound), and `inspect` counts rows of any length
//! without holding them. Peak memory is measured with tests/bin/peak-rss.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::output_with_peak_rss;
use flate2::Compression;
use flate2::write::GzEncoder;
use textrescue::indexed_gzip::IndexedGzWriter;

/// What these runs may take: 64 MiB.
const LIMIT_KIB: i64 = 64 * 1024;

fn data_comment(table: &str) -> String {
    format!("\n--\n-- Data for Name: {table}; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n")
}

/// A dump in pg_dump's order (the texts before the users) with `texts`
/// texts of about 1 KiB from 500 students (alice is user 7) and `files` rows
/// of 10 MiB in db_files.
fn big_dump(texts: usize, files: usize) -> Vec<u8> {
    let mut d = b"--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n".to_vec();
    d.extend_from_slice(data_comment("db_files").as_bytes());
    d.extend_from_slice(b"COPY public.db_files (id, name, content) FROM stdin;\n");
    for i in 0..files {
        d.extend_from_slice(format!("{i}\trace-{i}.json\t").as_bytes());
        d.extend(std::iter::repeat_n(b'{', 10 << 20));
        d.push(b'\n');
    }
    d.extend_from_slice(b"\\.\n");
    d.extend_from_slice(data_comment("tasks").as_bytes());
    d.extend_from_slice(b"COPY public.tasks (id, phase, name) FROM stdin;\n1\t0\tname\n\\.\n");
    d.extend_from_slice(data_comment("tasktexts").as_bytes());
    d.extend_from_slice(
        b"COPY public.tasktexts (id, created_at, modified_at, user_id, task_id, text) FROM stdin;\n",
    );
    for i in 0..texts {
        let user = i % 500;
        d.extend_from_slice(
            format!("{i}\t2024-03-01 10:00:00+00\t\\N\t{user}\t1\ttext {i} of user {user} ")
                .as_bytes(),
        );
        d.extend(std::iter::repeat_n(b"lorem ipsum ".as_slice(), 85).flatten());
        d.push(b'\n');
    }
    d.extend_from_slice(b"\\.\n");
    d.extend_from_slice(data_comment("users").as_bytes());
    d.extend_from_slice(b"COPY public.users (id, username) FROM stdin;\n");
    for u in 0..500 {
        let name = if u == 7 {
            "alice".to_string()
        } else {
            format!("student{u}")
        };
        d.extend_from_slice(format!("{u}\t{name}\n").as_bytes());
    }
    d.extend_from_slice(b"\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n");
    d
}

/// `bytes` as `single.sql.gz` (one gzip member) and `indexed.sql.gz` in `dir`.
fn write_both(dir: &Path, bytes: &[u8]) {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(bytes).unwrap();
    std::fs::write(dir.join("single.sql.gz"), gz.finish().unwrap()).unwrap();
    let mut gz = IndexedGzWriter::new(Vec::new(), Compression::fast());
    gz.write_all(bytes).unwrap();
    std::fs::write(dir.join("indexed.sql.gz"), gz.finish().unwrap()).unwrap();
}

/// `textrescue ARGS DIR/FILE`.
fn textrescue(args: &[&str], dir: &Path, file: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_textrescue"));
    c.args(args).arg(dir.join(file));
    c
}

/// `texts --user` on 120 MB of texts: the same texts from the indexed file
/// and the single gzip stream (and the same as the whole texts filtered),
/// each run under 64 MiB.
#[test]
fn texts_of_one_user_take_bounded_memory_whatever_the_texts_table() {
    let dir = tempfile::tempdir().unwrap();
    write_both(dir.path(), &big_dump(120_000, 0));
    let mut outputs = Vec::new();
    for file in ["single.sql.gz", "indexed.sql.gz"] {
        let out = output_with_peak_rss(&textrescue(
            &["texts", "--user", "ALICE", "--format", "json"],
            dir.path(),
            file,
        ));
        assert_eq!(out.code, Some(0), "{}", common::text(&out.stderr));
        assert!(
            out.peak_rss_kib < LIMIT_KIB,
            "{file}: texts --user peaked at {} KiB",
            out.peak_rss_kib
        );
        outputs.push(out.stdout);
    }
    assert_eq!(outputs[0], outputs[1]);
    let texts: serde_json::Value = serde_json::from_slice(&outputs[0]).unwrap();
    let texts = texts.as_array().unwrap();
    assert_eq!(texts.len(), 120_000 / 500);
    assert!(texts.iter().all(|t| t["username"] == "alice"));
    let ids: Vec<i64> = texts.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = (0..120_000).filter(|i| i % 500 == 7).collect();
    assert_eq!(ids, expected);
}

/// `inspect` counts rows of 10 MiB (race files) under 64 MiB, from the
/// single stream and from the indexed file (every member, in parallel).
#[test]
fn inspect_counts_huge_rows_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    write_both(dir.path(), &big_dump(20_000, 12));
    let mut outputs = Vec::new();
    for file in ["single.sql.gz", "indexed.sql.gz"] {
        let out = output_with_peak_rss(&textrescue(
            &["inspect", "--format", "json"],
            dir.path(),
            file,
        ));
        assert_eq!(out.code, Some(0), "{}", common::text(&out.stderr));
        assert!(
            out.peak_rss_kib < LIMIT_KIB,
            "{file}: inspect peaked at {} KiB",
            out.peak_rss_kib
        );
        let mut report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report[0]["path"] = serde_json::Value::Null;
        outputs.push(report);
    }
    assert_eq!(outputs[0], outputs[1]);
    let report = &outputs[0][0];
    assert_eq!(report["texts"], 20_000);
    let tables = report["tables"].as_array().unwrap();
    let files = tables
        .iter()
        .find(|t| t["name"] == "public.db_files")
        .unwrap();
    assert_eq!(files["rows"], 12);
}
