//! The one error type of the device layer.

use std::time::Duration;

use ctap_types::{Command, CtapError, HidErrorCode, InitResponseError, StatusCode};
use ctaphid_frame::FrameError;

/// Everything a device call can end with other than an answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The device answered with a CTAPHID ERROR packet (transport layer). Displays with
    /// the CTAPHID name under a CTAPHID prefix, `CTAPHID error: 0x01 - INVALID_CMD`, so
    /// it never reads like the CTAP2 status of the same number (`CTAP error: 0x01 -
    /// INVALID_COMMAND`, python-fido2's text, from [`Error::Ctap`] and
    /// [`ctap_error`](Self::ctap_error)).
    #[error("CTAPHID error: {0}")]
    Hid(HidErrorCode),
    /// A CTAP2 command failed: a non-zero status byte at the start of a CBOR answer
    /// (only from helpers that check it, like `cbor`; `call` returns the raw bytes).
    #[error(transparent)]
    Ctap(#[from] CtapError),
    /// The device broke the protocol.
    #[error("device protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    /// The request cannot be sent as given (e.g. a payload over the maximum message).
    #[error("invalid request: {0}")]
    InvalidRequest(FrameError),
    /// No answer in time: the device was silent for longer than the silence limit, or the
    /// call's overall deadline passed.
    #[error("no answer from the device: {0}")]
    Timeout(TimeoutKind),
    /// The caller cancelled the call and the device did not answer the CANCEL in time.
    #[error("the call was cancelled")]
    Cancelled,
    /// The device is gone (unplugged, or its connection was closed).
    #[error("the device is disconnected")]
    Disconnected,
    /// No FIDO device has this path.
    #[error("no FIDO device at {0}")]
    NotFound(String),
    /// The device exists but could not be opened. `kind` says why, for programs;
    /// `hint` says what the user can do, for people (it may span lines).
    #[error("cannot open {path}: {reason}{}", hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    Open {
        /// The device path.
        path: String,
        /// Why, as a value to match on.
        kind: OpenFailure,
        /// What the operating system said.
        reason: String,
        /// What the user can do about it (e.g. a udev rule), if known.
        hint: Option<String>,
    },
    /// An argument of a helper is out of range (e.g. a LOCK time over 10 s); nothing
    /// was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The CTAPHID command has no equivalent on this transport (PC/SC carries CBOR and
    /// MSG only; python-fido2 answers `CtapError(INVALID_COMMAND)`, which
    /// [`ctap_error`](Self::ctap_error) gives too).
    #[error("CTAPHID command {command} is not supported over {transport}")]
    NotSupported {
        /// The command.
        command: Command,
        /// The transport, e.g. `PC/SC`.
        transport: &'static str,
    },
    /// A smart card answered with an error status word (ISO 7816-4), e.g. `6A82` from a
    /// card without the FIDO applet.
    #[error("the card answered status word {0}")]
    CardStatus(crate::apdu::StatusWord),
    /// Any other I/O failure of the transport.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a device could not be opened: [`Error::open_failure`] gives it for
/// [`Error::Open`] and [`Error::NotFound`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenFailure {
    /// The operating system refused access (Linux: no udev rule for the user; Windows:
    /// not an administrator; macOS: no Input Monitoring permission).
    #[error("permission denied")]
    PermissionDenied,
    /// Another program holds the device exclusively.
    #[error("device busy")]
    Busy,
    /// Nothing is at the path (unplugged, or a wrong path).
    #[error("not found")]
    NotFound,
    /// The device is not a FIDO device (its report descriptor says so, or its report
    /// sizes cannot carry CTAPHID).
    #[error("not a FIDO device")]
    NotFido,
    /// Anything else the operating system said; the reason text has it.
    #[error("other")]
    Other,
}

/// Which time limit ended a call.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// No report at all (not even a KEEPALIVE) for this long.
    #[error("silent for {0:?}")]
    Silence(Duration),
    /// The call's overall deadline passed although the device kept sending KEEPALIVEs.
    #[error("call deadline of {0:?} passed")]
    Deadline(Duration),
}

/// How a device broke the CTAPHID protocol.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A report of the answer could not be reassembled.
    #[error("{0}")]
    Framing(#[from] FrameError),
    /// The answer carried another command than the request (or KEEPALIVE / ERROR).
    #[error("answer has command {got}, expected {expected}")]
    UnexpectedCommand {
        /// The request's command.
        expected: Command,
        /// The answer's command.
        got: Command,
    },
    /// The INIT answer was malformed.
    #[error("{0}")]
    InitResponse(#[from] InitResponseError),
    /// An ERROR or KEEPALIVE packet without its status byte.
    #[error("{0} packet without its status byte")]
    EmptyStatus(Command),
    /// A response APDU without its two status bytes.
    #[error("response APDU of {got} bytes, without its status word")]
    ShortResponse {
        /// Its length.
        got: usize,
    },
    /// The card's answer (GET RESPONSE parts added up) passed the configured limit.
    #[error("the card's answer is longer than {limit} bytes")]
    ResponseTooLong {
        /// The limit.
        limit: usize,
    },
    /// The card kept answering `61XX` ("more data") to GET RESPONSE without sending
    /// any ([`MAX_EMPTY_GET_RESPONSES`](crate::apdu::MAX_EMPTY_GET_RESPONSES) times in
    /// a row): it makes no progress.
    #[error(
        "the card answered GET RESPONSE {parts} times in a row with no data and status {:02X}{:02X} (more data): no progress",
        status[0],
        status[1]
    )]
    NoProgress {
        /// The last status word.
        status: [u8; 2],
        /// The empty parts in a row.
        parts: u32,
    },
    /// A read returned more bytes than the buffer or fewer than a report.
    #[error("transport returned a report of {got} bytes, expected {expected}")]
    ReportLength {
        /// The input report size.
        expected: usize,
        /// What the transport returned.
        got: usize,
    },
}

impl Error {
    /// The CTAP status this error stands for, python-fido2 style: an ERROR packet's code
    /// or a CTAP2 status (`None` for the other kinds).
    #[must_use]
    pub fn ctap_error(&self) -> Option<CtapError> {
        match self {
            Self::Hid(code) => Some(CtapError::new(code.to_status())),
            Self::Ctap(error) => Some(*error),
            Self::NotSupported { .. } => Some(CtapError::new(StatusCode::INVALID_COMMAND)),
            _ => None,
        }
    }

    /// Why a device could not be opened, for [`Error::Open`] and [`Error::NotFound`]
    /// (`None` for the other kinds).
    #[must_use]
    pub fn open_failure(&self) -> Option<OpenFailure> {
        match self {
            Self::Open { kind, .. } => Some(*kind),
            Self::NotFound(_) => Some(OpenFailure::NotFound),
            _ => None,
        }
    }

    /// `true` if the call ended because it was cancelled: [`Error::Cancelled`], or the
    /// device's `KEEPALIVE_CANCEL` status.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
            || self
                .ctap_error()
                .is_some_and(|e| e.code == StatusCode::KEEPALIVE_CANCEL)
    }
}
