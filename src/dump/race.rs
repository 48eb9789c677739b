//! The race server's schema in a dump: the texts table (`tasktexts`, or
//! what `--table` names) and its two lookup tables, `users` and `tasks`.
//! [`RaceSink`] reads them from any format's rows, built on a
//! [`SummarySink`] that sees every table: it maps each table's columns by
//! name, decodes the fields it needs, drops the texts
//! [`ReadOptions::keep_only`] rules out, and keeps the
//! users and tasks of the texts table's schema. A partition's rows are its
//! partitioned table's (the dump names the partition, or the root with
//! `--load-via-partition-root`), and a table's rows may come in several
//! parts (one per partition). With `--user`, texts of
//! other students are dropped as soon as the users table says whose they
//! are; until then they wait, compactly and on disk past a bound
//! ([`super::undecided`]).

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result, anyhow};

use super::ReadOptions;
use super::summary::{Summary, SummarySink};
use super::undecided::Undecided;
use crate::format::{Interest, Meta, Row, TableName, Visitor};
use crate::texts::{Task, TaskText, Texts, Timestamp};

/// The texts table's names on the race server (and a spelling seen elsewhere).
pub const DEFAULT_TEXTS_TABLES: [&str; 2] = ["tasktexts", "task_texts"];

/// Whether `table` is the texts table: named `wanted` (`--table`: `name`
/// in any schema or `schema.name`), which replaces the default names.
fn is_texts_table(table: &TableName, wanted: Option<&str>) -> bool {
    match wanted {
        Some(wanted) => match wanted.split_once('.') {
            Some((schema, name)) => table.schema == schema && table.name == name,
            None => table.name == wanted,
        },
        None => DEFAULT_TEXTS_TABLES.contains(&table.name.as_str()),
    }
}

/// Whether [`RaceSink`] reads the rows of `table` (the texts table, as
/// `--table` names it, and the users and tasks of any schema): the others'
/// rows need not be read at all.
pub fn reads_rows_of(table: &TableName, texts_table: Option<&str>) -> bool {
    is_texts_table(table, texts_table) || matches!(table.name.as_str(), "users" | "tasks")
}

/// The race server's tables in one database of a dump (the summary's
/// database of the same place).
#[derive(Debug, Clone, Default)]
pub struct Database {
    /// The name, where the dump says it (archives, `\connect`).
    pub name: Option<String>,
    /// The texts table found, if any.
    pub texts_table: Option<TableName>,
    /// What was odd about the needed tables (a missing column, a second
    /// texts table), for the error or warning that explains it.
    pub problems: Vec<String>,
    /// A table with the texts table's name (or `--table`'s) that lacks its
    /// columns: why there is no texts table.
    pub texts_problem: Option<String>,
    pub texts: Texts,
    /// The texts table's rows read (those whose row passes the filter of
    /// [`ReadOptions::keep_only`]), whether
    /// kept in `texts` or only counted ([`ReadOptions::count_texts_only`]).
    pub texts_count: usize,
    /// The newest change among them (the last of equals, as
    /// [`Texts::newest_change`] finds it).
    pub newest_text_change: Option<Timestamp>,
}

impl Database {
    /// The texts table a restore script writes to: this dump's texts table
    /// (the live server has the same schema), else the race server's.
    pub fn restore_table(&self) -> TableName {
        self.texts_table
            .clone()
            .unwrap_or_else(|| TableName::new("public", DEFAULT_TEXTS_TABLES[0]))
    }
}

/// Reads the race server's tables, and through its [`SummarySink`] the
/// summary of the whole dump.
pub struct RaceSink<'o> {
    /// The summary, keeping the race server's tables of each database.
    summary: SummarySink<(Database, Lookups)>,
    options: &'o ReadOptions,
    current: Current,
    /// The usernames of each database by schema, read before the rest of
    /// the dump (the users tables of an indexed `.sql.gz`), if they were.
    known_usernames: Option<Vec<Usernames>>,
}

/// Usernames by user id, per schema.
pub type Usernames = HashMap<String, HashMap<i64, String>>;

/// Which of the needed tables is being read, with its columns' positions.
enum Current {
    None,
    Texts(TextsColumns),
    Users(UsersColumns),
    Tasks(TasksColumns),
}

struct TextsColumns {
    id: usize,
    user_id: usize,
    task_id: usize,
    created_at: usize,
    modified_at: Option<usize>,
    text: usize,
}

struct UsersColumns {
    schema: String,
    id: usize,
    username: usize,
    is_student: Option<usize>,
}

struct TasksColumns {
    schema: String,
    id: usize,
    phase: usize,
    name: usize,
    is_enabled: Option<usize>,
}

/// Users and tasks per schema, chosen once the texts table's schema is known
/// (they come after it in the dump).
#[derive(Default)]
struct Lookups {
    usernames: Usernames,
    students: HashMap<String, usize>,
    tasks: HashMap<String, HashMap<i64, Task>>,
    /// With `--user`: the ids of the students it names, once the users
    /// table of the texts table's schema is known.
    wanted_users: Option<HashSet<i64>>,
    /// With `--user`: texts read before that, and any texts of the wanted
    /// students after them (to keep their order).
    undecided: Undecided,
}

impl<'o> RaceSink<'o> {
    pub fn new(summary: SummarySink, options: &'o ReadOptions) -> Self {
        RaceSink {
            summary: summary.with_per_database(),
            options,
            current: Current::None,
            known_usernames: None,
        }
    }

    /// The usernames of every database, read before the rest of the dump,
    /// so that `--user` is decided as the texts are read.
    pub fn knowing_usernames(mut self, known: Vec<Usernames>) -> Self {
        self.known_usernames = Some(known);
        self
    }

    /// The usernames of each database by schema, as read (a sink given
    /// only the users tables: see [`RaceSink::knowing_usernames`]).
    pub fn into_usernames(self) -> Vec<Usernames> {
        let (_, databases) = self.summary.finish_with_per_database();
        databases
            .into_iter()
            .map(|(_, lookups)| lookups.usernames)
            .collect()
    }

    fn wanted_ids(&self, usernames: &HashMap<i64, String>) -> HashSet<i64> {
        self.options
            .keep
            .as_ref()
            .map(|f| f.user_ids_named(usernames))
            .unwrap_or_default()
    }

    /// Whether texts are kept by whose they are (`--user` in the filter of
    /// [`ReadOptions::keep_only`]).
    fn users_wanted(&self) -> bool {
        self.options
            .keep
            .as_ref()
            .is_some_and(|f| !f.users().is_empty())
    }

    /// With `--user`, at the start of the texts table in `schema`: decides
    /// whose texts are kept if the users are known already.
    fn decide_at_texts(&mut self, schema: &str) {
        if !self.users_wanted() || self.database().1.wanted_users.is_some() {
            return;
        }
        let index = self.summary.per_database().len() - 1;
        let ids = match self.known_usernames.as_ref().and_then(|k| k.get(index)) {
            Some(known) => Some(self.wanted_ids(&pick_schema(known.clone(), schema))),
            None => self.summary.per_database()[index]
                .1
                .usernames
                .get(schema)
                .map(|names| self.wanted_ids(names)),
        };
        self.database().1.wanted_users = ids;
    }

    /// With `--user`, at the end of a users table in `schema`: decides
    /// whose texts are kept if it is the texts table's schema.
    fn decide_at_users(&mut self, schema: &str) {
        if !self.users_wanted() || self.database().1.wanted_users.is_some() {
            return;
        }
        let (db, lookups) = self.summary.per_database().last().expect("a database");
        if db.texts_table.as_ref().is_some_and(|t| t.schema == schema) {
            let ids = lookups.usernames.get(schema).map(|n| self.wanted_ids(n));
            self.database().1.wanted_users = ids;
        }
    }

    /// The summary and, in the same order as its databases, the race
    /// server's tables of each.
    pub fn finish(self) -> Result<(Summary, Vec<Database>)> {
        let users_wanted = self.users_wanted();
        let keep = self.options.keep.as_ref();
        let (summary, databases) = self.summary.finish_with_per_database();
        let databases = databases
            .into_iter()
            .zip(&summary.databases)
            .map(|((mut db, lookups), part)| {
                db.name = part.name.clone();
                let schema = db
                    .texts_table
                    .as_ref()
                    .map_or("public", |t| t.schema.as_str())
                    .to_string();
                db.texts.usernames = pick_schema(lookups.usernames, &schema);
                db.texts.tasks = pick_schema(lookups.tasks, &schema);
                db.texts.students = lookups
                    .students
                    .get(&schema)
                    .copied()
                    .or_else(|| lookups.students.values().next().copied())
                    .unwrap_or(0);
                if let Some(keep) = keep {
                    if users_wanted {
                        let wanted = lookups
                            .wanted_users
                            .unwrap_or_else(|| keep.user_ids_named(&db.texts.usernames));
                        lookups
                            .undecided
                            .drain(|user| wanted.contains(&user), &mut db.texts.rows)?;
                    }
                    // What only the users and tasks tables decide.
                    let texts = &db.texts;
                    let passes: Vec<bool> = texts
                        .rows
                        .iter()
                        .map(|t| keep.matches(&texts.record(t)))
                        .collect();
                    let mut passes = passes.into_iter();
                    db.texts.rows.retain(|_| passes.next().unwrap_or(false));
                }
                Ok(db)
            })
            .collect::<Result<_>>()?;
        Ok((summary, databases))
    }

    fn is_texts_table(&self, table: &TableName) -> bool {
        is_texts_table(table, self.options.table.as_deref())
    }

    fn database_wanted(&self) -> bool {
        match &self.options.database {
            None => true,
            Some(w) => self.summary.current_database().name.as_deref() == Some(w),
        }
    }

    fn database(&mut self) -> &mut (Database, Lookups) {
        self.summary.current_mut()
    }

    /// Which needed table `table` (a partition of `root`, or `root`
    /// itself) is, if any; fails when it lacks a column.
    fn pick_columns(
        &mut self,
        table: &TableName,
        root: &TableName,
        columns: &[String],
    ) -> Result<Current> {
        if self.is_texts_table(root) {
            let named_by = self.options.table.clone();
            let db = &mut self.database().0;
            if let Some(first) = db.texts_table.as_ref().filter(|first| *first != root) {
                db.problems.push(format!(
                    "a second texts table {table} was ignored; {first} is read (--table chooses)"
                ));
            } else if let Ok(c) = texts_columns(columns, table) {
                // Another part of the same table (a partition) goes on it.
                db.texts_table = Some(root.clone());
                db.texts_problem = None;
                return Ok(Current::Texts(c));
            } else {
                let named_by = match named_by {
                    Some(wanted) => format!("--table {wanted}: "),
                    None => String::new(),
                };
                let missing: Vec<&str> = TEXTS_COLUMNS
                    .into_iter()
                    .filter(|c| !columns.iter().any(|have| have == c))
                    .collect();
                db.texts_problem.get_or_insert(format!(
                    "{named_by}{table} lacks the texts table's columns ({}): it has no {}; its columns: {}",
                    TEXTS_COLUMNS.join(", "),
                    missing.join(", "),
                    column_list(columns)
                ));
            }
        }
        match root.name.as_str() {
            "users" => Ok(Current::Users(UsersColumns {
                schema: root.schema.clone(),
                id: position(columns, "id", table)?,
                username: position(columns, "username", table)?,
                is_student: columns.iter().position(|c| c == "is_student"),
            })),
            "tasks" => Ok(Current::Tasks(TasksColumns {
                schema: root.schema.clone(),
                id: position(columns, "id", table)?,
                phase: position(columns, "phase", table)?,
                name: position(columns, "name", table)?,
                is_enabled: columns.iter().position(|c| c == "is_enabled"),
            })),
            _ => Ok(Current::None),
        }
    }

    fn text_row(&mut self, c: &TextsColumns, row: &Row) -> Result<()> {
        let id = int_field(row, c.id, "id")?;
        let user_id = int_field(row, c.user_id, "user_id")?;
        let task_id = int_field(row, c.task_id, "task_id")?;
        let created_at = timestamp_field(row, c.created_at, "created_at", id)?
            .with_context(|| format!("text {id} has no created_at"))?;
        let modified_at = match c.modified_at {
            Some(i) => timestamp_field(row, i, "modified_at", id)?,
            None => None,
        };
        let text = if self.options.count_texts_only {
            Vec::new()
        } else {
            row.get(c.text)?
                .with_context(|| format!("text {id} is NULL"))?
                .into_owned()
        };
        let text = TaskText {
            id,
            user_id,
            task_id,
            created_at,
            modified_at,
            text,
        };
        if !self
            .options
            .keep
            .as_ref()
            .is_none_or(|keep| keep.matches_row(&text))
        {
            return Ok(());
        }
        let users_wanted = self.users_wanted();
        let count_only = self.options.count_texts_only;
        let (db, lookups) = self.database();
        db.texts_count += 1;
        if db
            .newest_text_change
            .as_ref()
            .is_none_or(|newest| text.changed_at().instant >= newest.instant)
        {
            db.newest_text_change = Some(text.changed_at().clone());
        }
        match &lookups.wanted_users {
            _ if count_only => {}
            _ if !users_wanted => db.texts.rows.push(text),
            Some(ids) if !ids.contains(&text.user_id) => {}
            Some(_) if lookups.undecided.is_empty() => db.texts.rows.push(text),
            _ => lookups.undecided.push(&text)?,
        }
        Ok(())
    }

    fn user_row(&mut self, c: &UsersColumns, row: &Row) -> Result<()> {
        let id = int_field(row, c.id, "users.id")?;
        let username = match row.get(c.username)? {
            Some(u) => String::from_utf8(u.into_owned())
                .map_err(|_| anyhow!("user {id}'s username is not UTF-8"))?,
            None => format!("user #{id}"),
        };
        let student = match c.is_student {
            Some(i) => row.get(i)?.as_deref() == Some(b"t"),
            None => true,
        };
        let lookups = &mut self.database().1;
        lookups
            .usernames
            .entry(c.schema.clone())
            .or_default()
            .insert(id, username);
        if student {
            *lookups.students.entry(c.schema.clone()).or_default() += 1;
        }
        Ok(())
    }

    fn task_row(&mut self, c: &TasksColumns, row: &Row) -> Result<()> {
        let id = int_field(row, c.id, "tasks.id")?;
        let phase = match row.get(c.phase)? {
            Some(_) => int_field(row, c.phase, "tasks.phase")?,
            None => 0,
        };
        let name = row
            .get(c.name)?
            .map(|n| String::from_utf8_lossy(n.as_ref()).into_owned())
            .unwrap_or_default();
        let is_enabled = match c.is_enabled {
            Some(i) => row.get(i)?.as_deref() != Some(b"f"),
            None => true,
        };
        self.database()
            .1
            .tasks
            .entry(c.schema.clone())
            .or_default()
            .insert(
                id,
                Task {
                    phase,
                    name,
                    is_enabled,
                },
            );
        Ok(())
    }
}

impl Visitor for RaceSink<'_> {
    fn meta(&mut self, meta: Meta) {
        self.summary.meta(meta);
    }

    fn begin_data(&mut self, table: &TableName, columns: &[String]) -> Interest {
        let uncounted = self.summary.begin_data(table, columns);
        self.current = Current::None;
        if !self.database_wanted() {
            return uncounted;
        }
        let root = self.summary.summary().root_of(table);
        self.current = self
            .pick_columns(table, &root, columns)
            .unwrap_or_else(|e| {
                self.database().0.problems.push(format!("{e:#}"));
                Current::None
            });
        if let Current::Texts(_) = self.current {
            self.decide_at_texts(&root.schema);
        }
        match self.current {
            Current::None => uncounted,
            _ => Interest::Rows,
        }
    }

    fn row(&mut self, row: &Row) -> Result<()> {
        // Taken out for the call, so that the row handlers can change `self`.
        let current = std::mem::replace(&mut self.current, Current::None);
        let result = match &current {
            Current::None => Ok(()),
            Current::Texts(c) => self.text_row(c, row),
            Current::Users(c) => self.user_row(c, row),
            Current::Tasks(c) => self.task_row(c, row),
        };
        self.current = current;
        result
    }

    fn end_data(&mut self, rows: Option<u64>) {
        self.summary.end_data(rows);
        if let Current::Users(c) = std::mem::replace(&mut self.current, Current::None) {
            self.decide_at_users(&c.schema);
        }
    }
}

fn pick_schema<V: Default>(mut by_schema: HashMap<String, V>, schema: &str) -> V {
    if let Some(v) = by_schema.remove(schema) {
        return v;
    }
    if by_schema.len() == 1 {
        return by_schema.into_values().next().unwrap_or_default();
    }
    by_schema.remove("public").unwrap_or_default()
}

fn int_field(row: &Row, i: usize, what: &str) -> Result<i64> {
    let value = row.get(i)?.with_context(|| format!("{what} is NULL"))?;
    std::str::from_utf8(&value)
        .ok()
        .and_then(|s| s.parse().ok())
        .with_context(|| {
            format!(
                "{what} {:?} is not a number",
                String::from_utf8_lossy(&value)
            )
        })
}

fn timestamp_field(row: &Row, i: usize, what: &str, id: i64) -> Result<Option<Timestamp>> {
    let Some(value) = row.get(i)? else {
        return Ok(None);
    };
    let s = std::str::from_utf8(&value).map_err(|_| anyhow!("text {id}: {what} is not UTF-8"))?;
    Timestamp::parse_pg(s)
        .map(Some)
        .with_context(|| format!("text {id}: {what}"))
}

/// The columns a texts table must have (`modified_at` is optional).
const TEXTS_COLUMNS: [&str; 5] = ["id", "user_id", "task_id", "created_at", "text"];

/// Where the texts table's columns are; an error naming the first missing.
fn texts_columns(columns: &[String], table: &TableName) -> Result<TextsColumns> {
    Ok(TextsColumns {
        id: position(columns, "id", table)?,
        user_id: position(columns, "user_id", table)?,
        task_id: position(columns, "task_id", table)?,
        created_at: position(columns, "created_at", table)?,
        modified_at: columns.iter().position(|c| c == "modified_at"),
        text: position(columns, "text", table)?,
    })
}

fn position(columns: &[String], name: &str, table: &TableName) -> Result<usize> {
    columns.iter().position(|c| c == name).ok_or_else(|| {
        anyhow!(
            "{table} has no column {name:?} (its columns: {})",
            column_list(columns)
        )
    })
}

fn column_list(columns: &[String]) -> String {
    if columns.is_empty() {
        "not named in the dump".to_string()
    } else {
        columns.join(", ")
    }
}
