//! Just enough DER to check a packed attestation certificate and take its public key
//! out (RFC 5280 §4.1):
//!
//! ```text
//! Certificate  SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
//! tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
//!                           validity, subject, subjectPublicKeyInfo,
//!                           [1] issuerUniqueID OPTIONAL, [2] subjectUniqueID OPTIONAL,
//!                           [3] extensions OPTIONAL }
//! subject      SEQUENCE OF SET OF SEQUENCE { type OID, value (a string) }
//! extensions   SEQUENCE OF SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE,
//!                                     extnValue OCTET STRING }
//! subjectPublicKeyInfo SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 },
//!                                 BIT STRING { 0x00 0x04 x y } }
//! ```
//! The certificate's signature and chain are not checked: whether the certificate is
//! trusted is the relying party's policy (python-fido2 leaves it to its
//! `AttestationVerifier.ca_lookup` too).

use ctap2_proto::CoseKey;

/// id-ecPublicKey (1.2.840.10045.2.1), DER content.
const ID_EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
/// prime256v1 (1.2.840.10045.3.1.7), DER content.
const PRIME256V1: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

/// One TLV: (tag, content, rest).
fn tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 {
            return None;
        }
        let (len_bytes, rest) = rest.split_at_checked(count)?;
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}

fn expect(bytes: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (got, content, rest) = tlv(bytes)?;
    (got == tag).then_some((content, rest))
}

const SEQUENCE: u8 = 0x30;
/// countryName (2.5.4.6), organizationName (2.5.4.10), organizationalUnitName
/// (2.5.4.11), commonName (2.5.4.3): DER contents.
const OID_COUNTRY: &[u8] = &[0x55, 0x04, 0x06];
const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0A];
const OID_ORGANIZATIONAL_UNIT: &[u8] = &[0x55, 0x04, 0x0B];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// basicConstraints (2.5.29.19).
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1D, 0x13];
/// id-fido-gen-ce-aaguid (1.3.6.1.4.1.45724.1.1.4).
const OID_FIDO_AAGUID: &[u8] = &[
    0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0xE5, 0x1C, 0x01, 0x01, 0x04,
];
/// The subject OU a packed attestation certificate must have (WebAuthn §8.2.1).
const ATTESTATION_OU: &[u8] = b"Authenticator Attestation";

/// The parts of a certificate the packed attestation checks read.
struct Parsed<'a> {
    /// The `[0] version` value (0 when absent: v1).
    version: u8,
    subject: &'a [u8],
    spki: &'a [u8],
    /// The content of `[3] extensions`' SEQUENCE, if present.
    extensions: Option<&'a [u8]>,
}

fn parse(der: &[u8]) -> Option<Parsed<'_>> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (mut tbs, _) = expect(certificate, SEQUENCE)?;
    let mut version = 0;
    if tbs.first() == Some(&0xA0) {
        let (_, content, rest) = tlv(tbs)?;
        let (value, _) = expect(content, 0x02)?;
        version = match value {
            [v] => *v,
            _ => return None,
        };
        tbs = rest;
    }
    // serialNumber, signature, issuer, validity
    for _ in 0..4 {
        tbs = tlv(tbs)?.2;
    }
    let (subject, rest) = expect(tbs, SEQUENCE)?;
    let (spki, mut rest) = expect(rest, SEQUENCE)?;
    let mut extensions = None;
    while let Some((tag, content, tail)) = tlv(rest) {
        if tag == 0xA3 {
            extensions = Some(expect(content, SEQUENCE)?.0);
        }
        rest = tail;
    }
    Some(Parsed {
        version,
        subject,
        spki,
        extensions,
    })
}

/// The values of the subject's attributes of type `oid`.
fn attributes<'a>(subject: &'a [u8], oid: &[u8]) -> Vec<&'a [u8]> {
    let mut found = Vec::new();
    let mut rest = subject;
    while let Some((set, tail)) = expect(rest, 0x31) {
        let mut members = set;
        while let Some((pair, more)) = expect(members, SEQUENCE) {
            if let Some((got, value)) = expect(pair, 0x06) {
                if got == oid {
                    // Any string type (UTF8String, PrintableString, IA5String...).
                    if let Some((_, text, _)) = tlv(value) {
                        found.push(text);
                    }
                }
            }
            members = more;
        }
        rest = tail;
    }
    found
}

/// The extension `oid`: (critical, extnValue's content).
fn extension<'a>(extensions: &'a [u8], oid: &[u8]) -> Option<(bool, &'a [u8])> {
    let mut rest = extensions;
    while let Some((extension, tail)) = expect(rest, SEQUENCE) {
        if let Some((got, mut fields)) = expect(extension, 0x06) {
            if got == oid {
                let mut critical = false;
                if let Some((value, more)) = expect(fields, 0x01) {
                    critical = value.first().is_some_and(|&b| b != 0);
                    fields = more;
                }
                return expect(fields, 0x04).map(|(value, _)| (critical, value));
            }
        }
        rest = tail;
    }
    None
}

/// Checks the leaf certificate of a packed attestation against WebAuthn §8.2.1
/// ("Certificate Requirements for Packed Attestation Statements"), as python-fido2's
/// `PackedAttestation` does: X.509 version 3; subject C, O, OU = "Authenticator
/// Attestation" and CN; basic constraints present with CA false; the
/// id-fido-gen-ce-aaguid extension, when present, not critical and equal to the
/// authenticator data's `aaguid`. Returns the certificate's public key (P-256, as an
/// ES256 COSE key, so the signature goes through [`CoseKey::verify`]).
///
/// # Errors
/// What the certificate lacks or gets wrong; `Ok(None)` when it meets the requirements
/// but its key is not P-256.
pub(crate) fn check_packed_certificate(
    der: &[u8],
    aaguid: &[u8; 16],
) -> Result<Option<CoseKey>, String> {
    let parsed = parse(der).ok_or("the attestation certificate is not DER X.509")?;
    // RFC 5280 §4.1.2.1: v3 is encoded as 2.
    if parsed.version != 2 {
        return Err(format!(
            "the attestation certificate is X.509 version {}, not 3",
            u16::from(parsed.version) + 1
        ));
    }
    for (oid, name) in [
        (OID_COUNTRY, "C"),
        (OID_ORGANIZATION, "O"),
        (OID_ORGANIZATIONAL_UNIT, "OU"),
        (OID_COMMON_NAME, "CN"),
    ] {
        if attributes(parsed.subject, oid).is_empty() {
            return Err(format!(
                "the attestation certificate's subject has no {name}"
            ));
        }
    }
    if attributes(parsed.subject, OID_ORGANIZATIONAL_UNIT).first() != Some(&ATTESTATION_OU) {
        return Err(
            "the attestation certificate's subject OU is not \"Authenticator Attestation\"".into(),
        );
    }
    let extensions = parsed.extensions.unwrap_or_default();
    let (_, constraints) = extension(extensions, OID_BASIC_CONSTRAINTS)
        .ok_or("the attestation certificate has no basic constraints")?;
    let (fields, _) = expect(constraints, SEQUENCE).ok_or("the basic constraints are not DER")?;
    if let Some((ca, _)) = expect(fields, 0x01) {
        if ca.first().is_some_and(|&b| b != 0) {
            return Err("the attestation certificate is a CA certificate (CA true)".into());
        }
    }
    if let Some((critical, value)) = extension(extensions, OID_FIDO_AAGUID) {
        if critical {
            return Err("the attestation certificate's AAGUID extension is critical".into());
        }
        let (inner, _) =
            expect(value, 0x04).ok_or("the AAGUID extension is not an OCTET STRING")?;
        if inner != aaguid {
            return Err(format!(
                "the attestation certificate's AAGUID {} differs from the authenticator data's {}",
                ctap_types::Hex(inner),
                ctap_types::Hex(aaguid)
            ));
        }
    }
    Ok(spki_p256(parsed.spki))
}

/// The P-256 public key of a DER certificate, as an ES256 COSE key; `None` when the
/// certificate is malformed or its key is of another kind.
#[cfg(test)]
pub(crate) fn p256_public_key(der: &[u8]) -> Option<CoseKey> {
    spki_p256(parse(der)?.spki)
}

/// The P-256 key of a subjectPublicKeyInfo's content.
fn spki_p256(spki: &[u8]) -> Option<CoseKey> {
    let (algorithm, rest) = expect(spki, SEQUENCE)?;
    let (oid, params) = expect(algorithm, 0x06)?;
    let (curve, _) = expect(params, 0x06)?;
    if oid != ID_EC_PUBLIC_KEY || curve != PRIME256V1 {
        return None;
    }
    let (bits, _) = expect(rest, 0x03)?;
    let point = bits.strip_prefix(&[0x00, 0x04])?;
    let (x, y) = point.split_first_chunk::<32>()?;
    let y: [u8; 32] = y.try_into().ok()?;
    let key = CoseKey::Es256 { x: *x, y };
    key.to_p256().ok().map(|_| key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_key() {
        assert_eq!(p256_public_key(&[]), None);
        assert_eq!(p256_public_key(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]), None);
        assert_eq!(p256_public_key(&[0x30, 0x02, 0x30, 0x00]), None);
    }
}
