//! CTAP2 operation benches (issues 23 and 27): what a test suite waits on.
//!
//! Group `ctap2`, in process (`ctap2_client::Ctap2` over `CtapHidDevice` over the
//! in-process `VirtualConnection`, touches approved at once), for each credential
//! algorithm the software authenticator makes (`<alg>` as `Algorithms::name` spells it):
//! - `make_credential/<alg>`: authenticatorMakeCredential, a new non-discoverable
//!   credential with packed self attestation (the authenticator's default), client side
//!   included (request encoding, answer decoding); RS256 generates an RSA-2048 key each
//!   time, as every new credential needs one;
//! - `get_assertion/<alg>`: authenticatorGetAssertion with a one-entry allowList;
//! - `register_authenticate/<alg>`: one of each, as the figure counts them.
//!
//! and for the PIN/UV auth token path (protocol two):
//! - `pin_token/in_process`: `ClientPin::get_pin_token` against the authenticator
//!   (getKeyAgreement, then getPinUvAuthTokenUsingPinWithPermissions);
//! - `pin_token/client_crypto`: the client's own CPU for one token: its key pair (one
//!   base-point multiplication), ECDH with the authenticator's key (one variable-base
//!   multiplication), the KDF, encrypting the PIN hash, decrypting the token, through
//!   `ctap2_client::encapsulate` as `ClientPin` calls it (ring, the default). This is
//!   what `benches/interop/python_fido2_pin_token.py` times for python-fido2 (its
//!   `PinProtocolV2`), so the two divide;
//! - `pin_token/client_crypto_p256`: the same through p256 (the client without its
//!   `ring` feature, or with a randomness source other than the operating system's).
//!
//! Run: `cargo bench -p ctap-benches --bench ctap2`, or `cargo xtask bench` (which
//! writes the table into benches/RESULTS.md).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ctap_device::{CallOptions, CtapHidDevice};
use ctap_virtual::{Algorithms, Config, VirtualAuthenticator, VirtualConnection};
use ctap2_client::proto::{Algorithm, Permissions, PinProtocol, RpEntity, UserEntity};
use ctap2_client::{ClientPin, Ctap2, Randomness, get_assertion_request, make_credential_request};
use ctap2_proto::KeyAgreementKey;

const RP: &str = "example.com";

fn client(
    config: Config,
) -> (
    VirtualAuthenticator,
    Ctap2<CtapHidDevice<VirtualConnection>>,
) {
    let authenticator = VirtualAuthenticator::new(config);
    let device = authenticator
        .open_device()
        .unwrap_or_else(|e| panic!("INIT: {e}"));
    let ctap = Ctap2::new(device).unwrap_or_else(|e| panic!("getInfo: {e}"));
    (authenticator, ctap)
}

fn rp() -> RpEntity {
    RpEntity {
        icon: None,
        id: RP.into(),
        name: None,
    }
}

fn user() -> UserEntity {
    UserEntity {
        icon: None,
        id: vec![1; 16],
        name: Some("user".into()),
        display_name: None,
    }
}

fn operations(c: &mut Criterion) {
    let mut group = c.benchmark_group("ctap2");
    for &alg in Algorithms::ALL.as_slice() {
        let name = Algorithms::name(alg).unwrap_or("unknown");
        // RSA key generation (~0.1 s) makes RS256's makeCredential 1000x the others:
        // fewer, longer samples.
        if alg == Algorithm::RS256 {
            group.sample_size(10);
        } else {
            group.sample_size(50);
        }
        let (_authenticator, mut ctap) = client(Config::default());
        let make = make_credential_request([1; 32], rp(), user(), &[alg]);
        let made = ctap
            .make_credential(&make, CallOptions::default())
            .unwrap_or_else(|e| panic!("{name}: makeCredential: {e}"));
        let id = made
            .credential()
            .map(|c| c.credential_id.clone())
            .unwrap_or_default();
        let assert = get_assertion_request(RP, [2; 32], std::slice::from_ref(&id));
        group.bench_function(BenchmarkId::new("make_credential", name), |b| {
            b.iter(|| {
                black_box(
                    ctap.make_credential(black_box(&make), CallOptions::default())
                        .unwrap_or_else(|e| panic!("{name}: {e}")),
                )
            });
        });
        group.bench_function(BenchmarkId::new("get_assertion", name), |b| {
            b.iter(|| {
                black_box(
                    ctap.get_assertion(black_box(&assert), CallOptions::default())
                        .unwrap_or_else(|e| panic!("{name}: {e}")),
                )
            });
        });
        if alg == Algorithm::ES256 || alg == Algorithm::EDDSA {
            group.bench_function(BenchmarkId::new("register_authenticate", name), |b| {
                b.iter(|| {
                    let made = ctap
                        .make_credential(black_box(&make), CallOptions::default())
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                    let id = made
                        .credential()
                        .map(|c| c.credential_id.clone())
                        .unwrap_or_default();
                    let assert = get_assertion_request(RP, [2; 32], &[id]);
                    black_box(
                        ctap.get_assertion(&assert, CallOptions::default())
                            .unwrap_or_else(|e| panic!("{name}: {e}")),
                    )
                });
            });
        }
    }
    group.sample_size(50);

    let (_authenticator, mut ctap) = client(Config::default());
    ClientPin::with_protocol(&mut ctap, PinProtocol::Two)
        .set_pin("12345678")
        .unwrap_or_else(|e| panic!("setPIN: {e}"));
    group.bench_function(BenchmarkId::new("pin_token", "in_process"), |b| {
        b.iter(|| {
            black_box(
                ClientPin::with_protocol(&mut ctap, PinProtocol::Two)
                    .get_pin_token("12345678", Permissions(0x03), Some(RP))
                    .unwrap_or_else(|e| panic!("token: {e}")),
            )
        });
    });

    // The client's crypto for one token, as ClientPin::get_pin_token does it.
    let peer = KeyAgreementKey::from_scalar(&[0x11; 32])
        .unwrap_or_else(|| panic!("fixed scalar"))
        .public_key();
    let pin_hash = ctap2_proto::pin::pin_hash("12345678");
    let mut rng = Counter(0);
    let token_enc = {
        let platform = KeyAgreementKey::from_scalar(&[0x22; 32]).unwrap_or_else(|| panic!());
        let shared = platform
            .decapsulate(PinProtocol::Two, &peer)
            .unwrap_or_else(|e| panic!("{e}"));
        shared
            .encrypt(&[0x33; 32], &mut rng)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    // The key agreement as the client does it: ring with the operating system's
    // randomness (the default), p256 with any other source (the path without ring).
    for (name, through_p256) in [("client_crypto", false), ("client_crypto_p256", true)] {
        let mut system = ctap2_client::SystemRandom;
        let mut other = ThroughP256;
        let source: &mut dyn Randomness = if through_p256 {
            &mut other
        } else {
            &mut system
        };
        group.bench_function(BenchmarkId::new("pin_token", name), |b| {
            b.iter(|| {
                // A new platform key each time, as the client makes one per token.
                let (key_agreement, shared) =
                    ctap2_client::encapsulate(PinProtocol::Two, black_box(&peer), &mut *source)
                        .unwrap_or_else(|e| panic!("{e}"));
                let pin_hash_enc = shared
                    .encrypt(&pin_hash, &mut rng)
                    .unwrap_or_else(|e| panic!("{e}"));
                let token = shared
                    .decrypt(black_box(&token_enc))
                    .unwrap_or_else(|e| panic!("{e}"));
                black_box((key_agreement, pin_hash_enc, token))
            });
        });
    }
    group.finish();
}

/// The operating system's generator, not saying so: `encapsulate` takes p256.
struct ThroughP256;

impl Randomness for ThroughP256 {
    fn fill(&mut self, out: &mut [u8]) -> ctap2_client::Result<()> {
        ctap2_client::SystemRandom.fill(out)
    }
}

/// A deterministic generator for the protocol-two IVs of the client-crypto bench (the
/// IV's randomness is not what is measured).
struct Counter(u64);

impl rand_core::TryRng for Counter {
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

impl rand_core::TryCryptoRng for Counter {}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = operations
}
criterion_main!(benches);
