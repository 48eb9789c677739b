//! A dump read for its texts: opens any source, runs the reader of its
//! format into a [`RaceSink`] (the race server's tables, `race`) built on a
//! [`SummarySink`] (what the dump is and holds, `summary`), and picks the
//! database that holds the texts. This is the one entry point the commands
//! use: `dump::read(source, &options)`.
//!
//! A statement of table data the reader could not follow (see
//! [`format::Meta::Unread`]) fails the read when it may hold rows of the
//! texts, users or tasks tables, as damage does (`--salvage` shows the
//! rest); one of another table only makes the dump incomplete, with a
//! warning from [`Dump::texts`].

pub mod race;
pub mod summary;
mod undecided;

use anyhow::{Context, Result, anyhow, bail};

use self::race::RaceSink;
pub use self::race::{DEFAULT_TEXTS_TABLES, Database};
pub use self::summary::{DatabaseSummary, Summary, SummarySink, TableStat};
use crate::filter::Filter;
use crate::format;
use crate::input::{self, Members, Source};
use crate::progress::Progress;
use crate::texts::Texts;

/// How to read a dump.
#[derive(Clone, Default)]
pub struct ReadOptions {
    /// `--table`: the texts table's name (`name` or `schema.name`).
    pub table: Option<String>,
    /// `--database`: which database of a pg_dumpall script.
    pub database: Option<String>,
    /// Count the texts instead of keeping them (`inspect`): the texts
    /// table's rows are read for [`Database::texts_count`] and
    /// [`Database::newest_text_change`] only, and `texts.rows` stays empty,
    /// so that memory does not grow with the table.
    pub count_texts_only: bool,
    /// Count the rows of every table (`inspect`); otherwise a custom archive
    /// written to a file is read by seeking straight to the tables needed.
    pub count_rows: bool,
    /// `--salvage`: keep what was read before damage instead of failing.
    pub salvage: bool,
    /// Show a progress bar when stderr is a terminal.
    pub progress: bool,
    /// Count the read on this bar over several dumps instead
    /// ([`Progress::for_dumps`]).
    pub shared_progress: Option<Progress>,
    /// Only the texts that pass this filter are kept: set by
    /// [`ReadOptions::keep_only`], which says how; `None`: every text.
    pub keep: Option<Filter>,
}

impl ReadOptions {
    /// Keep only the texts that pass `filter`: a row that fails its tests
    /// of the row alone (id, user id, dates) is dropped as it is read;
    /// with `--user`, the other students' texts are dropped as soon as the
    /// users table says whose they are (until then they wait, compactly);
    /// and once the whole dump is read, the texts that fail the rest
    /// (usernames, tasks) go too, so that `texts.rows` holds exactly the
    /// texts that pass.
    pub fn keep_only(&mut self, filter: &Filter) {
        self.keep = Some(filter.clone());
    }
}

/// What reading a dump gave.
#[derive(Debug, Clone)]
pub struct Dump {
    pub source: Source,
    /// What the dump is and holds, whatever its format.
    pub summary: Summary,
    /// The race server's tables of each database, in the order of
    /// `summary.databases`.
    pub databases: Vec<Database>,
    /// `--table`, as given.
    pub wanted_table: Option<String>,
    /// `--database`, as given: the database [`Dump::texts_database`] picks.
    pub wanted_database: Option<String>,
}

impl Dump {
    /// The database that holds the texts: `--database`, or the only one
    /// with a texts table.
    pub fn texts_database(&self) -> Result<&Database> {
        let name = self.source.display();
        if let Some(wanted) = &self.wanted_database {
            return self.database(wanted);
        }
        let with_texts: Vec<&Database> = self
            .databases
            .iter()
            .filter(|d| d.texts_table.is_some())
            .collect();
        match with_texts.as_slice() {
            [one] => Ok(one),
            [] => {
                if let Some(problem) = self.databases.iter().find_map(|d| d.texts_problem.as_ref())
                {
                    bail!("{name}: {problem}");
                }
                let tables: Vec<String> = self
                    .summary
                    .databases
                    .iter()
                    .flat_map(|d| d.tables.iter().map(|t| t.name.to_string()))
                    .collect();
                let tables = if tables.is_empty() {
                    "none".to_string()
                } else {
                    tables.join(", ")
                };
                if let Some(wanted) = &self.wanted_table {
                    bail!(
                        "{name} has no table {wanted:?} (named by --table); tables in the dump: {tables}"
                    );
                }
                bail!(
                    "{name} has no texts table (tasktexts or task_texts; --table names another): \
                     was the server's IS_STORING_STUDENT_TASK_TEXTS setting off? Tables in the dump: {tables}"
                )
            }
            several => bail!(
                "{name} holds several databases with a texts table: {}; choose one with --database",
                several
                    .iter()
                    .map(|d| d.name.clone().unwrap_or_else(|| "?".into()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The database named `wanted` (`--database`); an error listing the
    /// dump's databases when there is none of that name.
    pub fn database(&self, wanted: &str) -> Result<&Database> {
        self.databases
            .iter()
            .find(|d| d.name.as_deref() == Some(wanted))
            .ok_or_else(|| {
                anyhow!(
                    "{} has no database {wanted:?}; it has: {}",
                    self.source.display(),
                    self.database_names()
                )
            })
    }

    fn database_names(&self) -> String {
        let names: Vec<String> = self
            .databases
            .iter()
            .filter_map(|d| d.name.clone())
            .collect();
        if names.is_empty() {
            "no named database".into()
        } else {
            names.join(", ")
        }
    }

    /// The texts of the chosen database, with warnings for what is missing.
    pub fn texts(&self) -> Result<(&Texts, Vec<String>)> {
        let db = self.texts_database()?;
        let texts_table = db.texts_table.as_ref().ok_or_else(|| {
            anyhow!(
                "database {} in {} has no readable texts table{}",
                db.name.as_deref().unwrap_or("?"),
                self.source.display(),
                match (&db.texts_problem, &self.wanted_table) {
                    (Some(problem), _) => format!(": {problem}"),
                    (None, Some(wanted)) => format!(" (no table {wanted:?}, named by --table)"),
                    (None, None) if db.problems.is_empty() => String::new(),
                    (None, None) => format!(": {}", db.problems.join("; ")),
                }
            )
        })?;
        let mut warnings = db.problems.clone();
        if self.summary.damage.is_none() {
            // Statements of other tables than the race server's (those of
            // its tables fail the read): the texts are whole.
            warnings.extend(self.summary.unread.iter().map(|u| {
                format!(
                    "{}: {u}; its rows are left out (not a table textrescue reads)",
                    self.source.display()
                )
            }));
        }
        if db.texts.usernames.is_empty() && self.summary.damage.is_some() {
            // pg_dump writes `users` after the texts table, so a dump cut
            // inside the texts never reaches it.
            warnings.push(format!(
                "{} is damaged before its users table (pg_dump writes it after {texts_table}, \
                 past the damage): usernames are unknown, so --user matches nothing here; \
                 the texts show their student as \"user #ID\", and --user-id ID filters by it",
                self.source.display()
            ));
        } else if db.texts.usernames.is_empty() {
            warnings.push(format!(
                "{} has no users table (a dump of {texts_table} alone?): usernames are unknown; \
                 --user-id ID filters by the id shown as \"user #ID\"",
                self.source.display()
            ));
        }
        if db.texts.tasks.is_empty() {
            warnings.push(format!(
                "{} has no tasks table: task names are unknown",
                self.source.display()
            ));
        }
        Ok((&db.texts, warnings))
    }
}

/// Reads `source` to the end. With `salvage`, damage after some rows is
/// reported in [`Dump::damage`] instead of failing.
pub fn read(source: &Source, options: &ReadOptions) -> Result<Dump> {
    let dump = read_members(source, options, false)?;
    // An indexed `.sql.gz` is read by its tables' names, and a partition of
    // the texts, users or tasks table has its own: once the dump has said
    // whose partition it is, the dump is read again with every member.
    let partition_cut_out = dump.summary.databases.iter().any(|db| {
        db.tables.iter().any(|t| {
            let root = dump.summary.root_of(&t.name);
            t.rows.is_none()
                && root != t.name
                && race::reads_rows_of(&root, options.table.as_deref())
        })
    });
    if partition_cut_out {
        return read_members(source, options, true);
    }
    Ok(dump)
}

/// [`read`], through the index of an indexed `.sql.gz` by the tables
/// needed, or every member when `every_member`.
fn read_members(source: &Source, options: &ReadOptions, every_member: bool) -> Result<Dump> {
    let progress = match &options.shared_progress {
        Some(shared) => shared.part(),
        None if options.progress => Progress::for_stderr(&match source {
            Source::Stdin => "standard input".to_string(),
            other => other.display(),
        }),
        None => Progress::hidden(),
    };
    // Through the index of an indexed `.sql.gz`: every member inflated on
    // every core; the bytes of the rows it reads kept, the others counted.
    let needed = |raw: &[u8]| {
        crate::sql_scan::parse_table_name(raw)
            .is_none_or(|t| race::reads_rows_of(&t, options.table.as_deref()))
    };
    let members = if every_member {
        Members::AllInParallel
    } else {
        Members::Tables(&needed)
    };
    let opened = match input::open_members(source, &progress, members) {
        Ok(o) => o,
        Err(e) => {
            progress.finish();
            let message = format!("{e:#}");
            // Still says "no dump at all" to the callers that tell it apart.
            if e.downcast_ref::<input::NotADump>().is_some() {
                return Err(input::NotADump(message).into());
            }
            bail!(message);
        }
    };
    let hint = opened.crlf_hint();
    let summary = SummarySink::new(opened.format(), opened.compression(), options.count_rows);
    let mut sink = RaceSink::new(summary, options);
    let result = format::read_with_progress(opened, &mut sink, &progress);
    progress.finish();
    let (summary, databases) = sink
        .finish()
        .with_context(|| format!("{}: cannot read the texts back", source.display()))?;
    let mut dump = Dump {
        source: source.clone(),
        summary,
        databases,
        wanted_table: options.table.clone(),
        wanted_database: options.database.clone(),
    };
    if let Err(e) = result {
        let message = format!("{}: {e:#}{hint}", source.display());
        if !options.salvage {
            return Err(anyhow!(message));
        }
        dump.summary.damage = Some(message);
    } else if dump.summary.ended && !dump.summary.unread.is_empty() {
        let unread = &dump.summary.unread;
        let message = format!(
            "{}: {} statement{} of table data could not be read, so the dump is incomplete: {}",
            source.display(),
            unread.len(),
            crate::counts::plural(unread.len()),
            unread
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
        let needed = unread.iter().any(|u| {
            u.table.as_ref().is_none_or(|t| {
                race::reads_rows_of(&dump.summary.root_of(t), options.table.as_deref())
            })
        });
        if options.salvage {
            dump.summary.damage = Some(message);
        } else if needed {
            bail!(
                "{message}. It may hold rows of the tables the texts are read from; \
                 --salvage shows what was read"
            );
        }
    } else if !dump.summary.ended {
        let message = format!(
            "{}: the dump is incomplete: it ends without pg_dump's closing line \
             (\"-- PostgreSQL database dump complete\"), so data may be missing",
            source.display()
        );
        if !options.salvage {
            bail!(message);
        }
        dump.summary.damage = Some(message);
    }
    Ok(dump)
}
