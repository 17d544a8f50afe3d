//! `ctap completions SHELL`: a completion script, from the same definition as `--help`.

use std::io::Write as _;

use clap::Args;

use crate::error::Outcome;

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// Prints the script for the command line `definition` (the whole `ctap`).
pub(crate) fn run(args: &CompletionsArgs, mut definition: clap::Command) -> Outcome {
    // Into memory first: clap_complete panics on a write error (a closed stdout).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut definition, "ctap", &mut script);
    std::io::stdout().write_all(&script)?;
    Ok(())
}
