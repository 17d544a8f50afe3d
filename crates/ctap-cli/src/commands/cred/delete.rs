//! `ctap cred delete`: delete a discoverable credential (credential management
//! deleteCredential, CTAP 2.1 §6.8.5), after asking unless `--yes`.

use std::io::IsTerminal as _;

use clap::Args;
use serde_json::json;

use super::{find_credential, parse_id};
use crate::auth::PinArgs;
use crate::error::{Failure, Outcome, usage};
use crate::globals::Global;
use crate::output::{confirmed, done, hex};

#[derive(Debug, Args)]
pub(crate) struct CredDeleteArgs {
    /// The credential id, hex (as `cred list` prints it).
    #[arg(long, visible_alias = "id", value_name = "HEX")]
    cred_id: String,
    /// Delete without asking (needed when standard input is not a terminal).
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    auth: PinArgs,
}

/// Runs `ctap cred delete`.
pub(crate) fn run(global: &Global, args: &CredDeleteArgs) -> Outcome {
    let id = parse_id("--cred-id", &args.cred_id)?;
    let ask = !args.yes;
    if ask && !std::io::stdin().is_terminal() {
        return Err(usage(
            "cred delete deletes the credential for good and asks first; without a terminal \
             to ask on, add --yes",
        ));
    }
    super::with_credential_management(global, &args.auth, |cm, failed| {
        let Some((rp, credential)) = find_credential(cm, &id).map_err(failed)? else {
            return Err(
                Failure::new(format!("this key has no credential with id {}", hex(&id)))
                    .with_next("`ctap cred list` shows the credential ids"),
            );
        };
        if ask {
            let user = credential.user.name.as_deref().unwrap_or("-");
            let question = format!(
                "delete the credential of {user} for {} for good? [y/N] ",
                rp.id
            );
            if !confirmed(&question)? {
                return Err(Failure::new("not deleted"));
            }
        }
        cm.delete_cred(&credential.credential_id).map_err(failed)?;
        done(
            global,
            &format!("deleted {}", hex(&id)),
            &json!({ "deleted": hex(&id) }),
        );
        Ok(())
    })
}
