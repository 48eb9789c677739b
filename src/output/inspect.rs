//! What `textrescue inspect` prints: an [`Report`] per dump, as two tables
//! (facts, then tables and their rows) or as JSON.

use std::io::Write;

use anyhow::Result;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::inspect::Report;

pub fn write_json(reports: &[Report], out: &mut dyn Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, reports)?;
    writeln!(out)?;
    Ok(())
}

pub fn write_table(r: &Report, out: &mut dyn Write) -> Result<()> {
    // Every name and message is escaped: a table or database name can hold
    // line ends and terminal escapes (a dump is anyone's file).
    let shown = |v: &str| crate::escape::visible(v);
    let opt = |v: &Option<String>| v.as_deref().map_or_else(|| "-".into(), shown);
    let mut facts = Table::new();
    facts.load_preset(UTF8_FULL_CONDENSED);
    facts.add_row(["path", shown(&r.path).as_str()]);
    if let Some(error) = &r.error {
        facts.add_row(["error", shown(error).as_str()]);
    }
    facts.add_row(["format", opt(&r.format).as_str()]);
    facts.add_row(["compression", opt(&r.compression).as_str()]);
    if let Some(v) = &r.archive_version {
        facts.add_row(["archive version", v.as_str()]);
    }
    facts.add_row(["pg_dump version", opt(&r.pg_dump_version).as_str()]);
    facts.add_row(["server version", opt(&r.server_version).as_str()]);
    facts.add_row(["database", opt(&r.database).as_str()]);
    if r.databases.len() > 1 {
        facts.add_row(["databases", shown(&r.databases.join(", ")).as_str()]);
    }
    let complete = match &r.problem {
        None if r.complete => "yes".to_string(),
        None => "no".to_string(),
        Some(p) => format!("no: {}", shown(p)),
    };
    facts.add_row(["complete", complete.as_str()]);
    let texts_table = match (&r.texts_table, &r.texts_problem) {
        (Some(t), _) => shown(t),
        (None, Some(p)) => format!("- ({})", shown(p)),
        (None, None) => "-".into(),
    };
    facts.add_row(["texts table", texts_table.as_str()]);
    let count = |v: Option<usize>| v.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    facts.add_row(["texts", count(r.texts).as_str()]);
    facts.add_row(["students", count(r.students).as_str()]);
    facts.add_row(["newest text change", opt(&r.newest_text_change).as_str()]);
    writeln!(out, "{facts}")?;
    if r.tables.is_empty() {
        return Ok(());
    }
    // A cluster dump's tables come with their database.
    let several = r.databases.len() > 1;
    let mut tables = Table::new();
    tables.load_preset(UTF8_FULL_CONDENSED);
    if several {
        tables.set_header(["database", "table", "rows"]);
    } else {
        tables.set_header(["table", "rows"]);
    }
    for t in &r.tables {
        let rows = t.rows.map_or_else(|| "-".to_string(), |r| r.to_string());
        if several {
            tables.add_row([opt(&t.database), shown(&t.name), rows]);
        } else {
            tables.add_row([shown(&t.name), rows]);
        }
    }
    writeln!(out, "{tables}")?;
    Ok(())
}
