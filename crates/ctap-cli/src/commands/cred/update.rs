//! `ctap cred update`: change a discoverable credential's user name or display name
//! (credential management updateUserInformation, CTAP 2.1 §6.8.6).

use clap::Args;
use ctap::ctap2::proto::UserEntity;
use serde_json::json;

use super::{check_user_field, find_credential, parse_id, user_json};
use crate::auth::PinArgs;
use crate::error::{Failure, Outcome, usage};
use crate::globals::Global;
use crate::output::{hex, print_json};

#[derive(Debug, Args)]
pub(crate) struct CredUpdateArgs {
    /// The credential id, hex (as `cred list` prints it).
    #[arg(long, value_name = "HEX")]
    cred_id: String,
    /// The new user name (kept if not given).
    #[arg(long, value_name = "NAME")]
    user_name: Option<String>,
    /// The new display name (kept if not given).
    #[arg(long, value_name = "NAME")]
    display_name: Option<String>,
    #[command(flatten)]
    auth: PinArgs,
}

/// Runs `ctap cred update`.
pub(crate) fn run(global: &Global, args: &CredUpdateArgs) -> Outcome {
    let id = parse_id("--cred-id", &args.cred_id)?;
    if args.user_name.is_none() && args.display_name.is_none() {
        return Err(usage(
            "nothing to update: give --user-name and/or --display-name",
        ));
    }
    for (option, value) in [
        ("--user-name", &args.user_name),
        ("--display-name", &args.display_name),
    ] {
        if let Some(value) = value {
            check_user_field(option, value.as_bytes())?;
        }
    }
    super::with_credential_management(global, &args.auth, |cm, failed| {
        // §6.8.6: the new user entity must carry the credential's user id; what is not
        // given is kept rather than erased.
        let Some((rp, credential)) = find_credential(cm, &id).map_err(failed)? else {
            return Err(Failure::new(format!(
                "this key has no discoverable credential with id {}",
                hex(&id)
            ))
            .with_next("`ctap cred list` shows the credential ids"));
        };
        let user = UserEntity {
            id: credential.user.id.clone(),
            name: args.user_name.clone().or(credential.user.name.clone()),
            display_name: args
                .display_name
                .clone()
                .or(credential.user.display_name.clone()),
            // The key keeps the icon it has: updateUserInformation replaces the stored
            // entity with this one (§6.8.6), so a stored icon is sent back unchanged.
            icon: credential.user.icon.clone(),
        };
        cm.update_user_info(&credential.credential_id, &user)
            .map_err(failed)?;
        if global.json {
            print_json(&json!({
                "credential_id": hex(&id),
                "rp_id": rp.id,
                "user": user_json(Some(&user)),
            }));
        } else {
            println!(
                "updated {} ({}): user {}, display name {}",
                hex(&id),
                rp.id,
                user.name.as_deref().unwrap_or("-"),
                user.display_name.as_deref().unwrap_or("-")
            );
        }
        Ok(())
    })
}
