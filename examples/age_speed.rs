//! How fast `--encrypt-to` encrypts, on one core: 1 GiB (or the size given,
//! in MiB) of incompressible bytes through the same age writer
//! (`textrescue::remote::seal`), into a sink, then with the SHA-256 of the
//! ciphertext that the upload computes as well.
//!
//!     cargo run --release --example age_speed -- 1024
use std::io::Write;
use std::time::Instant;

use sha2::{Digest, Sha256};

/// A sink that hashes what it is given, as the upload does.
struct Hashing(Sha256);

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let mib: usize = std::env::args().nth(1).map_or(Ok(1024), |a| a.parse())?;
    let key = age::x25519::Identity::generate().to_public().to_string();
    let recipients = textrescue::remote::seal::Recipients::parse(&[key], &[])?.expect("a key");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let block: Vec<u8> = (0..1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let report = |what: &str, secs: f64| {
        println!(
            "{what}: {mib} MiB in {secs:.2} s = {:.0} MB/s (one core)",
            (mib * 1024 * 1024) as f64 / secs / 1e6
        );
    };

    let start = Instant::now();
    let mut w = recipients.encrypt(std::io::sink())?;
    for _ in 0..mib {
        w.write_all(&block)?;
    }
    w.finish()?;
    report("encrypt alone", start.elapsed().as_secs_f64());

    let start = Instant::now();
    let mut w = recipients.encrypt(Hashing(Sha256::new()))?;
    for _ in 0..mib {
        w.write_all(&block)?;
    }
    w.finish()?;
    report(
        "encrypt + sha256 of the ciphertext",
        start.elapsed().as_secs_f64(),
    );
    Ok(())
}
