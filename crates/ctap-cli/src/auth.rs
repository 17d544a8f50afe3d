//! The PIN, in one place: where it comes from (a prompt without echo, `CTAP_PIN`,
//! `--pin-file`, `--pin-stdin`; `--pin` for tests), the PIN/UV auth protocol, and the
//! PIN/UV auth tokens the commands use. A PIN is held in a zeroizing string, wiped when
//! dropped; it never has to be on the command line, where `ps` shows it.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::{Path, PathBuf};

use clap::Args;
use ctap::ctap2::proto::{Permissions, PinProtocol};
use ctap::ctap2::{ClientPin, Ctap2, PinToken};
use zeroize::Zeroizing;

use ctap::types::StatusCode;

use crate::device::Device;
use crate::error::{self, Doing, Failure, Situation, usage};
use crate::globals::Global;

/// The environment variable a PIN may come from (instead of a prompt).
pub(crate) const PIN_ENV: &str = "CTAP_PIN";
/// The environment variable a new PIN may come from (`pin set`, `pin change`).
pub(crate) const NEW_PIN_ENV: &str = "CTAP_NEW_PIN";
/// The longest line read as a PIN from a file or stdin (a PIN is at most 63 bytes; a
/// longer line is refused with the key's limit, not read without end).
const MAX_PIN_LINE: u64 = 256;

/// The PIN/UV auth protocol.
#[derive(Debug, Args)]
pub(crate) struct ProtocolArgs {
    /// The PIN/UV auth protocol, 1 or 2 (default: the authenticator's, from getInfo).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=2))]
    pub(crate) pin_protocol: Option<u8>,
}

/// How a command authenticates: the PIN (from a prompt, `CTAP_PIN`, a file or stdin;
/// `--pin` for tests) and the PIN/UV auth protocol.
#[derive(Debug, Args)]
pub(crate) struct PinArgs {
    /// The PIN on the command line: FOR TESTS ONLY (other users see it in `ps` and it
    /// stays in the shell history). Without it: --pin-file, --pin-stdin, the CTAP_PIN
    /// environment variable, else a prompt without echo on a terminal.
    #[arg(long, value_name = "PIN", conflicts_with_all = ["pin_file", "pin_stdin"])]
    pub(crate) pin: Option<String>,
    /// Read the PIN from the first line of FILE (a warning if others may read it).
    #[arg(long, value_name = "FILE", conflicts_with = "pin_stdin")]
    pub(crate) pin_file: Option<PathBuf>,
    /// Read the PIN from the first line of standard input.
    #[arg(long)]
    pub(crate) pin_stdin: bool,
    #[command(flatten)]
    pub(crate) protocol: ProtocolArgs,
}

/// Where a new PIN comes from (`pin set`, `pin change`).
#[derive(Debug, Args)]
pub(crate) struct NewPinArgs {
    /// The new PIN on the command line: FOR TESTS ONLY (see --pin). Without it:
    /// --new-pin-file, --new-pin-stdin, the CTAP_NEW_PIN environment variable, else a
    /// prompt without echo on a terminal, asked twice.
    #[arg(long, value_name = "PIN", conflicts_with_all = ["new_pin_file", "new_pin_stdin"])]
    pub(crate) new: Option<String>,
    /// Read the new PIN from the first line of FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "new_pin_stdin")]
    pub(crate) new_pin_file: Option<PathBuf>,
    /// Read the new PIN from a line of standard input (after the current PIN's line
    /// when --pin-stdin is given too).
    #[arg(long)]
    pub(crate) new_pin_stdin: bool,
}

/// The PIN if it was given without a prompt (`--pin`, `--pin-file`, `--pin-stdin`,
/// `$CTAP_PIN`); zeroized when dropped.
pub(crate) fn given_pin(args: &PinArgs) -> Result<Option<Zeroizing<String>>, Failure> {
    given(
        args.pin.as_ref(),
        args.pin_file.as_deref(),
        args.pin_stdin,
        PIN_ENV,
        "PIN",
    )
}

/// A PIN from the first of: the command-line value, a file, a line of stdin, the
/// environment variable `env`. `what` names it in errors (`PIN`, `new PIN`).
fn given(
    value: Option<&String>,
    file: Option<&Path>,
    stdin: bool,
    env: &str,
    what: &str,
) -> Result<Option<Zeroizing<String>>, Failure> {
    if let Some(pin) = value {
        return Ok(Some(Zeroizing::new(pin.clone())));
    }
    if let Some(path) = file {
        let file = std::fs::File::open(path).map_err(|e| {
            usage(format!(
                "cannot read the {what} from {}: {e}",
                path.display()
            ))
        })?;
        warn_if_readable_by_others(&file, path);
        let line = first_line(
            std::io::BufReader::new(file),
            what,
            &path.display().to_string(),
        )?;
        return Ok(Some(line));
    }
    if stdin {
        let line = first_line(std::io::stdin().lock(), what, "standard input")?;
        return Ok(Some(line));
    }
    if let Ok(pin) = std::env::var(env) {
        return Ok(Some(Zeroizing::new(pin)));
    }
    Ok(None)
}

/// One line of `input` (no more than [`MAX_PIN_LINE`] bytes are read), without its line
/// end; empty or not UTF-8 is a usage error naming `source`.
fn first_line(
    input: impl std::io::BufRead,
    what: &str,
    source: &str,
) -> Result<Zeroizing<String>, Failure> {
    let mut bytes = Zeroizing::new(Vec::new());
    input
        .take(MAX_PIN_LINE)
        .read_until(b'\n', &mut bytes)
        .map_err(|e| usage(format!("cannot read the {what} from {source}: {e}")))?;
    let complete = bytes.last() == Some(&b'\n');
    if !complete && u64::try_from(bytes.len()).unwrap_or(u64::MAX) >= MAX_PIN_LINE {
        return Err(usage(format!(
            "the {what} in {source} is over {MAX_PIN_LINE} bytes (a PIN is at most 63)"
        )));
    }
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(usage(format!(
            "no {what} in {source} (its first line is empty)"
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| usage(format!("the {what} in {source} is not UTF-8")))?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// A warning on stderr when a PIN file can be read by other users (as ssh warns of a
/// private key file).
fn warn_if_readable_by_others(file: &std::fs::File, path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(metadata) = file.metadata() {
            if metadata.permissions().mode() & 0o077 != 0 {
                eprintln!(
                    "ctap: warning: {} can be read by other users (chmod 600 it)",
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (file, path);
}

/// When an operation uses the PIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PinUse {
    /// It cannot be done without: given, or asked for.
    Needed,
    /// It can be done without: used if given (user verification then comes with it),
    /// never asked for.
    IfGiven,
    /// `--no-pin`: not used even if given.
    Never,
}

/// The PIN for an operation that uses it as `use_`: `None` when it goes without.
pub(crate) fn pin_for(args: &PinArgs, use_: PinUse) -> Result<Option<Zeroizing<String>>, Failure> {
    match use_ {
        PinUse::Needed => pin(args, "PIN: ").map(Some),
        PinUse::IfGiven => given_pin(args),
        PinUse::Never => Ok(None),
    }
}

/// The PIN from `--pin`, `$CTAP_PIN` or a prompt; zeroized when dropped.
pub(crate) fn pin(args: &PinArgs, prompt: &str) -> Result<Zeroizing<String>, Failure> {
    if let Some(pin) = given_pin(args)? {
        return Ok(pin);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| Failure::new(format!("cannot read the PIN: {e}")));
    }
    Err(usage(format!(
        "a PIN is needed: give it with --pin-file, --pin-stdin, the {PIN_ENV} environment variable, or on a terminal"
    )))
}

/// A new PIN from `--new`, `--new-pin-file`, `--new-pin-stdin`, `$CTAP_NEW_PIN` or a
/// prompt asked twice.
pub(crate) fn new_pin(args: &NewPinArgs) -> Result<Zeroizing<String>, Failure> {
    if let Some(pin) = given(
        args.new.as_ref(),
        args.new_pin_file.as_deref(),
        args.new_pin_stdin,
        NEW_PIN_ENV,
        "new PIN",
    )? {
        return Ok(pin);
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(format!(
            "give the new PIN with --new-pin-file, --new-pin-stdin or {NEW_PIN_ENV} (or run on a terminal)"
        )));
    }
    let first = Zeroizing::new(
        rpassword::prompt_password("New PIN: ")
            .map_err(|e| Failure::new(format!("cannot read the PIN: {e}")))?,
    );
    let again = Zeroizing::new(
        rpassword::prompt_password("New PIN again: ")
            .map_err(|e| Failure::new(format!("cannot read the PIN: {e}")))?,
    );
    if *first != *again {
        return Err(Failure::new("the two PINs differ"));
    }
    Ok(first)
}

/// The clientPin API with the protocol `--pin-protocol` names, else the
/// authenticator's preferred one.
pub(crate) fn client_pin<'c>(
    ctap: &'c mut Ctap2<Device>,
    args: &ProtocolArgs,
) -> Result<ClientPin<'c, Device>, Failure> {
    match args.pin_protocol {
        Some(number) => {
            let protocol = PinProtocol::from_number(u64::from(number))
                .ok_or_else(|| usage(format!("--pin-protocol {number}: 1 or 2")))?;
            if !ClientPin::<Device>::is_supported(ctap.info()) {
                return Err(Failure::new(
                    "the authenticator has no PIN support (clientPin)",
                ));
            }
            Ok(ClientPin::with_protocol(ctap, protocol))
        }
        None => ClientPin::new(ctap).map_err(error::ctap2),
    }
}

/// Whether a PIN is set on the authenticator.
pub(crate) fn pin_is_set(ctap: &Ctap2<Device>) -> bool {
    ctap.info().option("clientPin") == Some(true)
}

/// A token with `permissions` (for `rp_id`), from the PIN (`--pin`, `CTAP_PIN` or a
/// prompt). A refusal is explained (see [`token_with_pin`]).
pub(crate) fn token(
    global: &Global,
    ctap: &mut Ctap2<Device>,
    args: &PinArgs,
    permissions: Permissions,
    rp_id: Option<&str>,
) -> Result<PinToken, Failure> {
    if !pin_is_set(ctap) {
        return Err(Failure::new(
            "no PIN is set on the authenticator (getInfo: clientPin is false)",
        )
        .with_next("set one with `ctap pin set`"));
    }
    let pin = pin(args, "PIN: ")?;
    token_with_pin(global, ctap, &args.protocol, &pin, permissions, rp_id)
}

/// A token with `permissions` (for `rp_id`) from `pin`. A refusal keeps the key's status
/// and says what to do: the tries left after a wrong PIN (asked with getPINRetries),
/// a power cycle after three in a row, `ctap pin change` when a change is forced.
pub(crate) fn token_with_pin(
    global: &Global,
    ctap: &mut Ctap2<Device>,
    args: &ProtocolArgs,
    pin: &str,
    permissions: Permissions,
    rp_id: Option<&str>,
) -> Result<PinToken, Failure> {
    match client_pin(ctap, args)?.get_pin_token(pin, permissions, rp_id) {
        Ok(token) => Ok(token),
        Err(refused) => Err(refusal(global, ctap, args, Doing::PinToken, refused)),
    }
}

/// A clientPin request (`doing`) the key refused, explained: after PIN_INVALID with the
/// tries left (getPINRetries, CTAP 2.1 §6.5.5.2), which the key counts down per wrong
/// PIN (§6.5.5.7 step 3).
pub(crate) fn refusal(
    global: &Global,
    ctap: &mut Ctap2<Device>,
    args: &ProtocolArgs,
    doing: Doing,
    refused: ctap::ctap2::Error,
) -> Failure {
    let mut situation = Situation::new(global, doing).with_info(ctap.info());
    if refused.status() == Some(StatusCode::PIN_INVALID) {
        situation.retries = client_pin(ctap, args)
            .ok()
            .and_then(|mut pin| pin.get_pin_retries().ok())
            .map(|retries| retries.retries);
    }
    error::ctap2_in(&situation, refused)
}

/// Checks a new PIN against the key's policy before it is sent (CTAP 2.1 §6.5.1: at
/// least getInfo's minPINLength Unicode code points, 4 if absent; at most 63 bytes of
/// UTF-8): a PIN that breaks it is a usage error (exit status 2) naming the limit.
pub(crate) fn check_new_pin(ctap: &Ctap2<Device>, new: &str) -> Result<(), Failure> {
    let minimum = ctap.info().min_pin_length.unwrap_or(4);
    let length = new.chars().count();
    if u64::try_from(length).unwrap_or(u64::MAX) < minimum {
        return Err(usage(format!(
            "the new PIN has {length} characters; this key needs at least {minimum} characters (its minPINLength; CTAP 2.1 section 6.5.1)"
        )));
    }
    if new.len() > 63 {
        return Err(usage(format!(
            "the new PIN is {} bytes of UTF-8; a PIN is at most 63 bytes (CTAP 2.1 section 6.5.1)",
            new.len()
        )));
    }
    Ok(())
}
