//! The `ctap` command-line tool (see the README for every command and the `--json`
//! fields): list, query, ping and debug FIDO security keys, decode
//! CTAPHID captures, and serve the software authenticator over UDP.
//!
//! Errors are one line on stderr and a non-zero exit status; usage errors come from
//! clap (exit status 2). When the reader of stdout goes away early (`ctap info --json |
//! head -1`), the command stops quietly with exit status 0, as ripgrep and bat do: the
//! reader has what it wanted, and a script under `set -o pipefail` does not fail.
//!
//! Layout (as cargo's `src/bin/cargo/commands/`): `commands/` holds one module per
//! command or command group, each a function from its parsed arguments to an
//! [`Outcome`]; what they share lives in one place each, and never imports a command:
//! - `globals`: the global options; `cli`: the parser (globals + the command);
//! - `device`: opening the device `--device` names, the `--timeout` deadline, Ctrl-C,
//!   keep-alive display, the CTAP2 session;
//! - `auth`: the PIN (where it comes from) and PIN/UV auth tokens;
//! - `error`: [`Failure`] and every error explained for people;
//! - `output`: stdout without panics, text or `--json`, hex;
//! - `dissect`, `get_info`: the CTAPHID dissector and getInfo decoding.

#[macro_use]
mod output;

mod auth;
mod cli;
mod commands;
mod device;
mod dissect;
mod error;
mod get_info;
mod globals;

use std::process::ExitCode;

use clap::FromArgMatches;

use crate::error::{Failure, Outcome};
use crate::output::StdoutFailed;

fn main() -> ExitCode {
    let matches = cli::command().get_matches();
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    if let Err(message) = cli::check_applicable(&cli, &matches) {
        eprintln!("ctap: {message}");
        return ExitCode::from(2);
    }
    init_logging(cli.global.verbose);
    let outcome: Outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        commands::run(&cli.global, &cli.command, cli::command)
    }))
    .unwrap_or_else(|unwound| match unwound.downcast::<StdoutFailed>() {
        Ok(failed) => Err(Failure::stdout(failed.0)),
        Err(panic) => std::panic::resume_unwind(panic),
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            output::print_failure(&failure, cli.global.json);
            ExitCode::from(failure.status)
        }
    }
}

/// `-v`: the device layer's frame trace; `-vv`: also every CTAP2 request and answer
/// decoded (`device::trace`); `-vvv`: also the software authenticator's decisions (and
/// every other crate at trace level). Each line starts with the milliseconds since the
/// program started, so a trace shows its timing (keep-alive periods, time-outs) without
/// a clock-time dependency.
fn init_logging(verbose: u8) {
    use std::io::Write as _;
    let decoded = format!("warn,ctap_device=trace,{}=debug", device::trace::TARGET);
    let filter = match verbose {
        0 => "warn",
        1 => "warn,ctap_device=trace",
        2 => decoded.as_str(),
        _ => "trace",
    };
    let started = std::time::Instant::now();
    env_logger::Builder::new()
        .parse_filters(&std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_owned()))
        .format(move |out, record| {
            let ms = started.elapsed().as_secs_f64() * 1e3;
            writeln!(
                out,
                "[{ms:10.3} ms {:5} {}] {}",
                record.level(),
                record.target(),
                record.args()
            )
        })
        .target(env_logger::Target::Stderr)
        .init();
}
