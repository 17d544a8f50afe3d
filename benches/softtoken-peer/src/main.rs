//! webauthn-authenticator-rs 0.6.2's `SoftToken` (in-process, OpenSSL) timed on the
//! operations `ctap-benches`' `ctap2_ops` binary times for our software authenticator,
//! so `cargo xtask bench --ctap2` can alternate the two processes and divide.
//!
//! usage: softtoken-peer (register-authenticate | get-assertion) SECONDS
//!
//! Prints `softtoken <op> <operations per second>`.
//!
//! SoftToken has no CBOR or CTAPHID layer: `perform_register` / `perform_auth` take the
//! WebAuthn options and a client data hash directly, so a SoftToken operation is its
//! P-256 arithmetic and its own serialisation. ES256, no attestation asked for
//! (SoftToken still signs its attestation with its batch key), no user verification.

use std::time::{Duration, Instant};

use webauthn_authenticator_rs::AuthenticatorBackendHashedClientData as _;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs_proto::{PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions};

fn creation() -> PublicKeyCredentialCreationOptions {
    serde_json::from_value(serde_json::json!({
        "rp": {"id": "example.com", "name": "Example"},
        "user": {"id": "AQEBAQEBAQEBAQEBAQEBAQ", "name": "user", "displayName": "user"},
        "challenge": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA",
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
        "attestation": "none"
    }))
    .unwrap_or_else(|e| panic!("creation options: {e}"))
}

fn request() -> PublicKeyCredentialRequestOptions {
    serde_json::from_value(serde_json::json!({
        "challenge": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA",
        "rpId": "example.com",
        "allowCredentials": [],
        "userVerification": "discouraged"
    }))
    .unwrap_or_else(|e| panic!("request options: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (op, seconds) = match args.as_slice() {
        [op, seconds] => (
            op.clone(),
            seconds
                .parse::<f64>()
                .unwrap_or_else(|e| panic!("SECONDS: {e}")),
        ),
        _ => {
            eprintln!("usage: softtoken-peer (register-authenticate | get-assertion) SECONDS");
            std::process::exit(2);
        }
    };
    let (mut token, _ca) = SoftToken::new(false).unwrap_or_else(|e| panic!("SoftToken: {e:?}"));
    let hash = vec![7u8; 32];
    let register = |token: &mut SoftToken| {
        token
            .perform_register(hash.clone(), creation(), 60_000)
            .unwrap_or_else(|e| panic!("register: {e:?}"))
    };
    let authenticate = |token: &mut SoftToken, id: &[u8]| {
        let mut options = request();
        options.allow_credentials = vec![webauthn_rs_proto::AllowCredentials {
            type_: "public-key".into(),
            id: id.to_vec().into(),
            transports: None,
        }];
        token
            .perform_auth(hash.clone(), options, 60_000)
            .unwrap_or_else(|e| panic!("authenticate: {e:?}"))
    };
    let first = register(&mut token);
    let id = first.raw_id.to_vec();
    let budget = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < budget {
        match op.as_str() {
            "register-authenticate" => {
                let made = register(&mut token);
                std::hint::black_box(authenticate(&mut token, &made.raw_id));
            }
            "get-assertion" => {
                std::hint::black_box(authenticate(&mut token, &id));
            }
            other => panic!("unknown operation {other}"),
        }
        count += 1;
    }
    let per_second = count as f64 / started.elapsed().as_secs_f64();
    println!("softtoken {op} {per_second:.1}");
}
