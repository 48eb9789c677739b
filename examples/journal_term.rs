//! The journal's size and reading-speed benchmark (issue 22): a simulated
//! term, generated deterministically: 150 students, 25 tasks, 40 saved
//! versions per text, each version changing one line (at most 80 bytes) of
//! a 2 KB text, written through the journal as a watcher would (a poll
//! records every live text; a tenth of the texts change at each poll).
//!
//!     cargo run --release --example journal_term [STUDENTS [DIR]]
//!
//! With DIR, the journal is written there (to look at with `sqlite3`)
//! instead of in a temporary folder.
//!
//! Prints the raw bytes of all versions, the journal's size after a
//! checkpoint and its ratio, what compressing each version alone gives,
//! the time to read one text's whole history (median), and peak memory.

use chrono::{DateTime, TimeDelta, Utc};
use std::time::Instant;
use textrescue::journal::{JournalReader, JournalWriter, Recorded, TextMeta, sha256_of};

const TASKS: i64 = 25;
const VERSIONS: usize = 40;
/// A text changes every this many polls.
const CHANGE_EVERY: usize = 10;
const TEXT_BYTES: usize = 2048;

/// A small deterministic generator (splitmix64).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Words a student might write: made-up syllables, some frequent, a few
/// with accents.
fn vocabulary(random: &mut Random) -> Vec<String> {
    const SYLLABLES: &[&str] = &[
        "ra", "ce", "bug", "gy", "car", "wheel", "speed", "to", "the", "and", "on", "in", "ing",
        "er", "ti", "on", "pow", "fu", "el", "é", "ü", "tra", "ck", "lap", "tyre", "cost", "max",
    ];
    (0..3000)
        .map(|_| {
            let n = 1 + random.below(3);
            (0..n)
                .map(|_| SYLLABLES[random.below(SYLLABLES.len())])
                .collect()
        })
        .collect()
}

/// A line of at most 80 bytes.
fn line(random: &mut Random, words: &[String]) -> String {
    let target = 20 + random.below(60);
    let mut line = String::new();
    loop {
        // Frequent words more often: the lower of two draws.
        let word = &words[random.below(words.len()).min(random.below(words.len()))];
        if line.len() + word.len() + 1 > target {
            break;
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    line
}

fn first_version(random: &mut Random, words: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut size = 0;
    while size < TEXT_BYTES {
        let next = line(random, words);
        size += next.len() + 1;
        lines.push(next);
    }
    lines
}

fn pg_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> anyhow::Result<()> {
    let students: i64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(150);
    let temporary = tempfile::tempdir()?;
    let kept = std::env::args().nth(2).map(std::path::PathBuf::from);
    let dir = kept.as_deref().unwrap_or(temporary.path());
    let mut random = Random(22);
    let words = vocabulary(&mut random);
    let start = DateTime::parse_from_rfc3339("2026-09-01T08:00:00Z")?.with_timezone(&Utc);

    // The texts: (meta, lines, saved versions so far).
    let mut texts: Vec<(TextMeta, Vec<String>, usize)> = Vec::new();
    for user_id in 1..=students {
        for task_id in 1..=TASKS {
            let row_id = texts.len() as i64 + 1;
            let lines = first_version(&mut random, &words);
            let meta = TextMeta {
                row_id,
                user_id,
                task_id,
                created_at: pg_time(start + TimeDelta::microseconds(row_id * 7_919)),
                modified_at: None,
            };
            texts.push((meta, lines, 0));
        }
    }

    let mut raw_bytes = 0u64;
    let mut alone_bytes = 0u64;
    let mut shas = vec![[0u8; 32]; texts.len()];
    let write_start = Instant::now();
    {
        let mut journal = JournalWriter::open(dir)?;
        let polls = VERSIONS * CHANGE_EVERY;
        for p in 0..polls {
            let at = start + TimeDelta::minutes(p as i64 + 1);
            let mut poll = journal.begin_poll(at)?;
            for (i, (meta, lines, saved)) in texts.iter_mut().enumerate() {
                if (p + i) % CHANGE_EVERY != 0 && *saved > 0 {
                    assert_eq!(poll.record_seen(meta, Some(&shas[i]))?, Recorded::Unchanged);
                    continue;
                }
                if *saved == VERSIONS {
                    poll.record_seen(meta, Some(&shas[i]))?;
                    continue;
                }
                if *saved > 0 {
                    let which = random.below(lines.len());
                    lines[which] = line(&mut random, &words);
                }
                *saved += 1;
                meta.modified_at = Some(pg_time(at - TimeDelta::seconds(17)));
                let text = lines.join("\n");
                raw_bytes += text.len() as u64;
                // Each version compressed alone, for comparison (a sample:
                // level 19 on every version would double the run).
                if i % 10 == 0 {
                    alone_bytes += 10 * zstd::bulk::compress(text.as_bytes(), 19)?.len() as u64;
                }
                shas[i] = sha256_of(text.as_bytes());
                poll.record_version(meta, text.as_bytes())?;
            }
            poll.commit()?;
        }
        journal.checkpoint()?;
    }
    let write_seconds = write_start.elapsed().as_secs_f64();
    let mut journal_bytes = 0u64;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .contains("journal.sqlite")
        {
            journal_bytes += entry.metadata()?.len();
        }
    }

    let reader = JournalReader::open(dir)?.expect("the journal was written");
    let mut timings = Vec::new();
    for k in 0..15 {
        let (meta, _, _) = &texts[(k * 997) % texts.len()];
        let begin = Instant::now();
        let versions = reader.versions_for(meta.user_id, meta.task_id)?;
        let mut bytes = 0;
        for version in &versions {
            bytes += reader.text_of(version)?.len();
        }
        timings.push(begin.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(versions.len(), VERSIONS);
        assert!(bytes > 0);
    }
    timings.sort_by(f64::total_cmp);

    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "term: {students} students x {TASKS} tasks x {VERSIONS} versions, {} polls",
        VERSIONS * CHANGE_EVERY
    );
    println!(
        "raw bytes of all versions: {raw_bytes} ({:.1} MiB)",
        mib(raw_bytes)
    );
    println!(
        "journal after checkpoint:  {journal_bytes} ({:.1} MiB), {:.1}% of raw",
        mib(journal_bytes),
        100.0 * journal_bytes as f64 / raw_bytes as f64
    );
    println!(
        "each version alone (zstd -19, sampled): {:.1}% of raw",
        100.0 * alone_bytes as f64 / raw_bytes as f64
    );
    println!("writing the term: {write_seconds:.1} s");
    println!(
        "one text's whole history ({VERSIONS} versions): median {:.2} ms, max {:.2} ms",
        timings[timings.len() / 2],
        timings[timings.len() - 1]
    );
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(())
}
