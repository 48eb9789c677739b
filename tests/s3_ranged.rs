//! Ranged reads of encrypted copies (src/remote/ranged.rs,
//! src/indexed_gzip/read/seekable.rs) against both S3 test servers
//! (tests/s3.rs): `texts --user` of an age-encrypted indexed backup in a
//! bucket fetches only the byte ranges it needs, at most 5% of the object,
//! and says what the local backup says, byte for byte; a chunk changed in
//! the bucket, or an object cut short, is one line and exit 1; a plain
//! (unencrypted) copy is still read whole. The bytes received are what
//! `TEXTRESCUE_S3_STATS=FILE` writes, counted as the object's bodies
//! arrive.
use crate::common;
use crate::s3::{
    Server, backup_copied_to, copy, db_with_texts, each_server, local_backups, one_line,
};
use crate::s3_encrypted::{bucket_alice_texts, keygen, local_alice_texts};

use std::fs;
use std::path::Path;
use std::process::Output;

use common::{Pg, TempDb, assert_ok, pg, text};

/// age's payload: 64 KiB chunks of plaintext, each with a 16-byte tag.
const CHUNK: u64 = 64 * 1024;
const TAG: u64 = 16;

/// The race server's tables with a few texts, and one big other table
/// (about 50 MB of dump, half of it once compressed): the texts are a
/// small part of the backup, as on a real server.
fn db_with_a_big_table(pg: &Pg) -> TempDb {
    db_with_texts(
        pg,
        "s3ranged",
        30,
        |i| format!("text {i}: {}\ttab\\backslash ✓", "la la ".repeat(40)),
        "CREATE TABLE public.race_logs (id integer PRIMARY KEY, line text NOT NULL);
         INSERT INTO public.race_logs
           SELECT i, md5(i::text) || md5((i * 7)::text) || md5((i * 13)::text)
           FROM generate_series(1, 500000) AS i;",
    )
}

/// Where the byte `plain_at` of the plaintext is in an age file of
/// `sealed_len` bytes whose plaintext is `plain_len` bytes long.
fn sealed_offset(plain_at: u64, plain_len: u64, sealed_len: u64) -> u64 {
    let chunks = plain_len.div_ceil(CHUNK).max(1);
    let header = sealed_len - plain_len - chunks * TAG;
    header + plain_at / CHUNK * (CHUNK + TAG) + plain_at % CHUNK
}

/// `texts ARGS --user alice --format json`, against `server`, with the
/// received bytes written to `stats`: its output, and the bytes received.
fn remote_texts(
    server: &Server,
    url: &str,
    identity: Option<&Path>,
    stats: &Path,
) -> (Output, u64) {
    let _ = fs::remove_file(stats);
    let out = bucket_alice_texts(server, url, identity)
        .env("TEXTRESCUE_S3_STATS", stats)
        .output()
        .unwrap();
    let received = fs::read_to_string(stats)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    (out, received)
}

#[test]
#[cfg_attr(
    not(all(has_s3, has_postgres)),
    ignore = "needs the S3 test servers (bash .ci/s3-up) and PostgreSQL"
)]
fn texts_of_an_encrypted_copy_fetch_only_what_they_read() {
    let pg = pg();
    let db = db_with_a_big_table(&pg);
    let keys = tempfile::tempdir().unwrap();
    let (identity, public) = keygen(keys.path(), "k.key");
    each_server(|server| {
        let bucket = server.bucket();
        let dir = tempfile::tempdir().unwrap();
        let stats = dir.path().join("stats.tsv");
        let enc = format!("s3://{bucket}/enc");
        let out = backup_copied_to(server, &db, dir.path(), &enc, &["--encrypt-to", &public]);
        assert_ok(&out);
        let local = local_backups(dir.path()).pop().unwrap();
        let name = local.file_name().unwrap().to_str().unwrap().to_string();
        // A plain copy of the same backup, next to it.
        let plain = format!("s3://{bucket}/plain");
        let out = copy(server, dir.path(), &plain).output().unwrap();
        assert_ok(&out);

        let want = local_alice_texts(&local);
        assert!(
            text(&want.stdout).contains("tab\\\\backslash"),
            "{}",
            text(&want.stdout)
        );

        let key = format!("enc/{name}.age");
        let sealed = server.get(&bucket, &key);
        let sealed_len = sealed.len() as u64;
        let url = format!("s3://{bucket}/{key}");
        let (out, received) = remote_texts(server, &url, Some(&identity), &stats);
        assert_ok(&out);
        assert_eq!(out.stdout, want.stdout);
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
        let percent = received as f64 * 100.0 / sealed_len as f64;
        eprintln!(
            "{}: texts --user of the encrypted copy received {received} of {sealed_len} bytes ({percent:.2}%)",
            server.name
        );
        assert!(received > 0);
        assert!(
            percent <= 5.0,
            "{received} of {sealed_len} bytes received: {percent:.2}%"
        );

        // The plain copy is read whole: the same texts, every byte.
        let plain_url = format!("s3://{bucket}/plain/{name}");
        let (out, received) = remote_texts(server, &plain_url, None, &stats);
        assert_ok(&out);
        assert_eq!(out.stdout, want.stdout);
        assert_eq!(received, fs::metadata(&local).unwrap().len());

        // A byte changed in a chunk the texts are read from: refused.
        let file = fs::File::open(&local).unwrap();
        let index = textrescue::indexed_gzip::Index::read(&file)
            .unwrap()
            .unwrap();
        let texts_member = index
            .members
            .iter()
            .find(|m| m.table.as_deref() == Some(&b"public.tasktexts"[..]))
            .expect("the texts' rows have a member");
        let plain_len = fs::metadata(&local).unwrap().len();
        let at = sealed_offset(
            texts_member.compressed_offset + texts_member.compressed_len / 2,
            plain_len,
            sealed_len,
        );
        let mut tampered = sealed.clone();
        tampered[at as usize] ^= 0x01;
        server.put(&bucket, &format!("tampered/{name}.age"), &tampered);
        let url = format!("s3://{bucket}/tampered/{name}.age");
        let (out, _) = remote_texts(server, &url, Some(&identity), &stats);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        let err = one_line(&out.stderr);
        assert!(
            err.contains("fails age's authentication") && err.contains("altered"),
            "{err}"
        );

        // Cut short (the last chunk gone, then a few bytes of it): refused.
        let last_chunk = sealed_offset((plain_len - 1) / CHUNK * CHUNK, plain_len, sealed_len);
        for cut in [last_chunk, sealed_len - 7] {
            let key = format!("cut/{cut}/{name}.age");
            server.put(&bucket, &key, &sealed[..cut as usize]);
            let url = format!("s3://{bucket}/{key}");
            let (out, _) = remote_texts(server, &url, Some(&identity), &stats);
            assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
            let err = one_line(&out.stderr);
            assert!(
                err.contains("fails age's authentication") && err.contains("cut short"),
                "{err}"
            );
        }
    });
}

/// An encrypted copy's index is trusted with what the rows it skips hold,
/// so `copy --encrypt-to` reads a backup against its index before sealing
/// it: one whose index runs a table's rows over their end (hiding the
/// texts after them) is refused in one line, and not uploaded; the same
/// file copied plain is (plain copies are read whole). Labels that lie
/// only about which table rows are hide nothing from a ranged read either:
/// the reader goes by the `COPY` lines it reads. An encrypted copy without
/// an index is streamed whole.
#[test]
#[cfg_attr(not(has_s3), ignore = "needs the S3 test servers (bash .ci/s3-up)")]
fn copy_seals_only_a_backup_whose_index_tells_the_truth() {
    use crate::indexed_differential::{labels_lie_about_tables, texts_hidden_in_other_rows};
    let keys = tempfile::tempdir().unwrap();
    let (identity, public) = keygen(keys.path(), "k.key");
    let name = "buggy_race_bk_20240305.sql.gz";
    each_server(|server| {
        let bucket = server.bucket();
        let copy = |dir: &Path, to: &str, encrypt: bool| {
            let mut c = copy(server, dir, &format!("s3://{bucket}/{to}"));
            if encrypt {
                c.args(["--encrypt-to", &public]);
            }
            c.output().unwrap()
        };
        let hidden = tempfile::tempdir().unwrap();
        fs::write(hidden.path().join(name), texts_hidden_in_other_rows().1).unwrap();
        let out = copy(hidden.path(), "hidden", true);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
        let err = one_line(&out.stderr);
        assert!(err.contains("does not match its contents"), "{err}");
        assert!(server.keys(&bucket).is_empty());
        assert_ok(&copy(hidden.path(), "hidden", false));
        assert_eq!(server.keys(&bucket), vec![format!("hidden/{name}")]);

        let lying = tempfile::tempdir().unwrap();
        let local = lying.path().join(name);
        fs::write(&local, labels_lie_about_tables().1).unwrap();
        assert_ok(&copy(lying.path(), "lying", true));
        let want = local_alice_texts(&local);
        assert!(text(&want.stdout).contains("alice's real text"));
        let stats = lying.path().join("stats.tsv");
        let url = format!("s3://{bucket}/lying/{name}.age");
        let (out, received) = remote_texts(server, &url, Some(&identity), &stats);
        assert_ok(&out);
        assert_eq!(text(&out.stdout), text(&want.stdout));
        assert!(received > 0);

        // An encrypted copy without an index (a backup written before
        // indexes) is streamed whole, and reads as the local file.
        let old = tempfile::tempdir().unwrap();
        let local = old.path().join(name);
        fs::copy(common::fixture(&format!("nights/{name}")), &local).unwrap();
        assert_ok(&copy(old.path(), "old", true));
        let want = local_alice_texts(&local);
        let key = format!("old/{name}.age");
        let size = server.get(&bucket, &key).len() as u64;
        let url = format!("s3://{bucket}/{key}");
        let (out, received) = remote_texts(server, &url, Some(&identity), &stats);
        assert_ok(&out);
        assert_eq!(out.stdout, want.stdout);
        assert!(received >= size, "{received} of {size}");
    });
}
