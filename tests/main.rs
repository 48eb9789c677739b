//! Every integration test, in one test binary: one link instead of one per
//! file, so the test build after `cargo build --release` takes seconds, not
//! minutes. Each file below is a module; `common` is their shared support.
//! A new file in tests/ must be named here (`every_test_file_is_a_module`
//! fails otherwise, as Cargo no longer finds test files by itself: see
//! `autotests = false` in Cargo.toml).
mod common;

mod backup;
mod backup_faults;
mod backup_trust;
mod between_commands;
mod bounded_memory;
mod build_script;
mod check;
mod cli_texts;
mod csv_safe;
mod damaged;
mod diff_history;
mod docker;
mod dockerdb;
mod drill;
mod encoding;
mod formats;
mod fuzz_regressions;
mod hostile_names;
mod huge_text;
mod indexed_differential;
mod indexed_gzip;
mod indexed_reads;
mod inspect;
mod journal_readers;
mod layers;
mod monitor;
mod output_signals;
mod pg_support;
mod progress;
mod restore;
mod restore_docker;
mod restore_faults;
mod restore_names;
mod restore_sql;
mod roundtrip_proptest;
mod row_shapes;
mod s3;
mod s3_encrypted;
mod s3_ranged;
mod s3_restore;
mod texts_at;
mod url_secrets;
mod watch;
mod week;
mod whole_restore;

#[test]
fn every_test_file_is_a_module() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(module) = name.strip_suffix(".rs")
            && module != "main"
            && !main.contains(&format!("\nmod {module};\n"))
        {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "not in tests/main.rs: {missing:?}");
}
