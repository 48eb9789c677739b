//! `textrescue completions SHELL` and `textrescue man`: generated from the
//! same clap definitions as the command line itself.
//!
//! Manual pages: one per subcommand, as git and cargo have them
//! (`textrescue-texts(1)` and so on), each with its synopsis as a user types
//! it (`textrescue texts ...`). The examples of `--help` are set unfilled, so
//! that a command copied from the page pastes exactly.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;
use roff::{Roff, bold, roman};

use crate::atomic_file::AtomicFile;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::UsageError;
use crate::folder_names::OUTPUT_TEMP_PREFIX;

pub fn completions(args: &CompletionsArgs) -> Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "textrescue",
        &mut std::io::stdout(),
    );
    Ok(())
}

pub fn man(args: &ManArgs) -> Result<()> {
    let pages = pages();
    if let Some(dir) = &args.dir {
        for (file, page) in &pages {
            write_page(dir, file, page)?;
        }
        println!("wrote {} pages into {}", pages.len(), dir.display());
        return Ok(());
    }
    let file = match &args.command {
        None => "textrescue.1".to_string(),
        Some(sub) => format!("textrescue-{sub}.1"),
    };
    let Some((_, page)) = pages.iter().find(|(f, _)| *f == file) else {
        let command = built();
        let names: Vec<_> = subcommands(&command).map(|s| s.get_name()).collect();
        return Err(UsageError(format!(
            "no subcommand {:?}; pages exist for: {}",
            args.command.as_deref().unwrap_or_default(),
            names.join(", ")
        ))
        .into());
    };
    std::io::stdout().lock().write_all(page)?;
    Ok(())
}

fn write_page(dir: &Path, file: &str, page: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(file);
    let written = AtomicFile::create_in(dir, OUTPUT_TEMP_PREFIX, "", 0o666)
        .and_then(|new| new.file().write_all(page).map(|()| new))
        .with_context(|| format!("cannot write {}", path.display()))?;
    written.persist_replacing(&path)
}

/// The command tree with the names clap gives a subcommand when it is built:
/// display name `textrescue-texts` (the page), bin name `textrescue texts`
/// (the synopsis).
fn built() -> clap::Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

fn subcommands(command: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    command.get_subcommands().filter(|s| !s.is_hide_set())
}

/// Every manual page: (file name, roff source).
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let command = built();
    let mut pages = vec![page(&command, true)];
    pages.extend(subcommands(&command).map(|sub| page(sub, false)));
    pages
}

fn page(command: &clap::Command, main: bool) -> (String, Vec<u8>) {
    let man = clap_mangen::Man::new(command.clone());
    let mut out = Vec::new();
    man.render_title(&mut out).expect("writing to memory");
    man.render_name_section(&mut out)
        .expect("writing to memory");
    man.render_synopsis_section(&mut out)
        .expect("writing to memory");
    if command.get_long_about().is_some() {
        man.render_description_section(&mut out)
            .expect("writing to memory");
    }
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)
            .expect("writing to memory");
    }
    if main {
        man.render_subcommands_section(&mut out)
            .expect("writing to memory");
    }
    let mut roff = Roff::default();
    if let Some(help) = command.get_after_long_help().or(command.get_after_help()) {
        examples_and_notes(&mut roff, &help.to_string());
    }
    roff.control("SH", ["EXIT STATUS"]);
    roff.text([roman(
        "0 on success, 1 on failure (with one message saying what and where), \
         2 on a usage error.",
    )]);
    roff.control("SH", ["SEE ALSO"]);
    let see_also: Vec<String> = if main {
        vec!["pg_dump(1)".into(), "pg_restore(1)".into()]
    } else {
        vec!["textrescue(1)".into()]
    };
    roff.text([roman(see_also.join(", "))]);
    roff.to_writer(&mut out).expect("writing to memory");
    (man.get_filename(), portable(&out))
}

/// The page as groff reads it without a warning in any locale: every
/// character beyond ASCII as a `\[uXXXX]` escape, and left-adjusted text
/// without hyphenation (`.ad l`, `.nh`), so that no word of an option or a
/// path is split or stretched.
fn portable(page: &[u8]) -> Vec<u8> {
    let page = String::from_utf8_lossy(page);
    let mut out = String::with_capacity(page.len() + 16);
    for line in page.split_inclusive('\n') {
        for c in line.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                out.push_str(&format!("\\[u{:04X}]", c as u32));
            }
        }
        if line.starts_with(".TH ") {
            out.push_str(".ad l\n.nh\n");
        }
    }
    out.into_bytes()
}

/// An `after_help` text as man sections: lines indented by two spaces are
/// commands, set unfilled (`.nf`) so that they paste exactly; other lines are
/// prose, filled; a line ending in `:` heads what follows.
fn examples_and_notes(roff: &mut Roff, help: &str) {
    roff.control("SH", ["EXAMPLES"]);
    let mut in_commands = false;
    for line in help.lines() {
        let is_command = line.starts_with("  ");
        if is_command != in_commands {
            roff.control(if is_command { "nf" } else { "fi" }, []);
            if is_command {
                roff.control("RS", ["4"]);
            } else {
                roff.control("RE", []);
            }
            in_commands = is_command;
        }
        if is_command {
            roff.text([bold(&line[2..])]);
        } else if line.trim().is_empty() {
            roff.control("PP", []);
        } else {
            roff.text([roman(line)]);
        }
    }
    if in_commands {
        roff.control("RE", []);
        roff.control("fi", []);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand has its page, and every page the main page names
    /// exists.
    #[test]
    fn one_page_per_subcommand_and_every_reference_exists() {
        let pages = pages();
        let files: Vec<&str> = pages.iter().map(|(f, _)| f.as_str()).collect();
        for sub in subcommands(&built()) {
            let file = format!("textrescue-{}.1", sub.get_name());
            assert!(files.contains(&file.as_str()), "{file} in {files:?}");
        }
        let main = String::from_utf8(pages[0].1.clone()).unwrap();
        assert_eq!(pages[0].0, "textrescue.1");
        let mut referenced = 0;
        for word in main.split(|c: char| c.is_whitespace()) {
            if let Some(name) = word.strip_suffix("(1)")
                && name.starts_with("textrescue\\-")
            {
                let file = format!("{}.1", name.replace("\\-", "-"));
                assert!(files.contains(&file.as_str()), "{file} is referenced");
                referenced += 1;
            }
        }
        assert_eq!(referenced, files.len() - 1);
    }

    /// The synopsis of a subcommand's page is what a user types.
    #[test]
    fn synopses_are_typed_as_a_user_types_them() {
        for (file, page) in pages().iter().skip(1) {
            let page = String::from_utf8(page.clone()).unwrap();
            let sub = file
                .trim_start_matches("textrescue-")
                .trim_end_matches(".1");
            let synopsis = page.split(".SH SYNOPSIS").nth(1).unwrap();
            assert!(
                synopsis.contains(&format!("\\fBtextrescue {sub}\\fR")),
                "{file}: {synopsis}"
            );
        }
    }

    /// In `--help` on an 80-column terminal, every example command stands on
    /// its lines exactly as written: nothing wraps inside it.
    #[test]
    fn help_examples_paste_exactly_at_80_columns() {
        let command = built();
        let mut all = vec![&command];
        all.extend(subcommands(&command));
        for cmd in all {
            let help = cmd.clone().term_width(80).render_long_help().to_string();
            let lines: Vec<&str> = help.lines().collect();
            let after = cmd
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            for example in after.lines().filter(|l| l.starts_with("  ")) {
                assert!(
                    example.len() <= 80 && lines.contains(&example),
                    "{}: {example:?} is not a line of:\n{help}",
                    cmd.get_name()
                );
            }
        }
    }

    /// Commands in the examples are set unfilled: no line of one is joined
    /// with the next or stretched.
    #[test]
    fn examples_are_unfilled() {
        let (_, page) = &pages()[1];
        let page = String::from_utf8(page.clone()).unwrap();
        let examples = page.split(".SH EXAMPLES").nth(1).unwrap();
        let nf = examples.find(".nf").expect("an unfilled block");
        let fi = examples[nf..].find(".fi").expect("the block ends") + nf;
        assert!(examples[nf..fi].contains("textrescue texts"), "{examples}");
    }
}
