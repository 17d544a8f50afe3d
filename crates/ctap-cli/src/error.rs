//! What ends a command unsuccessfully, and every error explained for people in one
//! place: a [`Failure`] is a message for stderr and an exit status (1 for the device or
//! the input, 2 for usage, 130 for Ctrl-C, 0 for a reader of stdout that went away).

use std::fmt;

use ctap::ctap2 as client;
use ctap::types::KeepaliveStatus;

use crate::globals::Global;

/// What a command returns.
pub(crate) type Outcome = Result<(), Failure>;

/// What ends a command unsuccessfully: a message for stderr and an exit status.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) status: u8,
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

/// A usage error: what the user typed cannot be done as typed (exit status 2).
pub(crate) fn usage(message: impl Into<String>) -> Failure {
    Failure::with_status(message, 2)
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

/// A failed device call, for people: a time-out says what the device was doing when
/// the time ran out (from its last keep-alive status) and names `--timeout`; other
/// errors as they are. `doing` names the request (`PING`, `authenticatorSelection`).
pub(crate) fn explain(
    global: &Global,
    error: ctap::device::Error,
    doing: &str,
    last: Option<KeepaliveStatus>,
) -> Failure {
    use ctap::device::{Error, TimeoutKind};
    let Error::Timeout(kind) = &error else {
        return error.into();
    };
    let message = match kind {
        TimeoutKind::Deadline(limit) => {
            let state = match last {
                Some(KeepaliveStatus::UPNEEDED) => {
                    "the key was waiting for a touch (keep-alive UPNEEDED) and nobody touched it"
                        .to_owned()
                }
                Some(KeepaliveStatus::PROCESSING) => {
                    "the key was still working on it (keep-alive PROCESSING)".to_owned()
                }
                Some(other) => format!("the key kept sending keep-alives (status {other})"),
                None => "the key had not answered".to_owned(),
            };
            // The device saw what was left of the command's deadline; people set
            // (and should be told) the whole of it.
            let total = global.call_timeout().unwrap_or(*limit);
            format!(
                "{doing}: gave up after {} s (--timeout): {state}; raise --timeout to wait longer",
                total.as_secs_f64()
            )
        }
        TimeoutKind::Silence(limit) => {
            let after = match last {
                Some(status) => format!(" after keep-alive {status}"),
                None => String::new(),
            };
            format!(
                "{doing}: the device sent nothing for {} s{after} (not even a keep-alive): \
                 it may be unplugged or hung. (--timeout bounds a call that keeps \
                 sending keep-alives; a silent device is given up on sooner.)",
                limit.as_secs_f64()
            )
        }
        _ => format!("{doing}: {error}; --timeout sets how long a command may take"),
    };
    Failure::new(message)
}

/// A CTAP2 client error met while opening the session, for people; a time-out is
/// explained as the device layer's are (what was going on, and `--timeout`).
pub(crate) fn ctap2_opening(global: &Global, error: client::Error) -> Failure {
    match error {
        client::Error::Device(error @ ctap::device::Error::Timeout(_)) => {
            explain(global, error, "the CTAP2 request", None)
        }
        other => ctap2(other),
    }
}

/// A CTAP2 client error, for people.
pub(crate) fn ctap2(error: client::Error) -> Failure {
    match error {
        // The device saw only what was left of the command's deadline: its number would
        // mislead, so name the option instead.
        client::Error::Device(ctap::device::Error::Timeout(
            ctap::device::TimeoutKind::Deadline(_),
        )) => Failure::new(
            "the authenticator did not finish in time: gave up at the end of --timeout \
             (one deadline for the whole command); raise --timeout to wait longer",
        ),
        other => Failure::new(other.to_string()),
    }
}
