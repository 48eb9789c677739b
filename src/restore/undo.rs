//! The one command that puts the live texts back as they were before a
//! restore: a `restore` from the safety backup of exactly the texts it
//! touched, by id (`--id`), with `--on-conflict overwrite` (the texts it
//! overwrote get their old text back) and `--delete-absent` (the texts it
//! added, which the safety backup does not have, are deleted).

use std::collections::BTreeSet;
use std::path::Path;

use super::plan::Report;
use super::select::Selection;
use crate::output::escape::shell_word;
use crate::output::sql::Action;

/// The undo command, or `None` when the restore changed nothing.
pub fn command(
    safety: &Path,
    selection: &Selection,
    report: &Report,
    connection: &[String],
) -> Option<String> {
    let mut users = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut added = false;
    for (c, t) in selection.texts.iter().zip(&report.texts) {
        match t.action {
            Action::Overwrite => {
                ids.extend(t.live_id);
            }
            Action::Restore => {
                ids.extend(t.row_id);
                added = true;
            }
            _ => continue,
        }
        users.insert(c.username.clone());
    }
    // The undo of an undo: what it deleted is in its safety backup.
    for d in &report.deletions {
        if d.action == Action::Delete {
            ids.insert(d.id);
            users.extend(d.username.clone());
        }
    }
    if ids.is_empty() {
        return None;
    }
    let mut words = vec![
        "textrescue".to_string(),
        "restore".to_string(),
        shell_word(&safety.display().to_string()),
    ];
    for u in &users {
        words.push("--user".into());
        words.push(shell_word(u));
    }
    for id in &ids {
        words.push("--id".into());
        words.push(id.to_string());
    }
    words.push("--on-conflict".into());
    words.push("overwrite".into());
    if added {
        words.push("--delete-absent".into());
    }
    words.extend(connection.iter().map(|w| shell_word(w)));
    Some(words.join(" "))
}
