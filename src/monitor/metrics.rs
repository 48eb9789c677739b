//! The metrics file: node_exporter's textfile collector format (the
//! Prometheus text format, gauges only), written whole or not at all.
//!
//! Every command that writes it (`backup`, `check`, `drill`) computes every
//! metric it can from the backups folder itself ([`Metrics::of_folder`]),
//! not from what it just did: the last success is the newest backup in the
//! folder, so a failed backup leaves it as it was. The one metric the
//! folder does not hold, `textrescue_check_success`, only `check` knows;
//! the others carry it over from the file they replace. So one FILE given
//! to every command of a folder is always complete, and that is the way to
//! use it: node_exporter refuses the same metric and labels from two of its
//! `*.prom` files. Each sample has the label `dir`, the folder's absolute
//! path, so that several folders can be watched from one node_exporter
//! (one file each).
//!
//! The file is written in its own folder under a temporary name ending in
//! `.tmp` (node_exporter reads only `*.prom`) and renamed over the old one,
//! mode 0644 so that node_exporter, as another user, can read it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::folder::FolderState;
use crate::atomic_file::AtomicFile;

/// One metric: its name and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
}

pub const BACKUP_LAST_SUCCESS: Family = Family {
    name: "textrescue_backup_last_success_timestamp_seconds",
    help: "When the newest backup in the folder was taken (Unix time; 0: there is none). \
           backup names a file only once it reads back complete.",
};
pub const BACKUP_SIZE: Family = Family {
    name: "textrescue_backup_size_bytes",
    help: "Size of the newest backup in the folder.",
};
pub const BACKUPS_RETAINED: Family = Family {
    name: "textrescue_backups_retained",
    help: "How many backups the folder holds.",
};
pub const DRILL_LAST_SUCCESS: Family = Family {
    name: "textrescue_restore_drill_last_success_timestamp_seconds",
    help: "When the last restore drill that passed finished (Unix time; 0: none passed). \
           Absent before the first drill.",
};
pub const DRILL_SUCCESS: Family = Family {
    name: "textrescue_restore_drill_success",
    help: "Whether the last restore drill passed (1) or failed (0).",
};
pub const DRILL_DURATION: Family = Family {
    name: "textrescue_restore_drill_duration_seconds",
    help: "How long the last restore drill that passed took to load the backup: \
           the recovery time of a whole restore today.",
};
pub const WATCH_LAST_SUCCESS: Family = Family {
    name: "textrescue_watch_last_success_timestamp_seconds",
    help: "The journal's last poll at which the live database answered (Unix time; \
           0: none). Absent without a journal.",
};
pub const CHECK_SUCCESS: Family = Family {
    name: "textrescue_check_success",
    help: "Whether the last textrescue check found nothing wrong (1) or something (0).",
};

/// Every metric textrescue writes, in the file's order.
pub const FAMILIES: [Family; 8] = [
    BACKUP_LAST_SUCCESS,
    BACKUP_SIZE,
    BACKUPS_RETAINED,
    DRILL_LAST_SUCCESS,
    DRILL_SUCCESS,
    DRILL_DURATION,
    WATCH_LAST_SUCCESS,
    CHECK_SUCCESS,
];

/// The metrics one command knows, of one backups folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// The `dir` label: the folder's absolute path.
    pub dir: String,
    /// The values known, by family; the rest is carried over from the file
    /// replaced.
    pub values: Vec<(Family, f64)>,
}

impl Metrics {
    /// Nothing known yet, of folder `dir`.
    pub fn new(dir: &Path) -> Metrics {
        let absolute = fs::canonicalize(dir)
            .or_else(|_| std::path::absolute(dir))
            .unwrap_or_else(|_| dir.to_path_buf());
        Metrics {
            dir: absolute.to_string_lossy().into_owned(),
            values: Vec::new(),
        }
    }

    /// Every metric the folder holds (all but `textrescue_check_success`).
    pub fn of_folder(state: &FolderState) -> Metrics {
        let mut m = Metrics::new(&state.dir);
        let newest = state.newest();
        m.set(
            BACKUP_LAST_SUCCESS,
            newest.map_or(0.0, |b| b.when.timestamp() as f64),
        );
        if let Some(b) = newest {
            m.set(BACKUP_SIZE, b.bytes as f64);
        }
        m.set(BACKUPS_RETAINED, state.backups.len() as f64);
        if let Some(last) = state.last_drill() {
            let good = state.last_good_drill();
            m.set(
                DRILL_LAST_SUCCESS,
                good.map_or(0.0, |d| d.finished_at.timestamp() as f64),
            );
            m.set(DRILL_SUCCESS, if last.success { 1.0 } else { 0.0 });
            if let Some(seconds) = good.and_then(|d| d.restore_seconds) {
                m.set(DRILL_DURATION, (seconds * 1000.0).round() / 1000.0);
            }
        }
        if let Some(journal) = &state.journal {
            m.set(
                WATCH_LAST_SUCCESS,
                journal
                    .last_ok
                    .as_ref()
                    .map_or(0.0, |p| p.at.timestamp() as f64),
            );
        }
        m
    }

    /// Sets (or replaces) one value.
    pub fn set(&mut self, family: Family, value: f64) {
        self.values.retain(|(f, _)| *f != family);
        self.values.push((family, value));
    }

    /// The value of `family`, if known.
    pub fn get(&self, family: Family) -> Option<f64> {
        self.values
            .iter()
            .find(|(f, _)| *f == family)
            .map(|(_, v)| *v)
    }

    /// The known metrics in the text format, with their HELP and TYPE lines.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for family in FAMILIES {
            if let Some(value) = self.get(family) {
                let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
                let _ = writeln!(out, "# TYPE {} gauge", family.name);
                let _ = writeln!(
                    out,
                    "{}{{dir=\"{}\"}} {value}",
                    family.name,
                    label_value(&self.dir)
                );
            }
        }
        out
    }

    /// Writes the metrics to `file`: these values, and the other families
    /// of ours from the file it replaces. Atomic: a reader sees the old
    /// file or the new one, whole.
    pub fn write(&self, file: &Path) -> Result<()> {
        let mut text = self.render();
        if let Ok(old) = fs::read_to_string(file) {
            text.push_str(&carried_over(&old, self));
        }
        let folder = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let failed = || format!("cannot write the metrics file {}", file.display());
        let temp = AtomicFile::create_in(&folder, &format!(".{name}."), ".tmp", 0o644)
            .with_context(failed)?;
        // node_exporter runs as another user: readable whatever the umask.
        temp.file()
            .set_permissions(fs::Permissions::from_mode(0o644))
            .with_context(failed)?;
        temp.file()
            .write_all(text.as_bytes())
            .with_context(failed)?;
        temp.persist_replacing(file).with_context(failed)
    }
}

/// The lines of `old` (a file we wrote) of our families that `new` does
/// not set.
fn carried_over(old: &str, new: &Metrics) -> String {
    let set: BTreeSet<&str> = new.values.iter().map(|(f, _)| f.name).collect();
    let ours: BTreeSet<&str> = FAMILIES.iter().map(|f| f.name).collect();
    let mut out = String::new();
    for line in old.lines() {
        let name = match line.strip_prefix("# ") {
            Some(comment) => comment.split(' ').nth(1).unwrap_or(""),
            None => line.split(['{', ' ']).next().unwrap_or(""),
        };
        if ours.contains(name) && !set.contains(name) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// A label value in the text format: `\`, `"` and newlines escaped.
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_carries_over_what_it_does_not_know() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("textrescue.prom");
        let mut check = Metrics::new(Path::new("/srv/back\"ups"));
        check.set(BACKUPS_RETAINED, 3.0);
        check.set(CHECK_SUCCESS, 1.0);
        check.write(&file).unwrap();
        let mut backup = Metrics::new(Path::new("/srv/back\"ups"));
        backup.set(BACKUPS_RETAINED, 4.0);
        backup.set(BACKUP_LAST_SUCCESS, 1_733_450_000.0);
        backup.write(&file).unwrap();
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            "# HELP textrescue_backup_last_success_timestamp_seconds When the newest backup in \
             the folder was taken (Unix time; 0: there is none). backup names a file only once \
             it reads back complete.\n\
             # TYPE textrescue_backup_last_success_timestamp_seconds gauge\n\
             textrescue_backup_last_success_timestamp_seconds{dir=\"/srv/back\\\"ups\"} 1733450000\n\
             # HELP textrescue_backups_retained How many backups the folder holds.\n\
             # TYPE textrescue_backups_retained gauge\n\
             textrescue_backups_retained{dir=\"/srv/back\\\"ups\"} 4\n\
             # HELP textrescue_check_success Whether the last textrescue check found nothing \
             wrong (1) or something (0).\n\
             # TYPE textrescue_check_success gauge\n\
             textrescue_check_success{dir=\"/srv/back\\\"ups\"} 1\n"
        );
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
    }
}
