//! COPY text decoding: never panics, and decode(escape(x)) == x.
#![no_main]

use libfuzzer_sys::fuzz_target;
use textrescue::format::copy_text;

fuzz_target!(|data: &[u8]| {
    // Arbitrary bytes as one row: split into fields and decode each.
    let fields = memchr::memchr_iter(b'\t', data).count() + 1;
    let mut splitter = copy_text::Splitter::default();
    if let Ok(row) = splitter.split(data, fields) {
        for i in 0..row.len() {
            let _ = row.get(i);
        }
    }
    assert!(fields == 1 || splitter.split(data, 1).is_err());

    let mut escaped = Vec::new();
    copy_text::escape(data, &mut escaped);
    assert!(!escaped.contains(&b'\t') && !escaped.contains(&b'\n') && !escaped.contains(&b'\r'));
    let decoded = copy_text::decode(&escaped).expect("an escaped field decodes");
    assert_eq!(
        decoded.as_deref(),
        Some(data),
        "escape then decode changed the bytes"
    );
});
