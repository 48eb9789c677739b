//! An indexed `.sql.gz` reads as the same bytes streamed, whatever its
//! index says: the input is a dump and cuts of it into members, each
//! labelled as a table's rows or not (as anyone may write a file), plus the
//! same dump as the writer cuts it; `dump::read` of each file through its
//! index gives what a read of the same dump as one stream gives (the texts,
//! the summary, or the error, with the file's name put aside).
#![no_main]

mod indexed_check;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temporary folder");
    indexed_check::check(data, dir.path());
});
