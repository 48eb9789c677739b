//! The restored database checked against the backup: every table's rows
//! counted in the server and compared with the backup's count, and every
//! text's SHA-256 computed in the server (of its bytes in the database's
//! encoding, which is the dump's) and compared with the one computed from
//! the backup. The texts come back one line each, as they are hashed:
//! memory stays bounded. Each check says what it found in one line.

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

/// Row counts, then texts, of `db` against `expected`.
pub fn check(
    server: &Server,
    db: &str,
    expected: &Expected,
    interrupt: &Caught,
    outcome: &mut Outcome,
) -> Result<()> {
    // Row counts, all tables in one script.
    let mut sql = String::new();
    for (i, (table, _)) in expected.tables.iter().enumerate() {
        sql += &format!(
            "SELECT 'textrescue-count {i} ' || count(*) FROM ONLY {}.{};\n",
            ident(&table.schema),
            ident(&table.name)
        );
    }
    let mut counted = vec![None; expected.tables.len()];
    if !sql.is_empty() {
        server.each_line(db, &sql, "textrescue-count ", interrupt, |line| {
            let (i, n) = line
                .split_once(' ')
                .ok_or_else(|| anyhow!("psql's answer is not the count asked for"))?;
            let i: usize = i.parse()?;
            let n: u64 = n.parse()?;
            if let Some(slot) = counted.get_mut(i) {
                *slot = Some(n);
            }
            Ok(())
        })?;
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
    check_texts(server, db, expected, interrupt, outcome)
}

fn check_texts(
    server: &Server,
    db: &str,
    expected: &Expected,
    interrupt: &Caught,
    outcome: &mut Outcome,
) -> Result<()> {
    let Some(table) = &expected.texts_table else {
        outcome
            .said
            .push("texts: the backup has no texts table; none compared".into());
        return Ok(());
    };
    let sql = format!(
        "SELECT 'textrescue-sha ' || id || ' ' || coalesce(encode(sha256(convert_to(text::text, \
         getdatabaseencoding())), 'hex'), 'null') FROM {}.{};\n",
        ident(&table.schema),
        ident(&table.name)
    );
    let mut seen = HashSet::with_capacity(expected.texts.len());
    let mut differ: Vec<i64> = Vec::new();
    let mut extra: Vec<i64> = Vec::new();
    server.each_line(db, &sql, "textrescue-sha ", interrupt, |line| {
        let (id, sha) = line
            .split_once(' ')
            .ok_or_else(|| anyhow!("psql's answer is not the hash asked for"))?;
        let id: i64 = id.parse()?;
        let got = if sha == "null" {
            None
        } else {
            Some(crate::restore::live::unhex(sha)?)
        };
        seen.insert(id);
        match expected.texts.get(&id) {
            Some(want) if want.map(|w| w.to_vec()) == got => {}
            Some(_) => differ.push(id),
            None => extra.push(id),
        }
        Ok(())
    })?;
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
    if differ.is_empty() && missing.is_empty() && extra.is_empty() {
        outcome.said.push(format!(
            "texts: {} text{} of {name}, each byte for byte as the backup holds it (SHA-256)",
            digits(expected.texts.len() as u64),
            plural(expected.texts.len())
        ));
    }
    Ok(())
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
