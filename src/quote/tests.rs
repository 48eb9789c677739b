//! Literals read back exactly; comment text cannot leave its line.

use super::*;

#[test]
fn texts_are_readable_literals_with_visible_escapes() {
    assert_eq!(text_literal(""), "''");
    assert_eq!(
        text_literal("it's a \\ backslash, $$ and :foo"),
        "'it''s a \\ backslash, $$ and :foo'"
    );
    assert_eq!(
        text_literal("First line\r\n\\! touch x\n\n\tcol1\tcol2\rend"),
        "array_to_string(ARRAY[\n    \
         'First line', E'\\r\\n',\n    \
         '\\! touch x', E'\\n',\n    \
         E'\\n',\n    \
         E'\\t', 'col1', E'\\t', 'col2', E'\\r',\n    \
         'end'\n], '')"
    );
    assert_eq!(
        text_literal("a\u{202e}\u{200b}b\u{2028}c\u{1b}[2J🏎\u{e0041}\u{85}\n"),
        "array_to_string(ARRAY[\n    \
         'a', convert_from(decode('e280aee2808b', 'hex'), 'UTF8'), 'b', \
         convert_from(decode('e280a8', 'hex'), 'UTF8'), 'c', E'\\u001B', '[2J🏎', \
         convert_from(decode('f3a08181c285', 'hex'), 'UTF8'), E'\\n'\n], '')"
    );
    assert_eq!(text_literal("Привет שלום 👋"), "'Привет שלום 👋'");
}

/// Reads a text expression back the way PostgreSQL does (only what
/// [`text_literal`] writes: `'…'`, `E'…'`, UTF-8 bytes in
/// `convert_from(decode('…', 'hex'), 'UTF8')`, the array around them).
fn eval(sql: &str) -> String {
    const BYTES: &str = "convert_from(decode('";
    const BYTES_END: &str = "', 'hex'), 'UTF8')";
    let mut out = String::new();
    let mut rest = sql;
    while let Some(start) = rest.find('\'') {
        if rest[..=start].ends_with(BYTES) {
            let len = rest[start..].find(BYTES_END).unwrap();
            let hex = &rest[start + 1..start + len];
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            out.push_str(std::str::from_utf8(&bytes).unwrap());
            rest = &rest[start + len + BYTES_END.len()..];
            continue;
        }
        let escape = rest[..start].ends_with('E');
        let body_start = start + 1;
        let mut end = body_start;
        let bytes = rest.as_bytes();
        loop {
            if bytes[end] == b'\'' {
                if bytes.get(end + 1) == Some(&b'\'') {
                    end += 2;
                    continue;
                }
                break;
            }
            end += 1;
        }
        let body = &rest[body_start..end];
        if escape {
            let mut chars = body.chars();
            while let Some(c) = chars.next() {
                assert_eq!(c, '\\', "{body}");
                match chars.next().unwrap() {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    u @ ('u' | 'U') => {
                        let n = if u == 'u' { 4 } else { 8 };
                        let hex: String = chars.by_ref().take(n).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                    }
                    c => panic!("escape {c}"),
                }
            }
        } else {
            out.push_str(&body.replace("''", "'"));
        }
        rest = &rest[end + 1..];
    }
    out
}

#[test]
fn literals_are_exact_and_nothing_hidden_reaches_the_script() {
    for text in [
        "",
        "'",
        "''",
        "\r\n\r\n",
        "\n",
        "a\r",
        "\\.\n\\! echo\r\\unrestrict x\n\\restrict x",
        "E'\\x41' $$ $x$ :'v'",
        "\u{202e}\u{2066}x\u{2069}\u{200d}\u{feff}\u{7f}\u{9c}",
        "🏳️‍🌈 שלום עולם مرحبا",
    ] {
        let sql = text_literal(text);
        assert_eq!(eval(&sql), text, "{sql}");
        assert!(
            !sql.chars()
                .any(|c| c != '\n' && crate::escape::needs_escape(c)),
            "{sql:?}"
        );
        for line in sql.lines() {
            let line = line.trim_start();
            assert!(
                line.is_empty()
                    || line.starts_with('\'')
                    || line.starts_with("E'")
                    || line.starts_with("convert_from(decode('")
                    || line == "array_to_string(ARRAY["
                    || line == "], '')",
                "{line:?}"
            );
        }
        let name = string_literal(text);
        assert!(!name.contains('\n'), "{name:?}");
        assert_eq!(eval(&name), text, "{name}");
    }
}

#[test]
fn comment_text_cannot_leave_its_line() {
    let nasty = "a\nDROP TABLE users;\r\\! rm -rf /\u{2028}x\u{2029}\u{85}\u{b}\u{c}\u{202e}evil\u{0}\u{7f}";
    let c = comment_safe(nasty, 1000);
    assert!(
        !c.chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
        "{c}"
    );
    assert_eq!(
        c,
        "a\\nDROP TABLE users;\\r\\\\! rm -rf /\\u{2028}x\\u{2029}\\u{85}\\u{b}\\u{c}\\u{202e}evil\\u{0}\\u{7f}"
    );
}

#[test]
fn comment_text_keeps_readable_unicode_and_is_cut() {
    assert_eq!(
        comment_safe("Привет, мир 👋 שלום", 100),
        "Привет, мир 👋 שלום"
    );
    assert_eq!(comment_safe("abcdef", 3), "abc...");
    assert_eq!(comment_safe("tab\there", 100), "tab\\there");
    assert_eq!(
        comment_safe("a\u{a0}b\u{200b}c", 100),
        "a\\u{a0}b\\u{200b}c"
    );
}

#[test]
fn names_are_readable_literals() {
    assert_eq!(string_literal("alice"), "'alice'");
    assert_eq!(string_literal("o'brien"), "'o''brien'");
    assert_eq!(string_literal("zoë"), "'zoë'");
    assert_eq!(string_literal(""), "''");
    assert_eq!(
        string_literal("eve\n\\! touch x\r"),
        "array_to_string(ARRAY['eve', E'\\n', '\\! touch x', E'\\r'], '')"
    );
}
