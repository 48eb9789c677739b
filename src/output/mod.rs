//! Writers of what the commands print: one file per output format. They get
//! joined records and a destination; they know nothing of dump formats.
//!
//! [`Destination`] is stdout or `--output FILE`; a file is written as an
//! [`AtomicFile`], so an interrupted run never leaves half an export that
//! looks whole.

pub mod csv;
pub mod diff;
pub mod history;
pub mod inspect;
pub mod json;
pub mod server_json;
pub mod sql;
pub mod table;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use crate::atomic_file::AtomicFile;
use crate::folder_names::OUTPUT_TEMP_PREFIX;
use crate::texts::Record;

/// One text as a json ROW (docs/texts.md): exactly these keys, in this order.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct JsonRow<'a> {
    pub id: i64,
    pub username: Option<&'a str>,
    pub user_id: i64,
    pub task: String,
    pub task_id: i64,
    pub created_at: &'a str,
    pub modified_at: Option<&'a str>,
    pub text: &'a str,
}

impl<'a> JsonRow<'a> {
    /// Fails for a text that is not UTF-8 (possible only in a SQL_ASCII
    /// database): JSON cannot carry it exactly, and it is never altered.
    pub fn new(record: &Record<'a>) -> Result<JsonRow<'a>> {
        let t = record.text;
        Ok(JsonRow {
            id: t.id,
            username: record.username,
            user_id: t.user_id,
            task: record.task_label(),
            task_id: t.task_id,
            created_at: &t.created_at.rfc3339,
            modified_at: t.modified_at.as_ref().map(|m| m.rfc3339.as_str()),
            text: utf8_text(record)?,
        })
    }
}

/// The text as UTF-8, or an error naming it.
pub fn utf8_text<'a>(record: &Record<'a>) -> Result<&'a str> {
    std::str::from_utf8(&record.text.text).map_err(|e| {
        anyhow!(
            "text {} ({}, {}) is not valid UTF-8 at byte {} (a SQL_ASCII database?); \
             it cannot be written as JSON without changing it: --format csv keeps its bytes",
            record.text.id,
            crate::escape::visible(&record.username_or_id()),
            crate::escape::visible(&record.task_label()),
            e.valid_up_to()
        )
    })
}

/// Where output goes: stdout or `--output FILE`, through one buffer.
pub struct Destination {
    writer: BufWriter<Target>,
}

enum Target {
    Stdout(io::StdoutLock<'static>),
    /// A device, FIFO or socket, written in place.
    InPlace(File),
    /// A regular file (or a new name), written whole or not at all.
    Atomic {
        file: AtomicFile,
        path: PathBuf,
    },
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::Stdout(w) => w.write(buf),
            Target::InPlace(f) => f.write(buf),
            Target::Atomic { file, .. } => file.file().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::Stdout(w) => w.flush(),
            Target::InPlace(f) => f.flush(),
            Target::Atomic { file, .. } => file.file().flush(),
        }
    }
}

impl Destination {
    /// Stdout, or for a regular file (or a new name) an [`AtomicFile`] in
    /// the folder of `path` (mode 0666 less the umask, as any new file)
    /// that [`finish`] gives `path`'s name, replacing what is there.
    ///
    /// [`finish`]: Destination::finish
    pub fn open(path: Option<&Path>) -> Result<Destination> {
        let target = match path {
            None => Target::Stdout(io::stdout().lock()),
            Some(path) if !is_regular_or_missing(path) => {
                // A device, FIFO or socket (`-o /dev/null`, `-o /dev/stdout`,
                // a named pipe) is written in place: renaming a file over it
                // would replace it.
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                Target::InPlace(file)
            }
            Some(path) => {
                path.file_name()
                    .with_context(|| format!("{} is not a file name", path.display()))?;
                let folder = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                let file = AtomicFile::create_in(folder, OUTPUT_TEMP_PREFIX, "", 0o666)
                    .map_err(|e| folder_error(path, folder, e))?;
                Target::Atomic {
                    file,
                    path: path.to_path_buf(),
                }
            }
        };
        Ok(Destination {
            writer: BufWriter::with_capacity(64 * 1024, target),
        })
    }

    pub fn writer(&mut self) -> &mut dyn Write {
        &mut self.writer
    }

    /// Flushes and, for a file, syncs it and gives it its name.
    pub fn finish(mut self) -> Result<()> {
        self.writer.flush().context("cannot write the output")?;
        let target = self
            .writer
            .into_inner()
            .map_err(|e| e.into_error())
            .context("cannot write the output")?;
        if let Target::Atomic { file, path } = target {
            file.persist_replacing(&path)?;
        }
        Ok(())
    }
}

/// Why the temporary file for `target` could not be made in `folder`,
/// said of the target and its folder (the temporary name means nothing to
/// the user).
fn folder_error(target: &Path, folder: &Path, e: io::Error) -> anyhow::Error {
    let why = match e.kind() {
        io::ErrorKind::NotFound => format!("the folder {} does not exist", folder.display()),
        io::ErrorKind::PermissionDenied => {
            format!(
                "no permission to create files in the folder {}",
                folder.display()
            )
        }
        _ => format!(
            "cannot create a file in the folder {}: {e}",
            folder.display()
        ),
    };
    anyhow!("cannot write {}: {why}", target.display())
}

/// True for a path that is a regular file, or nothing yet.
fn is_regular_or_missing(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(meta) => meta.is_file(),
        Err(_) => true,
    }
}

/// An error when `--output` names one of the inputs (the same file by
/// device and inode, through links and hard links too). `inputs` are dump
/// arguments (`-` is standard input); a directory counts with the files in
/// it (a pg_dump -Fd dump, or a backups folder). Looks only at metadata,
/// so it runs before anything is read.
pub fn check_not_an_input<P: AsRef<Path>>(output: Option<&Path>, inputs: &[P]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Some(output) = output else {
        return Ok(());
    };
    let Ok(out) = std::fs::metadata(output) else {
        return Ok(());
    };
    let same =
        |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.dev() == out.dev() && m.ino() == out.ino());
    for input in inputs {
        let input = input.as_ref();
        let path = if input.as_os_str() == "-" {
            Path::new("/dev/stdin")
        } else {
            input
        };
        let mut hit = same(path);
        if !hit && path.is_dir() {
            hit = std::fs::read_dir(path)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| same(&e.path()));
        }
        if hit {
            let what = if input.as_os_str() == "-" {
                "standard input".to_string()
            } else {
                input.display().to_string()
            };
            anyhow::bail!(
                "--output {} is an input ({what}): it would be overwritten; choose another file",
                output.display()
            );
        }
    }
    Ok(())
}
