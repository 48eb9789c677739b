//! What a backups folder says of its own health, read from the folder alone:
//! its backups (one database's series), its restore drills, its journal's
//! last polls. Both the metrics and `check` start from this.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::drills::{self, DrillRecord};
use crate::journal::{JournalReader, Poll};
use crate::nightlies::{self, DumpFile};

/// One backup in the folder.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupFile {
    pub path: PathBuf,
    /// Its file name, as messages say it.
    pub name: String,
    /// When it was taken: the date in its name, else its modification time.
    pub when: DateTime<Utc>,
    /// Its size (a pg_dump -Fd directory: its files').
    pub bytes: u64,
}

impl BackupFile {
    /// Its extension (`.sql.gz`, `.dump`, ...): backups are compared by
    /// size only with backups of the same format.
    pub fn kind(&self) -> &str {
        match self.name.find('.') {
            Some(dot) => &self.name[dot..],
            None => "",
        }
    }
}

/// The folder as the metrics and `check` see it.
#[derive(Debug, Clone)]
pub struct FolderState {
    /// The backups folder, as given.
    pub dir: PathBuf,
    /// Its backups, oldest first.
    pub backups: Vec<BackupFile>,
    /// Its restore drills, oldest first.
    pub drills: Vec<DrillRecord>,
    /// Whether it has a journal (`watch`), and its last polls.
    pub journal: Option<JournalPolls>,
    /// What reading the folder noticed (several databases' backups, a name
    /// dated after now, ...).
    pub warnings: Vec<String>,
}

/// The journal's last polls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalPolls {
    /// The last poll, whether the database answered or not.
    pub last: Option<Poll>,
    /// The last poll at which the database answered.
    pub last_ok: Option<Poll>,
}

impl FolderState {
    /// Reads `dir`: the backups named `prefix` + date (by default the
    /// series with the newest backup, as `history` chooses), its drills
    /// and its journal.
    pub fn read(dir: &Path, prefix: Option<&str>) -> Result<FolderState> {
        if !dir.is_dir() {
            anyhow::bail!("{} is not a folder", dir.display());
        }
        let mut warnings = Vec::new();
        let found = nightlies::candidates(&[dir.to_path_buf()], &mut warnings)?;
        let chosen: Vec<DumpFile> = match prefix {
            // Backup names its files with its prefix; a folder that has
            // none yet has no backups of that series.
            Some(p) => found
                .into_iter()
                .filter(|c| c.prefix.as_deref() == Some(p))
                .collect(),
            None => nightlies::one_prefix(found, None, &mut warnings)?,
        };
        let backups = chosen.iter().map(backup_file).collect();
        let drills = drills::read(dir)?;
        let journal = match JournalReader::open(dir)? {
            None => None,
            Some(reader) => {
                let coverage = reader.coverage()?;
                Some(JournalPolls {
                    last_ok: coverage.spans.last().map(|s| s.to.clone()),
                    last: coverage.last_poll,
                })
            }
        };
        Ok(FolderState {
            dir: dir.to_path_buf(),
            backups,
            drills,
            journal,
            warnings,
        })
    }

    /// The newest backup.
    pub fn newest(&self) -> Option<&BackupFile> {
        self.backups.last()
    }

    /// The newest drill.
    pub fn last_drill(&self) -> Option<&DrillRecord> {
        self.drills.last()
    }

    /// The newest drill that succeeded.
    pub fn last_good_drill(&self) -> Option<&DrillRecord> {
        self.drills.iter().rev().find(|d| d.success)
    }
}

fn backup_file(c: &DumpFile) -> BackupFile {
    let secs = c.when.div_euclid(1_000_000_000);
    let nanos = c.when.rem_euclid(1_000_000_000);
    BackupFile {
        path: c.path.clone(),
        name: c
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| c.path.display().to_string()),
        when: i64::try_from(secs)
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, nanos as u32))
            .unwrap_or_default(),
        bytes: size_of(&c.path).unwrap_or(0),
    }
}

/// A file's size, or a dump directory's files' together.
fn size_of(path: &Path) -> Result<u64> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let meta = entry?.metadata()?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}
