//! `ctap cred make|assert|list|delete`: credentials (makeCredential, getAssertion,
//! credential management), one module per subcommand; what they share is here.

mod assert;
mod delete;
mod list;
mod make;
mod update;

use clap::{Subcommand, ValueEnum};
use ctap::ctap2::proto::{Algorithm, RpEntity, UserEntity};
use ctap::ctap2::{self as client, CredentialInfo, CredentialManagement, Randomness as _};

use crate::device::Device;
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
    /// Delete a discoverable credential (needs the PIN; asks first unless --yes).
    Delete(delete::CredDeleteArgs),
    /// Change a discoverable credential's user name or display name (needs the PIN).
    Update(update::CredUpdateArgs),
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
        CredCommand::Update(args) => update::run(global, args),
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

/// The most bytes of a user id (a user handle is at most 64 bytes, WebAuthn §5.4.3) and
/// of a user's name or display name: an authenticator may truncate those to 64 bytes
/// (WebAuthn §5.4.1 and §6.4.1) and some deployed keys refuse longer ones, so a longer
/// one is refused here, by name, rather than by the key or as a message size.
pub(crate) const MAX_ENTITY_BYTES: usize = 64;

/// `--rp`: not empty (an RP ID is a domain name). A usage error before anything is sent.
pub(crate) fn check_rp(rp: &str) -> Result<(), Failure> {
    if rp.trim().is_empty() {
        return Err(error::usage(
            "--rp is empty: give the relying party's id, a domain name such as example.com",
        ));
    }
    Ok(())
}

/// A user field given for a credential (`option` names it): not empty, and at most
/// [`MAX_ENTITY_BYTES`] bytes. A usage error before anything is sent.
pub(crate) fn check_user_field(option: &str, value: &[u8]) -> Result<(), Failure> {
    if value.is_empty() {
        return Err(error::usage(format!("{option} is empty")));
    }
    if value.len() > MAX_ENTITY_BYTES {
        return Err(error::usage(format!(
            "{option} is {} bytes; the most is {MAX_ENTITY_BYTES} (a user id is at most 64 \
             bytes, WebAuthn section 5.4.3; a key may cut a name to 64 bytes or refuse a \
             longer one, WebAuthn section 6.4.1)",
            value.len()
        )));
    }
    Ok(())
}

/// A credential id the user gave as hex (`option` names it): not empty. A usage error
/// before anything is sent.
pub(crate) fn parse_id(option: &str, text: &str) -> Result<Vec<u8>, Failure> {
    let id = crate::output::parse_hex(option, text)?;
    if id.is_empty() {
        return Err(error::usage(format!(
            "{option} is empty: give the credential id as hex"
        )));
    }
    Ok(id)
}

/// The discoverable credential with id `id` and its RP, looked up with credential
/// management (enumerateRPs, then enumerateCredentials of each); `None` if the key has
/// none with that id.
pub(crate) fn find_credential(
    cm: &mut CredentialManagement<'_, Device>,
    id: &[u8],
) -> Result<Option<(RpEntity, CredentialInfo)>, client::Error> {
    for rp in cm.enumerate_rps()? {
        for credential in cm.enumerate_creds(&rp.rp_id_hash)? {
            if credential.credential_id.id == id {
                return Ok(Some((rp.rp, credential)));
            }
        }
    }
    Ok(None)
}
