//! Times reading an indexed `.sql.gz` (as `gen_dump --indexed` or
//! `textrescue reindex` write them) four ways, in interleaved rounds: as one
//! gzip stream (`MultiGzDecoder`, what readers do without an index), every
//! member in order on one thread (`Inflate`), every member on all cores
//! (`ParallelInflate`, for `inspect`), and only the members `texts` needs
//! (`Index::plan` for the texts, users and tasks tables).
//!
//!     cargo run --release --example indexed_read -- dump.sql.gz [ROUNDS]

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::time::Instant;

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;
use textrescue::dump::race::reads_rows_of;
use textrescue::indexed_gzip::{Index, Inflate, ParallelInflate};
use textrescue::sql_scan::parse_table_name;

fn drain(mut r: impl Read) -> io::Result<u64> {
    io::copy(&mut r, &mut io::sink())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: indexed_read DUMP.sql.gz [ROUNDS]")?;
    let rounds: usize = args.next().map_or(Ok(3), |r| r.parse())?;
    let open = || File::open(&path).with_context(|| path.clone());
    let index = Index::read(&open()?)?.context("no index that agrees with the file")?;
    // What `texts` reads: the rows of the texts, users and tasks tables.
    let texts = index.plan(|t| parse_table_name(t).is_some_and(|t| reads_rows_of(&t, None)));
    let texts_bytes: u64 = texts.iter().map(|m| m.uncompressed_len).sum();
    println!(
        "{path}: {} members, {} bytes of dump; texts need {} members, {texts_bytes} bytes",
        index.members.len(),
        index.dump_len,
        texts.len()
    );
    let ways = [
        "stream",
        "members in order",
        "members in parallel",
        "texts' members",
    ];
    let mut times = vec![Vec::new(); ways.len()];
    for round in 1..=rounds {
        for (way, name) in ways.iter().enumerate() {
            let t = Instant::now();
            let n = match way {
                0 => drain(MultiGzDecoder::new(BufReader::with_capacity(
                    1 << 20,
                    open()?,
                )))?,
                1 => drain(Inflate::new(open()?, index.members.clone()))?,
                2 => drain(ParallelInflate::with_all_cores(
                    open()?,
                    index.members.clone(),
                )?)?,
                _ => drain(Inflate::new(open()?, texts.clone()))?,
            };
            times[way].push(t.elapsed().as_secs_f64());
            eprintln!(
                "round {round}/{rounds}: {name}: {n} bytes in {:.2} s",
                times[way][round - 1]
            );
        }
    }
    let mut medians = Vec::new();
    for t in &mut times {
        t.sort_by(f64::total_cmp);
        medians.push(t[t.len() / 2]);
    }
    println!(
        "median of {rounds} rounds, {} threads:",
        rayon::current_num_threads()
    );
    for (way, name) in ways.iter().enumerate() {
        println!(
            "  {name}: {:.3} s ({:.2}x the stream)",
            medians[way],
            medians[way] / medians[0]
        );
    }
    Ok(())
}
