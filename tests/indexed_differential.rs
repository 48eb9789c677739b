//! An indexed `.sql.gz` reads as the same bytes streamed, whatever its
//! index says: `texts`, `inspect` and `history` give the same stdout,
//! stderr and exit status on the indexed file as on one gzip stream of the
//! same dump, for dumps whose strings, comments and dollar-quoted bodies
//! imitate pg_dump's `-- Data for Name:` comments and `COPY` lines (as the
//! writer cuts them and as anyone may cut and label them), and a backup of
//! a real database with such a function reads as `gunzip -c | textrescue
//! texts -` reads it.

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{assert_ok, pg, text};
use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use textrescue::indexed_gzip::IndexedGzWriter;
use textrescue::indexed_gzip::write::write_as_told;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_textrescue"))
}

const TEXTS_COPY: &str =
    "COPY public.tasktexts (id, created_at, modified_at, user_id, task_id, text) FROM stdin;\n";
const ANNOUNCE_TEXTS: &str =
    "-- Data for Name: tasktexts; Type: TABLE DATA; Schema: public; Owner: x\n";

/// A dump whose function body holds what pg_dump writes before a table's
/// rows (its comment and `COPY` line), and a decoy row and `\.` after them.
fn dump_with_decoy_function() -> String {
    let mut d = String::from(
        "--\n-- PostgreSQL database dump\n--\n\nSET standard_conforming_strings = on;\n\n",
    );
    d += "CREATE FUNCTION public.f() RETURNS text\n    LANGUAGE sql\n    AS $$\n--\n";
    d += ANNOUNCE_TEXTS;
    d += "--\n\n";
    d += TEXTS_COPY;
    d += "9\t2024-03-01 10:00:00+00\t\\N\t2\t1\tATTACKER'S TEXT\n\\.\nSELECT 'x'\n$$;\n\n";
    d += "\n--\n";
    d += ANNOUNCE_TEXTS;
    d += "--\n\n";
    d += TEXTS_COPY;
    d += "1\t2024-03-01 10:00:00+00\t\\N\t2\t1\talice's real text\n\\.\n\n";
    d += "--\n-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: x\n--\n\n";
    d += "COPY public.users (id, username) FROM stdin;\n2\talice\n\\.\n\n";
    d += "--\n-- PostgreSQL database dump complete\n--\n\n";
    d
}

fn single_member(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn indexed(bytes: &[u8], chunk: usize) -> Vec<u8> {
    let mut gz = IndexedGzWriter::new(Vec::new(), Compression::fast());
    for piece in bytes.chunks(chunk.max(1)) {
        gz.write_all(piece).unwrap();
    }
    gz.finish().unwrap()
}

/// `file` as `dump.sql.gz` in a folder of its own.
fn in_folder(file: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dump.sql.gz"), file).unwrap();
    dir
}

/// `args` run in `dir`, so that the dump's name is the same in every
/// folder: exit status, stdout, stderr.
fn run_in(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin().current_dir(dir).args(args).output().unwrap();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

const READS: &[&[&str]] = &[
    &["texts", "--format", "json", "dump.sql.gz"],
    &["texts", "--user", "alice", "dump.sql.gz"],
    &["inspect", "--format", "json", "dump.sql.gz"],
    &["history", "--user", "alice", "dump.sql.gz"],
];

/// Each read of `file` (with an index) against the same of `streamed`.
fn assert_reads_as_streamed(file: &[u8], streamed: &Path, what: &str) -> Result<(), String> {
    let dir = in_folder(file);
    for args in READS {
        let (a, b) = (run_in(dir.path(), args), run_in(streamed, args));
        if a != b {
            return Err(format!(
                "{what}: {args:?}\nindexed:  {a:?}\nstreamed: {b:?}"
            ));
        }
    }
    Ok(())
}

/// The lying file of [`an_index_that_lies_is_not_believed`], and the dump
/// it inflates to.
pub fn labels_lie_about_tables() -> (String, Vec<u8>) {
    let dump = dump_with_decoy_function();
    let at = |s: &str| dump.find(s).unwrap();
    let body_start = at("    AS $$\n") + "    AS $$\n".len();
    let fake_copy = at(TEXTS_COPY);
    let decoy_rows = fake_copy + TEXTS_COPY.len();
    let decoy_end = at("\\.\nSELECT");
    let real_copy = dump.rfind(TEXTS_COPY).unwrap();
    let real_rows = real_copy + TEXTS_COPY.len();
    let real_end = dump[real_rows..].find("\\.\n").unwrap() + real_rows;
    let b = dump.as_bytes();
    let other: Option<&[u8]> = Some(b"public.other");
    let texts: Option<&[u8]> = Some(b"public.tasktexts");
    // The function's opening hidden as rows of another table, the decoy
    // labelled as the texts', the rest of the function and the real texts
    // hidden as another table's rows.
    let lying = write_as_told(
        Vec::new(),
        &[
            (&b[..at("CREATE FUNCTION")], None, false),
            (&b[at("CREATE FUNCTION")..body_start], other, true),
            (&b[body_start..decoy_rows], None, false),
            (&b[decoy_rows..decoy_end], texts, true),
            (&b[decoy_end..decoy_end + 3], None, false),
            (&b[decoy_end + 3..real_end], other, true),
            (&b[real_end..], None, false),
        ],
    )
    .unwrap();
    (dump, lying)
}

/// The attack of issue 20: an index that labels alice's real texts as
/// another table's rows, and the bytes of a function body (its `COPY` line,
/// a decoy row) as the texts table's, while the file inflates to the very
/// bytes of the dump. Read through that index, `texts --user alice` shows
/// her real text, as `gunzip -c FILE | textrescue texts -` does.
#[test]
fn an_index_that_lies_is_not_believed() {
    let (dump, lying) = labels_lie_about_tables();
    let b = dump.as_bytes();
    let dir = in_folder(&lying);
    let file = dir.path().join("dump.sql.gz");
    assert!(
        common::index_of(&file).is_some(),
        "the lying index is well formed"
    );
    assert_eq!(
        common::inflated(&file),
        b,
        "and the file inflates to the dump"
    );
    let gunzip = Command::new("gzip").arg("-dc").arg(&file).output().unwrap();
    assert_ok(&gunzip);
    let streamed = bin()
        .args(["texts", "-", "--user", "alice", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(&gunzip.stdout)?;
            child.wait_with_output()
        })
        .unwrap();
    assert_ok(&streamed);
    let through_index = run_in(
        dir.path(),
        &[
            "texts",
            "dump.sql.gz",
            "--user",
            "alice",
            "--format",
            "json",
        ],
    );
    assert_eq!(through_index.0, Some(0), "{}", through_index.2);
    assert_eq!(through_index.1, text(&streamed.stdout));
    assert!(through_index.1.contains("alice's real text"));
    assert!(!through_index.1.contains("ATTACKER"));
    let single = in_folder(&single_member(b));
    assert_reads_as_streamed(&lying, single.path(), "the lying index").unwrap();
}

/// The writer follows quotes: a function body's comment and `COPY` line
/// start no member, and the file reads as the same bytes streamed.
#[test]
fn a_copy_line_in_a_function_body_starts_no_member() {
    let dump = dump_with_decoy_function();
    for crlf in [false, true] {
        let dump = if crlf {
            dump.replace('\n', "\r\n")
        } else {
            dump.clone()
        };
        let file = indexed(dump.as_bytes(), 4096);
        let dir = in_folder(&file);
        let index = common::index_of(&dir.path().join("dump.sql.gz")).unwrap();
        let real_rows = dump.rfind("1\t2024-03-01").unwrap() as u64;
        let texts: Vec<_> = index
            .members
            .iter()
            .filter(|m| m.table.as_deref() == Some(b"public.tasktexts"))
            .collect();
        assert_eq!(texts.len(), 1, "crlf {crlf}: {:?}", index.members);
        assert_eq!(texts[0].uncompressed_offset, real_rows, "crlf {crlf}");
        assert!(texts[0].data_end);
        let single = in_folder(&single_member(dump.as_bytes()));
        assert_reads_as_streamed(&file, single.path(), "function body").unwrap();
        let (code, out, err) = run_in(dir.path(), &["texts", "dump.sql.gz", "--user", "alice"]);
        assert_eq!(code, Some(0), "{err}");
        assert!(
            out.contains("alice's real text") && !out.contains("ATTACKER"),
            "{out}"
        );
    }
}

/// Pieces of SQL that imitate, inside strings, comments and dollar
/// quotes, what the writer and the readers look for.
const PIECES: &[&str] = &[
    "--\n",
    ANNOUNCE_TEXTS,
    TEXTS_COPY,
    "COPY public.users (id, username) FROM stdin;\n",
    "COPY public.other (id) FROM stdin;\n",
    "1\t2024-03-01 10:00:00+00\t\\N\t2\t1\ta text\n",
    "7\t2024-03-02 10:00:00+00\t\\N\t3\t1\tanother\\nline\n",
    "2\talice\n",
    "3\tbob\n",
    "\\.\n",
    "\\\\.\n",
    "\n",
    "SELECT 1;\n",
    "SELECT 'it''s\n",
    "';\n",
    "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$\n",
    "$$;\n",
    "AS $body$\n",
    "$body$;\n",
    "/* ",
    " */\n",
    "E'\\'\n",
    "\"",
    "SET standard_conforming_strings = off;\n",
    "SET standard_conforming_strings = on;\n",
    "CREATE TABLE public.t (\n    id integer\n);\n",
    "INSERT INTO public.other VALUES (1);\n",
    "-- PostgreSQL database dump complete\n",
];

/// A dump of pieces: a valid head, then any pieces, often a real texts
/// and users table, often the closing comment; LF or CRLF.
fn arbitrary_dump() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        6 => proptest::sample::select(PIECES).prop_map(str::to_string),
        1 => "[a-z';$\\\\ \t]{0,12}\n?",
    ];
    (
        proptest::collection::vec(piece, 0..40),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(pieces, tables, crlf)| {
            let mut d = String::from("--\n-- PostgreSQL database dump\n--\n\n");
            d += &pieces.concat();
            if tables {
                d += "\n--\n";
                d += ANNOUNCE_TEXTS;
                d += "--\n\n";
                d += TEXTS_COPY;
                d += "1\t2024-03-01 10:00:00+00\t\\N\t2\t1\talice's text\n\\.\n";
                d += "COPY public.users (id, username) FROM stdin;\n2\talice\n\\.\n";
                d += "\n--\n-- PostgreSQL database dump complete\n--\n\n";
            }
            if crlf {
                d = d.replace('\n', "\r\n");
            }
            d.into_bytes()
        })
}

/// Cuts of a dump into labelled members, as anyone may write them: each
/// labelled piece is a table's whole run of rows, so that the index is well
/// formed and believed (for where the members are).
fn lying_cuts(dump: &[u8], cuts: &[(usize, u8)]) -> Vec<u8> {
    let mut at: Vec<(usize, u8)> = cuts
        .iter()
        .map(|&(c, l)| (c % (dump.len() + 1), l))
        .collect();
    at.sort();
    let labels: [Option<&[u8]>; 4] = [
        None,
        Some(b"public.tasktexts"),
        Some(b"public.users"),
        Some(b"public.other"),
    ];
    let mut pieces = Vec::new();
    let mut from = 0;
    for (to, label) in at {
        pieces.push((&dump[from..to], labels[label as usize % 4], true));
        from = to;
    }
    pieces.push((&dump[from..], None, false));
    let pieces: Vec<_> = pieces
        .into_iter()
        .map(|(b, l, _)| (b, l, l.is_some()))
        .collect();
    write_as_told(Vec::new(), &pieces).unwrap()
}

/// For arbitrary SQL, the file the writer makes, and files cut and labelled
/// anywhere, read as the same bytes streamed.
#[test]
fn indexed_reads_are_streamed_reads_for_any_sql() {
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        arbitrary_dump(),
        1usize..600,
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
    );
    runner
        .run(&strategy, |(dump, chunk, cuts)| {
            let single = in_folder(&single_member(&dump));
            let written = indexed(&dump, chunk);
            assert_reads_as_streamed(&written, single.path(), "as written")
                .map_err(TestCaseError::fail)?;
            let lying = lying_cuts(&dump, &cuts);
            assert_reads_as_streamed(&lying, single.path(), "cut and labelled")
                .map_err(TestCaseError::fail)?;
            Ok(())
        })
        .unwrap();
}

/// A real database whose function body holds the lines pg_dump writes
/// before the texts' rows: `textrescue backup` writes a backup that it
/// verifies, and `texts`, `history` and `restore --check` read it as
/// `gunzip -c FILE | textrescue texts -` does.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_function_body_that_imitates_pg_dump_makes_a_readable_backup() {
    let pg = pg();
    let db = pg.create_db("tr_idx_funcbody");
    db.load_schema_with_people();
    db.psql(&common::insert_text_sql(
        None,
        2,
        1,
        "2024-03-05 10:00:00+00",
        None,
        "the real text",
    ));
    db.psql(
        "CREATE FUNCTION public.imitates_pg_dump() RETURNS text LANGUAGE plpgsql AS $body$\n\
         BEGIN\n\
         RETURN '\n\
         --\n\
         -- Data for Name: tasktexts; Type: TABLE DATA; Schema: public; Owner: x\n\
         --\n\
         \n\
         COPY public.tasktexts (id, created_at, modified_at, user_id, task_id, text) FROM stdin;\n\
         99\t2024-03-01 10:00:00+00\t\\N\t2\t1\tnot a text\n\
         ';\n\
         END\n\
         $body$;\n\
         CREATE FUNCTION public.imitates_too() RETURNS text LANGUAGE sql AS $$\n\
         --\n\
         -- Data for Name: tasktexts; Type: TABLE DATA; Schema: public; Owner: x\n\
         --\n\
         \n\
         COPY public.tasktexts (id) FROM stdin;\n\
         SELECT 'x'\n\
         $$;",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut c = db.command(env!("CARGO_BIN_EXE_textrescue"));
    c.env_remove("PGPASSWORD")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .arg("backup")
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null());
    assert_ok(&c.output().unwrap());
    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".sql.gz"))
        .expect("a backup");
    let index = common::index_of(&file).expect("an index");
    let texts: Vec<_> = index
        .members
        .iter()
        .filter(|m| {
            m.table
                .as_deref()
                .is_some_and(|t| common::table_is(t, "tasktexts"))
        })
        .collect();
    assert_eq!(texts.len(), 1, "one member of rows, the real table's");
    let gunzip = Command::new("gzip").arg("-dc").arg(&file).output().unwrap();
    assert_ok(&gunzip);
    let streamed = |args: &[&str]| {
        let mut child = bin()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&gunzip.stdout)
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let from_stdin = streamed(&["texts", "-", "--format", "json"]);
    assert_ok(&from_stdin);
    let read = bin()
        .args(["texts", "--format", "json"])
        .arg(&file)
        .output()
        .unwrap();
    assert_ok(&read);
    assert_eq!(text(&read.stdout), text(&from_stdin.stdout));
    assert!(text(&read.stdout).contains("the real text"));
    assert!(!text(&read.stdout).contains("not a text"));
    let history = bin()
        .args(["history", "--user", "alice"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_ok(&history);
    assert!(!history.stdout.is_empty());
    // restore reads it too: the text deleted from the live database comes
    // back from the backup.
    db.psql("DELETE FROM public.tasktexts;");
    let restore = db
        .command(env!("CARGO_BIN_EXE_textrescue"))
        .env_remove("PGPASSWORD")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .env("TZ", "UTC")
        .arg("restore")
        .arg(dir.path())
        .args(["--user", "alice", "--yes", "--dbname", db.name()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ok(&restore);
    assert_eq!(
        db.psql("SELECT text FROM public.tasktexts").trim(),
        "the real text"
    );
}

/// A dump whose texts are hidden from a reader that trusts the index: the
/// rows of `public.other` are labelled to run on over their `\.` line and
/// the texts table's `COPY` and rows after it. Its bytes and its file with
/// that index.
pub fn texts_hidden_in_other_rows() -> (String, Vec<u8>) {
    let other_copy = "COPY public.other (a) FROM stdin;\n";
    let mut d = String::from(
        "--\n-- PostgreSQL database dump\n--\n\nSET standard_conforming_strings = on;\n\n",
    );
    d += "--\n-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: x\n--\n\n";
    d += "COPY public.users (id, username) FROM stdin;\n2\talice\n\\.\n\n";
    d += other_copy;
    d += "x\ny\n\\.\n\n";
    d += TEXTS_COPY;
    d += "1\t2024-03-01 10:00:00+00\t\\N\t2\t1\talice's hidden text\n\\.\n\n";
    d += "--\n-- PostgreSQL database dump complete\n--\n\n";
    let b = d.as_bytes();
    let rows = d.find(other_copy).unwrap() + other_copy.len();
    let texts_end = d.rfind("\\.\n\n--\n-- PostgreSQL").unwrap();
    let file = write_as_told(
        Vec::new(),
        &[
            (&b[..rows], None, false),
            (&b[rows..texts_end], Some(b"public.other"), true),
            (&b[texts_end..], None, false),
        ],
    )
    .unwrap();
    (d, file)
}

/// What `copy --encrypt-to` checks before sealing a backup whose index its
/// readers will then trust (src/indexed_gzip/read/labels.rs): an index
/// that runs a table's rows over their `\.` line is found out; the
/// writer's index holds; so does the lying index of the test above, whose
/// labels lie about which table rows are (a reader decides that by the
/// `COPY` line it read, never by a label) but whose runs are rows only.
#[test]
fn labels_are_checked_before_sealing() {
    use textrescue::indexed_gzip::{Labels, check_labels};
    let check = |file: &[u8]| {
        let dir = in_folder(file);
        check_labels(&std::fs::File::open(dir.path().join("dump.sql.gz")).unwrap()).unwrap()
    };
    let (dump, hidden) = texts_hidden_in_other_rows();
    match check(&hidden) {
        Labels::Lie(why) => assert!(why.contains("public.other"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(check(&indexed(dump.as_bytes(), 7)), Labels::Hold);
    assert_eq!(check(&single_member(dump.as_bytes())), Labels::NoIndex);
    assert_eq!(check(&labels_lie_about_tables().1), Labels::Hold);
}
