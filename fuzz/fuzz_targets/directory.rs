//! The `pg_dump -Fd` directory reader on arbitrary bytes, laid out as a
//! directory by dir_layout.rs. The seeds in fuzz/corpus/directory are the
//! real directory dumps in fixtures/formats in that layout (written by
//! fuzz/seed-directory).
#![no_main]

mod common;
mod dir_layout;

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use textrescue::format::directory;

/// One scratch directory per fuzzing process, emptied before each input.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("textrescue-fuzz-dir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch();
    dir_layout::lay_out(data, dir).expect("lay out the input");
    for mut v in common::WantAll::wanting_and_skipping() {
        let _ = directory::read(dir, &mut v);
    }
});
