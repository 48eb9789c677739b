//! `restore` and `drill` reading from a bucket (both S3 test servers of
//! tests/s3.rs, the real PostgreSQL): a text back from an encrypted copy,
//! texts back from a bucket folder of copies (as from a backups folder;
//! also `texts --at` and `diff --from-time` of such a folder), a whole
//! database back from a copy, a drill of the newest copy in a
//! bucket folder (recorded in the local folder, or only printed); a wrong
//! key and a missing object fail in one line and leave nothing behind;
//! a full local disk (a tmpfs, as root) fails `backup --copy-to` and a
//! fetch in one line, with nothing uploaded and no file left.
use crate::common;
use crate::restore::{
    NIGHT1, NIGHT2, NIGHT3, backups_folder, night_db, restore, row, safety_backups, state,
};
use crate::s3::{Server, each_server, one_line, small_db};
use crate::s3_encrypted::keygen;
use crate::whole_restore::{Dropped, race_db, texts_of};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Pg, TempDb, assert_failed, assert_ok, fixture, pg, text};
use textrescue::drills;

/// `cmd` given `server`'s keys (and no other AWS settings) and a private
/// TMPDIR, where fetched copies go.
fn with_server(mut cmd: Command, server: &Server, tmpdir: &Path) -> Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", &server.access_key)
        .env("AWS_SECRET_ACCESS_KEY", &server.secret_key)
        .env("AWS_REGION", "us-east-1")
        .env("TMPDIR", tmpdir);
    cmd
}

/// The names in `dir` (none once a fetched copy is removed).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// `textrescue copy` of the backups in `dir` to `url`, encrypted to `public`.
fn copy_encrypted(server: &Server, dir: &Path, url: &str, public: &str) {
    let out = server
        .textrescue()
        .arg("copy")
        .arg(dir)
        .args(["--to", url, "--s3-endpoint", &server.endpoint])
        .args(["--encrypt-to", public, "--quiet"])
        .output()
        .unwrap();
    assert_ok(&out);
}

/// A folder holding the first night's backup only.
fn night1_folder(root: &Path) -> PathBuf {
    let dir = root.join("night1");
    fs::create_dir(&dir).unwrap();
    fs::copy(fixture(&format!("nights/{NIGHT1}")), dir.join(NIGHT1)).unwrap();
    dir
}

#[test]
#[cfg_attr(
    not(all(has_s3, has_postgres)),
    ignore = "needs the S3 test servers (bash .ci/s3-up) and PostgreSQL"
)]
fn a_text_comes_back_from_an_encrypted_copy_in_a_bucket() {
    let pg = pg();
    let night1 = night_db(&pg, NIGHT1);
    let keys = tempfile::tempdir().unwrap();
    let (identity, public) = keygen(keys.path(), "race.key");
    each_server(|server| {
        let db = night_db(&pg, NIGHT2);
        assert_eq!(row(&db, 104), serde_json::Value::Array(vec![]));
        let tmp = tempfile::tempdir().unwrap();
        let bucket = server.bucket();
        let url = format!("s3://{bucket}/nightly");
        copy_encrypted(server, &night1_folder(tmp.path()), &url, &public);
        let safety = tmp.path().join("safety");
        fs::create_dir(&safety).unwrap();
        let tmpdir = tmp.path().join("tmp");
        fs::create_dir(&tmpdir).unwrap();
        let copy = format!("{url}/{NIGHT1}.age");
        // The plan only: no --safety-dir needed, nothing changed.
        let out = with_server(
            restore(&db, Path::new(&copy), &["--user", "ALICE", "--dry-run"]),
            server,
            &tmpdir,
        )
        .args(["--identity", identity.to_str().unwrap()])
        .args(["--s3-endpoint", &server.endpoint])
        .output()
        .unwrap();
        assert_ok(&out);
        assert!(
            text(&out.stdout).contains("  restore    alice 0-ENV"),
            "{}",
            text(&out.stdout)
        );
        assert_eq!(row(&db, 104), serde_json::Value::Array(vec![]));
        assert!(
            names(&tmpdir).is_empty(),
            "left behind: {:?}",
            names(&tmpdir)
        );
        let out = with_server(
            restore(
                &db,
                Path::new(&copy),
                &["--user", "ALICE", "--task", "0-env", "--yes"],
            ),
            server,
            &tmpdir,
        )
        .arg("--safety-dir")
        .arg(&safety)
        .args(["--identity", identity.to_str().unwrap()])
        .args(["--s3-endpoint", &server.endpoint])
        .output()
        .unwrap();
        assert_ok(&out);
        let said = text(&out.stdout);
        assert!(
            said.contains(&format!("fetched {copy} (")) && said.contains("sha256 matches"),
            "{said}"
        );
        assert!(
            said.contains("restored 1, overwrote 0, skipped 0: committed"),
            "{said}"
        );
        // Read back from the live database: the first night's text.
        assert_eq!(row(&db, 104), row(&night1, 104));
        assert_eq!(
            safety_backups(&safety, &db).len(),
            1,
            "{:?}",
            names(&safety)
        );
        assert!(
            names(&tmpdir).is_empty(),
            "left behind: {:?}",
            names(&tmpdir)
        );
    });
}

/// `restore` given `url` against `db` through `server`, with `args`
/// and the server's endpoint.
fn restore_from(server: &Server, db: &TempDb, url: &str, tmpdir: &Path, args: &[&str]) -> Output {
    with_server(restore(db, Path::new(url), args), server, tmpdir)
        .args(["--s3-endpoint", &server.endpoint])
        .output()
        .unwrap()
}

/// A bucket folder of encrypted copies of the three nights, given to
/// `restore` as a local backups folder is: each text from the newest copy
/// that has it, the versions listed and `--from NAME` asked for where the
/// live text changed since and the copies disagree; `--at` takes the
/// newest copy before the time. Nothing is fetched to disk; without the
/// key no copy can be read (exit 1), without --safety-dir a usage error,
/// and --whole-database refuses a folder.
#[test]
#[cfg_attr(
    not(all(has_s3, has_postgres)),
    ignore = "needs the S3 test servers (bash .ci/s3-up) and PostgreSQL"
)]
fn texts_come_back_from_a_bucket_folder_of_encrypted_copies() {
    let pg = pg();
    let night1 = night_db(&pg, NIGHT1);
    let keys = tempfile::tempdir().unwrap();
    let (identity, public) = keygen(keys.path(), "race.key");
    let identity = identity.to_str().unwrap().to_string();
    let (_nights, dir) = backups_folder();
    each_server(|server| {
        let db = night_db(&pg, NIGHT2);
        db.psql(
            "UPDATE public.tasktexts SET text = text || E'\\nedited again today', \
             modified_at = '2024-03-07 09:00:00.25+00' WHERE id = 102",
        );
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("s3://{}/nightly", server.bucket());
        copy_encrypted(server, &dir, &url, &public);
        let safety = tmp.path().join("safety");
        fs::create_dir(&safety).unwrap();
        let safety_arg = safety.to_str().unwrap();
        let tmpdir = tmp.path().join("tmp");
        fs::create_dir(&tmpdir).unwrap();
        let before = state(&db);

        let out = restore_from(server, &db, &url, &tmpdir, &["--user", "alice", "--yes"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("--safety-dir"));
        let out = restore_from(
            server,
            &db,
            &url,
            &tmpdir,
            &[
                "--whole-database",
                "--into",
                "never_made",
                "--identity",
                &identity,
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("is a folder"),
            "{}",
            text(&out.stderr)
        );

        // Without the key: every copy is skipped, and nothing is left to read.
        let out = restore_from(
            server,
            &db,
            &url,
            &tmpdir,
            &["--user", "alice", "--yes", "--safety-dir", safety_arg],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("skipped {url}/{NIGHT1}.age")),
            "{err}"
        );
        assert!(err.contains("could be read"), "{err}");
        assert_eq!(state(&db), before);

        // alice's 0-ENV (104) is in the first night's copy only.
        let out = restore_from(
            server,
            &db,
            &url,
            &tmpdir,
            &[
                "--user",
                "alice",
                "--task",
                "0-ENV",
                "--yes",
                "--identity",
                &identity,
            ]
            .iter()
            .chain(&["--safety-dir", safety_arg])
            .copied()
            .collect::<Vec<_>>(),
        );
        assert_ok(&out);
        let said = text(&out.stdout);
        assert!(said.contains(&format!("[{NIGHT1}.age]")), "{said}");
        assert!(said.contains(&format!("from 1 backup in {url}/")), "{said}");
        assert!(
            said.contains("restored 1, overwrote 0, skipped 0: committed"),
            "{said}"
        );
        assert_eq!(row(&db, 104), row(&night1, 104));

        // alice's 1-EDIT (102) changed live since, and the copies hold two
        // versions: they are listed by copy name, and --from chooses.
        let edit = [
            "--user",
            "alice",
            "--task",
            "1-EDIT",
            "--identity",
            &identity,
        ];
        let mut args = edit.to_vec();
        args.extend(["--yes", "--safety-dir", safety_arg]);
        let out = restore_from(server, &db, &url, &tmpdir, &args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("--from={NIGHT1}.age: id 102")),
            "{err}"
        );
        assert!(
            err.contains(&format!("--from={NIGHT3}.age: id 102")),
            "{err}"
        );
        let from = format!("{NIGHT1}.age");
        args.extend(["--from", &from, "--on-conflict", "overwrite"]);
        let out = restore_from(server, &db, &url, &tmpdir, &args);
        assert_ok(&out);
        assert_eq!(row(&db, 102), row(&night1, 102));

        // --at a time between the first two nights: the first night's copy.
        let mut args = edit.to_vec();
        args.extend(["--at", "2024-03-04 12:00", "--dry-run"]);
        let out = restore_from(server, &db, &url, &tmpdir, &args);
        assert_ok(&out);
        let said = text(&out.stdout);
        assert!(said.contains("unchanged: alice 1-EDIT"), "{said}");
        assert!(
            text(&out.stderr).contains(&format!("{NIGHT1}.age")),
            "{}",
            text(&out.stderr)
        );
        assert!(
            names(&tmpdir).is_empty(),
            "left behind: {:?}",
            names(&tmpdir)
        );
    });
}

/// `texts --at` and `diff --from-time/--to-time` given a bucket folder of
/// encrypted copies answer as they do given the local folder the copies
/// were made from (the copy dated before each time, read in place), and
/// stderr names the copy.
#[test]
#[cfg_attr(not(has_s3), ignore = "needs the S3 test servers (bash .ci/s3-up)")]
fn texts_and_diff_at_a_time_read_a_bucket_folder() {
    let keys = tempfile::tempdir().unwrap();
    let (identity, public) = keygen(keys.path(), "race.key");
    let (_nights, dir) = backups_folder();
    let local = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_textrescue"))
            .args(args)
            .output()
            .unwrap();
        assert_ok(&out);
        out
    };
    // The answer without the file names ("old", "new") it is given with.
    let json = |out: &Output| {
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if let Some(o) = v.as_object_mut() {
            o.remove("old");
            o.remove("new");
        }
        v
    };
    let folder = dir.to_str().unwrap();
    let texts_args = [
        "--at",
        "2024-03-05 12:00",
        "--user",
        "alice",
        "--format",
        "json",
    ];
    let diff_args = [
        "--from-time",
        "2024-03-04T12:00:00Z",
        "--to-time",
        "2024-03-05T12:00:00Z",
        "--format",
        "json",
    ];
    let texts_local = local(&[&["texts", folder][..], &texts_args].concat());
    let diff_local = local(&[&["diff", folder][..], &diff_args].concat());
    assert!(text(&texts_local.stdout).contains("\"username\": \"alice\""));
    assert!(text(&diff_local.stdout).contains("\"removed\""));
    each_server(|server| {
        let url = format!("s3://{}/nightly", server.bucket());
        copy_encrypted(server, &dir, &url, &public);
        let remote = |command: &str, args: &[&str]| {
            let out = server
                .textrescue()
                .args([command, &url])
                .args(args)
                .args(["--identity", identity.to_str().unwrap()])
                .args(["--s3-endpoint", &server.endpoint])
                .output()
                .unwrap();
            assert_ok(&out);
            out
        };
        let out = remote("texts", &texts_args);
        assert_eq!(text(&out.stdout), text(&texts_local.stdout));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "from backup {url}/{NIGHT2}.age, the newest before"
            )),
            "{err}"
        );
        let out = remote("diff", &diff_args);
        assert_eq!(json(&out), json(&diff_local));
        let err = text(&out.stderr);
        assert!(err.contains(&format!("{url}/{NIGHT1}.age")), "{err}");
        assert!(err.contains(&format!("{url}/{NIGHT2}.age")), "{err}");
        // Without --at the folder is no backup: one line that says so.
        let out = server
            .textrescue()
            .args(["texts", &url, "--s3-endpoint", &server.endpoint])
            .output()
            .unwrap();
        let err = assert_failed(&out);
        assert!(
            err.contains(&format!(
                "{url} is a bucket folder (3 objects), not one backup: name one"
            )),
            "{err}"
        );
    });
}

#[test]
#[cfg_attr(
    not(all(has_s3, has_postgres)),
    ignore = "needs the S3 test servers (bash .ci/s3-up) and PostgreSQL"
)]
fn a_whole_database_comes_back_from_a_bucket() {
    let pg = pg();
    let db = race_db(&pg, "s3whole");
    let keys = tempfile::tempdir().unwrap();
    let (identity, public) = keygen(keys.path(), "race.key");
    each_server(|server| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("backups");
        let bucket = server.bucket();
        let url = format!("s3://{bucket}/nightly");
        let out = crate::s3::backup(
            server,
            &db,
            &dir,
            &[
                "--copy-to",
                &url,
                "--s3-endpoint",
                &server.endpoint,
                "--quiet",
            ],
        );
        assert_ok(&out);
        copy_encrypted(server, &dir, &url, &public);
        let tmpdir = tmp.path().join("tmp");
        fs::create_dir(&tmpdir).unwrap();
        let name = crate::s3::local_backups(&dir)[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // The plain copy and the encrypted one, each into a new database.
        for (object, with_key) in [(name.clone(), false), (format!("{name}.age"), true)] {
            let into = Dropped(
                &pg,
                format!("s3whole_{}_{}", std::process::id(), with_key as u8),
            );
            let mut c = with_server(crate::whole_restore::textrescue(&pg), server, &tmpdir);
            c.arg("restore")
                .arg(format!("{url}/{object}"))
                .args(["--whole-database", "--into", &into.1])
                .args(["--s3-endpoint", &server.endpoint]);
            if with_key {
                c.args(["--identity", identity.to_str().unwrap()]);
            }
            let out = c.output().unwrap();
            assert_ok(&out);
            let said = text(&out.stdout);
            assert!(said.contains("sha256 matches"), "{said}");
            assert_eq!(texts_of(&pg, &into.1), texts_of(&pg, db.name()));
            assert!(
                names(&tmpdir).is_empty(),
                "left behind: {:?}",
                names(&tmpdir)
            );
        }
    });
}

/// `textrescue drill ARGS` against `server`, the live database `db`.
fn drill(pg: &Pg, server: &Server, db: &TempDb, tmpdir: &Path, args: &[&str]) -> Output {
    with_server(crate::whole_restore::textrescue(pg), server, tmpdir)
        .arg("drill")
        .args(args)
        .args(["--dbname", db.name(), "--s3-endpoint", &server.endpoint])
        .output()
        .unwrap()
}

fn scratch_of(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.split("into the scratch database ").nth(1))
        .unwrap_or_else(|| panic!("no scratch database named in:\n{stdout}"))
        .trim()
        .to_string()
}

#[test]
#[cfg_attr(
    not(all(has_s3, has_postgres)),
    ignore = "needs the S3 test servers (bash .ci/s3-up) and PostgreSQL"
)]
fn a_drill_of_the_newest_copy_in_a_bucket() {
    let pg = pg();
    let db = race_db(&pg, "s3drill");
    let keys = tempfile::tempdir().unwrap();
    let (identity, public) = keygen(keys.path(), "race.key");
    let identity = identity.to_str().unwrap();
    each_server(|server| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("backups");
        let bucket = server.bucket();
        let url = format!("s3://{bucket}/nightly");
        // An older copy that is no backup of this database's schema: the
        // drill must take the newest.
        server.put(
            &bucket,
            "nightly/race_bk_20200101-000000.sql.gz",
            b"not a backup",
        );
        let out = crate::s3::backup(server, &db, &dir, &["--quiet"]);
        assert_ok(&out);
        copy_encrypted(server, &dir, &url, &public);
        let name = crate::s3::local_backups(&dir)[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // The local folder keeps the record; the backup comes from the bucket.
        let records = tmp.path().join("records");
        fs::create_dir(&records).unwrap();
        let tmpdir = tmp.path().join("tmp");
        fs::create_dir(&tmpdir).unwrap();
        let out = drill(
            &pg,
            server,
            &db,
            &tmpdir,
            &[
                records.to_str().unwrap(),
                "--from",
                &url,
                "--identity",
                identity,
            ],
        );
        assert_ok(&out);
        let said = text(&out.stdout);
        assert!(said.contains("sha256 matches"), "{said}");
        assert!(said.contains("drill passed"), "{said}");
        assert!(!pg.database_exists(&scratch_of(&said)));
        let record = drills::last(&records).unwrap().unwrap();
        assert!(record.success, "{record:?}");
        assert_eq!(record.backup, format!("{url}/{name}.age"));
        assert!(record.backup_bytes > 0);
        assert_eq!(names(&records), vec![drills::DRILLS_FILE.to_string()]);
        assert!(
            names(&tmpdir).is_empty(),
            "left behind: {:?}",
            names(&tmpdir)
        );

        // The bucket folder alone: fetched into TMPDIR, printed, not recorded.
        let out = drill(&pg, server, &db, &tmpdir, &[&url, "--identity", identity]);
        assert_ok(&out);
        let said = text(&out.stdout);
        assert!(said.contains("drill passed"), "{said}");
        assert!(said.contains("not recorded"), "{said}");
        assert!(!pg.database_exists(&scratch_of(&said)));
        assert!(
            names(&tmpdir).is_empty(),
            "left behind: {:?}",
            names(&tmpdir)
        );
        // A copy named in the bucket folder.
        let sealed = format!("{name}.age");
        let out = drill(
            &pg,
            server,
            &db,
            &tmpdir,
            &[&url, "--from", &sealed, "--identity", identity],
        );
        assert_ok(&out);
        assert!(text(&out.stdout).contains("drill passed"));
        assert!(
            names(&tmpdir).is_empty(),
            "left behind: {:?}",
            names(&tmpdir)
        );
        // A newest copy that is no backup fails the drill, named by its
        // URL (not by the temporary file, gone by then).
        let bad = "race_bk_20991231-000000.sql.gz";
        server.put(&bucket, &format!("nightly/{bad}"), b"not a backup");
        let out = drill(&pg, server, &db, &tmpdir, &[&url, "--from", bad]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "drill failed: {url}/{bad} (fetched) is not a pg_dump output"
            )),
            "{err}"
        );
        assert!(!err.contains(".textrescue-fetch-"), "{err}");
        assert!(
            names(&tmpdir).is_empty(),
            "left behind: {:?}",
            names(&tmpdir)
        );
    });
}

#[test]
#[cfg_attr(
    not(all(has_s3, has_postgres)),
    ignore = "needs the S3 test servers (bash .ci/s3-up) and PostgreSQL"
)]
fn a_wrong_key_or_a_missing_copy_is_one_line_and_leaves_nothing() {
    let pg = pg();
    let db = small_db(&pg);
    let keys = tempfile::tempdir().unwrap();
    let (_, public) = keygen(keys.path(), "right.key");
    let (wrong, _) = keygen(keys.path(), "wrong.key");
    let wrong = wrong.to_str().unwrap();
    each_server(|server| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("backups");
        let bucket = server.bucket();
        let url = format!("s3://{bucket}/nightly");
        assert_ok(&crate::s3::backup(server, &db, &dir, &["--quiet"]));
        copy_encrypted(server, &dir, &url, &public);
        let name = crate::s3::local_backups(&dir)[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let sealed = format!("{url}/{name}.age");
        let missing = format!("{url}/race_bk_20240101-000000.sql.gz");
        let tmpdir = tmp.path().join("tmp");
        fs::create_dir(&tmpdir).unwrap();
        let safety = tmp.path().join("safety");
        fs::create_dir(&safety).unwrap();
        let records = tmp.path().join("records");
        fs::create_dir(&records).unwrap();
        let before = db.texts_json("public.tasktexts");
        for (source, key, says) in [
            (
                &sealed,
                Some(wrong),
                "none of the keys in --identity can decrypt it",
            ),
            (
                &sealed,
                None,
                "give the key to read it with --identity FILE",
            ),
            (&missing, None, "no such object"),
        ] {
            let mut c = with_server(
                restore(&db, Path::new(source), &["--user", "alice", "--yes"]),
                server,
                &tmpdir,
            );
            c.arg("--safety-dir")
                .arg(&safety)
                .args(["--s3-endpoint", &server.endpoint]);
            if let Some(key) = key {
                c.args(["--identity", key]);
            }
            let err = assert_failed(&c.output().unwrap());
            assert!(err.contains(says), "{err}");
            let mut args = vec![records.to_str().unwrap(), "--from", source.as_str()];
            if let Some(key) = key {
                args.extend(["--identity", key]);
            }
            let out = drill(&pg, server, &db, &tmpdir, &args);
            assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
            let err = one_line(&out.stderr);
            assert!(err.contains(says), "{err}");
            assert!(
                names(&tmpdir).is_empty(),
                "left behind: {:?}",
                names(&tmpdir)
            );
            assert!(names(&safety).is_empty(), "{:?}", names(&safety));
            assert!(names(&records).is_empty(), "{:?}", names(&records));
            assert_eq!(db.texts_json("public.tasktexts"), before);
        }
        // A bucket that is not there is said so.
        let out = with_server(crate::whole_restore::textrescue(&pg), server, &tmpdir)
            .args(["restore", &format!("s3://{bucket}-gone/nightly/{name}")])
            .args(["--whole-database", "--into", "s3gone_never_made"])
            .args(["--s3-endpoint", &server.endpoint])
            .output()
            .unwrap();
        let err = assert_failed(&out);
        assert!(err.contains("there is no bucket"), "{err}");
        assert!(
            names(&tmpdir).is_empty(),
            "left behind: {:?}",
            names(&tmpdir)
        );
        // Without --safety-dir: a usage error, before the bucket is asked anything.
        let out = with_server(
            restore(&db, Path::new(&sealed), &["--user", "alice", "--yes"]),
            server,
            &tmpdir,
        )
        .args(["--s3-endpoint", &server.endpoint])
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("--safety-dir"),
            "{}",
            text(&out.stderr)
        );
    });
}

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A tmpfs of `size` mounted on `dir`; as root a mount that fails is a
/// failure, never a skip.
fn tmpfs(dir: &Path, size: &str) -> Mount {
    let out = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
        ])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mount tmpfs is not permitted here: {}",
        text(&out.stderr)
    );
    Mount(dir.to_path_buf())
}

/// A database whose compressed dump is a few MiB (random hex).
fn big_db(pg: &Pg) -> TempDb {
    let db = pg.create_db("s3full");
    db.load_schema_with_people();
    db.psql(
        "INSERT INTO public.tasktexts (created_at, user_id, task_id, text)
         SELECT now(), 2, 1, string_agg(md5(random()::text), '')
         FROM generate_series(1, 100000);",
    );
    db
}

#[test]
#[cfg_attr(
    not(all(has_s3, has_postgres, is_root)),
    ignore = "needs the S3 test servers (bash .ci/s3-up), PostgreSQL and root"
)]
fn a_full_local_disk_is_one_line_and_nothing_is_uploaded_or_left() {
    let pg = pg();
    let big = big_db(&pg);
    each_server(|server| {
        let tmp = tempfile::tempdir().unwrap();
        let tiny = tmp.path().join("tiny");
        fs::create_dir(&tiny).unwrap();
        let bucket = server.bucket();
        let url = format!("s3://{bucket}/nightly");
        {
            let _mount = tmpfs(&tiny, "1m");
            let out = crate::s3::backup(
                server,
                &big,
                &tiny,
                &["--copy-to", &url, "--s3-endpoint", &server.endpoint],
            );
            let err = assert_failed(&out);
            assert!(err.contains("No space left on device"), "{err}");
            assert!(err.contains("no backup written"), "{err}");
            let left: Vec<String> = names(&tiny)
                .into_iter()
                .filter(|n| n != ".textrescue-backup.lock")
                .collect();
            assert!(left.is_empty(), "left behind: {left:?}");
            assert!(
                server.keys(&bucket).is_empty(),
                "{:?}",
                server.keys(&bucket)
            );
            // Only moto says which bucket an upload is for (see `uploads`).
            if server.name == "moto" {
                assert!(server.uploads(&bucket).is_empty());
            }
        }
        // The copy fetched for a restore or a drill, into a disk too small.
        let dir = tmp.path().join("backups");
        assert_ok(&crate::s3::backup(
            server,
            &big,
            &dir,
            &[
                "--copy-to",
                &url,
                "--s3-endpoint",
                &server.endpoint,
                "--quiet",
            ],
        ));
        let name = crate::s3::local_backups(&dir)[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let copy = format!("{url}/{name}");
        let _mount = tmpfs(&tiny, "1m");
        let into = Dropped(&pg, format!("s3full_{}", std::process::id()));
        let out = with_server(crate::whole_restore::textrescue(&pg), server, &tiny)
            .args(["restore", &copy, "--whole-database", "--into", &into.1])
            .args(["--s3-endpoint", &server.endpoint])
            .output()
            .unwrap();
        let err = assert_failed(&out);
        assert!(err.contains("no space left in"), "{err}");
        assert!(!pg.database_exists(&into.1));
        let out = drill(
            &pg,
            server,
            &big,
            &tiny,
            &[tiny.to_str().unwrap(), "--from", &copy],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let err = one_line(&out.stderr);
        assert!(err.contains("no space left in"), "{err}");
        assert!(names(&tiny).is_empty(), "left behind: {:?}", names(&tiny));
    });
}

/// The file a fetch under way is writing in `tmpdir`, once it has bytes.
fn fetch_under_way(tmpdir: &Path) -> bool {
    fs::read_dir(tmpdir).unwrap().flatten().any(|d| {
        d.file_name()
            .to_string_lossy()
            .starts_with(".textrescue-fetch-")
            && fs::read_dir(d.path()).is_ok_and(|files| {
                files
                    .flatten()
                    .any(|f| f.metadata().is_ok_and(|m| m.len() > 0))
            })
    })
}

#[test]
#[cfg_attr(
    not(all(has_s3, has_postgres)),
    ignore = "needs the S3 test servers (bash .ci/s3-up) and PostgreSQL"
)]
fn sigterm_during_a_fetch_stops_it_and_removes_the_file() {
    let pg = pg();
    // 96 MiB that do not compress, under a backup's name: long enough a
    // fetch to be caught in the middle.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let big: Vec<u8> = (0..96 * 1024 * 1024 / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect();
    each_server(|server| {
        let bucket = server.bucket();
        let key = "nightly/race_bk_20240101-000000.sql.gz";
        server.put(&bucket, key, &big);
        let tmp = tempfile::tempdir().unwrap();
        let tmpdir = tmp.path().join("tmp");
        fs::create_dir(&tmpdir).unwrap();
        let into = Dropped(&pg, format!("s3sig_{}", std::process::id()));
        let mut child = with_server(crate::whole_restore::textrescue(&pg), server, &tmpdir)
            .args(["restore", &format!("s3://{bucket}/{key}")])
            .args(["--whole-database", "--into", &into.1])
            .args(["--s3-endpoint", &server.endpoint])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !fetch_under_way(&tmpdir) {
            assert!(
                child.try_wait().unwrap().is_none(),
                "ended before its fetch was seen"
            );
            assert!(std::time::Instant::now() < deadline, "no fetch seen");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // SAFETY: kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
        let out = child.wait_with_output().unwrap();
        let err = assert_failed(&out);
        assert!(err.contains("interrupted by SIGTERM"), "{err}");
        assert!(err.contains("nothing was kept"), "{err}");
        assert!(
            names(&tmpdir).is_empty(),
            "left behind: {:?}",
            names(&tmpdir)
        );
        assert!(!pg.database_exists(&into.1));
    });
}
