//! The plain SQL reader on arbitrary bytes: an error or Ok, never a panic.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use textrescue::format::plain;

fuzz_target!(|data: &[u8]| {
    for skip in [false, true] {
        let mut v = common::WantAll {
            skip,
            ..Default::default()
        };
        let _ = plain::read(Box::new(std::io::Cursor::new(data.to_vec())), &mut v);
    }
});
