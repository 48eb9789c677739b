//! `-o FILE` and SIGINT, SIGTERM, SIGHUP: the real binary writing a large
//! output (about 100 MB, from a dump built on a bundled night) is caught
//! while its temporary file is being written, and sent the signal. It must
//! end by that signal, leave no temporary file, and leave the target as it
//! was (absent, or its earlier content), never half-written.
//!
//! The window to catch is a fraction of a second: the run is frozen with
//! SIGSTOP as soon as its temporary file appears, the signal is sent, and
//! SIGCONT lets it act on it. A run that named its output before it was
//! frozen proves nothing and is tried again.
use crate::common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{fixture, inflated, text};

const TEMP_PREFIX: &str = ".textrescue-output-";

/// A plain dump of the 2024-03-05 night with 2000 more texts of 50 kB
/// each, gzip-compressed (small on disk, 100 MB of output).
fn big_dump(dir: &Path) -> PathBuf {
    let night = inflated(&fixture("nights/buggy_race_bk_20240305.sql.gz"));
    let night = String::from_utf8(night).unwrap();
    let copy = "COPY public.tasktexts (id, created_at, modified_at, user_id, task_id, text) \
                FROM stdin;\n";
    let at = night.find(copy).expect("the texts table") + copy.len();
    let path = dir.join("big.sql.gz");
    let mut gz = flate2::write::GzEncoder::new(
        fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&night.as_bytes()[..at]).unwrap();
    let text = "x".repeat(50_000);
    for n in 0..2000 {
        writeln!(
            gz,
            "{}\t2024-03-01 00:00:00+00\t\\N\t2\t1\t{text}",
            90_000 + n
        )
        .unwrap();
    }
    gz.write_all(&night.as_bytes()[at..]).unwrap();
    gz.finish().unwrap();
    path
}

fn temporaries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(TEMP_PREFIX))
        .collect()
}

fn kill(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child, which has not been reaped yet.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
}

/// Runs `args` (which write `-o out/TARGET`) and sends `sig` while the
/// temporary file is being written; checks what is left in `out`.
fn interrupt_while_writing(args: &[&str], out: &Path, target: &str, sig: libc::c_int) {
    let target = out.join(target);
    let before = fs::read(&target).ok();
    for _attempt in 0..5 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_textrescue"))
            .args(args)
            .arg("-o")
            .arg(&target)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while temporaries(out).is_empty() && started.elapsed() < Duration::from_secs(60) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        kill(child.id(), libc::SIGSTOP);
        // Frozen: caught only if the temporary file is still there.
        let caught = !temporaries(out).is_empty() && fs::read(&target).ok() == before;
        if caught {
            kill(child.id(), sig);
        }
        kill(child.id(), libc::SIGCONT);
        let done = child.wait_with_output().unwrap();
        if !caught {
            // Too quick for us: start again from the old target.
            match &before {
                Some(b) => fs::write(&target, b).unwrap(),
                None => {
                    let _ = fs::remove_file(&target);
                }
            }
            continue;
        }
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            done.status.signal(),
            Some(sig),
            "{args:?}: {} {}",
            done.status,
            text(&done.stderr)
        );
        assert!(temporaries(out).is_empty(), "{:?}", temporaries(out));
        assert_eq!(
            fs::read(&target).ok(),
            before,
            "{args:?}: the target changed"
        );
        return;
    }
    panic!("{args:?}: the output was always written before the run could be frozen");
}

#[test]
fn a_signal_while_o_is_written_leaves_no_temporary_and_no_half_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dump = big_dump(tmp.path());
    let dump = dump.to_str().unwrap();
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    let texts = ["texts", dump, "--format", "json"];
    interrupt_while_writing(&texts, &out, "new.json", libc::SIGINT);
    interrupt_while_writing(&texts, &out, "new.json", libc::SIGHUP);
    // An existing target keeps its content.
    fs::write(out.join("old.json"), b"yesterday's export\n").unwrap();
    interrupt_while_writing(&texts, &out, "old.json", libc::SIGTERM);
    let night = fixture("nights/buggy_race_bk_20240305.sql.gz");
    let diff = ["diff", night.to_str().unwrap(), dump, "--format", "json"];
    interrupt_while_writing(&diff, &out, "diff.json", libc::SIGTERM);
    let mut left: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["old.json"]);
    assert_eq!(
        fs::read(out.join("old.json")).unwrap(),
        b"yesterday's export\n"
    );
}
