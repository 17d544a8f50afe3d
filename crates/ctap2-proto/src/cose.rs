//! COSE keys (RFC 9052/9053 as profiled by CTAP 2.1 §6.5.6 and WebAuthn §5.8.5): the
//! credential public keys ES256 (P-256) and EdDSA (Ed25519), and the P-256 key-agreement
//! key of the PIN/UV auth protocols. Signature verification for both algorithms.

use alloc::vec::Vec;

use p256::ecdsa::signature::Verifier as _;
use p256::elliptic_curve::sec1::{FromSec1Point as _, Sec1Point, ToSec1Point as _};

use crate::cbor::{Error, IntMap, MapBuilder, Value};

/// A COSE algorithm identifier (`alg`): an open newtype over the registry's integer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Algorithm(pub i32);

impl Algorithm {
    /// ECDSA with SHA-256 on P-256.
    pub const ES256: Self = Self(-7);
    /// EdDSA (CTAP: Ed25519).
    pub const EDDSA: Self = Self(-8);
    /// ECDH-ES + HKDF-256: the `alg` CTAP puts on its key-agreement key (§6.5.6: "although
    /// this is NOT the algorithm actually used").
    pub const ECDH_ES_HKDF_256: Self = Self(-25);
    /// RSASSA-PKCS1-v1_5 with SHA-256 (only named, not implemented).
    pub const RS256: Self = Self(-257);
}

/// COSE key type OKP.
const KTY_OKP: i128 = 1;
/// COSE key type EC2.
const KTY_EC2: i128 = 2;
/// COSE curve P-256.
const CRV_P256: i128 = 1;
/// COSE curve Ed25519.
const CRV_ED25519: i128 = 6;

/// A COSE public key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum CoseKey {
    /// EC2 / P-256 / ES256: a credential key.
    Es256 {
        /// The affine x coordinate.
        x: [u8; 32],
        /// The affine y coordinate.
        y: [u8; 32],
    },
    /// OKP / Ed25519 / EdDSA: a credential key.
    EdDsa {
        /// The public key.
        x: [u8; 32],
    },
    /// EC2 / P-256 / ECDH-ES+HKDF-256: the PIN/UV auth protocols' key-agreement key.
    EcdhEsHkdf256 {
        /// The affine x coordinate.
        x: [u8; 32],
        /// The affine y coordinate.
        y: [u8; 32],
    },
    /// Any other key, kept as its CBOR map.
    Other(Value),
}

impl CoseKey {
    /// The key's algorithm, if it has one.
    #[must_use]
    pub fn algorithm(&self) -> Option<Algorithm> {
        match self {
            Self::Es256 { .. } => Some(Algorithm::ES256),
            Self::EdDsa { .. } => Some(Algorithm::EDDSA),
            Self::EcdhEsHkdf256 { .. } => Some(Algorithm::ECDH_ES_HKDF_256),
            Self::Other(value) => {
                let mut map = IntMap::new(value.clone(), "COSE key").ok()?;
                map.take(3)?.to_num("alg").ok().map(Algorithm)
            }
        }
    }

    /// The COSE form of a P-256 public key with `alg` ES256.
    #[must_use]
    pub fn from_p256(key: &p256::PublicKey) -> Self {
        let (x, y) = p256_coordinates(key);
        Self::Es256 { x, y }
    }

    /// The P-256 public key of an EC2 key (ES256 or key agreement), checked to be on the
    /// curve.
    ///
    /// # Errors
    /// `InvalidParameter` when the key is not EC2 P-256 or the point is not on the curve.
    pub fn to_p256(&self) -> Result<p256::PublicKey, Error> {
        let (Self::Es256 { x, y } | Self::EcdhEsHkdf256 { x, y }) = self else {
            return Err(Error::InvalidParameter("not a P-256 key"));
        };
        let point = Sec1Point::<p256::NistP256>::from_affine_coordinates(x.into(), y.into(), false);
        Option::from(p256::PublicKey::from_sec1_point(&point))
            .ok_or(Error::InvalidParameter("point not on P-256"))
    }

    /// Verifies `signature` over `message` with this key: ES256 takes an ASN.1 DER
    /// signature (WebAuthn §6.5.5), EdDSA the 64-byte signature.
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Es256 { .. } => {
                let (Ok(key), Ok(signature)) = (
                    self.to_p256(),
                    p256::ecdsa::DerSignature::from_bytes(signature),
                ) else {
                    return false;
                };
                p256::ecdsa::VerifyingKey::from(key)
                    .verify(message, &signature)
                    .is_ok()
            }
            Self::EdDsa { x } => {
                let (Ok(key), Ok(signature)) = (
                    ed25519_dalek::VerifyingKey::from_bytes(x),
                    ed25519_dalek::Signature::from_slice(signature),
                ) else {
                    return false;
                };
                key.verify_strict(message, &signature).is_ok()
            }
            Self::EcdhEsHkdf256 { .. } | Self::Other(_) => false,
        }
    }
}

/// The affine coordinates of a P-256 public key.
pub(crate) fn p256_coordinates(key: &p256::PublicKey) -> ([u8; 32], [u8; 32]) {
    let point = key.to_sec1_point(false);
    let mut x = [0; 32];
    let mut y = [0; 32];
    if let (Some(px), Some(py)) = (point.x(), point.y()) {
        x.copy_from_slice(px);
        y.copy_from_slice(py);
    }
    (x, y)
}

impl crate::cbor::CborMessage for CoseKey {
    fn to_value(&self) -> Value {
        match self {
            Self::Es256 { x, y } | Self::EcdhEsHkdf256 { x, y } => {
                let alg = if matches!(self, Self::Es256 { .. }) {
                    Algorithm::ES256
                } else {
                    Algorithm::ECDH_ES_HKDF_256
                };
                MapBuilder::new()
                    .with(1, Value::Int(KTY_EC2))
                    .with(3, Value::int(alg.0))
                    .with(-1, Value::Int(CRV_P256))
                    .with(-2, Value::bytes(x))
                    .with(-3, Value::bytes(y))
                    .build()
            }
            Self::EdDsa { x } => MapBuilder::new()
                .with(1, Value::Int(KTY_OKP))
                .with(3, Value::int(Algorithm::EDDSA.0))
                .with(-1, Value::Int(CRV_ED25519))
                .with(-2, Value::bytes(x))
                .build(),
            Self::Other(value) => value.clone(),
        }
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let original = value.clone();
        let mut map = IntMap::new(value, "COSE key")?;
        let kty = map.require(1, "COSE key kty")?.as_int("COSE key kty")?;
        let alg = map.take(3).map(|a| a.as_int("COSE key alg")).transpose()?;
        let crv = map.take(-1).map(|c| c.as_int("COSE key crv")).transpose()?;
        let coordinate = |value: Option<Value>, what: &'static str| -> Result<[u8; 32], Error> {
            let bytes = value
                .ok_or(Error::MissingParameter(what))?
                .into_bytes(what)?;
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| Error::InvalidLength(what))
        };
        let es256 = i128::from(Algorithm::ES256.0);
        let eddsa = i128::from(Algorithm::EDDSA.0);
        let ecdh = i128::from(Algorithm::ECDH_ES_HKDF_256.0);
        match (kty, alg, crv) {
            (KTY_EC2, Some(alg), Some(CRV_P256)) if alg == es256 || alg == ecdh => {
                let x = coordinate(map.take(-2), "COSE key x")?;
                let y = coordinate(map.take(-3), "COSE key y")?;
                Ok(if alg == es256 {
                    Self::Es256 { x, y }
                } else {
                    Self::EcdhEsHkdf256 { x, y }
                })
            }
            (KTY_OKP, Some(alg), Some(CRV_ED25519)) if alg == eddsa => Ok(Self::EdDsa {
                x: coordinate(map.take(-2), "COSE key x")?,
            }),
            _ => Ok(Self::Other(original)),
        }
    }
}

/// The COSE algorithms this crate can verify.
pub const SUPPORTED_ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::EDDSA];

/// Signs `message` with ES256 and returns the DER signature.
#[must_use]
pub fn sign_es256(key: &p256::ecdsa::SigningKey, message: &[u8]) -> Vec<u8> {
    use p256::ecdsa::signature::Signer as _;
    let signature: p256::ecdsa::Signature = key.sign(message);
    signature.to_der().as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::CborMessage as _;

    #[test]
    fn es256_key_round_trips_and_verifies() {
        let signing = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let key = CoseKey::from_p256(&p256::PublicKey::from(signing.verifying_key()));
        let cbor = key.to_cbor();
        // {1: 2, 3: -7, -1: 1, -2: x, -3: y}: canonical order 1, 3, -1, -2, -3.
        assert_eq!(&cbor[..7], &[0xA5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01]);
        assert_eq!(CoseKey::from_cbor(&cbor).unwrap(), key);
        let signature = sign_es256(&signing, b"message");
        assert!(key.verify(b"message", &signature));
        assert!(!key.verify(b"massage", &signature));
        assert!(!key.verify(b"message", &signature[1..]));
    }

    #[test]
    fn eddsa_key_round_trips_and_verifies() {
        use ed25519_dalek::Signer as _;
        let signing = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let key = CoseKey::EdDsa {
            x: signing.verifying_key().to_bytes(),
        };
        let cbor = key.to_cbor();
        assert_eq!(&cbor[..7], &[0xA4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06]);
        assert_eq!(CoseKey::from_cbor(&cbor).unwrap(), key);
        let signature = signing.sign(b"message").to_bytes();
        assert!(key.verify(b"message", &signature));
        assert!(!key.verify(b"messagE", &signature));
    }

    #[test]
    fn off_curve_points_and_unknown_keys() {
        let key = CoseKey::EcdhEsHkdf256 {
            x: [1; 32],
            y: [2; 32],
        };
        assert_eq!(
            key.to_p256().unwrap_err().status(),
            ctap_types::StatusCode::INVALID_PARAMETER
        );
        let rsa = Value::Map(alloc::vec![
            (Value::Int(1), Value::Int(3)),
            (Value::Int(3), Value::Int(-257)),
        ]);
        let key = CoseKey::from_value(rsa.clone()).unwrap();
        assert_eq!(key, CoseKey::Other(rsa));
        assert_eq!(key.algorithm(), Some(Algorithm::RS256));
        assert!(!key.verify(b"m", b"s"));
    }
}
