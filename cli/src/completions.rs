//! `regio completions bash|zsh|fish`: the shell completion script of the whole command
//! line, generated from the clap definition by `clap_complete` (so it never drifts).

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::{Cli, CompletionsArgs, ShellName};

/// Writes the script to stdout.
pub(crate) fn run(a: &CompletionsArgs) -> Result<()> {
    let shell = match a.shell {
        ShellName::Bash => Shell::Bash,
        ShellName::Zsh => Shell::Zsh,
        ShellName::Fish => Shell::Fish,
    };
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "regio", &mut std::io::stdout());
    Ok(())
}
