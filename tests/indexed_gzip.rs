//! Indexed `.sql.gz` (src/indexed_gzip, `textrescue reindex`): real pg_dump
//! output rewritten and checked with the real gzip and psql; the index
//! found, trusted only when it agrees with the file, and the members a
//! reader chooses giving the same texts as the whole dump; damage reported.

use crate::common;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use common::{assert_failed, assert_ok, fixture, insert_text_sql, pg};
use flate2::read::MultiGzDecoder;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use textrescue::indexed_gzip::{
    FOOTER_LEN, IndexedGzWriter, Inflate, MAX_MEMBER_LEN, Member, ParallelInflate, Positions,
};

fn bin() -> Command {
    Command::cargo_bin("textrescue").unwrap()
}

/// The fixtures' nightly of 5 March reindexed into `dir` as `name`.
fn reindexed_night(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    assert_ok(&reindex(
        &fixture("nights/buggy_race_bk_20240305.sql.gz"),
        &path,
    ));
    path
}

/// The plain fixtures that `reindex` takes, compressed or not.
pub(crate) const PLAIN_FIXTURES: &[&str] = &[
    "nights/buggy_race_bk_20240304.sql.gz",
    "nights/buggy_race_bk_20240305.sql.gz",
    "nights/buggy_race_bk_20240306-021500.sql.gz",
    "formats/crlf.sql.gz",
    "formats/plain.sql",
    "formats/plain.sql.gz",
    "formats/multi-member.sql.gz",
    "formats/dumpall.sql",
    "formats/dumpall-two-texts.sql",
    "formats/inserts.sql",
    "formats/column-inserts.sql",
    "formats/rows-per-insert.sql",
    "formats/texts-only.sql",
    "formats/sql-ascii.sql",
    "formats/tz-offset.sql.gz",
    "formats/no-texts.sql.gz",
    "pg13/plain.sql.gz",
    "pg17/plain.sql",
];

fn reindex(input: &Path, output: &Path) -> Output {
    bin()
        .arg("reindex")
        .arg(input)
        .arg("-o")
        .arg(output)
        .output()
        .unwrap()
}

/// `gzip -t` and `gzip -dc` of the real gzip.
fn real_gunzip(path: &Path) -> Vec<u8> {
    let t = std::process::Command::new("gzip")
        .arg("-t")
        .arg(path)
        .output()
        .unwrap();
    assert!(t.status.success(), "gzip -t {}: {:?}", path.display(), t);
    let out = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "gzip -dc: {out:?}");
    out.stdout
}

fn read_members(path: &Path, members: Vec<Member>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    Inflate::new(File::open(path).unwrap(), members).read_to_end(&mut out)?;
    Ok(out)
}

fn read_parallel(path: &Path, members: Vec<Member>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    ParallelInflate::new(File::open(path).unwrap(), members, 3, 2)?.read_to_end(&mut out)?;
    Ok(out)
}

/// What `texts` wants: the texts table and the tables that name its rows.
fn texts_tables(table: &[u8]) -> bool {
    ["tasktexts", "task_texts", "users", "tasks"]
        .iter()
        .any(|t| common::table_is(table, t))
}

fn texts_json(dump: &Path) -> Output {
    bin()
        .args(["texts", "--format", "json"])
        .arg(dump)
        .output()
        .unwrap()
}

fn texts_json_stdin(bytes: &[u8]) -> Output {
    bin()
        .args(["texts", "--format", "json", "-"])
        .write_stdin(bytes.to_vec())
        .output()
        .unwrap()
}

/// Every plain fixture: reindexed, it is still a gzip file that the real
/// gzip tests and inflates to exactly the old bytes; its index agrees with
/// it; each table's rows are in members of their own, between its COPY
/// line and its `\.` line; the members in order, one by one or in parallel, are the
/// dump; the chosen members give `texts` the same output as the whole dump.
#[test]
fn every_plain_fixture_round_trips_with_an_index_that_agrees() {
    let dir = tempfile::tempdir().unwrap();
    for name in PLAIN_FIXTURES {
        let old = fixture(name);
        let new = dir
            .path()
            .join(format!("{}.sql.gz", name.replace('/', "_")));
        let out = reindex(&old, &new);
        assert_ok(&out);
        let dump = common::inflated(&old);
        assert!(real_gunzip(&new) == dump, "{name}: gzip -dc differs");

        let index = common::index_of(&new).unwrap_or_else(|| panic!("{name}: no index"));
        assert_eq!(index.dump_len, dump.len() as u64, "{name}");
        let lines: Vec<&[u8]> = dump.split(|&b| b == b'\n').collect();
        let copies = lines
            .windows(2)
            .filter(|w| w[0].starts_with(b"COPY ") && !w[1].starts_with(b"\\."))
            .count();
        let starts = index
            .members
            .iter()
            .enumerate()
            .filter(|(i, m)| {
                m.table.is_some() && (*i == 0 || index.members[i - 1].table != m.table)
            })
            .count();
        assert_eq!(
            starts, copies,
            "{name}: one run of members per COPY with rows"
        );
        for (i, m) in index.members.iter().enumerate() {
            let (start, end) = (
                m.uncompressed_offset as usize,
                (m.uncompressed_offset + m.uncompressed_len) as usize,
            );
            let Some(table) = &m.table else { continue };
            if i == 0 || index.members[i - 1].table.is_none() {
                let before = &dump[..start];
                let line = before[..before.len() - 1]
                    .rsplit(|&b| b == b'\n')
                    .next()
                    .unwrap();
                assert!(
                    line.starts_with(&[b"COPY ", &table[..], b" "].concat()),
                    "{name}"
                );
            }
            if m.data_end {
                let after = &dump[end..];
                assert!(
                    after.starts_with(b"\\.\n") || after.starts_with(b"\\.\r\n"),
                    "{name}: \\. follows the rows"
                );
            }
        }
        let all = index.members.clone();
        assert!(read_members(&new, all.clone()).unwrap() == dump, "{name}");
        assert!(read_parallel(&new, all).unwrap() == dump, "{name}");

        let whole = texts_json(&old);
        let chosen = read_members(&new, index.plan(texts_tables)).unwrap();
        assert!(chosen.len() <= dump.len());
        let from_chosen = texts_json_stdin(&chosen);
        assert_eq!(
            (whole.status.code(), common::text(&whole.stdout)),
            (from_chosen.status.code(), common::text(&from_chosen.stdout)),
            "{name}: texts from the chosen members"
        );
        assert_eq!(
            common::text(&whole.stderr).replace(&old.display().to_string(), "-"),
            common::text(&from_chosen.stderr),
            "{name}: the same warnings"
        );
    }
}

/// The members chosen for the texts are the dump with the other tables'
/// rows cut out: its head, schema, every COPY line and closing line are
/// there.
#[test]
fn a_plan_cuts_out_only_other_tables_data() {
    let dir = tempfile::tempdir().unwrap();
    let new = reindexed_night(dir.path(), "n.sql.gz");
    let index = common::index_of(&new).unwrap();
    let tables: Vec<String> = index.tables().iter().map(|t| common::text(t)).collect();
    for t in [
        "public.tasktexts",
        "public.tasks",
        "public.users",
        "public.buggies",
    ] {
        assert!(tables.contains(&t.to_string()), "{t} in {tables:?}");
    }
    let chosen = String::from_utf8(read_members(&new, index.plan(texts_tables)).unwrap()).unwrap();
    assert!(chosen.starts_with("--\n-- PostgreSQL database dump\n"));
    assert!(chosen.contains("CREATE TABLE public.buggies"));
    assert!(chosen.contains("\nCOPY public.tasktexts "));
    assert!(chosen.contains("\nCOPY public.users "));
    let buggies = chosen.find("\nCOPY public.buggies ").unwrap();
    assert!(chosen[buggies..].split('\n').nth(2) == Some("\\."));
    assert!(chosen.contains("-- Data for Name: buggies; Type: TABLE DATA"));
    assert!(chosen.contains("\n-- PostgreSQL database dump complete\n"));
    let dump = common::text(&common::inflated(&fixture(
        "nights/buggy_race_bk_20240305.sql.gz",
    )));
    let after_the_last_rows = dump.rsplit("\n\\.\n").next().unwrap();
    assert!(chosen.ends_with(after_the_last_rows));
    let none = read_members(&new, index.plan(|_| false)).unwrap();
    let none = String::from_utf8(none).unwrap();
    assert!(
        none.lines()
            .zip(none.lines().skip(1))
            .all(|(a, b)| !a.starts_with("COPY ") || b == "\\.")
    );
}

/// Every line and byte of the chosen members is found where [`Positions`]
/// says in the whole dump, so a reader can say where things are as if it
/// had read it all.
#[test]
fn positions_in_the_chosen_members_are_positions_in_the_dump() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "nights/buggy_race_bk_20240305.sql.gz",
        "formats/crlf.sql.gz",
        "formats/dumpall.sql",
    ] {
        let new = dir.path().join("p.sql.gz");
        let _ = std::fs::remove_file(&new);
        assert_ok(&reindex(&fixture(name), &new));
        let dump = common::inflated(&fixture(name));
        let dump_lines: Vec<&[u8]> = dump.split(|&b| b == b'\n').collect();
        let index = common::index_of(&new).unwrap();
        assert_eq!(
            index.members.iter().map(|m| m.newlines).sum::<u64>(),
            dump.iter().filter(|&&b| b == b'\n').count() as u64
        );
        for chosen in [
            index.plan(texts_tables),
            index.plan(|_| false),
            index.members.clone(),
        ] {
            let bytes = read_members(&new, chosen.clone()).unwrap();
            let at = Positions::new(&index, &chosen);
            for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
                let n = at.dump_line(i as u64 + 1) as usize;
                assert_eq!(dump_lines[n - 1], line, "{name}: line {}", i + 1);
            }
            for o in (0..bytes.len()).step_by(97) {
                assert_eq!(
                    dump[at.dump_offset(o as u64) as usize],
                    bytes[o],
                    "{name}: byte {o}"
                );
            }
        }
    }
}

/// A dump cut inside a table's rows: the cut rows are chosen whatever the
/// table, so a reader of the chosen members sees the cut, at the same line
/// of the dump.
#[test]
fn rows_cut_short_are_always_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let old = fixture("damaged/cut-in-copy.sql");
    let new = dir.path().join("cut.sql.gz");
    assert_ok(&reindex(&old, &new));
    let index = common::index_of(&new).unwrap();
    let last = index.members.last().unwrap();
    assert!(last.table.is_some() && !last.data_end);
    let chosen = index.plan(|_| false);
    assert_eq!(chosen.last(), Some(last));
    let whole = common::text(&texts_json(&old).stderr);
    let bytes = read_members(&new, chosen.clone()).unwrap();
    let cut = common::text(&texts_json_stdin(&bytes).stderr);
    let lines = |m: &str| -> Vec<u64> {
        m.split("line ")
            .skip(1)
            .map(|s| {
                s.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    let at = Positions::new(&index, &chosen);
    assert!(
        cut.contains("ends inside the data of public.tasktexts"),
        "{cut}"
    );
    assert_eq!(
        lines(&cut)
            .into_iter()
            .map(|l| at.dump_line(l))
            .collect::<Vec<_>>(),
        lines(&whole),
        "{whole}\n{cut}"
    );
}

/// A table larger than a member is split into members of at most 16 MiB,
/// all of it labelled, and only the last holds its end; a plan without it
/// skips them all.
#[test]
fn a_table_over_16_mib_is_split_into_members() {
    let mut dump = Vec::new();
    dump.extend_from_slice(b"--\n-- PostgreSQL database dump\n--\n\n");
    dump.extend_from_slice(
        b"--\n-- Data for Name: db_files; Type: TABLE DATA; Schema: public; Owner: buggy\n--\n\n",
    );
    dump.extend_from_slice(b"COPY public.db_files (id, data) FROM stdin;\n");
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut id = 0;
    while dump.len() < 40 << 20 {
        id += 1;
        dump.extend_from_slice(format!("{id}\t").as_bytes());
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            dump.push(b"abcdefghijklmnopqrstuvwxyz{}\":,0123456789"[(x % 41) as usize]);
        }
        dump.push(b'\n');
    }
    dump.extend_from_slice(b"\\.\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.sql.gz");
    write_indexed(&path, &dump, 1 << 20);
    assert!(real_gunzip(&path) == dump);
    let index = common::index_of(&path).unwrap();
    let data: Vec<&Member> = index.members.iter().filter(|m| m.table.is_some()).collect();
    assert_eq!(data.len(), 3, "{:?}", index.members);
    assert!(
        index
            .members
            .iter()
            .all(|m| m.uncompressed_len <= MAX_MEMBER_LEN)
    );
    // Rows end their member at the last line end before 16 MiB, so that a
    // reader can take them as a count.
    assert!(data[0].uncompressed_len > MAX_MEMBER_LEN - 300);
    for m in &data {
        let end = (m.uncompressed_offset + m.uncompressed_len) as usize;
        assert_eq!(dump[end - 1], b'\n');
    }
    assert_eq!(
        data.iter().map(|m| m.data_end).collect::<Vec<_>>(),
        [false, false, true]
    );
    let without = read_members(&path, index.plan(|_| false)).unwrap();
    assert_eq!(
        String::from_utf8(without).unwrap(),
        "--\n-- PostgreSQL database dump\n--\n\n--\n-- Data for Name: db_files; Type: TABLE DATA; \
         Schema: public; Owner: buggy\n--\n\nCOPY public.db_files (id, data) FROM stdin;\n\\.\n\n\n--\n\
         -- PostgreSQL database dump complete\n--\n\n"
    );
    assert!(read_parallel(&path, index.members.clone()).unwrap() == dump);
}

/// `bytes` through the writer in chunks of `chunk` bytes.
fn write_indexed(path: &Path, bytes: &[u8], chunk: usize) {
    let file = std::io::BufWriter::new(File::create(path).unwrap());
    let mut gz = IndexedGzWriter::new(file, flate2::Compression::default());
    for c in bytes.chunks(chunk.max(1)) {
        gz.write_all(c).unwrap();
    }
    gz.finish().unwrap();
}

/// A CRLF dump (the seed's `docker exec -t` kind): tables are found and
/// their rows end before `\.` CRLF.
#[test]
fn crlf_dumps_are_indexed_like_lf_ones() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("crlf.sql.gz");
    assert_ok(&reindex(&fixture("formats/crlf.sql.gz"), &new));
    let index = common::index_of(&new).unwrap();
    let dump = common::inflated(&fixture("formats/crlf.sql.gz"));
    assert!(dump.ends_with(b"\r\n"));
    let ends: Vec<&Member> = index.members.iter().filter(|m| m.data_end).collect();
    assert!(ends.len() >= 3);
    for m in ends {
        let end = (m.uncompressed_offset + m.uncompressed_len) as usize;
        assert_eq!(&dump[end - 2..end + 4], b"\r\n\\.\r\n");
    }
    assert!(index.tables().contains(&&b"public.tasktexts"[..]));
}

/// A CRLF `--` line cut anywhere between two writes still keeps the
/// announcement before it (a cut after its CR lost it).
#[test]
fn a_crlf_comment_line_cut_between_writes_keeps_the_announcement() {
    let bytes = b"-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: o\r\n--\r\n\
                  COPY public.t (a, b) FROM stdin;\r\n1\tx\r\n\\.\r\n";
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.sql.gz");
    write_indexed(&whole, bytes, usize::MAX);
    let expected = common::index_of(&whole).unwrap().members;
    assert!(expected.iter().any(|m| m.table.is_some()), "{expected:?}");
    for chunk in 1..8 {
        let cut = dir.path().join("cut.sql.gz");
        write_indexed(&cut, bytes, chunk);
        assert_eq!(
            common::index_of(&cut).unwrap().members,
            expected,
            "writes of {chunk}"
        );
    }
}

/// Quoted names are kept byte for byte as the COPY line has them, and a
/// COPY line that pg_dump did not announce (in a function body, say) starts
/// nothing.
#[test]
fn table_names_are_kept_as_written_and_only_announced_copies_count() {
    let dump = b"--\n-- PostgreSQL database dump\n--\n\n\
        CREATE FUNCTION public.f() RETURNS void AS $$\n\
        COPY public.users (id) FROM stdin;\n\
        $$ LANGUAGE sql;\n\n\
        --\n-- Data for Name: Task Texts; Type: TABLE DATA; Schema: My \"Schema\"; Owner: o\n--\n\n\
        COPY \"My \"\"Schema\"\"\".\"Task Texts\" (id, \"text (x)\") FROM stdin;\n\
        1\tCOPY a.b (c) FROM stdin;\n\
        \\.\n\n\
        -- PostgreSQL database dump complete\n\n";
    let dir = tempfile::tempdir().unwrap();
    for chunk in [1, 3, 7, 1000] {
        let path = dir.path().join(format!("q{chunk}.sql.gz"));
        write_indexed(&path, dump, chunk);
        let index = common::index_of(&path).unwrap();
        assert_eq!(
            index.tables(),
            vec![&b"\"My \"\"Schema\"\"\".\"Task Texts\""[..]],
            "chunks of {chunk}"
        );
        assert!(common::table_is(
            index.tables()[0],
            "My \"Schema\".Task Texts"
        ));
        assert!(real_gunzip(&path) == dump);
        let kept = read_members(&path, index.plan(|_| false)).unwrap();
        assert!(common::text(&kept).contains("(id, \"text (x)\") FROM stdin;\n\\.\n"));
        assert!(common::text(&kept).contains("COPY public.users (id) FROM stdin;\n$$"));
    }
}

/// Corrupt or cut indexes, or an index that points at the wrong bytes,
/// are no index (the caller streams the file); the gzip stream itself is
/// still read by gzip where only the index was touched.
#[test]
fn an_index_that_does_not_agree_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.sql.gz");
    assert_ok(&reindex(
        &fixture("nights/buggy_race_bk_20240304.sql.gz"),
        &good,
    ));
    let bytes = std::fs::read(&good).unwrap();
    let index = common::index_of(&good).unwrap();
    let index_offset = {
        let last = index.members.last().unwrap();
        (last.compressed_offset + last.compressed_len) as usize
    };
    let write = |name: &str, b: &[u8]| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    let flipped = |at: usize| {
        let mut b = bytes.clone();
        b[at] ^= 0x10;
        b
    };
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("index entry".into(), flipped(index_offset + 30)),
        ("footer".into(), flipped(bytes.len() - 20)),
        ("footer magic".into(), flipped(bytes.len() - FOOTER_LEN)),
        ("cut by 1".into(), bytes[..bytes.len() - 1].to_vec()),
        ("cut by 100".into(), bytes[..bytes.len() - 100].to_vec()),
        ("cut to the data".into(), bytes[..index_offset].to_vec()),
        ("a byte appended".into(), [&bytes[..], b"\n"].concat()),
        ("a member appended".into(), {
            let mut b = bytes.clone();
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(b"-- more\n").unwrap();
            b.extend(gz.finish().unwrap());
            b
        }),
        ("empty".into(), Vec::new()),
    ];
    // A well-formed index with a true checksum, whose boundary between
    // the first two members is 5 bytes off.
    let mut shifted = bytes.clone();
    let entry = |i: usize| index_offset + 18 + i * 43 + name_lens(&index.members[..i]);
    let add = |b: &mut Vec<u8>, at: usize, d: i64| {
        let v = u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as i64 + d;
        b[at..at + 8].copy_from_slice(&(v as u64).to_le_bytes());
    };
    add(&mut shifted, entry(0) + 24, 5);
    add(&mut shifted, entry(1) + 16, 5);
    add(&mut shifted, entry(1) + 24, -5);
    let payload_len = entry(index.members.len()) - (index_offset + 18);
    let mut crc = flate2::Crc::new();
    crc.update(&shifted[index_offset + 18..][..payload_len]);
    let crc_at = shifted.len() - 10 - 4;
    shifted[crc_at..crc_at + 4].copy_from_slice(&crc.sum().to_le_bytes());
    cases.push(("pointing wrong".into(), shifted));
    for (what, b) in cases {
        let p = write(&format!("{}.sql.gz", what.replace(' ', "-")), &b);
        assert_eq!(common::index_of(&p), None, "{what}");
    }
    // Only the index was flipped: the dump is whole for gzip.
    let p = write("flipped-index.sql.gz", &flipped(index_offset + 30));
    assert!(real_gunzip(&p) == common::inflated(&good));
}

/// Bytes of the table names of `members` in the index.
fn name_lens(members: &[Member]) -> usize {
    members
        .iter()
        .map(|m| m.table.as_ref().map_or(0, Vec::len))
        .sum()
}

/// A member damaged inside its deflate data (header and length intact, so
/// the index agrees) is damage: both readers fail and say where.
#[test]
fn a_damaged_member_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = reindexed_night(dir.path(), "good.sql.gz");
    let index = common::index_of(&good).unwrap();
    let biggest = index
        .members
        .iter()
        .max_by_key(|m| m.compressed_len)
        .unwrap()
        .clone();
    let mut bytes = std::fs::read(&good).unwrap();
    bytes[(biggest.compressed_offset + biggest.compressed_len / 2) as usize] ^= 0x55;
    let bad = dir.path().join("bad.sql.gz");
    std::fs::write(&bad, &bytes).unwrap();
    let index = common::index_of(&bad).expect("the index still agrees");
    for (how, result) in [
        ("in order", read_members(&bad, index.members.clone())),
        ("in parallel", read_parallel(&bad, index.members.clone())),
    ] {
        let e = result.expect_err(how).to_string();
        assert!(
            e.contains("damaged") && e.contains(&format!("at byte {}", biggest.compressed_offset)),
            "{how}: {e}"
        );
    }
}

/// An index whose line count for a member of table rows is wrong (its
/// checksum made true, so that the index agrees with the file) is not
/// believed: the rows are counted from the member's bytes, and `inspect`
/// says what it says of the same dump streamed.
#[test]
fn a_line_count_in_the_index_is_not_believed() {
    let dir = tempfile::tempdir().unwrap();
    let good = reindexed_night(dir.path(), "good.sql.gz");
    let index = common::index_of(&good).unwrap();
    let i = index
        .members
        .iter()
        .position(|m| m.data_end && m.newlines > 0)
        .expect("a member that ends a table's rows");
    let miscounted = index.members[i].clone();
    let mut bytes = std::fs::read(&good).unwrap();
    let index_offset = {
        let last = index.members.last().unwrap();
        (last.compressed_offset + last.compressed_len) as usize
    };
    let entry = |i: usize| index_offset + 18 + i * 43 + name_lens(&index.members[..i]);
    let at = entry(i) + 32;
    let newlines = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    assert_eq!(newlines, miscounted.newlines);
    bytes[at..at + 8].copy_from_slice(&(newlines + 1).to_le_bytes());
    let payload_len = entry(index.members.len()) - (index_offset + 18);
    let mut crc = flate2::Crc::new();
    crc.update(&bytes[index_offset + 18..][..payload_len]);
    let crc_at = bytes.len() - 10 - 4;
    bytes[crc_at..crc_at + 4].copy_from_slice(&crc.sum().to_le_bytes());
    let bad = dir.path().join("bad.sql.gz");
    std::fs::write(&bad, &bytes).unwrap();
    let index = common::index_of(&bad).expect("the index agrees");
    assert_eq!(index.members[i].newlines, newlines + 1);

    let inspect = |file: &std::path::Path| {
        let out = bin()
            .args(["inspect", "--format", "json"])
            .arg(file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
        common::text(&out.stdout).replace(&file.display().to_string(), "FILE")
    };
    assert_eq!(inspect(&bad), inspect(&good));
}

/// `reindex` refuses what it cannot or must not do, with one line and
/// exit 1 (2 for an output that is the input), and leaves no file.
#[test]
fn reindex_refuses_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.sql.gz");
    for (input, why) in [
        ("formats/custom.dump", "custom dump (pg_dump -Fc)"),
        ("formats/tar.tar", "tar dump (pg_dump -Ft)"),
        ("formats/dir", "directory dump (pg_dump -Fd)"),
        ("damaged/truncated.sql.gz", "truncated"),
        ("damaged/not-a-dump.txt.gz", "not a pg_dump output"),
    ] {
        let err = assert_failed(&reindex(&fixture(input), &new));
        assert!(err.contains(why), "{input}: {err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{input}");
    }
    std::fs::write(&new, b"keep me").unwrap();
    let err = assert_failed(&reindex(&fixture("formats/plain.sql"), &new));
    assert!(err.contains("exists"), "{err}");
    assert_eq!(std::fs::read(&new).unwrap(), b"keep me");
    let out = bin()
        .args(["reindex", "--force"])
        .arg(fixture("formats/plain.sql"))
        .arg("-o")
        .arg(&new)
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(real_gunzip(&new) == common::inflated(&fixture("formats/plain.sql")));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&new).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let same = bin()
        .arg("reindex")
        .arg(&new)
        .arg("-o")
        .arg(&new)
        .arg("--force")
        .output()
        .unwrap();
    assert_eq!(same.status.code(), Some(2), "{same:?}");
}

/// Any bytes, written in any chunks, come back exactly; the members are
/// the same whatever the chunks; the index agrees with the file.
#[test]
fn any_bytes_round_trip_whatever_the_chunks() {
    const PIECES: &[&[u8]] = &[
        b"COPY public.t (a, b) FROM stdin;\n",
        b"COPY \"s\".\"t x\" (a) FROM stdin;\r\n",
        b"-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: o\n",
        b"--\n",
        b"--\r\n",
        b"\n",
        b"\r\n",
        b"\\.\n",
        b"\\.\r\n",
        b"\\.",
        b"COPY ",
        b"1\tx\n",
        b"\r",
        b"\\",
    ];
    let dir = tempfile::tempdir().unwrap();
    let piece = prop_oneof![
        proptest::sample::select(PIECES).prop_map(<[u8]>::to_vec),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    runner
        .run(
            &(proptest::collection::vec(piece, 0..60), 1usize..50),
            |(pieces, chunk)| {
                let bytes = pieces.concat();
                let a = dir.path().join("a.sql.gz");
                let b = dir.path().join("b.sql.gz");
                write_indexed(&a, &bytes, chunk);
                write_indexed(&b, &bytes, usize::MAX);
                let file = std::fs::read(&a).unwrap();
                let bounds = |p: &Path| -> Vec<(u64, u64, Option<Vec<u8>>, bool)> {
                    common::index_of(p)
                        .expect("an index")
                        .members
                        .into_iter()
                        .map(|m| {
                            (
                                m.uncompressed_offset,
                                m.uncompressed_len,
                                m.table,
                                m.data_end,
                            )
                        })
                        .collect()
                };
                prop_assert_eq!(bounds(&a), bounds(&b));
                let mut back = Vec::new();
                MultiGzDecoder::new(&file[..])
                    .read_to_end(&mut back)
                    .unwrap();
                prop_assert!(back == bytes);
                let index = common::index_of(&a).expect("an index");
                prop_assert_eq!(index.dump_len, bytes.len() as u64);
                prop_assert!(read_members(&a, index.members.clone()).unwrap() == bytes);
                let kept = read_members(&a, index.plan(|_| false)).unwrap();
                prop_assert!(kept.len() <= bytes.len());
                Ok(())
            },
        )
        .unwrap();
}

/// A reindexed dump restores with `gunzip -c | psql` into a new database
/// that pg_dump then dumps exactly as the original, quoted names, nasty
/// texts and all.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_reindexed_dump_restores_with_psql() {
    let pg = pg();
    let db = pg.create_db("tr_reindex_src");
    db.load_schema_with_people();
    let mut sql = String::new();
    for (i, t) in common::NASTY.iter().enumerate() {
        sql.push_str(&insert_text_sql(
            None,
            2 + (i as i64 % 2),
            1 + (i as i64 % 4),
            "2024-03-05 10:00:00+00",
            None,
            t,
        ));
    }
    sql.push_str(
        "CREATE SCHEMA \"My \"\"Schema\"\"\";
         CREATE TABLE \"My \"\"Schema\"\"\".\"Task Texts\" (id int, \"text (x)\" text);
         INSERT INTO \"My \"\"Schema\"\"\".\"Task Texts\" VALUES (1, E'a\\tb\\n\\\\.');",
    );
    db.psql(&sql);
    let dump = db.pg_dump(&[]);
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.sql");
    std::fs::write(&old, &dump).unwrap();
    let new = dir.path().join("new.sql.gz");
    assert_ok(&reindex(&old, &new));
    let index = common::index_of(&new).unwrap();
    assert!(
        index
            .tables()
            .contains(&&b"\"My \"\"Schema\"\"\".\"Task Texts\""[..]),
        "{:?}",
        index.tables()
    );
    let restored = pg.create_db("tr_reindex_dst");
    let out = restored.psql_input(&real_gunzip(&new));
    assert!(out.status.success(), "psql: {}", common::text(&out.stderr));
    let unkeyed = |d: Vec<u8>| -> String {
        common::text(&d)
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(unkeyed(restored.pg_dump(&[])), unkeyed(dump));
    assert_eq!(
        restored.texts_json_string("public.tasktexts"),
        db.texts_json_string("public.tasktexts")
    );
}
