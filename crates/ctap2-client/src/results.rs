//! Typed results of makeCredential and getAssertion, and their verification
//! (python-fido2's `AttestationResponse`, `AssertionResponse` and the `packed`
//! attestation verifier).

use ctap2_proto::cbor::Value;
use ctap2_proto::{
    Algorithm, AttestedCredentialData, AuthenticatorData, CoseKey, CredentialDescriptor,
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

/// What a verified attestation proves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AttestationType {
    /// Format `none`: nothing to verify.
    None,
    /// `packed` without a certificate: signed by the credential key itself.
    SelfAttestation,
    /// `packed` with a certificate: the signature verifies against the leaf
    /// certificate's key. Whether that certificate is trusted (its chain, the AAGUID
    /// extension, metadata) is the relying party's policy and is not checked here.
    Basic,
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

    /// Verifies the attestation for `rp_id` and `client_data_hash`: the rpIdHash and the
    /// statement's signature (packed: self attestation with
    /// the credential key, ES256 or EdDSA; full attestation with the P-256 key of the
    /// leaf certificate; none: nothing to check).
    ///
    /// # Errors
    /// [`Error::Verification`] saying what did not verify; [`Error::Unsupported`] for
    /// formats other than packed and none, or a certificate key that is not P-256.
    pub fn verify(&self, rp_id: &str, client_data_hash: &[u8]) -> Result<AttestationType> {
        check_rp(&self.auth_data, rp_id)?;
        let credential = self
            .credential()
            .ok_or_else(|| Error::Verification("no attested credential data".into()))?;
        let signed = [self.response.auth_data.as_slice(), client_data_hash].concat();
        match &self.statement {
            AttestationStatement::None => Ok(AttestationType::None),
            AttestationStatement::Packed { alg, sig, x5c } => match x5c.first() {
                None => {
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
                    if *alg != Algorithm::ES256 {
                        return Err(Error::Unsupported(format!(
                            "packed attestation with alg {}",
                            alg.0
                        )));
                    }
                    let key = crate::x509::p256_public_key(leaf).ok_or_else(|| {
                        Error::Unsupported("attestation certificate without a P-256 key".into())
                    })?;
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
    /// `public_key` (ES256 or EdDSA): the rpIdHash and the signature over `authData || clientDataHash`.
    ///
    /// # Errors
    /// [`Error::Verification`] saying what did not verify.
    pub fn verify(&self, rp_id: &str, client_data_hash: &[u8], public_key: &CoseKey) -> Result<()> {
        check_rp(&self.auth_data, rp_id)?;
        let signed = [self.response.auth_data.as_slice(), client_data_hash].concat();
        verify_signature(public_key, &signed, &self.response.signature, "assertion")
    }
}

fn check_rp(auth_data: &AuthenticatorData, rp_id: &str) -> Result<()> {
    if auth_data.rp_id_hash != <[u8; 32]>::from(Sha256::digest(rp_id.as_bytes())) {
        return Err(Error::Verification(format!(
            "rpIdHash is not SHA-256 of {rp_id:?}"
        )));
    }
    Ok(())
}

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
