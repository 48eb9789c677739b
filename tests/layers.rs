//! The layer order that src/lib.rs writes down, checked against the code:
//! every `crate::` import in src/ (a `use`, a group `use crate::{a, b::c}`
//! or a path written inline) must name a module of its own layer or of a
//! layer below. The list is read from lib.rs's doc, so that the description
//! and the check cannot drift apart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Imports that climb on purpose (none today); a new entry here is a
/// design decision, not a way to make the test pass.
const CLIMBING_FOR_NOW: &[(&str, &str)] = &[];

#[test]
fn no_import_climbs_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let layers = layers_of(&lib);
    let declared = declared_modules(&lib);
    let unplaced: Vec<_> = declared
        .iter()
        .filter(|m| !layers.contains_key(*m))
        .collect();
    assert!(
        unplaced.is_empty(),
        "src/lib.rs declares {unplaced:?} but places them in no layer of its doc"
    );
    let mut climbing = Vec::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let Some(from) = top_module(relative) else {
            continue; // lib.rs, main.rs: the crate's root and the binary
        };
        let Some(&from_layer) = layers.get(&from) else {
            panic!(
                "{} is in module {from}, which src/lib.rs's doc places in no layer",
                relative.display()
            );
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, to) in crate_imports(&text) {
            let Some(&to_layer) = layers.get(&to) else {
                continue; // not a module (a macro or item at the crate root)
            };
            if to_layer > from_layer && !CLIMBING_FOR_NOW.contains(&(from.as_str(), to.as_str())) {
                climbing.push(format!(
                    "src/{}:{line}: crate::{to} (layer {to_layer}) used from {from} (layer {from_layer})",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        climbing.is_empty(),
        "imports that climb the layers of src/lib.rs:\n{}",
        climbing.join("\n")
    );
}

#[test]
fn the_allowed_climbs_still_climb() {
    // An entry whose import is gone must go too, or it would hide a new one.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = vec![false; CLIMBING_FOR_NOW.len()];
    for file in rust_files(&src) {
        let Some(from) = top_module(file.strip_prefix(&src).unwrap()) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (_, to) in crate_imports(&text) {
            for (i, allowed) in CLIMBING_FOR_NOW.iter().enumerate() {
                found[i] |= *allowed == (from.as_str(), to.as_str());
            }
        }
    }
    for (allowed, found) in CLIMBING_FOR_NOW.iter().zip(found) {
        assert!(
            found,
            "{allowed:?} no longer climbs: remove it from CLIMBING_FOR_NOW"
        );
    }
}

#[test]
fn imports_are_found_in_groups_and_paths_but_not_in_comments_or_strings() {
    let text = r##"
use crate::a::B;
use crate::{b, c::{D, e::F}, self as g};
// use crate::comment;
/* use crate::block /* nested crate::x */ crate::y */
/// [`crate::doc`]
fn f<'a>(x: &'a str) -> char {
    let _ = "crate::string \" crate::escaped";
    let _ = r#"crate::raw"#;
    let _ = crate::h::call();
    let _ = '"'; let _ = 'é';
    let _ = ::other_crate::x;
    crate::i::j
}
"##;
    let found: Vec<String> = crate_imports(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(found, ["a", "b", "c", "h", "i"]);
    assert_eq!(crate_imports(text)[1].0, 3);
}

#[test]
fn the_layers_are_read_from_the_doc() {
    let doc = "//! Intro: [`x`].\n//! 1. [`a`], [`b`]: bottom,\n//!    with [`z`] named;\n//! 2. [`c`]: top.\n";
    let layers = layers_of(doc);
    assert_eq!(
        layers.into_iter().collect::<Vec<_>>(),
        [
            ("a".to_string(), 1),
            ("b".to_string(), 1),
            ("c".to_string(), 2)
        ]
    );
}

/// Each module named in lib.rs's numbered list (`//! 3. [`m`], [`n`]: ...`)
/// with its layer's number: the links before the item's first `: `.
fn layers_of(lib: &str) -> BTreeMap<String, u32> {
    let mut layers = BTreeMap::new();
    let mut item: Option<(u32, String)> = None;
    let finish = |item: Option<(u32, String)>, layers: &mut BTreeMap<String, u32>| {
        if let Some((n, text)) = item {
            let names = text.split(": ").next().unwrap_or("");
            for name in names.split("[`").skip(1) {
                let name = name.split('`').next().unwrap();
                layers.insert(name.to_string(), n);
            }
        }
    };
    for line in lib.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            break;
        };
        let doc = doc.trim_start();
        let number = doc
            .split_once(". ")
            .and_then(|(n, rest)| Some((n.parse::<u32>().ok()?, rest)));
        if let Some((n, rest)) = number {
            finish(item.take(), &mut layers);
            item = Some((n, rest.to_string()));
        } else if let Some((_, text)) = &mut item {
            if doc.is_empty() {
                finish(item.take(), &mut layers);
            } else {
                text.push(' ');
                text.push_str(doc);
            }
        }
    }
    finish(item, &mut layers);
    layers
}

/// The `pub mod` (or `mod`) names declared in lib.rs.
fn declared_modules(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub mod ")
                .or_else(|| l.trim().strip_prefix("mod "))
        })
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The top-level module a file under src/ belongs to: `format` for
/// `format/plain/tests.rs` and for `format.rs`; `None` for the crate roots.
fn top_module(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// The top-level modules that `text` names after `crate::`, with the line
/// of each, in order; comments, strings and character literals are blanked
/// first so that only code counts.
fn crate_imports(text: &str) -> Vec<(usize, String)> {
    let code = code_only(text);
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = code[at..].find("crate::") {
        let start = at + pos;
        at = start + "crate::".len();
        let before = start.checked_sub(1).map(|i| bytes[i]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
            continue; // `other_crate::`, `::crate::` is no path of ours
        }
        let line = code[..start].matches('\n').count() + 1;
        let rest = &code[at..];
        if let Some(group) = rest.strip_prefix('{') {
            for item in top_level_items(group) {
                let name = leading_ident(item.trim_start());
                if !name.is_empty() && name != "self" {
                    found.push((line, name.to_string()));
                }
            }
        } else {
            let name = leading_ident(rest);
            if !name.is_empty() {
                found.push((line, name.to_string()));
            }
        }
    }
    found
}

/// The comma-separated items of a `{...}` group whose `{` is already
/// passed, up to its closing brace.
fn top_level_items(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

fn leading_ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Whether `chars[i]` starts a token: no identifier character before it,
/// or only a `b` (a byte string's prefix) that starts one.
fn starts_token(chars: &[char], i: usize) -> bool {
    let ident = |c: &char| c.is_alphanumeric() || *c == '_';
    match i.checked_sub(1).map(|p| chars[p]) {
        None => true,
        Some('b') => !i.checked_sub(2).is_some_and(|p| ident(&chars[p])),
        Some(p) => !ident(&p),
    }
}

/// `text` with comments, string literals and character literals replaced
/// by spaces (line ends kept, so that line numbers stay).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('#') | Some('"')) && starts_token(&chars, i) {
            // A raw string: r"...", r#"..."#, ...
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let body_start = i + 2 + hashes;
            let body: String = chars[body_start..].iter().collect();
            let body_len = body
                .find(&close)
                .map_or(chars.len() - body_start, |b| body[..b].chars().count());
            let end = (body_start + body_len + close.chars().count()).min(chars.len());
            for &ch in &chars[i..end] {
                blank(&mut out, ch);
            }
            i = end;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // An escaped character literal: '\n', '\'', '\u{..}'.
            let end = chars[i + 2..]
                .iter()
                .position(|&q| q == '\'')
                .map_or(chars.len(), |p| i + 2 + p + 1);
            let end = if chars.get(i + 2) == Some(&'\'') {
                i + 4
            } else {
                end
            };
            for _ in i..end.min(chars.len()) {
                out.push(' ');
            }
            i = end;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("   "); // a character literal: 'x' (not a lifetime)
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}
