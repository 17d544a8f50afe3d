//! `ctap cred assert`: sign in (authenticatorGetAssertion) and verify the signature.

use clap::Args;
use ctap::ctap2::proto::cbor::CborMessage as _;
use ctap::ctap2::proto::pin::SharedSecret;
use ctap::ctap2::proto::{CoseKey, Flags, Info, Options, Permissions, Value};
use ctap::ctap2::{self as client, CredentialManagement, Ctap2, PinToken};
use ctap::webauthn::extensions;
use serde_json::{Value as Json, json};
use zeroize::Zeroizing;

use super::{
    ClientDataArgs, check_rp, extensions_json, fido2_tools, parse_id, require_extension, user_json,
};
use crate::auth::{PinArgs, PinUse, client_pin, pin_for, pin_is_set, token_with_pin};
use crate::device::{self, Device, Interaction};
use crate::error::{self, Doing, Failure, Outcome, Situation, usage};
use crate::globals::Global;
use crate::output::{escape, hex, parse_hex, print_json};

#[derive(Debug, Args)]
pub(crate) struct CredAssertArgs {
    /// The relying party id.
    #[arg(long, value_name = "ID")]
    #[arg(long, value_name = "ID", required_unless_present = "fido2_tools")]
    rp: Option<String>,
    /// fido2-assert -G's formats: its input on stdin (client data hash, RP id, and a
    /// credential id unless the credential is discoverable; base64 blobs, one a line)
    /// and its output on stdout (per assertion: client data hash, RP id, authenticator
    /// data, signature, and the user id for a discoverable credential), which
    /// fido2-assert -V and `ctap cred verify --assertion` check. With --hmac-secret
    /// (fido2-assert -h) an hmac salt line in, a secret line out.
    #[arg(
        long,
        conflicts_with_all = ["rp", "cred_ids", "client_data_hash", "client_data"]
    )]
    fido2_tools: bool,
    /// An allowed credential id, hex (repeatable; none: the RP's discoverable ones).
    #[arg(long = "cred-id", value_name = "HEX")]
    cred_ids: Vec<String>,
    /// The credential's public key, hex of its COSE key (as `cred make` prints it), to
    /// verify with; without it the key is looked up with credential management.
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
    /// Require user verification (the PIN), even where the key does not need it.
    #[arg(long)]
    uv: bool,
    /// Never use the PIN, even if one is given (as fido2-assert without -v).
    #[arg(long, conflicts_with_all = ["uv", "pin", "pin_file", "pin_stdin"])]
    no_pin: bool,
    /// A silent check (up=false, as fido2-assert -t up=false): no touch and no PIN; the
    /// key says whether it holds the credential, and the signature is checked.
    #[arg(long, conflicts_with_all = ["uv", "pin", "pin_file", "pin_stdin"])]
    silent: bool,
    /// Read the credential's credBlob (getCredBlob, CTAP 2.1 §12.2).
    #[arg(long)]
    cred_blob: bool,
    /// Ask for the credential's largeBlobKey (CTAP 2.1 §12.3).
    #[arg(long)]
    large_blob_key: bool,
    /// With --fido2-tools, as fido2-assert -G -h: the input's last line is an
    /// hmac-secret salt (base64, 32 or 64 bytes) and each assertion's output ends with
    /// the secret (base64; 64 bytes for a 64-byte salt). Without --fido2-tools use
    /// `ctap hmac-secret`.
    #[arg(long, requires = "fido2_tools")]
    hmac_secret: bool,
    #[command(flatten)]
    client_data: ClientDataArgs,
    #[command(flatten)]
    auth: PinArgs,
}

/// Runs `ctap cred assert`.
pub(crate) fn run(global: &Global, args: &CredAssertArgs) -> Outcome {
    if args.fido2_tools && global.json {
        return Err(usage(
            "--fido2-tools and --json are two output formats: choose one",
        ));
    }
    let mut hmac_salt: Option<Zeroizing<Vec<u8>>> = None;
    let (rp_id, allow, client_data_hash) = if args.fido2_tools {
        // fido2-assert(1) -G: client data hash, relying party id, credential id (absent
        // for a discoverable credential), hmac salt (with -h, here --hmac-secret).
        let lines = fido2_tools::read_lines("--fido2-tools")?;
        let client_data_hash = fido2_tools::client_data_hash(&lines, 1)?;
        let rp_id = fido2_tools::line(&lines, 2, "relying party id")?.to_owned();
        let (id_lines, most) = if args.hmac_secret {
            // The salt is the last line: line 4 after a credential id, else line 3.
            let salt_line = lines.len().clamp(3, 4);
            let salt = fido2_tools::base64_line(&lines, salt_line, "hmac salt")?;
            if salt.len() != 32 && salt.len() != 64 {
                return Err(usage(format!(
                    "line {salt_line} (hmac salt) is {} bytes; an hmac-secret salt is 32 \
                     bytes, or 64 for two secrets",
                    salt.len()
                )));
            }
            hmac_salt = Some(Zeroizing::new(salt));
            (lines.get(..salt_line - 1).unwrap_or_default(), 4)
        } else {
            (lines.as_slice(), 3)
        };
        let allow = match id_lines.get(2).filter(|line| !line.is_empty()) {
            Some(_) => vec![fido2_tools::base64_line(id_lines, 3, "credential id")?],
            None => Vec::new(),
        };
        if lines.len() > most {
            return Err(usage(format!(
                "line {} is one too many: fido2-assert -G input is the client data hash, \
                 the relying party id, a credential id (none for a discoverable \
                 credential) and, with --hmac-secret (-h), an hmac salt",
                most + 1
            )));
        }
        (rp_id, allow, client_data_hash)
    } else {
        let allow: Vec<Vec<u8>> = args
            .cred_ids
            .iter()
            .map(|id| parse_id("--cred-id", id))
            .collect::<Result<_, _>>()?;
        let rp_id = args.rp.clone().unwrap_or_default();
        (rp_id, allow, args.client_data.hash()?)
    };
    check_rp(&rp_id)?;
    let given_key = args
        .public_key
        .as_deref()
        .map(|text| {
            CoseKey::from_cbor(&parse_hex("--public-key", text)?)
                .map_err(|e| usage(format!("--public-key: not a COSE key: {e}")))
        })
        .transpose()?;
    let mut ctap = device::open_ctap2(global)?;
    let ctap = &mut ctap;
    let mut request = client::get_assertion_request(&rp_id, client_data_hash, &allow);
    let mut extensions = Vec::new();
    for (asked, id) in [
        (args.cred_blob, "credBlob"),
        (args.large_blob_key, "largeBlobKey"),
    ] {
        if !asked {
            continue;
        }
        require_extension(ctap.info(), id)?;
        let input = if id == "credBlob" { "getCredBlob" } else { id };
        extensions.push((input.to_owned(), Value::Bool(true)));
    }
    let hmac = match &hmac_salt {
        Some(salt) => Some(hmac_secret_input(ctap, &args.auth, salt, &mut extensions)?),
        None => None,
    };
    request.extensions = (!extensions.is_empty()).then_some(extensions);
    if args.silent {
        request.options = Some(Options {
            up: Some(false),
            ..Options::default()
        });
    }
    if args.uv && !pin_is_set(ctap) {
        return Err(Failure::new(
            "--uv needs a PIN, and none is set (set one with `ctap pin set`)",
        ));
    }
    // Keys to verify with: given, or the discoverable credentials' (needs the PIN).
    let mut stored: Vec<(Vec<u8>, CoseKey)> = Vec::new();
    // What the answer's flags must say (WebAuthn §7.2 steps 16-17): UP unless
    // --silent (up=false), UV when the request carried a pinUvAuthParam.
    let mut required = client::Required {
        user_presence: !args.silent,
        user_verification: false,
    };
    if let Some(pin_value) = pin_for(&args.auth, pin_use(ctap.info(), args, allow.is_empty()))? {
        if given_key.is_none() && CredentialManagement::<Device>::is_supported(ctap.info()) {
            let cm_token = token_with_pin(
                global,
                ctap,
                &args.auth.protocol,
                &pin_value,
                Permissions::CREDENTIAL_MANAGEMENT,
                None,
            )?;
            stored = stored_keys(global, ctap, cm_token, &rp_id)?;
        }
        let token = token_with_pin(
            global,
            ctap,
            &args.auth.protocol,
            &pin_value,
            Permissions::GET_ASSERTION,
            Some(&rp_id),
        )?;
        token.authorize_get_assertion(&mut request);
        required.user_verification = true;
    }
    let mut interaction = Interaction::new(global.json);
    let situation = Situation::new(global, Doing::GetAssertion)
        .for_rp(&rp_id)
        .with_info(ctap.info());
    let assertions = ctap
        .get_assertions(&request, interaction.options())
        .map_err(|e| interaction.failure(global, &situation, e))?;
    let mut results = Vec::new();
    let mut failed = false;
    for assertion in &assertions {
        let id = assertion
            .credential()
            .map(|c| c.id.clone())
            .unwrap_or_default();
        let key = given_key.clone().or_else(|| {
            stored
                .iter()
                .find(|(k, _)| *k == id)
                .map(|(_, v)| v.clone())
        });
        let verdict =
            key.map(|key| assertion.verify_with(&rp_id, &client_data_hash, &key, required));
        failed |= matches!(verdict, Some(Err(_)));
        results.push((assertion, id, verdict));
    }
    if args.fido2_tools {
        use crate::output::base64;
        for (assertion, _, _) in &results {
            println!("{}", base64(&client_data_hash));
            println!("{rp_id}");
            println!(
                "{}",
                fido2_tools::authdata_base64(&assertion.response.auth_data)
            );
            println!("{}", base64(&assertion.response.signature));
            if allow.is_empty() {
                let user_id = assertion.user().map(|user| user.id.as_slice());
                println!("{}", base64(user_id.unwrap_or_default()));
            }
            if let Some(shared) = &hmac {
                let secret = hmac_secret_output(shared, assertion, hmac_salt.as_ref())?;
                println!("{}", base64(&secret));
            }
        }
    } else if global.json {
        let items: Vec<Json> = results
            .iter()
            .map(|(assertion, id, verdict)| {
                json!({
                    "credential_id": hex(id),
                    "sign_count": assertion.auth_data.sign_count,
                    "user": user_json(assertion.user()),
                    "user_present": assertion.auth_data.flags.contains(Flags::UP),
                    "extensions": extensions_json(assertion.auth_data.extensions.as_ref()),
                    "large_blob_key": assertion.response.large_blob_key.as_deref().map(hex),
                    "user_verified": assertion.auth_data.flags.contains(Flags::UV),
                    "verified": verdict.as_ref().map(Result::is_ok),
                    "error": match verdict {
                        Some(Err(error)) => Some(error.to_string()),
                        Some(Ok(())) => None,
                        None => Some("no public key to verify with (give --public-key)".to_owned()),
                    },
                })
            })
            .collect();
        print_json(&json!({
            "rp": rp_id,
            "client_data_hash": hex(&client_data_hash),
            "assertions": items,
        }));
    } else {
        for (n, (assertion, id, verdict)) in results.iter().enumerate() {
            if n > 0 {
                println!();
            }
            println!("credential id     {}", hex(id));
            println!("counter           {}", assertion.auth_data.sign_count);
            if let Some(user) = assertion.user() {
                println!(
                    "user              {} (id {})",
                    user.name.as_deref().map_or_else(|| "-".to_owned(), escape),
                    hex(&user.id)
                );
            }
            println!(
                "user present      {}",
                assertion.auth_data.flags.contains(Flags::UP)
            );
            if let Some(extensions) = &assertion.auth_data.extensions {
                println!("extensions        {}", extensions_json(Some(extensions)));
            }
            if let Some(key) = &assertion.response.large_blob_key {
                println!("large blob key    {}", hex(key));
            }
            println!(
                "user verified     {}",
                assertion.auth_data.flags.contains(Flags::UV)
            );
            match verdict {
                Some(Ok(())) => println!("signature         verified"),
                Some(Err(error)) => println!("signature         NOT verified: {error}"),
                None => {
                    println!("signature         not checked (no public key: give --public-key)")
                }
            }
        }
    }
    if failed {
        return Err(Failure::new("a signature did not verify"));
    }
    Ok(())
}

/// The hmac-secret extension's input for `salt` (CTAP 2.1 §12.5 getAssertion: keyAgreement
/// 1, saltEnc 2, saltAuth 3, pinUvAuthProtocol 4), pushed onto `extensions`; the shared
/// secret that decrypts the output is returned. The key agreement is a getKeyAgreement
/// of its own (clientPIN §6.5.4), with `--pin-protocol`'s protocol or the key's.
fn hmac_secret_input(
    ctap: &mut Ctap2<Device>,
    auth: &PinArgs,
    salt: &[u8],
    out: &mut Vec<(String, Value)>,
) -> Result<SharedSecret, Failure> {
    require_extension(ctap.info(), "hmac-secret")?;
    let (key_agreement, shared) = client_pin(ctap, &auth.protocol)?
        .shared_secret()
        .map_err(error::ctap2)?;
    let input = extensions::hmac_secret_input(&key_agreement, &shared, salt)
        .map_err(|e| Failure::new(format!("cannot make the hmac-secret input: {e}")))?;
    out.push(("hmac-secret".to_owned(), input));
    Ok(shared)
}

/// The secret of one assertion's hmac-secret output (CTAP 2.1 §12.5: the output,
/// decrypted with the shared secret, is 32 bytes per salt block), as one byte string.
fn hmac_secret_output(
    shared: &SharedSecret,
    assertion: &client::Assertion,
    salt: Option<&Zeroizing<Vec<u8>>>,
) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let two = salt.is_some_and(|salt| salt.len() == 64);
    let Some((first, second)) = extensions::hmac_secret_output(shared, &assertion.auth_data, two)
        .map_err(|e| Failure::new(e.to_string()))?
    else {
        return Err(Failure::new(
            "the key returned no hmac-secret output (was the credential made with \
             hmac-secret? `ctap cred make --hmac-secret`)",
        ));
    };
    let mut secret = Zeroizing::new(first.as_bytes().to_vec());
    secret.extend_from_slice(second.as_ref().map_or(&[][..], |s| s.as_bytes()));
    Ok(secret)
}

/// The public keys of `rp_id`'s discoverable credentials (none if it has none).
fn stored_keys(
    global: &Global,
    ctap: &mut Ctap2<Device>,
    token: PinToken,
    rp_id: &str,
) -> Result<Vec<(Vec<u8>, CoseKey)>, Failure> {
    let situation = Situation::new(global, Doing::CredentialManagement);
    let failed = |error| error::ctap2_in(&situation, error);
    let mut cm = CredentialManagement::new(ctap, token).map_err(failed)?;
    let rps = cm.enumerate_rps().map_err(failed)?;
    let Some(rp) = rps.iter().find(|rp| rp.rp.id == rp_id) else {
        return Ok(Vec::new());
    };
    let creds = cm.enumerate_creds(&rp.rp_id_hash).map_err(failed)?;
    Ok(creds
        .into_iter()
        .map(|c| (c.credential_id.id, c.public_key))
        .collect())
}

/// Whether this getAssertion needs the PIN, from getInfo and the request: with alwaysUv
/// always (CTAP 2.1 §6.2.2 step 6); with `--uv` always; with a PIN set and no
/// `--cred-id`, yes: a discoverable credential protected by credProtect level 2 is only
/// found with user verification (CTAP 2.1 §12.1), and the PIN also reads the public
/// keys to verify with. With an allow list, or `--silent` (up=false, no user
/// verification), the PIN is used only if given, and never with `--no-pin`.
fn pin_use(info: &Info, args: &CredAssertArgs, discoverable: bool) -> PinUse {
    let pin_set = info.option("clientPin") == Some(true);
    let always_uv = info.option("alwaysUv") == Some(true);
    if args.no_pin || args.silent || !pin_set {
        PinUse::Never
    } else if args.uv || always_uv || discoverable {
        PinUse::Needed
    } else {
        PinUse::IfGiven
    }
}
