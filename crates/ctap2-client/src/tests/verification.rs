//! One verification API, strict by default: `Attestation::verify` and
//! `Assertion::verify` check the rpIdHash, the UP flag (UV when required) and the
//! signature; `none` is "no signature to verify"; a packed attestation certificate
//! must meet WebAuthn §8.2.1 as python-fido2's `PackedAttestation` checks it.

use ctap2_proto::cbor::Value;
use ctap2_proto::{Algorithm, AttestedCredentialData, AuthenticatorData, CoseKey, Flags};
use sha2::{Digest as _, Sha256};

use super::{RP, attestation, es256_key, es256_sign, packed};
use crate::*;

/// What to get wrong in a test certificate.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Flaw {
    None,
    Version1,
    NoCountry,
    NoOrganization,
    WrongOu,
    NoCommonName,
    NoBasicConstraints,
    CaTrue,
    OtherAaguid,
    CriticalAaguid,
    NoAaguidExtension,
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = u16::try_from(content.len()).unwrap();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap());
    } else {
        out.push(0x82);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(content);
    out
}

/// A DER certificate around `key` for the AAGUID `aaguid`, meeting WebAuthn §8.2.1
/// unless `flaw` says otherwise (its signature is not checked by the client, so it is
/// a placeholder).
pub(super) fn certificate(key: &p256::PublicKey, aaguid: [u8; 16], flaw: Flaw) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToSec1Point as _;
    let point = key.to_sec1_point(false);
    let algorithm = der(
        0x30,
        &[
            der(0x06, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]),
            der(0x06, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]),
        ]
        .concat(),
    );
    let spki = der(
        0x30,
        &[
            algorithm,
            der(0x03, &[&[0u8][..], point.as_bytes()].concat()),
        ]
        .concat(),
    );
    let attribute = |oid: &[u8], value: &str| {
        der(
            0x31,
            &der(
                0x30,
                &[der(0x06, oid), der(0x0C, value.as_bytes())].concat(),
            ),
        )
    };
    let mut subject = Vec::new();
    if flaw != Flaw::NoCountry {
        subject.extend(attribute(&[0x55, 0x04, 0x06], "SE"));
    }
    if flaw != Flaw::NoOrganization {
        subject.extend(attribute(&[0x55, 0x04, 0x0A], "ctap-rs"));
    }
    let ou = if flaw == Flaw::WrongOu {
        "Authenticator"
    } else {
        "Authenticator Attestation"
    };
    subject.extend(attribute(&[0x55, 0x04, 0x0B], ou));
    if flaw != Flaw::NoCommonName {
        subject.extend(attribute(&[0x55, 0x04, 0x03], "test batch"));
    }
    let mut extensions = Vec::new();
    if flaw != Flaw::NoBasicConstraints {
        let ca = if flaw == Flaw::CaTrue {
            der(0x30, &der(0x01, &[0xFF]))
        } else {
            der(0x30, &[])
        };
        extensions.extend(der(
            0x30,
            &[
                der(0x06, &[0x55, 0x1D, 0x13]),
                der(0x01, &[0xFF]),
                der(0x04, &ca),
            ]
            .concat(),
        ));
    }
    if flaw != Flaw::NoAaguidExtension {
        let mut value = aaguid;
        if flaw == Flaw::OtherAaguid {
            value[0] ^= 1;
        }
        let mut fields = der(
            0x06,
            &[
                0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0xE5, 0x1C, 0x01, 0x01, 0x04,
            ],
        );
        if flaw == Flaw::CriticalAaguid {
            fields.extend(der(0x01, &[0xFF]));
        }
        fields.extend(der(0x04, &der(0x04, &value)));
        extensions.extend(der(0x30, &fields));
    }
    let version = if flaw == Flaw::Version1 { 0 } else { 2 };
    let tbs = der(
        0x30,
        &[
            der(0xA0, &der(0x02, &[version])),
            der(0x02, &[1]),
            der(0x30, &[]),
            der(0x30, &[]),
            der(0x30, &[]),
            der(0x30, &subject),
            spki,
            der(0xA3, &der(0x30, &extensions)),
        ]
        .concat(),
    );
    der(0x30, &[tbs, der(0x30, &[]), der(0x03, &[0])].concat())
}

fn auth_data_with(flags: Flags, rp_id: &str, key: Option<CoseKey>) -> Vec<u8> {
    AuthenticatorData {
        rp_id_hash: Sha256::digest(rp_id.as_bytes()).into(),
        flags,
        sign_count: 1,
        attested_credential: key.map(|public_key| AttestedCredentialData {
            aaguid: [7; 16],
            credential_id: vec![0xC0; 16],
            public_key,
        }),
        extensions: None,
    }
    .to_bytes()
}

#[test]
fn a_packed_certificate_must_meet_webauthn_8_2_1_as_python_fido2_checks_it() {
    let cdh = [0xAB; 32];
    let (_, credential) = es256_key();
    let batch = p256::ecdsa::SigningKey::from_slice(&[0x55; 32]).unwrap();
    let batch_public = p256::PublicKey::from(batch.verifying_key());
    let data = auth_data_with(Flags::UP, RP, Some(credential));
    let signed = [data.as_slice(), &cdh].concat();
    let with = |flaw| {
        attestation(
            "packed",
            data.clone(),
            packed(
                Algorithm::ES256,
                es256_sign(&batch, &signed),
                Some(certificate(&batch_public, [7; 16], flaw)),
            ),
        )
        .verify(RP, &cdh)
    };
    assert_eq!(with(Flaw::None).unwrap(), AttestationType::Basic);
    // python-fido2 ignores a missing AAGUID extension (WebAuthn: "if present").
    assert_eq!(
        with(Flaw::NoAaguidExtension).unwrap(),
        AttestationType::Basic
    );
    for (flaw, says) in [
        (Flaw::Version1, "version 1, not 3"),
        (Flaw::NoCountry, "no C"),
        (Flaw::NoOrganization, "no O"),
        (Flaw::WrongOu, "OU is not"),
        (Flaw::NoCommonName, "no CN"),
        (Flaw::NoBasicConstraints, "no basic constraints"),
        (Flaw::CaTrue, "CA true"),
        (Flaw::OtherAaguid, "differs from the authenticator data's"),
        (Flaw::CriticalAaguid, "AAGUID extension is critical"),
    ] {
        match with(flaw) {
            Err(Error::Verification(text)) => assert!(text.contains(says), "{flaw:?}: {text}"),
            other => panic!("{flaw:?}: {other:?}"),
        }
    }
}

#[test]
fn attestation_checks_rp_id_hash_and_flags_before_anything_else() {
    let cdh = [0x11; 32];
    let (signing, public) = es256_key();
    let self_attested = |flags: Flags, rp: &str| {
        let data = auth_data_with(flags, rp, Some(public.clone()));
        let sig = es256_sign(&signing, &[data.as_slice(), &cdh].concat());
        attestation("packed", data, packed(Algorithm::ES256, sig, None))
    };
    let good = self_attested(Flags::UP, RP);
    assert_eq!(
        good.verify(RP, &cdh).unwrap(),
        AttestationType::SelfAttestation
    );
    // WebAuthn §7.1 step 14: UP must be set, signature or not.
    let absent = self_attested(Flags(0), RP);
    match absent.verify(RP, &cdh) {
        Err(Error::Verification(text)) => assert!(text.contains("(UP)"), "{text}"),
        other => panic!("{other:?}"),
    }
    // Step 15: UV when required.
    match good.verify_with(RP, &cdh, Required::user_verified()) {
        Err(Error::Verification(text)) => assert!(text.contains("(UV)"), "{text}"),
        other => panic!("{other:?}"),
    }
    let verified = self_attested(Flags::UP.with(Flags::UV), RP);
    assert!(
        verified
            .verify_with(RP, &cdh, Required::user_verified())
            .is_ok()
    );
    // Step 13: a self attestation signed over another RP's data is not this RP's.
    let other = self_attested(Flags::UP, "other.example");
    match other.verify(RP, &cdh) {
        Err(Error::Verification(text)) => assert!(text.contains("rpIdHash"), "{text}"),
        other => panic!("{other:?}"),
    }
    // `none`: the flags and the RP are still checked, and the result says that no
    // signature was verified.
    let none = attestation(
        "none",
        auth_data_with(Flags::UP, RP, Some(public.clone())),
        Value::Map(vec![]),
    );
    let found = none.verify(RP, &cdh).unwrap();
    assert_eq!(found, AttestationType::None);
    assert!(!found.is_signed());
    assert_eq!(
        found.to_string(),
        "no signature to verify (attestation format none)"
    );
    assert!(!found.to_string().contains(" verified"));
    let none_elsewhere = attestation(
        "none",
        auth_data_with(Flags::UP, "other.example", Some(public)),
        Value::Map(vec![]),
    );
    assert!(none_elsewhere.verify(RP, &cdh).is_err());
}

#[test]
fn assertion_verify_checks_up_and_uv_as_required() {
    let cdh = [0x22; 32];
    let (signing, public) = es256_key();
    let assertion = |flags: Flags| {
        let data = auth_data_with(flags, RP, None);
        let signature = es256_sign(&signing, &[data.as_slice(), &cdh].concat());
        Assertion::from_response(ctap2_proto::GetAssertionResponse {
            credential: None,
            auth_data: data,
            signature,
            user: None,
            number_of_credentials: None,
            user_selected: None,
            large_blob_key: None,
            unsigned_extension_outputs: None,
        })
        .unwrap()
    };
    assertion(Flags::UP).verify(RP, &cdh, &public).unwrap();
    // A valid signature over data without UP: WebAuthn §7.2 step 16 refuses it.
    match assertion(Flags(0)).verify(RP, &cdh, &public) {
        Err(Error::Verification(text)) => assert!(text.contains("(UP)"), "{text}"),
        other => panic!("{other:?}"),
    }
    // ...unless the request said up = false.
    let silent = Required {
        user_presence: false,
        user_verification: false,
    };
    assertion(Flags(0))
        .verify_with(RP, &cdh, &public, silent)
        .unwrap();
    // Step 17: UV when required.
    assert!(
        assertion(Flags::UP)
            .verify_with(RP, &cdh, &public, Required::user_verified())
            .is_err()
    );
    assertion(Flags::UP.with(Flags::UV))
        .verify_with(RP, &cdh, &public, Required::user_verified())
        .unwrap();
}
