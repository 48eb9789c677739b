//! A folder of nightly backups as the readers see it: which of its files are
//! dumps (textrescue's own files never are), when each was taken (the date
//! in its name, else its modification time; also for a name dated after now,
//! which is not trusted and is reported: see `folder_names`), and which database's series
//! each belongs to (the name before the date). `history` reads the dumps
//! this finds; so does `restore` given a folder.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result, anyhow};
use chrono::Utc;

use crate::counts::plural;
use crate::folder_names;
use crate::remote::{Location, read};

/// A dump to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpFile {
    pub path: PathBuf,
    /// Named on the command line (not found in a directory): anything wrong
    /// with it is a failure, not a file to skip.
    pub explicit: bool,
    /// Nanoseconds since 1970 (UTC): the date in the name, else the mtime.
    pub when: i128,
    /// The prefix before the date in its name (which database it is of).
    pub prefix: Option<String>,
    /// A second backup in the same second is named `...-2`, `...-3`: it is
    /// the newer one.
    pub seq: u32,
}

/// The dumps named and found in the named directories, oldest first.
/// Files that cannot be read are left out with a warning.
pub fn candidates(paths: &[PathBuf], warnings: &mut Vec<String>) -> Result<Vec<DumpFile>> {
    let mut found = Vec::new();
    let mut in_buckets = Vec::new();
    for path in paths {
        if let Some(url) = path.to_str().filter(|p| Location::is_remote(p)) {
            match read::list_folder(url)? {
                // A bucket folder: its backups, as a directory's.
                Some(listed) => in_buckets.extend(
                    listed
                        .into_iter()
                        .filter(|o| !folder_names::is_own_file(&o.name))
                        .map(|o| (PathBuf::from(o.url), false, o.modified)),
                ),
                None => in_buckets.push((path.clone(), true, 0)),
            }
            continue;
        }
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
        if meta.is_dir() && !path.join("toc.dat").is_file() {
            let entries = std::fs::read_dir(path)
                .with_context(|| format!("cannot read the directory {}", path.display()))?;
            for entry in entries {
                let entry = entry
                    .with_context(|| format!("cannot read the directory {}", path.display()))?;
                let p = entry.path();
                // The lock, partial backups, temporary outputs, indexes:
                // the tool's own files are never dumps.
                if entry
                    .file_name()
                    .to_str()
                    .is_some_and(folder_names::is_own_file)
                {
                    continue;
                }
                let Ok(m) = std::fs::metadata(&p) else {
                    warnings.push(format!("skipped {}: cannot read it", p.display()));
                    continue;
                };
                // Subdirectories count only as pg_dump -Fd dumps.
                if m.is_file() || (m.is_dir() && p.join("toc.dat").is_file()) {
                    found.push((p, false, m));
                }
            }
        } else {
            found.push((path.clone(), true, meta));
        }
    }
    let now = Utc::now();
    let mut seen = HashSet::new();
    let mut candidates = Vec::new();
    let found = found
        .into_iter()
        .map(|(path, explicit, meta)| (path, explicit, Modified::Local(meta)))
        .chain(
            in_buckets
                .into_iter()
                .map(|(path, explicit, nanos)| (path, explicit, Modified::Remote(nanos))),
        );
    for (path, explicit, meta) in found {
        let canonical = match meta {
            Modified::Local(_) => std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone()),
            Modified::Remote(_) => path.clone(),
        };
        if !seen.insert(canonical) {
            continue;
        }
        let dated = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(folder_names::dated_name);
        let modified = || match &meta {
            Modified::Local(meta) => meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as i128)
                .unwrap_or(0),
            Modified::Remote(nanos) => *nanos,
        };
        let when = match &dated {
            Some(d) if folder_names::after_now(d.when, d.timed, now) => {
                warnings.push(format!(
                    "{}: its name is dated {}, after now (a clock set wrong?): ordered by \
                     its modification time instead",
                    path.display(),
                    d.when.format("%Y-%m-%d %H:%M:%S UTC")
                ));
                modified()
            }
            Some(d) => d
                .when
                .and_utc()
                .timestamp_nanos_opt()
                .map_or_else(modified, i128::from),
            None => modified(),
        };
        let seq = dated.as_ref().map_or(0, |d| d.seq);
        let prefix = dated.map(|d| d.prefix.to_string());
        candidates.push(DumpFile {
            path,
            explicit,
            when,
            prefix,
            seq,
        });
    }
    candidates.sort_by(|a, b| (a.when, a.seq, &a.path).cmp(&(b.when, b.seq, &b.path)));
    Ok(candidates)
}

/// When a found dump was last modified: a file's metadata, or an object's
/// time as its bucket listed it.
enum Modified {
    Local(std::fs::Metadata),
    Remote(i128),
}

/// Backups of one database at a time: where the dated names have several
/// prefixes (or `--prefix` is given), only the backups with the chosen
/// prefix (by default the one with the newest backup); files without a
/// dated name are then left out too, as they cannot be told apart.
pub fn one_prefix(
    candidates: Vec<DumpFile>,
    chosen: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Vec<DumpFile>> {
    // Prefix -> (backups, newest).
    let mut prefixes: BTreeMap<&str, (usize, i128)> = BTreeMap::new();
    for c in &candidates {
        if let Some(p) = &c.prefix {
            let e = prefixes.entry(p.as_str()).or_insert((0, i128::MIN));
            e.0 += 1;
            e.1 = e.1.max(c.when);
        }
    }
    let list = || {
        prefixes
            .iter()
            .map(|(p, (n, _))| format!("{p} ({n} backup{})", plural(*n)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let prefix = match chosen {
        Some(p) if prefixes.contains_key(p) => p.to_string(),
        Some(p) => {
            return Err(anyhow!(
                "no backups named {p}YYYYMMDD...; the backups found are named {}",
                if prefixes.is_empty() {
                    "with no date".to_string()
                } else {
                    list()
                }
            ));
        }
        None if prefixes.len() < 2 => return Ok(candidates),
        None => {
            let newest = prefixes
                .iter()
                .max_by_key(|(p, (_, when))| (*when, std::cmp::Reverse(**p)))
                .map(|(p, _)| p.to_string())
                .expect("two prefixes");
            warnings.push(format!(
                "backups of {} databases, told apart by the start of their names: {}; \
                 showing {newest} (it has the newest backup); --prefix chooses another",
                prefixes.len(),
                list()
            ));
            newest
        }
    };
    let (kept, left): (Vec<DumpFile>, Vec<DumpFile>) = candidates
        .into_iter()
        .partition(|c| c.prefix.as_deref() == Some(prefix.as_str()));
    let undated = left.iter().filter(|c| c.prefix.is_none()).count();
    if undated > 0 {
        warnings.push(format!(
            "left out {undated} file{} without a date in {} name: {}",
            plural(undated),
            if undated == 1 { "its" } else { "their" },
            left.iter()
                .filter(|c| c.prefix.is_none())
                .map(|c| c.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_backup_of_the_same_second_is_the_newer() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "buggy_race_bk_20240304-020000-2.sql.gz",
            "buggy_race_bk_20240304-020000.sql.gz",
            "buggy_race_bk_20240303.sql.gz",
            ".textrescue-lock",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let mut warnings = Vec::new();
        let found = candidates(&[dir.path().to_path_buf()], &mut warnings).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|c| c.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "buggy_race_bk_20240303.sql.gz",
                "buggy_race_bk_20240304-020000.sql.gz",
                "buggy_race_bk_20240304-020000-2.sql.gz",
            ]
        );
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    /// A name dated after now (a clock set wrong, or a planted file) is not
    /// the newest backup: it is ordered by its modification time, with a warning.
    #[test]
    fn a_name_dated_after_now_is_ordered_by_its_modification_time() {
        let dir = tempfile::tempdir().unwrap();
        let set = |name: &str, secs: u64| {
            let path = dir.path().join(name);
            std::fs::write(&path, b"x").unwrap();
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(secs))
                .unwrap();
        };
        // Written 2024-03-04 00:30 and 2024-03-06 02:00 UTC, and a name of
        // 2099 written 2024-03-05 00:00.
        set("buggy_race_bk_20240304.sql.gz", 1_709_512_200);
        set("buggy_race_bk_20990101-020000.sql.gz", 1_709_596_800);
        set("buggy_race_bk_20240306-020000.sql.gz", 1_709_690_400);
        let mut warnings = Vec::new();
        let found = candidates(&[dir.path().to_path_buf()], &mut warnings).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|c| c.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "buggy_race_bk_20240304.sql.gz",
                "buggy_race_bk_20990101-020000.sql.gz",
                "buggy_race_bk_20240306-020000.sql.gz",
            ]
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("buggy_race_bk_20990101-020000.sql.gz: its name is dated 2099-01-01 02:00:00 UTC, after now"),
            "{warnings:?}"
        );
        assert_eq!(found[1].prefix.as_deref(), Some("buggy_race_bk_"));
    }
}
