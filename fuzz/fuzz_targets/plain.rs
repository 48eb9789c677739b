//! The plain SQL reader on arbitrary bytes: an error or Ok, never a panic.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use textrescue::format::plain;

fuzz_target!(|data: &[u8]| {
    for mut v in common::WantAll::wanting_and_skipping() {
        let _ = plain::read(Box::new(std::io::Cursor::new(data.to_vec())), &mut v);
    }
});
