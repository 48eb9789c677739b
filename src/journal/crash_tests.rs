//! SIGKILL of the writer at random moments: the journal must open, pass
//! SQLite's integrity check, hold every poll the writer reported committed,
//! and each poll in it whole (the texts at its time are the ones it saw).
//!
//! The writer is this test binary run again on one test
//! (`journal_crash_child`), which only writes when [`CHILD_DIR`] is set.

use super::tests::{hostile_text, minute, record_state, t0};
use super::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the child writer writes its journal.
const CHILD_DIR: &str = "TEXTRESCUE_JOURNAL_CRASH_DIR";
const SLOTS: i64 = 8;

type State = BTreeMap<i64, (TextMeta, Vec<u8>)>;

/// The live texts at poll `k`, a function of `k` alone so that a writer
/// started again knows what to write next and the checker what to expect.
/// Rows change at different paces, are deleted for a poll every 7, and
/// come back with a new row id; slot 0 is large (so commits take a while
/// and the write-ahead log gets checkpointed).
fn model_state(k: i64) -> State {
    let mut state = State::new();
    for slot in 0..SLOTS {
        if (k + slot) % 7 == 6 {
            continue;
        }
        let generation = (k + slot) / 7;
        let row_id = slot * 100_000 + generation;
        let change = k / (slot + 2);
        let mut text = format!("slot {slot} generation {generation} change {change}\n");
        text.push_str(&hostile_text());
        if slot == 0 {
            text.push_str(&format!("{change:08} lorem ipsum {slot}\n").repeat(12_000));
        }
        let meta = TextMeta {
            row_id,
            user_id: 1,
            task_id: slot,
            created_at: format!("2026-03-05 08:00:{:02}.5+00", generation % 60),
            modified_at: (change % 5 != 0)
                .then(|| format!("2026-03-05 09:{:02}:00+00", change % 60)),
        };
        state.insert(row_id, (meta, text.into_bytes()));
    }
    state
}

/// The poll number of a poll time (poll `k` is at minute `k`).
fn poll_number(at: DateTime<Utc>) -> i64 {
    (at - t0()).num_minutes()
}

#[test]
fn journal_crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let mut journal = JournalWriter::open(Path::new(&dir)).unwrap();
    let mut k = journal.last_poll().map_or(0, |p| poll_number(p.at));
    loop {
        k += 1;
        record_state(&mut journal, minute(k), &model_state(k));
        println!("committed {k}");
    }
}

use std::path::Path;

/// The writer: this test binary run on [`journal_crash_child`], killed
/// when dropped (so that a failing test leaves no writer behind).
struct Writer(std::process::Child);

impl Writer {
    fn start(dir: &Path, stdout: Stdio) -> Writer {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "journal::crash_tests::journal_crash_child",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD_DIR, dir)
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Writer(child)
    }

    /// SIGKILL, and waited for.
    fn kill(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn check_journal(dir: &Path, reported: i64, all: bool) -> i64 {
    // Killed before it began the journal (a kill within a few milliseconds
    // of its start): nothing to check, and nothing may have been reported.
    if !dir.join(JOURNAL_FILE).exists() {
        assert_eq!(
            reported, 0,
            "poll {reported} was committed, there is no journal"
        );
        return 0;
    }
    let conn = rusqlite::Connection::open_with_flags(
        dir.join(JOURNAL_FILE),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap_or_else(|e| {
            panic!(
                "the journal cannot be read after the kill ({e}); the folder holds {:?}",
                files_in(dir)
            )
        });
    assert_eq!(integrity, "ok");
    let Some(reader) = JournalReader::open(dir).unwrap() else {
        assert_eq!(
            reported, 0,
            "poll {reported} was committed, the journal is empty"
        );
        return 0;
    };
    let coverage = reader.coverage().unwrap();
    let last = coverage.last_poll.map_or(0, |p| poll_number(p.at));
    assert!(
        last >= reported,
        "poll {reported} was committed, the journal ends at {last}"
    );
    let polls: i64 = conn
        .query_row("SELECT count(*) FROM polls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(polls, last, "one poll per poll number, none twice");
    let from = if all { 1 } else { (last - 5).max(1) };
    for k in from..=last {
        let snapshot = reader
            .texts_at(minute(k))
            .unwrap()
            .expect("a poll's own time is covered");
        let got: State = snapshot
            .texts
            .iter()
            .map(|v| (v.meta.row_id, (v.meta.clone(), reader.text_of(v).unwrap())))
            .collect();
        assert!(got == model_state(k), "poll {k} is not whole");
    }
    last
}

/// The folder's files and their sizes, for messages.
fn files_in(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, e.metadata().map_or(0, |m| m.len()))
        })
        .collect();
    files.sort();
    files
}

/// How long a writer may take to commit its first poll, however loaded
/// the machine.
const FIRST_COMMIT_WITHIN: Duration = Duration::from_secs(60);

#[test]
fn journal_survives_sigkill_of_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("seed {seed}");
    let mut random = seed | 1;
    let mut reported = 0;
    for kill in 0..30 {
        let mut writer = Writer::start(dir.path(), Stdio::piped());
        let stdout = writer.0.stdout.take().unwrap();
        let (tx, committed) = std::sync::mpsc::channel();
        let lines = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if let Some(k) = line.unwrap().strip_prefix("committed ") {
                    let _ = tx.send(k.parse::<i64>().unwrap());
                }
            }
        });
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        // Every other writer is killed at a random moment of its start
        // (opening or creating the journal, or its first poll); the others
        // at a random moment after their first commit, so that the writers
        // get on however slowly a loaded machine starts them.
        if kill % 2 == 1 {
            let first = committed
                .recv_timeout(FIRST_COMMIT_WITHIN)
                .unwrap_or_else(|e| {
                    panic!("writer {kill} committed no poll within {FIRST_COMMIT_WITHIN:?}: {e}")
                });
            reported = reported.max(first);
        }
        std::thread::sleep(Duration::from_millis(5 + random % 200));
        writer.kill();
        lines.join().unwrap();
        if let Some(k) = committed.try_iter().max() {
            reported = reported.max(k);
        }
        check_journal(dir.path(), reported, false);
    }
    let last = check_journal(dir.path(), reported, true);
    assert!(
        last > 5,
        "the writer got to write (seed {seed}): {last} polls"
    );
    println!("{last} polls");
}

#[test]
fn journal_readers_read_while_the_writer_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Writer::start(dir.path(), Stdio::null());
    let started = Instant::now();
    let mut reads = 0;
    let mut polls_seen = std::collections::BTreeSet::new();
    // Reads for 3 s, and on until several polls were seen (a loaded
    // machine may start the writer late and run it slowly).
    while started.elapsed() < Duration::from_secs(3) || polls_seen.len() <= 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "in 60 s, {reads} reads saw polls {polls_seen:?}"
        );
        // A fresh reader now and then, as each command run would be.
        let Some(reader) = JournalReader::open(dir.path()).unwrap() else {
            continue;
        };
        for _ in 0..5 {
            let Some(snapshot) = reader.latest().unwrap() else {
                continue;
            };
            let k = poll_number(snapshot.poll.at);
            let got: State = snapshot
                .texts
                .iter()
                .map(|v| (v.meta.row_id, (v.meta.clone(), reader.text_of(v).unwrap())))
                .collect();
            assert!(
                got == model_state(k),
                "poll {k} read while written is not whole"
            );
            polls_seen.insert(k);
            reads += 1;
        }
    }
    writer.kill();
}
