//! Text made safe to show: one escaper for everything that prints a
//! student's text, username or task name where a person reads it (the
//! table, `diff --text`, `history`, warnings) and for the comments of the
//! restore SQL; and words quoted for sh, for the commands textrescue
//! prints for a person to run.
//!
//! A character is shown as an escape (`\t`, `\n`, `\r`, `\u{202e}`) when it
//! could drive a terminal or make what is shown read differently from what
//! it is: control characters (C0, DEL, C1), every whitespace but the space
//! (line and paragraph separators U+2028/U+2029 included), bidi embeddings,
//! overrides, isolates and marks, zero-width and other invisible format
//! characters, variation selectors, tags, noncharacters and private-use
//! characters.

use std::fmt::Write as _;

/// Whether `c` is shown as an escape (see the module's documentation).
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(c as u32,
            0x00AD            // soft hyphen
            | 0x034F          // combining grapheme joiner
            | 0x061C          // Arabic letter mark
            | 0x115F | 0x1160 | 0x3164 | 0xFFA0 // Hangul fillers
            | 0x17B4 | 0x17B5
            | 0x180B..=0x180E
            | 0x200B..=0x200F // zero-width, LRM, RLM
            | 0x202A..=0x202E // bidi embeddings and overrides
            | 0x2060..=0x206F // word joiner, bidi isolates, invisible operators
            | 0xFE00..=0xFE0F // variation selectors
            | 0xFEFF          // BOM
            | 0xFFF9..=0xFFFB
            | 0xE0000..=0xE007F // tags
        )
        || (c as u32 & 0xFFFE) == 0xFFFE // noncharacters U+xxFFFE/U+xxFFFF
        || (0xFDD0..=0xFDEF).contains(&(c as u32))
        || (0xE000..=0xF8FF).contains(&(c as u32)) // private use
        || c as u32 >= 0xF0000
}

/// Appends `c`, or its escape when it [`needs_escape`]: `\t`, `\n`, `\r`,
/// else `\u{hex}`. `keep_tab`: a tab is shown as it is (in diff lines).
pub fn push_visible(out: &mut String, c: char, keep_tab: bool) {
    match c {
        '\t' if keep_tab => out.push('\t'),
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if needs_escape(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// `s` with every character that [`needs_escape`] escaped (tabs too).
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_visible(&mut out, c, false);
    }
    out
}

/// A message for stderr (an error, a warning), which names files, objects
/// and students as they are: every character that [`needs_escape`] is
/// escaped but line ends and tabs, which the message's own layout uses.
pub fn message(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c => push_visible(&mut out, c, false),
        }
    }
    out
}

/// Says `message` on stderr as a warning (`textrescue: warning: ...`),
/// escaped as [`message`] escapes it: every warning goes through here.
pub fn warn(message: &str) {
    eprintln!("textrescue: warning: {}", self::message(message));
}

/// Whether `s` shows as it is.
pub fn is_visible(s: &str) -> bool {
    !s.chars().any(needs_escape)
}

/// A word for the shell: as it is when it is plain, else in single quotes;
/// a word holding characters a terminal would hide or mangle (a newline, a
/// CR, bidi controls) in bash's `$'...'` with those as escapes, so that the
/// command shows as what it is and pastes as one line.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./+:,@%=".contains(&b));
    if plain {
        return word.to_string();
    }
    if !word.chars().any(needs_escape) {
        return format!("'{}'", word.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if needs_escape(c) && (c as u32) <= 0xFFFF => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if needs_escape(c) => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// An option with its value for a command printed for a person to run:
/// `--flag=VALUE`, the value quoted as [`shell_word`] quotes it. Joined by
/// `=`, a value that begins with `-` (a student named `-y`) stays the
/// option's value and is never read as an option of its own.
pub fn shell_option(flag: &str, value: &str) -> String {
    format!("{flag}={}", shell_word(value))
}

/// A path as a positional word of a printed command: [`shell_word`], with
/// `./` before a relative path that begins with `-` (which would otherwise
/// be read as an option).
pub fn shell_path(path: &str) -> String {
    if path.starts_with('-') {
        shell_word(&format!("./{path}"))
    } else {
        shell_word(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_reordering_characters_are_escaped() {
        assert_eq!(
            visible("a\u{202e}b\u{2066}c\u{2028}d\u{2029}e\u{200b}f\u{feff}g\u{1b}[2J\t\r\n"),
            "a\\u{202e}b\\u{2066}c\\u{2028}d\\u{2029}e\\u{200b}f\\u{feff}g\\u{1b}[2J\\t\\r\\n"
        );
        assert_eq!(visible("Crème brûlée 🏎 ümlaut"), "Crème brûlée 🏎 ümlaut");
        let mut s = String::new();
        push_visible(&mut s, '\t', true);
        assert_eq!(s, "\t");
        assert!(is_visible("alice") && !is_visible("ali\u{200d}ce"));
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("a/b_c.sql.gz"), "a/b_c.sql.gz");
        assert_eq!(shell_word("my dumps/it's.gz"), r"'my dumps/it'\''s.gz'");
        assert_eq!(shell_word("--id"), "--id");
        assert_eq!(shell_word("3-MULTI"), "3-MULTI");
        assert_eq!(shell_word("o'brien"), "'o'\\''brien'");
        assert_eq!(shell_word(""), "''");
        // Hidden characters as bash escapes: the command shows as what it is.
        assert_eq!(
            shell_word("eve';\n\\! x\r\u{202e}"),
            "$'eve\\';\\n\\\\! x\\r\\u202e'"
        );
    }

    /// Values that break a command line unless they are quoted and joined
    /// to their option: each printed word, read by a real bash, gives back
    /// the option and the value exactly.
    #[test]
    fn printed_options_parse_back_with_bash() {
        let values = [
            "-y",
            "--dbname=x",
            "--",
            "-",
            "a b",
            "$(touch x)",
            "`id`",
            "it's \"q\"",
            "~root",
            "*",
            "a;b|c&d",
            "Ünïcødé 🏎",
            "new\nline",
            "tab\there",
            "bidi\u{202e}x",
            "",
            "back\\slash",
            "!event",
        ];
        let mut words = Vec::new();
        let mut wanted = Vec::new();
        for v in values {
            words.push(shell_option("--user", v));
            wanted.push(format!("--user={v}"));
        }
        for p in ["-x.sql.gz", "a b/-c", "/abs/-d"] {
            words.push(shell_path(p));
            wanted.push(if p.starts_with('-') {
                format!("./{p}")
            } else {
                p.to_string()
            });
        }
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("printf '%s\\0' {}", words.join(" ")))
            .current_dir(std::env::temp_dir())
            .output()
            .expect("run bash");
        assert!(out.status.success(), "{out:?}");
        let got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(String::from)
            .collect();
        assert_eq!(got, wanted, "{}", words.join(" "));
    }
}
