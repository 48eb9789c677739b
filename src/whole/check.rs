//! The restored database checked against the backup: every table's rows
//! counted in the server and compared with the backup's count, and every
//! text's SHA-256 computed in the server (of its bytes in the database's
//! encoding, which is the dump's) and compared with the one computed from
//! the backup. Only the digests cross the wire, never the texts: a digest
//! of the exact bytes is a byte-for-byte comparison (two different texts
//! with one SHA-256 are not known to exist). Each table is read once (the
//! texts table's rows are counted by its digests), by two sessions side by
//! side; the texts come back one line each, as they are hashed: memory
//! stays bounded. Each check says what it found in one line.

use std::collections::HashSet;

use anyhow::{Result, anyhow};

use super::expected::Expected;
use super::server::{MAINTENANCE_DB, Server, ident, literal};
use crate::counts::plural;
use crate::escape;
use crate::signals::Caught;

/// What the checks found: one line each, and the failures.
#[derive(Debug, Default)]
pub struct Outcome {
    pub said: Vec<String>,
    pub failures: Vec<String>,
}

impl Outcome {
    fn fail(&mut self, why: String) {
        self.failures.push(why);
    }
}

fn digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The psql sessions the check runs side by side: the scans of a freshly
/// loaded database are the server's work, and two keep two cores busy.
const SESSIONS: usize = 2;

/// One query of the check.
#[derive(Clone, Copy)]
enum Job {
    /// `count(*)` of `expected.tables[i]`.
    Count(usize),
    /// Every text's id and SHA-256 (which counts the texts table's rows too).
    Texts,
}

/// What the texts' digests showed, as they came.
#[derive(Default)]
struct TextsSeen {
    rows: u64,
    seen: HashSet<i64>,
    differ: Vec<i64>,
    extra: Vec<i64>,
    /// Rows whose id is NULL.
    without_id: u64,
}

/// Row counts and texts of `db` against `expected`. Every table is read
/// once: the texts table by the digests of its texts (one line a row, so
/// its rows are counted by them), the others by `count(*)`; the queries
/// shared between [`SESSIONS`] sessions, the largest tables first.
pub fn check(
    server: &Server,
    db: &str,
    expected: &Expected,
    interrupt: &Caught,
    outcome: &mut Outcome,
) -> Result<()> {
    let texts_at = expected
        .texts_table
        .as_ref()
        .and_then(|t| expected.tables.iter().position(|(name, _)| name == t));
    let mut jobs: Vec<Job> = (0..expected.tables.len())
        .filter(|&i| Some(i) != texts_at)
        .map(Job::Count)
        .collect();
    if expected.texts_table.is_some() {
        jobs.push(Job::Texts);
    }
    let bins = share(server, db, expected, jobs, interrupt)?;
    let mut counted = vec![None; expected.tables.len()];
    let texts = std::sync::Mutex::new(TextsSeen::default());
    let results: Vec<Result<Vec<(usize, u64)>>> = std::thread::scope(|scope| {
        let running: Vec<_> = bins
            .iter()
            .filter(|bin| !bin.is_empty())
            .map(|bin| {
                let sql = script(expected, bin);
                let texts = &texts;
                scope.spawn(move || {
                    let mut counts = Vec::new();
                    server.each_line(db, &sql, "textrescue-", interrupt, |line| {
                        if let Some(line) = line.strip_prefix("count ") {
                            counts.push(count_line(line)?);
                        } else if let Some(line) = line.strip_prefix("sha ") {
                            let mut texts = texts.lock().expect("texts");
                            texts_line(line, expected, &mut texts)?;
                        }
                        Ok(())
                    })?;
                    Ok(counts)
                })
            })
            .collect();
        running
            .into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or_else(|_| Err(anyhow!("the check failed")))
            })
            .collect()
    });
    for r in results {
        for (i, n) in r? {
            if let Some(slot) = counted.get_mut(i) {
                *slot = Some(n);
            }
        }
    }
    let texts = texts.into_inner().expect("texts");
    if let Some(i) = texts_at {
        counted[i] = Some(texts.rows);
    }
    let mut rows = 0u64;
    let mut bad = 0;
    for ((table, want), got) in expected.tables.iter().zip(&counted) {
        rows += want;
        match got {
            Some(got) if got == want => {}
            Some(got) => {
                bad += 1;
                outcome.fail(format!(
                    "table {}: {} row{} restored, the backup has {}",
                    escape::visible(&table.to_string()),
                    digits(*got),
                    plural(*got as usize),
                    digits(*want)
                ));
            }
            None => {
                bad += 1;
                outcome.fail(format!(
                    "table {}: not counted",
                    escape::visible(&table.to_string())
                ));
            }
        }
    }
    if bad == 0 {
        outcome.said.push(format!(
            "row counts: {} table{}, {} row{}, each table as many as the backup holds",
            expected.tables.len(),
            plural(expected.tables.len()),
            digits(rows),
            plural(rows as usize)
        ));
    }
    judge_texts(expected, texts, outcome);
    Ok(())
}

/// The jobs shared between [`SESSIONS`] bins of about the same size on
/// disk (the server's own sizes, asked first), largest first.
fn share(
    server: &Server,
    db: &str,
    expected: &Expected,
    jobs: Vec<Job>,
    interrupt: &Caught,
) -> Result<Vec<Vec<Job>>> {
    let table_of = |job: &Job| match job {
        Job::Count(i) => &expected.tables[*i].0,
        Job::Texts => expected.texts_table.as_ref().expect("a texts table"),
    };
    let mut sizes = vec![0u64; jobs.len()];
    if jobs.len() > 1 {
        let values: Vec<String> = jobs
            .iter()
            .enumerate()
            .map(|(j, job)| {
                let t = table_of(job);
                format!(
                    "({j}, {})",
                    literal(&format!("{}.{}", ident(&t.schema), ident(&t.name)))
                )
            })
            .collect();
        let sql = format!(
            "SELECT 'textrescue-size ' || j || ' ' || coalesce(pg_total_relation_size(\
             to_regclass(name)), 0) FROM (VALUES {}) AS t(j, name);\n",
            values.join(", ")
        );
        server.each_line(db, &sql, "textrescue-size ", interrupt, |line| {
            let (j, n) = line
                .split_once(' ')
                .ok_or_else(|| anyhow!("psql's answer is not the size asked for"))?;
            let (j, n): (usize, u64) = (j.parse()?, n.parse()?);
            if let Some(slot) = sizes.get_mut(j) {
                *slot = n;
            }
            Ok(())
        })?;
    }
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&j| std::cmp::Reverse(sizes[j]));
    let mut bins: Vec<(u64, Vec<Job>)> = vec![(0, Vec::new()); SESSIONS];
    for j in order {
        let lightest = bins
            .iter_mut()
            .min_by_key(|(total, _)| *total)
            .expect("bins");
        lightest.0 += sizes[j];
        lightest.1.push(jobs[j]);
    }
    Ok(bins.into_iter().map(|(_, jobs)| jobs).collect())
}

/// One session's queries: `textrescue-count I N` for each table counted,
/// `textrescue-sha ID HEX` for each text (`null` for a NULL id or text).
fn script(expected: &Expected, jobs: &[Job]) -> String {
    let mut sql = String::new();
    for job in jobs {
        match *job {
            Job::Count(i) => {
                let table = &expected.tables[i].0;
                sql += &format!(
                    "SELECT 'textrescue-count {i} ' || count(*) FROM ONLY {}.{};\n",
                    ident(&table.schema),
                    ident(&table.name)
                );
            }
            Job::Texts => {
                let table = expected.texts_table.as_ref().expect("a texts table");
                sql += &format!(
                    "SELECT 'textrescue-sha ' || coalesce(id::text, 'null') || ' ' || \
                     coalesce(encode(sha256(convert_to(text::text, getdatabaseencoding())), \
                     'hex'), 'null') FROM ONLY {}.{};\n",
                    ident(&table.schema),
                    ident(&table.name)
                );
            }
        }
    }
    sql
}

fn count_line(line: &str) -> Result<(usize, u64)> {
    let (i, n) = line
        .split_once(' ')
        .ok_or_else(|| anyhow!("psql's answer is not the count asked for"))?;
    Ok((i.parse()?, n.parse()?))
}

fn texts_line(line: &str, expected: &Expected, texts: &mut TextsSeen) -> Result<()> {
    let (id, sha) = line
        .split_once(' ')
        .ok_or_else(|| anyhow!("psql's answer is not the hash asked for"))?;
    texts.rows += 1;
    if id == "null" {
        texts.without_id += 1;
        return Ok(());
    }
    let id: i64 = id.parse()?;
    let got = if sha == "null" {
        None
    } else {
        Some(crate::restore::live::unhex(sha)?)
    };
    texts.seen.insert(id);
    match expected.texts.get(&id) {
        Some(want) if want.map(|w| w.to_vec()) == got => {}
        Some(_) => texts.differ.push(id),
        None => texts.extra.push(id),
    }
    Ok(())
}

fn judge_texts(expected: &Expected, texts: TextsSeen, outcome: &mut Outcome) {
    let Some(table) = &expected.texts_table else {
        outcome
            .said
            .push("texts: the backup has no texts table; none compared".into());
        return;
    };
    let TextsSeen {
        seen,
        mut differ,
        extra,
        without_id,
        ..
    } = texts;
    let mut missing: Vec<i64> = expected
        .texts
        .keys()
        .filter(|id| !seen.contains(id))
        .copied()
        .collect();
    missing.sort_unstable();
    differ.sort_unstable();
    let name = escape::visible(&table.to_string());
    let few = |ids: &[i64]| {
        let mut s: Vec<String> = ids.iter().take(10).map(i64::to_string).collect();
        if ids.len() > 10 {
            s.push("...".into());
        }
        s.join(", ")
    };
    if !differ.is_empty() {
        outcome.fail(format!(
            "table {name}: {} text{} differ from the backup's (id {})",
            differ.len(),
            plural(differ.len()),
            few(&differ)
        ));
    }
    if !missing.is_empty() {
        outcome.fail(format!(
            "table {name}: {} text{} of the backup missing (id {})",
            missing.len(),
            plural(missing.len()),
            few(&missing)
        ));
    }
    if !extra.is_empty() {
        outcome.fail(format!(
            "table {name}: {} text{} the backup does not have (id {})",
            extra.len(),
            plural(extra.len()),
            few(&extra)
        ));
    }
    if without_id > 0 {
        outcome.fail(format!(
            "table {name}: {without_id} text{} without an id, which the backup does not have",
            plural(without_id as usize)
        ));
    }
    if differ.is_empty() && missing.is_empty() && extra.is_empty() && without_id == 0 {
        outcome.said.push(format!(
            "texts: {} text{} of {name}, each byte for byte as the backup holds it (SHA-256)",
            digits(expected.texts.len() as u64),
            plural(expected.texts.len())
        ));
    }
}

/// The race server's schema version (`alembic_version`) of the restored
/// database against the live one's.
pub fn schema_version(
    server: &Server,
    restored: &Expected,
    interrupt: &Caught,
    outcome: &mut Outcome,
) -> Result<()> {
    let Some(live) = server.live_db() else {
        outcome
            .said
            .push("schema version: no live database named; not compared".into());
        return Ok(());
    };
    let Some(backup_version) = &restored.alembic else {
        outcome
            .said
            .push("schema version: the backup has no alembic_version table; not compared".into());
        return Ok(());
    };
    let exists = server.lines(
        MAINTENANCE_DB,
        &format!(
            "SELECT 'textrescue-n ' || count(*) FROM pg_database WHERE datname = {};\n",
            literal(live)
        ),
        "textrescue-n ",
        interrupt,
    )?;
    if exists.first().is_none_or(|n| n == "0") {
        outcome.fail(format!(
            "schema version: the live database {} does not exist",
            escape::visible(live)
        ));
        return Ok(());
    }
    let has_table = server.lines(
        live,
        "SELECT 'textrescue-t ' || (to_regclass('alembic_version') IS NOT NULL);\n",
        "textrescue-t ",
        interrupt,
    )?;
    let live_version = if has_table.first().is_some_and(|t| t == "true") {
        server.lines(
            live,
            "SELECT 'textrescue-v ' || coalesce(string_agg(version_num, ',' ORDER BY \
             version_num), '') FROM alembic_version;\n",
            "textrescue-v ",
            interrupt,
        )?
    } else {
        vec!["-".into()]
    };
    let mut backup_sorted = backup_version.clone();
    backup_sorted.sort();
    let shown = |v: &str| {
        if v.is_empty() {
            "(none: the table is empty)".to_string()
        } else {
            escape::visible(v)
        }
    };
    let backup_joined = backup_sorted.join(",");
    match live_version.first().map(String::as_str) {
        Some("-") | None => outcome.said.push(format!(
            "schema version: the live database has no alembic_version table; the backup's is {}",
            shown(&backup_joined)
        )),
        Some(v) if v == backup_joined => outcome.said.push(format!(
            "schema version: {} in the backup and in the live database",
            shown(v)
        )),
        Some(v) => outcome.fail(format!(
            "schema version: the backup's is {}, the live database's {}: the backup is of an \
             older or newer schema",
            shown(&backup_joined),
            shown(v)
        )),
    }
    Ok(())
}
