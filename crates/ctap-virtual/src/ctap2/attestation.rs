//! The batch attestation key and its self-signed X.509 certificate, used by "packed"
//! batch attestation (WebAuthn §8.2) and by U2F REGISTER.
//!
//! The key is derived from the AAGUID, so every virtual authenticator of one "model"
//! shares it, as a batch does. The certificate meets WebAuthn §8.2.1's requirements for
//! packed attestation certificates: version 3; subject C, O, OU "Authenticator
//! Attestation" and CN; basic constraints CA false; the id-fido-gen-ce-aaguid
//! extension with the AAGUID.

use std::sync::{Arc, Mutex};

use ctap2_proto::cose::CoseKey;

use super::keys::{SigningKey, sha256};

/// How many AAGUIDs' batch attestations [`BatchAttestation::cached`] keeps (a process
/// serves one or a few models; beyond that the oldest is dropped).
const CACHED_AAGUIDS: usize = 8;

/// The batch attestations made so far, newest last.
static CACHE: Mutex<Vec<([u8; 16], Arc<BatchAttestation>)>> = Mutex::new(Vec::new());

const OID_ECDSA_WITH_SHA256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const OID_PRIME256V1: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_COUNTRY: &[u8] = &[0x55, 0x04, 0x06];
const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0A];
const OID_ORGANIZATIONAL_UNIT: &[u8] = &[0x55, 0x04, 0x0B];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1D, 0x13];
const OID_FIDO_AAGUID: &[u8] = &[
    0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0xE5, 0x1C, 0x01, 0x01, 0x04,
];

/// A DER TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, u8::try_from(len).unwrap_or(0)]);
    } else {
        out.push(0x82);
        out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    }
    out.extend_from_slice(content);
    out
}

fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn name(attributes: &[(&[u8], &str)]) -> Vec<u8> {
    let sets: Vec<Vec<u8>> = attributes
        .iter()
        .map(|(oid, value)| {
            tlv(
                0x31,
                &sequence(&[&tlv(0x06, oid), &tlv(0x0C, value.as_bytes())]),
            )
        })
        .collect();
    tlv(0x30, &sets.concat())
}

/// The batch attestation key and certificate of an AAGUID.
pub(crate) struct BatchAttestation {
    pub(crate) key: SigningKey,
    pub(crate) certificate: Vec<u8>,
}

impl BatchAttestation {
    /// The batch attestation of `aaguid`, made once per process: the key, its public key
    /// and the signed certificate are the same for every makeCredential and U2F
    /// REGISTER, so deriving them (a key, a scalar multiplication and a signature) on
    /// each is work thrown away (issue 27: derive only what is used).
    pub(crate) fn cached(aaguid: &[u8; 16]) -> Option<Arc<Self>> {
        // A poisoned lock only means another thread panicked while holding it; the
        // cache is still a list of finished entries.
        let mut cache = CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, batch)) = cache.iter().find(|(cached, _)| cached == aaguid) {
            return Some(Arc::clone(batch));
        }
        let batch = Arc::new(Self::new(aaguid)?);
        if cache.len() >= CACHED_AAGUIDS {
            cache.remove(0);
        }
        cache.push((*aaguid, Arc::clone(&batch)));
        Some(batch)
    }

    fn new(aaguid: &[u8; 16]) -> Option<Self> {
        let seed = sha256(&[b"ctap-virtual batch attestation".as_slice(), aaguid].concat());
        Self::self_signed(&seed, aaguid, "ctap-virtual batch attestation")
    }

    /// The built-in enterprise attestation (CTAP 2.1 §7.1): its own key (derived from
    /// the AAGUID with another label) and certificate (common name "ctap-virtual
    /// enterprise attestation"), so an RP can tell it from the batch one.
    pub(crate) fn enterprise(aaguid: &[u8; 16]) -> Option<Self> {
        let seed = sha256(&[b"ctap-virtual enterprise attestation".as_slice(), aaguid].concat());
        Self::self_signed(&seed, aaguid, "ctap-virtual enterprise attestation")
    }

    /// A P-256 key from `seed` and its self-signed packed attestation certificate.
    fn self_signed(seed: &[u8; 32], aaguid: &[u8; 16], common_name: &str) -> Option<Self> {
        let key = SigningKey::es256(seed)?;
        let CoseKey::Es256 { x, y } = key.public_key() else {
            return None;
        };
        let point = [&[0x04][..], &x, &y].concat();
        let algorithm = sequence(&[&tlv(0x06, OID_ECDSA_WITH_SHA256)]);
        let subject = name(&[
            (OID_COUNTRY, "US"),
            (OID_ORGANIZATION, "ctap-rs"),
            (OID_ORGANIZATIONAL_UNIT, "Authenticator Attestation"),
            (OID_COMMON_NAME, common_name),
        ]);
        let spki = sequence(&[
            &sequence(&[&tlv(0x06, OID_EC_PUBLIC_KEY), &tlv(0x06, OID_PRIME256V1)]),
            &tlv(0x03, &[&[0x00], point.as_slice()].concat()),
        ]);
        let basic_constraints = sequence(&[
            &tlv(0x06, OID_BASIC_CONSTRAINTS),
            &tlv(0x01, &[0xFF]),
            &tlv(0x04, &sequence(&[])),
        ]);
        let aaguid_extension =
            sequence(&[&tlv(0x06, OID_FIDO_AAGUID), &tlv(0x04, &tlv(0x04, aaguid))]);
        let extensions = tlv(0xA3, &sequence(&[&basic_constraints, &aaguid_extension]));
        let tbs = sequence(&[
            &tlv(0xA0, &tlv(0x02, &[0x02])),
            &tlv(0x02, &[0x01]),
            &algorithm,
            &subject,
            &sequence(&[&tlv(0x17, b"200101000000Z"), &tlv(0x18, b"20991231235959Z")]),
            &subject,
            &spki,
            &extensions,
        ]);
        let signature = key.sign(&tbs);
        let certificate = sequence(&[
            &tbs,
            &algorithm,
            &tlv(0x03, &[&[0x00], signature.as_slice()].concat()),
        ]);
        Some(Self { key, certificate })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_is_well_formed_der_signed_by_its_key() {
        let batch = BatchAttestation::new(b"ctap-rs-virtual!").unwrap();
        let cert = &batch.certificate;
        // An outer SEQUENCE whose length covers exactly the rest.
        assert_eq!(cert[0], 0x30);
        assert_eq!(cert[1], 0x82);
        assert_eq!(
            usize::from(u16::from_be_bytes([cert[2], cert[3]])),
            cert.len() - 4
        );
        // The TBS is the first element; the signature the last BIT STRING.
        let tbs_len = usize::from(u16::from_be_bytes([cert[6], cert[7]])) + 4;
        let tbs = &cert[4..4 + tbs_len];
        let algorithm_len = 12;
        let signature = &cert[4 + tbs_len + algorithm_len..];
        assert_eq!(signature[0], 0x03);
        let der_signature = &signature[3..];
        assert!(batch.key.public_key().verify(tbs, der_signature));
        // Deterministic per AAGUID, different across AAGUIDs.
        assert_eq!(
            BatchAttestation::new(b"ctap-rs-virtual!")
                .unwrap()
                .certificate,
            *cert
        );
        assert_ne!(BatchAttestation::new(&[0; 16]).unwrap().certificate, *cert);
    }

    #[test]
    fn made_once_per_aaguid() {
        let aaguid = *b"cache-test-guid!";
        let first = BatchAttestation::cached(&aaguid).unwrap();
        let derived = super::super::keys::PUBLIC_KEY_DERIVATIONS.with(std::cell::Cell::get);
        let second = BatchAttestation::cached(&aaguid).unwrap();
        assert!(
            Arc::ptr_eq(&first, &second),
            "the second call made a new one"
        );
        assert_eq!(
            super::super::keys::PUBLIC_KEY_DERIVATIONS.with(std::cell::Cell::get),
            derived,
            "the cached attestation derived its public key again"
        );
        assert_eq!(
            first.certificate,
            BatchAttestation::new(&aaguid).unwrap().certificate
        );
        let other = BatchAttestation::cached(b"another-aaguid!!").unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
    }
}
