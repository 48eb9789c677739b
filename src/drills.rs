//! The record of restore drills kept in a backups folder
//! ([`DRILLS_FILE`], JSON lines, newest last): `drill` appends one
//! [`DrillRecord`] per run, `check` and the metrics read the newest. The file
//! is rewritten whole through a temporary file (never seen half-written) and
//! keeps the last [`KEEP`] drills.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::atomic_file::AtomicFile;
pub use crate::folder_names::DRILLS_FILE;

/// How many drills the file keeps (a weekly drill: about two years).
pub const KEEP: usize = 100;

/// One drill: when, of which backup, how long, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillRecord {
    /// When the drill began and ended (UTC).
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The backup restored: its file name in the folder (or the path or URL
    /// given with `--from`).
    pub backup: String,
    /// Its size in bytes.
    pub backup_bytes: u64,
    /// How long loading it into the scratch database took, in seconds: the
    /// recovery time a whole restore would take today. `None` when the
    /// drill failed before the load finished.
    pub restore_seconds: Option<f64>,
    /// Whether every check passed.
    pub success: bool,
    /// What failed, one line each (empty on success).
    pub failures: Vec<String>,
}

/// The drills recorded in `dir`, oldest first (none without the file).
/// A line that does not parse is skipped: a damaged record never hides the
/// others.
pub fn read(dir: &Path) -> Result<Vec<DrillRecord>> {
    let path = dir.join(DRILLS_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

/// The newest drill recorded in `dir`.
pub fn last(dir: &Path) -> Result<Option<DrillRecord>> {
    Ok(read(dir)?.pop())
}

/// Adds `record` to `dir`'s drills, keeping the last [`KEEP`].
pub fn append(dir: &Path, record: &DrillRecord) -> Result<()> {
    let mut all = read(dir)?;
    all.push(record.clone());
    let start = all.len().saturating_sub(KEEP);
    let file = AtomicFile::create_in(dir, crate::folder_names::OWN_PREFIX, ".tmp", 0o600)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    {
        let mut out = io::BufWriter::new(file.file());
        for drill in &all[start..] {
            serde_json::to_writer(&mut out, drill)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    file.persist_replacing(&dir.join(DRILLS_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill(n: i64, success: bool) -> DrillRecord {
        let at = DateTime::from_timestamp(1_700_000_000 + n, 0).unwrap();
        DrillRecord {
            started_at: at,
            finished_at: at,
            backup: format!("buggy_race_bk_{n}.sql.gz"),
            backup_bytes: 10,
            restore_seconds: success.then_some(1.5),
            success,
            failures: if success {
                vec![]
            } else {
                vec!["table users: 3 rows, the backup has 4".into()]
            },
        }
    }

    #[test]
    fn keeps_the_newest_last_and_at_most_keep() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(last(dir.path()).unwrap(), None);
        for n in 0..(KEEP as i64 + 5) {
            append(dir.path(), &drill(n, n % 2 == 0)).unwrap();
        }
        let all = read(dir.path()).unwrap();
        assert_eq!(all.len(), KEEP);
        assert_eq!(all[0], drill(5, false));
        assert_eq!(
            last(dir.path()).unwrap(),
            Some(drill(KEEP as i64 + 4, true))
        );
    }

    #[test]
    fn a_damaged_line_hides_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), &drill(1, true)).unwrap();
        let path = dir.path().join(DRILLS_FILE);
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str("{not json\n");
        fs::write(&path, text).unwrap();
        append(dir.path(), &drill(2, false)).unwrap();
        let all = read(dir.path()).unwrap();
        assert_eq!(all, vec![drill(1, true), drill(2, false)]);
    }
}
