//! Enterprise attestation (CTAP 2.1 §7.1): vendor-facilitated (enterpriseAttestation
//! 1, for the RP IDs configured here) and platform-managed (2, for any RP), enabled by
//! authenticatorConfig enableEnterpriseAttestation (§6.11.2), advertised as the `ep`
//! option, disabled again by authenticatorReset.

use std::fmt;

use ctap_types::StatusCode;
use ctap2_proto::cbor::Value;
use zeroize::Zeroizing;

use super::attestation::BatchAttestation;
use super::keys::SigningKey;
use super::{Ctap2, Result};

/// enterpriseAttestation 1: vendor-facilitated.
const VENDOR_FACILITATED: u64 = 1;
/// enterpriseAttestation 2: platform-managed.
const PLATFORM_MANAGED: u64 = 2;

/// An enterprise attestation configuration: which RPs get vendor-facilitated
/// enterprise attestation, and with which key and certificate.
///
/// ```
/// use ctap_virtual::EnterpriseAttestation;
/// let ea = EnterpriseAttestation::new(vec!["corp.example".into()]);
/// assert_eq!(ea.rp_ids(), ["corp.example"]);
/// assert!(!ea.has_own_certificate());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EnterpriseAttestation {
    rp_ids: Vec<String>,
    certificate: Option<Certificate>,
}

#[derive(Clone, PartialEq, Eq)]
struct Certificate {
    key: Zeroizing<[u8; 32]>,
    chain: Vec<Vec<u8>>,
}

impl fmt::Debug for EnterpriseAttestation {
    /// The RP IDs and whether a certificate was given; never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterpriseAttestation")
            .field("rp_ids", &self.rp_ids)
            .field("own_certificate", &self.certificate.is_some())
            .finish()
    }
}

impl EnterpriseAttestation {
    /// Enterprise attestation for the vendor-facilitated RP IDs `rp_ids`, with the
    /// built-in key and self-signed certificate (common name "ctap-virtual enterprise
    /// attestation", the AAGUID extension as packed attestation wants).
    #[must_use]
    pub fn new(rp_ids: Vec<String>) -> Self {
        Self {
            rp_ids,
            certificate: None,
        }
    }

    /// Signs with the P-256 `private_key` (a 32-byte big-endian scalar) and sends
    /// `chain` (DER certificates, the key's first) as x5c.
    ///
    /// # Errors
    /// The scalar is not a valid P-256 private key, or the chain is empty.
    pub fn with_certificate(
        mut self,
        private_key: [u8; 32],
        chain: Vec<Vec<u8>>,
    ) -> std::result::Result<Self, String> {
        let key = Zeroizing::new(private_key);
        p256::ecdsa::SigningKey::from_slice(key.as_slice())
            .map_err(|_| "the enterprise attestation key is not a P-256 private key".to_owned())?;
        if chain.is_empty() {
            return Err("the enterprise attestation certificate chain is empty".into());
        }
        self.certificate = Some(Certificate { key, chain });
        Ok(self)
    }

    /// The vendor-facilitated RP IDs.
    #[must_use]
    pub fn rp_ids(&self) -> &[String] {
        &self.rp_ids
    }

    /// Whether a key and certificate were given (otherwise the built-in ones sign).
    #[must_use]
    pub const fn has_own_certificate(&self) -> bool {
        self.certificate.is_some()
    }

    /// The signing key and x5c.
    fn signer(&self, aaguid: &[u8; 16]) -> Option<(SigningKey, Vec<Vec<u8>>)> {
        match &self.certificate {
            Some(own) => {
                let scalar: &[u8; 32] = own.key.as_slice().try_into().ok()?;
                Some((SigningKey::es256(scalar)?, own.chain.clone()))
            }
            None => {
                let built_in = BatchAttestation::enterprise(aaguid)?;
                Some((built_in.key, vec![built_in.certificate]))
            }
        }
    }
}

impl Ctap2 {
    /// §6.1.2 step 9: whether this makeCredential gets enterprise attestation.
    /// Absent: no. Present while enterprise attestation is not configured or not
    /// enabled: CTAP1_ERR_INVALID_PARAMETER. A value other than 1 or 2:
    /// CTAP2_ERR_INVALID_OPTION. 1 (vendor-facilitated): only for a configured RP ID
    /// (other RPs get the regular attestation). 2 (platform-managed): yes.
    pub(super) fn enterprise_attestation_for(
        &self,
        rp_id: &str,
        requested: Option<u64>,
    ) -> Result<bool> {
        let Some(requested) = requested else {
            return Ok(false);
        };
        let Some(enterprise) = &self.features.enterprise else {
            return Err(StatusCode::INVALID_PARAMETER);
        };
        if !self.state.features.enterprise_enabled {
            return Err(StatusCode::INVALID_PARAMETER);
        }
        match requested {
            VENDOR_FACILITATED => Ok(enterprise.rp_ids.iter().any(|id| id == rp_id)),
            PLATFORM_MANAGED => Ok(true),
            _ => Err(StatusCode::INVALID_OPTION),
        }
    }

    /// The "packed" statement of an enterprise attestation over `signed`
    /// (authenticatorData || clientDataHash): ES256 with the enterprise key, x5c the
    /// enterprise chain.
    pub(super) fn enterprise_statement(
        &self,
        aaguid: &[u8; 16],
        signed: &[u8],
    ) -> Result<(&'static str, Value)> {
        let (key, chain) = self
            .features
            .enterprise
            .as_ref()
            .and_then(|e| e.signer(aaguid))
            .ok_or(StatusCode::OTHER)?;
        Ok((
            "packed",
            Value::Map(vec![
                (Value::text("alg"), Value::int(key.algorithm().0)),
                (Value::text("sig"), Value::Bytes(key.sign(signed))),
                (
                    Value::text("x5c"),
                    Value::Array(chain.into_iter().map(Value::Bytes).collect()),
                ),
            ]),
        ))
    }

    /// Whether enterprise attestation is configured: without it authenticatorConfig
    /// treats enableEnterpriseAttestation as an unsupported subcommand
    /// (CTAP2_ERR_INVALID_SUBCOMMAND, before any auth check).
    pub(super) const fn enterprise_capable(&self) -> bool {
        self.features.enterprise.is_some()
    }

    /// authenticatorConfig enableEnterpriseAttestation (§6.11.2), after the
    /// authenticatorConfig auth checks: `ep` becomes true (again, if it was).
    /// (Not configured cannot reach here; CTAP1_ERR_INVALID_PARAMETER, what OpenSK
    /// answers then, if it did.)
    pub(super) fn enable_enterprise_attestation(&mut self) -> Result<Vec<u8>> {
        if self.features.enterprise.is_none() {
            return Err(StatusCode::INVALID_PARAMETER);
        }
        if !self.state.features.enterprise_enabled {
            self.state.features.enterprise_enabled = true;
            self.dirty = true;
        }
        Ok(vec![StatusCode::SUCCESS.to_u8()])
    }
}
