//! The one error type of the WebAuthn client.

/// Everything a WebAuthn client call can end with other than its result. Each
/// variant says which WebAuthn exception a browser would raise
/// ([`dom_exception`](Self::dom_exception)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A member of the options (or of an extension input) is of the wrong type, not
    /// base64url, too long or too many; `member` is its path, e.g.
    /// `publicKey.user.id` or `extensions.prf.eval.first`.
    #[error("invalid {member}: {reason}")]
    InvalidInput {
        /// The member's path in the options JSON.
        member: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The origin is not one WebAuthn can be used from (not https, not an origin).
    #[error("origin {origin:?} cannot use WebAuthn: {reason}")]
    InvalidOrigin {
        /// The origin as given.
        origin: String,
        /// Why.
        reason: String,
    },
    /// The rpId is neither the origin's host nor a registrable domain suffix of it
    /// (WebAuthn §5.1.3 step 8, §5.1.4.1 step 8: a `SecurityError`).
    #[error("rpId {rp_id:?} is not valid for origin {origin:?}")]
    RpIdNotAllowed {
        /// The rpId asked for.
        rp_id: String,
        /// The origin of the request.
        origin: String,
    },
    /// The authenticator cannot do what the options require (an algorithm, a
    /// discoverable credential, user verification that is not configured, an
    /// extension marked required or enforced).
    #[error("not supported by the authenticator: {0}")]
    Unsupported(String),
    /// User verification needs a PIN and
    /// [`UserInteraction::request_pin`](crate::UserInteraction::request_pin) gave none.
    #[error("a PIN is required and none was given")]
    PinRequired,
    /// The user declined user verification
    /// ([`UserInteraction::request_uv`](crate::UserInteraction::request_uv) said no).
    #[error("user verification declined")]
    UvDeclined,
    /// The authenticator holds a credential of the exclude list (WebAuthn §6.3.2 step
    /// 3: `InvalidStateError`).
    #[error("the authenticator already holds one of the excluded credentials")]
    CredentialExcluded,
    /// No credential of the authenticator matches the request.
    #[error("no credential on the authenticator matches the request")]
    NoCredentials,
    /// The CTAP2 layer failed (the device, a CTAP status, an answer that does not
    /// decode).
    #[error(transparent)]
    Ctap(#[from] ctap2_client::Error),
    /// The U2F (CTAP1) layer failed.
    #[error(transparent)]
    Ctap1(#[from] crate::ctap1::Error),
    /// The authenticator answered, but not with what was asked (e.g. an hmac-secret
    /// output of the wrong length, a missing credential id).
    #[error("invalid answer from the authenticator: {0}")]
    InvalidResponse(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
}

impl Error {
    pub(crate) fn input(member: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            member: member.into(),
            reason: reason.into(),
        }
    }

    /// The `DOMException` name a browser raises for this error (WebAuthn §5.1.3 and
    /// §5.1.4): `TypeError`, `SecurityError`, `NotSupportedError`,
    /// `InvalidStateError`, `NotAllowedError`, `AbortError` or `UnknownError`.
    #[must_use]
    pub fn dom_exception(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "TypeError",
            Self::InvalidOrigin { .. } | Self::RpIdNotAllowed { .. } => "SecurityError",
            Self::Unsupported(_) => "NotSupportedError",
            Self::CredentialExcluded => "InvalidStateError",
            Self::Ctap(error) if error.is_cancelled() => "AbortError",
            Self::PinRequired | Self::UvDeclined | Self::NoCredentials | Self::Ctap(_) => {
                "NotAllowedError"
            }
            Self::Ctap1(_) | Self::InvalidResponse(_) | Self::Random(_) => "UnknownError",
        }
    }

    /// `true` if the call ended because it was cancelled.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        match self {
            Self::Ctap(error) => error.is_cancelled(),
            Self::Ctap1(error) => error.is_cancelled(),
            _ => false,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
