//! After the commit: the restored rows read back from the live database (a
//! new connection) and compared with the backup's, byte for byte: text,
//! created_at and modified_at (to the microsecond, in UTC), and the student
//! and task by name (matched as the restore program matches them: username
//! and task name in any case). Deleted texts must be gone.

use std::collections::HashMap;

use anyhow::Result;

use super::Interrupt;
use super::live::Live;
use super::plan::Report;
use super::select::{Chosen, Selection};
use super::utc_micros;
use crate::output::sql::{Action, Tables};

/// What differs between the live database and what was restored; empty when
/// everything matched.
pub fn verify(
    live: &Live,
    selection: &Selection,
    report: &Report,
    interrupt: &Interrupt,
) -> Result<Vec<String>> {
    let tables = Tables::new(&selection.table)?;
    let written: Vec<(&Chosen, i64)> = selection
        .texts
        .iter()
        .zip(&report.texts)
        .filter(|(_, t)| matches!(t.action, Action::Restore | Action::Overwrite))
        .filter_map(|(c, t)| t.row_id.map(|id| (c, id)))
        .collect();
    let deleted: Vec<i64> = report
        .deletions
        .iter()
        .filter(|d| d.action == Action::Delete)
        .map(|d| d.id)
        .collect();
    let ids: Vec<i64> = written
        .iter()
        .map(|(_, id)| *id)
        .chain(deleted.iter().copied())
        .collect();
    let rows: HashMap<i64, _> = live
        .rows_by_id(&tables, &ids, interrupt)?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let mut problems = Vec::new();
    for (c, id) in written {
        let Some(row) = rows.get(&id) else {
            problems.push(format!("{}: live id {id} is not there", c.label()));
            continue;
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
        if !differs.is_empty() {
            problems.push(format!(
                "{}: live id {id} differs from the backup in {}",
                c.label(),
                differs.join(", ")
            ));
        }
    }
    for id in deleted {
        if rows.contains_key(&id) {
            problems.push(format!("live id {id} was to be deleted but is there"));
        }
    }
    Ok(problems)
}
