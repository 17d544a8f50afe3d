//! PIN/UV auth protocols one and two (CTAP 2.1 §6.5.6 and §6.5.7): key agreement
//! (ECDH P-256), the KDF (SHA-256, or HKDF-SHA-256), encryption (AES-256-CBC), and
//! authentication (HMAC-SHA-256), for both the platform and the authenticator.
//!
//! ```text
//!            protocol 1                          protocol 2
//! kdf(Z)     SHA-256(Z.x)   (32 bytes)           HKDF(salt 0^32, Z.x, "CTAP2 HMAC key", 32)
//!                                                || HKDF(salt 0^32, Z.x, "CTAP2 AES key", 32)
//! encrypt    AES-256-CBC, IV 0, key = all 32     random IV || AES-256-CBC, key = last 32
//! auth       HMAC-SHA-256(key)[..16]             HMAC-SHA-256(key[..32]) (32 bytes)
//! ```

use alloc::vec::Vec;

use aes::cipher::{BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _};
use hmac::{KeyInit as _, Mac as _};
use p256::elliptic_curve::Generate as _;
use rand_core::CryptoRng;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::cbor::Error;
use crate::cose::{CoseKey, p256_coordinates};

type HmacSha256 = hmac::Hmac<Sha256>;
type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// A PIN/UV auth protocol.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PinProtocol {
    /// Protocol one (CTAP 2.0's, §6.5.6).
    One,
    /// Protocol two (§6.5.7).
    Two,
}

impl PinProtocol {
    /// The protocol of the `pinUvAuthProtocol` number.
    #[must_use]
    pub const fn from_number(number: u64) -> Option<Self> {
        match number {
            1 => Some(Self::One),
            2 => Some(Self::Two),
            _ => None,
        }
    }

    /// The protocol's number.
    #[must_use]
    pub const fn number(self) -> u8 {
        match self {
            Self::One => 1,
            Self::Two => 2,
        }
    }

    /// The length of `authenticate`'s output.
    #[must_use]
    pub const fn auth_len(self) -> usize {
        match self {
            Self::One => 16,
            Self::Two => 32,
        }
    }

    /// `kdf(Z)`: the shared secret from the ECDH x coordinate `z`.
    #[must_use]
    pub fn kdf(self, z: &[u8; 32]) -> SharedSecret {
        let bytes = match self {
            Self::One => Sha256::digest(z).to_vec(),
            Self::Two => {
                let hkdf = hkdf::Hkdf::<Sha256>::new(Some(&[0; 32]), z);
                let mut out = alloc::vec![0; 64];
                let (hmac_key, aes_key) = out.split_at_mut(32);
                // 32 bytes is far below HKDF-SHA-256's 8160-byte limit: never fails.
                let _ = hkdf.expand(b"CTAP2 HMAC key", hmac_key);
                let _ = hkdf.expand(b"CTAP2 AES key", aes_key);
                out
            }
        };
        SharedSecret {
            protocol: self,
            bytes: Zeroizing::new(bytes),
        }
    }

    /// `authenticate(key, message)`: HMAC-SHA-256 with `key` (protocol two: its first 32
    /// bytes), truncated to 16 bytes for protocol one.
    #[must_use]
    pub fn authenticate(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        let key = match self {
            Self::One => key,
            Self::Two => key.get(..32).unwrap_or(key),
        };
        let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
            return Vec::new(); // HMAC takes keys of any length: unreachable
        };
        mac.update(message);
        let mut tag = mac.finalize().into_bytes().to_vec();
        tag.truncate(self.auth_len());
        tag
    }

    /// `verify(key, message, signature)`: whether `signature` is `authenticate(key,
    /// message)`, compared in constant time. A signature of the wrong length never
    /// verifies (protocol one also accepts nothing but its 16 bytes).
    #[must_use]
    pub fn verify(self, key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        use subtle::ConstantTimeEq as _;
        let expected = self.authenticate(key, message);
        expected.len() == signature.len() && bool::from(expected.ct_eq(signature))
    }

    /// Platform half of the key agreement (`encapsulate`): a fresh key pair, ECDH with
    /// the authenticator's key `peer`; returns the key to send (`keyAgreement`) and the
    /// shared secret.
    ///
    /// # Errors
    /// `InvalidParameter` when `peer` is not a P-256 point.
    pub fn encapsulate(
        self,
        peer: &CoseKey,
        rng: &mut impl CryptoRng,
    ) -> Result<(CoseKey, SharedSecret), Error> {
        let peer = peer.to_p256()?;
        let secret = p256::ecdh::EphemeralSecret::generate_from_rng(rng);
        let (x, y) = p256_coordinates(&secret.public_key());
        let shared = secret.diffie_hellman(&peer);
        let z: [u8; 32] = (*shared.raw_secret_bytes()).into();
        Ok((CoseKey::EcdhEsHkdf256 { x, y }, self.kdf(&z)))
    }
}

/// The authenticator's key-agreement key (§6.5.6 `initialize` / `regenerate`, and the
/// `decapsulate` half). The public key is computed once, when the key is made:
/// getKeyAgreement hands it out on every PIN/UV token request.
#[derive(Clone)]
pub struct KeyAgreementKey {
    secret: p256::SecretKey,
    public: ([u8; 32], [u8; 32]),
}

impl core::fmt::Debug for KeyAgreementKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyAgreementKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl KeyAgreementKey {
    fn with_public(secret: p256::SecretKey) -> Self {
        let public = p256_coordinates(&secret.public_key());
        Self { secret, public }
    }

    /// A fresh key.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self::with_public(p256::SecretKey::generate_from_rng(rng))
    }

    /// A key from its 32-byte scalar (`None` when zero or not below the group order).
    #[must_use]
    pub fn from_scalar(scalar: &[u8; 32]) -> Option<Self> {
        p256::SecretKey::from_slice(scalar)
            .ok()
            .map(Self::with_public)
    }

    /// The public key as getKeyAgreement returns it (`alg` -25).
    #[must_use]
    pub fn public_key(&self) -> CoseKey {
        let (x, y) = self.public;
        CoseKey::EcdhEsHkdf256 { x, y }
    }

    /// `decapsulate(peer)`: the shared secret with the platform's key.
    ///
    /// # Errors
    /// `InvalidParameter` when `peer` is not a point on P-256.
    pub fn decapsulate(
        &self,
        protocol: PinProtocol,
        peer: &CoseKey,
    ) -> Result<SharedSecret, Error> {
        let peer = peer.to_p256()?;
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.as_affine());
        let z: [u8; 32] = (*shared.raw_secret_bytes()).into();
        Ok(protocol.kdf(&z))
    }
}

/// A shared secret of one protocol: 32 bytes (one) or 64 (two: HMAC key || AES key).
/// Zeroized on drop.
#[derive(Clone)]
pub struct SharedSecret {
    protocol: PinProtocol,
    bytes: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedSecret")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl SharedSecret {
    /// The protocol.
    #[must_use]
    pub const fn protocol(&self) -> PinProtocol {
        self.protocol
    }

    /// The secret's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn aes_key(&self) -> &[u8] {
        match self.protocol {
            PinProtocol::One => &self.bytes,
            PinProtocol::Two => self.bytes.get(32..).unwrap_or(&[]),
        }
    }

    /// `encrypt(key, plaintext)`; `plaintext` must be a whole number of 16-byte blocks.
    /// Protocol two draws its IV from `rng` (protocol one does not use it).
    ///
    /// # Errors
    /// `InvalidLength` when the plaintext is not a whole number of blocks.
    pub fn encrypt(&self, plaintext: &[u8], rng: &mut impl CryptoRng) -> Result<Vec<u8>, Error> {
        if !plaintext.len().is_multiple_of(16) {
            return Err(Error::InvalidLength(
                "plaintext not a whole number of AES blocks",
            ));
        }
        let iv = match self.protocol {
            PinProtocol::One => [0; 16],
            PinProtocol::Two => {
                let mut iv = [0; 16];
                rng.fill_bytes(&mut iv);
                iv
            }
        };
        let cipher = Aes256CbcEnc::new_from_slices(self.aes_key(), &iv)
            .map_err(|_| Error::InvalidLength("AES key"))?;
        let ciphertext =
            cipher.encrypt_padded_vec::<aes::cipher::block_padding::NoPadding>(plaintext);
        Ok(match self.protocol {
            PinProtocol::One => ciphertext,
            PinProtocol::Two => [iv.as_slice(), &ciphertext].concat(),
        })
    }

    /// `decrypt(key, ciphertext)`.
    ///
    /// # Errors
    /// `InvalidLength` when the ciphertext is not a whole number of blocks (protocol two:
    /// after a 16-byte IV).
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let (iv, body) = match self.protocol {
            PinProtocol::One => ([0; 16], ciphertext),
            PinProtocol::Two => {
                let (iv, body) = ciphertext
                    .split_first_chunk::<16>()
                    .ok_or(Error::InvalidLength("ciphertext shorter than its IV"))?;
                (*iv, body)
            }
        };
        if !body.len().is_multiple_of(16) {
            return Err(Error::InvalidLength(
                "ciphertext not a whole number of AES blocks",
            ));
        }
        let cipher = Aes256CbcDec::new_from_slices(self.aes_key(), &iv)
            .map_err(|_| Error::InvalidLength("AES key"))?;
        cipher
            .decrypt_padded_vec::<aes::cipher::block_padding::NoPadding>(body)
            .map(Zeroizing::new)
            .map_err(|_| Error::InvalidLength("ciphertext"))
    }

    /// `authenticate(sharedSecret, message)`.
    #[must_use]
    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(&self.bytes, message)
    }

    /// `verify(sharedSecret, message, signature)`.
    #[must_use]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.protocol.verify(&self.bytes, message, signature)
    }
}

crate::codes::flag_set! {
    /// The permissions of a pinUvAuthToken (CTAP 2.1 §6.5.5.7, the permissions
    /// parameter): a set of flags with the spec's short names (`Display`: `mc | ga`).
    Permissions {
        /// `mc`: makeCredential (CTAP 2.1 §6.5.5.7; checked in §6.1.2 step 11).
        MAKE_CREDENTIAL = 0x01, "mc";
        /// `ga`: getAssertion (CTAP 2.1 §6.5.5.7; checked in §6.2.2 step 9).
        GET_ASSERTION = 0x02, "ga";
        /// `cm`: credentialManagement (CTAP 2.1 §6.5.5.7, §6.8).
        CREDENTIAL_MANAGEMENT = 0x04, "cm";
        /// `be`: bioEnrollment (CTAP 2.1 §6.5.5.7, §6.7).
        BIO_ENROLLMENT = 0x08, "be";
        /// `lbw`: largeBlobWrite (CTAP 2.1 §6.5.5.7, §6.10).
        LARGE_BLOB_WRITE = 0x10, "lbw";
        /// `acfg`: authenticatorConfig (CTAP 2.1 §6.5.5.7, §6.11).
        AUTHENTICATOR_CONFIG = 0x20, "acfg";
        /// `pcmr`: persistentCredentialManagementReadOnly (CTAP 2.2 §6.5.5.7).
        PCMR = 0x40, "pcmr";
    }
}

/// The PIN as setPIN and changePIN send it: UTF-8 padded with zeros to 64 bytes
/// (§6.5.5.5: at least 4 code points, at most 63 bytes).
///
/// # Errors
/// `InvalidParameter` when the PIN is longer than 63 bytes.
pub fn pad_pin(pin: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    if pin.len() > 63 {
        return Err(Error::InvalidParameter("PIN longer than 63 bytes"));
    }
    let mut padded = Zeroizing::new(alloc::vec![0; 64]);
    if let Some(head) = padded.get_mut(..pin.len()) {
        head.copy_from_slice(pin.as_bytes());
    }
    Ok(padded)
}

/// `LEFT(SHA-256(pin), 16)`: what changePIN and getPinToken send (encrypted).
#[must_use]
pub fn pin_hash(pin: &str) -> [u8; 16] {
    let digest = Sha256::digest(pin.as_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    out
}
