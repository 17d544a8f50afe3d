//! `ctap config ...`: authenticatorConfig (alwaysUv, the minimum PIN length).

use clap::{Args, Subcommand};
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
    /// Toggle the alwaysUv option (prints the new value).
    AlwaysUv(ConfigArgs),
    /// Raise the minimum PIN length.
    MinPinLength(MinPinLengthArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    #[command(flatten)]
    pub(crate) auth: PinArgs,
}

#[derive(Debug, Args)]
pub(crate) struct MinPinLengthArgs {
    /// The new minimum, in Unicode code points (it can only grow).
    #[arg(value_name = "N")]
    pub(crate) length: u64,
    /// An RP allowed to read the minimum (minPinLength extension; repeatable).
    #[arg(long = "rp-id", value_name = "ID")]
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
    };
    let mut ctap = device::open_ctap2(global)?;
    let ctap = &mut ctap;
    if let ConfigCommand::MinPinLength(args) = command {
        check_min_pin_length(ctap.info(), args)?;
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
            config.toggle_always_uv().map_err(failed)?;
            let always_uv = ctap.get_info().map_err(failed)?.option("alwaysUv");
            done(
                global,
                &format!(
                    "alwaysUv is now {}",
                    if always_uv == Some(true) { "on" } else { "off" }
                ),
                &json!({ "always_uv": always_uv }),
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
/// (a usage error, exit status 2): CTAP 2.1 §6.11.4 (setMinPINLength) steps 3 and 4,
/// a new minimum below the current one, and more RP IDs than getInfo's
/// maxRPIDsForSetMinPINLength (0 if absent).
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
            "--rp-id given {given} time(s): this key lets at most {most} RP IDs read the minimum \
             PIN length (getInfo maxRPIDsForSetMinPINLength; the key would answer \
             PIN_POLICY_VIOLATION)"
        )));
    }
    Ok(())
}
