//! Reading a written backup back with textrescue's own reader before it
//! gets its name: it must be a complete dump of the expected format, and
//! what it holds of texts is reported.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{Context, Result, anyhow, bail};

use super::conn::DumpFormat;
use crate::counts::plural;
use crate::dump::{self, ReadOptions};
use crate::input::{Format, Source};
use crate::signals::Interrupts;

/// [`verify`] in a thread, so that a signal ends the run at once rather
/// than after reading back a large dump (the thread then ends with the
/// process, or finishes with nobody waiting for it).
pub fn verify_unless_interrupted(
    path: &Path,
    format: DumpFormat,
    interrupts: &Interrupts,
) -> Result<String> {
    let (tx, rx) = mpsc::channel();
    let interrupted = tx.clone();
    let path: PathBuf = path.to_path_buf();
    std::thread::Builder::new()
        .name("verify".into())
        .spawn(move || {
            let _ = tx.send(Some(verify(&path, format)));
        })
        .context("cannot start reading the backup back")?;
    let _on_signal = interrupts.on_signal(move || {
        let _ = interrupted.send(None);
    });
    match rx.recv() {
        Ok(Some(result)) => result,
        Ok(None) => {
            interrupts.check()?;
            bail!("reading the backup back was interrupted; no backup written")
        }
        Err(mpsc::RecvError) => {
            bail!("reading the backup back failed unexpectedly; no backup written")
        }
    }
}

/// Reads the written file back; returns how to report its texts.
fn verify(path: &Path, format: DumpFormat) -> Result<String> {
    let options = ReadOptions {
        progress: false,
        // A plain backup is an indexed `.sql.gz`, read as every command
        // reads it (src/input/indexed.rs): every member inflated and
        // checked, every byte read as in the stream, the index believed for
        // nothing but where the members are. So a backup that reads back
        // here reads the same for `texts`, `history` and `restore`
        // (tests/indexed_differential.rs); counting every table's rows too,
        // it also says of each what `inspect` says.
        count_rows: format == DumpFormat::Plain,
        ..ReadOptions::default()
    };
    let shown = path.display().to_string();
    let dump = dump::read(&Source::Path(path.to_path_buf()), &options).map_err(|e| {
        anyhow!(
            "pg_dump's output does not read back as a complete dump, so no backup was written: {}",
            format!("{e:#}")
                .replace(&shown, "the dump")
                .replace('\n', " ")
        )
    })?;
    if !dump.summary.ended {
        bail!("pg_dump's output is incomplete (no end-of-dump marker); no backup written");
    }
    if let Some(first) = dump.summary.unread.first() {
        // pg_dump wrote it, so textrescue's reader is what falls short:
        // "verified" must mean that every command reads every row.
        bail!(
            "pg_dump's output holds {} statement(s) of table data textrescue cannot read              (the first: {}); no backup written",
            dump.summary.unread.len(),
            format!("{first}").replace(&shown, "the dump")
        );
    }
    let expected = match format {
        DumpFormat::Plain => Format::Plain,
        DumpFormat::Custom => Format::Custom,
    };
    if dump.summary.format != expected {
        bail!(
            "pg_dump wrote a {} dump, not {}; no backup written",
            dump.summary.format.name(),
            expected.name()
        );
    }
    let with_texts = dump.databases.iter().find(|d| d.texts_table.is_some());
    Ok(match with_texts {
        Some(db) => {
            let n = db.texts.rows.len();
            format!(
                "{n} text{} ({})",
                plural(n),
                db.texts_table
                    .as_ref()
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            )
        }
        None => "no texts table".to_string(),
    })
}
