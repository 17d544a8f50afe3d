//! The one error type of the CTAP2 client.

use ctap_types::{CtapError, StatusCode};

/// Everything a CTAP2 client call can end with other than its result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The authenticator answered with a CTAP2 status other than SUCCESS. Displays as
    /// python-fido2 shows it: `CTAP error: 0x31 - PIN_INVALID`.
    #[error(transparent)]
    Ctap(CtapError),
    /// The transport failed (time-out, cancel, disconnect, a CTAPHID ERROR packet...).
    #[error(transparent)]
    Device(ctap_device::Error),
    /// The authenticator's answer is not the CBOR the command defines.
    #[error("invalid answer from the authenticator to {command}: {error}")]
    InvalidResponse {
        /// The command (or member) whose answer was wrong.
        command: &'static str,
        /// What was wrong with it.
        error: ctap2_proto::Error,
    },
    /// The authenticator claims more of something than the client accepts (a count
    /// of results or a length, bounded by the spec or by
    /// [`MAX_CREDENTIALS`](crate::MAX_CREDENTIALS)): refused before anything of it is
    /// kept, so a device cannot make the client's memory grow by claiming more.
    #[error("the authenticator claims {claimed} {what}, more than the {limit} accepted ({bound})")]
    TooMany {
        /// What was counted (the response member).
        what: &'static str,
        /// What the authenticator claimed (or sent, so far).
        claimed: u64,
        /// The most accepted.
        limit: u64,
        /// Where the limit comes from.
        bound: &'static str,
    },
    /// The authenticator does not support what was asked (from its getInfo).
    #[error("not supported by the authenticator: {0}")]
    Unsupported(String),
    /// An argument is unusable (e.g. a PIN shorter than 4 characters); nothing was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A signature or attestation statement did not verify.
    #[error("verification failed: {0}")]
    Verification(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
}

impl From<ctap_device::Error> for Error {
    fn from(error: ctap_device::Error) -> Self {
        match error {
            ctap_device::Error::Ctap(status) => Self::Ctap(status),
            other => Self::Device(other),
        }
    }
}

impl From<CtapError> for Error {
    fn from(error: CtapError) -> Self {
        Self::Ctap(error)
    }
}

impl Error {
    /// The CTAP status this error stands for (a CTAP2 status byte, or a CTAPHID ERROR
    /// packet's code), if any.
    #[must_use]
    pub fn ctap_error(&self) -> Option<CtapError> {
        match self {
            Self::Ctap(error) => Some(*error),
            Self::Device(error) => error.ctap_error(),
            _ => None,
        }
    }

    /// The status code, if the authenticator answered with one.
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        self.ctap_error().map(|e| e.code)
    }

    /// `true` if the call ended because it was cancelled (the cancel token, or the
    /// authenticator's `KEEPALIVE_CANCEL`).
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        match self {
            Self::Device(error) => error.is_cancelled(),
            other => other.status() == Some(StatusCode::KEEPALIVE_CANCEL),
        }
    }

    pub(crate) fn response(command: &'static str) -> impl FnOnce(ctap2_proto::Error) -> Self {
        move |error| Self::InvalidResponse { command, error }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
