//! `regio completions bash|zsh|fish`: the shell completion script of the whole command
//! line, generated from the clap definition by `clap_complete` (so it never drifts).

use anyhow::Result;
use clap::{Args, CommandFactory, ValueEnum};
use clap_complete::Shell;

use crate::args::Cli;

/// The shells a script is generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellName {
    /// bash (source it, or put it in /etc/bash_completion.d/regio)
    Bash,
    /// zsh (put it as `_regio` in a directory of $fpath)
    Zsh,
    /// fish (put it in ~/.config/fish/completions/regio.fish)
    Fish,
}

/// Arguments of `regio completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: ShellName,
}

/// Writes the script to stdout.
pub fn run(a: &CompletionsArgs) -> Result<()> {
    let shell = match a.shell {
        ShellName::Bash => Shell::Bash,
        ShellName::Zsh => Shell::Zsh,
        ShellName::Fish => Shell::Fish,
    };
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "regio", &mut std::io::stdout());
    Ok(())
}
