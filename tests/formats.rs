//! Every format pg_dump writes gives the same texts as the plain dump of the
//! same database state (fixtures/formats/, built by fixtures/build,
//! fixtures/build-compressed and fixtures/build-pg18).
use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::fixture;
use textrescue::dump::{self, Dump, ReadOptions};
use textrescue::input::Source;

fn read(path: &Path) -> anyhow::Result<Dump> {
    dump::read(&Source::Path(path.to_path_buf()), &ReadOptions::default())
}

/// The texts, usernames and tasks of a dump, in a comparable form.
fn summary(dump: &Dump) -> String {
    let (texts, _) = dump.texts(None).expect("the dump has texts");
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

/// Every dump of the fixture database in fixtures/formats/ that exists.
fn same_state_dumps() -> Vec<PathBuf> {
    [
        "plain.sql.gz",
        "custom.dump",
        "custom-pipe.dump",
        "custom-z0.dump",
        "custom-lz4.dump",
        "custom-zstd.dump",
        "tar.tar",
        "dir",
        "dir-z0",
        "pg18-custom.dump",
        "pg18-custom-z0.dump",
        "pg18-custom-lz4.dump",
        "pg18-custom-zstd.dump",
        "pg18-dir",
        "pg18-dir-lz4",
        "pg18-dir-zstd",
        "pg18-tar.tar",
    ]
    .iter()
    .map(|n| fixture(&format!("formats/{n}")))
    .filter(|p| p.exists())
    .collect()
}

#[test]
fn every_format_reads_the_same_texts_as_the_plain_dump() {
    let expected = plain();
    let dumps = same_state_dumps();
    assert!(
        dumps.len() >= 9,
        "fixtures/formats is incomplete: {dumps:?}"
    );
    for path in dumps {
        let dump = read(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        assert!(dump.complete, "{} is not complete", path.display());
        assert_eq!(summary(&dump), expected, "{}", path.display());
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
        let path = fixture(&format!("formats/{name}"));
        if !path.exists() {
            continue; // custom-inserts.dump comes from fixtures/build-pg18
        }
        let dump = read(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        assert_eq!(summary(&dump), expected, "{}", path.display());
    }
}

#[test]
fn insert_dumps_read_the_same_rows_apart_from_carriage_returns() {
    let strip = |s: String| s.replace("13, 10", "10");
    let expected = strip(plain());
    for name in INSERT_DUMPS {
        let path = fixture(&format!("formats/{name}"));
        if !path.exists() {
            continue; // custom-inserts.dump comes from fixtures/build-pg18
        }
        let dump = read(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        assert!(dump.complete, "{name}");
        assert_eq!(strip(summary(&dump)), expected, "{}", path.display());
    }
}

#[test]
fn archives_report_their_facts() {
    let dump = read(&fixture("formats/custom.dump")).unwrap();
    assert_eq!(dump.archive_version.as_deref(), Some("1.14"));
    assert!(dump.compression.contains("gzip"), "{}", dump.compression);
    assert!(
        dump.pg_dump_version
            .as_deref()
            .unwrap_or("")
            .starts_with("15.")
    );
    assert!(dump.server_version.is_some());
    let dump = read(&fixture("formats/custom-z0.dump")).unwrap();
    assert_eq!(dump.compression, "none");
    let dump = read(&fixture("formats/dir")).unwrap();
    assert!(dump.compression.contains("gzip"), "{}", dump.compression);
    for (name, algorithm) in [("custom-lz4.dump", "lz4"), ("custom-zstd.dump", "zstd")] {
        let path = fixture(&format!("formats/{name}"));
        if path.exists() {
            let dump = read(&path).unwrap();
            assert_eq!(dump.archive_version.as_deref(), Some("1.15"));
            assert!(dump.compression.contains(algorithm), "{}", dump.compression);
        }
    }
    let pg18 = fixture("formats/pg18-custom.dump");
    if pg18.exists() {
        assert_eq!(
            read(&pg18).unwrap().archive_version.as_deref(),
            Some("1.16")
        );
    }
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
        let mut t: Vec<_> = d.databases[0]
            .tables
            .iter()
            .map(|t| (t.name.to_string(), t.rows))
            .collect();
        t.sort();
        t
    };
    let expected = counts(&read_counting(&fixture("formats/plain.sql")).unwrap());
    for path in same_state_dumps() {
        assert_eq!(
            counts(&read_counting(&path).unwrap()),
            expected,
            "{}",
            path.display()
        );
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

/// The CLI's JSON for the plain dump, or None while `texts` is not there.
fn cli_plain() -> Option<Vec<u8>> {
    let out = cli_json(fixture("formats/plain.sql").to_str().unwrap(), None);
    if !out.status.success() {
        eprintln!(
            "textrescue texts --format json does not work yet; skipping: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(out.stdout)
}

#[test]
fn the_cli_gives_byte_identical_json_for_every_format() {
    let Some(expected) = cli_plain() else { return };
    for path in same_state_dumps() {
        let out = cli_json(path.to_str().unwrap(), None);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == expected, "{}: different JSON", path.display());
    }
}

#[test]
fn a_custom_archive_on_standard_input() {
    let Some(expected) = cli_plain() else { return };
    for name in ["custom.dump", "custom-pipe.dump"] {
        let bytes = std::fs::read(fixture(&format!("formats/{name}"))).unwrap();
        let out = cli_json("-", Some(&bytes));
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == expected, "{name} on stdin: different JSON");
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
    for name in [
        "custom.dump",
        "custom-z0.dump",
        "custom-pipe.dump",
        "tar.tar",
    ] {
        let full = std::fs::read(fixture(&format!("formats/{name}"))).unwrap();
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
                    let msg = format!("{e:#}");
                    assert!(!msg.contains("panicked"), "{name} cut at {cut}: {msg}");
                }
                Ok(d) => panic!(
                    "{name} cut at {cut} of {} was read as complete={}",
                    full.len(),
                    d.complete
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
    let e = read(temp_file(&bad).path()).unwrap_err();
    assert!(format!("{e:#}").contains("damaged"), "{e:#}");
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
    let e = read(temp_file(&big).path()).unwrap_err();
    assert!(format!("{e:#}").contains("damaged"), "{e:#}");
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
        d.databases[0]
            .tables
            .iter()
            .find(|t| t.name.to_string() == name)
            .map(|t| t.rows)
    };
    assert_eq!(rows("public.buggies"), Some(None));
    assert_eq!(rows("public.tasktexts"), Some(Some(33)));
    assert!(d.complete);
    // Written through a pipe there are no offsets, but the blocks nobody
    // needs are still passed over by their chunk lengths, never decompressed.
    let piped = read(&fixture("formats/custom-pipe.dump")).unwrap();
    let buggies = piped.databases[0]
        .tables
        .iter()
        .find(|t| t.name.name == "buggies");
    assert_eq!(buggies.map(|t| t.rows), Some(None));
    assert_eq!(summary(&piped), summary(&d));
}
