//! Randomness and credential keys.
//!
//! Credential ids are self-describing key handles; the private key is derived from the
//! authenticator's master secret, so a non-discoverable credential needs no storage:
//!
//! ```text
//! kind (1: 0x01 non-discoverable, 0x02 discoverable) | alg (1: see alg_byte: 0x07 ES256,
//!   0x08 EdDSA, 0x23 ES384, 0x24 ES512, 0x2F ES256K, 0x30-0x32 ML-DSA-44/65/87, 0xFF RS256)
//!   | flags (1: credProtect level in bits 0-1, 0x80 hmac-secret) | nonce (32)
//!   | tag (16) = HMAC(master, "id" | rpIdHash | all before)[..16]
//! key seed = HMAC(master, "key" | rpIdHash | kind | alg | flags | nonce)
//! ```
//!
//! The tag binds the id to its RP: an id presented for another RP does not verify.
//!
//! Every algorithm's private key comes from the 32-byte key seed: ECDSA scalars are the
//! seed expanded to the field length (HMAC in counter mode), the Ed25519 and ML-DSA
//! (FIPS 204 `ML-DSA.KeyGen_internal(ξ)`) seeds are the key seed itself, and RS256 runs
//! RSA key generation (2048 bits, e = 65537) on a DRBG seeded with it. Keys whose
//! derivation is more than an HMAC (EdDSA, ML-DSA, and RSA, whose generation takes
//! ~10^5 times an ECDSA derivation) are kept in a small cache, per master secret, which
//! authenticatorReset empties.

use ctap2_proto::cose::{Algorithm, CoseKey};
use std::sync::{Arc, Mutex};

use sha2::Sha256;
use zeroize::Zeroizing;

/// HMAC-SHA-256 of the concatenated `parts`. Through ctap2-proto (as the other hot
/// crypto of makeCredential and getAssertion here), so that `Hmac<Sha256>` is compiled
/// there, at opt-level 3, while this crate is built for size (see ctap2-proto's
/// `crypto` module and the workspace's release profile).
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    ctap2_proto::crypto::hmac_sha256(key, parts)
}

/// SHA-256.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    ctap2_proto::crypto::sha256(data)
}

/// A deterministic random bit generator: HMAC-SHA-256 in counter mode over a 32-byte
/// seed, which comes from the OS (`getrandom`, see [`os_seed`]) or from
/// [`Config::rng_seed`](crate::Config::rng_seed) so tests are reproducible. There is no
/// other source: when the OS generator fails the authenticator does not start (issue
/// 22, "randomness fails closed"; a clock is guessable).
#[derive(Clone)]
pub(crate) struct Drbg {
    key: Zeroizing<[u8; 32]>,
    counter: u64,
}

/// 32 bytes from the operating system's random number generator.
pub(crate) fn os_seed() -> Result<Zeroizing<[u8; 32]>, getrandom::Error> {
    let mut seed = Zeroizing::new([0; 32]);
    getrandom::fill(seed.as_mut_slice())?;
    Ok(seed)
}

impl Drbg {
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        Self {
            key: Zeroizing::new(seed),
            counter: 0,
        }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        self.fill(&mut out);
        out
    }
}

impl Drbg {
    fn fill(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            self.counter = self.counter.wrapping_add(1);
            let block = hmac(self.key.as_slice(), &[&self.counter.to_be_bytes()]);
            let len = chunk.len();
            chunk.copy_from_slice(block.get(..len).unwrap_or(&[]));
        }
    }
}

impl rand_core::TryRng for Drbg {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(u32::from_le_bytes(self.array()))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::from_le_bytes(self.array()))
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Self::Error> {
        self.fill(dest);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Drbg {}

/// Kinds of credential id.
pub(crate) const KIND_SERVER_SIDE: u8 = 0x01;
/// A discoverable credential (the id only works while the credential is stored).
pub(crate) const KIND_DISCOVERABLE: u8 = 0x02;
/// The length of every credential id this authenticator makes.
pub(crate) const CREDENTIAL_ID_LEN: usize = 3 + 32 + 16;

/// The decoded header of a credential id.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct CredentialId {
    pub(crate) kind: u8,
    pub(crate) alg: Algorithm,
    pub(crate) cred_protect: u8,
    pub(crate) hmac_secret: bool,
    pub(crate) nonce: [u8; 32],
}

/// The algorithms a credential id can name, with their id byte (minus the COSE id where
/// it fits in a byte).
const ALG_BYTES: [(Algorithm, u8); 9] = [
    (Algorithm::ES256, 0x07),
    (Algorithm::EDDSA, 0x08),
    (Algorithm::ES384, 0x23),
    (Algorithm::ES512, 0x24),
    (Algorithm::ES256K, 0x2F),
    (Algorithm::ML_DSA_44, 0x30),
    (Algorithm::ML_DSA_65, 0x31),
    (Algorithm::ML_DSA_87, 0x32),
    (Algorithm::RS256, 0xFF),
];

fn alg_byte(alg: Algorithm) -> u8 {
    ALG_BYTES
        .iter()
        .find(|(a, _)| *a == alg)
        .map_or(0x07, |(_, byte)| *byte)
}

fn alg_of_byte(byte: u8) -> Option<Algorithm> {
    ALG_BYTES
        .iter()
        .find(|(_, b)| *b == byte)
        .map(|(alg, _)| *alg)
}

impl CredentialId {
    fn flags(&self) -> u8 {
        (self.cred_protect & 0x03) | if self.hmac_secret { 0x80 } else { 0 }
    }

    /// The id bytes for `rp_id_hash`.
    pub(crate) fn encode(&self, master: &[u8], rp_id_hash: &[u8; 32]) -> Vec<u8> {
        let mut id = vec![self.kind, alg_byte(self.alg), self.flags()];
        id.extend_from_slice(&self.nonce);
        let tag = hmac(master, &[b"id", rp_id_hash, &id]);
        id.extend_from_slice(tag.get(..16).unwrap_or(&[]));
        id
    }

    /// Parses and authenticates an id presented for `rp_id_hash`; `None` if it is not
    /// one of ours for that RP.
    pub(crate) fn decode(master: &[u8], rp_id_hash: &[u8; 32], id: &[u8]) -> Option<Self> {
        if id.len() != CREDENTIAL_ID_LEN {
            return None;
        }
        let (body, tag) = id.split_at(CREDENTIAL_ID_LEN - 16);
        let expected = hmac(master, &[b"id", rp_id_hash, body]);
        let expected = expected.get(..16)?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected, tag)) {
            return None;
        }
        let (&[kind, alg, flags], nonce) = body.split_first_chunk::<3>()?;
        let alg = alg_of_byte(alg)?;
        Some(Self {
            kind,
            alg,
            cred_protect: flags & 0x03,
            hmac_secret: flags & 0x80 != 0,
            nonce: nonce.try_into().ok()?,
        })
    }

    /// The hmac-secret CredRandom (§12.5): one for assertions with UV, one without.
    pub(crate) fn cred_random(&self, master: &[u8], id: &[u8], uv: bool) -> [u8; 32] {
        let label: &[u8] = if uv {
            b"hmac-secret uv"
        } else {
            b"hmac-secret"
        };
        hmac(master, &[label, id])
    }

    /// The credential's signing key: only the private key, derived from the master
    /// secret (one HMAC); the public key is computed by [`SigningKey::public_key`] when a
    /// command needs it (makeCredential, credential management), never for a signature.
    pub(crate) fn signing_key(&self, master: &[u8], rp_id_hash: &[u8; 32]) -> Option<SigningKey> {
        let header = [self.kind, alg_byte(self.alg), self.flags()];
        let seed = Zeroizing::new(hmac(master, &[b"key", rp_id_hash, &header, &self.nonce]));
        SigningKey::from_seed(self.alg, &seed, &cache_owner(master))
    }
}

/// A credential's (or the batch attestation's) private key.
#[derive(Clone)]
pub(crate) enum SigningKey {
    /// The P-256 scalar alone: ECDSA signing needs nothing else, and p256's
    /// `SigningKey` would compute the public key (a scalar multiplication) up front.
    Es256(p256::NonZeroScalar),
    /// Ed25519 needs its public key for every signature (it is hashed into the
    /// challenge, RFC 8032 §5.1.6), so ed25519-dalek's key, which computes it once, is
    /// what to keep.
    EdDsa(Arc<ed25519_dalek::SigningKey>),
    /// The P-384 scalar.
    Es384(p384::NonZeroScalar),
    /// The P-521 scalar.
    Es512(p521::NonZeroScalar),
    /// The secp256k1 scalar.
    Es256K(k256::NonZeroScalar),
    /// An RSA-2048 key (from the cache: generating one is slow).
    Rs256(Arc<rsa::PrivateKey>),
    /// An ML-DSA key (FIPS 204), shared with the cache: the expanded key is kilobytes.
    MlDsa44(Arc<ml_dsa::SigningKey<ml_dsa::MlDsa44>>),
    /// ML-DSA-65.
    MlDsa65(Arc<ml_dsa::SigningKey<ml_dsa::MlDsa65>>),
    /// ML-DSA-87.
    MlDsa87(Arc<ml_dsa::SigningKey<ml_dsa::MlDsa87>>),
}

/// The ECDSA scalars are wiped when the key goes (p256's own `SigningKey`, which this
/// replaces, did that too); ed25519-dalek's and ml-dsa's keys wipe themselves, and the
/// RSA key is shared with the cache (rsa's key wipes itself when the last one goes).
impl Drop for SigningKey {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        match self {
            Self::Es256(scalar) => scalar.zeroize(),
            Self::Es384(scalar) => scalar.zeroize(),
            Self::Es512(scalar) => scalar.zeroize(),
            Self::Es256K(scalar) => scalar.zeroize(),
            Self::EdDsa(_)
            | Self::Rs256(_)
            | Self::MlDsa44(_)
            | Self::MlDsa65(_)
            | Self::MlDsa87(_) => {}
        }
    }
}

/// The RSA key size this authenticator makes (WebAuthn RPs expect 2048).
const RSA_BITS: usize = 2048;
/// How many keys [`cached`] keeps (all authenticators of the process together).
const CACHED_KEYS: usize = 32;
/// A cache entry: the owner (see [`cache_owner`]), SHA-256 of the algorithm and seed
/// (the seed itself is not kept), the key (its heavy part behind an `Arc`).
type CachedKey = ([u8; 32], [u8; 32], SigningKey);
/// Keys whose derivation costs more than a signature's share of work (EdDSA: a
/// scalar multiplication; ML-DSA: key expansion; RSA: key generation, ~0.1 s), made
/// so far, oldest first. ECDSA keys are not cached: theirs is one HMAC.
static KEYS: Mutex<Vec<CachedKey>> = Mutex::new(Vec::new());

/// Whose cached keys these are: a hash of the master secret, so that
/// [`forget_cached_keys`] drops exactly one authenticator's keys when it is reset, and
/// authenticators of one process never share entries unless they share the secret.
pub(crate) fn cache_owner(master: &[u8]) -> [u8; 32] {
    sha256(&[b"key cache owner".as_slice(), master].concat())
}

/// Drops every cached key of the authenticator with this master secret
/// (authenticatorReset: the old credentials' keys must not outlive them).
pub(crate) fn forget_cached_keys(master: &[u8]) {
    let owner = cache_owner(master);
    KEYS.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .retain(|(cached_owner, _, _)| *cached_owner != owner);
}

/// How many keys of this master secret the cache holds (tests).
#[cfg(test)]
pub(crate) fn cached_keys(master: &[u8]) -> usize {
    let owner = cache_owner(master);
    KEYS.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|(cached_owner, _, _)| *cached_owner == owner)
        .count()
}

/// The `alg` key of `seed` for `owner`: from the cache, or made by `make` and cached.
/// The lock is not held while `make` runs (an RSA generation takes ~0.1 s).
fn cached(
    alg: Algorithm,
    seed: &[u8; 32],
    owner: &[u8; 32],
    make: impl FnOnce() -> Option<SigningKey>,
) -> Option<SigningKey> {
    let id = sha256(&[b"key cache".as_slice(), &alg.0.to_be_bytes(), seed].concat());
    let lock = || {
        KEYS.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some((_, _, key)) = lock()
        .iter()
        .find(|(o, cached, _)| o == owner && *cached == id)
    {
        return Some(key.clone());
    }
    let key = make()?;
    let mut cache = lock();
    if !cache
        .iter()
        .any(|(o, cached, _)| o == owner && *cached == id)
    {
        if cache.len() >= CACHED_KEYS {
            cache.remove(0);
        }
        cache.push((*owner, id, key.clone()));
    }
    Some(key)
}

/// `seed` expanded to `N` bytes: HMAC-SHA-256(seed, "expand" | counter) blocks.
fn expand<const N: usize>(seed: &[u8; 32]) -> Zeroizing<[u8; N]> {
    let mut out = Zeroizing::new([0; N]);
    for (counter, chunk) in (0u8..).zip(out.chunks_mut(32)) {
        let block = Zeroizing::new(hmac(seed, &[b"expand", &[counter]]));
        let len = chunk.len();
        chunk.copy_from_slice(block.get(..len).unwrap_or(&[]));
    }
    out
}

/// Deterministic ECDSA (RFC 6979) with the curve's hash, DER-encoded (WebAuthn §6.5.5).
fn sign_ecdsa<C>(scalar: &ecdsa::elliptic_curve::NonZeroScalar<C>, message: &[u8]) -> Vec<u8>
where
    C: ecdsa::EcdsaCurve + ecdsa::elliptic_curve::CurveArithmetic + ecdsa::DigestAlgorithm,
    ecdsa::SignatureSize<C>: ecdsa::elliptic_curve::array::ArraySize,
    ecdsa::der::MaxSize<C>: ecdsa::elliptic_curve::array::ArraySize,
    <ecdsa::elliptic_curve::FieldBytesSize<C> as core::ops::Add>::Output:
        core::ops::Add<ecdsa::der::MaxOverhead> + ecdsa::elliptic_curve::array::ArraySize,
{
    use sha2::Digest as _;
    let digest = C::Digest::digest(message);
    let (signature, _) =
        ecdsa::hazmat::sign_prehashed_rfc6979::<C, C::Digest>(scalar, &digest, &[]);
    signature.to_der().as_bytes().to_vec()
}

#[cfg(test)]
thread_local! {
    /// How many public keys this thread derived from private keys: the tests check that
    /// a signature derives none.
    pub(crate) static PUBLIC_KEY_DERIVATIONS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

impl SigningKey {
    /// An ES256 key from a 32-byte big-endian scalar; `None` when it is zero or not below
    /// the group order (probability ~2^-32 for a random seed).
    pub(crate) fn es256(scalar: &[u8; 32]) -> Option<Self> {
        Option::from(p256::NonZeroScalar::from_repr((*scalar).into())).map(Self::Es256)
    }

    /// The `alg` key of a 32-byte seed; `None` for an algorithm this authenticator does
    /// not make, or a seed that is no key (an ECDSA scalar not below the group order:
    /// probability 2^-32 for P-256, smaller for the others).
    /// `owner` is whose cache entry an EdDSA, RSA or ML-DSA key becomes
    /// ([`cache_owner`]).
    pub(crate) fn from_seed(alg: Algorithm, seed: &[u8; 32], owner: &[u8; 32]) -> Option<Self> {
        match alg {
            Algorithm::ES256 => Self::es256(seed),
            Algorithm::EDDSA => cached(alg, seed, owner, || {
                Some(Self::EdDsa(Arc::new(
                    ctap2_proto::crypto::eddsa_signing_key(seed),
                )))
            }),
            Algorithm::ES384 => {
                let bytes = expand::<48>(seed);
                Option::from(p384::NonZeroScalar::from_repr((*bytes).into())).map(Self::Es384)
            }
            Algorithm::ES512 => {
                let mut bytes = expand::<66>(seed);
                // 521 bits: the top seven bits of 66 bytes are zero.
                if let Some(top) = bytes.first_mut() {
                    *top &= 0x01;
                }
                Option::from(p521::NonZeroScalar::from_repr((*bytes).into())).map(Self::Es512)
            }
            Algorithm::ES256K => {
                Option::from(k256::NonZeroScalar::from_repr((*seed).into())).map(Self::Es256K)
            }
            Algorithm::RS256 => cached(alg, seed, owner, || {
                let mut rng = Drbg::new(*seed);
                rsa::PrivateKey::new(&mut rng, RSA_BITS)
                    .ok()
                    .map(|key| Self::Rs256(Arc::new(key)))
            }),
            Algorithm::ML_DSA_44 => cached(alg, seed, owner, || {
                Some(Self::MlDsa44(Arc::new(ml_dsa::SigningKey::from_seed(
                    &(*seed).into(),
                ))))
            }),
            Algorithm::ML_DSA_65 => cached(alg, seed, owner, || {
                Some(Self::MlDsa65(Arc::new(ml_dsa::SigningKey::from_seed(
                    &(*seed).into(),
                ))))
            }),
            Algorithm::ML_DSA_87 => cached(alg, seed, owner, || {
                Some(Self::MlDsa87(Arc::new(ml_dsa::SigningKey::from_seed(
                    &(*seed).into(),
                ))))
            }),
            _ => None,
        }
    }

    /// The public key, derived from the private key (a scalar multiplication).
    pub(crate) fn public_key(&self) -> CoseKey {
        use ml_dsa::Keypair as _;
        use p256::elliptic_curve::sec1::ToSec1Point as _;
        use rsa::traits::PublicKeyParts as _;
        #[cfg(test)]
        PUBLIC_KEY_DERIVATIONS.with(|count| count.set(count.get() + 1));
        /// The x and y of an uncompressed SEC1 point.
        fn coordinates<const N: usize>(point: &[u8]) -> ([u8; N], [u8; N]) {
            let mut x = [0; N];
            let mut y = [0; N];
            if let Some(body) = point.get(1..) {
                if body.len() == 2 * N {
                    let (px, py) = body.split_at(N);
                    x.copy_from_slice(px);
                    y.copy_from_slice(py);
                }
            }
            (x, y)
        }
        match self {
            Self::Es256(scalar) => ctap2_proto::crypto::es256_public_key(scalar),
            Self::EdDsa(key) => CoseKey::EdDsa {
                x: key.verifying_key().to_bytes(),
            },
            Self::Es384(scalar) => ctap2_proto::crypto::es384_public_key(scalar),
            Self::Es512(scalar) => {
                let point = p521::PublicKey::from_secret_scalar(scalar).to_sec1_point(false);
                let (x, y) = coordinates(point.as_bytes());
                CoseKey::Es512 { x, y }
            }
            Self::Es256K(scalar) => {
                let point = k256::PublicKey::from_secret_scalar(scalar).to_sec1_point(false);
                let (x, y) = coordinates(point.as_bytes());
                CoseKey::Es256K { x, y }
            }
            Self::Rs256(key) => CoseKey::Rs256 {
                n: key.n().to_be_bytes_trimmed_vartime().into_vec(),
                e: key.e().to_be_bytes_trimmed_vartime().into_vec(),
            },
            Self::MlDsa44(key) => CoseKey::MlDsa {
                alg: Algorithm::ML_DSA_44,
                public: key.verifying_key().encode().to_vec(),
            },
            Self::MlDsa65(key) => CoseKey::MlDsa {
                alg: Algorithm::ML_DSA_65,
                public: key.verifying_key().encode().to_vec(),
            },
            Self::MlDsa87(key) => CoseKey::MlDsa {
                alg: Algorithm::ML_DSA_87,
                public: key.verifying_key().encode().to_vec(),
            },
        }
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            Self::Es256(_) => Algorithm::ES256,
            Self::EdDsa(_) => Algorithm::EDDSA,
            Self::Es384(_) => Algorithm::ES384,
            Self::Es512(_) => Algorithm::ES512,
            Self::Es256K(_) => Algorithm::ES256K,
            Self::Rs256(_) => Algorithm::RS256,
            Self::MlDsa44(_) => Algorithm::ML_DSA_44,
            Self::MlDsa65(_) => Algorithm::ML_DSA_65,
            Self::MlDsa87(_) => Algorithm::ML_DSA_87,
        }
    }

    /// The signature over `message`: ECDSA as ASN.1 DER (WebAuthn §6.5.5) with a
    /// deterministic k (RFC 6979), secp256k1 low-S; EdDSA 64 bytes; RS256 PKCS#1 v1.5
    /// (blinded with a DRBG seeded from the message: deterministic, as PKCS#1 v1.5 is);
    /// ML-DSA the FIPS 204 encoding, deterministic variant, empty context.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            // ES256 and EdDSA through ctap2-proto: compiled there, at opt-level 3 (see
            // `hmac`).
            Self::Es256(scalar) => ctap2_proto::crypto::es256_sign(scalar, message),
            Self::EdDsa(key) => ctap2_proto::crypto::eddsa_sign(key, message).to_vec(),
            // ES384 too: at `s`, its P-384 arithmetic cost ~19% more instructions.
            Self::Es384(scalar) => ctap2_proto::crypto::es384_sign(scalar, message),
            Self::Es512(scalar) => sign_ecdsa(scalar, message),
            Self::Es256K(scalar) => sign_ecdsa(scalar, message),
            Self::Rs256(key) => {
                use sha2::Digest as _;
                let digest = Sha256::digest(message);
                // The blinding factor's randomness: a fresh DRBG per signature, seeded
                // from the digest (blinding hides timing; it needs no secrecy from the
                // signer's own output).
                let mut rng = Drbg::new(sha256(&[b"rsa blinding".as_slice(), &digest].concat()));
                key.sign_with_rng(&mut rng, rsa::Pkcs1v15Sign::new::<Sha256>(), &digest)
                    .unwrap_or_default()
            }
            Self::MlDsa44(key) => sign_ml_dsa(key, message),
            Self::MlDsa65(key) => sign_ml_dsa(key, message),
            Self::MlDsa87(key) => sign_ml_dsa(key, message),
        }
    }
}

/// ML-DSA.Sign, deterministic variant, empty context (FIPS 204 Algorithm 2 with rnd = 0).
fn sign_ml_dsa<P: ml_dsa::MlDsaParams>(key: &ml_dsa::SigningKey<P>, message: &[u8]) -> Vec<u8> {
    use ml_dsa::signature::Signer as _;
    key.try_sign(message)
        .map(|signature| signature.encode().to_vec())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn ids_bind_to_their_rp_and_keys_sign() {
        let master = [7; 32];
        let mut rng = Drbg::new([1; 32]);
        for alg in [Algorithm::ES256, Algorithm::EDDSA] {
            let id = CredentialId {
                kind: KIND_SERVER_SIDE,
                alg,
                cred_protect: 2,
                hmac_secret: true,
                nonce: rng.array(),
            };
            let rp = sha256(b"example.com");
            let bytes = id.encode(&master, &rp);
            assert_eq!(bytes.len(), CREDENTIAL_ID_LEN);
            assert_eq!(CredentialId::decode(&master, &rp, &bytes), Some(id));
            assert_eq!(
                CredentialId::decode(&master, &sha256(b"evil.com"), &bytes),
                None
            );
            assert_eq!(CredentialId::decode(&[8; 32], &rp, &bytes), None);
            let mut flipped = bytes.clone();
            flipped[5] ^= 1;
            assert_eq!(CredentialId::decode(&master, &rp, &flipped), None);
            let key = id.signing_key(&master, &rp).unwrap();
            assert_eq!(key.algorithm(), alg);
            let signature = key.sign(b"data");
            assert!(key.public_key().verify(b"data", &signature));
        }
    }

    #[test]
    fn es256_signs_from_the_scalar_as_rfc6979_does() {
        use p256::ecdsa::signature::Signer as _;
        let seed = [0x42; 32];
        let key = SigningKey::es256(&seed).unwrap();
        let before = PUBLIC_KEY_DERIVATIONS.with(Cell::get);
        let signature = key.sign(b"authData || clientDataHash");
        assert_eq!(
            PUBLIC_KEY_DERIVATIONS.with(Cell::get),
            before,
            "a signature derived a public key"
        );
        // The same deterministic (RFC 6979) signature as p256's own SigningKey.
        let reference: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from_slice(&seed)
            .unwrap()
            .sign(b"authData || clientDataHash");
        assert_eq!(signature, reference.to_der().as_bytes());
        assert!(
            key.public_key()
                .verify(b"authData || clientDataHash", &signature)
        );
        // Zero and the group order are not keys.
        assert!(SigningKey::es256(&[0; 32]).is_none());
        assert!(SigningKey::es256(&[0xFF; 32]).is_none());
    }

    /// For every algorithm: makeCredential (CTAP 2.1 §6.1.2: step 3 picks it, the
    /// credential public key goes into authData, "packed" self attestation signs with
    /// the credential key) and getAssertion (§6.2.2 step 13) end to end, each signature
    /// checked by ctap2-proto's verification (the client's). makeCredential derives the
    /// new credential's public key once; getAssertion derives none.
    #[test]
    fn every_algorithm_makes_and_asserts_and_get_assertion_derives_no_public_key() {
        use ctap_types::Ctap2Command;
        use ctap2_proto::cbor::CborMessage as _;
        use ctap2_proto::{
            CredentialDescriptor, CredentialParameters, GetAssertionRequest, MakeCredentialRequest,
            MakeCredentialResponse, RpEntity, UserEntity,
        };

        use super::super::{Ctap2, Outcome};

        let config = crate::Config::default().with_rng_seed(Some([5; 32]));
        let now = std::time::Instant::now();
        let mut ctap2 = Ctap2::new([5; 32]);
        let caller = ctap_types::ChannelId::new(7);
        for &alg in crate::Algorithms::ALL.as_slice() {
            let request = MakeCredentialRequest {
                client_data_hash: vec![1; 32],
                rp: RpEntity {
                    icon: None,
                    id: "example.com".into(),
                    name: None,
                },
                user: UserEntity {
                    icon: None,
                    id: vec![7; 8],
                    name: None,
                    display_name: None,
                },
                // An algorithm nobody offers first: step 3 skips it.
                pub_key_cred_params: vec![
                    CredentialParameters::public_key(Algorithm(-65535)),
                    CredentialParameters::public_key(alg),
                ],
                exclude_list: None,
                extensions: None,
                options: None,
                pin_uv_auth_param: None,
                pin_uv_auth_protocol: None,
                enterprise_attestation: None,
                attestation_formats_preference: None,
            };
            let outcome = ctap2.handle(
                now,
                &config,
                caller,
                Ctap2Command::MAKE_CREDENTIAL,
                &request.to_cbor(),
            );
            assert!(matches!(outcome, Outcome::Touch));
            let before = PUBLIC_KEY_DERIVATIONS.with(Cell::get);
            let answer = ctap2.touched(now, &config, caller);
            assert_eq!(
                PUBLIC_KEY_DERIVATIONS.with(Cell::get),
                before + 1,
                "{alg:?}"
            );
            assert_eq!(answer[0], 0, "{alg:?}: status {:#04x}", answer[0]);
            let made = MakeCredentialResponse::from_cbor(&answer[1..]).unwrap();
            let credential = made.auth_data().unwrap().attested_credential.unwrap();
            assert_eq!(credential.public_key.algorithm(), Some(alg));
            // Self attestation: alg and sig over authData || clientDataHash.
            let att_stmt = ctap2_proto::cbor::TextMap::new(made.att_stmt.clone(), "attStmt");
            let mut att_stmt = att_stmt.unwrap();
            assert_eq!(
                att_stmt
                    .require("alg", "alg")
                    .unwrap()
                    .as_int("alg")
                    .unwrap(),
                i128::from(alg.0)
            );
            let sig = att_stmt
                .require("sig", "sig")
                .unwrap()
                .into_bytes("sig")
                .unwrap();
            let signed = [made.auth_data.as_slice(), &[1; 32]].concat();
            assert!(
                credential.public_key.verify(&signed, &sig),
                "{alg:?} attestation"
            );
            assert!(!credential.public_key.verify(&signed[1..], &sig), "{alg:?}");

            let request = GetAssertionRequest {
                rp_id: "example.com".into(),
                client_data_hash: vec![2; 32],
                allow_list: Some(vec![CredentialDescriptor::public_key(
                    &credential.credential_id,
                )]),
                extensions: None,
                options: None,
                pin_uv_auth_param: None,
                pin_uv_auth_protocol: None,
            };
            let outcome = ctap2.handle(
                now,
                &config,
                caller,
                Ctap2Command::GET_ASSERTION,
                &request.to_cbor(),
            );
            assert!(matches!(outcome, Outcome::Touch));
            let before = PUBLIC_KEY_DERIVATIONS.with(Cell::get);
            let answer = ctap2.touched(now, &config, caller);
            assert_eq!(
                PUBLIC_KEY_DERIVATIONS.with(Cell::get),
                before,
                "getAssertion derived a public key ({alg:?})"
            );
            let assertion = ctap2_proto::GetAssertionResponse::from_cbor(&answer[1..]).unwrap();
            let signed = [assertion.auth_data.as_slice(), &[2; 32]].concat();
            assert!(
                credential.public_key.verify(&signed, &assertion.signature),
                "{alg:?} assertion"
            );
            let mut tampered = assertion.signature.clone();
            if let Some(last) = tampered.last_mut() {
                *last ^= 1;
            }
            assert!(!credential.public_key.verify(&signed, &tampered), "{alg:?}");
        }
    }

    /// `Config::algorithms` decides getInfo's list (§6.4 `algorithms`) and what step 3
    /// of makeCredential (§6.1.2) may pick: the first of the RP's list that is offered,
    /// in the RP's order, not the authenticator's.
    #[test]
    fn offered_algorithms_are_configurable() {
        use ctap_types::{Ctap2Command, StatusCode};
        use ctap2_proto::cbor::CborMessage as _;
        use ctap2_proto::{
            CredentialParameters, Info, MakeCredentialRequest, MakeCredentialResponse, RpEntity,
            UserEntity,
        };

        use super::super::{Ctap2, Outcome};

        let offered = crate::Algorithms::new(&[Algorithm::ES384, Algorithm::ES256K]).unwrap();
        let config = crate::Config::default()
            .with_rng_seed(Some([6; 32]))
            .with_algorithms(offered);
        let now = std::time::Instant::now();
        let mut ctap2 = Ctap2::new([6; 32]);
        let caller = ctap_types::ChannelId::new(7);
        let Outcome::Answer(info) = ctap2.handle(
            now,
            &config,
            ctap_types::ChannelId::new(7),
            Ctap2Command::GET_INFO,
            &[],
        ) else {
            panic!("getInfo asked for a touch");
        };
        let info = Info::from_cbor(&info[1..]).unwrap();
        let listed: Vec<Algorithm> = info.algorithms.unwrap().iter().map(|a| a.alg).collect();
        assert_eq!(listed, [Algorithm::ES384, Algorithm::ES256K]);
        let mut make = |algs: &[Algorithm]| {
            let request = MakeCredentialRequest {
                client_data_hash: vec![1; 32],
                rp: RpEntity {
                    icon: None,
                    id: "example.com".into(),
                    name: None,
                },
                user: UserEntity {
                    icon: None,
                    id: vec![7; 8],
                    name: None,
                    display_name: None,
                },
                pub_key_cred_params: algs
                    .iter()
                    .map(|alg| CredentialParameters::public_key(*alg))
                    .collect(),
                exclude_list: None,
                extensions: None,
                options: None,
                pin_uv_auth_param: None,
                pin_uv_auth_protocol: None,
                enterprise_attestation: None,
                attestation_formats_preference: None,
            };
            match ctap2.handle(
                now,
                &config,
                caller,
                Ctap2Command::MAKE_CREDENTIAL,
                &request.to_cbor(),
            ) {
                Outcome::Answer(answer) => Err(answer[0]),
                Outcome::Touch => {
                    let answer = ctap2.touched(now, &config, caller);
                    let made = MakeCredentialResponse::from_cbor(&answer[1..]).unwrap();
                    let credential = made.auth_data().unwrap().attested_credential.unwrap();
                    Ok(credential.public_key.algorithm().unwrap())
                }
            }
        };
        // Implemented but not offered: refused.
        assert_eq!(
            make(&[Algorithm::ES256, Algorithm::EDDSA]),
            Err(StatusCode::UNSUPPORTED_ALGORITHM.to_u8())
        );
        // Both offered: the RP's first.
        assert_eq!(
            make(&[Algorithm::ES256K, Algorithm::ES384]),
            Ok(Algorithm::ES256K)
        );
        assert_eq!(
            make(&[Algorithm::ES256, Algorithm::ES384, Algorithm::ES256K]),
            Ok(Algorithm::ES384)
        );
    }

    /// EdDSA, RSA and ML-DSA keys are derived once and reused; authenticatorReset
    /// (CTAP 2.1 §6.6) leaves no cached key of the old credentials.
    #[test]
    fn cached_keys_are_reused_and_reset_forgets_them() {
        let master = [0x77; 32];
        let id = CredentialId {
            kind: KIND_SERVER_SIDE,
            alg: Algorithm::RS256,
            cred_protect: 1,
            hmac_secret: false,
            nonce: [3; 32],
        };
        let rp = sha256(b"example.com");
        let first = id.signing_key(&master, &rp).unwrap();
        assert_eq!(cached_keys(&master), 1);
        // The second derivation is the cached key, not a new one.
        let second = id.signing_key(&master, &rp).unwrap();
        match (&first, &second) {
            (SigningKey::Rs256(a), SigningKey::Rs256(b)) => assert!(Arc::ptr_eq(a, b)),
            _ => panic!("not RSA keys"),
        }
        assert_eq!(cached_keys(&master), 1);
        for alg in [Algorithm::EDDSA, Algorithm::ML_DSA_44] {
            let id = CredentialId { alg, ..id };
            let first = id.signing_key(&master, &rp).unwrap();
            let second = id.signing_key(&master, &rp).unwrap();
            match (&first, &second) {
                (SigningKey::EdDsa(a), SigningKey::EdDsa(b)) => assert!(Arc::ptr_eq(a, b)),
                (SigningKey::MlDsa44(a), SigningKey::MlDsa44(b)) => assert!(Arc::ptr_eq(a, b)),
                _ => panic!("{alg:?}: not the algorithm's keys"),
            }
        }
        assert_eq!(cached_keys(&master), 3);
        forget_cached_keys(&[0x78; 32]);
        assert_eq!(cached_keys(&master), 3, "another authenticator's reset");
        forget_cached_keys(&master);
        assert_eq!(cached_keys(&master), 0);

        // Through the command: an RS256 credential, then authenticatorReset.
        use ctap_types::Ctap2Command;
        use ctap2_proto::cbor::CborMessage as _;
        use ctap2_proto::{CredentialParameters, MakeCredentialRequest, RpEntity, UserEntity};

        use super::super::{Ctap2, Outcome};
        let config = crate::Config::default().with_rng_seed(Some([8; 32]));
        let now = std::time::Instant::now();
        let mut ctap2 = Ctap2::new([8; 32]);
        let request = MakeCredentialRequest {
            client_data_hash: vec![1; 32],
            rp: RpEntity {
                icon: None,
                id: "example.com".into(),
                name: None,
            },
            user: UserEntity {
                icon: None,
                id: vec![7; 8],
                name: None,
                display_name: None,
            },
            pub_key_cred_params: vec![CredentialParameters::public_key(Algorithm::RS256)],
            exclude_list: None,
            extensions: None,
            options: None,
            pin_uv_auth_param: None,
            pin_uv_auth_protocol: None,
            enterprise_attestation: None,
            attestation_formats_preference: None,
        };
        let outcome = ctap2.handle(
            now,
            &config,
            ctap_types::ChannelId::new(7),
            Ctap2Command::MAKE_CREDENTIAL,
            &request.to_cbor(),
        );
        assert!(matches!(outcome, Outcome::Touch));
        assert_eq!(
            ctap2.touched(now, &config, ctap_types::ChannelId::new(7))[0],
            0
        );
        let old_master = *ctap2.state.master;
        assert_eq!(cached_keys(&old_master), 1);
        let outcome = ctap2.handle(
            now,
            &config,
            ctap_types::ChannelId::new(7),
            Ctap2Command::RESET,
            &[],
        );
        assert!(matches!(outcome, Outcome::Touch));
        assert_eq!(
            ctap2.touched(now, &config, ctap_types::ChannelId::new(7)),
            [0]
        );
        assert_eq!(
            cached_keys(&old_master),
            0,
            "reset left the old RSA key cached"
        );
    }

    /// getInfo (§6.4) fits the largest message of any report size: with 8-byte reports
    /// (385 bytes) the list keeps the most preferred algorithms that fit.
    #[test]
    fn get_info_fits_small_report_sizes() {
        use ctap_types::Ctap2Command;
        use ctap2_proto::Info;
        use ctap2_proto::cbor::CborMessage as _;
        use ctaphid_frame::ReportSize;

        use super::super::{Ctap2, Outcome};
        for (size, expect_all) in [(64, true), (8, false)] {
            let config = crate::Config::default().with_report_size(ReportSize::new(size).unwrap());
            let mut ctap2 = Ctap2::new([9; 32]);
            let now = std::time::Instant::now();
            let Outcome::Answer(answer) = ctap2.handle(
                now,
                &config,
                ctap_types::ChannelId::new(7),
                Ctap2Command::GET_INFO,
                &[],
            ) else {
                panic!("getInfo asked for a touch");
            };
            assert_eq!(answer[0], 0, "report size {size}");
            assert!(answer.len() <= config.report_size.max_message_len());
            let info = Info::from_cbor(&answer[1..]).unwrap();
            let listed: Vec<Algorithm> = info.algorithms.unwrap().iter().map(|a| a.alg).collect();
            let all = crate::Algorithms::ALL;
            assert_eq!(
                listed.len() == all.as_slice().len(),
                expect_all,
                "{listed:?}"
            );
            assert!(!listed.is_empty());
            assert_eq!(listed, all.as_slice()[..listed.len()]);
        }
    }

    #[test]
    fn drbg_is_deterministic_per_seed() {
        let mut a = Drbg::new([3; 32]);
        let mut b = Drbg::new([3; 32]);
        let mut c = Drbg::new([4; 32]);
        let (x, y, z): ([u8; 48], [u8; 48], [u8; 48]) = (a.array(), b.array(), c.array());
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(a.array::<16>(), x[..16]);
    }
}
