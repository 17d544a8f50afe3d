//! `ctap cred delete`: delete a discoverable credential (credential management).

use clap::Args;
use ctap::ctap2::CredentialManagement;
use ctap::ctap2::proto::{CredentialDescriptor, Permissions};
use ctap::types::StatusCode;
use serde_json::json;

use crate::auth::{PinArgs, token};
use crate::device;
use crate::error::{self, Doing, Outcome, Situation};
use crate::globals::Global;
use crate::output::{done, hex, parse_hex};

#[derive(Debug, Args)]
pub(crate) struct CredDeleteArgs {
    /// The credential id, hex.
    #[arg(long, value_name = "HEX")]
    id: String,
    #[command(flatten)]
    auth: PinArgs,
}

/// Runs `ctap cred delete`.
pub(crate) fn run(global: &Global, args: &CredDeleteArgs) -> Outcome {
    let id = parse_hex("--id", &args.id)?;
    let mut ctap = device::open_ctap2(global)?;
    let ctap = &mut ctap;
    let token = token(
        global,
        ctap,
        &args.auth,
        Permissions::CREDENTIAL_MANAGEMENT,
        None,
    )?;
    let situation = Situation::new(global, Doing::CredentialManagement);
    let failed = |error| error::ctap2_in(&situation, error);
    CredentialManagement::new(ctap, token)
        .map_err(failed)?
        .delete_cred(&CredentialDescriptor::public_key(&id))
        .map_err(|error| match error.status() {
            Some(StatusCode::NO_CREDENTIALS) => {
                let text = format!("{error}: this key has no credential with id {}", hex(&id));
                failed(error).with_message(text)
            }
            _ => failed(error),
        })?;
    done(
        global,
        &format!("deleted {}", hex(&id)),
        &json!({ "deleted": hex(&id) }),
    );
    Ok(())
}
