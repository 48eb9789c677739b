//! `textrescue completions SHELL` and `textrescue man`: generated from the
//! same clap definitions as the command line itself.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Example:
  textrescue completions bash > /etc/bash_completion.d/textrescue")]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

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

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Example:
  textrescue man > /usr/local/share/man/man1/textrescue.1")]
pub struct ManArgs {}

pub fn man(_args: &ManArgs) -> Result<()> {
    let command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name: &'static str =
            Box::leak(format!("textrescue-{}", sub.get_name()).into_boxed_str());
        let sub = sub.clone().name(name).display_name(name);
        writeln!(out)?;
        clap_mangen::Man::new(sub).render(&mut out)?;
    }
    Ok(())
}
