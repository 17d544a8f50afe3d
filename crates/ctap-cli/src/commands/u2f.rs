//! `ctap u2f register|authenticate`: CTAP1/U2F over CTAPHID_MSG (FIDO U2F Raw Message
//! Formats v1.2 §4 and §5; CTAP 2.1 §11.2.9.1.1), the jobs `fido2-cred -M -u` and
//! `fido2-assert -G -u` do, beyond raw APDUs.
//!
//! U2F has no keep-alive: a request that needs a touch is answered at once with
//! SW_CONDITIONS_NOT_SATISFIED and the host asks again until the user touches the key
//! (§4.3 and §5.3; python-fido2 and libfido2 poll the same way), here every
//! [`POLL_INTERVAL`] within `--timeout`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::{Args, Subcommand};
use ctap::ctap2::proto::CoseKey;
use ctap::ctap2::proto::cbor::CborMessage as _;
use ctap::device::CtapDevice as _;
use ctap::types::Command;
use serde_json::json;
use sha2::Digest as _;

use super::cred::{ClientDataArgs, check_rp, parse_id};
use crate::device::{self, Opened, on_interrupt};
use crate::error::{Failure, Outcome, explain, usage};
use crate::globals::Global;
use crate::output::{hex, parse_hex, print_json};

/// How often a request that waits for a touch is sent again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// `U2F_REGISTER`.
const INS_REGISTER: u8 = 0x01;
/// `U2F_AUTHENTICATE`.
const INS_AUTHENTICATE: u8 = 0x02;
/// AUTHENTICATE control byte: enforce user presence and sign.
const ENFORCE_USER_PRESENCE: u8 = 0x03;
/// AUTHENTICATE control byte: only check that the key handle is this key's.
const CHECK_ONLY: u8 = 0x07;
/// `SW_NO_ERROR`.
const SW_NO_ERROR: u16 = 0x9000;
/// `SW_CONDITIONS_NOT_SATISFIED`: a touch is needed (or, with check-only, the key
/// handle is this key's).
const SW_CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
/// `SW_WRONG_DATA`: not this key's key handle.
const SW_WRONG_DATA: u16 = 0x6A80;

/// `ctap u2f ...`
#[derive(Debug, Subcommand)]
pub(crate) enum U2fCommand {
    /// U2F_REGISTER: a new key handle and public key for an application (the attestation
    /// signature checked against the certificate's key).
    Register(RegisterArgs),
    /// U2F_AUTHENTICATE: sign with a key handle (and verify with --public-key).
    Authenticate(AuthenticateArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// The application (an RP ID, origin or AppID URL): its SHA-256 is the application
    /// parameter, so an RP ID here gives a credential CTAP2 `cred assert --rp` finds.
    #[arg(long, value_name = "ID")]
    rp: String,
    #[command(flatten)]
    client_data: ClientDataArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AuthenticateArgs {
    /// The application, as given to `u2f register`.
    #[arg(long, value_name = "ID")]
    rp: String,
    /// The key handle, hex (as `u2f register` prints it).
    #[arg(long, value_name = "HEX")]
    cred_id: String,
    /// The public key, hex of its COSE key (as `u2f register` prints it), to verify the
    /// signature with.
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
    /// Only check that the key handle is this key's (no touch, no signature).
    #[arg(long)]
    check_only: bool,
    #[command(flatten)]
    client_data: ClientDataArgs,
}

/// Runs `ctap u2f ...`.
pub(crate) fn run(global: &Global, command: &U2fCommand) -> Outcome {
    match command {
        U2fCommand::Register(args) => register(global, args),
        U2fCommand::Authenticate(args) => authenticate(global, args),
    }
}

fn register(global: &Global, args: &RegisterArgs) -> Outcome {
    check_rp(&args.rp)?;
    let challenge = args.client_data.hash()?;
    let application: [u8; 32] = sha2::Sha256::digest(args.rp.as_bytes()).into();
    let data = [challenge.as_slice(), &application].concat();
    let (sw, answer) = exchange(global, INS_REGISTER, 0, &data, true)?;
    if sw != SW_NO_ERROR {
        return Err(status_failure("U2F_REGISTER", sw));
    }
    let registration = Registration::parse(&answer).ok_or_else(|| {
        Failure::new(format!(
            "U2F_REGISTER: the answer is not a registration ({} bytes)",
            answer.len()
        ))
    })?;
    let public_key = CoseKey::Es256 {
        x: registration.x,
        y: registration.y,
    };
    // §4.3: the attestation signature is over 0x00, the application parameter, the
    // challenge parameter, the key handle and the public key, by the certificate's key.
    let signed = [
        &[0x00][..],
        &application,
        &challenge,
        registration.key_handle,
        &[0x04],
        &registration.x,
        &registration.y,
    ]
    .concat();
    let verified = certificate_key(registration.certificate)
        .map(|key| key.verify(&signed, registration.signature));
    if global.json {
        print_json(&json!({
            "rp": args.rp,
            "credential_id": hex(registration.key_handle),
            "public_key": hex(&public_key.to_cbor()),
            "certificate": hex(registration.certificate),
            "signature": hex(registration.signature),
            "client_data_hash": hex(&challenge),
            "verified": verified,
        }));
    } else {
        println!("credential id     {}", hex(registration.key_handle));
        println!("public key        {}", hex(&public_key.to_cbor()));
        println!("certificate       {}", hex(registration.certificate));
        match verified {
            Some(true) => println!("attestation       verified"),
            Some(false) => println!("attestation       NOT verified"),
            None => println!("attestation       not checked (the certificate's key is not P-256)"),
        }
    }
    if verified == Some(false) {
        return Err(Failure::new(
            "the registration's attestation signature does not verify",
        ));
    }
    Ok(())
}

/// The DER SubjectPublicKeyInfo of a P-256 key (id-ecPublicKey, prime256v1, RFC 5480):
/// the attestation key of a U2F certificate is found by it.
const P256_SPKI: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The P-256 key in an attestation certificate (the uncompressed point after its
/// SubjectPublicKeyInfo header); `None` for another kind of key.
fn certificate_key(certificate: &[u8]) -> Option<CoseKey> {
    let at = certificate
        .windows(P256_SPKI.len())
        .position(|window| window == P256_SPKI)?;
    let point = certificate.get(at + P256_SPKI.len()..)?;
    let (&0x04, rest) = point.split_first()? else {
        return None;
    };
    let (x, rest) = rest.split_first_chunk::<32>()?;
    let (y, _) = rest.split_first_chunk::<32>()?;
    Some(CoseKey::Es256 { x: *x, y: *y })
}

fn authenticate(global: &Global, args: &AuthenticateArgs) -> Outcome {
    check_rp(&args.rp)?;
    let key_handle = parse_id("--cred-id", &args.cred_id)?;
    let key_handle_len = u8::try_from(key_handle.len()).map_err(|_| {
        usage(format!(
            "--cred-id is {} bytes; a U2F key handle is at most 255",
            key_handle.len()
        ))
    })?;
    let public_key = args
        .public_key
        .as_deref()
        .map(|text| {
            CoseKey::from_cbor(&parse_hex("--public-key", text)?)
                .map_err(|e| usage(format!("--public-key: not a COSE key: {e}")))
        })
        .transpose()?;
    let challenge = args.client_data.hash()?;
    let application: [u8; 32] = sha2::Sha256::digest(args.rp.as_bytes()).into();
    let data = [
        challenge.as_slice(),
        &application,
        &[key_handle_len],
        &key_handle,
    ]
    .concat();
    let control = if args.check_only {
        CHECK_ONLY
    } else {
        ENFORCE_USER_PRESENCE
    };
    let (sw, answer) = exchange(global, INS_AUTHENTICATE, control, &data, !args.check_only)?;
    if args.check_only {
        // §5.1: check-only answers CONDITIONS_NOT_SATISFIED for its own key handle.
        let known = match sw {
            SW_CONDITIONS_NOT_SATISFIED => true,
            SW_WRONG_DATA => false,
            other => return Err(status_failure("U2F_AUTHENTICATE (check-only)", other)),
        };
        if global.json {
            print_json(
                &json!({ "rp": args.rp, "credential_id": hex(&key_handle), "known": known }),
            );
        } else {
            println!(
                "key handle        {}",
                if known {
                    "this key's"
                } else {
                    "not this key's"
                }
            );
        }
        return if known {
            Ok(())
        } else {
            Err(Failure::new(
                "the key handle is not this key's (for this --rp)",
            ))
        };
    }
    if sw != SW_NO_ERROR {
        return Err(status_failure("U2F_AUTHENTICATE", sw));
    }
    // §5.4: user presence (1), counter (4, big-endian), signature.
    let Some((&presence, rest)) = answer.split_first() else {
        return Err(Failure::new("U2F_AUTHENTICATE: empty answer"));
    };
    let Some((counter, signature)) = rest.split_first_chunk::<4>() else {
        return Err(Failure::new("U2F_AUTHENTICATE: the answer is too short"));
    };
    // §5.4: the signature is over application, presence, counter, challenge.
    let signed = [&application[..], &[presence], counter, &challenge].concat();
    let verified = public_key.map(|key| key.verify(&signed, signature));
    let counter = u32::from_be_bytes(*counter);
    let present = presence & 0x01 != 0;
    if global.json {
        print_json(&json!({
            "rp": args.rp,
            "credential_id": hex(&key_handle),
            "user_present": present,
            "sign_count": counter,
            "signature": hex(signature),
            "client_data_hash": hex(&challenge),
            "verified": verified,
        }));
    } else {
        println!("counter           {counter}");
        println!("user present      {present}");
        match verified {
            Some(true) => println!("signature         verified"),
            Some(false) => println!("signature         NOT verified"),
            None => println!("signature         not checked (no public key: give --public-key)"),
        }
    }
    if verified == Some(false) {
        return Err(Failure::new("the signature did not verify"));
    }
    Ok(())
}

/// Sends one U2F request (an extended-length APDU, §3.1) over CTAPHID_MSG and returns
/// the status word and the data before it; with `touch`, a CONDITIONS_NOT_SATISFIED is
/// asked again every [`POLL_INTERVAL`] until the key is touched, `--timeout` ends or
/// Ctrl-C.
fn exchange(
    global: &Global,
    ins: u8,
    p1: u8,
    data: &[u8],
    touch: bool,
) -> Result<(u16, Vec<u8>), Failure> {
    let length = u16::try_from(data.len()).map_err(|_| usage("U2F request too long"))?;
    let [high, low] = length.to_be_bytes();
    let apdu = [
        &[0x00, ins, p1, 0x00, 0x00, high, low][..],
        data,
        &[0x00, 0x00],
    ]
    .concat();
    let Opened { mut device, .. } = device::open(global)?;
    let (interrupted, _) = on_interrupt()?;
    let mut asked = false;
    loop {
        let mut answer = device
            .call_with(Command::MSG, &apdu, device::options(global)?)
            .map_err(|e| explain(global, e, "U2F request (CTAPHID_MSG)", None))?;
        let Some(sw) = answer
            .len()
            .checked_sub(2)
            .map(|at| answer.split_off(at))
            .and_then(|sw| <[u8; 2]>::try_from(sw).ok())
        else {
            return Err(Failure::new("U2F: the answer has no status word"));
        };
        let sw = u16::from_be_bytes(sw);
        if !(touch && sw == SW_CONDITIONS_NOT_SATISFIED) {
            return Ok((sw, answer));
        }
        if !asked && !global.json {
            eprintln!("touch the key");
        }
        asked = true;
        if interrupted.load(Ordering::SeqCst) {
            return Err(Failure::with_status("cancelled", 130));
        }
        if device::time_left(global)? < POLL_INTERVAL {
            return Err(Failure::new(format!(
                "U2F: gave up after {} s (--timeout): the key was waiting for a touch and \
                 nobody touched it; raise --timeout to wait longer",
                device::call_timeout(global)?.as_secs_f64()
            )));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// A U2F status word other than success, named (U2F Raw Message Formats §3.3).
fn status_failure(request: &str, sw: u16) -> Failure {
    let name = match sw {
        SW_CONDITIONS_NOT_SATISFIED => "SW_CONDITIONS_NOT_SATISFIED",
        SW_WRONG_DATA => "SW_WRONG_DATA (not this key's key handle, or a wrong --rp)",
        0x6700 => "SW_WRONG_LENGTH",
        0x6E00 => "SW_CLA_NOT_SUPPORTED",
        0x6D00 => "SW_INS_NOT_SUPPORTED (the key has no U2F)",
        _ => "unknown status",
    };
    Failure::new(format!("{request}: status {sw:04X} {name}"))
}

/// A registration answer (§4.3): 0x05, the public key (65 bytes, uncompressed P-256),
/// the key handle (length-prefixed), the attestation certificate (X.509 DER), the
/// signature (the rest).
struct Registration<'a> {
    x: [u8; 32],
    y: [u8; 32],
    key_handle: &'a [u8],
    certificate: &'a [u8],
    signature: &'a [u8],
}

impl<'a> Registration<'a> {
    fn parse(answer: &'a [u8]) -> Option<Self> {
        let rest = answer.strip_prefix(&[0x05])?;
        let (point, rest) = rest.split_first_chunk::<65>()?;
        let (&0x04, coordinates) = point.split_first()? else {
            return None;
        };
        let (x, y) = coordinates.split_first_chunk::<32>()?;
        let (&length, rest) = rest.split_first()?;
        let (key_handle, rest) = rest.split_at_checked(usize::from(length))?;
        let certificate_length = der_length(rest)?;
        let (certificate, signature) = rest.split_at_checked(certificate_length)?;
        Some(Self {
            x: *x,
            y: <[u8; 32]>::try_from(y).ok()?,
            key_handle,
            certificate,
            signature,
        })
    }
}

/// The whole length (header included) of the DER SEQUENCE `bytes` starts with.
fn der_length(bytes: &[u8]) -> Option<usize> {
    let (&0x30, rest) = bytes.split_first()? else {
        return None;
    };
    let (&first, rest) = rest.split_first()?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
        return None;
    }
    let length = rest
        .get(..count)?
        .iter()
        .fold(0usize, |n, &b| (n << 8) | usize::from(b));
    2usize.checked_add(count)?.checked_add(length)
}
