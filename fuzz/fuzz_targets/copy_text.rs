//! COPY text decoding: never panics, and decode(escape(x)) == x.
#![no_main]

use libfuzzer_sys::fuzz_target;
use textrescue::format::copy_text;

fuzz_target!(|data: &[u8]| {
    // Arbitrary bytes as one row: split into fields and decode each.
    for field in copy_text::fields(data) {
        let _ = copy_text::decode(field);
        let mut out = Vec::new();
        let _ = copy_text::unescape_into(field, &mut out);
    }
    let mut split = Vec::new();
    let _ = copy_text::split_into(data, 3, &mut split);

    // Round trip: any bytes escaped and decoded are the same bytes.
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
