//! The tar archive reader on arbitrary bytes.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use textrescue::format::tar;

fuzz_target!(|data: &[u8]| {
    for mut v in common::WantAll::wanting_and_skipping() {
        let _ = tar::read(Box::new(std::io::Cursor::new(data.to_vec())), &mut v);
    }
});
