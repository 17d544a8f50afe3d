//! Our side of issue 27's software-peer comparison: ES256 operations through
//! `ctap2_client::Ctap2` (CBOR, CTAPHID framing, the in-process transport) against the
//! in-process software authenticator, counted for a fixed time. `cargo xtask bench
//! --ctap2` alternates it with `benches/softtoken-peer` (webauthn-authenticator-rs's
//! SoftToken, which has no CBOR or CTAPHID layer) and divides.
//!
//! usage: ctap2_ops (register-authenticate | get-assertion | pin-token-crypto |
//!                   pin-token-crypto-p256) SECONDS
//!
//! Prints `ctap-virtual <op> <operations per second>` (for the PIN-token operations,
//! per second of this process's CPU time, user + system). `pin-token-crypto` is the
//! client's own CPU for one PIN/UV auth token (protocol two: a key pair, ECDH with the
//! authenticator's key, the KDF, encrypting the PIN hash, decrypting the token), which
//! xtask alternates with python-fido2's (`benches/interop/python_fido2_pin_token.py
//! --seconds`); through ring (the default), or `-p256` through p256 (the client built
//! without its `ring` feature takes that path).

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
            eprintln!(
                "usage: ctap2_ops (register-authenticate | get-assertion | pin-token-crypto | pin-token-crypto-p256) SECONDS"
            );
            std::process::exit(2);
        }
    };
    if op == "pin-token-crypto" || op == "pin-token-crypto-p256" {
        pin_token_crypto(seconds, op == "pin-token-crypto-p256");
        return;
    }
    let authenticator = VirtualAuthenticator::new(Config::default());
    let device = authenticator
        .open_device()
        .unwrap_or_else(|e| panic!("INIT: {e}"));
    let mut ctap = Ctap2::new(device).unwrap_or_else(|e| panic!("getInfo: {e}"));
    let rp = RpEntity {
        icon: None,
        id: "example.com".into(),
        name: Some("Example".into()),
    };
    let user = UserEntity {
        icon: None,
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

/// The client's CPU per PIN token, as `ClientPin::get_pin_token` spends it (without the
/// messages): counted for `seconds`. The key agreement is `ctap2_client::encapsulate`
/// with the operating system's randomness (ring, as a host user gets it by default),
/// or with `through_p256` another source (p256, the path without the `ring` feature).
fn pin_token_crypto(seconds: f64, through_p256: bool) {
    use ctap2_client::proto::{KeyAgreementKey, PinProtocol};
    use ctap2_client::{Randomness, SystemRandom};
    let peer = KeyAgreementKey::from_scalar(&[0x11; 32])
        .unwrap_or_else(|| panic!("fixed scalar"))
        .public_key();
    let pin_hash = ctap2_client::proto::pin::pin_hash("12345678");
    let mut iv = IvSource(1);
    let token_enc = KeyAgreementKey::from_scalar(&[0x22; 32])
        .and_then(|key| key.decapsulate(PinProtocol::Two, &peer).ok())
        .and_then(|shared| shared.encrypt(&[0x33; 32], &mut iv).ok())
        .unwrap_or_else(|| panic!("token"));
    let mut system = SystemRandom;
    let mut other = ThroughP256;
    let rng: &mut dyn Randomness = if through_p256 {
        &mut other
    } else {
        &mut system
    };
    let budget = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let mut count = 0u64;
    while started.elapsed() < budget {
        // A new platform key each time, as the client makes one per token.
        let (key_agreement, shared) =
            ctap2_client::encapsulate(PinProtocol::Two, std::hint::black_box(&peer), &mut *rng)
                .unwrap_or_else(|e| panic!("{e}"));
        let pin_hash_enc = shared
            .encrypt(&pin_hash, &mut iv)
            .unwrap_or_else(|e| panic!("{e}"));
        let token = shared
            .decrypt(std::hint::black_box(&token_enc))
            .unwrap_or_else(|e| panic!("{e}"));
        std::hint::black_box((key_agreement, pin_hash_enc, token));
        count += 1;
    }
    // Per second of this process's CPU (user + system), not of the wall clock: on a
    // shared machine the wall clock counts the other processes' turns too.
    #[allow(clippy::cast_precision_loss)] // a count of operations, far below 2^52
    let per_second = count as f64 / (cpu_seconds() - cpu_started);
    let op = if through_p256 {
        "pin-token-crypto-p256"
    } else {
        "pin-token-crypto"
    };
    println!("ctap-virtual {op} {per_second:.1}");
}

/// CPU time (user + system) of this process so far, in seconds.
fn cpu_seconds() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_SELF).unwrap_or_else(|e| panic!("getrusage: {e}"));
    let seconds = |time: nix::sys::time::TimeVal| {
        // Whole seconds and microseconds of a process's CPU time: far inside f64.
        #[allow(clippy::cast_precision_loss)]
        let value = time.tv_sec() as f64 + time.tv_usec() as f64 / 1e6;
        value
    };
    seconds(usage.user_time()) + seconds(usage.system_time())
}

/// The operating system's generator, not saying so: `encapsulate` takes p256.
struct ThroughP256;

impl ctap2_client::Randomness for ThroughP256 {
    fn fill(&mut self, out: &mut [u8]) -> ctap2_client::Result<()> {
        ctap2_client::SystemRandom.fill(out)
    }
}

/// Protocol two's IVs (their randomness is not what is measured).
struct IvSource(u64);

impl rand_core::TryRng for IvSource {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            *byte = self.0.to_be_bytes()[0];
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for IvSource {}
