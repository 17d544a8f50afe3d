//! `ctap cred make`: register a credential (authenticatorMakeCredential) and verify
//! its attestation.

use clap::Args;
use ctap::ctap2::proto::cbor::CborMessage as _;
use ctap::ctap2::proto::entities::Extensions;
use ctap::ctap2::proto::{Flags, Info, Options, Permissions, RpEntity, UserEntity, Value};
use ctap::ctap2::{self as client};
use serde_json::json;

use super::{
    Alg, ClientDataArgs, algorithm_name, check_rp, check_user_field, extensions_json, fido2_tools,
};
use crate::auth::{PinArgs, PinUse, pin_for, pin_is_set, token_with_pin};
use crate::device::{self, Interaction};
use crate::error::{Doing, Failure, Outcome, Situation, usage};
use crate::get_info::uuid;
use crate::globals::Global;
use crate::output::{escape, hex, parse_hex, print_json};

#[derive(Debug, Args)]
pub(crate) struct CredMakeArgs {
    /// The relying party id (e.g. example.com).
    #[arg(long, value_name = "ID", required_unless_present = "fido2_tools")]
    rp: Option<String>,
    /// fido2-cred -M's formats: its input on stdin (client data hash, RP id, user name,
    /// user id; one a line, base64 blobs) and its output on stdout, which fido2-cred -V
    /// and `ctap cred verify` check.
    #[arg(
        long,
        conflicts_with_all = ["rp", "user_name", "user_id", "client_data_hash", "client_data"]
    )]
    fido2_tools: bool,
    /// The user name.
    #[arg(
        long,
        visible_alias = "user",
        value_name = "NAME",
        default_value = "user"
    )]
    user_name: String,
    /// The user id (user handle), hex, at most 64 bytes; default: the user name's UTF-8.
    #[arg(long, value_name = "HEX")]
    user_id: Option<String>,
    /// The user's display name.
    #[arg(long, value_name = "NAME")]
    display_name: Option<String>,
    /// A discoverable (resident) credential.
    #[arg(long)]
    resident: bool,
    /// Require user verification (the PIN), even where the key does not need it.
    #[arg(long)]
    uv: bool,
    /// Never use the PIN, even if one is given (as fido2-cred without -v); a key that
    /// needs it then refuses with PUAT_REQUIRED.
    #[arg(long, conflicts_with_all = ["uv", "pin", "pin_file", "pin_stdin"])]
    no_pin: bool,
    /// The algorithm.
    #[arg(long, value_enum, default_value_t = Alg::Es256)]
    alg: Alg,
    /// credProtect (CTAP 2.1 §12.1): 1 userVerificationOptional, 2
    /// userVerificationOptionalWithCredentialIDList, 3 userVerificationRequired.
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u8).range(1..=3))]
    cred_protect: Option<u8>,
    /// Ask for the hmac-secret extension (CTAP 2.1 §12.5; `ctap hmac-secret` uses it).
    #[arg(long)]
    hmac_secret: bool,
    /// Ask for a largeBlobKey (CTAP 2.1 §12.3; printed as `large_blob_key`).
    #[arg(long)]
    large_blob_key: bool,
    /// Store a credBlob with the credential (CTAP 2.1 §12.2), hex, at most getInfo's
    /// maxCredBlobLength bytes.
    #[arg(long, value_name = "HEX")]
    cred_blob: Option<String>,
    #[command(flatten)]
    client_data: ClientDataArgs,
    #[command(flatten)]
    auth: PinArgs,
}

/// Runs `ctap cred make`.
pub(crate) fn run(global: &Global, args: &CredMakeArgs) -> Outcome {
    if args.fido2_tools && global.json {
        return Err(usage(
            "--fido2-tools and --json are two output formats: choose one",
        ));
    }
    let (rp_id, user, client_data_hash) = if args.fido2_tools {
        // fido2-cred(1) -M: client data hash, relying party id, user name, user id.
        let lines = fido2_tools::read_lines("--fido2-tools")?;
        let client_data_hash = fido2_tools::client_data_hash(&lines, 1)?;
        let rp_id = fido2_tools::line(&lines, 2, "relying party id")?.to_owned();
        let name = fido2_tools::line(&lines, 3, "user name")?.to_owned();
        let id = fido2_tools::base64_line(&lines, 4, "user id")?;
        check_user_field("line 3 (user name)", name.as_bytes())?;
        check_user_field("line 4 (user id)", &id)?;
        let user = UserEntity {
            id,
            name: Some(name),
            display_name: None,
            icon: None,
        };
        (rp_id, user, client_data_hash)
    } else {
        let rp_id = args.rp.clone().unwrap_or_default();
        (rp_id, user_entity(args)?, args.client_data.hash()?)
    };
    check_rp(&rp_id)?;
    let cred_blob = args
        .cred_blob
        .as_deref()
        .map(|text| parse_hex("--cred-blob", text))
        .transpose()?;
    let mut ctap = device::open_ctap2(global)?;
    let ctap = &mut ctap;
    let extensions = extensions(ctap.info(), args, cred_blob)?;
    let alg = args.alg.algorithm();
    let rp = RpEntity {
        id: rp_id.clone(),
        name: Some(rp_id.clone()),
        icon: None,
    };
    let mut request = client::make_credential_request(client_data_hash, rp, user, &[alg]);
    request.extensions = extensions;
    if args.resident {
        request.options = Some(Options {
            rk: Some(true),
            ..Options::default()
        });
    }
    if args.uv && !pin_is_set(ctap) {
        return Err(Failure::new(
            "--uv needs a PIN, and none is set (set one with `ctap pin set`)",
        ));
    }
    let use_ = pin_use(ctap.info(), args);
    // What the answer's flags must say (WebAuthn §7.1 steps 14-15): UP, and UV when the
    // request carried a pinUvAuthParam.
    let mut required = client::Required::default();
    if let Some(pin) = pin_for(&args.auth, use_)? {
        let token = token_with_pin(
            global,
            ctap,
            &args.auth.protocol,
            &pin,
            Permissions::MAKE_CREDENTIAL,
            Some(&rp_id),
        )?;
        token.authorize_make_credential(&mut request);
        required.user_verification = true;
    }
    let mut interaction = Interaction::new(global.json);
    let situation = Situation::new(global, Doing::MakeCredential)
        .for_rp(&rp_id)
        .with_info(ctap.info());
    let attestation = ctap
        .make_credential(&request, interaction.options())
        .map_err(|e| interaction.failure(global, &situation, e))?;
    let verdict = attestation.verify_with(&rp_id, &client_data_hash, required);
    let Some(credential) = attestation.credential() else {
        return Err(Failure::new("the authenticator returned no credential"));
    };
    let kind = match &verdict {
        Ok(client::AttestationType::None) => "none",
        Ok(client::AttestationType::SelfAttestation) => "self",
        Ok(client::AttestationType::Basic) => "basic",
        Err(_) => "unverified",
    };
    let user_verified = attestation.auth_data.flags.contains(Flags::UV);
    // The format comes from the device: escaped like every device string.
    let format = escape(&attestation.response.fmt);
    // `none` passes (the authenticator data was checked) but nothing was signed: it is
    // never "verified".
    let signed = verdict.as_ref().is_ok_and(|kind| kind.is_signed());
    if args.fido2_tools {
        print_fido2_cred(
            &client_data_hash,
            &rp_id,
            &attestation,
            &credential.credential_id,
        );
    } else if global.json {
        print_json(&json!({
            "rp": rp_id,
            "credential_id": hex(&credential.credential_id),
            "algorithm": algorithm_name(credential.public_key.algorithm()),
            "public_key": hex(&credential.public_key.to_cbor()),
            "resident": args.resident,
            "user_verified": user_verified,
            "sign_count": attestation.auth_data.sign_count,
            "aaguid": uuid(&credential.aaguid),
            "client_data_hash": hex(&client_data_hash),
            "extensions": extensions_json(attestation.auth_data.extensions.as_ref()),
            "large_blob_key": attestation.response.large_blob_key.as_deref().map(hex),
            "attestation": {
                "format": format,
                "type": kind,
                "verified": signed,
                "result": match &verdict {
                    Ok(kind) => kind.to_string(),
                    Err(error) => error.to_string(),
                },
                "error": verdict.as_ref().err().map(ToString::to_string),
            },
        }));
    } else {
        println!("credential id     {}", hex(&credential.credential_id));
        println!(
            "algorithm         {}",
            algorithm_name(credential.public_key.algorithm())
                .as_str()
                .map_or_else(
                    || format!("{:?}", credential.public_key.algorithm()),
                    str::to_owned
                )
        );
        println!(
            "public key        {}",
            hex(&credential.public_key.to_cbor())
        );
        println!("resident          {}", args.resident);
        println!("user verified     {user_verified}");
        if let Some(extensions) = &attestation.auth_data.extensions {
            println!("extensions        {}", extensions_json(Some(extensions)));
        }
        if let Some(key) = &attestation.response.large_blob_key {
            println!("large blob key    {}", hex(key));
        }
        println!("attestation       {format} ({kind})");
        match &verdict {
            Ok(client::AttestationType::None) => {
                println!("signature         none: no signature to verify (format none)");
            }
            Ok(_) => println!("signature         verified"),
            Err(error) => println!("signature         NOT verified: {error}"),
        }
    }
    verdict.map(drop).map_err(|e| Failure::new(e.to_string()))
}

/// Whether this makeCredential needs the PIN, from getInfo (CTAP 2.1 §6.1.2 steps 6 to
/// 8): with alwaysUv always; with a PIN set, for a discoverable credential, and for
/// any credential unless makeCredUvNotRqd is true; with `--uv` always. Otherwise the
/// PIN is used only if given (`--pin`, `CTAP_PIN`), and never with `--no-pin`.
fn pin_use(info: &Info, args: &CredMakeArgs) -> PinUse {
    let pin_set = info.option("clientPin") == Some(true);
    let always_uv = info.option("alwaysUv") == Some(true);
    let uv_not_required = info.option("makeCredUvNotRqd") == Some(true);
    if args.no_pin {
        PinUse::Never
    } else if args.uv || (pin_set && (always_uv || args.resident || !uv_not_required)) {
        PinUse::Needed
    } else if pin_set {
        PinUse::IfGiven
    } else {
        PinUse::Never
    }
}

/// The user entity from `--user-name`, `--user-id`, `--display-name`, each checked
/// before anything is sent.
fn user_entity(args: &CredMakeArgs) -> Result<UserEntity, Failure> {
    check_user_field("--user-name", args.user_name.as_bytes())?;
    let id = match &args.user_id {
        Some(text) => parse_hex("--user-id", text)?,
        None => args.user_name.as_bytes().to_vec(),
    };
    check_user_field("--user-id", &id)?;
    if let Some(display_name) = &args.display_name {
        check_user_field("--display-name", display_name.as_bytes())?;
    }
    Ok(UserEntity {
        id,
        name: Some(args.user_name.clone()),
        display_name: args.display_name.clone(),
        icon: None,
    })
}

/// The extension inputs asked for, each checked against getInfo's `extensions` first (a
/// key ignores an extension it does not know, CTAP 2.1 §9, which would look like
/// success): credProtect, hmac-secret, largeBlobKey, credBlob (at most
/// maxCredBlobLength bytes, §12.2).
fn extensions(
    info: &Info,
    args: &CredMakeArgs,
    cred_blob: Option<Vec<u8>>,
) -> Result<Option<Extensions>, Failure> {
    let mut asked: Extensions = Vec::new();
    if let Some(level) = args.cred_protect {
        asked.push(("credProtect".to_owned(), Value::int(level)));
    }
    if args.hmac_secret {
        asked.push(("hmac-secret".to_owned(), Value::Bool(true)));
    }
    if args.large_blob_key {
        asked.push(("largeBlobKey".to_owned(), Value::Bool(true)));
    }
    if let Some(blob) = cred_blob {
        asked.push(("credBlob".to_owned(), Value::Bytes(blob)));
    }
    for (id, input) in &asked {
        super::require_extension(info, id)?;
        let most = info.max_cred_blob_length.unwrap_or(0);
        if let Value::Bytes(blob) = input {
            if u64::try_from(blob.len()).unwrap_or(u64::MAX) > most {
                return Err(usage(format!(
                    "--cred-blob is {} bytes; this key stores at most {most} (getInfo \
                     maxCredBlobLength)",
                    blob.len()
                )));
            }
        }
    }
    Ok((!asked.is_empty()).then_some(asked))
}

/// fido2-cred(1) -M's output: client data hash, relying party id, format,
/// authenticator data, credential id, attestation signature, and the attestation
/// certificate if there is one (base64 blobs, one a line).
fn print_fido2_cred(
    client_data_hash: &[u8],
    rp_id: &str,
    attestation: &client::Attestation,
    credential_id: &[u8],
) {
    use crate::output::base64;
    println!("{}", base64(client_data_hash));
    println!("{rp_id}");
    println!("{}", attestation.response.fmt);
    println!(
        "{}",
        fido2_tools::authdata_base64(&attestation.response.auth_data)
    );
    println!("{}", base64(credential_id));
    if let client::AttestationStatement::Packed { sig, x5c, .. } = &attestation.statement {
        println!("{}", base64(sig));
        if let Some(certificate) = x5c.first() {
            println!("{}", base64(certificate));
        }
    }
}
