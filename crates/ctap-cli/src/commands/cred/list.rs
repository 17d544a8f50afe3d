//! `ctap cred list`: the discoverable credentials, by RP (credential management).

use clap::Args;
use ctap::ctap2::proto::cbor::CborMessage as _;
use serde_json::{Value as Json, json};

use super::{algorithm_name, user_json};
use crate::auth::PinArgs;
use crate::error::Outcome;
use crate::globals::Global;
use crate::output::{escape, hex, print_json};

#[derive(Debug, Args)]
pub(crate) struct CredListArgs {
    #[command(flatten)]
    auth: PinArgs,
}

/// Runs `ctap cred list`.
pub(crate) fn run(global: &Global, args: &CredListArgs) -> Outcome {
    super::with_credential_management(global, &args.auth, |cm, failed| {
        let metadata = cm.get_metadata().map_err(failed)?;
        let mut rps = Vec::new();
        for rp in cm.enumerate_rps().map_err(failed)? {
            let creds = cm.enumerate_creds(&rp.rp_id_hash).map_err(failed)?;
            rps.push((rp, creds));
        }
        if global.json {
            let items: Vec<Json> = rps
                .iter()
                .map(|(rp, creds)| {
                    json!({
                        "rp_id": escape(&rp.rp.id),
                        "rp_name": rp.rp.name.as_deref().map(escape),
                        "credentials": creds.iter().map(|c| json!({
                            "credential_id": hex(&c.credential_id.id),
                            "user": user_json(Some(&c.user)),
                            "algorithm": algorithm_name(c.public_key.algorithm()),
                            "public_key": hex(&c.public_key.to_cbor()),
                            "cred_protect": c.cred_protect,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            print_json(&json!({
                "existing": metadata.existing,
                "remaining": metadata.remaining,
                "rps": items,
            }));
            return Ok(());
        }
        println!(
            "{} discoverable credential(s), room for {} more",
            metadata.existing, metadata.remaining
        );
        for (rp, creds) in &rps {
            println!("{}", escape(&rp.rp.id));
            for cred in creds {
                println!(
                    "  {}  {}  {}",
                    hex(&cred.credential_id.id),
                    cred.user
                        .name
                        .as_deref()
                        .map_or_else(|| "-".to_owned(), escape),
                    algorithm_name(cred.public_key.algorithm())
                        .as_str()
                        .unwrap_or("?")
                );
            }
        }
        Ok(())
    })
}
