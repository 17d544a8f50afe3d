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

/// The command line with its help laid out: the command's own options first, the global
/// options under their own heading (see [`Global`]), and in the help of a command that
/// talks to no device none of the device options it refuses (see [`check_applicable`]).
pub(crate) fn command() -> clap::Command {
    let mut command = <Cli as clap::CommandFactory>::command();
    for (name, ids) in [
        ("serve", &["device", "bind", "timeout"][..]),
        ("list", &["device", "bind", "timeout", "touch_delay"][..]),
        ("frame", &["device", "bind", "timeout", "touch_delay"][..]),
        (
            "completions",
            &["device", "bind", "timeout", "touch_delay"][..],
        ),
        ("man", &["device", "bind", "timeout", "touch_delay"][..]),
    ] {
        command = command.mut_subcommand(name, |sub| hide(sub, ids));
    }
    command
}

/// `command` with hidden stand-ins for the global options `ids`, and its subcommands
/// likewise: clap does not copy a global option into a subcommand that has an argument
/// of that id, so the stand-in keeps it out of the help; given anyway, it is still seen,
/// and refused, by [`check_applicable`]. (Each parses as its global option does: clap
/// copies a value given to a subcommand up to the global option of that id.)
fn hide(command: clap::Command, ids: &[&'static str]) -> clap::Command {
    let mut command = command;
    for &id in ids {
        let long = if id == "touch_delay" {
            "touch-delay"
        } else {
            id
        };
        let parser: clap::builder::ValueParser = match id {
            "timeout" => clap::value_parser!(f64).into(),
            "touch_delay" => clap::value_parser!(u64).into(),
            _ => clap::value_parser!(String),
        };
        let mut arg = clap::Arg::new(id)
            .long(long)
            .hide(true)
            .action(clap::ArgAction::Set)
            .value_parser(parser);
        if id == "device" {
            arg = arg.short('d');
        }
        command = command.arg(arg);
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| hide(sub, ids));
    }
    command
}

/// Refuses global options a command has no use for (exit status 2), rather than
/// ignoring them silently: `--device`, `--bind` and `--timeout` mean nothing to a
/// command that talks to no device.
pub(crate) fn check_applicable(cli: &Cli, matches: &ArgMatches) -> Result<(), String> {
    let Some(why) = cli.command.talks_to_no_device() else {
        return Ok(());
    };
    let name = cli.command.name();
    let serve = name == "serve";
    for (id, flag) in [
        ("device", "--device"),
        ("bind", "--bind"),
        ("timeout", "--timeout"),
        ("touch_delay", "--touch-delay"),
    ] {
        if serve && id == "touch_delay" {
            continue;
        }
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
