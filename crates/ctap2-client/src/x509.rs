//! Just enough DER to take the public key out of an X.509 certificate (RFC 5280 §4.1):
//!
//! ```text
//! Certificate  SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
//! tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
//!                           validity, subject, subjectPublicKeyInfo, ... }
//! subjectPublicKeyInfo SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 },
//!                                 BIT STRING { 0x00 0x04 x y } }
//! ```
//! Nothing else of the certificate is read or checked.

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

/// The P-256 public key of a DER certificate, as an ES256 COSE key; `None` when the
/// certificate is malformed or its key is of another kind.
pub(crate) fn p256_public_key(der: &[u8]) -> Option<CoseKey> {
    const SEQUENCE: u8 = 0x30;
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (mut tbs, _) = expect(certificate, SEQUENCE)?;
    if tbs.first() == Some(&0xA0) {
        tbs = tlv(tbs)?.2; // [0] version
    }
    // serialNumber, signature, issuer, validity, subject
    for _ in 0..5 {
        tbs = tlv(tbs)?.2;
    }
    let (spki, _) = expect(tbs, SEQUENCE)?;
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
