//! After the commit: the restored rows read back from the live database (a
//! new connection) and compared with the backup's, byte for byte: text,
//! created_at and modified_at (to the microsecond, in UTC), and the student
//! and task by name (matched as the restore program matches them: username
//! and task name in any case). Deleted texts must be gone. Each row is also
//! compared with what the live database held before the restore (the
//! plan's report), which tells, when COMMIT went unanswered, whether the
//! restore is in or not ([`super::unanswered`]).

use std::collections::HashMap;

use anyhow::Result;

use super::live::{Live, LiveRow};
use super::plan::Report;
use super::script::{Action, Tables};
use super::select::{Chosen, Selection};
use super::utc_micros;
use crate::signals::Caught;

/// One row the restore wrote or deleted, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// As the restore leaves it: the backup's text, or gone when deleted.
    Restored,
    /// As it was before the restore: absent where the restore adds it, the
    /// text that was there where it overwrites or deletes.
    AsBefore,
    /// Neither.
    Other,
}

/// What the read-back found of one row.
#[derive(Debug, Clone)]
pub struct Found {
    pub state: State,
    /// What it holds, for a person: `alice 0-ENV: live id 104 ...`.
    pub what: String,
}

/// What differs between the live database and what was restored; empty when
/// everything matched.
pub fn verify(
    live: &Live,
    selection: &Selection,
    report: &Report,
    interrupt: &Caught,
) -> Result<Vec<String>> {
    Ok(read_back(live, selection, report, interrupt)?
        .into_iter()
        .filter(|f| f.state != State::Restored)
        .map(|f| f.what)
        .collect())
}

/// Every row the restore wrote or deleted, read back on a new connection.
pub fn read_back(
    live: &Live,
    selection: &Selection,
    report: &Report,
    interrupt: &Caught,
) -> Result<Vec<Found>> {
    let tables = Tables::new(&selection.table)?;
    let written: Vec<(&Chosen, i64, Option<&[u8]>)> = selection
        .texts
        .iter()
        .zip(&report.texts)
        .filter_map(|(c, t)| {
            let before = match t.action {
                Action::Restore => None,
                Action::Overwrite => Some(t.live_text.as_deref().unwrap_or_default()),
                _ => return None,
            };
            t.row_id.map(|id| (c, id, before))
        })
        .collect();
    let deleted: Vec<(i64, &[u8])> = report
        .deletions
        .iter()
        .filter(|d| d.action == Action::Delete)
        .map(|d| (d.id, d.live_text.as_deref().unwrap_or_default()))
        .collect();
    let ids: Vec<i64> = written
        .iter()
        .map(|(_, id, _)| *id)
        .chain(deleted.iter().map(|(id, _)| *id))
        .collect();
    let rows: HashMap<i64, LiveRow> = live
        .rows_by_id(&tables, &ids, interrupt)?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let mut found = Vec::new();
    for (c, id, before) in written {
        found.push(written_row(c, id, before, rows.get(&id)));
    }
    for (id, before) in deleted {
        found.push(match rows.get(&id) {
            None => Found {
                state: State::Restored,
                what: format!("live id {id} is gone (deleted)"),
            },
            Some(row) => Found {
                state: if row.text == before {
                    State::AsBefore
                } else {
                    State::Other
                },
                what: format!("live id {id} was to be deleted but is there"),
            },
        });
    }
    Ok(found)
}

/// A text the restore adds (`before` is `None`) or overwrites (`before`
/// is the live text it replaces), as read back.
fn written_row(c: &Chosen, id: i64, before: Option<&[u8]>, row: Option<&LiveRow>) -> Found {
    let Some(row) = row else {
        return Found {
            state: if before.is_none() {
                State::AsBefore
            } else {
                State::Other
            },
            what: format!("{}: live id {id} is not there", c.label()),
        };
    };
    let mut differs = Vec::new();
    if row.text != c.text.text {
        differs.push(format!(
            "text ({} bytes, the backup's {})",
            row.text.len(),
            c.text.text.len()
        ));
    }
    if row.created_at.as_deref() != Some(utc_micros(&c.text.created_at).as_str()) {
        differs.push("created_at".to_string());
    }
    if row.modified_at != c.text.modified_at.as_ref().map(utc_micros) {
        differs.push("modified_at".to_string());
    }
    if row.username.as_deref().map(str::to_lowercase) != Some(c.username.to_lowercase()) {
        differs.push("student".to_string());
    }
    if row.phase != Some(c.task.phase)
        || row.task_name.as_deref().map(str::to_lowercase) != Some(c.task.name.to_lowercase())
    {
        differs.push("task".to_string());
    }
    if differs.is_empty() {
        return Found {
            state: State::Restored,
            what: format!(
                "{}: live id {id} holds the backup's text (restored)",
                c.label()
            ),
        };
    }
    Found {
        state: if before == Some(row.text.as_slice()) {
            State::AsBefore
        } else {
            State::Other
        },
        what: format!(
            "{}: live id {id} differs from the backup in {}",
            c.label(),
            differs.join(", ")
        ),
    }
}
