//! Property test: random nasty texts go into a real PostgreSQL, out through
//! the real pg_dump (plain, gzip, CRLF as `docker exec -t` makes it), and
//! back through textrescue: every text must come back byte for byte.
//! Needs a PostgreSQL server (ignored when none answered at build time, see build.rs).

use crate::common;

use std::io::Write;

use assert_cmd::Command;
use common::{insert_text_sql, pg};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Pieces that have broken dump readers and restore scripts before.
const FRAGMENTS: &[&str] = &[
    "\\",
    "\\\\",
    "\\.",
    "\n\\.\n",
    "\\N",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "'",
    "''",
    "\"",
    "$$",
    "$tag$",
    "\\! echo pwned\n",
    "\\i /etc/passwd\n",
    ":foo",
    ":'foo'",
    "E'\\x41'",
    "COPY x FROM stdin;\n",
    "-- PostgreSQL database dump complete\n",
    "\u{1}",
    "\u{7f}",
    "\u{202e}",
    "🏎️",
    "مرحبا",
    "\u{10ffff}",
    "\u{feff}",
    " ",
    "\\x41",
    "\\101",
];

fn nasty_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(FRAGMENTS).prop_map(str::to_string),
        2 => any::<char>().prop_filter("PostgreSQL text has no NUL", |c| *c != '\0').prop_map(String::from),
        1 => "[a-z ]{0,20}",
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

fn textrescue_json(dump: &[u8]) -> serde_json::Value {
    let out = Command::cargo_bin("textrescue")
        .unwrap()
        .args(["texts", "-", "--format", "json"])
        .write_stdin(dump.to_vec())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// What a pseudo-terminal does to pg_dump's output: every LF becomes CRLF.
fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 20);
    for &b in data {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn random_texts_survive_postgresql_pg_dump_and_textrescue() {
    let pg = pg();
    let db = pg.create_db("textrescue_prop");
    db.load_schema_with_people();
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(nasty_text(), 1..6), |texts| {
            db.psql("DELETE FROM public.tasktexts");
            let mut sql = String::new();
            for (i, t) in texts.iter().enumerate() {
                sql += &insert_text_sql(
                    Some(1000 + i as i64),
                    2 + (i as i64 % 2),
                    1 + (i as i64 % 4),
                    "2024-03-01 14:22:11.123456+00",
                    None,
                    t,
                );
            }
            db.psql(&sql);
            let want = db.texts_json("public.tasktexts");
            let dump = db.pg_dump(&[]);
            for (how, bytes) in [
                ("plain", dump.clone()),
                ("gzip", gzip(&dump)),
                ("crlf", gzip(&crlf(&dump))),
            ] {
                let got = textrescue_json(&bytes);
                prop_assert_eq!(&got, &want, "{} dump", how);
                for (g, t) in got.as_array().unwrap().iter().zip(&texts) {
                    prop_assert_eq!(g["text"].as_str().unwrap(), t.as_str());
                }
            }
            Ok(())
        })
        .unwrap();
}
