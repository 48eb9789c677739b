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

/// How the undo command reaches the same live database and reads the
/// safety backup the same way: the options it repeats. Never a password:
/// a URL from `TEXTRESCUE_DATABASE_URL` is read again from there (no host,
/// port, user or database is then named), one given on the command line is
/// named by its parts (the password then comes from PGPASSWORD or
/// ~/.pgpass). The database is named whenever the URL does not name it
/// again, so that the undo never depends on PGDATABASE or on how the
/// database was chosen this time.
#[derive(Debug, Clone)]
pub struct Reach {
    pub container: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
    pub username: Option<String>,
    pub dbname: Option<String>,
    pub table: Option<String>,
    pub database: Option<String>,
    pub prefix: Option<String>,
    /// The programs, repeated only where they are not the default.
    pub psql: String,
    pub pg_dump: String,
    pub docker: String,
}

impl Reach {
    /// The options as words for the shell, ending in `--yes`.
    fn words(&self) -> Vec<String> {
        let mut words = Vec::new();
        for (flag, value) in [
            ("--container", &self.container),
            ("--host", &self.host),
            ("--port", &self.port),
            ("--username", &self.username),
            ("--dbname", &self.dbname),
            ("--table", &self.table),
            ("--database", &self.database),
            ("--prefix", &self.prefix),
        ] {
            if let Some(v) = value {
                words.push(shell_option(flag, v));
            }
        }
        for (flag, value, default) in [
            ("--psql", &self.psql, "psql"),
            ("--pg-dump", &self.pg_dump, "pg_dump"),
            ("--docker", &self.docker, "docker"),
        ] {
            if value != default {
                words.push(shell_option(flag, value));
            }
        }
        words.push("--yes".into());
        words
    }
}

/// The undo command, or `None` when the restore changed nothing.
pub fn command(
    safety: &Path,
    selection: &Selection,
    report: &Report,
    reach: &Reach,
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
    words.extend(reach.words());
    Some(words.join(" "))
}
