//! The `ctap` command-line tool (see the README for every command and the `--json`
//! fields): list, query, ping and debug FIDO security keys, decode
//! CTAPHID captures, and serve the software authenticator over UDP.
//!
//! Errors are one line on stderr and a non-zero exit status; usage errors come from
//! clap (exit status 2). When the reader of stdout goes away early (`ctap info --json |
//! head -1`), the command stops quietly with exit status 0, as ripgrep and bat do: the
//! reader has what it wanted, and a script under `set -o pipefail` does not fail.

/// `println!` for this crate (it shadows std's in every module below): the same, except
/// that a write that fails does not panic. The command unwinds with [`StdoutFailed`]
/// instead (running destructors: a `select` still sends CANCEL) and `main` ends it: a
/// closed stdout quietly with status 0, another write error with a message and
/// status 1.
macro_rules! println {
    () => {
        $crate::print_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::print_line(format_args!($($arg)*))
    };
}

/// `eprintln!` for this crate: the same, except that a closed stderr is ignored rather
/// than a panic (there is nowhere left to report it).
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cli;
mod commands;
mod ctap2_commands;
mod dissect;
mod get_info;
mod listing;
mod smartcard;
mod target;

use std::fmt;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

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

    /// Writing to stdout failed: its reader went away (a broken pipe: no message, exit
    /// status 0, see the crate doc) or another I/O error (status 1).
    pub(crate) fn stdout(error: std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            Self::with_status("", 0)
        } else {
            Self::new(format!("cannot write to stdout: {error}"))
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
    /// Exit status 2 for what the user typed wrong (a malformed `--device`, an argument
    /// out of range), 1 for everything else.
    fn from(error: ctap::device::Error) -> Self {
        let status = match error {
            ctap::device::Error::InvalidArgument(_) => 2,
            _ => 1,
        };
        Self::with_status(error.to_string(), status)
    }
}

impl From<std::io::Error> for Failure {
    /// A broken pipe is the reader of stdout going away (the only pipes this tool
    /// writes to are stdout and stderr): no message, exit status 0.
    fn from(error: std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            Self::stdout(error)
        } else {
            Self::new(error.to_string())
        }
    }
}

/// Why a [`println!`] unwound: writing to stdout failed.
#[derive(Debug)]
struct StdoutFailed(std::io::Error);

/// What [`println!`] does: one line to stdout, or an unwind with [`StdoutFailed`] (not a
/// panic: no panic message is printed).
pub(crate) fn print_line(args: fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        drop(out);
        if cfg!(panic = "abort") {
            // No unwinding to `main` in such a build: end here, with the same outcome.
            let failure = Failure::stdout(error);
            if !failure.message.is_empty() {
                eprintln!("ctap: {failure}");
            }
            std::process::exit(i32::from(failure.status));
        }
        std::panic::resume_unwind(Box::new(StdoutFailed(error)));
    }
}

pub(crate) type Outcome = Result<(), Failure>;

fn main() -> ExitCode {
    let matches = cli::Cli::command().get_matches();
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    if let Err(message) = cli::check_applicable(&cli, &matches) {
        eprintln!("ctap: {message}");
        return ExitCode::from(2);
    }
    init_logging(cli.verbose);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commands::run(&cli)))
        .unwrap_or_else(|unwound| match unwound.downcast::<StdoutFailed>() {
            Ok(failed) => Err(Failure::stdout(failed.0)),
            Err(panic) => std::panic::resume_unwind(panic),
        });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("ctap: {}", failure.message);
            }
            ExitCode::from(failure.status)
        }
    }
}

/// `-v`: the device layer's frame trace; `-vv`: also the software authenticator's
/// decisions (and every other crate at trace level). Each line starts with the
/// milliseconds since the program started, so a trace shows its timing (keep-alive
/// periods, time-outs) without a clock-time dependency.
fn init_logging(verbose: u8) {
    use std::io::Write as _;
    let filter = match verbose {
        0 => "warn",
        1 => "warn,ctap_device=trace",
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
