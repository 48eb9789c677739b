//! Tests of the PostgreSQL test support in tests/common/mod.rs.
use crate::common;

use common::{fixture, insert_text_sql, pg};

const NASTY: &[&str] = &[
    "",
    "\\N",
    "a\tb\nc\r\nd\re",
    "line\n\\.\nmore\n\\.",
    "\\! echo pwned\n\\i /etc/passwd\n\\copy users to '/tmp/x'",
    "It's \"quoted\" $$ $tag$ x $tag$ E'\\x41'",
    "🏎️ مرحبا שלום 👩🏽‍💻 \u{202e}rtl\u{202c} \u{10ffff}",
    "\u{1}\u{2}\u{1f}\u{7f} trailing  \n\n",
];

#[test]
fn fixtures_exist() {
    assert!(fixture("schema.sql").is_file());
    assert!(fixture("nights/buggy_race_bk_20240304.sql.gz").is_file());
    assert!(fixture("expected/buggy_race_bk_20240304.json").is_file());
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn create_load_insert_query_roundtrip() {
    let pg = pg();
    let name;
    {
        let db = pg.create_db("pg Support-test");
        name = db.name().to_string();
        assert!(name.starts_with("pg_support_test_"), "{name}");
        assert!(pg.database_exists(&name));
        db.load_schema_with_people();
        let mut sql = String::new();
        for (i, t) in NASTY.iter().enumerate() {
            sql += &insert_text_sql(
                Some(100 + i as i64),
                2 + (i as i64 % 2),
                1 + (i as i64 / 2),
                "2024-03-01 14:22:11.123456+00",
                if i % 3 == 0 {
                    None
                } else {
                    Some("2024-03-02 09:00:00+00")
                },
                t,
            );
        }
        sql += "SELECT setval('public.tasktexts_id_seq', 107);\n";
        sql += &insert_text_sql(None, 2, 4, "2024-03-03 10:00:00.5+00", None, "next id");
        db.psql(&sql);
        assert_eq!(db.psql("SELECT max(id) FROM public.tasktexts"), "108");

        let rows = db.query_json("SELECT id, text FROM public.tasktexts ORDER BY id");
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), NASTY.len() + 1);
        for (i, t) in NASTY.iter().enumerate() {
            assert_eq!(rows[i]["id"], 100 + i as i64);
            assert_eq!(rows[i]["text"].as_str().unwrap(), *t, "text {i}");
        }

        let texts = db.texts_json("public.tasktexts");
        let first = &texts[0];
        assert!(db.texts_json_string("public.tasktexts").starts_with(
            r#"[{"id" : 100, "username" : "alice", "user_id" : 2, "task" : "0-GET", "task_id" : 1, "created_at" : "2024-03-01T14:22:11.123456+00:00", "modified_at" : null, "text" : ""}"#
        ));
        assert_eq!(first["username"], "alice");
        assert_eq!(first["task"], "0-GET");
        assert_eq!(first["created_at"], "2024-03-01T14:22:11.123456+00:00");
        assert_eq!(first["modified_at"], serde_json::Value::Null);
        assert_eq!(texts[8]["task"], "4-AUTOFLAG");

        let dump = String::from_utf8(db.pg_dump(&["-t", "tasktexts"])).unwrap();
        assert!(dump.contains("COPY public.tasktexts (id, created_at, modified_at, user_id, task_id, text) FROM stdin;"));
        assert!(dump.contains("\t\\\\N\n"), "\\N text is escaped in COPY");
        let kolkata = String::from_utf8(db.pg_dump_env(&[], &[("PGTZ", "Asia/Kolkata")])).unwrap();
        assert!(kolkata.contains("2024-03-01 19:52:11.123456+05:30"));

        // failures are returned, not panicked
        let bad = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            bad.path(),
            "SELECT 1;\nSELECT nonsense_column FROM public.users;\nSELECT 2;\n",
        )
        .unwrap();
        let out = db.psql_file(bad.path());
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("nonsense_column"));
    }
    assert!(
        !pg.database_exists(&name),
        "database {name} dropped on Drop"
    );
}

#[test]
#[should_panic(expected = "command failed")]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn psql_panics_with_stderr() {
    let pg = pg();
    let db = pg.create_db("pg_support_panic");
    db.psql("SELECT * FROM no_such_table");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn expected_fixture_matches_night_dump_loaded_back() {
    let pg = pg();
    let db = pg.create_db("pg_support_night");
    let gz = std::fs::read(fixture("nights/buggy_race_bk_20240305.sql.gz")).unwrap();
    let plain = {
        let mut c = std::process::Command::new("gzip");
        c.arg("-dc");
        let mut child = c
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let w = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &gz).unwrap());
        let out = child.wait_with_output().unwrap();
        w.join().unwrap();
        out.stdout
    };
    let out = db.psql_input(&plain);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("expected/buggy_race_bk_20240305.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(db.texts_json("public.tasktexts"), expected);
    let raw = std::fs::read_to_string(fixture("expected/buggy_race_bk_20240305.json")).unwrap();
    assert_eq!(db.texts_json_string("public.tasktexts") + "\n", raw);
}
