//! `ctap reset`: authenticatorReset (every credential and the PIN gone).

use clap::Args;
use ctap::device::CallOptions;
use serde_json::json;

use crate::device::{self, Interaction, on_keepalive};
use crate::error::{Outcome, usage};
use crate::globals::Global;
use crate::output::done;

/// `ctap reset`
#[derive(Debug, Args)]
pub(crate) struct ResetArgs {
    /// Really delete every credential and the PIN (required).
    #[arg(long)]
    pub(crate) yes: bool,
}

/// Runs `ctap reset`.
pub(crate) fn run(global: &Global, args: &ResetArgs) -> Outcome {
    if !args.yes {
        return Err(usage(
            "reset deletes every credential and the PIN for good; add --yes to do it",
        ));
    }
    let mut ctap = device::open_ctap2(global)?;
    let interaction = Interaction::new();
    let mut keepalive = on_keepalive(global.json);
    let options = CallOptions::default()
        .with_cancel(interaction.token.clone())
        .with_on_keepalive(&mut keepalive);
    ctap.reset(options).map_err(|e| interaction.failure(e))?;
    done(
        global,
        "the authenticator is reset: no credentials, no PIN",
        &json!({ "reset": true }),
    );
    Ok(())
}
