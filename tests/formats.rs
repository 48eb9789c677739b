//! Every format pg_dump writes gives the same texts as the plain dump of the
//! same database state, and the same texts as PostgreSQL itself held
//! (fixtures/expected/). The dumps come from real pg_dump 13, 15, 17 and 18
//! (fixtures/build, build-pg13, build-pg17 and build-pg18); every one is
//! named here and must exist.
use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::fixture;
use serde_json::Value;
use textrescue::dump::{self, Dump, ReadOptions};
use textrescue::input::Source;

fn read(path: &Path) -> anyhow::Result<Dump> {
    dump::read(&Source::Path(path.to_path_buf()), &ReadOptions::default())
}

/// The texts, usernames and tasks of a dump, in a comparable form.
fn summary(dump: &Dump) -> String {
    let (texts, _) = dump.texts().expect("the dump has texts");
    let mut users: Vec<_> = texts.usernames.iter().collect();
    users.sort();
    let mut tasks: Vec<_> = texts
        .tasks
        .iter()
        .map(|(id, t)| (id, format!("{t:?}")))
        .collect();
    tasks.sort();
    format!("{:?}\n{users:?}\n{tasks:?}\n{}", texts.rows, texts.students)
}

fn plain() -> String {
    summary(&read(&fixture("formats/plain.sql")).expect("plain.sql reads"))
}

/// The dump at `path` reads completely and gives the `expected` summary.
fn assert_reads_as(path: &Path, expected: &str) {
    let name = path.display();
    let dump = read(path).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    assert!(dump.summary.complete, "{name} is not complete");
    assert_eq!(summary(&dump), expected, "{name}");
}

/// The error reading the bytes gives, with its causes.
fn read_error(bytes: &[u8]) -> String {
    format!("{:#}", read(temp_file(bytes).path()).unwrap_err())
}

/// A dump of the fixture database at night 2 and what `inspect` must say
/// of it: format, compression, archive version, pg_dump's major version.
struct Fixture {
    path: &'static str,
    format: &'static str,
    compression: &'static str,
    archive: Option<&'static str>,
    pg_dump: &'static str,
}

const fn f(
    path: &'static str,
    format: &'static str,
    compression: &'static str,
    archive: Option<&'static str>,
    pg_dump: &'static str,
) -> Fixture {
    Fixture {
        path,
        format,
        compression,
        archive,
        pg_dump,
    }
}

const V14: Option<&str> = Some("1.14");
const V16: Option<&str> = Some("1.16");
const GZ: &str = "gzip (data)";
const LZ4: &str = "lz4 (data)";
const ZSTD: &str = "zstd (data)";

/// Every dump of the night-2 state. `-stdout` is `pg_dump ... > file`,
/// `-pipe` `pg_dump ... | cat > file`, the others `pg_dump -f`.
const SAME_STATE: &[Fixture] = &[
    // pg_dump 15 (fixtures/build)
    f("formats/plain.sql.gz", "plain", "gzip", None, "15."),
    f("formats/custom.dump", "custom", GZ, V14, "15."),
    f("formats/custom-pipe.dump", "custom", GZ, V14, "15."),
    f("formats/custom-z0.dump", "custom", "none", V14, "15."),
    f("formats/tar.tar", "tar", "none", V14, "15."),
    f("formats/dir", "directory", GZ, V14, "15."),
    f("formats/dir-z0", "directory", "none", V14, "15."),
    // pg_dump 18 (fixtures/build-pg18; that build has no lz4 or zstd)
    f("formats/pg18-custom.dump", "custom", GZ, V16, "18."),
    f("formats/pg18-custom-z0.dump", "custom", "none", V16, "18."),
    f("formats/pg18-custom-stdout.dump", "custom", GZ, V16, "18."),
    f("formats/pg18-dir", "directory", GZ, V16, "18."),
    f("formats/pg18-tar.tar", "tar", "none", V16, "18."),
    // pg_dump 17 (fixtures/build-pg17)
    f("pg17/plain.sql", "plain", "none", None, "17."),
    f("pg17/plain.sql.gz", "plain", "gzip", None, "17."),
    f("pg17/plain.sql.lz4", "plain", "lz4", None, "17."),
    f("pg17/plain.sql.zst", "plain", "zstd", None, "17."),
    f("pg17/plain-piped.sql.lz4", "plain", "lz4", None, "17."),
    f("pg17/plain-piped.sql.zst", "plain", "zstd", None, "17."),
    f("pg17/plain-2frames.sql.lz4", "plain", "lz4", None, "17."),
    f("pg17/plain-2frames.sql.zst", "plain", "zstd", None, "17."),
    f("pg17/custom-none.dump", "custom", "none", V16, "17."),
    f("pg17/custom-gzip.dump", "custom", GZ, V16, "17."),
    f("pg17/custom-lz4.dump", "custom", LZ4, V16, "17."),
    f("pg17/custom-zstd.dump", "custom", ZSTD, V16, "17."),
    f("pg17/custom-none-stdout.dump", "custom", "none", V16, "17."),
    f("pg17/custom-gzip-stdout.dump", "custom", GZ, V16, "17."),
    f("pg17/custom-lz4-stdout.dump", "custom", LZ4, V16, "17."),
    f("pg17/custom-zstd-stdout.dump", "custom", ZSTD, V16, "17."),
    f("pg17/custom-gzip-pipe.dump", "custom", GZ, V16, "17."),
    f("pg17/dir-none", "directory", "none", V16, "17."),
    f("pg17/dir-gzip", "directory", GZ, V16, "17."),
    f("pg17/dir-lz4", "directory", LZ4, V16, "17."),
    f("pg17/dir-zstd", "directory", ZSTD, V16, "17."),
    f("pg17/tar.tar", "tar", "none", V16, "17."),
    // pg_dump 13 (fixtures/build-pg13; 13 has no lz4 or zstd)
    f("pg13/plain.sql", "plain", "none", None, "13."),
    f("pg13/plain.sql.gz", "plain", "gzip", None, "13."),
    f("pg13/custom-none.dump", "custom", "none", V14, "13."),
    f("pg13/custom-gzip.dump", "custom", GZ, V14, "13."),
    f("pg13/custom-none-stdout.dump", "custom", "none", V14, "13."),
    f("pg13/custom-gzip-stdout.dump", "custom", GZ, V14, "13."),
    f("pg13/custom-gzip-pipe.dump", "custom", GZ, V14, "13."),
    f("pg13/dir-none", "directory", "none", V14, "13."),
    f("pg13/dir-gzip", "directory", GZ, V14, "13."),
    f("pg13/tar.tar", "tar", "none", V14, "13."),
];

/// The texts PostgreSQL held when these dumps were made (its own json_agg;
/// fixtures/build-pg13 checks that PostgreSQL 13 gives the same bytes).
const TRUTH: &str = "expected/buggy_race_bk_20240305.json";

#[test]
fn every_fixture_named_here_exists() {
    let mut missing = Vec::new();
    for d in SAME_STATE {
        if !fixture(d.path).exists() {
            missing.push(d.path);
        }
    }
    for name in INSERT_DUMPS {
        if !fixture(&format!("formats/{name}")).exists() {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "missing fixtures: {missing:?}");
    // And no dump in the pg13/pg17 folders goes untested.
    for dir in ["pg13", "pg17"] {
        for entry in std::fs::read_dir(fixture(dir)).unwrap() {
            let name = format!("{dir}/{}", entry.unwrap().file_name().to_string_lossy());
            assert!(
                SAME_STATE.iter().any(|d| d.path == name),
                "{name} is not listed in tests/formats.rs"
            );
        }
    }
}

#[test]
fn every_format_reads_the_same_texts_as_the_plain_dump() {
    let expected = plain();
    for d in SAME_STATE {
        assert_reads_as(&fixture(d.path), &expected);
    }
}

/// `textrescue texts --format json` gives what PostgreSQL held, every text
/// byte for byte, whichever pg_dump wrote the dump and however.
#[test]
fn every_format_gives_postgresqls_texts() {
    let truth: Value = serde_json::from_slice(&std::fs::read(fixture(TRUTH)).unwrap()).unwrap();
    assert_eq!(truth.as_array().map(Vec::len), Some(33));
    for d in SAME_STATE {
        let got: Value = serde_json::from_slice(&cli_json_of(d.path)).unwrap();
        assert!(got == truth, "{}: the texts differ from {TRUTH}", d.path);
    }
}

#[test]
fn inspect_reports_format_compression_and_versions() {
    for d in SAME_STATE {
        let out = bin()
            .args(["inspect", "--format", "json"])
            .arg(fixture(d.path))
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&succeeded(d.path, out)).unwrap();
        let r = v.as_array().and_then(|a| a.first()).unwrap_or(&v);
        assert_eq!(r["format"], d.format, "{}", d.path);
        assert_eq!(r["compression"], d.compression, "{}", d.path);
        assert_eq!(r["archive_version"].as_str(), d.archive, "{}", d.path);
        let version = r["pg_dump_version"].as_str().unwrap_or("");
        assert!(version.starts_with(d.pg_dump), "{}: {version}", d.path);
        assert_eq!(r["complete"], true, "{}", d.path);
        assert_eq!(r["texts"], 33, "{}", d.path);
    }
}

/// Dumps with INSERT data (plain, and a custom archive of pg_dump --inserts,
/// whose data blocks are read by the plain reader).
const INSERT_DUMPS: [&str; 4] = [
    "inserts.sql",
    "column-inserts.sql",
    "rows-per-insert.sql",
    "custom-inserts.dump",
];

#[test]
fn insert_dumps_read_the_same_texts_as_the_plain_dump() {
    let expected = plain();
    for name in INSERT_DUMPS {
        assert_reads_as(&fixture(&format!("formats/{name}")), &expected);
    }
}

#[test]
fn archives_report_their_facts() {
    let dump = read(&fixture("formats/custom.dump")).unwrap();
    assert_eq!(dump.summary.archive_version.as_deref(), Some("1.14"));
    assert_eq!(dump.summary.compression_label(), "gzip (data)");
    assert!(
        dump.summary
            .pg_dump_version
            .as_deref()
            .unwrap_or("")
            .starts_with("15.")
    );
    assert!(dump.summary.server_version.is_some());
    // pg_dump 13 dumped its own server; pg_dump 17 the host's PostgreSQL 15.
    let d13 = read(&fixture("pg13/custom-gzip.dump")).unwrap();
    assert!(d13.summary.server_version.unwrap().starts_with("13."));
    let d17 = read(&fixture("pg17/custom-zstd-stdout.dump")).unwrap();
    assert!(d17.summary.server_version.unwrap().starts_with("15."));
    assert_eq!(
        d17.databases[0].name.as_deref(),
        Some("trfx_pg17_buggy_race")
    );
}

/// Row counts, as `inspect` asks for them (every table counted).
fn read_counting(path: &Path) -> anyhow::Result<Dump> {
    let options = ReadOptions {
        count_rows: true,
        ..ReadOptions::default()
    };
    dump::read(&Source::Path(path.to_path_buf()), &options)
}

#[test]
fn table_row_counts_match_across_formats() {
    let counts = |d: &Dump| {
        let mut t: Vec<_> = d.summary.databases[0]
            .tables
            .iter()
            .map(|t| (t.name.to_string(), t.rows))
            .collect();
        t.sort();
        t
    };
    let expected = counts(&read_counting(&fixture("formats/plain.sql")).unwrap());
    for d in SAME_STATE {
        let dump = read_counting(&fixture(d.path)).unwrap_or_else(|e| panic!("{}: {e:#}", d.path));
        assert_eq!(counts(&dump), expected, "{}", d.path);
    }
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_textrescue"))
}

fn cli_json(arg: &str, stdin: Option<&[u8]>) -> std::process::Output {
    let mut child = bin()
        .args(["texts", arg, "--format", "json"])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // The reader may stop early on an error; a broken pipe is fine then.
        let _ = pipe.write_all(input);
    }
    child.wait_with_output().unwrap()
}

/// The stdout of a run for `what` that must have succeeded.
fn succeeded(what: &str, out: std::process::Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The CLI's JSON for the fixture dump `name`.
fn cli_json_of(name: &str) -> Vec<u8> {
    succeeded(name, cli_json(fixture(name).to_str().unwrap(), None))
}

/// The CLI's JSON for the plain dump.
fn cli_plain() -> Vec<u8> {
    cli_json_of("formats/plain.sql")
}

#[test]
fn the_cli_gives_byte_identical_json_for_every_format() {
    let expected = cli_plain();
    for d in SAME_STATE {
        assert!(
            cli_json_of(d.path) == expected,
            "{}: different JSON",
            d.path
        );
    }
}

/// On standard input nothing can seek: custom archives are read in order,
/// compression is found by its magic bytes.
#[test]
fn dumps_on_standard_input() {
    let expected = cli_plain();
    for name in [
        "formats/custom.dump",
        "formats/custom-pipe.dump",
        "pg17/custom-zstd-stdout.dump",
        "pg17/custom-lz4-stdout.dump",
        "pg17/custom-none-stdout.dump",
        "pg17/plain.sql.zst",
        "pg17/plain-2frames.sql.lz4",
        "pg13/custom-gzip-stdout.dump",
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let out = succeeded(name, cli_json("-", Some(&bytes)));
        assert!(out == expected, "{name} on stdin: different JSON");
    }
}

fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    f
}

#[test]
fn damaged_archives_are_errors_not_panics() {
    let expected = plain();
    for name in [
        "formats/custom.dump",
        "formats/custom-z0.dump",
        "formats/custom-pipe.dump",
        "formats/tar.tar",
        "pg13/custom-gzip.dump",
        "pg17/custom-lz4.dump",
        "pg17/custom-zstd-stdout.dump",
        "pg17/custom-none-stdout.dump",
        "formats/pg18-custom-stdout.dump",
        "pg17/plain.sql.zst",
        "pg17/plain.sql.lz4",
        "pg17/plain-2frames.sql.zst",
        "pg17/plain-piped.sql.lz4",
    ] {
        let full = std::fs::read(fixture(name)).unwrap();
        // Cuts everywhere near the start (header, TOC) and spread over the rest.
        let mut cuts: Vec<usize> = (1..400.min(full.len())).collect();
        cuts.extend((0..200).map(|i| full.len() * i / 200));
        // A tar ends with two blocks of zeros that hold nothing.
        let end = if name.ends_with(".tar") {
            full.len() - 1024
        } else {
            full.len()
        };
        cuts.push(end - 1);
        for cut in cuts {
            if cut == 0 || cut >= end {
                continue;
            }
            let f = temp_file(&full[..cut]);
            match read(f.path()) {
                Err(e) => {
                    // A cut dump is named as cut, or the place where it
                    // stops making sense is given.
                    let msg = format!("{e:#}");
                    assert!(
                        [
                            "truncated",
                            "ends",
                            "byte",
                            "line",
                            "incomplete",
                            "not a pg_dump"
                        ]
                        .iter()
                        .any(|w| msg.contains(w)),
                        "{name} cut at {cut}: {msg}"
                    );
                }
                // Written to standard output, pg_dump 17 appends a copy of
                // the TOC to the data: cut just before it, what is left is
                // a whole archive as a pipe gives it (the next byte is the
                // copy's first, 0; every block starts with 1 or 3).
                Ok(d) if name.ends_with("-stdout.dump") && full[cut] == 0 => {
                    assert!(d.summary.complete, "{name} cut at {cut}");
                    assert_eq!(summary(&d), expected, "{name} cut at {cut}");
                }
                Ok(d) => panic!(
                    "{name} cut at {cut} of {} was read as complete={}",
                    full.len(),
                    d.summary.complete
                ),
            }
        }
    }
}

#[test]
fn a_length_claiming_a_terabyte_is_an_error() {
    let full = std::fs::read(fixture("formats/custom-z0.dump")).unwrap();
    // The database name's length (after the 7 time fields): claim 2^40 bytes
    // with 8-byte integers is impossible in a 4-byte archive, so claim the
    // most a 4-byte int can, and make the TOC count absurd too.
    let int_size = full[8] as usize;
    assert_eq!(int_size, 4);
    let mut first_int = 12; // after magic, version, sizes, format
    first_int += 1 + int_size; // compression level
    first_int += 7 * (1 + int_size); // time
    let mut bad = full.clone();
    bad[first_int] = 0;
    bad[first_int + 1..first_int + 5].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let e = read_error(&bad);
    assert!(e.contains("damaged"), "{e}");
    // An archive header with 8-byte integers whose first string claims 2^40 bytes.
    let mut big = b"PGDMP\x01\x0e\x00\x08\x08\x01".to_vec();
    let int8 = |out: &mut Vec<u8>, v: u64| {
        out.push(0);
        out.extend_from_slice(&v.to_le_bytes());
    };
    for _ in 0..8 {
        int8(&mut big, 0);
    }
    int8(&mut big, 1 << 40);
    big.extend_from_slice(b"buggy_race");
    let e = read_error(&big);
    assert!(e.contains("damaged"), "{e}");
}

#[test]
fn a_directory_with_a_missing_data_file_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("formats/dir-z0");
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    // The largest data file is the texts'.
    let biggest = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dat") && !p.ends_with("toc.dat"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    std::fs::remove_file(&biggest).unwrap();
    let e = read(dir.path()).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("missing"), "{msg}");
}

/// Without counting, a custom archive file is read by seeking: only the
/// texts, users and tasks tables are decompressed; the others are passed
/// over unread and their row counts are unknown.
#[test]
fn a_custom_archive_file_is_read_by_seeking_to_the_needed_tables() {
    let d = read(&fixture("formats/custom.dump")).unwrap();
    let rows = |name: &str| {
        d.summary.databases[0]
            .tables
            .iter()
            .find(|t| t.name.to_string() == name)
            .map(|t| t.rows)
    };
    assert_eq!(rows("public.buggies"), Some(None));
    assert_eq!(rows("public.tasktexts"), Some(Some(33)));
    assert!(d.summary.complete);
    // Written through a pipe there are no offsets, but the blocks nobody
    // needs are still passed over by their chunk lengths, never decompressed.
    let piped = read(&fixture("formats/custom-pipe.dump")).unwrap();
    let buggies = piped.summary.databases[0]
        .tables
        .iter()
        .find(|t| t.name.name == "buggies");
    assert_eq!(buggies.map(|t| t.rows), Some(None));
    assert_eq!(summary(&piped), summary(&d));
}

/// A zstd or LZ4 dump cut short says "truncated"; bytes after its last
/// frame are damage; a skippable frame (as `pzstd` writes first) is
/// passed over; LZ4's legacy format is refused by name.
#[test]
fn zstd_and_lz4_dumps_cut_appended_or_odd() {
    let expected = plain();
    for name in [
        "pg17/plain.sql.zst",
        "pg17/plain.sql.lz4",
        "pg17/plain-2frames.sql.zst",
        "pg17/plain-piped.sql.lz4",
    ] {
        let full = std::fs::read(fixture(name)).unwrap();
        for cut in [6, full.len() / 3, full.len() / 2, full.len() - 1] {
            let msg = read_error(&full[..cut]);
            assert!(msg.contains("truncated"), "{name} cut at {cut}: {msg}");
        }
        let msg = read_error(&[&full[..], b"\n-- more\n"].concat());
        assert!(msg.contains("bytes that are not one"), "{name}: {msg}");
        // A skippable frame first and one between.
        let skippable = |len: u8| {
            [
                &[0x50, 0x2a, 0x4d, 0x18, len, 0, 0, 0][..],
                &vec![7; len as usize],
            ]
            .concat()
        };
        let odd = [skippable(5), full.clone(), skippable(0)].concat();
        let dump = read(temp_file(&odd).path()).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(summary(&dump), expected, "{name} with skippable frames");
    }
    let legacy = [&[0x02, 0x21, 0x4c, 0x18][..], &[0; 16]].concat();
    let e = read_error(&legacy);
    assert!(e.contains("legacy format"), "{e}");
}
