//! What `textrescue texts FILE` runs: the input is a file on disk, so a
//! custom archive is read by the seeking reader (data blocks found by the
//! TOC's offsets or by walking chunk lengths, tables nobody needs seeked
//! over), which the in-memory targets never reach.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use textrescue::dump::{self, ReadOptions};
use textrescue::input::Source;

fn scratch_file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        std::env::temp_dir().join(format!("textrescue-fuzz-file-{}", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch_file();
    std::fs::write(path, data).expect("write the input to a file");
    if let Ok(d) = dump::read(&Source::Path(path.clone()), &ReadOptions::default()) {
        let _ = d.texts(None);
    }
});
