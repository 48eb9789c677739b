//! The one command that puts the live texts back as they were before a
//! restore: a `restore` from the safety backup of exactly the texts it
//! touched, by id (`--id`), with `--on-conflict overwrite` (the texts it
//! overwrote get their old text back) and `--delete-absent` (the texts it
//! added, which the safety backup does not have, are deleted).
//!
//! Every value is written `--option=VALUE` and quoted for the shell, so that
//! a value that begins with `-` (a student named `-y`) or holds spaces,
//! quotes or `$(...)` reaches textrescue as it is.

use std::collections::BTreeSet;
use std::path::Path;

use super::plan::Report;
use super::script::Action;
use super::select::Selection;
use crate::escape::{shell_option, shell_path};

/// The undo command, or `None` when the restore changed nothing.
pub fn command(
    safety: &Path,
    selection: &Selection,
    report: &Report,
    connection: &[(String, Option<String>)],
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
        shell_path(&safety.display().to_string()),
    ];
    words.extend(users.iter().map(|u| shell_option("--user", u)));
    words.extend(ids.iter().map(|id| shell_option("--id", &id.to_string())));
    words.push(shell_option("--on-conflict", "overwrite"));
    if added {
        words.push("--delete-absent".into());
    }
    words.extend(connection.iter().map(|(flag, value)| match value {
        Some(v) => shell_option(flag, v),
        None => flag.clone(),
    }));
    Some(words.join(" "))
}
