//! `ctap blob get|put|delete`: a credential's large blob (CTAP 2.1 §6.10.3) through
//! the WebAuthn client's largeBlob extension (get, put) and, for delete (which
//! WebAuthn has no operation for), the credential's largeBlobKey from the same
//! getAssertion and ctap2-client's `delete_blob`.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use ctap::ctap2::LargeBlobs;
use ctap::ctap2::proto::Permissions;
use ctap::webauthn::{RequestOptions, base64url_encode, extensions::MAX_BLOB};
use serde_json::json;

use super::webauthn::{client, failure};
use crate::auth::{PinArgs, pin_is_set, token};
use crate::device;
use crate::error::{Failure, Outcome, ctap2};
use crate::globals::Global;
use crate::output::{hex, parse_hex, print_json};

/// `ctap blob`.
#[derive(Debug, Subcommand)]
pub(crate) enum BlobCommand {
    /// Print the credential's blob (raw bytes on stdout; --json: base64url).
    Get(BlobArgs),
    /// Store a blob for the credential (stdin, or --file), replacing its old one.
    Put(BlobPutArgs),
    /// Delete the credential's blob.
    Delete(BlobArgs),
}

/// Which credential.
#[derive(Debug, Args)]
pub(crate) struct BlobArgs {
    /// The relying party id.
    #[arg(long, value_name = "ID")]
    rp: String,
    /// The credential id, hex (a discoverable credential: only those have large blobs).
    #[arg(long = "cred-id", value_name = "HEX")]
    cred_id: String,
    #[command(flatten)]
    auth: PinArgs,
}

/// `ctap blob put`.
#[derive(Debug, Args)]
pub(crate) struct BlobPutArgs {
    #[command(flatten)]
    which: BlobArgs,
    /// Read the blob from FILE instead of standard input.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

fn request(args: &BlobArgs, large_blob: serde_json::Value) -> Result<RequestOptions, Failure> {
    let id = parse_hex("--cred-id", &args.cred_id)?;
    let challenge = super::cred::random_challenge()?;
    RequestOptions::from_value(&json!({
        "challenge": base64url_encode(&challenge),
        "rpId": args.rp,
        "allowCredentials": [{"type": "public-key", "id": base64url_encode(&id)}],
        "userVerification": "discouraged",
        "extensions": {"largeBlob": large_blob},
    }))
    .map_err(failure)
}

/// Runs `ctap blob`.
pub(crate) fn run(global: &Global, command: &BlobCommand) -> Outcome {
    let (_, cancel) = device::on_interrupt()?;
    match command {
        BlobCommand::Get(args) => {
            let options = request(args, json!({"read": true}))?;
            let mut client = client(global, &format!("https://{}", args.rp), &args.auth)?;
            let response = client
                .get_assertion(&options, Some(&cancel))
                .map_err(failure)?
                .response(0)
                .map_err(failure)?;
            let blob = response
                .client_extension_results
                .large_blob
                .and_then(|l| l.blob)
                .ok_or_else(|| Failure::new("the credential has no large blob"))?;
            if global.json {
                print_json(
                    &json!({"blob": base64url_encode(blob.as_bytes()), "hex": hex(blob.as_bytes())}),
                );
            } else {
                std::io::stdout()
                    .write_all(blob.as_bytes())
                    .map_err(Failure::stdout)?;
            }
        }
        BlobCommand::Put(args) => {
            let mut data = Vec::new();
            let limit = u64::try_from(MAX_BLOB).unwrap_or(u64::MAX) + 1;
            match &args.file {
                Some(path) => std::fs::File::open(path)
                    .and_then(|f| f.take(limit).read_to_end(&mut data))
                    .map_err(|e| Failure::new(format!("--file {}: {e}", path.display())))?,
                None => std::io::stdin()
                    .take(limit)
                    .read_to_end(&mut data)
                    .map_err(|e| Failure::new(format!("reading the blob from stdin: {e}")))?,
            };
            if data.len() > MAX_BLOB {
                return Err(Failure::new(format!(
                    "a blob of more than {MAX_BLOB} bytes"
                )));
            }
            let options = request(&args.which, json!({"write": base64url_encode(&data)}))?;
            let mut client = client(
                global,
                &format!("https://{}", args.which.rp),
                &args.which.auth,
            )?;
            let response = client
                .get_assertion(&options, Some(&cancel))
                .map_err(failure)?
                .response(0)
                .map_err(failure)?;
            let written = response
                .client_extension_results
                .large_blob
                .and_then(|l| l.written)
                == Some(true);
            if !written {
                return Err(Failure::new(
                    "the key did not store the blob (no large blobs, or not a discoverable credential)",
                ));
            }
            if global.json {
                print_json(&json!({"written": true, "bytes": data.len()}));
            } else {
                println!("stored {} bytes", data.len());
            }
        }
        BlobCommand::Delete(args) => {
            // The largeBlobKey comes with a getAssertion that asks for the extension.
            let options = request(args, json!({"read": true}))?;
            let mut client = client(global, &format!("https://{}", args.rp), &args.auth)?;
            let selection = client
                .get_assertion(&options, Some(&cancel))
                .map_err(failure)?;
            let key = selection
                .assertions()
                .next()
                .and_then(|a| a.response.large_blob_key.clone())
                .ok_or_else(|| Failure::new("the key gave no largeBlobKey for the credential"))?;
            let ctap = client
                .ctap2()
                .ok_or_else(|| Failure::new("large blobs need a CTAP2 key"))?;
            let token = if pin_is_set(ctap) {
                Some(token(
                    global,
                    ctap,
                    &args.auth,
                    Permissions::LARGE_BLOB_WRITE,
                    None,
                )?)
            } else {
                None
            };
            LargeBlobs::new(ctap, token)
                .and_then(|mut blobs| blobs.delete_blob(&key))
                .map_err(ctap2)?;
            if global.json {
                print_json(&json!({"deleted": true}));
            } else {
                println!("deleted");
            }
        }
    }
    Ok(())
}
