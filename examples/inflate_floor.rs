//! The performance floor for reading a gzipped dump: inflate it with flate2's
//! `MultiGzDecoder` (zlib-rs backend, the one textrescue uses), single
//! threaded, into a 256 KiB buffer, and throw the bytes away. Nothing that
//! reads every byte of a `.sql.gz` can be faster than this on one core.
//!
//!     cargo run --release --example inflate_floor -- dump.sql.gz

use std::fs::File;
use std::io::{BufReader, Read};
use std::time::Instant;

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;

fn main() -> Result<()> {
    let path = std::env::args_os()
        .nth(1)
        .context("usage: inflate_floor FILE.gz")?;
    let file = File::open(&path).with_context(|| format!("opening {}", path.to_string_lossy()))?;
    let t = Instant::now();
    let mut dec = MultiGzDecoder::new(BufReader::with_capacity(256 << 10, file));
    let mut buf = vec![0u8; 256 << 10];
    let mut total: u64 = 0;
    loop {
        let n = dec.read(&mut buf).context("inflating")?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    let secs = t.elapsed().as_secs_f64();
    println!("{total}");
    eprintln!(
        "inflate_floor: {total} bytes in {secs:.3} s ({:.0} MB/s)",
        total as f64 / secs / 1e6
    );
    Ok(())
}
