//! What to restore, and from which backup: the texts that pass the filters
//! in one backup, or, given a folder of backups, for each text the newest
//! backup that has it. A text that is still live but differs from the
//! backups' and has several distinct versions there is not chosen for the
//! admin: the versions are listed and `--from BACKUP` chooses. A text that
//! is live exactly as the backup has it is left out (nothing to do).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use rayon::prelude::*;

use super::at::AtSource;
use super::live::{Live, LiveRow, by_key};
use super::script::Tables;
use super::{Settings, utc_micros, warn};
use crate::dump::{self, ReadOptions};
use crate::filter::Filter;
use crate::format::TableName;
use crate::input::Source;
use crate::nightlies;
use crate::quote::comment_safe;
use crate::remote::Location;
use crate::signals::Caught;
use crate::texts::{Record, Task, TaskText};

/// How the restore program matches a text to a live one: lower-case
/// username, phase, lower-case task name.
pub type Key = (String, i64, String);

/// One text to restore, with the backup it comes from.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub backup: PathBuf,
    pub text: TaskText,
    pub username: String,
    pub task: Task,
}

impl Chosen {
    pub fn key(&self) -> Key {
        (
            self.username.to_lowercase(),
            self.task.phase,
            self.task.name.to_lowercase(),
        )
    }

    pub fn record(&self) -> Record<'_> {
        Record {
            text: &self.text,
            username: Some(&self.username),
            task: Some(&self.task),
        }
    }

    /// `alice 3-MULTI`.
    pub fn label(&self) -> String {
        format!(
            "{} {}",
            comment_safe(&self.username, 80),
            comment_safe(&self.task.label(), 40)
        )
    }

    /// Whether the live row holds exactly this text, with these times.
    pub fn same_as(&self, live: &LiveRow) -> bool {
        live.text == self.text.text
            && live.created_at.as_deref() == Some(utc_micros(&self.text.created_at).as_str())
            && live.modified_at == self.text.modified_at.as_ref().map(utc_micros)
    }
}

/// What `restore` will work on.
#[derive(Debug)]
pub struct Selection {
    /// The live texts table (the backups' texts table).
    pub table: TableName,
    pub texts: Vec<Chosen>,
    /// With `--delete-absent`: the `--id`s that the backup does not have.
    pub absent: Vec<i64>,
    /// What the texts come from, for the script's header.
    pub source: String,
    /// Texts left out because the live database has them exactly so.
    pub unchanged: Vec<String>,
}

/// One backup's texts that pass the filters.
struct BackupTexts {
    table: TableName,
    texts: Vec<Chosen>,
    /// Every text id in the backup (filtered or not).
    ids: HashSet<i64>,
}

fn read_backup(path: &Path, options: &ReadOptions, filter: &Filter) -> Result<BackupTexts> {
    let dump = dump::read(&Source::from_path(path), options)?;
    let (texts, warnings) = dump.texts()?;
    for w in warnings {
        warn(&format!("{}: {w}", path.display()));
    }
    let table = dump.texts_database()?.restore_table();
    let mut chosen = Vec::new();
    for record in texts.records() {
        // The read applied only the tests of the row alone, so that `ids`
        // below holds every text of the backup those keep (for
        // --delete-absent); whose text it is and its task are tested here.
        if !filter.matches(&record) {
            continue;
        }
        let (Some(username), Some(task)) = (record.username, record.task) else {
            bail!(
                "{}: text id {} has no student or task name in the backup; restore finds \
                 students and tasks by name",
                path.display(),
                record.text.id
            );
        };
        chosen.push(Chosen {
            backup: path.to_path_buf(),
            text: record.text.clone(),
            username: username.to_string(),
            task: task.clone(),
        });
    }
    Ok(BackupTexts {
        table,
        texts: chosen,
        ids: texts.rows.iter().map(|t| t.id).collect(),
    })
}

/// Is `path` one backup (a file, or a `pg_dump -Fd` folder)? A bucket
/// folder is given as `s3://BUCKET/PREFIX/`, with the slash (the command
/// that was given a folder's URL without one adds it, see
/// [`crate::remote::read::as_folder`]); any other `s3://` URL is one object.
pub fn is_one_backup(path: &Path) -> bool {
    if let Some(url) = path.to_str().filter(|p| Location::is_remote(p)) {
        return !url.ends_with('/');
    }
    !path.is_dir() || path.join("toc.dat").is_file()
}

/// The backups in a folder, oldest first (see [`crate::nightlies`]). Where
/// it holds backups of several databases (prefixes), only `prefix`'s.
fn backups_in(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>> {
    let mut warnings = Vec::new();
    let found = nightlies::candidates(&[dir.to_path_buf()], &mut warnings)?;
    let prefixes: BTreeSet<&str> = found.iter().filter_map(|c| c.prefix.as_deref()).collect();
    let chosen = (prefixes.len() > 1).then_some(prefix);
    let kept = nightlies::one_prefix(found, chosen, &mut warnings);
    for w in &warnings {
        warn(w);
    }
    let kept = kept?;
    if kept.is_empty() {
        bail!("no backups in {}", dir.display());
    }
    Ok(kept.into_iter().map(|c| c.path).collect())
}

/// Chooses the texts to restore as `settings` say, comparing with the live
/// texts of the students named.
pub fn select(settings: &Settings, live: &Live, interrupt: &Caught) -> Result<Selection> {
    let filter = &settings.filter;
    let options = &settings.read_options;
    let mut from = match &settings.from {
        Some(from) => Some(resolve_from(&settings.source, from)?),
        None if is_one_backup(&settings.source) => Some(settings.source.clone()),
        None => None,
    };
    // `--at`: one source, a backup or the journal.
    let mut at_source = None;
    let journal = match super::at::choose(settings)? {
        Some(AtSource::Backup(path)) => {
            from = Some(path);
            None
        }
        Some(AtSource::Journal(j)) => {
            from = Some(j.texts.first().map_or_else(
                || settings.source.join(crate::journal::JOURNAL_FILE),
                |c| c.backup.clone(),
            ));
            at_source = Some(j.source);
            Some(BackupTexts {
                table: j.table,
                texts: j.texts,
                ids: HashSet::new(),
            })
        }
        None => None,
    };
    let backups: Vec<BackupTexts> = match (journal, &from) {
        (Some(journal), _) => vec![journal],
        (None, Some(path)) => vec![read_backup(path, options, filter)?],
        (None, None) => {
            let paths = backups_in(&settings.source, &settings.prefix)?;
            let read: Vec<(PathBuf, Result<BackupTexts>)> = paths
                .into_par_iter()
                .map(|p| {
                    let r = read_backup(&p, options, filter);
                    (p, r)
                })
                .collect();
            let mut ok = Vec::new();
            for (path, r) in read {
                match r {
                    Ok(b) => ok.push(b),
                    Err(e) => warn(&format!("skipped {}: {e:#}", path.display())),
                }
            }
            if ok.is_empty() {
                bail!("no backup in {} could be read", settings.source.display());
            }
            ok
        }
    };
    interrupt.check()?;
    let table = backups.last().expect("one backup at least").table.clone();
    let tables = Tables::new(&table)?;
    let live_rows = by_key(live.rows_of_users(&tables, filter.users(), interrupt)?);

    // Per text, its versions across the backups, oldest backup first.
    let mut versions: BTreeMap<Key, Vec<&Chosen>> = BTreeMap::new();
    for b in &backups {
        for c in &b.texts {
            versions.entry(c.key()).or_default().push(c);
        }
    }
    if versions.is_empty() && settings.delete_absent.is_empty() {
        bail!(
            "no text in {} passes the filters",
            match &from {
                Some(p) => p.display().to_string(),
                None => format!("the backups in {}", settings.source.display()),
            }
        );
    }

    let mut texts = Vec::new();
    let mut unchanged = Vec::new();
    let mut ambiguous = Vec::new();
    for (key, vs) in &versions {
        let newest = *vs.last().expect("a version");
        let live_row = live_rows.get(key);
        if let Some(live_row) = live_row {
            if newest.same_as(live_row) {
                unchanged.push(format!(
                    "{}: the live text id {} is as {} has it",
                    newest.label(),
                    live_row.id,
                    file_name(&newest.backup)
                ));
                continue;
            }
            if from.is_none() {
                let distinct = distinct_versions(vs);
                if distinct.len() > 1 {
                    ambiguous.push(list_versions(newest, live_row, &distinct));
                    continue;
                }
            }
        }
        // In one backup, a student may (rarely) have two texts for a task:
        // all of them go to the program, which decides for each in turn.
        let same_backup = vs.iter().filter(|c| c.backup == newest.backup);
        texts.extend(same_backup.map(|c| (*c).clone()));
    }
    if !ambiguous.is_empty() {
        bail!(
            "{} text{} changed in the live database since the backups, and the backups hold \
             several versions: choose the backup to restore from with --from=BACKUP (and \
             --on-conflict overwrite to replace the live text):\n{}",
            ambiguous.len(),
            if ambiguous.len() == 1 { " is" } else { "s are" },
            ambiguous.join("\n")
        );
    }
    texts.sort_by_key(|a| (a.key(), a.text.id));

    let absent = match &from {
        Some(_) => settings
            .delete_absent
            .iter()
            .copied()
            .filter(|id| !backups[0].ids.contains(id))
            .collect(),
        None if settings.delete_absent.is_empty() => Vec::new(),
        None => bail!("--delete-absent goes with one backup (or --from)"),
    };
    let source = match &from {
        Some(_) if at_source.is_some() => at_source.unwrap_or_default(),
        Some(p) => p.display().to_string(),
        None => {
            let used: HashSet<&Path> = texts.iter().map(|c| c.backup.as_path()).collect();
            format!(
                "{} backup{} in {}",
                used.len(),
                crate::counts::plural(used.len()),
                settings.source.display()
            )
        }
    };
    Ok(Selection {
        table,
        texts,
        absent,
        source,
        unchanged,
    })
}

/// `--from BACKUP`: a path, or a name in the folder given (also in a
/// bucket folder, where a name that is not there fails when it is read).
fn resolve_from(source: &Path, from: &Path) -> Result<PathBuf> {
    if from.exists() {
        return Ok(from.to_path_buf());
    }
    let remote_folder = source
        .to_str()
        .is_some_and(|s| Location::is_remote(s) && s.ends_with('/'));
    if remote_folder {
        return Ok(source.join(from));
    }
    if source.is_dir() && !is_one_backup(source) {
        let inside = source.join(from);
        if inside.exists() {
            return Ok(inside);
        }
    }
    Err(anyhow!("--from {}: no such backup", from.display()))
}

/// The distinct versions of a text (text and times), each with the newest
/// backup that has it, oldest first.
fn distinct_versions<'a>(versions: &[&'a Chosen]) -> Vec<&'a Chosen> {
    let mut seen: HashMap<(&[u8], String, Option<String>), usize> = HashMap::new();
    let mut out: Vec<&Chosen> = Vec::new();
    for c in versions {
        let id = (
            c.text.text.as_slice(),
            utc_micros(&c.text.created_at),
            c.text.modified_at.as_ref().map(utc_micros),
        );
        match seen.get(&id) {
            Some(&i) => out[i] = c,
            None => {
                seen.insert(id, out.len());
                out.push(c);
            }
        }
    }
    out
}

fn list_versions(newest: &Chosen, live: &LiveRow, distinct: &[&Chosen]) -> String {
    let mut s = format!(
        "  {} (live: id {}, {} bytes, modified {}, begins \"{}\"):",
        newest.label(),
        live.id,
        live.text.len(),
        live.modified_at
            .as_deref()
            .or(live.created_at.as_deref())
            .map_or_else(|| "?".to_string(), |t| format!("{t}+00:00")),
        first_line(&String::from_utf8_lossy(&live.text))
    );
    for c in distinct {
        s.push_str(&format!(
            "\n    {}: id {}, {} bytes, modified {}, begins \"{}\"",
            crate::escape::shell_option("--from", &file_name(&c.backup)),
            c.text.id,
            c.text.text.len(),
            comment_safe(&c.text.changed_at().rfc3339, 40),
            first_line(&String::from_utf8_lossy(&c.text.text))
        ));
    }
    s
}

/// The first non-blank line of a text, cut and with anything a terminal
/// would hide shown as an escape.
pub fn first_line(text: &str) -> String {
    let line = text
        .split(['\n', '\r'])
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    comment_safe(line, 50)
}

pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
