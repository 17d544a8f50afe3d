//! `ctap cred make`: register a credential (authenticatorMakeCredential) and verify
//! its attestation.

use clap::Args;
use ctap::ctap2::proto::cbor::CborMessage as _;
use ctap::ctap2::proto::{Algorithm, Flags, Info, Options, Permissions, RpEntity, UserEntity};
use ctap::ctap2::{self as client};
use serde_json::json;

use super::{Alg, algorithm_name, random_challenge};
use crate::auth::{PinArgs, PinUse, pin_for, pin_is_set, token_with_pin};
use crate::device::{self, Interaction};
use crate::error::{Doing, Failure, Outcome, Situation};
use crate::globals::Global;
use crate::output::{hex, print_json};

#[derive(Debug, Args)]
pub(crate) struct CredMakeArgs {
    /// The relying party id (e.g. example.com).
    #[arg(long, value_name = "ID")]
    rp: String,
    /// The user name (its UTF-8 is the user id).
    #[arg(long, value_name = "NAME", default_value = "user")]
    user: String,
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
    #[command(flatten)]
    auth: PinArgs,
}

/// Runs `ctap cred make`.
pub(crate) fn run(global: &Global, args: &CredMakeArgs) -> Outcome {
    let mut ctap = device::open_ctap2(global)?;
    let ctap = &mut ctap;
    let alg = match args.alg {
        Alg::Es256 => Algorithm::ES256,
        Alg::Eddsa => Algorithm::EDDSA,
    };
    let client_data_hash = random_challenge()?;
    let rp = RpEntity {
        id: args.rp.clone(),
        name: Some(args.rp.clone()),
    };
    let user = UserEntity {
        id: args.user.as_bytes().to_vec(),
        name: Some(args.user.clone()),
        display_name: None,
    };
    let mut request = client::make_credential_request(client_data_hash, rp, user, &[alg]);
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
    if let Some(pin) = pin_for(&args.auth, use_)? {
        let token = token_with_pin(
            global,
            ctap,
            &args.auth.protocol,
            &pin,
            Permissions::MAKE_CREDENTIAL,
            Some(&args.rp),
        )?;
        token.authorize_make_credential(&mut request);
    }
    let mut interaction = Interaction::new(global.json);
    let situation = Situation::new(global, Doing::MakeCredential)
        .for_rp(&args.rp)
        .with_info(ctap.info());
    let attestation = ctap
        .make_credential(&request, interaction.options())
        .map_err(|e| interaction.failure(global, &situation, e))?;
    let verdict = attestation.verify(&args.rp, &client_data_hash);
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
    if global.json {
        print_json(&json!({
            "rp": args.rp,
            "credential_id": hex(&credential.credential_id),
            "algorithm": algorithm_name(credential.public_key.algorithm()),
            "public_key": hex(&credential.public_key.to_cbor()),
            "resident": args.resident,
            "user_verified": user_verified,
            "sign_count": attestation.auth_data.sign_count,
            "aaguid": hex(&credential.aaguid),
            "attestation": {
                "format": attestation.response.fmt,
                "type": kind,
                "verified": verdict.is_ok(),
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
        println!("attestation       {} ({kind})", attestation.response.fmt);
        match &verdict {
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
