//! The check of the `indexed` fuzz target, shared with
//! tests/fuzz_regressions.rs, which replays its corpus through it: a dump
//! and cuts of it into labelled members (an index that may lie), and the
//! same dump as the writer cuts it, read through the index, must read as
//! the same bytes streamed.

use std::io::Write;
use std::path::Path;

use textrescue::dump::{self, ReadOptions};
use textrescue::indexed_gzip::IndexedGzWriter;
use textrescue::indexed_gzip::write::write_as_told;
use textrescue::input::Source;

const LABELS: [Option<&[u8]>; 4] = [
    None,
    Some(b"public.tasktexts"),
    Some(b"public.users"),
    Some(b"public.other"),
];

/// What a read says, with the source's name taken out. Errors are compared
/// by their text: an anyhow error's Debug carries its backtrace when
/// RUST_BACKTRACE is set (as under the fuzzer), which differs by call site.
fn read(source: &Source, count_rows: bool, users: &[String]) -> String {
    let mut options = ReadOptions {
        count_rows,
        count_texts_only: count_rows,
        ..Default::default()
    };
    if !users.is_empty() {
        let users = textrescue::filter::FilterArgs {
            users: users.to_vec(),
            ..Default::default()
        };
        options.keep_only(&textrescue::filter::Filter::from_args(&users).expect("no dates"));
    }
    let name = source.display();
    let said = match dump::read(source, &options) {
        Ok(d) => format!(
            "{:?} {:?} {:?}",
            d.summary,
            d.databases.iter().map(canonical).collect::<Vec<_>>(),
            d.texts()
                .map(|(t, w)| (t.rows.len(), w))
                .map_err(|e| format!("{e:#}"))
        ),
        Err(e) => format!("error: {e:#}"),
    };
    said.replace(&name, "DUMP")
}

/// A database as text in one order: its maps (usernames, tasks) are hash
/// maps, whose Debug order differs from one map to the next.
fn canonical(db: &textrescue::dump::Database) -> String {
    let t = &db.texts;
    format!(
        "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {} {} {:?}",
        db.name,
        db.texts_table,
        db.problems,
        db.texts_problem,
        t.rows,
        t.usernames
            .iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
        t.tasks.iter().collect::<std::collections::BTreeMap<_, _>>(),
        t.students,
        db.texts_count,
        db.newest_text_change,
    )
}

/// Panics where a read through an index differs from the same bytes
/// streamed. `data`: a count of cuts (its first byte, modulo 9), 3 bytes per
/// cut (offset, two bytes little-endian, modulo the dump's length + 1, and
/// a label), then the dump. `scratch`: a folder for the files.
pub fn check(data: &[u8], scratch: &Path) {
    // The first bytes say where to cut (up to 8 cuts of 3 bytes: two of
    // offset, one of label), the rest is the dump.
    let cuts = data.first().map_or(0, |n| (n % 9) as usize);
    let Some(dump) = data.get(1 + 3 * cuts..) else {
        return;
    };
    let mut at: Vec<(usize, u8)> = data[1..1 + 3 * cuts]
        .chunks(3)
        .map(|c| {
            (
                u16::from_le_bytes([c[0], c[1]]) as usize % (dump.len() + 1),
                c[2],
            )
        })
        .collect();
    at.sort();
    let mut pieces = Vec::new();
    let mut from = 0;
    for (to, label) in at {
        let label = LABELS[label as usize % 4];
        pieces.push((&dump[from..to], label, label.is_some()));
        from = to;
    }
    pieces.push((&dump[from..], None, false));
    let told = write_as_told(Vec::new(), &pieces).expect("in memory");
    let mut gz = IndexedGzWriter::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(dump).expect("in memory");
    let written = gz.finish().expect("in memory");

    let streamed = Source::Memory(told.clone().into());
    for (name, file) in [("told.sql.gz", &told), ("written.sql.gz", &written)] {
        let path = scratch.join(name);
        std::fs::write(&path, file).expect("a temporary file");
        let indexed = Source::Path(path);
        for (count_rows, users) in [
            (false, vec![]),
            (true, vec![]),
            (false, vec!["alice".to_string()]),
        ] {
            assert_eq!(
                read(&indexed, count_rows, &users),
                read(&streamed, count_rows, &users),
                "{name}, count_rows {count_rows}, users {users:?}"
            );
        }
    }
}
