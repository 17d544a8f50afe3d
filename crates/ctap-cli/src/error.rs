//! What ends a command unsuccessfully, and every error explained for people in one
//! place: a [`Failure`] is a message for stderr and an exit status (1 for the device or
//! the input, 2 for usage, 130 for Ctrl-C, 0 for a reader of stdout that went away).

use std::fmt;

use ctap::ctap2 as client;
use ctap::types::{CtapError, KeepaliveStatus, StatusCode};

use crate::globals::Global;

/// What a command returns.
pub(crate) type Outcome = Result<(), Failure>;

/// What ends a command unsuccessfully: a message for stderr and an exit status; for a
/// status the authenticator answered, that status and the next step (also in the
/// `--json` error document).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) status: u8,
    /// The CTAP2 status the authenticator answered, if that is what failed.
    pub(crate) ctap: Option<StatusCode>,
    /// What to do next (a command to run), if there is something.
    pub(crate) next: Option<String>,
}

impl Failure {
    /// A failure with exit status 1.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self::with_status(message, 1)
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
            ctap: None,
            next: None,
        }
    }

    /// The same failure with a next step.
    pub(crate) fn with_next(mut self, next: impl Into<String>) -> Self {
        self.next = Some(next.into());
        self
    }

    /// The text for stderr: the message, and the next step on an indented line.
    pub(crate) fn text(&self) -> String {
        match &self.next {
            Some(next) => format!("{}\n  next: {next}", self.message),
            None => self.message.clone(),
        }
    }

    /// The `--json` error document: `{"error": {message, status, code, next}}` (status
    /// and code null when the authenticator did not answer with a status).
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({ "error": {
            "message": self.message,
            "status": self.ctap.map(|code| code.name().map_or_else(|| code.to_string(), str::to_owned)),
            "code": self.ctap.map(StatusCode::to_u8),
            "next": self.next,
            "exit_status": self.status,
        }})
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

/// Where the authenticator is, for the next step of an error: a key is unplugged and
/// replugged, `ctap serve` restarted, the in-process one is new in every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Power {
    /// A key (USB, or anything else `--device` names).
    Key,
    /// `--device udp:...`: most likely `ctap serve`.
    Serve,
    /// `--device virtual`.
    Virtual,
}

impl Power {
    /// What `--device` names.
    pub(crate) fn of(global: &Global) -> Self {
        match global.device.as_deref() {
            Some("virtual") => Self::Virtual,
            Some(name) if name.starts_with("udp:") => Self::Serve,
            _ => Self::Key,
        }
    }

    /// How to power-cycle it.
    fn cycle(self) -> &'static str {
        match self {
            Self::Key => "unplug the key and plug it in again",
            Self::Serve => {
                "power-cycle the authenticator: restart `ctap serve` (with the same --state)"
            }
            Self::Virtual => {
                "run the command again (every run powers the built-in authenticator up anew)"
            }
        }
    }
}

/// What a command was doing when the authenticator answered with an error status: with
/// the facts the command knows (from getInfo and the PIN retries), it decides the
/// explanation and the next step.
#[derive(Clone, Debug)]
pub(crate) struct Situation {
    /// The request.
    pub(crate) doing: Doing,
    /// Where the authenticator is.
    pub(crate) power: Power,
    /// The relying party the request was for, if any.
    pub(crate) rp: Option<String>,
    /// PIN retries left, when the command asked after a PIN_INVALID.
    pub(crate) retries: Option<u64>,
    /// getInfo's minPINLength (4 if absent).
    pub(crate) min_pin_length: u64,
    /// getInfo's forcePINChange.
    pub(crate) force_pin_change: bool,
}

/// The request a [`Situation`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Doing {
    /// clientPin setPIN (`ctap pin set`).
    PinSet,
    /// clientPin changePIN (`ctap pin change`).
    PinChange,
    /// Getting a PIN/UV auth token with the PIN.
    PinToken,
    /// authenticatorReset.
    Reset,
    /// authenticatorMakeCredential.
    MakeCredential,
    /// authenticatorGetAssertion.
    GetAssertion,
    /// authenticatorCredentialManagement.
    CredentialManagement,
    /// authenticatorConfig.
    Config,
    /// authenticatorBioEnrollment (fingerprints).
    BioEnrollment,
}

impl Doing {
    /// The request's name in the spec, for messages.
    pub(crate) fn request(self) -> &'static str {
        match self {
            Self::PinSet => "clientPin setPIN",
            Self::PinChange => "clientPin changePIN",
            Self::PinToken => "clientPin getPinUvAuthToken",
            Self::Reset => "authenticatorReset",
            Self::MakeCredential => "authenticatorMakeCredential",
            Self::GetAssertion => "authenticatorGetAssertion",
            Self::CredentialManagement => "authenticatorCredentialManagement",
            Self::Config => "authenticatorConfig",
            Self::BioEnrollment => "authenticatorBioEnrollment",
        }
    }
}

impl Situation {
    /// A situation with no facts known yet but where the authenticator is.
    pub(crate) fn new(global: &Global, doing: Doing) -> Self {
        Self {
            doing,
            power: Power::of(global),
            rp: None,
            retries: None,
            min_pin_length: 4,
            force_pin_change: false,
        }
    }

    /// The same situation for relying party `rp`.
    pub(crate) fn for_rp(mut self, rp: &str) -> Self {
        self.rp = Some(rp.to_owned());
        self
    }

    /// The same situation with getInfo's PIN facts.
    pub(crate) fn with_info(mut self, info: &ctap::ctap2::proto::Info) -> Self {
        self.min_pin_length = info.min_pin_length.unwrap_or(4);
        self.force_pin_change = info.force_pin_change == Some(true);
        self
    }
}

/// A CTAP2 client error in `situation`, for people: a status the authenticator answered
/// keeps its code and name (`CTAP error: 0x31 - PIN_INVALID`, which scripts grep for),
/// then says what it means here and the next step; other errors as [`ctap2`] says them.
pub(crate) fn ctap2_in(situation: &Situation, error: client::Error) -> Failure {
    match error.ctap_error() {
        Some(status) if !matches!(error, client::Error::Device(_)) => {
            explain_status(situation, status)
        }
        _ => ctap2(error),
    }
}

/// A status the authenticator answered, explained (see [`ctap2_in`]).
pub(crate) fn explain_status(situation: &Situation, error: CtapError) -> Failure {
    let code = error.code;
    let (cause, next) = cause_and_next(situation, code);
    let message = match cause {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    };
    let mut failure = Failure::new(message);
    failure.ctap = Some(code);
    failure.next = next;
    failure
}

/// What `code` means in `situation`, and what to do about it (CTAP 2.1 §8.2 names each
/// status; the situations are the ones §6 gives for it).
fn cause_and_next(situation: &Situation, code: StatusCode) -> (Option<String>, Option<String>) {
    let rp = situation.rp.as_deref().unwrap_or("the RP");
    let some = |cause: &str, next: &str| (Some(cause.to_owned()), Some(next.to_owned()));
    match (code, situation.doing) {
        // CTAP 2.1 §6.5.5.5 (setPIN) step 3: a PIN already set is PIN_AUTH_INVALID
        // (some keys answer NOT_ALLOWED).
        (StatusCode::NOT_ALLOWED | StatusCode::PIN_AUTH_INVALID, Doing::PinSet) => some(
            "a PIN is already set on this key",
            "change it with `ctap pin change`",
        ),
        // CTAP 2.1 §6.6 (authenticatorReset) step 2: only within 10 s of power-up.
        (StatusCode::NOT_ALLOWED, Doing::Reset) => (
            Some("reset is only allowed within 10 s of plugging the key in".to_owned()),
            Some(match situation.power {
                Power::Serve => "restart `ctap serve` and run `ctap reset --yes` within its --reset-window (10 s unless given; `--reset-window none` allows it any time)".to_owned(),
                _ => "unplug the key, plug it in again and run `ctap reset --yes` within 10 s".to_owned(),
            }),
        ),
        (StatusCode::USER_ACTION_TIMEOUT | StatusCode::ACTION_TIMEOUT, _) => some(
            "nobody touched the key in time",
            "run the command again and touch the key when it blinks",
        ),
        (StatusCode::OPERATION_DENIED, _) => some(
            "the key refused: the touch was declined (or `ctap serve --deny`)",
            "run the command again and approve it on the key",
        ),
        (StatusCode::PIN_INVALID, _) => (
            Some(match situation.retries {
                Some(1) => "wrong PIN; 1 try left before the PIN is blocked".to_owned(),
                Some(n) => format!("wrong PIN; {n} tries left before the PIN is blocked"),
                None => "wrong PIN".to_owned(),
            }),
            Some("check the PIN and run the command again (`ctap pin status` shows the tries left)".to_owned()),
        ),
        (StatusCode::PIN_BLOCKED, _) => some(
            "the PIN is blocked: too many wrong PINs",
            "only `ctap reset --yes` makes the key usable with a PIN again, and it deletes every credential",
        ),
        (StatusCode::PIN_AUTH_BLOCKED, _) => (
            Some("three wrong PINs in a row since the key was powered up: it takes no PIN until it is power-cycled".to_owned()),
            Some(format!("{}, then run the command again with the right PIN", situation.power.cycle())),
        ),
        (StatusCode::PIN_NOT_SET, _) => some("no PIN is set on this key", "set one with `ctap pin set`"),
        (StatusCode::PUAT_REQUIRED, _) => some(
            "the key requires user verification for this (alwaysUv, or its policy for this credential)",
            "give the PIN (set one first with `ctap pin set` if none is set)",
        ),
        // CTAP 2.1 §6.5.5.7 (getPinToken and getPinUvAuthTokenUsingPinWithPermissions):
        // with forcePINChange set the PIN cannot be used until it is changed.
        (StatusCode::PIN_POLICY_VIOLATION, Doing::PinToken | Doing::MakeCredential | Doing::GetAssertion | Doing::CredentialManagement | Doing::Config | Doing::BioEnrollment)
            if situation.force_pin_change =>
        {
            some(
                "the key requires a new PIN before this one can be used again (forcePINChange)",
                "change it with `ctap pin change`",
            )
        }
        (StatusCode::PIN_POLICY_VIOLATION, Doing::PinSet | Doing::PinChange) => (
            Some(if situation.force_pin_change && situation.doing == Doing::PinChange {
                format!(
                    "the new PIN must differ from the current one (a change is forced) and have at least {} characters",
                    situation.min_pin_length
                )
            } else {
                format!(
                    "the new PIN breaks the key's PIN policy (at least {} characters, at most 63 bytes)",
                    situation.min_pin_length
                )
            }),
            Some("choose another PIN".to_owned()),
        ),
        (StatusCode::PIN_POLICY_VIOLATION, Doing::Config) => some(
            "the key refused the minimum PIN length: it can only grow, and at most maxRPIDsForSetMinPINLength RP IDs may read it",
            "`ctap info` shows minPINLength and maxRPIDsForSetMinPINLength",
        ),
        (StatusCode::NO_CREDENTIALS, Doing::GetAssertion) => (
            Some(format!("this key has no credential for {rp} (among the --cred-id given, if any)")),
            Some(format!(
                "make one with `ctap cred make --rp {rp}` (--resident for one found without --cred-id); `ctap cred list` shows the discoverable ones"
            )),
        ),
        (StatusCode::NO_CREDENTIALS, Doing::CredentialManagement) => some(
            "no such credential on this key",
            "`ctap cred list` shows the credential ids",
        ),
        // CTAP 2.1 §6.7.5 (enrollBegin): no room for another finger.
        (StatusCode::FP_DATABASE_FULL, _) => some(
            "the key has no room for another fingerprint",
            "delete one: `ctap bio list`, then `ctap bio delete --template-id ID`",
        ),
        // CTAP 2.1 §6.7.8/§6.7.9: an unknown template id is INVALID_OPTION.
        (StatusCode::INVALID_OPTION, Doing::BioEnrollment) => some(
            "this key has no fingerprint with that template id",
            "`ctap bio list` shows the template ids",
        ),
        (StatusCode::KEY_STORE_FULL, _) => some(
            "no room for another discoverable credential",
            "delete one: `ctap cred list`, then `ctap cred delete --cred-id ID`",
        ),
        (StatusCode::CREDENTIAL_EXCLUDED, _) => some(
            "this key already holds a credential the request excluded",
            "use the credential it has (`ctap cred list`)",
        ),
        (StatusCode::UNSUPPORTED_ALGORITHM, _) => some(
            "the key supports none of the algorithms asked for",
            "`ctap info` lists its algorithms; choose one with --alg",
        ),
        (StatusCode::PIN_AUTH_INVALID | StatusCode::UNAUTHORIZED_PERMISSION | StatusCode::PIN_TOKEN_EXPIRED, _) => some(
            "the key did not accept the PIN/UV auth token for this",
            "run the command again (a power cycle in between ends every token)",
        ),
        (StatusCode::UV_BLOCKED, _) => some(
            "built-in user verification is blocked",
            "give the PIN instead",
        ),
        _ => (None, None),
    }
}
