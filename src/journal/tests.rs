//! The journal's behaviour: versions byte for byte, the texts at any
//! covered time, deletions, polls that never commit, the writer's lock.

use super::*;
use chrono::TimeDelta;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

pub(super) fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-05T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub(super) fn minute(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(n)
}

pub(super) fn meta(row_id: i64, user_id: i64, task_id: i64, modified: &str) -> TextMeta {
    TextMeta {
        row_id,
        user_id,
        task_id,
        created_at: format!("2026-03-01 10:00:{:02}.123456+00", row_id % 60),
        modified_at: Some(modified.to_string()),
    }
}

/// Every character the property tests throw at readers, but NUL (which
/// PostgreSQL text cannot hold).
pub(super) fn hostile_text() -> String {
    let mut text: String = (1u32..0x80).filter_map(char::from_u32).collect();
    text.push_str(
        "\u{80}\u{7ff}\u{800}\u{feff}\u{200f}\u{2028}\u{fffd}\u{ffff}\u{10000}\u{10ffff}",
    );
    text.push_str("\\.\r\n\\N\t'\"$$;\u{1b}[31m COPY \\\\ é 漢字 😀");
    text
}

/// The state a reader must give: row id -> (meta, text).
type State = BTreeMap<i64, (TextMeta, Vec<u8>)>;

fn snapshot_state(reader: &JournalReader, at: DateTime<Utc>) -> Option<State> {
    let snapshot = reader.texts_at(at).unwrap()?;
    Some(
        snapshot
            .texts
            .iter()
            .map(|v| (v.meta.row_id, (v.meta.clone(), reader.text_of(v).unwrap())))
            .collect(),
    )
}

/// Records a whole poll of `state` (every row as a version; rows the
/// journal holds that `state` lacks as deleted).
pub(super) fn record_state(journal: &mut JournalWriter, at: DateTime<Utc>, state: &State) {
    let gone: Vec<i64> = journal
        .current()
        .map(|(m, _)| m.row_id)
        .filter(|row| !state.contains_key(row))
        .collect();
    let mut poll = journal.begin_poll(at).unwrap();
    for (meta, text) in state.values() {
        poll.record_version(meta, text).unwrap();
    }
    for row in gone {
        assert!(poll.record_deleted(row).unwrap());
    }
    poll.commit().unwrap();
}

fn reader(dir: &Path) -> JournalReader {
    JournalReader::open(dir).unwrap().expect("a journal")
}

#[test]
fn journal_round_trip_of_many_versions_is_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected: Vec<String> = Vec::new();
    let mut text = hostile_text().repeat(20);
    for n in 0..120 {
        // An edit in the middle, sometimes a rewrite, sometimes back to an
        // earlier text (stored once, a new version all the same).
        if n % 17 == 5 {
            text = format!("rewritten {n} {}", "x".repeat(n));
        } else if n % 23 == 7 {
            text = expected[n - 3].clone();
        } else {
            let at = (n * 31) % text.len();
            let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap();
            text.insert_str(at, &format!("<edit {n} ü>"));
        }
        expected.push(text.clone());
    }
    for (round, chunk) in expected.chunks(40).enumerate() {
        // A new writer each round: reopening keeps the chain going.
        let mut journal = JournalWriter::open(dir.path()).unwrap();
        for (i, text) in chunk.iter().enumerate() {
            let n = round * 40 + i;
            let mut poll = journal.begin_poll(minute(n as i64)).unwrap();
            let m = meta(7, 1, 2, &format!("2026-03-05 08:{:02}:00+00", n % 60));
            assert_eq!(
                poll.record_version(&m, text.as_bytes()).unwrap(),
                Recorded::NewVersion
            );
            poll.commit().unwrap();
        }
    }
    let reader = reader(dir.path());
    let versions = reader.versions_of(7).unwrap();
    assert_eq!(versions.len(), expected.len());
    for (version, text) in versions.iter().zip(&expected) {
        assert_eq!(reader.text_of(version).unwrap(), text.as_bytes());
        assert_eq!(version.size, text.len() as u64);
        assert_eq!(version.sha256, sha256_of(text.as_bytes()));
    }
    // Read out of order too (no help from the last one decoded).
    for i in [119, 3, 64, 0, 33, 32, 31] {
        assert_eq!(
            reader.text_of(&versions[i]).unwrap(),
            expected[i].as_bytes()
        );
    }
}

#[test]
fn journal_texts_at_many_times() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = JournalWriter::open(dir.path()).unwrap();
    let mut state = State::new();
    let mut states = Vec::new();
    for n in 0..30i64 {
        for row in 1..=4i64 {
            if (n + row) % 3 == 0 {
                let text = format!("row {row} at poll {n}\n{}", hostile_text());
                let m = meta(row, row, 1, &format!("poll {n}"));
                state.insert(row, (m, text.into_bytes()));
            }
        }
        if n == 20 {
            state.remove(&2);
        }
        if n == 10 {
            journal
                .record_down(minute(n) - TimeDelta::seconds(30), "down")
                .unwrap();
        }
        record_state(&mut journal, minute(n), &state);
        states.push(state.clone());
    }
    let reader = reader(dir.path());
    for n in 0..30i64 {
        let expected = &states[n as usize];
        assert_eq!(
            snapshot_state(&reader, minute(n)).as_ref(),
            Some(expected),
            "poll {n}"
        );
        let between = minute(n) + TimeDelta::seconds(59);
        let got = snapshot_state(&reader, between);
        if n == 9 || n == 29 {
            // Over the db-down poll, and after the last poll: not covered.
            assert_eq!(got, None, "after poll {n}");
        } else {
            assert_eq!(got.as_ref(), Some(expected), "after poll {n}");
        }
    }
    assert_eq!(snapshot_state(&reader, minute(-1)), None);
    let latest = reader.latest().unwrap().unwrap();
    assert_eq!(latest.poll.at, minute(29));
    assert_eq!(latest.texts.len(), states[29].len());
    let coverage = reader.coverage().unwrap();
    assert_eq!(coverage.spans.len(), 2);
    assert_eq!(coverage.db_down_polls, 1);
    assert!(coverage.covers(minute(5)) && !coverage.covers(minute(9) + TimeDelta::seconds(1)));
    assert_eq!(coverage.gaps(), vec![(minute(9), minute(10))]);
}

#[test]
fn journal_coverage_never_spans_two_runs() {
    let dir = tempfile::tempdir().unwrap();
    let state: State = [(1, (meta(1, 1, 1, "m"), b"a".to_vec()))].into();
    for run in 0..2 {
        let mut journal = JournalWriter::open(dir.path()).unwrap();
        assert_eq!(journal.run(), run + 1);
        record_state(&mut journal, minute(run * 10), &state);
        record_state(&mut journal, minute(run * 10 + 1), &state);
    }
    let reader = reader(dir.path());
    assert!(
        reader
            .texts_at(minute(0) + TimeDelta::seconds(30))
            .unwrap()
            .is_some()
    );
    assert!(reader.texts_at(minute(5)).unwrap().is_none());
    assert_eq!(reader.coverage().unwrap().spans.len(), 2);
    // One version throughout: nothing changed, nothing recorded twice.
    let versions = reader.versions_of(1).unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].first_seen.at, minute(0));
    assert_eq!(versions[0].last_seen.at, minute(11));
}

#[test]
fn journal_deletion_and_re_creation_with_a_new_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = JournalWriter::open(dir.path()).unwrap();
    let first = meta(10, 5, 3, "2026-03-05 08:00:00+00");
    let mut state: State = [(10, (first.clone(), b"draft one".to_vec()))].into();
    record_state(&mut journal, minute(0), &state);
    state.insert(
        10,
        (
            meta(10, 5, 3, "2026-03-05 08:01:00+00"),
            b"draft two".to_vec(),
        ),
    );
    record_state(&mut journal, minute(1), &state);
    state.clear();
    record_state(&mut journal, minute(2), &state);
    let again = meta(11, 5, 3, "2026-03-05 08:03:00+00");
    state.insert(11, (again, b"draft two".to_vec()));
    record_state(&mut journal, minute(3), &state);
    drop(journal);

    let reader = reader(dir.path());
    let all = reader.versions_for(5, 3).unwrap();
    let rows: Vec<i64> = all.iter().map(|v| v.meta.row_id).collect();
    assert_eq!(rows, vec![10, 10, 11]);
    assert!(!all[0].deleted && all[0].ended.as_ref().unwrap().at == minute(1));
    assert!(all[1].deleted && all[1].ended.as_ref().unwrap().at == minute(2));
    assert_eq!(all[1].last_seen.at, minute(1));
    assert!(all[2].ended.is_none() && all[2].last_seen.at == minute(3));
    assert_eq!(reader.text_of(&all[2]).unwrap(), b"draft two");
    assert_eq!(snapshot_state(&reader, minute(2)), Some(State::new()));
    assert_eq!(reader.texts_at(minute(3)).unwrap().unwrap().texts.len(), 1);
    assert_eq!(reader.versions_of(10).unwrap().len(), 2);
}

#[test]
fn journal_poll_dropped_before_commit_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state: State = [(1, (meta(1, 1, 1, "m1"), b"kept".to_vec()))].into();
    {
        let mut journal = JournalWriter::open(dir.path()).unwrap();
        record_state(&mut journal, minute(0), &state);
        let mut poll = journal.begin_poll(minute(1)).unwrap();
        poll.record_version(&meta(1, 1, 1, "m2"), b"lost").unwrap();
        poll.record_version(&meta(2, 1, 2, "m2"), b"lost too")
            .unwrap();
        drop(poll);
        // The writer goes on as if the poll never began.
        assert_eq!(journal.current().count(), 1);
        assert_eq!(journal.last_poll().unwrap().at, minute(0));
        record_state(&mut journal, minute(2), &state);
    }
    let mut journal = JournalWriter::open(dir.path()).unwrap();
    assert_eq!(journal.current().count(), 1);
    let reader = reader(dir.path());
    assert_eq!(reader.versions_of(1).unwrap().len(), 1);
    assert!(reader.versions_of(2).unwrap().is_empty());
    assert_eq!(reader.coverage().unwrap().spans[0].polls, 2);
    record_state(&mut journal, minute(3), &state);
}

#[test]
fn journal_poll_must_record_every_live_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = JournalWriter::open(dir.path()).unwrap();
    let a = meta(1, 1, 1, "m");
    let b = meta(2, 1, 2, "m");
    let state: State = [(1, (a.clone(), b"a".to_vec())), (2, (b, b"b".to_vec()))].into();
    record_state(&mut journal, minute(0), &state);
    let mut poll = journal.begin_poll(minute(1)).unwrap();
    poll.record_seen(&a, Some(&sha256_of(b"a"))).unwrap();
    assert_eq!(poll.unaccounted(), vec![2]);
    assert!(
        poll.record_seen(&a, Some(&sha256_of(b"a"))).is_err(),
        "twice in one poll"
    );
    let error = poll.commit().unwrap_err().to_string();
    assert!(error.contains("row ids 2"), "{error}");
    assert_eq!(journal.last_poll().unwrap().at, minute(0));
}

#[test]
fn journal_record_seen_needs_the_text_only_for_new_content() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = JournalWriter::open(dir.path()).unwrap();
    let a = meta(1, 1, 1, "m1");
    let mut poll = journal.begin_poll(minute(0)).unwrap();
    assert_eq!(
        poll.record_seen(&a, Some(&sha256_of(b"x"))).unwrap(),
        Recorded::NeedsText
    );
    assert_eq!(poll.record_version(&a, b"x").unwrap(), Recorded::NewVersion);
    let summary = poll.commit().unwrap();
    assert_eq!((summary.live_texts, summary.new_versions), (1, 1));
    let mut poll = journal.begin_poll(minute(1)).unwrap();
    // Saved again, same text: a new version (its modified_at), no text needed.
    let a2 = meta(1, 1, 1, "m2");
    assert_eq!(
        poll.record_seen(&a2, Some(&sha256_of(b"x"))).unwrap(),
        Recorded::NewVersion
    );
    assert_eq!(poll.commit().unwrap().new_versions, 1);
    let mut poll = journal.begin_poll(minute(2)).unwrap();
    assert_eq!(
        poll.record_seen(&a2, Some(&sha256_of(b"x"))).unwrap(),
        Recorded::Unchanged
    );
    assert!(!poll.record_deleted(99).unwrap());
    poll.commit().unwrap();
    assert_eq!(journal.current_of(1).unwrap().0, &a2);
    // Without a hash: the row alone says unchanged, or the text is needed.
    let mut poll = journal.begin_poll(minute(3)).unwrap();
    assert_eq!(poll.record_seen(&a2, None).unwrap(), Recorded::Unchanged);
    poll.commit().unwrap();
    let mut poll = journal.begin_poll(minute(4)).unwrap();
    assert_eq!(poll.record_seen(&a, None).unwrap(), Recorded::NeedsText);
    assert_eq!(poll.record_version(&a, b"x").unwrap(), Recorded::NewVersion);
    poll.commit().unwrap();
}

#[test]
fn journal_record_unchanged_needs_a_live_row_and_counts_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = JournalWriter::open(dir.path()).unwrap();
    let a = meta(1, 1, 1, "m1");
    let mut poll = journal.begin_poll(minute(0)).unwrap();
    assert!(!poll.record_unchanged(1).unwrap(), "not live yet");
    assert_eq!(poll.record_version(&a, b"x").unwrap(), Recorded::NewVersion);
    poll.commit().unwrap();
    let mut poll = journal.begin_poll(minute(1)).unwrap();
    assert!(poll.record_unchanged(1).unwrap());
    assert!(poll.record_unchanged(1).is_err(), "recorded twice");
    assert!(!poll.record_unchanged(2).unwrap(), "never seen");
    assert_eq!(poll.commit().unwrap().new_versions, 0);
    assert_eq!(reader(dir.path()).latest().unwrap().unwrap().texts.len(), 1);
}

#[test]
fn journal_ten_megabyte_texts() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = JournalWriter::open(dir.path()).unwrap();
    let mut big = hostile_text().repeat(10 * 1024 * 1024 / hostile_text().len() + 1);
    let first = big.clone();
    record_state(
        &mut journal,
        minute(0),
        &[(1, (meta(1, 1, 1, "a"), first.clone().into_bytes()))].into(),
    );
    big.insert_str(5_000_000, "one more sentence ");
    record_state(
        &mut journal,
        minute(1),
        &[(1, (meta(1, 1, 1, "b"), big.clone().into_bytes()))].into(),
    );
    drop(journal);
    let size = std::fs::metadata(dir.path().join(JOURNAL_FILE))
        .unwrap()
        .len();
    let reader = reader(dir.path());
    let versions = reader.versions_of(1).unwrap();
    assert_eq!(reader.text_of(&versions[1]).unwrap(), big.as_bytes());
    assert_eq!(reader.text_of(&versions[0]).unwrap(), first.as_bytes());
    assert!(
        size < 2 * 1024 * 1024,
        "the second version is a delta: {size} bytes"
    );
}

#[test]
fn journal_one_writer_and_readers_alongside() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = JournalWriter::open(dir.path()).unwrap();
    let error = JournalWriter::open(dir.path()).err().unwrap().to_string();
    assert!(error.contains("another watcher"), "{error}");
    assert!(JournalReader::open(dir.path()).unwrap().is_some());
    let state: State = [(1, (meta(1, 1, 1, "m"), b"a".to_vec()))].into();
    record_state(&mut journal, minute(0), &state);
    let reader = reader(dir.path());
    let mut poll = journal.begin_poll(minute(1)).unwrap();
    poll.record_version(&meta(1, 1, 1, "m2"), b"b").unwrap();
    // Uncommitted: the reader sees the poll before.
    assert_eq!(reader.versions_of(1).unwrap().len(), 1);
    poll.commit().unwrap();
    assert_eq!(reader.versions_of(1).unwrap().len(), 2);
    assert!(
        journal.begin_poll(minute(1)).is_err(),
        "a poll time not after the last"
    );
    drop(journal);
    JournalWriter::open(dir.path()).unwrap();
}

/// A writer killed while it made a new journal leaves only the new file
/// (with SQLite's rollback journal beside it, as the switch to WAL mode
/// does): no journal for readers, and the next writer makes it again.
#[test]
fn journal_half_made_by_a_killed_writer_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join(".textrescue-journal.sqlite.new");
    std::fs::write(&new, b"SQLite format 3\0 cut short").unwrap();
    std::fs::write(
        dir.path().join(".textrescue-journal.sqlite.new-journal"),
        [0xd9u8; 512],
    )
    .unwrap();
    assert!(JournalReader::open(dir.path()).unwrap().is_none());
    let mut journal = JournalWriter::open(dir.path()).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".sqlite"))
        .collect();
    names.sort();
    // The journal, open in WAL mode (its log and shared memory beside it).
    assert_eq!(
        names,
        [
            JOURNAL_FILE.to_string(),
            format!("{JOURNAL_FILE}-shm"),
            format!("{JOURNAL_FILE}-wal")
        ]
    );
    let state: State = [(1, (meta(1, 1, 1, "m"), b"a".to_vec()))].into();
    record_state(&mut journal, minute(0), &state);
    assert_eq!(reader(dir.path()).versions_of(1).unwrap().len(), 1);
}

#[test]
fn journal_refuses_another_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    drop(JournalWriter::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(JOURNAL_FILE)).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let error = format!("{:#}", JournalWriter::open(dir.path()).err().unwrap());
    assert!(error.contains("schema version 99"), "{error}");
    assert!(JournalReader::open(dir.path()).is_err());
    assert!(
        JournalReader::open(&dir.path().join("none"))
            .unwrap()
            .is_none()
    );
}

/// One poll of the property test: per row slot, what happens.
#[derive(Debug, Clone)]
enum Step {
    Keep,
    Edit(String),
    Touch,
    Delete,
    Recreate(String),
}

fn step() -> impl Strategy<Value = Step> {
    let text = any::<String>().prop_map(|s| s.replace('\0', ""));
    prop_oneof![
        3 => Just(Step::Keep),
        3 => text.clone().prop_map(Step::Edit),
        1 => Just(Step::Touch),
        1 => Just(Step::Delete),
        1 => text.prop_map(Step::Recreate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn journal_random_version_sequences(polls in prop::collection::vec(prop::collection::vec(step(), 3), 1..25)) {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = JournalWriter::open(dir.path()).unwrap();
        let mut state = State::new();
        let mut states = Vec::new();
        let mut next_row = 100;
        for (n, steps) in polls.iter().enumerate() {
            for (slot, step) in steps.iter().enumerate() {
                let slot = slot as i64;
                let row = state.values().find(|(m, _)| m.task_id == slot).map(|(m, _)| m.row_id);
                let stamp = format!("2026-03-05 08:{n:02}:00.{slot}+00");
                match (step, row) {
                    (Step::Edit(text), Some(row)) => {
                        state.insert(row, (meta(row, 1, slot, &stamp), text.clone().into_bytes()));
                    }
                    (Step::Touch, Some(row)) => {
                        state.get_mut(&row).unwrap().0.modified_at = Some(stamp);
                    }
                    (Step::Delete, Some(row)) => {
                        state.remove(&row);
                    }
                    (Step::Recreate(text), _) | (Step::Edit(text), None) => {
                        if let Some(row) = row {
                            state.remove(&row);
                        }
                        next_row += 1;
                        state.insert(next_row, (meta(next_row, 1, slot, &stamp), text.clone().into_bytes()));
                    }
                    _ => {}
                }
            }
            record_state(&mut journal, minute(n as i64), &state);
            states.push(state.clone());
        }
        let reader = reader(dir.path());
        for (n, expected) in states.iter().enumerate() {
            let got = snapshot_state(&reader, minute(n as i64));
            prop_assert_eq!(got.as_ref(), Some(expected));
        }
        // Every version of each slot, in order, as the states went.
        for slot in 0..3 {
            let mut seen: Vec<(TextMeta, Vec<u8>)> = Vec::new();
            for s in &states {
                if let Some(v) = s.values().find(|(m, _)| m.task_id == slot)
                    && seen.last() != Some(v)
                {
                    seen.push(v.clone());
                }
            }
            let versions = reader.versions_for(1, slot).unwrap();
            let got: Vec<(TextMeta, Vec<u8>)> = versions
                .iter()
                .map(|v| (v.meta.clone(), reader.text_of(v).unwrap()))
                .collect();
            prop_assert_eq!(got, seen);
        }
    }
}
