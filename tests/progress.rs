//! The progress display on a terminal. `script` (util-linux) gives
//! textrescue a pseudo-terminal for stderr, and the test reads what was
//! drawn there.

use crate::common;

use common::fixture;

const NIGHT2: &str = "nights/buggy_race_bk_20240305.sql.gz";

/// Runs `command` (a shell command line) on a pseudo-terminal; what it
/// wrote there.
fn on_a_terminal(command: &str) -> String {
    let out = std::process::Command::new("script")
        .args(["-qfec", command, "/dev/null"])
        .output()
        .expect("script (util-linux) runs");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{command}: {shown}");
    shown
}

fn bin() -> String {
    assert_cmd::cargo::cargo_bin("textrescue")
        .display()
        .to_string()
}

/// indicatif's binary units, as the bar prints them.
fn binary_bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1048576 => format!("{:.2} KiB", n as f64 / 1024.0),
        _ => format!("{:.2} MiB", n as f64 / 1048576.0),
    }
}

/// From a pipe the size is unknown: the display shows the bytes read and
/// the rate, and no bar with a total (an early version showed
/// "19.53 KiB/19.53 KiB": a total that was only what had arrived so far).
#[test]
fn from_stdin_the_bytes_read_and_rate_show_with_no_made_up_total() {
    let dump = fixture(NIGHT2).display().to_string();
    let shown = on_a_terminal(&format!(
        "(head -c 20000 {dump}; sleep 2; tail -c +20001 {dump}) | {} texts - -f json -o /dev/null",
        bin()
    ));
    assert!(
        shown.contains("19.53 KiB read (") && shown.contains("/s)"),
        "no bytes read and rate in: {shown:?}"
    );
    // No "N KiB/M KiB" (a total) and no bar.
    let total = shown
        .match_indices("B/")
        .any(|(at, _)| shown[at + 2..].starts_with(|c: char| c.is_ascii_digit()));
    assert!(!total, "a total in: {shown:?}");
    assert!(
        !shown.contains('░') && !shown.contains('█'),
        "a bar in: {shown:?}"
    );
    assert!(shown.contains("standard input"), "{shown:?}");
}

/// `history` shows one bar for all its dumps: the bytes of all of them
/// (files and `-Fd` directories) as the total, and how many are read.
#[test]
fn history_shows_the_bytes_of_all_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let mut total = 0;
    for e in std::fs::read_dir(fixture("nights")).unwrap() {
        let e = e.unwrap();
        total += e.metadata().unwrap().len();
        std::fs::copy(e.path(), backups.join(e.file_name())).unwrap();
    }
    let fd = backups.join("buggy_race_bk_20240307");
    std::fs::create_dir(&fd).unwrap();
    for e in std::fs::read_dir(fixture("formats/dir")).unwrap() {
        let e = e.unwrap();
        total += e.metadata().unwrap().len();
        std::fs::copy(e.path(), fd.join(e.file_name())).unwrap();
    }
    let shown = on_a_terminal(&format!(
        "{} history {} -u alice -o /dev/null",
        bin(),
        backups.display()
    ));
    let total = binary_bytes(total);
    assert!(
        shown.contains(&format!("/{total} (")),
        "no total of {total} in: {shown:?}"
    );
    assert!(
        shown.contains("reading dumps ") && shown.contains("/4 "),
        "{shown:?}"
    );
}
