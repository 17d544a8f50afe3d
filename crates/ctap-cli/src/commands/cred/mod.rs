//! `ctap cred make|assert|list|delete`: credentials (makeCredential, getAssertion,
//! credential management), one module per subcommand; what they share is here.

mod assert;
mod delete;
mod list;
mod make;

use clap::{Subcommand, ValueEnum};
use ctap::ctap2::proto::{Algorithm, UserEntity};
use ctap::ctap2::{self as client, Randomness as _};
use serde_json::{Value as Json, json};

use crate::error::{self, Failure, Outcome};
use crate::globals::Global;
use crate::output::hex;

/// `ctap cred ...`
#[derive(Debug, Subcommand)]
pub(crate) enum CredCommand {
    /// Register a credential (authenticatorMakeCredential) and verify its attestation.
    Make(make::CredMakeArgs),
    /// Sign in (authenticatorGetAssertion) and verify the signature.
    Assert(assert::CredAssertArgs),
    /// The discoverable credentials, by RP (needs the PIN).
    List(list::CredListArgs),
    /// Delete a discoverable credential (needs the PIN).
    Delete(delete::CredDeleteArgs),
}

/// A credential algorithm on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Alg {
    /// ECDSA P-256 with SHA-256 (COSE -7).
    Es256,
    /// Ed25519 (COSE -8).
    Eddsa,
}

/// Runs `ctap cred ...`.
pub(crate) fn run(global: &Global, command: &CredCommand) -> Outcome {
    match command {
        CredCommand::Make(args) => make::run(global, args),
        CredCommand::Assert(args) => assert::run(global, args),
        CredCommand::List(args) => list::run(global, args),
        CredCommand::Delete(args) => delete::run(global, args),
    }
}

pub(crate) fn algorithm_name(alg: Option<Algorithm>) -> Json {
    match alg {
        Some(Algorithm::ES256) => json!("es256"),
        Some(Algorithm::EDDSA) => json!("eddsa"),
        Some(Algorithm(other)) => json!(other),
        None => Json::Null,
    }
}

pub(crate) fn user_json(user: Option<&UserEntity>) -> Json {
    user.map_or(Json::Null, |user| {
        json!({
            "id": hex(&user.id),
            "name": user.name,
            "display_name": user.display_name,
        })
    })
}

pub(crate) fn random_challenge() -> Result<[u8; 32], Failure> {
    let mut challenge = [0; 32];
    client::SystemRandom
        .fill(&mut challenge)
        .map_err(error::ctap2)?;
    Ok(challenge)
}
