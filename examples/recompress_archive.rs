//! Rewrites an uncompressed custom archive (`pg_dump -Fc -Z0`, archive
//! version 1.14) into an LZ4- or zstd-compressed one, as pg_dump 16 would
//! write it: archive version 1.15, whose header names the compression
//! algorithm in one byte (0 none, 1 gzip, 2 lz4, 3 zstd) where 1.14 had an
//! integer level; each data block's COPY text compressed as one LZ4 frame or
//! one zstd frame, cut into chunks; the TOC's data offsets pointing at the
//! new blocks. Used by fixtures/build-compressed: no pg_dump here writes
//! these compressions.
//!
//! Usage: cargo run --example recompress_archive -- IN.dump OUT.dump lz4|zstd

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 || !matches!(args[3].as_str(), "lz4" | "zstd") {
        eprintln!("usage: recompress_archive IN.dump OUT.dump lz4|zstd");
        std::process::exit(2);
    }
    let input = std::fs::read(&args[1]).expect("reading the input archive");
    let out = recompress(&input, &args[3]).unwrap_or_else(|e| {
        eprintln!("recompress_archive: {e}");
        std::process::exit(1);
    });
    std::fs::write(&args[2], out).expect("writing the output archive");
}

struct In<'a> {
    b: &'a [u8],
    i: usize,
    int_size: usize,
}

impl In<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let s = self
            .b
            .get(self.i..self.i + n)
            .ok_or("the input archive is truncated")?;
        self.i += n;
        Ok(s)
    }
    fn int(&mut self) -> Result<i64, String> {
        let sign = self.take(1)?[0];
        let n = self.int_size;
        let bytes = self.take(n)?;
        let mut v = 0i64;
        for (k, b) in bytes.iter().enumerate() {
            v |= i64::from(*b) << (8 * k);
        }
        Ok(if sign == 0 { v } else { -v })
    }
    fn string(&mut self) -> Result<Option<String>, String> {
        let len = self.int()?;
        if len < 0 {
            return Ok(None);
        }
        Ok(Some(
            String::from_utf8_lossy(self.take(len as usize)?).into_owned(),
        ))
    }
}

fn recompress(input: &[u8], algorithm: &str) -> Result<Vec<u8>, String> {
    if !input.starts_with(b"PGDMP") || input.len() < 12 {
        return Err("not a custom archive".into());
    }
    let (major, minor, int_size, off_size, format) =
        (input[5], input[6], input[8], input[9], input[10]);
    if (major, minor) != (1, 14) || format != 1 {
        return Err(format!(
            "expected a version 1.14 custom archive, got {major}.{minor} format {format}"
        ));
    }
    let mut r = In {
        b: input,
        i: 11,
        int_size: int_size as usize,
    };
    if r.int()? != 0 {
        return Err("the input archive is compressed; dump it with -Z0".into());
    }
    let mut out = input[..11].to_vec();
    out[6] = 15; // archive version 1.15: compression is an algorithm byte
    out.push(if algorithm == "lz4" { 2 } else { 3 });
    // Time, database name, versions: copied as they are.
    let rest_start = r.i;
    for _ in 0..7 {
        r.int()?;
    }
    for _ in 0..3 {
        r.string()?;
    }
    let count = r.int()?;
    // The TOC, with the place of each offset noted for patching.
    let mut offset_at = std::collections::HashMap::new();
    for _ in 0..count {
        let id = r.int()?;
        r.int()?; // had dumper
        for _ in 0..4 {
            r.string()?; // table oid, oid, tag, desc
        }
        r.int()?; // section
        for _ in 0..6 {
            r.string()?; // defn, drop, copy, namespace, tablespace, tableam
        }
        r.string()?; // owner
        r.string()?; // with oids
        while r.string()?.is_some() {}
        offset_at.insert(id, r.i - rest_start + out.len());
        r.take(1 + off_size as usize)?;
    }
    out.extend_from_slice(&input[rest_start..r.i]);
    let write_int = |out: &mut Vec<u8>, v: i64| {
        out.push(u8::from(v < 0));
        let a = v.unsigned_abs();
        for k in 0..int_size as usize {
            out.push((a >> (8 * k)) as u8);
        }
    };
    while r.i < input.len() {
        let block_start = out.len();
        let kind = r.take(1)?[0];
        let id = r.int()?;
        if kind != 1 {
            return Err(format!(
                "block type {kind} (large objects) is not supported here"
            ));
        }
        let mut data = Vec::new();
        loop {
            let len = r.int()?;
            if len == 0 {
                break;
            }
            data.extend_from_slice(r.take(len as usize)?);
        }
        let compressed = if algorithm == "lz4" {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            enc.write_all(&data).map_err(|e| e.to_string())?;
            enc.finish().map_err(|e| e.to_string())?
        } else {
            ruzstd::encoding::compress_to_vec(
                &data[..],
                ruzstd::encoding::CompressionLevel::Fastest,
            )
        };
        out.push(kind);
        write_int(&mut out, id);
        // Chunks as pg_dump cuts them, a few kilobytes each.
        for chunk in compressed.chunks(4096) {
            write_int(&mut out, chunk.len() as i64);
            out.extend_from_slice(chunk);
        }
        write_int(&mut out, 0);
        if let Some(&at) = offset_at.get(&id) {
            out[at] = 2; // offset set
            for k in 0..off_size as usize {
                out[at + 1 + k] = ((block_start as u64) >> (8 * k)) as u8;
            }
        }
    }
    Ok(out)
}
