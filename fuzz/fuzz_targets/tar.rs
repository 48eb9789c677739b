//! The tar archive reader on arbitrary bytes.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use textrescue::format::tar;

fuzz_target!(|data: &[u8]| {
    let mut v = common::WantAll::default();
    let _ = tar::read(Box::new(std::io::Cursor::new(data.to_vec())), &mut v);
});
