//! The custom archive reader (as from a pipe: no seeking) on arbitrary bytes.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use textrescue::format::custom;

fuzz_target!(|data: &[u8]| {
    for mut v in common::WantAll::wanting_and_skipping() {
        let _ = custom::read(Box::new(std::io::Cursor::new(data.to_vec())), None, &mut v);
    }
});
