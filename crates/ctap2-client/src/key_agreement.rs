//! The platform's half of the PIN/UV auth protocols' key agreement: CTAP 2.1 §6.5.6
//! `encapsulate(peerCoseKey)` (protocol one; protocol two, §6.5.7, inherits it and
//! differs only in `kdf`). A fresh P-256 key pair per shared secret, as python-fido2's
//! `_get_shared_secret` and libfido2 make one, then `ecdh`, then the protocol's `kdf`
//! (`ctap2_proto`'s, shared with the authenticator).
//!
//! Two ways to the same bytes:
//! - with the `ring` feature (on by default) and the operating system's randomness
//!   ([`Randomness::is_operating_system`]): `ring`'s one-shot ECDH, whose P-256 is
//!   assembly on x86_64 and aarch64 (a token's crypto ~6x less CPU than with p256
//!   0.14 here; figures in benches/RESULTS.md). ring draws its key from the operating
//!   system itself: it takes no other source;
//! - otherwise p256 (pure Rust, as the authenticator side): the scalar is drawn from the
//!   client's [`Randomness`], so a replaced source (known-answer tests) is honoured.

use ctap2_proto::{CoseKey, KeyAgreementKey, PinProtocol, SharedSecret};
use zeroize::Zeroizing;

use crate::rng::Randomness;
use crate::{Error, Result};

/// The authenticator's key-agreement key was refused (CTAP 2.1 §6.5.6 `ecdh` step 1:
/// "If unsuccessful, or if the resulting point is not on the curve, return error").
/// The p256 path's errors (`CoseKey::to_p256`) say the same.
#[cfg(feature = "ring")]
fn refused(what: &'static str) -> Error {
    Error::response("keyAgreement")(ctap2_proto::Error::InvalidParameter(what))
}

/// CTAP 2.1 §6.5.6 `encapsulate(peerCoseKey)` for `protocol` with the authenticator's
/// key `peer` (getKeyAgreement's answer): the key to send as `keyAgreement` and the
/// shared secret. A new platform key pair each call, drawn as the module text says.
///
/// # Errors
/// [`Error::InvalidResponse`] (`keyAgreement`) when `peer` is not a P-256 key or its
/// point is not on the curve; [`Error::Random`] when the randomness fails.
pub fn encapsulate(
    protocol: PinProtocol,
    peer: &CoseKey,
    rng: &mut dyn Randomness,
) -> Result<(CoseKey, SharedSecret)> {
    #[cfg(feature = "ring")]
    if rng.is_operating_system() {
        return with_ring(protocol, peer);
    }
    with_p256(protocol, peer, rng)
}

/// `encapsulate` through p256: the platform scalar from `rng` (retried in the ~2^-32
/// case that it is not below the group order), so a failing source is an error, not a
/// panic.
fn with_p256(
    protocol: PinProtocol,
    peer: &CoseKey,
    rng: &mut dyn Randomness,
) -> Result<(CoseKey, SharedSecret)> {
    let platform = (0..8)
        .find_map(|_| {
            let mut scalar = Zeroizing::new([0u8; 32]);
            match rng.fill(scalar.as_mut_slice()) {
                Ok(()) => KeyAgreementKey::from_scalar(&scalar).map(Ok),
                Err(error) => Some(Err(error)),
            }
        })
        .ok_or_else(|| Error::Random("no valid P-256 scalar in 8 draws".into()))??;
    // §6.5.6 `ecdh` steps 1-4 (`decapsulate` is that computation with our key).
    let shared = platform
        .decapsulate(protocol, peer)
        .map_err(Error::response("keyAgreement"))?;
    // §6.5.6 `encapsulate` step 2: (getPublicKey(), sharedSecret).
    Ok((platform.public_key(), shared))
}

/// `encapsulate` through ring's ephemeral ECDH (`ring::agreement`).
#[cfg(feature = "ring")]
fn with_ring(protocol: PinProtocol, peer: &CoseKey) -> Result<(CoseKey, SharedSecret)> {
    use ring::agreement::{self, ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey};

    // §6.5.6 `ecdh` step 1: the COSE key as a P-256 point (uncompressed SEC1, which
    // ring parses and checks: coordinates below p, on the curve).
    let (CoseKey::EcdhEsHkdf256 { x, y } | CoseKey::Es256 { x, y }) = peer else {
        return Err(refused("not a P-256 key"));
    };
    let mut point = [0u8; 65];
    point[0] = 0x04;
    point[1..33].copy_from_slice(x);
    point[33..].copy_from_slice(y);
    let random = ring::rand::SystemRandom::new();
    let secret = EphemeralPrivateKey::generate(&ECDH_P256, &random).map_err(|_| {
        Error::Random("the operating system's generator failed (ring key pair)".into())
    })?;
    // ring's public key is 0x04 || x || y (65 bytes for P-256).
    let public = secret
        .compute_public_key()
        .map_err(|_| Error::Random("ring could not compute the platform's public key".into()))?;
    let (Some(px), Some(py)) = (public.as_ref().get(1..33), public.as_ref().get(33..65)) else {
        return Err(Error::Random(
            "ring's platform public key is not 65 bytes".into(),
        ));
    };
    let mut key = CoseKey::EcdhEsHkdf256 {
        x: [0; 32],
        y: [0; 32],
    };
    if let CoseKey::EcdhEsHkdf256 { x, y } = &mut key {
        x.copy_from_slice(px);
        y.copy_from_slice(py);
    }
    // Steps 2-4: the shared point xY, Z = its x coordinate (32 bytes, big-endian, which
    // is what ring hands the closure), kdf(Z). ring fails only when the peer's point
    // does not parse or is not on the curve.
    let shared =
        agreement::agree_ephemeral(secret, &UnparsedPublicKey::new(&ECDH_P256, point), |z| {
            let z = Zeroizing::new(<[u8; 32]>::try_from(z).ok()?);
            Some(protocol.kdf(&z))
        })
        .map_err(|_| refused("point not on P-256"))?
        .ok_or_else(|| Error::Random("ring's shared x coordinate is not 32 bytes".into()))?;
    Ok((key, shared))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SystemRandom;

    /// The operating system's generator, not saying so: `encapsulate` takes p256.
    struct NotOperatingSystem;

    impl Randomness for NotOperatingSystem {
        fn fill(&mut self, out: &mut [u8]) -> Result<()> {
            SystemRandom.fill(out)
        }
    }

    /// Says it is the operating system's generator but has nothing to give.
    struct OperatingSystemEmpty;

    impl Randomness for OperatingSystemEmpty {
        fn fill(&mut self, _: &mut [u8]) -> Result<()> {
            Err(Error::Random("nothing to give".into()))
        }

        fn is_operating_system(&self) -> bool {
            true
        }
    }

    fn authenticator() -> KeyAgreementKey {
        KeyAgreementKey::from_scalar(&[0x5a; 32]).unwrap()
    }

    /// Both paths, for both protocols: the authenticator's `decapsulate` (§6.5.6, the
    /// p256 code the software authenticator runs) of the key we send gives the shared
    /// secret we keep.
    #[test]
    fn both_paths_agree_with_the_authenticator() {
        let device = authenticator();
        for protocol in [PinProtocol::One, PinProtocol::Two] {
            let sources: [&mut dyn Randomness; 2] = [&mut SystemRandom, &mut NotOperatingSystem];
            for rng in sources {
                let (ours, shared) = encapsulate(protocol, &device.public_key(), rng).unwrap();
                assert!(matches!(ours, CoseKey::EcdhEsHkdf256 { .. }), "{ours:?}");
                let theirs = device.decapsulate(protocol, &ours).unwrap();
                assert_eq!(shared.as_bytes(), theirs.as_bytes(), "{protocol:?}");
                assert_eq!(shared.protocol(), protocol);
                assert_eq!(shared.as_bytes().len(), 32 * protocol.number() as usize);
            }
        }
    }

    /// Each call a new platform key (python-fido2 and libfido2 make one per shared
    /// secret), on both paths.
    #[test]
    fn a_new_platform_key_each_time() {
        let peer = authenticator().public_key();
        let sources: [&mut dyn Randomness; 2] = [&mut SystemRandom, &mut NotOperatingSystem];
        for rng in sources {
            let (a, _) = encapsulate(PinProtocol::Two, &peer, &mut *rng).unwrap();
            let (b, _) = encapsulate(PinProtocol::Two, &peer, rng).unwrap();
            assert_ne!(a, b);
        }
    }

    /// The operating system's source goes through ring, which draws its own key: a
    /// source that says it is the OS but gives nothing still makes a shared secret.
    /// Without the `ring` feature the scalar comes from that source and the call fails
    /// with its error.
    #[test]
    fn the_operating_system_source_takes_ring_when_built_with_it() {
        let peer = authenticator().public_key();
        let result = encapsulate(PinProtocol::Two, &peer, &mut OperatingSystemEmpty);
        if cfg!(feature = "ring") {
            let (ours, shared) = result.unwrap();
            let theirs = authenticator()
                .decapsulate(PinProtocol::Two, &ours)
                .unwrap();
            assert_eq!(shared.as_bytes(), theirs.as_bytes());
        } else {
            let error = result.unwrap_err();
            assert!(error.to_string().contains("nothing to give"), "{error}");
        }
    }

    /// §6.5.6 `ecdh` step 1: a key that is not on P-256 is an error naming what was
    /// wrong, on both paths, with the same text.
    #[test]
    fn a_bad_authenticator_key_is_refused_by_name_on_both_paths() {
        let good = match authenticator().public_key() {
            CoseKey::EcdhEsHkdf256 { x, y } => (x, y),
            other => panic!("{other:?}"),
        };
        let mut off_curve = good;
        off_curve.1[31] ^= 1;
        // p itself (coordinates must be below it) and the all-zero point.
        let p = [
            0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        let cases = [
            (
                CoseKey::EcdhEsHkdf256 {
                    x: off_curve.0,
                    y: off_curve.1,
                },
                "point not on P-256",
            ),
            (
                CoseKey::EcdhEsHkdf256 { x: p, y: good.1 },
                "point not on P-256",
            ),
            (
                CoseKey::EcdhEsHkdf256 {
                    x: [0; 32],
                    y: [0; 32],
                },
                "point not on P-256",
            ),
            (
                CoseKey::Es384 {
                    x: [1; 48],
                    y: [1; 48],
                },
                "not a P-256 key",
            ),
        ];
        for (peer, why) in cases {
            let sources: [&mut dyn Randomness; 2] = [&mut SystemRandom, &mut NotOperatingSystem];
            for rng in sources {
                let error = encapsulate(PinProtocol::Two, &peer, rng).unwrap_err();
                assert!(
                    matches!(
                        error,
                        Error::InvalidResponse {
                            command: "keyAgreement",
                            ..
                        }
                    ),
                    "{error:?}"
                );
                assert!(error.to_string().contains(why), "{peer:?}: {error}");
            }
        }
    }
}
