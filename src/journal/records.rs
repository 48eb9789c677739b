//! The journal's texts as the domain has texts: a [`Snapshot`] turned into
//! [`Texts`] (rows, usernames, tasks), so that everything that reads a
//! dump's texts (the filters, the output writers) reads the journal's the
//! same way.

use anyhow::{Context, Result};

use super::{JournalReader, Snapshot};
use crate::filter::Filter;
use crate::texts::{TaskText, Texts, Timestamp};

impl JournalReader {
    /// The texts of `snapshot`, named with the journal's usernames and
    /// tasks. With `keep`, only the texts that pass it, as a dump read
    /// with `ReadOptions::keep_only` holds them: a text that fails is
    /// never decompressed.
    pub fn texts_of(&self, snapshot: &Snapshot, keep: Option<&Filter>) -> Result<Texts> {
        let mut texts = Texts {
            usernames: self.usernames()?,
            tasks: self.tasks()?,
            ..Texts::default()
        };
        texts.students = texts.usernames.len();
        for version in &snapshot.texts {
            let meta = &version.meta;
            let timestamp = |value: &str| {
                Timestamp::parse_pg(value)
                    .with_context(|| format!("journal: text row {}", meta.row_id))
            };
            let mut row = TaskText {
                id: meta.row_id,
                user_id: meta.user_id,
                task_id: meta.task_id,
                created_at: timestamp(&meta.created_at)?,
                modified_at: meta.modified_at.as_deref().map(timestamp).transpose()?,
                text: Vec::new(),
            };
            if let Some(filter) = keep
                && !(filter.matches_row(&row) && filter.matches(&texts.record(&row)))
            {
                continue;
            }
            row.text = self.text_of(version)?;
            texts.rows.push(row);
        }
        Ok(texts)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{meta, minute};
    use super::super::{JournalWriter, Recorded};
    use crate::filter::FilterArgs;
    use crate::texts::Task;

    use super::*;

    #[test]
    fn journal_texts_are_named_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = JournalWriter::open(dir.path()).unwrap();
        let task = |phase, name: &str| Task {
            phase,
            name: name.into(),
            is_enabled: true,
        };
        let mut poll = journal.begin_poll(minute(0)).unwrap();
        poll.record_users(&[(2, "alice".into()), (3, "bob".into())])
            .unwrap();
        poll.record_tasks(&[(1, task(0, "get")), (3, task(3, "multi"))])
            .unwrap();
        poll.record_version(&meta(10, 2, 3, "2026-03-02 10:00:00+00"), b"a\r\n")
            .unwrap();
        poll.record_version(&meta(11, 3, 1, "2026-03-02 11:00:00+00"), b"b")
            .unwrap();
        poll.commit().unwrap();
        // A rename: the names are the last poll's; unchanged ones stay.
        let mut poll = journal.begin_poll(minute(1)).unwrap();
        poll.record_users(&[(2, "alice".into()), (3, "bobby".into())])
            .unwrap();
        poll.record_tasks(&[(3, task(3, "multi"))]).unwrap();
        for seen in [
            meta(10, 2, 3, "2026-03-02 10:00:00+00"),
            meta(11, 3, 1, "2026-03-02 11:00:00+00"),
        ] {
            assert_eq!(poll.record_seen(&seen, None).unwrap(), Recorded::Unchanged);
        }
        poll.commit().unwrap();

        let reader = JournalReader::open(dir.path()).unwrap().unwrap();
        let snapshot = reader.texts_at(minute(0)).unwrap().unwrap();
        let texts = reader.texts_of(&snapshot, None).unwrap();
        let records = texts.records();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].username, Some("alice"));
        assert_eq!(records[0].task_label(), "3-MULTI");
        assert_eq!(records[0].text.text, b"a\r\n");
        assert_eq!(
            records[0].text.modified_at.as_ref().unwrap().rfc3339,
            "2026-03-02T10:00:00+00:00"
        );
        assert_eq!(records[1].username, Some("bobby"));
        assert_eq!(records[1].task_label(), "0-GET");

        let filter = Filter::from_args(&FilterArgs {
            users: vec!["BOBBY".into()],
            ..FilterArgs::default()
        })
        .unwrap();
        let kept = reader.texts_of(&snapshot, Some(&filter)).unwrap();
        assert_eq!(kept.rows.len(), 1);
        assert_eq!(kept.rows[0].id, 11);
        let filter = Filter::from_args(&FilterArgs {
            since: Some("2026-03-02T10:30:00Z".into()),
            ..FilterArgs::default()
        })
        .unwrap();
        let kept = reader.texts_of(&snapshot, Some(&filter)).unwrap();
        assert_eq!(kept.rows.iter().map(|r| r.id).collect::<Vec<_>>(), [11]);
    }
}
