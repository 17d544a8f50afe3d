//! `ctap config ...`: authenticatorConfig (alwaysUv, the minimum PIN length).

use clap::{Args, Subcommand};
use ctap::ctap2::Config as AuthenticatorConfig;
use ctap::ctap2::proto::Permissions;
use serde_json::json;

use crate::auth::{PinArgs, pin_is_set, token};
use crate::device;
use crate::error::{self, Outcome};
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
    let token = if pin_is_set(ctap) {
        Some(token(ctap, auth, Permissions::AUTHENTICATOR_CONFIG, None)?)
    } else {
        None
    };
    let mut config = AuthenticatorConfig::new(ctap, token).map_err(error::ctap2)?;
    match command {
        ConfigCommand::AlwaysUv(_) => {
            config.toggle_always_uv().map_err(error::ctap2)?;
            let always_uv = ctap.get_info().map_err(error::ctap2)?.option("alwaysUv");
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
                .map_err(error::ctap2)?;
            let info = ctap.get_info().map_err(error::ctap2)?;
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
