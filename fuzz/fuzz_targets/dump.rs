//! The whole pipeline from bytes: gzip detection, format sniffing, the
//! reader of the format, and the texts/users/tasks tables.
#![no_main]

use libfuzzer_sys::fuzz_target;
use textrescue::dump::{self, ReadOptions};
use textrescue::input::Source;

fuzz_target!(|data: &[u8]| {
    let source = Source::Memory(data.into());
    for (salvage, count_rows) in [(false, false), (true, true)] {
        let options = ReadOptions {
            salvage,
            count_rows,
            ..Default::default()
        };
        if let Ok(d) = dump::read(&source, &options) {
            let _ = d.texts();
        }
    }
});
