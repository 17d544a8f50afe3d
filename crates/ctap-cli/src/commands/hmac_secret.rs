//! `ctap hmac-secret`: a 32-byte secret from a credential and a salt (two salts: two
//! secrets), what systemd-cryptenroll and age plugins get from libfido2: the
//! hmac-secret extension through the WebAuthn client (`hmacGetSecret`), or with
//! `--prf` WebAuthn's PRF (the salt hashed with "WebAuthn PRF", as browsers do).

use clap::Args;
use ctap::webauthn::{RequestOptions, base64url_encode};
use serde_json::json;

use super::webauthn::{client, failure};
use crate::auth::PinArgs;
use crate::device;
use crate::error::{Failure, Outcome, usage};
use crate::globals::Global;
use crate::output::{hex, parse_hex, print_json};

/// `ctap hmac-secret`.
#[derive(Debug, Args)]
pub(crate) struct HmacSecretArgs {
    /// The relying party id the credential belongs to.
    #[arg(long, value_name = "ID")]
    rp: String,
    /// The credential id, hex.
    #[arg(long = "cred-id", value_name = "HEX")]
    cred_id: String,
    /// The salt, hex (32 bytes; with --prf, any length).
    #[arg(long, value_name = "HEX")]
    salt: String,
    /// A second salt, hex: a second secret.
    #[arg(long, value_name = "HEX")]
    salt2: Option<String>,
    /// WebAuthn's PRF instead of raw hmac-secret salts.
    #[arg(long)]
    prf: bool,
    /// Ask for user verification (the PIN): a different secret than without it.
    #[arg(long)]
    uv: bool,
    #[command(flatten)]
    auth: PinArgs,
}

/// Runs `ctap hmac-secret`.
pub(crate) fn run(global: &Global, args: &HmacSecretArgs) -> Outcome {
    let id = parse_hex("--cred-id", &args.cred_id)?;
    let salts: Vec<Vec<u8>> = std::iter::once(&args.salt)
        .chain(args.salt2.as_ref())
        .map(|s| parse_hex("--salt", s))
        .collect::<Result<_, _>>()?;
    if !args.prf && salts.iter().any(|s| s.len() != 32) {
        return Err(usage(
            "an hmac-secret salt has 32 bytes (64 hex digits); --prf takes any",
        ));
    }
    let encoded: Vec<String> = salts.iter().map(|s| base64url_encode(s)).collect();
    let extensions = if args.prf {
        let mut eval = json!({"first": encoded[0]});
        if let Some(second) = encoded.get(1) {
            eval["second"] = json!(second);
        }
        json!({"prf": {"eval": eval}})
    } else {
        let mut salts = json!({"salt1": encoded[0]});
        if let Some(second) = encoded.get(1) {
            salts["salt2"] = json!(second);
        }
        json!({"hmacGetSecret": salts})
    };
    let challenge = super::cred::random_challenge()?;
    let options = RequestOptions::from_value(&json!({
        "challenge": base64url_encode(&challenge),
        "rpId": args.rp,
        "allowCredentials": [{"type": "public-key", "id": base64url_encode(&id)}],
        "userVerification": if args.uv { "required" } else { "discouraged" },
        "extensions": extensions,
    }))
    .map_err(failure)?;
    let (_, cancel) = device::on_interrupt()?;
    let mut client = client(global, &format!("https://{}", args.rp), &args.auth)?;
    let response = client
        .get_assertion(&options, Some(&cancel))
        .map_err(failure)?
        .response(0)
        .map_err(failure)?;
    let outputs = &response.client_extension_results;
    let secrets: Vec<&[u8]> = match (&outputs.prf, &outputs.hmac_get_secret) {
        (Some(prf), _) => prf
            .results
            .iter()
            .flat_map(|r| std::iter::once(&r.first).chain(r.second.as_ref()))
            .map(|s| s.as_bytes())
            .collect(),
        (None, Some(hmac)) => std::iter::once(&hmac.output1)
            .chain(hmac.output2.as_ref())
            .map(|s| s.as_bytes())
            .collect(),
        (None, None) => Vec::new(),
    };
    if secrets.is_empty() {
        return Err(Failure::new(
            "the key gave no secret: the credential was made without hmac-secret (register it with the prf or hmacCreateSecret extension)",
        ));
    }
    if global.json {
        let names = ["output1", "output2"];
        let mut value = serde_json::Map::new();
        for (name, secret) in names.iter().zip(&secrets) {
            value.insert((*name).into(), json!(hex(secret)));
        }
        print_json(&serde_json::Value::Object(value));
    } else {
        for secret in secrets {
            println!("{}", hex(secret));
        }
    }
    Ok(())
}
