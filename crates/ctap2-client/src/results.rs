//! Typed results of makeCredential and getAssertion, and their verification
//! (python-fido2's `AttestationResponse`, `AssertionResponse` and the `packed`
//! attestation verifier).

use ctap2_proto::cbor::Value;
use ctap2_proto::{
    Algorithm, AttestedCredentialData, AuthenticatorData, CoseKey, CredentialDescriptor, Flags,
    GetAssertionResponse, MakeCredentialResponse, UserEntity,
};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// The result of makeCredential: the answer as received, its authenticator data parsed
/// and its attestation statement typed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Attestation {
    /// The answer as received (`auth_data` holds the signed bytes).
    pub response: MakeCredentialResponse,
    /// The parsed authenticator data.
    pub auth_data: AuthenticatorData,
    /// The attestation statement.
    pub statement: AttestationStatement,
}

/// An attestation statement (WebAuthn §8).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AttestationStatement {
    /// `none`: no attestation.
    None,
    /// `packed` (WebAuthn §8.2).
    Packed {
        /// The signature algorithm.
        alg: Algorithm,
        /// The signature over `authData || clientDataHash`.
        sig: Vec<u8>,
        /// The attestation certificate chain (DER), leaf first; empty for self
        /// attestation.
        x5c: Vec<Vec<u8>>,
    },
    /// Any other format, kept as its CBOR map.
    Other(Value),
}

/// What [`Attestation::verify`] found. Every variant means the authenticator data
/// passed its checks (rpIdHash, flags, credential data); only the last two mean a
/// signature was verified.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AttestationType {
    /// Format `none`: the authenticator signed nothing, so there is no signature to
    /// verify and nothing proves where the credential comes from. Never "verified"
    /// ([`is_signed`](Self::is_signed) is `false`).
    None,
    /// `packed` without a certificate: signed by the credential key itself.
    SelfAttestation,
    /// `packed` with a certificate: the certificate meets WebAuthn §8.2.1 (version 3,
    /// the subject's C, O, OU "Authenticator Attestation" and CN, CA false, the AAGUID
    /// extension equal to the authenticator data's) and the signature verifies with
    /// its key. Whether the certificate is trusted (its chain, metadata) is the
    /// relying party's policy and is not checked here.
    Basic,
}

impl AttestationType {
    /// `true` if a signature was verified (self or basic attestation); `false` for
    /// format `none`, which has none.
    #[must_use]
    pub const fn is_signed(self) -> bool {
        !matches!(self, Self::None)
    }
}

impl std::fmt::Display for AttestationType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "no signature to verify (attestation format none)",
            Self::SelfAttestation => "self attestation verified",
            Self::Basic => "basic attestation verified (the certificate's chain is not checked)",
        })
    }
}

/// What the authenticator data must say besides the RP, for
/// [`Attestation::verify_with`] and [`Assertion::verify_with`] (WebAuthn §7.1 steps
/// 14-15, §7.2 steps 16-17). The default is the strict one [`Attestation::verify`] and
/// [`Assertion::verify`] use: the user was present; user verification only when the
/// caller asks for it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Required {
    /// The UP flag must be set (default `true`; `false` only for a getAssertion sent
    /// with the `up` option false, CTAP 2.1 §6.2.2).
    pub user_presence: bool,
    /// The UV flag must be set (default `false`; `true` when the request asked for
    /// user verification: the `uv` option or a pinUvAuthParam).
    pub user_verification: bool,
}

impl Default for Required {
    fn default() -> Self {
        Self {
            user_presence: true,
            user_verification: false,
        }
    }
}

impl Required {
    /// The default, with user verification required too.
    #[must_use]
    pub const fn user_verified() -> Self {
        Self {
            user_presence: true,
            user_verification: true,
        }
    }
}

impl AttestationStatement {
    /// Types `att_stmt` of format `fmt`.
    ///
    /// # Errors
    /// [`Error::InvalidResponse`] when a `packed` statement lacks `alg` or `sig` or has
    /// members of the wrong type.
    pub fn parse(fmt: &str, att_stmt: &Value) -> Result<Self> {
        match fmt {
            "none" => Ok(Self::None),
            "packed" => {
                let bad =
                    |what| Error::response("attStmt")(ctap2_proto::Error::UnexpectedType(what));
                let Value::Map(entries) = att_stmt else {
                    return Err(bad("attStmt"));
                };
                let member = |name: &str| {
                    entries
                        .iter()
                        .find(|(k, _)| matches!(k, Value::Text(t) if t == name))
                        .map(|(_, v)| v)
                };
                let alg = match member("alg") {
                    Some(Value::Int(alg)) => {
                        Algorithm(i32::try_from(*alg).map_err(|_| bad("alg"))?)
                    }
                    _ => return Err(bad("alg")),
                };
                let Some(Value::Bytes(sig)) = member("sig") else {
                    return Err(bad("sig"));
                };
                let x5c = match member("x5c") {
                    None => Vec::new(),
                    Some(Value::Array(certs)) => certs
                        .iter()
                        .map(|c| match c {
                            Value::Bytes(der) => Ok(der.clone()),
                            _ => Err(bad("x5c")),
                        })
                        .collect::<Result<_>>()?,
                    Some(_) => return Err(bad("x5c")),
                };
                Ok(Self::Packed {
                    alg,
                    sig: sig.clone(),
                    x5c,
                })
            }
            _ => Ok(Self::Other(att_stmt.clone())),
        }
    }
}

impl Attestation {
    /// Parses a makeCredential answer.
    ///
    /// # Errors
    /// [`Error::InvalidResponse`] when the authenticator data or the statement are
    /// malformed or the authenticator data carries no credential.
    pub fn from_response(response: MakeCredentialResponse) -> Result<Self> {
        let auth_data = response.auth_data().map_err(Error::response("authData"))?;
        if auth_data.attested_credential.is_none() {
            return Err(Error::response("authData")(
                ctap2_proto::Error::MissingParameter("attested credential data"),
            ));
        }
        let statement = AttestationStatement::parse(&response.fmt, &response.att_stmt)?;
        Ok(Self {
            response,
            auth_data,
            statement,
        })
    }

    /// The new credential (id, AAGUID, public key).
    #[must_use]
    pub fn credential(&self) -> Option<&AttestedCredentialData> {
        self.auth_data.attested_credential.as_ref()
    }

    /// Verifies the attestation for `rp_id` and `client_data_hash` with the
    /// [`Required::default`] flags: see [`verify_with`](Self::verify_with).
    ///
    /// # Errors
    /// As [`verify_with`](Self::verify_with).
    pub fn verify(&self, rp_id: &str, client_data_hash: &[u8]) -> Result<AttestationType> {
        self.verify_with(rp_id, client_data_hash, Required::default())
    }

    /// Verifies the attestation as a relying party does (WebAuthn §7.1 steps 13-21,
    /// python-fido2's `Fido2Server.register_complete` with its `PackedAttestation`):
    /// the rpIdHash is SHA-256 of `rp_id`, the UP flag (and UV, as `required` says) is
    /// set, the credential data is there, then the statement: `packed` self
    /// attestation with the credential key (its `alg` the key's), `packed` with a
    /// certificate that meets WebAuthn §8.2.1 with the certificate's key, each
    /// signature over `authData || clientDataHash` through [`CoseKey::verify`]; `none`
    /// has no signature and says so ([`AttestationType::None`]).
    ///
    /// # Errors
    /// [`Error::Verification`] saying what did not verify; [`Error::Unsupported`] for
    /// formats other than packed and none, or a key this crate cannot verify with.
    pub fn verify_with(
        &self,
        rp_id: &str,
        client_data_hash: &[u8],
        required: Required,
    ) -> Result<AttestationType> {
        check_auth_data(&self.auth_data, rp_id, required)?;
        let credential = self
            .credential()
            .ok_or_else(|| Error::Verification("no attested credential data".into()))?;
        let signed = [self.response.auth_data.as_slice(), client_data_hash].concat();
        match &self.statement {
            AttestationStatement::None => Ok(AttestationType::None),
            AttestationStatement::Packed { alg, sig, x5c } => match x5c.first() {
                None => {
                    // WebAuthn §8.2 verification procedure, self attestation: alg is
                    // the credential key's.
                    if credential.public_key.algorithm() != Some(*alg) {
                        return Err(Error::Verification(format!(
                            "self attestation alg {} differs from the credential key's {:?}",
                            alg.0,
                            credential.public_key.algorithm().map(|a| a.0)
                        )));
                    }
                    verify_signature(&credential.public_key, &signed, sig, "self attestation")?;
                    Ok(AttestationType::SelfAttestation)
                }
                Some(leaf) => {
                    let key = crate::x509::check_packed_certificate(leaf, &credential.aaguid)
                        .map_err(Error::Verification)?
                        .ok_or_else(|| {
                            Error::Unsupported("attestation certificate without a P-256 key".into())
                        })?;
                    if key.algorithm() != Some(*alg) {
                        return Err(Error::Unsupported(format!(
                            "packed attestation with alg {} and a certificate key of alg {:?}",
                            alg.0,
                            key.algorithm().map(|a| a.0)
                        )));
                    }
                    verify_signature(&key, &signed, sig, "packed attestation")?;
                    Ok(AttestationType::Basic)
                }
            },
            AttestationStatement::Other(_) => Err(Error::Unsupported(format!(
                "attestation format {:?}",
                self.response.fmt
            ))),
        }
    }
}

/// The result of getAssertion or getNextAssertion.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Assertion {
    /// The answer as received (`auth_data` holds the signed bytes).
    pub response: GetAssertionResponse,
    /// The parsed authenticator data.
    pub auth_data: AuthenticatorData,
}

impl Assertion {
    /// Parses a getAssertion answer.
    ///
    /// # Errors
    /// [`Error::InvalidResponse`] when the authenticator data is malformed.
    pub fn from_response(response: GetAssertionResponse) -> Result<Self> {
        let auth_data = response.auth_data().map_err(Error::response("authData"))?;
        Ok(Self {
            response,
            auth_data,
        })
    }

    /// The credential used.
    #[must_use]
    pub fn credential(&self) -> Option<&CredentialDescriptor> {
        self.response.credential.as_ref()
    }

    /// The user (discoverable credentials).
    #[must_use]
    pub fn user(&self) -> Option<&UserEntity> {
        self.response.user.as_ref()
    }

    /// The number of credentials (first answer only).
    #[must_use]
    pub fn number_of_credentials(&self) -> Option<u32> {
        self.response.number_of_credentials
    }

    /// Verifies the assertion for `rp_id` and `client_data_hash` with the credential's
    /// `public_key` and the [`Required::default`] flags: see
    /// [`verify_with`](Self::verify_with).
    ///
    /// # Errors
    /// As [`verify_with`](Self::verify_with).
    pub fn verify(&self, rp_id: &str, client_data_hash: &[u8], public_key: &CoseKey) -> Result<()> {
        self.verify_with(rp_id, client_data_hash, public_key, Required::default())
    }

    /// Verifies the assertion as a relying party does (WebAuthn §7.2 steps 15-21,
    /// python-fido2's `Fido2Server.authenticate_complete`): the rpIdHash is SHA-256 of
    /// `rp_id`, the UP flag (and UV, as `required` says) is set, and the signature
    /// over `authData || clientDataHash` verifies with `public_key` (through
    /// [`CoseKey::verify`]).
    ///
    /// # Errors
    /// [`Error::Verification`] saying what did not verify; [`Error::Unsupported`] for
    /// a key this crate cannot verify with.
    pub fn verify_with(
        &self,
        rp_id: &str,
        client_data_hash: &[u8],
        public_key: &CoseKey,
        required: Required,
    ) -> Result<()> {
        check_auth_data(&self.auth_data, rp_id, required)?;
        let signed = [self.response.auth_data.as_slice(), client_data_hash].concat();
        verify_signature(public_key, &signed, &self.response.signature, "assertion")
    }
}

/// The authenticator-data checks attestations and assertions share: the rpIdHash
/// (WebAuthn §7.1 step 13, §7.2 step 15), UP (§7.1 step 14, §7.2 step 16) and UV when
/// required (§7.1 step 15, §7.2 step 17).
fn check_auth_data(auth_data: &AuthenticatorData, rp_id: &str, required: Required) -> Result<()> {
    if auth_data.rp_id_hash != <[u8; 32]>::from(Sha256::digest(rp_id.as_bytes())) {
        return Err(Error::Verification(format!(
            "rpIdHash is not SHA-256 of {rp_id:?}"
        )));
    }
    if required.user_presence && !auth_data.flags.contains(Flags::UP) {
        return Err(Error::Verification(
            "the user-present flag (UP) is not set".into(),
        ));
    }
    if required.user_verification && !auth_data.flags.contains(Flags::UV) {
        return Err(Error::Verification(
            "the user-verified flag (UV) is not set, and user verification was required".into(),
        ));
    }
    Ok(())
}

/// `signature` by `key` over `message`, through [`CoseKey::verify`]: every signing key
/// ctap2-proto knows is verified there (new algorithms plug in there); a key it does
/// not know, or the PIN protocols' key-agreement key, cannot have signed anything.
fn verify_signature(key: &CoseKey, message: &[u8], signature: &[u8], what: &str) -> Result<()> {
    // Every algorithm ctap2-proto verifies (ES256, EdDSA, ES384, ES512, ES256K, RS256,
    // ML-DSA-44/65/87).
    let algorithm = key.algorithm();
    if !algorithm.is_some_and(|a| ctap2_proto::cose::SUPPORTED_ALGORITHMS.contains(&a)) {
        return Err(Error::Unsupported(format!(
            "{what} with key algorithm {:?}",
            algorithm.map(|a| a.0)
        )));
    }
    if key.verify(message, signature) {
        Ok(())
    } else {
        Err(Error::Verification(format!(
            "{what} signature does not verify"
        )))
    }
}
