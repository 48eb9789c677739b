//! A dump read for its texts: opens any source, runs the reader of its
//! format with a visitor that keeps the texts table and the two lookup
//! tables (`users`, `tasks`), counts every other table's rows, and picks the
//! database in pg_dumpall output. This is the one entry point the commands
//! use: `dump::read(source, &options)`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};

use crate::format::{self, Interest, Meta, TableName, Visitor, copy_text};
use crate::input::{self, Source};
use crate::progress::Progress;
use crate::texts::{Task, TaskText, Texts, Timestamp};

/// The texts table's names on the race server (and a spelling seen elsewhere).
pub const DEFAULT_TEXTS_TABLES: [&str; 2] = ["tasktexts", "task_texts"];

/// A test on a text row applied while reading, so that rows which cannot
/// pass the filters are never kept.
pub type Prefilter = Arc<dyn Fn(&TaskText) -> bool + Send + Sync>;

/// How to read a dump.
#[derive(Clone, Default)]
pub struct ReadOptions {
    /// `--table`: the texts table's name (`name` or `schema.name`).
    pub table: Option<String>,
    /// `--database`: which database of a pg_dumpall script.
    pub database: Option<String>,
    /// Keep the texts' content (inspect does not need it).
    pub skip_text_content: bool,
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
    pub prefilter: Option<Prefilter>,
}

/// A table's data as the dump holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStat {
    pub name: TableName,
    /// `None` when the table was passed over without counting (see
    /// [`ReadOptions::count_rows`]).
    pub rows: Option<u64>,
}

/// One database's part of the dump (a plain dump has exactly one).
#[derive(Debug, Clone, Default)]
pub struct Database {
    /// The name, where the dump says it (archives, `\connect`).
    pub name: Option<String>,
    pub tables: Vec<TableStat>,
    /// The texts table found, if any.
    pub texts_table: Option<TableName>,
    /// What was odd about the needed tables (a missing column, a second
    /// texts table), for the error or warning that explains it.
    pub problems: Vec<String>,
    /// A table with the texts table's name (or `--table`'s) that lacks its
    /// columns: why there is no texts table.
    pub texts_problem: Option<String>,
    pub texts: Texts,
}

impl Database {
    /// The texts table a restore script writes to: this dump's texts table
    /// (the live server has the same schema), else the race server's.
    pub fn restore_table(&self) -> TableName {
        self.texts_table
            .clone()
            .unwrap_or_else(|| TableName::new("public", "tasktexts"))
    }
}

/// What reading a dump gave.
#[derive(Debug, Clone)]
pub struct Dump {
    pub source: Source,
    pub format: input::Format,
    /// Compression around the file and inside the archive, e.g. `gzip`,
    /// `none`, `zstd (data)`.
    pub compression: String,
    pub pg_dump_version: Option<String>,
    pub server_version: Option<String>,
    pub archive_version: Option<String>,
    /// pg_dumpall output (several databases).
    pub cluster: bool,
    /// The dump's closing line or the archive's end was reached.
    pub complete: bool,
    pub databases: Vec<Database>,
    /// Set with `--salvage` when reading stopped early: what went wrong.
    pub damage: Option<String>,
    /// `--table`, as given.
    pub wanted_table: Option<String>,
}

impl Dump {
    /// The database that holds the texts: `--database`, or the only one
    /// with a texts table.
    pub fn texts_database(&self, wanted: Option<&str>) -> Result<&Database> {
        let name = self.source.display();
        if let Some(wanted) = wanted {
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
    pub fn texts(&self, wanted_database: Option<&str>) -> Result<(&Texts, Vec<String>)> {
        let db = self.texts_database(wanted_database)?;
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
        if db.texts.usernames.is_empty() && self.damage.is_some() {
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
    let progress = match &options.shared_progress {
        Some(shared) => shared.part(),
        None if options.progress => Progress::for_stderr(&match source {
            Source::Stdin => "standard input".to_string(),
            other => other.display(),
        }),
        None => Progress::hidden(),
    };
    let opened = match input::open(source, &progress) {
        Ok(o) => o,
        Err(e) => {
            progress.finish();
            bail!("{e:#}{}", crlf_hint(&progress.raw_head()));
        }
    };
    let mut collector = Collector::new(options);
    let format_kind = opened.format;
    let outer = opened.compression;
    let result = format::read_with_progress(opened, &mut collector, &progress);
    progress.finish();
    let mut dump = collector.finish(source.clone(), format_kind, outer);
    if let Err(e) = result {
        let message = format!(
            "{}: {e:#}{}",
            source.display(),
            crlf_hint(&progress.raw_head())
        );
        if !options.salvage {
            return Err(anyhow!(message));
        }
        dump.damage = Some(message);
    } else if !dump.complete {
        let message = format!(
            "{}: the dump is incomplete: it ends without pg_dump's closing line \
             (\"-- PostgreSQL database dump complete\"), so data may be missing",
            source.display()
        );
        if !options.salvage {
            bail!(message);
        }
        dump.damage = Some(message);
    }
    Ok(dump)
}

/// What to add to the message of a failed read whose file looks like a
/// binary file (an archive, gzip) put through a terminal that turned every
/// LF into CRLF, as `docker exec -t` does: empty for anything else (a plain
/// dump with CRLF line ends is no binary file, and reads).
fn crlf_hint(raw_head: &[u8]) -> &'static str {
    let binary = raw_head.starts_with(b"PGDMP")
        || raw_head.starts_with(&[0x1f, 0x8b])
        || raw_head.contains(&0);
    let mut lfs = memchr::memchr_iter(b'\n', raw_head).peekable();
    let converted = lfs.peek().is_some() && lfs.all(|at| at > 0 && raw_head[at - 1] == b'\r');
    if binary && converted {
        ". The file looks like a CRLF conversion of a binary file: every LF in it follows a CR, \
         as when pg_dump's output passes through `docker exec -t` (a terminal); take backups \
         with `docker exec -i`. Turning every CRLF back into LF restores this one exactly: \
         perl -pe 's/\\r\\n\\z/\\n/' < FILE > FIXED"
    } else {
        ""
    }
}

/// Which of the needed tables is being read, with its columns' positions.
enum Current {
    None,
    Texts(TextsColumns),
    Users(UsersColumns),
    Tasks(TasksColumns),
}

struct TextsColumns {
    count: usize,
    id: usize,
    user_id: usize,
    task_id: usize,
    created_at: usize,
    modified_at: Option<usize>,
    text: usize,
}

struct UsersColumns {
    schema: String,
    count: usize,
    id: usize,
    username: usize,
    is_student: Option<usize>,
}

struct TasksColumns {
    schema: String,
    count: usize,
    id: usize,
    phase: usize,
    name: usize,
    is_enabled: Option<usize>,
}

/// Users and tasks per schema, chosen once the texts table's schema is known
/// (they come after it in the dump).
#[derive(Default)]
struct Lookups {
    usernames: HashMap<String, HashMap<i64, String>>,
    students: HashMap<String, usize>,
    tasks: HashMap<String, HashMap<i64, Task>>,
}

struct Collector<'o> {
    options: &'o ReadOptions,
    meta: Vec<Meta>,
    databases: Vec<(Database, Lookups)>,
    current: Current,
    current_table: Option<TableName>,
    fields: Vec<(usize, usize)>,
}

impl<'o> Collector<'o> {
    fn new(options: &'o ReadOptions) -> Self {
        Collector {
            options,
            meta: Vec::new(),
            databases: vec![(Database::default(), Lookups::default())],
            current: Current::None,
            current_table: None,
            fields: Vec::new(),
        }
    }

    fn is_texts_table(&self, table: &TableName) -> bool {
        // `--table` replaces the default names.
        match &self.options.table {
            Some(wanted) => match wanted.split_once('.') {
                Some((schema, name)) => table.schema == schema && table.name == name,
                None => table.name == *wanted,
            },
            None => DEFAULT_TEXTS_TABLES.contains(&table.name.as_str()),
        }
    }

    fn database_wanted(&self) -> bool {
        match &self.options.database {
            None => true,
            Some(w) => self.databases.last().and_then(|d| d.0.name.as_deref()) == Some(w),
        }
    }

    fn finish(self, source: Source, format: input::Format, outer: input::OuterCompression) -> Dump {
        let mut dump = Dump {
            source,
            format,
            compression: outer.name().to_string(),
            pg_dump_version: None,
            server_version: None,
            archive_version: None,
            cluster: false,
            complete: false,
            databases: Vec::new(),
            damage: None,
            wanted_table: self.options.table.clone(),
        };
        for meta in self.meta {
            match meta {
                Meta::PgDumpVersion(v) => {
                    dump.pg_dump_version.get_or_insert(v);
                }
                Meta::ServerVersion(v) => {
                    dump.server_version.get_or_insert(v);
                }
                Meta::ArchiveVersion(v) => dump.archive_version = Some(v),
                Meta::DataCompression(c) => {
                    if c != "none" {
                        dump.compression = if dump.compression == "none" {
                            format!("{c} (data)")
                        } else {
                            format!("{}, {c} (data)", dump.compression)
                        };
                    }
                }
                Meta::Cluster => dump.cluster = true,
                Meta::Complete => dump.complete = true,
                Meta::Database(_) => {}
            }
        }
        for (mut db, lookups) in self.databases {
            // The empty part before pg_dumpall's first \connect holds roles only.
            if db.name.is_none() && db.tables.is_empty() && dump.cluster {
                continue;
            }
            let schema = db
                .texts_table
                .as_ref()
                .map(|t| t.schema.clone())
                .unwrap_or_else(|| "public".into());
            db.texts.usernames = pick_schema(lookups.usernames, &schema);
            db.texts.tasks = pick_schema(lookups.tasks, &schema);
            db.texts.students = lookups
                .students
                .get(&schema)
                .copied()
                .or_else(|| lookups.students.values().next().copied())
                .unwrap_or(0);
            dump.databases.push(db);
        }
        if dump.databases.is_empty() {
            dump.databases.push(Database::default());
        }
        dump
    }

    fn text_row<'a>(
        &mut self,
        c: &TextsColumns,
        get: &dyn Fn(usize) -> Result<Option<Cow<'a, [u8]>>>,
    ) -> Result<()> {
        let id = int_field(get(c.id)?, "id")?;
        let user_id = int_field(get(c.user_id)?, "user_id")?;
        let task_id = int_field(get(c.task_id)?, "task_id")?;
        let created_at = timestamp_field(get(c.created_at)?, "created_at", id)?
            .with_context(|| format!("text {id} has no created_at"))?;
        let modified_at = match c.modified_at {
            Some(i) => timestamp_field(get(i)?, "modified_at", id)?,
            None => None,
        };
        let text = if self.options.skip_text_content {
            Vec::new()
        } else {
            get(c.text)?
                .with_context(|| format!("text {id} is NULL"))?
                .into_owned()
        };
        let row = TaskText {
            id,
            user_id,
            task_id,
            created_at,
            modified_at,
            text,
        };
        if self
            .options
            .prefilter
            .as_ref()
            .is_none_or(|keep| keep(&row))
        {
            self.databases
                .last_mut()
                .expect("a database")
                .0
                .texts
                .rows
                .push(row);
        }
        Ok(())
    }

    fn user_row<'a>(
        &mut self,
        c: &UsersColumns,
        get: &dyn Fn(usize) -> Result<Option<Cow<'a, [u8]>>>,
    ) -> Result<()> {
        let id = int_field(get(c.id)?, "users.id")?;
        let username = match get(c.username)? {
            Some(u) => String::from_utf8(u.into_owned())
                .map_err(|_| anyhow!("user {id}'s username is not UTF-8"))?,
            None => format!("user #{id}"),
        };
        let student = match c.is_student {
            Some(i) => get(i)?.as_deref() == Some(b"t"),
            None => true,
        };
        let lookups = &mut self.databases.last_mut().expect("a database").1;
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

    fn task_row<'a>(
        &mut self,
        c: &TasksColumns,
        get: &dyn Fn(usize) -> Result<Option<Cow<'a, [u8]>>>,
    ) -> Result<()> {
        let id = int_field(get(c.id)?, "tasks.id")?;
        let phase = match get(c.phase)? {
            Some(p) => int_field(Some(p), "tasks.phase")?,
            None => 0,
        };
        let name = get(c.name)?
            .map(|n| String::from_utf8_lossy(n.as_ref()).into_owned())
            .unwrap_or_default();
        let is_enabled = match c.is_enabled {
            Some(i) => get(i)?.as_deref() != Some(b"f"),
            None => true,
        };
        let schema = c.schema.clone();
        self.databases
            .last_mut()
            .expect("a database")
            .1
            .tasks
            .entry(schema)
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

    fn row<'a>(&mut self, get: &dyn Fn(usize) -> Result<Option<Cow<'a, [u8]>>>) -> Result<()> {
        // Taken out for the call, so that the row handlers can change `self`.
        let current = std::mem::replace(&mut self.current, Current::None);
        let result = match &current {
            Current::None => Ok(()),
            Current::Texts(c) => self.text_row(c, get),
            Current::Users(c) => self.user_row(c, get),
            Current::Tasks(c) => self.task_row(c, get),
        };
        self.current = current;
        result
    }

    fn expected_fields(&self) -> usize {
        match &self.current {
            Current::None => 0,
            Current::Texts(c) => c.count,
            Current::Users(c) => c.count,
            Current::Tasks(c) => c.count,
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

fn int_field(value: Option<Cow<'_, [u8]>>, what: &str) -> Result<i64> {
    let value = value.with_context(|| format!("{what} is NULL"))?;
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

fn timestamp_field(value: Option<Cow<'_, [u8]>>, what: &str, id: i64) -> Result<Option<Timestamp>> {
    let Some(value) = value else {
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
        count: columns.len(),
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
            if columns.is_empty() {
                "not named in the dump".to_string()
            } else {
                columns.join(", ")
            }
        )
    })
}

impl Visitor for Collector<'_> {
    fn meta(&mut self, meta: Meta) {
        if let Meta::Database(name) = &meta {
            let current = &mut self.databases.last_mut().expect("a database").0;
            if current.name.is_none()
                && current.tables.is_empty()
                && !self.meta.contains(&Meta::Cluster)
            {
                current.name = Some(name.clone());
            } else if current.name.as_deref() != Some(name.as_str()) {
                self.databases.push((
                    Database {
                        name: Some(name.clone()),
                        ..Database::default()
                    },
                    Lookups::default(),
                ));
            }
        }
        self.meta.push(meta);
    }

    fn begin_data(&mut self, table: &TableName, columns: &[String]) -> Interest {
        self.current_table = Some(table.clone());
        self.current = Current::None;
        if !self.database_wanted() {
            return Interest::Skip;
        }
        let chosen = match self.pick_columns(table, columns) {
            Ok(c) => c,
            Err(e) => {
                let db = &mut self.databases.last_mut().expect("a database").0;
                db.problems.push(format!("{e:#}"));
                Current::None
            }
        };
        self.current = chosen;
        match self.current {
            Current::None => Interest::Skip,
            _ => Interest::Rows,
        }
    }

    fn copy_row(&mut self, line: &[u8]) -> Result<()> {
        let expected = self.expected_fields();
        let mut fields = std::mem::take(&mut self.fields);
        fields.clear();
        let mut start = 0;
        for tab in memchr::memchr_iter(b'\t', line) {
            fields.push((start, tab));
            start = tab + 1;
        }
        fields.push((start, line.len()));
        if fields.len() != expected {
            let n = fields.len();
            self.fields = fields;
            bail!("the row has {n} fields where the COPY header names {expected} columns");
        }
        let spans = &fields;
        let result = self.row(&|i| {
            let (s, e) = spans[i];
            copy_text::decode(&line[s..e])
        });
        self.fields = fields;
        result
    }

    fn value_row(&mut self, values: &[Option<Vec<u8>>]) -> Result<()> {
        let expected = self.expected_fields();
        if values.len() != expected {
            bail!("the row has {} values for {expected} columns", values.len());
        }
        self.row(&|i| Ok(values[i].as_deref().map(Cow::Borrowed)))
    }

    fn end_data(&mut self, rows: u64) {
        if let Some(name) = self.current_table.take() {
            let db = &mut self.databases.last_mut().expect("a database").0;
            db.tables.push(TableStat {
                name,
                rows: Some(rows),
            });
        }
        self.current = Current::None;
    }

    fn counts_skipped_rows(&self) -> bool {
        self.options.count_rows
    }

    fn end_data_unread(&mut self) {
        if let Some(name) = self.current_table.take() {
            let db = &mut self.databases.last_mut().expect("a database").0;
            db.tables.push(TableStat { name, rows: None });
        }
        self.current = Current::None;
    }
}

impl Collector<'_> {
    /// Which needed table `table` is, if any; fails when it lacks a column.
    fn pick_columns(&mut self, table: &TableName, columns: &[String]) -> Result<Current> {
        let is_texts = self.is_texts_table(table);
        let db = &mut self.databases.last_mut().expect("a database").0;
        if is_texts {
            if let Some(first) = &db.texts_table {
                db.problems.push(format!(
                    "a second texts table {table} was ignored; {first} is read (--table chooses)"
                ));
            } else {
                match texts_columns(columns, table) {
                    Ok(c) => {
                        db.texts_table = Some(table.clone());
                        db.texts_problem = None;
                        return Ok(Current::Texts(c));
                    }
                    Err(_) => {
                        let named_by = match &self.options.table {
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
                            if columns.is_empty() {
                                "not named in the dump".to_string()
                            } else {
                                columns.join(", ")
                            }
                        ));
                    }
                }
            }
        }
        match table.name.as_str() {
            "users" => Ok(Current::Users(UsersColumns {
                schema: table.schema.clone(),
                count: columns.len(),
                id: position(columns, "id", table)?,
                username: position(columns, "username", table)?,
                is_student: columns.iter().position(|c| c == "is_student"),
            })),
            "tasks" => Ok(Current::Tasks(TasksColumns {
                schema: table.schema.clone(),
                count: columns.len(),
                id: position(columns, "id", table)?,
                phase: position(columns, "phase", table)?,
                name: position(columns, "name", table)?,
                is_enabled: columns.iter().position(|c| c == "is_enabled"),
            })),
            _ => Ok(Current::None),
        }
    }
}
