//! `ctap config ...`: authenticatorConfig (CTAP 2.1 §6.11): alwaysUv on or off, the
//! minimum PIN length, a forced PIN change, enterprise attestation.

use clap::{Args, Subcommand, ValueEnum};
use ctap::ctap2::Config as AuthenticatorConfig;
use ctap::ctap2::proto::{Info, Permissions};
use serde_json::json;

use crate::auth::{PinArgs, pin_is_set, token};
use crate::device;
use crate::error::{self, Doing, Failure, Outcome, Situation, usage};
use crate::globals::Global;
use crate::output::done;

/// `ctap config ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Turn alwaysUv on or off (user verification for everything; nothing is sent when
    /// it is so already).
    AlwaysUv(AlwaysUvArgs),
    /// Raise the minimum PIN length.
    MinPinLength(MinPinLengthArgs),
    /// Make the user change the PIN before its next use (forceChangePin).
    ForcePinChange(ConfigArgs),
    /// Enable enterprise attestation (enableEnterpriseAttestation; needs the `ep` option
    /// in getInfo).
    EnterpriseAttestation(ConfigArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    #[command(flatten)]
    pub(crate) auth: PinArgs,
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Switch {
    /// Turned on.
    On,
    /// Turned off.
    Off,
}

#[derive(Debug, Args)]
pub(crate) struct AlwaysUvArgs {
    /// What alwaysUv should be.
    #[arg(value_enum)]
    pub(crate) state: Switch,
    #[command(flatten)]
    pub(crate) auth: PinArgs,
}

#[derive(Debug, Args)]
pub(crate) struct MinPinLengthArgs {
    /// The new minimum, in Unicode code points (it can only grow).
    #[arg(value_name = "N")]
    pub(crate) length: u64,
    /// An RP allowed to read the minimum (minPinLength extension; repeatable).
    #[arg(long = "rp", visible_alias = "rp-id", value_name = "ID")]
    pub(crate) rp_ids: Vec<String>,
    /// Make the user change the PIN before its next use.
    #[arg(long)]
    pub(crate) force_change: bool,
    #[command(flatten)]
    pub(crate) auth: PinArgs,
}

/// Runs `ctap config ...`.
pub(crate) fn run(global: &Global, command: &ConfigCommand) -> Outcome {
    let auth = match command {
        ConfigCommand::AlwaysUv(args) => &args.auth,
        ConfigCommand::MinPinLength(args) => &args.auth,
        ConfigCommand::ForcePinChange(args) | ConfigCommand::EnterpriseAttestation(args) => {
            &args.auth
        }
    };
    let mut ctap = device::open_ctap2(global)?;
    let ctap = &mut ctap;
    match command {
        ConfigCommand::MinPinLength(args) => check_min_pin_length(ctap.info(), args)?,
        ConfigCommand::AlwaysUv(args) => {
            let now = ctap.info().option("alwaysUv");
            if now.is_none() {
                return Err(Failure::new(
                    "this key has no alwaysUv option (getInfo does not list it)",
                ));
            }
            if now == Some(args.state == Switch::On) {
                let text = if args.state == Switch::On {
                    "on"
                } else {
                    "off"
                };
                done(
                    global,
                    &format!("alwaysUv is already {text}"),
                    &json!({ "always_uv": now, "changed": false }),
                );
                return Ok(());
            }
        }
        // CTAP 2.1 §6.11.4: forceChangePin needs a PIN to change.
        ConfigCommand::ForcePinChange(_) if !pin_is_set(ctap) => {
            return Err(
                Failure::new("no PIN is set on the authenticator, so none can be changed")
                    .with_next("set one with `ctap pin set`"),
            );
        }
        // CTAP 2.1 §7.1 (enterprise attestation): only a key whose getInfo has `ep` has it.
        ConfigCommand::EnterpriseAttestation(_) if ctap.info().option("ep").is_none() => {
            return Err(Failure::new(
                "this key has no enterprise attestation (getInfo has no `ep` option)",
            ));
        }
        _ => {}
    }
    let situation = Situation::new(global, Doing::Config).with_info(ctap.info());
    let failed = |error| error::ctap2_in(&situation, error);
    let token = if pin_is_set(ctap) {
        Some(token(
            global,
            ctap,
            auth,
            Permissions::AUTHENTICATOR_CONFIG,
            None,
        )?)
    } else {
        None
    };
    let mut config = AuthenticatorConfig::new(ctap, token).map_err(failed)?;
    match command {
        ConfigCommand::AlwaysUv(_) => {
            // toggleAlwaysUv is the only request there is; getInfo said it differs.
            config.toggle_always_uv().map_err(failed)?;
            let always_uv = ctap.get_info().map_err(failed)?.option("alwaysUv");
            done(
                global,
                &format!(
                    "alwaysUv is now {}",
                    if always_uv == Some(true) { "on" } else { "off" }
                ),
                &json!({ "always_uv": always_uv, "changed": true }),
            );
        }
        ConfigCommand::ForcePinChange(_) => {
            config
                .set_min_pin_length(None, None, Some(true))
                .map_err(failed)?;
            let info = ctap.get_info().map_err(failed)?;
            done(
                global,
                "the PIN must be changed before its next use (`ctap pin change`)",
                &json!({ "force_pin_change": info.force_pin_change.unwrap_or(false) }),
            );
        }
        ConfigCommand::EnterpriseAttestation(_) => {
            config.enable_enterprise_attestation().map_err(failed)?;
            let info = ctap.get_info().map_err(failed)?;
            done(
                global,
                "enterprise attestation is enabled",
                &json!({ "enterprise_attestation": info.option("ep") }),
            );
        }
        ConfigCommand::MinPinLength(args) => {
            let rp_ids = (!args.rp_ids.is_empty()).then(|| args.rp_ids.clone());
            config
                .set_min_pin_length(Some(args.length), rp_ids, args.force_change.then_some(true))
                .map_err(failed)?;
            let info = ctap.get_info().map_err(failed)?;
            done(
                global,
                &format!(
                    "minimum PIN length is now {}",
                    info.min_pin_length.unwrap_or(args.length)
                ),
                &json!({
                    "min_pin_length": info.min_pin_length,
                    "force_pin_change": info.force_pin_change.unwrap_or(false),
                }),
            );
        }
    }
    Ok(())
}

/// What the key would refuse with PIN_POLICY_VIOLATION, refused before anything is sent
/// (a usage error, exit status 2): CTAP 2.1 §6.11.4 (setMinPINLength), a new minimum
/// below the current one, and more RP IDs than getInfo's maxRPIDsForSetMinPINLength
/// (0 if absent).
fn check_min_pin_length(info: &Info, args: &MinPinLengthArgs) -> Result<(), Failure> {
    let current = info.min_pin_length.unwrap_or(4);
    if args.length < current {
        return Err(usage(format!(
            "min-pin-length {}: the minimum PIN length can only grow, and it is {current} \
             (the key would answer PIN_POLICY_VIOLATION); a reset (`ctap reset --yes`) \
             returns it to the key's default",
            args.length
        )));
    }
    let most = info.max_rpids_for_set_min_pin_length.unwrap_or(0);
    let given = u64::try_from(args.rp_ids.len()).unwrap_or(u64::MAX);
    if given > most {
        return Err(usage(format!(
            "--rp given {given} time(s): this key lets at most {most} RP IDs read the minimum \
             PIN length (getInfo maxRPIDsForSetMinPINLength; the key would answer \
             PIN_POLICY_VIOLATION)"
        )));
    }
    Ok(())
}
