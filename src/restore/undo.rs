//! The one command that puts the live texts back as they were before a
//! restore: a `restore` from the safety backup of exactly the texts it
//! touched, by id (`--id`), with `--on-conflict overwrite` (the texts it
//! overwrote get their old text back) and `--delete-absent` (the texts it
//! added, which the safety backup does not have, are deleted).

use std::collections::BTreeSet;
use std::path::Path;

use super::plan::Report;
use super::select::Selection;
use crate::output::escape;
use crate::output::sql::Action;

/// The undo command, or `None` when the restore changed nothing.
pub fn command(
    safety: &Path,
    selection: &Selection,
    report: &Report,
    connection: &[String],
) -> Option<String> {
    let mut users = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut added = false;
    for (c, t) in selection.texts.iter().zip(&report.texts) {
        match t.action {
            Action::Overwrite => {
                ids.extend(t.live_id);
            }
            Action::Restore => {
                ids.extend(t.row_id);
                added = true;
            }
            _ => continue,
        }
        users.insert(c.username.clone());
    }
    // The undo of an undo: what it deleted is in its safety backup.
    for d in &report.deletions {
        if d.action == Action::Delete {
            ids.insert(d.id);
            users.extend(d.username.clone());
        }
    }
    if ids.is_empty() {
        return None;
    }
    let mut words = vec![
        "textrescue".to_string(),
        "restore".to_string(),
        shell_quote(&safety.display().to_string()),
    ];
    for u in &users {
        words.push("--user".into());
        words.push(shell_quote(u));
    }
    for id in &ids {
        words.push("--id".into());
        words.push(id.to_string());
    }
    words.push("--on-conflict".into());
    words.push("overwrite".into());
    if added {
        words.push("--delete-absent".into());
    }
    words.extend(connection.iter().map(|w| shell_quote(w)));
    Some(words.join(" "))
}

/// A word for the shell: as it is when it is plain, else in single quotes;
/// a word holding characters a terminal would hide or mangle (a newline, a
/// CR, bidi controls) in bash's `$'...'` with those as escapes, so that the
/// command shows as what it is and pastes as one line.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./+:,@%=".contains(&b));
    if plain {
        return word.to_string();
    }
    if !word.chars().any(escape::needs_escape) {
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
            c if escape::needs_escape(c) && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if escape::needs_escape(c) && (c as u32) <= 0xFFFF => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if escape::needs_escape(c) => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn words_are_quoted_for_sh() {
        assert_eq!(shell_quote("alice"), "alice");
        assert_eq!(shell_quote("o'brien"), "'o'\\''brien'");
        assert_eq!(shell_quote("a b;$(x)"), "'a b;$(x)'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(
            shell_quote("eve';\n\\! x\r\u{202e}"),
            "$'eve\\';\\n\\\\! x\\r\\u202e'"
        );
    }
}
