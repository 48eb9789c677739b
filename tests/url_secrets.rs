//! `--database-url` with passwords holding '/', '?', '#', '@', ':', '%' and
//! '&', written as they are (ambiguous: refused or taken, never echoed) and
//! percent-encoded (taken), through the real binary: `backup` against the
//! real PostgreSQL (trust auth takes any password) and a closed port, and
//! `restore --dry-run` against a closed port. No piece of 3 characters of a
//! password may reach stdout, stderr or pg_dump's command line; the stand-in
//! pg_dump (tests/bin/pg_dump-standin, `record`) logs that command line and
//! which variables it was given, then runs the real pg_dump.
use crate::common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{TempDb, fixture, pg, text};

const SECRETS: &[&str] = &[
    "Zk9/Qx7",
    "Zk9?Qx7",
    "Zk9#Qx7",
    "Zk9@Qx7",
    "Zk9:Qx7",
    "Zk9%Qx7",
    "Zk9&Qx7=Wv3",
    "12/Zk9Qx7",
    "12?gsslib=Zk9wQ",
    "Zk9/Qx7?Wv3#Jt5@Rp8:Lm2%Nb4",
];

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Fails if any 3 characters of `secret` (or of its encoded form) are in
/// `said`, once the paths the test chose are taken out.
fn assert_no_piece(secret: &str, said: &str, paths: &[&Path], what: &str) {
    let mut said = said.to_string();
    for p in paths {
        said = said.replace(&p.display().to_string(), "<path>");
    }
    for piece in secret.as_bytes().windows(3) {
        let piece = std::str::from_utf8(piece).unwrap();
        assert!(
            !said.contains(piece),
            "{what}: {piece:?} of {secret:?} in: {said}"
        );
    }
    // Encoded: the pieces with a character of the password itself (a
    // message may well name an escape alone: "write '%' as %25").
    let encoded = encode(secret);
    let escaped: Vec<bool> = {
        let b = encoded.as_bytes();
        let mut e = vec![false; b.len()];
        for i in 0..b.len() {
            if b[i] == b'%' {
                e[i..i + 3].iter_mut().for_each(|x| *x = true);
            }
        }
        e
    };
    for (i, piece) in encoded.as_bytes().windows(3).enumerate() {
        if escaped[i..i + 3].iter().all(|&x| x) {
            continue;
        }
        let piece = std::str::from_utf8(piece).unwrap();
        assert!(
            !said.contains(piece),
            "{what}: {piece:?} of {encoded:?} in: {said}"
        );
    }
}

fn backup(db: &TempDb, dir: &Path, log: &Path, url: &str) -> Output {
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bin/pg_dump-standin");
    db.command(env!("CARGO_BIN_EXE_textrescue"))
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .env_remove("PGSSLMODE")
        .env("TEXTRESCUE_DATABASE_URL", url)
        .env("STANDIN_MODE", "record")
        .env("STANDIN_LOG", log)
        .args(["backup", "--prefix", "b_", "--dir"])
        .arg(dir)
        .arg("--pg-dump")
        .arg(standin)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn no_piece_of_a_password_in_a_url_is_ever_shown() {
    let pg = pg();
    let db = pg.create_db("url_secrets");
    db.load_schema_with_people();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    let log = tmp.path().join("argv.log");
    let paths = [tmp.path()];
    let server = format!("{}:{}", pg.host, pg.port);
    for secret in SECRETS {
        let said = |out: &Output| format!("{}{}", text(&out.stdout), text(&out.stderr));
        // As typed: refused (exit 2, before pg_dump) or taken; never shown.
        for at in [server.as_str(), "127.0.0.1:1"] {
            for url in [
                format!("postgres://{}:{secret}@{at}/{}", pg.user, db.name()),
                format!(
                    "postgresql://{}:{secret}@{at}/{}?sslmode=disable",
                    pg.user,
                    db.name()
                ),
            ] {
                let out = backup(&db, &dir, &log, &url);
                // 2: refused as a usage error; 1: pg_dump could not connect.
                assert!(matches!(out.status.code(), Some(0..=2)), "{url}");
                assert_no_piece(secret, &said(&out), &paths, &url);
            }
        }
        // Encoded: taken; pg_dump gets the password (and sslmode) in its
        // environment only.
        let _ = fs::remove_file(&log);
        let url = format!(
            "postgres://{}:{}@{server}/{}?sslmode=disable",
            pg.user,
            encode(secret),
            db.name()
        );
        let out = backup(&db, &dir, &log, &url);
        assert!(out.status.success(), "{url}: {}", said(&out));
        assert_no_piece(secret, &said(&out), &paths, &url);
        let logged = fs::read_to_string(&log).unwrap();
        assert_no_piece(secret, &logged, &paths, "pg_dump's argv");
        assert!(logged.contains("PGPASSWORD: set"), "{logged}");
        assert!(logged.contains("PGSSLMODE: disable"), "{logged}");
        assert!(!logged.contains("sslmode"), "{logged}");
        // Closed port: pg_dump's message, without the password.
        let url = format!("postgres://{}:{}@127.0.0.1:1/db", pg.user, encode(secret));
        let out = backup(&db, &dir, &log, &url);
        assert_eq!(out.status.code(), Some(1), "{url}");
        assert_no_piece(secret, &said(&out), &paths, &url);

        // restore: reads the backups, then fails to reach the database.
        for url in [
            format!("postgres://{}:{secret}@127.0.0.1:1/db", pg.user),
            format!("postgres://{}:{}@127.0.0.1:1/db", pg.user, encode(secret)),
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_textrescue"))
                .args([
                    "restore",
                    "--user",
                    "alice",
                    "--dry-run",
                    "--database-url",
                    &url,
                ])
                .arg(fixture("nights"))
                .env_remove("TEXTRESCUE_DATABASE_URL")
                .env_remove("PGPASSWORD")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert!(
                matches!(out.status.code(), Some(1 | 2)),
                "{url}: {}",
                said(&out)
            );
            assert_no_piece(secret, &said(&out), &paths, &url);
        }
    }
    // A secret in sslpassword is refused, not passed on a command line.
    let _ = fs::remove_file(&log);
    let url = format!(
        "postgres://{}@{server}/{}?sslpassword=Zk9Qx7Wv3",
        pg.user,
        db.name()
    );
    let out = backup(&db, &dir, &log, &url);
    assert_eq!(out.status.code(), Some(2));
    assert_no_piece("Zk9Qx7Wv3", &text(&out.stderr), &paths, "sslpassword");
    assert!(text(&out.stderr).contains("sslpassword cannot be given"));
    assert!(!log.exists(), "pg_dump ran");
}
