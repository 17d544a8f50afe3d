//! `ctap cred make|assert|list|delete`: credentials (makeCredential, getAssertion,
//! credential management), one module per subcommand; what they share is here.

mod assert;
mod delete;
pub(crate) mod fido2_tools;
mod list;
mod make;
mod update;
mod verify;

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use ctap::ctap2::proto::{Algorithm, RpEntity, UserEntity};
use ctap::ctap2::{self as client, CredentialInfo, CredentialManagement, Randomness as _};

use crate::device::Device;
use serde_json::{Value as Json, json};

use crate::auth::{PinArgs, token};
use crate::device;
use crate::error::{self, Doing, Failure, Outcome, Situation};
use crate::globals::Global;
use crate::output::{escape, hex};
use ctap::ctap2::proto::Permissions;

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
    /// Check, offline, a credential or (--assertion) an assertion in libfido2's tool
    /// format, read on standard input (as fido2-cred -V / fido2-assert -V).
    Verify(verify::CredVerifyArgs),
}

/// A credential algorithm on the command line (the names of
/// `ctap_virtual::Algorithms::parse` and of `algorithm_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Alg {
    /// ECDSA P-256 with SHA-256 (COSE -7).
    Es256,
    /// Ed25519 (COSE -8).
    Eddsa,
    /// ECDSA P-384 with SHA-384 (COSE -35).
    Es384,
    /// ECDSA P-521 with SHA-512 (COSE -36).
    Es512,
    /// ECDSA secp256k1 with SHA-256 (COSE -47).
    Es256k,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (COSE -257).
    Rs256,
    /// ML-DSA-44, FIPS 204 (COSE -48).
    #[value(name = "ml-dsa-44")]
    MlDsa44,
    /// ML-DSA-65 (COSE -49).
    #[value(name = "ml-dsa-65")]
    MlDsa65,
    /// ML-DSA-87 (COSE -50).
    #[value(name = "ml-dsa-87")]
    MlDsa87,
}

impl Alg {
    /// The COSE algorithm.
    pub(crate) const fn algorithm(self) -> Algorithm {
        match self {
            Self::Es256 => Algorithm::ES256,
            Self::Eddsa => Algorithm::EDDSA,
            Self::Es384 => Algorithm::ES384,
            Self::Es512 => Algorithm::ES512,
            Self::Es256k => Algorithm::ES256K,
            Self::Rs256 => Algorithm::RS256,
            Self::MlDsa44 => Algorithm::ML_DSA_44,
            Self::MlDsa65 => Algorithm::ML_DSA_65,
            Self::MlDsa87 => Algorithm::ML_DSA_87,
        }
    }
}

/// Runs `ctap cred ...`.
pub(crate) fn run(global: &Global, command: &CredCommand) -> Outcome {
    match command {
        CredCommand::Make(args) => make::run(global, args),
        CredCommand::Assert(args) => assert::run(global, args),
        CredCommand::List(args) => list::run(global, args),
        CredCommand::Delete(args) => delete::run(global, args),
        CredCommand::Update(args) => update::run(global, args),
        CredCommand::Verify(args) => verify::run(global, args),
    }
}

/// The algorithm's name as `--alg` spells it, or its COSE number.
pub(crate) fn algorithm_name(alg: Option<Algorithm>) -> Json {
    match alg {
        Some(alg) => {
            ctap::virtual_device::Algorithms::name(alg).map_or(json!(alg.0), |name| json!(name))
        }
        None => Json::Null,
    }
}

/// The user of a credential as JSON; the names come from the device (and the RP that
/// registered them), so they are escaped as `info` and `list` escape device strings
/// (control characters, C1, bidi overrides).
pub(crate) fn user_json(user: Option<&UserEntity>) -> Json {
    user.map_or(Json::Null, |user| {
        json!({
            "id": hex(&user.id),
            "name": user.name.as_deref().map(escape),
            "display_name": user.display_name.as_deref().map(escape),
        })
    })
}

/// The clientDataHash the caller gives (`--client-data-hash`, or `--client-data` hashed),
/// else a random one.
#[derive(Debug, Args)]
pub(crate) struct ClientDataArgs {
    /// The clientDataHash, 32 bytes as hex (e.g. the SHA-256 of a WebAuthn
    /// clientDataJSON holding the RP's challenge); default: random.
    #[arg(long, value_name = "HEX", conflicts_with = "client_data")]
    pub(crate) client_data_hash: Option<String>,
    /// A file (`-`: standard input) whose SHA-256 is the clientDataHash, as libfido2's
    /// fido_cred_set_clientdata hashes client data.
    #[arg(long, value_name = "FILE")]
    pub(crate) client_data: Option<PathBuf>,
}

/// The most bytes of `--client-data` read (a clientDataJSON is a few hundred).
const MAX_CLIENT_DATA: u64 = 1 << 20;

impl ClientDataArgs {
    /// The clientDataHash: given, hashed from the file, or random.
    pub(crate) fn hash(&self) -> Result<[u8; 32], Failure> {
        use sha2::Digest as _;
        use std::io::Read as _;
        if let Some(text) = &self.client_data_hash {
            let bytes = crate::output::parse_hex("--client-data-hash", text)?;
            return <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                error::usage(format!(
                    "--client-data-hash is {} bytes; a clientDataHash is a SHA-256, 32 bytes",
                    bytes.len()
                ))
            });
        }
        let Some(path) = &self.client_data else {
            return random_challenge();
        };
        let mut data = Vec::new();
        let read = if path.as_os_str() == "-" {
            std::io::stdin()
                .lock()
                .take(MAX_CLIENT_DATA + 1)
                .read_to_end(&mut data)
        } else {
            std::fs::File::open(path)
                .and_then(|file| file.take(MAX_CLIENT_DATA + 1).read_to_end(&mut data))
        };
        read.map_err(|e| {
            error::usage(format!(
                "--client-data: cannot read {}: {e}",
                path.display()
            ))
        })?;
        if u64::try_from(data.len()).unwrap_or(u64::MAX) > MAX_CLIENT_DATA {
            return Err(error::usage(format!(
                "--client-data: {} is over {MAX_CLIENT_DATA} bytes",
                path.display()
            )));
        }
        Ok(sha2::Sha256::digest(&data).into())
    }
}

/// Authenticator data extension outputs (a CBOR map) as JSON, by extension id.
pub(crate) fn extensions_json(extensions: Option<&ctap::ctap2::proto::cbor::Value>) -> Json {
    extensions.map_or(Json::Null, crate::get_info::to_json)
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

/// Refuses (before anything is sent) when getInfo does not list extension `id`.
pub(crate) fn require_extension(info: &ctap::ctap2::proto::Info, id: &str) -> Result<(), Failure> {
    if info.extensions.iter().any(|known| known == id) {
        return Ok(());
    }
    Err(Failure::new(format!(
        "this key does not support the {id} extension (getInfo extensions: {})",
        info.extensions.join(", ")
    )))
}

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

/// Runs `work` on credential management of `--device` (list, delete and update share
/// it): opens the device, gets a token with the cm permission from the PIN, and gives
/// `work` the way to explain a CTAP2 error as credential management's.
pub(crate) fn with_credential_management<T>(
    global: &Global,
    auth: &PinArgs,
    work: impl FnOnce(
        &mut CredentialManagement<'_, Device>,
        &dyn Fn(client::Error) -> Failure,
    ) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let mut ctap = device::open_ctap2(global)?;
    let token = token(
        global,
        &mut ctap,
        auth,
        Permissions::CREDENTIAL_MANAGEMENT,
        None,
    )?;
    let situation = Situation::new(global, Doing::CredentialManagement);
    let failed = |error| error::ctap2_in(&situation, error);
    let mut cm = CredentialManagement::new(&mut ctap, token).map_err(failed)?;
    work(&mut cm, &failed)
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
