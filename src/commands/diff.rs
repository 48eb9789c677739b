//! `textrescue diff OLD NEW`: texts added, removed and changed between two
//! dumps. Texts are matched on (user_id, task_id), as the server keeps one
//! text per student and task: a text deleted and written again is `changed`
//! (with both ids), and a renamed student or task is still matched.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;

use super::{DumpArgs, read_dump, warn};
use crate::error::UsageError;
use crate::filter::{Filter, FilterArgs};
use crate::output::diff::{Colour, Comparison};
use crate::output::sql::{self, OnConflict};
use crate::output::{self, Destination};
use crate::texts::{Record, TaskText, Texts};

#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Texts are matched on (student id, task id): a text deleted and written again \
is `changed`, with both ids; a renamed student or task is matched and shown with both names. \
A filter keeps a text when its OLD or its NEW version passes it.

Exit status: 0 whether or not the dumps differ, 1 failure (e.g. a damaged dump), 2 usage error.

Examples:
  textrescue diff buggy_race_bk_20240304.sql.gz buggy_race_bk_20240305.sql.gz
  textrescue diff old.sql.gz new.sql.gz --user alice --text
  textrescue diff old.sql.gz new.sql.gz --format json -o changes.json
  textrescue diff old.sql.gz new.sql.gz --format sql > restore-removed.sql
  textrescue diff old.sql.gz new.sql.gz --format sql \\
      --on-conflict overwrite > restore-all.sql"
)]
pub struct Args {
    /// The older dump: a file, a pg_dump -Fd directory, or - for stdin.
    pub old: String,
    /// The newer dump.
    pub new: String,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// `sql` restores the removed texts (with --on-conflict overwrite, also
    /// the changed ones as they were in OLD).
    #[arg(short, long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,
    /// With --format table: show a unified diff of each changed text
    /// (coloured when stdout is a terminal).
    #[arg(long)]
    pub text: bool,
    /// With --format csv: put a ' before every username, task or text that
    /// starts with =, +, -, @, a tab or a carriage return, so that a
    /// spreadsheet shows it instead of running it as a formula. This ALTERS
    /// the texts: for opening in a spreadsheet only, never for restoring.
    #[arg(long)]
    pub csv_safe: bool,
    /// Write to FILE instead of stdout (it appears only when complete).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub sql: sql::SqlArgs,
    #[command(flatten)]
    pub dump_args: DumpArgs,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFormat {
    Table,
    Json,
    /// A `status` column (added, removed, changed-old, changed-new), then the
    /// columns of `texts --format csv`.
    Csv,
    /// Restore SQL for psql: the removed texts (and changed ones with
    /// --on-conflict overwrite).
    Sql,
}

pub fn run(args: &Args) -> Result<()> {
    if args.old == "-" && args.new == "-" {
        return Err(UsageError("OLD and NEW cannot both be standard input (-)".into()).into());
    }
    if args.text && args.format != DiffFormat::Table {
        return Err(UsageError("--text goes with --format table".into()).into());
    }
    if args.csv_safe && args.format != DiffFormat::Csv {
        return Err(UsageError("--csv-safe goes with --format csv".into()).into());
    }
    if args.sql.check && args.format != DiffFormat::Sql {
        return Err(UsageError("--check goes with --format sql".into()).into());
    }
    let filter = Filter::from_args(&args.filter)?;
    output::check_not_an_input(args.output.as_deref(), &[&args.old, &args.new])?;
    // No prefilter while reading: a text is kept when either version passes
    // the filters, so a version that fails them is still needed.
    let options = args.dump_args.options();
    let quiet = crate::dump::ReadOptions {
        progress: false,
        ..options.clone()
    };
    // Both dumps at once, one per core; one progress bar (NEW's) at most.
    let (old_dump, new_dump) = rayon::join(
        || read_dump(&args.old, &quiet),
        || read_dump(&args.new, &options),
    );
    let (old_dump, new_dump) = (old_dump?, new_dump?);
    let database = args.dump_args.database.as_deref();
    let (old_texts, old_warnings) = old_dump.texts(database)?;
    let (new_texts, new_warnings) = new_dump.texts(database)?;
    for w in old_warnings.iter().chain(&new_warnings) {
        warn(w);
    }
    // A name is unknown when neither dump has it.
    let unknown = filter.unknown_names(
        old_texts
            .usernames
            .values()
            .chain(new_texts.usernames.values())
            .map(String::as_str),
        old_texts.tasks.values().chain(new_texts.tasks.values()),
    );
    for w in &unknown {
        warn(&format!("neither {} nor {} has {w}", args.old, args.new));
    }
    let comparison = compare(old_texts, new_texts, &filter);

    let mut destination = Destination::open(args.output.as_deref())?;
    let out = destination.writer();
    match args.format {
        DiffFormat::Table => {
            super::warn_not_utf8(
                comparison
                    .removed
                    .iter()
                    .chain(comparison.changed.iter().flat_map(|(o, n)| [o, n]))
                    .chain(&comparison.added),
            );
            let colour = if args.output.is_none() && std::io::stdout().is_terminal() {
                Colour::Ansi
            } else {
                Colour::Never
            };
            output::diff::write_table(
                &comparison,
                &args.old,
                &args.new,
                args.text.then_some(colour),
                out,
            )?
        }
        DiffFormat::Json => output::diff::write_json(&comparison, &args.old, &args.new, out)?,
        DiffFormat::Csv => output::diff::write_csv(&comparison, out, args.csv_safe)?,
        DiffFormat::Sql => {
            let records = restore_records(&comparison, new_texts, args.sql.on_conflict);
            if args.sql.on_conflict != OnConflict::Overwrite && !comparison.changed.is_empty() {
                warn(&format!(
                    "the script restores the {} removed text{}; the {} changed one{} stay as they are \
                     (--on-conflict overwrite puts them back as they were in {})",
                    comparison.removed.len(),
                    plural(comparison.removed.len()),
                    comparison.changed.len(),
                    plural(comparison.changed.len()),
                    args.old
                ));
            }
            let db = old_dump.texts_database(database)?;
            let table = db.restore_table();
            let script = sql::RestoreScript {
                source: &args.old,
                table: &table,
                args: &args.sql,
            };
            output::sql::write(&records, &script, out)?
        }
    }
    destination.finish()?;
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The texts `--format sql` restores: OLD's removed texts, and with
/// `overwrite` OLD's version of the changed ones. The live database is
/// searched by name, and it is closer to NEW than to OLD: where NEW still
/// has the student or task (perhaps renamed), NEW's name is used.
fn restore_records<'a>(
    c: &Comparison<'a>,
    new: &'a Texts,
    on_conflict: OnConflict,
) -> Vec<Record<'a>> {
    let renamed = |r: &Record<'a>| Record {
        text: r.text,
        username: new
            .usernames
            .get(&r.text.user_id)
            .map(String::as_str)
            .or(r.username),
        task: new.tasks.get(&r.text.task_id).or(r.task),
    };
    let mut records: Vec<Record<'a>> = c.removed.iter().map(renamed).collect();
    if on_conflict == OnConflict::Overwrite {
        records.extend(c.changed.iter().map(|(o, _)| renamed(o)));
    }
    records.sort_by_key(|r| r.text.id);
    records
}

type Key = (i64, i64);

fn by_key(texts: &Texts) -> BTreeMap<Key, Vec<&TaskText>> {
    let mut map: BTreeMap<Key, Vec<&TaskText>> = BTreeMap::new();
    for t in &texts.rows {
        map.entry((t.user_id, t.task_id)).or_default().push(t);
    }
    for list in map.values_mut() {
        list.sort_by_key(|t| t.id);
    }
    map
}

/// Same text, same id, same instants.
fn identical(a: &TaskText, b: &TaskText) -> bool {
    a.id == b.id
        && a.text == b.text
        && a.created_at.instant == b.created_at.instant
        && a.modified_at.as_ref().map(|m| m.instant) == b.modified_at.as_ref().map(|m| m.instant)
}

/// Matches OLD's and NEW's texts on (user_id, task_id). Where a dump holds
/// several texts for one student and task (the table does not forbid it),
/// texts with the same id are paired first, then the rest in id order.
pub fn compare<'a>(old: &'a Texts, new: &'a Texts, filter: &Filter) -> Comparison<'a> {
    let old_map = by_key(old);
    let new_map = by_key(new);
    let keys: BTreeSet<Key> = old_map.keys().chain(new_map.keys()).copied().collect();
    let mut c = Comparison::default();
    let mut renamed_users: BTreeMap<i64, (String, String)> = BTreeMap::new();
    let mut renamed_tasks: BTreeMap<i64, (String, String)> = BTreeMap::new();
    let empty = Vec::new();
    for key in keys {
        let mut olds: Vec<&TaskText> = old_map.get(&key).unwrap_or(&empty).clone();
        let mut news: Vec<&TaskText> = new_map.get(&key).unwrap_or(&empty).clone();
        let mut pairs = Vec::new();
        olds.retain(|o| match news.iter().position(|n| n.id == o.id) {
            Some(i) => {
                pairs.push((*o, news.remove(i)));
                false
            }
            None => true,
        });
        let rest = olds.len().min(news.len());
        pairs.extend(olds.drain(..rest).zip(news.drain(..rest)));
        for (o, n) in pairs {
            let (o, n) = (old.record(o), new.record(n));
            if !filter.matches(&o) && !filter.matches(&n) {
                continue;
            }
            if o.username != n.username {
                renamed_users
                    .entry(o.text.user_id)
                    .or_insert_with(|| (o.username_or_id(), n.username_or_id()));
            }
            if o.task.map(|t| t.label()) != n.task.map(|t| t.label()) {
                renamed_tasks
                    .entry(o.text.task_id)
                    .or_insert_with(|| (o.task_label(), n.task_label()));
            }
            if identical(o.text, n.text) {
                c.unchanged += 1;
            } else {
                c.changed.push((o, n));
            }
        }
        c.removed.extend(
            olds.into_iter()
                .map(|t| old.record(t))
                .filter(|r| filter.matches(r)),
        );
        c.added.extend(
            news.into_iter()
                .map(|t| new.record(t))
                .filter(|r| filter.matches(r)),
        );
    }
    c.added.sort_by_key(|r| r.text.id);
    c.removed.sort_by_key(|r| r.text.id);
    c.changed.sort_by_key(|(o, _)| o.text.id);
    c.renamed = renamed_users
        .into_iter()
        .map(|(id, (o, n))| (format!("student #{id}"), o, n))
        .chain(
            renamed_tasks
                .into_iter()
                .map(|(id, (o, n))| (format!("task #{id}"), o, n)),
        )
        .collect();
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::texts::{Task, Timestamp};

    fn text(id: i64, user_id: i64, task_id: i64, body: &str, modified: Option<&str>) -> TaskText {
        TaskText {
            id,
            user_id,
            task_id,
            created_at: Timestamp::parse_pg("2024-03-01 10:00:00+00").unwrap(),
            modified_at: modified.map(|m| Timestamp::parse_pg(m).unwrap()),
            text: body.as_bytes().to_vec(),
        }
    }

    fn texts(rows: Vec<TaskText>, user: &str, task: &str) -> Texts {
        Texts {
            rows,
            usernames: [(5, user.to_string())].into(),
            tasks: [(
                6,
                Task {
                    phase: 4,
                    name: task.into(),
                    is_enabled: true,
                },
            )]
            .into(),
            students: 1,
        }
    }

    #[test]
    fn pairs_on_student_and_task_and_restores_under_new_names() {
        let old = texts(
            vec![
                text(1, 5, 6, "a", None),
                text(2, 5, 7, "b", None),
                text(3, 5, 8, "c", None),
            ],
            "dmitri",
            "cost",
        );
        let new = texts(
            vec![
                // Only modified_at differs: changed.
                text(1, 5, 6, "a", Some("2024-03-02 10:00:00+00")),
                // Same text, same id, same instant in another offset: unchanged.
                TaskText {
                    created_at: Timestamp::parse_pg("2024-03-01 15:30:00+05:30").unwrap(),
                    ..text(2, 5, 7, "b", None)
                },
            ],
            "dmitry",
            "costs",
        );
        let c = compare(&old, &new, &Filter::default());
        assert_eq!(c.changed.len(), 1);
        assert_eq!(c.unchanged, 1);
        assert_eq!(c.removed.len(), 1);
        assert_eq!(
            crate::output::diff::what_changed(&c.changed[0].0, &c.changed[0].1),
            "modified_at"
        );
        assert!(
            c.renamed
                .iter()
                .any(|(_, o, n)| o == "dmitri" && n == "dmitry")
        );
        assert!(
            c.renamed
                .iter()
                .any(|(_, o, n)| o == "4-COST" && n == "4-COSTS")
        );

        let skip = restore_records(&c, &new, OnConflict::Skip);
        assert_eq!(skip.len(), 1);
        assert_eq!(skip[0].text.id, 3);
        // The live database knows the student by NEW's name.
        assert_eq!(skip[0].username, Some("dmitry"));
        let all = restore_records(&c, &new, OnConflict::Overwrite);
        assert_eq!(all.iter().map(|r| r.text.id).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(all[0].task.unwrap().label(), "4-COSTS");
        assert_eq!(all[0].text.modified_at, None, "OLD's version");
    }
}
