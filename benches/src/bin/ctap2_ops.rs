//! Our side of issue 27's software-peer comparison: ES256 operations through
//! `ctap2_client::Ctap2` (CBOR, CTAPHID framing, the in-process transport) against the
//! in-process software authenticator, counted for a fixed time. `cargo xtask bench
//! --ctap2` alternates it with `benches/softtoken-peer` (webauthn-authenticator-rs's
//! SoftToken, which has no CBOR or CTAPHID layer) and divides.
//!
//! usage: ctap2_ops (register-authenticate | get-assertion) SECONDS
//!
//! Prints `ctap-virtual <op> <operations per second>`.

use std::time::{Duration, Instant};

use ctap_device::CallOptions;
use ctap_virtual::{Config, VirtualAuthenticator};
use ctap2_client::proto::{Algorithm, RpEntity, UserEntity};
use ctap2_client::{Ctap2, get_assertion_request, make_credential_request};

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
            eprintln!("usage: ctap2_ops (register-authenticate | get-assertion) SECONDS");
            std::process::exit(2);
        }
    };
    let authenticator = VirtualAuthenticator::new(Config::default());
    let device = authenticator
        .open_device()
        .unwrap_or_else(|e| panic!("INIT: {e}"));
    let mut ctap = Ctap2::new(device).unwrap_or_else(|e| panic!("getInfo: {e}"));
    let rp = RpEntity {
        id: "example.com".into(),
        name: Some("Example".into()),
    };
    let user = UserEntity {
        id: vec![1; 16],
        name: Some("user".into()),
        display_name: Some("user".into()),
    };
    let make = make_credential_request([7; 32], rp, user, &[Algorithm::ES256]);
    let register = |ctap: &mut Ctap2<_>| {
        let made = ctap
            .make_credential(&make, CallOptions::default())
            .unwrap_or_else(|e| panic!("makeCredential: {e}"));
        made.credential()
            .map(|c| c.credential_id.clone())
            .unwrap_or_default()
    };
    let first = register(&mut ctap);
    let budget = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < budget {
        let id = match op.as_str() {
            "register-authenticate" => register(&mut ctap),
            "get-assertion" => first.clone(),
            other => panic!("unknown operation {other}"),
        };
        let request = get_assertion_request("example.com", [7; 32], &[id]);
        std::hint::black_box(
            ctap.get_assertion(&request, CallOptions::default())
                .unwrap_or_else(|e| panic!("getAssertion: {e}")),
        );
        count += 1;
    }
    #[allow(clippy::cast_precision_loss)] // a count of operations, far below 2^52
    let per_second = count as f64 / started.elapsed().as_secs_f64();
    println!("ctap-virtual {op} {per_second:.1}");
}
