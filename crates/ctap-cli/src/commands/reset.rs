//! `ctap reset`: authenticatorReset (every credential and the PIN gone).

use clap::Args;
use serde_json::json;

use crate::device::{self, Interaction};
use crate::error::{Doing, Outcome, Situation, usage};
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
    let mut interaction = Interaction::new(global.json);
    if let Err(refused) = ctap.reset(interaction.options()) {
        let situation = Situation::new(global, Doing::Reset);
        return Err(interaction.failure(global, &situation, refused));
    }
    done(
        global,
        "the authenticator is reset: no credentials, no PIN",
        &json!({ "reset": true }),
    );
    Ok(())
}
