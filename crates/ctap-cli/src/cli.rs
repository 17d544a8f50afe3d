//! The command line, declared with clap's derive API: the global options
//! ([`Global`]) and the command ([`Command`], one module per command under
//! `commands/`).

use clap::parser::ValueSource;
use clap::{ArgMatches, Parser};

use crate::commands::Command;
use crate::globals::Global;

/// Talk to FIDO security keys over CTAPHID (USB HID), or to the built-in software
/// authenticator.
#[derive(Debug, Parser)]
#[command(name = "ctap", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Refuses global options a command has no use for (exit status 2), rather than
/// ignoring them silently: `--device`, `--bind` and `--timeout` mean nothing to a
/// command that talks to no device.
pub(crate) fn check_applicable(cli: &Cli, matches: &ArgMatches) -> Result<(), String> {
    let Some(why) = cli.command.talks_to_no_device() else {
        return Ok(());
    };
    let name = cli.command.name();
    for (id, flag) in [
        ("device", "--device"),
        ("bind", "--bind"),
        ("timeout", "--timeout"),
    ] {
        if given(matches, id) {
            return Err(format!("{flag} does not apply to `ctap {name}`: {why}"));
        }
    }
    Ok(())
}

/// `true` if the user typed the (global) option `id`, before or after the subcommand.
fn given(matches: &ArgMatches, id: &str) -> bool {
    let here = matches.try_get_raw(id).is_ok_and(|value| value.is_some())
        && matches.value_source(id) == Some(ValueSource::CommandLine);
    here || matches.subcommand().is_some_and(|(_, sub)| given(sub, id))
}
