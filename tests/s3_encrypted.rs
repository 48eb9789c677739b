//! Encrypted off-host copies (`--encrypt-to`, `--encrypt-to-file`) against
//! both S3 test servers (tests/s3.rs): decrypted by the real `age` CLI they
//! are the local backup, byte for byte; a bad recipient fails before
//! anything is taken or uploaded.
use crate::common;
use crate::s3::{Server, backup_copied_to, copy, each_server, local_backups, one_line, small_db};

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{assert_ok, pg, text};

/// A new age key pair (`age-keygen`): the identity file and its public key.
pub fn keygen(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let path = dir.join(name);
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&path)
        .output()
        .expect("age-keygen (bash .ci/s3-up installs age)");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public = fs::read_to_string(&path)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .unwrap();
    (path, public)
}

/// `age -d -i identity` of `sealed`.
pub fn age_decrypt(identity: &Path, sealed: &[u8]) -> Vec<u8> {
    let mut child = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let sealed = sealed.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&sealed);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "age -d: {}", text(&out.stderr));
    out.stdout
}

/// `texts PATH --user alice --format json` of a local backup, which must
/// succeed.
pub fn local_alice_texts(path: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .arg("texts")
        .arg(path)
        .args(["--user", "alice", "--format", "json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ok(&out);
    out
}

/// `texts URL --user alice --format json [--identity IDENTITY]` of a copy
/// in a bucket of `server`.
pub fn bucket_alice_texts(server: &Server, url: &str, identity: Option<&Path>) -> Command {
    let mut c = server.textrescue();
    c.args(["texts", url, "--user", "alice", "--format", "json"])
        .args(["--s3-endpoint", &server.endpoint]);
    if let Some(i) = identity {
        c.arg("--identity").arg(i);
    }
    c
}

#[test]
#[cfg_attr(
    not(all(has_s3, has_postgres)),
    ignore = "needs the S3 test servers (bash .ci/s3-up) and PostgreSQL"
)]
fn encrypted_copies_decrypt_with_the_age_cli_byte_identical() {
    let pg = pg();
    let db = small_db(&pg);
    let keys = tempfile::tempdir().unwrap();
    let (first, first_public) = keygen(keys.path(), "first.key");
    let (second, second_public) = keygen(keys.path(), "second.key");
    let recipients = keys.path().join("recipients.txt");
    fs::write(&recipients, format!("# the admins\n\n{second_public}\n")).unwrap();
    each_server(|server: &Server| {
        let bucket = server.bucket();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("s3://{bucket}/enc");
        let out = backup_copied_to(
            server,
            &db,
            dir.path(),
            &url,
            &[
                "--encrypt-to",
                &first_public,
                "--encrypt-to-file",
                recipients.to_str().unwrap(),
            ],
        );
        assert_ok(&out);
        let local = local_backups(dir.path());
        assert_eq!(local.len(), 1);
        let name = local[0].file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(server.keys(&bucket), vec![format!("enc/{name}.age")]);
        let sealed = server.get(&bucket, &format!("enc/{name}.age"));
        let plain = fs::read(&local[0]).unwrap();
        assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
        assert!(
            !sealed.windows(16).any(|w| w == &plain[..16]),
            "the copy holds no cleartext"
        );
        assert_eq!(age_decrypt(&first, &sealed), plain);
        assert_eq!(age_decrypt(&second, &sealed), plain);

        // `copy` knows the encrypted copy is there.
        let out = copy(server, dir.path(), &url)
            .args(["--encrypt-to", &first_public])
            .output()
            .unwrap();
        assert_ok(&out);
        assert!(
            text(&out.stdout).contains("1 already there"),
            "{}",
            text(&out.stdout)
        );
    });
}

#[test]
#[cfg_attr(
    not(all(has_s3, has_postgres)),
    ignore = "needs the S3 test servers (bash .ci/s3-up) and PostgreSQL"
)]
fn a_bad_recipient_fails_before_anything_is_taken_or_uploaded() {
    let pg = pg();
    let db = small_db(&pg);
    let keys = tempfile::tempdir().unwrap();
    let (secret, _) = keygen(keys.path(), "k.key");
    let secret_line = fs::read_to_string(&secret)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    let bad_file = keys.path().join("bad.txt");
    fs::write(&bad_file, "# nothing but comments\n").unwrap();
    each_server(|server| {
        let bucket = server.bucket();
        let url = format!("s3://{bucket}/enc");
        for bad in [
            vec!["--encrypt-to", "age1notakey"],
            vec!["--encrypt-to", secret_line.as_str()],
            vec!["--encrypt-to-file", bad_file.to_str().unwrap()],
        ] {
            let dir = tempfile::tempdir().unwrap();
            let out = backup_copied_to(server, &db, dir.path(), &url, &bad);
            assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
            let err = one_line(&out.stderr);
            assert!(
                !err.contains("AGE-SECRET-KEY-1"),
                "the secret is not echoed: {err}"
            );
            assert!(
                local_backups(dir.path()).is_empty(),
                "{bad:?}: no backup taken"
            );
        }
        assert!(server.keys(&bucket).is_empty());
    });
}

#[test]
#[cfg_attr(not(has_s3), ignore = "needs the S3 test servers (bash .ci/s3-up)")]
fn texts_and_inspect_read_copies_in_the_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("buggy_race_bk_20240305.sql.gz");
    fs::copy(
        common::fixture("nights/buggy_race_bk_20240305.sql.gz"),
        &local,
    )
    .unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (identity, public) = keygen(keys.path(), "k.key");
    let (wrong, _) = keygen(keys.path(), "wrong.key");
    let want = local_alice_texts(&local);
    each_server(|server| {
        let bucket = server.bucket();
        for (folder, encrypt) in [("plain", None), ("enc", Some(public.as_str()))] {
            let mut c = copy(server, dir.path(), &format!("s3://{bucket}/{folder}"));
            if let Some(key) = encrypt {
                c.args(["--encrypt-to", key]);
            }
            assert_ok(&c.output().unwrap());
        }
        let texts = |url: &str, identity: Option<&Path>| {
            bucket_alice_texts(server, url, identity).output().unwrap()
        };
        let plain_url = format!("s3://{bucket}/plain/buggy_race_bk_20240305.sql.gz");
        let sealed_url = format!("s3://{bucket}/enc/buggy_race_bk_20240305.sql.gz.age");
        let out = texts(&plain_url, None);
        assert_ok(&out);
        assert_eq!(out.stdout, want.stdout);
        let out = texts(&sealed_url, Some(&identity));
        assert_ok(&out);
        assert_eq!(out.stdout, want.stdout);

        let out = texts(&sealed_url, Some(&wrong));
        assert_eq!(out.status.code(), Some(1));
        assert!(one_line(&out.stderr).contains("none of the keys in --identity"));
        let out = texts(&sealed_url, None);
        assert_eq!(out.status.code(), Some(1));
        assert!(one_line(&out.stderr).contains("give the key to read it with --identity"));

        let out = server
            .textrescue()
            .args(["inspect", &sealed_url, "--s3-endpoint", &server.endpoint])
            .arg("--identity")
            .arg(&identity)
            .output()
            .unwrap();
        assert_ok(&out);
        assert!(
            text(&out.stdout).contains("complete"),
            "{}",
            text(&out.stdout)
        );
    });
}

#[test]
#[cfg_attr(not(has_s3), ignore = "needs the S3 test servers (bash .ci/s3-up)")]
fn history_reads_a_bucket_folder_like_a_backups_folder() {
    let nights = common::fixture("nights");
    let local = |cmd: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_textrescue"))
            .args(cmd)
            .output()
            .unwrap();
        assert_ok(&out);
        text(&out.stdout).replace(&format!("{}/", nights.display()), "")
    };
    let n = nights.to_str().unwrap();
    let want_history = local(&["history", n, "--user", "alice", "--format", "json"]);
    let (a, b) = (
        format!("{n}/buggy_race_bk_20240304.sql.gz"),
        format!("{n}/buggy_race_bk_20240306-021500.sql.gz"),
    );
    let want_diff = local(&["diff", &a, &b]);
    each_server(|server| {
        let bucket = server.bucket();
        let url = format!("s3://{bucket}/nights");
        let out = copy(server, &nights, &url).output().unwrap();
        assert_ok(&out);
        let remote = |cmd: &[&str]| {
            let out = server
                .textrescue()
                .args(cmd)
                .args(["--s3-endpoint", &server.endpoint])
                .output()
                .unwrap();
            assert_ok(&out);
            text(&out.stdout).replace(&format!("{url}/"), "")
        };
        assert_eq!(
            remote(&["history", &url, "--user", "alice", "--format", "json"]),
            want_history
        );
        let diff = remote(&[
            "diff",
            &format!("{url}/buggy_race_bk_20240304.sql.gz"),
            &format!("{url}/buggy_race_bk_20240306-021500.sql.gz"),
        ]);
        assert_eq!(diff.replace(&format!("{n}/"), ""), want_diff);
    });
}
