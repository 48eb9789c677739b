//! Two dumps' texts compared: which texts were added, removed or changed
//! between an older and a newer dump. Texts are matched on (user_id,
//! task_id), as the server keeps one text per student and task: a text
//! deleted and written again is `changed` (with both ids), and a renamed
//! student or task is still matched. `diff` prints a [`Comparison`];
//! `history` follows one text across many dumps (see [`crate::history`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::filter::Filter;
use crate::texts::{Record, TaskText, Texts};

/// Two dumps' texts matched on (user_id, task_id), after the filters.
#[derive(Debug, Default)]
pub struct Comparison<'a> {
    /// Texts only NEW has, in NEW's id order.
    pub added: Vec<Record<'a>>,
    /// Texts only OLD has, in OLD's id order.
    pub removed: Vec<Record<'a>>,
    /// (OLD, NEW) pairs that differ in text, id or timestamps, in OLD's id order.
    pub changed: Vec<(Record<'a>, Record<'a>)>,
    /// Pairs that match the filters and are identical.
    pub unchanged: usize,
    /// Students and tasks named differently in the two dumps (among the
    /// matched texts): `(what, old name, new name)`.
    pub renamed: Vec<(String, String, String)>,
}

/// The texts `--format sql` restores: OLD's removed texts, and with
/// `overwrite` OLD's version of the changed ones. The live database is
/// searched by name, and it is closer to NEW than to OLD: where NEW still
/// has the student or task (perhaps renamed), NEW's name is used.
pub fn restore_records<'a>(
    c: &Comparison<'a>,
    new: &'a Texts,
    with_changed: bool,
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
    if with_changed {
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

/// What differs between the two versions of a changed text.
pub fn what_changed(old: &Record<'_>, new: &Record<'_>) -> String {
    let (o, n) = (old.text, new.text);
    let mut what = Vec::new();
    if o.text != n.text {
        what.push("text");
    }
    if o.id != n.id {
        what.push("re-created");
    } else if o.created_at.instant != n.created_at.instant {
        what.push("created_at");
    }
    if o.modified_at.as_ref().map(|m| m.instant) != n.modified_at.as_ref().map(|m| m.instant) {
        what.push("modified_at");
    }
    what.join(", ")
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
            what_changed(&c.changed[0].0, &c.changed[0].1),
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

        let skip = restore_records(&c, &new, false);
        assert_eq!(skip.len(), 1);
        assert_eq!(skip[0].text.id, 3);
        // The live database knows the student by NEW's name.
        assert_eq!(skip[0].username, Some("dmitry"));
        let all = restore_records(&c, &new, true);
        assert_eq!(all.iter().map(|r| r.text.id).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(all[0].task.unwrap().label(), "4-COSTS");
        assert_eq!(all[0].text.modified_at, None, "OLD's version");
    }
}
