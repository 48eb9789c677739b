//! The custom archive reader on a file, as `textrescue texts FILE.dump`
//! reads one: with the TOC's data offsets it seeks to each block and
//! decompresses only the tables wanted, passing over the others by their
//! chunk lengths; without offsets (written through a pipe or to standard
//! output) it walks the blocks, seeking past the chunks of skipped tables.
//! The in-memory `custom` target takes neither path. The seeds in
//! fuzz/corpus/custom_file are real pg_dump 13, 17 and 18 custom archives
//! (fixtures/pg13, fixtures/pg17, fixtures/formats) and the small archives
//! of the `custom` corpus.
#![no_main]

mod common;

use std::fs::File;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use textrescue::format::custom;

/// One scratch file per fuzzing process, rewritten for each input.
fn scratch() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        std::env::temp_dir().join(format!(
            "textrescue-fuzz-custom-file-{}.dump",
            std::process::id()
        ))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("write the input to the scratch file");
    for v in common::WantAll::wanting_and_skipping() {
        let file = File::open(path).expect("open the scratch file");
        let _ = custom::read(Box::new(file), Some(path), &mut common::Seeking(v));
    }
});
