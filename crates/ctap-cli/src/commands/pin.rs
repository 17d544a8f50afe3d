//! `ctap pin status|set|change`: the PIN (clientPin).

use clap::{Args, Subcommand};
use ctap::ctap2::proto::{Permissions, PinProtocol};
use ctap::ctap2::{self as client, ClientPin, Ctap2};
use serde_json::json;

use crate::auth::{
    NewPinArgs, PinArgs, ProtocolArgs, check_new_pin, client_pin, new_pin, pin, pin_is_set,
    refusal, token_with_pin,
};
use crate::device::{self, Device};
use crate::error::{self, Doing, Failure, Outcome};
use crate::globals::Global;
use crate::output::{done, print_json};

/// `ctap pin ...`
#[derive(Debug, Subcommand)]
pub(crate) enum PinCommand {
    /// Whether a PIN is set, the retries left, the minimum length, the protocols.
    Status,
    /// Set the first PIN.
    Set(PinSetArgs),
    /// Change the PIN (the current one as the other commands take it, the new one as
    /// `pin set` does).
    Change(PinChangeArgs),
    /// Check the PIN: a right one resets the retries to the maximum, a wrong one uses
    /// one up (and says how many are left).
    Verify(PinArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PinSetArgs {
    #[command(flatten)]
    pub(crate) new: NewPinArgs,
    #[command(flatten)]
    pub(crate) protocol: ProtocolArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PinChangeArgs {
    #[command(flatten)]
    pub(crate) new: NewPinArgs,
    #[command(flatten)]
    pub(crate) auth: PinArgs,
}

/// Runs `ctap pin ...`.
pub(crate) fn run(global: &Global, command: &PinCommand) -> Outcome {
    let mut ctap = device::open_ctap2(global)?;
    let ctap = &mut ctap;
    match command {
        PinCommand::Status => pin_status(global, ctap),
        PinCommand::Set(args) => {
            let new = new_pin(&args.new)?;
            check_new_pin(ctap, &new)?;
            if let Err(refused) = client_pin(ctap, &args.protocol)?.set_pin(&new) {
                return Err(refusal(
                    global,
                    ctap,
                    &args.protocol,
                    Doing::PinSet,
                    refused,
                ));
            }
            done(global, "PIN set", &json!({ "pin_set": true }));
            Ok(())
        }
        PinCommand::Verify(args) => {
            if !pin_is_set(ctap) {
                return Err(Failure::new("no PIN is set on the authenticator")
                    .with_next("set one with `ctap pin set`"));
            }
            // Any token proves the PIN (CTAP 2.1 §6.5.5.7: the retries are reset on
            // success); ask for a permission the key has, without an RP ID.
            let info = ctap.info();
            let permission = if info.option("credMgmt") == Some(true) {
                Permissions::CREDENTIAL_MANAGEMENT
            } else if info.option("authnrCfg") == Some(true) {
                Permissions::AUTHENTICATOR_CONFIG
            } else {
                Permissions::GET_ASSERTION
            };
            let rp = (permission == Permissions::GET_ASSERTION).then_some("ctap.invalid");
            let pin = pin(args, "PIN: ")?;
            token_with_pin(global, ctap, &args.protocol, &pin, permission, rp)?;
            done(global, "the PIN is right", &json!({ "pin_verified": true }));
            Ok(())
        }
        PinCommand::Change(args) => {
            let old = pin(&args.auth, "Current PIN: ")?;
            let new = new_pin(&args.new)?;
            check_new_pin(ctap, &new)?;
            let protocol = &args.auth.protocol;
            if let Err(refused) = client_pin(ctap, protocol)?.change_pin(&old, &new) {
                return Err(refusal(global, ctap, protocol, Doing::PinChange, refused));
            }
            done(global, "PIN changed", &json!({ "pin_changed": true }));
            Ok(())
        }
    }
}

fn pin_status(global: &Global, ctap: &mut Ctap2<Device>) -> Outcome {
    let info = ctap.info().clone();
    let supported = ClientPin::<Device>::is_supported(&info);
    // Without a PIN there is no retry counter: a CTAP 2.1 key answers getPINRetries
    // with PIN_NOT_SET, so it is asked only once a PIN is set.
    let retries = if supported && info.option("clientPin") == Some(true) {
        Some(
            ClientPin::with_protocol(
                ctap,
                client::preferred_protocol(&info).unwrap_or(PinProtocol::One),
            )
            .get_pin_retries()
            .map_err(error::ctap2)?,
        )
    } else {
        None
    };
    // Built-in UV (a fingerprint sensor: getInfo's `uv` option present, enrolled or
    // not) has its own retry counter, getUVRetries (CTAP 2.1 §6.5.5.3; fido2-token -I
    // and `ykman fido info` show it).
    let uv_retries = if info.option("uv").is_some() {
        Some(
            ClientPin::with_protocol(
                ctap,
                client::preferred_protocol(&info).unwrap_or(PinProtocol::One),
            )
            .get_uv_retries()
            .map_err(error::ctap2)?,
        )
    } else {
        None
    };
    let min_pin_length = info.min_pin_length.unwrap_or(4);
    if global.json {
        print_json(&json!({
            "supported": supported,
            "pin_set": info.option("clientPin"),
            "retries": retries.map(|r| r.retries),
            "power_cycle_required": retries.and_then(|r| r.power_cycle_state),
            "uv_retries": uv_retries,
            "min_pin_length": min_pin_length,
            "force_pin_change": info.force_pin_change.unwrap_or(false),
            "protocols": info.pin_uv_auth_protocols,
        }));
        return Ok(());
    }
    if !supported {
        println!("PIN not supported by this authenticator");
        return Ok(());
    }
    let set = if info.option("clientPin") == Some(true) {
        "yes"
    } else {
        "no"
    };
    println!("PIN set           {set}");
    if let Some(retries) = retries {
        let note = if retries.power_cycle_state == Some(true) {
            " (unplug and replug the key before the next try)"
        } else {
            ""
        };
        println!("retries left      {}{note}", retries.retries);
    }
    if let Some(uv_retries) = uv_retries {
        println!("UV retries left   {uv_retries} (built-in user verification)");
    }
    println!("minimum length    {min_pin_length}");
    if info.force_pin_change == Some(true) {
        println!("PIN change        required before the next use");
    }
    let protocols: Vec<String> = info
        .pin_uv_auth_protocols
        .iter()
        .map(ToString::to_string)
        .collect();
    println!("protocols         {}", protocols.join(", "));
    Ok(())
}
