//! Compares writing a dump as one gzip member (flate2 `GzEncoder`, as
//! `backup` wrote plain dumps before) with writing it as an indexed
//! `.sql.gz` (textrescue's `IndexedGzWriter`), at the same level: size and
//! throughput, in interleaved rounds, output to memory (no disk in the
//! timing). The input is a plain dump, gzipped or not (read into memory
//! first).
//!
//!     cargo run --release --example indexed_write -- dump.sql.gz [ROUNDS] [LEVEL]

use std::io::{Read, Write};
use std::time::Instant;

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use textrescue::indexed_gzip::IndexedGzWriter;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: indexed_write DUMP [ROUNDS] [LEVEL]")?;
    let rounds: usize = args.next().map_or(Ok(3), |r| r.parse())?;
    let level = Compression::new(args.next().map_or(Ok(6), |l| l.parse())?);
    let raw = std::fs::read(&path).with_context(|| path.clone())?;
    let dump = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut d = Vec::new();
        MultiGzDecoder::new(&raw[..]).read_to_end(&mut d)?;
        d
    } else {
        raw
    };
    let mb = dump.len() as f64 / 1e6;
    let (mut single, mut indexed) = (Vec::new(), Vec::new());
    let (mut single_len, mut indexed_len, mut members) = (0, 0, 0);
    for round in 1..=rounds {
        let t = Instant::now();
        let mut gz = GzEncoder::new(Vec::with_capacity(dump.len() / 3), level);
        for chunk in dump.chunks(1 << 20) {
            gz.write_all(chunk)?;
        }
        single_len = gz.finish()?.len();
        single.push(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let mut gz = IndexedGzWriter::new(Vec::with_capacity(dump.len() / 3), level);
        for chunk in dump.chunks(1 << 20) {
            gz.write_all(chunk)?;
        }
        members = gz.members().len() + 1;
        indexed_len = gz.finish()?.len();
        indexed.push(t.elapsed().as_secs_f64());
        eprintln!(
            "round {round}/{rounds}: single {:.2}s, indexed {:.2}s",
            single[round - 1],
            indexed[round - 1]
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (s, i) = (median(&mut single), median(&mut indexed));
    println!(
        "dump: {} bytes; level {}; median of {rounds} rounds",
        dump.len(),
        level.level()
    );
    println!(
        "single member: {single_len} bytes, {s:.2} s, {:.0} MB/s",
        mb / s
    );
    println!(
        "indexed ({members} data members): {indexed_len} bytes ({:+.3}%), {i:.2} s, {:.0} MB/s ({:.3}x the time)",
        (indexed_len as f64 / single_len as f64 - 1.0) * 100.0,
        mb / i,
        i / s
    );
    Ok(())
}
