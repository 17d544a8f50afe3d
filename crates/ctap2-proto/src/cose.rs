//! COSE keys (RFC 9052/9053 as profiled by CTAP 2.1 §6.5.6 and WebAuthn §5.8.5): the
//! credential public keys ES256 (P-256), ES384 (P-384), ES512 (P-521), ES256K
//! (secp256k1, RFC 8812), EdDSA (Ed25519), RS256 (RSASSA-PKCS1-v1_5, RFC 8812) and
//! ML-DSA-44/65/87 (FIPS 204, the COSE "AKP" key type of draft-ietf-cose-dilithium, with
//! the ids python-fido2 2.2 uses), and the P-256 key-agreement key of the PIN/UV auth
//! protocols. Signature verification for every credential algorithm.
//!
//! | alg | id | kty | crv | signature |
//! |---|---|---|---|---|
//! | ES256 | -7 | EC2 (2) | P-256 (1) | ASN.1 DER (WebAuthn §6.5.5) |
//! | EdDSA | -8 | OKP (1) | Ed25519 (6) | 64 bytes |
//! | ES384 | -35 | EC2 | P-384 (2) | DER, SHA-384 |
//! | ES512 | -36 | EC2 | P-521 (3) | DER, SHA-512 |
//! | ES256K | -47 | EC2 | secp256k1 (8) | DER, SHA-256 |
//! | RS256 | -257 | RSA (3) | - (-1 n, -2 e) | PKCS#1 v1.5, SHA-256 |
//! | ML-DSA-44/65/87 | -48/-49/-50 | AKP (7) | - (-1 public key) | FIPS 204, empty context |

use alloc::vec::Vec;

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
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8812).
    pub const RS256: Self = Self(-257);
    /// ECDSA with SHA-384 on P-384.
    pub const ES384: Self = Self(-35);
    /// ECDSA with SHA-512 on P-521.
    pub const ES512: Self = Self(-36);
    /// ECDSA with SHA-256 on secp256k1 (RFC 8812).
    pub const ES256K: Self = Self(-47);
    /// ML-DSA-44 (FIPS 204), the id python-fido2 2.2 uses (draft-ietf-cose-dilithium).
    pub const ML_DSA_44: Self = Self(-48);
    /// ML-DSA-65.
    pub const ML_DSA_65: Self = Self(-49);
    /// ML-DSA-87.
    pub const ML_DSA_87: Self = Self(-50);

    /// The length of an ML-DSA public key of this algorithm (FIPS 204 Table 2), `None`
    /// for the others.
    #[must_use]
    pub const fn ml_dsa_public_key_len(self) -> Option<usize> {
        match self.0 {
            -48 => Some(1312),
            -49 => Some(1952),
            -50 => Some(2592),
            _ => None,
        }
    }
}

/// COSE key type OKP.
const KTY_OKP: i128 = 1;
/// COSE key type EC2.
const KTY_EC2: i128 = 2;
/// COSE curve P-256.
const CRV_P256: i128 = 1;
/// COSE curve Ed25519.
const CRV_ED25519: i128 = 6;
/// COSE key type RSA.
const KTY_RSA: i128 = 3;
/// COSE key type AKP (algorithm key pair: ML-DSA).
const KTY_AKP: i128 = 7;
/// COSE curve P-384.
const CRV_P384: i128 = 2;
/// COSE curve P-521.
const CRV_P521: i128 = 3;
/// COSE curve secp256k1 (RFC 8812).
const CRV_SECP256K1: i128 = 8;
/// The largest RSA modulus accepted: 4096 bits (what RSA keys of WebAuthn use, at most).
const MAX_RSA_MODULUS_LEN: usize = 512;
/// The largest RSA public exponent accepted (65537 is three bytes).
const MAX_RSA_EXPONENT_LEN: usize = 8;

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
    /// EC2 / P-384 / ES384.
    Es384 {
        /// The affine x coordinate.
        x: [u8; 48],
        /// The affine y coordinate.
        y: [u8; 48],
    },
    /// EC2 / P-521 / ES512.
    Es512 {
        /// The affine x coordinate (66 bytes, big-endian).
        x: [u8; 66],
        /// The affine y coordinate.
        y: [u8; 66],
    },
    /// EC2 / secp256k1 / ES256K.
    Es256K {
        /// The affine x coordinate.
        x: [u8; 32],
        /// The affine y coordinate.
        y: [u8; 32],
    },
    /// RSA / RS256.
    Rs256 {
        /// The modulus, big-endian (at most 512 bytes).
        n: Vec<u8>,
        /// The public exponent, big-endian.
        e: Vec<u8>,
    },
    /// AKP / ML-DSA-44, -65 or -87.
    MlDsa {
        /// Which of the three ([`Algorithm::ML_DSA_44`], `_65`, `_87`).
        alg: Algorithm,
        /// The encoded public key (FIPS 204 `pkEncode`: 1312, 1952 or 2592 bytes).
        public: Vec<u8>,
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
            Self::Es384 { .. } => Some(Algorithm::ES384),
            Self::Es512 { .. } => Some(Algorithm::ES512),
            Self::Es256K { .. } => Some(Algorithm::ES256K),
            Self::Rs256 { .. } => Some(Algorithm::RS256),
            Self::MlDsa { alg, .. } => Some(*alg),
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

    /// Verifies `signature` over `message` with this key: the ECDSA algorithms take an
    /// ASN.1 DER signature (WebAuthn §6.5.5), EdDSA its 64 bytes, RS256 the PKCS#1 v1.5
    /// signature (as long as the modulus), ML-DSA the FIPS 204 encoding (empty context).
    /// ES256K also accepts a high-S signature, as OpenSSL (and so python-fido2) does.
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Es256 { x, y } => {
                verify_ecdsa!(p256::NistP256, x, y, message, signature, Some)
            }
            Self::Es384 { x, y } => {
                verify_ecdsa!(p384::NistP384, x, y, message, signature, Some)
            }
            Self::Es512 { x, y } => {
                verify_ecdsa!(p521::NistP521, x, y, message, signature, Some)
            }
            Self::Es256K { x, y } => verify_ecdsa!(
                k256::Secp256k1,
                x,
                y,
                message,
                signature,
                |s: ecdsa::Signature<k256::Secp256k1>| Some(s.normalize_s())
            ),
            Self::EdDsa { x } => {
                let (Ok(key), Ok(signature)) = (
                    ed25519_dalek::VerifyingKey::from_bytes(x),
                    ed25519_dalek::Signature::from_slice(signature),
                ) else {
                    return false;
                };
                key.verify_strict(message, &signature).is_ok()
            }
            Self::Rs256 { n, e } => verify_rs256(n, e, message, signature),
            Self::MlDsa { alg, public } => verify_ml_dsa(*alg, public, message, signature),
            Self::EcdhEsHkdf256 { .. } | Self::Other(_) => false,
        }
    }
}

/// ECDSA verification on one curve: the point from its affine coordinates (checked to be
/// on the curve), the DER signature, the curve's hash (`DigestAlgorithm`). `$adjust` may
/// change the parsed signature (secp256k1: normalise S).
macro_rules! verify_ecdsa {
    ($curve:ty, $x:expr, $y:expr, $message:expr, $signature:expr, $adjust:expr) => {{
        use ecdsa::signature::Verifier as _;
        use p256::elliptic_curve::sec1::Sec1Point;
        let point =
            Sec1Point::<$curve>::from_affine_coordinates((&*$x).into(), (&*$y).into(), false);
        let key = ecdsa::VerifyingKey::<$curve>::from_sec1_point(&point).ok();
        let signature = ecdsa::der::Signature::<$curve>::from_bytes($signature)
            .ok()
            .and_then(|der| ecdsa::Signature::<$curve>::try_from(der).ok())
            .and_then($adjust);
        match (key, signature) {
            (Some(key), Some(signature)) => key.verify($message, &signature).is_ok(),
            _ => false,
        }
    }};
}
use verify_ecdsa;

/// RS256: RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §8.2.2).
fn verify_rs256(n: &[u8], e: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use sha2::Digest as _;
    let n = rsa::BoxedUint::from_be_slice_vartime(n);
    let e = rsa::BoxedUint::from_be_slice_vartime(e);
    let Ok(key) = rsa::PublicKey::new(n, e) else {
        return false;
    };
    let digest = sha2::Sha256::digest(message);
    key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, signature)
        .is_ok()
}

/// ML-DSA (FIPS 204 Algorithm 3 `ML-DSA.Verify`, empty context): the key and signature
/// must have their parameter set's exact lengths.
fn verify_ml_dsa(alg: Algorithm, public: &[u8], message: &[u8], signature: &[u8]) -> bool {
    fn verify<P: ml_dsa::MlDsaParams>(public: &[u8], message: &[u8], signature: &[u8]) -> bool {
        use ml_dsa::signature::Verifier as _;
        let (Ok(public), Ok(signature)) = (
            ml_dsa::EncodedVerifyingKey::<P>::try_from(public),
            ml_dsa::EncodedSignature::<P>::try_from(signature),
        ) else {
            return false;
        };
        let Some(signature) = ml_dsa::Signature::<P>::decode(&signature) else {
            return false;
        };
        ml_dsa::VerifyingKey::<P>::decode(&public)
            .verify(message, &signature)
            .is_ok()
    }
    match alg {
        Algorithm::ML_DSA_44 => verify::<ml_dsa::MlDsa44>(public, message, signature),
        Algorithm::ML_DSA_65 => verify::<ml_dsa::MlDsa65>(public, message, signature),
        Algorithm::ML_DSA_87 => verify::<ml_dsa::MlDsa87>(public, message, signature),
        _ => false,
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
            Self::Es384 { x, y } => ec2(Algorithm::ES384, CRV_P384, x, y),
            Self::Es512 { x, y } => ec2(Algorithm::ES512, CRV_P521, x, y),
            Self::Es256K { x, y } => ec2(Algorithm::ES256K, CRV_SECP256K1, x, y),
            Self::Rs256 { n, e } => MapBuilder::new()
                .with(1, Value::Int(KTY_RSA))
                .with(3, Value::int(Algorithm::RS256.0))
                .with(-1, Value::bytes(n))
                .with(-2, Value::bytes(e))
                .build(),
            Self::MlDsa { alg, public } => MapBuilder::new()
                .with(1, Value::Int(KTY_AKP))
                .with(3, Value::int(alg.0))
                .with(-1, Value::bytes(public))
                .build(),
            Self::Other(value) => value.clone(),
        }
    }

    fn from_value(value: Value) -> Result<Self, Error> {
        let original = value.clone();
        let mut map = IntMap::new(value, "COSE key")?;
        let kty = map.require(1, "COSE key kty")?.as_int("COSE key kty")?;
        let alg = map.take(3).map(|a| a.as_int("COSE key alg")).transpose()?;
        // -1 is the curve for EC2 and OKP keys, but RSA's n and AKP's public key.
        let crv = if kty == KTY_EC2 || kty == KTY_OKP {
            map.take(-1).map(|c| c.as_int("COSE key crv")).transpose()?
        } else {
            None
        };
        let coordinate = fixed::<32>;
        let alg = alg.and_then(|alg| i32::try_from(alg).ok()).map(Algorithm);
        match (kty, alg, crv) {
            (
                KTY_EC2,
                Some(alg @ (Algorithm::ES256 | Algorithm::ECDH_ES_HKDF_256)),
                Some(CRV_P256),
            ) => {
                let x = coordinate(map.take(-2), "COSE key x")?;
                let y = coordinate(map.take(-3), "COSE key y")?;
                Ok(if alg == Algorithm::ES256 {
                    Self::Es256 { x, y }
                } else {
                    Self::EcdhEsHkdf256 { x, y }
                })
            }
            (KTY_OKP, Some(Algorithm::EDDSA), Some(CRV_ED25519)) => Ok(Self::EdDsa {
                x: coordinate(map.take(-2), "COSE key x")?,
            }),
            (KTY_EC2, Some(Algorithm::ES256K), Some(CRV_SECP256K1)) => Ok(Self::Es256K {
                x: coordinate(map.take(-2), "COSE key x")?,
                y: coordinate(map.take(-3), "COSE key y")?,
            }),
            (KTY_EC2, Some(Algorithm::ES384), Some(CRV_P384)) => Ok(Self::Es384 {
                x: fixed(map.take(-2), "COSE key x")?,
                y: fixed(map.take(-3), "COSE key y")?,
            }),
            (KTY_EC2, Some(Algorithm::ES512), Some(CRV_P521)) => Ok(Self::Es512 {
                x: fixed(map.take(-2), "COSE key x")?,
                y: fixed(map.take(-3), "COSE key y")?,
            }),
            (KTY_RSA, Some(Algorithm::RS256), _) => {
                // RFC 8230 §4: -1 n, -2 e, both unsigned big-endian without leading zeros
                // (accepted with them: only the value matters).
                let n = map.require(-1, "COSE key n")?.into_bytes("COSE key n")?;
                let e = map.require(-2, "COSE key e")?.into_bytes("COSE key e")?;
                if n.is_empty() || n.len() > MAX_RSA_MODULUS_LEN {
                    return Err(Error::InvalidLength("COSE key n (1 to 512 bytes)"));
                }
                if e.is_empty() || e.len() > MAX_RSA_EXPONENT_LEN {
                    return Err(Error::InvalidLength("COSE key e (1 to 8 bytes)"));
                }
                Ok(Self::Rs256 { n, e })
            }
            (KTY_AKP, Some(alg), _) if alg.ml_dsa_public_key_len().is_some() => {
                let public = map
                    .require(-1, "COSE key pub")?
                    .into_bytes("COSE key pub")?;
                if Some(public.len()) != alg.ml_dsa_public_key_len() {
                    return Err(Error::InvalidLength("COSE key pub (ML-DSA public key)"));
                }
                Ok(Self::MlDsa { alg, public })
            }
            _ => Ok(Self::Other(original)),
        }
    }
}

/// An EC2 key's map (RFC 9053 §7.1.1).
fn ec2(alg: Algorithm, crv: i128, x: &[u8], y: &[u8]) -> Value {
    MapBuilder::new()
        .with(1, Value::Int(KTY_EC2))
        .with(3, Value::int(alg.0))
        .with(-1, Value::Int(crv))
        .with(-2, Value::bytes(x))
        .with(-3, Value::bytes(y))
        .build()
}

/// A byte string of exactly `N` bytes.
fn fixed<const N: usize>(value: Option<Value>, what: &'static str) -> Result<[u8; N], Error> {
    let bytes = value
        .ok_or(Error::MissingParameter(what))?
        .into_bytes(what)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| Error::InvalidLength(what))
}

/// The COSE algorithms this crate can verify.
pub const SUPPORTED_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::EDDSA,
    Algorithm::ES384,
    Algorithm::ES512,
    Algorithm::ES256K,
    Algorithm::RS256,
    Algorithm::ML_DSA_44,
    Algorithm::ML_DSA_65,
    Algorithm::ML_DSA_87,
];

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

    /// Round trip through CBOR, a good signature verifies, a changed message or
    /// signature does not.
    fn check(key: &CoseKey, header: &[u8], signature: &[u8]) {
        let cbor = key.to_cbor();
        assert_eq!(&cbor[..header.len()], header, "{key:?}");
        assert_eq!(&CoseKey::from_cbor(&cbor).unwrap(), key);
        assert!(key.verify(b"message", signature), "{:?}", key.algorithm());
        assert!(!key.verify(b"messagE", signature));
        let mut bad = signature.to_vec();
        if let Some(byte) = bad.get_mut(signature.len() / 2) {
            *byte ^= 0x10;
        }
        assert!(!key.verify(b"message", &bad));
        assert!(!key.verify(b"message", &[]));
    }

    #[test]
    fn ecdsa_keys_of_every_curve_round_trip_and_verify() {
        use ecdsa::signature::Signer as _;
        fn xy<const N: usize>(point: &[u8]) -> ([u8; N], [u8; N]) {
            (
                point[1..=N].try_into().unwrap(),
                point[N + 1..].try_into().unwrap(),
            )
        }
        // ES384: {1: 2, 3: -35 (0x38 0x22), -1: 2, ...}
        let key = p384::ecdsa::SigningKey::from_slice(&[3; 48]).unwrap();
        let (x, y) = xy(key.verifying_key().to_sec1_point(false).as_bytes());
        let signature: p384::ecdsa::DerSignature = key.sign(b"message");
        let header = [0xA5, 0x01, 0x02, 0x03, 0x38, 0x22, 0x20, 0x02];
        check(&CoseKey::Es384 { x, y }, &header, signature.as_bytes());
        // ES512: -36 (0x38 0x23), crv 3.
        let mut scalar = [5; 66];
        scalar[0] = 1;
        let key = p521::ecdsa::SigningKey::from_slice(&scalar).unwrap();
        let point = p521::ecdsa::VerifyingKey::from(&key).to_sec1_point(false);
        let (x, y) = xy(point.as_bytes());
        let signature: p521::ecdsa::DerSignature = key.sign(b"message");
        let header = [0xA5, 0x01, 0x02, 0x03, 0x38, 0x23, 0x20, 0x03];
        check(&CoseKey::Es512 { x, y }, &header, signature.as_bytes());
        // ES256K: -47 (0x38 0x2E), crv 8.
        let key = k256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap();
        let (x, y) = xy(key.verifying_key().to_sec1_point(false).as_bytes());
        let signature: k256::ecdsa::Signature = key.sign(b"message");
        let header = [0xA5, 0x01, 0x02, 0x03, 0x38, 0x2E, 0x20, 0x08];
        let es256k = CoseKey::Es256K { x, y };
        check(&es256k, &header, signature.to_der().as_bytes());
        // A high-S signature (what OpenSSL-based keys may send) still verifies.
        let (r, s) = signature.split_scalars();
        let high = k256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        assert!(es256k.verify(b"message", high.to_der().as_bytes()));
        // A point off the curve is no key.
        assert!(
            !CoseKey::Es384 {
                x: [1; 48],
                y: [2; 48]
            }
            .verify(b"message", &[0x30, 0])
        );
        // Wrong coordinate lengths are refused.
        let short = MapBuilder::new()
            .with(1, Value::Int(KTY_EC2))
            .with(3, Value::int(Algorithm::ES384.0))
            .with(-1, Value::Int(CRV_P384))
            .with(-2, Value::bytes(&[1; 32]))
            .with(-3, Value::bytes(&[1; 48]))
            .build();
        assert_eq!(
            CoseKey::from_value(short).unwrap_err().status(),
            ctap_types::StatusCode::INVALID_LENGTH
        );
    }

    #[test]
    fn rs256_keys_round_trip_and_verify() {
        use rsa::traits::PublicKeyParts as _;
        use sha2::Digest as _;
        // A fixed 1024-bit key generated from a counter RNG (smaller than the 2048 of
        // the authenticator, to keep the test quick: only the format matters here).
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
                for chunk in dst.chunks_mut(32) {
                    self.0 += 1;
                    let block = sha2::Sha256::digest(self.0.to_be_bytes());
                    chunk.copy_from_slice(&block[..chunk.len()]);
                }
                Ok(())
            }
        }
        impl rand_core::TryCryptoRng for Counter {}
        let private = rsa::PrivateKey::new(&mut Counter(0), 1024).unwrap();
        let key = CoseKey::Rs256 {
            n: private.n().to_be_bytes_trimmed_vartime().into_vec(),
            e: private.e().to_be_bytes_trimmed_vartime().into_vec(),
        };
        let digest = sha2::Sha256::digest(b"message");
        let signature = private
            .sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest)
            .unwrap();
        // {1: 3, 3: -257 (0x39 0x01 0x00), -1: n (bytes of 128: 0x58 0x80)}
        check(
            &key,
            &[0xA4, 0x01, 0x03, 0x03, 0x39, 0x01, 0x00, 0x20, 0x58, 0x80],
            &signature,
        );
        // Moduli over 4096 bits are refused before any arithmetic.
        let huge = MapBuilder::new()
            .with(1, Value::Int(KTY_RSA))
            .with(3, Value::int(Algorithm::RS256.0))
            .with(-1, Value::bytes(&[0xFF; 513]))
            .with(-2, Value::bytes(&[1, 0, 1]))
            .build();
        assert_eq!(
            CoseKey::from_value(huge).unwrap_err().status(),
            ctap_types::StatusCode::INVALID_LENGTH
        );
    }

    /// Hostile keys (from a device) are refused, never a panic: RSA moduli zero, one,
    /// even and tiny, exponents 0, 1, 2 and huge, signatures of odd lengths; EC points
    /// off their curves; a garbage ML-DSA key.
    #[test]
    fn hostile_keys_do_not_verify_and_do_not_panic() {
        let moduli: [&[u8]; 6] = [&[0], &[1], &[2], &[0xFF], &[0; 256], &[0xFF; 512]];
        let exponents: [&[u8]; 5] = [&[0], &[1], &[2], &[1, 0, 1], &[0xFF; 8]];
        for n in moduli {
            for e in exponents {
                let key = CoseKey::Rs256 {
                    n: n.to_vec(),
                    e: e.to_vec(),
                };
                for len in [0, 1, 255, 256, 512] {
                    assert!(!key.verify(b"message", &alloc::vec![0x5A; len]));
                }
            }
        }
        // The same for the other key types: points off their curve, a garbage ML-DSA
        // key, and signatures that are no DER.
        let signatures: [&[u8]; 4] = [
            &[],
            &[0x30, 0x00],
            &[0x30, 0x06, 2, 1, 1, 2, 1, 1],
            &[0xFF; 200],
        ];
        for byte in [0x00, 0xFF] {
            let keys = [
                CoseKey::Es384 {
                    x: [byte; 48],
                    y: [byte; 48],
                },
                CoseKey::Es512 {
                    x: [byte; 66],
                    y: [byte; 66],
                },
                CoseKey::Es256K {
                    x: [byte; 32],
                    y: [byte; 32],
                },
                CoseKey::MlDsa {
                    alg: Algorithm::ML_DSA_44,
                    public: alloc::vec![byte; 1312],
                },
            ];
            for key in keys {
                for signature in signatures {
                    assert!(!key.verify(b"message", signature), "{key:?}");
                }
                assert!(!key.verify(b"message", &[byte; 2420]));
            }
        }
    }

    #[test]
    fn ml_dsa_keys_round_trip_and_verify() {
        use ml_dsa::signature::{Keypair as _, Signer as _};
        fn one<P: ml_dsa::MlDsaParams>(alg: Algorithm, id: u8) {
            let key = ml_dsa::SigningKey::<P>::from_seed(&[id; 32].into());
            let public = key.verifying_key().encode().to_vec();
            assert_eq!(Some(public.len()), alg.ml_dsa_public_key_len());
            let signature = key.sign(b"message").encode().to_vec();
            // {1: 7, 3: -48 - n (0x38 0x2F + n), -1: pub}
            let cose = CoseKey::MlDsa { alg, public };
            check(&cose, &[0xA3, 0x01, 0x07, 0x03, 0x38, id], &signature);
            // A key of another parameter set's length is refused.
            let wrong = MapBuilder::new()
                .with(1, Value::Int(KTY_AKP))
                .with(3, Value::int(alg.0))
                .with(-1, Value::bytes(&[0; 1000]))
                .build();
            assert_eq!(
                CoseKey::from_value(wrong).unwrap_err().status(),
                ctap_types::StatusCode::INVALID_LENGTH
            );
        }
        one::<ml_dsa::MlDsa44>(Algorithm::ML_DSA_44, 0x2F);
        one::<ml_dsa::MlDsa65>(Algorithm::ML_DSA_65, 0x30);
        one::<ml_dsa::MlDsa87>(Algorithm::ML_DSA_87, 0x31);
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
        // RS1 (-65535): known to python-fido2, not verified here.
        let rs1 = Value::Map(alloc::vec![
            (Value::Int(1), Value::Int(3)),
            (Value::Int(3), Value::Int(-65535)),
        ]);
        let key = CoseKey::from_value(rs1.clone()).unwrap();
        assert_eq!(key, CoseKey::Other(rs1));
        assert_eq!(key.algorithm(), Some(Algorithm(-65535)));
        assert!(!key.verify(b"m", b"s"));
    }
}
