//! Inputs found by the fuzz targets in `fuzz/` (see docs/hardening.md,
//! "Fuzzing"): each must give an error or Ok, never a panic, a hang or a
//! huge allocation. One test per crash found, and a replay of the committed
//! seed corpora through the same entry points as the fuzz targets.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use anyhow::Result;
use textrescue::dump::{self, ReadOptions};
use textrescue::format::{copy_text, custom, directory, inserts, plain, tar};
use textrescue::input::Source;

#[path = "../fuzz/fuzz_targets/dir_layout.rs"]
mod dir_layout;
/// The indexed target's check: through the index as streamed.
#[path = "../fuzz/fuzz_targets/indexed_check.rs"]
mod indexed_check;
/// The fuzz targets' visitor: wants every table's rows and decodes them.
#[path = "../fuzz/fuzz_targets/common.rs"]
mod want_all;
use want_all::{Seeking, WantAll};

fn reader(data: &[u8]) -> Box<dyn std::io::Read + Send> {
    Box::new(Cursor::new(data.to_vec()))
}

fn tar_read(data: &[u8]) -> Result<()> {
    tar::read(reader(data), &mut WantAll::default())
}

fn dump_read(data: &[u8], salvage: bool) -> Result<dump::Dump> {
    let options = ReadOptions {
        salvage,
        count_rows: salvage,
        ..ReadOptions::default()
    };
    dump::read(&Source::Memory(data.into()), &options)
}

/// What the fuzz target `target` does with one input of its corpus, minus
/// the assertions on results that belong to particular inputs. Each corpus
/// is replayed through its own target only: the inputs were kept because
/// they reach new code there, and `.ci/fuzz-short` runs every target on
/// every corpus anyway. `scratch` is an empty directory for the directory
/// target's layout.
fn replay(target: &str, data: &[u8], scratch: &Path) {
    match target {
        "copy_text" => {
            let fields = memchr::memchr_iter(b'\t', data).count() + 1;
            let mut splitter = copy_text::Splitter::default();
            let row = splitter.split(data, fields).unwrap();
            for i in 0..row.len() {
                let _ = row.get(i);
            }
            let mut escaped = Vec::new();
            copy_text::escape(data, &mut escaped);
            assert_eq!(copy_text::decode(&escaped).unwrap().as_deref(), Some(data));
        }
        "inserts" => {
            for std_strings in [true, false] {
                if let Ok(insert) = inserts::parse(data, std_strings) {
                    assert_eq!(
                        inserts::count_rows(data, std_strings).unwrap(),
                        insert.rows.len() as u64
                    );
                }
            }
        }
        "plain" => {
            for mut v in WantAll::wanting_and_skipping() {
                let _ = plain::read(reader(data), &mut v);
            }
        }
        "custom" => {
            for mut v in WantAll::wanting_and_skipping() {
                let _ = custom::read(reader(data), None, &mut v);
            }
        }
        "tar" => {
            let _ = tar_read(data);
        }
        "dump" => {
            let _ = dump_read(data, false);
            let _ = dump_read(data, true);
        }
        "custom_file" => {
            // The archive as a file, read by seeking.
            let file = scratch.join("archive.dump");
            std::fs::write(&file, data).unwrap();
            for v in WantAll::wanting_and_skipping() {
                let f = std::fs::File::open(&file).unwrap();
                let _ = custom::read(Box::new(f), Some(&file), &mut Seeking(v));
            }
            std::fs::remove_file(&file).unwrap();
        }
        "directory" => {
            dir_layout::lay_out(data, scratch).unwrap();
            for mut v in WantAll::wanting_and_skipping() {
                let _ = directory::read(scratch, &mut v);
            }
        }
        "indexed" => indexed_check::check(data, scratch),
        other => panic!("fuzz/corpus/{other}: no such fuzz target"),
    }
}

#[test]
fn seed_corpora_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let Ok(targets) = std::fs::read_dir(&root) else {
        panic!("no fuzz corpus at {}", root.display());
    };
    let scratch = tempfile::tempdir().unwrap();
    let mut n = 0;
    for target in targets {
        let target = target.unwrap().path();
        let name = target.file_name().unwrap().to_str().unwrap().to_string();
        for input in std::fs::read_dir(&target).unwrap() {
            let path = input.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = catch_unwind(AssertUnwindSafe(|| replay(&name, &data, scratch.path())));
            assert!(outcome.is_ok(), "{} panics", path.display());
            n += 1;
        }
    }
    assert!(n > 0, "the fuzz corpora are empty");
}

/// The directory target's seeds, laid out, are the real directory dumps: so
/// the fuzzer starts from inputs that reach the data files, not from ones
/// rejected at the first byte.
#[test]
fn directory_seeds_lay_out_as_the_real_dumps() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dump in ["dir", "dir-z0", "pg18-dir"] {
        let seed = std::fs::read(root.join(format!("fuzz/corpus/directory/seed-{dump}"))).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        dir_layout::lay_out(&seed, scratch.path()).unwrap();
        let read = |dir: &Path| {
            let d = dump::read(&Source::Path(dir.to_path_buf()), &ReadOptions::default()).unwrap();
            let (texts, _) = d.texts().unwrap();
            texts.rows.clone()
        };
        let laid_out = read(scratch.path());
        assert!(!laid_out.is_empty(), "{dump}: no texts");
        assert_eq!(
            laid_out,
            read(&root.join("fixtures/formats").join(dump)),
            "{dump}"
        );
    }
}
