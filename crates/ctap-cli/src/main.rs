//! The `ctap` command-line tool (see the README for every command and the `--json`
//! fields): list, query, ping and debug FIDO security keys, decode
//! CTAPHID captures, and serve the software authenticator over UDP.
//!
//! Errors are one line on stderr and a non-zero exit status; usage errors come from
//! clap (exit status 2).

mod cli;
mod commands;
mod dissect;
mod get_info;
mod listing;
mod target;

use std::fmt;
use std::process::ExitCode;

use clap::Parser;

/// What ends a command unsuccessfully: a message for stderr and an exit status.
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    status: u8,
}

impl Failure {
    /// A failure with exit status 1.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: 1,
        }
    }

    /// A failure with its own exit status.
    pub(crate) fn with_status(message: impl Into<String>, status: u8) -> Self {
        Self {
            message: message.into(),
            status,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ctap::device::Error> for Failure {
    fn from(error: ctap::device::Error) -> Self {
        Self::new(error.to_string())
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self::new(error.to_string())
    }
}

pub(crate) type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    match commands::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("ctap: {}", failure.message);
            }
            ExitCode::from(failure.status)
        }
    }
}

/// `-v`: the device layer's frame trace; `-vv`: every crate at trace level.
fn init_logging(verbose: u8) {
    let filter = match verbose {
        0 => "warn",
        1 => "warn,ctap_device=trace",
        _ => "trace",
    };
    env_logger::Builder::new()
        .parse_filters(&std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_owned()))
        .format_timestamp_millis()
        .target(env_logger::Target::Stderr)
        .init();
}
