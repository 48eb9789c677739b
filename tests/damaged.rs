//! Damaged backups built from real fixtures: truncated at many offsets,
//! bytes flipped, lines dropped and repeated, garbage inserted; in plain,
//! gzip and custom-archive form. Whatever the damage: no panic, no hang, and
//! never a success that returns texts other than the intact dump's. With
//! --salvage, every row returned is one of the intact dump's, unchanged.

use crate::common;

use std::io::{Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use common::fixture;
use textrescue::dump::{self, ReadOptions};
use textrescue::input::Source;
use textrescue::texts::TaskText;

fn read(path: &Path, salvage: bool) -> Result<Vec<TaskText>, String> {
    read_with(path, salvage, false)
}

/// `count_rows` makes a custom archive be read block by block in file order
/// (as `inspect` does); without it, the reader seeks by the TOC's offsets.
fn read_with(path: &Path, salvage: bool, count_rows: bool) -> Result<Vec<TaskText>, String> {
    let options = ReadOptions {
        salvage,
        count_rows,
        ..ReadOptions::default()
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        dump::read(&Source::Path(path.to_path_buf()), &options)
            .and_then(|d| d.texts().map(|(t, _)| t.rows.clone()))
    }));
    match outcome {
        Ok(Ok(rows)) => Ok(rows),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => panic!("textrescue panicked on {}", path.display()),
    }
}

fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

/// Offsets spread over the file, denser over its last part and around `hot`.
fn offsets(len: usize, hot: Option<usize>) -> Vec<usize> {
    let mut v: Vec<usize> = (0..120).map(|i| i * len / 120).collect();
    if let Some(h) = hot {
        v.extend((0..120).map(|i| (h + i * 97).min(len)));
    }
    v.extend((1..40).map(|i| len.saturating_sub(i * 7)));
    v.sort_unstable();
    v.dedup();
    v
}

/// What a message about a cut dump must say: what is wrong, and where
/// (a line, a byte offset, or how far the decompressed data got).
fn assert_names_problem_and_position(file: &str, cut: usize, message: &str) {
    let problem = [
        "truncated",
        "incomplete",
        "empty",
        "not a pg_dump",
        "cut short",
    ]
    .iter()
    .any(|w| message.contains(w));
    let position = ["line ", "byte ", "decompressed bytes", "empty"]
        .iter()
        .any(|w| message.contains(w));
    assert!(
        problem && position,
        "{file} cut at {cut}: the message does not say what and where: {message}"
    );
}

/// How many rows of the texts table a plain dump's first `len` bytes hold
/// whole: the rows `--salvage` must give back when it is cut there.
fn whole_text_rows_before(plain: &[u8], len: usize) -> usize {
    let header = memchr::memmem::find(plain, b"\nCOPY public.tasktexts ").unwrap() + 1;
    let first_row = header + memchr::memchr(b'\n', &plain[header..]).unwrap() + 1;
    let end = first_row + memchr::memmem::find(&plain[first_row..], b"\n\\.\n").unwrap() + 1;
    let seen = &plain[first_row.min(len)..end.min(len)];
    memchr::memchr_iter(b'\n', seen).count()
}

/// Cuts `file` at many offsets. A cut dump is never a success with other
/// texts, and its error names the problem and position. With `--salvage`
/// the rows returned are the intact dump's first rows, unchanged; when
/// `plain` (the dump's decompressed bytes) is given, exactly those whole
/// before the cut.
fn check_truncations(file: &str, hot: Option<usize>, plain: Option<&[u8]>) {
    let original = std::fs::read(fixture(file)).unwrap();
    let intact = read(&fixture(file), false).expect("the intact fixture reads");
    let dir = tempfile::tempdir().unwrap();
    let mut failures = 0;
    for cut in offsets(original.len(), hot) {
        let p = write_temp(dir.path(), "cut", &original[..cut]);
        match read(&p, false) {
            Ok(rows) => assert_eq!(
                rows, intact,
                "{file} cut at {cut} read as a success with other texts"
            ),
            Err(message) => {
                failures += 1;
                assert_names_problem_and_position(file, cut, &message);
            }
        }
        let salvaged = read(&p, true).unwrap_or_default();
        assert!(
            salvaged.len() <= intact.len() && salvaged[..] == intact[..salvaged.len()],
            "{file} cut at {cut}: salvage returned rows that are not the dump's first rows, unchanged"
        );
        if let Some(plain) = plain {
            let readable = decompressed_len(&original[..cut], plain.len());
            assert_eq!(
                salvaged.len(),
                whole_text_rows_before(plain, readable),
                "{file} cut at {cut} ({readable} bytes readable): salvage lost rows"
            );
        }
    }
    assert!(
        failures > 100,
        "{file}: only {failures} truncations were errors"
    );
}

/// How many bytes of the dump a cut file still yields: all of it for a
/// plain file, what inflates before the cut for gzip.
fn decompressed_len(cut: &[u8], plain_len: usize) -> usize {
    if !cut.starts_with(&[0x1f, 0x8b]) {
        return cut.len().min(plain_len);
    }
    let mut decoder = flate2::read::MultiGzDecoder::new(cut);
    let mut out = [0u8; 4096];
    let mut total = 0;
    while let Ok(n) = decoder.read(&mut out) {
        if n == 0 {
            break;
        }
        total += n;
    }
    total
}

#[test]
fn truncated_plain_dumps_never_pass_for_whole() {
    let plain = std::fs::read(fixture("formats/plain.sql")).unwrap();
    let hot = memchr::memmem::find(&plain, b"COPY public.tasktexts");
    check_truncations("formats/plain.sql", hot, Some(&plain));
}

#[test]
fn truncated_gzip_dumps_never_pass_for_whole() {
    let plain = std::fs::read(fixture("formats/plain.sql")).unwrap();
    check_truncations("formats/plain.sql.gz", None, Some(&plain));
    let mut multi = Vec::new();
    flate2::read::MultiGzDecoder::new(
        std::fs::read(fixture("formats/multi-member.sql.gz"))
            .unwrap()
            .as_slice(),
    )
    .read_to_end(&mut multi)
    .unwrap();
    check_truncations("formats/multi-member.sql.gz", None, Some(&multi));
}

#[test]
fn truncated_custom_archives_never_pass_for_whole() {
    check_truncations("formats/custom.dump", None, None);
    check_truncations("formats/custom-z0.dump", None, None);
    check_truncations("formats/custom-pipe.dump", None, None);
}

/// A tiny deterministic generator, so failures can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutations(original: &[u8], rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for _ in 0..60 {
        let mut m = original.to_vec();
        let at = rng.below(m.len());
        m[at] ^= 1 << rng.below(8);
        out.push((format!("flip at {at}"), m));
    }
    let lines: Vec<&[u8]> = original.split_inclusive(|&b| b == b'\n').collect();
    for _ in 0..40 {
        let at = rng.below(lines.len());
        let dropped: Vec<u8> = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != at)
            .flat_map(|(_, l)| l.to_vec())
            .collect();
        out.push((format!("line {} dropped", at + 1), dropped));
        let mut doubled = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            doubled.extend_from_slice(l);
            if i == at {
                doubled.extend_from_slice(l);
            }
        }
        out.push((format!("line {} repeated", at + 1), doubled));
    }
    for _ in 0..40 {
        let at = rng.below(original.len());
        let garbage: Vec<u8> = (0..1 + rng.below(300)).map(|_| rng.next() as u8).collect();
        let mut m = original[..at].to_vec();
        m.extend_from_slice(&garbage);
        m.extend_from_slice(&original[at..]);
        out.push((format!("{} bytes of garbage at {at}", garbage.len()), m));
    }
    out
}

#[test]
fn mutated_dumps_give_an_answer_or_an_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(20240305);
    // Where the data carries checksums (gzip's CRC-32, zlib's Adler-32 in a
    // custom archive's blocks), a damaged text cannot pass unnoticed: a
    // success must give exactly the intact dump's texts. Plain SQL and -Z0
    // archives have no checksum, so there only "no panic" can be asked.
    for (file, checksummed) in [
        ("formats/plain.sql", false),
        ("formats/plain.sql.gz", true),
        ("formats/custom.dump", true),
        ("formats/custom-z0.dump", false),
    ] {
        let original = std::fs::read(fixture(file)).unwrap();
        let intact = read(&fixture(file), false).unwrap();
        for (what, bytes) in mutations(&original, &mut rng) {
            let p = write_temp(dir.path(), "mutated", &bytes);
            // A panic fails the test inside `read`.
            let outcome = read(&p, false);
            if let (true, Ok(rows)) = (checksummed, &outcome) {
                assert!(
                    *rows == intact,
                    "{file}, {what}: read as a success with other texts"
                );
            }
            if let Err(message) = &outcome {
                assert!(
                    !message.trim().is_empty(),
                    "{file}, {what}: an empty message"
                );
            }
            let _ = read(&p, true);
        }
    }
}

#[test]
fn a_gzip_bomb_is_streamed_not_held() {
    // 256 MiB of zeros after a dump header compress to a few hundred KiB; reading
    // it must fail as "not a dump"/"incomplete" without holding it in memory.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bomb.sql.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&p).unwrap(),
        flate2::Compression::best(),
    );
    enc.write_all(b"--\n-- PostgreSQL database dump\n--\n\nCOPY public.db_files (id, contents) FROM stdin;\n1\t").unwrap();
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..256 {
        enc.write_all(&zeros).unwrap();
    }
    enc.finish().unwrap();
    let err = read(&p, false).unwrap_err();
    assert!(err.contains("db_files"), "{err}");

    // The same through the binary, whose peak memory is measured: a 256 MiB
    // row held whole would show as 256 MiB or more.
    let out = common::output_with_peak_rss(
        std::process::Command::new(env!("CARGO_BIN_EXE_textrescue"))
            .arg("inspect")
            .arg(&p),
    );
    let message = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.code, Some(1), "inspect of the bomb: {message}");
    assert!(message.contains("db_files"), "{message}");
    assert!(
        out.peak_rss_kib < 64 * 1024,
        "inspect of a 256 MiB bomb peaked at {} KiB",
        out.peak_rss_kib
    );
}

fn textrescue() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("textrescue").unwrap();
    c.env("TZ", "UTC");
    c
}

fn ids_of(stdout: &[u8]) -> Vec<(i64, i64)> {
    let rows: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r["user_id"].as_i64().unwrap()))
        .collect()
}

/// A dump cut inside the texts table never reaches the users table, which
/// pg_dump writes after it: `--salvage --user NAME` says so (rather than a
/// bare "no texts match"), and `--user-id N` picks a student's texts by the
/// id the salvaged rows do carry.
#[test]
fn salvage_says_the_users_table_is_past_the_cut_and_user_id_filters() {
    let cut = fixture("damaged/cut-in-copy.sql");
    let out = textrescue()
        .args(["texts", cut.to_str().unwrap(), "--salvage", "-u", "alice"])
        .args(["-f", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("damaged before its users table") && stderr.contains("--user-id"),
        "{stderr}"
    );
    assert_eq!(ids_of(&out.stdout), []);

    let out = textrescue()
        .args([
            "texts",
            cut.to_str().unwrap(),
            "--salvage",
            "--user-id",
            "2",
        ])
        .args(["-f", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(ids_of(&out.stdout), [(101, 2), (103, 2), (105, 2)]);
    let out = textrescue()
        .args(["texts", cut.to_str().unwrap(), "--salvage"])
        .args(["--user-id", "3", "--user-id", "2", "-f", "json"])
        .output()
        .unwrap();
    assert_eq!(
        ids_of(&out.stdout),
        [(101, 2), (103, 2), (105, 2), (106, 3), (108, 3)]
    );

    // On a whole dump --user-id N is --user NAME, and combines with it (AND).
    let night = fixture("nights/buggy_race_bk_20240305.sql.gz");
    let by_name = textrescue()
        .args([
            "texts",
            night.to_str().unwrap(),
            "-u",
            "alice",
            "-f",
            "json",
        ])
        .output()
        .unwrap();
    let by_id = textrescue()
        .args([
            "texts",
            night.to_str().unwrap(),
            "--user-id",
            "2",
            "-f",
            "json",
        ])
        .output()
        .unwrap();
    assert!(!ids_of(&by_id.stdout).is_empty());
    assert_eq!(ids_of(&by_id.stdout), ids_of(&by_name.stdout));
    let neither = textrescue()
        .args([
            "texts",
            night.to_str().unwrap(),
            "-u",
            "bob",
            "--user-id",
            "2",
        ])
        .args(["-f", "json"])
        .output()
        .unwrap();
    assert_eq!(ids_of(&neither.stdout), []);
}
