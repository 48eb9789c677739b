//! The restore script as text: nothing a dump holds outside a literal,
//! names only as data, every slot filled.

use super::*;
use crate::texts::{Task, TaskText, Timestamp};

#[test]
fn description_counts_every_kind_of_line_break() {
    assert_eq!(describe(""), "empty text");
    assert_eq!(describe("a\rb\rc"), "5 bytes, 3 lines, begins: \"a...\"");
    assert_eq!(describe("a\r\nb\r\n"), "6 bytes, 2 lines, begins: \"a...\"");
    assert_eq!(
        describe("\n\n  \nhello"),
        "10 bytes, 4 lines, begins: \"hello\""
    );
    assert_eq!(
        describe("one line"),
        "8 bytes, 1 line, begins: \"one line\""
    );
}

/// A schema or table name reaches the script only as a literal in the
/// INSERT into `textrescue_target`: any name PostgreSQL can hold is taken.
#[test]
fn table_names_are_data() {
    let target = |schema: &str, name: &str| {
        let t = Tables::new(&TableName::new(schema, name)).unwrap();
        let mut out = Vec::new();
        t.target_sql(Some(LockMode::Exclusive), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    let sql = target("public", "tasktexts");
    assert!(sql.contains("VALUES ('public', 'tasktexts');\n"), "{sql}");
    assert!(
        sql.contains("IF 'EXCLUSIVE'::text IS NOT NULL THEN"),
        "{sql}"
    );
    let nasty = "s$textrescue$\\! touch pwned #\n\\i x :'v' \"q\" $$";
    let sql = target(nasty, "O'Neil\u{202e}");
    assert!(
        sql.contains(
            "VALUES (array_to_string(ARRAY['s$textrescue$\\! touch pwned #', E'\\n', \
             '\\i x :''v'' \"q\" $$'], ''), array_to_string(ARRAY['O''Neil', \
             convert_from(decode('e280ae', 'hex'), 'UTF8')], ''));\n"
        ),
        "{sql}"
    );
    let code = outside_literals(&sql);
    assert!(!code.contains("pwned") && !code.contains("\\i"), "{code}");
    // The only dollar quotes are the DO block's own.
    assert_eq!(sql.matches("$textrescue$").count(), 2 + 1, "{sql}");
    assert!(Tables::new(&TableName::new("", "t")).is_err());
    assert!(Tables::new(&TableName::new("p", "a\0b")).is_err());
}

#[test]
fn slots_are_filled_in_one_pass() {
    let mut out = Vec::new();
    render_template(
        "LOCK @texts@; @users@ a@b @missing@",
        &[("texts", "\"a@users@\""), ("users", "u")],
        &mut out,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "LOCK \"a@users@\"; u a@b @missing@"
    );
    // Every slot of the program is one that gets a value: fixed words,
    // never a name.
    let slots = |mut rest: &str| {
        let mut found = Vec::new();
        while let Some(at) = rest.find('@') {
            let after = &rest[at + 1..];
            let end = after.find('@').expect("a slot is closed");
            found.push(after[..end].to_string());
            rest = &after[end + 1..];
        }
        found.sort();
        found.dedup();
        found
    };
    assert_eq!(slots(PROGRAM_SQL), ["check_only", "policy"]);
    assert_eq!(
        slots(include_str!("target.sql")),
        ["lock", "schema", "texts"]
    );
    assert!(!TABLES_SQL.contains('@') && !REPORT_SQL.contains('@'));
    assert!(!include_str!("check.sql").contains('@'));
}

/// Every character above ASCII is listed once, with where it first is;
/// a script of ASCII alone has no check.
#[test]
fn the_encoding_check_lists_each_character_once() {
    let mut chars = Chars::default();
    let mut out = Vec::new();
    chars.add("plain", || "text id 1".into());
    chars.check_sql(&mut out).unwrap();
    assert!(out.is_empty());
    chars.add("a\u{a0}b\u{fe0f}", || "text id 2".into());
    chars.add("\u{a0}é🌈", || "text id 3".into());
    chars.check_sql(&mut out).unwrap();
    let sql = String::from_utf8(out).unwrap();
    assert!(
        sql.contains(
            "VALUES\n(160, 'c2a0', 'text id 2'),\n(233, 'c3a9', 'text id 3'),\n\
             (65039, 'efb88f', 'text id 2'),\n(127752, 'f09f8c88', 'text id 3');\n"
        ),
        "{sql}"
    );
    assert!(sql.is_ascii());
}

fn render(records: &[Record<'_>], script: &RestoreScript<'_>, now: &str) -> Result<String> {
    let mut out = Vec::new();
    write_at(records, script, now, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_pg(s).unwrap()
}

/// The script with the body of every literal (`'…'`, `E'…'`) taken
/// out and every `--` comment line dropped: what psql reads as commands
/// and SQL around the literals.
fn outside_literals(sql: &str) -> String {
    let mut out = String::new();
    let mut in_literal = false;
    let mut chars = sql.chars().peekable();
    let mut line_start = true;
    while let Some(c) = chars.next() {
        if in_literal {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                } else {
                    in_literal = false;
                    out.push('\'');
                }
            }
            continue;
        }
        if line_start && c == '-' && chars.peek() == Some(&'-') {
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
            continue;
        }
        line_start = c == '\n';
        out.push(c);
        if c == '\'' {
            in_literal = true;
        }
    }
    assert!(!in_literal, "a literal is left open");
    out
}

/// Every line of the script outside its literals is one of ours (a
/// comment, a \set line, or SQL that holds none of the text), the text
/// is there to read, and no byte of it is hidden from a terminal.
#[test]
fn nasty_text_is_only_ever_inside_literals() {
    let nasty = "'); DROP TABLE users; --\n\\.\n\\! touch /tmp/pwned\n:foo :'foo' $$ $x$\r\n\\i /etc/passwd\u{202e}\n\\unrestrict k\n";
    let text = TaskText {
        id: 7,
        user_id: 3,
        task_id: 4,
        created_at: ts("2024-03-01 14:22:11.123456+00"),
        modified_at: None,
        text: nasty.as_bytes().to_vec(),
    };
    let task = Task {
        phase: 3,
        name: "multi".into(),
        is_enabled: true,
    };
    let record = Record {
        text: &text,
        username: Some("bob\n\\! echo"),
        task: Some(&task),
    };
    let args = ScriptSettings::default();
    let table = TableName::new("s$textrescue$\\! touch pwned #\n\\i x", "task$$texts:'v'");
    let script = RestoreScript {
        source: "/backups/x\n\\! y.sql.gz",
        table: &table,
        settings: args,
    };
    let sql = render(&[record], &script, "2024-03-06T00:00:00+00:00").unwrap();
    let meta: Vec<&str> = sql.lines().filter(|l| l.starts_with('\\')).collect();
    assert_eq!(
        meta,
        ["\\set ON_ERROR_STOP on", "\\set ON_ERROR_ROLLBACK off"]
    );
    let code = outside_literals(&sql);
    for bad in [
        "pwned",
        "DROP TABLE",
        ":foo",
        "bob",
        "y.sql",
        "\\i",
        "\\!",
        "\\.",
        "\\u",
        "$$",
        ":'v'",
    ] {
        assert!(!code.contains(bad), "{bad}:\n{code}");
    }
    // Three DO blocks (the encoding check, the live tables, the program),
    // each opened and closed by its tag, and no other dollar quote.
    assert_eq!(code.matches("$textrescue$").count(), 6, "{code}");
    assert_eq!(code.matches('$').count(), 12, "{code}");
    assert!(
        !sql.chars()
            .any(|c| c != '\n' && crate::escape::needs_escape(c)),
        "{sql:?}"
    );
    assert!(
        sql.contains(
            "VALUES (1, array_to_string(ARRAY['bob', E'\\n', '\\! echo'], ''), 3, 'multi', 7, \
             '2024-03-01T14:22:11.123456+00:00', NULL,\n\
             array_to_string(ARRAY[\n    \
             '''); DROP TABLE users; --', E'\\n',\n    \
             '\\.', E'\\n',\n    \
             '\\! touch /tmp/pwned', E'\\n',\n    \
             ':foo :''foo'' $$ $x$', E'\\r\\n',\n    \
             '\\i /etc/passwd', convert_from(decode('e280ae', 'hex'), 'UTF8'), E'\\n',\n    \
             '\\unrestrict k', E'\\n'\n\
             ], ''));\n"
        ),
        "{sql}"
    );
    assert!(sql.contains("-- [1/1] student bob\\n\\\\! echo, task 3-MULTI, backup id 7\n"));
    assert!(
        sql.contains("begins: \"'); DROP TABLE users; --...\""),
        "{sql}"
    );
    assert!(sql.trim_end().ends_with("COMMIT;"));
}

/// What `restore` runs: the plan each text is held to, the texts to
/// delete, the report, and no end to the transaction (the caller ends it).
#[test]
fn the_script_for_restore_holds_texts_to_the_plan_and_reports() {
    let text = TaskText {
        id: 9,
        user_id: 2,
        task_id: 3,
        created_at: ts("2024-03-01 14:22:11+00"),
        modified_at: None,
        text: b"x".to_vec(),
    };
    let task = Task {
        phase: 3,
        name: "MULTI".into(),
        is_enabled: true,
    };
    let record = Record {
        text: &text,
        username: Some("alice"),
        task: Some(&task),
    };
    let args = ScriptSettings {
        on_conflict: OnConflict::Overwrite,
        check: false,
    };
    let table = TableName::new("public", "tasktexts");
    let script = RestoreScript {
        source: "b.sql.gz",
        table: &table,
        settings: args,
    };
    let planned = [Planned {
        action: Action::Overwrite,
        live_sha256: Some("ab12".into()),
    }];
    let deletions = [Deletion {
        id: 40,
        usernames: vec!["alice".into()],
        planned: Some(Planned {
            action: Action::Delete,
            live_sha256: Some("cd34".into()),
        }),
    }];
    let mut out = Vec::new();
    write_for_restore(
        &[record],
        &script,
        &RestoreExtras {
            planned: Some(&planned),
            deletions: &deletions,
        },
        &mut out,
    )
    .unwrap();
    let sql = String::from_utf8(out).unwrap();
    assert!(
        sql.contains("text, planned_action, planned_live_sha256)\n"),
        "{sql}"
    );
    assert!(sql.contains("'x', 'overwrite', 'ab12');"), "{sql}");
    assert!(
        sql.contains("VALUES (1, 40, ARRAY['alice']::text[], 'delete', 'cd34');"),
        "{sql}"
    );
    assert!(sql.contains("VALUES ('public', 'tasktexts');\n"), "{sql}");
    assert!(
        sql.contains("IF 'EXCLUSIVE'::text IS NOT NULL THEN"),
        "{sql}"
    );
    assert!(
        sql.trim_end().ends_with("FROM textrescue_delete))::text;"),
        "{sql}"
    );
    assert!(!sql.contains("\nCOMMIT;") && !sql.contains("\nROLLBACK;"));
    assert!(!sql.contains('@'), "every slot filled");
    assert_eq!(Action::from_name("gone"), Some(Action::Gone));
    assert_eq!(sha_literal(Some("'; DROP")), "NULL");
}

#[test]
fn check_ends_in_rollback_and_unknown_names_are_refused() {
    let text = TaskText {
        id: 1,
        user_id: 2,
        task_id: 3,
        created_at: ts("2024-03-01 14:22:11+00"),
        modified_at: Some(ts("2024-03-02 10:00:00.5+05:30")),
        text: b"x".to_vec(),
    };
    let task = Task {
        phase: 0,
        name: "GET".into(),
        is_enabled: true,
    };
    let args = ScriptSettings {
        on_conflict: OnConflict::Overwrite,
        check: true,
    };
    let table = TableName::new("public", "tasktexts");
    let script = RestoreScript {
        source: "d.sql",
        table: &table,
        settings: args,
    };
    let ok = Record {
        text: &text,
        username: Some("alice"),
        task: Some(&task),
    };
    let sql = render(&[ok], &script, "now").unwrap();
    assert!(sql.trim_end().ends_with("ROLLBACK;"));
    assert!(!sql.contains("COMMIT;"));
    assert!(sql.contains("'2024-03-02T10:00:00.5+05:30'"));
    assert!(sql.contains("policy constant text := 'overwrite'"));
    let no_user = Record {
        username: None,
        ..ok
    };
    assert!(render(&[no_user], &script, "now").is_err());
    let no_task = Record { task: None, ..ok };
    assert!(render(&[no_task], &script, "now").is_err());
}
