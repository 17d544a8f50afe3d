//! The batch attestation key and its self-signed X.509 certificate, used by "packed"
//! batch attestation (WebAuthn §8.2) and by U2F REGISTER.
//!
//! The key is derived from the AAGUID, so every virtual authenticator of one "model"
//! shares it, as a batch does. The certificate meets WebAuthn §8.2.1's requirements for
//! packed attestation certificates: version 3; subject C, O, OU "Authenticator
//! Attestation" and CN; basic constraints CA false; the id-fido-gen-ce-aaguid
//! extension with the AAGUID.

use super::keys::{SigningKey, sha256};

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
    pub(crate) fn new(aaguid: &[u8; 16]) -> Option<Self> {
        let seed = sha256(&[b"ctap-virtual batch attestation".as_slice(), aaguid].concat());
        let signing = p256::ecdsa::SigningKey::from_slice(&seed).ok()?;
        let point = p256::PublicKey::from(signing.verifying_key());
        let point = p256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&point, false);
        let algorithm = sequence(&[&tlv(0x06, OID_ECDSA_WITH_SHA256)]);
        let subject = name(&[
            (OID_COUNTRY, "US"),
            (OID_ORGANIZATION, "ctap-rs"),
            (OID_ORGANIZATIONAL_UNIT, "Authenticator Attestation"),
            (OID_COMMON_NAME, "ctap-virtual batch attestation"),
        ]);
        let spki = sequence(&[
            &sequence(&[&tlv(0x06, OID_EC_PUBLIC_KEY), &tlv(0x06, OID_PRIME256V1)]),
            &tlv(0x03, &[&[0x00], point.as_bytes()].concat()),
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
        let key = SigningKey::Es256(signing);
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
}
