//! `ctap cred verify`: checks, offline, what libfido2's tools (or `ctap ... --fido2-tools`)
//! printed: a credential (fido2-cred -M's output; as fido2-cred -V, it prints the
//! credential id and the PEM public key) or, with `--assertion`, an assertion
//! (fido2-assert -G's output, against a PEM public key; as fido2-assert -V).

use std::path::PathBuf;

use clap::Args;
use ctap::ctap2::proto::cbor::CborMessage as _;
use ctap::ctap2::proto::{Algorithm, GetAssertionResponse, MakeCredentialResponse, Value};
use ctap::ctap2::{self as client};
use serde_json::json;

use super::fido2_tools::{self, authdata_line, base64_line, client_data_hash, line};
use super::{algorithm_name, check_rp};
use crate::error::{Failure, Outcome, usage};
use crate::globals::Global;
use crate::output::{base64, hex, parse_hex, print_json};

#[derive(Debug, Args)]
pub(crate) struct CredVerifyArgs {
    /// Verify an assertion (fido2-assert -G's output) rather than a credential
    /// (fido2-cred -M's output).
    #[arg(long, requires = "key")]
    assertion: bool,
    /// The credential's public key for --assertion: a PEM file (as fido2-cred -V and
    /// `ctap cred verify` write it).
    #[arg(long, value_name = "FILE", conflicts_with = "public_key")]
    key: Option<PathBuf>,
    /// The credential's public key for --assertion, hex of its COSE key (as `cred
    /// make` prints it).
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
}

/// Runs `ctap cred verify` on standard input.
pub(crate) fn run(global: &Global, args: &CredVerifyArgs) -> Outcome {
    let lines = fido2_tools::read_lines("cred verify")?;
    if args.assertion {
        assertion(global, args, &lines)
    } else {
        credential(global, &lines)
    }
}

/// fido2-cred -M's output: client data hash, relying party id, format, authenticator
/// data, credential id, attestation signature, attestation certificate (optional).
fn credential(global: &Global, lines: &[String]) -> Outcome {
    let client_data_hash = client_data_hash(lines, 1)?;
    let rp_id = line(lines, 2, "relying party id")?;
    check_rp(rp_id)?;
    let format = line(lines, 3, "format")?;
    let auth_data = authdata_line(lines, 4)?;
    let credential_id = base64_line(lines, 5, "credential id")?;
    // The authenticator data alone first (as format none): the credential it holds.
    let attestation = client::Attestation::from_response(MakeCredentialResponse {
        fmt: "none".to_owned(),
        auth_data: auth_data.clone(),
        att_stmt: Value::Map(Vec::new()),
        ep_att: None,
        large_blob_key: None,
        unsigned_extension_outputs: None,
    })
    .map_err(|e| usage(format!("line 4 (authenticator data): {e}")))?;
    let Some(credential) = attestation.credential().cloned() else {
        return Err(usage(
            "line 4 (authenticator data) holds no credential (no attested credential data)",
        ));
    };
    if credential.credential_id != credential_id {
        return Err(Failure::new(
            "line 5 (credential id) is not the credential in the authenticator data",
        ));
    }
    // libfido2's output has no `alg`: a packed statement without a certificate is
    // signed with the credential's own key (self attestation, WebAuthn §8.2); one with
    // a certificate, with the certificate's key, ES256 (the only kind fido2-cred
    // makes with a batch certificate on the keys deployed today).
    let att_stmt = match format {
        "none" => Value::Map(Vec::new()),
        "packed" => {
            let signature = base64_line(lines, 6, "attestation signature")?;
            let certificate = lines
                .get(6)
                .filter(|line| !line.is_empty())
                .map(|_| base64_line(lines, 7, "attestation certificate"))
                .transpose()?;
            let alg = match &certificate {
                Some(_) => Algorithm::ES256,
                None => credential
                    .public_key
                    .algorithm()
                    .ok_or_else(|| Failure::new("the credential key has no signature algorithm"))?,
            };
            let mut members = vec![
                (Value::text("alg"), Value::int(alg.0)),
                (Value::text("sig"), Value::Bytes(signature)),
            ];
            if let Some(certificate) = certificate {
                members.push((
                    Value::text("x5c"),
                    Value::Array(vec![Value::Bytes(certificate)]),
                ));
            }
            Value::Map(members)
        }
        other => {
            return Err(Failure::new(format!(
                "format {other:?}: only packed and none are checked"
            )));
        }
    };
    let attestation = client::Attestation::from_response(MakeCredentialResponse {
        fmt: format.to_owned(),
        auth_data,
        att_stmt,
        ep_att: None,
        large_blob_key: None,
        unsigned_extension_outputs: None,
    })
    .map_err(|e| Failure::new(format!("the attestation statement: {e}")))?;
    let kind = attestation
        .verify(rp_id, &client_data_hash)
        .map_err(|e| Failure::new(format!("the credential does not verify: {e}")))?;
    let pem = fido2_tools::pem(&credential.public_key).ok_or_else(|| {
        Failure::new("the credential key is neither P-256 nor Ed25519: no PEM for it")
    })?;
    if global.json {
        print_json(&json!({
            "rp": rp_id,
            "credential_id": hex(&credential.credential_id),
            "algorithm": algorithm_name(credential.public_key.algorithm()),
            "public_key": hex(&credential.public_key.to_cbor()),
            "pem": pem,
            "attestation": {
                "format": format,
                "type": match kind {
                    client::AttestationType::None => "none",
                    client::AttestationType::SelfAttestation => "self",
                    client::AttestationType::Basic => "basic",
                },
                "verified": true,
            },
        }));
    } else {
        // fido2-cred -V's output: the credential id, then the PEM public key.
        println!("{}", base64(&credential.credential_id));
        print!("{pem}");
    }
    Ok(())
}

/// fido2-assert -G's output: client data hash, relying party id, authenticator data,
/// signature (what follows, a user id or an hmac secret, is not signed).
fn assertion(global: &Global, args: &CredVerifyArgs, lines: &[String]) -> Outcome {
    let key = match (&args.key, &args.public_key) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("--key: cannot read {}: {e}", path.display())))?;
            fido2_tools::parse_pem(&format!("--key {}", path.display()), &text)?
        }
        (None, Some(text)) => {
            ctap::ctap2::proto::CoseKey::from_cbor(&parse_hex("--public-key", text)?)
                .map_err(|e| usage(format!("--public-key: not a COSE key: {e}")))?
        }
        (None, None) => return Err(usage("--assertion needs --key FILE or --public-key HEX")),
    };
    let client_data_hash = client_data_hash(lines, 1)?;
    let rp_id = line(lines, 2, "relying party id")?;
    check_rp(rp_id)?;
    let auth_data = authdata_line(lines, 3)?;
    let signature = base64_line(lines, 4, "signature")?;
    let assertion = client::Assertion::from_response(GetAssertionResponse {
        credential: None,
        auth_data,
        signature,
        user: None,
        number_of_credentials: None,
        user_selected: None,
        large_blob_key: None,
        unsigned_extension_outputs: None,
    })
    .map_err(|e| usage(format!("line 3 (authenticator data): {e}")))?;
    let verdict = assertion.verify(rp_id, &client_data_hash, &key);
    if global.json {
        print_json(&json!({
            "rp": rp_id,
            "sign_count": assertion.auth_data.sign_count,
            "verified": verdict.is_ok(),
            "error": verdict.as_ref().err().map(ToString::to_string),
        }));
    } else if verdict.is_ok() {
        println!("signature         verified");
    }
    verdict.map_err(|e| Failure::new(format!("the assertion does not verify: {e}")))
}
