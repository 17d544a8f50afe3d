//! Non-generic entry points to the crypto an authenticator runs for every
//! makeCredential and getAssertion: ES256 and ES384 signing and public-key derivation,
//! Ed25519 signing, HMAC-SHA-256 and SHA-256.
//!
//! Why they are here: Rust compiles a generic function (and an `#[inline]` one) in the
//! crate that uses it, with that crate's optimisation settings, and with fat LTO the
//! per-function size attributes stay. `ecdsa::hazmat::sign_prehashed_rfc6979::<NistP256,
//! _>`, `PublicKey::from_secret_scalar` (primeorder's generic point arithmetic) and
//! `Hmac<Sha256>` called from an authenticator crate built for size would be compiled for
//! size; called through these functions they are compiled here, with this crate's
//! settings (opt-level 3 in the workspace's release profile), whatever the caller's.
//! Each is `#[inline(never)]` so that the link-time inliner does not move its body into
//! a caller optimised for size either. No secret is copied out: the private keys are
//! borrowed.

use alloc::vec::Vec;

use hmac::{KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

use crate::cose::CoseKey;

type HmacSha256 = hmac::Hmac<Sha256>;

/// HMAC-SHA-256 (RFC 2104) of the concatenation of `parts` under `key`.
#[must_use]
#[inline(never)]
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return [0; 32]; // HMAC takes any key length: unreachable
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// SHA-256 of `data`.
#[must_use]
#[inline(never)]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// ES256: deterministic ECDSA (RFC 6979) over SHA-256(`message`) with the P-256 private
/// scalar, ASN.1 DER encoded (WebAuthn §6.5.5). The same signature as
/// [`sign_es256`](crate::cose::sign_es256) with a `SigningKey` of this scalar, without
/// computing the public key that `SigningKey` holds.
#[must_use]
#[inline(never)]
pub fn es256_sign(scalar: &p256::NonZeroScalar, message: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(message);
    let (signature, _) =
        ecdsa::hazmat::sign_prehashed_rfc6979::<p256::NistP256, Sha256>(scalar, &digest, &[]);
    signature.to_der().as_bytes().to_vec()
}

/// The ES256 public key (COSE, `alg` -7) of a P-256 private scalar: scalar times the
/// base point.
#[must_use]
#[inline(never)]
pub fn es256_public_key(scalar: &p256::NonZeroScalar) -> CoseKey {
    CoseKey::from_p256(&p256::PublicKey::from_secret_scalar(scalar))
}

/// ES384: deterministic ECDSA (RFC 6979) over SHA-384(`message`) with the P-384 private
/// scalar, ASN.1 DER encoded (WebAuthn §6.5.5).
#[must_use]
#[inline(never)]
pub fn es384_sign(scalar: &p384::NonZeroScalar, message: &[u8]) -> Vec<u8> {
    let digest = sha2::Sha384::digest(message);
    let (signature, _) =
        ecdsa::hazmat::sign_prehashed_rfc6979::<p384::NistP384, sha2::Sha384>(scalar, &digest, &[]);
    signature.to_der().as_bytes().to_vec()
}

/// The ES384 public key (COSE, `alg` -35) of a P-384 private scalar.
#[must_use]
#[inline(never)]
pub fn es384_public_key(scalar: &p384::NonZeroScalar) -> CoseKey {
    use p384::elliptic_curve::sec1::ToSec1Point as _;
    let point = p384::PublicKey::from_secret_scalar(scalar).to_sec1_point(false);
    let mut x = [0; 48];
    let mut y = [0; 48];
    if let (Some(px), Some(py)) = (point.x(), point.y()) {
        x.copy_from_slice(px);
        y.copy_from_slice(py);
    }
    CoseKey::Es384 { x, y }
}

/// Ed25519 (RFC 8032 §5.1.6) signature of `message`.
#[must_use]
#[inline(never)]
pub fn eddsa_sign(key: &ed25519_dalek::SigningKey, message: &[u8]) -> [u8; 64] {
    use ed25519_dalek::Signer as _;
    key.sign(message).to_bytes()
}

/// The Ed25519 key of a 32-byte secret seed (RFC 8032 §5.1.5: its public key is
/// computed here, a scalar multiplication).
#[must_use]
#[inline(never)]
pub fn eddsa_signing_key(seed: &[u8; 32]) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_sign_matches_signing_key_and_verifies() {
        let signing = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let scalar = p256::NonZeroScalar::from_repr([7; 32].into()).unwrap();
        let signature = es256_sign(&scalar, b"message");
        // RFC 6979: deterministic, the same as the SigningKey's signature.
        assert_eq!(signature, crate::cose::sign_es256(&signing, b"message"));
        let public = es256_public_key(&scalar);
        assert_eq!(
            public,
            CoseKey::from_p256(&p256::PublicKey::from(signing.verifying_key()))
        );
        assert!(public.verify(b"message", &signature));
        assert!(!public.verify(b"massage", &signature));
    }

    #[test]
    fn es384_sign_is_rfc6979_and_verifies() {
        use p384::ecdsa::signature::Signer as _;
        let signing = p384::ecdsa::SigningKey::from_slice(&[7; 48]).unwrap();
        let scalar = p384::NonZeroScalar::from_repr([7; 48].into()).unwrap();
        let signature = es384_sign(&scalar, b"message");
        let expected: p384::ecdsa::Signature = signing.sign(b"message");
        assert_eq!(signature, expected.to_der().as_bytes());
        let public = es384_public_key(&scalar);
        assert!(public.verify(b"message", &signature));
        assert!(!public.verify(b"massage", &signature));
        assert!(!es384_public_key(&-scalar).verify(b"message", &signature));
    }

    #[test]
    fn eddsa_signs_as_rfc8032_test_1() {
        // RFC 8032 §7.1, TEST 1 (the empty message).
        let seed: [u8; 32] =
            hex32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let key = eddsa_signing_key(&seed);
        assert_eq!(
            key.verifying_key().to_bytes(),
            hex32("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        );
        let signature = eddsa_sign(&key, b"");
        assert_eq!(
            signature[..32],
            hex32("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155")
        );
        assert_eq!(
            signature[32..],
            hex32("5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        );
    }

    #[test]
    fn hmac_and_sha256_known_answers() {
        // RFC 4231 test case 2, the message given in two parts.
        assert_eq!(
            hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]),
            hex32("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        // FIPS 180-2 "abc".
        assert_eq!(
            sha256(b"abc"),
            hex32("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    fn hex32(hex: &str) -> [u8; 32] {
        let mut out = [0; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }
}
