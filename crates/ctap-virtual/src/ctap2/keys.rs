//! Randomness and credential keys.
//!
//! Credential ids are self-describing key handles; the private key is derived from the
//! authenticator's master secret, so a non-discoverable credential needs no storage:
//!
//! ```text
//! kind (1: 0x01 non-discoverable, 0x02 discoverable) | alg (1: 0x07 ES256, 0x08 EdDSA)
//!   | flags (1: credProtect level in bits 0-1, 0x80 hmac-secret) | nonce (32)
//!   | tag (16) = HMAC(master, "id" | rpIdHash | all before)[..16]
//! key seed = HMAC(master, "key" | rpIdHash | kind | alg | flags | nonce)
//! ```
//!
//! The tag binds the id to its RP: an id presented for another RP does not verify.

use ctap2_proto::cose::{Algorithm, CoseKey};
use hmac::{KeyInit as _, Mac as _};
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = hmac::Hmac<Sha256>;

/// HMAC-SHA-256 of the concatenated `parts`.
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return [0; 32]; // HMAC takes any key length: unreachable
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// SHA-256.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    Sha256::digest(data).into()
}

/// A deterministic random bit generator: HMAC-SHA-256 in counter mode over a 32-byte
/// seed. Seeded from the OS (`getrandom`) by default, or from
/// [`Config::rng_seed`](crate::Config::rng_seed) so tests are reproducible.
#[derive(Clone)]
pub(crate) struct Drbg {
    key: Zeroizing<[u8; 32]>,
    counter: u64,
}

impl Drbg {
    pub(crate) fn new(seed: Option<[u8; 32]>) -> Self {
        let seed = seed.unwrap_or_else(|| {
            let mut seed = [0; 32];
            if getrandom::fill(&mut seed).is_err() {
                // No OS randomness: fall back to the clock, which is still unique per run.
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                seed = sha256(&nanos.to_be_bytes());
            }
            seed
        });
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

fn alg_byte(alg: Algorithm) -> u8 {
    if alg == Algorithm::EDDSA { 0x08 } else { 0x07 }
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
        let alg = match alg {
            0x07 => Algorithm::ES256,
            0x08 => Algorithm::EDDSA,
            _ => return None,
        };
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
        if self.alg == Algorithm::EDDSA {
            Some(SigningKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(
                &seed,
            )))
        } else {
            SigningKey::es256(&seed)
        }
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
    EdDsa(ed25519_dalek::SigningKey),
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

    /// The public key, derived from the private key (a scalar multiplication).
    pub(crate) fn public_key(&self) -> CoseKey {
        #[cfg(test)]
        PUBLIC_KEY_DERIVATIONS.with(|count| count.set(count.get() + 1));
        match self {
            Self::Es256(scalar) => CoseKey::from_p256(&p256::PublicKey::from_secret_scalar(scalar)),
            Self::EdDsa(key) => CoseKey::EdDsa {
                x: key.verifying_key().to_bytes(),
            },
        }
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            Self::Es256(_) => Algorithm::ES256,
            Self::EdDsa(_) => Algorithm::EDDSA,
        }
    }

    /// ES256: ASN.1 DER (WebAuthn §6.5.5), deterministic k (RFC 6979); EdDSA: 64 bytes.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Es256(scalar) => {
                use sha2::Digest as _;
                let digest = Sha256::digest(message);
                let (signature, _) = ecdsa::hazmat::sign_prehashed_rfc6979::<p256::NistP256, Sha256>(
                    scalar,
                    &digest,
                    &[],
                );
                signature.to_der().as_bytes().to_vec()
            }
            Self::EdDsa(key) => {
                use ed25519_dalek::Signer as _;
                key.sign(message).to_bytes().to_vec()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn ids_bind_to_their_rp_and_keys_sign() {
        let master = [7; 32];
        let mut rng = Drbg::new(Some([1; 32]));
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

    /// makeCredential derives the new credential's public key once (authenticator data
    /// carries it, CTAP 2.1 §6.1.2 step 17); getAssertion derives none (§6.2.2 step 13
    /// signs with the private key; nothing else needs the public one).
    #[test]
    fn get_assertion_derives_no_public_key() {
        use ctap_types::Ctap2Command;
        use ctap2_proto::cbor::CborMessage as _;
        use ctap2_proto::{
            CredentialDescriptor, CredentialParameters, GetAssertionRequest, MakeCredentialRequest,
            MakeCredentialResponse, RpEntity, UserEntity,
        };

        use super::super::{Ctap2, Outcome};

        let config = crate::Config::default().with_rng_seed(Some([5; 32]));
        let now = std::time::Instant::now();
        let mut ctap2 = Ctap2::new(&config);
        for alg in [Algorithm::ES256, Algorithm::EDDSA] {
            let request = MakeCredentialRequest {
                client_data_hash: vec![1; 32],
                rp: RpEntity {
                    id: "example.com".into(),
                    name: None,
                },
                user: UserEntity {
                    id: vec![7; 8],
                    name: None,
                    display_name: None,
                },
                pub_key_cred_params: vec![CredentialParameters::public_key(alg)],
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
                Ctap2Command::MAKE_CREDENTIAL,
                &request.to_cbor(),
            );
            assert!(matches!(outcome, Outcome::Touch));
            let before = PUBLIC_KEY_DERIVATIONS.with(Cell::get);
            let answer = ctap2.touched(now, &config);
            assert_eq!(
                PUBLIC_KEY_DERIVATIONS.with(Cell::get),
                before + 1,
                "{alg:?}"
            );
            let made = MakeCredentialResponse::from_cbor(&answer[1..]).unwrap();
            let credential = made.auth_data().unwrap().attested_credential.unwrap();

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
                Ctap2Command::GET_ASSERTION,
                &request.to_cbor(),
            );
            assert!(matches!(outcome, Outcome::Touch));
            let before = PUBLIC_KEY_DERIVATIONS.with(Cell::get);
            let answer = ctap2.touched(now, &config);
            assert_eq!(
                PUBLIC_KEY_DERIVATIONS.with(Cell::get),
                before,
                "getAssertion derived a public key ({alg:?})"
            );
            let assertion = ctap2_proto::GetAssertionResponse::from_cbor(&answer[1..]).unwrap();
            let signed = [assertion.auth_data.as_slice(), &[2; 32]].concat();
            assert!(credential.public_key.verify(&signed, &assertion.signature));
        }
    }

    #[test]
    fn drbg_is_deterministic_per_seed() {
        let mut a = Drbg::new(Some([3; 32]));
        let mut b = Drbg::new(Some([3; 32]));
        let mut c = Drbg::new(Some([4; 32]));
        let (x, y, z): ([u8; 48], [u8; 48], [u8; 48]) = (a.array(), b.array(), c.array());
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(a.array::<16>(), x[..16]);
    }
}
