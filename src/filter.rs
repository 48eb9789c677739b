//! Which texts a command works on: `--user`, `--task`, `--since`, `--until`,
//! `--date-field`, `--id` and `--user-id`, shared by `texts`, `diff` and `history`.
//! Filters combine with AND; a repeated option is OR.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone};

use crate::escape;
use crate::texts::{Record, Task, TaskText, Timestamp};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only this student (username, case-insensitive); repeat for several.
    #[arg(short = 'u', long = "user", value_name = "NAME")]
    pub users: Vec<String>,
    /// Only this task: `PHASE-NAME` such as 3-MULTI, or NAME; case-insensitive; repeatable.
    #[arg(short = 't', long = "task", value_name = "TASK")]
    pub tasks: Vec<String>,
    /// Only texts whose date is on or after WHEN: YYYY-MM-DD (the whole day)
    /// or an RFC 3339 time; times without an offset are in the local zone (TZ).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only texts whose date is on or before WHEN (a YYYY-MM-DD day is included).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Which date --since and --until look at.
    #[arg(long, value_enum, default_value_t = DateField::Changed)]
    pub date_field: DateField,
    /// Only the text with this id; repeatable.
    #[arg(long = "id", value_name = "N")]
    pub ids: Vec<i64>,
    /// Only texts of the student with this user id (shown as `user #N` where
    /// the dump has no usernames, as in one cut before its users table); repeatable.
    #[arg(long = "user-id", value_name = "N")]
    pub user_ids: Vec<i64>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DateField {
    /// modified_at where set, else created_at.
    #[default]
    Changed,
    Created,
    Modified,
}

/// A task as `--task` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TaskPattern {
    phase: Option<i64>,
    name: String,
}

/// The filters, parsed and ready to test records. Every method that looks
/// at the fields takes them apart without `..`, so that a new field does
/// not compile until each of them says what it does with it.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    users: Vec<String>,
    tasks: Vec<TaskPattern>,
    since: Option<DateTime<FixedOffset>>,
    until: Option<DateTime<FixedOffset>>,
    date_field: DateField,
    ids: Vec<i64>,
    user_ids: Vec<i64>,
}

impl Filter {
    /// The filters as given; a `--since` or `--until` that names no time
    /// is an error whose message starts with the option.
    pub fn from_args(args: &FilterArgs) -> Result<Filter> {
        let FilterArgs {
            users,
            tasks,
            since,
            until,
            date_field,
            ids,
            user_ids,
        } = args;
        Ok(Filter {
            users: users.iter().map(|u| u.to_lowercase()).collect(),
            tasks: tasks.iter().map(|t| parse_task(t)).collect(),
            since: since
                .as_deref()
                .map(|w| parse_when(w, Bound::Since))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--since: {e:#}"))?,
            until: until
                .as_deref()
                .map(|w| parse_when(w, Bound::Until))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--until: {e:#}"))?,
            date_field: *date_field,
            ids: ids.clone(),
            user_ids: user_ids.clone(),
        })
    }

    /// True when any filter besides `--user` is set (server-json's safety
    /// check: the upload replaces all of the student's texts).
    pub fn has_more_than_users(&self) -> bool {
        let Filter {
            users: _,
            tasks,
            since,
            until,
            date_field: _, // says only which date --since and --until test
            ids,
            user_ids,
        } = self;
        !tasks.is_empty()
            || since.is_some()
            || until.is_some()
            || !ids.is_empty()
            || !user_ids.is_empty()
    }

    pub fn users(&self) -> &[String] {
        &self.users
    }

    /// The part of the filters a text row passes or fails by itself (id,
    /// user id, dates), without the users and tasks tables.
    pub fn of_rows(&self) -> Filter {
        let Filter {
            users: _,
            tasks: _,
            since,
            until,
            date_field,
            ids,
            user_ids,
        } = self;
        Filter {
            since: *since,
            until: *until,
            date_field: *date_field,
            ids: ids.clone(),
            user_ids: user_ids.clone(),
            ..Filter::default()
        }
    }

    /// The part of the filters that every version of a text (same student,
    /// same task) passes or fails alike within one dump: whose text it is
    /// (`--user`, `--user-id`). A student's username may differ between
    /// dumps: see [`Filter::rereads`].
    pub fn of_students(&self) -> Filter {
        let Filter {
            users,
            tasks: _,
            since: _,
            until: _,
            date_field: _,
            ids: _,
            user_ids,
        } = self;
        Filter {
            users: users.clone(),
            user_ids: user_ids.clone(),
            ..Filter::default()
        }
    }

    /// Only the texts of these students (by user id).
    pub fn only_user_ids(user_ids: Vec<i64>) -> Filter {
        Filter {
            user_ids,
            ..Filter::default()
        }
    }

    /// The user ids of the students `--user` names among `usernames`.
    pub fn user_ids_named(&self, usernames: &HashMap<i64, String>) -> HashSet<i64> {
        usernames
            .iter()
            .filter(|(_, name)| self.users.iter().any(|u| same_user(u, name)))
            .map(|(id, _)| *id)
            .collect()
    }

    /// After several dumps were read keeping [`Filter::of_students`], given
    /// the ids `--user` named in each ([`Filter::user_ids_named`]): for
    /// each dump, the filter to read it again with when it may have
    /// dropped texts of a student `--user` names in another dump (one
    /// renamed between them), else `None`.
    pub fn rereads(&self, named: &[HashSet<i64>]) -> Vec<Option<Filter>> {
        if self.users.is_empty() {
            return vec![None; named.len()];
        }
        let mut union: Vec<i64> = named.iter().flatten().copied().collect();
        union.sort_unstable();
        union.dedup();
        if !self.user_ids.is_empty() {
            union.retain(|id| self.user_ids.contains(id));
        }
        named
            .iter()
            .map(|mine| {
                let missing = union.iter().any(|id| !mine.contains(id));
                missing.then(|| Filter::only_user_ids(union.clone()))
            })
            .collect()
    }

    /// Whether a text row passes the filters that need no lookup (id, user
    /// id, dates): those applied while reading.
    pub fn matches_row(&self, text: &TaskText) -> bool {
        let Filter {
            users: _,
            tasks: _,
            since,
            until,
            date_field,
            ids,
            user_ids,
        } = self;
        if !ids.is_empty() && !ids.contains(&text.id) {
            return false;
        }
        if !user_ids.is_empty() && !user_ids.contains(&text.user_id) {
            return false;
        }
        if since.is_none() && until.is_none() {
            return true;
        }
        let date: Option<&Timestamp> = match date_field {
            DateField::Changed => Some(text.changed_at()),
            DateField::Created => Some(&text.created_at),
            DateField::Modified => text.modified_at.as_ref(),
        };
        let Some(date) = date else {
            return false;
        };
        since.is_none_or(|s| date.instant >= s) && until.is_none_or(|u| date.instant <= u)
    }

    /// Whether a record passes every filter.
    pub fn matches(&self, record: &Record<'_>) -> bool {
        let Filter {
            users,
            tasks,
            since: _, // these four: matches_row
            until: _,
            date_field: _,
            ids: _,
            user_ids: _,
        } = self;
        if !self.matches_row(record.text) {
            return false;
        }
        if !users.is_empty() {
            let Some(name) = record.username else {
                return false;
            };
            if !users.iter().any(|u| same_user(u, name)) {
                return false;
            }
        }
        if !tasks.is_empty() {
            let Some(task) = record.task else {
                return false;
            };
            if !tasks.iter().any(|p| p.matches(task)) {
                return false;
            }
        }
        true
    }
}

impl Filter {
    /// Warnings for each `--user` and `--task` that names nothing among
    /// these students and tasks, each with the nearest names there are.
    /// An empty list of names (a dump without that table) is not checked.
    pub fn unknown_names<'a>(
        &self,
        usernames: impl IntoIterator<Item = &'a str>,
        tasks: impl IntoIterator<Item = &'a Task>,
    ) -> Vec<String> {
        let mut warnings = Vec::new();
        let mut names: Vec<&str> = usernames.into_iter().collect();
        names.sort_unstable();
        names.dedup();
        if !names.is_empty() {
            for user in &self.users {
                if !names.iter().any(|n| same_user(user, n)) {
                    warnings.push(format!(
                        "no student named {user:?}{}",
                        nearest(
                            user,
                            names.iter().map(|n| (n.to_lowercase(), n.to_string()))
                        )
                    ));
                }
            }
        }
        let mut tasks: Vec<&Task> = tasks.into_iter().collect();
        tasks.sort_by_key(|t| (t.phase, t.name.to_lowercase()));
        if !tasks.is_empty() {
            for p in &self.tasks {
                if !tasks.iter().any(|t| p.matches(t)) {
                    let asked = p.to_string();
                    let candidates = tasks.iter().map(|t| {
                        let key = match p.phase {
                            Some(_) => t.label().to_lowercase(),
                            None => t.name.to_lowercase(),
                        };
                        (key, t.label())
                    });
                    let key = match p.phase {
                        Some(_) => asked.to_lowercase(),
                        None => p.name.to_lowercase(),
                    };
                    warnings.push(format!("no task {asked:?}{}", nearest(&key, candidates)));
                }
            }
        }
        warnings
    }

    /// When `--user` and exactly one `--task` name a student and a task
    /// that exist but no text matched: the hint that older backups may
    /// have it (`history` finds them).
    pub fn older_backups_hint(&self, matched: usize) -> Option<String> {
        if matched > 0 || self.tasks.len() != 1 || self.users.is_empty() {
            return None;
        }
        // The command as it can be pasted: `--option=VALUE`, quoted.
        let users: String = self
            .users
            .iter()
            .map(|u| format!(" {}", escape::shell_option("--user", u)))
            .collect();
        let task = self.tasks[0].to_string();
        let task_word = escape::shell_option("--task", &task);
        let task = escape::visible(&task);
        Some(format!(
            "no text of {} for task {task} in this dump; `textrescue history BACKUPS_FOLDER{users} {task_word}` \
             finds the older backups that have it",
            escape::visible(&self.users.join(" or "))
        ))
    }
}

/// Whether `--user` `filter` (lower case) names the student `name`.
pub fn same_user(filter: &str, name: &str) -> bool {
    filter.eq_ignore_ascii_case(name) || *filter == name.to_lowercase()
}

impl TaskPattern {
    fn matches(&self, task: &Task) -> bool {
        self.phase.is_none_or(|ph| ph == task.phase) && self.name.eq_ignore_ascii_case(&task.name)
    }
}

impl std::fmt::Display for TaskPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.phase {
            Some(phase) => write!(f, "{phase}-{}", self.name.to_uppercase()),
            None => write!(f, "{}", self.name.to_uppercase()),
        }
    }
}

/// `; nearest: a, b, c`: the (at most three) candidates closest to `asked`
/// by edit distance; `candidates` are (comparison key, name shown).
fn nearest(asked: &str, candidates: impl Iterator<Item = (String, String)>) -> String {
    let mut scored: Vec<(usize, String)> = candidates
        .map(|(key, shown)| (levenshtein(asked, &key), shown))
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    let best: Vec<String> = scored
        .into_iter()
        .take(3)
        .map(|(_, s)| crate::escape::visible(&s))
        .collect();
    if best.is_empty() {
        String::new()
    } else {
        format!("; the nearest: {}", best.join(", "))
    }
}

/// Edit distance (insertions, deletions, substitutions) in characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

fn parse_task(arg: &str) -> TaskPattern {
    if let Some((phase, name)) = arg.split_once('-')
        && let Ok(phase) = phase.trim().parse::<i64>()
    {
        return TaskPattern {
            phase: Some(phase),
            name: name.trim().to_string(),
        };
    }
    TaskPattern {
        phase: None,
        name: arg.trim().to_string(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bound {
    Since,
    Until,
}

/// A `--since`/`--until` value as an instant: a whole day starts (since) or
/// ends (until) at local midnight; a time without offset is local.
fn parse_when(when: &str, bound: Bound) -> Result<DateTime<FixedOffset>> {
    let when = when.trim();
    if let Ok(day) = NaiveDate::parse_from_str(when, "%Y-%m-%d") {
        let start = match bound {
            Bound::Since => day,
            Bound::Until => day.succ_opt().context("date out of range")?,
        };
        let midnight = local(start.and_hms_opt(0, 0, 0).expect("midnight exists"))?;
        return Ok(match bound {
            Bound::Since => midnight,
            // The day is included: up to the last instant before the next midnight.
            Bound::Until => midnight - chrono::Duration::nanoseconds(1),
        });
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(when) {
        return Ok(t);
    }
    for form in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(when, form) {
            return local(naive);
        }
    }
    bail!("{when:?} is neither a day (YYYY-MM-DD) nor an RFC 3339 time (2024-03-05T14:00:00+01:00)")
}

fn local(naive: NaiveDateTime) -> Result<DateTime<FixedOffset>> {
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.fixed_offset())
        .with_context(|| format!("{naive} does not exist in the local time zone"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::texts::Task;

    fn text(id: i64, created: &str, modified: Option<&str>) -> TaskText {
        TaskText {
            id,
            user_id: 1,
            task_id: 1,
            created_at: Timestamp::parse_pg(created).unwrap(),
            modified_at: modified.map(|m| Timestamp::parse_pg(m).unwrap()),
            text: b"x".to_vec(),
        }
    }

    fn filter(f: impl FnOnce(&mut FilterArgs)) -> Filter {
        let mut args = FilterArgs::default();
        f(&mut args);
        Filter::from_args(&args).unwrap()
    }

    #[test]
    fn until_a_day_includes_that_whole_day() {
        let f = filter(|a| {
            a.since = Some("2024-03-05T00:00:00+00:00".into());
            a.until = Some("2024-03-05T23:59:59.999999+00:00".into());
        });
        assert!(f.matches_row(&text(1, "2024-03-05 23:59:59.5+00", None)));
        assert!(!f.matches_row(&text(1, "2024-03-06 00:00:00+00", None)));
        assert!(!f.matches_row(&text(1, "2024-03-04 23:59:59+00", None)));
    }

    #[test]
    fn date_field_chooses_the_date() {
        let t = text(1, "2024-03-01 10:00:00+00", Some("2024-03-09 10:00:00+00"));
        let since = |field| {
            filter(|a| {
                a.since = Some("2024-03-05T00:00:00Z".into());
                a.date_field = field;
            })
        };
        assert!(since(DateField::Changed).matches_row(&t));
        assert!(!since(DateField::Created).matches_row(&t));
        assert!(since(DateField::Modified).matches_row(&t));
        let unmodified = text(2, "2024-03-09 10:00:00+00", None);
        assert!(!since(DateField::Modified).matches_row(&unmodified));
    }

    #[test]
    fn users_and_tasks_ignore_case_and_repeat_as_or() {
        let t = text(1, "2024-03-01 10:00:00+00", None);
        let task = Task {
            phase: 3,
            name: "multi".into(),
            is_enabled: true,
        };
        let r = Record {
            text: &t,
            username: Some("alice"),
            task: Some(&task),
        };
        assert!(filter(|a| a.users = vec!["ALICE".into()]).matches(&r));
        assert!(filter(|a| a.users = vec!["bob".into(), "Alice".into()]).matches(&r));
        assert!(!filter(|a| a.users = vec!["bob".into()]).matches(&r));
        assert!(filter(|a| a.tasks = vec!["3-multi".into()]).matches(&r));
        assert!(filter(|a| a.tasks = vec!["MULTI".into()]).matches(&r));
        assert!(!filter(|a| a.tasks = vec!["2-MULTI".into()]).matches(&r));
        assert!(
            !filter(|a| {
                a.users = vec!["alice".into()];
                a.tasks = vec!["1-EDIT".into()];
            })
            .matches(&r)
        );
    }

    #[test]
    fn edit_distances() {
        assert_eq!(levenshtein("alise", "alice"), 1);
        assert_eq!(levenshtein("", "bob"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("é", "e"), 1);
    }

    #[test]
    fn unknown_names_get_the_nearest() {
        let tasks = [
            Task {
                phase: 3,
                name: "MULTI".into(),
                is_enabled: true,
            },
            Task {
                phase: 4,
                name: "COST".into(),
                is_enabled: true,
            },
        ];
        let f = filter(|a| {
            a.users = vec!["alise".into(), "Bob".into()];
            a.tasks = vec!["3-multy".into(), "cost".into()];
        });
        let w = f.unknown_names(["alice", "bob", "zed"], &tasks);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("no student named \"alise\"") && w[0].ends_with("alice, bob, zed"),
            "{w:?}"
        );
        assert!(
            w[1].contains("\"3-MULTY\"") && w[1].contains(": 3-MULTI, 4-COST"),
            "{w:?}"
        );
        assert!(f.unknown_names([], []).is_empty());
    }

    #[test]
    fn bad_dates_are_errors() {
        let a = FilterArgs {
            since: Some("last tuesday".into()),
            ..FilterArgs::default()
        };
        assert!(Filter::from_args(&a).is_err());
    }
}

#[cfg(test)]
mod hint_tests {
    use super::*;

    /// The hint's command, read back by bash, gives history the names as
    /// they were given (lower-cased, as every filter compares them).
    #[test]
    fn the_older_backups_hint_is_a_command_that_parses_back() {
        let f = Filter::from_args(&FilterArgs {
            users: vec!["-y".into(), "A b".into(), "$(touch x)".into()],
            tasks: vec!["0--y".into()],
            ..FilterArgs::default()
        })
        .unwrap();
        let hint = f.older_backups_hint(0).unwrap();
        let command = hint
            .split('`')
            .nth(1)
            .and_then(|c| c.strip_prefix("textrescue history BACKUPS_FOLDER "))
            .unwrap_or_else(|| panic!("{hint}"));
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("printf '%s\\0' {command}"))
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap();
        let words: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(String::from)
            .collect();
        assert_eq!(
            words,
            [
                "--user=-y",
                "--user=a b",
                "--user=$(touch x)",
                "--task=0--Y"
            ],
            "{hint}"
        );
    }
}
