//! The plan: the restore run in check mode against the live database
//! (ROLLBACK at the end), its report read back, and shown per text as
//! restore / skip / overwrite / delete with ids, lengths and, for an
//! overwrite, how the live text differs (a diff stat). The same script,
//! holding each text to what the plan saw, is what [`super::apply`] runs.

use std::fmt::Write as _;

use anyhow::{Context, Result, anyhow};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use similar::{ChangeTag, TextDiff};

use super::live::{Live, unhex};
use super::script::{
    self, Action, Deletion, OnConflict, Planned, REPORT_MARKER, RestoreExtras, RestoreScript,
    ScriptSettings,
};
use super::select::{Selection, file_name, first_line};
use crate::quote::comment_safe;
use crate::signals::Caught;
use crate::texts::Record;

/// What the program did (or, in check mode, would do), as its report says.
#[derive(Debug, Clone)]
pub struct Report {
    /// One per text of the selection, in its order.
    pub texts: Vec<TextOutcome>,
    /// One per `--delete-absent` id, in order.
    pub deletions: Vec<DeletionOutcome>,
}

#[derive(Debug, Clone)]
pub struct TextOutcome {
    pub action: Action,
    /// The live text that was in the way.
    pub live_id: Option<i64>,
    pub live_text: Option<Vec<u8>>,
    /// The row that holds the backup's text now (restore, overwrite).
    pub row_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct DeletionOutcome {
    pub id: i64,
    pub action: Action,
    pub username: Option<String>,
    pub task: Option<String>,
    pub live_text: Option<Vec<u8>>,
}

#[derive(Deserialize)]
struct ReportJson {
    texts: Vec<TextJson>,
    deletions: Vec<DeletionJson>,
}

#[derive(Deserialize)]
struct TextJson {
    action: String,
    live_id: Option<i64>,
    row_id: Option<i64>,
    live_text: Option<String>,
}

#[derive(Deserialize)]
struct DeletionJson {
    id: i64,
    action: String,
    username: Option<String>,
    task: Option<String>,
    live_text: Option<String>,
}

fn action(name: &str) -> Result<Action> {
    Action::from_name(name).ok_or_else(|| anyhow!("the restore program reported {name:?}"))
}

impl Report {
    pub fn parse(json: &str) -> Result<Report> {
        let r: ReportJson =
            serde_json::from_str(json).context("the restore program's report is not JSON")?;
        Ok(Report {
            texts: r
                .texts
                .into_iter()
                .map(|t| {
                    Ok(TextOutcome {
                        action: action(&t.action)?,
                        live_id: t.live_id,
                        live_text: t.live_text.as_deref().map(unhex).transpose()?,
                        row_id: t.row_id,
                    })
                })
                .collect::<Result<_>>()?,
            deletions: r
                .deletions
                .into_iter()
                .map(|d| {
                    Ok(DeletionOutcome {
                        id: d.id,
                        action: action(&d.action)?,
                        username: d.username,
                        task: d.task,
                        live_text: d.live_text.as_deref().map(unhex).transpose()?,
                    })
                })
                .collect::<Result<_>>()?,
        })
    }

    /// Nothing would be written: every text skipped, nothing to delete.
    pub fn changes_nothing(&self) -> bool {
        self.texts.iter().all(|t| t.action == Action::Skip)
            && self.deletions.iter().all(|d| d.action == Action::Gone)
    }

    pub fn count(&self, action: Action) -> usize {
        self.texts.iter().filter(|t| t.action == action).count()
            + self.deletions.iter().filter(|d| d.action == action).count()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::hex::hex(&Sha256::digest(bytes))
}

/// The restore script for `selection`: in check mode (the plan), or to
/// apply, held to what `plan` saw.
pub fn script(
    selection: &Selection,
    on_conflict: OnConflict,
    usernames: &[String],
    plan: Option<&Report>,
) -> Result<Vec<u8>> {
    let records: Vec<Record<'_>> = selection.texts.iter().map(|c| c.record()).collect();
    let planned: Option<Vec<Planned>> = plan.map(|p| {
        p.texts
            .iter()
            .map(|t| Planned {
                action: t.action,
                live_sha256: t.live_text.as_deref().map(sha256_hex),
            })
            .collect()
    });
    let deletions: Vec<Deletion> = selection
        .absent
        .iter()
        .enumerate()
        .map(|(i, &id)| Deletion {
            id,
            usernames: usernames.to_vec(),
            planned: plan.map(|p| Planned {
                action: p.deletions[i].action,
                live_sha256: p.deletions[i].live_text.as_deref().map(sha256_hex),
            }),
        })
        .collect();
    let script = RestoreScript {
        source: &selection.source,
        table: &selection.table,
        settings: ScriptSettings {
            on_conflict,
            check: plan.is_none(),
        },
    };
    let mut out = Vec::new();
    script::write_for_restore(
        &records,
        &script,
        &RestoreExtras {
            planned: planned.as_deref(),
            deletions: &deletions,
        },
        &mut out,
    )?;
    Ok(out)
}

/// Runs the restore in check mode against the live database: its report.
pub fn check(
    live: &Live,
    selection: &Selection,
    on_conflict: OnConflict,
    usernames: &[String],
    interrupt: &Caught,
) -> Result<Report> {
    let mut sql = script(selection, on_conflict, usernames, None)?;
    sql.extend_from_slice(b"\n-- The plan only: undo everything above.\nROLLBACK;\n");
    let json = live.query(&sql, REPORT_MARKER, interrupt)?;
    let report = Report::parse(&json)?;
    if report.texts.len() != selection.texts.len()
        || report.deletions.len() != selection.absent.len()
    {
        return Err(anyhow!(
            "the restore program's report does not match the texts sent"
        ));
    }
    Ok(report)
}

/// `+3 -5 lines`: lines the backup's text adds to and removes from the live one.
fn diff_stat(live: &[u8], backup: &[u8]) -> String {
    let live = String::from_utf8_lossy(live);
    let backup = String::from_utf8_lossy(backup);
    let diff = TextDiff::from_lines(live.as_ref(), backup.as_ref());
    let (mut added, mut removed) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
    }
    format!("+{added} -{removed} lines")
}

/// The plan (or what was done), one line per text.
pub fn render(selection: &Selection, report: &Report, done: bool) -> String {
    let mut s = String::new();
    for (c, t) in selection.texts.iter().zip(&report.texts) {
        let what = match (t.action, done) {
            (Action::Restore, false) => "restore",
            (Action::Restore, true) => "restored",
            (Action::Overwrite, false) => "overwrite",
            (Action::Overwrite, true) => "overwrote",
            (Action::Skip, false) => "skip",
            (Action::Skip, true) => "skipped",
            (Action::Delete | Action::Gone, _) => "?",
        };
        let len = c.text.text.len();
        let detail = match t.action {
            Action::Restore => format!(
                "backup id {} -> live id {}, {len} bytes",
                c.text.id,
                t.row_id.map_or("?".into(), |i| i.to_string())
            ),
            Action::Overwrite => {
                let live = t.live_text.as_deref().unwrap_or_default();
                format!(
                    "live id {}: {} bytes -> {len} bytes, {}",
                    t.live_id.unwrap_or_default(),
                    live.len(),
                    diff_stat(live, &c.text.text)
                )
            }
            _ => format!(
                "live id {} kept ({} bytes; the backup's: {len} bytes, id {}){}",
                t.live_id.unwrap_or_default(),
                t.live_text.as_ref().map_or(0, Vec::len),
                c.text.id,
                if done {
                    ""
                } else {
                    "; --on-conflict overwrite replaces it"
                }
            ),
        };
        let _ = writeln!(
            s,
            "  {what:<10} {:<24} {detail}  [{}]",
            c.label(),
            file_name(&c.backup)
        );
    }
    for d in &report.deletions {
        let _ = match d.action {
            Action::Delete => writeln!(
                s,
                "  {:<10} {:<24} live id {}, {} bytes, begins \"{}\" (not in the backup)",
                if done { "deleted" } else { "delete" },
                format!(
                    "{} {}",
                    comment_safe(d.username.as_deref().unwrap_or("?"), 80),
                    comment_safe(d.task.as_deref().unwrap_or("?"), 40)
                ),
                d.id,
                d.live_text.as_ref().map_or(0, Vec::len),
                first_line(&String::from_utf8_lossy(
                    d.live_text.as_deref().unwrap_or_default()
                ))
            ),
            _ => writeln!(s, "  {:<10} live id {} is not there", "gone", d.id),
        };
    }
    s
}
