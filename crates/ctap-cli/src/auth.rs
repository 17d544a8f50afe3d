//! The PIN, in one place: where it comes from (`--pin`, `CTAP_PIN`, a prompt without
//! echo), the PIN/UV auth protocol, and the PIN/UV auth tokens the commands use. A PIN
//! is held in a zeroizing string, wiped when dropped.

use std::io::IsTerminal as _;

use clap::Args;
use ctap::ctap2::proto::{Permissions, PinProtocol};
use ctap::ctap2::{ClientPin, Ctap2, PinToken};
use zeroize::Zeroizing;

use crate::device::Device;
use crate::error::{self, Failure, usage};

/// The environment variable a PIN may come from (instead of `--pin` or a prompt).
pub(crate) const PIN_ENV: &str = "CTAP_PIN";

/// How a command authenticates: the PIN and the PIN/UV auth protocol.
#[derive(Debug, Args)]
pub(crate) struct PinArgs {
    /// The PIN (else the CTAP_PIN environment variable, else a prompt on a terminal).
    #[arg(long, value_name = "PIN")]
    pub(crate) pin: Option<String>,
    /// The PIN/UV auth protocol, 1 or 2 (default: the authenticator's, from getInfo).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=2))]
    pub(crate) pin_protocol: Option<u8>,
}

/// The PIN from `--pin`, `$CTAP_PIN` or a prompt; zeroized when dropped.
pub(crate) fn pin(args: &PinArgs, prompt: &str) -> Result<Zeroizing<String>, Failure> {
    if let Some(pin) = &args.pin {
        return Ok(Zeroizing::new(pin.clone()));
    }
    if let Ok(pin) = std::env::var(PIN_ENV) {
        return Ok(Zeroizing::new(pin));
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|e| Failure::new(format!("cannot read the PIN: {e}")));
    }
    Err(usage(format!(
        "a PIN is needed: give it with --pin, the {PIN_ENV} environment variable, or on a terminal"
    )))
}

/// A new PIN from `new` or a prompt asked twice.
pub(crate) fn new_pin(new: Option<&String>) -> Result<Zeroizing<String>, Failure> {
    if let Some(pin) = new {
        return Ok(Zeroizing::new(pin.clone()));
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage("give the new PIN with --new (or run on a terminal)"));
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
    args: &PinArgs,
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

/// A token with `permissions` (for `rp_id`), from the PIN.
pub(crate) fn token(
    ctap: &mut Ctap2<Device>,
    args: &PinArgs,
    permissions: Permissions,
    rp_id: Option<&str>,
) -> Result<PinToken, Failure> {
    if !pin_is_set(ctap) {
        return Err(Failure::new(
            "no PIN is set on the authenticator (set one with `ctap pin set`)",
        ));
    }
    let pin = pin(args, "PIN: ")?;
    client_pin(ctap, args)?
        .get_pin_token(&pin, permissions, rp_id)
        .map_err(error::ctap2)
}
