//! INSERT statement parsing; count_rows agrees with parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use textrescue::format::inserts;

fuzz_target!(|data: &[u8]| {
    let s = data;
    let _ = inserts::target(s);
    for std_strings in [true, false] {
        let parsed = inserts::parse(s, std_strings);
        let counted = inserts::count_rows(s, std_strings);
        if let Ok(insert) = &parsed {
            let n = counted
                .as_ref()
                .expect("count_rows fails where parse succeeds");
            assert_eq!(
                *n,
                insert.rows.len() as u64,
                "count_rows disagrees with parse"
            );
        }
    }
});
